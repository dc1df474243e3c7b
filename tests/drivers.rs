//! The `tokio_echo` and `mio_echo` examples over loopback, driven by a sockless client
//! `Connection` on a blocking `std::net` socket.
//!
//! Each test starts the built example (`target/<profile>/examples/NAME`) with `127.0.0.1:0`,
//! reads the port from its `listening on IP:PORT` line, and kills it through its own `Child`
//! when the test ends. Plain `cargo test` builds the examples first; `cargo test --test drivers`
//! alone does not, so a binary older than its source fails the test with a message saying so.
//! Every read and write has a timeout and every loop a bound.

#![cfg(all(feature = "std", feature = "getrandom"))]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::example::{connect, Server, Sources};
#[cfg(target_os = "linux")]
use common::example::{flood_until_stuck, read_echoes};
use sockless::handshake::{ClientHandshake, ClientRequest, EMPTY_HEADER};
use sockless::{
    CloseCode, Config, Connection, DataKind, Event, OsRandom, Outgoing, Recv, State, Status,
};

const EXAMPLES: [&str; 2] = ["tokio_echo", "mio_echo"];
/// Besides `examples/NAME.rs`, what a built example must not be older than.
const SOURCES: Sources = Sources::OwnAnd(&["examples/common/mod.rs"]);
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// For a test that sends megabytes before it reads.
#[cfg(target_os = "linux")]
const FLOOD_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `test` against each example in turn, started on `127.0.0.1:0` with two subprotocols.
fn each_example(test: impl Fn(&Server)) {
    for name in EXAMPLES {
        let options = ["--protocol", "proto-c", "--protocol", "proto-b"];
        test(&Server::start(name, SOURCES, &options));
    }
}

/// What the client saw.
#[derive(Debug, PartialEq)]
enum Got {
    Message(DataKind, Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>),
    /// The server closed TCP.
    Eof,
}

/// A sockless client over a blocking socket.
struct Client {
    tcp: TcpStream,
    conn: Connection<OsRandom>,
    protocol: Option<String>,
    rbuf: Vec<u8>,
    pos: usize,
    filled: usize,
    message: Vec<u8>,
}

impl Client {
    fn open(server: &Server, protocols: &[&str]) -> Self {
        let mut tcp = connect(server.addr, IO_TIMEOUT);
        let mut out = [0u8; 1024];
        let request = ClientRequest::new("127.0.0.1", "/").protocols(protocols);
        let (mut handshake, n) =
            ClientHandshake::new(request, Config::default(), OsRandom::new(), &mut out)
                .expect("request");
        tcp.write_all(&out[..n]).expect("write the request");
        let mut rbuf = vec![0u8; 64 * 1024];
        let mut filled = 0;
        loop {
            let n = tcp.read(&mut rbuf[filled..]).expect("read the response");
            assert!(n > 0, "EOF during the handshake");
            filled += n;
            let mut headers = [EMPTY_HEADER; 16];
            if let Status::Complete(resp) = handshake.parse(&rbuf[..filled], &mut headers).unwrap()
            {
                let protocol = resp.protocol().map(str::to_owned);
                let pos = resp.len();
                let conn = handshake.finish(&resp).expect("a valid 101");
                return Self {
                    tcp,
                    conn,
                    protocol,
                    rbuf,
                    pos,
                    filled,
                    message: Vec::new(),
                };
            }
        }
    }

    /// Encodes with `encode` and writes the bytes.
    fn send_with(
        &mut self,
        encode: impl FnOnce(&mut Connection<OsRandom>, &mut [u8]) -> Result<usize, sockless::SendError>,
    ) {
        let mut out = vec![0u8; (2 << 20) + 64];
        let n = encode(&mut self.conn, &mut out).expect("encode");
        self.tcp.write_all(&out[..n]).expect("write");
    }

    fn send(&mut self, kind: DataKind, payload: &[u8]) {
        self.send_with(|conn, out| conn.send_frame(kind, payload, true, out));
    }

