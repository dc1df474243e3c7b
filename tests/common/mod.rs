//! The one home of the integration suites' test support (each suite includes it with
//! `mod common;`, and `examples/embedded/tests` with `#[path]`): deterministic randomness (the
//! xorshift generator, `TestRng`), a raw frame encoder (for frames a `Connection` would refuse to
//! send), a receive driver that honours `consumed` exactly as the crate docs' driving loop does
//! and keeps a transcript, the read sizes of a delivery between two ends, and `Pair`: a client
//! and a server wired back to back and driven until idle. And, in [`example`], the harness of the
//! suites that run the built examples as child processes over loopback.

#![allow(dead_code)]

pub mod example;

use std::fmt;

use sockless::{
    CloseCode, Connection, DataKind, Event, NoRandom, Outgoing, ProtocolError, RandomError,
    RandomSource, Recv, State,
};

// ---------------------------------------------------------------------------------------------
// Deterministic randomness
// ---------------------------------------------------------------------------------------------

/// xorshift64.
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `1..=max`.
    pub fn upto(&mut self, max: usize) -> usize {
        1 + (self.next() % max.max(1) as u64) as usize
    }
}

/// A deterministic `RandomSource` (masking keys, client keys): the same seed draws the same bytes.
#[derive(Clone, Debug)]
pub struct TestRng(XorShift);

impl TestRng {
    pub fn new(seed: u64) -> Self {
        Self(XorShift::new(seed))
    }
}

impl RandomSource for TestRng {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError> {
        for b in dest {
            *b = self.0.next() as u8;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Raw frames
// ---------------------------------------------------------------------------------------------

/// Encodes a frame byte by byte, with the minimal length encoding, whatever the rules say (any
/// opcode nibble, RSV bits, FIN on control frames). The payload is masked with `mask` if given.
pub fn raw_frame(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    raw_frame_into(&mut out, fin, rsv, opcode, mask, payload);
    out
}

/// [`raw_frame`], appended to `out`.
pub fn raw_frame_into(
    out: &mut Vec<u8>,
    fin: bool,
    rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) {
    raw_header_into(out, fin, rsv, opcode, mask, payload.len() as u64);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        for (i, b) in out[start..].iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
}

/// A frame header alone, declaring `len` payload bytes.
pub fn raw_header_into(
    out: &mut Vec<u8>,
    fin: bool,
    rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    len: u64,
) {
    out.push((u8::from(fin) << 7) | ((rsv & 7) << 4) | (opcode & 0xF));
    let m = if mask.is_some() { 0x80 } else { 0 };
    if len < 126 {
        out.push(m | len as u8);
    } else if len <= 0xFFFF {
        out.push(m | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
}

// ---------------------------------------------------------------------------------------------
// Driving a receiver
// ---------------------------------------------------------------------------------------------

/// Shows long payloads by length and a prefix, so that failing assertions stay readable.
pub struct Bytes<'a>(pub &'a [u8]);

impl fmt::Debug for Bytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() <= 40 {
            write!(f, "{:?}", String::from_utf8_lossy(self.0))
        } else {
            write!(
                f,
                "{} bytes {:?}..",
                self.0.len(),
                String::from_utf8_lossy(&self.0[..24])
            )
        }
    }
}

/// Something a receiver saw. Data is recorded per frame: the pieces of one frame joined.
#[derive(Clone, PartialEq, Eq)]
pub enum Item {
    Frame {
        kind: DataKind,
        payload: Vec<u8>,
        message_done: bool,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
    Error(ProtocolError),
}

impl fmt::Debug for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Frame {
                kind,
                payload,
                message_done,
                ..
            } => write!(
                f,
                "Frame({kind:?}, {:?}, done={message_done})",
                Bytes(payload)
            ),
            Self::Ping(p) => write!(f, "Ping({:?})", Bytes(p)),
            Self::Pong(p) => write!(f, "Pong({:?})", Bytes(p)),
            Self::Close(c) => write!(f, "Close({c:?})"),
            Self::Error(e) => write!(f, "Error({e:?})"),
        }
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// `receive` answered `Recv::Closed`.
    Closed,
    /// `receive` failed (the error is the last item).
    Error,
    /// The input ran out: the payload of the frame in progress so far (joined), and how many
    /// bytes were left unconsumed.
    Input {
        partial: Option<Vec<u8>>,
        unread: usize,
    },
}

/// Everything a receiver saw and wrote in one run.
#[derive(Clone, PartialEq, Eq)]
pub struct Transcript {
    pub items: Vec<Item>,
    pub end: End,
    /// Every byte `poll_transmit` produced, in order.
    pub out: Vec<u8>,
    pub state: State,
    /// The sum of `consumed`; only meaningful when the run did not end in an error (a `receive`
    /// that fails consumes nothing, even a header it decoded in the same call).
    pub consumed: usize,
    pub need_flush: usize,
    /// After an error: the pieces of the failing frame delivered before it, joined (`None` if
    /// none was). Compared across chunkings: invalid text delivers exactly the bytes before the
    /// first byte at which it can no longer be valid, however it is split.
    pub partial_at_error: Option<Vec<u8>>,
}

impl fmt::Debug for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transcript")
            .field("items", &self.items)
            .field("end", &self.end)
            .field("out", &Bytes(&self.out))
            .field("state", &self.state)
            .field("consumed", &self.consumed)
            .finish()
    }
}

