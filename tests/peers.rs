//! sockless itself against live peers (Python `websockets` and `wsproto`, Node `ws`, Chromium):
//! closing handshakes started by either side, with a code and a reason that the other side must
//! see. The examples never start a close themselves; these tests drive the library directly over
//! blocking `std::net` sockets.
//!
//! Every test is `#[ignore]`d: `interop/run.sh` (through `run_interop.py`) starts a peer and runs
//! them one at a time with
//!
//! ```text
//! cargo test --release --test peers -- --ignored --exact NAME --nocapture
//! ```
//!
//! * Client tests (`client_closes`, `client_observes_peer_close`) connect to the peer echo server
//!   at `SOCKLESS_PEER_SERVER` (`ws://127.0.0.1:PORT/PATH`, loopback only), used as given: the
//!   harness points `client_observes_peer_close` at the peer's `/close-me` path, where the peer
//!   closes at once with 4004 "server-bye".
//! * Server tests (`server_closes`, `server_observes_peer_close`) listen on `127.0.0.1:0`, print
//!   `peers: listening on 127.0.0.1:PORT`, write PORT to the file named by `SOCKLESS_PORT_FILE`,
//!   and serve exactly one connection from the peer client.
//!
//! A missing variable fails the test (it only runs when asked for with `--ignored`). Every read
//! has a 5 s timeout and every wait a deadline. Each test prints what it observed on lines
//! starting with `peers: `, which the harness quotes in its report.

#![cfg(feature = "getrandom")]

mod common;

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use common::example::{self, connect, is_timeout, set_nodelay_and_timeouts};

use sockless::handshake::{Accept, ClientHandshake, ClientRequest, ServerHandshake, EMPTY_HEADER};
use sockless::{
    CloseCode, Config, Connection, DataKind, Event, NoRandom, OsRandom, Outgoing, RandomSource,
    Recv, State, Status,
};

/// The timeout of every single read and write.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one wait for something from the peer (a message, its Close) may take in all.
const WAIT: Duration = Duration::from_secs(10);
/// How long a server test waits for the peer client to connect (Chromium takes a few seconds to
/// start).
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a client waits for the server to close TCP after the closing handshake.
const TCP_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// No wait handles more events than this.
const MAX_EVENTS: usize = 1000;
const BUF_LEN: usize = 64 * 1024;

/// A required environment variable: missing or empty fails the test with a clear message.
fn required_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value.trim().to_owned(),
        _ => panic!(
            "{name} is not set. This test needs a live peer and is meant to be run by \
             interop/run.sh (run_interop.py sets {name}); see the header of tests/peers.rs"
        ),
    }
}

/// What the peer sent, owned (whole messages).
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Message(DataKind, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// The peer's Close: its code and reason, if it had a code.
    Close(Option<(u16, String)>),
}

/// A blocking driver around one connection: the socket, the buffers and the reassembly.
struct Driver<R> {
    tcp: TcpStream,
    conn: Connection<R>,
    rbuf: Vec<u8>,
    /// `rbuf[..filled]` is read and not yet consumed.
    filled: usize,
    wbuf: Vec<u8>,
    /// The message being reassembled.
    msg: Vec<u8>,
    /// Bytes that `poll_transmit` produced (and that were written) after the last event.
    flushed: usize,
}

fn setup_stream(tcp: &TcpStream) {
    tcp.set_nonblocking(false).expect("set_nonblocking(false)");
    set_nodelay_and_timeouts(tcp, IO_TIMEOUT);
}

/// One read into `buf`: `Ok(0)` is EOF; a timeout is an error that says what we waited for.
fn read_some(tcp: &mut TcpStream, buf: &mut [u8], what: &str) -> usize {
    assert!(
        !buf.is_empty(),
        "receive buffer full while waiting for {what}"
    );
    match example::read_some(tcp, buf) {
        Ok(n) => n,
        Err(e) if is_timeout(&e) => {
            panic!("no data from the peer within {IO_TIMEOUT:?} while waiting for {what}")
        }
        Err(e) => panic!("read failed while waiting for {what}: {e}"),
    }
}

