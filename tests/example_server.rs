//! The `echo_server` example under hostile load, over loopback: its deadlines (handshake, close,
//! idle, write) hold however slowly a client trickles bytes or reads, and its connection cap
//! answers 503 past the limit and serves again once a slot frees. And permessage-deflate in both
//! examples: `echo_server` with and without `--no-deflate`, and `echo_client`, against sockless
//! peers that compress.
//!
//! Each test starts the built example, `target/<profile>/examples/echo_server`, with
//! `127.0.0.1:0` and short deadlines, reads the port from its `listening on IP:PORT` line, and
//! kills it (by its own PID, through `Child`) when the test ends. Plain `cargo test` builds the
//! examples before running tests; `cargo test --test example_server` alone does not, so build the
//! example first (`cargo build --example echo_server`) or the tests fail saying it is missing (or
//! older than its source).
//!
//! The client is hand-written: a fixed request head with a valid key, masked frames with a fixed
//! mask, the server's frames parsed minimally. Every read and write has a timeout and every loop a
//! bound, so a server that misbehaves fails a test instead of hanging it.

#![cfg(all(feature = "std", feature = "getrandom"))]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The timeout of every read and write that is not itself part of a measurement.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How late the server may be, past a deadline, in cutting a connection: scheduling on a busy
/// machine plus the time the test takes to notice.
const MARGIN: Duration = Duration::from_millis(700);
/// How long the server has to print its `listening on` line.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A valid upgrade request (the key is RFC 6455's own example).
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\n\
    Host: 127.0.0.1\r\n\
    Upgrade: websocket\r\n\
    Connection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\
    \r\n";
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;

// ---------------------------------------------------------------------------------------------
// The server process
// ---------------------------------------------------------------------------------------------

/// `target/<profile>/examples/echo_server`, next to this test's `deps/` directory.
fn example_path() -> PathBuf {
    example_binary("echo_server")
}

/// `target/<profile>/examples/<name>`, checked to be there and newer than its source.
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from target/<profile>/deps/");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: `cargo test` builds it, `cargo test --test example_server` alone does not; \
         run `cargo build --example {name}` first",
        path.display()
    );
    // `cargo test --test example_server` does not rebuild the example either: refuse to test a
    // binary older than its source.
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("examples/{name}.rs"));
    let modified = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(built), Some(edited)) = (modified(&path), modified(&source)) {
        assert!(
            built >= edited,
            "{} is older than {}: run `cargo build --example {name}` (or plain `cargo test`)",
            path.display(),
            source.display()
        );
    }
    path
}

/// A running `echo_server`, killed when dropped; its stderr log is printed if the test failed.
struct Server {
    child: Child,
    log: Option<JoinHandle<String>>,
    addr: SocketAddr,
}

impl Server {
    fn start(options: &[&str]) -> Self {
        let mut child = Command::new(example_path())
            .arg("127.0.0.1:0")
            .args(options)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start echo_server");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = thread::spawn(move || io::read_to_string(stderr).unwrap_or_default());
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            lines.for_each(drop);
        });
        let mut server = Self {
            child,
            log: Some(log),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            other => {
                let status = server.child.try_wait();
                panic!("echo_server {options:?} printed no line ({other:?}; status {status:?})")
            }
        };
        server.addr = line
            .strip_prefix("listening on ")
            .and_then(|addr| addr.trim().parse().ok())
            .unwrap_or_else(|| panic!("not a `listening on IP:PORT` line: {line:?}"));
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let log = self.log.take().map(|log| log.join().unwrap_or_default());
        if thread::panicking() {
            eprintln!("echo_server's log:\n{}", log.unwrap_or_default());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A minimal client
// ---------------------------------------------------------------------------------------------

fn connect(addr: SocketAddr) -> TcpStream {
    let tcp = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect to echo_server");
    tcp.set_nodelay(true).expect("TCP_NODELAY");
    tcp.set_read_timeout(Some(IO_TIMEOUT))
        .expect("read timeout");
    tcp.set_write_timeout(Some(IO_TIMEOUT))
        .expect("write timeout");
    tcp
}

/// One `read`, retried when a signal interrupts it (std's `read` does not retry `EINTR`).
fn read_some(tcp: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match tcp.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Reads an HTTP response head, up to and including its blank line (nothing past it).
fn read_head(tcp: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        assert!(head.len() < 8192, "response head too long: {head:?}");
        match read_some(tcp, &mut byte) {
            Ok(0) => panic!(
                "EOF inside the response head: {:?}",
                String::from_utf8_lossy(&head)
            ),
            Ok(_) => head.push(byte[0]),
            Err(e) => panic!("reading the response head: {e}"),
        }
    }
    String::from_utf8(head).expect("an ASCII head")
}

/// Connects and sends the upgrade request; returns the stream and the response head.
fn request(addr: SocketAddr) -> (TcpStream, String) {
    let mut tcp = connect(addr);
    tcp.write_all(REQUEST).expect("write the request");
    let head = read_head(&mut tcp);
    (tcp, head)
}

/// A WebSocket connection, past its 101.
fn open(addr: SocketAddr) -> TcpStream {
    let (tcp, head) = request(addr);
    assert!(head.starts_with("HTTP/1.1 101 "), "not a 101: {head:?}");
    tcp
}

/// A final, masked client frame.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().zip(MASK.iter().cycle()).map(|(b, m)| b ^ m));
    out
}

