//! The opening handshake through the public API only: a client and a server handshake talking to
//! each other in memory, then exchanging messages on the connections they made.

use sockless::frame::CloseCode;
use sockless::handshake::{Accept, ClientHandshake, ClientRequest, ServerHandshake, EMPTY_HEADER};
use sockless::{
    Config, Connection, DataKind, Event, HandshakeError, Outgoing, RandomError, RandomSource, Recv,
    Role, State, Status,
};

/// A deterministic source for tests: 1, 2, 3, ... (never use one like this on a network).
fn counter() -> impl FnMut(&mut [u8]) -> Result<(), RandomError> {
    let mut n = 0u8;
    move |dest: &mut [u8]| {
        for b in dest {
            n = n.wrapping_add(1);
            *b = n;
        }
        Ok(())
    }
}

/// What a connection reported, owned.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Message(DataKind, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

/// Hands `stream` to `conn` in chunks of `chunk` bytes, the way a driver reads: append to a
/// buffer, receive until it needs input, keep the unconsumed bytes in front. Returns what arrived,
/// with data pieces joined into messages, and flushes what the connection owes into `owed`.
fn drive<R: RandomSource>(
    conn: &mut Connection<R>,
    stream: &[u8],
    chunk: usize,
    owed: &mut Vec<u8>,
) -> Vec<Got> {
    let mut got = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut message: Option<(DataKind, Vec<u8>)> = None;
    let mut chunks = stream.chunks(chunk.max(1));
    loop {
        let mut pos = 0;
        loop {
            let r = conn.receive(&mut buf[pos..]);
            pos += r.consumed;
            match r.result {
                Ok(Recv::Event(Event::Data {
                    kind,
                    payload,
                    message_done,
                    ..
                })) => {
                    let m = message.get_or_insert_with(|| (kind, Vec::new()));
                    assert_eq!(m.0, kind);
                    m.1.extend_from_slice(payload);
                    if message_done {
                        let (kind, bytes) = message.take().unwrap();
                        got.push(Got::Message(kind, bytes));
                    }
                }
                Ok(Recv::Event(Event::Ping(p))) => got.push(Got::Ping(p.to_vec())),
                Ok(Recv::Event(Event::Pong(p))) => got.push(Got::Pong(p.to_vec())),
                Ok(Recv::Event(Event::Close(c))) => {
                    got.push(Got::Close(c.map(|c| (c.code.0, c.reason.to_string()))));
                }
                Ok(Recv::NeedFlush) => flush(conn, owed),
                Ok(Recv::NeedInput | Recv::Closed) => break,
                Err(e) => panic!("protocol error {e:?}"),
            }
        }
        buf.drain(..pos);
        flush(conn, owed);
        match chunks.next() {
            Some(c) => buf.extend_from_slice(c),
            None => break,
        }
    }
    assert!(message.is_none(), "a message was left unfinished");
    got
}

fn flush<R: RandomSource>(conn: &mut Connection<R>, owed: &mut Vec<u8>) {
    let mut out = [0u8; 256];
    loop {
        let n = conn.poll_transmit(&mut out).unwrap();
        if n == 0 {
            break;
        }
        owed.extend_from_slice(&out[..n]);
    }
}

fn send<R: RandomSource>(conn: &mut Connection<R>, msg: Outgoing<'_>, wire: &mut Vec<u8>) {
    let mut out = [0u8; 1024];
    let n = conn.send(msg, &mut out).unwrap();
    wire.extend_from_slice(&out[..n]);
}

