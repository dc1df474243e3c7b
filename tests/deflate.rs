//! permessage-deflate end to end through the public API: the negotiation rules through both
//! handshakes (`ServerNegotiation`, `ClientNegotiation`), and the data path through a client and
//! a server `Connection` with a `Deflate` layer each, delivered whole, byte by byte and in random
//! chunks.

#![cfg(feature = "deflate")]

mod common;

use common::{raw_frame, Chunking, TestRng, XorShift};
use proptest::prelude::*;
use sockless::deflate::{
    Agreed, ClientNegotiation, Compressor, Deflate, DeflateConfig, DeflateError, InflateError,
    InflateStatus, NegotiationError, ServerNegotiation,
};
use sockless::handshake::{Accept, ClientHandshake, ClientRequest, ServerHandshake, EMPTY_HEADER};
use sockless::message::{Assembler, Incoming, Message};
use sockless::{
    CloseCode, Config, Connection, DataKind, Event, HandshakeError, Outgoing, ProtocolError,
    RandomSource, Recv, Rsv, SendError, State, Status,
};

const CHUNKINGS: [Chunking; 3] = [
    Chunking::Whole,
    Chunking::Bytewise,
    Chunking::Random { seed: 7, max: 97 },
];

// ---------------------------------------------------------------------------------------------
// Handshakes
// ---------------------------------------------------------------------------------------------

/// What both handshakes made.
struct Negotiated {
    server: Connection,
    client: Connection<TestRng>,
    server_agreed: Option<Agreed>,
    client_agreed: Option<Agreed>,
    /// The server's `Sec-WebSocket-Extensions` answer, if any.
    response: Option<String>,
}

/// Parses `bytes` with `parse`, fed in reads of the sizes `chunking` gives (the head grows in
/// one buffer, as a driver appends reads), until it completes.
fn feed<T>(bytes: &[u8], chunking: Chunking, mut parse: impl FnMut(&[u8]) -> Option<T>) -> T {
    let mut sizes = chunking.sizes();
    let mut filled = 0;
    loop {
        filled = (filled + sizes().min(bytes.len() - filled)).min(bytes.len());
        if let Some(t) = parse(&bytes[..filled]) {
            return t;
        }
        assert!(filled < bytes.len(), "the head never completed");
    }
}

/// Runs both handshakes: the client offers what `client` says (or `offers`, written by hand),
/// the server answers with `server`, the client checks the answer (or `answer`, written by hand,
/// in place of the server's).
fn negotiate_raw(
    server: &DeflateConfig,
    client: &DeflateConfig,
    offers: Option<&[&str]>,
    answer: Option<&str>,
    chunking: Chunking,
) -> Result<Negotiated, HandshakeError> {
    let negotiation = ClientNegotiation::new(client);
    let own: Vec<&str> = negotiation.offer().into_iter().collect();
    let offers = offers.unwrap_or(&own);
    let request = ClientRequest::new("example.com", "/chat").extensions(offers);
    let mut out = vec![0u8; 1024];
    let (mut handshake, n) =
        ClientHandshake::new(request, Config::default(), TestRng::new(1), &mut out)?;
    let request_bytes = out[..n].to_vec();

    let mut server_handshake = ServerHandshake::new(Config::default());
    let (response_bytes, server_conn, server_agreed, server_answer) =
        feed(&request_bytes, chunking, |head| {
            let mut headers = [EMPTY_HEADER; 32];
            match server_handshake.parse(head, &mut headers) {
                Ok(Status::Partial) => None,
                Ok(Status::Complete(req)) => {
                    let deflate = ServerNegotiation::new(server, &req);
                    let mut out = vec![0u8; 1024];
                    let (n, conn) = req
                        .accept(&deflate.accept(Accept::new()), &mut out)
                        .expect("accept");
                    Some((
                        out[..n].to_vec(),
                        conn,
                        deflate.agreed(),
                        deflate.response().map(str::to_owned),
                    ))
                }
                Err(e) => panic!("request refused: {e}"),
            }
        });
    let response_bytes = match answer {
        None => response_bytes,
        Some(value) => format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Extensions: {value}\r\n\r\n",
            handshake.expected_accept().as_str()
        )
        .into_bytes(),
    };
    let mut sizes = chunking.sizes();
    let mut filled = 0;
    let mut headers = [EMPTY_HEADER; 32];
    let client_conn = loop {
        filled = (filled + sizes().min(response_bytes.len() - filled)).min(response_bytes.len());
        match handshake.parse(&response_bytes[..filled], &mut headers)? {
            Status::Partial => assert!(filled < response_bytes.len(), "the head never completed"),
            Status::Complete(resp) => {
                break handshake.finish_with_extensions(&resp, |r| negotiation.check(r))?
            }
        }
    };
    Ok(Negotiated {
        server: server_conn,
        client: client_conn,
        server_agreed,
        client_agreed: negotiation.agreed(),
        response: server_answer,
    })
}

