//! Client handshake: the request byte for byte, every refusal of a bad request or response with
//! its exact error, incremental feeding, and the bytes after the response head.

extern crate std;

use super::*;
use crate::config::HandshakeLimits;
use crate::connection::{Event, Recv, Role, State};
use crate::error::BufferTooSmall;
use crate::frame::{DataKind, Rsv};
use crate::handshake::EMPTY_HEADER;
use crate::rand::RandomError;
use crate::test_support::XorShift;
use std::format;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

/// The rng type of these tests: a plain function, so the handshake type can be named.
type Rng = fn(&mut [u8]) -> Result<(), RandomError>;

/// Fills with 0, 1, 2, ...: the key is then base64 of bytes 0..16.
fn counting(dest: &mut [u8]) -> Result<(), RandomError> {
    for (i, b) in dest.iter_mut().enumerate() {
        *b = i as u8;
    }
    Ok(())
}

fn failing(_: &mut [u8]) -> Result<(), RandomError> {
    Err(RandomError)
}

/// base64 of the bytes 0..16.
const KEY: &str = "AAECAwQFBgcICQoLDA0ODw==";

/// A handshake offering `protocols`, with the request it wrote.
fn handshake(protocols: &'static [&'static str]) -> (ClientHandshake<'static, Rng>, Vec<u8>) {
    let mut out = [0u8; 512];
    let req = ClientRequest::new("example.com", "/chat").protocols(protocols);
    let (hs, n) = ClientHandshake::new(req, Config::default(), counting as Rng, &mut out).unwrap();
    (hs, out[..n].to_vec())
}

fn accept_value() -> String {
    AcceptKey::from_key(KEY.as_bytes()).as_str().to_string()
}

/// A response head: `status_line`, then the header lines, then the blank line.
fn response(status_line: &str, lines: &[&str]) -> Vec<u8> {
    let mut s = String::from(status_line);
    s.push_str("\r\n");
    for line in lines {
        s.push_str(line);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// A valid 101 for [`KEY`] with `extra` lines.
fn ok_response(extra: &[&str]) -> Vec<u8> {
    let accept = format!("Sec-WebSocket-Accept: {}", accept_value());
    let mut lines = vec!["Upgrade: websocket", "Connection: Upgrade", accept.as_str()];
    lines.extend_from_slice(extra);
    response("HTTP/1.1 101 Switching Protocols", &lines)
}

/// Parses `input` whole with a handshake offering `protocols`, then finishes it.
fn finish_whole(
    protocols: &'static [&'static str],
    input: &[u8],
) -> Result<Connection<Rng>, HandshakeError> {
    let (mut hs, _) = handshake(protocols);
    let mut headers = [EMPTY_HEADER; 32];
    let Status::Complete(resp) = hs.parse(input, &mut headers)? else {
        panic!("partial: {:?}", String::from_utf8_lossy(input));
    };
    assert_eq!(resp.len(), input.len());
    hs.finish(&resp)
}

/// What a response fed to a fresh handshake gave: the response and the verdict of `finish`, or
/// the parse error, or `None` if it was still partial at the end.
type Outcome = Option<Result<(Summary, Result<Role, HandshakeError>), HandshakeError>>;

/// Feeds `input` to a handshake offering `protocols` in reads of `sizes()` bytes, appending to one
/// buffer, then finishes the response.
fn feed(
    protocols: &'static [&'static str],
    input: &[u8],
    mut sizes: impl FnMut() -> usize,
) -> Outcome {
    let (mut hs, _) = handshake(protocols);
    let mut end = 0;
    while end < input.len() {
        end = end.saturating_add(sizes().max(1)).min(input.len());
        let mut headers = [EMPTY_HEADER; 32];
        match hs.parse(&input[..end], &mut headers) {
            Ok(Status::Partial) => {}
            Ok(Status::Complete(resp)) => {
                let s = summary(&resp);
                return Some(Ok((s, hs.finish(&resp).map(|c| c.role()))));
            }
            Err(e) => return Some(Err(e)),
        }
    }
    None
}

/// Feeds `input` whole, byte by byte, split in two at every point and in random reads; asserts
/// they agree and returns the outcome.
#[track_caller]
fn feed_every_way(protocols: &'static [&'static str], input: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(input);
    let whole = feed(protocols, input, || usize::MAX);
    assert_eq!(feed(protocols, input, || 1), whole, "bytewise: {text:?}");
    for split in 1..input.len() {
        let mut first = true;
        let sizes = || {
            let n = if first { split } else { usize::MAX };
            first = false;
            n
        };
        assert_eq!(
            feed(protocols, input, sizes),
            whole,
            "split {split}: {text:?}"
        );
    }
    for seed in 1..=4u64 {
        let mut x = XorShift::from_state(seed);
        let sizes = || x.upto(16);
        assert_eq!(
            feed(protocols, input, sizes),
            whole,
            "chunks {seed}: {text:?}"
        );
    }
    whole
}

/// Asserts that the response `input` is refused by `finish` with `expected`.
#[track_caller]
fn assert_refused(protocols: &'static [&'static str], input: &[u8], expected: HandshakeError) {
    let r = finish_whole(protocols, input).map(|c| c.role());
    assert_eq!(r, Err(expected), "{:?}", String::from_utf8_lossy(input));
    let every = feed_every_way(protocols, input);
    assert_eq!(every.map(|r| r.map(|(_, f)| f)), Some(Ok(Err(expected))));
    // Client-side errors have no HTTP status of their own: they map to 400, except the variants
    // shared with the server side, which keep theirs.
    let status = match expected {
        HandshakeError::NotUpgrade => 426,
        _ => 400,
    };
    assert_eq!(expected.status(), status);
}

/// Asserts that the response `input` is accepted and gives a client connection.
#[track_caller]
fn assert_finished(protocols: &'static [&'static str], input: &[u8]) {
    let every = feed_every_way(protocols, input);
    assert_eq!(
        every.map(|r| r.map(|(_, f)| f)),
        Some(Ok(Ok(Role::Client))),
        "{:?}",
        String::from_utf8_lossy(input)
    );
    match finish_whole(protocols, input) {
        Ok(conn) => {
            assert_eq!(conn.role(), Role::Client);
            assert_eq!(conn.state(), State::Open);
        }
        Err(e) => panic!("{e:?}: {:?}", String::from_utf8_lossy(input)),
    }
}

// ---- The request ----

