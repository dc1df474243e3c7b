//! Server handshake: every RFC 6455 4.2.1 rule fed its violation, with the exact error and HTTP
//! status; incremental feeding; the 101 and error responses byte for byte.

extern crate std;

use super::*;
use crate::config::HandshakeLimits;
use crate::connection::{Event, Recv, Role, State};
use crate::frame::DataKind;
use crate::handshake::{ParamValue, EMPTY_HEADER};
use crate::test_support::XorShift;
use std::format;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

/// The request of RFC 6455 section 1.3.
const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 13\r\n\
\r\n";

const RFC_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The header lines of a minimal valid request.
const BASE: [(&str, &str); 5] = [
    ("Host", "server.example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("Sec-WebSocket-Version", "13"),
];

/// A request: `request_line`, the [`BASE`] headers except those named in `drop`, then `extra`
/// header lines as written.
fn request(request_line: &str, drop: &[&str], extra: &[&str]) -> Vec<u8> {
    let mut s = String::from(request_line);
    s.push_str("\r\n");
    for (name, value) in BASE {
        if !drop.iter().any(|d| d.eq_ignore_ascii_case(name)) {
            s.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    for line in extra {
        s.push_str(line);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// A valid request with `extra` header lines added.
fn valid_with(extra: &[&str]) -> Vec<u8> {
    request("GET /chat HTTP/1.1", &[], extra)
}

/// A request whose `name` header is replaced by the `lines` given.
fn replacing(name: &str, lines: &[&str]) -> Vec<u8> {
    request("GET /chat HTTP/1.1", &[name], lines)
}

/// An owned summary of a parsed request, to compare results of different feedings.
#[derive(Debug, PartialEq, Eq)]
struct Summary {
    path: String,
    host: String,
    origin: Option<String>,
    key: String,
    protocols: Vec<String>,
    extensions: Vec<String>,
    headers: usize,
    len: usize,
}

fn summary(req: &Request<'_, '_>) -> Summary {
    Summary {
        path: req.path().to_string(),
        host: req.host().to_string(),
        origin: req.origin().map(ToString::to_string),
        key: req.key().to_string(),
        protocols: req.protocols().map(ToString::to_string).collect(),
        extensions: req.extensions().map(|e| format!("{e:?}")).collect(),
        headers: req.headers().len(),
        len: req.len(),
    }
}

/// Parses `input` whole with the default config.
fn parse_whole(input: &[u8]) -> Result<Summary, HandshakeError> {
    parse_whole_with(input, Config::default(), 32)
}

fn parse_whole_with(
    input: &[u8],
    config: Config,
    header_slots: usize,
) -> Result<Summary, HandshakeError> {
    let mut hs = ServerHandshake::new(config);
    let mut headers = vec![EMPTY_HEADER; header_slots];
    match hs.parse(input, &mut headers)? {
        Status::Complete(req) => Ok(summary(&req)),
        Status::Partial => panic!(
            "whole input was partial: {:?}",
            String::from_utf8_lossy(input)
        ),
    }
}

/// Feeds `input` one byte at a time into one buffer that grows (parse is called on every prefix);
/// returns the first error or complete request, and checks that every earlier call was Partial.
fn parse_bytewise(input: &[u8], config: Config) -> Result<Summary, HandshakeError> {
    let mut hs = ServerHandshake::new(config);
    let mut buf = Vec::new();
    for &b in input {
        buf.push(b);
        let mut headers = [EMPTY_HEADER; 32];
        match hs.parse(&buf, &mut headers) {
            Ok(Status::Partial) => {}
            Ok(Status::Complete(req)) => return Ok(summary(&req)),
            Err(e) => return Err(e),
        }
    }
    panic!("never completed: {:?}", String::from_utf8_lossy(input));
}

/// Feeds `input` in two pieces split at `split`, the second call seeing the whole input.
fn parse_split(input: &[u8], split: usize) -> Result<Summary, HandshakeError> {
    let mut hs = ServerHandshake::new(Config::default());
    {
        let mut headers = [EMPTY_HEADER; 32];
        match hs.parse(&input[..split], &mut headers)? {
            Status::Partial => {}
            Status::Complete(req) => return Ok(summary(&req)),
        }
    }
    let mut headers = [EMPTY_HEADER; 32];
    match hs.parse(input, &mut headers)? {
        Status::Complete(req) => Ok(summary(&req)),
        Status::Partial => panic!("partial after the whole input (split {split})"),
    }
}

/// Feeds `input` in random reads (sizes 1 to 16, drawn from `seed`) into one growing buffer.
fn parse_chunked(input: &[u8], seed: u64) -> Result<Summary, HandshakeError> {
    let mut hs = ServerHandshake::new(Config::default());
    let mut x = XorShift::from_state(seed | 1);
    let mut end = 0;
    while end < input.len() {
        end = (end + x.upto(16)).min(input.len());
        let mut headers = [EMPTY_HEADER; 32];
        match hs.parse(&input[..end], &mut headers)? {
            Status::Partial => {}
            Status::Complete(req) => return Ok(summary(&req)),
        }
    }
    panic!("never completed: {:?}", String::from_utf8_lossy(input));
}

/// The response `write_error` writes for `error`, as text.
fn error_response(error: HandshakeError) -> String {
    let hs = ServerHandshake::new(Config::default());
    let mut out = [0u8; 256];
    let n = hs.write_error(error, &mut out).unwrap();
    String::from_utf8(out[..n].to_vec()).unwrap()
}

/// Asserts that `input` fails with `expected` and `status`, the same whole and byte by byte, and
/// that the error response starts with that status.
#[track_caller]
fn assert_rejected(input: &[u8], expected: HandshakeError, status: u16) {
    let text = String::from_utf8_lossy(input);
    assert_eq!(parse_whole(input), Err(expected), "whole: {text:?}");
    assert_eq!(
        parse_bytewise(input, Config::default()),
        Err(expected),
        "bytewise: {text:?}"
    );
    for seed in 1..=4 {
        assert_eq!(
            parse_chunked(input, seed),
            Err(expected),
            "chunks {seed}: {text:?}"
        );
    }
    assert_eq!(expected.status(), status, "{expected:?}");
    let response = error_response(expected);
    assert!(
        response.starts_with(&format!("HTTP/1.1 {status} ")),
        "{response:?}"
    );
}

/// Asserts that `input` is accepted, the same whole and byte by byte.
#[track_caller]
fn assert_accepted(input: &[u8]) -> Summary {
    let text = String::from_utf8_lossy(input);
    let whole = parse_whole(input).unwrap_or_else(|e| panic!("{e:?} for {text:?}"));
    assert_eq!(
        parse_bytewise(input, Config::default()).as_ref(),
        Ok(&whole),
        "{text:?}"
    );
    for seed in 1..=4 {
        assert_eq!(
            parse_chunked(input, seed).as_ref(),
            Ok(&whole),
            "chunks {seed}: {text:?}"
        );
    }
    assert_eq!(whole.len, input.len());
    whole
}

// ---- The RFC example and the 101 ----

#[test]
fn rfc6455_section_1_3_request_is_accepted() {
    let mut hs = ServerHandshake::new(Config::default());
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(req)) = hs.parse(RFC_REQUEST, &mut headers) else {
        panic!("not accepted");
    };
    assert_eq!(req.path(), "/chat");
    assert_eq!(req.host(), "server.example.com");
    assert_eq!(req.origin(), Some("http://example.com"));
    assert_eq!(req.key(), "dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(req.protocols().collect::<Vec<_>>(), ["chat", "superchat"]);
    assert_eq!(req.extensions().count(), 0);
    assert_eq!(req.headers().len(), 7);
    assert_eq!(req.header("SEC-WEBSOCKET-VERSION"), Some(&b"13"[..]));
    assert_eq!(req.header("x-absent"), None);
    assert_eq!(req.len(), RFC_REQUEST.len());

    let mut out = [0u8; 256];
    let (n, conn) = req.accept(&Accept::new(), &mut out).unwrap();
    assert_eq!(
        &out[..n],
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {RFC_ACCEPT}\r\n\r\n"
        )
        .as_bytes()
    );
    assert_eq!(conn.role(), Role::Server);
    assert_eq!(conn.state(), State::Open);
}

#[test]
fn accept_with_protocol_and_extra_headers() {
    let mut hs = ServerHandshake::new(Config::default());
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(req)) = hs.parse(RFC_REQUEST, &mut headers) else {
        panic!("not accepted");
    };
    let mut out = [0u8; 256];
    let extra: &[(&str, &[u8])] = &[("Server", b"sockless"), ("Set-Cookie", b"a=b; Path=/")];
    let (n, _) = req
        .accept(
            &Accept::new().protocol("superchat").headers(extra),
            &mut out,
        )
        .unwrap();
    assert_eq!(
        &out[..n],
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {RFC_ACCEPT}\r\nSec-WebSocket-Protocol: superchat\r\n\
             Server: sockless\r\nSet-Cookie: a=b; Path=/\r\n\r\n"
        )
        .as_bytes()
    );
}

/// The request with these extension offers, accepted with `accept`.
fn accept_offers(offers: &str, accept: &Accept<'_>) -> Result<(String, Rsv), HandshakeError> {
    let line = format!("Sec-WebSocket-Extensions: {offers}");
    let input = valid_with(&[&line]);
    let mut hs = ServerHandshake::new(Config::default());
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(req)) = hs.parse(&input, &mut headers) else {
        panic!("not parsed");
    };
    let mut out = [0u8; 512];
    let (n, conn) = req.accept(accept, &mut out)?;
    Ok((
        String::from_utf8(out[..n].to_vec()).unwrap(),
        conn.extension_bits(),
    ))
}

#[test]
fn accept_agrees_to_an_offered_extension_with_its_bits() {
    let offers = "permessage-deflate; client_max_window_bits, x-foo";
    let (text, bits) = accept_offers(
        offers,
        &Accept::new().extension("permessage-deflate; server_no_context_takeover", Rsv::RSV1),
    )
    .unwrap();
    assert!(text.contains(
        "\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
    ));
    assert_eq!(bits, Rsv::RSV1);
    let (text, bits) = accept_offers(
        offers,
        &Accept::new().extension("X-Foo, permessage-deflate", Rsv::RSV1 | Rsv::RSV2),
    )
    .unwrap();
    assert!(text.contains("\r\nSec-WebSocket-Extensions: X-Foo, permessage-deflate\r\n"));
    assert_eq!(bits, Rsv::RSV1 | Rsv::RSV2);
    // Without `extension`, offers are declined by omission.
    let (text, bits) = accept_offers(offers, &Accept::new()).unwrap();
    assert!(!text.contains("Sec-WebSocket-Extensions"));
    assert_eq!(bits, Rsv::NONE);
}

#[test]
fn accept_refuses_an_extension_answer_it_cannot_give() {
    let offers = "permessage-deflate, x-foo";
    for (value, expected) in [
        ("x-bar", HandshakeError::ExtensionNotOffered),
        ("x-foo, x-bar", HandshakeError::ExtensionNotOffered),
        ("", HandshakeError::InvalidHeader),
        (" , ", HandshakeError::InvalidHeader),
        ("x-foo, x-foo", HandshakeError::InvalidHeader),
        ("x-foo b", HandshakeError::InvalidHeader),
        ("x-foo\r\nInjected: 1", HandshakeError::InvalidHeader),
    ] {
        assert_eq!(
            accept_offers(offers, &Accept::new().extension(value, Rsv::RSV1)),
            Err(expected),
            "{value:?}"
        );
    }
}

#[test]
fn a_request_fed_byte_by_byte_is_scanned_once() {
    let head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let mut hs = ServerHandshake::new(Config::default());
    for end in 1..=head.len() {
        let mut headers = [EMPTY_HEADER; 8];
        assert!(hs.parse(&head[..end], &mut headers).is_ok());
    }
    assert_eq!(hs.bytes_examined(), head.len()); // not head.len()² / 2
}

#[test]
fn accept_can_be_called_again_on_the_same_request() {
    let mut hs = ServerHandshake::new(Config::default());
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(req)) = hs.parse(RFC_REQUEST, &mut headers) else {
        panic!("not accepted");
    };
    let mut a = [0u8; 256];
    let mut b = [0u8; 256];
    let (na, _) = req.accept(&Accept::new().protocol("chat"), &mut a).unwrap();
    let (nb, _) = req.accept(&Accept::new().protocol("chat"), &mut b).unwrap();
    assert_eq!(a[..na], b[..nb]);
}

