//! The conformance harness: a frame builder, the case row, an oracle for what an endpoint owes
//! the peer (RFC 6455 5.5.2, 5.5.3, 7.1.7), and a receive driver that runs every case whole, byte
//! by byte and in seeded random chunkings, through the public API only.
//!
//! A case names its input as frames; the builder renders them for the case's role (a frame sent by
//! a client to a server is masked, one sent by a server is not, unless the row says otherwise)
//! and remembers where every frame and payload byte sits in the stream. From that layout the
//! harness derives what must not depend on the chunking (events, error, the text delivered
//! before the error, bytes written, final state, unread bytes), and the one thing that does by
//! design: which read the error arrives on. A header rule is broken by the time the header is
//! complete, a Close frame is judged whole, and invalid text fails on the read holding the first
//! byte at which it can no longer be valid UTF-8, never later; the text delivered before that
//! error is every byte of the message before that byte, in every chunking.
//!
//! A row may also make the endpoint an echo server ([`Echo`]): it sends every message or frame
//! back as it completes, so the order of its own frames and the Pongs it owes is checked. Every
//! row is also run whole with `poll_transmit` flushed after every event, and its output must be
//! the same bytes as without those flushes.

use std::fmt::{self, Write as _};
use std::str;

use crate::common::{Delivery, Reads, TestRng};
use sockless::frame::{FrameHeader, OpCode};
use sockless::{
    CloseCode, Config, Connection, DataKind, Event, Outgoing, ProtocolError, RandomSource, Recv,
    Role, Rsv, State, Status,
};

// =============================================================================================
// Areas
// =============================================================================================

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    Framing,
    PingPong,
    ReservedBits,
    Opcodes,
    Fragmentation,
    Utf8,
    Limits,
    Closing,
    CloseCodes,
}

impl Area {
    pub const ALL: [Area; 9] = [
        Area::Framing,
        Area::PingPong,
        Area::ReservedBits,
        Area::Opcodes,
        Area::Fragmentation,
        Area::Utf8,
        Area::Limits,
        Area::Closing,
        Area::CloseCodes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Area::Framing => "framing",
            Area::PingPong => "ping/pong",
            Area::ReservedBits => "reserved bits",
            Area::Opcodes => "opcodes",
            Area::Fragmentation => "fragmentation",
            Area::Utf8 => "utf-8",
            Area::Limits => "limits",
            Area::Closing => "closing handshake",
            Area::CloseCodes => "close codes 0..=5000",
        }
    }
}

pub const ROLES: [Role; 2] = [Role::Server, Role::Client];

// =============================================================================================
// The frame builder
// =============================================================================================

/// The masking key of a frame.
#[derive(Clone, Copy, Debug)]
pub enum MaskSpec {
    /// As the peer of the case's role must send it: masked towards a server, not towards a client.
    Auto,
    /// No mask, whatever the role.
    Off,
    /// This key, whatever the role.
    Key([u8; 4]),
}

/// How the payload length is encoded.
#[derive(Clone, Copy, Debug)]
pub enum LenSpec {
    /// The minimal encoding of the payload's length.
    Minimal,
    /// The payload's length in the 16-bit extended field (non-minimal below 126).
    Ext16,
    /// The payload's length in the 64-bit extended field (non-minimal below 65536).
    Ext64,
    /// Declare this 7-bit length (0..=125), whatever the payload.
    Declare7(u8),
    /// Declare this 16-bit extended length, whatever the payload.
    Declare16(u16),
    /// Declare this 64-bit extended length, whatever the payload.
    Declare64(u64),
}

/// One frame (or raw bytes) of a case's input.
#[derive(Clone, Debug)]
pub struct Fr {
    pub fin: bool,
    pub rsv: u8,
    pub op: u8,
    pub mask: MaskSpec,
    pub payload: Vec<u8>,
    pub len: LenSpec,
    /// Bytes put on the wire as they are, instead of a frame.
    pub raw: Option<Vec<u8>>,
}

pub fn frame(op: u8, payload: impl AsRef<[u8]>) -> Fr {
    Fr {
        fin: true,
        rsv: 0,
        op,
        mask: MaskSpec::Auto,
        payload: payload.as_ref().to_vec(),
        len: LenSpec::Minimal,
        raw: None,
    }
}

pub fn text(p: impl AsRef<[u8]>) -> Fr {
    frame(1, p)
}
pub fn bin(p: impl AsRef<[u8]>) -> Fr {
    frame(2, p)
}
pub fn cont(p: impl AsRef<[u8]>) -> Fr {
    frame(0, p)
}
pub fn ping(p: impl AsRef<[u8]>) -> Fr {
    frame(9, p)
}
pub fn pong(p: impl AsRef<[u8]>) -> Fr {
    frame(10, p)
}
/// A Close frame with this exact payload.
pub fn close_raw(p: impl AsRef<[u8]>) -> Fr {
    frame(8, p)
}
/// A Close frame with a code and a reason.
pub fn close(code: u16, reason: impl AsRef<[u8]>) -> Fr {
    close_raw(close_payload(Some(code), reason.as_ref()))
}
/// Bytes as they are.
pub fn raw(bytes: impl AsRef<[u8]>) -> Fr {
    Fr {
        raw: Some(bytes.as_ref().to_vec()),
        ..frame(0, [])
    }
}

impl Fr {
    pub fn nofin(mut self) -> Self {
        self.fin = false;
        self
    }
    pub fn rsv(mut self, rsv: u8) -> Self {
        self.rsv = rsv;
        self
    }
    pub fn unmasked(mut self) -> Self {
        self.mask = MaskSpec::Off;
        self
    }
    pub fn key(mut self, key: [u8; 4]) -> Self {
        self.mask = MaskSpec::Key(key);
        self
    }
    pub fn len(mut self, len: LenSpec) -> Self {
        self.len = len;
        self
    }
}

