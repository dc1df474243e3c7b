//! Unit tests for the connection state machine: one test per RFC 6455 rule, each feeding the
//! violation (or the edge case) through `receive` and checking the error, its close code, the state
//! and the Close frame that `poll_transmit` then writes. Frames are built by hand with the frame
//! codec; a client-role connection draws masking keys from a deterministic counter.

extern crate std;

use std::cell::Cell;
use std::format;
use std::rc::Rc;
use std::string::String;
use std::vec;
use std::vec::Vec;

use super::*;
use crate::frame::{CloseCode, FrameHeader, OpCode, MAX_HEADER_LEN};
use crate::rand::RandomError;

/// The masking key the tests' peer of a server uses (the one of RFC 6455 5.7).
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const ROLES: [Role; 2] = [Role::Server, Role::Client];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A connection of either role, of one type. A client draws masking keys 1, 2, 3, 4, then 5, 6,
/// 7, 8, and so on; a server must never draw.
fn conn(role: Role, config: Config) -> Connection<impl RandomSource + Clone> {
    let mut next = 0u8;
    let rng = move |dest: &mut [u8]| -> Result<(), RandomError> {
        assert_eq!(role, Role::Client, "a server drew randomness");
        for b in dest {
            next = next.wrapping_add(1);
            *b = next;
        }
        Ok(())
    };
    Connection::new(role, config, rng)
}

fn config() -> Config {
    Config::default()
}

/// The mask the peer of `to` puts on its frames: a client masks what it sends to a server.
fn peer_mask(to: Role) -> Option<[u8; 4]> {
    (to == Role::Server).then_some(KEY)
}

/// A frame whose first byte is `b0` (FIN, RSV and opcode bits exactly as given, reserved ones
/// included), with a minimal length and the payload masked with `mask` if any.
fn raw(b0: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = header_bytes(b0, mask, payload.len() as u64);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(k) = mask {
        apply_mask(&mut out[start..], k, 0);
    }
    out
}

/// Just the header of a frame: first byte `b0`, then the minimal length encoding and the mask.
fn header_bytes(b0: u8, mask: Option<[u8; 4]>, len: u64) -> Vec<u8> {
    let h = FrameHeader {
        fin: true,
        rsv: 0,
        opcode: OpCode::Binary,
        mask,
        payload_len: len,
    };
    let mut out = vec![0; MAX_HEADER_LEN];
    let n = h.encode(&mut out).unwrap();
    out.truncate(n);
    out[0] = b0;
    out
}

fn b0(fin: bool, op: OpCode) -> u8 {
    (u8::from(fin) << 7) | op.as_u8()
}

/// A well-formed frame as the peer of a `to` connection sends it.
fn frame(to: Role, fin: bool, op: OpCode, payload: &[u8]) -> Vec<u8> {
    raw(b0(fin, op), peer_mask(to), payload)
}

fn close_body(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut v = code.to_be_bytes().to_vec();
    v.extend_from_slice(reason);
    v
}

/// An event with owned payloads.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    Data {
        kind: DataKind,
        payload: Vec<u8>,
        frame_done: bool,
        message_done: bool,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

fn own(e: Event<'_>) -> Ev {
    match e {
        Event::Data {
            kind,
            payload,
            frame_done,
            message_done,
            ..
        } => Ev::Data {
            kind,
            payload: payload.to_vec(),
            frame_done,
            message_done,
        },
        Event::Ping(p) => Ev::Ping(p.to_vec()),
        Event::Pong(p) => Ev::Pong(p.to_vec()),
        Event::Close(f) => Ev::Close(f.map(|f| (f.code.0, f.reason.into()))),
    }
}

fn data(kind: DataKind, payload: &[u8], frame_done: bool, message_done: bool) -> Ev {
    Ev::Data {
        kind,
        payload: payload.to_vec(),
        frame_done,
        message_done,
    }
}

fn text(payload: &[u8], frame_done: bool, message_done: bool) -> Ev {
    data(DataKind::Text, payload, frame_done, message_done)
}

/// Why `receive` stopped producing events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    NeedInput,
    NeedFlush,
    Closed,
    Error(ProtocolError),
}

/// Calls `receive` on `input` (advancing by `consumed`) until it stops producing events; returns
/// the events, the bytes consumed, and why it stopped.
fn feed<R: RandomSource>(c: &mut Connection<R>, input: &[u8]) -> (Vec<Ev>, usize, End) {
    let mut buf = input.to_vec();
    let mut pos = 0;
    let mut events = Vec::new();
    loop {
        let r = c.receive(&mut buf[pos..]);
        pos += r.consumed;
        let end = match r.result {
            Ok(Recv::Event(e)) => {
                assert!(r.consumed > 0, "an event that consumed nothing");
                events.push(own(e));
                continue;
            }
            Ok(Recv::NeedInput) => End::NeedInput,
            Ok(Recv::NeedFlush) => End::NeedFlush,
            Ok(Recv::Closed) => End::Closed,
            Err(e) => End::Error(e),
        };
        return (events, pos, end);
    }
}

/// Feeds `input` the way a driver does when its reads return `chunk` bytes at a time: unconsumed
/// bytes stay in front of the next read, `NeedFlush` flushes (into the returned output) and
/// retries. Returns the events, the bytes written by `poll_transmit`, and how it ended.
fn drive<R: RandomSource>(
    c: &mut Connection<R>,
    input: &[u8],
    chunk: usize,
) -> (Vec<Ev>, Vec<u8>, End) {
    let mut rbuf: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    let mut out = Vec::new();
    let mut end = End::NeedInput;
    for read in input.chunks(chunk) {
        rbuf.extend_from_slice(read);
        let mut pos = 0;
        loop {
            let r = c.receive(&mut rbuf[pos..]);
            pos += r.consumed;
            match r.result {
                Ok(Recv::Event(e)) => events.push(own(e)),
                Ok(Recv::NeedInput) => break,
                Ok(Recv::NeedFlush) => {
                    let n = out.len();
                    out.extend(flush(c));
                    assert!(out.len() > n, "NeedFlush with nothing to flush");
                }
                Ok(Recv::Closed) => {
                    end = End::Closed;
                    break;
                }
                Err(e) => {
                    end = End::Error(e);
                    break;
                }
            }
        }
        rbuf.drain(..pos);
        out.extend(flush(c));
        if end != End::NeedInput {
            break;
        }
    }
    (events, out, end)
}

/// Joins the Data pieces of `events` into whole messages, each placed where it completes (other
/// events are kept in order).
fn coalesce(events: &[Ev]) -> Vec<Ev> {
    let mut out = Vec::new();
    let mut current: Option<(DataKind, Vec<u8>)> = None;
    for e in events {
        match e {
            Ev::Data {
                kind,
                payload,
                frame_done,
                message_done,
                ..
            } => {
                assert!(frame_done | !message_done);
                let (k, p) = current.get_or_insert_with(|| (*kind, Vec::new()));
                assert_eq!(k, kind);
                p.extend_from_slice(payload);
                if *message_done {
                    let (kind, payload) = current.take().unwrap();
                    out.push(data(kind, &payload, true, true));
                }
            }
            other => out.push(other.clone()),
        }
    }
    assert!(current.is_none(), "unfinished message");
    out
}

/// Everything `poll_transmit` has to write now.
fn flush<R: RandomSource>(c: &mut Connection<R>) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut buf = [0u8; 256];
        let n = c.poll_transmit(&mut buf).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Decodes the frames an endpoint of role `from` wrote, checking that a client masked them and a
/// server did not, and unmasking the payloads.
fn frames_from(from: Role, mut bytes: &[u8]) -> Vec<(FrameHeader, Vec<u8>)> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        let Ok(Status::Complete((h, n))) = FrameHeader::decode(bytes) else {
            panic!("not a whole frame: {bytes:x?}");
        };
        assert_eq!(h.mask.is_some(), from == Role::Client, "masking of {h:?}");
        assert_eq!(h.rsv, 0);
        let len = usize::try_from(h.payload_len).unwrap();
        let mut payload = bytes[n..n + len].to_vec();
        if let Some(k) = h.mask {
            apply_mask(&mut payload, k, 0);
        }
        frames.push((h, payload));
        bytes = &bytes[n + len..];
    }
    frames
}

/// The single frame `from` wrote in `bytes`, as (opcode, fin, unmasked payload).
fn one_frame(from: Role, bytes: &[u8]) -> (OpCode, bool, Vec<u8>) {
    let mut frames = frames_from(from, bytes);
    assert_eq!(frames.len(), 1, "expected one frame in {bytes:x?}");
    let (h, p) = frames.remove(0);
    (h.opcode, h.fin, p)
}

/// After a protocol error: the state is Failed, `poll_transmit` writes exactly the Close with the
/// error's code (masked by a client) and then nothing, the state is Closed, and `receive` consumes
/// nothing more.
fn assert_failed<R: RandomSource>(c: &mut Connection<R>, err: ProtocolError) {
    assert_eq!(c.state(), State::Failed);
    assert!(c.wants_transmit());
    let mut buf = [0u8; 64];
    let n = c.poll_transmit(&mut buf).unwrap();
    let (op, fin, payload) = one_frame(c.role(), &buf[..n]);
    assert_eq!((op, fin), (OpCode::Close, true));
    assert_eq!(payload, err.close_code().0.to_be_bytes());
    assert_eq!(c.poll_transmit(&mut buf), Ok(0));
    assert!(!c.wants_transmit());
    assert_eq!(c.state(), State::Closed);
    let mut more = frame(c.role(), true, OpCode::Text, b"more");
    let r = c.receive(&mut more);
    assert_eq!((r.consumed, r.result), (0, Ok(Recv::Closed)));
}

/// Feeds `input`, expecting `before` events and then `err` (whose close code is `code`), and
/// checks the failure as [`assert_failed`] does.
fn violation_after<R: RandomSource>(
    c: &mut Connection<R>,
    input: &[u8],
    before: &[Ev],
    err: ProtocolError,
    code: u16,
) {
    assert_eq!(err.close_code(), CloseCode(code), "{err:?}");
    let (events, _, end) = feed(c, input);
    assert_eq!(events, before, "{:?} {err:?}", c.role());
    assert_eq!(end, End::Error(err), "{:?}", c.role());
    assert_failed(c, err);
}

fn violation<R: RandomSource>(c: &mut Connection<R>, input: &[u8], err: ProtocolError, code: u16) {
    violation_after(c, input, &[], err, code);
}

// ---------------------------------------------------------------------------------------------
// Frame rules
// ---------------------------------------------------------------------------------------------

#[test]
fn reserved_bits_fail_with_1002() {
    for role in ROLES {
        for rsv in [0x40, 0x20, 0x10, 0x70] {
            for op in [OpCode::Text, OpCode::Binary, OpCode::Ping, OpCode::Close] {
                let mut c = conn(role, config());
                let f = raw(0x80 | rsv | op.as_u8(), peer_mask(role), b"hi");
                violation(&mut c, &f, ProtocolError::ReservedBits, 1002);
            }
            // On a continuation too.
            let mut c = conn(role, config());
            let mut input = frame(role, false, OpCode::Text, b"a");
            input.extend(raw(0x80 | rsv, peer_mask(role), b"b"));
            let before = [text(b"a", true, false)];
            violation_after(&mut c, &input, &before, ProtocolError::ReservedBits, 1002);
        }
    }
}

#[test]
fn reserved_opcodes_fail_with_1002() {
    for role in ROLES {
        for op in (3..=7).chain(11..=15) {
            for fin in [0x80, 0] {
                let mut c = conn(role, config());
                // Found on the first byte, before the rest of the frame is there.
                let f = raw(fin | op, peer_mask(role), b"xyz");
                violation(&mut c, &f[..1], ProtocolError::UnknownOpcode(op), 1002);
                let mut c = conn(role, config());
                violation(&mut c, &f, ProtocolError::UnknownOpcode(op), 1002);
            }
        }
    }
}

#[test]
fn control_frame_with_fin_clear_fails() {
    for role in ROLES {
        for op in [OpCode::Close, OpCode::Ping, OpCode::Pong] {
            let mut c = conn(role, config());
            let f = frame(role, false, op, b"");
            violation(&mut c, &f, ProtocolError::FragmentedControlFrame, 1002);
        }
    }
}