/// Items, end, output, state, bytes consumed (unless failed), pieces delivered before an error.
pub type Comparable<'a> = (
    &'a [Item],
    &'a End,
    &'a [u8],
    State,
    Option<usize>,
    Option<&'a [u8]>,
);

impl Transcript {
    /// What must not depend on the chunking: after an error too, the payload delivered before
    /// it (the items and the failing frame's pieces) and the error itself.
    pub fn comparable(&self) -> Comparable<'_> {
        let consumed = (self.end != End::Error).then_some(self.consumed);
        let partial = self.partial_at_error.as_deref();
        (
            &self.items,
            &self.end,
            &self.out,
            self.state,
            consumed,
            partial,
        )
    }
}

/// The sizes of the reads that deliver a stream.
#[derive(Clone, Copy, Debug)]
pub enum Chunking {
    Whole,
    Bytewise,
    /// Seeded random sizes in `1..=max`.
    Random {
        seed: u64,
        max: usize,
    },
}

impl Chunking {
    pub fn sizes(self) -> impl FnMut() -> usize {
        let mut rng = XorShift::new(match self {
            Self::Random { seed, .. } => seed,
            _ => 0,
        });
        move || match self {
            Self::Whole => usize::MAX,
            Self::Bytewise => 1,
            Self::Random { max, .. } => rng.upto(max),
        }
    }
}

/// Writes everything `poll_transmit` owes into `out`; returns how many bytes.
pub fn flush<R: RandomSource>(conn: &mut Connection<R>, out: &mut Vec<u8>) -> usize {
    let mut buf = [0u8; 256];
    let mut total = 0;
    loop {
        let n = conn.poll_transmit(&mut buf).expect("poll_transmit");
        if n == 0 {
            return total;
        }
        out.extend_from_slice(&buf[..n]);
        total += n;
    }
}

/// Feeds `stream` to `conn` in reads of the sizes `chunking` gives: each read is appended behind
/// the unconsumed bytes, `receive` is called until it needs input (flushing on `NeedFlush`), the
/// consumed bytes are dropped from the front, and `poll_transmit` is flushed after each read.
/// Stops at `Recv::Closed` or an error.
pub fn drive<R: RandomSource>(
    conn: &mut Connection<R>,
    stream: &[u8],
    chunking: Chunking,
) -> Transcript {
    drive_with(conn, stream, chunking, &mut |_, _, _| {})
}

