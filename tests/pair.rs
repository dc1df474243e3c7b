//! A client and a server `Connection` wired back to back in memory, through the public API only.
//!
//! Each scenario is a list of phases; in a phase each side runs its script of operations (send a
//! message, a fragment, a streamed frame, a Ping, a Close, or raw bytes), then the pair is driven
//! until idle: each side's output goes into the other's inbound queue, and is read back in a
//! configurable chunking (whole, one byte at a time, or random sizes from a seeded xorshift),
//! honouring `consumed` exactly as the driving loop in the crate docs does. Each side keeps a
//! transcript: whole messages, pings, pongs, the close code and reason, errors, its final state,
//! the bytes it left unread, and every byte it wrote. Every scenario must give the expected
//! transcripts, and the same transcripts (events and bytes) whole, byte by byte, and under 20
//! random chunkings. The pair itself (`Pair`, `Side`, the scripts and transcripts) lives in
//! `tests/common`.

mod common;

use common::{Delivery, Op, Pair, Phase, Seen, SideTranscript, TestRng};
use sockless::{Config, Connection, DataKind, ProtocolError, State};

/// A pair whose client draws its masking keys from a fixed seed, so that every run writes the
/// same bytes.
fn pair(config: Config, delivery: Delivery) -> Pair<TestRng> {
    Pair::new(
        Connection::client(config, TestRng::new(0x5EED)),
        Connection::server(config),
        delivery,
    )
}

fn client(ops: Vec<Op>) -> Phase {
    Phase {
        client: ops,
        server: vec![],
    }
}

fn server(ops: Vec<Op>) -> Phase {
    Phase {
        client: vec![],
        server: ops,
    }
}

/// What a side should end with.
struct Expect {
    events: Vec<Seen>,
    state: State,
}

fn expect(events: Vec<Seen>, state: State) -> Expect {
    Expect { events, state }
}

