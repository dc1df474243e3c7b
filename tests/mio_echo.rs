//! Regression tests for the `mio_echo` example over loopback: a connection that hangs up while
//! its data is unread must neither leave its echo in the shared batch for the next connection
//! nor stay open.
//!
//! Each test starts the built example (`target/<profile>/examples/mio_echo`) with `127.0.0.1:0`
//! through `tests/common/example.rs`, which reads the port from its `listening on IP:PORT` line
//! and kills it by its own PID when the test ends. Plain `cargo test` builds the example first;
//! `cargo test --test mio_echo` alone does not, so a binary older than its source fails the test
//! with a message saying so. Every read has a timeout and every loop a bound.
//!
//! What they need is the server finding a connection's last data and its reset (or FIN) in one
//! readiness event, which on loopback happens only now and then (in `benches/e2e/soak.py`, about
//! one reset in eight). So a test stops the server (`kill -STOP PID`), has the client send and
//! hang up, and lets it go on (`kill -CONT PID`): when it wakes, both are there. Linux only: the
//! tests read `/proc/PID/stat` to know the child has stopped, and count `/proc/PID/fd`; a client
//! resets by closing with unread input (Linux then sends a RST).

#![cfg(all(target_os = "linux", feature = "std"))]

mod common;

use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::example::{
    connect, flood_until_stuck, frame, read_echoes, read_head, read_some, Server, Signal, Sources,
    OP_BINARY, OP_CLOSE, OP_TEXT,
};
use common::raw_frame;

const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the server may take to act on what it was given once it runs again.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);
const OP_PING: u8 = 0x9;
const FLOOD_TIMEOUT: Duration = Duration::from_secs(60);
/// `mio_echo`'s `CLOSE_TIMEOUT`.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

/// `mio_echo` on 127.0.0.1:0, refused if older than its sources; killed when dropped.
fn mio_echo() -> Server {
    Server::start(
        "mio_echo",
        Sources::OwnAnd(&["examples/common/mod.rs"]),
        &[],
    )
}

/// An upgraded connection (the 101 read, and nothing after it).
fn upgrade(server: &Server) -> TcpStream {
    let mut tcp = connect(server.addr, IO_TIMEOUT);
    tcp.write_all(REQUEST).expect("write the request");
    let head = read_head(&mut tcp);
    assert!(head.starts_with("HTTP/1.1 101 "), "not a 101: {head:?}");
    tcp
}

/// Reads exactly `len` bytes (or fails on EOF or the read timeout).
fn read_len(tcp: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut got = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        match read_some(tcp, &mut got[filled..]) {
            Ok(0) => panic!("EOF after {:?}", &got[..filled]),
            Ok(n) => filled += n,
            Err(e) => panic!("{e} after {:?}", &got[..filled]),
        }
    }
    got
}

/// The server's frame for `payload` (final, unmasked).
fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(true, 0, opcode, None, payload)
}

/// Sends a Ping and waits until its Pong is in the socket's receive queue, unread: closing the
/// socket then sends a RST instead of a FIN.
fn leave_unread_input(tcp: &mut TcpStream) {
    tcp.write_all(&frame(OP_PING, b"")).expect("write a Ping");
    let mut pong = [0u8; 2];
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        match tcp.peek(&mut pong) {
            Ok(2) => break,
            Ok(0) => panic!("EOF instead of a Pong"),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("waiting for the Pong: {e}"),
        }
        assert!(Instant::now() < deadline, "no Pong");
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(pong, [0x8A, 0], "a Pong");
}

/// An echo round trip on `tcp`: exactly the echo comes back, nothing in front of it.
fn echo(tcp: &mut TcpStream, payload: &[u8]) {
    tcp.write_all(&frame(OP_BINARY, payload))
        .expect("write a message");
    let want = server_frame(OP_BINARY, payload);
    assert_eq!(
        read_len(tcp, want.len()),
        want,
        "the echo of {:?}, and nothing else",
        String::from_utf8_lossy(payload)
    );
}