// ---- Method and version ----

#[test]
fn method_must_be_get() {
    for line in [
        "POST /chat HTTP/1.1",
        "HEAD /chat HTTP/1.1",
        "PUT /chat HTTP/1.1",
        "OPTIONS /chat HTTP/1.1",
        "CONNECT /chat HTTP/1.1",
        "get /chat HTTP/1.1", // methods are case-sensitive (RFC 7230 3.1.1)
    ] {
        assert_rejected(&request(line, &[], &[]), HandshakeError::MethodNotGet, 405);
    }
    let response = error_response(HandshakeError::MethodNotGet);
    assert_eq!(
        response,
        "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    );
}

#[test]
fn http_1_0_is_refused() {
    assert_rejected(
        &request("GET /chat HTTP/1.0", &[], &[]),
        HandshakeError::HttpVersion,
        400,
    );
}

#[test]
fn http_1_0_upgrades_are_refused_with_or_without_host() {
    assert_rejected(
        b"GET /chat HTTP/1.0\r\nUpgrade: websocket\r\n\r\n",
        HandshakeError::HttpVersion,
        400,
    );
}

#[test]
fn a_plain_http_1_0_get_is_an_ordinary_request() {
    // HTTP/1.0 needs no Host (RFC 7230 5.4 asks it of 1.1), so a plain GET is reported as
    // NotUpgrade, for a server that also serves pages.
    for input in [
        &b"GET / HTTP/1.0\r\n\r\n"[..],
        b"GET /index.html HTTP/1.0\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n",
        b"GET / HTTP/1.0\r\nHost: example.com\r\n\r\n",
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    ] {
        assert_rejected(input, HandshakeError::NotUpgrade, 426);
    }
    // A Host it does send must still be valid, and not repeated.
    assert_rejected(
        b"GET / HTTP/1.0\r\nHost: a b\r\n\r\n",
        HandshakeError::InvalidHost,
        400,
    );
    assert_rejected(
        b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
        HandshakeError::MissingHost,
        400,
    );
    // HTTP/1.1 still needs a Host, upgrade or not.
    assert_rejected(b"GET / HTTP/1.1\r\n\r\n", HandshakeError::MissingHost, 400);
    assert_rejected(
        b"POST / HTTP/1.0\r\n\r\n",
        HandshakeError::MethodNotGet,
        405,
    );
}

#[test]
fn unknown_http_versions_are_malformed() {
    for line in [
        "GET /chat HTTP/2.0",
        "GET /chat HTTP/1.2",
        "GET /chat HTTP/0.9",
        "GET /chat http/1.1",
        "GET /chat HTTP/1",
        "GET /chat",
    ] {
        assert_rejected(&request(line, &[], &[]), HandshakeError::MalformedHttp, 400);
    }
}

// ---- Host ----

#[test]
fn host_must_be_present_once_and_non_empty() {
    assert_rejected(&replacing("host", &[]), HandshakeError::MissingHost, 400);
    assert_rejected(
        &valid_with(&["Host: other.example.com"]),
        HandshakeError::MissingHost,
        400,
    );
    assert_rejected(
        &valid_with(&["host: server.example.com"]),
        HandshakeError::MissingHost,
        400,
    );
    assert_rejected(
        &replacing("host", &["Host:"]),
        HandshakeError::MissingHost,
        400,
    );
    assert_rejected(
        &replacing("host", &["Host:   "]),
        HandshakeError::MissingHost,
        400,
    );
}

#[test]
fn host_is_trimmed_and_case_insensitive_by_name() {
    let s = assert_accepted(&replacing("host", &["hOsT:  example.com:8080  "]));
    assert_eq!(s.host, "example.com:8080");
}

#[test]
fn host_must_be_a_uri_host_with_an_optional_port() {
    // RFC 7230 5.4: a Host with an invalid field-value gets 400.
    for value in [
        "exa mple.com",
        "b\u{fc}cher.example",
        "example.com/chat",
        "user@example.com",
        "example.com:80:80",
        "example.com:http",
        "[::1",
        "[::1]x",
        "::1",
        "[fe80::1%25en0]",
        ":80",
        "a%zz",
        "a\"b",
        "{x}",
    ] {
        assert_rejected(
            &replacing("host", &[&format!("Host: {value}")]),
            HandshakeError::InvalidHost,
            400,
        );
    }
    // Not UTF-8 either.
    assert_rejected(
        &replacing("host", &["Host: \u{0}"])
            .iter()
            .map(|&b| if b == 0 { 0xFF } else { b })
            .collect::<Vec<u8>>(),
        HandshakeError::InvalidHost,
        400,
    );
    for value in [
        "127.0.0.1:9001",
        "[::1]:443",
        "[::ffff:192.0.2.1]",
        "[v1.x]",
        "b%C3%BCcher.example",
        "xn--bcher-kva.example",
        "example.com:",
        "localhost:65536",
    ] {
        let s = assert_accepted(&replacing("host", &[&format!("Host: {value}")]));
        assert_eq!(s.host, value);
    }
    assert_eq!(HandshakeError::InvalidHost.status(), 400);
}

// ---- Upgrade ----

#[test]
fn upgrade_must_name_websocket() {
    assert_rejected(&replacing("upgrade", &[]), HandshakeError::NotUpgrade, 426);
    for value in [
        "h2c",
        "websocket2",
        "web socket",
        "websocket/13",
        "",
        "foo, bar",
    ] {
        assert_rejected(
            &replacing("upgrade", &[&format!("Upgrade: {value}")]),
            HandshakeError::NotUpgrade,
            426,
        );
    }
    let response = error_response(HandshakeError::NotUpgrade);
    assert!(response.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
    assert!(response.contains("\r\nUpgrade: websocket\r\n"));
    assert!(response.contains("\r\nSec-WebSocket-Version: 13\r\n"));
}

#[test]
fn upgrade_token_is_case_insensitive_and_may_be_in_a_list() {
    for lines in [
        &["Upgrade: WebSocket"][..],
        &["Upgrade: WEBSOCKET"],
        &["Upgrade: foo, websocket"],
        &["Upgrade: websocket, foo/2"],
        &["Upgrade: \t websocket \t"],
        &["Upgrade: ,,websocket,,"],
        &["Upgrade: foo", "Upgrade: websocket"],
        &["upgrade: websocket"],
    ] {
        assert_accepted(&replacing("upgrade", lines));
    }
}

// ---- Connection ----

#[test]
fn connection_must_name_upgrade() {
    assert_rejected(
        &replacing("connection", &[]),
        HandshakeError::MissingConnectionUpgrade,
        400,
    );
    for value in ["keep-alive", "close", "Upgrade-Insecure", "up grade", ""] {
        assert_rejected(
            &replacing("connection", &[&format!("Connection: {value}")]),
            HandshakeError::MissingConnectionUpgrade,
            400,
        );
    }
    assert_rejected(
        &replacing(
            "connection",
            &["Connection: keep-alive", "Connection: close"],
        ),
        HandshakeError::MissingConnectionUpgrade,
        400,
    );
}

#[test]
fn connection_token_is_case_insensitive_and_may_be_in_a_list() {
    for lines in [
        &["Connection: keep-alive, Upgrade"][..],
        &["Connection: upgrade"],
        &["Connection: UPGRADE,keep-alive"],
        &["Connection: keep-alive", "Connection: upgrade"],
        &["Connection: Upgrade", "Connection: keep-alive"],
    ] {
        assert_accepted(&replacing("connection", lines));
    }
}

// ---- Sec-WebSocket-Version ----

#[test]
fn version_must_be_present_once() {
    assert_rejected(
        &replacing("sec-websocket-version", &[]),
        HandshakeError::MissingVersion,
        400,
    );
    assert_rejected(
        &valid_with(&["Sec-WebSocket-Version: 13"]),
        HandshakeError::MissingVersion,
        400,
    );
    assert_rejected(
        &valid_with(&["Sec-WebSocket-Version: 8"]),
        HandshakeError::MissingVersion,
        400,
    );
}

#[test]
fn version_other_than_13_gets_426_naming_13() {
    for value in ["8", "7", "14", "13, 8", "8, 13", "013", "13.0", ""] {
        assert_rejected(
            &replacing(
                "sec-websocket-version",
                &[&format!("Sec-WebSocket-Version: {value}")],
            ),
            HandshakeError::UnsupportedVersion,
            426,
        );
    }
    assert_eq!(
        error_response(HandshakeError::UnsupportedVersion),
        "HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Content-Length: 0\r\nConnection: Upgrade, close\r\n\r\n"
    );
}

#[test]
fn version_13_with_whitespace_is_accepted() {
    assert_accepted(&replacing(
        "sec-websocket-version",
        &["sec-websocket-version:   13 \t"],
    ));
}

// ---- Sec-WebSocket-Key ----

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    let mut out = [0u8; 64];
    let n = base64::engine::general_purpose::STANDARD
        .encode_slice(bytes, &mut out)
        .unwrap();
    String::from_utf8(out[..n].to_vec()).unwrap()
}

#[test]
fn key_must_be_base64_of_16_bytes() {
    assert_rejected(
        &replacing("sec-websocket-key", &[]),
        HandshakeError::InvalidKey,
        400,
    );
    assert_rejected(
        &valid_with(&["Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]),
        HandshakeError::InvalidKey,
        400,
    );
    assert_rejected(
        &valid_with(&["Sec-WebSocket-Key: AAECAwQFBgcICQoLDA0ODw=="]),
        HandshakeError::InvalidKey,
        400,
    );
    let fifteen = b64(b"0123456789abcde");
    let seventeen = b64(b"0123456789abcdefg");
    assert_eq!(fifteen.len(), 20);
    assert_eq!(seventeen.len(), 24);
    for value in [
        fifteen.as_str(),
        seventeen.as_str(),
        "dGhlIHNhbXBsZSBub25jZQ",   // unpadded
        "dGhlIHNhbXBsZSBub25jZQ=",  // short padding
        "dGhlIHNhbXBsZSBub25jZ!==", // not base64
        "dGhlIHNhbXBsZSBub25jZQ-_", // base64url alphabet
        "dGhl IHNhbXBsZSBub25jZQ==",
        "dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ==",
        "",
    ] {
        assert_rejected(
            &replacing(
                "sec-websocket-key",
                &[&format!("Sec-WebSocket-Key: {value}")],
            ),
            HandshakeError::InvalidKey,
            400,
        );
    }
}

#[test]
fn any_16_byte_key_is_accepted_and_answered() {
    for raw in [[0u8; 16], [0xFF; 16], *b"0123456789abcdef"] {
        let key = b64(&raw);
        let input = replacing(
            "sec-websocket-key",
            &[&format!("Sec-WebSocket-Key:  {key} ")],
        );
        let mut hs = ServerHandshake::new(Config::default());
        let mut headers = [EMPTY_HEADER; 16];
        let Ok(Status::Complete(req)) = hs.parse(&input, &mut headers) else {
            panic!("{key} refused");
        };
        assert_eq!(req.key(), key);
        let mut out = [0u8; 256];
        let (n, _) = req.accept(&Accept::new(), &mut out).unwrap();
        let expected = crate::handshake::AcceptKey::from_key(key.as_bytes());
        let line = format!("\r\nSec-WebSocket-Accept: {}\r\n", expected.as_str());
        assert!(String::from_utf8_lossy(&out[..n]).contains(&line));
    }
}

// ---- Sec-WebSocket-Protocol ----

#[test]
fn protocol_list_elements_must_be_tokens() {
    for value in [
        "chat, super chat",
        "chat; v=1",
        "chat, \"superchat\"",
        "chat, super/chat",
        "chat, (x)",
        "ch@t",
        "chat, caf\u{e9}",
    ] {
        assert_rejected(
            &valid_with(&[&format!("Sec-WebSocket-Protocol: {value}")]),
            HandshakeError::InvalidHeaderList,
            400,
        );
    }
    // A bad element in a second header fails too.
    assert_rejected(
        &valid_with(&[
            "Sec-WebSocket-Protocol: chat",
            "Sec-WebSocket-Protocol: a b",
        ]),
        HandshakeError::InvalidHeaderList,
        400,
    );
}

#[test]
fn protocol_list_skips_empty_elements() {
    let s = assert_accepted(&valid_with(&["Sec-WebSocket-Protocol: chat,,superchat"]));
    assert_eq!(s.protocols, ["chat", "superchat"]);
    let s = assert_accepted(&valid_with(&[
        "Sec-WebSocket-Protocol: , chat ,\t, v2.chat ,",
    ]));
    assert_eq!(s.protocols, ["chat", "v2.chat"]);
}

#[test]
fn repeated_protocol_headers_are_merged_in_order() {
    let input = valid_with(&[
        "Sec-WebSocket-Protocol: b, a",
        "X-Other: 1",
        "sec-websocket-protocol: c",
        "SEC-WEBSOCKET-PROTOCOL: d, e",
    ]);
    let s = assert_accepted(&input);
    assert_eq!(s.protocols, ["b", "a", "c", "d", "e"]);

    let mut hs = ServerHandshake::new(Config::default());
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(req)) = hs.parse(&input, &mut headers) else {
        panic!("refused");
    };
    let mut out = [0u8; 256];
    for p in ["a", "b", "c", "d", "e"] {
        let (n, _) = req.accept(&Accept::new().protocol(p), &mut out).unwrap();
        let line = format!("\r\nSec-WebSocket-Protocol: {p}\r\n");
        assert!(String::from_utf8_lossy(&out[..n]).contains(&line));
    }
}

#[test]
fn accept_with_a_protocol_not_offered() {
    let mut hs = ServerHandshake::new(Config::default());
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(req)) = hs.parse(RFC_REQUEST, &mut headers) else {
        panic!("refused");
    };
    let mut out = [0xAAu8; 256];
    for p in ["mqtt", "Chat", "chat, superchat", "", "cha"] {
        assert_eq!(
            req.accept(&Accept::new().protocol(p), &mut out).err(),
            Some(HandshakeError::ProtocolNotOffered),
            "{p:?}"
        );
    }
    assert_eq!(out, [0xAA; 256]);

    // No protocol offered at all.
    let input = valid_with(&[]);
    let mut hs = ServerHandshake::new(Config::default());
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(req)) = hs.parse(&input, &mut headers) else {
        panic!("refused");
    };
    assert_eq!(req.protocols().count(), 0);
    assert_eq!(
        req.accept(&Accept::new().protocol("chat"), &mut out).err(),
        Some(HandshakeError::ProtocolNotOffered)
    );
    assert_eq!(HandshakeError::ProtocolNotOffered.status(), 400);
}

