//! An echo client on a blocking `std::net::TcpStream`: connects, then sends every message the
//! server sends back to it, until the server closes. The driving loop of a sockless client,
//! written out in full.
//!
//! ```text
//! cargo run --release --example echo_client -- ws://HOST:PORT/PATH [--max-message BYTES] [--protocol NAME]...
//!     [--no-deflate]
//! ```
//!
//! * The URL: `ws://` only; the host may be a name, an IPv4 address or `[IPv6]`; the port defaults
//!   to 80; the path and query go into the request line as they are.
//! * `--max-message BYTES`: the largest message (and frame) accepted, default 16 MiB.
//! * `--protocol NAME` (repeatable): subprotocols to offer, most preferred first. The one the server
//!   picks is printed on stderr.
//! * `--no-deflate`: do not offer permessage-deflate (RFC 7692). By default the client offers
//!   `permessage-deflate; client_max_window_bits`, as browsers do; if the server agrees, every
//!   message of 64 bytes or more is echoed compressed, and compressed messages are inflated as
//!   they stream in, bounded by `--max-message` once inflated. An answer the offer does not
//!   allow fails the handshake.
//!
//! Exit status: 0 after a closing handshake (whatever the code), 1 if the connection failed
//! (refused upgrade, protocol error, TCP closed without a Close, timeout), 2 for bad arguments.
//!
//! sockless does no I/O: this file owns the socket, the buffers, the timeouts and the randomness
//! source ([`OsRandom`], for the handshake key and the masking keys). The client goes through two
//! phases:
//!
//! 1. **Handshake.** [`ClientHandshake::new`] writes the request; read the response into `rbuf`
//!    until [`ClientHandshake::parse`] completes; [`ClientHandshake::finish_with_extensions`]
//!    checks it (and the deflate answer) and makes the [`Connection`]. Bytes after the response head are already frames.
//! 2. **Frames.** Loop: hand `rbuf` to [`Connection::receive`] until it needs more input, handle
//!    each event, write what [`Connection::poll_transmit`] owes the server (pongs, the Close
//!    reply), and stop when the connection is [`State::Closed`]. The server then closes TCP first
//!    (RFC 6455 7.1.1); the client waits for that a few seconds before closing it itself.

use std::error::Error;
use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

use sockless::deflate::{ClientNegotiation, Deflate, DeflateConfig, DeflateError};
use sockless::frame::{MAX_CONTROL_FRAME_LEN, MAX_HEADER_LEN};
use sockless::handshake::{ClientHandshake, ClientRequest, EMPTY_HEADER};
use sockless::{
    CloseCode, Connection, DataKind, Event, HandshakeError, OsRandom, Outgoing, Recv, Rsv,
    SendError, State, Status,
};

#[path = "common/cli.rs"]
mod cli;
#[path = "common/limits.rs"]
mod limits;
#[path = "common/url.rs"]
mod url;
use url::{connect, parse_url, Url};
#[path = "common/write.rs"]
mod write;
use write::write_all_vectored;

const USAGE: &str =
    "usage: echo_client ws://HOST[:PORT][/PATH] [--max-message BYTES] [--protocol NAME]...\n\
     \x20                  [--no-deflate]\n\
     \n  --max-message BYTES  largest message and frame accepted (default 16777216)\
     \n  --protocol NAME      a subprotocol to offer; may repeat (most preferred first)\
     \n  --no-deflate         do not offer permessage-deflate compression";

/// The receive buffer. Any size of at least 139 bytes works (a frame header and a whole control
/// frame are only taken whole); a bigger one means fewer reads and larger payload pieces.
const RBUF_LEN: usize = 64 * 1024;
/// The write buffer, where small frames are encoded and batched until the next write.
const WBUF_LEN: usize = 64 * 1024;
/// Messages up to this size are copied (and masked) into the write buffer behind their header.
/// Larger ones are masked in place and go out with one vectored write of header and payload.
const COPY_LIMIT: usize = 16 * 1024;
/// The reassembly buffer keeps at most this much capacity between messages.
const KEEP_CAPACITY: usize = 1 << 20;