    /// The next message, Pong, Close or EOF (flushing what the connection owes the server).
    fn next(&mut self) -> Got {
        loop {
            while self.pos < self.filled {
                let r = self.conn.receive(&mut self.rbuf[self.pos..self.filled]);
                self.pos += r.consumed;
                let got = match r.result.expect("the server keeps the protocol") {
                    Recv::Event(Event::Data {
                        kind,
                        payload,
                        message_done,
                        ..
                    }) => {
                        self.message.extend_from_slice(payload);
                        message_done.then(|| Got::Message(kind, std::mem::take(&mut self.message)))
                    }
                    Recv::Event(Event::Pong(p)) => Some(Got::Pong(p.to_vec())),
                    Recv::Event(Event::Close(c)) => Some(Got::Close(c.map(|c| c.code.0))),
                    Recv::Event(Event::Ping(_)) | Recv::NeedFlush => None,
                    Recv::NeedInput | Recv::Closed => break,
                };
                self.flush();
                if let Some(got) = got {
                    return got;
                }
            }
            self.rbuf.copy_within(self.pos..self.filled, 0);
            self.filled -= self.pos;
            self.pos = 0;
            match self.tcp.read(&mut self.rbuf[self.filled..]) {
                Ok(0) => return Got::Eof,
                Ok(n) => self.filled += n,
                Err(e) => panic!("reading from the server: {e}"),
            }
        }
    }

    fn flush(&mut self) {
        let mut out = [0u8; 256];
        loop {
            let n = self.conn.poll_transmit(&mut out).expect("poll_transmit");
            if n == 0 {
                return;
            }
            self.tcp.write_all(&out[..n]).expect("write");
        }
    }

    /// Sends a Close and expects it echoed, then the server's FIN.
    fn close(mut self) {
        self.send_with(|conn, out| conn.close(CloseCode::NORMAL, "bye", out));
        assert_eq!(self.next(), Got::Close(Some(1000)));
        assert_eq!(self.conn.state(), State::Closed);
        assert_eq!(self.next(), Got::Eof, "the server closes TCP first");
    }
}

/// `len` bytes of valid UTF-8 (multi-byte characters included), or of arbitrary binary.
fn payload(kind: DataKind, len: usize) -> Vec<u8> {
    match kind {
        DataKind::Text => {
            let mut s = String::with_capacity(len + 4);
            let chars = ['a', 'ñ', '€', '😀', ' '];
            let mut i = 0;
            while s.len() < len {
                let c = chars[i % chars.len()];
                s.push(if s.len() + c.len_utf8() <= len {
                    c
                } else {
                    'x'
                });
                i += 1;
            }
            s.into_bytes()
        }
        DataKind::Binary => (0..len).map(|i| (i * 31 + i / 251) as u8).collect(),
    }
}

#[test]
fn echoes_text_and_binary_of_every_size() {
    each_example(|server| {
        let mut client = Client::open(server, &[]);
        for len in [0, 1, 125, 126, 4096, 4097, 65535, 65536, 300_000, 1 << 20] {
            for kind in [DataKind::Text, DataKind::Binary] {
                let bytes = payload(kind, len);
                client.send(kind, &bytes);
                assert_eq!(
                    client.next(),
                    Got::Message(kind, bytes),
                    "{} {kind:?} {len}",
                    server.name
                );
            }
        }
        client.close();
    });
}

#[test]
fn picks_the_first_subprotocol_offered() {
    each_example(|server| {
        let client = Client::open(server, &["proto-a", "proto-b", "proto-c"]);
        assert_eq!(client.protocol.as_deref(), Some("proto-b"));
        client.close();
        assert_eq!(Client::open(server, &["proto-x"]).protocol, None);
    });
}

#[test]
fn fragments_with_a_ping_between_them() {
    each_example(|server| {
        let mut client = Client::open(server, &[]);
        let parts = [
            "frag-1 é ".as_bytes(),
            "€ frag-2 ".as_bytes(),
            "😀".as_bytes(),
        ];
        // The emoji is split across the last two fragments.
        let (a, b) = parts[2].split_at(1);
        client.send_with(|conn, out| conn.send_frame(DataKind::Text, parts[0], false, out));
        client.send_with(|conn, out| conn.send(Outgoing::Ping(b"between"), out));
        client.send_with(|conn, out| conn.send_frame(DataKind::Text, parts[1], false, out));
        client.send_with(|conn, out| conn.send_frame(DataKind::Text, a, false, out));
        client.send_with(|conn, out| conn.send_frame(DataKind::Text, b, true, out));
        assert_eq!(client.next(), Got::Pong(b"between".to_vec()));
        let whole = parts.concat();
        assert_eq!(client.next(), Got::Message(DataKind::Text, whole));
        client.close();
    });
}

