//! Property tests over the public API (proptest).
//!
//! * Any chunking of a frame stream gives the same transcript and output, for both roles.
//! * Any chunking of a handshake head gives the same request or response, or the same error.
//! * Round trips: frame headers, whole frames (both directions, whole and streamed), close
//!   payloads, handshakes.
//! * Masking: twice is the identity, pieces equal whole, `copy_masked` equals copy + mask.
//! * The streaming UTF-8 validator agrees with `core::str::from_utf8` (validity and error
//!   position) on any split.
//! * Message limits: 1009 exactly when a frame header crosses `max_message_len`, before any of its
//!   payload is delivered; an `ArrayVec` assembler fails exactly past its capacity.
//!
//! Case counts are modest so that the file runs in well under a minute in debug;
//! `PROPTEST_CASES=10000 cargo test --release --test properties` runs them harder.

mod common;

use common::{
    drive, drive_with, flush, raw_frame, Bytes, Chunking, End, Item, TestRng, Transcript,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use sockless::frame::{apply_mask, copy_masked, FrameHeader, OpCode, MAX_HEADER_LEN};
use sockless::handshake::{
    Accept, AcceptKey, ClientHandshake, ClientRequest, Header, ServerHandshake, EMPTY_HEADER,
};
use sockless::message::{Assembler, Message};
use sockless::utf8::Utf8Validator;
use sockless::{
    BufferTooSmall, CloseCode, CloseFrame, Config, Connection, DataKind, EncodeError, Event,
    HandshakeError, Outgoing, ProtocolError, RandomSource, Recv, Role, SendError, State, Status,
};

/// The case count for a property, overridable with `PROPTEST_CASES`.
fn cases(default: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(n)
}

// =============================================================================================
// Generators
// =============================================================================================

fn small_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

/// Payload sizes in every length class: 7-bit, 16-bit and (rarely) 64-bit.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        16 => vec(any::<u8>(), 0..48),
        3 => vec(any::<u8>(), 120..400),
        1 => vec(any::<u8>(), 65_530..65_600),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        16 => vec(any::<char>(), 0..24).prop_map(String::from_iter),
        3 => vec(any::<char>(), 40..160).prop_map(String::from_iter),
        1 => vec(any::<char>(), 17_000..17_100).prop_map(String::from_iter),
    ]
}

/// A reason of at most 123 bytes (cut at a character boundary).
fn reason() -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..50).prop_map(|cs| {
        let mut s = String::new();
        for c in cs {
            if s.len() + c.len_utf8() > 123 {
                break;
            }
            s.push(c);
        }
        s
    })
}

fn sendable_code() -> impl Strategy<Value = u16> {
    prop_oneof![1000u16..=1003, 1007u16..=1014, 3000u16..=4999]
}

#[derive(Clone, Debug)]
enum Ctl {
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

fn ctl() -> impl Strategy<Value = Ctl> {
    prop_oneof![
        small_bytes(125).prop_map(Ctl::Ping),
        small_bytes(125).prop_map(Ctl::Pong)
    ]
}

#[derive(Clone, Debug)]
enum Step {
    /// A message cut into fragments at `cuts`, with `ctls[i]` sent after fragment `i`.
    Msg {
        kind: DataKind,
        data: Vec<u8>,
        cuts: Vec<Index>,
        ctls: Vec<Vec<Ctl>>,
    },
    Ctl(Ctl),
}

fn step() -> impl Strategy<Value = Step> {
    let data = prop_oneof![
        8 => text().prop_map(|t| (DataKind::Text, t.into_bytes())),
        8 => payload().prop_map(|p| (DataKind::Binary, p)),
        // Text that may be invalid UTF-8 (`send_frame` does not check): the receiver must fail
        // with 1007 at the same place whatever the chunking.
        2 => utf8ish().prop_map(|b| (DataKind::Text, b)),
        // Valid text cut inside its last character: invalid only at the end of the message.
        1 => (text(), any::<char>().prop_filter("multi-byte", |c| c.len_utf8() > 1), any::<Index>())
            .prop_map(|(t, c, i)| {
                let mut b = t.into_bytes();
                let mut buf = [0u8; 4];
                let enc = c.encode_utf8(&mut buf).as_bytes();
                b.extend_from_slice(&enc[..1 + i.index(enc.len() - 1)]);
                (DataKind::Text, b)
            }),
    ];
    prop_oneof![
        4 => (data, vec(any::<Index>(), 0..5), vec(vec(ctl(), 0..3), 0..5))
            .prop_map(|((kind, data), cuts, ctls)| Step::Msg { kind, data, cuts, ctls }),
        1 => ctl().prop_map(Step::Ctl),
    ]
}

#[derive(Clone, Debug)]
struct Script {
    steps: Vec<Step>,
    /// A final Close: 1005 sends an empty payload.
    close: Option<(u16, String)>,
    garbage: Vec<u8>,
}

fn script() -> impl Strategy<Value = Script> {
    (
        vec(step(), 0..6),
        proptest::option::of((prop_oneof![Just(1005u16), sendable_code()], reason())),
        prop_oneof![3 => Just(Vec::new()), 1 => vec(any::<u8>(), 1..40)],
    )
        .prop_map(|(steps, close, garbage)| Script {
            steps,
            close: close.map(|(c, r)| {
                if c == 1005 {
                    (c, String::new())
                } else {
                    (c, r)
                }
            }),
            garbage,
        })
}

/// Splits `data` at the sorted cut points (repeated cuts give empty fragments).
fn fragments<'d>(data: &'d [u8], cuts: &[Index]) -> Vec<&'d [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
    at.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for c in at {
        out.push(&data[start..c]);
        start = c;
    }
    out.push(&data[start..]);
    out
}