#[test]
fn round_trip_with_a_subprotocol_and_text_both_ways() {
    // The client writes its request.
    let mut request = [0u8; 512];
    let client_req = ClientRequest::new("example.com:8080", "/chat?room=7")
        .origin("https://example.com")
        .protocols(&["a", "b"])
        .headers(&[("User-Agent", b"sockless-test")]);
    let (mut client_hs, n) =
        ClientHandshake::new(client_req, Config::default(), counter(), &mut request).unwrap();
    let request = &request[..n];

    // The server parses it.
    let mut server_hs = ServerHandshake::new(Config::default());
    let mut headers = [EMPTY_HEADER; 32];
    let Status::Complete(req) = server_hs.parse(request, &mut headers).unwrap() else {
        panic!("request incomplete");
    };
    assert_eq!(req.path(), "/chat?room=7");
    assert_eq!(req.host(), "example.com:8080");
    assert_eq!(req.origin(), Some("https://example.com"));
    assert_eq!(req.protocols().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(req.header("user-agent"), Some(&b"sockless-test"[..]));
    assert_eq!(req.len(), request.len());

    // It accepts with the second protocol.
    let mut response = [0u8; 512];
    let (n, mut server) = req
        .accept(&Accept::new().protocol("b"), &mut response)
        .unwrap();
    let response = &response[..n];
    assert_eq!(server.role(), Role::Server);
    let accept_line = format!(
        "Sec-WebSocket-Accept: {}\r\n",
        client_hs.expected_accept().as_str()
    );
    assert!(String::from_utf8_lossy(response).contains(&accept_line));

    // The client parses the 101 and finishes.
    let mut headers = [EMPTY_HEADER; 32];
    let Status::Complete(resp) = client_hs.parse(response, &mut headers).unwrap() else {
        panic!("response incomplete");
    };
    assert_eq!(resp.status(), 101);
    assert_eq!(resp.protocol(), Some("b"));
    assert_eq!(resp.len(), response.len());
    let mut client = client_hs.finish(&resp).unwrap();
    assert_eq!(client.role(), Role::Client);

    // Text both ways.
    let mut to_server = Vec::new();
    send(&mut client, Outgoing::Text("hello, server"), &mut to_server);
    assert_eq!(to_server[1] & 0x80, 0x80, "client frames are masked");
    let mut to_client = Vec::new();
    let got = drive(&mut server, &to_server, usize::MAX, &mut to_client);
    assert_eq!(
        got,
        [Got::Message(DataKind::Text, b"hello, server".to_vec())]
    );
    assert!(to_client.is_empty());

    send(&mut server, Outgoing::Text("hello, client"), &mut to_client);
    assert_eq!(to_client[1] & 0x80, 0, "server frames are not masked");
    let mut owed = Vec::new();
    let got = drive(&mut client, &to_client, usize::MAX, &mut owed);
    assert_eq!(
        got,
        [Got::Message(DataKind::Text, b"hello, client".to_vec())]
    );
    assert!(owed.is_empty());

    // Closing handshake, client first.
    let mut to_server = Vec::new();
    let mut out = [0u8; 131];
    let n = client.close(CloseCode::NORMAL, "bye", &mut out).unwrap();
    to_server.extend_from_slice(&out[..n]);
    assert_eq!(client.state(), State::CloseSent);
    let mut to_client = Vec::new();
    let got = drive(&mut server, &to_server, usize::MAX, &mut to_client);
    assert_eq!(got, [Got::Close(Some((1000, "bye".to_string())))]);
    assert_eq!(server.state(), State::Closed);
    let mut owed = Vec::new();
    let got = drive(&mut client, &to_client, usize::MAX, &mut owed);
    assert_eq!(got, [Got::Close(Some((1000, String::new())))]);
    assert_eq!(client.state(), State::Closed);
    assert!(owed.is_empty());
}

/// The server writes its first frames right behind the 101, in one write; the client must find
/// them after `len()`. Every byte stream is fed in chunks of several sizes, and the same messages
/// arrive. (The client cannot encode a frame before `finish`, so its request goes alone; see
/// `client_frame_in_the_same_read_as_the_request` for a frame behind a request.)
#[test]
fn frames_pipelined_behind_the_heads_survive_any_chunking() {
    for chunk in [1, 2, 3, 7, 64, usize::MAX] {
        // Client: the request.
        let mut wire = [0u8; 512];
        let (mut client_hs, n) = ClientHandshake::new(
            ClientRequest::new("localhost", "/").protocols(&["x"]),
            Config::default(),
            counter(),
            &mut wire,
        )
        .unwrap();
        let mut to_server = wire[..n].to_vec();
        let head_len = n;

        // Server: parse as bytes arrive in chunks, appending to one buffer.
        let mut server_hs = ServerHandshake::new(Config::default());
        let mut rbuf: Vec<u8> = Vec::new();
        let mut server_frames = Vec::new();
        // The server's 101 and its first frames go out together.
        let mut sent = 0;
        let (response_and_frame, mut server) = loop {
            let take = chunk.min(to_server.len() - sent);
            rbuf.extend_from_slice(&to_server[sent..sent + take]);
            sent += take;
            let mut headers = [EMPTY_HEADER; 32];
            match server_hs.parse(&rbuf, &mut headers).unwrap() {
                Status::Partial => assert!(sent < to_server.len(), "chunk {chunk}"),
                Status::Complete(req) => {
                    assert_eq!(req.len(), head_len);
                    server_frames.extend_from_slice(&rbuf[req.len()..]);
                    let mut out = [0u8; 512];
                    let (n, mut server) =
                        req.accept(&Accept::new().protocol("x"), &mut out).unwrap();
                    let mut bytes = out[..n].to_vec();
                    send(&mut server, Outgoing::Text("welcome"), &mut bytes);
                    send(&mut server, Outgoing::Binary(&[1, 2, 3]), &mut bytes);
                    break (bytes, server);
                }
            }
        };
        assert!(server_frames.is_empty());
        to_server.clear();

        // Client: parse the response as it arrives; what follows its head is the server's frames.
        let mut cbuf: Vec<u8> = Vec::new();
        let mut got_at = 0;
        let (mut client, leftover) = loop {
            let take = chunk.min(response_and_frame.len() - got_at);
            cbuf.extend_from_slice(&response_and_frame[got_at..got_at + take]);
            got_at += take;
            let mut headers = [EMPTY_HEADER; 32];
            match client_hs.parse(&cbuf, &mut headers).unwrap() {
                Status::Partial => {}
                Status::Complete(resp) => {
                    assert_eq!(resp.protocol(), Some("x"));
                    let len = resp.len();
                    let client = client_hs.finish(&resp).unwrap();
                    let mut rest = cbuf[len..].to_vec();
                    rest.extend_from_slice(&response_and_frame[got_at..]);
                    break (client, rest);
                }
            }
        };
        let mut owed = Vec::new();
        let got = drive(&mut client, &leftover, chunk, &mut owed);
        assert_eq!(
            got,
            [
                Got::Message(DataKind::Text, b"welcome".to_vec()),
                Got::Message(DataKind::Binary, vec![1, 2, 3]),
            ],
            "chunk {chunk}"
        );

        // Now the client's frames: text, ping; the server answers the ping.
        send(&mut client, Outgoing::Text("thanks"), &mut to_server);
        send(&mut client, Outgoing::Ping(b"p"), &mut to_server);
        let mut to_client = Vec::new();
        let got = drive(&mut server, &to_server, chunk, &mut to_client);
        assert_eq!(
            got,
            [
                Got::Message(DataKind::Text, b"thanks".to_vec()),
                Got::Ping(b"p".to_vec()),
            ],
            "chunk {chunk}"
        );
        let got = drive(&mut client, &to_client, chunk, &mut owed);
        assert_eq!(got, [Got::Pong(b"p".to_vec())], "chunk {chunk}");
    }
}

/// The client's first frame arrives in the same read as its request: the server keeps
/// `buffer[len..]` and hands it to the connection.
#[test]
fn client_frame_in_the_same_read_as_the_request() {
    // Complete a handshake once to get a client connection, and then reuse its request bytes.
    let mut request = [0u8; 512];
    let (mut client_hs, n) = ClientHandshake::new(
        ClientRequest::new("localhost", "/"),
        Config::default(),
        counter(),
        &mut request,
    )
    .unwrap();
    let mut server_hs = ServerHandshake::new(Config::default());
    let mut headers = [EMPTY_HEADER; 32];
    let Status::Complete(req) = server_hs.parse(&request[..n], &mut headers).unwrap() else {
        panic!("incomplete");
    };
    let mut response = [0u8; 512];
    let (rn, _) = req.accept(&Accept::new(), &mut response).unwrap();
    let mut headers = [EMPTY_HEADER; 32];
    let Status::Complete(resp) = client_hs.parse(&response[..rn], &mut headers).unwrap() else {
        panic!("incomplete");
    };
    let mut client = client_hs.finish(&resp).unwrap();

    // A new server sees the request and the client's frame together.
    let mut read = request[..n].to_vec();
    send(&mut client, Outgoing::Text("early"), &mut read);
    let mut server_hs = ServerHandshake::new(Config::default());
    let mut headers = [EMPTY_HEADER; 32];
    let Status::Complete(req) = server_hs.parse(&read, &mut headers).unwrap() else {
        panic!("incomplete");
    };
    assert_eq!(req.len(), n);
    let mut response = [0u8; 512];
    let (_, mut server) = req.accept(&Accept::new(), &mut response).unwrap();
    let mut owed = Vec::new();
    let got = drive(&mut server, &read[n..], usize::MAX, &mut owed);
    assert_eq!(got, [Got::Message(DataKind::Text, b"early".to_vec())]);
}

#[test]
fn a_rejected_upgrade_is_reported_to_the_client_with_its_status() {
    let mut request = [0u8; 512];
    let (mut client_hs, n) = ClientHandshake::new(
        ClientRequest::new("localhost", "/private").origin("https://evil.example"),
        Config::default(),
        counter(),
        &mut request,
    )
    .unwrap();
    let mut server_hs = ServerHandshake::new(Config::default());
    let mut headers = [EMPTY_HEADER; 32];
    let Status::Complete(req) = server_hs.parse(&request[..n], &mut headers).unwrap() else {
        panic!("incomplete");
    };
    assert_eq!(req.origin(), Some("https://evil.example"));
    let mut response = [0u8; 256];
    let rn = req.reject(403, &mut response).unwrap();

    let mut headers = [EMPTY_HEADER; 32];
    let Status::Complete(resp) = client_hs.parse(&response[..rn], &mut headers).unwrap() else {
        panic!("incomplete");
    };
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.reason(), "Forbidden");
    assert_eq!(resp.header("connection"), Some(&b"close"[..]));
    assert_eq!(
        client_hs.finish(&resp).err(),
        Some(HandshakeError::UnexpectedStatus(403))
    );
}