#[test]
fn control_payload_of_126_bytes_fails() {
    for role in ROLES {
        for op in [OpCode::Close, OpCode::Ping, OpCode::Pong] {
            let f = raw(b0(true, op), peer_mask(role), &[b'x'; 126]);
            assert_eq!(f[1] & 0x7F, 126);
            let mut c = conn(role, config());
            violation(&mut c, &f, ProtocolError::ControlFrameTooLong, 1002);
            // Found on the second byte, before the extended length.
            let mut c = conn(role, config());
            violation(&mut c, &f[..2], ProtocolError::ControlFrameTooLong, 1002);
            // A 64-bit length on a control frame, too.
            let f = header_bytes(b0(true, op), peer_mask(role), 70_000);
            assert_eq!(f[1] & 0x7F, 127);
            let mut c = conn(role, config());
            violation(&mut c, &f, ProtocolError::ControlFrameTooLong, 1002);
        }
    }
}

#[test]
fn length_with_top_bit_set_fails() {
    for role in ROLES {
        let m = if role == Role::Server { 0x80 } else { 0 };
        let mut f = vec![0x82, m | 127, 0x80, 0, 0, 0, 0, 0, 0, 0];
        if role == Role::Server {
            f.extend(KEY);
        }
        let mut c = conn(role, config());
        violation(&mut c, &f, ProtocolError::LengthOverflow, 1002);
        // Found on the first length byte.
        let mut c = conn(role, config());
        violation(&mut c, &f[..3], ProtocolError::LengthOverflow, 1002);
        // All 64 bits set.
        let mut f = vec![
            0x82,
            m | 127,
            0xFF,
            0xFF,
            0xFF,
            0xFF,
            0xFF,
            0xFF,
            0xFF,
            0xFF,
        ];
        f.extend(KEY);
        let mut c = conn(role, config());
        violation(&mut c, &f, ProtocolError::LengthOverflow, 1002);
    }
}

#[test]
fn non_minimal_lengths_fail() {
    for role in ROLES {
        let m = if role == Role::Server { 0x80 } else { 0 };
        let cases: [&[u8]; 5] = [
            &[0x82, m | 126, 0, 0],
            &[0x82, m | 126, 0, 125],
            &[0x82, m | 127, 0, 0, 0, 0, 0, 0, 0, 0],
            &[0x82, m | 127, 0, 0, 0, 0, 0, 0, 0, 125],
            &[0x82, m | 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF],
        ];
        for case in cases {
            let mut f = case.to_vec();
            if role == Role::Server {
                f.extend(KEY);
            }
            let mut c = conn(role, config());
            violation(&mut c, &f, ProtocolError::NonMinimalLength, 1002);
        }
        // The smallest minimal ones are fine.
        for len in [126u64, 65536] {
            let mut c = conn(role, config());
            let f = header_bytes(0x82, peer_mask(role), len);
            assert_eq!(feed(&mut c, &f), (vec![], f.len(), End::NeedInput));
        }
    }
}

#[test]
fn server_fails_on_unmasked_frame() {
    for op in [
        OpCode::Text,
        OpCode::Binary,
        OpCode::Ping,
        OpCode::Pong,
        OpCode::Close,
    ] {
        let mut c = conn(Role::Server, config());
        let f = raw(b0(true, op), None, b"");
        violation(&mut c, &f, ProtocolError::UnmaskedFrame, 1002);
    }
    // The public server type too.
    let mut c = Connection::server(config());
    violation(
        &mut c,
        &[0x81, 0x02, b'h', b'i'],
        ProtocolError::UnmaskedFrame,
        1002,
    );
}

#[test]
fn client_fails_on_masked_frame() {
    for op in [
        OpCode::Text,
        OpCode::Binary,
        OpCode::Ping,
        OpCode::Pong,
        OpCode::Close,
    ] {
        let mut c = conn(Role::Client, config());
        let f = raw(b0(true, op), Some(KEY), b"");
        violation(&mut c, &f, ProtocolError::MaskedFrame, 1002);
    }
}

#[test]
fn continuation_without_a_message_fails() {
    for role in ROLES {
        for fin in [true, false] {
            let mut c = conn(role, config());
            let f = frame(role, fin, OpCode::Continuation, b"x");
            violation(&mut c, &f, ProtocolError::UnexpectedContinuation, 1002);
        }
        // After a message ended, too.
        let mut c = conn(role, config());
        let mut input = frame(role, false, OpCode::Binary, b"a");
        input.extend(frame(role, true, OpCode::Continuation, b"b"));
        input.extend(frame(role, true, OpCode::Continuation, b"c"));
        let before = [
            data(DataKind::Binary, b"a", true, false),
            data(DataKind::Binary, b"b", true, true),
        ];
        violation_after(
            &mut c,
            &input,
            &before,
            ProtocolError::UnexpectedContinuation,
            1002,
        );
    }
}

#[test]
fn new_message_during_a_fragmented_one_fails() {
    for role in ROLES {
        for (first, second) in [
            (DataKind::Text, OpCode::Text),
            (DataKind::Text, OpCode::Binary),
            (DataKind::Binary, OpCode::Text),
            (DataKind::Binary, OpCode::Binary),
        ] {
            for fin in [true, false] {
                let mut c = conn(role, config());
                let mut input = frame(role, false, first.opcode(), b"a");
                input.extend(frame(role, fin, second, b"b"));
                let before = [data(first, b"a", true, false)];
                violation_after(
                    &mut c,
                    &input,
                    &before,
                    ProtocolError::ExpectedContinuation,
                    1002,
                );
            }
        }
    }
}

#[test]
fn control_frames_between_fragments_are_fine() {
    for role in ROLES {
        let mut c = conn(role, config());
        let mut input = frame(role, false, OpCode::Text, b"Hel");
        input.extend(frame(role, true, OpCode::Ping, b"p1"));
        input.extend(frame(role, false, OpCode::Continuation, b"l"));
        input.extend(frame(role, true, OpCode::Pong, b"q"));
        input.extend(frame(role, false, OpCode::Continuation, b""));
        input.extend(frame(role, true, OpCode::Continuation, b"o"));
        // A new message afterwards is fine.
        input.extend(frame(role, true, OpCode::Binary, b"!"));
        let (events, consumed, end) = feed(&mut c, &input);
        assert_eq!(
            events,
            [
                text(b"Hel", true, false),
                Ev::Ping(b"p1".to_vec()),
                text(b"l", true, false),
                Ev::Pong(b"q".to_vec()),
                text(b"", true, false),
                text(b"o", true, true),
                data(DataKind::Binary, b"!", true, true),
            ]
        );
        assert_eq!((consumed, end), (input.len(), End::NeedInput));
        assert_eq!(c.state(), State::Open);
        let out = flush(&mut c);
        assert_eq!(one_frame(role, &out), (OpCode::Pong, true, b"p1".to_vec()));
    }
}

// ---------------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------------

#[test]
fn invalid_utf8_fails_at_the_first_invalid_byte() {
    for role in ROLES {
        // A 10-byte text frame; only part of it is delivered, and the invalid byte is in it.
        let f = frame(role, true, OpCode::Text, b"a\xFFbcdefghi");
        let head = f.len() - 10;
        let mut c = conn(role, config());
        violation_after(
            &mut c,
            &f[..head + 2],
            &[text(b"a", false, false)],
            ProtocolError::InvalidUtf8,
            1007,
        );

        // The valid prefix is delivered; the invalid byte fails in the next call, 8 bytes early.
        let f = frame(role, true, OpCode::Text, b"ab\xC0defghij");
        let mut c = conn(role, config());
        let (events, consumed, end) = feed(&mut c, &f[..head + 2]);
        assert_eq!(events, [text(b"ab", false, false)]);
        assert_eq!((consumed, end), (head + 2, End::NeedInput));
        violation(
            &mut c,
            &f[head + 2..head + 3],
            ProtocolError::InvalidUtf8,
            1007,
        );

        // A byte that cannot continue a character split across receive calls.
        let f = frame(role, true, OpCode::Text, b"\xE2\x82Axxxxxx");
        let mut c = conn(role, config());
        let (events, _, _) = feed(&mut c, &f[..head + 2]);
        assert_eq!(events, [text(b"\xE2\x82", false, false)]);
        violation(
            &mut c,
            &f[head + 2..head + 3],
            ProtocolError::InvalidUtf8,
            1007,
        );

        // In a later fragment: its valid part (up to the \xED that \xA0 cannot continue) is
        // delivered, then it fails, before the rest of it arrives.
        let mut input = frame(role, false, OpCode::Text, b"ok \xF0\x9F");
        let second = frame(
            role,
            true,
            OpCode::Continuation,
            b"\x98\x80\xED\xA0\x80 tail",
        );
        let head2 = second.len() - 10;
        input.extend_from_slice(&second[..head2 + 5]);
        let mut c = conn(role, config());
        violation_after(
            &mut c,
            &input,
            &[
                text(b"ok \xF0\x9F", true, false),
                text(b"\x98\x80\xED", false, false),
            ],
            ProtocolError::InvalidUtf8,
            1007,
        );
    }
}

/// Feeds `input` in reads of `chunk` bytes; returns the text delivered (joined) and the error.
fn text_until_error(role: Role, input: &[u8], chunk: usize) -> (Vec<u8>, End) {
    let mut c = conn(role, config());
    let (events, _, end) = drive(&mut c, input, chunk);
    let mut delivered = Vec::new();
    for e in events {
        match e {
            Ev::Data {
                kind: DataKind::Text,
                payload,
                ..
            } => delivered.extend(payload),
            other => panic!("unexpected {other:?}"),
        }
    }
    (delivered, end)
}

#[test]
fn invalid_text_delivers_the_same_bytes_in_any_chunking() {
    // Every byte before the first one at which the text can no longer be valid UTF-8 is
    // delivered, an unfinished character included, then `receive` fails: in every chunking.
    let cases: [(&[&[u8]], &[u8]); 8] = [
        (&[b"ab\xFFc"], b"ab"),
        (&[b"\xFFabc"], b""),
        (&[b"ab\xE2\x82Ac"], b"ab\xE2\x82"),
        (&[b"x\xF0\x90\x80\x80y\xC0\x80"], b"x\xF0\x90\x80\x80y"),
        (&[b"ok\xED\xA0\x80"], b"ok\xED"),
        (
            &[b"ok \xE2\x82", b"\xAC but then \xFF"],
            "ok \u{20AC} but then ".as_bytes(),
        ),
        // Ending inside a character: the text can no longer be valid at the message's last byte.
        (&[b"a\xF0\x9F", b"\x98"], b"a\xF0\x9F"),
        (&[b"ab\xC3", b""], b"ab\xC3"),
    ];
    for role in ROLES {
        for (frames, before) in cases {
            let mut input = Vec::new();
            for (i, p) in frames.iter().enumerate() {
                let op = if i == 0 {
                    OpCode::Text
                } else {
                    OpCode::Continuation
                };
                input.extend(frame(role, i + 1 == frames.len(), op, p));
            }
            for chunk in 1..=input.len() {
                let got = text_until_error(role, &input, chunk);
                assert_eq!(
                    got,
                    (before.to_vec(), End::Error(ProtocolError::InvalidUtf8)),
                    "{role:?} {frames:x?} in reads of {chunk}"
                );
            }
        }
        // Whole: the valid part comes as its own event, consuming exactly those bytes; the next
        // call fails.
        let mut c = conn(role, config());
        let mut f = frame(role, true, OpCode::Text, b"ab\xFFc");
        let head = f.len() - 4;
        let r = c.receive(&mut f);
        assert_eq!(r.consumed, head + 2);
        assert_eq!(
            r.result,
            Ok(Recv::Event(Event::Data {
                kind: DataKind::Text,
                payload: &mut { *b"ab" },
                frame_remaining: 2,
                frame_done: false,
                message_done: false,
                rsv: crate::Rsv::NONE,
            }))
        );
        // The bytes not consumed are as they were handed in (still masked towards a server).
        assert_eq!(
            f[head + 2..],
            frame(role, true, OpCode::Text, b"ab\xFFc")[head + 2..]
        );
        let r = c.receive(&mut f[head + 2..]);
        assert_eq!((r.consumed, r.result), (0, Err(ProtocolError::InvalidUtf8)));
        assert_failed(&mut c, ProtocolError::InvalidUtf8);
    }
}