/// `ws://HOST:PORT/PATH` -> (`HOST:PORT`, `/PATH`).
fn split_url(url: &str) -> (&str, &str) {
    let rest = url
        .strip_prefix("ws://")
        .unwrap_or_else(|| panic!("{url:?}: expected a ws:// URL"));
    match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    }
}

fn loopback_addr(authority: &str) -> SocketAddr {
    let addrs: Vec<SocketAddr> = authority
        .to_socket_addrs()
        .unwrap_or_else(|e| panic!("cannot resolve {authority:?}: {e}"))
        .collect();
    addrs
        .iter()
        .copied()
        .find(|a| a.ip().is_loopback())
        .unwrap_or_else(|| panic!("{authority:?} is not a loopback address ({addrs:?})"))
}

impl Driver<OsRandom> {
    /// Connects to `url` and performs the opening handshake with `ClientHandshake`.
    fn connect(url: &str) -> Self {
        let (authority, target) = split_url(url);
        let addr = loopback_addr(authority);
        let mut wbuf = vec![0u8; BUF_LEN];
        let request = ClientRequest::new(authority, target);
        let (mut handshake, n) =
            ClientHandshake::new(request, Config::default(), OsRandom::new(), &mut wbuf)
                .expect("write the upgrade request");
        let mut tcp = connect(addr, IO_TIMEOUT);
        tcp.write_all(&wbuf[..n]).expect("send the upgrade request");

        let mut rbuf = vec![0u8; BUF_LEN];
        let mut filled = 0;
        let deadline = Instant::now() + WAIT;
        let (conn, head_len) = loop {
            assert!(
                Instant::now() < deadline,
                "no complete handshake response from {url} within {WAIT:?}"
            );
            let n = read_some(&mut tcp, &mut rbuf[filled..], "the handshake response");
            assert!(n > 0, "{url} closed TCP during the handshake");
            filled += n;
            let mut headers = [EMPTY_HEADER; 64];
            let Status::Complete(response) = handshake
                .parse(&rbuf[..filled], &mut headers)
                .expect("a well-formed handshake response")
            else {
                continue;
            };
            assert_eq!(
                response.status(),
                101,
                "{url} refused the upgrade: {} {}",
                response.status(),
                response.reason()
            );
            let head_len = response.len();
            let conn = handshake
                .finish(&response)
                .expect("a valid 101 response (accept key, upgrade headers)");
            break (conn, head_len);
        };
        rbuf.copy_within(head_len..filled, 0);
        filled -= head_len;
        Self::new(tcp, conn, rbuf, filled, wbuf)
    }
}

/// Binds `127.0.0.1:0`, announces the port on stdout and in `SOCKLESS_PORT_FILE`.
fn listen() -> TcpListener {
    let port_file = required_env("SOCKLESS_PORT_FILE");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local_addr").port();
    println!("peers: listening on 127.0.0.1:{port}");
    io::stdout().flush().expect("flush stdout");
    // Written whole under another name, then renamed: the harness never reads half a port.
    let tmp = format!("{port_file}.tmp");
    std::fs::write(&tmp, format!("{port}\n")).expect("write the port file");
    std::fs::rename(&tmp, &port_file).expect("rename the port file");
    listener
}