#[test]
fn many_pipelined_messages_and_pings() {
    each_example(|server| {
        let mut client = Client::open(server, &[]);
        // Encode everything first, then write it from another thread while reading the echoes,
        // so neither side waits for the other.
        let mut bytes = Vec::new();
        let mut expected = Vec::new();
        let mut out = vec![0u8; 70_000];
        for i in 0..2000usize {
            let kind = if i % 3 == 0 {
                DataKind::Text
            } else {
                DataKind::Binary
            };
            let message = payload(kind, [0, 20, 200, 1024, 16_384, 65_536][i % 6]);
            let n = client
                .conn
                .send_frame(kind, &message, true, &mut out)
                .unwrap();
            bytes.extend_from_slice(&out[..n]);
            expected.push(Got::Message(kind, message));
            if i % 100 == 0 {
                let ping = (i as u32).to_be_bytes();
                let n = client.conn.send(Outgoing::Ping(&ping), &mut out).unwrap();
                bytes.extend_from_slice(&out[..n]);
                expected.push(Got::Pong(ping.to_vec()));
            }
        }
        let mut writer = client.tcp.try_clone().expect("clone the socket");
        let writing = thread::spawn(move || writer.write_all(&bytes));
        for (i, want) in expected.into_iter().enumerate() {
            assert_eq!(client.next(), want, "{} item {i}", server.name);
        }
        writing.join().unwrap().expect("write everything");
        client.close();
    });
}

#[test]
fn a_protocol_error_gets_close_1002() {
    each_example(|server| {
        let mut client = Client::open(server, &[]);
        client.send(DataKind::Text, b"fine");
        assert_eq!(
            client.next(),
            Got::Message(DataKind::Text, b"fine".to_vec())
        );
        // An unmasked frame from a client.
        client.tcp.write_all(&[0x81, 0x02, b'h', b'i']).unwrap();
        assert_eq!(client.next(), Got::Close(Some(1002)));
        assert_eq!(client.next(), Got::Eof);
    });
}

#[test]
fn bad_requests_get_their_status() {
    each_example(|server| {
        let requests: [(&[u8], &str); 3] = [
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
                "HTTP/1.1 426 ",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n",
                "HTTP/1.1 400 ",
            ),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 200 "),
        ];
        for (request, status) in requests {
            let mut tcp = connect(server.addr, IO_TIMEOUT);
            tcp.write_all(request).unwrap();
            let mut response = String::new();
            tcp.read_to_string(&mut response)
                .expect("the answer, then EOF");
            assert!(
                response.starts_with(status),
                "{}: {response:?}",
                server.name
            );
        }
    });
}

#[test]
fn fifty_concurrent_connections() {
    each_example(|server| {
        let mut clients: Vec<Client> = (0..50).map(|_| Client::open(server, &[])).collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        for round in 0..20usize {
            assert!(Instant::now() < deadline, "too slow");
            for (i, client) in clients.iter_mut().enumerate() {
                let message = format!("client {i} round {round}").into_bytes();
                client.send(DataKind::Binary, &message);
            }
            for (i, client) in clients.iter_mut().enumerate() {
                let message = format!("client {i} round {round}").into_bytes();
                assert_eq!(client.next(), Got::Message(DataKind::Binary, message));
            }
        }
        clients.into_iter().for_each(Client::close);
    });
}

/// A client that sends more than the server can write at once and half-closes
/// (`shutdown(Write)`) before it reads gets every echo: the server writes what it holds before it
/// lets the connection go (`tokio_echo` and `mio_echo` dropped it at the client's FIN).
#[cfg(target_os = "linux")]
#[test]
fn a_half_closed_client_gets_every_echo() {
    each_example(|server| {
        let mut tcp = Client::open(server, &[]).tcp;
        let sent = flood_until_stuck(&mut tcp, 4096, FLOOD_TIMEOUT);
        tcp.shutdown(std::net::Shutdown::Write).expect("FIN");
        let echoed = read_echoes(&mut tcp, FLOOD_TIMEOUT);
        assert_eq!(
            echoed, sent,
            "{}: what came back, and what was sent",
            server.name
        );
    });
}
