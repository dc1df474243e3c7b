//! An echo server on blocking `std::net`, one thread per connection: the driving loop of a sockless
//! server, written out in full.
//!
//! ```text
//! cargo run --release --example echo_server -- [ADDR] [--max-message BYTES] [--protocol NAME]...
//! ```
//!
//! * `ADDR`: where to listen, default `127.0.0.1:9001` (`127.0.0.1:0` picks a free port). Once bound,
//!   the server prints `listening on IP:PORT` on stdout.
//! * `--max-message BYTES`: the largest message (and frame) accepted, default 16 MiB. A larger one
//!   fails the connection with close code 1009.
//! * `--protocol NAME` (repeatable): subprotocols to support. The server picks the first one the
//!   client offers that it supports, and accepts without one if none matches.
//!
//! Every text or binary message is sent back unchanged. A plain `GET /` (no upgrade) gets a small
//! HTML page that talks to the server, so you can try it from a browser.
//!
//! sockless does no I/O: this file owns the socket, the buffers and the timeouts, and the crate
//! turns bytes into events and messages into bytes. Each connection goes through two phases:
//!
//! 1. **Handshake.** Read the HTTP head into `rbuf` until [`ServerHandshake::parse`] completes, then
//!    accept (write the 101) or refuse (write the 4xx). Bytes after the head are already frames.
//! 2. **Frames.** Loop: hand `rbuf` to [`Connection::receive`] until it needs more input, handle
//!    each event, write what [`Connection::poll_transmit`] owes the peer (pongs, the Close reply),
//!    stop when the connection is [`State::Closed`], otherwise read more.

use std::error::Error;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use sockless::frame::{MAX_CONTROL_FRAME_LEN, MAX_HEADER_LEN};
use sockless::handshake::{Accept, ServerHandshake, EMPTY_HEADER};
use sockless::{
    CloseCode, Config, Connection, DataKind, Event, HandshakeError, Outgoing, Recv, SendError,
    State, Status,
};

const USAGE: &str = "usage: echo_server [ADDR] [--max-message BYTES] [--protocol NAME]...\n\
     \n  ADDR                 address to listen on (default 127.0.0.1:9001)\
     \n  --max-message BYTES  largest message and frame accepted (default 16777216)\
     \n  --protocol NAME      a subprotocol to support; may repeat";

/// The receive buffer. Any size of at least 139 bytes works (a frame header and a whole control
/// frame are only taken whole); a bigger one means fewer reads and larger payload pieces.
const RBUF_LEN: usize = 64 * 1024;
/// The write buffer, where small frames are encoded and batched until the next write.
const WBUF_LEN: usize = 64 * 1024;
/// Messages up to this size are copied into the write buffer behind their header. Larger ones go
/// out with one vectored write of header and payload, without a copy.
const COPY_LIMIT: usize = 16 * 1024;
/// The reassembly buffer keeps at most this much capacity between messages.
const KEEP_CAPACITY: usize = 1 << 20;

/// How long a client may take to send its request head.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may stay silent before the server closes it with 1001.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server waits for the client's Close after sending its own.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a single write may block (a client that stops reading must not pin a thread).
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long, at most, the server drains the socket after sending its FIN.
const LINGER: Duration = Duration::from_secs(2);