/// [`drive`], also handing every data piece (kind, payload, message_done) to `on_data` as it
/// arrives.
pub fn drive_with<R: RandomSource>(
    conn: &mut Connection<R>,
    stream: &[u8],
    chunking: Chunking,
    on_data: &mut dyn FnMut(DataKind, &[u8], bool),
) -> Transcript {
    let mut sizes = chunking.sizes();
    let mut pending: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut t = Transcript {
        items: Vec::new(),
        end: End::Input {
            partial: None,
            unread: 0,
        },
        out: Vec::new(),
        state: State::Open,
        consumed: 0,
        need_flush: 0,
        partial_at_error: None,
    };
    let mut frame: Option<(DataKind, Vec<u8>)> = None;
    let mut stopped = None;
    while fed < stream.len() && stopped.is_none() {
        let n = sizes().min(stream.len() - fed);
        pending.extend_from_slice(&stream[fed..fed + n]);
        fed += n;
        let mut pos = 0;
        let mut idle = 0;
        loop {
            let r = conn.receive(&mut pending[pos..]);
            pos += r.consumed;
            t.consumed += r.consumed;
            idle = if r.consumed == 0 { idle + 1 } else { 0 };
            assert!(idle < 4, "receive makes no progress: {:?}", r.result);
            match r.result {
                Ok(Recv::NeedInput) => break,
                Ok(Recv::NeedFlush) => {
                    t.need_flush += 1;
                    let n = flush(conn, &mut t.out);
                    assert!(n > 0, "NeedFlush with nothing to flush");
                }
                Ok(Recv::Closed) => {
                    stopped = Some(End::Closed);
                    break;
                }
                Ok(Recv::Event(event)) => match event {
                    Event::Data {
                        kind,
                        payload,
                        frame_done,
                        message_done,
                        ..
                    } => {
                        let (k, joined) = frame.get_or_insert_with(|| (kind, Vec::new()));
                        assert_eq!(*k, kind, "kind changed inside a frame");
                        assert!(
                            !payload.is_empty() || (frame_done && joined.is_empty()),
                            "an empty piece that is not an empty frame"
                        );
                        assert!(!message_done || frame_done, "message done before its frame");
                        joined.extend_from_slice(payload);
                        on_data(kind, payload, message_done);
                        if frame_done {
                            let (kind, payload) = frame.take().unwrap();
                            t.items.push(Item::Frame {
                                kind,
                                payload,
                                message_done,
                            });
                        }
                    }
                    Event::Ping(p) => t.items.push(Item::Ping(p.to_vec())),
                    Event::Pong(p) => t.items.push(Item::Pong(p.to_vec())),
                    Event::Close(c) => t
                        .items
                        .push(Item::Close(c.map(|c| (c.code.0, c.reason.to_owned())))),
                },
                Err(e) => {
                    t.items.push(Item::Error(e));
                    t.partial_at_error = frame.take().map(|(_, p)| p);
                    stopped = Some(End::Error);
                    break;
                }
            }
        }
        pending.drain(..pos);
        flush(conn, &mut t.out);
    }
    flush(conn, &mut t.out);
    t.end = stopped.unwrap_or(End::Input {
        partial: frame.map(|(_, p)| p),
        unread: pending.len() + (stream.len() - fed),
    });
    t.state = conn.state();
    t
}

// ---------------------------------------------------------------------------------------------
// Read sizes between two ends
// ---------------------------------------------------------------------------------------------

/// How the bytes one end wrote reach the other (in a [`Pair`], and in the conformance harness):
/// whole, one byte at a time, or in reads of seeded random sizes.
#[derive(Clone, Copy, Debug)]
pub enum Delivery {
    Whole,
    Bytewise,
    Random(u64),
}

/// The sizes of the reads of a [`Delivery`]. Random reads are tiny (1 to 7 bytes) half the time,
/// and otherwise up to a largest read that each seed draws from a table, so that the seeds range
/// from tiny reads to large ones.
pub struct Reads {
    delivery: Delivery,
    rng: XorShift,
    /// The largest random read: varies with the seed.
    max: usize,
}

