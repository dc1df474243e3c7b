//! `Connection::receive` for either role (first byte, whose bits 1-3 also choose the RSV bits a
//! negotiated extension owns and bits 4-7 `Config::whole_messages_up_to`, 0 to 1,905 bytes), with
//! fuzzer-chosen chunking (second byte
//! seeds the chunk sizes): never panics, honours `consumed`, and gives the same frames, control
//! events, error and output bytes as feeding everything at once, and the same payload delivered
//! before an error or the end of the input (for invalid text: every byte before the first one at
//! which it can no longer be valid UTF-8).
#![no_main]
use libfuzzer_sys::fuzz_target;
use sockless::{Config, Connection, Event, RandomError, RandomSource, Recv, Rsv};

#[derive(Debug, PartialEq)]
enum Item {
    /// A whole frame's payload (pieces of one frame joined).
    Frame { text: bool, payload: Vec<u8>, message_done: bool, rsv: Rsv },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
    Error(sockless::ProtocolError),
}

struct Transcript {
    items: Vec<Item>,
    partial: Vec<u8>,
    out: Vec<u8>,
}

fn drive<R: RandomSource>(
    conn: &mut Connection<R>,
    whole_frames: usize,
    data: &[u8],
    mut chunk: impl FnMut() -> usize,
) -> Transcript {
    let mut t = Transcript { items: Vec::new(), partial: Vec::new(), out: Vec::new() };
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut wbuf = [0u8; 256];
    'outer: while fed < data.len() {
        let n = chunk().clamp(1, data.len() - fed);
        buf.extend_from_slice(&data[fed..fed + n]);
        fed += n;
        let mut pos = 0;
        loop {
            let avail = buf.len() - pos;
            let r = conn.receive(&mut buf[pos..]);
            assert!(r.consumed <= avail);
            pos += r.consumed;
            match r.result {
                Ok(Recv::Event(Event::Data {
                    kind,
                    payload,
                    frame_remaining,
                    frame_done,
                    message_done,
                    rsv,
                })) => {
                    assert_eq!(frame_done, frame_remaining == 0);
                    assert!(conn.extension_bits().contains(rsv));
                    t.partial.extend_from_slice(payload);
                    if frame_done {
                        t.items.push(Item::Frame {
                            text: kind == sockless::DataKind::Text,
                            payload: std::mem::take(&mut t.partial),
                            message_done,
                            rsv,
                        });
                    }
                }
                Ok(Recv::Event(Event::Ping(p))) => t.items.push(Item::Ping(p.to_vec())),
                Ok(Recv::Event(Event::Pong(p))) => t.items.push(Item::Pong(p.to_vec())),
                Ok(Recv::Event(Event::Close(c))) => {
                    assert!(c.is_none_or(|c| c.code.is_sendable()));
                    t.items.push(Item::Close(c.map(|c| (c.code.0, c.reason.to_owned()))))
                }
                Ok(Recv::NeedFlush) => {
                    let n = conn.poll_transmit(&mut wbuf).expect("poll_transmit");
                    assert!(n > 0, "NeedFlush with nothing to flush");
                    t.out.extend_from_slice(&wbuf[..n]);
                }
                Ok(Recv::NeedInput) => break,
                Ok(Recv::Closed) => break 'outer,
                Err(e) => {
                    t.items.push(Item::Error(e));
                    break 'outer;
                }
            }
        }
        buf.drain(..pos);
        // Headers and control frames are taken whole: what stays is under 139 bytes, or a data
        // frame waiting to be whole.
        assert!(buf.len() < 139.max(whole_frames) + n, "kept {} bytes", buf.len());
        loop {
            let n = conn.poll_transmit(&mut wbuf).expect("poll_transmit");
            if n == 0 {
                break;
            }
            t.out.extend_from_slice(&wbuf[..n]);
        }
    }
    loop {
        let n = conn.poll_transmit(&mut wbuf).expect("poll_transmit");
        if n == 0 {
            break;
        }
        t.out.extend_from_slice(&wbuf[..n]);
    }
    t
}

/// Items, the pieces of the unfinished frame delivered (before an error or the end), output bytes
/// and the final state.
type Outcome = (Vec<Item>, Vec<u8>, Vec<u8>, sockless::State);

fn run(client: bool, bits: Rsv, whole_frames: usize, data: &[u8], chunk: impl FnMut() -> usize) -> Outcome {
    let mut config = Config::default();
    config.max_frame_len = 1 << 16;
    config.max_message_len = 1 << 17;
    config.whole_messages_up_to = whole_frames;
    if client {
        let rng = |d: &mut [u8]| -> Result<(), RandomError> {
            d.fill(0x5A);
            Ok(())
        };
        let mut c = Connection::client(config, rng).with_extension_bits(bits);
        let t = drive(&mut c, whole_frames, data, chunk);
        (t.items, t.partial, t.out, c.state())
    } else {
        let mut c = Connection::server(config).with_extension_bits(bits);
        let t = drive(&mut c, whole_frames, data, chunk);
        (t.items, t.partial, t.out, c.state())
    }
}

fuzz_target!(|input: &[u8]| {
    let [role, seed, data @ ..] = input else { return };
    let client = role & 1 == 1;
    let bits = Rsv::from_bits((role >> 1) & 7).unwrap_or_default();
    // Config::whole_messages_up_to: off, or up to 1,905 bytes (frames that wait for their rest).
    let whole_frames = usize::from(role >> 4) * 127;
    let mut state = u32::from(*seed) | 1;
    let chunked = run(client, bits, whole_frames, data, || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 64) as usize + 1
    });
    let whole = run(client, bits, whole_frames, data, || usize::MAX);
    assert_eq!(chunked, whole);
});