pub fn close_payload(code: Option<u16>, reason: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    if let Some(c) = code {
        p.extend_from_slice(&c.to_be_bytes());
    }
    p.extend_from_slice(reason);
    p
}

/// Where a frame landed in the input stream.
#[derive(Clone, Debug)]
pub struct Laid {
    pub start: usize,
    pub header_end: usize,
    pub end: usize,
    pub op: u8,
    pub fin: bool,
    pub rsv: u8,
    /// The payload, unmasked.
    pub payload: Vec<u8>,
    pub raw: bool,
}

/// The masking key the builder gives the `index`th frame sent to a server: every frame differs.
fn auto_key(index: usize) -> [u8; 4] {
    let i = index as u8;
    [
        0x37 ^ i.wrapping_mul(29),
        0xFA,
        0x21u8.wrapping_add(i),
        0x3D ^ i,
    ]
}

/// Renders the frames for a receiver in `role`.
pub fn render(frames: &[Fr], role: Role) -> (Vec<u8>, Vec<Laid>) {
    let mut out = Vec::new();
    let mut layout = Vec::new();
    for (index, f) in frames.iter().enumerate() {
        let start = out.len();
        if let Some(bytes) = &f.raw {
            out.extend_from_slice(bytes);
            layout.push(Laid {
                start,
                header_end: out.len(),
                end: out.len(),
                op: 0xFF,
                fin: true,
                rsv: 0,
                payload: Vec::new(),
                raw: true,
            });
            continue;
        }
        let mask = match f.mask {
            MaskSpec::Auto if role == Role::Server => Some(auto_key(index)),
            MaskSpec::Auto | MaskSpec::Off => None,
            MaskSpec::Key(k) => Some(k),
        };
        out.push((u8::from(f.fin) << 7) | ((f.rsv & 7) << 4) | (f.op & 0xF));
        let m = if mask.is_some() { 0x80 } else { 0 };
        let n = f.payload.len();
        match f.len {
            LenSpec::Minimal if n < 126 => out.push(m | n as u8),
            LenSpec::Minimal if n <= 0xFFFF => {
                out.push(m | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            LenSpec::Minimal | LenSpec::Ext64 => {
                out.push(m | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
            LenSpec::Ext16 => {
                out.push(m | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            LenSpec::Declare7(v) => out.push(m | (v & 0x7F)),
            LenSpec::Declare16(v) => {
                out.push(m | 126);
                out.extend_from_slice(&v.to_be_bytes());
            }
            LenSpec::Declare64(v) => {
                out.push(m | 127);
                out.extend_from_slice(&v.to_be_bytes());
            }
        }
        if let Some(k) = mask {
            out.extend_from_slice(&k);
        }
        let header_end = out.len();
        out.extend(
            f.payload
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask.map_or(0, |k| k[i % 4])),
        );
        layout.push(Laid {
            start,
            header_end,
            end: out.len(),
            op: f.op,
            fin: f.fin,
            rsv: f.rsv,
            payload: f.payload.clone(),
            raw: false,
        });
    }
    (out, layout)
}

// =============================================================================================
// Events and written frames
// =============================================================================================

/// What the receiver reports, owned. Data is one whole message, its pieces joined, with the RSV
/// bits its first frame carried.
#[derive(Clone, PartialEq, Eq)]
pub enum Ev {
    Data {
        kind: DataKind,
        payload: Vec<u8>,
        rsv: Rsv,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

pub fn ev_text(s: impl AsRef<[u8]>) -> Ev {
    Ev::Data {
        kind: DataKind::Text,
        payload: s.as_ref().to_vec(),
        rsv: Rsv::NONE,
    }
}
pub fn ev_bin(p: impl AsRef<[u8]>) -> Ev {
    Ev::Data {
        kind: DataKind::Binary,
        payload: p.as_ref().to_vec(),
        rsv: Rsv::NONE,
    }
}

impl Ev {
    /// A data message whose first frame carried `bits`.
    pub fn rsv(self, bits: Rsv) -> Self {
        match self {
            Ev::Data { kind, payload, .. } => Ev::Data {
                kind,
                payload,
                rsv: bits,
            },
            other => other,
        }
    }
}
pub fn ev_ping(p: impl AsRef<[u8]>) -> Ev {
    Ev::Ping(p.as_ref().to_vec())
}
pub fn ev_pong(p: impl AsRef<[u8]>) -> Ev {
    Ev::Pong(p.as_ref().to_vec())
}
pub fn ev_close(code: u16, reason: &str) -> Ev {
    Ev::Close(Some((code, reason.to_owned())))
}
pub fn ev_close_empty() -> Ev {
    Ev::Close(None)
}

/// Shows long byte strings by length and a prefix.
pub struct Bytes<'a>(pub &'a [u8]);

impl fmt::Debug for Bytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = &self.0[..self.0.len().min(24)];
        if self.0.len() > 24 {
            write!(f, "{} bytes {}..", self.0.len(), hex(shown))
        } else {
            write!(f, "[{}]", hex(shown))
        }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::new();
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

impl fmt::Debug for Ev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ev::Data { kind, payload, rsv } if rsv.is_empty() => {
                write!(f, "Data({kind:?}, {:?})", Bytes(payload))
            }
            Ev::Data { kind, payload, rsv } => {
                write!(
                    f,
                    "Data({kind:?}, {:?}, rsv {:#05b})",
                    Bytes(payload),
                    rsv.bits()
                )
            }
            Ev::Ping(p) => write!(f, "Ping({:?})", Bytes(p)),
            Ev::Pong(p) => write!(f, "Pong({:?})", Bytes(p)),
            Ev::Close(c) => write!(f, "Close({c:?})"),
        }
    }
}

/// A frame written back to the peer, decoded (and unmasked for a client).
#[derive(Clone, PartialEq, Eq)]
pub struct Wf {
    pub op: OpCode,
    pub fin: bool,
    pub payload: Vec<u8>,
}

impl fmt::Debug for Wf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fin = if self.fin { "" } else { ", no fin" };
        write!(f, "{:?}({:?}{fin})", self.op, Bytes(&self.payload))
    }
}

pub fn wf_pong(p: &[u8]) -> Wf {
    wf_frame(OpCode::Pong, p, true)
}
pub fn wf_close(code: Option<u16>, reason: &str) -> Wf {
    wf_frame(OpCode::Close, close_payload(code, reason.as_bytes()), true)
}
/// A data frame the echo wrote.
pub fn wf_frame(op: OpCode, p: impl AsRef<[u8]>, fin: bool) -> Wf {
    Wf {
        op,
        fin,
        payload: p.as_ref().to_vec(),
    }
}
pub fn wf_text(p: impl AsRef<[u8]>) -> Wf {
    wf_frame(OpCode::Text, p, true)
}
pub fn wf_bin(p: impl AsRef<[u8]>) -> Wf {
    wf_frame(OpCode::Binary, p, true)
}

/// The Close this endpoint put on the wire, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireClose {
    Nothing,
    Empty,
    Code(u16),
}