/// A one-page WebSocket client, served for `GET /`.
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>sockless echo</title>
<style>
  body { font: 15px system-ui, sans-serif; max-width: 42em; margin: 2em auto; padding: 0 1em; }
  #log { font-family: ui-monospace, monospace; white-space: pre-wrap; margin-top: 1em; }
  .sent { color: #555; } .echo { color: #06c; } .info { color: #a50; }
</style>
<h1>sockless echo server</h1>
<form id="form">
  <input id="text" size="40" placeholder="a message" autofocus>
  <button>Send</button>
</form>
<div id="log"></div>
<script>
  const logDiv = document.getElementById("log");
  function log(kind, text) {
    const line = document.createElement("div");
    line.className = kind;
    line.textContent = text;
    logDiv.append(line);
  }
  const ws = new WebSocket("ws://" + location.host + "/");
  ws.binaryType = "arraybuffer";
  ws.onopen = () => log("info", "open" + (ws.protocol ? " (subprotocol " + ws.protocol + ")" : ""));
  ws.onmessage = (e) => log("echo", typeof e.data === "string"
    ? "echo: " + e.data : "echo: <binary " + e.data.byteLength + " bytes>");
  ws.onerror = () => log("info", "error");
  ws.onclose = (e) => log("info", "close " + e.code + (e.reason ? " " + e.reason : "")
    + (e.wasClean ? "" : " (not clean)"));
  document.getElementById("form").onsubmit = (e) => {
    e.preventDefault();
    const input = document.getElementById("text");
    if (ws.readyState !== WebSocket.OPEN) { log("info", "not open"); return; }
    ws.send(input.value);
    log("sent", "sent: " + input.value);
    input.value = "";
  };
</script>
</html>
"#;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// The command line.
struct Options {
    addr: String,
    max_message: u64,
    protocols: Vec<String>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> std::result::Result<Options, String> {
    let mut opts = Options {
        addr: "127.0.0.1:9001".to_owned(),
        max_message: 16 << 20,
        protocols: Vec::new(),
    };
    let mut addr = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--max-message" => {
                let value = args.next().ok_or("--max-message needs a value")?;
                opts.max_message = value
                    .parse()
                    .ok()
                    .filter(|&n: &u64| usize::try_from(n).is_ok())
                    .ok_or_else(|| format!("bad --max-message value {value:?}"))?;
            }
            "--protocol" => opts
                .protocols
                .push(args.next().ok_or("--protocol needs a value")?),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            _ if addr.is_some() => return Err(format!("unexpected argument {arg:?}")),
            _ => addr = Some(arg),
        }
    }
    if let Some(addr) = addr {
        opts.addr = addr;
    }
    Ok(opts)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let opts = match parse_args(args.into_iter()) {
        Ok(opts) => opts,
        Err(msg) => {
            eprintln!("echo_server: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let listener = match TcpListener::bind(&opts.addr) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("echo_server: cannot listen on {}: {e}", opts.addr);
            return ExitCode::FAILURE;
        }
    };
    let announced = listener.local_addr().and_then(|local| {
        let mut stdout = io::stdout().lock();
        writeln!(stdout, "listening on {local}")?;
        stdout.flush()
    });
    if let Err(e) = announced {
        eprintln!("echo_server: {e}");
        return ExitCode::FAILURE;
    }

    // One configuration for every connection: it bounds the handshake, frames and messages.
    let mut config = Config::default();
    config.max_message_len = opts.max_message;
    config.max_frame_len = opts.max_message;
    let protocols: Arc<[String]> = opts.protocols.into();

    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                // For example out of file descriptors: back off instead of spinning.
                eprintln!("echo_server: accept failed: {e}");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let protocols = Arc::clone(&protocols);
        let spawned = thread::Builder::new()
            .name("connection".to_owned())
            .spawn(move || {
                let peer = stream
                    .peer_addr()
                    .map_or_else(|_| "unknown peer".to_owned(), |a| a.to_string());
                match serve(stream, config, &protocols) {
                    Ok(outcome) => eprintln!("{peer}: {outcome}"),
                    Err(e) => eprintln!("{peer}: error: {e}"),
                }
            });
        if let Err(e) = spawned {
            eprintln!("echo_server: cannot start a thread: {e}");
        }
    }
    ExitCode::SUCCESS
}

/// Runs one connection from the first byte to the TCP close. Returns how it ended, for the log.
fn serve(stream: TcpStream, config: Config, protocols: &[String]) -> Result<String> {
    // Frames are written as soon as they are encoded: do not let Nagle hold them back.
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let mut rbuf = vec![0u8; RBUF_LEN];
    let mut out = Output::new(stream);

    // Phase 1: the opening handshake. Append reads to rbuf and parse the whole buffer each time;
    // the handshake remembers how far it has scanned, and bounds the head (431 past 8 KiB).
    let mut handshake = ServerHandshake::new(config);
    let mut filled = 0;
    let (conn, protocol, head_len) = loop {
        match read(&mut out.stream, &mut rbuf[filled..])? {
            ReadOutcome::Data(n) => filled += n,
            ReadOutcome::Eof => return Ok("closed during the handshake".to_owned()),
            ReadOutcome::TimedOut => return Ok("handshake timed out".to_owned()),
        }
        let mut headers = [EMPTY_HEADER; 64];
        match handshake.parse(&rbuf[..filled], &mut headers) {
            Ok(Status::Partial) => continue,
            Ok(Status::Complete(req)) => {
                // The client lists subprotocols in its order of preference: take the first one
                // we support. A browser also sends `Origin`; a server on a public address should
                // check `req.origin()` against the sites it trusts (RFC 6455 10.2).
                let protocol = req
                    .protocols()
                    .find(|offered| protocols.iter().any(|p| p == offered));
                let (n, conn) = req.accept(&Accept::new().protocol(protocol), out.spare())?;
                out.commit(n);
                break (conn, protocol.map(str::to_owned), req.len());
            }
            Err(HandshakeError::NotUpgrade) => {
                // A plain HTTP GET, from a browser's address bar or curl: serve the page.
                let outcome = serve_page(&rbuf[..filled], &mut out)?;
                linger_close(&mut out.stream, &mut rbuf);
                return Ok(outcome);
            }
            Err(e) => {
                // Anything else gets its status: 400, 405, 426 (with `Sec-WebSocket-Version: 13`)
                // or 431, then the connection is closed.
                let n = handshake.write_error(e, out.spare())?;
                out.commit(n);
                out.flush()?;
                linger_close(&mut out.stream, &mut rbuf);
                return Ok(format!("handshake refused with {}: {e}", e.status()));
            }
        }
    };
    // The 101 goes out now. Bytes after the head are the client's first frames: keep them at the
    // front of rbuf, they are handed to the connection before anything else is read.
    out.flush()?;
    rbuf.copy_within(head_len..filled, 0);
    filled -= head_len;
    out.stream.set_read_timeout(Some(IDLE_TIMEOUT))?;

    let mut session = Session {
        conn,
        out,
        msg: Vec::new(),
        peer_close: None,
        idle_closed: false,
    };
    let outcome = session.run(&mut rbuf, filled)?;
    linger_close(&mut session.out.stream, &mut rbuf);
    Ok(match protocol {
        Some(p) => format!("[{p}] {outcome}"),
        None => outcome,
    })
}