#[test]
fn request_bytes_are_exact() {
    let calls = core::cell::Cell::new(0);
    let rng = |dest: &mut [u8]| {
        calls.set(calls.get() + 1);
        assert_eq!(dest.len(), 16);
        counting(dest)
    };
    let extra: &[(&str, &[u8])] = &[("Authorization", b"Bearer abc"), ("X-Empty", b"")];
    let req = ClientRequest::new("example.com:8080", "/chat?room=1&x=%20y")
        .origin("http://example.com")
        .protocols(&["a", "b"])
        .headers(extra);
    let mut out = [0u8; 512];
    let (hs, n) = ClientHandshake::new(req, Config::default(), rng, &mut out).unwrap();
    let expected = format!(
        "GET /chat?room=1&x=%20y HTTP/1.1\r\n\
         Host: example.com:8080\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\n\
         Sec-WebSocket-Version: 13\r\n\
         Origin: http://example.com\r\n\
         Sec-WebSocket-Protocol: a, b\r\n\
         Authorization: Bearer abc\r\n\
         X-Empty: \r\n\
         \r\n"
    );
    assert_eq!(String::from_utf8_lossy(&out[..n]), expected);
    assert_eq!(calls.get(), 1);
    assert_eq!(hs.expected_accept(), &AcceptKey::from_key(KEY.as_bytes()));
}

