//! Heap use of the permessage-deflate layer, measured with a counting global allocator: a
//! decompression bomb stops at the message limit plus a constant, and the per-connection figures
//! quoted in `sockless::deflate`'s docs.
//!
//! The tests in this binary run one at a time (they share the allocator counters): a mutex
//! serialises them.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use sockless::deflate::{
    Agreed, Compressor, Deflate, DeflateError, InflateError, InflateStatus, Inflater,
};
use sockless::message::{Assembler, Incoming};
use sockless::{CloseCode, Config, Connection, Rsv, State};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static SERIAL: Mutex<()> = Mutex::new(());

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Resets the peak to the current level and returns that level.
fn baseline() -> usize {
    let now = CURRENT.load(Ordering::SeqCst);
    PEAK.store(now, Ordering::SeqCst);
    now
}

fn peak_since(base: usize) -> usize {
    PEAK.load(Ordering::SeqCst) - base
}

fn live_since(base: usize) -> isize {
    CURRENT.load(Ordering::SeqCst) as isize - base as isize
}

/// A bomb: `len` zero bytes, compressed.
fn bomb(len: usize) -> Vec<u8> {
    let mut c = Compressor::new(&Agreed::DEFAULT);
    let mut out = Vec::new();
    let chunk = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len());
        c.compress(&chunk[..n], &mut out).unwrap();
        left -= n;
    }
    c.finish(&mut out).unwrap();
    out
}

/// The constant the inflater may hold beyond the caller's own buffers.
const INFLATER_BOUND: usize = 64 << 10;

#[test]
fn bomb_fails_before_memory_grows_past_the_limit() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let payload = bomb(1 << 30); // 1 GiB of zeros
    assert!(payload.len() < 2 << 20, "payload {} bytes", payload.len());
    let limit: u64 = 1 << 20;

    // A receiver that reassembles into a Vec, feeding the payload in 16 KiB pieces as if they
    // arrived from the network, with a 16 KiB output buffer.
    let base = baseline();
    let mut inflater = Inflater::new(&Agreed::DEFAULT, limit);
    let mut out = vec![0u8; 16 << 10];
    let mut message: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut error = None;
    'pieces: for piece in payload.chunks(16 << 10) {
        let end = fed + piece.len() == payload.len();
        let mut input = piece;
        loop {
            match inflater.inflate(input, end, &mut out) {
                Ok(r) => {
                    input = &input[r.consumed..];
                    fed += r.consumed;
                    message.extend_from_slice(&out[..r.written]);
                    if r.status != InflateStatus::OutputFull {
                        continue 'pieces;
                    }
                }
                Err(e) => {
                    error = Some(e);
                    break 'pieces;
                }
            }
        }
    }
    let peak = peak_since(base);
    assert_eq!(error, Some(InflateError::TooBig));
    assert_eq!(message.len() as u64, limit);
    // The reassembly Vec doubles up to 2 MiB for 1 MiB + 1 bytes; the layer adds its constant.
    let bound = 2 * (limit as usize) + (16 << 10) + INFLATER_BOUND;
    println!(
        "bomb: {} bytes of payload for 1 GiB; stopped after {fed} bytes fed, {} inflated; peak heap {peak} bytes (bound {bound})",
        payload.len(),
        message.len()
    );
    assert!(peak <= bound, "peak {peak} > {bound}");
    assert!(fed < 64 << 10, "fed {fed} bytes before stopping");
}