impl Reads {
    /// The reads of `delivery`; a random one draws its largest read from `maxes`.
    pub fn new(delivery: Delivery, maxes: [usize; 6]) -> Self {
        let mut rng = XorShift::new(match delivery {
            Delivery::Random(seed) => seed,
            _ => 0,
        });
        let max = maxes[rng.upto(6) - 1];
        Self { delivery, rng, max }
    }

    /// The size of the next read, with `available` bytes waiting.
    pub fn next(&mut self, available: usize) -> usize {
        let n = match self.delivery {
            Delivery::Whole => available,
            Delivery::Bytewise => 1,
            Delivery::Random(_) if self.rng.next() % 2 == 0 => self.rng.upto(7),
            Delivery::Random(_) => self.rng.upto(self.max),
        };
        n.min(available)
    }
}

// ---------------------------------------------------------------------------------------------
// A client and a server wired back to back
// ---------------------------------------------------------------------------------------------

/// One thing a side does at the start of a phase.
#[derive(Clone, Debug)]
pub enum Op {
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
pub enum Seen {
    Message(DataKind, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
    Error(ProtocolError),
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
pub struct SideTranscript {
    pub events: Vec<Seen>,
    pub state: State,
    /// Bytes the peer wrote that this side never consumed; `None` after a protocol error (a
    /// `receive` that fails consumes nothing, even a header it decoded in the same call, so how
    /// much was consumed before the error depends on the chunking).
    pub unread: Option<usize>,
    /// Every byte this side wrote, in order.
    pub wrote: Vec<u8>,
    /// The message left unfinished (by a protocol error): the pieces delivered before the error
    /// are the same whatever the chunking.
    pub unfinished: Option<(DataKind, Vec<u8>)>,
}

impl fmt::Debug for SideTranscript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SideTranscript")
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

/// One end of the pair, with the driver's state around its connection.
pub struct Side<R> {
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
    pub fn new(conn: Connection<R>, reads: Reads) -> Self {
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
    pub fn apply(&mut self, op: &Op) {
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
    pub fn flush(&mut self) -> bool {
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
    pub fn step(&mut self, peer_wrote: &[u8]) -> bool {
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

    pub fn transcript(&self, peer_wrote: &[u8]) -> SideTranscript {
        SideTranscript {
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

/// What each side does at the start of a phase, before the pair is driven until idle.
#[derive(Clone, Debug, Default)]
pub struct Phase {
    pub client: Vec<Op>,
    pub server: Vec<Op>,
}

/// The largest random reads between the two ends of a [`Pair`]: from a couple of bytes to
/// more than a 64 KiB frame.
const PAIR_MAX_READS: [usize; 6] = [2, 5, 16, 139, 1500, 70_000];

/// A client and a server `Connection` in memory (quinn's `Pair`): each side's output is the
/// other's input, read in the sizes of a [`Delivery`] and honouring `consumed` exactly as the
/// driving loop in the crate docs does, until neither has anything to read or write.
pub struct Pair<R> {
    pub client: Side<R>,
    pub server: Side<NoRandom>,
}

impl<R: RandomSource> Pair<R> {
    /// The pair of `client` and `server`, whose reads follow `delivery` (each side its own
    /// sizes: a random delivery gives the two sides different seeds).
    pub fn new(client: Connection<R>, server: Connection<NoRandom>, delivery: Delivery) -> Self {
        let reads = |salt| {
            let delivery = match delivery {
                Delivery::Random(seed) => Delivery::Random(seed * 2 + salt),
                other => other,
            };
            Reads::new(delivery, PAIR_MAX_READS)
        };
        Self {
            client: Side::new(client, reads(1)),
            server: Side::new(server, reads(2)),
        }
    }

    /// Delivers bytes both ways until neither side has anything to read or write.
    pub fn drive(&mut self) {
        for _ in 0..100_000_000u64 {
            let a = self.client.step(&self.server.wrote);
            let b = self.server.step(&self.client.wrote);
            if !a && !b {
                return;
            }
        }
        panic!("the pair never went idle");
    }

    pub fn run(&mut self, phases: &[Phase]) -> (SideTranscript, SideTranscript) {
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