#[test]
fn minimal_request_bytes_are_exact() {
    let (hs, bytes) = handshake(&[]);
    let expected = format!(
        "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    assert_eq!(String::from_utf8_lossy(&bytes), expected);
    assert_eq!(hs.expected_accept().as_str(), accept_value());

    let (_, bytes) = handshake(&["only"]);
    assert!(String::from_utf8_lossy(&bytes).contains("\r\nSec-WebSocket-Protocol: only\r\n"));
}

#[test]
fn the_key_is_base64_of_the_16_rng_bytes() {
    for fill in [0x00u8, 0xFF, 0x3E] {
        let rng = move |dest: &mut [u8]| -> Result<(), RandomError> {
            dest.fill(fill);
            Ok(())
        };
        let mut out = [0u8; 512];
        let (hs, n) = ClientHandshake::new(
            ClientRequest::new("h", "/"),
            Config::default(),
            rng,
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8_lossy(&out[..n]).to_string();
        let key_line = text
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap();
        assert!(crate::handshake::is_valid_key(key_line.as_bytes()));
        let mut decoded = [0u8; 18];
        use base64::Engine;
        let len = base64::engine::general_purpose::STANDARD
            .decode_slice(key_line, &mut decoded)
            .unwrap();
        assert_eq!(&decoded[..len], &[fill; 16]);
        assert_eq!(
            hs.expected_accept(),
            &AcceptKey::from_key(key_line.as_bytes())
        );
    }
}

#[test]
fn request_that_cannot_be_written_is_refused() {
    let bad_requests = [
        ClientRequest::new("example.com", ""),
        ClientRequest::new("example.com", "chat"),
        ClientRequest::new("example.com", "http://example.com/"),
        ClientRequest::new("example.com", "/a#b"),
        ClientRequest::new("example.com", "/").origin("http://a\r\nX-Injected: 1"),
        ClientRequest::new("example.com", "/").origin("http://a\n"),
        ClientRequest::new("example.com", "/").origin("http://a\0"),
        ClientRequest::new("example.com", "/").protocols(&["a b"]),
        ClientRequest::new("example.com", "/").protocols(&["ok", ""]),
        ClientRequest::new("example.com", "/").protocols(&["a,b"]),
        ClientRequest::new("example.com", "/").protocols(&["chat/1"]),
        ClientRequest::new("example.com", "/").protocols(&["caf\u{e9}"]),
        ClientRequest::new("example.com", "/").protocols(&["a\r\nX: 1"]),
    ];
    for req in bad_requests {
        let mut out = [0x33u8; 512];
        let r = ClientHandshake::new(req, Config::default(), counting as Rng, &mut out);
        assert_eq!(
            r.err().map(|e| (e, e.status())),
            Some((HandshakeError::InvalidHeader, 400)),
            "{req:?}"
        );
        assert_eq!(out, [0x33; 512], "{req:?} wrote");
    }
}

#[test]
fn a_host_that_is_not_uri_host_and_port_is_refused() {
    for host in [
        "",
        "exa mple.com",
        "example.com\r\nX-Injected: 1",
        "example.com\t",
        "example.com\0",
        "example.com\x7f",
        "b\u{fc}cher.example",
        "user@example.com",
        "example.com/chat",
        "example.com:80:80",
        "example.com:http",
        "::1",
        "[::1",
        "[fe80::1%25en0]",
        ":80",
        "a%zz",
    ] {
        let mut out = [0x33u8; 512];
        let req = ClientRequest::new(host, "/");
        let r = ClientHandshake::new(req, Config::default(), counting as Rng, &mut out);
        assert_eq!(
            r.err().map(|e| (e, e.status())),
            Some((HandshakeError::InvalidHost, 400)),
            "{host:?}"
        );
        assert_eq!(out, [0x33; 512], "{host:?} wrote");
    }
    for host in [
        "example.com",
        "example.com:8080",
        "127.0.0.1:9001",
        "[::1]:443",
        "[v1.x]",
        "xn--bcher-kva.example",
        "b%C3%BCcher.example",
    ] {
        let mut out = [0u8; 512];
        let req = ClientRequest::new(host, "/");
        let (_, n) = ClientHandshake::new(req, Config::default(), counting as Rng, &mut out)
            .unwrap_or_else(|e| panic!("{host:?}: {e:?}"));
        let line = format!("\r\nHost: {host}\r\n");
        assert!(
            String::from_utf8_lossy(&out[..n]).contains(&line),
            "{host:?}"
        );
    }
}

#[test]
fn the_request_target_is_percent_encoded_where_rfc_3986_needs_it() {
    for (path, written) in [
        ("/a b", "/a%20b"),
        ("/caf\u{e9}?q=\u{fc}", "/caf%C3%A9?q=%C3%BC"),
        ("/\"<>{}|\\^`", "/%22%3C%3E%7B%7D%7C%5C%5E%60"),
        ("/a HTTP/1.0\r\nX: y", "/a%20HTTP/1.0%0D%0AX:%20y"),
        ("/\r\n", "/%0D%0A"),
        ("/\t\0\x7f", "/%09%00%7F"),
        ("/100%?x=%41%zz", "/100%25?x=%41%25zz"),
        ("/chat?room=1&x=%20y", "/chat?room=1&x=%20y"),
        ("/a:b@c!$&'()*+,;=-._~/?/", "/a:b@c!$&'()*+,;=-._~/?/"),
    ] {
        let mut out = [0u8; 512];
        let req = ClientRequest::new("example.com", path);
        let (_, n) =
            ClientHandshake::new(req, Config::default(), counting as Rng, &mut out).unwrap();
        let line = format!("GET {written} HTTP/1.1\r\nHost: example.com\r\n");
        assert!(
            String::from_utf8_lossy(&out[..n]).starts_with(&line),
            "{path:?}: {:?}",
            String::from_utf8_lossy(&out[..n])
        );
        // The server reads it back as written, and the size measured first was exact.
        let mut server = crate::handshake::ServerHandshake::new(Config::default());
        let mut headers = [EMPTY_HEADER; 16];
        let Ok(Status::Complete(parsed)) = server.parse(&out[..n], &mut headers) else {
            panic!("{path:?} not parsable");
        };
        assert_eq!(parsed.path(), written);
        let mut exact = vec![0u8; n];
        assert!(ClientHandshake::new(req, Config::default(), counting as Rng, &mut exact).is_ok());
        let mut short = vec![0u8; n - 1];
        assert_eq!(
            ClientHandshake::new(req, Config::default(), counting as Rng, &mut short).err(),
            Some(HandshakeError::BufferTooSmall(BufferTooSmall { needed: n }))
        );
    }
}

// ---- Interim responses and folded header lines ----

/// Interim responses a server may send before the 101 (RFC 7231 6.2, RFC 8297).
const INTERIM: &str = "HTTP/1.1 100 Continue\r\n\r\n\
HTTP/1.1 102 Processing\r\nX-Step: 1\r\n\r\n\
HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\nLink: </a.js>\r\n\r\n\
HTTP/1.1 199 Whatever\r\n\r\n";

#[test]
fn interim_responses_before_the_101_are_skipped() {
    let mut input = INTERIM.as_bytes().to_vec();
    input.extend_from_slice(&ok_response(&[
        "Sec-WebSocket-Protocol: b",
        "Content-Length: 5",
    ]));
    let head = input.len();
    // A server frame right behind the 101: frames start after the 101's head, not at the end
    // of the first interim head, and a Content-Length on a 101 announces no body (RFC 7230 3.3.3).
    let frame = [0x81, 0x05, b'\r', b'\n', b'\r', b'\n', b'!'];
    input.extend_from_slice(&frame);

    let outcome = feed_every_way(&["a", "b"], &input);
    let Some(Ok((s, finish))) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(finish, Ok(Role::Client));
    assert_eq!(s.status, 101);
    assert_eq!(s.len, head);
    assert_eq!(s.protocol.as_deref(), Some("b"));
    assert_eq!(
        s.headers.len(),
        5,
        "the 101's headers only: {:?}",
        s.headers
    );

    // The frame is there for the connection, and each byte was scanned once.
    let (mut hs, _) = handshake(&["a", "b"]);
    for end in 1..head {
        let mut headers = [EMPTY_HEADER; 16];
        assert!(
            matches!(hs.parse(&input[..end], &mut headers), Ok(Status::Partial)),
            "{end}"
        );
    }
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(resp)) = hs.parse(&input, &mut headers) else {
        panic!("not complete");
    };
    assert_eq!(resp.len(), head);
    assert_eq!(hs.bytes_examined(), head);
    let mut conn = hs.finish(&resp).unwrap();
    let mut rest = input[head..].to_vec();
    let r = conn.receive(&mut rest);
    assert_eq!(r.consumed, frame.len());
    assert_eq!(
        r.result,
        Ok(Recv::Event(Event::Data {
            kind: DataKind::Text,
            payload: &mut { *b"\r\n\r\n!" },
            frame_remaining: 0,
            frame_done: true,
            message_done: true,
            rsv: crate::Rsv::NONE,
        }))
    );
}

#[test]
fn interim_responses_count_against_the_head_limit_in_total() {
    let mut input = INTERIM.as_bytes().to_vec();
    input.extend_from_slice(&ok_response(&[]));
    for (limit, expect_ok) in [
        (input.len(), true),
        (input.len() - 1, false),
        (INTERIM.len(), false),
    ] {
        let mut config = Config::default();
        config.handshake.max_head_len = limit;
        let mut out = [0u8; 512];
        let req = ClientRequest::new("example.com", "/chat");
        let (mut hs, _) = ClientHandshake::new(req, config, counting as Rng, &mut out).unwrap();
        let mut headers = [EMPTY_HEADER; 16];
        let r = hs
            .parse(&input, &mut headers)
            .map(|s| matches!(s, Status::Complete(_)));
        assert_eq!(
            r,
            if expect_ok {
                Ok(true)
            } else {
                Err(HandshakeError::HeadTooLarge)
            },
            "{limit}"
        );
    }
    // Endless interim responses end at the limit.
    let flood = "HTTP/1.1 100 Continue\r\n\r\n".repeat(1000);
    let (mut hs, _) = handshake(&[]);
    let mut headers = [EMPTY_HEADER; 16];
    assert_eq!(
        hs.parse(flood.as_bytes(), &mut headers).err(),
        Some(HandshakeError::HeadTooLarge)
    );
}

#[test]
fn a_malformed_interim_response_fails() {
    let mut input = b"HTTP/1.1 100 Continue\r\nBad Name: x\r\n\r\n".to_vec();
    input.extend_from_slice(&ok_response(&[]));
    assert_eq!(
        feed_every_way(&[], &input),
        Some(Err(HandshakeError::MalformedHttp))
    );
}

#[test]
fn folded_header_lines_are_read_as_one_value() {
    // RFC 7230 3.2.4: a user agent MUST replace each obs-fold with SP before interpreting.
    let accept = accept_value();
    for lines in [
        vec![
            "Upgrade: websocket".to_string(),
            "Connection: keep-alive,\r\n Upgrade".to_string(),
            format!("Sec-WebSocket-Accept: {accept}"),
        ],
        vec![
            "Upgrade:\r\n\twebsocket".to_string(),
            "Connection:\r\n Upgrade\r\n ".to_string(),
            format!("Sec-WebSocket-Accept:\r\n {accept}"),
        ],
        vec![
            "Upgrade: websocket\n ".to_string(),
            "Connection: keep-alive\n\t,\n Upgrade".to_string(),
            format!("Sec-WebSocket-Accept: \r\n  \r\n {accept} \r\n "),
            "Sec-WebSocket-Protocol:\r\n b".to_string(),
            "X-Folded: a\r\n b".to_string(),
        ],
    ] {
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let input = response("HTTP/1.1 101 Switching Protocols", &lines);
        assert_finished(&["a", "b"], &input);
    }
    // The folded value still has to be right once unfolded.
    let accept_line = format!("Sec-WebSocket-Accept: {accept}");
    for (bad, expected) in [
        ("Upgrade: web\r\n socket", HandshakeError::NotUpgrade),
        ("Upgrade: websocket,\r\n h2c", HandshakeError::NotUpgrade),
        (
            "Connection: Up\r\n grade",
            HandshakeError::MissingConnectionUpgrade,
        ),
    ] {
        let mut lines = vec![
            "Upgrade: websocket",
            "Connection: Upgrade",
            accept_line.as_str(),
        ];
        let name = bad.split(':').next().unwrap();
        lines.retain(|l| !l.starts_with(name));
        lines.push(bad);
        assert_refused(
            &[],
            &response("HTTP/1.1 101 Switching Protocols", &lines),
            expected,
        );
    }
    let split_accept = format!(
        "Sec-WebSocket-Accept: {}\r\n {}",
        &accept[..10],
        &accept[10..]
    );
    assert_refused(
        &[],
        &response(
            "HTTP/1.1 101 Switching Protocols",
            &["Upgrade: websocket", "Connection: Upgrade", &split_accept],
        ),
        HandshakeError::AcceptMismatch,
    );
}

#[test]
fn extra_headers_that_are_reserved_or_inject_are_refused() {
    let bad: &[(&str, &[u8])] = &[
        ("Host", b"evil.example"),
        ("host", b"x"),
        ("Upgrade", b"websocket"),
        ("CONNECTION", b"close"),
        ("Sec-WebSocket-Key", b"AAECAwQFBgcICQoLDA0ODw=="),
        ("sec-websocket-version", b"8"),
        ("Sec-WebSocket-Accept", b"x"),
        ("Sec-WebSocket-Protocol", b"chat"),
        ("Sec-WebSocket-Extensions", b"permessage-deflate"),
        ("X-Inject", b"1\r\nHost: evil.example"),
        ("X-Cr", b"a\rb"),
        ("X-Lf", b"a\nb"),
        ("X-Nul", b"\0"),
        ("Bad Name", b"x"),
        ("Bad:Name", b"x"),
        ("", b"x"),
        ("X\r\nY", b"x"),
    ];
    for header in bad {
        let headers = [("X-Fine", &b"1"[..]), *header];
        let req = ClientRequest::new("example.com", "/").headers(&headers);
        let mut out = [0x44u8; 512];
        let r = ClientHandshake::new(req, Config::default(), counting as Rng, &mut out);
        assert_eq!(r.err(), Some(HandshakeError::InvalidHeader), "{header:?}");
        assert_eq!(out, [0x44; 512]);
    }
}

#[test]
fn rng_failure_is_reported_and_nothing_is_written() {
    let mut out = [0x55u8; 512];
    let r = ClientHandshake::new(
        ClientRequest::new("example.com", "/"),
        Config::default(),
        failing as Rng,
        &mut out,
    );
    let err = r.err().unwrap();
    assert_eq!(err, HandshakeError::Random(RandomError));
    assert_eq!(err.status(), 500);
    assert_eq!(out, [0x55; 512]);
}

#[test]
fn small_output_buffer_writes_nothing() {
    let req = ClientRequest::new("example.com", "/chat").protocols(&["a", "b"]);
    let mut big = [0u8; 512];
    let (_, needed) =
        ClientHandshake::new(req, Config::default(), counting as Rng, &mut big).unwrap();
    for size in [0, 1, 16, needed - 1] {
        let mut out = vec![0x66u8; size];
        let r = ClientHandshake::new(req, Config::default(), counting as Rng, &mut out);
        assert_eq!(
            r.err(),
            Some(HandshakeError::BufferTooSmall(BufferTooSmall { needed })),
            "size {size}"
        );
        assert!(out.iter().all(|&b| b == 0x66), "size {size} was written to");
    }
    let mut out = vec![0u8; needed];
    let (_, n) = ClientHandshake::new(req, Config::default(), counting as Rng, &mut out).unwrap();
    assert_eq!(n, needed);
    assert_eq!(out, big[..needed]);
}

// ---- The response ----

#[test]
fn valid_101_finishes_as_a_client_connection() {
    let (mut hs, _) = handshake(&[]);
    let input = ok_response(&["Server: test"]);
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(resp)) = hs.parse(&input, &mut headers) else {
        panic!("not complete");
    };
    assert_eq!(resp.status(), 101);
    assert_eq!(resp.reason(), "Switching Protocols");
    assert_eq!(resp.len(), input.len());
    assert_eq!(resp.protocol(), None);
    assert_eq!(resp.header("server"), Some(&b"test"[..]));
    assert_eq!(resp.headers().len(), 4);
    let conn = hs.finish(&resp).unwrap();
    assert_eq!(conn.role(), Role::Client);
    assert_eq!(conn.state(), State::Open);
}