/// Runs the scenario whole, byte by byte and under 20 random chunkings: each run must give the
/// expected events and final states, and all runs the same transcripts, bytes included.
fn scenario(name: &str, config: Config, phases: &[Phase], client: Expect, server: Expect) {
    let (c, s) = pair(config, Delivery::Whole).run(phases);
    let check = |who: &str, t: &SideTranscript, e: &Expect| {
        assert_eq!(t.events, e.events, "{name}: {who}'s events");
        assert_eq!(t.state, e.state, "{name}: {who}'s state");
    };
    check("client", &c, &client);
    check("server", &s, &server);
    let runs = [Delivery::Bytewise]
        .into_iter()
        .chain((1..=20).map(Delivery::Random));
    for chunking in runs {
        let (c2, s2) = pair(config, chunking).run(phases);
        assert!(
            c2 == c,
            "{name} {chunking:?}: client\n{c2:?}\nwhole:\n{c:?}"
        );
        assert!(
            s2 == s,
            "{name} {chunking:?}: server\n{s2:?}\nwhole:\n{s:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers for the scenarios
// ---------------------------------------------------------------------------------------------

fn msg(kind: DataKind, payload: &[u8]) -> Seen {
    Seen::Message(kind, payload.to_vec())
}

fn close(code: u16, reason: &str) -> Seen {
    Seen::Close(Some((code, reason.to_owned())))
}

/// The client closes with 1000 and the server echoes it.
fn closing() -> Phase {
    client(vec![Op::Close(1000, "done".into())])
}

fn text_of_len(len: usize, seed: u8) -> String {
    (0..len)
        .map(|i| char::from(b'a' + ((i + usize::from(seed)) % 26) as u8))
        .collect()
}

fn binary_of_len(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(131) as u8) ^ seed)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

const SIZES: [usize; 7] = [0, 1, 125, 126, 65535, 65536, 1 << 20];

#[test]
fn text_messages_of_every_length_class() {
    for len in SIZES {
        let up = text_of_len(len, 0);
        let down = text_of_len(len, 7);
        scenario(
            &format!("text {len}"),
            Config::default(),
            &[
                Phase {
                    client: vec![Op::Text(up.clone())],
                    server: vec![Op::Text(down.clone())],
                },
                closing(),
            ],
            expect(
                vec![msg(DataKind::Text, down.as_bytes()), close(1000, "")],
                State::Closed,
            ),
            expect(
                vec![msg(DataKind::Text, up.as_bytes()), close(1000, "done")],
                State::Closed,
            ),
        );
    }
}

#[test]
fn binary_messages_of_every_length_class() {
    for len in SIZES {
        let up = binary_of_len(len, 0);
        let down = binary_of_len(len, 0x5A);
        scenario(
            &format!("binary {len}"),
            Config::default(),
            &[
                Phase {
                    client: vec![Op::Binary(up.clone())],
                    server: vec![Op::Binary(down.clone())],
                },
                closing(),
            ],
            expect(
                vec![msg(DataKind::Binary, &down), close(1000, "")],
                State::Closed,
            ),
            expect(
                vec![msg(DataKind::Binary, &up), close(1000, "done")],
                State::Closed,
            ),
        );
    }
}

#[test]
fn streamed_frames_equal_whole_messages() {
    // A client masks in place through send_payload at every offset; the peer sees one message.
    let payload = binary_of_len(70_001, 3);
    let text = "ñ€😀 streamed ".repeat(500);
    let half = text.len() / 2 + 1; // inside a character
    scenario(
        "streamed",
        Config::default(),
        &[
            Phase {
                client: vec![
                    Op::Stream(DataKind::Binary, payload.clone(), true, 7),
                    Op::Stream(DataKind::Text, text.as_bytes()[..half].to_vec(), false, 5),
                    Op::Stream(DataKind::Text, text.as_bytes()[half..].to_vec(), true, 3),
                ],
                server: vec![Op::Stream(DataKind::Binary, payload.clone(), true, 1000)],
            },
            closing(),
        ],
        expect(
            vec![msg(DataKind::Binary, &payload), close(1000, "")],
            State::Closed,
        ),
        expect(
            vec![
                msg(DataKind::Binary, &payload),
                msg(DataKind::Text, text.as_bytes()),
                close(1000, "done"),
            ],
            State::Closed,
        ),
    );
}

#[test]
fn multibyte_utf8_fragmented_inside_characters() {
    // 1-, 2-, 3- and 4-byte characters; fragment sizes that split most of them.
    let text = "aé€😀".repeat(40) + "ß中𝄞";
    let bytes = text.as_bytes();
    let fragments = |sizes: &[usize]| -> Vec<Op> {
        let mut ops = Vec::new();
        let mut at = 0;
        let mut sizes = sizes.iter().copied().cycle();
        while at < bytes.len() {
            let n = sizes.next().unwrap().min(bytes.len() - at);
            let fin = at + n == bytes.len();
            ops.push(Op::Frame(DataKind::Text, bytes[at..at + n].to_vec(), fin));
            at += n;
        }
        ops
    };
    let up = fragments(&[1, 2, 3, 5, 7, 11]);
    let down = fragments(&[2, 1, 0, 4, 13]);
    // Check that some fragments really end inside a character.
    let inside = up
        .iter()
        .filter(|op| matches!(op, Op::Frame(_, p, _) if std::str::from_utf8(p).is_err()))
        .count();
    assert!(inside > 10);
    scenario(
        "utf8 fragments",
        Config::default(),
        &[Phase {
            client: up,
            server: down,
        }],
        expect(vec![msg(DataKind::Text, bytes)], State::Open),
        expect(vec![msg(DataKind::Text, bytes)], State::Open),
    );
}

#[test]
fn pings_between_fragments() {
    let ping = |s: &str| Op::Ping(s.as_bytes().to_vec());
    let frag = |s: &str, fin| Op::Frame(DataKind::Text, s.as_bytes().to_vec(), fin);
    let bin = |s: &str, fin| Op::Frame(DataKind::Binary, s.as_bytes().to_vec(), fin);
    scenario(
        "pings between fragments",
        Config::default(),
        &[
            Phase {
                client: vec![
                    frag("Hel", false),
                    ping("1"),
                    frag("l", false),
                    ping("2"),
                    Op::Pong(b"unsolicited".to_vec()),
                    frag("", false),
                    ping("3"),
                    frag("o", true),
                ],
                server: vec![bin("ab", false), ping("s"), bin("c", true)],
            },
            closing(),
        ],
        expect(
            vec![
                Seen::Ping(b"s".to_vec()),
                msg(DataKind::Binary, b"abc"),
                Seen::Pong(b"1".to_vec()),
                Seen::Pong(b"2".to_vec()),
                Seen::Pong(b"3".to_vec()),
                close(1000, ""),
            ],
            State::Closed,
        ),
        expect(
            vec![
                Seen::Ping(b"1".to_vec()),
                Seen::Ping(b"2".to_vec()),
                Seen::Pong(b"unsolicited".to_vec()),
                Seen::Ping(b"3".to_vec()),
                msg(DataKind::Text, b"Hello"),
                Seen::Pong(b"s".to_vec()),
                close(1000, "done"),
            ],
            State::Closed,
        ),
    );
}

#[test]
fn ten_pings_get_ten_pongs_in_order() {
    let pings: Vec<Vec<u8>> = (0..10).map(|i| format!("ping {i}").into_bytes()).collect();
    let big: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 125]).collect();
    scenario(
        "ten pings",
        Config::default(),
        &[
            client(pings.iter().cloned().map(Op::Ping).collect()),
            server(big.iter().cloned().map(Op::Ping).collect()),
            closing(),
        ],
        expect(
            pings
                .iter()
                .cloned()
                .map(Seen::Pong)
                .chain(big.iter().cloned().map(Seen::Ping))
                .chain([close(1000, "")])
                .collect(),
            State::Closed,
        ),
        expect(
            pings
                .iter()
                .cloned()
                .map(Seen::Ping)
                .chain(big.iter().cloned().map(Seen::Pong))
                .chain([close(1000, "done")])
                .collect(),
            State::Closed,
        ),
    );
}

