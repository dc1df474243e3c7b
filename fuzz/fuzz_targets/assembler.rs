//! `message::Assembler::receive` (which hands text back without a second UTF-8 pass) against
//! `core::str::from_utf8` on the concatenated payload. The input describes client frames (text,
//! binary, continuation, ping; fragments cut anywhere, often inside a character, from valid text
//! or raw bytes) and how the wire is chunked. The first byte picks the buffer (`Vec` or a 64-byte
//! `ArrayVec`), whether some pieces bypass the assembler (taken with `Connection::receive`
//! directly or pushed by hand), the way a careless driver could mix them, and whether the
//! connection waits for frames of up to 64 bytes to be whole (`Config::whole_messages_up_to`).
//!
//! Without bypassing, every message must equal the one a plain `Connection::receive` loop sees,
//! and text must be what `from_utf8` says it is. With bypassing, anything the assembler hands out
//! as text must still be valid UTF-8 (the library's debug assertion checks it too).
#![no_main]
use libfuzzer_sys::fuzz_target;
use sockless::message::{Assembler, Incoming, Message, MessageBuffer};
use sockless::{Config, Connection, DataKind, Event, ProtocolError, Recv};

const TEXT: &str = "plain aé€😀 ñ 𝄞 ascii";

/// Builds the masked client wire the rest of the input describes.
fn wire(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let text = TEXT.repeat(8);
    while let [op, len_byte, from, rest @ ..] = data {
        data = rest;
        let len = usize::from(*len_byte % 80);
        let payload: Vec<u8> = if op & 8 != 0 {
            let start = usize::from(*from) % (text.len() - len);
            text.as_bytes()[start..start + len].to_vec()
        } else {
            let n = len.min(data.len());
            let (p, rest) = data.split_at(n);
            data = rest;
            p.to_vec()
        };
        let (opcode, fin) = match op & 3 {
            0 => (0x0, op & 4 != 0),
            1 => (0x1, op & 4 != 0),
            2 => (0x2, op & 4 != 0),
            _ => (0x9, true),
        };
        let payload = if opcode == 0x9 { &payload[..payload.len().min(125)] } else { &payload[..] };
        let key = [op.wrapping_mul(31), *from, 0x5A, *len_byte];
        out.push(u8::from(fin) << 7 | opcode);
        out.push(0x80 | payload.len() as u8); // at most 125
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    }
    out
}

#[derive(Debug, PartialEq)]
enum Got {
    Message(bool, Vec<u8>),
    Error(ProtocolError),
}

/// The reference: a plain receive loop joining each message's pieces itself.
fn reference(mut wire: Vec<u8>) -> Vec<Got> {
    let mut conn = Connection::server(Config::default());
    let (mut got, mut partial, mut pos) = (Vec::new(), Vec::new(), 0);
    while pos < wire.len() {
        let r = conn.receive(&mut wire[pos..]);
        pos += r.consumed;
        match r.result {
            Ok(Recv::Event(Event::Data { kind, payload, message_done, .. })) => {
                partial.extend_from_slice(payload);
                if message_done {
                    got.push(Got::Message(kind == DataKind::Text, std::mem::take(&mut partial)));
                }
            }
            Ok(Recv::Event(_)) => {}
            Ok(Recv::NeedFlush) => while conn.poll_transmit(&mut [0u8; 256]).unwrap_or(0) > 0 {},
            Ok(_) => break,
            Err(e) => {
                got.push(Got::Error(e));
                break;
            }
        }
    }
    got
}