/// Encodes the script with `sender`; returns the bytes and the items a receiver must see (up to
/// and including `InvalidUtf8` for a text message that is not UTF-8; later items are not listed).
fn encode<R: RandomSource>(sender: &mut Connection<R>, script: &Script) -> (Vec<u8>, Vec<Item>) {
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    let mut failed = false;
    let mut buf = vec![0u8; 70_000 + 14];
    let send_ctl = |sender: &mut Connection<R>, wire: &mut Vec<u8>, c: &Ctl| {
        let (msg, item) = match c {
            Ctl::Ping(p) => (Outgoing::Ping(p), Item::Ping(p.clone())),
            Ctl::Pong(p) => (Outgoing::Pong(p), Item::Pong(p.clone())),
        };
        let mut b = [0u8; 139];
        let n = sender.send(msg, &mut b).unwrap();
        wire.extend_from_slice(&b[..n]);
        item
    };
    for step in &script.steps {
        match step {
            Step::Ctl(c) => {
                let item = send_ctl(sender, &mut wire, c);
                if !failed {
                    expected.push(item);
                }
            }
            Step::Msg {
                kind,
                data,
                cuts,
                ctls,
            } => {
                let frags = fragments(data, cuts);
                let mut utf8 = Utf8Validator::new();
                for (i, frag) in frags.iter().enumerate() {
                    let fin = i + 1 == frags.len();
                    let n = sender.send_frame(*kind, frag, fin, &mut buf).unwrap();
                    wire.extend_from_slice(&buf[..n]);
                    let valid = *kind == DataKind::Binary
                        || (utf8.feed(frag).is_ok() && (!fin || utf8.finish().is_ok()));
                    if !failed && !valid {
                        expected.push(Item::Error(ProtocolError::InvalidUtf8));
                        failed = true;
                    }
                    if !failed {
                        expected.push(Item::Frame {
                            kind: *kind,
                            payload: frag.to_vec(),
                            message_done: fin,
                        });
                    }
                    if !fin {
                        for c in ctls.get(i).into_iter().flatten() {
                            let item = send_ctl(sender, &mut wire, c);
                            if !failed {
                                expected.push(item);
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some((code, reason)) = &script.close {
        let n = sender.close(CloseCode(*code), reason, &mut buf).unwrap();
        wire.extend_from_slice(&buf[..n]);
        if !failed {
            expected.push(Item::Close(
                (*code != 1005).then(|| (*code, reason.clone())),
            ));
        }
    }
    (wire, expected)
}

#[derive(Clone, Copy, Debug)]
struct RxConfig {
    auto_pong: bool,
    auto_close: bool,
    /// The receiver sends its Close (1000) before reading anything.
    closes_first: bool,
    /// `(max_frame_len, max_message_len)`, or the defaults.
    limits: Option<(u64, u64)>,
    /// `Config::whole_messages_up_to`.
    whole_messages_up_to: usize,
}

impl RxConfig {
    fn make<R: RandomSource>(self, mut conn: Connection<R>) -> Connection<R> {
        if self.closes_first {
            let mut out = [0u8; 16];
            conn.close(CloseCode::NORMAL, "", &mut out).unwrap();
        }
        conn
    }

    fn config(self) -> Config {
        let mut c = Config::default();
        c.auto_pong = self.auto_pong;
        c.auto_close = self.auto_close;
        c.whole_messages_up_to = self.whole_messages_up_to;
        if let Some((f, m)) = self.limits {
            c.max_frame_len = f;
            c.max_message_len = m;
        }
        c
    }
}

fn rx_config() -> impl Strategy<Value = RxConfig> {
    (
        prop_oneof![3 => Just(true), 1 => Just(false)],
        prop_oneof![3 => Just(true), 1 => Just(false)],
        prop_oneof![3 => Just(None), 1 => (0u64..500, 0u64..2000).prop_map(Some)],
        proptest::bool::weighted(0.2),
        prop_oneof![2 => Just(0usize), 1 => 0usize..400, 1 => Just(usize::MAX)],
    )
        .prop_map(
            |(auto_pong, auto_close, limits, closes_first, whole_messages_up_to)| RxConfig {
                auto_pong,
                auto_close,
                closes_first,
                limits,
                whole_messages_up_to,
            },
        )
}

fn chunkings() -> impl Strategy<Value = Vec<Chunking>> {
    vec(
        (
            any::<u64>(),
            prop_oneof![Just(2usize), Just(7), Just(64), Just(300), Just(5000)],
        ),
        3,
    )
    .prop_map(|v| {
        let mut c = vec![Chunking::Bytewise];
        c.extend(
            v.into_iter()
                .map(|(seed, max)| Chunking::Random { seed, max }),
        );
        c
    })
}

/// Decodes what a receiver wrote with a fresh connection of the other role.
fn decode_output(receiver_role: Role, out: &[u8]) -> Vec<Item> {
    let t = match receiver_role {
        Role::Server => drive(
            &mut Connection::client(Config::default(), TestRng::new(9)),
            out,
            Chunking::Whole,
        ),
        Role::Client => drive(
            &mut Connection::server(Config::default()),
            out,
            Chunking::Whole,
        ),
    };
    assert!(
        !matches!(t.end, End::Error),
        "the receiver wrote invalid frames: {t:?}"
    );
    t.items
}

// =============================================================================================
// Any chunking gives the same result: frames
// =============================================================================================

fn check_stream_chunkings<R: RandomSource>(
    make: impl Fn() -> Connection<R>,
    role: Role,
    script: &Script,
    stream: &[u8],
    expected: &[Item],
    rx: RxConfig,
    chunkings: &[Chunking],
) {
    let reference = drive(&mut make(), stream, Chunking::Whole);

    // The reference itself is right.
    if rx.limits.is_none() {
        assert!(
            reference.items.starts_with(expected),
            "expected {expected:?}\ngot {reference:?}"
        );
        if matches!(expected.last(), Some(Item::Error(_))) {
            assert_eq!(reference.items, expected);
            assert_eq!(reference.end, End::Error);
        } else if script.garbage.is_empty() || script.close.is_some() {
            assert_eq!(reference.items, expected);
            let end = if script.close.is_some() {
                End::Closed
            } else {
                End::Input {
                    partial: None,
                    unread: 0,
                }
            };
            assert_eq!(reference.end, end);
        }
    }
    // What it wrote: a Pong for every Ping until the peer's Close (with auto_pong; our own Close
    // does not stop them, RFC 6455 5.5.2), then the Close reply (with auto_close) or the error's
    // Close.
    let mut owed = Vec::new();
    let mut open = !rx.closes_first;
    let mut peer_closed = false;
    for item in &reference.items {
        match item {
            Item::Ping(p) if !peer_closed && rx.auto_pong => owed.push(Item::Pong(p.clone())),
            Item::Close(c) => {
                if open && rx.auto_close {
                    owed.push(Item::Close(
                        c.as_ref().map(|(code, _)| (*code, String::new())),
                    ));
                }
                open = false;
                peer_closed = true;
            }
            Item::Error(e) if open => {
                owed.push(Item::Close(Some((e.close_code().0, String::new()))));
            }
            _ => {}
        }
    }
    assert_eq!(decode_output(role, &reference.out), owed, "{reference:?}");
    let closed = matches!(reference.end, End::Error)
        || (matches!(reference.end, End::Closed) && (rx.auto_close || rx.closes_first));
    assert_eq!(closed, reference.state == State::Closed, "{reference:?}");

    for &chunking in chunkings {
        let t: Transcript = drive(&mut make(), stream, chunking);
        assert_eq!(
            t.comparable(),
            reference.comparable(),
            "{chunking:?}\nwhole:   {reference:?}\nchunked: {t:?}"
        );
    }
}

proptest! {
    #![proptest_config(cases(256))]

    /// A valid stream (messages fragmented anywhere, text split inside characters, pings and
    /// pongs between fragments, an optional close), optionally followed by garbage, gives the
    /// same transcript and the same output bytes whole, byte by byte and in random chunks, for
    /// either role and any receiver configuration.
    #[test]
    fn any_chunking_gives_the_same_events_and_output(
        server_receives in any::<bool>(),
        script in script(),
        rx in rx_config(),
        chunkings in chunkings(),
        seed in any::<u64>(),
    ) {
        if server_receives {
            let mut sender = Connection::client(Config::default(), TestRng::new(seed));
            let (mut stream, expected) = encode(&mut sender, &script);
            stream.extend_from_slice(&script.garbage);
            check_stream_chunkings(
                || rx.make(Connection::server(rx.config())),
                Role::Server,
                &script,
                &stream,
                &expected,
                rx,
                &chunkings,
            );
        } else {
            let mut sender = Connection::server(Config::default());
            let (mut stream, expected) = encode(&mut sender, &script);
            stream.extend_from_slice(&script.garbage);
            check_stream_chunkings(
                || rx.make(Connection::client(rx.config(), TestRng::new(seed))),
                Role::Client,
                &script,
                &stream,
                &expected,
                rx,
                &chunkings,
            );
        }
    }

    /// Random bytes (not a valid stream at all) also give the same transcript in any chunking.
    #[test]
    fn any_chunking_of_random_bytes_gives_the_same_result(
        server_receives in any::<bool>(),
        stream in vec(any::<u8>(), 0..300),
        rx in rx_config(),
        chunkings in chunkings(),
    ) {
        let runs: Vec<Transcript> = std::iter::once(Chunking::Whole)
            .chain(chunkings)
            .map(|c| {
                if server_receives {
                    drive(&mut rx.make(Connection::server(rx.config())), &stream, c)
                } else {
                    drive(&mut rx.make(Connection::client(rx.config(), TestRng::new(1))), &stream, c)
                }
            })
            .collect();
        for t in &runs[1..] {
            prop_assert_eq!(t.comparable(), runs[0].comparable());
        }
    }
}

// =============================================================================================
// Any chunking gives the same result: handshakes
// =============================================================================================

/// A parameter: its name, and its raw value with whether it was quoted.
type ParamSummary = (String, Option<(Vec<u8>, bool)>);

#[derive(Clone, Debug, PartialEq, Eq)]
struct RequestSummary {
    path: String,
    host: String,
    origin: Option<String>,
    key: String,
    protocols: Vec<String>,
    extensions: Vec<(String, Vec<ParamSummary>)>,
    headers: Vec<(String, Vec<u8>)>,
    len: usize,
    response: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum ServerOutcome {
    Partial,
    Error(HandshakeError, u16),
    Request(Box<RequestSummary>),
}

fn headers_of(h: &[Header<'_>]) -> Vec<(String, Vec<u8>)> {
    h.iter()
        .map(|h| (h.name.to_owned(), h.value.to_vec()))
        .collect()
}

fn server_outcome(
    r: Result<Status<sockless::handshake::Request<'_, '_>>, HandshakeError>,
) -> ServerOutcome {
    match r {
        Ok(Status::Partial) => ServerOutcome::Partial,
        Err(e) => ServerOutcome::Error(e, e.status()),
        Ok(Status::Complete(req)) => {
            let mut out = vec![0u8; 1024];
            let response = match req.accept(&Accept::new(), &mut out) {
                Ok((n, conn)) => {
                    assert_eq!(conn.role(), Role::Server);
                    out[..n].to_vec()
                }
                Err(e) => format!("{e:?}").into_bytes(),
            };
            ServerOutcome::Request(Box::new(RequestSummary {
                path: req.path().to_owned(),
                host: req.host().to_owned(),
                origin: req.origin().map(str::to_owned),
                key: req.key().to_owned(),
                protocols: req.protocols().map(str::to_owned).collect(),
                extensions: req
                    .extensions()
                    .map(|e| {
                        let params = e
                            .params()
                            .map(|p| {
                                let v = p.value().map(|v| (v.raw().to_vec(), v.is_quoted()));
                                (p.name().to_owned(), v)
                            })
                            .collect();
                        (e.name().to_owned(), params)
                    })
                    .collect(),
                headers: headers_of(req.headers()),
                len: req.len(),
                response,
            }))
        }
    }
}

/// Feeds `head` to a fresh server handshake in reads of the given sizes, appending to one buffer
/// and calling `parse` after each read, until it completes or fails.
fn feed_server(config: Config, n_headers: usize, head: &[u8], chunking: Chunking) -> ServerOutcome {
    let mut hs = ServerHandshake::new(config);
    let mut sizes = chunking.sizes();
    let mut buf = Vec::new();
    let mut outcome = ServerOutcome::Partial;
    while buf.len() < head.len() {
        let n = sizes().min(head.len() - buf.len());
        buf.extend_from_slice(&head[buf.len()..buf.len() + n]);
        let mut headers = [EMPTY_HEADER; 40];
        outcome = server_outcome(hs.parse(&buf, &mut headers[..n_headers]));
        if outcome != ServerOutcome::Partial {
            break;
        }
    }
    outcome
}

/// Header values built from the characters that matter to the list parsers.
fn list_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("chat, superchat".to_owned()),
        Just("permessage-deflate; client_max_window_bits, x; y=\"1\"".to_owned()),
        "[a1,; =\"\\\\\t@]{0,24}",
        "[a-z]{1,6}(( ?, ?)[a-z]{1,6}){0,3}",
        "[a-z]{1,6}(;[a-z]{1,4}(=([0-9]{1,3}|\"[a-z\\\\]{1,5}\"))?){0,3}",
    ]
}

fn header_line() -> impl Strategy<Value = String> {
    let name_value = prop_oneof![
        (
            Just("Host"),
            prop_oneof![
                Just("example.com".to_owned()),
                "[a-z.:0-9 ]{0,12}",
                "\\[[0-9a-f:.]{0,12}\\](:[0-9]{0,3})?",
                "[a-z%0-9!@/]{1,8}",
            ]
        ),
        (
            Just("Content-Length"),
            prop_oneof![Just("0".to_owned()), "[0-9a ,]{0,3}"]
        ),
        (
            Just("Transfer-Encoding"),
            prop_oneof![Just("chunked".to_owned()), "[a-z ,]{0,8}"]
        ),
        (
            Just("Expect"),
            prop_oneof![
                3 => Just("100-continue".to_owned()),
                1 => Just("100-CONTINUE ".to_owned()),
                1 => "[0-9a-z-]{0,13}",
            ]
        ),
        (
            Just("Upgrade"),
            prop_oneof![
                Just("websocket".to_owned()),
                Just("h2c, WebSocket".to_owned()),
                "[a-z ,]{0,10}"
            ]
        ),
        (
            Just("Connection"),
            prop_oneof![
                Just("Upgrade".to_owned()),
                Just("keep-alive, upgrade".to_owned()),
                "[a-z ,]{0,10}"
            ]
        ),
        (
            Just("Sec-WebSocket-Key"),
            prop_oneof![
                Just("dGhlIHNhbXBsZSBub25jZQ==".to_owned()),
                "[A-Za-z0-9+/=]{20,26}"
            ]
        ),
        (
            Just("Sec-WebSocket-Version"),
            prop_oneof![Just("13".to_owned()), Just("8".to_owned()), "[0-9 ]{0,3}"]
        ),
        (
            Just("Origin"),
            prop_oneof![Just("http://example.com".to_owned()), "[ -~]{0,12}"]
        ),
        (Just("Sec-WebSocket-Protocol"), list_value()),
        (Just("Sec-WebSocket-Extensions"), list_value()),
        (Just("X-Extra"), "[ -~]{0,16}"),
    ];
    let name_value = prop_oneof![
        12 => name_value,
        1 => (Just("Bad Name"), Just("x".to_owned())),
    ];
    (
        name_value,
        any::<bool>(),
        prop_oneof![4 => Just("\r\n"), 1 => Just("\n")],
    )
        .prop_map(|((name, value), lower, eol)| {
            let name = if lower {
                name.to_ascii_lowercase()
            } else {
                name.to_owned()
            };
            format!("{name}: {value}{eol}")
        })
}

/// A request head: usually valid, with random mutations and list values, and bytes after it.
fn request_head() -> impl Strategy<Value = Vec<u8>> {
    let start = prop_oneof![
        16 => Just("GET /chat?x=1 HTTP/1.1\r\n"),
        1 => Just("POST / HTTP/1.1\r\n"),
        1 => Just("GET / HTTP/1.0\r\n"),
        1 => Just("GET / HTTP/1.0\r\n\r\n"),
        1 => Just("GET  / HTTP/1.1\r\n"),
        1 => Just("get / HTTP/1.1\n"),
    ];
    let base = [
        "Host: example.com\r\n",
        "Upgrade: websocket\r\n",
        "Connection: Upgrade\r\n",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
        "Sec-WebSocket-Version: 13\r\n",
    ];
    (
        start,
        vec(proptest::bool::weighted(0.93), 5),
        vec((header_line(), any::<Index>()), 0..6),
        prop_oneof![4 => Just("\r\n"), 1 => Just("\n")],
        small_bytes(20),
    )
        .prop_map(move |(start, keep, extra, end, trailing)| {
            let mut lines: Vec<String> = base
                .iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(l, _)| (*l).to_owned())
                .collect();
            for (line, at) in extra {
                let at = at.index(lines.len() + 1);
                lines.insert(at, line);
            }
            let mut head = start.as_bytes().to_vec();
            for l in lines {
                head.extend_from_slice(l.as_bytes());
            }
            head.extend_from_slice(end.as_bytes());
            head.extend_from_slice(&trailing);
            head
        })
}

fn handshake_config() -> impl Strategy<Value = (Config, usize)> {
    (
        prop_oneof![6 => Just(8192usize), 1 => 40usize..400],
        prop_oneof![6 => Just(64usize), 1 => 1usize..12],
        prop_oneof![6 => Just(40usize), 1 => 0usize..12],
    )
        .prop_map(|(max_head_len, max_headers, n)| {
            let mut c = Config::default();
            c.handshake.max_head_len = max_head_len;
            c.handshake.max_headers = max_headers;
            (c, n)
        })
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum ClientOutcome {
    Partial,
    Error(HandshakeError),
    Response {
        status: u16,
        reason: String,
        headers: Vec<(String, Vec<u8>)>,
        protocol: Option<String>,
        len: usize,
        finish: Result<Role, HandshakeError>,
    },
}

const OFFERED: [&str; 2] = ["chat", "superchat"];

fn client_handshake(seed: u64, config: Config) -> ClientHandshake<'static, TestRng> {
    let mut out = [0u8; 512];
    let req = ClientRequest::new("example.com", "/").protocols(&OFFERED);
    ClientHandshake::new(req, config, TestRng::new(seed), &mut out)
        .unwrap()
        .0
}

fn feed_client(
    seed: u64,
    config: Config,
    n_headers: usize,
    head: &[u8],
    chunking: Chunking,
) -> ClientOutcome {
    let mut hs = Some(client_handshake(seed, config));
    let mut sizes = chunking.sizes();
    let mut buf = Vec::new();
    while buf.len() < head.len() {
        let n = sizes().min(head.len() - buf.len());
        buf.extend_from_slice(&head[buf.len()..buf.len() + n]);
        let mut headers = [EMPTY_HEADER; 40];
        match hs.as_mut().unwrap().parse(&buf, &mut headers[..n_headers]) {
            Ok(Status::Partial) => {}
            Err(e) => return ClientOutcome::Error(e),
            Ok(Status::Complete(resp)) => {
                let finish = hs.take().unwrap().finish(&resp).map(|c| c.role());
                return ClientOutcome::Response {
                    status: resp.status(),
                    reason: resp.reason().to_owned(),
                    headers: headers_of(resp.headers()),
                    protocol: resp.protocol().map(str::to_owned),
                    len: resp.len(),
                    finish,
                };
            }
        }
    }
    ClientOutcome::Partial
}

/// A response head for the handshake with `seed`: usually valid, with mutations.
fn response_head(seed: u64) -> impl Strategy<Value = Vec<u8>> {
    let accept = client_handshake(seed, Config::default())
        .expected_accept()
        .as_str()
        .to_owned();
    let start = prop_oneof![
        8 => Just("HTTP/1.1 101 Switching Protocols\r\n"),
        1 => Just("HTTP/1.1 101 \r\n"),
        1 => Just("HTTP/1.1 403 Forbidden\r\n"),
        1 => Just("HTTP/1.0 101 OK\r\n"),
        1 => Just("HTTP/1.1 1011 x\r\n"),
    ];
    let optional = prop_oneof![
        Just("Sec-WebSocket-Protocol: chat\r\n".to_owned()),
        Just("Sec-WebSocket-Protocol:\r\n chat\r\n".to_owned()),
        Just("Connection: keep-alive,\r\n\tUpgrade\r\n".to_owned()),
        Just("Upgrade: websocket, h2c\r\n".to_owned()),
        Just("X-Folded: a\r\n b\n c\r\n".to_owned()),
        Just("Content-Length: 3\r\n".to_owned()),
        Just("Sec-WebSocket-Protocol: other\r\n".to_owned()),
        Just("Sec-WebSocket-Extensions: permessage-deflate\r\n".to_owned()),
        Just("Sec-WebSocket-Extensions: , ,\r\n".to_owned()),
        Just("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n".to_owned()),
        "X-[a-z]{1,5}: [ -~]{0,10}\r\n",
        Just("Broken\r\n".to_owned()),
    ];
    // Interim responses a server may send first (RFC 7231 6.2), to be skipped.
    let interim = vec(
        prop_oneof![
            Just("HTTP/1.1 100 Continue\r\n\r\n"),
            Just("HTTP/1.1 102 Processing\r\nX-A: b\r\n\r\n"),
            Just("HTTP/1.1 103 Early Hints\r\nLink: </a>\n\n"),
            Just("HTTP/1.1 100 Continue\r\nBroken\r\n\r\n"),
        ],
        0..3,
    );
    (
        start,
        vec(proptest::bool::weighted(0.85), 3),
        vec((optional, any::<Index>()), 0..3),
        small_bytes(10),
        prop_oneof![3 => Just(Vec::new()), 1 => interim],
    )
        .prop_map(move |(start, keep, extra, trailing, interim)| {
            let base = [
                "Upgrade: websocket\r\n".to_owned(),
                "Connection: Upgrade\r\n".to_owned(),
                format!("Sec-WebSocket-Accept: {accept}\r\n"),
            ];
            let mut lines: Vec<String> = base
                .iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(l, _)| l.clone())
                .collect();
            for (l, at) in extra {
                let i = at.index(lines.len() + 1);
                lines.insert(i, l);
            }
            let mut head = interim.concat().into_bytes();
            head.extend_from_slice(start.as_bytes());
            for l in lines {
                head.extend_from_slice(l.as_bytes());
            }
            head.extend_from_slice(b"\r\n");
            head.extend_from_slice(&trailing);
            head
        })
}

proptest! {
    #![proptest_config(cases(256))]

    /// A request head fed whole, byte by byte or in random reads gives the same request (every
    /// field, and the same 101 response) or the same error.
    #[test]
    fn any_chunking_of_a_request_gives_the_same_outcome(
        head in request_head(),
        (config, n_headers) in handshake_config(),
        chunkings in chunkings(),
    ) {
        let whole = feed_server(config, n_headers, &head, Chunking::Whole);
        for c in chunkings {
            prop_assert_eq!(&feed_server(config, n_headers, &head, c), &whole, "{:?} {:?}", c, Bytes(&head));
        }
    }

    /// The same for a response fed to a client handshake, including the verdict of `finish`.
    #[test]
    fn any_chunking_of_a_response_gives_the_same_outcome(
        (seed, head) in any::<u64>().prop_flat_map(|s| (Just(s), response_head(s))),
        (config, n_headers) in handshake_config(),
        chunkings in chunkings(),
    ) {
        let whole = feed_client(seed, config, n_headers, &head, Chunking::Whole);
        for c in chunkings {
            prop_assert_eq!(&feed_client(seed, config, n_headers, &head, c), &whole, "{:?} {:?}", c, Bytes(&head));
        }
    }
}

#[test]
fn the_request_generator_reaches_success_and_failure() {
    // A sanity check that the valid base request is accepted, so that the property above does
    // not only compare errors.
    let head = b"GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\nxyz";
    match feed_server(Config::default(), 40, head, Chunking::Bytewise) {
        ServerOutcome::Request(r) => assert_eq!(r.len, head.len() - 3),
        other => panic!("{other:?}"),
    }
}

// =============================================================================================
// Round trips
// =============================================================================================

fn opcode() -> impl Strategy<Value = OpCode> {
    prop_oneof![
        Just(OpCode::Continuation),
        Just(OpCode::Text),
        Just(OpCode::Binary),
        Just(OpCode::Close),
        Just(OpCode::Ping),
        Just(OpCode::Pong),
    ]
}

fn payload_len() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..126,
        126u64..=65_535,
        65_536u64..(1 << 63),
        Just(125u64),
        Just(126),
        Just(65_535),
        Just(65_536),
        Just((1u64 << 63) - 1),
    ]
}

proptest! {
    #![proptest_config(cases(256))]

    /// Encode then decode is the identity for every header the decoder accepts; every proper
    /// prefix is `Partial`; a short buffer is refused untouched; control frames with FIN clear or
    /// over 125 bytes are refused with their error.
    #[test]
    fn frame_header_round_trips(
        fin in any::<bool>(),
        rsv in 0u8..8,
        opcode in opcode(),
        mask in proptest::option::of(any::<[u8; 4]>()),
        payload_len in payload_len(),
        trailing in small_bytes(8),
    ) {
        let h = FrameHeader { fin, rsv, opcode, mask, payload_len };
        let mut out = [0u8; MAX_HEADER_LEN + 8];
        let n = h.encode(&mut out).unwrap();
        prop_assert_eq!(n, h.encoded_len());
        prop_assert!((2..=MAX_HEADER_LEN).contains(&n));
        let expect_len = 2 + match payload_len { 0..=125 => 0, 126..=65_535 => 2, _ => 8 } + if mask.is_some() { 4 } else { 0 };
        prop_assert_eq!(n, expect_len);
        out[n..n + trailing.len()].copy_from_slice(&trailing);
        let decoded = FrameHeader::decode(&out[..n + trailing.len()]);
        if opcode.is_control() && !fin {
            prop_assert_eq!(decoded, Err(ProtocolError::FragmentedControlFrame));
        } else if opcode.is_control() && payload_len > 125 {
            prop_assert_eq!(decoded, Err(ProtocolError::ControlFrameTooLong));
        } else {
            prop_assert_eq!(decoded, Ok(Status::Complete((h, n))));
            for i in 0..n {
                prop_assert_eq!(FrameHeader::decode(&out[..i]), Ok(Status::Partial), "prefix {}", i);
            }
        }
        let mut short = [0xAAu8; MAX_HEADER_LEN];
        prop_assert_eq!(
            h.encode(&mut short[..n - 1]),
            Err(EncodeError::BufferTooSmall(BufferTooSmall { needed: n }))
        );
        prop_assert_eq!(short, [0xAAu8; MAX_HEADER_LEN]);
    }

    /// A length with the top bit set cannot be written, by the codec or by `send_header`, and
    /// nothing is written.
    #[test]
    fn lengths_with_the_top_bit_set_are_refused(
        payload_len in (1u64 << 63)..=u64::MAX,
        mask in proptest::option::of(any::<[u8; 4]>()),
        client in any::<bool>(),
    ) {
        let h = FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask, payload_len };
        let mut out = [0xAAu8; MAX_HEADER_LEN];
        prop_assert_eq!(h.encode(&mut out), Err(EncodeError::LengthOverflow));
        let r = if client {
            Connection::client(Config::default(), TestRng::new(1))
                .send_header(DataKind::Text, payload_len, true, &mut out)
        } else {
            Connection::server(Config::default())
                .send_header(DataKind::Text, payload_len, true, &mut out)
        };
        prop_assert_eq!(r, Err(SendError::LengthOverflow));
        prop_assert_eq!(out, [0xAAu8; MAX_HEADER_LEN]);
    }
}

#[derive(Clone, Debug)]
enum Out {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

fn outgoing() -> impl Strategy<Value = Out> {
    prop_oneof![
        text().prop_map(Out::Text),
        payload().prop_map(Out::Binary),
        small_bytes(125).prop_map(Out::Ping),
        small_bytes(125).prop_map(Out::Pong),
    ]
}

/// Sends `msg` from `tx` (whole with `send`, or streamed with `send_header` + `send_payload` in
/// pieces of `piece` bytes for data), has `rx` receive it in one call, and checks the event.
fn whole_frame_round_trip<A: RandomSource, B: RandomSource>(
    tx: &mut Connection<A>,
    rx: &mut Connection<B>,
    msg: &Out,
    streamed: Option<usize>,
) {
    let (outgoing, data, kind) = match msg {
        Out::Text(t) => (Outgoing::Text(t), t.as_bytes(), Some(DataKind::Text)),
        Out::Binary(b) => (Outgoing::Binary(b), &b[..], Some(DataKind::Binary)),
        Out::Ping(p) => (Outgoing::Ping(p), &p[..], None),
        Out::Pong(p) => (Outgoing::Pong(p), &p[..], None),
    };
    let mut wire = vec![0u8; data.len() + MAX_HEADER_LEN];
    let n = match (streamed, kind) {
        (Some(piece), Some(kind)) => {
            let h = tx
                .send_header(kind, data.len() as u64, true, &mut wire)
                .unwrap();
            let mut body = data.to_vec();
            for chunk in body.chunks_mut(piece.max(1)) {
                tx.send_payload(chunk).unwrap();
            }
            assert_eq!(tx.payload_remaining(), 0);
            wire[h..h + body.len()].copy_from_slice(&body);
            h + body.len()
        }
        _ => tx.send(outgoing, &mut wire).unwrap(),
    };
    let r = rx.receive(&mut wire[..n]);
    assert_eq!(r.consumed, n);
    let mut data_copy = data.to_vec();
    let expected = match (msg, kind) {
        (_, Some(kind)) => Event::Data {
            kind,
            payload: &mut data_copy,
            frame_remaining: 0,
            frame_done: true,
            message_done: true,
            rsv: sockless::Rsv::NONE,
        },
        (Out::Ping(p), None) => Event::Ping(p),
        (_, None) => Event::Pong(data),
    };
    assert_eq!(r.result, Ok(Recv::Event(expected)));
    // The Pong `rx` now owes for a Ping is not part of the round trip: flush it, or it would go
    // out in front of the next frame `rx` sends.
    let mut owed = Vec::new();
    flush(rx, &mut owed);
    assert_eq!(owed.is_empty(), !matches!(msg, Out::Ping(_)));
}

proptest! {
    #![proptest_config(cases(256))]

    /// Client `send` (or `send_header` + `send_payload`) → server `receive` gives the payload
    /// back, and server → client likewise.
    #[test]
    fn whole_frames_round_trip(
        msg in outgoing(),
        seed in any::<u64>(),
        streamed in proptest::option::of(1usize..5000),
    ) {
        let mut client = Connection::client(Config::default(), TestRng::new(seed));
        let mut server = Connection::server(Config::default());
        whole_frame_round_trip(&mut client, &mut server, &msg, streamed);
        whole_frame_round_trip(&mut server, &mut client, &msg, streamed);
    }

    /// `close(code, reason)` for any sendable code and reason of at most 123 bytes reaches the peer
    /// as that code and reason; the peer's automatic reply echoes the code, and both end Closed.
    #[test]
    fn close_payloads_round_trip(
        code in sendable_code(),
        reason in reason(),
        client_closes in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut client = Connection::client(Config::default(), TestRng::new(seed));
        let mut server = Connection::server(Config::default());
        if client_closes {
            close_round_trip(&mut client, &mut server, code, &reason);
        } else {
            close_round_trip(&mut server, &mut client, code, &reason);
        }
    }

    /// Codes that may not be sent, reasons over 123 bytes and reasons without a code are refused
    /// without writing.
    #[test]
    fn unsendable_closes_are_refused(code in any::<u16>(), long in 124usize..200) {
        let mut server = Connection::server(Config::default());
        let mut out = [0u8; 256];
        let r = server.close(CloseCode(code), "", &mut out);
        if code == 1005 {
            prop_assert_eq!(r, Ok(2));
            prop_assert_eq!(&out[..2], &[0x88, 0x00]);
        } else if CloseCode(code).is_sendable() {
            prop_assert_eq!(r, Ok(4));
        } else {
            prop_assert_eq!(r, Err(SendError::InvalidCloseCode(code)));
            prop_assert_eq!(server.state(), State::Open);
        }
        let mut server = Connection::server(Config::default());
        let reason = "r".repeat(long);
        prop_assert_eq!(
            server.close(CloseCode::NORMAL, &reason, &mut out),
            Err(SendError::ControlPayloadTooLong)
        );
        prop_assert_eq!(server.state(), State::Open);
        // No status, no reason: a reason with 1005 would be lost, so it is refused.
        prop_assert_eq!(
            server.close(CloseCode::NO_STATUS, &reason[..long % 124 + 1], &mut out),
            Err(SendError::ReasonWithoutCode)
        );
        prop_assert_eq!(server.state(), State::Open);
    }

    /// Every close payload: `CloseFrame::parse` accepts exactly empty payloads and sendable codes
    /// with a UTF-8 reason.
    #[test]
    fn close_frame_parse_agrees_with_the_rules(payload in small_bytes(125)) {
        let r = CloseFrame::parse(&payload);
        match payload.len() {
            0 => prop_assert_eq!(r, Ok(None)),
            1 => prop_assert_eq!(r, Err(ProtocolError::InvalidClosePayload)),
            _ => {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                if !CloseCode(code).is_sendable() {
                    prop_assert_eq!(r, Err(ProtocolError::InvalidCloseCode(code)));
                } else if let Ok(reason) = std::str::from_utf8(&payload[2..]) {
                    prop_assert_eq!(r, Ok(Some(CloseFrame { code: CloseCode(code), reason })));
                } else {
                    prop_assert_eq!(r, Err(ProtocolError::InvalidUtf8));
                }
            }
        }
    }
}

fn close_round_trip<A: RandomSource, B: RandomSource>(
    closer: &mut Connection<A>,
    peer: &mut Connection<B>,
    code: u16,
    reason: &str,
) {
    let mut wire = [0u8; 256];
    let n = closer.close(CloseCode(code), reason, &mut wire).unwrap();
    assert_eq!(closer.state(), State::CloseSent);
    let r = peer.receive(&mut wire[..n]);
    assert_eq!(r.consumed, n);
    assert_eq!(
        r.result,
        Ok(Recv::Event(Event::Close(Some(CloseFrame {
            code: CloseCode(code),
            reason
        }))))
    );
    assert_eq!(peer.state(), State::CloseReceived);
    let mut reply = [0u8; 256];
    let m = peer.poll_transmit(&mut reply).unwrap();
    assert_eq!(peer.state(), State::Closed);
    let r = closer.receive(&mut reply[..m]);
    assert_eq!(r.consumed, m);
    assert_eq!(
        r.result,
        Ok(Recv::Event(Event::Close(Some(CloseFrame {
            code: CloseCode(code),
            reason: ""
        }))))
    );
    assert_eq!(closer.state(), State::Closed);
}

/// A host as clients send it: a name or address, an optional port, a non-ASCII name in its IDNA
/// or percent-encoded form (a raw one is refused: see `tests/handshake.rs`).
fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]([a-z0-9.-]{0,20}[a-z0-9])?(:[0-9]{1,5})?",
        "\\[::1\\](:[0-9]{1,5})?",
        "\\[[0-9a-f]{1,4}(:[0-9a-f]{1,4}){7}\\]",
        "\\[v1\\.[a-z0-9:]{1,6}\\]",
        Just("xn--bcher-kva.example".to_owned()),
        Just("b%C3%BCcher.example:8080".to_owned()),
    ]
}