/// How long the connection may stay silent before the client gives up.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the client waits for the server to close TCP after the closing handshake.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a single write may block.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// The command line.
struct Options {
    url: Url,
    max_message: u64,
    protocols: Vec<String>,
    /// Offer permessage-deflate (off with `--no-deflate`).
    deflate: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> std::result::Result<Options, String> {
    let mut url = None;
    let mut max_message = limits::DEFAULT_MAX_MESSAGE;
    let mut protocols = Vec::new();
    let mut deflate = true;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--max-message" => {
                let value = args.next().ok_or("--max-message needs a value")?;
                max_message = limits::max_message(&value)?;
            }
            "--protocol" => protocols.push(args.next().ok_or("--protocol needs a value")?),
            "--no-deflate" => deflate = false,
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            _ if url.is_some() => return Err(format!("unexpected argument {arg:?}")),
            _ => url = Some(parse_url(&arg, "ws", 80)?),
        }
    }
    Ok(Options {
        url: url.ok_or("missing the ws:// URL")?,
        max_message,
        protocols,
        deflate,
    })
}

fn main() -> ExitCode {
    let opts = match cli::parse("echo_client", USAGE, parse_args) {
        Ok(opts) => opts,
        Err(status) => return status,
    };
    match run(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => cli::usage_error("echo_client", USAGE, &msg),
        Err(Failure::Failed(e)) => {
            eprintln!("echo_client: {e}");
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    /// The arguments cannot make a request (exit status 2).
    Usage(String),
    /// The connection failed (exit status 1).
    Failed(Box<dyn Error>),
}

impl<E: Into<Box<dyn Error>>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Failed(e.into())
    }
}

fn run(opts: &Options) -> std::result::Result<(), Failure> {
    let config = limits::config(opts.max_message);

    // Phase 1: the opening handshake. The request is encoded before connecting: sockless needs no
    // socket for that, and a host, path or subprotocol that cannot be sent is an argument error.
    let mut wbuf = vec![0u8; WBUF_LEN];
    let protocols: Vec<&str> = opts.protocols.iter().map(String::as_str).collect();
    let mut deflate = DeflateConfig::default();
    deflate.enabled = opts.deflate;
    let negotiation = ClientNegotiation::new(&deflate);
    let offers: Vec<&str> = negotiation.offer().into_iter().collect();
    let request = ClientRequest::new(&opts.url.authority, &opts.url.target)
        .protocols(&protocols)
        .extensions(&offers);
    let (mut handshake, n) = match ClientHandshake::new(request, config, OsRandom::new(), &mut wbuf)
    {
        Ok(made) => made,
        Err(HandshakeError::InvalidHeader) => {
            return Err(Failure::Usage(
                "the host, path or a subprotocol name cannot go into a request".to_owned(),
            ))
        }
        Err(e) => return Err(e.into()),
    };

    let mut stream = connect(&opts.url)?;
    // Frames are written as soon as they are encoded: do not let Nagle hold them back.
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    stream.write_all(&wbuf[..n])?;

    // Append reads to rbuf and parse the whole buffer each time; the handshake remembers how far
    // it has scanned, and bounds the head.
    let mut rbuf = vec![0u8; RBUF_LEN];
    let mut filled = 0;
    let (conn, head_len) = loop {
        match read(&mut stream, &mut rbuf[filled..])? {
            ReadOutcome::Data(n) => filled += n,
            ReadOutcome::Eof => {
                return Err("the server closed the connection during the handshake".into())
            }
            ReadOutcome::TimedOut => {
                return Err("timed out waiting for the handshake response".into())
            }
        }
        let mut headers = [EMPTY_HEADER; 64];
        let Status::Complete(response) = handshake.parse(&rbuf[..filled], &mut headers)? else {
            continue;
        };
        if response.status() != 101 {
            return Err(format!(
                "the server refused the upgrade: {} {}",
                response.status(),
                response.reason()
            )
            .into());
        }
        if let Some(p) = response.protocol() {
            eprintln!("echo_client: subprotocol {p}");
        }
        let head_len = response.len();
        // Checks the accept key, the upgrade headers, the subprotocol and the deflate answer.
        let conn = handshake.finish_with_extensions(&response, |r| negotiation.check(r))?;
        break (conn, head_len);
    };
    // Bytes after the response head are the server's first frames: keep them at the front.
    rbuf.copy_within(head_len..filled, 0);
    filled -= head_len;

    // Phase 2: the frame loop.
    let mut session = Session {
        conn,
        deflate: negotiation
            .agreed()
            .map(|agreed| Deflate::new(&agreed, config.max_message_len)),
        compressed: Vec::new(),
        layer_failure: None,
        out: Output {
            stream,
            buf: wbuf,
            pending: 0,
        },
        msg: Vec::new(),
    };
    session.run(&mut rbuf, filled)?;

    // The closing handshake is over. The server closes TCP first (RFC 6455 7.1.1): wait for that
    // (read returns 0), and close it ourselves only if it takes too long.
    let stream = &mut session.out.stream;
    stream.set_read_timeout(Some(CLOSE_TIMEOUT))?;
    loop {
        match read(stream, &mut rbuf) {
            Ok(ReadOutcome::Data(_)) => continue, // not the server's to send; ignore
            Ok(ReadOutcome::Eof) => break,
            Ok(ReadOutcome::TimedOut) => {
                eprintln!("echo_client: the server did not close TCP within 5 s; closing it");
                break;
            }
            // A reset after the closing handshake loses nothing.
            Err(_) => break,
        }
    }
    Ok(())
}

