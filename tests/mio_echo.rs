//! Regression tests for the `mio_echo` example over loopback: a connection that hangs up while
//! its data is unread must neither leave its echo in the shared batch for the next connection
//! nor stay open.
//!
//! Each test starts the built example (`target/<profile>/examples/mio_echo`) with `127.0.0.1:0`,
//! reads the port from its `listening on IP:PORT` line, and kills it by its own PID when the test
//! ends. Plain `cargo test` builds the example first; `cargo test --test mio_echo` alone does not,
//! so a binary older than its source fails the test with a message saying so. Every read has a
//! timeout and every loop a bound.
//!
//! What they need is the server finding a connection's last data and its reset (or FIN) in one
//! readiness event, which on loopback happens only now and then (in `benches/e2e/soak.py`, about
//! one reset in eight). So a test stops the server (`kill -STOP PID`), has the client send and
//! hang up, and lets it go on (`kill -CONT PID`): when it wakes, both are there. Linux only: the
//! tests read `/proc/PID/stat` to know the child has stopped, and count `/proc/PID/fd`; a client
//! resets by closing with unread input (Linux then sends a RST).

#![cfg(all(target_os = "linux", feature = "std"))]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const IO_TIMEOUT: Duration = Duration::from_secs(10);
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the server may take to act on what it was given once it runs again.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