#[test]
fn tolerant_spellings_of_a_valid_101() {
    let accept = format!("Sec-WebSocket-Accept: {}", accept_value());
    let spaced = format!("sec-websocket-accept:   {} ", accept_value());
    for lines in [
        vec!["Upgrade: WebSocket", "Connection: upgrade", accept.as_str()],
        vec!["UPGRADE: websocket", "CONNECTION: UPGRADE", spaced.as_str()],
        vec![
            "Upgrade: websocket,",
            "Connection: keep-alive, Upgrade",
            accept.as_str(),
        ],
        vec![
            "Upgrade: websocket",
            "Connection: keep-alive",
            "Connection: Upgrade",
            accept.as_str(),
        ],
        vec![accept.as_str(), "Connection: Upgrade", "Upgrade: websocket"],
        vec![
            "Upgrade: websocket",
            "Connection: Upgrade",
            accept.as_str(),
            "Sec-WebSocket-Extensions:",
        ],
    ] {
        assert_finished(&[], &response("HTTP/1.1 101 Switching Protocols", &lines));
    }
    // Any reason phrase, or none.
    let accept_line = format!("Sec-WebSocket-Accept: {}", accept_value());
    let lines = [
        "Upgrade: websocket",
        "Connection: Upgrade",
        accept_line.as_str(),
    ];
    assert_finished(&[], &response("HTTP/1.1 101 OK", &lines));
    assert_finished(&[], &response("HTTP/1.1 101 ", &lines));
    // Bare LF line endings.
    let lf: Vec<u8> = String::from_utf8(ok_response(&[]))
        .unwrap()
        .replace("\r\n", "\n")
        .into_bytes();
    assert_finished(&[], &lf);
}