/// An established connection and what the echo needs around it.
struct Session {
    conn: Connection,
    out: Output,
    /// The message being reassembled. Its length is bounded by `Config::max_message_len`: the
    /// connection fails a message with 1009 as soon as a frame header would take it past that.
    msg: Vec<u8>,
    /// The peer's Close, described for the log.
    peer_close: Option<String>,
    /// We started the closing handshake because the client was idle.
    idle_closed: bool,
}

impl Session {
    /// Phase 2: the frame loop. `rbuf[..filled]` holds bytes already read. Returns how the
    /// connection ended; the caller then closes the socket.
    fn run(&mut self, rbuf: &mut [u8], mut filled: usize) -> Result<String> {
        loop {
            // Hand everything read so far to the connection, advancing by `consumed` each time.
            // Payloads come back as slices of rbuf, unmasked in place.
            let mut pos = 0;
            let mut failure = None;
            while pos < filled {
                let r = self.conn.receive(&mut rbuf[pos..filled]);
                pos += r.consumed;
                match r.result {
                    Ok(Recv::Event(event)) => self.on_event(event)?,
                    // A second Ping while the first one's Pong is still queued: move the Pong to
                    // the write buffer, then hand in the same bytes again.
                    Ok(Recv::NeedFlush) => {
                        if self.flush_owed()? == 0 {
                            return Err("receive asked for a flush with nothing to flush".into());
                        }
                    }
                    // A partial header or control frame: read more. Or: nothing more is read
                    // (the peer's Close arrived, or the connection failed).
                    Ok(Recv::NeedInput | Recv::Closed) => break,
                    // The peer broke the protocol. The Close with the matching code (1002, 1007,
                    // 1009) is already queued: it goes out with the flush below.
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            // Keep the unconsumed tail (at most a partial header or control frame) for the next
            // read: one move per read, not one per event.
            rbuf.copy_within(pos..filled, 0);
            filled -= pos;

            // Write what the connection owes the peer (pongs, the Close reply or the error's
            // Close) behind the echoes, then send the whole batch.
            self.flush_owed()?;
            self.out.flush()?;

            if let Some(e) = failure {
                return Ok(format!(
                    "protocol error: {e}; sent close {}",
                    e.close_code().0
                ));
            }
            if self.conn.state() == State::Closed {
                // Both Close frames have been exchanged: the server closes TCP first.
                let by_peer = self.peer_close.take().unwrap_or_default();
                return Ok(if self.idle_closed {
                    format!("idle timeout: sent 1001, {by_peer}")
                } else {
                    format!("closed: {by_peer}")
                });
            }
            if filled == rbuf.len() {
                // Cannot happen with a buffer of 139 bytes or more; never spin on it anyway.
                return Err("receive buffer full".into());
            }

            match read(&mut self.out.stream, &mut rbuf[filled..])? {
                ReadOutcome::Data(n) => filled += n,
                ReadOutcome::Eof => {
                    return Ok("client closed TCP without a closing handshake (1006)".to_owned())
                }
                ReadOutcome::TimedOut if self.conn.state() == State::Open => {
                    // Idle for too long: start the closing handshake, and wait a little for the
                    // client's answer (data still arriving meanwhile is read and dropped).
                    let conn = &mut self.conn;
                    self.out
                        .encode(|buf| conn.close(CloseCode::GOING_AWAY, "idle timeout", buf))?;
                    self.out.flush()?;
                    self.out.stream.set_read_timeout(Some(CLOSE_TIMEOUT))?;
                    self.idle_closed = true;
                }
                ReadOutcome::TimedOut => {
                    return Ok("timed out waiting for the client's Close".to_owned())
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
                ..
            } => {
                if self.conn.state() != State::Open {
                    // We sent a Close (idle timeout): data still arrives, but nothing more may be
                    // sent. Drop it.
                    self.msg.clear();
                } else if message_done && self.msg.is_empty() && payload.len() <= COPY_LIMIT {
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
                        // Reuse the buffer, unless one big message left it huge.
                        msg.clear();
                        if msg.capacity() <= KEEP_CAPACITY {
                            self.msg = msg;
                        }
                    }
                }
            }
            // The Pong is already queued (Config::auto_pong); it goes out with poll_transmit.
            Event::Ping(_) | Event::Pong(_) => {}
            // The Close reply is already queued (Config::auto_close), echoing the code.
            Event::Close(frame) => {
                self.peer_close = Some(match frame {
                    Some(f) if f.reason.is_empty() => format!("client sent {}", f.code.0),
                    Some(f) => format!("client sent {} {:?}", f.code.0, f.reason),
                    None => "client sent a Close without a code".to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Echoes a small message by encoding the whole frame into the write buffer.
    fn echo_small(&mut self, kind: DataKind, payload: &[u8]) -> Result<()> {
        let msg = match kind {
            // The connection validated the UTF-8 already; this check cannot fail.
            DataKind::Text => Outgoing::Text(std::str::from_utf8(payload)?),
            DataKind::Binary => Outgoing::Binary(payload),
        };
        let conn = &mut self.conn;
        self.out.encode(|buf| conn.send(msg, buf))?;
        Ok(())
    }

    /// Echoes a large message without copying it: encode only the header, then write header and
    /// payload with one vectored write.
    fn echo_large(&mut self, kind: DataKind, payload: &mut [u8]) -> Result<()> {
        // Room for a Pong still owed, which goes out in front of the header.
        let mut header = [0u8; MAX_CONTROL_FRAME_LEN + MAX_HEADER_LEN];
        let n = self
            .conn
            .send_header(kind, payload.len() as u64, true, &mut header)?;
        // A server does not mask, so this leaves the bytes as they are; it tells the connection
        // that the frame's payload has gone by (a client's connection would mask it in place).
        self.conn.send_payload(payload)?;
        self.out.write_frame(&header[..n], payload)?;
        Ok(())
    }

    /// Moves everything the connection owes the peer into the write buffer. Returns the number
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
    fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            buf: vec![0u8; WBUF_LEN],
            pending: 0,
        }
    }

    /// The free part of the buffer.
    fn spare(&mut self) -> &mut [u8] {
        &mut self.buf[self.pending..]
    }

    /// Marks `n` more bytes of the buffer as pending.
    fn commit(&mut self, n: usize) {
        self.pending += n;
    }

    /// Encodes with `encode` into the free part of the buffer. sockless encoders change nothing
    /// when the buffer is too small, so on `BufferTooSmall` this writes out what is pending and
    /// tries again with the whole buffer.
    fn encode(
        &mut self,
        mut encode: impl FnMut(&mut [u8]) -> std::result::Result<usize, SendError>,
    ) -> Result<usize> {
        let n = match encode(self.spare()) {
            Err(SendError::BufferTooSmall(_)) if self.pending > 0 => {
                self.flush()?;
                encode(self.spare())?
            }
            result => result?,
        };
        self.commit(n);
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
        let mut slices = &mut slices[..];
        IoSlice::advance_slices(&mut slices, 0); // skip empty slices
        while !slices.is_empty() {
            match self.stream.write_vectored(slices) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => IoSlice::advance_slices(&mut slices, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
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

/// Answers a plain HTTP request: the page for `/`, 404 for anything else. `head` holds the request
/// head (already known to be a well-formed `GET`; only its path is needed, so parse it again).
fn serve_page(head: &[u8], out: &mut Output) -> Result<String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let target = match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => req.path.unwrap_or(""),
        _ => "",
    };
    let path = target.split('?').next().unwrap_or_default();
    let (status, content_type, body) = if path == "/" || path == "/index.html" {
        ("200 OK", "text/html; charset=utf-8", PAGE)
    } else {
        ("404 Not Found", "text/plain; charset=utf-8", "not found\n")
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    out.stream.write_all(response.as_bytes())?;
    Ok(format!("HTTP GET {target:?}: {status}"))
}

/// Closes the TCP connection gently: send our FIN, then read and drop whatever the client still
/// sends until it closes too (for a bounded time). Closing a socket with unread input makes the
/// kernel send a reset, which can destroy the last frames still in flight to the client.
fn linger_close(stream: &mut TcpStream, buf: &mut [u8]) {
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + LINGER;
    let _ = stream.set_read_timeout(Some(LINGER));
    let mut drained = 0;
    while Instant::now() < deadline && drained < (1 << 20) {
        match stream.read(buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}