/// The built example, refusing one older than its sources.
fn example_path() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from target/<profile>/deps/");
    let path = profile_dir.join("examples").join("mio_echo");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --example mio_echo` (plain `cargo test` builds it)",
        path.display()
    );
    let modified = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for source in ["examples/mio_echo.rs", "examples/common/mod.rs"] {
        let source = root.join(source);
        if let (Some(built), Some(edited)) = (modified(&path), modified(&source)) {
            assert!(
                built >= edited,
                "{} is older than {}: run `cargo build --example mio_echo`",
                path.display(),
                source.display()
            );
        }
    }
    path
}

/// The running example, killed (by its PID, through its `Child`) when dropped, stopped or not;
/// its stderr is printed if the test failed.
struct Server {
    child: Child,
    log: Option<JoinHandle<String>>,
    addr: SocketAddr,
}

impl Server {
    fn start() -> Self {
        let mut child = Command::new(example_path())
            .arg("127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mio_echo");
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
            other => panic!("mio_echo printed no line: {other:?}"),
        };
        server.addr = line
            .strip_prefix("listening on ")
            .and_then(|addr| addr.trim().parse().ok())
            .unwrap_or_else(|| panic!("not a `listening on IP:PORT` line: {line:?}"));
        server
    }

    /// Sends `signal` (`-STOP`, `-CONT`) to the child and waits until it has taken effect.
    fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid}: {status}");
        let want_stopped = signal == "-STOP";
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
            // "PID (COMM) STATE ...": the state follows the last ')'.
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|s| s.trim().chars().next());
            if (state == Some('T')) == want_stopped {
                return;
            }
            assert!(Instant::now() < deadline, "kill {signal}: state {state:?}");
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// The child's open file descriptors.
    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .expect("the child's fds")
            .count()
    }

    /// Waits until the child has `want` file descriptors open.
    fn wait_for_fds(&self, want: usize, why: &str) {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            let fds = self.fds();
            if fds == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{why}: mio_echo has {fds} file descriptors open after {SETTLE_TIMEOUT:?}, \
                 not {want}"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// An upgraded connection (the 101 read, and nothing after it).
    fn upgrade(&self) -> TcpStream {
        let mut tcp = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT).expect("connect");
        tcp.set_nodelay(true).expect("TCP_NODELAY");
        tcp.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        tcp.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
        tcp.write_all(REQUEST).expect("write the request");
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.ends_with(b"\r\n\r\n") {
            assert!(head.len() < 4096, "no end to the response head: {head:?}");
            // One byte at a time, so nothing past the head is taken.
            let n = read(&mut tcp, &mut buf[..1]).expect("read the response");
            assert!(n > 0, "EOF during the handshake");
            head.extend_from_slice(&buf[..n]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101 "),
            "not a 101: {:?}",
            String::from_utf8_lossy(&head)
        );
        tcp
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill(); // SIGKILL ends a stopped process too
        let _ = self.child.wait();
        let log = self.log.take().map(|log| log.join().unwrap_or_default());
        if thread::panicking() {
            eprintln!("mio_echo's log:\n{}", log.unwrap_or_default());
        }
    }
}

/// `read`, retried on `EINTR`.
fn read(tcp: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match tcp.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

/// Reads exactly `len` bytes (or fails on EOF or the read timeout).
fn read_len(tcp: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut got = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        match read(tcp, &mut got[filled..]) {
            Ok(0) => panic!("EOF after {:?}", &got[..filled]),
            Ok(n) => filled += n,
            Err(e) => panic!("{e} after {:?}", &got[..filled]),
        }
    }
    got
}

/// A client frame (masked, with a zero key, so the payload goes as it is), under 126 bytes.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(payload);
    frame
}

/// The server's frame for it (unmasked).
fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x80 | opcode, payload.len() as u8];
    frame.extend_from_slice(payload);
    frame
}

/// Sends a Ping and waits until its Pong is in the socket's receive queue, unread: closing the
/// socket then sends a RST instead of a FIN.
fn leave_unread_input(tcp: &mut TcpStream) {
    tcp.write_all(&client_frame(0x9, b""))
        .expect("write a Ping");
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
    tcp.write_all(&client_frame(0x2, payload))
        .expect("write a message");
    let want = server_frame(0x2, payload);
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
    let server = Server::start();
    let mut other = server.upgrade();
    echo(&mut other, b"before");
    let fds = server.fds();
    let mut reset = server.upgrade();
    leave_unread_input(&mut reset);

    server.signal("-STOP");
    reset
        .write_all(&client_frame(0x2, b"from the reset connection"))
        .expect("write a message");
    drop(reset); // a RST, behind the message
    server.signal("-CONT");
    // The server reads the message, encodes its echo, fails to write it and drops the connection.
    server.wait_for_fds(fds, "the reset connection");

    echo(&mut other, b"after");
}

/// A client's FIN that came with its last data must end the connection (reading stopped at the
/// short read that took the data, and the FIN was not reported again: the connection stayed
/// open for ever).
#[test]
fn a_fin_that_comes_with_the_last_data_ends_the_connection() {
    let server = Server::start();
    let mut tcp = server.upgrade();
    server.signal("-STOP");
    tcp.write_all(&client_frame(0x2, b"last")).expect("write");
    tcp.shutdown(Shutdown::Write).expect("FIN");
    server.signal("-CONT");

    let want = server_frame(0x2, b"last");
    assert_eq!(read_len(&mut tcp, want.len()), want, "the echo");
    tcp.set_read_timeout(Some(SETTLE_TIMEOUT)).expect("timeout");
    let mut buf = [0u8; 64];
    match read(&mut tcp, &mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("more after the echo: {:?}", &buf[..n]),
        Err(e) => panic!("no EOF after the client's FIN: {e}"),
    }
}

/// A reset that came with the connection's last data must free the connection (the soak's
/// RSS growth: each such connection stayed, with its partial text message, for ever).
#[test]
fn a_reset_that_comes_with_the_last_data_frees_the_connection() {
    let server = Server::start();
    let fds = server.fds();
    let mut tcp = server.upgrade();
    leave_unread_input(&mut tcp);
    server.signal("-STOP");
    // The start of a text message, which the server holds until the rest comes.
    let mut frame = client_frame(0x1, &[b'x'; 100]);
    frame.truncate(50);
    tcp.write_all(&frame).expect("write");
    drop(tcp); // a RST
    server.signal("-CONT");
    server.wait_for_fds(fds, "the reset connection");
}
