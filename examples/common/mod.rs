//! What `tokio_echo` and `mio_echo` share: the command line of `echo_server`, a growable output
//! buffer for sockless's slice encoders, and the answer to the opening handshake. Each example
//! includes it with `mod common;`.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::process;

use sockless::handshake::{Accept, ServerHandshake, EMPTY_HEADER};
use sockless::{BufferTooSmall, Config, Connection, HandshakeError, SendError, Status};

mod limits;

/// The command line, as `echo_server` takes it (minus its deadline and connection-cap options).
pub struct Options {
    pub addr: String,
    /// `max_message_len` and `max_frame_len` set from `--max-message`.
    pub config: Config,
    pub protocols: Vec<String>,
}

/// Parses `[ADDR] [--max-message BYTES] [--protocol NAME]...`. Prints the usage and exits 0 on
/// `--help`, 2 on a usage error.
pub fn options(name: &str) -> Options {
    let usage = format!(
        "usage: {name} [ADDR] [--max-message BYTES] [--protocol NAME]...\n\
         \n  ADDR                 address to listen on (default 127.0.0.1:9001)\
         \n  --max-message BYTES  largest message and frame accepted (default 16777216)\
         \n  --protocol NAME      a subprotocol to support; may repeat"
    );
    let mut opts = Options {
        addr: "127.0.0.1:9001".to_owned(),
        config: Config::default(),
        protocols: Vec::new(),
    };
    let mut max_message = limits::DEFAULT_MAX_MESSAGE;
    let mut addr = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        let parsed = match arg.as_str() {
            "-h" | "--help" => {
                println!("{usage}");
                process::exit(0);
            }
            "--max-message" => value().and_then(|v| {
                max_message = limits::max_message(&v)?;
                Ok(())
            }),
            "--protocol" => value().map(|v| opts.protocols.push(v)),
            flag if flag.starts_with('-') => Err(format!("unknown option {flag}")),
            _ if addr.is_some() => Err(format!("unexpected argument {arg:?}")),
            _ => {
                addr = Some(arg);
                Ok(())
            }
        };
        if let Err(msg) = parsed {
            eprintln!("{name}: {msg}\n{usage}");
            process::exit(2);
        }
    }
    opts.addr = addr.unwrap_or(opts.addr);
    opts.config = limits::config(max_message);
    opts
}

/// Prints `listening on IP:PORT` (what scripts and tests wait for).
pub fn announce(local: SocketAddr) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "listening on {local}")?;
    stdout.flush()
}

/// A peer's address for the log, from `peer_addr()`; `(peer gone)` if the socket no longer knows
/// it (the peer reset the connection), so that logging never fails a connection.
pub fn peer(addr: &io::Result<SocketAddr>) -> String {
    match addr {
        Ok(addr) => addr.to_string(),
        Err(_) => "(peer gone)".to_owned(),
    }
}

/// An encoder error that may just mean "give me `needed` bytes".
pub trait TooSmall {
    fn needed(&self) -> Option<usize>;
}

impl TooSmall for BufferTooSmall {
    fn needed(&self) -> Option<usize> {
        Some(self.needed)
    }
}

impl TooSmall for SendError {
    fn needed(&self) -> Option<usize> {
        match self {
            SendError::BufferTooSmall(e) => Some(e.needed),
            _ => None,
        }
    }
}

impl TooSmall for HandshakeError {
    fn needed(&self) -> Option<usize> {
        match self {
            HandshakeError::BufferTooSmall(e) => Some(e.needed),
            _ => None,
        }
    }
}

/// The most capacity an empty [`OutBuf`] keeps.
const KEEP_CAPACITY: usize = 1 << 20;

/// Encoded bytes not yet written, `buf[..len]`. sockless encodes into a slice and, when it is too
/// small, changes nothing and says how much it needs; so this grows on demand, and zeroes each
/// byte of capacity once.
#[derive(Default)]
pub struct OutBuf {
    buf: Vec<u8>,
    len: usize,
}