/// Parses one whole server frame (final, unmasked) from the front of `bytes`: its opcode, its
/// payload and its length on the wire, or `None` if `bytes` holds less than a frame.
fn parse_frame(bytes: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    let (&b0, &b1) = (bytes.first()?, bytes.get(1)?);
    assert_eq!(b0 & 0xf0, 0x80, "a final frame without RSV bits");
    assert_eq!(b1 & 0x80, 0, "the server must not mask");
    let (len, start) = match b1 & 0x7f {
        126 => (
            u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let payload = bytes.get(start..start + len)?;
    Some((b0 & 0x0f, payload.to_vec(), start + len))
}

/// Reads one whole server frame.
fn read_frame(tcp: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some((opcode, payload, len)) = parse_frame(&bytes) {
            assert_eq!(len, bytes.len(), "bytes after the frame");
            return (opcode, payload);
        }
        assert!(bytes.len() < (1 << 20), "frame too long for this test");
        // Read no further than the header says, so that nothing past the frame is taken.
        let want = match bytes.len() {
            0 | 1 => 2 - bytes.len(),
            _ => 1,
        };
        match read_some(tcp, &mut buf[..want]) {
            Ok(0) => panic!("EOF inside a frame after {} bytes", bytes.len()),
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) => panic!("reading a frame: {e}"),
        }
    }
}

/// The code of a Close payload.
fn close_code(payload: &[u8]) -> u16 {
    assert!(payload.len() >= 2, "a Close without a code: {payload:?}");
    u16::from_be_bytes([payload[0], payload[1]])
}

