//! The permessage-deflate inflater on arbitrary payloads: never panics, never hands out more than
//! the message limit, and gives the same messages (or the same error) whether the
//! payload is fed whole into a large buffer or in fuzzer-chosen pieces into small buffers.
//!
//! Input: byte 0 sets the limit (`* 256` bytes), byte 1 the input piece size, byte 2 the output
//! buffer size, byte 3 the flags (bit 0: peer's no context takeover, bit 1: validate as text) and
//! where the payload splits into two messages; the rest is the payload.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sockless::deflate::{Agreed, InflateError, InflateStatus, Inflater};
use sockless::utf8::Utf8Validator;

/// Inflates `messages` in order; returns each message's bytes, stopping at the first error.
fn run(messages: &[&[u8]], agreed: &Agreed, limit: u64, text: bool, in_step: usize, out_step: usize) -> (Vec<Vec<u8>>, Option<InflateError>) {
    let mut inflater = Inflater::new(agreed, limit);
    let mut out = vec![0u8; out_step];
    let mut done = Vec::new();
    for payload in messages {
        let mut msg = Vec::new();
        let mut utf8 = Utf8Validator::new();
        let pieces: Vec<&[u8]> = if payload.is_empty() { vec![&payload[..]] } else { payload.chunks(in_step).collect() };
        let last = pieces.len() - 1;
        for (i, piece) in pieces.into_iter().enumerate() {
            let end = i == last;
            let mut input = piece;
            loop {
                let r = if text {
                    inflater.inflate_text(input, end, &mut out, &mut utf8)
                } else {
                    inflater.inflate(input, end, &mut out)
                };
                let r = match r {
                    Ok(r) => r,
                    Err(e) => return (done, Some(e)),
                };
                assert!(r.consumed <= input.len());
                assert!(r.written <= out.len());
                input = &input[r.consumed..];
                msg.extend_from_slice(&out[..r.written]);
                assert!(msg.len() as u64 <= limit, "{} bytes past a limit of {limit}", msg.len());
                match r.status {
                    InflateStatus::NeedInput => {
                        assert!(input.is_empty() && !end);
                        break;
                    }
                    InflateStatus::OutputFull => {}
                    InflateStatus::MessageDone => {
                        assert!(input.is_empty() && end);
                        break;
                    }
                }
            }
        }
        assert!(msg.len() as u64 <= limit);
        done.push(msg);
    }
    (done, None)
}

fuzz_target!(|data: &[u8]| {
    let [limit, in_step, out_step, flags, payload @ ..] = data else {
        return;
    };
    let limit = u64::from(*limit) * 256;
    let mut agreed = Agreed::DEFAULT;
    agreed.inflate_no_context_takeover = flags & 1 != 0;
    let text = flags & 2 != 0;
    let cut = payload.len() * usize::from(flags >> 4) / 16;
    let (first, second) = payload.split_at(cut);
    let messages = [first, second];
    let whole = run(&messages, &agreed, limit, text, usize::MAX, 1 << 20);
    let pieces = run(&messages, &agreed, limit, text, usize::from(*in_step) + 1, usize::from(*out_step) + 1);
    assert_eq!(whole, pieces);
});