#[test]
fn an_old_version_gets_426_naming_13() {
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 8\r\n\r\n";
    let mut server_hs = ServerHandshake::new(Config::default());
    let mut headers = [EMPTY_HEADER; 32];
    let err = server_hs.parse(request, &mut headers).unwrap_err();
    assert_eq!(err, HandshakeError::UnsupportedVersion);
    assert_eq!(err.status(), 426);
    let mut out = [0u8; 160];
    let n = server_hs.write_error(err, &mut out).unwrap();

    // A client reading that answer sees the status and the version the server speaks.
    let mut buf = [0u8; 512];
    let (mut client_hs, _) = ClientHandshake::new(
        ClientRequest::new("localhost", "/"),
        Config::default(),
        counter(),
        &mut buf,
    )
    .unwrap();
    let mut headers = [EMPTY_HEADER; 32];
    let Status::Complete(resp) = client_hs.parse(&out[..n], &mut headers).unwrap() else {
        panic!("incomplete");
    };
    assert_eq!(resp.status(), 426);
    assert_eq!(resp.header("sec-websocket-version"), Some(&b"13"[..]));
    assert_eq!(resp.header("upgrade"), Some(&b"websocket"[..]));
    assert_eq!(
        client_hs.finish(&resp).err(),
        Some(HandshakeError::UnexpectedStatus(426))
    );
}

