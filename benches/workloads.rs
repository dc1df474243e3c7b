//! The performance workloads W1-W6 of `PERFORMANCE.md`, each in its own criterion group with its
//! baseline(s) measured in the same run.
//!
//! Run: `cargo bench --bench workloads -- --warm-up-time 1 --measurement-time 3`.
//!
//! Every measurement does the full work and proves it: payload bytes are folded into a checksum
//! (wrapping sum of little-endian u64 words, the tail zero-padded) that is compared with the value
//! computed from the plaintext when the input was made; encoded output is decoded back and checked
//! outside the timed region. Inputs that decoding changes (unmasking is in place) are restored
//! from a pristine copy into a second buffer before each timed run, outside the timed region
//! (`iter_custom`, one timer per run).
//!
//! `PERFORMANCE.md` asks for ratios measured interleaved round-robin (the machines are shared and
//! noisy). With `WORKLOADS_ROUNDS=25` in the environment each group first runs its measurements
//! round-robin for that many rounds and prints the medians, throughputs and the ratio of every
//! `sockless_*` measurement to every `baseline_*` one, then goes on with criterion as usual
//! (`cargo bench --bench workloads -- NONE`, a filter that matches nothing, gives the interleaved
//! report alone).

use std::cell::Cell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use sockless::frame::{apply_mask, copy_masked, FrameHeader, OpCode};
use sockless::handshake::{Accept, ServerHandshake, EMPTY_HEADER, GUID};
use sockless::message::{Assembler, Incoming, Message};
use sockless::{
    Config, Connection, DataKind, Event, NoRandom, Outgoing, RandomError, Recv, Status,
};

const KIB64: usize = 64 * 1024;
/// Frames (or messages) of 64 KiB in W2-W5b.
const BIG_FRAMES: usize = 256;
/// Payload bytes in W2-W5b: 16 MiB.
const BIG_BYTES: usize = BIG_FRAMES * KIB64;
/// Frames in W1 and W5a.
const SMALL_FRAMES: usize = 200_000;
const SMALL_LEN: usize = 16;
/// Fragments per message in W4.
const FRAGMENTS: usize = 16;
/// Handshakes in W6, and how many distinct requests (keys) they cycle through.
const HANDSHAKES: usize = 100_000;
const KEYS: usize = 1024;

// ---------------------------------------------------------------------------------------------
// Helpers: deterministic data, checksums, checks.
// ---------------------------------------------------------------------------------------------

/// xorshift64: fast, deterministic, good enough for test data and benchmark masks.
#[derive(Clone, Copy)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    #[inline]
    fn key(&mut self) -> [u8; 4] {
        (self.next_u64() as u32).to_le_bytes()
    }

    fn fill(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let w = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
    }

    fn below(&mut self, n: u32) -> u32 {
        ((self.next_u64() >> 32) % u64::from(n)) as u32
    }
}

/// Folds `bytes` into `acc`: wrapping sum of little-endian u64 words, the tail zero-padded. Pieces
/// whose lengths are multiples of 8 give the same sum as the whole.
#[inline]
fn checksum(acc: u64, bytes: &[u8]) -> u64 {
    let chunks = bytes.chunks_exact(8);
    let rem = chunks.remainder();
    let mut sum = chunks
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
        .fold(acc, u64::wrapping_add);
    if !rem.is_empty() {
        let mut w = [0u8; 8];
        w[..rem.len()].copy_from_slice(rem);
        sum = sum.wrapping_add(u64::from_le_bytes(w));
    }
    sum
}

/// Records what each timed run produced; checked after the benchmark (outside the timed region;
/// recording is one compare per run of thousands of frames).
struct Check {
    what: &'static str,
    expected: u64,
    runs: Cell<u64>,
    bad: Cell<u64>,
}

impl Check {
    fn new(what: &'static str, expected: u64) -> Self {
        Self {
            what,
            expected,
            runs: Cell::new(0),
            bad: Cell::new(0),
        }
    }

    #[inline]
    fn record(&self, got: u64) -> u64 {
        self.runs.set(self.runs.get() + 1);
        if got != self.expected {
            self.bad.set(self.bad.get() + 1);
        }
        got
    }

    fn verify(&self) {
        // `runs` is 0 when a filter on the command line skipped this benchmark.
        assert_eq!(
            self.bad.get(),
            0,
            "{}: {} of {} runs gave a wrong checksum",
            self.what,
            self.bad.get(),
            self.runs.get()
        );
    }
}

#[cold]
#[inline(never)]
fn unexpected(what: &str, detail: &dyn std::fmt::Debug) -> ! {
    panic!("{what}: unexpected {detail:?}")
}

