//! Helpers shared by `tests/properties.rs` and `tests/hostile.rs`: deterministic randomness, a raw
//! frame encoder (for frames a `Connection` would refuse to send), and a receive driver that
//! honours `consumed` exactly as the crate docs' driving loop does and keeps a transcript.

#![allow(dead_code)]

use std::fmt;

use sockless::{
    Connection, DataKind, Event, ProtocolError, RandomError, RandomSource, Recv, State,
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