fn wire_close_of(written: &[Wf]) -> WireClose {
    match written.iter().rev().find(|w| w.op == OpCode::Close) {
        None => WireClose::Nothing,
        Some(w) if w.payload.len() < 2 => WireClose::Empty,
        Some(w) => WireClose::Code(u16::from_be_bytes([w.payload[0], w.payload[1]])),
    }
}

/// Decodes what the endpoint wrote, checking the masking direction, that no frame sets a reserved
/// bit and that only data frames (the echo's) go without FIN.
fn decode_written(mut bytes: &[u8], role: Role) -> Result<Vec<Wf>, String> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        let (h, n) = match FrameHeader::decode(bytes) {
            Ok(Status::Complete(x)) => x,
            other => return Err(format!("undecodable output {:?}: {other:?}", Bytes(bytes))),
        };
        let len = h.payload_len as usize;
        let Some(body) = bytes.get(n..n + len) else {
            return Err(format!("truncated output frame {:?}", Bytes(bytes)));
        };
        match (role, h.mask) {
            (Role::Server, Some(_)) => return Err("a server masked its frame".into()),
            (Role::Client, None) => return Err("a client sent an unmasked frame".into()),
            _ => {}
        }
        if (!h.fin && h.opcode.is_control()) || h.rsv != 0 {
            return Err(format!(
                "written {:?} frame with fin={} rsv={}",
                h.opcode, h.fin, h.rsv
            ));
        }
        let payload = body
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ h.mask.map_or(0, |k| k[i % 4]))
            .collect();
        frames.push(Wf {
            op: h.opcode,
            fin: h.fin,
            payload,
        });
        bytes = &bytes[n + len..];
    }
    Ok(frames)
}

// =============================================================================================
// The case row
// =============================================================================================

/// How an echo server sends back what it receives (the Autobahn 5.x setting), while open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Echo {
    /// Each whole message with `send`, as soon as its last piece arrives.
    Message,
    /// Each frame with `send_frame`, with the same fragmentation, as soon as it is complete.
    Frames,
    /// Each frame with `send_header` and then `send_payload` in two chunks, as soon as it is
    /// complete.
    Streamed,
}

pub struct Case {
    pub name: String,
    pub area: Area,
    pub role: Role,
    pub config: Config,
    /// The RSV bits negotiated extensions own (`Connection::with_extension_bits`).
    pub extension_bits: Rsv,
    /// The endpoint echoes what it receives. With `Frames` or `Streamed`, `written` must be given.
    pub echo: Option<Echo>,
    /// `close(code, reason)` called once this many events were reported (0: before any input).
    pub local_close: Option<(u16, String, usize)>,
    pub frames: Vec<Fr>,
    pub events: Vec<Ev>,
    /// The acceptable errors (usually one) and the close code that must go on the wire for it.
    pub error: Option<(Vec<ProtocolError>, u16)>,
    /// Overrides of the derived expectations.
    pub written: Option<Vec<Wf>>,
    pub wire_close: Option<WireClose>,
    pub state: Option<State>,
    pub unread: Option<usize>,
    /// The frame that breaks the rule (default: the last).
    pub bad_frame: Option<usize>,
    /// The message left unfinished at the end, when the input stops inside a frame.
    pub unfinished: Option<Option<(DataKind, Vec<u8>)>>,
}

pub fn case(area: Area, role: Role, name: impl fmt::Display) -> Case {
    let role_name = match role {
        Role::Server => "server",
        Role::Client => "client",
    };
    Case {
        name: format!("{} [{role_name}] {name}", area.name()),
        area,
        role,
        config: Config::default(),
        extension_bits: Rsv::NONE,
        echo: None,
        local_close: None,
        frames: Vec::new(),
        events: Vec::new(),
        error: None,
        written: None,
        wire_close: None,
        state: None,
        unread: None,
        bad_frame: None,
        unfinished: None,
    }
}

