//! The `wss_server` and `wss_client` examples over loopback TLS.
//!
//! * The test is a rustls client speaking WebSocket through sockless to `wss_server`, trusting
//!   the certificate it wrote with `--cert-out` (or one the test made, with `--cert --key`):
//!   text and binary messages up to 1 MiB come back unchanged, the closing handshake completes
//!   and the server closes the TLS session and TCP; `--allow-origin` refuses with 403.
//! * The test is a rustls server speaking WebSocket through sockless, with a certificate made by
//!   rcgen; `wss_client --ca` connects, echoes what the test sends, answers its Close and exits 0.
//!
//! Like `tests/example_server.rs`, it runs the built examples from `target/<profile>/examples`
//! (plain `cargo test` builds them; `cargo test --test tls` alone does not, and refuses binaries
//! older than their source), each child killed through its own `Child` when the test ends. Every
//! read and write has a timeout and every loop a bound.

#![cfg(all(feature = "std", feature = "getrandom"))]

mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::example::{
    connect, example, read_some, set_nodelay_and_timeouts, Running, Server, Sources, START_TIMEOUT,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{crypto::ring::default_provider, StreamOwned};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use sockless::handshake::{Accept, ClientHandshake, ClientRequest, ServerHandshake, EMPTY_HEADER};
use sockless::{
    CloseCode, Config, Connection, DataKind, Event, OsRandom, Outgoing, RandomSource, Recv, State,
    Status,
};

const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Besides `examples/NAME.rs`, what a built example must not be older than.
const SOURCES: Sources = Sources::OwnAnd(&["examples/common/stream_echo.rs"]);
const MIB: usize = 1 << 20;

/// The messages of every round trip: text and binary at the length-encoding edges, up to 1 MiB.
fn messages() -> Vec<(DataKind, Vec<u8>)> {
    let mut out = Vec::new();
    let mut seed = 0x6455_u32;
    for len in [0, 1, 125, 126, 65535, 65536, MIB] {
        let text: Vec<u8> = (0..len).map(|i| b"sockless wss "[i % 13]).collect();
        out.push((DataKind::Text, text));
        let binary = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect();
        out.push((DataKind::Binary, binary));
    }
    out.push((DataKind::Text, "é € 😀 ".repeat(1000).into_bytes()));
    out
}

// ---------------------------------------------------------------------------------------------
// The examples
// ---------------------------------------------------------------------------------------------

/// Starts `wss_server` on 127.0.0.1:0 with `options`; returns it and its address.
fn start_server(options: &[&str]) -> (Server, SocketAddr) {
    let server = Server::start("wss_server", SOURCES, options);
    let addr = server.addr;
    (server, addr)
}

/// A fresh temporary directory for this test's files.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sockless-tls-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("make a temporary directory");
    dir
}

// ---------------------------------------------------------------------------------------------
// A sockless endpoint over any stream
// ---------------------------------------------------------------------------------------------

/// What arrives: a whole message or the peer's Close (its code).
#[derive(Debug, PartialEq)]
enum Incoming {
    Message(DataKind, Vec<u8>),
    Close(Option<u16>),
}

/// A connection and its stream, driven one message at a time.
struct Endpoint<R, S> {
    conn: Connection<R>,
    stream: S,
    rbuf: Vec<u8>,
    filled: usize,
}

impl<R: RandomSource, S: Read + Write> Endpoint<R, S> {
    fn write(&mut self, encode: impl FnOnce(&mut Connection<R>, &mut [u8]) -> usize, len: usize) {
        let mut out = vec![0u8; len + 512];
        let n = encode(&mut self.conn, &mut out);
        self.stream.write_all(&out[..n]).expect("write");
        self.stream.flush().expect("flush");
    }

    fn send(&mut self, kind: DataKind, payload: &[u8]) {
        let msg = match kind {
            DataKind::Text => Outgoing::Text(std::str::from_utf8(payload).expect("UTF-8")),
            DataKind::Binary => Outgoing::Binary(payload),
        };
        self.write(
            |conn, out| conn.send(msg, out).expect("encode"),
            payload.len(),
        );
    }

    fn close(&mut self, code: u16) {
        self.write(
            |conn, out| conn.close(CloseCode(code), "test", out).expect("encode"),
            0,
        );
    }

    /// Writes what the connection owes the peer.
    fn flush_owed(&mut self) {
        self.write(
            |conn, out| conn.poll_transmit(out).expect("poll_transmit"),
            0,
        );
    }