/// Appends one frame (header, then the payload masked with `mask` if any).
fn push_frame(out: &mut Vec<u8>, fin: bool, opcode: OpCode, payload: &[u8], mask: Option<[u8; 4]>) {
    let header = FrameHeader {
        fin,
        rsv: 0,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    let mut h = [0u8; sockless::frame::MAX_HEADER_LEN];
    let n = header.encode(&mut h).expect("header fits");
    out.extend_from_slice(&h[..n]);
    let at = out.len();
    out.resize(at + payload.len(), 0);
    match mask {
        Some(key) => copy_masked(payload, &mut out[at..], key, 0),
        None => out[at..].copy_from_slice(payload),
    }
}

/// `len` bytes of valid UTF-8: about 70% ASCII characters, the rest 2-, 3- and 4-byte characters
/// in equal shares, mixed at random (padded with ASCII at the end where a character would not fit).
fn mixed_text(rng: &mut XorShift, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut buf = [0u8; 4];
    while out.len() < len {
        let r = rng.below(100);
        let c = if r < 70 {
            char::from(0x20 + rng.below(0x5F) as u8)
        } else if r < 80 {
            char::from_u32(0x80 + rng.below(0x800 - 0x80)).unwrap_or('x')
        } else if r < 90 {
            // U+0800..U+FFFF without the surrogates.
            let v = 0x800 + rng.below(0x1_0000 - 0x800 - 0x800);
            char::from_u32(if v >= 0xD800 { v + 0x800 } else { v }).unwrap_or('x')
        } else {
            char::from_u32(0x1_0000 + rng.below(0x10_FFFF - 0x1_0000)).unwrap_or('x')
        };
        let s = c.encode_utf8(&mut buf).as_bytes();
        if out.len() + s.len() <= len {
            out.extend_from_slice(s);
        } else {
            out.push(b' ');
        }
    }
    debug_assert!(std::str::from_utf8(&out).is_ok());
    out
}

/// 256 texts of 64 KiB each (every one valid UTF-8 on its own), concatenated.
fn mixed_texts(seed: u64) -> Vec<u8> {
    let mut rng = XorShift::new(seed);
    let mut all = Vec::with_capacity(BIG_BYTES);
    for _ in 0..BIG_FRAMES {
        all.extend_from_slice(&mixed_text(&mut rng, KIB64));
    }
    all
}

// ---------------------------------------------------------------------------------------------
// Routines shared by several workloads.
// ---------------------------------------------------------------------------------------------

/// Server-side decode of all of `buf` with `Connection::receive`, honouring `consumed`; every
/// piece of data goes to `on_data`.
#[inline]
fn receive_all(buf: &mut [u8], mut on_data: impl FnMut(DataKind, &[u8], bool)) {
    let mut conn = Connection::server(Config::default());
    let mut pos = 0;
    while pos < buf.len() {
        let r = conn.receive(&mut buf[pos..]);
        pos += r.consumed;
        match r.result {
            Ok(Recv::Event(Event::Data {
                kind,
                payload,
                message_done,
                ..
            })) => on_data(kind, payload, message_done),
            other => unexpected("receive", &other),
        }
    }
}

/// Streamed decode: the checksum of every piece of payload.
fn sockless_streamed(buf: &mut [u8]) -> u64 {
    let mut sum = 0u64;
    receive_all(buf, |_, payload, _| sum = checksum(sum, payload));
    sum
}

/// The baseline for text without framing: simdutf8 on each 64 KiB text, nothing else.
fn simdutf8_only(text: &[u8]) -> u64 {
    let mut ok = 0u64;
    for chunk in text.chunks_exact(KIB64) {
        ok += u64::from(simdutf8::basic::from_utf8(black_box(chunk)).is_ok());
    }
    ok
}

/// The baseline for text without framing, as a copying reader would: copy each masked 64 KiB
/// payload into a message buffer unmasking it on the way, validate it, checksum it.
fn copy_unmask_validate_checksum(masked: &[u8], keys: &[[u8; 4]], scratch: &mut [u8]) -> u64 {
    let mut sum = 0u64;
    for (chunk, &key) in masked.chunks_exact(KIB64).zip(keys) {
        copy_masked(chunk, scratch, key, 0);
        match simdutf8::basic::from_utf8(scratch) {
            Ok(s) => sum = checksum(sum, s.as_bytes()),
            Err(e) => unexpected("copy baseline", &e),
        }
    }
    sum
}

/// The payloads of `frames` masked with `keys`, concatenated without framing.
fn masked_copy(plain: &[u8], keys: &[[u8; 4]], piece: usize) -> Vec<u8> {
    let mut out = plain.to_vec();
    for (chunk, &key) in out.chunks_exact_mut(piece).zip(keys) {
        apply_mask(chunk, key, 0);
    }
    out
}

/// Times one run of `f`.
#[inline(always)]
fn timed<T>(f: impl FnOnce() -> T) -> Duration {
    let start = Instant::now();
    let out = f();
    let elapsed = start.elapsed();
    black_box(out);
    elapsed
}

/// One measurement of a group: a closure that prepares its input (untimed) and returns the time of
/// one run of the routine.
struct Routine<'a> {
    name: &'static str,
    run: Box<dyn FnMut() -> Duration + 'a>,
}

impl<'a> Routine<'a> {
    fn new(name: &'static str, run: impl FnMut() -> Duration + 'a) -> Self {
        Self {
            name,
            run: Box::new(run),
        }
    }
}

/// The number of interleaved rounds asked for with `WORKLOADS_ROUNDS`, only when benchmarking.
fn interleaved_rounds() -> Option<usize> {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let rounds = std::env::var("WORKLOADS_ROUNDS").ok()?.parse().ok()?;
    (benchmarking && rounds > 0).then_some(rounds)
}