#[test]
fn other_statuses_are_reported_with_their_headers() {
    for (line, extra, code) in [
        ("HTTP/1.1 200 OK", "Content-Type: text/html", 200),
        ("HTTP/1.1 403 Forbidden", "X-Reason: origin", 403),
        (
            "HTTP/1.1 302 Found",
            "Location: https://example.com/ws",
            302,
        ),
        (
            "HTTP/1.1 401 Unauthorized",
            "WWW-Authenticate: Basic realm=\"x\"",
            401,
        ),
        (
            "HTTP/1.1 426 Upgrade Required",
            "Sec-WebSocket-Version: 13",
            426,
        ),
        ("HTTP/1.0 200 OK", "X-A: b", 200),
    ] {
        let input = response(line, &[extra, "Content-Length: 0"]);
        let (mut hs, _) = handshake(&[]);
        let mut headers = [EMPTY_HEADER; 16];
        let Ok(Status::Complete(resp)) = hs.parse(&input, &mut headers) else {
            panic!("{line} not complete");
        };
        assert_eq!(resp.status(), code);
        assert_eq!(resp.reason(), line.splitn(3, ' ').nth(2).unwrap());
        assert_eq!(resp.headers().len(), 2);
        let (name, value) = extra.split_once(": ").unwrap();
        assert_eq!(resp.header(name), Some(value.as_bytes()));
        assert_eq!(resp.len(), input.len());
        let err = hs.finish(&resp).err();
        assert_eq!(err, Some(HandshakeError::UnexpectedStatus(code)));
        assert_eq!(err.unwrap().status(), 400);
    }
    // A 101 status carrying all the right headers is still the only success: a 200 with them
    // is refused.
    let accept = format!("Sec-WebSocket-Accept: {}", accept_value());
    assert_refused(
        &[],
        &response(
            "HTTP/1.1 200 OK",
            &["Upgrade: websocket", "Connection: Upgrade", &accept],
        ),
        HandshakeError::UnexpectedStatus(200),
    );
}

#[test]
fn upgrade_must_name_websocket() {
    let accept = format!("Sec-WebSocket-Accept: {}", accept_value());
    for upgrade in [
        &[][..],
        &["Upgrade: h2c"],
        &["Upgrade: websocket2"],
        &["Upgrade:"],
        // RFC 6455 4.1: the value must be "websocket", not a list that contains it.
        &["Upgrade: websocket, h2c"],
        &["Upgrade: foo, websocket"],
        &["Upgrade: websocket, websocket"],
        &["Upgrade: websocket", "Upgrade: h2c"],
        &["Upgrade: websocket/13"],
    ] {
        let mut lines = vec!["Connection: Upgrade", accept.as_str()];
        lines.extend(upgrade);
        assert_refused(
            &[],
            &response("HTTP/1.1 101 Switching Protocols", &lines),
            HandshakeError::NotUpgrade,
        );
    }
}

#[test]
fn connection_must_name_upgrade() {
    let accept = format!("Sec-WebSocket-Accept: {}", accept_value());
    for connection in [
        None,
        Some("Connection: keep-alive"),
        Some("Connection: close"),
        Some("Connection: upgrades"),
        Some("Connection:"),
    ] {
        let mut lines = vec!["Upgrade: websocket", accept.as_str()];
        lines.extend(connection);
        assert_refused(
            &[],
            &response("HTTP/1.1 101 Switching Protocols", &lines),
            HandshakeError::MissingConnectionUpgrade,
        );
    }
}

#[test]
fn accept_must_match_our_key_exactly_once() {
    let right = accept_value();
    let rfc = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".to_string(); // the accept of another key
    let lower = right.to_ascii_lowercase();
    let truncated = right[..27].to_string();
    let with_junk = format!("{right}x");
    for accept_lines in [
        vec![],
        vec![format!("Sec-WebSocket-Accept: {rfc}")],
        vec![format!("Sec-WebSocket-Accept: {lower}")],
        vec![format!("Sec-WebSocket-Accept: {truncated}")],
        vec![format!("Sec-WebSocket-Accept: {with_junk}")],
        vec![format!("Sec-WebSocket-Accept: {KEY}")],
        vec!["Sec-WebSocket-Accept:".to_string()],
        vec![format!("Sec-WebSocket-Accept: {right}, {right}")],
        vec![
            format!("Sec-WebSocket-Accept: {right}"),
            format!("Sec-WebSocket-Accept: {right}"),
        ],
        vec![
            format!("Sec-WebSocket-Accept: {right}"),
            format!("sec-websocket-accept: {rfc}"),
        ],
    ] {
        let mut lines = vec!["Upgrade: websocket", "Connection: Upgrade"];
        lines.extend(accept_lines.iter().map(String::as_str));
        assert_refused(
            &[],
            &response("HTTP/1.1 101 Switching Protocols", &lines),
            HandshakeError::AcceptMismatch,
        );
    }
}

#[test]
fn subprotocol_must_be_one_we_offered() {
    // Offered and chosen.
    for chosen in ["a", "b"] {
        let line = format!("Sec-WebSocket-Protocol: {chosen}");
        let input = ok_response(&[&line]);
        let (mut hs, _) = handshake(&["a", "b"]);
        let mut headers = [EMPTY_HEADER; 16];
        let Ok(Status::Complete(resp)) = hs.parse(&input, &mut headers) else {
            panic!("not complete");
        };
        assert_eq!(resp.protocol(), Some(chosen));
        assert!(hs.finish(&resp).is_ok());
    }
    // None chosen although some were offered: allowed.
    assert_finished(&["a", "b"], &ok_response(&[]));
    // Whitespace around the value.
    assert_finished(&["a", "b"], &ok_response(&["Sec-WebSocket-Protocol:  b  "]));

    for (offered, lines) in [
        (&["a", "b"][..], &["Sec-WebSocket-Protocol: c"][..]),
        (&["a", "b"], &["Sec-WebSocket-Protocol: A"]),
        (&["a", "b"], &["Sec-WebSocket-Protocol: a, b"]),
        (
            &["a", "b"],
            &["Sec-WebSocket-Protocol: a", "Sec-WebSocket-Protocol: b"],
        ),
        (
            &["a", "b"],
            &["Sec-WebSocket-Protocol: a", "Sec-WebSocket-Protocol: a"],
        ),
        (&["a", "b"], &["Sec-WebSocket-Protocol:"]),
        (&[], &["Sec-WebSocket-Protocol: a"]),
    ] {
        let (mut hs, _) = handshake(offered);
        let input = ok_response(lines);
        let mut headers = [EMPTY_HEADER; 16];
        let Ok(Status::Complete(resp)) = hs.parse(&input, &mut headers) else {
            panic!("not complete");
        };
        assert_eq!(
            hs.finish(&resp).err(),
            Some(HandshakeError::ProtocolNotOffered),
            "{offered:?} {lines:?}"
        );
    }
}