impl Case {
    pub fn frames(mut self, frames: Vec<Fr>) -> Self {
        self.frames = frames;
        self
    }
    pub fn expect(mut self, events: Vec<Ev>) -> Self {
        self.events = events;
        self
    }
    pub fn fails(self, e: ProtocolError, code: u16) -> Self {
        self.fails_any(&[e], code)
    }
    /// Any of these errors is right (the RFC does not order the checks).
    pub fn fails_any(mut self, es: &[ProtocolError], code: u16) -> Self {
        self.error = Some((es.to_vec(), code));
        self
    }
    pub fn config(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(&mut self.config);
        self
    }
    /// The endpoint runs with these RSV bits owned by a negotiated extension.
    pub fn owns(mut self, bits: Rsv) -> Self {
        self.extension_bits = bits;
        self
    }
    pub fn echo(mut self, echo: Echo) -> Self {
        self.echo = Some(echo);
        self
    }
    pub fn local_close(self, code: u16, reason: &str) -> Self {
        self.local_close_after(0, code, reason)
    }
    /// `close(code, reason)` called while handling the `events`th event, before anything is
    /// flushed.
    pub fn local_close_after(mut self, events: usize, code: u16, reason: &str) -> Self {
        self.local_close = Some((code, reason.to_owned(), events));
        self
    }
    pub fn writes(mut self, w: Vec<Wf>) -> Self {
        self.written = Some(w);
        self
    }
    pub fn wire(mut self, w: WireClose) -> Self {
        self.wire_close = Some(w);
        self
    }
    pub fn state(mut self, s: State) -> Self {
        self.state = Some(s);
        self
    }
    pub fn unread(mut self, n: usize) -> Self {
        self.unread = Some(n);
        self
    }
    pub fn bad_frame(mut self, i: usize) -> Self {
        self.bad_frame = Some(i);
        self
    }
    pub fn unfinished(mut self, kind: DataKind, bytes: impl AsRef<[u8]>) -> Self {
        self.unfinished = Some(Some((kind, bytes.as_ref().to_vec())));
        self
    }
}

// =============================================================================================
// Expectations derived from the row
// =============================================================================================

/// The message left unfinished at the end.
enum PartialExp {
    Exact(Option<(DataKind, Vec<u8>)>),
    /// Invalid text: exactly the bytes of the failing message before the first byte at which it
    /// can no longer be valid UTF-8, whatever the chunking.
    FailFast(Vec<u8>),
}

struct Expected {
    input: Vec<u8>,
    written: Vec<Wf>,
    wire_close: WireClose,
    state: State,
    /// Bytes left unconsumed at the end (not compared after an error).
    unread: Option<usize>,
    partial: PartialExp,
    /// The error must arrive on a read that holds some byte in this inclusive range.
    window: Option<(usize, usize)>,
}