/// Commit d654a46: a connection whose echo was encoded into the shared batch but whose write
/// failed (it had been reset) left those bytes there, and the next connection to write sent
/// them in front of its own.
#[test]
fn a_failed_write_leaves_nothing_for_the_next_connection() {
    let server = mio_echo();
    let process = server.process();
    let mut other = upgrade(&server);
    echo(&mut other, b"before");
    let fds = process.open_fds();
    let mut reset = upgrade(&server);
    leave_unread_input(&mut reset);

    process.signal(Signal::Stop);
    reset
        .write_all(&frame(OP_BINARY, b"from the reset connection"))
        .expect("write a message");
    drop(reset); // a RST, behind the message
    process.signal(Signal::Cont);
    // The server reads the message, encodes its echo, fails to write it and drops the connection.
    process.wait_for_fds(fds, SETTLE_TIMEOUT, "the reset connection");

    echo(&mut other, b"after");
}

/// A client's FIN that came with its last data must end the connection (reading stopped at the
/// short read that took the data, and the FIN was not reported again: the connection stayed
/// open for ever).
#[test]
fn a_fin_that_comes_with_the_last_data_ends_the_connection() {
    let server = mio_echo();
    let mut tcp = upgrade(&server);
    server.process().signal(Signal::Stop);
    tcp.write_all(&frame(OP_BINARY, b"last")).expect("write");
    tcp.shutdown(Shutdown::Write).expect("FIN");
    server.process().signal(Signal::Cont);

    let want = server_frame(OP_BINARY, b"last");
    assert_eq!(read_len(&mut tcp, want.len()), want, "the echo");
    tcp.set_read_timeout(Some(SETTLE_TIMEOUT)).expect("timeout");
    let mut buf = [0u8; 64];
    match read_some(&mut tcp, &mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("more after the echo: {:?}", &buf[..n]),
        Err(e) => panic!("no EOF after the client's FIN: {e}"),
    }
}

/// A reset that came with the connection's last data must free the connection (the soak's
/// RSS growth: each such connection stayed, with its partial text message, for ever).
#[test]
fn a_reset_that_comes_with_the_last_data_frees_the_connection() {
    let server = mio_echo();
    let process = server.process();
    let fds = process.open_fds();
    let mut tcp = upgrade(&server);
    leave_unread_input(&mut tcp);
    process.signal(Signal::Stop);
    // The start of a text message, which the server holds until the rest comes.
    let mut start = frame(OP_TEXT, &[b'x'; 100]);
    start.truncate(50);
    tcp.write_all(&start).expect("write");
    drop(tcp); // a RST
    process.signal(Signal::Cont);
    process.wait_for_fds(fds, SETTLE_TIMEOUT, "the reset connection");
}

/// A client that sends more than the server can write at once, then its Close, and half-closes
/// (`shutdown(Write)`) before it reads: the server must write every echo and its Close reply
/// before it lets the connection go (it dropped the connection at the FIN, and what was still
/// waiting in its backlog with it).
#[test]
fn a_fin_behind_unwritten_echoes_waits_for_them() {
    let server = mio_echo();
    let mut tcp = upgrade(&server);
    let mut sent = flood_until_stuck(&mut tcp, 4096, FLOOD_TIMEOUT);
    let close = 1000u16.to_be_bytes();
    tcp.write_all(&frame(OP_CLOSE, &close)).expect("a Close");
    sent.close = Some(close.to_vec());
    tcp.shutdown(Shutdown::Write).expect("FIN");
    let echoed = read_echoes(&mut tcp, FLOOD_TIMEOUT);
    assert_eq!(echoed, sent, "what came back, and what was sent");
}

/// The connection that waits for its output to be written after the client's FIN is still held
/// no longer than the close deadline (5 s) when the client never reads.
#[test]
fn a_half_closed_client_that_does_not_read_is_dropped_at_the_close_deadline() {
    let server = mio_echo();
    let process = server.process();
    let fds = process.open_fds();
    let mut tcp = upgrade(&server);
    flood_until_stuck(&mut tcp, 4096, FLOOD_TIMEOUT);
    tcp.shutdown(Shutdown::Write).expect("FIN");
    let held = Instant::now();
    process.wait_for_fds(
        fds,
        CLOSE_TIMEOUT + SETTLE_TIMEOUT,
        "the half-closed connection",
    );
    assert!(
        held.elapsed() > CLOSE_TIMEOUT / 2,
        "dropped after {:?}, before its output could be written",
        held.elapsed()
    );
}