/// The assembler over `wire`, fed in chunks; `bypass` decides for each call whether the piece
/// skips the assembler.
fn assembled<B: MessageBuffer>(
    mut asm: Assembler<B>,
    wire: &[u8],
    mut chunk: impl FnMut() -> usize,
    mut bypass: impl FnMut() -> u8,
    keep_going: bool,
    whole_frames: usize,
) -> Vec<Got> {
    let mut config = Config::default();
    config.whole_messages_up_to = whole_frames;
    let mut conn = Connection::server(config);
    let (mut got, mut buf, mut fed) = (Vec::new(), Vec::new(), 0);
    let mut wbuf = [0u8; 256];
    'outer: while fed < wire.len() {
        let n = chunk().clamp(1, wire.len() - fed);
        buf.extend_from_slice(&wire[fed..fed + n]);
        fed += n;
        let mut pos = 0;
        loop {
            let how = bypass();
            if how == 1 {
                // Taken by hand: the assembler never sees this piece.
                let r = conn.receive(&mut buf[pos..]);
                pos += r.consumed;
                match r.result {
                    Ok(Recv::NeedInput) => break,
                    Ok(Recv::NeedFlush) => while conn.poll_transmit(&mut wbuf).unwrap_or(0) > 0 {},
                    Ok(Recv::Closed) | Err(_) => break 'outer,
                    Ok(_) => {}
                }
                continue;
            }
            if how == 2 {
                // Pushed by hand, possibly as the wrong kind.
                let r = conn.receive(&mut buf[pos..]);
                pos += r.consumed;
                match r.result {
                    Ok(Recv::Event(Event::Data { kind, payload, message_done, .. })) => {
                        let kind = if payload.len() % 2 == 0 { kind } else { DataKind::Text };
                        match asm.push(kind, payload, message_done) {
                            Ok(Some(m)) => got.push(message(m)),
                            Ok(None) => {}
                            Err(e) => got.push(Got::Error(e)),
                        }
                    }
                    Ok(Recv::NeedInput) => break,
                    Ok(Recv::NeedFlush) => while conn.poll_transmit(&mut wbuf).unwrap_or(0) > 0 {},
                    Ok(Recv::Closed) | Err(_) => break 'outer,
                    Ok(_) => {}
                }
                continue;
            }
            let avail = buf.len() - pos;
            let r = asm.receive(&mut conn, &mut buf[pos..]);
            assert!(r.consumed <= avail);
            pos += r.consumed;
            match r.result {
                Ok(Incoming::Message(m)) => got.push(message(m)),
                Ok(Incoming::Pending | Incoming::Event(_)) => {}
                Ok(Incoming::NeedFlush) => while conn.poll_transmit(&mut wbuf).unwrap_or(0) > 0 {},
                Ok(Incoming::NeedInput) => break,
                Ok(Incoming::Closed) => break 'outer,
                Err(e) => {
                    got.push(Got::Error(e));
                    // A driver closes the connection after any error (an assembler's leaves the
                    // connection open: going on checks that nothing unsound follows either).
                    if conn.state() != sockless::State::Open || !keep_going {
                        break 'outer;
                    }
                }
            }
        }
        buf.drain(..pos);
    }
    got
}

fn message(m: Message<'_>) -> Got {
    match m {
        Message::Text(t) => {
            // The property the unchecked conversion relies on.
            assert_eq!(core::str::from_utf8(t.as_bytes()), Ok(t));
            Got::Message(true, t.as_bytes().to_vec())
        }
        Message::Binary(b) => Got::Message(false, b.to_vec()),
    }
}

fuzz_target!(|data: &[u8]| {
    let [flags, seed, rest @ ..] = data else { return };
    let wire = wire(rest);
    let mut x = u64::from(*seed) | 0x100;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut y = u64::from(*seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let bypassing = flags & 2 != 0;
    let bypass = move || {
        if !bypassing {
            return 0;
        }
        y ^= y << 13;
        y ^= y >> 7;
        y ^= y << 17;
        [0, 0, 0, 1, 2][(y % 5) as usize]
    };
    let chunk = move || (next() % 200) as usize + 1;
    // Config::whole_messages_up_to: frames of up to 64 bytes (of at most 131) wait to be whole.
    let whole = if flags & 4 != 0 { 64 } else { 0 };
    let got = if flags & 1 == 0 {
        assembled(Assembler::new(Vec::new()), &wire, chunk, bypass, bypassing, whole)
    } else {
        assembled(Assembler::new(arrayvec::ArrayVec::<u8, 64>::new()), &wire, chunk, bypass, bypassing, whole)
    };
    if bypassing {
        return;
    }
    let expect = reference(wire);
    if flags & 1 == 0 {
        assert_eq!(got, expect);
    } else if let Some((Got::Error(ProtocolError::MessageTooLong), before)) = got.split_last() {
        // A fixed buffer fails a message over 64 bytes with 1009, and the driver stops there:
        // the reference has a longer message there, or none (it failed, or ended, before the
        // message did).
        assert_eq!(before, &expect[..before.len()]);
        match expect.get(before.len()) {
            Some(Got::Message(_, m)) => assert!(m.len() > 64),
            Some(Got::Error(_)) | None => {}
        }
    } else {
        assert_eq!(got, expect);
    }
    // Every text message the reference saw is what from_utf8 says: valid.
    for e in &expect {
        if let Got::Message(true, m) = e {
            assert!(core::str::from_utf8(m).is_ok());
        }
    }
});