#[test]
fn any_extension_in_the_response_is_refused() {
    for value in [
        "permessage-deflate",
        "permessage-deflate; server_no_context_takeover",
        "x-webkit-deflate-frame",
        ", foo",
    ] {
        let line = format!("Sec-WebSocket-Extensions: {value}");
        assert_refused(
            &[],
            &ok_response(&[&line]),
            HandshakeError::ExtensionNotOffered,
        );
    }
    assert_refused(
        &[],
        &ok_response(&[
            "Sec-WebSocket-Extensions: ",
            "Sec-WebSocket-Extensions: foo",
        ]),
        HandshakeError::ExtensionNotOffered,
    );
}

#[test]
fn a_malformed_extension_answer_is_refused() {
    assert_refused(
        &[],
        &ok_response(&["Sec-WebSocket-Extensions: b@d syntax"]),
        HandshakeError::InvalidHeaderList,
    );
}

// ---- Offering extensions ----

/// A handshake offering `offers`, with the request it wrote.
fn offering(offers: &'static [&'static str]) -> (ClientHandshake<'static, Rng>, Vec<u8>) {
    let mut out = [0u8; 512];
    let req = ClientRequest::new("example.com", "/chat").extensions(offers);
    let (hs, n) = ClientHandshake::new(req, Config::default(), counting as Rng, &mut out).unwrap();
    (hs, out[..n].to_vec())
}

/// Finishes a handshake offering `offers` with a 101 carrying `lines`, with a check that
/// records the agreed extensions' names and grants RSV1 for permessage-deflate.
fn finish_offering(
    offers: &'static [&'static str],
    lines: &[&str],
) -> (Result<Connection<Rng>, HandshakeError>, Vec<String>) {
    let (mut hs, _) = offering(offers);
    let input = ok_response(lines);
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(resp)) = hs.parse(&input, &mut headers) else {
        panic!("not parsed");
    };
    let mut seen = Vec::new();
    let r = hs.finish_with_extensions(&resp, |resp| {
        seen.extend(resp.extensions().map(|e| {
            let params: Vec<String> = e.params().map(|p| p.name().to_string()).collect();
            format!("{}{}", e.name(), params.concat())
        }));
        Ok(
            if resp.extensions().any(|e| e.name() == "permessage-deflate") {
                Rsv::RSV1
            } else {
                Rsv::NONE
            },
        )
    });
    (r, seen)
}

#[test]
fn offers_are_written_in_one_header_in_order() {
    let (_, request) = offering(&["permessage-deflate; client_max_window_bits", "x-foo"]);
    let text = String::from_utf8(request).unwrap();
    assert!(
        text.contains(
            "\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo\r\n"
        ),
        "{text}"
    );
    let (_, request) = offering(&[]);
    assert!(!String::from_utf8(request)
        .unwrap()
        .contains("Sec-WebSocket-Extensions"));
}

#[test]
fn offers_that_are_not_one_extension_are_refused() {
    for bad in [
        &[""][..],
        &["a, b"],
        &["a b"],
        &["a; b="],
        &["a;\r\nInjected: 1"],
        &["ok", "a; b=\"c d\""],
    ] {
        let req = ClientRequest::new("example.com", "/").extensions(bad);
        let r = ClientHandshake::new(req, Config::default(), counting as Rng, &mut [0u8; 512]);
        assert_eq!(r.map(|_| ()), Err(HandshakeError::InvalidHeader), "{bad:?}");
    }
}

#[test]
fn an_agreed_extension_gives_the_connection_its_bits() {
    let offers = &[
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate",
    ];
    let (r, seen) = finish_offering(
        offers,
        &["Sec-WebSocket-Extensions: Permessage-Deflate; server_no_context_takeover"],
    );
    // Names compare without case; the check sees the server's spelling.
    assert_eq!(r.map(|c| c.extension_bits()), Ok(Rsv::NONE));
    assert_eq!(seen, ["Permessage-Deflateserver_no_context_takeover"]);
    let (r, seen) = finish_offering(
        offers,
        &["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10"],
    );
    assert_eq!(r.map(|c| c.extension_bits()), Ok(Rsv::RSV1));
    assert_eq!(seen, ["permessage-deflateclient_max_window_bits"]);
    // No extension agreed: the check still runs, and sees none.
    let (r, seen) = finish_offering(offers, &[]);
    assert_eq!(r.map(|c| c.extension_bits()), Ok(Rsv::NONE));
    assert!(seen.is_empty());
}

#[test]
fn agreed_extensions_must_be_offered_and_named_once() {
    let offers = &["permessage-deflate", "x-foo"];
    for (lines, expected) in [
        (
            &["Sec-WebSocket-Extensions: x-bar"][..],
            HandshakeError::ExtensionNotOffered,
        ),
        (
            &["Sec-WebSocket-Extensions: x-foo, x-bar"],
            HandshakeError::ExtensionNotOffered,
        ),
        (
            &["Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate"],
            HandshakeError::ExtensionRefused,
        ),
        (
            &[
                "Sec-WebSocket-Extensions: x-foo",
                "Sec-WebSocket-Extensions: X-FOO; a=1",
            ],
            HandshakeError::ExtensionRefused,
        ),
        (
            &["Sec-WebSocket-Extensions: x-foo; a=\"b c\""],
            HandshakeError::InvalidHeaderList,
        ),
    ] {
        let (r, seen) = finish_offering(offers, lines);
        assert_eq!(r.map(|_| ()), Err(expected), "{lines:?}");
        assert!(seen.is_empty(), "the check runs only on a valid answer");
    }
    // Both offered, each once: fine.
    let (r, seen) = finish_offering(
        offers,
        &[
            "Sec-WebSocket-Extensions: x-foo",
            "Sec-WebSocket-Extensions: permessage-deflate",
        ],
    );
    assert_eq!(r.map(|c| c.extension_bits()), Ok(Rsv::RSV1));
    assert_eq!(seen, ["x-foo", "permessage-deflate"]);
}