impl OutBuf {
    /// Runs `encode` on the free part of the buffer, growing it once if that is too small.
    pub fn encode<E: TooSmall>(
        &mut self,
        mut encode: impl FnMut(&mut [u8]) -> Result<usize, E>,
    ) -> Result<usize, E> {
        let n = match encode(&mut self.buf[self.len..]) {
            Err(e) => match e.needed() {
                Some(needed) => {
                    self.buf.resize(self.len + needed, 0);
                    encode(&mut self.buf[self.len..])?
                }
                None => return Err(e),
            },
            ok => ok?,
        };
        self.len += n;
        Ok(n)
    }

    /// Appends everything the connection owes the peer: Pongs, the Close reply, an error's Close.
    pub fn transmit(&mut self, conn: &mut Connection) -> Result<(), SendError> {
        while self.encode(|out| conn.poll_transmit(out))? > 0 {}
        Ok(())
    }

    pub fn pending(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Forgets the first `n` pending bytes (they were written). An empty buffer keeps at most
    /// `KEEP_CAPACITY` bytes of capacity.
    pub fn consume(&mut self, n: usize) {
        self.buf.copy_within(n..self.len, 0);
        self.len -= n;
        if self.len == 0 && self.buf.len() > KEEP_CAPACITY {
            self.buf = Vec::new();
        }
    }
}

/// What to do with a connection whose request head is (perhaps) in.
pub enum Upgrade {
    /// The head is not complete: read more.
    Partial,
    /// The 101 is in the output buffer; the first `head_len` input bytes were the request, the
    /// rest are frames.
    Open(Connection, usize),
    /// An answer is in the output buffer (a 4xx for a bad upgrade request, a small page for a
    /// plain HTTP GET); write it, then close. The string says why, for the log.
    Refused(String),
}

/// A page for a plain `GET` (a browser's address bar): it opens a WebSocket to this server.
const PAGE: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
    Content-Length: 133\r\nConnection: close\r\n\r\n\
    <!doctype html><title>sockless echo</title><p>A WebSocket echo server.\n\
    <script>new WebSocket(\"ws://\" + location.host + \"/\")</script>\n";

/// Parses the request head in `input` (everything read so far) and writes the answer into `out`.
/// The server picks the first subprotocol the client offers that is in `protocols`, or none.
pub fn upgrade(
    handshake: &mut ServerHandshake,
    input: &[u8],
    protocols: &[String],
    out: &mut OutBuf,
) -> Result<Upgrade, HandshakeError> {
    let mut headers = [EMPTY_HEADER; 64];
    match handshake.parse(input, &mut headers) {
        Ok(Status::Partial) => Ok(Upgrade::Partial),
        Ok(Status::Complete(req)) => {
            let protocol = req
                .protocols()
                .find(|offered| protocols.iter().any(|p| p == offered));
            let accept = Accept::new().protocol(protocol);
            let mut conn = None;
            out.encode(|buf| {
                let (n, c) = req.accept(&accept, buf)?;
                conn = Some(c);
                Ok::<_, HandshakeError>(n)
            })?;
            let Some(conn) = conn else {
                unreachable!("encode succeeded, so accept did")
            };
            Ok(Upgrade::Open(conn, req.len()))
        }
        Err(HandshakeError::NotUpgrade) => {
            out.encode(|buf: &mut [u8]| {
                let dest = buf
                    .get_mut(..PAGE.len())
                    .ok_or(BufferTooSmall { needed: PAGE.len() })?;
                dest.copy_from_slice(PAGE.as_bytes());
                Ok::<_, BufferTooSmall>(PAGE.len())
            })?;
            Ok(Upgrade::Refused(
                "plain HTTP request: sent the page".to_owned(),
            ))
        }
        Err(e) => {
            out.encode(|buf| handshake.write_error(e, buf))?;
            Ok(Upgrade::Refused(format!(
                "refused with {}: {e}",
                e.status()
            )))
        }
    }
}
