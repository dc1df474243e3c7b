//! `examples/fixed_echo_server` (the loop of `examples/embedded`, 512 bytes to receive into) over
//! loopback TCP: a client `Connection` driven here sends messages up to 1 MiB with Pings between
//! them and checks every echo; and `examples/echo_client` runs against it until the server closes
//! the idle connection, and exits 0.
//!
//! The example binaries are the ones `cargo test` builds beside this test
//! (`target/<profile>/examples/`). Every server is started on 127.0.0.1 with port 0 and stopped by
//! its own process handle; every read and wait is bounded.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{TestRng, XorShift};
use sockless::handshake::{ClientHandshake, ClientRequest, EMPTY_HEADER};
use sockless::{CloseCode, Config, DataKind, Event, Outgoing, Recv, State, Status};

const TIMEOUT: Duration = Duration::from_secs(20);

/// The path of an example built beside this test.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: build the examples first (`cargo test` does, or `cargo build --examples`)",
        path.display()
    );
    path
}

/// A running `fixed_echo_server`, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(example("fixed_echo_server"))
            .arg("127.0.0.1:0")
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start fixed_echo_server");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the first line");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Self { child, addr }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(len: usize) -> Vec<u8> {
    let mut s = "héllo wörld ✓ 🙂 ".repeat(len / 20 + 1);
    while s.len() > len {
        s.pop();
    }
    s.into_bytes()
}

#[test]
fn echoes_large_messages_over_tcp() {
    let server = Server::start(&[]);
    let mut tcp = TcpStream::connect(server.addr).expect("connect");
    tcp.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    tcp.set_nodelay(true).expect("nodelay");

    let mut config = Config::default();
    config.max_message_len = 2 << 20;
    let host = server.addr.to_string();
    let mut out = vec![0u8; 2 << 20];
    let (mut handshake, n) = ClientHandshake::new(
        ClientRequest::new(&host, "/"),
        config,
        TestRng::new(3),
        &mut out,
    )
    .expect("request");
    tcp.write_all(&out[..n]).expect("write request");
    let mut rbuf = vec![0u8; 64 * 1024];
    let mut filled = 0;
    let (mut conn, head_len) = loop {
        let n = tcp.read(&mut rbuf[filled..]).expect("read response");
        assert!(n > 0, "the server closed during the handshake");
        filled += n;
        let mut headers = [EMPTY_HEADER; 16];
        if let Status::Complete(resp) = handshake.parse(&rbuf[..filled], &mut headers).unwrap() {
            assert_eq!(resp.status(), 101);
            let len = resp.len();
            break (handshake.finish(&resp).expect("valid 101"), len);
        }
    };
    rbuf.copy_within(head_len..filled, 0);
    filled -= head_len;

    // Everything the client sends, encoded up front and written by another thread, so that the
    // echo never waits on a client that is busy writing.
    let mut rng = XorShift::new(11);
    let messages: Vec<(DataKind, Vec<u8>, usize)> = vec![
        (DataKind::Text, text(100), usize::MAX),
        (
            DataKind::Binary,
            (0..1 << 20).map(|_| rng.next() as u8).collect(),
            64 * 1024,
        ),
        (DataKind::Text, text(300_000), usize::MAX),
        (DataKind::Binary, Vec::new(), usize::MAX),
        (DataKind::Text, text(5000), 7),
    ];
    let pings: Vec<Vec<u8>> = (0..messages.len()).map(|i| vec![i as u8; 10 * i]).collect();
    let mut wire = Vec::new();
    for ((kind, payload, fragment), ping) in messages.iter().zip(&pings) {
        let chunks: Vec<&[u8]> = if payload.is_empty() {
            vec![&[]]
        } else {
            payload.chunks(*fragment).collect()
        };
        for (i, chunk) in chunks.iter().enumerate() {
            let n = conn
                .send_frame(*kind, chunk, i + 1 == chunks.len(), &mut out)
                .expect("frame");
            wire.extend_from_slice(&out[..n]);
        }
        let n = conn.send(Outgoing::Ping(ping), &mut out).expect("ping");
        wire.extend_from_slice(&out[..n]);
    }
    let n = conn
        .close(CloseCode::NORMAL, "done", &mut out)
        .expect("close");
    wire.extend_from_slice(&out[..n]);
    let mut writer = tcp.try_clone().expect("clone");
    let writing = thread::spawn(move || writer.write_all(&wire));

    let deadline = Instant::now() + TIMEOUT;
    let (mut echoed, mut pongs, mut message, mut close) = (0, 0, Vec::new(), None);
    loop {
        assert!(Instant::now() < deadline, "the echo took too long");
        let mut pos = 0;
        while pos < filled {
            let r = conn.receive(&mut rbuf[pos..filled]);
            pos += r.consumed;
            match r.result.expect("valid frames from the server") {
                Recv::Event(Event::Data {
                    kind,
                    payload,
                    message_done,
                    ..
                }) => {
                    message.extend_from_slice(payload);
                    if message_done {
                        let (want_kind, want, _) = &messages[echoed];
                        assert_eq!(kind, *want_kind);
                        assert!(message == *want, "echo {echoed} differs");
                        message.clear();
                        echoed += 1;
                    }
                }
                Recv::Event(Event::Pong(p)) => {
                    assert_eq!(p, pings[pongs].as_slice());
                    pongs += 1;
                }
                Recv::Event(Event::Close(frame)) => close = frame.map(|f| f.code),
                Recv::Event(Event::Ping(_)) | Recv::NeedFlush => panic!("the echo never pings"),
                Recv::NeedInput | Recv::Closed => break,
            }
        }
        rbuf.copy_within(pos..filled, 0);
        filled -= pos;
        let n = tcp.read(&mut rbuf[filled..]).expect("read");
        if n == 0 {
            break; // the server closes TCP after the closing handshake
        }
        filled += n;
    }
    writing.join().expect("writer").expect("write");
    assert_eq!(echoed, messages.len(), "every message echoed");
    assert_eq!(pongs, pings.len(), "every Ping answered");
    assert_eq!(close, Some(CloseCode::NORMAL));
    assert_eq!(conn.state(), State::Closed);
}

/// `echo_client` only echoes what the server sends; this server sends nothing of its own, so the
/// session ends when the idle connection is closed by the server (1001), and the client exits 0
/// after that closing handshake.
#[cfg(all(feature = "std", feature = "getrandom"))]
#[test]
fn echo_client_exits_0_after_the_servers_idle_close() {
    let server = Server::start(&["--idle", "0.5"]);
    let mut client = Command::new(example("echo_client"))
        .arg(format!("ws://{}/", server.addr))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start echo_client");
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = client.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = client.kill();
            let _ = client.wait();
            panic!("echo_client did not finish within {TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = client.stderr.take() {
        pipe.read_to_string(&mut stderr).expect("stderr");
    }
    assert!(status.success(), "echo_client: {status}; stderr: {stderr}");
    assert!(stderr.contains("closed with 1001"), "stderr: {stderr}");
}