fn per_second(throughput: &Throughput, t: Duration) -> String {
    let secs = t.as_secs_f64();
    match *throughput {
        Throughput::Bytes(n) => format!("{:7.2} GB/s", n as f64 / secs / 1e9),
        Throughput::Elements(n) => format!("{:7.2} M/s ", n as f64 / secs / 1e6),
        _ => String::new(),
    }
}

/// Runs the routines round-robin for `rounds` rounds and prints medians and ratios.
fn interleave(group: &str, throughput: &Throughput, routines: &mut [Routine<'_>], rounds: usize) {
    let mut times = vec![Vec::with_capacity(rounds); routines.len()];
    for _ in 0..rounds {
        for (r, t) in routines.iter_mut().zip(&mut times) {
            t.push((r.run)());
        }
    }
    let medians: Vec<Duration> = times
        .iter_mut()
        .map(|t| {
            t.sort();
            t[t.len() / 2]
        })
        .collect();
    println!("{group}: interleaved, median of {rounds} rounds");
    for ((r, &m), t) in routines.iter().zip(&medians).zip(&times) {
        let (min, max) = (t[0], t[t.len() - 1]);
        println!(
            "  {:45} {:>12.3?} {}  (min {min:.3?}, max {max:.3?})",
            r.name,
            m,
            per_second(throughput, m)
        );
    }
    for (s, &ms) in routines.iter().zip(&medians) {
        if !s.name.starts_with("sockless") {
            continue;
        }
        for (b, &mb) in routines.iter().zip(&medians) {
            if b.name.starts_with("baseline") {
                let ratio = mb.as_secs_f64() / ms.as_secs_f64();
                println!("  {} / {}: {ratio:.3}", s.name, b.name);
            }
        }
    }
}

/// A criterion group holding `routines`, with `throughput` and `sample_size`.
fn run_group(
    c: &mut Criterion,
    name: &str,
    throughput: Throughput,
    sample_size: usize,
    mut routines: Vec<Routine<'_>>,
) {
    if let Some(rounds) = interleaved_rounds() {
        interleave(name, &throughput, &mut routines, rounds);
    }
    let mut g = c.benchmark_group(name);
    g.throughput(throughput);
    g.sample_size(sample_size);
    // Every run is timed on its own and lasts 0.1-150 ms: no fixed overhead for a slope to remove.
    g.sampling_mode(SamplingMode::Flat);
    for r in &mut routines {
        g.bench_function(r.name, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| (r.run)()).sum())
        });
    }
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// W1: 200,000 masked text frames of 16 ASCII bytes.
// ---------------------------------------------------------------------------------------------

/// A minimal decoder for this input only (7-bit lengths, masked, single-frame text): header, mask,
/// unmask, validate, checksum, with none of the RFC's checks. The per-frame floor.
fn w1_minimal(buf: &mut [u8]) -> u64 {
    let mut sum = 0u64;
    let mut pos = 0;
    while pos + 6 <= buf.len() {
        let len = usize::from(buf[pos + 1] & 0x7F);
        let key = [buf[pos + 2], buf[pos + 3], buf[pos + 4], buf[pos + 5]];
        let payload = &mut buf[pos + 6..pos + 6 + len];
        apply_mask(payload, key, 0);
        match simdutf8::basic::from_utf8(payload) {
            Ok(s) => sum = checksum(sum, s.as_bytes()),
            Err(e) => unexpected("w1 minimal", &e),
        }
        pos += 6 + len;
    }
    sum
}

fn w1(c: &mut Criterion) {
    let mut rng = XorShift::new(1);
    let mut wire = Vec::with_capacity(SMALL_FRAMES * (6 + SMALL_LEN));
    let mut expected = 0u64;
    for _ in 0..SMALL_FRAMES {
        let payload: [u8; SMALL_LEN] = std::array::from_fn(|_| 0x20 + rng.below(0x5F) as u8);
        expected = checksum(expected, &payload);
        push_frame(&mut wire, true, OpCode::Text, &payload, Some(rng.key()));
    }

    let (sockless, assembled, pushed, minimal) = (
        Check::new("W1 sockless", expected),
        Check::new("W1 assembled", expected),
        Check::new("W1 pushed", expected),
        Check::new("W1 minimal", expected),
    );
    let (mut work_a, mut work_b) = (wire.clone(), wire.clone());
    let (mut work_c, mut work_d) = (wire.clone(), wire.clone());
    let n = SMALL_FRAMES as u64;
    let routines = vec![
        Routine::new("sockless_receive", || {
            work_a.copy_from_slice(&wire);
            timed(|| sockless.record(sockless_streamed(&mut work_a)))
        }),
        Routine::new("sockless_assembler_receive", || {
            work_c.copy_from_slice(&wire);
            timed(|| assembled.record(sockless_reassembled(&mut work_c, true, n)))
        }),
        Routine::new("baseline_assembler_push_checked", || {
            work_d.copy_from_slice(&wire);
            timed(|| pushed.record(sockless_reassembled(&mut work_d, false, n)))
        }),
        Routine::new("baseline_minimal_decoder", || {
            work_b.copy_from_slice(&wire);
            timed(|| minimal.record(w1_minimal(&mut work_b)))
        }),
    ];
    run_group(
        c,
        "W1_decode_200k_text16",
        Throughput::Elements(SMALL_FRAMES as u64),
        20,
        routines,
    );
    sockless.verify();
    assembled.verify();
    pushed.verify();
    minimal.verify();
}