#[test]
fn a_server_choosing_an_unoffered_protocol_fails_the_client() {
    // A server that answers a protocol the client did not offer (written by hand: our server
    // refuses to).
    let mut buf = [0u8; 512];
    let (mut client_hs, _) = ClientHandshake::new(
        ClientRequest::new("localhost", "/").protocols(&["a"]),
        Config::default(),
        counter(),
        &mut buf,
    )
    .unwrap();
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: z\r\n\r\n",
        client_hs.expected_accept().as_str()
    );
    let mut headers = [EMPTY_HEADER; 32];
    let Status::Complete(resp) = client_hs.parse(response.as_bytes(), &mut headers).unwrap() else {
        panic!("incomplete");
    };
    assert_eq!(resp.protocol(), Some("z"));
    assert_eq!(
        client_hs.finish(&resp).err(),
        Some(HandshakeError::ProtocolNotOffered)
    );
}

#[cfg(feature = "getrandom")]
#[test]
fn round_trip_with_os_randomness() {
    use sockless::OsRandom;
    let mut request = [0u8; 512];
    let (mut client_hs, n) = ClientHandshake::new(
        ClientRequest::new("localhost", "/"),
        Config::default(),
        OsRandom::new(),
        &mut request,
    )
    .unwrap();
    let mut server_hs = ServerHandshake::new(Config::default());
    let mut headers = [EMPTY_HEADER; 32];
    let Status::Complete(req) = server_hs.parse(&request[..n], &mut headers).unwrap() else {
        panic!("incomplete");
    };
    let mut response = [0u8; 512];
    let (rn, mut server) = req.accept(&Accept::new(), &mut response).unwrap();
    let mut headers = [EMPTY_HEADER; 32];
    let Status::Complete(resp) = client_hs.parse(&response[..rn], &mut headers).unwrap() else {
        panic!("incomplete");
    };
    let mut client = client_hs.finish(&resp).unwrap();
    let mut wire = Vec::new();
    send(&mut client, Outgoing::Binary(&[0xAB; 300]), &mut wire);
    let mut owed = Vec::new();
    let got = drive(&mut server, &wire, 17, &mut owed);
    assert_eq!(got, [Got::Message(DataKind::Binary, vec![0xAB; 300])]);
}