fn negotiate(server: &DeflateConfig, client: &DeflateConfig) -> Negotiated {
    let mut first = None;
    for chunking in CHUNKINGS {
        let n = negotiate_raw(server, client, None, None, chunking).expect("handshake");
        let summary = (n.server_agreed, n.client_agreed, n.response.clone());
        match &first {
            None => first = Some((summary, n)),
            Some((s, _)) => assert_eq!(s, &summary, "{chunking:?}"),
        }
    }
    first.expect("ran").1
}

/// The client's view of the agreement is the server's, mirrored.
fn assert_mirrored(server: &Agreed, client: &Agreed) {
    assert_eq!(server.compress_window_bits, client.inflate_window_bits);
    assert_eq!(server.inflate_window_bits, client.compress_window_bits);
    assert_eq!(
        server.compress_no_context_takeover,
        client.inflate_no_context_takeover
    );
    assert_eq!(
        server.inflate_no_context_takeover,
        client.compress_no_context_takeover
    );
}

#[test]
fn defaults_agree_and_both_connections_own_rsv1() {
    let n = negotiate(&DeflateConfig::default(), &DeflateConfig::default());
    assert_eq!(n.response.as_deref(), Some("permessage-deflate"));
    assert_eq!(n.server.extension_bits(), Rsv::RSV1);
    assert_eq!(n.client.extension_bits(), Rsv::RSV1);
    let (s, c) = (n.server_agreed.unwrap(), n.client_agreed.unwrap());
    assert_mirrored(&s, &c);
    assert_eq!(s, Agreed::DEFAULT);
}

#[test]
fn a_disabled_server_declines_and_the_client_goes_on_without() {
    let mut off = DeflateConfig::default();
    off.enabled = false;
    let n = negotiate(&off, &DeflateConfig::default());
    assert_eq!(n.response, None);
    assert_eq!((n.server_agreed, n.client_agreed), (None, None));
    assert_eq!(n.server.extension_bits(), Rsv::NONE);
    assert_eq!(n.client.extension_bits(), Rsv::NONE);
}

#[test]
fn a_disabled_client_offers_nothing() {
    let mut off = DeflateConfig::default();
    off.enabled = false;
    assert_eq!(ClientNegotiation::new(&off).offer(), None);
    let n = negotiate(&DeflateConfig::default(), &off);
    assert_eq!((n.server_agreed, n.client_agreed), (None, None));
    assert_eq!(n.client.extension_bits(), Rsv::NONE);
    // And it refuses an answer that agrees to deflate anyway (the core: not offered).
    let r = negotiate_raw(
        &DeflateConfig::default(),
        &off,
        None,
        Some("permessage-deflate"),
        Chunking::Whole,
    );
    assert_eq!(r.err(), Some(HandshakeError::ExtensionNotOffered));
}

#[test]
fn window_and_takeover_parameters_agree_both_ways() {
    let mut client = DeflateConfig::default();
    client.server_max_window_bits = 10;
    client.client_no_context_takeover = true;
    let mut server = DeflateConfig::default();
    server.client_max_window_bits = 11;
    server.server_no_context_takeover = true;
    let n = negotiate(&server, &client);
    assert_eq!(
        n.response.as_deref(),
        Some(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=11"
        )
    );
    let (s, c) = (n.server_agreed.unwrap(), n.client_agreed.unwrap());
    assert_mirrored(&s, &c);
    assert_eq!((s.compress_window_bits, s.inflate_window_bits), (10, 11));
    assert!(s.compress_no_context_takeover && s.inflate_no_context_takeover);

    // A server that limits the client's window needs the client to have offered
    // client_max_window_bits; one that does not declines the offer.
    let mut quiet = DeflateConfig::default();
    quiet.advertise_client_max_window_bits = false;
    let n = negotiate(&server, &quiet);
    assert_eq!((n.server_agreed, n.client_agreed), (None, None));
}

/// Runs the server's side alone on a request offering `offers` (one header).
fn server_choice(offers: &str, config: &DeflateConfig) -> ServerNegotiation {
    let request = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Extensions: {offers}\r\n\r\n"
    );
    feed(
        request.as_bytes(),
        Chunking::Random { seed: 3, max: 9 },
        |head| {
            let mut handshake = ServerHandshake::new(Config::default());
            let mut headers = [EMPTY_HEADER; 16];
            match handshake.parse(head, &mut headers) {
                Ok(Status::Partial) => None,
                Ok(Status::Complete(req)) => Some(ServerNegotiation::new(config, &req)),
                Err(e) => panic!("{e}"),
            }
        },
    )
}

#[test]
fn the_server_takes_the_first_offer_it_can_honour() {
    let d = server_choice(
        "x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=8, \
         permessage-deflate; bogus, permessage-deflate; server_max_window_bits=12; client_max_window_bits",
        &DeflateConfig::default(),
    );
    assert_eq!(
        d.response(),
        Some("permessage-deflate; server_max_window_bits=12")
    );
    assert_eq!(d.agreed().unwrap().compress_window_bits, 12);

    // Window 8 alone is declined (the backend cannot honour it); the Accept is left as it was.
    let d = server_choice(
        "permessage-deflate; server_max_window_bits=8",
        &DeflateConfig::default(),
    );
    assert_eq!((d.agreed(), d.response()), (None, None));
    let mut out = [0u8; 512];
    let request = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let mut handshake = ServerHandshake::new(Config::default());
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(req)) = handshake.parse(request, &mut headers) else {
        panic!()
    };
    let (n, conn) = req.accept(&d.accept(Accept::new()), &mut out).unwrap();
    assert!(!String::from_utf8_lossy(&out[..n]).contains("Extensions"));
    assert_eq!(conn.extension_bits(), Rsv::NONE);
}