impl Driver<NoRandom> {
    /// Accepts one connection (within `ACCEPT_TIMEOUT`) and performs the opening handshake with
    /// `ServerHandshake`.
    fn accept(listener: &TcpListener) -> Self {
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let deadline = Instant::now() + ACCEPT_TIMEOUT;
        let mut tcp = loop {
            match listener.accept() {
                Ok((tcp, _)) => break tcp,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(
                        Instant::now() < deadline,
                        "no peer connected within {ACCEPT_TIMEOUT:?}"
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!("accept failed: {e}"),
            }
        };
        setup_stream(&tcp);

        let mut rbuf = vec![0u8; BUF_LEN];
        let mut wbuf = vec![0u8; BUF_LEN];
        let mut filled = 0;
        let mut handshake = ServerHandshake::new(Config::default());
        let deadline = Instant::now() + WAIT;
        let (conn, head_len) = loop {
            assert!(
                Instant::now() < deadline,
                "no complete upgrade request within {WAIT:?}"
            );
            let n = read_some(&mut tcp, &mut rbuf[filled..], "the upgrade request");
            assert!(n > 0, "the peer closed TCP during the handshake");
            filled += n;
            let mut headers = [EMPTY_HEADER; 64];
            match handshake.parse(&rbuf[..filled], &mut headers) {
                Ok(Status::Partial) => continue,
                Ok(Status::Complete(request)) => {
                    let (n, conn) = request
                        .accept(&Accept::new(), &mut wbuf)
                        .expect("write the 101 response");
                    tcp.write_all(&wbuf[..n]).expect("send the 101 response");
                    break (conn, request.len());
                }
                Err(e) => {
                    if let Ok(n) = handshake.write_error(e, &mut wbuf) {
                        let _ = tcp.write_all(&wbuf[..n]);
                    }
                    panic!("the peer's upgrade request was refused: {e}");
                }
            }
        };
        rbuf.copy_within(head_len..filled, 0);
        filled -= head_len;
        Self::new(tcp, conn, rbuf, filled, wbuf)
    }
}

impl<R: RandomSource> Driver<R> {
    fn new(
        tcp: TcpStream,
        conn: Connection<R>,
        rbuf: Vec<u8>,
        filled: usize,
        wbuf: Vec<u8>,
    ) -> Self {
        Self {
            tcp,
            conn,
            rbuf,
            filled,
            wbuf,
            msg: Vec::new(),
            flushed: 0,
        }
    }

    fn state(&self) -> State {
        self.conn.state()
    }

    /// Sends a whole message or a control frame.
    fn send(&mut self, msg: Outgoing<'_>) {
        let n = self
            .conn
            .send(msg, &mut self.wbuf)
            .unwrap_or_else(|e| panic!("send {msg:?}: {e}"));
        self.tcp.write_all(&self.wbuf[..n]).expect("write a frame");
    }

    /// Starts the closing handshake.
    fn close(&mut self, code: CloseCode, reason: &str) {
        let n = self
            .conn
            .close(code, reason, &mut self.wbuf)
            .unwrap_or_else(|e| panic!("close({}, {reason:?}): {e}", code.0));
        self.tcp
            .write_all(&self.wbuf[..n])
            .expect("write our Close");
        assert_eq!(self.state(), State::CloseSent, "state after close()");
    }

    /// Writes everything the connection owes the peer (Pongs, the Close reply); returns the bytes.
    fn flush_owed(&mut self) -> usize {
        let mut total = 0;
        loop {
            let n = self
                .conn
                .poll_transmit(&mut self.wbuf)
                .expect("poll_transmit");
            if n == 0 {
                return total;
            }
            self.tcp
                .write_all(&self.wbuf[..n])
                .expect("write owed frames");
            total += n;
        }
    }