fn prefix_ok(bytes: &[u8]) -> bool {
    match str::from_utf8(bytes) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

fn kind_of(op: u8) -> DataKind {
    if op == 1 {
        DataKind::Text
    } else {
        DataKind::Binary
    }
}

/// Finds the first text message that is not valid UTF-8: the offset of the byte on whose arrival
/// it must fail, and the message bytes before it.
fn utf8_trigger(layout: &[Laid]) -> Option<(usize, PartialExp)> {
    let mut cur: Option<(DataKind, Vec<(usize, u8)>)> = None;
    for f in layout.iter().filter(|f| !f.raw && f.op <= 2) {
        if f.op != 0 || cur.is_none() {
            // A message with an extension's bits is not text until its layer decodes it.
            let kind = if f.rsv != 0 {
                DataKind::Binary
            } else {
                kind_of(f.op)
            };
            cur = Some((kind, Vec::new()));
        }
        let Some((kind, msg)) = cur.as_mut() else {
            continue;
        };
        msg.extend(
            f.payload
                .iter()
                .enumerate()
                .map(|(i, &b)| (f.header_end + i, b)),
        );
        if *kind == DataKind::Text {
            let bytes: Vec<u8> = msg.iter().map(|&(_, b)| b).collect();
            if let Err(e) = str::from_utf8(&bytes) {
                let found = if e.error_len().is_some() {
                    (e.valid_up_to()..bytes.len()).find(|&q| !prefix_ok(&bytes[..=q]))
                } else if f.fin {
                    // Ends inside a character: fails when the message's last byte arrives.
                    Some(bytes.len())
                } else {
                    None
                };
                if let Some(q) = found {
                    // A message ending inside a character can no longer be valid at its last
                    // byte (or, if its last frame is empty, at that frame's header).
                    let q = if q == bytes.len() && f.payload.is_empty() {
                        q
                    } else {
                        q.min(bytes.len().saturating_sub(1))
                    };
                    let trigger = msg.get(q).map_or(f.end - 1, |&(o, _)| o);
                    return Some((trigger, PartialExp::FailFast(bytes[..q].to_vec())));
                }
            }
        }
        if f.fin {
            cur = None;
        }
    }
    None
}

fn expectations(case: &Case) -> Result<Expected, String> {
    let (input, layout) = render(&case.frames, case.role);
    let cfg = &case.config;

    // The RFC oracle for what this endpoint writes back.
    let mut written = Vec::new();
    let mut we_closed = false;
    let mut peer_closed = false;
    let close_locally = |written: &mut Vec<Wf>, at: usize| {
        if let Some((code, reason, _)) = case.local_close.as_ref().filter(|l| l.2 == at) {
            written.push(wf_close(
                (*code != CloseCode::NO_STATUS.0).then_some(*code),
                reason,
            ));
            return true;
        }
        false
    };
    for (i, ev) in case.events.iter().enumerate() {
        we_closed |= close_locally(&mut written, i);
        match ev {
            // RFC 6455 5.5.2: a Pong for every Ping unless a Close was received (our own Close
            // forbids only data frames, 5.5.1).
            Ev::Ping(p) if cfg.auto_pong && !peer_closed => written.push(wf_pong(p)),
            Ev::Data { kind, payload, .. } if case.echo == Some(Echo::Message) && !we_closed => {
                written.push(match kind {
                    DataKind::Text => wf_text(payload),
                    DataKind::Binary => wf_bin(payload),
                });
            }
            Ev::Close(c) => {
                peer_closed = true;
                if !we_closed && cfg.auto_close {
                    written.push(wf_close(c.as_ref().map(|c| c.0), ""));
                    we_closed = true;
                }
            }
            _ => {}
        }
    }
    we_closed |= close_locally(&mut written, case.events.len());
    if let Some((_, code)) = &case.error {
        if !we_closed {
            written.push(wf_close(Some(*code), ""));
        }
    }
    let state = if case.error.is_some() {
        State::Closed
    } else if peer_closed {
        if case.local_close.is_some() || cfg.auto_close {
            State::Closed
        } else {
            State::CloseReceived
        }
    } else if case.local_close.is_some() {
        State::CloseSent
    } else {
        State::Open
    };

    // Where processing stops: at the bad frame, after the peer's first Close, or at the end.
    let bad = case
        .error
        .as_ref()
        .map(|_| case.bad_frame.unwrap_or(layout.len().saturating_sub(1)));
    if let Some(b) = bad {
        if b >= layout.len() {
            return Err(format!("bad frame {b} out of range"));
        }
    }
    let first_close = layout.iter().position(|f| !f.raw && f.op == 8);
    let stop = bad.unwrap_or_else(|| first_close.map_or(layout.len(), |i| i + 1));
    let unread = match (&case.error, case.unread) {
        (Some(_), _) => None,
        (None, Some(n)) => Some(n),
        (None, None) => Some(first_close.map_or(0, |i| input.len() - layout[i].end)),
    };

    let mut cur: Option<(DataKind, Vec<u8>)> = None;
    for f in layout[..stop].iter().filter(|f| !f.raw && f.op <= 2) {
        if f.op != 0 {
            cur = Some((kind_of(f.op), Vec::new()));
        }
        if let Some((_, p)) = cur.as_mut() {
            p.extend_from_slice(&f.payload);
        }
        if f.fin {
            cur = None;
        }
    }
    let mut partial = PartialExp::Exact(case.unfinished.clone().unwrap_or(cur));

    let mut window = None;
    if let (Some((errs, _)), Some(b)) = (&case.error, bad) {
        let f = &layout[b];
        let utf8 = errs.contains(&ProtocolError::InvalidUtf8);
        if utf8 && !f.raw && f.op <= 2 {
            let (trigger, p) = utf8_trigger(&layout)
                .ok_or("expects invalid UTF-8, but every text message is valid")?;
            window = Some((trigger, trigger));
            partial = p;
        } else if !f.raw && f.op == 8 && errs.iter().all(|e| close_payload_error(*e)) {
            window = Some((f.end - 1, f.end - 1));
        } else if f.raw {
            window = Some((f.start, f.end.max(f.start + 1) - 1));
        } else {
            window = Some((f.start, f.header_end - 1));
        }
    }

    if matches!(case.echo, Some(Echo::Frames | Echo::Streamed)) && case.written.is_none() {
        return Err("an echo of frames needs the frames written to be given".into());
    }
    let written = case.written.clone().unwrap_or(written);
    let wire_close = case.wire_close.unwrap_or_else(|| wire_close_of(&written));
    Ok(Expected {
        input,
        written,
        wire_close,
        state: case.state.unwrap_or(state),
        unread,
        partial,
        window,
    })
}

fn close_payload_error(e: ProtocolError) -> bool {
    matches!(
        e,
        ProtocolError::InvalidClosePayload
            | ProtocolError::InvalidCloseCode(_)
            | ProtocolError::InvalidUtf8
    )
}

// =============================================================================================
// Chunkings
// =============================================================================================

/// One run of a case: the read sizes, and whether `poll_transmit` is flushed after every event
/// (`eager`) or only after each read and on `NeedFlush`.
#[derive(Clone, Copy, Debug)]
struct Run {
    chunking: Delivery,
    eager: bool,
}

/// The largest random reads of a case's runs: tiny, around a control frame, or large.
const MAX_READS: [usize; 6] = [3, 9, 40, 139, 1500, 70_000];

// =============================================================================================
// The driver
// =============================================================================================

#[derive(Debug)]
struct Outcome {
    events: Vec<Ev>,
    partial: Option<(DataKind, Vec<u8>)>,
    error: Option<ProtocolError>,
    /// The stream range of the read on which the error came.
    error_read: Option<(usize, usize)>,
    written: Vec<u8>,
    state: State,
    unread: usize,
    saw_closed: bool,
    violations: Vec<String>,
}

/// The message being joined from Data pieces, and how much of it is known-valid text.
struct Joining {
    kind: DataKind,
    rsv: Rsv,
    bytes: Vec<u8>,
    valid: usize,
    /// Where the frame in progress ends in `bytes`, by the `frame_remaining` of its pieces.
    frame_end: Option<u64>,
}

fn flush<R: RandomSource>(
    conn: &mut Connection<R>,
    written: &mut Vec<u8>,
    violations: &mut Vec<String>,
) -> usize {
    let mut out = [0u8; 512];
    let mut total = 0;
    for _ in 0..64 {
        match conn.poll_transmit(&mut out) {
            Ok(0) => return total,
            Ok(n) => {
                written.extend_from_slice(&out[..n]);
                total += n;
            }
            Err(e) => {
                violations.push(format!("poll_transmit failed: {e}"));
                return total;
            }
        }
    }
    violations.push("poll_transmit never returned 0".into());
    total
}

fn record(ev: Event<'_>, joining: &mut Option<Joining>, o: &mut Outcome) {
    match ev {
        Event::Data {
            kind,
            payload,
            frame_remaining,
            frame_done,
            message_done,
            rsv,
        } => {
            if frame_done != (frame_remaining == 0) {
                o.violations.push(format!(
                    "frame_done {frame_done} with frame_remaining {frame_remaining}"
                ));
            }
            if message_done && !frame_done {
                o.violations
                    .push("Data with message_done but not frame_done".into());
            }
            if payload.is_empty() && !frame_done {
                o.violations
                    .push("an empty Data piece in the middle of a frame".into());
            }
            let j = joining.get_or_insert_with(|| Joining {
                kind,
                rsv,
                bytes: Vec::new(),
                valid: 0,
                frame_end: None,
            });
            if j.kind != kind {
                o.violations.push(format!(
                    "kind changed inside a message: {:?} then {kind:?}",
                    j.kind
                ));
            }
            if j.rsv != rsv {
                o.violations.push(format!(
                    "rsv changed inside a message: {:?} then {rsv:?}",
                    j.rsv
                ));
            }
            j.bytes.extend_from_slice(payload);
            let end = j.bytes.len() as u64 + frame_remaining;
            if *j.frame_end.get_or_insert(end) != end {
                o.violations
                    .push("frame_remaining disagrees with the pieces delivered".into());
            }
            if frame_done {
                j.frame_end = None;
            }
            // A message an extension transformed is not text until its layer decodes it.
            if kind == DataKind::Text && rsv.is_empty() {
                match str::from_utf8(&j.bytes[j.valid..]) {
                    Ok(_) => j.valid = j.bytes.len(),
                    Err(e) if e.error_len().is_none() => j.valid += e.valid_up_to(),
                    Err(_) => o.violations.push(format!(
                        "invalid UTF-8 delivered as text: {:?}",
                        Bytes(&j.bytes)
                    )),
                }
                if message_done && j.valid != j.bytes.len() {
                    o.violations
                        .push("a text message ended inside a character".into());
                }
            }
            if message_done {
                if let Some(j) = joining.take() {
                    o.events.push(Ev::Data {
                        kind: j.kind,
                        payload: j.bytes,
                        rsv: j.rsv,
                    });
                }
            }
        }
        Event::Ping(p) => o.events.push(Ev::Ping(p.to_vec())),
        Event::Pong(p) => o.events.push(Ev::Pong(p.to_vec())),
        Event::Close(c) => o
            .events
            .push(Ev::Close(c.map(|c| (c.code.0, c.reason.to_owned())))),
    }
}

/// The row's echo of a frame that just completed (`frame`, its payload) or a message (`message`,
/// its payload, when it completed), its bytes appended to what was written.
fn echo<R: RandomSource>(
    conn: &mut Connection<R>,
    case: &Case,
    kind: DataKind,
    frame: &[u8],
    message: Option<&[u8]>,
    o: &mut Outcome,
) {
    if conn.state() != State::Open {
        return;
    }
    let fin = message.is_some();
    let mut out = vec![0u8; 2 * 139 + frame.len() + message.map_or(0, <[u8]>::len)];
    let r = match (case.echo, message) {
        (None, _) | (Some(Echo::Message), None) => return,
        (Some(Echo::Message), Some(m)) => match kind {
            DataKind::Binary => conn.send(Outgoing::Binary(m), &mut out),
            DataKind::Text => match str::from_utf8(m) {
                Ok(t) => conn.send(Outgoing::Text(t), &mut out),
                Err(_) => return o.violations.push("invalid text delivered".into()),
            },
        },
        (Some(Echo::Frames), _) => conn.send_frame(kind, frame, fin, &mut out),
        (Some(Echo::Streamed), _) => {
            match conn.send_header(kind, frame.len() as u64, fin, &mut out) {
                Ok(n) => {
                    let mut payload = frame.to_vec();
                    let (a, b) = payload.split_at_mut(frame.len() / 2);
                    for chunk in [a, b] {
                        if let Err(e) = conn.send_payload(chunk) {
                            o.violations.push(format!("send_payload refused: {e}"));
                        }
                    }
                    out.truncate(n);
                    out.extend_from_slice(&payload);
                    Ok(out.len())
                }
                Err(e) => Err(e),
            }
        }
    };
    match r {
        Ok(n) => o.written.extend_from_slice(&out[..n]),
        Err(e) => o.violations.push(format!("echo refused: {e}")),
    }
}

/// The row's `close()` call, its bytes appended to what was written.
fn close_locally<R: RandomSource>(conn: &mut Connection<R>, case: &Case, o: &mut Outcome) {
    if let Some((code, reason, _)) = &case.local_close {
        let mut out = [0u8; 256];
        match conn.close(CloseCode(*code), reason, &mut out) {
            Ok(n) => o.written.extend_from_slice(&out[..n]),
            Err(e) => o.violations.push(format!("close() refused: {e}")),
        }
    }
}

fn drive<R: RandomSource>(mut conn: Connection<R>, case: &Case, input: &[u8], run: Run) -> Outcome {
    let Run { chunking, eager } = run;
    let mut o = Outcome {
        events: Vec::new(),
        partial: None,
        error: None,
        error_read: None,
        written: Vec::new(),
        state: State::Open,
        unread: 0,
        saw_closed: false,
        violations: Vec::new(),
    };
    let mut close_at = case.local_close.as_ref().map(|l| l.2);
    if close_at == Some(0) {
        close_locally(&mut conn, case, &mut o);
    }
    let mut reads = Reads::new(chunking, MAX_READS);
    let mut joining: Option<Joining> = None;
    // The payload of the frame in progress, for the echo.
    let mut frame_bytes: Vec<u8> = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut consumed_total = 0;
    let mut stop = false;
    while fed < input.len() && !stop {
        let read_start = fed;
        let n = reads.next(input.len() - fed);
        buf.extend_from_slice(&input[fed..fed + n]);
        fed += n;
        let mut pos = 0;
        let mut idle_flushes = 0;
        while pos < buf.len() {
            let avail = buf.len() - pos;
            let r = conn.receive(&mut buf[pos..]);
            if r.consumed > avail {
                o.violations
                    .push(format!("consumed {} of {avail} bytes", r.consumed));
                stop = true;
                break;
            }
            let consumed = r.consumed;
            match r.result {
                Ok(Recv::Event(ev)) => {
                    if consumed == 0 {
                        o.violations.push("an event that consumed nothing".into());
                        stop = true;
                    }
                    let piece = match &ev {
                        Event::Data {
                            kind,
                            payload,
                            frame_done,
                            message_done,
                            ..
                        } => {
                            frame_bytes.extend_from_slice(payload);
                            frame_done.then_some((*kind, *message_done))
                        }
                        _ => None,
                    };
                    record(ev, &mut joining, &mut o);
                    if eager {
                        flush(&mut conn, &mut o.written, &mut o.violations);
                    }
                    if let Some((kind, message_done)) = piece {
                        let message = match o.events.last() {
                            Some(Ev::Data { payload, .. }) if message_done => Some(payload.clone()),
                            _ => None,
                        };
                        echo(
                            &mut conn,
                            case,
                            kind,
                            &frame_bytes,
                            message.as_deref(),
                            &mut o,
                        );
                        frame_bytes.clear();
                    }
                    if close_at == Some(o.events.len()) && !o.events.is_empty() {
                        close_locally(&mut conn, case, &mut o);
                        close_at = None;
                    }
                    pos += consumed;
                    idle_flushes = 0;
                    if stop {
                        break;
                    }
                }
                Ok(Recv::NeedInput) => {
                    pos += consumed;
                    break;
                }
                Ok(Recv::NeedFlush) => {
                    if consumed != 0 {
                        o.violations.push("NeedFlush consumed bytes".into());
                    }
                    pos += consumed;
                    if flush(&mut conn, &mut o.written, &mut o.violations) == 0 {
                        idle_flushes += 1;
                        if idle_flushes > 2 {
                            o.violations.push("NeedFlush with nothing to flush".into());
                            stop = true;
                            break;
                        }
                    }
                }
                Ok(Recv::Closed) => {
                    if consumed != 0 {
                        o.violations.push("Closed consumed bytes".into());
                    }
                    o.saw_closed = true;
                    stop = true;
                    break;
                }
                Err(e) => {
                    if consumed != 0 {
                        o.violations.push("an error consumed bytes".into());
                    }
                    o.error = Some(e);
                    o.error_read = Some((read_start, fed));
                    stop = true;
                    break;
                }
            }
        }
        consumed_total += pos;
        buf.drain(..pos);
        flush(&mut conn, &mut o.written, &mut o.violations);
    }
    flush(&mut conn, &mut o.written, &mut o.violations);
    // Once the connection reads nothing more, it says so and takes nothing, whatever comes.
    if !matches!(conn.state(), State::Open | State::CloseSent) {
        let mut rest = buf.clone();
        rest.extend_from_slice(&input[fed..]);
        rest.extend_from_slice(&[0x81, 0x00, 0x89, 0x00]);
        let r = conn.receive(&mut rest);
        if r.consumed != 0 || r.result != Ok(Recv::Closed) {
            o.violations.push(format!(
                "receive after the end: consumed {}, {:?}",
                r.consumed, r.result
            ));
        }
    }
    if conn.wants_transmit() {
        o.violations
            .push("wants_transmit after poll_transmit returned 0".into());
    }
    o.state = conn.state();
    o.unread = input.len() - consumed_total;
    o.partial = joining.map(|j| (j.kind, j.bytes));
    o
}

// =============================================================================================
// Running and judging
// =============================================================================================

fn seed_of(name: &str) -> u64 {
    // FNV-1a.
    name.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

fn run_once(case: &Case, input: &[u8], run: Run) -> Outcome {
    match case.role {
        Role::Server => drive(
            Connection::server(case.config).with_extension_bits(case.extension_bits),
            case,
            input,
            run,
        ),
        Role::Client => drive(
            Connection::client(case.config, TestRng::new(0xC11E))
                .with_extension_bits(case.extension_bits),
            case,
            input,
            run,
        ),
    }
}

fn judge(case: &Case, exp: &Expected, o: &Outcome) -> Result<(), String> {
    if let Some(v) = o.violations.first() {
        return Err(format!("driving contract broken: {v}"));
    }
    if o.events != case.events {
        return Err(format!(
            "events differ\n  expected {:?}\n  got      {:?}",
            case.events, o.events
        ));
    }
    match (&case.error, o.error) {
        (None, None) => {}
        (Some((errs, code)), Some(e)) => {
            if !errs.contains(&e) {
                return Err(format!("error {e:?}, expected one of {errs:?}"));
            }
            if e.close_code().0 != *code {
                return Err(format!(
                    "{e:?}.close_code() is {}, expected {code}",
                    e.close_code().0
                ));
            }
        }
        (exp_err, got) => {
            return Err(format!(
                "error differs: expected {:?}, got {got:?}",
                exp_err.as_ref().map(|e| &e.0)
            ))
        }
    }
    if let (Some((lo, hi)), Some((a, b))) = (exp.window, o.error_read) {
        if !(a <= hi && b > lo) {
            return Err(format!(
                "the error came on the read of stream bytes {a}..{b}, \
                 but it belongs to the read holding byte {lo}{}",
                if lo == hi {
                    String::new()
                } else {
                    format!("..={hi}")
                }
            ));
        }
    }
    match &exp.partial {
        PartialExp::Exact(p) => {
            if &o.partial != p {
                return Err(format!(
                    "unfinished message differs: expected {:?}, got {:?}",
                    p.as_ref().map(|(k, b)| (k, Bytes(b))),
                    o.partial.as_ref().map(|(k, b)| (k, Bytes(b)))
                ));
            }
        }
        PartialExp::FailFast(want) => {
            let (kind, got) = o.partial.clone().unwrap_or((DataKind::Text, Vec::new()));
            if kind != DataKind::Text || &got != want {
                return Err(format!(
                    "text delivered before the invalid byte differs: expected {:?} \
                     (every byte before it), got {kind:?} {:?}",
                    Bytes(want),
                    Bytes(&got)
                ));
            }
        }
    }
    let written = decode_written(&o.written, case.role)?;
    if written != exp.written {
        return Err(format!(
            "written frames differ\n  expected {:?}\n  got      {:?}",
            exp.written, written
        ));
    }
    let wire = wire_close_of(&written);
    if wire != exp.wire_close {
        return Err(format!(
            "close on the wire: expected {:?}, got {wire:?}",
            exp.wire_close
        ));
    }
    if o.state != exp.state {
        return Err(format!("state {:?}, expected {:?}", o.state, exp.state));
    }
    if let Some(n) = exp.unread {
        if o.unread != n {
            return Err(format!("{} bytes left unread, expected {n}", o.unread));
        }
        if o.saw_closed != (n > 0 && o.state != State::Open && o.state != State::CloseSent) {
            return Err(format!(
                "Recv::Closed seen: {}, with {n} bytes after the peer's Close",
                o.saw_closed
            ));
        }
    }
    Ok(())
}

/// Runs one case in every chunking, and whole with a flush after every event. `Err` names the run
/// and what differed.
pub fn run_case(case: &Case) -> Result<(), String> {
    let exp = expectations(case).map_err(|e| format!("{}: malformed case: {e}", case.name))?;
    let seed = seed_of(&case.name);
    let lazy = |chunking| Run {
        chunking,
        eager: false,
    };
    let mut runs = vec![lazy(Delivery::Whole), lazy(Delivery::Bytewise)];
    runs.extend((0..5).map(|i| lazy(Delivery::Random(seed.wrapping_add(i)))));
    runs.push(Run {
        chunking: Delivery::Whole,
        eager: true,
    });
    let mut first: Option<(Run, Outcome)> = None;
    for run in runs {
        let o = run_once(case, &exp.input, run);
        let fail = |what: String| {
            format!(
                "{} [{run:?}]: {what}\n  input ({} bytes): {}",
                case.name,
                exp.input.len(),
                hex(&exp.input[..exp.input.len().min(96)])
            )
        };
        judge(case, &exp, &o).map_err(fail)?;
        if let Some((c0, o0)) = &first {
            // The same bytes out, whatever the chunking and the flushing (masking keys included).
            if o0.written != o.written {
                return Err(fail(format!(
                    "written bytes differ from the {c0:?} run: {:?} vs {:?}",
                    Bytes(&o0.written),
                    Bytes(&o.written)
                )));
            }
        } else {
            first = Some((run, o));
        }
    }
    Ok(())
}

/// What running an area gave.
pub struct Tally {
    pub area: Area,
    pub cases: usize,
    pub server: usize,
    pub client: usize,
    pub passed: usize,
    pub failures: Vec<String>,
}

pub fn run_cases(area: Area, cases: &[Case]) -> Tally {
    let mut t = Tally {
        area,
        cases: cases.len(),
        server: cases.iter().filter(|c| c.role == Role::Server).count(),
        client: cases.iter().filter(|c| c.role == Role::Client).count(),
        passed: 0,
        failures: Vec::new(),
    };
    let mut names = std::collections::HashSet::new();
    for c in cases {
        if !names.insert(c.name.as_str()) {
            t.failures.push(format!("duplicate case name: {}", c.name));
        }
        if c.area != area {
            t.failures
                .push(format!("{} is filed under {}", c.name, area.name()));
        }
        match run_case(c) {
            Ok(()) => t.passed += 1,
            Err(e) => t.failures.push(e),
        }
    }
    t
}

impl Tally {
    pub fn summary(&self) -> String {
        format!(
            "conformance: {:<22} {:>5} cases ({:>5} server, {:>5} client): {} passed, {} failed",
            self.area.name(),
            self.cases,
            self.server,
            self.client,
            self.passed,
            self.failures.len()
        )
    }

    /// Panics on any failure.
    pub fn report(&self) {
        if !self.failures.is_empty() {
            let shown: Vec<&str> = self.failures.iter().take(12).map(String::as_str).collect();
            panic!(
                "{} of {} {} cases failed:\n{}",
                self.failures.len(),
                self.cases,
                self.area.name(),
                shown.join("\n")
            );
        }
    }
}