fn echo_round_trip(tcp: &mut TcpStream, text: &str) {
    tcp.write_all(&frame(OP_TEXT, text.as_bytes()))
        .expect("send a text frame");
    assert_eq!(read_frame(tcp), (OP_TEXT, text.as_bytes().to_vec()));
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// What a client saw while trickling bytes at the server. Times count from the trickle's start.
#[derive(Debug, Default)]
struct Trickle {
    /// Every byte the server sent meanwhile.
    received: Vec<u8>,
    /// When the first of them arrived.
    first_data: Option<Duration>,
    /// When the server's FIN arrived.
    eof: Option<Duration>,
    /// When the server was seen to have closed its socket: a reset, or a write that failed.
    dropped: Option<Duration>,
}

/// Writes `bytes` one at a time, one every `every`, watching what the server does in between (in
/// steps of 10 ms). Stops when the server has closed its socket (`dropped`), or at its FIN if
/// `stop_at_eof`, or at `give_up`, or when `bytes` runs out.
fn trickle(
    tcp: &mut TcpStream,
    bytes: impl IntoIterator<Item = u8>,
    every: Duration,
    give_up: Duration,
    stop_at_eof: bool,
) -> Trickle {
    const STEP: Duration = Duration::from_millis(10);
    tcp.set_read_timeout(Some(STEP)).expect("read timeout");
    let start = Instant::now();
    let mut seen = Trickle::default();
    let mut buf = [0u8; 4096];
    for byte in bytes {
        if start.elapsed() > give_up {
            break;
        }
        if tcp.write_all(&[byte]).is_err() {
            seen.dropped = Some(start.elapsed());
            break;
        }
        let next = Instant::now() + every;
        while Instant::now() < next && seen.dropped.is_none() {
            if let Ok(Some(_)) = tcp.take_error() {
                seen.dropped = Some(start.elapsed());
            } else if seen.eof.is_some() {
                thread::sleep(STEP);
            } else {
                match read_some(tcp, &mut buf) {
                    Ok(0) => seen.eof = Some(start.elapsed()),
                    Ok(n) => {
                        seen.first_data.get_or_insert(start.elapsed());
                        seen.received.extend_from_slice(&buf[..n]);
                    }
                    Err(e) if is_timeout(&e) => {}
                    Err(_) => seen.dropped = Some(start.elapsed()),
                }
            }
        }
        if seen.dropped.is_some() || (stop_at_eof && seen.eof.is_some()) {
            break;
        }
    }
    tcp.set_read_timeout(Some(IO_TIMEOUT)).ok();
    seen
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

/// A request head trickled at one byte per 0.3 s would take 45 s; the handshake deadline (1 s
/// here) is for the whole head, so the server closes at 1 s, not 1 s after the last byte.
#[test]
fn slow_loris_head_is_cut_at_the_handshake_deadline() {
    let server = Server::start(&["--handshake-timeout", "1"]);
    let mut tcp = connect(server.addr);
    let every = Duration::from_millis(300);
    let whole = every * REQUEST.len() as u32;
    let seen = trickle(
        &mut tcp,
        REQUEST.iter().copied(),
        every,
        Duration::from_secs(5),
        true,
    );
    eprintln!("slow loris: {seen:?}");
    assert!(
        seen.received.is_empty(),
        "the server answered a partial head"
    );
    let cut = seen.eof.or(seen.dropped).unwrap_or_else(|| {
        panic!("a head trickled for 5 s was not cut by a 1 s handshake deadline")
    });
    assert!(cut < whole, "cut only after the whole head was sent");
    assert!(
        cut <= Duration::from_secs(1) + MARGIN,
        "cut at {}, deadline 1 s",
        secs(cut)
    );
}

/// The server fails the connection on invalid UTF-8 (Close 1007). The client never answers with
/// a Close and keeps trickling garbage; the server drops the connection at the close deadline.
#[test]
fn trickling_after_our_close_is_cut_at_the_close_deadline() {
    let server = Server::start(&["--close-timeout", "1"]);
    let mut tcp = open(server.addr);
    let start = Instant::now();
    // "\u{d800}" encoded as UTF-8: a surrogate, invalid in text.
    tcp.write_all(&frame(OP_TEXT, b"ab\xed\xa0\x80"))
        .expect("send invalid text");
    let (opcode, payload) = read_frame(&mut tcp);
    assert_eq!(opcode, OP_CLOSE);
    assert_eq!(close_code(&payload), 1007);
    let before_trickle = start.elapsed();
    let seen = trickle(
        &mut tcp,
        std::iter::repeat(b'x'),
        Duration::from_millis(100),
        Duration::from_secs(5),
        false,
    );
    eprintln!("trickle after close: {seen:?}");
    let dropped = before_trickle
        + seen
            .dropped
            .expect("still connected 5 s after the server's Close, with a 1 s close deadline");
    assert!(
        dropped <= Duration::from_secs(1) + MARGIN,
        "dropped {} after the Close, deadline 1 s",
        secs(dropped)
    );
}

/// The idle timeout counts from the last complete frame: header bytes trickled every 0.3 s do not
/// keep the connection alive. At 1 s the server sends Close 1001, and as the client never
/// answers it, closes TCP at the close deadline, 1 s later.
#[test]
fn idle_timeout_counts_from_the_last_complete_frame() {
    let server = Server::start(&["--idle-timeout", "1", "--close-timeout", "1"]);
    let mut tcp = open(server.addr);
    echo_round_trip(&mut tcp, "hello");
    // A frame with a 16-bit length: 8 header bytes, then 1000 payload bytes.
    let long = frame(OP_BINARY, &[0u8; 1000]);
    let seen = trickle(
        &mut tcp,
        long,
        Duration::from_millis(300),
        Duration::from_secs(5),
        true,
    );
    eprintln!("idle trickle: {seen:?}");
    let close_at = seen
        .first_data
        .expect("no Close within 5 s, with a 1 s idle timeout");
    let (opcode, payload, _) = parse_frame(&seen.received).expect("a whole frame");
    assert_eq!(opcode, OP_CLOSE);
    assert_eq!(close_code(&payload), 1001);
    assert!(
        close_at >= Duration::from_millis(900) && close_at <= Duration::from_secs(1) + MARGIN,
        "Close 1001 at {} after the last complete frame, idle timeout 1 s",
        secs(close_at)
    );
    let closed = seen.eof.or(seen.dropped).expect("TCP still open");
    assert!(
        closed <= close_at + Duration::from_secs(1) + MARGIN,
        "TCP closed at {}, {} after the Close, close deadline 1 s",
        secs(closed),
        secs(closed - close_at)
    );
}

/// A client that sends large messages and never reads their echoes is cut at the write deadline
/// (1 s here, for all the pending output), while another connection keeps being served.
#[test]
fn slow_reader_is_cut_at_the_write_deadline_while_others_are_served() {
    let server = Server::start(&["--write-timeout", "1"]);
    let mut slow = open(server.addr);
    let mut other = open(server.addr);
    echo_round_trip(&mut other, "before");

    // Send 1 MiB messages until every buffer between us and the server is full: the server blocks
    // writing echoes nobody reads, stops reading, and our writes stall.
    let message = frame(OP_BINARY, &vec![0x5a; 1 << 20]);
    slow.set_write_timeout(Some(Duration::from_millis(200)))
        .expect("write timeout");
    let mut sent = 0;
    let stalled = loop {
        assert!(sent < 256, "256 MiB sent and never a stall");
        match slow.write_all(&message) {
            Ok(()) => sent += 1,
            Err(e) if is_timeout(&e) => break Instant::now(),
            Err(e) => panic!("the slow reader was cut before it stalled: {e}"),
        }
    };
    eprintln!("slow reader: stalled after {sent} MiB");

    // The other connection is served while the slow one is stuck; watch for the slow one's reset.
    slow.set_write_timeout(Some(Duration::from_millis(10)))
        .expect("write timeout");
    let give_up = stalled + Duration::from_secs(5);
    let mut round_trips = 0;
    let cut = loop {
        assert!(
            Instant::now() < give_up,
            "the slow reader was still connected 5 s after it stalled, with a 1 s write timeout"
        );
        echo_round_trip(&mut other, &format!("during {round_trips}"));
        round_trips += 1;
        let reset = matches!(slow.take_error(), Ok(Some(_)))
            || matches!(slow.write(&[0]), Err(ref e) if !is_timeout(e));
        if reset {
            break stalled.elapsed();
        }
        thread::sleep(Duration::from_millis(20));
    };
    eprintln!(
        "slow reader: cut {} after it stalled; {round_trips} echoes meanwhile",
        secs(cut)
    );
    assert!(
        cut <= Duration::from_secs(1) + MARGIN,
        "cut {} after the stall, write deadline 1 s",
        secs(cut)
    );
    echo_round_trip(&mut other, "after");
    echo_round_trip(&mut open(server.addr), "a new one");
}

/// With `--max-connections 3`, a fourth connection gets 503 and is closed; once one of the three
/// closes, a new client is served.
#[test]
fn connections_past_the_cap_get_503_until_a_slot_frees() {
    let server = Server::start(&["--max-connections", "3"]);
    let mut held: Vec<TcpStream> = (0..3).map(|_| open(server.addr)).collect();
    for (i, tcp) in held.iter_mut().enumerate() {
        echo_round_trip(tcp, &format!("held {i}"));
    }

    let start = Instant::now();
    let (mut extra, head) = request(server.addr);
    assert!(
        head.starts_with("HTTP/1.1 503 "),
        "the fourth connection got {head:?}"
    );
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("\r\nconnection: close\r\n"), "{head:?}");
    assert!(lower.contains("\r\ncontent-length: 0\r\n"), "{head:?}");
    // Closed at once: FIN (or a reset, if our request was still unread) right after the head.
    let mut rest = [0u8; 64];
    match read_some(&mut extra, &mut rest) {
        Ok(0) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        other => panic!("after the 503: {other:?}"),
    }
    assert!(start.elapsed() < Duration::from_secs(1), "the 503 was slow");

    // Free a slot with a closing handshake: the server answers and closes TCP first.
    let mut first = held.remove(0);
    first
        .write_all(&frame(OP_CLOSE, &1000u16.to_be_bytes()))
        .expect("send Close");
    let (opcode, payload) = read_frame(&mut first);
    assert_eq!((opcode, close_code(&payload)), (OP_CLOSE, 1000));
    assert_eq!(
        read_some(&mut first, &mut rest).expect("EOF after the Close"),
        0
    );
    drop(first);

    // The slot is free once the server's thread has finished with the socket, a moment after its
    // FIN: retry briefly.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut refused = 0;
    let mut tcp = loop {
        let (tcp, head) = request(server.addr);
        if head.starts_with("HTTP/1.1 101 ") {
            break tcp;
        }
        assert!(head.starts_with("HTTP/1.1 503 "), "got {head:?}");
        refused += 1;
        assert!(Instant::now() < deadline, "no slot freed within 2 s");
        thread::sleep(Duration::from_millis(20));
    };
    eprintln!("connection cap: served again after {refused} more 503s");
    echo_round_trip(&mut tcp, "served again");
    for (i, tcp) in held.iter_mut().enumerate() {
        echo_round_trip(tcp, &format!("still held {i}"));
    }
}

/// Bad values of the new options are usage errors (exit status 2), like the old ones.
#[test]
fn bad_option_values_are_usage_errors() {
    for bad in [
        ["--handshake-timeout", "0"],
        ["--idle-timeout", "-1"],
        ["--close-timeout", "soon"],
        ["--write-timeout", "inf"],
        ["--max-connections", "0"],
        ["--max-message", "x"],
    ] {
        let mut child = Command::new(example_path())
            .arg("127.0.0.1:0")
            .args(bad)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run echo_server");
        let give_up = Instant::now() + IO_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for echo_server") {
                break Some(status);
            }
            if Instant::now() > give_up {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.and_then(|s| s.code()), Some(2), "{bad:?}");
    }
}