// ---- Sec-WebSocket-Extensions ----

#[test]
fn extension_list_with_bad_syntax_is_refused() {
    for value in [
        "permessage-deflate; =1",
        "permessage-deflate;",
        "permessage-deflate; client_max_window_bits=",
        "permessage-deflate; client_max_window_bits=\"10",
        "permessage-deflate; client_max_window_bits=\"1 0\"",
        "permessage-deflate; client_max_window_bits=\"\"",
        "permessage-deflate x",
        "a=1",
        ";a",
        "foo, b@r",
    ] {
        assert_rejected(
            &valid_with(&[&format!("Sec-WebSocket-Extensions: {value}")]),
            HandshakeError::InvalidHeaderList,
            400,
        );
    }
    assert_rejected(
        &valid_with(&[
            "Sec-WebSocket-Extensions: permessage-deflate",
            "Sec-WebSocket-Extensions: a b",
        ]),
        HandshakeError::InvalidHeaderList,
        400,
    );
}

#[test]
fn extension_offers_are_exposed_with_their_parameters() {
    let input = valid_with(&[
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits; \
         server_max_window_bits=\"1\\0\", x-webkit-deflate-frame",
        "X-Between: 1",
        "sec-websocket-extensions: ,foo ; mode = Fast ; flag,",
    ]);
    assert_accepted(&input);
    let mut hs = ServerHandshake::new(Config::default());
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(req)) = hs.parse(&input, &mut headers) else {
        panic!("refused");
    };
    let exts: Vec<_> = req.extensions().collect();
    assert_eq!(
        exts.iter().map(|e| e.name()).collect::<Vec<_>>(),
        ["permessage-deflate", "x-webkit-deflate-frame", "foo"]
    );

    let params: Vec<_> = exts[0].params().collect();
    assert_eq!(params.len(), 2);
    assert_eq!(params[0].name(), "client_max_window_bits");
    assert_eq!(params[0].value(), None);
    assert_eq!(params[1].name(), "server_max_window_bits");
    let v: ParamValue<'_> = params[1].value().unwrap();
    assert!(v.is_quoted());
    assert_eq!(v.raw(), b"1\\0");
    assert_eq!(v.unescaped().collect::<Vec<u8>>(), b"10");
    assert_eq!(v.parse_u8(), Some(10));
    assert!(v.eq_ignore_ascii_case("10"));

    assert_eq!(exts[1].params().count(), 0);

    let params: Vec<_> = exts[2].params().collect();
    assert_eq!(params.len(), 2);
    assert_eq!(params[0].name(), "mode");
    let v = params[0].value().unwrap();
    assert!(!v.is_quoted());
    assert_eq!(v.raw(), b"Fast");
    assert!(v.eq_ignore_ascii_case("fast"));
    assert_eq!(v.parse_u8(), None);
    assert_eq!(params[1].name(), "flag");
    assert_eq!(params[1].value(), None);

    // Offers are declined by omission: the 101 has no extension header.
    let mut out = [0u8; 256];
    let (n, _) = req.accept(&Accept::new(), &mut out).unwrap();
    assert!(!String::from_utf8_lossy(&out[..n])
        .to_ascii_lowercase()
        .contains("extensions"));
}

