//! An echo server on blocking `std::net`, one thread per connection: the driving loop of a sockless
//! server, written out in full, with the deadlines and the connection cap that keep a hostile
//! client from holding it hostage.
//!
//! ```text
//! cargo run --release --example echo_server -- [ADDR] [--max-message BYTES] [--protocol NAME]...
//!     [--max-connections N] [--handshake-timeout SECS] [--idle-timeout SECS]
//!     [--close-timeout SECS] [--write-timeout SECS] [--allow-origin ORIGIN]... [--no-deflate]
//! ```
//!
//! * `ADDR`: where to listen, default `127.0.0.1:9001` (`127.0.0.1:0` picks a free port). Once bound,
//!   the server prints `listening on IP:PORT` on stdout.
//! * `--max-message BYTES`: the largest message (and frame) accepted, default 16 MiB. A larger one
//!   fails the connection with close code 1009.
//! * `--protocol NAME` (repeatable): subprotocols to support. The server picks the first one the
//!   client offers that it supports, and accepts without one if none matches.
//! * `--max-connections N`: how many connections are served at once, default 1024. Past that, a
//!   new connection is answered `503 Service Unavailable` (with `Retry-After: 1`) and closed at
//!   once; new connections are served again as soon as one ends.
//! * `--allow-origin ORIGIN` (repeatable): the origins (`https://app.example`, `null`) whose pages
//!   may connect. A request with any other `Origin` is refused with `403 Forbidden`; a request
//!   without `Origin` (a client that is not a browser, carrying no browser's cookies) is served.
//!   Without this option every origin is allowed. Origins compare as RFC 6454 says (see
//!   `sockless::handshake::origin`): scheme and host without case, default ports dropped.
//! * `--no-deflate`: do not negotiate permessage-deflate (RFC 7692). By default the server
//!   accepts the first offer it can honour (browsers offer it) and then echoes every message of
//!   64 bytes or more compressed, whether it came compressed or not; compressed messages are
//!   inflated as they stream in, bounded by `--max-message` once inflated (1009 past it; 1007
//!   for corrupt data or inflated text that is not UTF-8).
//!
//! The deadlines, in seconds (fractions like `0.5` work, up to 1000000). Each one is a point in
//! time, not a timeout per `read` or `write`: a client sending one byte just before every read
//! would time out would otherwise hold the connection forever.
//!
//! * `--handshake-timeout SECS`, default 10: the whole request head must arrive within this time
//!   of the accept.
//! * `--idle-timeout SECS`, default 60: a complete frame (any frame: a data frame or fragment, a
//!   Ping, a Pong) must arrive within this time of the previous one, or of the 101 for the first.
//!   Otherwise the server starts the closing handshake with 1001. Bytes of an unfinished frame do
//!   not count, so a client trickling a frame cannot keep the connection; the flip side is that
//!   one frame must arrive whole within this time (at the defaults, a 16 MiB frame needs about
//!   280 KB/s).
//! * `--close-timeout SECS`, default 5: once the server has queued its last word (its Close frame,
//!   whether it starts the closing handshake, answers the client's or fails the connection; or
//!   the HTTP response to a plain or refused request), the connection is closed within this time,
//!   whatever the client sends meanwhile.
//! * `--write-timeout SECS`, default 60: each flush (everything queued for the client at that
//!   moment, a large echo's payload included) must be written whole within this time of its
//!   start; a partial write does not extend it. A client that does not read is cut then.
//!
//! Every text or binary message is sent back unchanged. A plain `GET /` (no upgrade) gets a small
//! HTML page that talks to the server, so you can try it from a browser.
//!
//! sockless does no I/O: this file owns the socket, the buffers and the deadlines, and the crate
//! turns bytes into events and messages into bytes. Each connection goes through two phases:
//!
//! 1. **Handshake.** Read the HTTP head into `rbuf` until [`ServerHandshake::parse`] completes, then
//!    accept (write the 101) or refuse (write the 4xx). Bytes after the head are already frames.
//! 2. **Frames.** Loop: hand `rbuf` to [`Connection::receive`] until it needs more input, handle
//!    each event, write what [`Connection::poll_transmit`] owes the peer (pongs, the Close reply),
//!    stop when the connection is [`State::Closed`], otherwise read more.
//!
//! A blocking socket only has per-call timeouts, so before each read and each write the server
//! sets the socket's timeout to the time left until the deadline that applies (see [`Socket`]).

