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
//! random chunkings.

use std::fmt;

use sockless::{
    CloseCode, Config, Connection, DataKind, Event, Outgoing, ProtocolError, RandomError,
    RandomSource, Recv, State,
};

// ---------------------------------------------------------------------------------------------
// Deterministic randomness
// ---------------------------------------------------------------------------------------------

/// xorshift64: the chunk sizes of a random delivery.
#[derive(Clone, Debug)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // Spread the seed; never zero.
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `1..=max`.
    fn upto(&mut self, max: usize) -> usize {
        1 + (self.next() % max as u64) as usize
    }
}

/// The client's masking keys: deterministic, so that every run writes the same bytes.
fn client_rng() -> impl RandomSource {
    let mut x = XorShift::new(0x5EED);
    move |dest: &mut [u8]| -> Result<(), RandomError> {
        for b in dest {
            *b = x.next() as u8;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Scripts and transcripts
// ---------------------------------------------------------------------------------------------

/// One thing a side does at the start of a phase.
#[derive(Clone, Debug)]
enum Op {
    /// `send(Outgoing::Text)`.
    Text(String),
    /// `send(Outgoing::Binary)`.
    Binary(Vec<u8>),
    /// `send_frame`.
    Frame(DataKind, Vec<u8>, bool),
    /// `send_header` + `send_payload` in chunks of the given size.
    Stream(DataKind, Vec<u8>, bool, usize),
    /// `send(Outgoing::Ping)`.
    Ping(Vec<u8>),
    /// `send(Outgoing::Pong)`.
    Pong(Vec<u8>),
    /// `close`.
    Close(u16, String),
    /// Bytes written as they are, past the connection.
    Raw(Vec<u8>),
}

/// What a side saw.
#[derive(Clone, PartialEq, Eq)]
enum Seen {
    Message(DataKind, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
    Error(ProtocolError),
}

/// Shows long payloads by length and a prefix, so that a failing assertion stays readable.
struct Bytes<'a>(&'a [u8]);

impl fmt::Debug for Bytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() <= 32 {
            write!(f, "{:?}", String::from_utf8_lossy(self.0))
        } else {
            write!(
                f,
                "{} bytes {:?}..",
                self.0.len(),
                String::from_utf8_lossy(&self.0[..16])
            )
        }
    }
}

impl fmt::Debug for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Message(k, p) => write!(f, "Message({k:?}, {:?})", Bytes(p)),
            Self::Ping(p) => write!(f, "Ping({:?})", Bytes(p)),
            Self::Pong(p) => write!(f, "Pong({:?})", Bytes(p)),
            Self::Close(c) => write!(f, "Close({c:?})"),
            Self::Error(e) => write!(f, "Error({e:?})"),
        }
    }
}

/// Everything one side did and saw in a run.
#[derive(Clone, PartialEq, Eq)]
struct Transcript {
    events: Vec<Seen>,
    state: State,
    /// Bytes the peer wrote that this side never consumed; `None` after a protocol error (a
    /// `receive` that fails consumes nothing, even a header it decoded in the same call, so how
    /// much was consumed before the error depends on the chunking).
    unread: Option<usize>,
    /// Every byte this side wrote, in order.
    wrote: Vec<u8>,
    /// The message left unfinished (by a protocol error): the pieces delivered before the error
    /// are the same whatever the chunking.
    unfinished: Option<(DataKind, Vec<u8>)>,
}

impl fmt::Debug for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transcript")
            .field("events", &self.events)
            .field("state", &self.state)
            .field("unread", &self.unread)
            .field("wrote", &Bytes(&self.wrote))
            .field(
                "unfinished",
                &self.unfinished.as_ref().map(|(k, p)| (k, Bytes(p))),
            )
            .finish()
    }
}

/// How the bytes a side wrote arrive at the other side: the sizes of the reads.
#[derive(Clone, Copy, Debug)]
enum Chunking {
    Whole,
    Bytewise,
    Random(u64),
}

struct Reads {
    chunking: Chunking,
    rng: XorShift,
    /// The largest random read: varies with the seed, from tiny to large.
    max: usize,
}

impl Reads {
    fn new(chunking: Chunking, salt: u64) -> Self {
        let seed = match chunking {
            Chunking::Random(s) => s,
            _ => 0,
        };
        let mut rng = XorShift::new(seed * 2 + salt);
        let max = [2, 5, 16, 139, 1500, 70_000][rng.upto(6) - 1];
        Self { chunking, rng, max }
    }