#[test]
fn the_check_can_refuse_and_finish_agrees_to_no_extension() {
    let (mut hs, _) = offering(&["permessage-deflate"]);
    let input = ok_response(&["Sec-WebSocket-Extensions: permessage-deflate; bogus"]);
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(resp)) = hs.parse(&input, &mut headers) else {
        panic!("not parsed");
    };
    let refused = hs
        .clone()
        .finish_with_extensions(&resp, |_| Err(HandshakeError::ExtensionRefused));
    assert_eq!(refused.map(|_| ()), Err(HandshakeError::ExtensionRefused));
    assert_eq!(
        hs.finish(&resp).map(|_| ()),
        Err(HandshakeError::ExtensionRefused)
    );
}

#[test]
fn http_1_0_101_is_refused() {
    let accept = format!("Sec-WebSocket-Accept: {}", accept_value());
    let input = response(
        "HTTP/1.0 101 Switching Protocols",
        &["Upgrade: websocket", "Connection: Upgrade", &accept],
    );
    assert_refused(&[], &input, HandshakeError::HttpVersion);
}

#[test]
fn malformed_responses() {
    let cases: &[&[u8]] = &[
        b"HTTP/1.1 abc Switching Protocols\r\n\r\n",
        b"HTTP/1.1 1010 Too Long\r\n\r\n",
        b"HTTP/2 101\r\n\r\n",
        b"HTTP/1.1\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade websocket\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nBad Name: x\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nX: a\0b\r\n\r\n",
        b"\r\n\r\n",
    ];
    for input in cases {
        let (mut hs, _) = handshake(&[]);
        let mut headers = [EMPTY_HEADER; 16];
        let r = hs.parse(input, &mut headers).err();
        assert_eq!(
            r,
            Some(HandshakeError::MalformedHttp),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

// ---- Limits ----

#[test]
fn head_limit_is_enforced() {
    let input = ok_response(&["Server: a-rather-long-server-name-to-make-the-head-longer"]);
    for limit in [16, 64, input.len() - 1] {
        let config = Config {
            handshake: HandshakeLimits {
                max_head_len: limit,
                max_headers: 64,
            },
            ..Config::default()
        };
        let mut out = [0u8; 512];
        let (mut hs, _) = ClientHandshake::new(
            ClientRequest::new("example.com", "/chat"),
            config,
            counting as Rng,
            &mut out,
        )
        .unwrap();
        let mut buf = Vec::new();
        let mut result = None;
        for (i, &b) in input.iter().enumerate() {
            buf.push(b);
            let mut headers = [EMPTY_HEADER; 16];
            match hs.parse(&buf, &mut headers) {
                Ok(Status::Partial) => assert!(i + 1 < limit, "partial at {i}, limit {limit}"),
                Ok(Status::Complete(_)) => panic!("complete past the limit {limit}"),
                Err(e) => {
                    result = Some((i + 1, e));
                    break;
                }
            }
        }
        let (at, err) = result.unwrap();
        assert_eq!(err, HandshakeError::HeadTooLarge);
        assert_eq!(err.status(), 431);
        assert_eq!(at, limit);

        let (mut hs, _) = ClientHandshake::new(
            ClientRequest::new("example.com", "/chat"),
            config,
            counting as Rng,
            &mut out,
        )
        .unwrap();
        let mut headers = [EMPTY_HEADER; 16];
        assert_eq!(
            hs.parse(&input, &mut headers).err(),
            Some(HandshakeError::HeadTooLarge)
        );
    }
    // Exactly at the limit fits.
    let mut config = Config::default();
    config.handshake.max_head_len = input.len();
    let mut out = [0u8; 512];
    let (mut hs, _) = ClientHandshake::new(
        ClientRequest::new("example.com", "/chat"),
        config,
        counting as Rng,
        &mut out,
    )
    .unwrap();
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(resp)) = hs.parse(&input, &mut headers) else {
        panic!("refused at the limit");
    };
    assert!(hs.finish(&resp).is_ok());

    // Endless junk with the default limit.
    let junk = vec![b'x'; 10_000];
    let (mut hs, _) = handshake(&[]);
    let mut headers = [EMPTY_HEADER; 16];
    assert_eq!(
        hs.parse(&junk, &mut headers).err(),
        Some(HandshakeError::HeadTooLarge)
    );
}

#[test]
fn too_many_headers() {
    let input = ok_response(&["A: 1", "B: 2"]); // 5 header lines
    for slots in [0, 4] {
        let (mut hs, _) = handshake(&[]);
        let mut headers = vec![EMPTY_HEADER; slots];
        let err = hs.parse(&input, &mut headers).err();
        assert_eq!(err, Some(HandshakeError::TooManyHeaders));
        assert_eq!(err.unwrap().status(), 431);
    }
    let (mut hs, _) = handshake(&[]);
    let mut headers = [EMPTY_HEADER; 5];
    assert!(matches!(
        hs.parse(&input, &mut headers),
        Ok(Status::Complete(_))
    ));

    let mut config = Config::default();
    config.handshake.max_headers = 4;
    let mut out = [0u8; 512];
    let (mut hs, _) = ClientHandshake::new(
        ClientRequest::new("example.com", "/chat"),
        config,
        counting as Rng,
        &mut out,
    )
    .unwrap();
    let mut headers = [EMPTY_HEADER; 64];
    assert_eq!(
        hs.parse(&input, &mut headers).err(),
        Some(HandshakeError::TooManyHeaders)
    );
}

// ---- Incremental parsing and the bytes after the head ----

/// An owned view of a parsed response.
#[derive(Debug, PartialEq, Eq)]
struct Summary {
    status: u16,
    reason: String,
    protocol: Option<String>,
    headers: Vec<(String, Vec<u8>)>,
    len: usize,
}

fn summary(resp: &Response<'_, '_>) -> Summary {
    Summary {
        status: resp.status(),
        reason: resp.reason().to_string(),
        protocol: resp.protocol().map(ToString::to_string),
        headers: resp
            .headers()
            .iter()
            .map(|h| (h.name.to_string(), h.value.to_vec()))
            .collect(),
        len: resp.len(),
    }
}

#[test]
fn response_fed_byte_by_byte_or_split_anywhere() {
    let mut input = ok_response(&["Sec-WebSocket-Protocol: b"]);
    let head = input.len();
    // A server frame right after the 101, whose payload looks like a blank line.
    let frame = [0x81, 0x05, b'\r', b'\n', b'\r', b'\n', b'!'];
    input.extend_from_slice(&frame);

    let (mut hs, _) = handshake(&["a", "b"]);
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(resp)) = hs.parse(&input, &mut headers) else {
        panic!("not complete");
    };
    let whole = summary(&resp);
    assert_eq!(whole.len, head);
    assert_eq!(whole.protocol.as_deref(), Some("b"));

    // One byte at a time into one growing buffer.
    let (mut hs, _) = handshake(&["a", "b"]);
    let mut done = None;
    for end in 1..=input.len() {
        let mut headers = [EMPTY_HEADER; 16];
        match hs.parse(&input[..end], &mut headers).unwrap() {
            Status::Partial => assert!(end < head, "partial at {end}"),
            Status::Complete(resp) => {
                assert_eq!(end, head);
                done = Some(summary(&resp));
                break;
            }
        }
    }
    assert_eq!(done.as_ref(), Some(&whole));
    // Parsing again after completion gives the same head, not a scan of the frame bytes.
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(again)) = hs.parse(&input, &mut headers) else {
        panic!("second parse not complete");
    };
    assert_eq!(summary(&again), whole);
    assert!(hs.finish(&again).is_ok());

    // Every split point.
    for split in 0..=input.len() {
        let (mut hs, _) = handshake(&["a", "b"]);
        {
            let mut headers = [EMPTY_HEADER; 16];
            if let Status::Complete(resp) = hs.parse(&input[..split], &mut headers).unwrap() {
                assert_eq!(summary(&resp), whole, "split {split}");
                continue;
            }
        }
        let mut headers = [EMPTY_HEADER; 16];
        let Ok(Status::Complete(resp)) = hs.parse(&input, &mut headers) else {
            panic!("split {split}: not complete");
        };
        assert_eq!(summary(&resp), whole, "split {split}");
    }
}