// ---------------------------------------------------------------------------------------------
// W2: 256 masked binary frames of 64 KiB.
// ---------------------------------------------------------------------------------------------

/// Unmask in place and checksum, per 64 KiB chunk, no framing.
fn unmask_checksum(buf: &mut [u8], keys: &[[u8; 4]]) -> u64 {
    let mut sum = 0u64;
    for (chunk, &key) in buf.chunks_exact_mut(KIB64).zip(keys) {
        apply_mask(chunk, key, 0);
        sum = checksum(sum, chunk);
    }
    sum
}

fn w2(c: &mut Criterion) {
    let mut rng = XorShift::new(2);
    let mut plain = vec![0u8; BIG_BYTES];
    rng.fill(&mut plain);
    let keys: Vec<[u8; 4]> = (0..BIG_FRAMES).map(|_| rng.key()).collect();
    let expected = checksum(0, &plain);
    let mut wire = Vec::with_capacity(BIG_BYTES + BIG_FRAMES * 14);
    for (chunk, &key) in plain.chunks_exact(KIB64).zip(&keys) {
        push_frame(&mut wire, true, OpCode::Binary, chunk, Some(key));
    }
    let raw = masked_copy(&plain, &keys, KIB64);
    drop(plain);

    let (sockless, kernel) = (
        Check::new("W2 sockless", expected),
        Check::new("W2 kernel", expected),
    );
    let (mut work_a, mut work_b) = (wire.clone(), raw.clone());
    let routines = vec![
        Routine::new("sockless_receive", || {
            work_a.copy_from_slice(&wire);
            timed(|| sockless.record(sockless_streamed(&mut work_a)))
        }),
        Routine::new("baseline_unmask_checksum_kernel", || {
            work_b.copy_from_slice(&raw);
            timed(|| kernel.record(unmask_checksum(&mut work_b, &keys)))
        }),
    ];
    run_group(
        c,
        "W2_decode_256_binary64k",
        Throughput::Bytes(BIG_BYTES as u64),
        10,
        routines,
    );
    sockless.verify();
    kernel.verify();
}

// ---------------------------------------------------------------------------------------------
// W3: 256 masked text frames of 64 KiB of mixed UTF-8.
// ---------------------------------------------------------------------------------------------

fn w3(c: &mut Criterion) {
    let text = mixed_texts(3);
    let mut rng = XorShift::new(33);
    let keys: Vec<[u8; 4]> = (0..BIG_FRAMES).map(|_| rng.key()).collect();
    let expected = checksum(0, &text);
    let mut wire = Vec::with_capacity(BIG_BYTES + BIG_FRAMES * 14);
    for (chunk, &key) in text.chunks_exact(KIB64).zip(&keys) {
        push_frame(&mut wire, true, OpCode::Text, chunk, Some(key));
    }
    let raw = masked_copy(&text, &keys, KIB64);
    let mut scratch = vec![0u8; KIB64];

    let (sockless, assembled, pushed, simd, copy) = (
        Check::new("W3 sockless", expected),
        Check::new("W3 assembled", expected),
        Check::new("W3 pushed", expected),
        Check::new("W3 simdutf8", BIG_FRAMES as u64),
        Check::new("W3 copy", expected),
    );
    let (mut work, mut work_b, mut work_c) = (wire.clone(), wire.clone(), wire.clone());
    let n = BIG_FRAMES as u64;
    let routines = vec![
        Routine::new("sockless_receive", || {
            work.copy_from_slice(&wire);
            timed(|| sockless.record(sockless_streamed(&mut work)))
        }),
        Routine::new("sockless_assembler_receive", || {
            work_b.copy_from_slice(&wire);
            timed(|| assembled.record(sockless_reassembled(&mut work_b, true, n)))
        }),
        Routine::new("baseline_assembler_push_checked", || {
            work_c.copy_from_slice(&wire);
            timed(|| pushed.record(sockless_reassembled(&mut work_c, false, n)))
        }),
        Routine::new("baseline_simdutf8_only", || {
            timed(|| simd.record(simdutf8_only(&text)))
        }),
        Routine::new("baseline_copy_unmask_validate_checksum", || {
            timed(|| copy.record(copy_unmask_validate_checksum(&raw, &keys, &mut scratch)))
        }),
    ];
    run_group(
        c,
        "W3_decode_256_text64k",
        Throughput::Bytes(BIG_BYTES as u64),
        10,
        routines,
    );
    sockless.verify();
    assembled.verify();
    pushed.verify();
    simd.verify();
    copy.verify();
}

// ---------------------------------------------------------------------------------------------
// W4: 256 text messages of 64 KiB, each as 16 masked fragments of 4 KiB.
// ---------------------------------------------------------------------------------------------