    /// The next whole message or control frame from the peer (within `WAIT`). What the
    /// connection owes the peer afterwards is written at once; `self.flushed` says how much.
    fn next(&mut self, what: &str) -> Got {
        let deadline = Instant::now() + WAIT;
        for _ in 0..MAX_EVENTS {
            let r = self.conn.receive(&mut self.rbuf[..self.filled]);
            let consumed = r.consumed;
            let got = match r.result {
                Ok(Recv::Event(Event::Data {
                    kind,
                    payload,
                    message_done,
                    ..
                })) => {
                    self.msg.extend_from_slice(payload);
                    message_done.then(|| Got::Message(kind, std::mem::take(&mut self.msg)))
                }
                Ok(Recv::Event(Event::Ping(p))) => Some(Got::Ping(p.to_vec())),
                Ok(Recv::Event(Event::Pong(p))) => Some(Got::Pong(p.to_vec())),
                Ok(Recv::Event(Event::Close(frame))) => {
                    Some(Got::Close(frame.map(|f| (f.code.0, f.reason.to_owned()))))
                }
                Ok(Recv::NeedFlush) => {
                    assert!(self.flush_owed() > 0, "NeedFlush with nothing to flush");
                    None
                }
                Ok(Recv::NeedInput) => {
                    assert!(
                        Instant::now() < deadline,
                        "nothing complete from the peer within {WAIT:?} while waiting for {what}"
                    );
                    let filled = self.filled;
                    let n = read_some(&mut self.tcp, &mut self.rbuf[filled..], what);
                    assert!(
                        n > 0,
                        "the peer closed TCP without a Close while we waited for {what} (state {:?})",
                        self.state()
                    );
                    self.filled += n;
                    continue;
                }
                Ok(Recv::Closed) => panic!(
                    "the connection receives nothing more (state {:?}) while waiting for {what}",
                    self.state()
                ),
                Err(e) => {
                    let _ = self.flush_owed();
                    panic!("protocol error from the peer while waiting for {what}: {e}");
                }
            };
            self.rbuf.copy_within(consumed..self.filled, 0);
            self.filled -= consumed;
            if let Some(got) = got {
                self.flushed = self.flush_owed();
                return got;
            }
        }
        panic!("more than {MAX_EVENTS} events while waiting for {what}")
    }

    /// The next whole message; Pings and Pongs are skipped (Pongs are sent automatically).
    fn next_message(&mut self, what: &str) -> (DataKind, Vec<u8>) {
        for _ in 0..MAX_EVENTS {
            match self.next(what) {
                Got::Message(kind, data) => return (kind, data),
                Got::Ping(_) | Got::Pong(_) => {}
                Got::Close(c) => panic!("the peer closed ({c:?}) while we waited for {what}"),
            }
        }
        panic!("more than {MAX_EVENTS} control frames while waiting for {what}")
    }

    /// The peer's Close; messages that arrive before it (allowed after we sent ours) are skipped.
    fn next_close(&mut self, what: &str) -> Option<(u16, String)> {
        for _ in 0..MAX_EVENTS {
            match self.next(what) {
                Got::Close(c) => return c,
                Got::Message(kind, data) => {
                    println!(
                        "peers: skipped a {kind:?} message of {} B before the Close",
                        data.len()
                    )
                }
                Got::Ping(_) | Got::Pong(_) => {}
            }
        }
        panic!("more than {MAX_EVENTS} frames while waiting for {what}")
    }

    /// Echoes one message of `kind`.
    fn echo(&mut self, kind: DataKind, data: &[u8]) {
        match kind {
            DataKind::Text => {
                let text = std::str::from_utf8(data).expect("validated text");
                self.send(Outgoing::Text(text));
            }
            DataKind::Binary => self.send(Outgoing::Binary(data)),
        }
    }

    /// Client side, after the closing handshake: the server must close TCP first (RFC 6455
    /// 7.1.1). Waits for EOF (or a reset) for at most `TCP_CLOSE_TIMEOUT`.
    fn wait_server_tcp_close(&mut self) {
        let deadline = Instant::now() + TCP_CLOSE_TIMEOUT;
        let mut buf = [0u8; 4096];
        let mut extra = 0;
        loop {
            assert!(
                Instant::now() < deadline,
                "the server did not close TCP within {TCP_CLOSE_TIMEOUT:?} after the closing handshake"
            );
            match example::read_some(&mut self.tcp, &mut buf) {
                Ok(0) => break,
                Ok(n) => extra += n,
                Err(e) if is_timeout(&e) => {
                    panic!("the server did not close TCP within {IO_TIMEOUT:?} after the closing handshake")
                }
                // A reset after the closing handshake loses nothing.
                Err(_) => break,
            }
        }
        assert_eq!(extra, 0, "the server sent {extra} B after its Close");
    }