/// An established connection and what the echo needs around it.
struct Session {
    conn: Connection<OsRandom>,
    /// permessage-deflate, when the handshake agreed it.
    deflate: Option<Deflate>,
    /// Where compressed echoes are encoded.
    compressed: Vec<u8>,
    /// The deflate layer failed the connection (its Close is queued).
    layer_failure: Option<DeflateError>,
    out: Output,
    /// The message being reassembled. Its length is bounded by `Config::max_message_len`: the
    /// connection fails a message with 1009 as soon as a frame header would take it past that.
    msg: Vec<u8>,
}

impl Session {
    /// The frame loop. `rbuf[..filled]` holds bytes already read. Returns once the closing
    /// handshake is over; any other end is an error.
    fn run(&mut self, rbuf: &mut [u8], mut filled: usize) -> Result<()> {
        loop {
            // Hand everything read so far to the connection, advancing by `consumed` each time.
            // Payloads come back as slices of rbuf.
            let mut pos = 0;
            let mut failure = None;
            while pos < filled {
                let r = self.conn.receive(&mut rbuf[pos..filled]);
                pos += r.consumed;
                match r.result {
                    Ok(Recv::Event(event)) => {
                        self.on_event(event)?;
                        if self.layer_failure.is_some() {
                            break;
                        }
                    }
                    // A second Ping while the first one's Pong is still queued: move the Pong to
                    // the write buffer, then hand in the same bytes again.
                    Ok(Recv::NeedFlush) => {
                        if self.flush_owed()? == 0 {
                            return Err("receive asked for a flush with nothing to flush".into());
                        }
                    }
                    // A partial header or control frame: read more. Or: nothing more is read
                    // (the server's Close arrived, or the connection failed).
                    Ok(Recv::NeedInput | Recv::Closed) => break,
                    // The server broke the protocol. The Close with the matching code is
                    // already queued: it goes out with the flush below.
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            // Keep the unconsumed tail for the next read: one move per read, not one per event.
            rbuf.copy_within(pos..filled, 0);
            filled -= pos;

            // Write what the connection owes the server (pongs, the Close reply or the error's
            // Close) behind the echoes, then send the whole batch.
            self.flush_owed()?;
            self.out.flush()?;

            if let Some(e) = failure {
                return Err(format!("protocol error: {e}; sent close {}", e.close_code().0).into());
            }
            if let Some(e) = self.layer_failure {
                let code = e.close_code().map_or(0, |c| c.0);
                return Err(format!("deflate error: {e}; sent close {code}").into());
            }
            if self.conn.state() == State::Closed {
                return Ok(());
            }
            if filled == rbuf.len() {
                // Cannot happen with a buffer of 139 bytes or more; never spin on it anyway.
                return Err("receive buffer full".into());
            }

            let n = read(&mut self.out.stream, &mut rbuf[filled..])
                .map_err(|e| format!("connection lost: {e}"))?;
            match n {
                ReadOutcome::Data(n) => filled += n,
                ReadOutcome::Eof => {
                    return Err("the server closed TCP without a closing handshake".into())
                }
                ReadOutcome::TimedOut => {
                    // Say goodbye if we still may, then give up.
                    if self.conn.state() == State::Open {
                        let conn = &mut self.conn;
                        let _ = self
                            .out
                            .encode(|buf| conn.close(CloseCode::GOING_AWAY, "idle timeout", buf));
                        let _ = self.out.flush();
                    }
                    return Err(format!("no data from the server for {IDLE_TIMEOUT:?}").into());
                }
            }
        }
    }

    fn on_event(&mut self, event: Event<'_>) -> Result<()> {
        match event {
            Event::Data {
                kind,
                payload,
                message_done,
                rsv,
                ..
            } if rsv.contains(Rsv::RSV1) => self.inflate(kind, payload, message_done)?,
            Event::Data {
                kind,
                payload,
                message_done,
                ..
            } => {
                if message_done && self.msg.is_empty() && payload.len() <= COPY_LIMIT {
                    // A small message whole in one piece: no reassembly needed.
                    self.echo_small(kind, payload)?;
                } else {
                    self.msg.extend_from_slice(payload);
                    if message_done {
                        let mut msg = std::mem::take(&mut self.msg);
                        if msg.len() <= COPY_LIMIT {
                            self.echo_small(kind, &msg)?;
                        } else {
                            self.echo_large(kind, &mut msg)?;
                        }
                        self.keep_buffer(msg);
                    }
                }
            }
            // The Pong is already queued (Config::auto_pong); it goes out with poll_transmit.
            Event::Ping(_) | Event::Pong(_) => {}
            // The Close reply is already queued (Config::auto_close), echoing the code.
            Event::Close(frame) => match frame {
                Some(f) if f.reason.is_empty() => {
                    eprintln!("echo_client: the server closed with {}", f.code.0)
                }
                Some(f) => eprintln!(
                    "echo_client: the server closed with {} {:?}",
                    f.code.0, f.reason
                ),
                None => eprintln!("echo_client: the server closed without a code"),
            },
        }
        Ok(())
    }

    /// Inflates a piece of a compressed message (its first frame had RSV1) onto the reassembly
    /// buffer, and echoes the message when it is whole. The inflater bounds the message by
    /// `--max-message` and validates text; on an error it has failed the connection.
    fn inflate(&mut self, kind: DataKind, payload: &[u8], message_done: bool) -> Result<()> {
        let Some(deflate) = self.deflate.as_mut() else {
            // The connection accepts RSV1 only when deflate was agreed.
            return Err("RSV1 without permessage-deflate".into());
        };
        match deflate.inflate_to_vec(&mut self.conn, kind, payload, message_done, &mut self.msg) {
            Ok(false) => {}
            Ok(true) => {
                let msg = std::mem::take(&mut self.msg);
                self.echo_small(kind, &msg)?;
                self.keep_buffer(msg);
            }
            Err(e) => {
                self.msg.clear();
                self.layer_failure = Some(e);
            }
        }
        Ok(())
    }

    /// Keeps `msg` as the reassembly buffer, emptied, unless one big message left it huge.
    fn keep_buffer(&mut self, mut msg: Vec<u8>) {
        msg.clear();
        if msg.capacity() <= KEEP_CAPACITY {
            self.msg = msg;
        }
    }

    /// Echoes a small message by encoding the whole frame (masked) into the write buffer; with
    /// deflate, compressed (if it is long enough) into a frame of its own.
    fn echo_small(&mut self, kind: DataKind, payload: &[u8]) -> Result<()> {
        let msg = match kind {
            // The connection (or the inflater) validated the UTF-8 already; this cannot fail.
            DataKind::Text => Outgoing::Text(std::str::from_utf8(payload)?),
            DataKind::Binary => Outgoing::Binary(payload),
        };
        if let Some(deflate) = self.deflate.as_mut() {
            self.compressed.clear();
            match deflate.send(&mut self.conn, msg, &mut self.compressed) {
                Ok(_) => self.out.write_frame(&[], &self.compressed)?,
                // The layer failed the connection: its Close goes out with the next flush.
                Err(e) if e.close_code().is_some() => self.layer_failure = Some(e),
                Err(e) => return Err(e.into()),
            }
            return Ok(());
        }
        let conn = &mut self.conn;
        self.out.encode(|buf| conn.send(msg, buf))?;
        Ok(())
    }

    /// Echoes a large message without copying it: encode only the header, mask the payload in
    /// place, then write header and payload with one vectored write.
    fn echo_large(&mut self, kind: DataKind, payload: &mut [u8]) -> Result<()> {
        if self.deflate.is_some() {
            return self.echo_small(kind, payload);
        }
        // Room for a Pong still owed, which goes out in front of the header.
        let mut header = [0u8; MAX_CONTROL_FRAME_LEN + MAX_HEADER_LEN];
        let n = self
            .conn
            .send_header(kind, payload.len() as u64, true, &mut header)?;
        self.conn.send_payload(payload)?; // masks with the key written into the header
        self.out.write_frame(&header[..n], payload)?;
        Ok(())
    }

    /// Moves everything the connection owes the server into the write buffer. Returns the number
    /// of bytes.
    fn flush_owed(&mut self) -> Result<usize> {
        let mut total = 0;
        loop {
            let conn = &mut self.conn;
            let n = self.out.encode(|buf| conn.poll_transmit(buf))?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
    }
}

/// The write side: the socket and a buffer of encoded bytes waiting to be written.
struct Output {
    stream: TcpStream,
    buf: Vec<u8>,
    /// `buf[..pending]` is encoded and not yet written.
    pending: usize,
}

impl Output {
    /// Encodes with `encode` into the free part of the buffer. sockless encoders change nothing
    /// when the buffer is too small, so on `BufferTooSmall` this writes out what is pending and
    /// tries again with the whole buffer.
    fn encode(
        &mut self,
        mut encode: impl FnMut(&mut [u8]) -> std::result::Result<usize, SendError>,
    ) -> Result<usize> {
        let n = match encode(&mut self.buf[self.pending..]) {
            Err(SendError::BufferTooSmall(_)) if self.pending > 0 => {
                self.flush()?;
                encode(&mut self.buf[..])?
            }
            result => result?,
        };
        self.pending += n;
        Ok(n)
    }

    /// Writes out everything pending.
    fn flush(&mut self) -> io::Result<()> {
        if self.pending > 0 {
            self.stream.write_all(&self.buf[..self.pending])?;
            self.pending = 0;
        }
        Ok(())
    }

    /// Writes what is pending, then a frame's header and payload, in one vectored write (or as
    /// few as the kernel allows).
    fn write_frame(&mut self, header: &[u8], payload: &[u8]) -> io::Result<()> {
        let mut slices = [
            IoSlice::new(&self.buf[..self.pending]),
            IoSlice::new(header),
            IoSlice::new(payload),
        ];
        write_all_vectored(&mut self.stream, &mut slices)?;
        self.pending = 0;
        Ok(())
    }
}

enum ReadOutcome {
    Data(usize),
    Eof,
    TimedOut,
}

/// One read, with the read timeout reported as an outcome rather than an error.
fn read(stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<ReadOutcome> {
    loop {
        return match stream.read(buf) {
            Ok(0) => Ok(ReadOutcome::Eof),
            Ok(n) => Ok(ReadOutcome::Data(n)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A timeout is `WouldBlock` on Unix and `TimedOut` on Windows.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(ReadOutcome::TimedOut)
            }
            Err(e) => Err(e),
        };
    }
}