#[test]
fn characters_split_across_fragments_and_reads_are_fine() {
    let message = "aé€😀ñ😀€é".as_bytes();
    for role in ROLES {
        // Two fragments, split at every byte.
        for split in 0..=message.len() {
            let mut input = frame(role, false, OpCode::Text, &message[..split]);
            input.extend(frame(role, true, OpCode::Continuation, &message[split..]));
            let mut c = conn(role, config());
            let (events, consumed, end) = feed(&mut c, &input);
            assert_eq!(
                coalesce(&events),
                [text(message, true, true)],
                "split {split}"
            );
            assert_eq!((consumed, end), (input.len(), End::NeedInput));
        }
        // One frame per byte.
        let mut input = Vec::new();
        for (i, b) in message.iter().enumerate() {
            let op = if i == 0 {
                OpCode::Text
            } else {
                OpCode::Continuation
            };
            input.extend(frame(role, i + 1 == message.len(), op, &[*b]));
        }
        let mut c = conn(role, config());
        let (events, _, end) = feed(&mut c, &input);
        assert_eq!(coalesce(&events), [text(message, true, true)]);
        assert_eq!(end, End::NeedInput);
        // One frame, read in chunks of every size.
        let f = frame(role, true, OpCode::Text, message);
        for chunk in 1..=f.len() {
            let mut c = conn(role, config());
            let (events, out, end) = drive(&mut c, &f, chunk);
            assert_eq!(coalesce(&events), [text(message, true, true)], "{chunk}");
            assert_eq!((out, end), (vec![], End::NeedInput));
        }
    }
}

#[test]
fn message_ending_inside_a_character_fails_on_its_last_piece() {
    for role in ROLES {
        // One frame delivered in two pieces: the first ends inside "€" and is fine.
        let f = frame(role, true, OpCode::Text, b"a\xE2\x82");
        let head = f.len() - 3;
        let mut c = conn(role, config());
        let (events, _, end) = feed(&mut c, &f[..head + 2]);
        assert_eq!(events, [text(b"a\xE2", false, false)]);
        assert_eq!(end, End::NeedInput);
        violation(&mut c, &f[head + 2..], ProtocolError::InvalidUtf8, 1007);

        // The last fragment completes nothing.
        let mut input = frame(role, false, OpCode::Text, b"a\xF0\x9F");
        input.extend(frame(role, true, OpCode::Continuation, b"\x98"));
        let mut c = conn(role, config());
        let before = [text(b"a\xF0\x9F", true, false)];
        violation_after(&mut c, &input, &before, ProtocolError::InvalidUtf8, 1007);

        // An empty last fragment after an unfinished character.
        let mut input = frame(role, false, OpCode::Text, b"\xC3");
        input.extend(frame(role, true, OpCode::Continuation, b""));
        let mut c = conn(role, config());
        let before = [text(b"\xC3", true, false)];
        violation_after(&mut c, &input, &before, ProtocolError::InvalidUtf8, 1007);

        // Binary is not checked.
        let mut c = conn(role, config());
        let f = frame(role, true, OpCode::Binary, b"\xE2\x82");
        let (events, _, _) = feed(&mut c, &f);
        assert_eq!(events, [data(DataKind::Binary, b"\xE2\x82", true, true)]);
    }
}