#[test]
fn the_client_refuses_answers_its_offer_does_not_allow() {
    let mut asks = DeflateConfig::default();
    asks.server_max_window_bits = 10;
    asks.server_no_context_takeover = true;
    let mut plain = DeflateConfig::default();
    plain.advertise_client_max_window_bits = false;
    let cases: [(
        &DeflateConfig,
        &str,
        HandshakeError,
        Option<NegotiationError>,
    ); 9] = [
        (
            &asks,
            "permessage-deflate; server_no_context_takeover",
            HandshakeError::ExtensionRefused,
            Some(NegotiationError::MissingServerWindow),
        ),
        (
            &asks,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=11",
            HandshakeError::ExtensionRefused,
            Some(NegotiationError::ServerWindowTooLarge),
        ),
        (
            &asks,
            "permessage-deflate; server_max_window_bits=10",
            HandshakeError::ExtensionRefused,
            Some(NegotiationError::MissingServerNoContextTakeover),
        ),
        (
            &plain,
            "permessage-deflate; client_max_window_bits=10",
            HandshakeError::ExtensionRefused,
            Some(NegotiationError::ClientWindowNotOffered),
        ),
        (
            &DeflateConfig::DEFAULT,
            "permessage-deflate; client_max_window_bits",
            HandshakeError::ExtensionRefused,
            Some(NegotiationError::MissingValue),
        ),
        (
            &DeflateConfig::DEFAULT,
            "permessage-deflate; bogus",
            HandshakeError::ExtensionRefused,
            Some(NegotiationError::UnknownParameter),
        ),
        (
            &DeflateConfig::DEFAULT,
            "permessage-deflate; server_max_window_bits=16",
            HandshakeError::ExtensionRefused,
            Some(NegotiationError::InvalidWindowBits),
        ),
        // Named twice: the core refuses it before the layer's check runs.
        (
            &DeflateConfig::DEFAULT,
            "permessage-deflate, permessage-deflate",
            HandshakeError::ExtensionRefused,
            None,
        ),
        (
            &DeflateConfig::DEFAULT,
            "x-other",
            HandshakeError::ExtensionNotOffered,
            None,
        ),
    ];
    for (config, answer, error, why) in cases {
        for chunking in CHUNKINGS {
            let r = negotiate_raw(
                &DeflateConfig::default(),
                config,
                None,
                Some(answer),
                chunking,
            );
            assert_eq!(r.err(), Some(error), "{answer}");
        }
        // The reason, as the layer's own check sees it.
        let n = ClientNegotiation::new(config);
        let offer = n.offer().unwrap().to_owned();
        let offers = [offer.as_str()];
        let mut out = [0u8; 1024];
        let (mut handshake, _) = ClientHandshake::new(
            ClientRequest::new("a", "/").extensions(&offers),
            Config::default(),
            TestRng::new(2),
            &mut out,
        )
        .unwrap();
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Extensions: {answer}\r\n\r\n",
            handshake.expected_accept().as_str()
        );
        let mut headers = [EMPTY_HEADER; 16];
        let Ok(Status::Complete(resp)) = handshake.parse(response.as_bytes(), &mut headers) else {
            panic!()
        };
        assert_eq!(
            handshake
                .finish_with_extensions(&resp, |r| n.check(r))
                .err(),
            Some(error)
        );
        assert_eq!(n.refused(), why, "{answer}");
        assert_eq!(n.agreed(), None);
    }
}

#[test]
fn the_client_accepts_what_its_offer_allows() {
    let mut asks = DeflateConfig::default();
    asks.server_max_window_bits = 10;
    asks.client_max_window_bits = 12;
    for (answer, compress, inflate) in [
        ("permessage-deflate; server_max_window_bits=10", 12, 10),
        (
            "permessage-deflate; server_max_window_bits=9; client_max_window_bits=9",
            9,
            9,
        ),
    ] {
        let n = negotiate_raw(
            &DeflateConfig::default(),
            &asks,
            None,
            Some(answer),
            Chunking::Bytewise,
        )
        .unwrap();
        let a = n.client_agreed.unwrap();
        assert_eq!(
            (a.compress_window_bits, a.inflate_window_bits),
            (compress, inflate)
        );
        assert_eq!(n.client.extension_bits(), Rsv::RSV1);
    }
}

// ---------------------------------------------------------------------------------------------
// The data path
// ---------------------------------------------------------------------------------------------