/// Reassembled decode: the checksum of every whole message from an `Assembler` over a `Vec`,
/// XORed with how many messages differ from `messages` (zero when every one arrived). With
/// `drive`, the assembler drives the connection (`Assembler::receive`, the documented way, no
/// second UTF-8 pass); without, the pieces go through `Assembler::push`, which validates text
/// again (the assembler's only way before).
fn sockless_reassembled(buf: &mut [u8], drive: bool, messages: u64) -> u64 {
    let mut sum = 0u64;
    let mut count = 0u64;
    let mut assembler = Assembler::new(Vec::new());
    let mut on_message = |m: Message<'_>| {
        let bytes = match m {
            Message::Text(t) => t.as_bytes(),
            Message::Binary(b) => b,
        };
        sum = checksum(sum, bytes);
        count += 1;
    };
    if drive {
        let mut conn = Connection::server(Config::default());
        let mut pos = 0;
        while pos < buf.len() {
            let r = assembler.receive(&mut conn, &mut buf[pos..]);
            pos += r.consumed;
            match r.result {
                Ok(Incoming::Message(m)) => on_message(m),
                Ok(Incoming::Pending) => {}
                other => unexpected("assembler", &other),
            }
        }
    } else {
        receive_all(buf, |kind, payload, done| {
            match assembler.push(kind, payload, done) {
                Ok(Some(m)) => on_message(m),
                Ok(None) => {}
                other => unexpected("assembler", &other),
            }
        });
    }
    sum ^ (count ^ messages)
}

fn w4(c: &mut Criterion) {
    let text = mixed_texts(4);
    let frag = KIB64 / FRAGMENTS;
    let mut rng = XorShift::new(44);
    let keys: Vec<[u8; 4]> = (0..BIG_FRAMES * FRAGMENTS).map(|_| rng.key()).collect();
    let expected = checksum(0, &text);
    let mut wire = Vec::with_capacity(BIG_BYTES + BIG_FRAMES * FRAGMENTS * 8);
    for (i, (piece, &key)) in text.chunks_exact(frag).zip(&keys).enumerate() {
        let f = i % FRAGMENTS;
        let opcode = if f == 0 {
            OpCode::Text
        } else {
            OpCode::Continuation
        };
        push_frame(&mut wire, f == FRAGMENTS - 1, opcode, piece, Some(key));
    }
    // The no-framing baseline unmasks each message with one key (as W3).
    let msg_keys: Vec<[u8; 4]> = (0..BIG_FRAMES).map(|_| rng.key()).collect();
    let raw = masked_copy(&text, &msg_keys, KIB64);
    let mut scratch = vec![0u8; KIB64];

    let (streamed, reassembled, pushed, simd, copy) = (
        Check::new("W4 streamed", expected),
        Check::new("W4 reassembled", expected),
        Check::new("W4 pushed", expected),
        Check::new("W4 simdutf8", BIG_FRAMES as u64),
        Check::new("W4 copy", expected),
    );
    let (mut work_a, mut work_b, mut work_c) = (wire.clone(), wire.clone(), wire.clone());
    let routines = vec![
        Routine::new("sockless_streamed", || {
            work_a.copy_from_slice(&wire);
            timed(|| streamed.record(sockless_streamed(&mut work_a)))
        }),
        Routine::new("sockless_reassembled_vec", || {
            work_b.copy_from_slice(&wire);
            timed(|| reassembled.record(sockless_reassembled(&mut work_b, true, BIG_FRAMES as u64)))
        }),
        Routine::new("baseline_reassembled_vec_push_checked", || {
            work_c.copy_from_slice(&wire);
            timed(|| pushed.record(sockless_reassembled(&mut work_c, false, BIG_FRAMES as u64)))
        }),
        Routine::new("baseline_simdutf8_only", || {
            timed(|| simd.record(simdutf8_only(&text)))
        }),
        Routine::new("baseline_copy_unmask_validate_checksum", || {
            timed(|| copy.record(copy_unmask_validate_checksum(&raw, &msg_keys, &mut scratch)))
        }),
    ];
    run_group(
        c,
        "W4_decode_256_text64k_in_16_fragments",
        Throughput::Bytes(BIG_BYTES as u64),
        10,
        routines,
    );
    streamed.verify();
    reassembled.verify();
    pushed.verify();
    simd.verify();
    copy.verify();
}

// ---------------------------------------------------------------------------------------------
// W5a: server encode of 200,000 unmasked binary frames of 16 bytes.
// ---------------------------------------------------------------------------------------------

const PAYLOAD_TABLE: usize = 1024;

fn w5a_sockless(payloads: &[[u8; SMALL_LEN]], out: &mut [u8]) -> u64 {
    let mut conn = Connection::server(Config::default());
    let mut pos = 0;
    for i in 0..SMALL_FRAMES {
        let p = &payloads[i % PAYLOAD_TABLE];
        match conn.send(Outgoing::Binary(p), &mut out[pos..]) {
            Ok(n) => pos += n,
            Err(e) => unexpected("send", &e),
        }
    }
    pos as u64
}

fn w5a_minimal(payloads: &[[u8; SMALL_LEN]], out: &mut [u8]) -> u64 {
    let mut pos = 0;
    for i in 0..SMALL_FRAMES {
        let p = &payloads[i % PAYLOAD_TABLE];
        let frame = &mut out[pos..pos + 2 + p.len()];
        frame[0] = 0x82;
        frame[1] = p.len() as u8; // < 126 here
        frame[2..].copy_from_slice(p);
        pos += 2 + p.len();
    }
    pos as u64
}