// ---- A body, and Expect ----

#[test]
fn a_request_that_announces_a_body_is_refused() {
    // Its body would be read as frames. RFC 7230 3.3.3: an invalid Content-Length is an error too.
    for line in [
        "Content-Length: 5",
        "content-length: 0001",
        "Content-Length: abc",
        "Content-Length: -0",
        "Content-Length: 0, 0",
        "Content-Length: 0 0",
        "Content-Length:",
    ] {
        assert_rejected(
            &valid_with(&[line]),
            HandshakeError::UnexpectedContentLength,
            400,
        );
    }
    assert_rejected(
        &valid_with(&["Content-Length: 0", "Content-Length: 1"]),
        HandshakeError::UnexpectedContentLength,
        400,
    );
    for line in [
        "Transfer-Encoding: chunked",
        "transfer-encoding: gzip, chunked",
        "Transfer-Encoding: identity",
        "Transfer-Encoding:",
    ] {
        assert_rejected(
            &valid_with(&[line]),
            HandshakeError::UnexpectedTransferEncoding,
            400,
        );
        // Transfer-Encoding wins over a zero Content-Length (RFC 7230 3.3.3).
        assert_rejected(
            &valid_with(&["Content-Length: 0", line]),
            HandshakeError::UnexpectedTransferEncoding,
            400,
        );
    }
    for lines in [
        &["Content-Length: 0"][..],
        &["Content-Length:  000 "],
        &["Content-Length: 0", "content-length: 0"],
    ] {
        assert_accepted(&valid_with(lines));
    }
}