/// Both ends after the handshakes, each with its layer.
struct Pair {
    server: Connection,
    client: Connection<TestRng>,
    sd: Deflate,
    cd: Deflate,
}

const LIMIT: u64 = 4 << 20;

fn config() -> Config {
    let mut c = Config::default();
    c.max_message_len = LIMIT;
    c
}

fn pair_with(server: &DeflateConfig, client: &DeflateConfig) -> Pair {
    let n = negotiate_raw(server, client, None, None, Chunking::Whole).unwrap();
    let (sa, ca) = (n.server_agreed.unwrap(), n.client_agreed.unwrap());
    assert_mirrored(&sa, &ca);
    Pair {
        server: Connection::server(config()).with_extension_bits(n.server.extension_bits()),
        client: Connection::client(config(), TestRng::new(9))
            .with_extension_bits(n.client.extension_bits()),
        sd: Deflate::new(&sa, LIMIT),
        cd: Deflate::new(&ca, LIMIT),
    }
}

/// A pair whose windows are `bits` both ways, with or without context takeover both ways.
fn pair(bits: u8, takeover: bool) -> Pair {
    let mut c = DeflateConfig::default();
    c.server_max_window_bits = bits;
    c.client_max_window_bits = bits;
    c.server_no_context_takeover = !takeover;
    c.client_no_context_takeover = !takeover;
    c.min_compress_len = 1;
    pair_with(&c, &c)
}

#[derive(Clone, Debug, PartialEq)]
enum Got {
    Message(DataKind, Vec<u8>),
    Ping(Vec<u8>),
    Close(Option<u16>),
    Error(DeflateError),
}

/// Everything `poll_transmit` owes.
fn owed<R: RandomSource>(conn: &mut Connection<R>) -> Vec<u8> {
    let mut out = Vec::new();
    conn.poll_transmit_to_vec(&mut out).unwrap();
    out
}

/// Receives `stream` through `layer.receive`, in reads of the sizes `chunking` gives. Returns
/// what arrived (an error ends it) and what the connection owes the peer afterwards.
fn receive_all<R: RandomSource>(
    conn: &mut Connection<R>,
    layer: &mut Deflate,
    stream: &[u8],
    chunking: Chunking,
) -> (Vec<Got>, Vec<u8>) {
    let mut sizes = chunking.sizes();
    let mut assembler = Assembler::new(Vec::new());
    let mut pending = Vec::new();
    let mut fed = 0;
    let mut got = Vec::new();
    let mut out = Vec::new();
    'reads: while fed < stream.len() {
        let n = sizes().min(stream.len() - fed);
        pending.extend_from_slice(&stream[fed..fed + n]);
        fed += n;
        let mut pos = 0;
        loop {
            let r = layer.receive(conn, &mut assembler, &mut pending[pos..]);
            pos += r.consumed;
            match r.result {
                Ok(Incoming::Message(Message::Text(t))) => {
                    got.push(Got::Message(DataKind::Text, t.as_bytes().to_vec()))
                }
                Ok(Incoming::Message(Message::Binary(b))) => {
                    got.push(Got::Message(DataKind::Binary, b.to_vec()))
                }
                Ok(Incoming::Pending) => {}
                Ok(Incoming::Event(Event::Ping(p))) => got.push(Got::Ping(p.to_vec())),
                Ok(Incoming::Event(Event::Close(c))) => got.push(Got::Close(c.map(|f| f.code.0))),
                Ok(Incoming::Event(e)) => panic!("unexpected {e:?}"),
                Ok(Incoming::NeedInput) => break,
                Ok(Incoming::NeedFlush) => out.extend(owed(conn)),
                Ok(Incoming::Closed) => break 'reads,
                Err(e) => {
                    got.push(Got::Error(e));
                    break 'reads;
                }
            }
        }
        pending.drain(..pos);
    }
    out.extend(owed(conn));
    (got, out)
}

/// Text-like bytes (JSON lines), compressible.
fn text(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift::new(seed);
    let mut out = Vec::with_capacity(len + 64);
    while out.len() < len {
        let line = format!(
            "{{\"id\":{},\"user\":\"u{}\",\"msg\":\"héllo wörld\",\"ok\":{}}}\n",
            rng.next() % 100_000,
            rng.next() % 50,
            rng.next() % 2 == 0
        );
        out.extend_from_slice(line.as_bytes());
    }
    // Cut at a character boundary.
    let mut end = len;
    while std::str::from_utf8(&out[..end]).is_err() {
        end -= 1;
    }
    out.truncate(end);
    out
}

fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift::new(seed);
    (0..len).map(|_| rng.next() as u8).collect()
}