#[test]
fn close_started_by_the_client() {
    scenario(
        "client closes",
        Config::default(),
        &[
            client(vec![
                Op::Text("last words".into()),
                Op::Close(1001, "going away ✓".into()),
            ]),
            // Once closed, nothing more can be sent: a script that tries would panic.
        ],
        expect(vec![close(1001, "")], State::Closed),
        expect(
            vec![
                msg(DataKind::Text, b"last words"),
                close(1001, "going away ✓"),
            ],
            State::Closed,
        ),
    );
}

#[test]
fn close_started_by_the_server() {
    scenario(
        "server closes",
        Config::default(),
        &[server(vec![
            Op::Binary(vec![1, 2, 3]),
            Op::Close(4000, "bye".into()),
        ])],
        expect(
            vec![msg(DataKind::Binary, &[1, 2, 3]), close(4000, "bye")],
            State::Closed,
        ),
        expect(vec![close(4000, "")], State::Closed),
    );
    // Bytes after the server's Close are not the server's to send: the client leaves them unread.
    let late = vec![0x82, 0x03, 9, 9, 9];
    let (c, s) = pair(Config::default(), Delivery::Bytewise).run(&[server(vec![
        Op::Close(1000, String::new()),
        Op::Raw(late.clone()),
    ])]);
    assert_eq!(c.events, [close(1000, "")]);
    assert_eq!((c.unread, s.unread), (Some(late.len()), Some(0)));
}

