//! The `echo_server` example under hostile load, over loopback: its deadlines (handshake, close,
//! idle, write) hold however slowly a client trickles bytes or reads, its connection cap
//! answers 503 past the limit and serves again once a slot frees, and `--allow-origin` refuses
//! other origins with 403. And permessage-deflate in both examples: `echo_server` with and
//! without `--no-deflate`, and `echo_client`, against sockless peers that compress.
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

mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use common::example::{
    close_code, connect, example, frame, is_timeout, parse_frame, read_frame, read_head, read_some,
    server_command, Running, Server, Sources, OP_BINARY, OP_CLOSE, OP_TEXT,
};

/// The timeout of every read and write that is not itself part of a measurement.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How late the server may be, past a deadline, in cutting a connection: scheduling on a busy
/// machine plus the time the test takes to notice.
const MARGIN: Duration = Duration::from_millis(700);
/// `examples/echo_server.rs` (or `echo_client.rs`) alone: what a built example must not be
/// older than.
const SOURCES: Sources = Sources::OwnAnd(&[]);

/// A valid upgrade request (the key is RFC 6455's own example).
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\n\
    Host: 127.0.0.1\r\n\
    Upgrade: websocket\r\n\
    Connection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\
    \r\n";

// ---------------------------------------------------------------------------------------------
// The server process, and a minimal client
// ---------------------------------------------------------------------------------------------

/// `echo_server` on `127.0.0.1:0` with `options`.
fn echo_server(options: &[&str]) -> Server {
    Server::start("echo_server", SOURCES, options)
}

/// Connects and sends the upgrade request; returns the stream and the response head.
fn request(addr: SocketAddr) -> (TcpStream, String) {
    let mut tcp = connect(addr, IO_TIMEOUT);
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

fn echo_round_trip(tcp: &mut TcpStream, text: &str) {
    tcp.write_all(&frame(OP_TEXT, text.as_bytes()))
        .expect("send a text frame");
    assert_eq!(read_frame(tcp), (OP_TEXT, text.as_bytes().to_vec()));
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
    let server = echo_server(&["--handshake-timeout", "1"]);
    let mut tcp = connect(server.addr, IO_TIMEOUT);
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
    let server = echo_server(&["--close-timeout", "1"]);
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
    let server = echo_server(&["--idle-timeout", "1", "--close-timeout", "1"]);
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
    let server = echo_server(&["--write-timeout", "1"]);
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
    let server = echo_server(&["--max-connections", "3"]);
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
        ["--allow-origin", "http://a.example/"],
        ["--allow-origin", "a.example"],
    ] {
        let mut child = Running::spawn(
            server_command("echo_server", SOURCES, &bad)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let status = child.wait(IO_TIMEOUT);
        assert_eq!(status.and_then(|s| s.code()), Some(2), "{bad:?}");
    }
}

/// A plain `GET /` over HTTP/1.0, without `Host` or an upgrade, is an ordinary request: the
/// server answers it with its page (RFC 7230 2.6 lets an HTTP/1.1 server answer a 1.0 request
/// with `HTTP/1.1`) and closes the connection.
#[test]
fn a_plain_http_1_0_get_is_served_the_page() {
    let server = echo_server(&[]);
    let mut tcp = connect(server.addr, IO_TIMEOUT);
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

/// `--allow-origin` serves the origins listed (compared as RFC 6454 serializations) and requests
/// without `Origin`, and refuses every other origin with 403 before any frame is exchanged.
#[test]
fn allow_origin_refuses_other_origins_with_403() {
    let server = echo_server(&["--allow-origin", "http://a.example"]);
    let with_origin = |origin: &str| {
        let head = String::from_utf8(REQUEST.to_vec()).expect("an ASCII request");
        let head = head.replacen("\r\n\r\n", &format!("\r\nOrigin: {origin}\r\n\r\n"), 1);
        let mut tcp = connect(server.addr, IO_TIMEOUT);
        tcp.write_all(head.as_bytes()).expect("write the request");
        let response = read_head(&mut tcp);
        (tcp, response)
    };
    for origin in ["http://a.example", "HTTP://A.example:80"] {
        let (mut tcp, head) = with_origin(origin);
        assert!(head.starts_with("HTTP/1.1 101 "), "{origin}: {head:?}");
        echo_round_trip(&mut tcp, "allowed");
    }
    let mut tcp = open(server.addr);
    echo_round_trip(&mut tcp, "no Origin: not a browser");
    for origin in ["http://evil.example", "https://a.example", "null"] {
        let (mut tcp, head) = with_origin(origin);
        assert!(
            head.starts_with("HTTP/1.1 403 Forbidden\r\n"),
            "{origin}: {head:?}"
        );
        assert!(head.contains("\r\nConnection: close\r\n"), "{head:?}");
        let mut rest = Vec::new();
        tcp.read_to_end(&mut rest).expect("the server closes");
        assert!(rest.is_empty(), "bytes after the 403: {rest:?}");
    }
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
        let mut tcp = connect(addr, IO_TIMEOUT);
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
        let server = echo_server(&[]);
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
        let server = echo_server(&["--no-deflate"]);
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
        let mut child = Running::spawn(
            example("echo_client", SOURCES)
                .arg(format!("ws://{addr}/"))
                .stdout(Stdio::null()),
        );
        let (mut tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        // The server's handshake, by hand, with deflate.
        let head = read_head(&mut tcp);
        let mut handshake = ServerHandshake::new(Config::default());
        let mut headers = [EMPTY_HEADER; 32];
        let Ok(Status::Complete(req)) = handshake.parse(head.as_bytes(), &mut headers) else {
            panic!("{head}")
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
        let status = child
            .wait(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("echo_client did not exit"));
        let log = child.stderr();
        assert!(status.success(), "echo_client failed: {log}");
    }
}