/// The first byte of every frame in `wire` (a stream of server frames or client frames).
fn first_bytes(wire: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < wire.len() {
        out.push(wire[pos]);
        let masked = wire[pos + 1] & 0x80 != 0;
        let (len, header) = match wire[pos + 1] & 0x7f {
            126 => (
                u16::from_be_bytes([wire[pos + 2], wire[pos + 3]]) as usize,
                4,
            ),
            127 => (
                u64::from_be_bytes(wire[pos + 2..pos + 10].try_into().unwrap()) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        pos += header + if masked { 4 } else { 0 } + len;
    }
    out
}

#[test]
fn whole_messages_both_ways_every_size_window_and_takeover() {
    let sizes = [0usize, 1, 100, 5_000, 70_000, 1 << 20];
    for bits in [9u8, 15] {
        for takeover in [true, false] {
            let mut p = pair(bits, takeover);
            let mut expect = Vec::new();
            let mut to_server = Vec::new();
            let mut to_client = Vec::new();
            for (i, &len) in sizes.iter().enumerate() {
                let (kind, body) = if i % 2 == 0 {
                    (DataKind::Text, text(len, i as u64))
                } else {
                    (DataKind::Binary, random(len, i as u64))
                };
                let msg = match kind {
                    DataKind::Text => Outgoing::Text(std::str::from_utf8(&body).unwrap()),
                    DataKind::Binary => Outgoing::Binary(&body),
                };
                p.cd.send(&mut p.client, msg, &mut to_server).unwrap();
                p.sd.send(&mut p.server, msg, &mut to_client).unwrap();
                expect.push(Got::Message(kind, body.clone()));
            }
            // Every message went out compressed (the threshold is 1 byte; the empty one too
            // is plain: below the threshold).
            for b in first_bytes(&to_server)
                .iter()
                .chain(&first_bytes(&to_client))
            {
                let compressed = b & 0x40 != 0;
                assert!(compressed || b & 0x0f == 1, "{b:#x}");
            }
            for chunking in [Chunking::Whole, Chunking::Random { seed: 5, max: 4096 }] {
                let mut q = pair(bits, takeover);
                let (got, out) = receive_all(&mut q.server, &mut q.sd, &to_server, chunking);
                assert!(out.is_empty());
                assert_eq!(got, expect, "bits {bits} takeover {takeover} {chunking:?}");
                let (got, _) = receive_all(&mut q.client, &mut q.cd, &to_client, chunking);
                assert_eq!(got, expect, "bits {bits} takeover {takeover} {chunking:?}");
            }
        }
    }
}

#[test]
fn small_messages_byte_by_byte() {
    let mut p = pair(15, true);
    let mut wire = Vec::new();
    let mut expect = Vec::new();
    for i in 0..6u64 {
        let body = text(40 + 30 * i as usize, i);
        p.cd.send(
            &mut p.client,
            Outgoing::Text(std::str::from_utf8(&body).unwrap()),
            &mut wire,
        )
        .unwrap();
        expect.push(Got::Message(DataKind::Text, body));
    }
    p.cd.send(&mut p.client, Outgoing::Ping(b"hi"), &mut wire)
        .unwrap();
    expect.push(Got::Ping(b"hi".to_vec()));
    for chunking in CHUNKINGS {
        let mut q = pair(15, true);
        let (got, out) = receive_all(&mut q.server, &mut q.sd, &wire, chunking);
        assert_eq!(got, expect, "{chunking:?}");
        // The Pong for the Ping.
        assert_eq!(out, [0x8a, 2, b'h', b'i']);
    }
}

#[test]
fn below_the_threshold_messages_go_out_plain() {
    let mut p = pair_with(&DeflateConfig::default(), &DeflateConfig::default());
    let mut wire = Vec::new();
    p.cd.send(&mut p.client, Outgoing::Text("short"), &mut wire)
        .unwrap();
    assert_eq!(wire[0], 0x81);
    let long = "long enough to compress, long enough to compress, long enough to compress";
    p.cd.send(&mut p.client, Outgoing::Text(long), &mut wire)
        .unwrap();
    assert_eq!(first_bytes(&wire), [0x81, 0xc1]);
    let (got, _) = receive_all(&mut p.server, &mut p.sd, &wire, Chunking::Bytewise);
    assert_eq!(
        got,
        [
            Got::Message(DataKind::Text, b"short".to_vec()),
            Got::Message(DataKind::Text, long.as_bytes().to_vec())
        ]
    );
}

#[test]
fn fragmented_and_streamed_messages_compress_across_fragments() {
    for bits in [9u8, 15] {
        for takeover in [true, false] {
            let mut p = pair(bits, takeover);
            let body = text(300_000, 11);
            let bin = random(50_000, 12);
            let mut wire = Vec::new();
            // A text in uneven fragments, cut inside characters too.
            let cuts = [0, 1, 7, 1000, 65_537, 200_001, body.len()];
            for w in cuts.windows(2) {
                let fin = w[1] == body.len();
                p.cd.send_frame(
                    &mut p.client,
                    DataKind::Text,
                    &body[w[0]..w[1]],
                    fin,
                    &mut wire,
                )
                .unwrap();
            }
            // A Ping between the fragments of a streamed binary message.
            p.cd.send_frame(
                &mut p.client,
                DataKind::Binary,
                &bin[..20_000],
                false,
                &mut wire,
            )
            .unwrap();
            p.cd.send(&mut p.client, Outgoing::Ping(b"mid"), &mut wire)
                .unwrap();
            p.cd.send_frame(
                &mut p.client,
                DataKind::Binary,
                &bin[20_000..],
                true,
                &mut wire,
            )
            .unwrap();
            // Only the first fragment of each message has RSV1.
            let firsts = first_bytes(&wire);
            assert_eq!(firsts[0], 0x41);
            assert!(firsts[1..6].iter().all(|&b| b & 0x70 == 0), "{firsts:x?}");
            let expect = [
                Got::Message(DataKind::Text, body.clone()),
                Got::Ping(b"mid".to_vec()),
                Got::Message(DataKind::Binary, bin.clone()),
            ];
            for chunking in [Chunking::Whole, Chunking::Random { seed: 1, max: 3000 }] {
                let mut q = pair(bits, takeover);
                let (got, _) = receive_all(&mut q.server, &mut q.sd, &wire, chunking);
                // Pings overtake the message they interrupt.
                assert_eq!(
                    got,
                    [expect[0].clone(), expect[1].clone(), expect[2].clone()]
                );
            }
        }
    }
}

#[test]
fn the_streaming_inflate_gives_the_same_bytes_in_tiny_pieces() {
    let mut p = pair(15, true);
    let body = text(100_000, 3);
    let mut wire = Vec::new();
    for _ in 0..2 {
        p.cd.send(
            &mut p.client,
            Outgoing::Text(std::str::from_utf8(&body).unwrap()),
            &mut wire,
        )
        .unwrap();
    }
    for chunking in [Chunking::Bytewise, Chunking::Random { seed: 2, max: 50 }] {
        let mut q = pair(15, true);
        let mut sizes = chunking.sizes();
        let mut out = [0u8; 7];
        let mut messages = vec![Vec::new()];
        let mut pending = Vec::new();
        let mut fed = 0;
        while fed < wire.len() {
            let n = sizes().min(wire.len() - fed);
            pending.extend_from_slice(&wire[fed..fed + n]);
            fed += n;
            let mut pos = 0;
            loop {
                let r = q.server.receive(&mut pending[pos..]);
                pos += r.consumed;
                match r.result.unwrap() {
                    Recv::Event(Event::Data {
                        kind,
                        payload,
                        message_done,
                        rsv,
                        ..
                    }) => {
                        assert_eq!(rsv, Rsv::RSV1);
                        let mut input = &payload[..];
                        loop {
                            let i =
                                q.sd.inflate(&mut q.server, kind, input, message_done, &mut out)
                                    .unwrap();
                            input = &input[i.consumed..];
                            messages
                                .last_mut()
                                .unwrap()
                                .extend_from_slice(&out[..i.written]);
                            match i.status {
                                InflateStatus::OutputFull => {}
                                InflateStatus::NeedInput => break,
                                InflateStatus::MessageDone => {
                                    messages.push(Vec::new());
                                    break;
                                }
                            }
                        }
                    }
                    Recv::NeedInput => break,
                    other => panic!("{other:?}"),
                }
            }
            pending.drain(..pos);
        }
        assert_eq!(messages, [body.clone(), body.clone(), Vec::new()]);
    }
}

/// A masked client frame, as a server receives it.
fn client_frame(fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(fin, rsv, opcode, Some([1, 2, 3, 4]), payload)
}

/// Compressed `bytes`, as one message with default parameters.
fn deflated(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Compressor::new(&Agreed::DEFAULT)
        .compress_message(bytes, &mut out)
        .unwrap();
    out
}

/// A server with the default agreement and its layer.
fn server() -> (Connection, Deflate) {
    (
        Connection::server(config()).with_extension_bits(Rsv::RSV1),
        Deflate::new(&Agreed::DEFAULT, LIMIT),
    )
}

/// The Close frame a server sends with `code` only.
fn close_frame(code: CloseCode) -> Vec<u8> {
    let mut f = vec![0x88, 2];
    f.extend_from_slice(&code.0.to_be_bytes());
    f
}

#[test]
fn rsv1_on_a_continuation_fails_with_1002() {
    let part = deflated(b"hello hello hello");
    let mut wire = client_frame(false, 0b100, 1, &part[..5]);
    wire.extend(client_frame(true, 0b100, 0, &part[5..]));
    for chunking in CHUNKINGS {
        let (mut conn, mut layer) = server();
        let (got, out) = receive_all(&mut conn, &mut layer, &wire, chunking);
        assert_eq!(
            got,
            [Got::Error(DeflateError::Protocol(
                ProtocolError::ReservedBits
            ))]
        );
        assert_eq!(out, close_frame(CloseCode::PROTOCOL_ERROR));
        assert_eq!(conn.state(), State::Closed);
    }
}

#[test]
fn corrupt_compressed_data_fails_with_1007() {
    let wire = client_frame(true, 0b100, 2, &[0xff, 0xff, 0xff, 0xff, 0x00]);
    for chunking in CHUNKINGS {
        let (mut conn, mut layer) = server();
        let (got, out) = receive_all(&mut conn, &mut layer, &wire, chunking);
        assert_eq!(
            got,
            [Got::Error(DeflateError::Inflate(InflateError::Corrupt))]
        );
        assert_eq!(out, close_frame(CloseCode::INVALID_PAYLOAD));
    }
}

#[test]
fn invalid_utf8_in_compressed_text_fails_with_1007_at_the_first_bad_byte() {
    // 50,000 bytes of text, one bad byte, then 400,000 more bytes that compress poorly: the
    // error must come while most of the payload is still unread.
    let bad_at = 50_000;
    let mut body = text(bad_at, 1);
    body.push(0xff);
    body.extend(random(400_000, 2).iter().map(|b| b'a' + b % 26));
    let payload = deflated(&body);
    let wire = client_frame(true, 0b100, 1, &payload);

    // Whole messages: the assembler validates each inflated piece as it stores it.
    for chunking in [Chunking::Whole, Chunking::Random { seed: 4, max: 999 }] {
        let (mut conn, mut layer) = server();
        let (got, out) = receive_all(&mut conn, &mut layer, &wire, chunking);
        assert_eq!(
            got,
            [Got::Error(DeflateError::Protocol(
                ProtocolError::InvalidUtf8
            ))]
        );
        assert_eq!(out, close_frame(CloseCode::INVALID_PAYLOAD));
    }

    // In pieces: the bytes before the bad one are handed out, the error comes in the call that
    // inflates it, with most of the input unread.
    let (mut conn, mut layer) = server();
    let mut input = wire.clone();
    let r = conn.receive(&mut input);
    let Ok(Recv::Event(Event::Data { kind, payload, .. })) = r.result else {
        panic!()
    };
    let mut out = [0u8; 1000];
    let mut handed = Vec::new();
    let mut consumed = 0;
    let err = loop {
        match layer.inflate(&mut conn, kind, &payload[consumed..], true, &mut out) {
            Ok(i) => {
                handed.extend_from_slice(&out[..i.written]);
                consumed += i.consumed;
            }
            Err(e) => break e,
        }
    };
    assert_eq!(err, DeflateError::Inflate(InflateError::InvalidUtf8));
    let handed_len = handed.len();
    assert_eq!(handed, body[..handed_len]);
    assert!(
        handed_len <= bad_at && handed_len + out.len() > bad_at,
        "{handed_len}"
    );
    assert!(
        consumed < payload.len() / 2,
        "{consumed} of {}",
        payload.len()
    );
    assert_eq!(conn.state(), State::Failed);
    assert_eq!(owed(&mut conn), close_frame(CloseCode::INVALID_PAYLOAD));
}

#[test]
fn a_message_inflating_past_the_limit_fails_with_1009() {
    let payload = deflated(&vec![b'a'; LIMIT as usize + 1]);
    let wire = client_frame(true, 0b100, 2, &payload);
    for chunking in [Chunking::Whole, Chunking::Random { seed: 6, max: 100 }] {
        let (mut conn, mut layer) = server();
        let (got, out) = receive_all(&mut conn, &mut layer, &wire, chunking);
        assert_eq!(
            got,
            [Got::Error(DeflateError::Inflate(InflateError::TooBig))]
        );
        assert_eq!(out, close_frame(CloseCode::MESSAGE_TOO_BIG));
    }
    // Exactly the limit is fine.
    let payload = deflated(&vec![b'a'; LIMIT as usize]);
    let (mut conn, mut layer) = server();
    let (got, _) = receive_all(
        &mut conn,
        &mut layer,
        &client_frame(true, 0b100, 2, &payload),
        Chunking::Whole,
    );
    assert_eq!(
        got,
        [Got::Message(DataKind::Binary, vec![b'a'; LIMIT as usize])]
    );
}

#[test]
fn a_fixed_assembler_bounds_an_inflated_message_with_1009() {
    let (mut conn, mut layer) = server();
    let mut assembler = Assembler::new(arrayvec::ArrayVec::<u8, 100>::new());
    let mut wire = client_frame(true, 0b100, 2, &deflated(&[7u8; 101]));
    let r = layer.receive(&mut conn, &mut assembler, &mut wire);
    assert_eq!(
        r.result,
        Err(DeflateError::Protocol(ProtocolError::MessageTooLong))
    );
    assert_eq!(owed(&mut conn), close_frame(CloseCode::MESSAGE_TOO_BIG));
    // 100 fit, and come back from the layer's buffer.
    let (mut conn, mut layer) = server();
    let mut wire = client_frame(true, 0b100, 2, &deflated(&[7u8; 100]));
    let r = layer.receive(&mut conn, &mut assembler, &mut wire);
    assert_eq!(
        r.result,
        Ok(Incoming::Message(Message::Binary(&[7u8; 100])))
    );
}

#[test]
fn a_refused_send_compresses_nothing() {
    let mut p = pair(15, true);
    let mut wire = Vec::new();
    p.cd.send_frame(
        &mut p.client,
        DataKind::Binary,
        &[1u8; 200],
        false,
        &mut wire,
    )
    .unwrap();
    let before = wire.len();
    // Another message while one is in progress: refused, nothing written.
    let text = "x".repeat(300);
    assert_eq!(
        p.cd.send(&mut p.client, Outgoing::Text(&text), &mut wire),
        Err(DeflateError::Send(SendError::MessageInProgress))
    );
    assert_eq!(
        p.cd.send_frame(&mut p.client, DataKind::Text, b"x", true, &mut wire),
        Err(DeflateError::Send(SendError::MessageInProgress))
    );
    assert_eq!(wire.len(), before);
    assert_eq!(p.client.state(), State::Open);
    p.cd.send_frame(
        &mut p.client,
        DataKind::Binary,
        &[2u8; 200],
        true,
        &mut wire,
    )
    .unwrap();
    p.cd.send(&mut p.client, Outgoing::Text(&text), &mut wire)
        .unwrap();
    let mut both = vec![1u8; 200];
    both.extend([2u8; 200]);
    let (got, _) = receive_all(&mut p.server, &mut p.sd, &wire, Chunking::Whole);
    assert_eq!(
        got,
        [
            Got::Message(DataKind::Binary, both),
            Got::Message(DataKind::Text, text.into_bytes())
        ]
    );
    // After our Close, sends are refused without failing anything.
    let mut out = Vec::new();
    p.server
        .close_to_vec(CloseCode::NORMAL, "", &mut out)
        .unwrap();
    assert_eq!(
        p.sd.send(&mut p.server, Outgoing::Binary(&[0; 100]), &mut out),
        Err(DeflateError::Send(SendError::Closing))
    );
    assert_eq!(p.server.state(), State::CloseSent);
}

#[test]
fn release_frees_the_layer_between_messages_without_takeover() {
    let mut p = pair(15, false);
    let mut wire = Vec::new();
    p.cd.send(&mut p.client, Outgoing::Binary(&[5u8; 1000]), &mut wire)
        .unwrap();
    let (got, _) = receive_all(&mut p.server, &mut p.sd, &wire, Chunking::Whole);
    assert_eq!(got.len(), 1);
    assert!(p.cd.release());
    assert!(p.sd.release());
    let mut p = pair(15, true);
    wire.clear();
    p.cd.send(&mut p.client, Outgoing::Binary(&[5u8; 1000]), &mut wire)
        .unwrap();
    assert!(!p.cd.release());
}

// ---------------------------------------------------------------------------------------------
// Compress, then inflate, through the pair: the identity
// ---------------------------------------------------------------------------------------------

/// One message: its kind, bytes, and where its fragments are cut (empty: sent whole).
fn message_strategy() -> impl Strategy<Value = (bool, Vec<u8>, Vec<usize>)> {
    (
        any::<bool>(),
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..3000),
            (0usize..20_000, any::<u64>()).prop_map(|(len, seed)| text(len, seed)),
        ],
        proptest::collection::vec(any::<usize>(), 0..4),
    )
        .prop_map(|(binary, bytes, cuts)| {
            let binary = binary || std::str::from_utf8(&bytes).is_err();
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            (binary, bytes, cuts)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn compress_then_inflate_is_the_identity(
        messages in proptest::collection::vec(message_strategy(), 1..6),
        takeover in any::<bool>(),
        bits in 9u8..=15,
        threshold in 0usize..200,
        max_read in 1usize..5000,
        seed in any::<u64>(),
    ) {
        let mut c = DeflateConfig::default();
        c.server_max_window_bits = bits;
        c.client_max_window_bits = bits;
        c.server_no_context_takeover = !takeover;
        c.client_no_context_takeover = !takeover;
        c.min_compress_len = threshold;
        let mut p = pair_with(&c, &c);
        let mut to_server = Vec::new();
        let mut to_client = Vec::new();
        let mut expect = Vec::new();
        for (binary, bytes, cuts) in &messages {
            let kind = if *binary { DataKind::Binary } else { DataKind::Text };
            if cuts.is_empty() {
                let msg = if *binary {
                    Outgoing::Binary(bytes)
                } else {
                    Outgoing::Text(std::str::from_utf8(bytes).unwrap())
                };
                p.cd.send(&mut p.client, msg, &mut to_server).unwrap();
                p.sd.send(&mut p.server, msg, &mut to_client).unwrap();
            } else {
                let mut edges = vec![0];
                edges.extend(cuts);
                edges.push(bytes.len());
                for (i, w) in edges.windows(2).enumerate() {
                    let fin = i == edges.len() - 2;
                    p.cd.send_frame(&mut p.client, kind, &bytes[w[0]..w[1]], fin, &mut to_server).unwrap();
                    p.sd.send_frame(&mut p.server, kind, &bytes[w[0]..w[1]], fin, &mut to_client).unwrap();
                }
            }
            expect.push(Got::Message(kind, bytes.clone()));
        }
        let chunking = Chunking::Random { seed, max: max_read };
        let (got, _) = receive_all(&mut p.server, &mut p.sd, &to_server, chunking);
        prop_assert_eq!(&got, &expect);
        let (got, _) = receive_all(&mut p.client, &mut p.cd, &to_client, chunking);
        prop_assert_eq!(&got, &expect);
    }
}