/// A plain `GET /` over HTTP/1.0, without `Host` or an upgrade, is an ordinary request: the
/// server answers it with its page (RFC 7230 2.6 lets an HTTP/1.1 server answer a 1.0 request
/// with `HTTP/1.1`) and closes the connection.
#[test]
fn a_plain_http_1_0_get_is_served_the_page() {
    let server = Server::start(&[]);
    let mut tcp = connect(server.addr);
    tcp.write_all(b"GET / HTTP/1.0\r\n\r\n")
        .expect("write the request");
    let head = read_head(&mut tcp);
    assert!(
        head.starts_with("HTTP/1.1 200 OK\r\n"),
        "not a 200: {head:?}"
    );
    assert!(head.contains("\r\nConnection: close\r\n"), "{head:?}");
    let mut body = String::new();
    tcp.read_to_string(&mut body).expect("read the page");
    assert!(
        body.contains("new WebSocket("),
        "not the echo page: {body:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// permessage-deflate, against sockless peers
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "deflate")]
mod deflate {
    use super::*;
    use sockless::deflate::{
        ClientNegotiation, Deflate, DeflateConfig, InflateStatus, ServerNegotiation,
    };
    use sockless::handshake::{
        Accept, ClientHandshake, ClientRequest, ServerHandshake, EMPTY_HEADER,
    };
    use sockless::{
        Config, Connection, DataKind, Event, OsRandom, Outgoing, RandomSource, Recv, Rsv, Status,
    };