#[test]
fn frames_after_the_101_go_to_the_connection() {
    let mut input = ok_response(&[]);
    let head = input.len();
    // Text "Hello" (RFC 6455 5.7, unmasked as a server sends it), then a Ping "hi".
    let text = [0x81, 0x05, b'H', b'e', b'l', b'l', b'o'];
    let ping = [0x89, 0x02, b'h', b'i'];
    input.extend_from_slice(&text);
    input.extend_from_slice(&ping);

    let (mut hs, _) = handshake(&[]);
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(resp)) = hs.parse(&input, &mut headers) else {
        panic!("not complete");
    };
    assert_eq!(resp.len(), head);
    assert!(input[resp.len()..].starts_with(&text));
    let len = resp.len();
    let mut conn = hs.finish(&resp).unwrap();
    assert_eq!(conn.role(), Role::Client);

    let mut rest = input[len..].to_vec();
    let r = conn.receive(&mut rest);
    assert_eq!(r.consumed, text.len());
    assert_eq!(
        r.result,
        Ok(Recv::Event(Event::Data {
            kind: DataKind::Text,
            payload: &mut { *b"Hello" },
            frame_remaining: 0,
            frame_done: true,
            message_done: true,
            rsv: crate::Rsv::NONE,
        }))
    );
    let r = conn.receive(&mut rest[text.len()..]);
    assert_eq!(r.consumed, ping.len());
    assert_eq!(r.result, Ok(Recv::Event(Event::Ping(b"hi"))));
    // The client answers with a masked Pong: its masking key comes from the handshake's rng.
    let mut out = [0u8; 64];
    let n = conn.poll_transmit(&mut out).unwrap();
    assert_eq!(out[0], 0x8A);
    assert_eq!(out[1], 0x82);
    assert_eq!(n, 2 + 4 + 2);
}

// ---- Nothing panics ----

#[test]
fn mutated_responses_never_panic_and_do_not_depend_on_chunking() {
    let base = ok_response(&["Sec-WebSocket-Protocol: a"]);
    let run = |input: &[u8]| {
        // Whole.
        let (mut hs, _) = handshake(&["a"]);
        let mut headers = [EMPTY_HEADER; 16];
        let whole = match hs.parse(input, &mut headers) {
            Ok(Status::Partial) => None,
            Ok(Status::Complete(resp)) => {
                let s = summary(&resp);
                Some(Ok((s, hs.finish(&resp).map(|c| c.role()))))
            }
            Err(e) => Some(Err(e)),
        };
        // Byte by byte.
        let (mut hs, _) = handshake(&["a"]);
        let mut bytewise = None;
        for end in 0..=input.len() {
            let mut headers = [EMPTY_HEADER; 16];
            match hs.parse(&input[..end], &mut headers) {
                Ok(Status::Partial) => {}
                Ok(Status::Complete(resp)) => {
                    let s = summary(&resp);
                    bytewise = Some(Ok((s, hs.finish(&resp).map(|c| c.role()))));
                    break;
                }
                Err(e) => {
                    bytewise = Some(Err(e));
                    break;
                }
            }
        }
        assert_eq!(whole, bytewise, "{:?}", String::from_utf8_lossy(input));
    };
    run(&base);
    for i in 0..base.len() {
        let mut v = base.clone();
        v.remove(i);
        run(&v);
        for b in [b'\r', b'\n', b' ', b':', b',', b'\0', 0x7F, 0x80, 0xFF] {
            let mut v = base.clone();
            v[i] = b;
            run(&v);
        }
        run(&base[..i]);
    }
}

#[test]
fn fragment_in_path_and_duplicate_protocols_are_refused() {
    let mut out = [0u8; 512];
    let req = ClientRequest::new("example.com", "/chat#frag");
    assert_eq!(
        ClientHandshake::new(req, Config::default(), counting as Rng, &mut out).err(),
        Some(HandshakeError::InvalidHeader)
    );
    let req = ClientRequest::new("example.com", "/").protocols(&["a", "b", "a"]);
    assert_eq!(
        ClientHandshake::new(req, Config::default(), counting as Rng, &mut out).err(),
        Some(HandshakeError::InvalidHeader)
    );
    let req = ClientRequest::new("example.com", "/?q=1").protocols(&["a", "b"]);
    assert!(ClientHandshake::new(req, Config::default(), counting as Rng, &mut out).is_ok());
}

#[test]
fn small_output_buffer_draws_no_randomness() {
    let mut draws = 0;
    let rng = |dest: &mut [u8]| -> Result<(), RandomError> {
        draws += 1;
        dest.fill(1);
        Ok(())
    };
    let mut out = [0u8; 16];
    let req = ClientRequest::new("example.com", "/");
    assert!(matches!(
        ClientHandshake::new(req, Config::default(), rng, &mut out),
        Err(HandshakeError::BufferTooSmall(_))
    ));
    assert_eq!(draws, 0);
}