    /// The size of the next read, with `available` bytes waiting.
    fn next(&mut self, available: usize) -> usize {
        let n = match self.chunking {
            Chunking::Whole => available,
            Chunking::Bytewise => 1,
            // Half the reads are tiny, the others up to the seed's maximum.
            Chunking::Random(_) if self.rng.next() % 2 == 0 => self.rng.upto(7),
            Chunking::Random(_) => self.rng.upto(self.max),
        };
        n.min(available)
    }
}

/// One end of the pair, with the driver's state around its connection.
struct Side<R> {
    conn: Connection<R>,
    /// How much of the peer's output has been read.
    read_pos: usize,
    /// Read but not yet consumed: always handed in again, in front of new bytes.
    rbuf: Vec<u8>,
    /// The message being reassembled.
    message: Option<(DataKind, Vec<u8>)>,
    events: Vec<Seen>,
    wrote: Vec<u8>,
    /// `receive` said Closed or failed: stop reading.
    done_reading: bool,
    reads: Reads,
}

impl<R: RandomSource> Side<R> {
    fn new(conn: Connection<R>, reads: Reads) -> Self {
        Self {
            conn,
            read_pos: 0,
            rbuf: Vec::new(),
            message: None,
            events: Vec::new(),
            wrote: Vec::new(),
            done_reading: false,
            reads,
        }
    }

    /// Runs one script operation.
    fn apply(&mut self, op: &Op) {
        let conn = &mut self.conn;
        let mut out = vec![0u8; 14 + 125 + op_len(op)];
        let n = match op {
            Op::Text(t) => conn.send(Outgoing::Text(t), &mut out),
            Op::Binary(b) => conn.send(Outgoing::Binary(b), &mut out),
            Op::Frame(kind, p, fin) => conn.send_frame(*kind, p, *fin, &mut out),
            Op::Ping(p) => conn.send(Outgoing::Ping(p), &mut out),
            Op::Pong(p) => conn.send(Outgoing::Pong(p), &mut out),
            Op::Close(code, reason) => conn.close(CloseCode(*code), reason, &mut out),
            Op::Raw(bytes) => {
                self.wrote.extend_from_slice(bytes);
                return;
            }
            Op::Stream(kind, payload, fin, chunk) => {
                let mut header = [0u8; 14];
                let n = conn
                    .send_header(*kind, payload.len() as u64, *fin, &mut header)
                    .unwrap_or_else(|e| panic!("{op:?}: {e}"));
                self.wrote.extend_from_slice(&header[..n]);
                let mut payload = payload.clone();
                for piece in payload.chunks_mut(*chunk) {
                    // Nothing else may go out in the middle of the frame.
                    assert_eq!(conn.poll_transmit(&mut out), Ok(0));
                    conn.send_payload(piece).unwrap();
                    self.wrote.extend_from_slice(piece);
                }
                assert_eq!(conn.payload_remaining(), 0);
                return;
            }
        };
        let n = n.unwrap_or_else(|e| panic!("{:?} {op:?}: {e}", conn.role()));
        self.wrote.extend_from_slice(&out[..n]);
    }

    /// Writes what `poll_transmit` owes the peer; whether anything was written.
    fn flush(&mut self) -> bool {
        let mut buf = [0u8; 131];
        let mut any = false;
        loop {
            let n = self.conn.poll_transmit(&mut buf).unwrap();
            if n == 0 {
                return any;
            }
            any = true;
            self.wrote.extend_from_slice(&buf[..n]);
        }
    }

    /// One turn of the driving loop: flush, read one chunk of what the peer wrote, hand everything
    /// unconsumed to `receive` until it needs input, flush again. Whether anything happened.
    fn step(&mut self, peer_wrote: &[u8]) -> bool {
        let mut progress = self.flush();
        let available = peer_wrote.len() - self.read_pos;
        if self.done_reading || available == 0 {
            return progress;
        }
        progress = true;
        let n = self.reads.next(available);
        self.rbuf
            .extend_from_slice(&peer_wrote[self.read_pos..self.read_pos + n]);
        self.read_pos += n;

        let mut pos = 0;
        while !self.done_reading {
            let r = self.conn.receive(&mut self.rbuf[pos..]);
            pos += r.consumed;
            match r.result {
                Ok(Recv::Event(event)) => record(&mut self.message, &mut self.events, event),
                Ok(Recv::NeedInput) => break,
                Ok(Recv::NeedFlush) => {
                    assert_eq!(r.consumed, 0);
                    let mut buf = [0u8; 131];
                    let n = self.conn.poll_transmit(&mut buf).unwrap();
                    assert!(n > 0, "NeedFlush with nothing to flush");
                    self.wrote.extend_from_slice(&buf[..n]);
                }
                Ok(Recv::Closed) => {
                    assert_eq!(r.consumed, 0);
                    self.done_reading = true;
                }
                Err(e) => {
                    self.events.push(Seen::Error(e));
                    self.done_reading = true;
                }
            }
        }
        // Move the unconsumed bytes to the front once per read, not once per event.
        self.rbuf.drain(..pos);
        self.flush();
        progress
    }