    /// One end of a WebSocket connection driven by sockless over a blocking socket, reading
    /// whole messages and reporting whether each came compressed.
    struct Peer<R> {
        tcp: TcpStream,
        conn: Connection<R>,
        layer: Option<Deflate>,
        rbuf: Vec<u8>,
        filled: usize,
    }

    impl<R: RandomSource> Peer<R> {
        fn send(&mut self, msg: Outgoing<'_>) {
            let mut out = Vec::new();
            match self.layer.as_mut() {
                Some(layer) => layer.send(&mut self.conn, msg, &mut out).map(drop).unwrap(),
                None => self.conn.send_to_vec(msg, &mut out).map(drop).unwrap(),
            }
            self.tcp.write_all(&out).unwrap();
        }

        /// The next message: its kind, whether its first frame had RSV1, its bytes.
        fn next(&mut self) -> (DataKind, bool, Vec<u8>) {
            let mut message = Vec::new();
            let mut step = vec![0u8; 64 << 10];
            loop {
                let mut pos = 0;
                while pos < self.filled {
                    let r = self.conn.receive(&mut self.rbuf[pos..self.filled]);
                    pos += r.consumed;
                    match r.result.expect("no protocol error") {
                        Recv::Event(Event::Data {
                            kind,
                            payload,
                            message_done,
                            rsv,
                            ..
                        }) => {
                            let compressed = rsv.contains(Rsv::RSV1);
                            if compressed {
                                let layer = self.layer.as_mut().expect("RSV1 only when agreed");
                                let mut input = &payload[..];
                                loop {
                                    let i = layer
                                        .inflate(
                                            &mut self.conn,
                                            kind,
                                            input,
                                            message_done,
                                            &mut step,
                                        )
                                        .expect("inflate");
                                    input = &input[i.consumed..];
                                    message.extend_from_slice(&step[..i.written]);
                                    if i.status != InflateStatus::OutputFull {
                                        break;
                                    }
                                }
                            } else {
                                message.extend_from_slice(payload);
                            }
                            if message_done {
                                self.rbuf.copy_within(pos..self.filled, 0);
                                self.filled -= pos;
                                return (kind, compressed, message);
                            }
                        }
                        Recv::Event(other) => panic!("unexpected {other:?}"),
                        Recv::NeedInput => break,
                        other => panic!("unexpected {other:?}"),
                    }
                }
                self.rbuf.copy_within(pos..self.filled, 0);
                self.filled -= pos;
                if self.filled == self.rbuf.len() {
                    panic!("receive buffer full");
                }
                let n = read_some(&mut self.tcp, &mut self.rbuf[self.filled..]).expect("read");
                assert!(n > 0, "EOF while waiting for a message");
                self.filled += n;
            }
        }
    }