/// Parses `input` (which must be valid) and accepts it into `out`.
fn accept_into(input: &[u8], out: &mut [u8]) -> Result<usize, HandshakeError> {
    let mut hs = ServerHandshake::new(Config::default());
    let mut headers = [EMPTY_HEADER; 32];
    let Ok(Status::Complete(req)) = hs.parse(input, &mut headers) else {
        panic!("refused: {:?}", String::from_utf8_lossy(input));
    };
    req.accept(&Accept::new(), out).map(|(n, _)| n)
}

#[test]
fn expect_100_continue_gets_a_100_before_the_101() {
    // RFC 7230 6.7: a server that receives Upgrade and Expect: 100-continue MUST send a 100
    // before the 101.
    let expected = format!(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching Protocols\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {RFC_ACCEPT}\r\n\r\n"
    );
    for line in [
        "Expect: 100-continue",
        "expect: 100-Continue ",
        "EXPECT:\t100-CONTINUE",
    ] {
        let input = valid_with(&[line]);
        assert_accepted(&input);
        let mut out = [0u8; 512];
        let n = accept_into(&input, &mut out).unwrap();
        assert_eq!(String::from_utf8_lossy(&out[..n]), expected, "{line}");
        // Transactional: a buffer one byte short of both responses gets the total, untouched.
        for size in [0, 25, 26, n - 1] {
            let mut small = vec![0x77u8; size];
            assert_eq!(
                accept_into(&input, &mut small),
                Err(HandshakeError::BufferTooSmall(BufferTooSmall { needed: n })),
                "size {size}"
            );
            assert!(small.iter().all(|&b| b == 0x77));
        }
    }
    // Without Expect, no 100.
    let mut out = [0u8; 512];
    let n = accept_into(&valid_with(&[]), &mut out).unwrap();
    assert!(out[..n].starts_with(b"HTTP/1.1 101 "));
}