use std::error::Error;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use sockless::deflate::{Deflate, DeflateConfig, DeflateError, ServerNegotiation};
use sockless::frame::{MAX_CONTROL_FRAME_LEN, MAX_HEADER_LEN};
use sockless::handshake::{Accept, ServerHandshake, EMPTY_HEADER};
use sockless::{
    CloseCode, Config, Connection, DataKind, Event, HandshakeError, Outgoing, Recv, Rsv, SendError,
    State, Status,
};

#[path = "common/cli.rs"]
mod cli;
#[path = "common/limits.rs"]
mod limits;
#[path = "common/origin.rs"]
mod origin;

const USAGE: &str = "usage: echo_server [ADDR] [--max-message BYTES] [--protocol NAME]...\n\
     \x20                  [--max-connections N] [--handshake-timeout SECS] [--idle-timeout SECS]\n\
     \x20                  [--close-timeout SECS] [--write-timeout SECS] [--allow-origin ORIGIN]...\n\
     \x20                  [--no-deflate]\n\
     \n  ADDR                      address to listen on (default 127.0.0.1:9001)\
     \n  --max-message BYTES       largest message and frame accepted (default 16777216)\
     \n  --protocol NAME           a subprotocol to support; may repeat\
     \n  --max-connections N       connections served at once; past it, 503 (default 1024)\
     \n  --handshake-timeout SECS  time for the whole request head (default 10)\
     \n  --idle-timeout SECS       time allowed between two complete frames (default 60)\
     \n  --close-timeout SECS      time for the connection to end after our Close (default 5)\
     \n  --write-timeout SECS      time to write out each batch of output (default 60)\
     \n  --allow-origin ORIGIN     an origin whose pages may connect (403 for others); may repeat;\
     \n                            requests without Origin are served (default: allow all)\
     \n  --no-deflate              do not negotiate permessage-deflate compression\
     \n  SECS is in seconds, fractions allowed (0.5), at most 1000000";

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
/// The most bytes read and dropped while waiting for the client to close after our FIN.
const MAX_DRAIN: usize = 1 << 20;

/// The largest deadline accepted on the command line, in seconds.
const MAX_TIMEOUT_SECS: f64 = 1e6;
/// How long the accept loop pauses after `accept` failed (out of file descriptors, for example)
/// instead of spinning. Connections wait in the listen backlog meanwhile.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// The answer to a connection past `--max-connections`.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\
    Content-Length: 0\r\nConnection: close\r\n\r\n";

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
    max_connections: usize,
    timeouts: Timeouts,
    /// `--allow-origin`: empty means every origin is allowed.
    allow_origins: Vec<String>,
    /// Negotiate permessage-deflate (off with `--no-deflate`).
    deflate: bool,
}

