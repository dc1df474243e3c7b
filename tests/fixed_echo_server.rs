//! `examples/fixed_echo_server` (the loop of `examples/embedded`, 512 bytes to receive into) over
//! loopback TCP: a client `Connection` driven here sends messages up to 1 MiB with Pings between
//! them and checks every echo; and `examples/echo_client` runs against it until the server closes
//! the idle connection, and exits 0.
//!
//! The example binaries are the ones `cargo test` builds beside this test
//! (`target/<profile>/examples/`). Every server is started on 127.0.0.1 with port 0 and stopped by
//! its own process handle; every read and wait is bounded.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use common::example::{server_command, Server, Sources};
use common::{TestRng, XorShift};
use sockless::handshake::{ClientHandshake, ClientRequest, EMPTY_HEADER};
use sockless::{CloseCode, Config, DataKind, Event, Outgoing, Recv, State, Status};

const TIMEOUT: Duration = Duration::from_secs(20);

/// `fixed_echo_server` on 127.0.0.1:0 with `extra`, its stderr the test's own; killed when
/// dropped. (The binaries are only checked to be there, not that they are newer than their
/// sources.)
fn fixed_echo_server(extra: &[&str]) -> Server {
    Server::spawn(
        server_command("fixed_echo_server", Sources::Unchecked, extra).stderr(Stdio::inherit()),
    )
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
    let server = fixed_echo_server(&[]);
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
    use common::example::{example, Running};

    let server = fixed_echo_server(&["--idle", "0.5"]);
    let mut client = Running::spawn(
        example("echo_client", Sources::Unchecked)
            .arg(format!("ws://{}/", server.addr))
            .stdout(Stdio::null()),
    );
    let status = client
        .wait(TIMEOUT)
        .unwrap_or_else(|| panic!("echo_client did not finish within {TIMEOUT:?}"));
    let stderr = client.stderr();
    assert!(status.success(), "echo_client: {status}; stderr: {stderr}");
    assert!(stderr.contains("closed with 1001"), "stderr: {stderr}");
}