    /// Reads until a whole message or a Close has arrived.
    fn next(&mut self) -> Incoming {
        let mut msg = Vec::new();
        let give_up = Instant::now() + IO_TIMEOUT;
        loop {
            assert!(Instant::now() < give_up, "no whole message in time");
            let mut pos = 0;
            let mut got = None;
            while pos < self.filled && got.is_none() {
                let r = self.conn.receive(&mut self.rbuf[pos..self.filled]);
                pos += r.consumed;
                match r.result.expect("no protocol error") {
                    Recv::Event(Event::Data {
                        kind,
                        payload,
                        message_done,
                        ..
                    }) => {
                        msg.extend_from_slice(payload);
                        if message_done {
                            got = Some(Incoming::Message(kind, std::mem::take(&mut msg)));
                        }
                    }
                    Recv::Event(Event::Close(frame)) => {
                        got = Some(Incoming::Close(frame.map(|f| f.code.0)))
                    }
                    Recv::Event(_) => {}
                    Recv::NeedFlush => self.flush_owed(),
                    Recv::NeedInput | Recv::Closed => break,
                }
            }
            self.rbuf.copy_within(pos..self.filled, 0);
            self.filled -= pos;
            if self.conn.wants_transmit() {
                self.flush_owed();
            }
            if let Some(got) = got {
                assert!(msg.is_empty(), "a message cut short");
                return got;
            }
            let n = read_some(&mut self.stream, &mut self.rbuf[self.filled..]).expect("read");
            assert_ne!(n, 0, "EOF before a whole message");
            self.filled += n;
        }
    }

    /// Sends each message and checks that it comes back unchanged.
    fn round_trips(&mut self) {
        for (kind, payload) in messages() {
            self.send(kind, &payload);
            match self.next() {
                Incoming::Message(k, echo) => {
                    assert_eq!(k, kind, "{} B", payload.len());
                    assert!(echo == payload, "{kind:?} {} B changed", payload.len());
                }
                other => panic!("{other:?} instead of the echo of {} B", payload.len()),
            }
        }
    }
}

type TlsClient = StreamOwned<ClientConnection, TcpStream>;

/// A TLS connection to `addr`, trusting the certificates of the PEM file `ca`, for `127.0.0.1`.
fn tls_connect(addr: SocketAddr, ca: &Path) -> TlsClient {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("read the CA file") {
        roots
            .add(cert.expect("a PEM certificate"))
            .expect("a usable root");
    }
    let config = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").expect("an IP address name");
    let conn = ClientConnection::new(Arc::new(config), name).expect("a TLS client");
    StreamOwned::new(conn, connect(addr, IO_TIMEOUT))
}

/// The WebSocket handshake as a client over `stream`, with `origin` if given. Returns the
/// endpoint, or the response status if it is not 101.
fn ws_connect(
    mut stream: TlsClient,
    origin: Option<&str>,
) -> Result<Endpoint<OsRandom, TlsClient>, u16> {
    let mut out = [0u8; 1024];
    let mut request = ClientRequest::new("127.0.0.1", "/tls");
    if let Some(origin) = origin {
        request = request.origin(origin);
    }
    let (mut handshake, n) =
        ClientHandshake::new(request, Config::default(), OsRandom::new(), &mut out)
            .expect("encode the request");
    stream.write_all(&out[..n]).expect("write the request");
    stream.flush().expect("flush");
    let mut rbuf = vec![0u8; 64 * 1024];
    let mut filled = 0;
    loop {
        let n = read_some(&mut stream, &mut rbuf[filled..]).expect("read the response");
        assert_ne!(n, 0, "EOF inside the response head");
        filled += n;
        let mut headers = [EMPTY_HEADER; 32];
        let Status::Complete(response) = handshake
            .parse(&rbuf[..filled], &mut headers)
            .expect("a valid response")
        else {
            continue;
        };
        if response.status() != 101 {
            return Err(response.status());
        }
        let len = response.len();
        let conn = handshake.finish(&response).expect("a valid 101");
        rbuf.copy_within(len..filled, 0);
        return Ok(Endpoint {
            conn,
            stream,
            rbuf,
            filled: filled - len,
        });
    }
}