    /// A sockless client of the server at `addr`, offering deflate with `deflate`; also returns
    /// the server's `Sec-WebSocket-Extensions` answer, if any.
    fn client(addr: SocketAddr, deflate: &DeflateConfig) -> (Peer<OsRandom>, Option<String>) {
        let mut tcp = connect(addr);
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let negotiation = ClientNegotiation::new(deflate);
        let offers: Vec<&str> = negotiation.offer().into_iter().collect();
        let mut out = [0u8; 1024];
        let (mut handshake, n) = ClientHandshake::new(
            ClientRequest::new("127.0.0.1", "/").extensions(&offers),
            Config::default(),
            OsRandom::new(),
            &mut out,
        )
        .unwrap();
        tcp.write_all(&out[..n]).unwrap();
        let head = read_head(&mut tcp);
        let answer = head
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Extensions: "))
            .map(str::to_owned);
        let mut headers = [EMPTY_HEADER; 32];
        let Ok(Status::Complete(resp)) = handshake.parse(head.as_bytes(), &mut headers) else {
            panic!("{head}")
        };
        let conn = handshake
            .finish_with_extensions(&resp, |r| negotiation.check(r))
            .unwrap();
        let layer = negotiation.agreed().map(|a| Deflate::new(&a, 16 << 20));
        let peer = Peer {
            tcp,
            conn,
            layer,
            rbuf: vec![0u8; 64 << 10],
            filled: 0,
        };
        (peer, answer)
    }

    /// The messages exchanged: text and binary, empty to 8 MiB.
    fn messages() -> Vec<(DataKind, Vec<u8>)> {
        let text: Vec<u8> = "permessage-deflate, échoed ".repeat(40_000).into_bytes();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let random: Vec<u8> = (0..(1 << 20))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        vec![
            (DataKind::Text, Vec::new()),
            (DataKind::Text, b"hi".to_vec()),
            (DataKind::Text, text),
            (DataKind::Binary, random),
            (DataKind::Binary, vec![0x5a; 8 << 20]),
        ]
    }