#[test]
fn other_expectations_get_417() {
    for lines in [
        &["Expect: 100-continue-please"][..],
        &["Expect: foo"],
        &["Expect:"],
        &["Expect: 100-continue, foo"],
        &["Expect: 100-continue", "Expect: foo"],
    ] {
        assert_rejected(
            &valid_with(lines),
            HandshakeError::UnsupportedExpectation,
            417,
        );
    }
    assert_eq!(
        error_response(HandshakeError::UnsupportedExpectation),
        "HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
}

// ---- Limits ----

fn small_head_config(max_head_len: usize) -> Config {
    Config {
        handshake: HandshakeLimits {
            max_head_len,
            max_headers: 64,
        },
        ..Config::default()
    }
}

#[test]
fn head_without_a_blank_line_past_the_limit_is_431() {
    // Whole: 8 KiB of header lines that never end, default limits.
    let mut input = b"GET /chat HTTP/1.1\r\n".to_vec();
    while input.len() < 9000 {
        input.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    assert_eq!(parse_whole(&input), Err(HandshakeError::HeadTooLarge));
    assert_eq!(HandshakeError::HeadTooLarge.status(), 431);
    assert!(error_response(HandshakeError::HeadTooLarge)
        .starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));

    // One line with no newline at all.
    let junk = vec![b'a'; 8192];
    assert_eq!(parse_whole(&junk), Err(HandshakeError::HeadTooLarge));
    let mut headers = [EMPTY_HEADER; 16];
    assert!(matches!(
        ServerHandshake::new(Config::default()).parse(&junk[..8191], &mut headers),
        Ok(Status::Partial)
    ));

    // Byte by byte into one growing buffer: Partial up to the limit, then the error exactly when
    // the buffer reaches the limit without a blank line.
    let limit = 64;
    let config = small_head_config(limit);
    let mut hs = ServerHandshake::new(config);
    let mut buf = Vec::new();
    for (i, &b) in RFC_REQUEST.iter().enumerate() {
        buf.push(b);
        let mut headers = [EMPTY_HEADER; 16];
        let r = hs.parse(&buf, &mut headers);
        if i + 1 < limit {
            assert!(matches!(r, Ok(Status::Partial)), "at {i}: {r:?}");
        } else {
            assert_eq!(r.err(), Some(HandshakeError::HeadTooLarge), "at {i}");
            break;
        }
    }
    assert_eq!(
        parse_whole_with(RFC_REQUEST, config, 16),
        Err(HandshakeError::HeadTooLarge)
    );
}

#[test]
fn head_limit_boundary() {
    let len = RFC_REQUEST.len();
    // A head of exactly the limit fits.
    let s = parse_whole_with(RFC_REQUEST, small_head_config(len), 16).unwrap();
    assert_eq!(s.len, len);
    assert_eq!(parse_bytewise(RFC_REQUEST, small_head_config(len)), Ok(s));
    // One byte less does not, whole or byte by byte, even with frame bytes after it.
    let mut with_frame = RFC_REQUEST.to_vec();
    with_frame.extend_from_slice(&[0x81, 0x80, 0, 0, 0, 0]);
    for input in [RFC_REQUEST, &with_frame[..]] {
        assert_eq!(
            parse_whole_with(input, small_head_config(len - 1), 16),
            Err(HandshakeError::HeadTooLarge)
        );
        assert_eq!(
            parse_bytewise(input, small_head_config(len - 1)),
            Err(HandshakeError::HeadTooLarge)
        );
    }
}

#[test]
fn too_many_headers_is_431() {
    // RFC_REQUEST has 7 header lines.
    assert!(parse_whole_with(RFC_REQUEST, Config::default(), 7).is_ok());
    for slots in [0, 1, 6] {
        assert_eq!(
            parse_whole_with(RFC_REQUEST, Config::default(), slots),
            Err(HandshakeError::TooManyHeaders),
            "{slots} slots"
        );
    }
    let mut config = Config::default();
    config.handshake.max_headers = 6;
    assert_eq!(
        parse_whole_with(RFC_REQUEST, config, 64),
        Err(HandshakeError::TooManyHeaders)
    );
    config.handshake.max_headers = 7;
    assert!(parse_whole_with(RFC_REQUEST, config, 64).is_ok());

    // 65 header lines against the default limit of 64, with a large array.
    let extra: Vec<String> = (0..60).map(|i| format!("X-H{i}: v")).collect();
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let input = valid_with(&extra);
    assert_eq!(
        parse_whole_with(&input, Config::default(), 100),
        Err(HandshakeError::TooManyHeaders)
    );
    assert_eq!(HandshakeError::TooManyHeaders.status(), 431);
    assert!(error_response(HandshakeError::TooManyHeaders).starts_with("HTTP/1.1 431 "));
}

// ---- Malformed HTTP ----

#[test]
fn malformed_heads_are_400() {
    let cases: &[&[u8]] = &[
        b"GET /chat HTTP/1.1\r\nHost server.example.com\r\n\r\n",
        b"GET /chat HTTP/1.1\r\nBad Name: x\r\n\r\n",
        b"GET /chat HTTP/1.1\r\n: empty-name\r\n\r\n",
        b"GET /chat HTTP/1.1\r\nX-A: a\x00b\r\n\r\n",
        b"GET /chat HTTP/1.1\r\nX-A: a\x7fb\r\n\r\n",
        b"GET /chat HTTP/1.1\r\nX(A): b\r\n\r\n",
        b"GET /chat  HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /ch at HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET\r\n\r\n",
        b"\r\n\r\n",
        b"\n\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", // TLS ClientHello
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"GET /chat HTTP/1.1\rHost: a\r\n\r\n",
    ];
    for input in cases {
        assert_rejected(input, HandshakeError::MalformedHttp, 400);
    }
    assert_eq!(
        error_response(HandshakeError::MalformedHttp),
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
}

#[test]
fn obs_fold_is_refused() {
    let input = valid_with(&["X-Folded: a", " continued"]);
    assert_rejected(&input, HandshakeError::MalformedHttp, 400);
}

#[test]
fn bare_lf_line_endings_are_accepted() {
    let lf: Vec<u8> = String::from_utf8(RFC_REQUEST.to_vec())
        .unwrap()
        .replace("\r\n", "\n")
        .into_bytes();
    let s = assert_accepted(&lf);
    let crlf = parse_whole(RFC_REQUEST).unwrap();
    assert_eq!(s.len, lf.len());
    assert_eq!(Summary { len: crlf.len, ..s }, crlf);
    // Mixed endings.
    let mixed = b"GET / HTTP/1.1\nHost: a\r\nUpgrade: websocket\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\n\r\n";
    assert_accepted(mixed);
}

#[test]
fn leading_empty_line_before_the_request_line() {
    // RFC 7230 3.5: a server SHOULD ignore at least one empty line before the request line.
    let mut input = b"\r\n".to_vec();
    input.extend_from_slice(RFC_REQUEST);
    let s = assert_accepted(&input);
    assert_eq!(s.path, "/chat");
    assert_eq!(s.len, input.len());
}

#[test]
fn path_and_query_are_kept_as_sent() {
    let s = assert_accepted(&request("GET /a/b%20c?x=1&y=%2F HTTP/1.1", &[], &[]));
    assert_eq!(s.path, "/a/b%20c?x=1&y=%2F");
    let s = assert_accepted(&request("GET * HTTP/1.1", &[], &[]));
    assert_eq!(s.path, "*");
    let s = assert_accepted(&request("GET http://h/x HTTP/1.1", &[], &[]));
    assert_eq!(s.path, "http://h/x");
}

#[test]
fn origin_is_optional_and_needs_utf8() {
    assert_eq!(assert_accepted(&valid_with(&[])).origin, None);
    let s = assert_accepted(&valid_with(&["Origin: https://a.example"]));
    assert_eq!(s.origin.as_deref(), Some("https://a.example"));
    let input = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: \xff\xfe\r\n\r\n"
        ;
    // Obs-text is allowed in a value; the origin is then not exposed as text.
    assert_eq!(assert_accepted(input).origin, None);
}

// ---- Incremental parsing and the bytes after the head ----

#[test]
fn every_split_point_gives_the_same_request() {
    let whole = parse_whole(RFC_REQUEST).unwrap();
    assert_eq!(whole.len, RFC_REQUEST.len());
    for split in 0..=RFC_REQUEST.len() {
        assert_eq!(
            parse_split(RFC_REQUEST, split).as_ref(),
            Ok(&whole),
            "split {split}"
        );
    }
    assert_eq!(parse_bytewise(RFC_REQUEST, Config::default()), Ok(whole));
}

#[test]
fn byte_at_a_time_is_partial_until_the_last_byte() {
    let mut hs = ServerHandshake::new(Config::default());
    for end in 0..RFC_REQUEST.len() {
        let mut headers = [EMPTY_HEADER; 16];
        assert!(
            matches!(
                hs.parse(&RFC_REQUEST[..end], &mut headers),
                Ok(Status::Partial)
            ),
            "complete at {end}"
        );
    }
    let mut headers = [EMPTY_HEADER; 16];
    assert!(matches!(
        hs.parse(RFC_REQUEST, &mut headers),
        Ok(Status::Complete(_))
    ));
}

/// A masked (key 0, so the payload reads as sent) text frame whose payload looks like a blank
/// line, so a scanner that looked past the head would find it.
const FRAME: [u8; 12] = [
    0x81, 0x86, 0, 0, 0, 0, b'\r', b'\n', b'\r', b'\n', b'h', b'i',
];

#[test]
fn bytes_after_the_head_are_not_part_of_it() {
    let mut input = RFC_REQUEST.to_vec();
    input.extend_from_slice(&FRAME);
    input.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
    let head = RFC_REQUEST.len();

    let whole = parse_whole(&input).unwrap();
    assert_eq!(whole.len, head);
    assert_eq!(
        parse_bytewise(&input, Config::default()).as_ref(),
        Ok(&whole)
    );
    for split in 0..=input.len() {
        assert_eq!(
            parse_split(&input, split).as_ref(),
            Ok(&whole),
            "split {split}"
        );
    }

    // The rest of the buffer is the client's first frame, and it decodes on the connection.
    let mut hs = ServerHandshake::new(Config::default());
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(req)) = hs.parse(&input, &mut headers) else {
        panic!("refused");
    };
    assert!(input[req.len()..].starts_with(&FRAME));
    let mut out = [0u8; 256];
    let (_, mut conn) = req.accept(&Accept::new(), &mut out).unwrap();
    let len = req.len();
    let mut rest = input[len..].to_vec();
    let r = conn.receive(&mut rest);
    assert_eq!(r.consumed, FRAME.len());
    assert_eq!(
        r.result,
        Ok(Recv::Event(Event::Data {
            kind: DataKind::Text,
            payload: &mut { *b"\r\n\r\nhi" },
            frame_remaining: 0,
            frame_done: true,
            message_done: true,
            rsv: crate::Rsv::NONE,
        }))
    );
}

#[test]
fn parse_after_complete_returns_the_same_request() {
    // A caller that drops the Request (for example to get the borrow of its buffer back) and
    // parses again must get the same head, not a scan of the frame bytes after it.
    let mut input = RFC_REQUEST.to_vec();
    input.extend_from_slice(&FRAME);
    let mut hs = ServerHandshake::new(Config::default());
    let first = {
        let mut headers = [EMPTY_HEADER; 16];
        let Ok(Status::Complete(req)) = hs.parse(&input, &mut headers) else {
            panic!("refused");
        };
        summary(&req)
    };
    for _ in 0..3 {
        let mut headers = [EMPTY_HEADER; 16];
        let Ok(Status::Complete(req)) = hs.parse(&input, &mut headers) else {
            panic!("second parse was not complete");
        };
        assert_eq!(summary(&req), first);
    }
    // Also when only the head itself is passed again.
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(req)) = hs.parse(RFC_REQUEST, &mut headers) else {
        panic!("third parse was not complete");
    };
    assert_eq!(summary(&req), first);
}

