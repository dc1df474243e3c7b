extern crate std;

use std::vec::Vec;

use super::*;
use crate::handshake::{ServerHandshake, EMPTY_HEADER};
use crate::{DataKind, Event, HandshakeLimits, Outgoing, RandomError, Recv, Role, State, Status};

const fn h(name: &'static str, value: &'static [u8]) -> Header<'static> {
    Header { name, value }
}

/// RFC 8441 section 5.1's request. RFC 9220 section 3 sends the very same fields over an
/// HTTP/3 stream (only the SETTINGS frame that allows it differs), so it serves for both.
const RFC8441: [Header<'static>; 9] = [
    h(":method", b"CONNECT"),
    h(":protocol", b"websocket"),
    h(":scheme", b"https"),
    h(":path", b"/chat"),
    h(":authority", b"server.example.com"),
    h("sec-websocket-protocol", b"chat, superchat"),
    h("sec-websocket-extensions", b"permessage-deflate"),
    h("sec-websocket-version", b"13"),
    h("origin", b"http://www.example.com"),
];

fn pairs<'a>(head: impl Iterator<Item = Header<'a>>) -> Vec<(&'a str, &'a [u8])> {
    head.map(|h| (h.name, h.value)).collect()
}

/// RFC 8441 with the field `name` replaced by `value` (or removed, for `None`).
fn with(name: &str, value: Option<&'static [u8]>) -> Vec<Header<'static>> {
    let mut fields: Vec<_> = RFC8441.to_vec();
    let at = fields.iter().position(|f| f.name == name);
    match (at, value) {
        (Some(i), Some(v)) => fields[i].value = v,
        (Some(i), None) => {
            fields.remove(i);
        }
        (None, Some(v)) => {
            let name: &'static str = std::boxed::Box::leak(name.into());
            fields.push(h(name, v));
        }
        (None, None) => {}
    }
    fields
}

fn validate(fields: &[Header<'_>]) -> Result<(), ConnectError> {
    ConnectRequest::validate(fields, Config::default()).map(|_| ())
}

#[test]
fn rfc8441_example_request_and_response() {
    let req = ConnectRequest::validate(&RFC8441, Config::default()).unwrap();
    assert_eq!(req.scheme(), Scheme::Https);
    assert_eq!(req.authority(), "server.example.com");
    assert_eq!(req.path(), "/chat");
    assert_eq!(req.origin(), Some("http://www.example.com"));
    assert_eq!(req.protocols().collect::<Vec<_>>(), ["chat", "superchat"]);
    let offers: Vec<_> = req.extensions().map(|e| e.name()).collect();
    assert_eq!(offers, ["permessage-deflate"]);
    assert_eq!(req.header(":protocol"), Some(&b"websocket"[..]));
    assert_eq!(req.headers().len(), 9);

    // The example's answer: `:status 200` and `sec-websocket-protocol = chat`.
    let (head, conn) = req.accept(&Accept::new().protocol("chat")).unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        pairs(head.headers()),
        [("sec-websocket-protocol", &b"chat"[..])]
    );
    assert_eq!(conn.role(), Role::Server);
    assert_eq!(conn.state(), State::Open);
    assert_eq!(conn.extension_bits(), Rsv::NONE);
}

#[test]
fn extensions_plug_in_as_on_http1() {
    let req = ConnectRequest::validate(&RFC8441, Config::default()).unwrap();
    let accept = Accept::new()
        .extension("permessage-deflate", Rsv::RSV1)
        .headers(&[("server", b"sockless")]);
    let (head, conn) = req.accept(&accept).unwrap();
    assert_eq!(
        pairs(head.headers()),
        [
            ("sec-websocket-extensions", &b"permessage-deflate"[..]),
            ("server", b"sockless"),
        ]
    );
    assert_eq!(conn.extension_bits(), Rsv::RSV1);
}

#[test]
fn accept_refuses_what_the_client_did_not_offer_or_http2_cannot_carry() {
    let req = ConnectRequest::validate(&RFC8441, Config::default()).unwrap();
    let err = |a: Accept<'_>| req.accept(&a).map(|_| ()).unwrap_err();
    assert_eq!(
        err(Accept::new().protocol("other")),
        HandshakeError::ProtocolNotOffered
    );
    assert_eq!(
        err(Accept::new().extension("x-unknown", Rsv::RSV2)),
        HandshakeError::ExtensionNotOffered
    );
    assert_eq!(
        err(Accept::new().extension("permessage-deflate, permessage-deflate", Rsv::RSV1)),
        HandshakeError::InvalidHeader
    );
    for extra in [
        &[("Server", &b"x"[..])][..],
        &[("keep-alive", b"5")],
        &[("te", b"gzip")],
        &[("x-bad", b"a\r\nb")],
    ] {
        assert_eq!(
            err(Accept::new().headers(extra)),
            HandshakeError::InvalidHeader,
            "{extra:?}"
        );
    }
    assert!(req
        .accept(&Accept::new().headers(&[("te", b"trailers")]))
        .is_ok());
}

#[test]
fn every_violation_has_its_error_and_status() {
    use ConnectError as E;
    let cases: Vec<(Vec<Header<'static>>, ConnectError)> = std::vec![
        // Pseudo-header fields: after a regular field, repeated, unknown, :method missing.
        (
            [&RFC8441[1..], &[h(":method", b"CONNECT")]].concat(),
            E::PseudoHeader
        ),
        (
            [&RFC8441[..], &[h(":path", b"/again")]].concat(),
            E::PseudoHeader
        ),
        (
            [&[h(":status", b"200")], &RFC8441[..]].concat(),
            E::PseudoHeader
        ),
        (with(":method", None), E::PseudoHeader),
        // Field syntax (RFC 9113 8.2.1).
        (
            [&RFC8441[..], &[h("Cookie", b"a=b")]].concat(),
            E::MalformedField
        ),
        (
            [&RFC8441[..], &[h("bad name", b"x")]].concat(),
            E::MalformedField
        ),
        (with("origin", Some(b"http://a\r\nx: y")), E::MalformedField),
        (with(":path", Some(b"/chat\0")), E::MalformedField),
        // Connection-specific fields (RFC 9113 8.2.2, RFC 8441 5).
        (
            with("connection", Some(b"Upgrade")),
            E::ConnectionSpecificHeader
        ),
        (
            with("upgrade", Some(b"websocket")),
            E::ConnectionSpecificHeader
        ),
        (with("keep-alive", Some(b"5")), E::ConnectionSpecificHeader),
        (
            with("proxy-connection", Some(b"x")),
            E::ConnectionSpecificHeader
        ),
        (
            with("transfer-encoding", Some(b"chunked")),
            E::ConnectionSpecificHeader
        ),
        (with("te", Some(b"gzip")), E::ConnectionSpecificHeader),
        // The method (case-sensitive).
        (with(":method", Some(b"GET")), E::MethodNotConnect),
        (with(":method", Some(b"connect")), E::MethodNotConnect),
        // :protocol.
        (with(":protocol", None), E::MissingProtocol),
        (
            with(":protocol", Some(b"webtransport")),
            E::UnsupportedProtocol
        ),
        // :scheme.
        (with(":scheme", None), E::InvalidScheme),
        (with(":scheme", Some(b"wss")), E::InvalidScheme),
        // :path.
        (with(":path", None), E::InvalidPath),
        (with(":path", Some(b"")), E::InvalidPath),
        (with(":path", Some(b"chat")), E::InvalidPath),
        (with(":path", Some(b"/chat#top")), E::InvalidPath),
        (with(":path", Some(b"/\xff")), E::InvalidPath),
        // :authority (and host).
        (with(":authority", None), E::MissingAuthority),
        (with(":authority", Some(b"")), E::InvalidAuthority),
        (with(":authority", Some(b"user@host")), E::InvalidAuthority),
        (with(":authority", Some(b"a b")), E::InvalidAuthority),
        (with(":authority", Some(b"host:8x")), E::InvalidAuthority),
        (
            with("host", Some(b"other.example.com")),
            E::InvalidAuthority
        ),
        (
            [
                &RFC8441[..],
                &[h("host", b"server.example.com")],
                &[h("host", b"server.example.com")]
            ]
            .concat(),
            E::InvalidAuthority
        ),
        // sec-websocket-version.
        (with("sec-websocket-version", None), E::MissingVersion),
        (
            [&RFC8441[..], &[h("sec-websocket-version", b"13")]].concat(),
            E::MissingVersion
        ),
        (
            with("sec-websocket-version", Some(b"8")),
            E::UnsupportedVersion
        ),
        // The lists.
        (
            with("sec-websocket-protocol", Some(b"chat, @bad")),
            E::InvalidHeaderList
        ),
        (
            with("sec-websocket-extensions", Some(b"permessage-deflate; a=")),
            E::InvalidHeaderList
        ),
    ];
    for (fields, expected) in &cases {
        assert_eq!(validate(fields), Err(*expected), "{fields:?}");
        let head = expected.response_head();
        assert_eq!(head.status(), expected.status());
        let _ = std::format!("{expected}");
    }
    let statuses: Vec<_> = [
        E::TooManyHeaders,
        E::MethodNotConnect,
        E::UnsupportedProtocol,
        E::UnsupportedVersion,
        E::InvalidPath,
    ]
    .iter()
    .map(|e| e.status())
    .collect();
    assert_eq!(statuses, [431, 405, 501, 400, 400]);
    assert_eq!(
        pairs(E::UnsupportedVersion.response_head().headers()),
        [("sec-websocket-version", &b"13"[..])]
    );
    assert_eq!(
        pairs(E::MethodNotConnect.response_head().headers()),
        [("allow", &b"CONNECT"[..])]
    );
    assert_eq!(E::InvalidPath.response_head().headers().count(), 0);
}

#[test]
fn what_is_allowed_or_ignored() {
    // Token comparisons that are case-insensitive: :protocol (an upgrade token) and :scheme.
    assert_eq!(validate(&with(":protocol", Some(b"WebSocket"))), Ok(()));
    assert_eq!(validate(&with(":scheme", Some(b"HTTP"))), Ok(()));
    let http = with(":scheme", Some(b"http"));
    let req = ConnectRequest::validate(&http, Config::default());
    assert_eq!(req.unwrap().scheme(), Scheme::Http);
    // RFC 8441 5: the key is not processed, and no accept goes back.
    let keyed = with("sec-websocket-key", Some(b"not even base64"));
    let req = ConnectRequest::validate(&keyed, Config::default()).unwrap();
    let (head, _) = req.accept(&Accept::new()).unwrap();
    assert_eq!(head.headers().count(), 0);
    // `te: trailers`, a matching `host`, an authority with a port or an IP literal, a query,
    // no subprotocol or extension at all, repeated list fields.
    assert_eq!(validate(&with("te", Some(b"trailers"))), Ok(()));
    assert_eq!(validate(&with("host", Some(b"Server.Example.com"))), Ok(()));
    assert_eq!(validate(&with(":authority", Some(b"[::1]:8443"))), Ok(()));
    assert_eq!(validate(&with(":path", Some(b"/chat?room=1"))), Ok(()));
    let bare = [&RFC8441[..5], &RFC8441[7..8]].concat();
    assert_eq!(validate(&bare), Ok(()));
    let repeated = [&RFC8441[..], &[h("sec-websocket-protocol", b"v3")]].concat();
    let req = ConnectRequest::validate(&repeated, Config::default()).unwrap();
    assert_eq!(
        req.protocols().collect::<Vec<_>>(),
        ["chat", "superchat", "v3"]
    );
}

#[test]
fn the_field_count_is_bounded() {
    let config = Config {
        handshake: HandshakeLimits {
            max_headers: 8,
            ..HandshakeLimits::DEFAULT
        },
        ..Config::default()
    };
    assert_eq!(
        ConnectRequest::validate(&RFC8441, config).map(|_| ()),
        Err(ConnectError::TooManyHeaders)
    );
    assert!(ConnectRequest::validate(&RFC8441[..8], config).is_ok());
}

/// The RFC 6455 section 1.3 request, as another HTTP/1.1 stack hands it over.
const RFC6455: [Header<'static>; 7] = [
    h("Host", b"server.example.com"),
    h("Upgrade", b"websocket"),
    h("Connection", b"Upgrade"),
    h("Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
    h("Origin", b"http://example.com"),
    h("Sec-WebSocket-Protocol", b"chat, superchat"),
    h("Sec-WebSocket-Version", b"13"),
];

#[test]
fn http1_parsed_elsewhere_gets_the_same_101_as_the_written_one() {
    let req = Request::from_parsed("GET", 1, "/chat", &RFC6455, Config::default()).unwrap();
    assert_eq!(
        (req.path(), req.host(), req.len()),
        ("/chat", "server.example.com", 0)
    );
    let accept = Accept::new()
        .protocol("chat")
        .extension("x-ext", Rsv::RSV2)
        .headers(&[("Server", b"sockless")]);
    // The offer `accept` needs for its extension.
    let offered = [&RFC6455[..], &[h("Sec-WebSocket-Extensions", b"x-ext")]].concat();
    let req = Request::from_parsed("GET", 1, "/chat", &offered, Config::default()).unwrap();
    let (head, conn) = req.accept_head(&accept).unwrap();
    assert_eq!(head.status(), 101);
    assert_eq!(
        pairs(head.headers()),
        [
            ("upgrade", &b"websocket"[..]),
            ("connection", b"upgrade"),
            ("sec-websocket-accept", b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            ("sec-websocket-protocol", b"chat"),
            ("sec-websocket-extensions", b"x-ext"),
            ("Server", b"sockless"),
        ]
    );
    assert_eq!(conn.extension_bits(), Rsv::RSV2);

    // The same fields as the 101 that `accept` writes.
    let mut out = [0u8; 512];
    let (n, written_conn) = req.accept(&accept, &mut out).unwrap();
    let mut lines = [EMPTY_HEADER; 16];
    let mut resp = httparse::Response::new(&mut lines);
    assert!(resp.parse(&out[..n]).unwrap().is_complete());
    assert_eq!(resp.code, Some(101));
    let written: Vec<_> = resp
        .headers
        .iter()
        .map(|h| h.name.to_ascii_lowercase())
        .collect();
    let given: Vec<_> = head
        .headers()
        .map(|h| h.name.to_ascii_lowercase())
        .collect();
    assert_eq!(written, given);
    for (w, g) in resp.headers.iter().zip(head.headers()) {
        assert!(w.value.eq_ignore_ascii_case(g.value), "{w:?} {g:?}");
    }
    assert_eq!(written_conn.extension_bits(), conn.extension_bits());

    assert_eq!(
        req.accept_head(&Accept::new().protocol("v9")).map(|_| ()),
        Err(HandshakeError::ProtocolNotOffered)
    );
}

#[test]
fn http1_parsed_elsewhere_is_validated_by_the_same_code() {
    // Each head through ServerHandshake::parse, and through httparse then from_parsed: the same
    // verdict, error for error.
    let heads: [&[u8]; 12] = [
        b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.0\r\nUpgrade: websocket\r\n\r\n",
        b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a b\r\nUpgrade: websocket\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 8\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: a b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nContent-Length: 5\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nExpect: nothing\r\n\r\n",
    ];
    for head in heads {
        let mut lines = [EMPTY_HEADER; 16];
        let here = ServerHandshake::new(Config::default())
            .parse(head, &mut lines)
            .map(|s| matches!(s, Status::Complete(_)));
        let mut lines = [EMPTY_HEADER; 16];
        let mut parsed = httparse::Request::new(&mut lines);
        assert!(parsed.parse(head).unwrap().is_complete());
        let elsewhere = Request::from_parsed(
            parsed.method.unwrap(),
            parsed.version.unwrap(),
            parsed.path.unwrap(),
            parsed.headers,
            Config::default(),
        )
        .map(|_| true);
        assert_eq!(here, elsewhere, "{}", std::str::from_utf8(head).unwrap());
    }
    let config = Config {
        handshake: HandshakeLimits {
            max_headers: 6,
            ..HandshakeLimits::DEFAULT
        },
        ..Config::default()
    };
    assert_eq!(
        Request::from_parsed("GET", 1, "/", &RFC6455, config).map(|_| ()),
        Err(HandshakeError::TooManyHeaders)
    );
}

#[test]
fn http1_refusals() {
    let head = ResponseHead::error(HandshakeError::UnsupportedVersion);
    assert_eq!(head.status(), 426);
    assert_eq!(
        pairs(head.headers()),
        [
            ("upgrade", &b"websocket"[..]),
            ("connection", b"upgrade"),
            ("sec-websocket-version", b"13"),
        ]
    );
    let head = ResponseHead::error(HandshakeError::MethodNotGet);
    assert_eq!(
        (head.status(), pairs(head.headers())),
        (405, std::vec![("allow", &b"GET"[..])])
    );
    let head = ResponseHead::error(HandshakeError::InvalidKey);
    assert_eq!((head.status(), head.headers().count()), (400, 0));
}

fn client_request() -> ClientRequest<'static> {
    ClientRequest::new("server.example.com", "/chat")
        .origin("http://www.example.com")
        .protocols(&["chat", "superchat"])
        .extensions(&["permessage-deflate"])
}

fn rng(dest: &mut [u8]) -> Result<(), RandomError> {
    dest.fill(0x5a);
    Ok(())
}

#[test]
fn the_client_writes_the_rfc8441_request() {
    let client = ConnectClient::new(client_request(), Scheme::Https, Config::default()).unwrap();
    let fields: Vec<_> = client.headers().collect();
    assert_eq!(
        pairs(fields.iter().copied()),
        [
            (":method", &b"CONNECT"[..]),
            (":protocol", b"websocket"),
            (":scheme", b"https"),
            (":authority", b"server.example.com"),
            (":path", b"/chat"),
            ("sec-websocket-version", b"13"),
            ("origin", b"http://www.example.com"),
            ("sec-websocket-protocol", b"chat"),
            ("sec-websocket-protocol", b"superchat"),
            ("sec-websocket-extensions", b"permessage-deflate"),
        ]
    );
    // The server reads the same offers as from the RFC's single fields.
    let req = ConnectRequest::validate(&fields, Config::default()).unwrap();
    let rfc = ConnectRequest::validate(&RFC8441, Config::default()).unwrap();
    assert!(req.protocols().eq(rfc.protocols()));
    assert!(req.extensions().eq(rfc.extensions()));
    assert_eq!(
        (req.authority(), req.path(), req.origin()),
        (rfc.authority(), rfc.path(), rfc.origin())
    );
}

#[test]
fn the_client_refuses_what_it_cannot_send() {
    fn new(r: ClientRequest<'_>) -> Result<ConnectClient<'_>, HandshakeError> {
        ConnectClient::new(r, Scheme::Http, Config::default())
    }
    assert_eq!(
        new(ClientRequest::new("a b", "/")).map(|_| ()),
        Err(HandshakeError::InvalidHost)
    );
    for path in ["/a b", "/caf\u{e9}", "/100%", "chat", "/a#b"] {
        assert_eq!(
            new(ClientRequest::new("a", path)).map(|_| ()),
            Err(HandshakeError::InvalidHeader),
            "{path}"
        );
    }
    assert!(new(ClientRequest::new("a", "/a%20b?q=1")).is_ok());
    for extra in [
        &[("Authorization", &b"x"[..])][..],
        &[("te", b"gzip")],
        &[("keep-alive", b"1")],
        &[("sec-websocket-key", b"x")],
    ] {
        assert_eq!(
            new(ClientRequest::new("a", "/").headers(extra)).map(|_| ()),
            Err(HandshakeError::InvalidHeader),
            "{extra:?}"
        );
    }
    assert!(new(ClientRequest::new("a", "/").headers(&[("authorization", b"x")])).is_ok());
}

#[test]
fn the_client_checks_the_response() {
    let client = ConnectClient::new(client_request(), Scheme::Https, Config::default()).unwrap();
    let finish = |status, fields: &[Header<'_>]| {
        client
            .finish(&ConnectResponse::new(status, fields), rng)
            .map(|c| c.role())
    };
    assert_eq!(finish(200, &[]), Ok(Role::Client));
    assert_eq!(
        finish(200, &[h("sec-websocket-protocol", b"chat")]),
        Ok(Role::Client)
    );
    assert_eq!(finish(204, &[]), Ok(Role::Client));
    for status in [101, 400, 403, 501] {
        assert_eq!(
            finish(status, &[]),
            Err(HandshakeError::UnexpectedStatus(status))
        );
    }
    assert_eq!(
        finish(200, &[h("sec-websocket-protocol", b"other")]),
        Err(HandshakeError::ProtocolNotOffered)
    );
    assert_eq!(
        finish(
            200,
            &[
                h("sec-websocket-protocol", b"chat"),
                h("sec-websocket-protocol", b"chat")
            ]
        ),
        Err(HandshakeError::ProtocolNotOffered)
    );
    assert_eq!(
        finish(200, &[h("sec-websocket-extensions", b"x-other")]),
        Err(HandshakeError::ExtensionNotOffered)
    );
    assert_eq!(
        finish(200, &[h("sec-websocket-extensions", b"permessage-deflate")]),
        Err(HandshakeError::ExtensionRefused)
    );
    assert_eq!(
        finish(
            200,
            &[h("sec-websocket-extensions", b"permessage-deflate; =")]
        ),
        Err(HandshakeError::InvalidHeaderList)
    );

    let agreed = [
        h(":status", b"200"),
        h(
            "sec-websocket-extensions",
            b"permessage-deflate; server_no_context_takeover",
        ),
    ];
    let response = ConnectResponse::new(200, &agreed);
    assert_eq!(response.status(), 200);
    assert_eq!(response.protocol(), None);
    assert_eq!(response.headers().len(), 2);
    let conn = client
        .finish_with_extensions(&response, rng, |r| {
            let e = r.extensions().next().unwrap();
            assert_eq!(e.name(), "permessage-deflate");
            assert_eq!(
                e.params().next().unwrap().name(),
                "server_no_context_takeover"
            );
            Ok(Rsv::RSV1)
        })
        .unwrap();
    assert_eq!(conn.extension_bits(), Rsv::RSV1);
    let refused =
        client.finish_with_extensions(&response, rng, |_| Err(HandshakeError::ExtensionRefused));
    assert_eq!(refused.map(|_| ()), Err(HandshakeError::ExtensionRefused));
}

#[test]
fn both_roles_end_to_end_in_memory() {
    // Client fields -> server validation -> server response fields -> client check, then a
    // message each way over the "stream".
    let client = ConnectClient::new(client_request(), Scheme::Https, Config::default()).unwrap();
    let fields: Vec<_> = client.headers().collect();
    let req = ConnectRequest::validate(&fields, Config::default()).unwrap();
    let chosen = req.protocols().last();
    let (head, mut server) = req.accept(&Accept::new().protocol(chosen)).unwrap();
    let answer: Vec<_> = head.headers().collect();
    let response = ConnectResponse::new(head.status(), &answer);
    assert_eq!(response.protocol(), Some("superchat"));
    let mut client = client.finish(&response, rng).unwrap();

    let mut wire = [0u8; 64];
    let n = client.send(Outgoing::Text("over h2"), &mut wire).unwrap();
    assert_eq!(wire[1] & 0x80, 0x80, "a client masks, as in RFC 6455");
    let r = server.receive(&mut wire[..n]);
    assert_eq!(r.consumed, n);
    match r.result {
        Ok(Recv::Event(Event::Data { kind, payload, .. })) => {
            assert_eq!((kind, &payload[..]), (DataKind::Text, &b"over h2"[..]));
        }
        other => panic!("{other:?}"),
    }
    let n = server.send(Outgoing::Binary(b"back"), &mut wire).unwrap();
    assert_eq!(wire[1] & 0x80, 0, "a server does not");
    let r = client.receive(&mut wire[..n]);
    assert!(matches!(
        r.result,
        Ok(Recv::Event(Event::Data {
            kind: DataKind::Binary,
            ..
        }))
    ));
}

/// permessage-deflate over extended CONNECT, both roles, with the same one-call glue as the
/// HTTP/1.1 path: the server chooses among the request's offers, the client checks the answer,
/// both connections own RSV1, and a compressed message crosses each way.
#[cfg(feature = "deflate")]
#[test]
fn permessage_deflate_over_extended_connect() {
    use crate::deflate::{ClientNegotiation, Deflate, DeflateConfig, ServerNegotiation};
    use crate::message::{Assembler, Incoming, Message};

    let config = DeflateConfig::default();
    let offer = ClientNegotiation::new(&config);
    let offers = [offer.offer().unwrap()];
    let request = ClientRequest::new("server.example.com", "/chat").extensions(&offers);
    let client = ConnectClient::new(request, Scheme::Https, Config::default()).unwrap();
    let fields: Vec<_> = client.headers().collect();
    let req = ConnectRequest::validate(&fields, Config::default()).unwrap();
    let negotiation = ServerNegotiation::from_offers(&config, req.extensions());
    let (head, mut server) = req.accept(&negotiation.accept(Accept::new())).unwrap();
    assert_eq!(server.extension_bits(), Rsv::RSV1);
    let answer: Vec<_> = head.headers().collect();
    assert!(answer
        .iter()
        .any(|f| f.name == "sec-websocket-extensions" && f.value == b"permessage-deflate"));
    let response = ConnectResponse::new(head.status(), &answer);
    let mut client = client
        .finish_with_extensions(&response, rng, |r| offer.check_answers(r.extensions()))
        .unwrap();
    assert_eq!(client.extension_bits(), Rsv::RSV1);

    let max = Config::default().max_message_len;
    let mut client_layer = Deflate::new(&offer.agreed().unwrap(), max);
    let mut server_layer = Deflate::new(&negotiation.agreed().unwrap(), max);
    let text = "compressed over an HTTP/2 stream ".repeat(64);
    let mut wire = Vec::new();
    client_layer
        .send(&mut client, Outgoing::Text(&text), &mut wire)
        .unwrap();
    assert_eq!(wire[0] & 0x40, 0x40, "RSV1 on the first frame");
    assert!(
        wire.len() < text.len() / 4,
        "compressed: {} bytes",
        wire.len()
    );
    let mut assembler = Assembler::new(Vec::new());
    let r = server_layer.receive(&mut server, &mut assembler, &mut wire);
    match r.result {
        Ok(Incoming::Message(Message::Text(t))) => assert_eq!(t, text),
        other => panic!("{other:?}"),
    }

    let mut back = Vec::new();
    server_layer
        .send(&mut server, Outgoing::Binary(text.as_bytes()), &mut back)
        .unwrap();
    assert_eq!(back[0] & 0x40, 0x40);
    let r = client_layer.receive(&mut client, &mut assembler, &mut back);
    match r.result {
        Ok(Incoming::Message(Message::Binary(b))) => assert_eq!(b, text.as_bytes()),
        other => panic!("{other:?}"),
    }
}