/// After the closing handshake the server closes: a TLS close_notify (read returns 0), then TCP.
fn expect_server_close(stream: &mut TlsClient) {
    let mut buf = [0u8; 256];
    assert_eq!(read_some(stream, &mut buf).expect("close_notify"), 0);
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

/// `wss_server --cert-out`: the test trusts the certificate written there, echoes text and binary
/// messages up to 1 MiB, and closes with 1000; the server echoes 1000 and closes first.
#[test]
fn wss_server_echoes_with_its_self_signed_certificate() {
    let dir = temp_dir("cert-out");
    let cert = dir.join("cert.pem");
    let cert_arg = cert.to_str().expect("a UTF-8 path");
    let (_server, addr) = start_server(&["--cert-out", cert_arg, "--max-message", "2097152"]);
    let mut ws = ws_connect(tls_connect(addr, &cert), None).expect("a 101");
    ws.round_trips();
    ws.close(1000);
    assert_eq!(ws.next(), Incoming::Close(Some(1000)));
    assert_eq!(ws.conn.state(), State::Closed);
    expect_server_close(&mut ws.stream);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A certificate made by the test (rcgen) for 127.0.0.1, as PEM files.
fn make_cert(dir: &Path) -> (PathBuf, PathBuf, rcgen::CertifiedKey<rcgen::KeyPair>) {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
        .expect("a self-signed certificate");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).expect("write the certificate");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("write the key");
    (cert, key, made)
}

/// `wss_server --cert --key` serves the given certificate; with `--allow-origin`, another origin
/// gets 403 and no Origin (not a browser) is served.
#[test]
fn wss_server_serves_given_certificate_and_checks_origin() {
    let dir = temp_dir("cert-key");
    let (cert, key, _) = make_cert(&dir);
    let (_server, addr) = start_server(&[
        "--cert",
        cert.to_str().expect("a UTF-8 path"),
        "--key",
        key.to_str().expect("a UTF-8 path"),
        "--allow-origin",
        "https://a.example",
    ]);
    for origin in [None, Some("HTTPS://a.example:443")] {
        let mut ws = ws_connect(tls_connect(addr, &cert), origin).expect("a 101");
        ws.send(DataKind::Text, b"hello over TLS");
        assert_eq!(
            ws.next(),
            Incoming::Message(DataKind::Text, b"hello over TLS".to_vec())
        );
        ws.close(4000);
        assert_eq!(ws.next(), Incoming::Close(Some(4000)));
    }
    for origin in ["https://evil.example", "http://a.example"] {
        let refused = ws_connect(tls_connect(addr, &cert), Some(origin));
        assert_eq!(refused.err(), Some(403), "{origin}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `wss_client --ca` against a TLS server in the test: it echoes every message the test sends,
/// answers the test's Close with the same code, and exits 0 once the test closes the connection.
#[test]
fn wss_client_echoes_for_a_tls_server() {
    let dir = temp_dir("client");
    let (cert, _, made) = make_cert(&dir);
    let key = PrivatePkcs8KeyDer::from(made.signing_key.serialize_der());
    let config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![made.cert.der().clone()], key.into())
        .expect("a server configuration");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "wss://{}/client-test",
        listener.local_addr().expect("local address")
    );
    let mut client = Running::spawn(example("wss_client", SOURCES).args([
        &url,
        "--ca",
        cert.to_str().expect("a UTF-8 path"),
    ]));

    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let give_up = Instant::now() + START_TIMEOUT;
    let tcp = loop {
        match listener.accept() {
            Ok((tcp, _)) => break tcp,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < give_up => {
                thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("wss_client did not connect: {e}"),
        }
    };
    tcp.set_nonblocking(false).expect("blocking socket");
    set_nodelay_and_timeouts(&tcp, IO_TIMEOUT);
    let mut stream = StreamOwned::new(
        ServerConnection::new(Arc::new(config)).expect("a TLS server"),
        tcp,
    );

    let mut rbuf = vec![0u8; 64 * 1024];
    let mut filled = 0;
    let mut handshake = ServerHandshake::new(Config::default());
    let mut ws = loop {
        let n = read_some(&mut stream, &mut rbuf[filled..]).expect("read the request");
        assert_ne!(n, 0, "EOF inside the request head");
        filled += n;
        let mut headers = [EMPTY_HEADER; 32];
        let Status::Complete(req) = handshake
            .parse(&rbuf[..filled], &mut headers)
            .expect("a valid request")
        else {
            continue;
        };
        assert_eq!(req.path(), "/client-test");
        let mut out = [0u8; 512];
        let (n, conn) = req.accept(&Accept::new(), &mut out).expect("accept");
        stream.write_all(&out[..n]).expect("write the 101");
        stream.flush().expect("flush");
        let len = req.len();
        rbuf.copy_within(len..filled, 0);
        break Endpoint {
            conn,
            stream,
            rbuf,
            filled: filled - len,
        };
    };
    ws.round_trips();
    ws.close(4002);
    assert_eq!(ws.next(), Incoming::Close(Some(4002)));
    assert_eq!(ws.conn.state(), State::Closed);
    // The server closes first: close_notify, then TCP.
    ws.stream.conn.send_close_notify();
    ws.stream.flush().expect("send close_notify");
    drop(ws);
    assert_eq!(
        client.wait(IO_TIMEOUT).and_then(|s| s.code()),
        Some(0),
        "wss_client's exit status"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Bad command lines are usage errors (exit status 2).
#[test]
fn bad_command_lines_are_usage_errors() {
    for (name, args) in [
        ("wss_server", &["127.0.0.1:0", "--cert", "a.pem"][..]),
        ("wss_server", &["127.0.0.1:0", "--key", "a.pem"]),
        (
            "wss_server",
            &[
                "127.0.0.1:0",
                "--cert",
                "a",
                "--key",
                "b",
                "--cert-out",
                "c",
            ],
        ),
        (
            "wss_server",
            &["127.0.0.1:0", "--allow-origin", "a.example"],
        ),
        ("wss_client", &["ws://127.0.0.1:1/"]),
        ("wss_client", &["wss://127.0.0.1:1/", "--ca"]),
    ] {
        let mut child = Running::spawn(example(name, SOURCES).args(args));
        assert_eq!(
            child.wait(IO_TIMEOUT).and_then(|s| s.code()),
            Some(2),
            "{name} {args:?}"
        );
    }
}