/// The same bomb as a client's frame, through a server `Connection` and the `Deflate` layer
/// reassembling into a `Vec`: 1009 on the wire, and the heap bounded by the limit plus the
/// layer's constant.
#[test]
fn bomb_through_the_connection_fails_with_1009() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let payload = bomb(1 << 30);
    let limit: u64 = 1 << 20;
    // The compressed payload itself is within the connection's limits.
    let mut config = Config::default();
    config.max_message_len = limit.max(payload.len() as u64);
    config.max_frame_len = config.max_message_len;
    let mut frame = vec![0xc2, 0xff]; // FIN, RSV1, binary; masked, 64-bit length
    frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]); // zero mask: the payload as is
    frame.extend_from_slice(&payload);
    let mut read = vec![0u8; 16 << 10];

    let base = baseline();
    let mut conn = Connection::server(config).with_extension_bits(Rsv::RSV1);
    let mut layer = Deflate::new(&Agreed::DEFAULT, limit);
    let mut assembler = Assembler::new(Vec::new());
    let mut fed = 0;
    let mut error = None;
    'reads: for piece in frame.chunks(read.len()) {
        read[..piece.len()].copy_from_slice(piece);
        let mut pos = 0;
        while pos < piece.len() {
            let r = layer.receive(&mut conn, &mut assembler, &mut read[pos..piece.len()]);
            pos += r.consumed;
            match r.result {
                Ok(Incoming::Pending) => {}
                Ok(Incoming::NeedInput) => break,
                Ok(other) => panic!("{other:?}"),
                Err(e) => {
                    error = Some(e);
                    fed += pos;
                    break 'reads;
                }
            }
        }
        fed += piece.len();
    }
    let peak = peak_since(base);
    assert_eq!(error, Some(DeflateError::Inflate(InflateError::TooBig)));
    assert_eq!(conn.state(), State::Failed);
    let mut out = Vec::new();
    conn.poll_transmit_to_vec(&mut out).unwrap();
    assert_eq!(out, [0x88, 2, 0x03, 0xF1]);
    assert_eq!(
        error.and_then(DeflateError::close_code),
        Some(CloseCode::MESSAGE_TOO_BIG)
    );
    // The assembler's Vec doubles up to 2 MiB for 1 MiB of inflated pieces; the layer adds its
    // inflater and its 16 KiB chunk.
    let bound = 2 * (limit as usize) + sockless::deflate::INFLATE_CHUNK + INFLATER_BOUND;
    println!(
        "bomb through the connection: stopped after {fed} of {} frame bytes; peak heap {peak} bytes (bound {bound})",
        frame.len()
    );
    assert!(peak <= bound, "peak {peak} > {bound}");
    assert!(fed < 64 << 10, "fed {fed} bytes before stopping");
}

#[test]
fn bomb_into_a_fixed_buffer_uses_only_the_inflater() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let payload = bomb(64 << 20);
    let mut out = vec![0u8; 64 << 10];
    let base = baseline();
    let mut inflater = Inflater::new(&Agreed::DEFAULT, 8 << 20);
    let mut input = &payload[..];
    let err = loop {
        match inflater.inflate(input, true, &mut out) {
            Ok(r) => input = &input[r.consumed..],
            Err(e) => break e,
        }
    };
    let peak = peak_since(base);
    assert_eq!(err, InflateError::TooBig);
    println!("bomb into a 64 KiB buffer: peak heap {peak} bytes");
    assert!(peak <= INFLATER_BOUND, "peak {peak}");
}

/// The heap a compressor and an inflater hold after a few messages, for each setting. Prints
/// the figures the module docs quote.
#[test]
fn memory_per_connection() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let text: Vec<u8> = (0..20_000u32)
        .flat_map(|i| format!("{{\"id\":{i},\"event\":\"message\",\"ok\":true}}\n").into_bytes())
        .take(64 << 10)
        .collect();
    let mut wire = Vec::with_capacity(1 << 20);
    let mut out = vec![0u8; 16 << 10];
    for bits in [9u8, 15] {
        for nct in [false, true] {
            let mut a = Agreed::DEFAULT;
            a.compress_window_bits = bits;
            a.compress_no_context_takeover = nct;
            a.inflate_window_bits = bits;
            a.inflate_no_context_takeover = nct;

            let base = baseline();
            let mut c = Compressor::new(&a);
            let unused = live_since(base);
            for _ in 0..3 {
                wire.clear();
                c.compress_message(&text, &mut wire).unwrap();
            }
            let compressor = live_since(base);
            let compressor_peak = peak_since(base);
            let released = c.release();
            let after_release = live_since(base);
            drop(c);

            let base = baseline();
            let mut inf = Inflater::new(&a, 1 << 20);
            for _ in 0..3 {
                let mut input = &wire[..];
                loop {
                    let r = inf.inflate(input, true, &mut out).unwrap();
                    input = &input[r.consumed..];
                    if r.status == InflateStatus::MessageDone {
                        break;
                    }
                }
            }
            let inflater = live_since(base);
            let inflater_peak = peak_since(base);
            let inf_released = inf.release();
            let inf_after = live_since(base);
            drop(inf);

            println!(
                "bits={bits} no_context_takeover={nct}: compressor {compressor} B (peak {compressor_peak}, before use {unused}, after release {after_release} [{released}]); \
                 inflater {inflater} B (peak {inflater_peak}, after release {inf_after} [{inf_released}])"
            );
            assert_eq!(unused, 0);
            assert!(compressor <= 400_000, "{compressor}");
            assert!(inflater <= INFLATER_BOUND as isize, "{inflater}");
            assert_eq!(released, nct);
            assert_eq!(inf_released, nct);
            if nct {
                assert_eq!(after_release, 0);
                assert_eq!(inf_after, 0);
            }
        }
    }
}