/// Decodes `out` as a client and checks every frame against the payloads.
fn w5a_verify(payloads: &[[u8; SMALL_LEN]], out: &mut [u8]) {
    let mut conn = Connection::client(Config::default(), NoRandom);
    let (mut pos, mut i) = (0, 0);
    while pos < out.len() {
        let r = conn.receive(&mut out[pos..]);
        pos += r.consumed;
        match r.result {
            Ok(Recv::Event(Event::Data {
                kind: DataKind::Binary,
                payload,
                frame_done: true,
                message_done: true,
                ..
            })) => assert_eq!(payload, &payloads[i % PAYLOAD_TABLE], "W5a frame {i}"),
            other => unexpected("W5a decode", &other),
        }
        i += 1;
    }
    assert_eq!(i, SMALL_FRAMES);
}

fn w5a(c: &mut Criterion) {
    let mut rng = XorShift::new(5);
    let payloads: Vec<[u8; SMALL_LEN]> = (0..PAYLOAD_TABLE)
        .map(|_| std::array::from_fn(|_| rng.next_u64() as u8))
        .collect();
    let total = SMALL_FRAMES * (2 + SMALL_LEN);
    let mut out = vec![0u8; total];
    let mut reference = vec![0u8; total];
    // Outside timing: both encoders write the same bytes, and those bytes decode back.
    assert_eq!(w5a_sockless(&payloads, &mut out), total as u64);
    assert_eq!(w5a_minimal(&payloads, &mut reference), total as u64);
    assert!(
        out == reference,
        "W5a: sockless output differs from the minimal encoder's"
    );
    w5a_verify(&payloads, &mut reference);

    let (sockless, minimal) = (
        Check::new("W5a sockless", total as u64),
        Check::new("W5a minimal", total as u64),
    );
    let mut out_b = out.clone();
    let routines = vec![
        Routine::new("sockless_send", || {
            timed(|| sockless.record(w5a_sockless(&payloads, black_box(&mut out))))
        }),
        Routine::new("baseline_minimal_header_copy", || {
            timed(|| minimal.record(w5a_minimal(&payloads, black_box(&mut out_b))))
        }),
    ];
    run_group(
        c,
        "W5a_encode_200k_binary16",
        Throughput::Elements(SMALL_FRAMES as u64),
        20,
        routines,
    );
    sockless.verify();
    minimal.verify();
    // The last timed runs left their output: still the right bytes.
    assert!(
        out == reference,
        "W5a: sockless output changed in the timed runs"
    );
    assert!(
        out_b == reference,
        "W5a: baseline output changed in the timed runs"
    );
}

// ---------------------------------------------------------------------------------------------
// W5b: client encode of 256 masked binary frames of 64 KiB, masking the caller's payload in place.
// ---------------------------------------------------------------------------------------------

fn xorshift_source(seed: u64) -> impl FnMut(&mut [u8]) -> Result<(), RandomError> {
    let mut rng = XorShift::new(seed);
    move |dest: &mut [u8]| {
        rng.fill(dest);
        Ok(())
    }
}

/// Writes each frame's header into `headers` and masks its payload in place.
fn w5b_sockless(payload: &mut [u8], headers: &mut [[u8; 14]]) -> u64 {
    let mut conn = Connection::client(Config::default(), xorshift_source(55));
    let mut written = 0u64;
    for (chunk, header) in payload.chunks_exact_mut(KIB64).zip(headers.iter_mut()) {
        match conn.send_header(DataKind::Binary, chunk.len() as u64, true, header) {
            Ok(n) => written += n as u64,
            Err(e) => unexpected("send_header", &e),
        }
        if let Err(e) = conn.send_payload(chunk) {
            unexpected("send_payload", &e);
        }
        written += chunk.len() as u64;
    }
    written
}

/// The baseline: draw a key from the same source and mask each 64 KiB chunk in place.
fn w5b_apply_mask(payload: &mut [u8]) -> u64 {
    let mut rng = xorshift_source(55);
    let mut written = 0u64;
    for chunk in payload.chunks_exact_mut(KIB64) {
        let mut key = [0u8; 4];
        let _ = rng(&mut key);
        apply_mask(chunk, key, 0);
        written += chunk.len() as u64;
    }
    written
}