// ---- accept: extra headers and buffer size ----

#[test]
fn accept_refuses_extra_headers_that_cannot_be_written() {
    let mut hs = ServerHandshake::new(Config::default());
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(req)) = hs.parse(RFC_REQUEST, &mut headers) else {
        panic!("refused");
    };
    let bad: &[(&str, &[u8])] = &[
        ("X-Inject", b"a\r\nSet-Cookie: evil=1"),
        ("X-Cr", b"a\rb"),
        ("X-Lf", b"a\nb"),
        ("X-Nul", b"a\0b"),
        ("Bad Name", b"x"),
        ("Bad:Name", b"x"),
        ("Bad\r\nName", b"x"),
        ("", b"x"),
        ("Upgrade", b"websocket"),
        ("connection", b"close"),
        ("Sec-WebSocket-Accept", b"x"),
        ("SEC-WEBSOCKET-PROTOCOL", b"chat"),
        ("Sec-WebSocket-Extensions", b"permessage-deflate"),
        ("Sec-WebSocket-Key", b"x"),
        ("Sec-WebSocket-Version", b"13"),
        ("Host", b"x"),
    ];
    let mut out = [0x55u8; 512];
    for header in bad {
        let headers = [("Server", &b"ok"[..]), *header];
        assert_eq!(
            req.accept(&Accept::new().headers(&headers), &mut out).err(),
            Some(HandshakeError::InvalidHeader),
            "{header:?}"
        );
    }
    assert_eq!(out, [0x55; 512]);
    // Protocol not offered is reported before header problems.
    assert_eq!(
        req.accept(&Accept::new().protocol("x").headers(&bad[..1]), &mut out)
            .err(),
        Some(HandshakeError::ProtocolNotOffered)
    );
    assert_eq!(HandshakeError::InvalidHeader.status(), 400);
}

#[test]
fn accept_into_a_small_buffer_writes_nothing_and_can_be_retried() {
    let mut hs = ServerHandshake::new(Config::default());
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(req)) = hs.parse(RFC_REQUEST, &mut headers) else {
        panic!("refused");
    };
    let extra: &[(&str, &[u8])] = &[("Server", b"sockless")];
    let accept = Accept::new().protocol("chat").headers(extra);
    let mut reference = [0u8; 512];
    let (needed, _) = req.accept(&accept, &mut reference).unwrap();
    let expected = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {RFC_ACCEPT}\r\nSec-WebSocket-Protocol: chat\r\nServer: sockless\r\n\r\n"
    );
    assert_eq!(needed, expected.len());
    assert_eq!(&reference[..needed], expected.as_bytes());

    for size in [0, 1, 17, needed - 1] {
        let mut out = vec![0xAAu8; size];
        let err = req.accept(&accept, &mut out).err();
        assert_eq!(
            err,
            Some(HandshakeError::BufferTooSmall(BufferTooSmall { needed })),
            "size {size}"
        );
        assert!(out.iter().all(|&b| b == 0xAA), "size {size} was written to");
    }
    // Retry with exactly enough room.
    let mut out = vec![0u8; needed];
    let (n, conn) = req.accept(&accept, &mut out).unwrap();
    assert_eq!(n, needed);
    assert_eq!(out, expected.as_bytes());
    assert_eq!(conn.role(), Role::Server);
}

// ---- reject and write_error ----

#[test]
fn reject_writes_a_bodyless_refusal() {
    let mut hs = ServerHandshake::new(Config::default());
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(req)) = hs.parse(RFC_REQUEST, &mut headers) else {
        panic!("refused");
    };
    let mut out = [0u8; 256];
    let n = req.reject(403, &mut out).unwrap();
    let expected = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    assert_eq!(&out[..n], expected);

    let n = req.reject(404, &mut out).unwrap();
    assert_eq!(
        &out[..n],
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    // A status without a known phrase still makes a valid status line.
    let n = req.reject(418, &mut out).unwrap();
    assert!(out[..n].starts_with(b"HTTP/1.1 418 Error\r\n"));

    let mut small = [0x11u8; 20];
    assert_eq!(
        req.reject(403, &mut small),
        Err(BufferTooSmall {
            needed: expected.len()
        })
    );
    assert_eq!(small, [0x11; 20]);
}

#[test]
fn write_error_for_every_error() {
    use HandshakeError as E;
    let all = [
        (E::MalformedHttp, 400, "Bad Request"),
        (E::HeadTooLarge, 431, "Request Header Fields Too Large"),
        (E::TooManyHeaders, 431, "Request Header Fields Too Large"),
        (E::MethodNotGet, 405, "Method Not Allowed"),
        (E::HttpVersion, 400, "Bad Request"),
        (E::MissingHost, 400, "Bad Request"),
        (E::InvalidHost, 400, "Bad Request"),
        (E::UnexpectedContentLength, 400, "Bad Request"),
        (E::UnexpectedTransferEncoding, 400, "Bad Request"),
        (E::UnsupportedExpectation, 417, "Expectation Failed"),
        (E::NotUpgrade, 426, "Upgrade Required"),
        (E::MissingConnectionUpgrade, 400, "Bad Request"),
        (E::InvalidKey, 400, "Bad Request"),
        (E::MissingVersion, 400, "Bad Request"),
        (E::UnsupportedVersion, 426, "Upgrade Required"),
        (E::InvalidHeaderList, 400, "Bad Request"),
        (E::InvalidHeader, 400, "Bad Request"),
        (E::ProtocolNotOffered, 400, "Bad Request"),
        (E::UnexpectedStatus(403), 400, "Bad Request"),
        (E::AcceptMismatch, 400, "Bad Request"),
        (E::ExtensionNotOffered, 400, "Bad Request"),
        (E::ExtensionRefused, 400, "Bad Request"),
        (
            E::BufferTooSmall(BufferTooSmall { needed: 1 }),
            500,
            "Internal Server Error",
        ),
        (E::Random(crate::RandomError), 500, "Internal Server Error"),
    ];
    let hs = ServerHandshake::new(Config::default());
    for (error, status, reason) in all {
        assert_eq!(error.status(), status, "{error:?}");
        let mut out = [0u8; 160];
        let n = hs.write_error(error, &mut out).unwrap();
        let text = core::str::from_utf8(&out[..n]).unwrap();
        let mut expected = format!("HTTP/1.1 {status} {reason}\r\n");
        match status {
            426 => expected.push_str("Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"),
            405 => expected.push_str("Allow: GET\r\n"),
            _ => {}
        }
        expected.push_str("Content-Length: 0\r\n");
        if status == 426 {
            expected.push_str("Connection: Upgrade, close\r\n\r\n");
        } else {
            expected.push_str("Connection: close\r\n\r\n");
        }
        assert_eq!(text, expected, "{error:?}");
        assert!(!error.to_string().is_empty());

        // Too small: the exact size is reported and nothing is written.
        let mut small = vec![0x22u8; n - 1];
        assert_eq!(
            hs.write_error(error, &mut small),
            Err(BufferTooSmall { needed: n })
        );
        assert!(small.iter().all(|&b| b == 0x22));
    }
}