    fn outgoing(kind: DataKind, bytes: &[u8]) -> Outgoing<'_> {
        match kind {
            DataKind::Text => Outgoing::Text(std::str::from_utf8(bytes).unwrap()),
            DataKind::Binary => Outgoing::Binary(bytes),
        }
    }

    #[test]
    fn echo_server_compresses_both_ways_by_default() {
        let server = Server::start(&[]);
        let (mut peer, answer) = client(server.addr, &DeflateConfig::default());
        assert_eq!(answer.as_deref(), Some("permessage-deflate"));
        assert_eq!(peer.conn.extension_bits(), Rsv::RSV1);
        for (kind, bytes) in messages() {
            peer.send(outgoing(kind, &bytes));
            let (got_kind, compressed, got) = peer.next();
            assert_eq!((got_kind, got.len()), (kind, bytes.len()));
            assert!(got == bytes, "{kind:?} of {} bytes differs", bytes.len());
            // At least 64 bytes: compressed on the way back.
            assert_eq!(
                compressed,
                bytes.len() >= 64,
                "{kind:?} of {} bytes",
                bytes.len()
            );
        }
    }

    #[test]
    fn echo_server_with_no_deflate_declines_and_echoes_plain() {
        let server = Server::start(&["--no-deflate"]);
        let (mut peer, answer) = client(server.addr, &DeflateConfig::default());
        assert_eq!(answer, None);
        assert_eq!(peer.conn.extension_bits(), Rsv::NONE);
        assert!(peer.layer.is_none());
        for (kind, bytes) in messages().into_iter().take(4) {
            peer.send(outgoing(kind, &bytes));
            let (got_kind, compressed, got) = peer.next();
            assert_eq!(got_kind, kind);
            assert!(!compressed);
            assert!(got == bytes);
        }
    }

    #[test]
    fn echo_client_echoes_compressed_to_a_server_that_compresses() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut child = Command::new(example_binary("echo_client"))
            .arg(format!("ws://{addr}/"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start echo_client");
        let (mut tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        // The server's handshake, by hand, with deflate.
        let head = read_request_head(&mut tcp);
        let mut handshake = ServerHandshake::new(Config::default());
        let mut headers = [EMPTY_HEADER; 32];
        let Ok(Status::Complete(req)) = handshake.parse(&head, &mut headers) else {
            panic!("{}", String::from_utf8_lossy(&head))
        };
        let negotiation = ServerNegotiation::new(&DeflateConfig::default(), &req);
        assert_eq!(negotiation.response(), Some("permessage-deflate"));
        let mut out = [0u8; 1024];
        let (n, conn) = req
            .accept(&negotiation.accept(Accept::new()), &mut out)
            .unwrap();
        tcp.write_all(&out[..n]).unwrap();
        let layer = negotiation.agreed().map(|a| Deflate::new(&a, 16 << 20));
        let mut peer = Peer {
            tcp,
            conn,
            layer,
            rbuf: vec![0u8; 64 << 10],
            filled: 0,
        };
        for (kind, bytes) in messages() {
            peer.send(outgoing(kind, &bytes));
            let (got_kind, compressed, got) = peer.next();
            assert_eq!(got_kind, kind);
            assert!(got == bytes, "{kind:?} of {} bytes differs", bytes.len());
            assert_eq!(compressed, bytes.len() >= 64);
        }
        let mut out = Vec::new();
        peer.conn
            .close_to_vec(sockless::CloseCode::NORMAL, "", &mut out)
            .unwrap();
        peer.tcp.write_all(&out).unwrap();
        // Its Close echo, then we close TCP first, as a server does.
        let mut buf = [0u8; 64];
        let n = read_some(&mut peer.tcp, &mut buf).unwrap();
        assert_eq!(&buf[..2], &[0x88, 0x82], "{:?}", &buf[..n]);
        drop(peer);
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "echo_client did not exit");
            thread::sleep(Duration::from_millis(20));
        };
        let log = io::read_to_string(child.stderr.take().unwrap()).unwrap_or_default();
        assert!(status.success(), "echo_client failed: {log}");
    }

    /// Reads a request head up to its blank line.
    fn read_request_head(tcp: &mut TcpStream) -> Vec<u8> {
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") {
            assert!(head.len() < 8192);
            assert_eq!(
                read_some(tcp, &mut byte).unwrap(),
                1,
                "EOF in the request head"
            );
            head.push(byte[0]);
        }
        head
    }
}