fn token() -> impl Strategy<Value = String> {
    "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,10}"
}

/// The request-target a client writes for `path`, computed independently of the library: every
/// byte outside RFC 3986's `pchar / "/" / "?"` percent-encoded, and a `%` kept only where it starts
/// a `%XX` sequence.
fn percent_encoded(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::new();
    for (i, &b) in bytes.iter().enumerate() {
        let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
        let keep = b.is_ascii_alphanumeric()
            || b"-._~!$&'()*+,;=:@/?".contains(&b)
            || (b == b'%' && hex(i + 1) && hex(i + 2));
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

proptest! {
    #![proptest_config(cases(256))]

    /// A `ClientHandshake` request parsed by a `ServerHandshake` yields the same path (percent-encoded
    /// where RFC 3986 needs it), host,
    /// origin and subprotocols; accepting it with any offered subprotocol (or none) gives a
    /// response the client finishes with that subprotocol; the connections then talk.
    #[test]
    fn handshakes_round_trip(
        host in host(),
        path in prop_oneof![
            3 => "/[A-Za-z0-9/._~%?=&!$'()*+,;:@-]{0,30}",
            1 => "/[a-z %\"<>{}|\\\\^`\\x00-\\x1f\\x7fé€0-9A-F]{0,20}",
        ],
        origin in proptest::option::of("[!-~]([ -~]{0,20}[!-~])?"),
        protocols in vec(token(), 0..5),
        choice in proptest::option::of(any::<Index>()),
        extra in vec(("X-[A-Za-z]{1,8}", "[!-~]([ -~]{0,20}[!-~])?"), 0..3),
        seed in any::<u64>(),
    ) {
        let mut protocols = protocols;
        protocols.sort();
        protocols.dedup();
        let protocols: Vec<&str> = protocols.iter().map(String::as_str).collect();
        let mut extra = extra;
        extra.sort_by_key(|(n, _)| n.to_ascii_lowercase());
        extra.dedup_by_key(|(n, _)| n.to_ascii_lowercase());
        let extra: Vec<(&str, &[u8])> = extra.iter().map(|(n, v)| (n.as_str(), v.as_bytes())).collect();
        let mut req = ClientRequest::new(&host, &path).protocols(&protocols).headers(&extra);
        if let Some(o) = &origin {
            req = req.origin(o);
        }
        let mut request = vec![0u8; 2048];
        let (mut client, n) = ClientHandshake::new(req, Config::default(), TestRng::new(seed), &mut request).unwrap();

        let mut server = ServerHandshake::new(Config::default());
        let mut headers = [EMPTY_HEADER; 32];
        let Ok(Status::Complete(parsed)) = server.parse(&request[..n], &mut headers) else {
            panic!("{:?}", server.parse(&request[..n], &mut [EMPTY_HEADER; 32]).map(|_| ()));
        };
        prop_assert_eq!(parsed.len(), n);
        prop_assert_eq!(parsed.path(), percent_encoded(&path));
        prop_assert_eq!(parsed.host(), host.as_str());
        prop_assert_eq!(parsed.origin(), origin.as_deref());
        prop_assert_eq!(parsed.protocols().collect::<Vec<_>>(), protocols.clone());
        prop_assert_eq!(parsed.extensions().count(), 0);
        for (name, value) in &extra {
            prop_assert_eq!(parsed.header(name), Some(*value));
        }
        prop_assert_eq!(
            AcceptKey::from_key(parsed.key().as_bytes()),
            *client.expected_accept()
        );

        let chosen = choice.filter(|_| !protocols.is_empty()).map(|i| protocols[i.index(protocols.len())]);
        let mut accept = Accept::new().headers(&extra);
        if let Some(p) = chosen {
            accept = accept.protocol(p);
        }
        let mut response = vec![0u8; 1024];
        let (m, mut server_conn) = parsed.accept(&accept, &mut response).unwrap();
        let mut headers = [EMPTY_HEADER; 32];
        let Ok(Status::Complete(resp)) = client.parse(&response[..m], &mut headers) else {
            panic!("response not parsed: {:?}", Bytes(&response[..m]));
        };
        prop_assert_eq!(resp.status(), 101);
        prop_assert_eq!(resp.len(), m);
        prop_assert_eq!(resp.protocol(), chosen);
        let mut client_conn = client.finish(&resp).unwrap();
        prop_assert_eq!(client_conn.role(), Role::Client);

        let mut wire = [0u8; 64];
        let k = client_conn.send(Outgoing::Text("hello"), &mut wire).unwrap();
        let r = server_conn.receive(&mut wire[..k]);
        prop_assert_eq!(r.result, Ok(Recv::Event(Event::Data {
            kind: DataKind::Text, payload: &mut b"hello".to_owned(), frame_remaining: 0,
            frame_done: true, message_done: true, rsv: sockless::Rsv::NONE,
        })));
    }
}

/// Neither side may write a head its peer cannot parse: `ClientRequest` and `Accept` refuse any
/// control character (or DEL) in an origin or an extra header value, which HTTP forbids in field
/// values (RFC 7230 3.2.6) and `httparse` rejects.
#[test]
fn heads_written_are_parsable_by_the_peer() {
    for bad in ["a\x01b", "a\x7fb", "a\x1bb", "a\x0bb"] {
        let extra: [(&str, &[u8]); 1] = [("X-A", bad.as_bytes())];
        for req in [
            ClientRequest::new("example.com", "/").origin(bad),
            ClientRequest::new("example.com", "/").headers(&extra),
        ] {
            let mut out = [0u8; 512];
            match ClientHandshake::new(req, Config::default(), TestRng::new(1), &mut out) {
                Err(e) => assert_eq!(e, HandshakeError::InvalidHeader),
                Ok((_, n)) => {
                    let mut server = ServerHandshake::new(Config::default());
                    let mut headers = [EMPTY_HEADER; 16];
                    let r = server.parse(&out[..n], &mut headers).map(|_| ());
                    assert_eq!(r, Ok(()), "request with {bad:?} written but not parsable");
                }
            }
        }

        // The server side: a 101 with the extra header.
        let mut out = [0u8; 512];
        let (mut client, n) = ClientHandshake::new(
            ClientRequest::new("example.com", "/"),
            Config::default(),
            TestRng::new(1),
            &mut out,
        )
        .unwrap();
        let mut server = ServerHandshake::new(Config::default());
        let mut headers = [EMPTY_HEADER; 16];
        let Ok(Status::Complete(req)) = server.parse(&out[..n], &mut headers) else {
            panic!()
        };
        let mut response = [0u8; 512];
        match req.accept(&Accept::new().headers(&extra), &mut response) {
            Err(e) => assert_eq!(e, HandshakeError::InvalidHeader),
            Ok((m, _)) => {
                let mut headers = [EMPTY_HEADER; 16];
                let r = client.parse(&response[..m], &mut headers).map(|_| ());
                assert_eq!(r, Ok(()), "response with {bad:?} written but not parsable");
            }
        }
    }
}

// =============================================================================================
// Masking
// =============================================================================================

fn reference_mask(data: &[u8], key: [u8; 4], offset: usize) -> Vec<u8> {
    data.iter()
        .enumerate()
        .map(|(i, b)| b ^ key[(offset % 4 + i) % 4])
        .collect()
}

proptest! {
    #![proptest_config(cases(256))]

    /// Masking is the reference XOR at any offset; masking twice restores the input; masking in
    /// pieces (each at its payload offset) equals masking whole; `copy_masked` equals a copy then
    /// `apply_mask`, copying `min(src, dst)` bytes and leaving the rest of `dst` alone.
    #[test]
    fn masking_properties(
        data in vec(any::<u8>(), 0..200),
        key in any::<[u8; 4]>(),
        offset in any::<usize>(),
        splits in vec(any::<Index>(), 0..6),
        dst_extra in -8isize..8,
    ) {
        let mut once = data.clone();
        apply_mask(&mut once, key, offset);
        prop_assert_eq!(&once, &reference_mask(&data, key, offset));
        let mut twice = once.clone();
        apply_mask(&mut twice, key, offset);
        prop_assert_eq!(&twice, &data);

        let mut cuts: Vec<usize> = splits.iter().map(|i| i.index(data.len() + 1)).collect();
        cuts.sort_unstable();
        let mut pieces = data.clone();
        let mut start = 0;
        for c in cuts.into_iter().chain([data.len()]) {
            apply_mask(&mut pieces[start..c], key, offset.wrapping_add(start));
            start = c;
        }
        prop_assert_eq!(&pieces, &once);

        let dst_len = (data.len() as isize + dst_extra).max(0) as usize;
        let mut dst = vec![0x5Au8; dst_len];
        copy_masked(&data, &mut dst, key, offset);
        let n = data.len().min(dst_len);
        prop_assert_eq!(&dst[..n], &once[..n]);
        prop_assert!(dst[n..].iter().all(|&b| b == 0x5A));
    }
}

// =============================================================================================
// UTF-8
// =============================================================================================

/// Bytes that are mostly UTF-8, with every kind of breakage mixed in.
fn utf8ish() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        6 => vec(any::<char>(), 0..8).prop_map(|c| String::from_iter(c).into_bytes()),
        3 => "[a-z ]{0,8}".prop_map(String::into_bytes),
        1 => vec(any::<u8>(), 0..4),
        // A character cut short.
        2 => (any::<char>(), any::<Index>()).prop_map(|(c, i)| {
            let mut b = [0u8; 4];
            let s = c.encode_utf8(&mut b).as_bytes();
            s[..i.index(s.len())].to_vec()
        }),
        // Surrogates.
        1 => (0xA0u8..=0xBF, 0x80u8..=0xBF).prop_map(|(a, b)| vec![0xED, a, b]),
        // Overlong encodings.
        1 => prop_oneof![
            (0xC0u8..=0xC1, 0x80u8..=0xBF).prop_map(|(a, b)| vec![a, b]),
            (0x80u8..=0x9F, 0x80u8..=0xBF).prop_map(|(a, b)| vec![0xE0, a, b]),
            (0x80u8..=0x8F, 0x80u8..=0xBF, 0x80u8..=0xBF).prop_map(|(a, b, c)| vec![0xF0, a, b, c]),
        ],
        // Above U+10FFFF, and bytes that never appear.
        1 => prop_oneof![
            (0x90u8..=0xBF, 0x80u8..=0xBF, 0x80u8..=0xBF).prop_map(|(a, b, c)| vec![0xF4, a, b, c]),
            (0xF5u8..=0xFF).prop_map(|b| vec![b]),
        ],
        // Lone continuation bytes.
        1 => (0x80u8..=0xBF).prop_map(|b| vec![b]),
    ];
    vec(piece, 0..12).prop_map(|v| v.concat())
}