#[test]
fn both_sides_close_at_once() {
    scenario(
        "simultaneous close",
        Config::default(),
        &[Phase {
            client: vec![Op::Close(1000, "client".into())],
            server: vec![Op::Close(1001, "server".into())],
        }],
        expect(vec![close(1001, "server")], State::Closed),
        expect(vec![close(1000, "client")], State::Closed),
    );
    // Neither echoes: each side wrote exactly its own Close.
    let (c, s) = pair(Config::default(), Delivery::Whole).run(&[Phase {
        client: vec![Op::Close(1000, "client".into())],
        server: vec![Op::Close(1001, "server".into())],
    }]);
    assert_eq!(c.wrote.len(), 2 + 4 + 2 + 6);
    assert_eq!(s.wrote, [&[0x88, 8, 0x03, 0xE9][..], b"server"].concat());
    assert_eq!((c.unread, s.unread), (Some(0), Some(0)));
}

#[test]
fn protocol_violation_gets_a_close_with_1002() {
    // An unmasked text frame from the client, after a good message.
    let unmasked = vec![0x81, 0x02, b'h', b'i'];
    scenario(
        "unmasked frame",
        Config::default(),
        &[client(vec![Op::Text("fine".into()), Op::Raw(unmasked)])],
        expect(vec![close(1002, "")], State::Closed),
        expect(
            vec![
                msg(DataKind::Text, b"fine"),
                Seen::Error(ProtocolError::UnmaskedFrame),
            ],
            State::Closed,
        ),
    );
    // A Ping just before the violation: its Pong goes out before the error's Close, whether or
    // not the server flushed between the two.
    scenario(
        "ping then violation",
        Config::default(),
        &[client(vec![
            Op::Ping(b"are you there".to_vec()),
            Op::Raw(vec![0x81, 0x02, b'h', b'i']),
        ])],
        expect(
            vec![Seen::Pong(b"are you there".to_vec()), close(1002, "")],
            State::Closed,
        ),
        expect(
            vec![
                Seen::Ping(b"are you there".to_vec()),
                Seen::Error(ProtocolError::UnmaskedFrame),
            ],
            State::Closed,
        ),
    );
    // The server closed on the error and never reads the client's echo.
    let (c, s) = pair(Config::default(), Delivery::Bytewise)
        .run(&[client(vec![Op::Raw(vec![0x81, 0x02, b'h', b'i'])])]);
    assert_eq!((c.unread, s.unread), (Some(0), None));
    assert_eq!(s.wrote, [0x88, 0x02, 0x03, 0xEA]);
    assert_eq!(c.events, [close(1002, "")]);
}

#[test]
fn invalid_utf8_gets_a_close_with_1007() {
    scenario(
        "invalid utf8",
        Config::default(),
        &[client(vec![
            Op::Frame(DataKind::Text, b"ok \xE2\x82".to_vec(), false),
            Op::Frame(DataKind::Text, b"\xAC but then \xFF".to_vec(), true),
        ])],
        expect(vec![close(1007, "")], State::Closed),
        expect(vec![Seen::Error(ProtocolError::InvalidUtf8)], State::Closed),
    );
    // Whatever the chunking, the text delivered before the error is everything before the
    // invalid byte.
    for chunking in [Delivery::Whole, Delivery::Bytewise, Delivery::Random(7)] {
        let (_, s) = pair(Config::default(), chunking).run(&[client(vec![
            Op::Frame(DataKind::Text, b"ok \xE2\x82".to_vec(), false),
            Op::Frame(DataKind::Text, b"\xAC but then \xFF".to_vec(), true),
        ])]);
        assert_eq!(
            s.unfinished,
            Some((DataKind::Text, "ok \u{20AC} but then ".as_bytes().to_vec())),
            "{chunking:?}"
        );
    }
}

#[test]
fn message_too_big_gets_a_close_with_1009() {
    let mut config = Config::default();
    config.max_message_len = 1000;
    scenario(
        "message too big",
        config,
        &[client(vec![
            Op::Binary(vec![1; 1000]),
            Op::Frame(DataKind::Binary, vec![2; 600], false),
            Op::Frame(DataKind::Binary, vec![3; 401], true),
        ])],
        expect(vec![close(1009, "")], State::Closed),
        expect(
            vec![
                msg(DataKind::Binary, &[1; 1000]),
                Seen::Error(ProtocolError::MessageTooLong),
            ],
            State::Closed,
        ),
    );
}