    /// Server side, after the closing handshake: close TCP first, then give the client a moment
    /// (bounded) to close its end, so that neither side sees a reset.
    fn close_tcp_as_server(mut self) {
        let _ = self.tcp.shutdown(Shutdown::Write);
        let _ = self.tcp.set_read_timeout(Some(Duration::from_millis(500)));
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            match example::read_some(&mut self.tcp, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}

/// `(code, reason)` as the harness quotes it.
fn show(close: &Option<(u16, String)>) -> String {
    match close {
        Some((code, reason)) => format!("{code} {reason:?}"),
        None => "no code".to_owned(),
    }
}

#[test]
#[ignore = "needs a live peer: run by interop/run.sh"]
fn client_closes() {
    let url = required_env("SOCKLESS_PEER_SERVER");
    let mut d = Driver::connect(&url);

    d.send(Outgoing::Text("hello"));
    let (kind, data) = d.next_message("the echo of \"hello\"");
    assert_eq!(
        (kind, data.as_slice()),
        (DataKind::Text, &b"hello"[..]),
        "text echo"
    );
    d.send(Outgoing::Binary(&[1, 2, 3]));
    let (kind, data) = d.next_message("the echo of [1, 2, 3]");
    assert_eq!(
        (kind, data.as_slice()),
        (DataKind::Binary, &[1u8, 2, 3][..]),
        "binary echo"
    );

    d.close(CloseCode(4003), "client-bye");
    let got = d.next_close("the peer's Close reply");
    println!("peers: observed close {}", show(&got));
    assert_eq!(
        got.as_ref().map(|c| c.0),
        Some(4003),
        "the peer must echo code 4003"
    );
    assert_eq!(
        d.state(),
        State::Closed,
        "state after the peer's Close reply"
    );
    d.wait_server_tcp_close();
}

#[test]
#[ignore = "needs a live peer: run by interop/run.sh"]
fn client_observes_peer_close() {
    let url = required_env("SOCKLESS_PEER_SERVER");
    let mut d = Driver::connect(&url);

    let got = d.next_close("the peer's Close (4004 \"server-bye\")");
    println!("peers: observed close {}", show(&got));
    assert_eq!(
        got,
        Some((4004, "server-bye".to_owned())),
        "the peer's close code and reason"
    );
    assert!(d.flushed > 0, "the automatic Close reply was not written");
    assert_eq!(d.state(), State::Closed, "state after our Close reply");
    d.wait_server_tcp_close();
}

#[test]
#[ignore = "needs a live peer: run by interop/run.sh"]
fn server_closes() {
    let listener = listen();
    let mut d = Driver::accept(&listener);

    let (kind, data) = d.next_message("the peer's message");
    println!("peers: echoing a {kind:?} message of {} B", data.len());
    d.echo(kind, &data);

    d.close(CloseCode(4005), "server-bye");
    let got = d.next_close("the peer's Close reply");
    println!("peers: observed close {}", show(&got));
    assert_eq!(
        got.as_ref().map(|c| c.0),
        Some(4005),
        "the peer must echo code 4005"
    );
    assert_eq!(
        d.state(),
        State::Closed,
        "state after the peer's Close reply"
    );
    d.close_tcp_as_server();
}

#[test]
#[ignore = "needs a live peer: run by interop/run.sh"]
fn server_observes_peer_close() {
    let listener = listen();
    let mut d = Driver::accept(&listener);

    let mut echoed = 0;
    let got = loop {
        assert!(
            echoed < MAX_EVENTS,
            "more than {MAX_EVENTS} messages before the Close"
        );
        match d.next("a message or the peer's Close (4006 \"client-bye\")") {
            Got::Message(kind, data) => {
                d.echo(kind, &data);
                echoed += 1;
            }
            Got::Ping(_) | Got::Pong(_) => {}
            Got::Close(c) => break c,
        }
    };
    println!(
        "peers: echoed {echoed} message(s); observed close {}",
        show(&got)
    );
    assert_eq!(
        got,
        Some((4006, "client-bye".to_owned())),
        "the peer's close code and reason"
    );
    assert!(d.flushed > 0, "the automatic Close reply was not written");
    assert_eq!(d.state(), State::Closed, "state after our Close reply");
    d.close_tcp_as_server();
}