/// Feeds `pieces` to a validator; returns the position of the first error counted from the start
/// of the text, or `None` if valid. Checks `is_mid_character` after every piece.
fn streaming_error_position<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Option<usize> {
    let mut v = Utf8Validator::new();
    let mut fed = 0;
    let mut text = Vec::new();
    for piece in pieces {
        if let Err(e) = v.feed(piece) {
            assert!(e.carried <= 3 && e.carried <= fed, "{e:?}");
            assert!(e.valid_up_to <= piece.len(), "{e:?}");
            return Some(fed + e.valid_up_to - e.carried);
        }
        fed += piece.len();
        text.extend_from_slice(piece);
        let mid = matches!(std::str::from_utf8(&text), Err(e) if e.error_len().is_none());
        assert_eq!(v.is_mid_character(), mid, "after {:x?}", text);
    }
    v.finish().err().map(|e| fed + e.valid_up_to - e.carried)
}

proptest! {
    #![proptest_config(cases(256))]

    /// The streaming validator agrees with `core::str::from_utf8` on validity and on the position
    /// of the first error, for any split into any number of pieces, and byte by byte.
    #[test]
    fn utf8_validator_agrees_with_core(
        bytes in utf8ish(),
        splits in vec(any::<Index>(), 0..8),
    ) {
        let expected = std::str::from_utf8(&bytes).err().map(|e| e.valid_up_to());
        let mut cuts: Vec<usize> = splits.iter().map(|i| i.index(bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut pieces = Vec::new();
        let mut start = 0;
        for c in cuts.into_iter().chain([bytes.len()]) {
            pieces.push(&bytes[start..c]);
            start = c;
        }
        prop_assert_eq!(streaming_error_position(pieces), expected, "split");
        prop_assert_eq!(
            streaming_error_position(bytes.chunks(1)),
            expected,
            "byte by byte"
        );
        prop_assert_eq!(streaming_error_position([&bytes[..]]), expected, "whole");
    }
}

// =============================================================================================
// Message limits and assembly
// =============================================================================================

/// The capacity of the fixed assembler in [`message_limit_is_exact`]; the connection's limit is
/// always at most this, so the assembler itself must never fail.
const FIXED: usize = 4096;

proptest! {
    #![proptest_config(cases(256))]

    /// With `max_message_len = limit`, a message fragmented into frames of random sizes is received
    /// whole iff its length is at most `limit`; otherwise `receive` fails with `MessageTooLong`
    /// (1009, queued) on the header of the first frame that crosses the limit: the bytes consumed
    /// end exactly where that frame begins and none of its payload was delivered. Any chunking.
    /// An `ArrayVec` assembler with capacity >= the limit never fails, and a `Vec` assembler holds
    /// the message.
    #[test]
    fn message_limit_is_exact(
        limit in prop_oneof![0u64..3000, Just(FIXED as u64)],
        sizes in vec(prop_oneof![4 => 0usize..400, 1 => Just(0usize)], 1..10),
        text in any::<bool>(),
        server_receives in any::<bool>(),
        chunking in prop_oneof![
            Just(Chunking::Whole),
            Just(Chunking::Bytewise),
            (any::<u64>(), 1usize..600).prop_map(|(seed, max)| Chunking::Random { seed, max }),
        ],
        seed in any::<u64>(),
    ) {
        let kind = if text { DataKind::Text } else { DataKind::Binary };
        let total: usize = sizes.iter().sum();
        let data: Vec<u8> = (0..total).map(|i| b'a' + (i % 26) as u8).collect();
        let mut config = Config::default();
        config.max_message_len = limit;

        // Encode, remembering where each frame starts.
        let mut wire = Vec::new();
        let mut starts = Vec::new();
        let mut buf = vec![0u8; 400 + MAX_HEADER_LEN];
        let mut sender_c = Connection::client(Config::default(), TestRng::new(seed));
        let mut sender_s = Connection::server(Config::default());
        let mut at = 0;
        for (i, &len) in sizes.iter().enumerate() {
            let fin = i + 1 == sizes.len();
            let frag = &data[at..at + len];
            at += len;
            let n = if server_receives {
                sender_c.send_frame(kind, frag, fin, &mut buf).unwrap()
            } else {
                sender_s.send_frame(kind, frag, fin, &mut buf).unwrap()
            };
            starts.push(wire.len());
            wire.extend_from_slice(&buf[..n]);
        }

        let mut fixed = Assembler::new(arrayvec::ArrayVec::<u8, FIXED>::new());
        #[cfg(feature = "alloc")]
        let mut grown = Assembler::new(Vec::new());
        let mut messages = Vec::new();
        let mut on_data = |kind: DataKind, payload: &[u8], done: bool| {
            let m = fixed.push(kind, payload, done).expect("the fixed assembler failed");
            #[cfg(feature = "alloc")]
            {
                let g = grown.push(kind, payload, done).expect("the Vec assembler failed");
                assert_eq!(m, g);
            }
            if let Some(m) = m {
                messages.push(match m {
                    Message::Text(t) => t.as_bytes().to_vec(),
                    Message::Binary(b) => b.to_vec(),
                });
            }
        };
        let t = if server_receives {
            drive_with(&mut Connection::server(config), &wire, chunking, &mut on_data)
        } else {
            drive_with(&mut Connection::client(config, TestRng::new(seed)), &wire, chunking, &mut on_data)
        };

        let mut sum = 0u64;
        let crossing = sizes.iter().position(|&len| {
            sum += len as u64;
            sum > limit
        });
        match crossing {
            None => {
                prop_assert_eq!(t.end, End::Input { partial: None, unread: 0 });
                prop_assert_eq!(&messages, &vec![data.clone()]);
                prop_assert!(t.out.is_empty());
            }
            Some(k) => {
                prop_assert_eq!(t.items.last(), Some(&Item::Error(ProtocolError::MessageTooLong)));
                prop_assert_eq!(t.items.len(), k + 1, "{:?}", t);
                prop_assert_eq!(t.consumed, starts[k]);
                prop_assert_eq!(&t.partial_at_error, &None);
                let delivered: usize = t.items.iter().map(|i| match i {
                    Item::Frame { payload, .. } => payload.len(),
                    _ => 0,
                }).sum();
                prop_assert_eq!(delivered, sizes[..k].iter().sum::<usize>());
                prop_assert!(messages.is_empty());
                let role = if server_receives { Role::Server } else { Role::Client };
                prop_assert_eq!(decode_output(role, &t.out), vec![Item::Close(Some((1009, String::new())))]);
                prop_assert_eq!(t.state, State::Closed);
            }
        }
    }

    /// `Assembler<ArrayVec<u8, N>>` given a message in two or more pieces fails with
    /// `MessageTooLong` exactly at the piece that takes the joined length past `N`, and otherwise
    /// returns the joined message; after a failure the next message starts clean.
    #[test]
    fn arrayvec_assembler_fails_exactly_past_capacity(
        pieces in vec(vec(0x20u8..0x7F, 0..60), 2..8),
        text in any::<bool>(),
    ) {
        const N: usize = 100;
        let kind = if text { DataKind::Text } else { DataKind::Binary };
        let mut a = Assembler::new(arrayvec::ArrayVec::<u8, N>::new());
        let joined = pieces.concat();
        let mut sum = 0;
        let mut failed = false;
        for (i, piece) in pieces.iter().enumerate() {
            let done = i + 1 == pieces.len();
            sum += piece.len();
            let r = a.push(kind, piece, done);
            if sum > N {
                prop_assert_eq!(r, Err(ProtocolError::MessageTooLong));
                prop_assert_eq!(ProtocolError::MessageTooLong.close_code(), CloseCode::MESSAGE_TOO_BIG);
                prop_assert!(!a.is_in_progress());
                failed = true;
                break;
            } else if done {
                let expect = if text {
                    Message::Text(std::str::from_utf8(&joined).unwrap())
                } else {
                    Message::Binary(&joined)
                };
                prop_assert_eq!(r, Ok(Some(expect)));
            } else {
                prop_assert_eq!(r, Ok(None));
                prop_assert!(a.is_in_progress());
            }
        }
        prop_assert_eq!(failed, joined.len() > N);
        prop_assert_eq!(a.push(DataKind::Binary, b"x", false), Ok(None));
        prop_assert_eq!(a.push(DataKind::Binary, b"y", true), Ok(Some(Message::Binary(b"xy"))));
    }
}

/// A message that arrives whole in one piece is handed back borrowed, but a fixed assembler still
/// holds it to its capacity, so whether a message fits does not depend on how it was chunked.
#[test]
fn a_fixed_assembler_bounds_single_piece_messages_too() {
    let mut a = Assembler::new(arrayvec::ArrayVec::<u8, 4>::new());
    let big = [7u8; 100];
    assert_eq!(
        a.push(DataKind::Binary, &big, true),
        Err(ProtocolError::MessageTooLong)
    );
    // Two pieces of the same message fail the same way.
    assert_eq!(
        a.push(DataKind::Binary, &big[..50], false),
        Err(ProtocolError::MessageTooLong)
    );
    // Up to the capacity, a single piece is borrowed, not copied.
    let Ok(Some(Message::Binary(got))) = a.push(DataKind::Binary, &big[..4], true) else {
        panic!("a 4-byte message fits a 4-byte assembler");
    };
    assert!(std::ptr::eq(got, &big[..4]));
}

/// Frames built by hand still round-trip through a raw encoder (a check of the test helper).
#[test]
fn raw_frame_helper_matches_the_codec() {
    let f = raw_frame(true, 0, 1, Some([0x37, 0xfa, 0x21, 0x3d]), b"Hello");
    assert_eq!(
        f,
        [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
    );
}