#[test]
fn close_reason_with_invalid_utf8_fails_with_1007() {
    for role in ROLES {
        for reason in [&b"\xFF"[..], b"ok\xE2\x82", b"\xED\xA0\x80"] {
            let mut c = conn(role, config());
            let f = frame(role, true, OpCode::Close, &close_body(1000, reason));
            violation(&mut c, &f, ProtocolError::InvalidUtf8, 1007);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Close
// ---------------------------------------------------------------------------------------------

#[test]
fn close_with_one_byte_payload_fails() {
    for role in ROLES {
        let mut c = conn(role, config());
        let f = frame(role, true, OpCode::Close, &[0x03]);
        violation(&mut c, &f, ProtocolError::InvalidClosePayload, 1002);
    }
}

#[test]
fn close_with_invalid_code_fails() {
    for role in ROLES {
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, u16::MAX] {
            let mut c = conn(role, config());
            let f = frame(role, true, OpCode::Close, &close_body(code, b"r"));
            violation(&mut c, &f, ProtocolError::InvalidCloseCode(code), 1002);
        }
    }
}

#[test]
fn valid_close_codes_are_echoed() {
    let codes = (1000..=1003)
        .chain(1007..=1014)
        .chain([3000, 3999, 4000, 4999]);
    for role in ROLES {
        for code in codes.clone() {
            let mut c = conn(role, config());
            let f = frame(
                role,
                true,
                OpCode::Close,
                &close_body(code, "why ✓".as_bytes()),
            );
            let (events, consumed, end) = feed(&mut c, &f);
            assert_eq!(events, [Ev::Close(Some((code, "why ✓".into())))]);
            // The next call says Closed and consumes nothing.
            assert_eq!((consumed, end), (f.len(), End::Closed));
            assert_eq!(c.state(), State::CloseReceived);
            assert!(c.wants_transmit());
            let mut buf = [0u8; 64];
            let n = c.poll_transmit(&mut buf).unwrap();
            // The echo carries the code (the reason is ours to choose: none).
            let echo = one_frame(role, &buf[..n]);
            assert_eq!(echo, (OpCode::Close, true, code.to_be_bytes().to_vec()));
            assert_eq!(c.state(), State::Closed);
            assert_eq!(c.poll_transmit(&mut buf), Ok(0));
            let r = c.receive(&mut buf);
            assert_eq!((r.consumed, r.result), (0, Ok(Recv::Closed)));
        }
    }
}

#[test]
fn empty_close_gets_an_empty_close() {
    for role in ROLES {
        let mut c = conn(role, config());
        let f = frame(role, true, OpCode::Close, b"");
        let (events, _, end) = feed(&mut c, &f);
        assert_eq!((events, end), (vec![Ev::Close(None)], End::Closed));
        assert_eq!(c.state(), State::CloseReceived);
        let out = flush(&mut c);
        assert_eq!(one_frame(role, &out), (OpCode::Close, true, vec![]));
        if role == Role::Server {
            assert_eq!(out, [0x88, 0x00]);
        } else {
            assert_eq!(out, [0x88, 0x80, 1, 2, 3, 4]);
        }
        assert_eq!(c.state(), State::Closed);
    }
}

#[test]
fn bytes_after_the_peers_close_are_left_unread() {
    for role in ROLES {
        let mut c = conn(role, config());
        let close = frame(role, true, OpCode::Close, &close_body(1000, b""));
        let mut input = close.clone();
        input.extend(frame(role, true, OpCode::Ping, b"late"));
        input.extend(frame(role, true, OpCode::Text, b"late"));
        let (events, consumed, end) = feed(&mut c, &input);
        assert_eq!(events, [Ev::Close(Some((1000, String::new())))]);
        assert_eq!((consumed, end), (close.len(), End::Closed));
        // No pong for the late ping: only the echo.
        let out = flush(&mut c);
        assert_eq!(
            one_frame(role, &out),
            (OpCode::Close, true, vec![0x03, 0xE8])
        );
    }
}

#[test]
fn ping_and_close_in_one_read_get_pong_then_close() {
    for role in ROLES {
        let mut c = conn(role, config());
        let mut input = frame(role, true, OpCode::Ping, b"p");
        input.extend(frame(role, true, OpCode::Close, &close_body(1001, b"")));
        let (events, _, end) = feed(&mut c, &input);
        assert_eq!(
            events,
            [
                Ev::Ping(b"p".to_vec()),
                Ev::Close(Some((1001, String::new())))
            ]
        );
        assert_eq!(end, End::Closed);
        let out = flush(&mut c);
        let frames = frames_from(role, &out);
        let frames: Vec<_> = frames.into_iter().map(|(h, p)| (h.opcode, p)).collect();
        assert_eq!(
            frames,
            [
                (OpCode::Pong, b"p".to_vec()),
                (OpCode::Close, 1001u16.to_be_bytes().to_vec())
            ]
        );
        assert_eq!(c.state(), State::Closed);
    }
}

#[test]
fn without_auto_close_the_caller_answers() {
    for role in ROLES {
        let mut cfg = config();
        cfg.auto_close = false;
        let mut c = conn(role, cfg);
        let f = frame(role, true, OpCode::Close, &close_body(1001, b"away"));
        let (events, _, end) = feed(&mut c, &f);
        assert_eq!(events, [Ev::Close(Some((1001, "away".into())))]);
        assert_eq!(end, End::Closed);
        assert_eq!(c.state(), State::CloseReceived);
        assert!(!c.wants_transmit());
        assert_eq!(flush(&mut c), []);
        // Until our Close is sent, data may still go out (RFC 6455 5.5.1).
        let mut out = [0u8; 64];
        let n = c.send(Outgoing::Text("last"), &mut out).unwrap();
        assert_eq!(
            one_frame(role, &out[..n]),
            (OpCode::Text, true, b"last".to_vec())
        );
        let n = c.close(CloseCode(1001), "", &mut out).unwrap();
        assert_eq!(
            one_frame(role, &out[..n]),
            (OpCode::Close, true, vec![0x03, 0xE9])
        );
        assert_eq!(c.state(), State::Closed);
        assert_eq!(flush(&mut c), []);
        assert_eq!(
            c.close(CloseCode::NORMAL, "", &mut out),
            Err(SendError::Closing)
        );
        assert_eq!(
            c.send(Outgoing::Ping(b""), &mut out),
            Err(SendError::Closing)
        );
    }
}

#[test]
fn close_first_then_peers_close_is_closed() {
    for role in ROLES {
        let mut c = conn(role, config());
        let mut out = [0u8; 64];
        let n = c.close(CloseCode::GOING_AWAY, "bye", &mut out).unwrap();
        let mut body = vec![0x03, 0xE9];
        body.extend_from_slice(b"bye");
        assert_eq!(one_frame(role, &out[..n]), (OpCode::Close, true, body));
        assert_eq!(c.state(), State::CloseSent);
        assert!(!c.wants_transmit());

        // Data still arrives; a Ping still gets its Pong (RFC 6455 5.5.2), and no second Close
        // is written.
        let mut input = frame(role, true, OpCode::Text, b"still");
        input.extend(frame(role, true, OpCode::Ping, b"p"));
        input.extend(frame(role, true, OpCode::Ping, b"p2"));
        input.extend(frame(role, true, OpCode::Close, &close_body(1001, b"")));
        let (events, out, end) = drive(&mut c, &input, input.len());
        assert_eq!(
            events,
            [
                text(b"still", true, true),
                Ev::Ping(b"p".to_vec()),
                Ev::Ping(b"p2".to_vec()),
                Ev::Close(Some((1001, String::new()))),
            ]
        );
        assert_eq!(end, End::Closed);
        let pongs: Vec<_> = frames_from(role, &out)
            .into_iter()
            .map(|(h, p)| (h.opcode, p))
            .collect();
        assert_eq!(
            pongs,
            [
                (OpCode::Pong, b"p".to_vec()),
                (OpCode::Pong, b"p2".to_vec())
            ]
        );
        assert_eq!(c.state(), State::Closed);
        assert!(!c.wants_transmit());
        assert_eq!(flush(&mut c), []);
    }
}

#[test]
fn ping_received_after_close_sent_gets_its_pong() {
    // RFC 6455 5.5.2: a Pong answers a Ping unless a Close was received; 5.5.1 forbids only data
    // frames after our Close.
    for role in ROLES {
        let mut c = conn(role, config());
        let mut out = [0u8; 64];
        let _ = c.close(CloseCode::NORMAL, "", &mut out).unwrap();
        let mut input = frame(role, true, OpCode::Ping, b"hello?");
        input.extend(frame(role, true, OpCode::Ping, b"again"));
        // The second Ping waits for the first Pong, as when open.
        let (events, consumed, end) = feed(&mut c, &input);
        assert_eq!(
            (events, end),
            (vec![Ev::Ping(b"hello?".to_vec())], End::NeedFlush)
        );
        assert!(c.wants_transmit());
        let pong = flush(&mut c);
        assert_eq!(
            one_frame(role, &pong),
            (OpCode::Pong, true, b"hello?".to_vec())
        );
        if role == Role::Server {
            assert_eq!(pong, [0x8A, 6, b'h', b'e', b'l', b'l', b'o', b'?']);
        }
        assert_eq!(c.state(), State::CloseSent);
        // The second Ping, then the peer's Close in the same read: the Pong is still owed (it was
        // owed before the Close arrived) and goes out in Closed.
        let mut rest = input[consumed..].to_vec();
        rest.extend(frame(role, true, OpCode::Close, b""));
        let (events, _, end) = feed(&mut c, &rest);
        assert_eq!(
            (events, end),
            (
                vec![Ev::Ping(b"again".to_vec()), Ev::Close(None)],
                End::Closed
            )
        );
        assert_eq!(c.state(), State::Closed);
        assert!(c.wants_transmit());
        assert_eq!(
            one_frame(role, &flush(&mut c)),
            (OpCode::Pong, true, b"again".to_vec())
        );
        assert!(!c.wants_transmit());
        assert_eq!(c.state(), State::Closed);
    }
}

#[test]
fn close_writes_a_queued_pong_first() {
    // A Pong owed before our Close goes out in front of it, never after it, and whether the driver
    // flushed in between does not change the bytes.
    for role in ROLES {
        let mut c = conn(role, config());
        let (events, _, _) = feed(&mut c, &frame(role, true, OpCode::Ping, b"p"));
        assert_eq!(events, [Ev::Ping(b"p".to_vec())]);
        let mut small = [0u8; 6];
        let needed = 2 * if role == Role::Client { 6 } else { 2 } + 1 + 2;
        assert_eq!(
            c.close(CloseCode::NORMAL, "", &mut small),
            Err(SendError::BufferTooSmall(BufferTooSmall { needed }))
        );
        assert!(c.wants_transmit(), "the Pong is still owed");
        let mut out = [0u8; 64];
        let n = c.close(CloseCode::NORMAL, "", &mut out).unwrap();
        assert_eq!(n, needed);
        let frames = frames_from(role, &out[..n]);
        assert_eq!(frames.len(), 2);
        assert_eq!(
            (frames[0].0.opcode, frames[0].1.as_slice()),
            (OpCode::Pong, &b"p"[..])
        );
        assert_eq!(
            (frames[1].0.opcode, frames[1].1.as_slice()),
            (OpCode::Close, &[0x03, 0xE8][..])
        );
        assert_eq!(flush(&mut c), []);
    }
}

#[test]
fn protocol_error_after_close_sent_closes_without_a_second_close() {
    for role in ROLES {
        let mut c = conn(role, config());
        let mut out = [0u8; 64];
        let _ = c.close(CloseCode::NORMAL, "", &mut out).unwrap();
        let f = raw(0x83, peer_mask(role), b"");
        let (_, _, end) = feed(&mut c, &f);
        assert_eq!(end, End::Error(ProtocolError::UnknownOpcode(3)));
        assert_eq!(c.state(), State::Closed);
        assert!(!c.wants_transmit());
        assert_eq!(flush(&mut c), []);
    }
}

#[test]
fn nothing_can_be_sent_after_close() {
    for role in ROLES {
        let mut c = conn(role, config());
        let mut out = [0u8; 64];
        let _ = c.close(CloseCode::NORMAL, "", &mut out).unwrap();
        let mut out = [0xAAu8; 64];
        for msg in [
            Outgoing::Text("x"),
            Outgoing::Binary(b"x"),
            Outgoing::Ping(b"x"),
            Outgoing::Pong(b"x"),
        ] {
            assert_eq!(c.send(msg, &mut out), Err(SendError::Closing));
        }
        assert_eq!(
            c.send_frame(DataKind::Text, b"x", true, &mut out),
            Err(SendError::Closing)
        );
        assert_eq!(
            c.send_header(DataKind::Binary, 1, true, &mut out),
            Err(SendError::Closing)
        );
        assert_eq!(
            c.close(CloseCode::NORMAL, "", &mut out),
            Err(SendError::Closing)
        );
        assert!(out.iter().all(|&b| b == 0xAA));
        assert_eq!(c.state(), State::CloseSent);

        // With the echo queued (auto_close) and after a protocol error, too.
        let mut c = conn(role, config());
        let _ = feed(&mut c, &frame(role, true, OpCode::Close, b""));
        assert_eq!(
            c.send(Outgoing::Text("x"), &mut out),
            Err(SendError::Closing)
        );
        assert_eq!(
            c.close(CloseCode::NORMAL, "", &mut out),
            Err(SendError::Closing)
        );
        let mut c = conn(role, config());
        let _ = feed(&mut c, &raw(0x83, peer_mask(role), b""));
        assert_eq!(c.state(), State::Failed);
        assert_eq!(
            c.send(Outgoing::Ping(b""), &mut out),
            Err(SendError::Closing)
        );
        assert_eq!(
            c.close(CloseCode::NORMAL, "", &mut out),
            Err(SendError::Closing)
        );
        assert_failed(&mut c, ProtocolError::UnknownOpcode(3));
    }
}

// ---------------------------------------------------------------------------------------------
// Ping and Pong
// ---------------------------------------------------------------------------------------------

#[test]
fn every_ping_gets_its_own_pong_in_order() {
    for role in ROLES {
        let mut c = conn(role, config());
        let mut input = Vec::new();
        for i in 0..10 {
            input.extend(frame(
                role,
                true,
                OpCode::Ping,
                format!("ping {i}").as_bytes(),
            ));
        }
        let mut pos = 0;
        let mut pings = Vec::new();
        let mut out = Vec::new();
        let mut paused = 0;
        while pos < input.len() {
            let r = c.receive(&mut input[pos..]);
            pos += r.consumed;
            match r.result {
                Ok(Recv::Event(Event::Ping(p))) => pings.push(p.to_vec()),
                Ok(Recv::NeedFlush) => {
                    assert_eq!(r.consumed, 0);
                    paused += 1;
                    // It keeps saying so until the pong is flushed.
                    let again = c.receive(&mut input[pos..]);
                    assert_eq!((again.consumed, again.result), (0, Ok(Recv::NeedFlush)));
                    assert!(c.wants_transmit());
                    let mut buf = [0u8; 256];
                    let n = c.poll_transmit(&mut buf).unwrap();
                    assert!(n > 0);
                    assert_eq!(c.poll_transmit(&mut buf), Ok(0));
                    out.extend_from_slice(&buf[..n]);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        out.extend(flush(&mut c));
        assert_eq!(paused, 9);
        let expect: Vec<Vec<u8>> = (0..10).map(|i| format!("ping {i}").into_bytes()).collect();
        assert_eq!(pings, expect);
        let pongs = frames_from(role, &out);
        assert!(pongs.iter().all(|(h, _)| h.opcode == OpCode::Pong && h.fin));
        let pongs: Vec<Vec<u8>> = pongs.into_iter().map(|(_, p)| p).collect();
        assert_eq!(pongs, expect);
        assert_eq!(c.state(), State::Open);
    }
}

/// The sends an application makes, each into `out`.
#[derive(Clone, Copy, Debug)]
enum Send {
    Text,
    Ping,
    Pong,
    Frame,
    Header,
    Close,
}

const SENDS: [Send; 6] = [
    Send::Text,
    Send::Ping,
    Send::Pong,
    Send::Frame,
    Send::Header,
    Send::Close,
];

impl Send {
    fn call<R: RandomSource>(
        self,
        c: &mut Connection<R>,
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        match self {
            Send::Text => c.send(Outgoing::Text("Hello"), out),
            Send::Ping => c.send(Outgoing::Ping(b"mine"), out),
            Send::Pong => c.send(Outgoing::Pong(b"beat"), out),
            Send::Frame => c.send_frame(DataKind::Binary, b"frag", false, out),
            Send::Header => c.send_header(DataKind::Binary, 300, true, out),
            Send::Close => c.close(CloseCode::NORMAL, "", out),
        }
    }

    /// The frame it writes (server role, nothing owed).
    fn bytes(self) -> Vec<u8> {
        match self {
            Send::Text => vec![0x81, 5, b'H', b'e', b'l', b'l', b'o'],
            Send::Ping => vec![0x89, 4, b'm', b'i', b'n', b'e'],
            Send::Pong => vec![0x8A, 4, b'b', b'e', b'a', b't'],
            Send::Frame => vec![0x02, 4, b'f', b'r', b'a', b'g'],
            Send::Header => vec![0x82, 126, 0x01, 0x2C],
            Send::Close => vec![0x88, 2, 0x03, 0xE8],
        }
    }
}

#[test]
fn an_owed_pong_goes_out_in_front_of_what_the_application_sends() {
    for role in ROLES {
        for send in SENDS {
            let mut c = conn(role, config());
            let (events, _, _) = feed(&mut c, &frame(role, true, OpCode::Ping, b"ping!"));
            assert_eq!(events, [Ev::Ping(b"ping!".to_vec())]);
            assert!(c.wants_transmit());
            let mask = if role == Role::Client { 4 } else { 0 };
            let pong_len = 2 + mask + 5;
            let needed = pong_len + send.bytes().len() + mask;

            // Too small for both: nothing written, nothing dequeued, no key drawn.
            let mut out = [0xAAu8; 400];
            for short in [0, pong_len, needed - 1] {
                assert_eq!(
                    send.call(&mut c, &mut out[..short]),
                    Err(SendError::BufferTooSmall(BufferTooSmall { needed })),
                    "{role:?} {send:?}"
                );
            }
            assert!(out.iter().all(|&b| b == 0xAA));
            assert!(c.wants_transmit());
            assert_eq!(c.state(), State::Open);

            // The same bytes whether or not the driver flushed in between.
            let mut flushed = c.clone();
            let mut expect = flush(&mut flushed);
            let n = send.call(&mut flushed, &mut out).unwrap();
            expect.extend_from_slice(&out[..n]);
            let n = send.call(&mut c, &mut out).unwrap();
            assert_eq!(n, needed, "{role:?} {send:?}: the count includes the Pong");
            assert_eq!(out[..n], expect[..], "{role:?} {send:?}");
            if role == Role::Server {
                let mut exact = vec![0x8A, 5, b'p', b'i', b'n', b'g', b'!'];
                exact.extend(send.bytes());
                assert_eq!(out[..n], exact[..], "{send:?}");
            } else {
                // The Pong is masked with the first key drawn, the frame with the second.
                let pong = frames_from(role, &out[..pong_len]);
                assert_eq!(pong[0].0.mask, Some([1, 2, 3, 4]));
                assert_eq!(pong[0].1, b"ping!");
                let Ok(Status::Complete((h, _))) = FrameHeader::decode(&out[pong_len..n]) else {
                    panic!("{send:?}: no header after the Pong");
                };
                assert_eq!(h.mask, Some([5, 6, 7, 8]), "{send:?}");
            }
            assert!(!c.wants_transmit(), "{role:?} {send:?}: dequeued");
            assert_eq!(c.poll_transmit(&mut out), Ok(0));
        }
    }
}

#[test]
fn an_owed_pong_stays_owed_when_randomness_fails() {
    let failing = Rc::new(Cell::new(false));
    let flag = failing.clone();
    let mut c = Connection::client(config(), move |dest: &mut [u8]| {
        if flag.get() {
            return Err(RandomError);
        }
        dest.fill(0x5A);
        Ok(())
    });
    let (events, _, _) = feed(&mut c, &frame(Role::Client, true, OpCode::Ping, b"p"));
    assert_eq!(events, [Ev::Ping(b"p".to_vec())]);
    failing.set(true);
    let mut out = [0u8; 64];
    for send in SENDS {
        assert_eq!(
            send.call(&mut c, &mut out),
            Err(SendError::Random(RandomError)),
            "{send:?}"
        );
        assert!(c.wants_transmit());
        assert_eq!(c.payload_remaining(), 0);
        assert_eq!(c.state(), State::Open);
    }
    failing.set(false);
    let n = c.send(Outgoing::Text("x"), &mut out).unwrap();
    let frames = frames_from(Role::Client, &out[..n]);
    assert_eq!(
        (frames[0].0.opcode, frames[1].0.opcode),
        (OpCode::Pong, OpCode::Text)
    );
}

#[test]
fn a_pong_owed_during_a_streamed_frame_waits_for_its_end() {
    for role in ROLES {
        let mut c = conn(role, config());
        let mut header = [0u8; MAX_HEADER_LEN];
        let h = c
            .send_header(DataKind::Binary, 4, true, &mut header)
            .unwrap();
        let (events, _, _) = feed(&mut c, &frame(role, true, OpCode::Ping, b"p"));
        assert_eq!(events, [Ev::Ping(b"p".to_vec())]);
        let mut out = [0u8; 64];
        assert_eq!(c.poll_transmit(&mut out), Ok(0));
        assert_eq!(
            c.send(Outgoing::Text("x"), &mut out),
            Err(SendError::FrameInProgress)
        );
        let mut payload = *b"data";
        c.send_payload(&mut payload).unwrap();
        // The frame is whole: the Pong goes in front of the next frame sent.
        let n = c.send(Outgoing::Text("x"), &mut out).unwrap();
        let mut wire = header[..h].to_vec();
        wire.extend_from_slice(&payload);
        wire.extend_from_slice(&out[..n]);
        let ops: Vec<_> = frames_from(role, &wire)
            .into_iter()
            .map(|(h, p)| (h.opcode, p))
            .collect();
        assert_eq!(
            ops,
            [
                (OpCode::Binary, b"data".to_vec()),
                (OpCode::Pong, b"p".to_vec()),
                (OpCode::Text, b"x".to_vec())
            ]
        );
    }
}

#[test]
fn pong_queued_before_an_error_goes_out_before_its_close() {
    // The bytes written must not depend on whether the driver flushed between the two frames.
    for role in ROLES {
        let mut c = conn(role, config());
        let mut input = frame(role, true, OpCode::Ping, b"p");
        input.extend(raw(0x83, peer_mask(role), b""));
        let (events, _, end) = feed(&mut c, &input);
        assert_eq!(events, [Ev::Ping(b"p".to_vec())]);
        assert_eq!(end, End::Error(ProtocolError::UnknownOpcode(3)));
        assert_eq!(c.state(), State::Failed);
        let out = flush(&mut c);
        let frames: Vec<_> = frames_from(role, &out)
            .into_iter()
            .map(|(h, p)| (h.opcode, p))
            .collect();
        assert_eq!(
            frames,
            [
                (OpCode::Pong, b"p".to_vec()),
                (OpCode::Close, 1002u16.to_be_bytes().to_vec())
            ]
        );
        assert_eq!(c.state(), State::Closed);
    }
}

#[test]
fn without_auto_pong_nothing_is_queued() {
    for role in ROLES {
        let mut cfg = config();
        cfg.auto_pong = false;
        let mut c = conn(role, cfg);
        let mut input = Vec::new();
        for i in 0..10u8 {
            input.extend(frame(role, true, OpCode::Ping, &[i]));
        }
        let (events, consumed, end) = feed(&mut c, &input);
        let expect: Vec<Ev> = (0..10u8).map(|i| Ev::Ping(vec![i])).collect();
        assert_eq!(events, expect);
        assert_eq!((consumed, end), (input.len(), End::NeedInput));
        assert!(!c.wants_transmit());
        assert_eq!(flush(&mut c), []);
    }
}

#[test]
fn unsolicited_pong_is_reported_and_ignored() {
    for role in ROLES {
        let mut c = conn(role, config());
        let f = frame(role, true, OpCode::Pong, b"heartbeat");
        let (events, _, end) = feed(&mut c, &f);
        assert_eq!(
            (events, end),
            (vec![Ev::Pong(b"heartbeat".to_vec())], End::NeedInput)
        );
        assert!(!c.wants_transmit());
        assert_eq!(flush(&mut c), []);
        assert_eq!(c.state(), State::Open);
    }
}

#[test]
fn ping_of_125_bytes_is_answered() {
    let payload: Vec<u8> = (0..125u8).collect();
    for role in ROLES {
        let mut c = conn(role, config());
        let f = frame(role, true, OpCode::Ping, &payload);
        let (events, _, _) = feed(&mut c, &f);
        assert_eq!(events, [Ev::Ping(payload.clone())]);
        let needed = if role == Role::Server { 127 } else { 131 };
        // Too small a buffer: the size needed, nothing written or dequeued.
        let mut buf = [0xAAu8; 131];
        assert_eq!(
            c.poll_transmit(&mut buf[..needed - 1]),
            Err(SendError::BufferTooSmall(BufferTooSmall { needed }))
        );
        assert!(buf.iter().all(|&b| b == 0xAA));
        assert!(c.wants_transmit());
        let n = c.poll_transmit(&mut buf[..needed]).unwrap();
        assert_eq!(n, needed);
        assert_eq!(
            one_frame(role, &buf[..n]),
            (OpCode::Pong, true, payload.clone())
        );
    }
}

#[test]
fn partial_control_frame_needs_input_and_consumes_nothing() {
    for role in ROLES {
        for f in [
            frame(role, true, OpCode::Ping, b"partial"),
            frame(role, true, OpCode::Pong, &[7; 125]),
            frame(role, true, OpCode::Close, &close_body(1000, b"why")),
        ] {
            let mut c = conn(role, config());
            for end in 0..f.len() {
                assert_eq!(
                    feed(&mut c, &f[..end]),
                    (vec![], 0, End::NeedInput),
                    "{end}"
                );
            }
            let (events, consumed, _) = feed(&mut c, &f);
            assert_eq!((events.len(), consumed), (1, f.len()));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

#[test]
fn frame_over_max_frame_len_fails_at_the_header() {
    for role in ROLES {
        let mut cfg = config();
        cfg.max_frame_len = 1000;
        // Exactly the limit: the header is taken and the payload awaited.
        let mut c = conn(role, cfg);
        let h = header_bytes(0x82, peer_mask(role), 1000);
        assert_eq!(feed(&mut c, &h), (vec![], h.len(), End::NeedInput));
        // One more: fails with only the header there.
        for (b0, len) in [(0x82, 1001), (0x01, 1001), (0x82, 70_000), (0x82, 1 << 40)] {
            let mut c = conn(role, cfg);
            let h = header_bytes(b0, peer_mask(role), len);
            violation(&mut c, &h, ProtocolError::FrameTooLong, 1009);
        }
        // Control frames are bounded by the RFC's 125 bytes, not by the frame limit.
        let mut cfg = config();
        cfg.max_frame_len = 10;
        let mut c = conn(role, cfg);
        let reason = [b'r'; 123];
        let mut input = frame(role, true, OpCode::Ping, &[7; 125]);
        input.extend(frame(role, true, OpCode::Pong, &[8; 11]));
        input.extend(frame(role, true, OpCode::Close, &close_body(1000, &reason)));
        let (events, consumed, end) = feed(&mut c, &input);
        let reason = String::from_utf8(reason.to_vec()).unwrap();
        assert_eq!(
            events,
            [
                Ev::Ping(vec![7; 125]),
                Ev::Pong(vec![8; 11]),
                Ev::Close(Some((1000, reason)))
            ]
        );
        assert_eq!((consumed, end), (input.len(), End::Closed));
        let out = flush(&mut c);
        let frames: Vec<_> = frames_from(role, &out)
            .into_iter()
            .map(|(h, p)| (h.opcode, p))
            .collect();
        assert_eq!(
            frames,
            [
                (OpCode::Pong, vec![7; 125]),
                (OpCode::Close, close_body(1000, b""))
            ]
        );
        // A data frame of 11 still fails.
        let mut c = conn(role, cfg);
        let h = header_bytes(0x82, peer_mask(role), 11);
        violation(&mut c, &h, ProtocolError::FrameTooLong, 1009);
        // The default is 16 MiB.
        let mut c = conn(role, config());
        let h = header_bytes(0x82, peer_mask(role), (16 << 20) + 1);
        violation(&mut c, &h, ProtocolError::FrameTooLong, 1009);
        let mut c = conn(role, config());
        let h = header_bytes(0x82, peer_mask(role), 16 << 20);
        assert_eq!(feed(&mut c, &h), (vec![], h.len(), End::NeedInput));
    }
}

#[test]
fn message_over_max_message_len_fails_when_crossing() {
    for role in ROLES {
        let mut cfg = config();
        cfg.max_message_len = 10;
        let mut c = conn(role, cfg);
        // 4 + 4 + 2 = 10: exactly the limit is fine.
        let mut input = frame(role, false, OpCode::Binary, b"aaaa");
        input.extend(frame(role, false, OpCode::Continuation, b"bbbb"));
        input.extend(frame(role, true, OpCode::Continuation, b"cc"));
        let (events, _, end) = feed(&mut c, &input);
        assert_eq!(events.len(), 3);
        assert_eq!(end, End::NeedInput);
        // The next message starts from zero; 4 + 4 + 3 fails at the third header, before its
        // payload is there.
        let mut input = frame(role, false, OpCode::Text, b"dddd");
        input.extend(frame(role, false, OpCode::Continuation, b"eeee"));
        input.extend(header_bytes(0x80, peer_mask(role), 3));
        let before = [text(b"dddd", true, false), text(b"eeee", true, false)];
        violation_after(&mut c, &input, &before, ProtocolError::MessageTooLong, 1009);

        // A single frame over the message limit (but within the frame limit).
        let mut c = conn(role, cfg);
        let h = header_bytes(0x82, peer_mask(role), 11);
        violation(&mut c, &h, ProtocolError::MessageTooLong, 1009);
    }
}

// ---------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------

#[test]
fn server_sends_unmasked_frames() {
    let mut c = Connection::server(config());
    let mut out = [0u8; 64];
    let n = c.send(Outgoing::Text("Hello"), &mut out).unwrap();
    assert_eq!(out[..n], [0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
    let n = c.send(Outgoing::Binary(&[1, 2, 3]), &mut out).unwrap();
    assert_eq!(out[..n], [0x82, 0x03, 1, 2, 3]);
    let n = c.send(Outgoing::Ping(b"Hello"), &mut out).unwrap();
    assert_eq!(out[..n], [0x89, 0x05, b'H', b'e', b'l', b'l', b'o']);
    let n = c.send(Outgoing::Pong(b""), &mut out).unwrap();
    assert_eq!(out[..n], [0x8A, 0x00]);
    let n = c.send(Outgoing::Binary(&[]), &mut out).unwrap();
    assert_eq!(out[..n], [0x82, 0x00]);
    // A server never needs randomness: `NoRandom` fails if drawn, and nothing above failed.
    let n = c.close(CloseCode::NORMAL, "", &mut out).unwrap();
    assert_eq!(out[..n], [0x88, 0x02, 0x03, 0xE8]);
}

#[test]
fn client_sends_masked_frames_with_keys_from_its_source() {
    let mut c = conn(Role::Client, config());
    let mut out = [0u8; 64];
    let n = c.send(Outgoing::Text("Hello"), &mut out).unwrap();
    let hello: Vec<u8> = b"Hello"
        .iter()
        .zip([1u8, 2, 3, 4].iter().cycle())
        .map(|(a, b)| a ^ b)
        .collect();
    assert_eq!(out[..6], [0x81, 0x85, 1, 2, 3, 4]);
    assert_eq!(out[6..n], hello[..]);
    let kinds = [
        (
            Outgoing::Binary(&[9, 8, 7]),
            OpCode::Binary,
            &[9u8, 8, 7][..],
            [5, 6, 7, 8],
        ),
        (Outgoing::Ping(b"pi"), OpCode::Ping, b"pi", [9, 10, 11, 12]),
        (Outgoing::Pong(b"po"), OpCode::Pong, b"po", [13, 14, 15, 16]),
        (Outgoing::Text(""), OpCode::Text, b"", [17, 18, 19, 20]),
    ];
    for (msg, op, payload, key) in kinds {
        let n = c.send(msg, &mut out).unwrap();
        let frames = frames_from(Role::Client, &out[..n]);
        assert_eq!(frames.len(), 1);
        let (h, p) = &frames[0];
        assert_eq!(
            (h.opcode, h.fin, h.mask, &p[..]),
            (op, true, Some(key), payload)
        );
    }
}

#[test]
fn every_length_class_round_trips() {
    for role in ROLES {
        for len in [0usize, 1, 125, 126, 65535, 65536, 100_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let mut c = conn(role, config());
            let mut out = vec![0u8; len + MAX_HEADER_LEN];
            let n = c.send(Outgoing::Binary(&payload), &mut out).unwrap();
            let header_len = match (len, role) {
                (0..=125, Role::Server) => 2,
                (126..=65535, Role::Server) => 4,
                (_, Role::Server) => 10,
                (0..=125, Role::Client) => 6,
                (126..=65535, Role::Client) => 8,
                (_, Role::Client) => 14,
            };
            assert_eq!(n, header_len + len);
            let (op, fin, p) = one_frame(role, &out[..n]);
            assert_eq!((op, fin), (OpCode::Binary, true));
            assert_eq!(p, payload);
        }
    }
}

#[test]
fn too_small_a_buffer_writes_nothing_and_changes_nothing() {
    for role in ROLES {
        let extra = if role == Role::Client { 4 } else { 0 };
        let mut c = conn(role, config());
        let mut out = [0xAAu8; 256];
        let big = [b'x'; 200];
        let cases: [(Outgoing, usize); 5] = [
            (Outgoing::Text("Hello"), 7),
            (Outgoing::Binary(&big), 204),
            (Outgoing::Ping(b"p"), 3),
            (Outgoing::Pong(b""), 2),
            (Outgoing::Binary(&[]), 2),
        ];
        for (msg, needed) in cases {
            let needed = needed + extra;
            for short in [0, 1, needed - 1] {
                assert_eq!(
                    c.send(msg, &mut out[..short]),
                    Err(SendError::BufferTooSmall(BufferTooSmall { needed }))
                );
            }
        }
        assert_eq!(
            c.send_frame(DataKind::Text, b"frag", false, &mut out[..5 + extra]),
            Err(SendError::BufferTooSmall(BufferTooSmall {
                needed: 6 + extra
            }))
        );
        assert_eq!(
            c.send_header(DataKind::Binary, 70_000, true, &mut out[..9 + extra]),
            Err(SendError::BufferTooSmall(BufferTooSmall {
                needed: 10 + extra
            }))
        );
        assert_eq!(c.payload_remaining(), 0);
        assert_eq!(
            c.close(CloseCode::NORMAL, "bye", &mut out[..6 + extra]),
            Err(SendError::BufferTooSmall(BufferTooSmall {
                needed: 7 + extra
            }))
        );
        assert!(out.iter().all(|&b| b == 0xAA));
        assert_eq!(c.state(), State::Open);
        // No message was started, no key was drawn: the next frame is a whole message masked
        // with the first key.
        let n = c.send(Outgoing::Binary(b"ok"), &mut out).unwrap();
        let frames = frames_from(role, &out[..n]);
        let (h, p) = &frames[0];
        assert_eq!(
            (h.opcode, h.fin, &p[..]),
            (OpCode::Binary, true, &b"ok"[..])
        );
        if role == Role::Client {
            assert_eq!(h.mask, Some([1, 2, 3, 4]));
        }
    }
}

#[test]
fn control_payload_over_125_bytes_is_refused() {
    for role in ROLES {
        let mut c = conn(role, config());
        let mut out = [0xAAu8; 256];
        for msg in [Outgoing::Ping(&[0; 126]), Outgoing::Pong(&[0; 126])] {
            assert_eq!(c.send(msg, &mut out), Err(SendError::ControlPayloadTooLong));
        }
        assert!(out.iter().all(|&b| b == 0xAA));
        for msg in [Outgoing::Ping(&[0; 125]), Outgoing::Pong(&[0; 125])] {
            let n = c.send(msg, &mut out).unwrap();
            assert_eq!(one_frame(role, &out[..n]).2.len(), 125);
        }
    }
}

#[test]
fn send_frame_fragments_with_continuations() {
    for role in ROLES {
        let mut c = conn(role, config());
        let mut out = Vec::new();
        let mut buf = [0u8; 64];
        for (kind, payload, fin) in [
            (DataKind::Text, &b"a"[..], false),
            (DataKind::Text, b"b", false),
            (DataKind::Text, b"c", true),
            (DataKind::Binary, b"d", false),
            (DataKind::Binary, b"", true),
            (DataKind::Binary, b"f", true),
        ] {
            let n = c.send_frame(kind, payload, fin, &mut buf).unwrap();
            out.extend_from_slice(&buf[..n]);
        }
        let got: Vec<_> = frames_from(role, &out)
            .into_iter()
            .map(|(h, p)| (h.opcode, h.fin, p))
            .collect();
        assert_eq!(
            got,
            [
                (OpCode::Text, false, b"a".to_vec()),
                (OpCode::Continuation, false, b"b".to_vec()),
                (OpCode::Continuation, true, b"c".to_vec()),
                (OpCode::Binary, false, b"d".to_vec()),
                (OpCode::Continuation, true, vec![]),
                (OpCode::Binary, true, b"f".to_vec()),
            ]
        );
    }
}

#[test]
fn message_in_progress_refuses_other_messages_but_not_control_frames() {
    for role in ROLES {
        let mut c = conn(role, config());
        let mut buf = [0u8; 64];
        let _ = c.send_frame(DataKind::Text, b"a", false, &mut buf).unwrap();
        let mut untouched = [0xAAu8; 64];
        assert_eq!(
            c.send_frame(DataKind::Binary, b"b", true, &mut untouched),
            Err(SendError::MessageInProgress)
        );
        assert_eq!(
            c.send_header(DataKind::Binary, 1, true, &mut untouched),
            Err(SendError::MessageInProgress)
        );
        for msg in [Outgoing::Text("b"), Outgoing::Binary(b"b")] {
            assert_eq!(
                c.send(msg, &mut untouched),
                Err(SendError::MessageInProgress)
            );
        }
        assert!(untouched.iter().all(|&b| b == 0xAA));
        // Control frames may go between fragments.
        let n = c.send(Outgoing::Ping(b"p"), &mut buf).unwrap();
        assert_eq!(one_frame(role, &buf[..n]).0, OpCode::Ping);
        let n = c.send(Outgoing::Pong(b"q"), &mut buf).unwrap();
        assert_eq!(one_frame(role, &buf[..n]).0, OpCode::Pong);
        // The message goes on as a continuation and ends; then others may start.
        let n = c.send_frame(DataKind::Text, b"z", true, &mut buf).unwrap();
        assert_eq!(
            one_frame(role, &buf[..n]),
            (OpCode::Continuation, true, b"z".to_vec())
        );
        let n = c.send(Outgoing::Binary(b"b"), &mut buf).unwrap();
        assert_eq!(one_frame(role, &buf[..n]).0, OpCode::Binary);
    }
}

#[test]
fn streamed_frame_matches_a_one_shot_send() {
    let payload: Vec<u8> = (0..70_001u32).map(|i| (i * 7 % 256) as u8).collect();
    for role in ROLES {
        for (fin, chunks) in [(true, &[1usize, 3, 5, 7, 2, 1000][..]), (false, &[4, 4, 9])] {
            let mut one = conn(role, config());
            let mut expect = vec![0u8; payload.len() + MAX_HEADER_LEN];
            let n = one
                .send_frame(DataKind::Binary, &payload, fin, &mut expect)
                .unwrap();
            expect.truncate(n);

            let mut c = conn(role, config());
            let mut header = [0u8; MAX_HEADER_LEN];
            let h = c
                .send_header(DataKind::Binary, payload.len() as u64, fin, &mut header)
                .unwrap();
            let mut got = header[..h].to_vec();
            let mut rest = payload.clone();
            let mut at = 0;
            let mut sizes = chunks.iter().copied().cycle();
            while at < rest.len() {
                let size = sizes.next().unwrap().min(rest.len() - at);
                assert_eq!(c.payload_remaining(), (rest.len() - at) as u64);
                c.send_payload(&mut rest[at..at + size]).unwrap();
                at += size;
            }
            assert_eq!(c.payload_remaining(), 0);
            got.extend_from_slice(&rest);
            assert_eq!(got, expect, "{role:?} fin {fin}");
            if role == Role::Client {
                assert_ne!(rest, payload, "a client masks in place");
            } else {
                assert_eq!(rest, payload, "a server leaves the payload alone");
            }
            // Fragmentation state follows `fin`, as for send_frame.
            let mut buf = [0u8; 64];
            let next = c
                .send_frame(DataKind::Binary, b"x", true, &mut buf)
                .unwrap();
            let op = one_frame(role, &buf[..next]).0;
            assert_eq!(
                op,
                if fin {
                    OpCode::Binary
                } else {
                    OpCode::Continuation
                }
            );
        }
    }
}

#[test]
fn streamed_frame_length_with_the_top_bit_is_refused() {
    // RFC 6455 5.2: the most significant bit of the 64-bit length MUST be 0.
    for role in ROLES {
        let mut c = conn(role, config());
        let mut out = [0xAAu8; 64];
        for len in [1u64 << 63, u64::MAX] {
            assert_eq!(
                c.send_header(DataKind::Binary, len, true, &mut out),
                Err(SendError::LengthOverflow)
            );
        }
        assert!(out.iter().all(|&b| b == 0xAA));
        assert_eq!(c.payload_remaining(), 0);
        // Nothing was started and no key drawn: the largest legal length still works.
        let n = c
            .send_header(DataKind::Binary, (1 << 63) - 1, true, &mut out)
            .unwrap();
        let Ok(Status::Complete((h, len))) = FrameHeader::decode(&out[..n]) else {
            panic!("undecodable {:x?}", &out[..n]);
        };
        assert_eq!((h.payload_len, len), ((1 << 63) - 1, n));
        if role == Role::Client {
            assert_eq!(h.mask, Some([1, 2, 3, 4]));
        }
    }
}

#[test]
fn streamed_frame_rules() {
    for role in ROLES {
        let mut c = conn(role, config());
        let mut header = [0u8; MAX_HEADER_LEN];
        // No frame in progress: nothing may be passed.
        assert_eq!(c.send_payload(&mut [1]), Err(SendError::PayloadOverrun));
        let _ = c
            .send_header(DataKind::Text, 10, true, &mut header)
            .unwrap();
        // Everything else waits for the payload.
        let mut out = [0xAAu8; 64];
        assert_eq!(
            c.send(Outgoing::Text("x"), &mut out),
            Err(SendError::FrameInProgress)
        );
        assert_eq!(
            c.send(Outgoing::Ping(b""), &mut out),
            Err(SendError::FrameInProgress)
        );
        assert_eq!(
            c.send_frame(DataKind::Text, b"x", true, &mut out),
            Err(SendError::FrameInProgress)
        );
        assert_eq!(
            c.send_header(DataKind::Text, 1, true, &mut out),
            Err(SendError::FrameInProgress)
        );
        assert_eq!(
            c.close(CloseCode::NORMAL, "", &mut out),
            Err(SendError::FrameInProgress)
        );
        assert!(out.iter().all(|&b| b == 0xAA));
        // So does poll_transmit, with a Pong queued.
        let (events, _, _) = feed(&mut c, &frame(role, true, OpCode::Ping, b"p"));
        assert_eq!(events, [Ev::Ping(b"p".to_vec())]);
        assert!(!c.wants_transmit());
        assert_eq!(c.poll_transmit(&mut out), Ok(0));
        // Too much payload: refused, the chunk left as it was.
        let mut chunk = *b"0123456789X";
        assert_eq!(c.send_payload(&mut chunk), Err(SendError::PayloadOverrun));
        assert_eq!(&chunk, b"0123456789X");
        c.send_payload(&mut chunk[..6]).unwrap();
        assert_eq!(
            c.send_payload(&mut chunk[6..]),
            Err(SendError::PayloadOverrun)
        );
        assert_eq!(&chunk[6..], b"6789X");
        c.send_payload(&mut chunk[6..10]).unwrap();
        assert_eq!(c.payload_remaining(), 0);
        assert_eq!(c.send_payload(&mut [1]), Err(SendError::PayloadOverrun));
        // Now the Pong goes out, and sending works again.
        assert!(c.wants_transmit());
        let pong = flush(&mut c);
        assert_eq!(one_frame(role, &pong), (OpCode::Pong, true, b"p".to_vec()));
        let n = c.send(Outgoing::Text("x"), &mut out).unwrap();
        assert_eq!(one_frame(role, &out[..n]).0, OpCode::Text);
    }
}

#[test]
fn randomness_failure_is_an_error_and_writes_nothing() {
    let mut c = Connection::client(config(), |_: &mut [u8]| Err(RandomError));
    let mut out = [0xAAu8; 64];
    let random = Err(SendError::Random(RandomError));
    for msg in [
        Outgoing::Text("x"),
        Outgoing::Binary(b""),
        Outgoing::Ping(b"p"),
        Outgoing::Pong(b"p"),
    ] {
        assert_eq!(c.send(msg, &mut out), random);
    }
    assert_eq!(c.send_frame(DataKind::Text, b"x", false, &mut out), random);
    assert_eq!(c.send_header(DataKind::Binary, 9, false, &mut out), random);
    assert_eq!(c.close(CloseCode::NORMAL, "", &mut out), random);
    assert!(out.iter().all(|&b| b == 0xAA));
    assert_eq!(c.state(), State::Open);
    assert_eq!(c.payload_remaining(), 0);

    // poll_transmit: nothing written or dequeued while the source fails.
    let failing = Rc::new(Cell::new(false));
    let flag = failing.clone();
    let mut c = Connection::client(config(), move |dest: &mut [u8]| {
        if flag.get() {
            return Err(RandomError);
        }
        dest.fill(0x5A);
        Ok(())
    });
    let (events, _, _) = feed(&mut c, &frame(Role::Client, true, OpCode::Ping, b"p"));
    assert_eq!(events, [Ev::Ping(b"p".to_vec())]);
    failing.set(true);
    assert_eq!(c.poll_transmit(&mut out), random);
    assert!(out.iter().all(|&b| b == 0xAA));
    assert!(c.wants_transmit());
    // A second ping still waits for the first pong.
    let mut ping = frame(Role::Client, true, OpCode::Ping, b"q");
    let r = c.receive(&mut ping);
    assert_eq!((r.consumed, r.result), (0, Ok(Recv::NeedFlush)));
    failing.set(false);
    assert_eq!(
        one_frame(Role::Client, &flush(&mut c)),
        (OpCode::Pong, true, b"p".to_vec())
    );
    // The error Close of a failed connection, likewise.
    let _ = feed(&mut c, &raw(0x83, None, b""));
    failing.set(true);
    assert_eq!(c.poll_transmit(&mut out), random);
    failing.set(false);
    assert_failed(&mut c, ProtocolError::UnknownOpcode(3));
}

#[test]
fn close_validates_code_and_reason() {
    for role in ROLES {
        let extra = if role == Role::Client { 4 } else { 0 };
        let mut c = conn(role, config());
        let mut out = [0xAAu8; 256];
        for code in [0, 999, 1004, 1006, 1015, 1016, 2999, 5000, u16::MAX] {
            assert_eq!(
                c.close(CloseCode(code), "", &mut out),
                Err(SendError::InvalidCloseCode(code))
            );
        }
        let long = "x".repeat(124);
        assert_eq!(
            c.close(CloseCode::NORMAL, &long, &mut out),
            Err(SendError::ControlPayloadTooLong)
        );
        assert!(out.iter().all(|&b| b == 0xAA));
        assert_eq!(c.state(), State::Open);
        // 123 bytes of reason fill the 125 bytes of a control payload.
        let n = c.close(CloseCode(4999), &long[..123], &mut out).unwrap();
        assert_eq!(n, 2 + 125 + extra);
        let (op, fin, p) = one_frame(role, &out[..n]);
        assert_eq!((op, fin), (OpCode::Close, true));
        assert_eq!(p, close_body(4999, &long.as_bytes()[..123]));
        assert_eq!(c.state(), State::CloseSent);
    }
}

#[test]
fn close_with_no_status_sends_an_empty_close() {
    for role in ROLES {
        let mut c = conn(role, config());
        let mut out = [0xAAu8; 64];
        // A reason needs a code: refused, not silently dropped.
        assert_eq!(
            c.close(CloseCode::NO_STATUS, "lost", &mut out),
            Err(SendError::ReasonWithoutCode)
        );
        assert!(out.iter().all(|&b| b == 0xAA));
        assert_eq!(c.state(), State::Open);
        let n = c.close(CloseCode::NO_STATUS, "", &mut out).unwrap();
        if role == Role::Server {
            assert_eq!(out[..n], [0x88, 0x00]);
        } else {
            assert_eq!(out[..n], [0x88, 0x80, 1, 2, 3, 4]);
        }
        assert_eq!(c.state(), State::CloseSent);
        // The peer's empty Close ends it.
        let (events, _, end) = feed(&mut c, &frame(role, true, OpCode::Close, b""));
        assert_eq!((events, end), (vec![Ev::Close(None)], End::Closed));
        assert_eq!(c.state(), State::Closed);
    }
}

// ---------------------------------------------------------------------------------------------
// RFC 6455 5.7 examples
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc6455_examples_received_by_a_client() {
    let mut c = conn(Role::Client, config());
    // A single-frame unmasked text message.
    let (events, consumed, _) = feed(&mut c, &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!((events, consumed), (vec![text(b"Hello", true, true)], 7));
    // A fragmented unmasked text message.
    let input = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    let (events, consumed, _) = feed(&mut c, &input);
    assert_eq!(
        (events, consumed),
        (vec![text(b"Hel", true, false), text(b"lo", true, true)], 9)
    );
    // Unmasked Ping: answered by a masked Pong with the same payload.
    let (events, _, _) = feed(&mut c, &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(events, [Ev::Ping(b"Hello".to_vec())]);
    let pong = flush(&mut c);
    assert_eq!(pong[..6], [0x8a, 0x85, 1, 2, 3, 4]);
    assert_eq!(
        one_frame(Role::Client, &pong),
        (OpCode::Pong, true, b"Hello".to_vec())
    );
    // Unmasked Pong.
    let (events, _, _) = feed(&mut c, &[0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(events, [Ev::Pong(b"Hello".to_vec())]);
    // 256 bytes binary message in a single unmasked frame.
    let body: Vec<u8> = (0..=255u8).collect();
    let mut input = vec![0x82, 0x7E, 0x01, 0x00];
    input.extend_from_slice(&body);
    let (events, consumed, _) = feed(&mut c, &input);
    assert_eq!(
        (events, consumed),
        (vec![data(DataKind::Binary, &body, true, true)], 260)
    );
    // 64 KiB binary message in a single unmasked frame.
    let body: Vec<u8> = (0..65536u32).map(|i| (i % 253) as u8).collect();
    let mut input = vec![0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0];
    input.extend_from_slice(&body);
    let (events, consumed, _) = feed(&mut c, &input);
    assert_eq!(
        (events, consumed),
        (vec![data(DataKind::Binary, &body, true, true)], 65546)
    );
    assert_eq!(c.state(), State::Open);
}

#[test]
fn rfc6455_examples_received_by_a_server() {
    let mut c = conn(Role::Server, config());
    // A single-frame masked text message.
    let masked_hello = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let (events, consumed, _) = feed(&mut c, &masked_hello);
    assert_eq!((events, consumed), (vec![text(b"Hello", true, true)], 11));
    // And byte by byte: the same message in pieces.
    let (events, out, _) = drive(&mut c, &masked_hello, 1);
    assert_eq!(coalesce(&events), [text(b"Hello", true, true)]);
    assert_eq!(events.len(), 5);
    assert!(out.is_empty());
    // A masked Pong.
    let masked_pong = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let (events, _, _) = feed(&mut c, &masked_pong);
    assert_eq!(events, [Ev::Pong(b"Hello".to_vec())]);
    // The unmasked examples, masked as a client must send them.
    let mut input = frame(Role::Server, false, OpCode::Text, b"Hel");
    input.extend(frame(Role::Server, true, OpCode::Continuation, b"lo"));
    input.extend(frame(Role::Server, true, OpCode::Ping, b"Hello"));
    let (events, _, _) = feed(&mut c, &input);
    assert_eq!(
        events,
        [
            text(b"Hel", true, false),
            text(b"lo", true, true),
            Ev::Ping(b"Hello".to_vec())
        ]
    );
    assert_eq!(flush(&mut c), [0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
}

#[test]
fn data_pieces_say_how_much_of_their_frame_remains() {
    for role in ROLES {
        let mut c = conn(role, config());
        let mut input = frame(role, false, OpCode::Binary, &[7; 10]);
        input.extend(frame(role, true, OpCode::Continuation, &[8; 3]));
        let head = 2 + if role == Role::Server { 4 } else { 0 };
        let mut seen = Vec::new();
        let mut pos = 0;
        // The first frame in pieces of 3, 3 and 4 bytes, then the second whole.
        for end in [head + 3, head + 6, head + 10, input.len()] {
            let r = c.receive(&mut input[pos..end]);
            pos += r.consumed;
            if let Ok(Recv::Event(Event::Data {
                payload,
                frame_remaining,
                frame_done,
                ..
            })) = r.result
            {
                assert_eq!(frame_done, frame_remaining == 0);
                seen.push((payload.len(), frame_remaining));
            }
        }
        assert_eq!(pos, input.len());
        assert_eq!(seen, [(3, 7), (3, 4), (4, 0), (3, 0)], "{role:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Failing from a layer
// ---------------------------------------------------------------------------------------------

#[test]
fn a_layer_fails_the_connection_with_its_code() {
    for role in ROLES {
        for code in [1007, 1008, 1009, 1010] {
            let mut c = conn(role, config());
            assert_eq!(c.fail(CloseCode(code)), Ok(()));
            assert_eq!(c.state(), State::Failed);
            assert_eq!(
                c.send(Outgoing::Text("late"), &mut [0u8; 64]),
                Err(SendError::Closing)
            );
            let mut input = frame(role, true, OpCode::Text, b"unread");
            let r = c.receive(&mut input);
            assert_eq!((r.consumed, r.result), (0, Ok(Recv::Closed)));
            let out = flush(&mut c);
            assert_eq!(
                one_frame(role, &out),
                (OpCode::Close, true, code.to_be_bytes().to_vec())
            );
            assert_eq!(c.state(), State::Closed);
            // Once failed or closed, it stays as it is.
            assert_eq!(c.fail(CloseCode(1008)), Err(SendError::Closing));
            assert!(flush(&mut c).is_empty());
        }
    }
}

#[test]
fn failing_keeps_an_owed_pong_in_front_and_refuses_unsendable_codes() {
    for role in ROLES {
        let mut c = conn(role, config());
        let (events, _, _) = feed(&mut c, &frame(role, true, OpCode::Ping, b"p"));
        assert_eq!(events, [Ev::Ping(b"p".to_vec())]);
        for code in [1005, 1006, 1015, 999, 2000] {
            assert_eq!(
                c.fail(CloseCode(code)),
                Err(SendError::InvalidCloseCode(code))
            );
            assert_eq!(c.state(), State::Open);
        }
        c.fail(CloseCode::INVALID_PAYLOAD).unwrap();
        let out = flush(&mut c);
        let frames: Vec<_> = frames_from(role, &out)
            .into_iter()
            .map(|(h, p)| (h.opcode, p))
            .collect();
        assert_eq!(
            frames,
            [
                (OpCode::Pong, b"p".to_vec()),
                (OpCode::Close, 1007u16.to_be_bytes().to_vec())
            ]
        );
    }
}

#[test]
fn failing_after_the_closes_started() {
    for role in ROLES {
        // Our Close is out: nothing more is written, the connection is over.
        let mut c = conn(role, config());
        c.close(CloseCode::NORMAL, "", &mut [0u8; 64]).unwrap();
        c.fail(CloseCode::INVALID_PAYLOAD).unwrap();
        assert_eq!(c.state(), State::Closed);
        assert!(flush(&mut c).is_empty());
        // The peer's Close came, its echo is queued: the Close not yet written carries our code.
        let mut c = conn(role, config());
        let (events, _, _) = feed(
            &mut c,
            &frame(role, true, OpCode::Close, &close_body(1000, b"")),
        );
        assert_eq!(events.len(), 1);
        assert_eq!(c.state(), State::CloseReceived);
        c.fail(CloseCode::MESSAGE_TOO_BIG).unwrap();
        assert_eq!(c.state(), State::Failed);
        assert_eq!(
            one_frame(role, &flush(&mut c)),
            (OpCode::Close, true, 1009u16.to_be_bytes().to_vec())
        );
        assert_eq!(c.state(), State::Closed);
    }
}

#[test]
fn failing_during_a_streamed_frame_waits_for_its_payload() {
    for role in ROLES {
        let mut c = conn(role, config());
        let mut out = [0u8; 64];
        let n = c.send_header(DataKind::Binary, 4, true, &mut out).unwrap();
        c.fail(CloseCode::POLICY_VIOLATION).unwrap();
        assert_eq!(c.poll_transmit(&mut out[n..]), Ok(0));
        c.send_payload(&mut [1, 2, 3, 4]).unwrap();
        assert_eq!(
            one_frame(role, &flush(&mut c)),
            (OpCode::Close, true, 1008u16.to_be_bytes().to_vec())
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Output into a Vec
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "alloc")]
#[test]
fn to_vec_forms_append_the_same_bytes_as_the_slice_forms() {
    for role in ROLES {
        // The same masking keys on both sides: the same connection, cloned.
        let mut a = conn(role, config());
        let (events, _, _) = feed(&mut a, &frame(role, true, OpCode::Ping, b"ping"));
        assert_eq!(events.len(), 1);
        let mut b = a.clone();
        let mut slices = Vec::new();
        let mut buf = [0u8; 256];
        let n = a.send(Outgoing::Text("hi"), &mut buf).unwrap();
        slices.extend_from_slice(&buf[..n]);
        let n = a
            .send_frame(DataKind::Binary, &[1; 200], false, &mut buf)
            .unwrap();
        slices.extend_from_slice(&buf[..n]);
        let n = a
            .send_frame(DataKind::Binary, &[2; 3], true, &mut buf)
            .unwrap();
        slices.extend_from_slice(&buf[..n]);
        let n = a.close(CloseCode::NORMAL, "bye", &mut buf).unwrap();
        slices.extend_from_slice(&buf[..n]);

        let mut v = b"kept".to_vec();
        let mut total = b.send_to_vec(Outgoing::Text("hi"), &mut v).unwrap();
        total += b
            .send_frame_to_vec(DataKind::Binary, &[1; 200], false, &mut v)
            .unwrap();
        total += b
            .send_frame_to_vec(DataKind::Binary, &[2; 3], true, &mut v)
            .unwrap();
        total += b.close_to_vec(CloseCode::NORMAL, "bye", &mut v).unwrap();
        assert_eq!(&v[..4], b"kept");
        assert_eq!(v[4..], slices[..], "{role:?}");
        assert_eq!(total, slices.len());
        assert_eq!(b.state(), a.state());
    }
}

#[cfg(feature = "alloc")]
#[test]
fn to_vec_forms_allocate_only_to_grow_and_leave_the_vec_alone_on_errors() {
    let mut c = conn(Role::Client, config());
    let mut v = Vec::with_capacity(64);
    let at = v.as_ptr();
    for _ in 0..3 {
        c.send_to_vec(Outgoing::Binary(&[9; 10]), &mut v).unwrap();
    }
    assert_eq!((v.len(), v.capacity(), v.as_ptr()), (48, 64, at));
    // Growing: a frame larger than the capacity left.
    c.send_to_vec(Outgoing::Binary(&[9; 100]), &mut v).unwrap();
    assert_eq!(v.len(), 48 + 2 + 4 + 100);
    let before = v.clone();
    assert_eq!(
        c.send_to_vec(Outgoing::Ping(&[0; 126]), &mut v),
        Err(SendError::ControlPayloadTooLong)
    );
    assert_eq!(
        c.close_to_vec(CloseCode(1006), "", &mut v),
        Err(SendError::InvalidCloseCode(1006))
    );
    c.close_to_vec(CloseCode::NORMAL, "", &mut v).unwrap();
    let closed = v.clone();
    assert_eq!(
        c.send_frame_to_vec(DataKind::Text, b"x", true, &mut v),
        Err(SendError::Closing)
    );
    assert_eq!(v, closed);
    assert_eq!(v[..before.len()], before[..]);
}

#[cfg(feature = "alloc")]
#[test]
fn poll_transmit_to_vec_drains_everything_owed() {
    for role in ROLES {
        let mut c = conn(role, config());
        let mut input = frame(role, true, OpCode::Ping, b"one");
        input.extend(frame(role, true, OpCode::Close, &close_body(1000, b"")));
        let mut expected = c.clone();
        let (events, _, _) = feed(&mut c, &input);
        assert_eq!(events.len(), 2);
        let _ = feed(&mut expected, &input);
        let slices = flush(&mut expected);
        let mut v = Vec::new();
        assert_eq!(c.poll_transmit_to_vec(&mut v), Ok(slices.len()));
        assert_eq!(v, slices);
        let frames: Vec<OpCode> = frames_from(role, &v).iter().map(|f| f.0.opcode).collect();
        assert_eq!(frames, [OpCode::Pong, OpCode::Close]);
        assert_eq!(c.state(), State::Closed);
        assert_eq!(c.poll_transmit_to_vec(&mut v), Ok(0));
        assert_eq!(v, slices);
    }
}

// ---------------------------------------------------------------------------------------------
// Size
// ---------------------------------------------------------------------------------------------

#[test]
fn connection_state_is_at_most_192_bytes() {
    assert!(core::mem::size_of::<Connection>() <= 192);
}

// ---------------------------------------------------------------------------------------------
// Whole frames in place
// ---------------------------------------------------------------------------------------------

#[test]
fn whole_frame_len_names_the_next_frame_only_at_a_frame_boundary() {
    for role in ROLES {
        for len in [0usize, 5, 125, 126, 300, 65_535, 65_536] {
            let payload = vec![b'x'; len];
            let input = frame(role, true, OpCode::Binary, &payload);
            let mut c = conn(role, config());
            let header_len = input.len() - len;
            for cut in 0..header_len {
                assert_eq!(
                    c.whole_frame_len(&input[..cut]),
                    None,
                    "{role:?} {len} cut {cut}"
                );
            }
            for have in [
                header_len,
                input.len().saturating_sub(1).max(header_len),
                input.len(),
            ] {
                assert_eq!(
                    c.whole_frame_len(&input[..have]),
                    Some(input.len()),
                    "{role:?} {len}"
                );
            }
            if len > 1 {
                // Inside the frame: nothing to say until it is over.
                let mut part = input[..header_len + 1].to_vec();
                let r = c.receive(&mut part);
                assert_eq!(r.consumed, header_len + 1);
                assert_eq!(c.whole_frame_len(&input[header_len + 1..]), None);
                let mut rest = input[header_len + 1..].to_vec();
                assert_eq!(c.receive(&mut rest).consumed, len - 1);
            }
            let ping = frame(role, true, OpCode::Ping, b"hi");
            assert_eq!(c.whole_frame_len(&ping), Some(ping.len()));
        }
        // A header receive refuses (unknown opcode) names no length.
        let c = conn(role, config());
        assert_eq!(c.whole_frame_len(&[0x83, 0x80, 0, 0, 0, 0]), None);
    }
}

// ---------------------------------------------------------------------------------------------
// Config::whole_messages_up_to
// ---------------------------------------------------------------------------------------------

fn whole_up_to(limit: usize) -> Config {
    let mut c = config();
    c.whole_messages_up_to = limit;
    c
}

#[test]
fn a_frame_within_whole_messages_up_to_is_delivered_in_one_piece_at_any_chunking() {
    for role in ROLES {
        // Text with a character split at every chunk size, 16-bit length; then a Ping, then a
        // short binary frame.
        let text_payload: Vec<u8> = "héllo wörld ".repeat(20).into_bytes();
        let mut input = frame(role, true, OpCode::Text, &text_payload);
        let text_len = input.len();
        input.extend(frame(role, true, OpCode::Ping, b"p"));
        input.extend(frame(role, true, OpCode::Binary, b"bin"));
        for chunk in 1..=input.len() {
            let mut c = conn(role, whole_up_to(text_len));
            let (events, _, end) = drive(&mut c, &input, chunk);
            assert_eq!(end, End::NeedInput);
            assert_eq!(
                events,
                [
                    text(&text_payload, true, true),
                    Ev::Ping(b"p".to_vec()),
                    data(DataKind::Binary, b"bin", true, true),
                ],
                "{role:?} chunk {chunk}"
            );
        }
    }
}

#[test]
fn a_frame_waiting_to_be_whole_consumes_nothing_until_it_is() {
    for role in ROLES {
        let payload = [7u8; 300];
        let input = frame(role, true, OpCode::Binary, &payload);
        let mut c = conn(role, whole_up_to(input.len()));
        for cut in 0..input.len() {
            let mut part = input[..cut].to_vec();
            let r = c.receive(&mut part);
            assert_eq!(
                (r.consumed, r.result),
                (0, Ok(Recv::NeedInput)),
                "cut {cut}"
            );
        }
        let (events, consumed, _) = feed(&mut c, &input);
        assert_eq!(consumed, input.len());
        assert_eq!(events, [data(DataKind::Binary, &payload, true, true)]);
    }
}

#[test]
fn a_frame_longer_than_whole_messages_up_to_still_streams() {
    for role in ROLES {
        let payload = [7u8; 300];
        let input = frame(role, true, OpCode::Binary, &payload);
        let mut c = conn(role, whole_up_to(input.len() - 1));
        let (events, _, end) = drive(&mut c, &input, 100);
        assert_eq!(end, End::NeedInput);
        assert!(events.len() > 1, "{events:?}");
        assert_eq!(
            coalesce(&events),
            [data(DataKind::Binary, &payload, true, true)]
        );
    }
}

#[test]
fn a_frame_waiting_to_be_whole_fails_on_its_header_at_once() {
    // Rules and limits are checked on the header, not after the payload arrives.
    let mut cont = frame(Role::Server, true, OpCode::Continuation, &[1; 200]);
    cont.truncate(20);
    violation(
        &mut conn(Role::Server, whole_up_to(1000)),
        &cont,
        ProtocolError::UnexpectedContinuation,
        1002,
    );
    let mut c = whole_up_to(1000);
    c.max_message_len = 100;
    let mut long = frame(Role::Server, true, OpCode::Binary, &[1; 200]);
    long.truncate(20);
    violation(
        &mut conn(Role::Server, c),
        &long,
        ProtocolError::MessageTooLong,
        1009,
    );
    let mut first = frame(Role::Server, false, OpCode::Text, b"a");
    let mut second = frame(Role::Server, true, OpCode::Binary, &[1; 200]);
    second.truncate(20);
    first.extend(second);
    violation_after(
        &mut conn(Role::Server, whole_up_to(1000)),
        &first,
        &[text(b"a", true, false)],
        ProtocolError::ExpectedContinuation,
        1002,
    );
}

#[test]
fn the_frames_of_a_fragmented_message_stream_whatever_whole_messages_up_to_says() {
    // A first fragment and a continuation within the limit are delivered as they arrive.
    for role in ROLES {
        let mut input = frame(role, false, OpCode::Binary, &[1; 100]);
        input.extend(frame(role, true, OpCode::Continuation, &[2; 100]));
        let mut c = conn(role, whole_up_to(1000));
        let (events, _, end) = drive(&mut c, &input, 50);
        assert_eq!(end, End::NeedInput);
        assert!(events.len() > 2, "{role:?} {events:?}");
        let mut whole = [1u8; 200];
        whole[100..].fill(2);
        assert_eq!(
            coalesce(&events),
            [data(DataKind::Binary, &whole, true, true)]
        );
    }
}