fn w5b(c: &mut Criterion) {
    let mut rng = XorShift::new(6);
    let mut plain = vec![0u8; BIG_BYTES];
    rng.fill(&mut plain);
    let mut headers = vec![[0u8; 14]; BIG_FRAMES];
    let header_len = 2 + 8 + 4;
    let expected = (BIG_BYTES + BIG_FRAMES * header_len) as u64;

    // Outside timing: encode once, decode the frames back as a server, compare.
    let mut payload = plain.clone();
    assert_eq!(w5b_sockless(&mut payload, &mut headers), expected);
    let mut wire = Vec::with_capacity(BIG_BYTES + BIG_FRAMES * header_len);
    for (chunk, header) in payload.chunks_exact(KIB64).zip(&headers) {
        wire.extend_from_slice(&header[..header_len]);
        wire.extend_from_slice(chunk);
    }
    let mut decoded = 0usize;
    receive_all(&mut wire, |kind, piece, done| {
        assert!(kind == DataKind::Binary && done);
        assert!(
            piece == &plain[decoded..decoded + piece.len()],
            "W5b payload differs"
        );
        decoded += piece.len();
    });
    assert_eq!(decoded, BIG_BYTES);
    drop(wire);
    let mut baseline = plain.clone();
    w5b_apply_mask(&mut baseline);
    assert!(
        baseline == payload,
        "W5b: sockless masks differ from the baseline's"
    );
    drop(baseline);

    // Masking is an involution: the timed runs alternate each buffer between plain and masked,
    // doing the same work each time.
    let (sockless, masker) = (
        Check::new("W5b sockless", expected),
        Check::new("W5b apply_mask", BIG_BYTES as u64),
    );
    let mut payload_b = payload.clone();
    let routines = vec![
        Routine::new("sockless_send_header_payload", || {
            timed(|| sockless.record(w5b_sockless(black_box(&mut payload), &mut headers)))
        }),
        Routine::new("baseline_apply_mask", || {
            timed(|| masker.record(w5b_apply_mask(black_box(&mut payload_b))))
        }),
    ];
    run_group(
        c,
        "W5b_client_encode_256_binary64k",
        Throughput::Bytes(BIG_BYTES as u64),
        10,
        routines,
    );
    sockless.verify();
    masker.verify();
}

// ---------------------------------------------------------------------------------------------
// W6: parse 100,000 client upgrade requests and write the 101.
// ---------------------------------------------------------------------------------------------

const RESPONSE_HEAD: &[u8] =
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ";
const RESPONSE_TAIL: &[u8] = b"\r\n\r\n";

fn upgrade_request(key: &str) -> Vec<u8> {
    format!(
        "GET /chat/room-42?session=benchmark HTTP/1.1\r\n\
         Host: server.example.com:8080\r\n\
         User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
         Upgrade: websocket\r\n\
         Connection: keep-alive, Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\n\
         Sec-WebSocket-Version: 13\r\n\
         Origin: https://www.example.com\r\n\
         \r\n"
    )
    .into_bytes()
}

fn sha1_base64_accept(key: &[u8]) -> [u8; 28] {
    use base64::Engine;
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key);
    sha.update(GUID.as_bytes());
    let mut out = [0u8; 28];
    let n = base64::engine::general_purpose::STANDARD
        .encode_slice(sha.digest().bytes(), &mut out)
        .unwrap_or_default();
    debug_assert_eq!(n, 28);
    out
}

fn w6_sockless(requests: &[Vec<u8>], out: &mut [u8]) -> u64 {
    let mut sum = 0u64;
    for i in 0..HANDSHAKES {
        let input = &requests[i % KEYS];
        let mut handshake = ServerHandshake::new(Config::default());
        let mut headers = [EMPTY_HEADER; 16];
        let req = match handshake.parse(input, &mut headers) {
            Ok(Status::Complete(req)) => req,
            other => unexpected("parse", &other),
        };
        match req.accept(&Accept::new(), out) {
            Ok((n, conn)) => {
                black_box(&conn);
                sum = checksum(sum, &out[..n]);
            }
            Err(e) => unexpected("accept", &e),
        }
    }
    sum
}

/// httparse, find the key, SHA-1 + base64, write the same 101: no validation at all.
fn w6_baseline(requests: &[Vec<u8>], out: &mut [u8]) -> u64 {
    let mut sum = 0u64;
    for i in 0..HANDSHAKES {
        let input = &requests[i % KEYS];
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(input) {
            Ok(httparse::Status::Complete(_)) => {}
            other => unexpected("httparse", &other),
        }
        let Some(key) = req
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"))
        else {
            unexpected("key", &"missing")
        };
        let accept = sha1_base64_accept(key.value);
        let n = RESPONSE_HEAD.len() + accept.len() + RESPONSE_TAIL.len();
        let o = &mut out[..n];
        o[..RESPONSE_HEAD.len()].copy_from_slice(RESPONSE_HEAD);
        o[RESPONSE_HEAD.len()..RESPONSE_HEAD.len() + 28].copy_from_slice(&accept);
        o[RESPONSE_HEAD.len() + 28..].copy_from_slice(RESPONSE_TAIL);
        sum = checksum(sum, o);
    }
    sum
}