/// The deadlines of every connection (the module docs say what each one bounds).
#[derive(Clone, Copy)]
struct Timeouts {
    handshake: Duration,
    idle: Duration,
    close: Duration,
    write: Duration,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> std::result::Result<Options, String> {
    let mut opts = Options {
        addr: "127.0.0.1:9001".to_owned(),
        max_message: limits::DEFAULT_MAX_MESSAGE,
        protocols: Vec::new(),
        max_connections: 1024,
        timeouts: Timeouts {
            handshake: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            close: Duration::from_secs(5),
            write: Duration::from_secs(60),
        },
        allow_origins: Vec::new(),
        deflate: true,
    };
    let mut addr = None;
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--max-message" => {
                opts.max_message = limits::max_message(&value()?)?;
            }
            "--protocol" => opts.protocols.push(value()?),
            "--max-connections" => {
                let value = value()?;
                opts.max_connections = value
                    .parse()
                    .ok()
                    .filter(|&n: &usize| n > 0)
                    .ok_or_else(|| format!("bad --max-connections value {value:?}"))?;
            }
            "--handshake-timeout" => opts.timeouts.handshake = seconds(&arg, &value()?)?,
            "--idle-timeout" => opts.timeouts.idle = seconds(&arg, &value()?)?,
            "--close-timeout" => opts.timeouts.close = seconds(&arg, &value()?)?,
            "--write-timeout" => opts.timeouts.write = seconds(&arg, &value()?)?,
            "--allow-origin" => opts.allow_origins.push(origin::allow_origin(value()?)?),
            "--no-deflate" => opts.deflate = false,
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

/// A deadline option's value: seconds, more than 0 and at most [`MAX_TIMEOUT_SECS`].
fn seconds(flag: &str, value: &str) -> std::result::Result<Duration, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|secs| *secs > 0.0 && *secs <= MAX_TIMEOUT_SECS)
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .filter(|duration| !duration.is_zero())
        .ok_or_else(|| format!("bad {flag} value {value:?} (seconds, 0 < SECS <= 1000000)"))
}

fn main() -> ExitCode {
    let opts = match cli::parse("echo_server", USAGE, parse_args) {
        Ok(opts) => opts,
        Err(status) => return status,
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
    let config = limits::config(opts.max_message);
    let protocols: Arc<[String]> = opts.protocols.into();
    let allow_origins: Arc<[String]> = opts.allow_origins.into();
    let timeouts = opts.timeouts;
    let mut deflate = DeflateConfig::default();
    deflate.enabled = opts.deflate;
    let active = Arc::new(AtomicUsize::new(0));

    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            // A client gave up before we took its connection, or a signal: try again at once.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted | io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => {
                // For example out of file descriptors (EMFILE, ENFILE): back off instead of
                // spinning. Pending connections wait in the listen backlog until a slot frees.
                eprintln!("echo_server: accept failed: {e}");
                thread::sleep(ACCEPT_BACKOFF);
                continue;
            }
        };
        let Some(slot) = Slot::take(&active, opts.max_connections) else {
            refuse_busy(stream);
            continue;
        };
        let protocols = Arc::clone(&protocols);
        let allow_origins = Arc::clone(&allow_origins);
        let spawned = thread::Builder::new()
            .name("connection".to_owned())
            .spawn(move || {
                // Held until the connection is over, socket closed: then the slot is free.
                let _slot = slot;
                let peer = stream
                    .peer_addr()
                    .map_or_else(|_| "unknown peer".to_owned(), |a| a.to_string());
                match serve(
                    stream,
                    config,
                    deflate,
                    &protocols,
                    &allow_origins,
                    timeouts,
                ) {
                    Ok(outcome) => eprintln!("{peer}: {outcome}"),
                    Err(e) => eprintln!("{peer}: error: {e}"),
                }
            });
        if let Err(e) = spawned {
            // The closure, with the stream and the slot, is dropped: both are released.
            eprintln!("echo_server: cannot start a thread: {e}");
        }
    }
    ExitCode::SUCCESS
}