/// A client that sent `Expect: 100-continue` gets `100 Continue` and the `101` in one write; it
/// skips the interim response and finishes, and the frames after the 101 are the connection's,
/// however the bytes arrive.
#[test]
fn a_100_continue_before_the_101_is_skipped_by_the_client() {
    for chunk in [1, 2, 5, 64, usize::MAX] {
        let mut request = [0u8; 512];
        let (mut client_hs, n) = ClientHandshake::new(
            ClientRequest::new("localhost", "/").headers(&[("Expect", b"100-continue")]),
            Config::default(),
            counter(),
            &mut request,
        )
        .unwrap();
        let mut server_hs = ServerHandshake::new(Config::default());
        let mut headers = [EMPTY_HEADER; 32];
        let Status::Complete(req) = server_hs.parse(&request[..n], &mut headers).unwrap() else {
            panic!("incomplete");
        };
        let mut out = [0u8; 512];
        let (m, mut server) = req.accept(&Accept::new(), &mut out).unwrap();
        assert!(out[..m].starts_with(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 "));
        let mut wire = out[..m].to_vec();
        send(&mut server, Outgoing::Text("after"), &mut wire);

        let mut buf = Vec::new();
        let (mut client, head_len) = loop {
            let at = buf.len();
            buf.extend_from_slice(&wire[at..wire.len().min(at.saturating_add(chunk))]);
            let mut headers = [EMPTY_HEADER; 32];
            if let Status::Complete(resp) = client_hs.parse(&buf, &mut headers).unwrap() {
                assert_eq!(resp.status(), 101);
                let len = resp.len();
                break (client_hs.finish(&resp).unwrap(), len);
            }
        };
        assert_eq!(head_len, m);
        let mut owed = Vec::new();
        let got = drive(&mut client, &wire[head_len..], chunk, &mut owed);
        assert_eq!(
            got,
            [Got::Message(DataKind::Text, b"after".to_vec())],
            "chunk {chunk}"
        );
    }
}

/// The request-target is percent-encoded where RFC 3986 needs it, and the server sees it so.
#[test]
fn a_non_ascii_path_arrives_percent_encoded_and_a_bad_host_is_refused() {
    let mut request = [0u8; 512];
    let (_, n) = ClientHandshake::new(
        ClientRequest::new("[::1]:9001", "/caf\u{e9} au lait?q=%41%"),
        Config::default(),
        counter(),
        &mut request,
    )
    .unwrap();
    let mut server_hs = ServerHandshake::new(Config::default());
    let mut headers = [EMPTY_HEADER; 32];
    let Status::Complete(req) = server_hs.parse(&request[..n], &mut headers).unwrap() else {
        panic!("incomplete");
    };
    assert_eq!(req.path(), "/caf%C3%A9%20au%20lait?q=%41%25");
    assert_eq!(req.host(), "[::1]:9001");

    let err = ClientHandshake::new(
        ClientRequest::new("b\u{fc}cher.example", "/"),
        Config::default(),
        counter(),
        &mut request,
    )
    .err();
    assert_eq!(err, Some(HandshakeError::InvalidHost));
}