    fn transcript(&self, peer_wrote: &[u8]) -> Transcript {
        Transcript {
            events: self.events.clone(),
            state: self.conn.state(),
            unread: (!self.events.iter().any(|e| matches!(e, Seen::Error(_))))
                .then(|| self.rbuf.len() + peer_wrote.len() - self.read_pos),
            wrote: self.wrote.clone(),
            unfinished: self.message.clone(),
        }
    }
}

fn op_len(op: &Op) -> usize {
    match op {
        Op::Text(t) => t.len(),
        Op::Binary(p) | Op::Frame(_, p, _) | Op::Ping(p) | Op::Pong(p) => p.len(),
        Op::Close(_, r) => r.len(),
        Op::Stream(..) | Op::Raw(_) => 0,
    }
}

/// Records an event: data pieces are joined into whole messages.
fn record(message: &mut Option<(DataKind, Vec<u8>)>, events: &mut Vec<Seen>, event: Event<'_>) {
    match event {
        Event::Data {
            kind,
            payload,
            frame_done,
            message_done,
            ..
        } => {
            assert!(frame_done || !message_done);
            let (k, buf) = message.get_or_insert_with(|| (kind, Vec::new()));
            assert_eq!(*k, kind, "kind changed inside a message");
            buf.extend_from_slice(payload);
            if message_done {
                let (kind, buf) = message.take().unwrap();
                if kind == DataKind::Text {
                    assert!(std::str::from_utf8(&buf).is_ok(), "invalid text delivered");
                }
                events.push(Seen::Message(kind, buf));
            }
        }
        Event::Ping(p) => events.push(Seen::Ping(p.to_vec())),
        Event::Pong(p) => events.push(Seen::Pong(p.to_vec())),
        Event::Close(f) => events.push(Seen::Close(f.map(|f| (f.code.0, f.reason.to_owned())))),
    }
}

/// A client and a server in memory.
struct Pair<R> {
    client: Side<R>,
    server: Side<sockless::NoRandom>,
}

fn pair(config: Config, chunking: Chunking) -> Pair<impl RandomSource> {
    Pair {
        client: Side::new(
            Connection::client(config, client_rng()),
            Reads::new(chunking, 1),
        ),
        server: Side::new(Connection::server(config), Reads::new(chunking, 2)),
    }
}

impl<R: RandomSource> Pair<R> {
    /// Delivers bytes both ways until neither side has anything to read or write.
    fn drive(&mut self) {
        for _ in 0..100_000_000u64 {
            let a = self.client.step(&self.server.wrote);
            let b = self.server.step(&self.client.wrote);
            if !a && !b {
                return;
            }
        }
        panic!("the pair never went idle");
    }

    fn run(&mut self, phases: &[Phase]) -> (Transcript, Transcript) {
        for phase in phases {
            for op in &phase.client {
                self.client.apply(op);
            }
            for op in &phase.server {
                self.server.apply(op);
            }
            self.drive();
        }
        // A message left unfinished only by a protocol error.
        for side in [&self.client.message, &self.server.message] {
            assert!(side.is_none() || self.client.done_reading || self.server.done_reading);
        }
        (
            self.client.transcript(&self.server.wrote),
            self.server.transcript(&self.client.wrote),
        )
    }
}

/// What each side does at the start of a phase, before the pair is driven until idle.
#[derive(Clone, Debug, Default)]
struct Phase {
    client: Vec<Op>,
    server: Vec<Op>,
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
    let (c, s) = pair(config, Chunking::Whole).run(phases);
    let check = |who: &str, t: &Transcript, e: &Expect| {
        assert_eq!(t.events, e.events, "{name}: {who}'s events");
        assert_eq!(t.state, e.state, "{name}: {who}'s state");
    };
    check("client", &c, &client);
    check("server", &s, &server);
    let runs = [Chunking::Bytewise]
        .into_iter()
        .chain((1..=20).map(Chunking::Random));
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
    let (c, s) = pair(Config::default(), Chunking::Bytewise).run(&[server(vec![
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
    let (c, s) = pair(Config::default(), Chunking::Whole).run(&[Phase {
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
    let (c, s) = pair(Config::default(), Chunking::Bytewise)
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
    for chunking in [Chunking::Whole, Chunking::Bytewise, Chunking::Random(7)] {
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