/// One of the `--max-connections` places, taken by the accept loop and held by a connection's
/// thread until the connection is over.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    /// Takes a slot, unless `max` are taken already.
    fn take(active: &Arc<AtomicUsize>, max: usize) -> Option<Self> {
        active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        Some(Self(Arc::clone(active)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Answers a connection past `--max-connections` with 503 and closes it at once: the accept loop
/// waits for no one. The response fits in the new socket's empty send buffer, so the write does
/// not block. Whatever part of the request has arrived is read and dropped first, since closing a
/// socket with unread input resets the connection, which can destroy the response in flight.
fn refuse_busy(mut stream: TcpStream) {
    let outcome = stream
        .set_nonblocking(true)
        .and_then(|()| stream.write_all(BUSY));
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.read(&mut [0u8; 4096]);
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "unknown peer".to_owned(), |a| a.to_string());
    match outcome {
        Ok(()) => eprintln!("{peer}: refused with 503: --max-connections reached"),
        Err(e) => eprintln!("{peer}: refused (--max-connections reached), 503 not sent: {e}"),
    }
}

/// Runs one connection from the first byte to the TCP close. Returns how it ended, for the log.
fn serve(
    stream: TcpStream,
    config: Config,
    deflate: DeflateConfig,
    protocols: &[String],
    allow_origins: &[String],
    timeouts: Timeouts,
) -> Result<String> {
    let handshake_deadline = Instant::now() + timeouts.handshake;
    // Frames are written as soon as they are encoded: do not let Nagle hold them back.
    stream.set_nodelay(true)?;
    let mut rbuf = vec![0u8; RBUF_LEN];
    let mut out = Output::new(stream, timeouts.write);

    // Phase 1: the opening handshake. Append reads to rbuf and parse the whole buffer each time;
    // the handshake remembers how far it has scanned, and bounds the head (431 past 8 KiB).
    let mut handshake = ServerHandshake::new(config);
    let mut filled = 0;
    let (conn, layer, protocol, head_len) = loop {
        match out
            .socket
            .read_by(&mut rbuf[filled..], handshake_deadline)?
        {
            ReadOutcome::Data(n) => filled += n,
            ReadOutcome::Eof => return Ok("closed during the handshake".to_owned()),
            ReadOutcome::TimedOut => {
                return Ok(format!(
                    "no complete request head within {:?}: closed",
                    timeouts.handshake
                ))
            }
        }
        let mut headers = [EMPTY_HEADER; 64];
        match handshake.parse(&rbuf[..filled], &mut headers) {
            Ok(Status::Partial) => continue,
            Ok(Status::Complete(req)) => {
                // A browser sends `Origin`, the site whose page opened the connection: refuse the
                // ones not allowed (RFC 6455 10.2). Without `Origin`, it is not a browser.
                let allowed: Vec<&str> = allow_origins.iter().map(String::as_str).collect();
                if !allowed.is_empty() && !req.origin_allowed(&allowed) {
                    let deadline = out.close_within(timeouts.close);
                    let n = req.reject(403, out.spare())?;
                    out.commit(n);
                    out.flush()?;
                    let origin = String::from_utf8_lossy(req.header("origin").unwrap_or_default());
                    let outcome = format!("refused with 403: Origin {origin:?} is not allowed");
                    linger_close(&mut out.socket, &mut rbuf, deadline);
                    return Ok(outcome);
                }
                // The client lists subprotocols in its order of preference: take the first one
                // we support.
                let protocol = req
                    .protocols()
                    .find(|offered| protocols.iter().any(|p| p == offered));
                // permessage-deflate: the first offer we can honour, if any (and if enabled).
                let negotiation = ServerNegotiation::new(&deflate, &req);
                let accept = negotiation.accept(Accept::new().protocol(protocol));
                let (n, conn) = req.accept(&accept, out.spare())?;
                out.commit(n);
                let layer = negotiation
                    .agreed()
                    .map(|agreed| Deflate::new(&agreed, config.max_message_len));
                break (conn, layer, protocol.map(str::to_owned), req.len());
            }
            Err(HandshakeError::NotUpgrade) => {
                // A plain HTTP GET, from a browser's address bar or curl: serve the page. That is
                // our last word, so the close deadline starts.
                let deadline = out.close_within(timeouts.close);
                let outcome = serve_page(&rbuf[..filled], &mut out)?;
                linger_close(&mut out.socket, &mut rbuf, deadline);
                return Ok(outcome);
            }
            Err(e) => {
                // Anything else gets its status: 400, 405, 426 (with `Sec-WebSocket-Version: 13`)
                // or 431, then the connection is closed.
                let deadline = out.close_within(timeouts.close);
                let n = handshake.write_error(e, out.spare())?;
                out.commit(n);
                out.flush()?;
                linger_close(&mut out.socket, &mut rbuf, deadline);
                return Ok(format!("handshake refused with {}: {e}", e.status()));
            }
        }
    };
    // The 101 goes out now. Bytes after the head are the client's first frames: keep them at the
    // front of rbuf, they are handed to the connection before anything else is read.
    out.flush()?;
    rbuf.copy_within(head_len..filled, 0);
    filled -= head_len;

    let mut session = Session {
        conn,
        deflate: layer,
        compressed: Vec::new(),
        layer_failure: None,
        out,
        msg: Vec::new(),
        peer_close: None,
        idle_closed: false,
        timeouts,
        last_frame: Instant::now(),
    };
    let outcome = session.run(&mut rbuf, filled)?;
    // Our Close has been sent (or the client closed TCP first): drain until the close deadline.
    let deadline = session.out.close_within(timeouts.close);
    linger_close(&mut session.out.socket, &mut rbuf, deadline);
    Ok(match protocol {
        Some(p) => format!("[{p}] {outcome}"),
        None => outcome,
    })
}

/// An established connection and what the echo needs around it.
struct Session {
    conn: Connection,
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
    /// The peer's Close, described for the log.
    peer_close: Option<String>,
    /// We started the closing handshake because the client was idle.
    idle_closed: bool,
    timeouts: Timeouts,
    /// When the last complete frame arrived (at first: when the handshake completed). The idle
    /// deadline counts from here.
    last_frame: Instant,
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
            let mut frame_ended = false;
            while pos < filled {
                let r = self.conn.receive(&mut rbuf[pos..filled]);
                pos += r.consumed;
                match r.result {
                    Ok(Recv::Event(event)) => {
                        frame_ended |= ends_frame(&event);
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
            if frame_ended {
                self.last_frame = Instant::now();
            }

            // Write what the connection owes the peer (pongs, the Close reply or the error's
            // Close) behind the echoes, then send the whole batch. Once our Close is queued, the
            // close deadline bounds everything that follows, this write included.
            self.flush_owed()?;
            if self.conn.state() != State::Open {
                self.out.close_within(self.timeouts.close);
            }
            self.out.flush()?;

            if let Some(e) = failure {
                return Ok(format!(
                    "protocol error: {e}; sent close {}",
                    e.close_code().0
                ));
            }
            if let Some(e) = self.layer_failure {
                let code = e.close_code().map_or(0, |c| c.0);
                return Ok(format!("deflate error: {e}; sent close {code}"));
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

            let deadline = match self.out.close_deadline {
                // Closing: the client's Close must arrive by the close deadline.
                Some(deadline) => deadline,
                // Open: the next complete frame must arrive within the idle timeout of the last.
                None => self.last_frame + self.timeouts.idle,
            };
            match self.out.socket.read_by(&mut rbuf[filled..], deadline)? {
                ReadOutcome::Data(n) => filled += n,
                ReadOutcome::Eof => {
                    return Ok("client closed TCP without a closing handshake (1006)".to_owned())
                }
                ReadOutcome::TimedOut if self.conn.state() == State::Open => {
                    // Idle for too long: start the closing handshake, and wait until the close
                    // deadline for the client's answer (data still arriving meanwhile is read and
                    // dropped).
                    self.out.close_within(self.timeouts.close);
                    let conn = &mut self.conn;
                    self.out
                        .encode(|buf| conn.close(CloseCode::GOING_AWAY, "idle timeout", buf))?;
                    self.out.flush()?;
                    self.idle_closed = true;
                }
                ReadOutcome::TimedOut => {
                    return Ok(format!(
                        "no Close from the client within {:?} of ours",
                        self.timeouts.close
                    ))
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
                        self.keep_buffer(msg);
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
                if self.conn.state() == State::Open {
                    self.echo_small(kind, &msg)?;
                }
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

    /// Echoes a small message by encoding the whole frame into the write buffer; with deflate,
    /// compressed (if it is long enough) into a frame of its own.
    fn echo_small(&mut self, kind: DataKind, payload: &[u8]) -> Result<()> {
        let msg = match kind {
            // The connection (or the inflater) validated the UTF-8 already; this cannot fail.
            DataKind::Text => Outgoing::Text(std::str::from_utf8(payload)?),
            DataKind::Binary => Outgoing::Binary(payload),
        };
        if let Some(deflate) = self.deflate.as_mut() {
            self.compressed.clear();
            match deflate.send(&mut self.conn, msg, &mut self.compressed) {
                Ok(_) => self.out.queue(&self.compressed)?,
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

    /// Echoes a large message without copying it: encode only the header, then write header and
    /// payload with one vectored write. With deflate, it is compressed instead.
    fn echo_large(&mut self, kind: DataKind, payload: &mut [u8]) -> Result<()> {
        if self.deflate.is_some() {
            return self.echo_small(kind, payload);
        }
        // Room for a Pong still owed, which goes out in front of the header.
        let mut header = [0u8; MAX_CONTROL_FRAME_LEN + MAX_HEADER_LEN];
        let n = self
            .conn
            .send_header(kind, payload.len() as u64, true, &mut header)?;
        // A server does not mask, so this leaves the bytes as they are; it tells the connection
        // that the frame's payload has gone by (a client's connection would mask it in place).
        self.conn.send_payload(payload)?;
        self.out.write_all(&header[..n], payload)?;
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

/// Whether `event` is the end of a frame: the idle deadline counts from the last one. A data
/// payload piece that leaves its frame unfinished is not, so trickling a frame keeps nothing
/// alive.
fn ends_frame(event: &Event<'_>) -> bool {
    match event {
        Event::Data { frame_done, .. } => *frame_done,
        Event::Ping(_) | Event::Pong(_) | Event::Close(_) => true,
    }
}

/// The write side: the socket and a buffer of encoded bytes waiting to be written.
struct Output {
    socket: Socket,
    buf: Vec<u8>,
    /// `buf[..pending]` is encoded and not yet written.
    pending: usize,
    /// How long each flush may take in all.
    write_timeout: Duration,
    /// Set once the server has queued its last word (its Close, or an HTTP response): the
    /// connection ends by then, so no read and no write goes past it.
    close_deadline: Option<Instant>,
}

impl Output {
    fn new(stream: TcpStream, write_timeout: Duration) -> Self {
        Self {
            socket: Socket::new(stream),
            buf: vec![0u8; WBUF_LEN],
            pending: 0,
            write_timeout,
            close_deadline: None,
        }
    }

    /// Starts the close deadline, `timeout` from now, unless it has started already. Returns it.
    fn close_within(&mut self, timeout: Duration) -> Instant {
        *self
            .close_deadline
            .get_or_insert_with(|| Instant::now() + timeout)
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
        if self.pending == 0 {
            return Ok(());
        }
        self.write_all(&[], &[])
    }

    /// Adds encoded `bytes` behind what is pending: copied into the buffer if they fit, else
    /// written out at once behind it.
    fn queue(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.buf.get_mut(self.pending..self.pending + bytes.len()) {
            Some(dest) => {
                dest.copy_from_slice(bytes);
                self.pending += bytes.len();
                Ok(())
            }
            None => self.write_all(&[], bytes),
        }
    }

    /// Writes what is pending, then `header` and `body` (a frame's header and payload, say), in
    /// one vectored write, or as few as the kernel allows. All of it must be written within the
    /// write timeout from now (and by the close deadline, once that runs): a client that reads
    /// a little at a time does not extend it. Past it, this fails with `TimedOut`.
    fn write_all(&mut self, header: &[u8], body: &[u8]) -> io::Result<()> {
        let mut deadline = Instant::now() + self.write_timeout;
        if let Some(close_deadline) = self.close_deadline {
            deadline = deadline.min(close_deadline);
        }
        let mut slices = [
            IoSlice::new(&self.buf[..self.pending]),
            IoSlice::new(header),
            IoSlice::new(body),
        ];
        let mut slices = &mut slices[..];
        IoSlice::advance_slices(&mut slices, 0); // skip empty slices
        while !slices.is_empty() {
            match self.socket.write_by(slices, deadline)? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => IoSlice::advance_slices(&mut slices, n),
            }
        }
        self.pending = 0;
        Ok(())
    }
}

/// A TCP stream whose reads and writes end by a deadline. A blocking socket only has timeouts per
/// call, so before each call its timeout is set to the time left until the deadline. To spare
/// that system call on most reads and writes, a timeout already set is kept as long as it ends in
/// time (it is no longer than the time left); if it then expires before the deadline (which has
/// moved on meanwhile), the call is simply tried again with the time left.
struct Socket {
    tcp: TcpStream,
    /// The socket's read and write timeouts as last set; `None` when they must be set again.
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

enum ReadOutcome {
    Data(usize),
    Eof,
    /// The deadline passed.
    TimedOut,
}

impl Socket {
    fn new(tcp: TcpStream) -> Self {
        Self {
            tcp,
            read_timeout: None,
            write_timeout: None,
        }
    }

    /// One read that returns by `deadline`, however the client spaces its bytes.
    fn read_by(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<ReadOutcome> {
        loop {
            let Some(left) = time_left(deadline) else {
                return Ok(ReadOutcome::TimedOut);
            };
            if self.read_timeout.is_none_or(|timeout| timeout > left) {
                self.tcp.set_read_timeout(Some(left))?;
                self.read_timeout = Some(left);
            }
            match self.tcp.read(buf) {
                Ok(0) => return Ok(ReadOutcome::Eof),
                Ok(n) => return Ok(ReadOutcome::Data(n)),
                Err(e) if is_timeout(&e) => self.read_timeout = None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// One vectored write that returns by `deadline`: the number of bytes written (perhaps fewer
    /// than offered), or an error of kind `TimedOut` once the deadline has passed.
    fn write_by(&mut self, slices: &[IoSlice<'_>], deadline: Instant) -> io::Result<usize> {
        loop {
            let Some(left) = time_left(deadline) else {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "write deadline passed: the client does not read",
                ));
            };
            if self.write_timeout.is_none_or(|timeout| timeout > left) {
                self.tcp.set_write_timeout(Some(left))?;
                self.write_timeout = Some(left);
            }
            match self.tcp.write_vectored(slices) {
                Ok(n) => return Ok(n),
                Err(e) if is_timeout(&e) => self.write_timeout = None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// The time left until `deadline`, or `None` if it has passed.
fn time_left(deadline: Instant) -> Option<Duration> {
    Some(deadline.saturating_duration_since(Instant::now())).filter(|left| !left.is_zero())
}

/// Whether a read or write failed because the socket's timeout expired (`WouldBlock` on Unix,
/// `TimedOut` on Windows).
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Answers a plain HTTP request: the page for `/`, 404 for anything else. `head` holds the request
/// head (already known to be a well-formed `GET`; only its path is needed, so parse it again).
/// The answer does not depend on the request's HTTP version: `HTTP/1.1` with `Connection: close`
/// and a `Content-Length` is understood by HTTP/1.0 clients too.
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
    let response_head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    out.write_all(response_head.as_bytes(), body.as_bytes())?;
    Ok(format!("HTTP GET {target:?}: {status}"))
}

/// Closes the TCP connection gently: send our FIN, then read and drop whatever the client still
/// sends until it closes too, or until `deadline` (the close deadline). Closing a socket with
/// unread input makes the kernel send a reset, which can destroy the last frames still in flight
/// to the client.
fn linger_close(socket: &mut Socket, buf: &mut [u8], deadline: Instant) {
    let _ = socket.tcp.shutdown(Shutdown::Write);
    let mut drained = 0;
    while drained < MAX_DRAIN {
        match socket.read_by(buf, deadline) {
            Ok(ReadOutcome::Data(n)) => drained += n,
            _ => break,
        }
    }
}