// ---- Responses the server writes follow RFC 7230 ----

#[test]
fn a_426_names_the_upgrade_in_connection_too() {
    // RFC 7230 6.7: a 426 MUST send Upgrade, and a sender of Upgrade MUST also send a
    // Connection field with the "upgrade" option; `close` stays, as the server closes after it.
    let expected = "HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\n\
                    Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\
                    Connection: Upgrade, close\r\n\r\n";
    for error in [
        HandshakeError::NotUpgrade,
        HandshakeError::UnsupportedVersion,
    ] {
        assert_eq!(error_response(error), expected, "{error:?}");
    }
    let mut hs = ServerHandshake::new(Config::default());
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(req)) = hs.parse(RFC_REQUEST, &mut headers) else {
        panic!("refused");
    };
    let mut out = [0u8; 256];
    let n = req.reject(426, &mut out).unwrap();
    assert_eq!(&out[..n], expected.as_bytes());
}

/// The IANA HTTP Status Code Registry, 1xx to 5xx, with the phrases of RFC 9110 (and of the
/// RFCs that define the others). 306 and 418 are registered as "(Unused)", and 104 only
/// temporarily, for a draft; they have no phrase.
const REGISTERED: [(u16, &str); 61] = [
    (100, "Continue"),
    (101, "Switching Protocols"),
    (102, "Processing"),
    (103, "Early Hints"),
    (200, "OK"),
    (201, "Created"),
    (202, "Accepted"),
    (203, "Non-Authoritative Information"),
    (204, "No Content"),
    (205, "Reset Content"),
    (206, "Partial Content"),
    (207, "Multi-Status"),
    (208, "Already Reported"),
    (226, "IM Used"),
    (300, "Multiple Choices"),
    (301, "Moved Permanently"),
    (302, "Found"),
    (303, "See Other"),
    (304, "Not Modified"),
    (305, "Use Proxy"),
    (307, "Temporary Redirect"),
    (308, "Permanent Redirect"),
    (400, "Bad Request"),
    (401, "Unauthorized"),
    (402, "Payment Required"),
    (403, "Forbidden"),
    (404, "Not Found"),
    (405, "Method Not Allowed"),
    (406, "Not Acceptable"),
    (407, "Proxy Authentication Required"),
    (408, "Request Timeout"),
    (409, "Conflict"),
    (410, "Gone"),
    (411, "Length Required"),
    (412, "Precondition Failed"),
    (413, "Content Too Large"),
    (414, "URI Too Long"),
    (415, "Unsupported Media Type"),
    (416, "Range Not Satisfiable"),
    (417, "Expectation Failed"),
    (421, "Misdirected Request"),
    (422, "Unprocessable Content"),
    (423, "Locked"),
    (424, "Failed Dependency"),
    (425, "Too Early"),
    (426, "Upgrade Required"),
    (428, "Precondition Required"),
    (429, "Too Many Requests"),
    (431, "Request Header Fields Too Large"),
    (451, "Unavailable For Legal Reasons"),
    (500, "Internal Server Error"),
    (501, "Not Implemented"),
    (502, "Bad Gateway"),
    (503, "Service Unavailable"),
    (504, "Gateway Timeout"),
    (505, "HTTP Version Not Supported"),
    (506, "Variant Also Negotiates"),
    (507, "Insufficient Storage"),
    (508, "Loop Detected"),
    (510, "Not Extended"),
    (511, "Network Authentication Required"),
];

#[test]
fn reject_uses_the_registered_reason_phrase_and_no_content_length_where_forbidden() {
    let mut hs = ServerHandshake::new(Config::default());
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(req)) = hs.parse(RFC_REQUEST, &mut headers) else {
        panic!("refused");
    };
    for (status, phrase) in REGISTERED {
        let mut expected = format!("HTTP/1.1 {status} {phrase}\r\n");
        match status {
            426 => expected.push_str("Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"),
            405 => expected.push_str("Allow: GET\r\n"),
            _ => {}
        }
        // RFC 7230 3.3.2: no Content-Length in a 1xx or 204, and none in a 304 (whose
        // Content-Length would describe the representation it stands for, not this response).
        if !matches!(status, 100..=199 | 204 | 304) {
            expected.push_str("Content-Length: 0\r\n");
        }
        if status == 426 {
            expected.push_str("Connection: Upgrade, close\r\n\r\n");
        } else {
            expected.push_str("Connection: close\r\n\r\n");
        }
        let mut out = [0u8; 256];
        let n = req.reject(status, &mut out).unwrap();
        assert_eq!(String::from_utf8_lossy(&out[..n]), expected);
        let mut small = vec![0x5Au8; n - 1];
        assert_eq!(
            req.reject(status, &mut small),
            Err(BufferTooSmall { needed: n })
        );
        assert!(small.iter().all(|&b| b == 0x5A));
    }
    assert_eq!(
        {
            let mut out = [0u8; 256];
            let n = req.reject(204, &mut out).unwrap();
            out[..n].to_vec()
        },
        b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
    );
}

// ---- Nothing panics ----

/// Parses `input` whole and byte by byte; both must agree (errors and requests alike).
fn check_consistent(input: &[u8]) {
    let whole = ServerHandshake::new(Config::default());
    let mut whole = whole;
    let mut headers = [EMPTY_HEADER; 16];
    let w = match whole.parse(input, &mut headers) {
        Ok(Status::Partial) => None,
        Ok(Status::Complete(req)) => Some(Ok(summary(&req))),
        Err(e) => Some(Err(e)),
    };
    let mut hs = ServerHandshake::new(Config::default());
    let mut b = None;
    for end in 0..=input.len() {
        let mut headers = [EMPTY_HEADER; 16];
        match hs.parse(&input[..end], &mut headers) {
            Ok(Status::Partial) => {}
            Ok(Status::Complete(req)) => {
                b = Some(Ok(summary(&req)));
                break;
            }
            Err(e) => {
                b = Some(Err(e));
                break;
            }
        }
    }
    assert_eq!(w, b, "{:?}", String::from_utf8_lossy(input));
    if let Some(Err(e)) = w {
        let mut out = [0u8; 160];
        assert!(whole.write_error(e, &mut out).is_ok());
    }
}

#[test]
fn a_head_that_starts_with_empty_lines_is_read_the_same_in_any_chunking() {
    // Found by the server_handshake fuzz target: httparse skips empty lines before the request
    // line, the head scanner ends the head at the first blank line.
    for prefix in [
        &b"\r\n"[..],
        b"\n",
        b"\n\n",
        b"\r\n\r\n",
        b"\n\r\n",
        b"\n\n\n\n",
    ] {
        let mut v = prefix.to_vec();
        v.extend_from_slice(RFC_REQUEST);
        check_consistent(&v);
    }
}

#[test]
fn mutated_requests_never_panic_and_do_not_depend_on_chunking() {
    let base = RFC_REQUEST;
    check_consistent(base);
    for i in 0..base.len() {
        // Delete a byte.
        let mut v = base.to_vec();
        v.remove(i);
        check_consistent(&v);
        // Replace it with interesting bytes.
        for b in [b'\r', b'\n', b' ', b':', b',', b'\0', 0x7F, 0x80, 0xFF] {
            let mut v = base.to_vec();
            v[i] = b;
            check_consistent(&v);
        }
        // Truncate.
        check_consistent(&base[..i]);
    }
}