fn w6(c: &mut Criterion) {
    use base64::Engine;
    let mut rng = XorShift::new(7);
    let requests: Vec<Vec<u8>> = (0..KEYS)
        .map(|_| {
            let mut raw = [0u8; 16];
            rng.fill(&mut raw);
            let mut key = [0u8; 24];
            let n = base64::engine::general_purpose::STANDARD
                .encode_slice(raw, &mut key)
                .unwrap_or_default();
            assert_eq!(n, 24);
            upgrade_request(std::str::from_utf8(&key).unwrap_or_default())
        })
        .collect();
    let len = requests[0].len();
    assert!((320..=340).contains(&len), "request is {len} bytes");
    // The expected responses, built independently of both routines.
    let responses: Vec<Vec<u8>> = requests
        .iter()
        .map(|r| {
            let text = std::str::from_utf8(r).unwrap_or_default();
            let key = text
                .split("\r\n")
                .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                .unwrap_or_default();
            [
                RESPONSE_HEAD,
                &sha1_base64_accept(key.as_bytes()),
                RESPONSE_TAIL,
            ]
            .concat()
        })
        .collect();
    assert_eq!(
        sha1_base64_accept(b"dGhlIHNhbXBsZSBub25jZQ=="),
        *b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    let expected = (0..HANDSHAKES).fold(0u64, |s, i| checksum(s, &responses[i % KEYS]));
    let mut out = vec![0u8; 512];
    // Outside timing: one sockless response byte for byte.
    {
        let mut handshake = ServerHandshake::new(Config::default());
        let mut headers = [EMPTY_HEADER; 16];
        let Ok(Status::Complete(req)) = handshake.parse(&requests[1], &mut headers) else {
            panic!("W6 request does not parse")
        };
        let (n, _) = req.accept(&Accept::new(), &mut out).expect("accept");
        assert_eq!(&out[..n], &responses[1][..], "W6 response");
    }

    let (sockless, baseline) = (
        Check::new("W6 sockless", expected),
        Check::new("W6 baseline", expected),
    );
    let mut out_b = out.clone();
    let routines = vec![
        Routine::new("sockless_parse_accept", || {
            timed(|| sockless.record(w6_sockless(&requests, &mut out)))
        }),
        Routine::new("baseline_httparse_sha1_base64", || {
            timed(|| baseline.record(w6_baseline(&requests, &mut out_b)))
        }),
    ];
    run_group(
        c,
        "W6_handshake_100k",
        Throughput::Elements(HANDSHAKES as u64),
        10,
        routines,
    );
    sockless.verify();
    baseline.verify();
}

// ---------------------------------------------------------------------------------------------
// K1: a million client sends of 16 bytes: the cost of drawing a masking key per frame.
// ---------------------------------------------------------------------------------------------

/// Client sends in K1.
#[cfg(feature = "getrandom")]
const KEY_SENDS: usize = 1_000_000;

/// `KEY_SENDS` client sends of a 16-byte binary message into one reused buffer, masking keys from
/// `rng`; returns the bytes written (the masks are random, so the output has no fixed checksum).
#[cfg(feature = "getrandom")]
fn k1_sends(rng: impl sockless::RandomSource, out: &mut [u8]) -> u64 {
    let mut conn = Connection::client(Config::default(), rng);
    let payload = [0x5Au8; SMALL_LEN];
    let mut written = 0u64;
    for _ in 0..KEY_SENDS {
        match conn.send(Outgoing::Binary(black_box(&payload)), out) {
            Ok(n) => written += n as u64,
            Err(e) => unexpected("client send", &e),
        }
    }
    written
}

#[cfg(feature = "getrandom")]
fn k1(c: &mut Criterion) {
    use sockless::OsRandom;
    let frame_len = 2 + 4 + SMALL_LEN;
    let expected = (KEY_SENDS * frame_len) as u64;
    // Outside timing: frames sent with `OsRandom` decode back, and their keys differ.
    {
        let mut conn = Connection::client(Config::default(), OsRandom::new());
        let mut wire = vec![0u8; 1000 * frame_len];
        for frame in wire.chunks_exact_mut(frame_len) {
            assert_eq!(
                conn.send(Outgoing::Binary(&[0x5A; SMALL_LEN]), frame),
                Ok(frame_len)
            );
        }
        let mut keys: Vec<&[u8]> = wire.chunks_exact(frame_len).map(|f| &f[2..6]).collect();
        keys.sort_unstable();
        keys.dedup();
        assert!(
            keys.len() > 990,
            "OsRandom keys repeat: {} distinct of 1000",
            keys.len()
        );
        receive_all(&mut wire, |_, piece, done| {
            assert!(done && piece == [0x5A; SMALL_LEN], "K1 payload differs");
        });
    }
    let (os, xorshift, per_key) = (
        Check::new("K1 OsRandom", expected),
        Check::new("K1 xorshift", expected),
        Check::new("K1 getrandom per key", expected),
    );
    let (mut out_a, mut out_b, mut out_c) = ([0u8; 64], [0u8; 64], [0u8; 64]);
    let routines = vec![
        Routine::new("sockless_send_osrandom", || {
            timed(|| os.record(k1_sends(OsRandom::new(), &mut out_a)))
        }),
        Routine::new("baseline_send_xorshift", || {
            timed(|| xorshift.record(k1_sends(xorshift_source(71), &mut out_b)))
        }),
        Routine::new("baseline_send_getrandom_per_key", || {
            let source = |dest: &mut [u8]| getrandom::fill(dest).map_err(|_| RandomError);
            timed(|| per_key.record(k1_sends(source, &mut out_c)))
        }),
    ];
    run_group(
        c,
        "K1_client_send_1M_binary16",
        Throughput::Elements(KEY_SENDS as u64),
        10,
        routines,
    );
    os.verify();
    xorshift.verify();
    per_key.verify();
}

#[cfg(not(feature = "getrandom"))]
fn k1(_: &mut Criterion) {}

criterion_group!(workloads, w1, w2, w3, w4, w5a, w5b, w6, k1);
criterion_main!(workloads);
