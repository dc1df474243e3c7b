#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

extern crate std;

use alloc::format;
use alloc::vec::Vec;
use proptest::prelude::*;

use super::*;
use crate::handshake::{Extension, ServerHandshake, EMPTY_HEADER};
use crate::utf8::Utf8Validator;
use crate::{Config, Status};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Parses `value` as a `Sec-WebSocket-Extensions` header (through a real upgrade request) and
/// hands the extensions to `f`.
fn with_extensions<R>(value: &str, f: impl FnOnce(&[Extension<'_>]) -> R) -> R {
    let req = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Extensions: {value}\r\n\r\n"
    );
    let mut headers = [EMPTY_HEADER; 16];
    let mut hs = ServerHandshake::new(Config::default());
    match hs.parse(req.as_bytes(), &mut headers) {
        Ok(Status::Complete(r)) => {
            let exts: Vec<Extension<'_>> = r.extensions().collect();
            f(&exts)
        }
        other => panic!("request with {value:?} did not parse: {other:?}"),
    }
}

fn server(
    config: &DeflateConfig,
    offer: &str,
) -> Result<(Agreed, std::string::String), NegotiationError> {
    with_extensions(offer, |exts| {
        assert_eq!(exts.len(), 1, "{offer:?}");
        let accepted = config.accept_offer(&exts[0])?;
        let mut out = [0u8; MAX_VALUE_LEN];
        let n = accepted.write_response(&mut out).unwrap();
        Ok((
            accepted.agreed(),
            std::str::from_utf8(&out[..n]).unwrap().into(),
        ))
    })
}

fn client(config: &DeflateConfig, response: &str) -> Result<Option<Agreed>, NegotiationError> {
    with_extensions(response, |exts| {
        config.check_responses(exts.iter().copied())
    })
}

fn offer_text(config: &DeflateConfig) -> std::string::String {
    let mut out = [0u8; MAX_VALUE_LEN];
    let n = config.write_offer(&mut out).unwrap();
    std::str::from_utf8(&out[..n]).unwrap().into()
}

fn agreed(bits: u8, nct: bool) -> Agreed {
    let mut a = Agreed::DEFAULT;
    a.compress_window_bits = bits;
    a.compress_no_context_takeover = nct;
    a.inflate_window_bits = bits;
    a.inflate_no_context_takeover = nct;
    a
}

fn compress(c: &mut Compressor, msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    c.compress_message(msg, &mut out).unwrap();
    out
}

/// Inflates one whole message, feeding `payload` in pieces of `in_step` into buffers of `out_step`.
fn inflate_with(
    inf: &mut Inflater,
    payload: &[u8],
    in_step: usize,
    out_step: usize,
) -> Result<Vec<u8>, InflateError> {
    let mut msg = Vec::new();
    let mut out = alloc::vec![0u8; out_step];
    let pieces: Vec<&[u8]> = if payload.is_empty() {
        alloc::vec![payload]
    } else {
        payload.chunks(in_step).collect()
    };
    let last = pieces.len() - 1;
    for (i, piece) in pieces.into_iter().enumerate() {
        let end = i == last;
        let mut input = piece;
        loop {
            let r = inf.inflate(input, end, &mut out)?;
            assert!(r.written <= out.len());
            input = &input[r.consumed..];
            msg.extend_from_slice(&out[..r.written]);
            match r.status {
                InflateStatus::NeedInput => {
                    assert!(input.is_empty());
                    assert!(!end);
                    break;
                }
                InflateStatus::OutputFull => {}
                InflateStatus::MessageDone => {
                    assert!(end && input.is_empty());
                    return Ok(msg);
                }
            }
        }
    }
    panic!("message never completed");
}

fn inflate(inf: &mut Inflater, payload: &[u8]) -> Vec<u8> {
    inflate_with(inf, payload, usize::MAX, 1 << 16).unwrap()
}

/// xorshift64, for deterministic data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Text-like data: JSON log records built from a small vocabulary.
pub(super) fn text_like(len: usize, seed: u64) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "the",
        "user",
        "session",
        "opened",
        "closed",
        "message",
        "payload",
        "server",
        "client",
        "error",
        "timeout",
        "retry",
        "connection",
        "frame",
        "alpha",
        "bravo",
        "charlie",
        "delta",
        "websocket",
        "deflate",
        "window",
        "context",
        "takeover",
        "latency",
        "ok",
        "failed",
    ];
    let mut rng = Rng(seed | 1);
    let mut out = Vec::with_capacity(len + 128);
    let mut id = 1000u64;
    while out.len() < len {
        id += rng.next() % 7;
        let words: Vec<&str> = (0..3 + rng.next() % 8)
            .map(|_| WORDS[(rng.next() % WORDS.len() as u64) as usize])
            .collect();
        out.extend_from_slice(
            format!(
                "{{\"id\":{id},\"user\":\"{}\",\"level\":\"{}\",\"ms\":{},\"msg\":\"{}\"}}\n",
                WORDS[(rng.next() % 9) as usize],
                ["info", "warn", "debug"][(rng.next() % 3) as usize],
                rng.next() % 5000,
                words.join(" ")
            )
            .as_bytes(),
        );
    }
    out.truncate(len);
    out
}

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    (0..len).map(|_| rng.next() as u8).collect()
}

// ---------------------------------------------------------------------------------------------
// A minimal DEFLATE decoder for the window checks: it decodes independently of miniz_oxide and
// records every match distance.
// ---------------------------------------------------------------------------------------------

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u32,
    cnt: u32,
}

impl BitReader<'_> {
    fn bits(&mut self, n: u32) -> u32 {
        while self.cnt < n {
            let b = *self
                .data
                .get(self.pos)
                .expect("stream ended inside a block");
            self.pos += 1;
            self.buf |= u32::from(b) << self.cnt;
            self.cnt += 8;
        }
        let v = self.buf & ((1u32 << n) - 1);
        self.buf >>= n;
        self.cnt -= n;
        v
    }

    fn align(&mut self) {
        self.buf = 0;
        self.cnt = 0;
    }

    fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }
}

struct Huffman {
    count: [u16; 16],
    symbol: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Self {
        let mut count = [0u16; 16];
        for &l in lengths {
            count[l as usize] += 1;
        }
        count[0] = 0;
        let mut offs = [0u16; 16];
        for len in 1..16 {
            offs[len] = offs[len - 1] + count[len - 1];
        }
        let mut symbol = alloc::vec![0u16; lengths.len()];
        for (s, &l) in lengths.iter().enumerate() {
            if l != 0 {
                symbol[offs[l as usize] as usize] = s as u16;
                offs[l as usize] += 1;
            }
        }
        Self { count, symbol }
    }

    fn decode(&self, r: &mut BitReader<'_>) -> u16 {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= r.bits(1) as i32;
            let count = i32::from(self.count[len]);
            if code - count < first {
                return self.symbol[(index + (code - first)) as usize];
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        panic!("invalid Huffman code");
    }
}

const LEN_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEN_EXTRA: [u32; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE: [u32; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u32; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// Decodes a raw DEFLATE stream made of whole blocks, calling `on_match(distance, position)`
/// for every back-reference (`position` is the output length before the match).
fn reference_inflate(data: &[u8], mut on_match: impl FnMut(usize, usize)) -> Vec<u8> {
    let mut r = BitReader {
        data,
        pos: 0,
        buf: 0,
        cnt: 0,
    };
    let mut out: Vec<u8> = Vec::new();
    while !r.at_end() {
        let _final = r.bits(1);
        match r.bits(2) {
            0 => {
                r.align();
                let len = usize::from(u16::from_le_bytes([data[r.pos], data[r.pos + 1]]));
                let nlen = u16::from_le_bytes([data[r.pos + 2], data[r.pos + 3]]);
                assert_eq!(len as u16, !nlen);
                out.extend_from_slice(&data[r.pos + 4..r.pos + 4 + len]);
                r.pos += 4 + len;
            }
            btype @ (1 | 2) => {
                let (lit, dist) = if btype == 1 {
                    let mut l = [0u8; 288];
                    l[..144].fill(8);
                    l[144..256].fill(9);
                    l[256..280].fill(7);
                    l[280..].fill(8);
                    (Huffman::new(&l), Huffman::new(&[5u8; 30]))
                } else {
                    let nlen = r.bits(5) as usize + 257;
                    let ndist = r.bits(5) as usize + 1;
                    let ncode = r.bits(4) as usize + 4;
                    const ORDER: [usize; 19] = [
                        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
                    ];
                    let mut cl = [0u8; 19];
                    for &i in &ORDER[..ncode] {
                        cl[i] = r.bits(3) as u8;
                    }
                    let clh = Huffman::new(&cl);
                    let mut lengths = alloc::vec![0u8; nlen + ndist];
                    let mut i = 0;
                    while i < nlen + ndist {
                        let sym = clh.decode(&mut r);
                        let (val, rep) = match sym {
                            0..=15 => (sym as u8, 1),
                            16 => (lengths[i - 1], 3 + r.bits(2) as usize),
                            17 => (0, 3 + r.bits(3) as usize),
                            _ => (0, 11 + r.bits(7) as usize),
                        };
                        for _ in 0..rep {
                            lengths[i] = val;
                            i += 1;
                        }
                    }
                    (
                        Huffman::new(&lengths[..nlen]),
                        Huffman::new(&lengths[nlen..]),
                    )
                };
                loop {
                    let sym = lit.decode(&mut r) as usize;
                    if sym < 256 {
                        out.push(sym as u8);
                    } else if sym == 256 {
                        break;
                    } else {
                        let s = sym - 257;
                        let len = usize::from(LEN_BASE[s]) + r.bits(LEN_EXTRA[s]) as usize;
                        let d = dist.decode(&mut r) as usize;
                        let distance = (DIST_BASE[d] + r.bits(DIST_EXTRA[d])) as usize;
                        assert!(
                            distance <= out.len(),
                            "distance before the start of the stream"
                        );
                        on_match(distance, out.len());
                        for _ in 0..len {
                            out.push(out[out.len() - distance]);
                        }
                    }
                }
            }
            _ => panic!("reserved block type"),
        }
    }
    out
}

/// Compresses `messages` with `agreed` and checks with the reference decoder that every distance
/// is below `2^bits` and, under no context takeover, within its own message; returns the total
/// compressed size.
fn check_window(agreed: &Agreed, messages: &[Vec<u8>]) -> usize {
    let mut c = Compressor::new(agreed);
    let mut stream = Vec::new();
    let mut starts = Vec::new();
    let mut expected = Vec::new();
    let mut wire = 0;
    for m in messages {
        let payload = compress(&mut c, m);
        wire += payload.len();
        starts.push(expected.len());
        expected.extend_from_slice(m);
        stream.extend_from_slice(&payload);
        stream.extend_from_slice(&TAIL);
    }
    let window = 1usize << agreed.compress_window_bits;
    let nct = agreed.compress_no_context_takeover;
    let decoded = reference_inflate(&stream, |distance, pos| {
        assert!(
            distance < window,
            "distance {distance} with a {window}-byte window"
        );
        if nct {
            let start = starts[starts.partition_point(|&s| s <= pos) - 1];
            assert!(distance <= pos - start, "reference into an earlier message");
        }
    });
    assert_eq!(decoded, expected);
    wire
}

// ---------------------------------------------------------------------------------------------
// RFC 7692 section 7.2.3 examples
// ---------------------------------------------------------------------------------------------

const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

#[test]
fn rfc_7_2_3_1_hello_compressed_exactly() {
    let mut c = Compressor::new(&Agreed::DEFAULT);
    assert_eq!(compress(&mut c, b"Hello"), HELLO);
    let mut inf = Inflater::new(&Agreed::DEFAULT, 1 << 20);
    assert_eq!(inflate(&mut inf, &HELLO), b"Hello");
}

#[test]
fn rfc_7_2_3_1_hello_in_two_fragments() {
    let mut inf = Inflater::new(&Agreed::DEFAULT, 1 << 20);
    let mut out = [0u8; 16];
    let r = inf.inflate(&HELLO[..3], false, &mut out).unwrap();
    assert_eq!((r.consumed, r.status), (3, InflateStatus::NeedInput));
    let mut msg = out[..r.written].to_vec();
    let r = inf.inflate(&HELLO[3..], true, &mut out).unwrap();
    assert_eq!(r.status, InflateStatus::MessageDone);
    msg.extend_from_slice(&out[..r.written]);
    assert_eq!(msg, b"Hello");
}

#[test]
fn rfc_7_2_3_2_sharing_the_window() {
    let mut c = Compressor::new(&Agreed::DEFAULT);
    assert_eq!(compress(&mut c, b"Hello"), HELLO);
    assert_eq!(compress(&mut c, b"Hello"), [0xf2, 0x00, 0x11, 0x00, 0x00]);
    let mut inf = Inflater::new(&Agreed::DEFAULT, 1 << 20);
    assert_eq!(inflate(&mut inf, &HELLO), b"Hello");
    assert_eq!(inflate(&mut inf, &[0xf2, 0x00, 0x11, 0x00, 0x00]), b"Hello");
}

#[test]
fn rfc_7_2_3_2_no_context_takeover_repeats_the_bytes() {
    let a = agreed(15, true);
    let mut c = Compressor::new(&a);
    assert_eq!(compress(&mut c, b"Hello"), HELLO);
    assert_eq!(compress(&mut c, b"Hello"), HELLO);
    let mut inf = Inflater::new(&a, 1 << 20);
    assert_eq!(inflate(&mut inf, &HELLO), b"Hello");
    assert_eq!(inflate(&mut inf, &HELLO), b"Hello");
}

#[test]
fn rfc_7_2_3_3_uncompressed_block() {
    let payload = [0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    let mut inf = Inflater::new(&Agreed::DEFAULT, 1 << 20);
    assert_eq!(inflate(&mut inf, &payload), b"Hello");
    // The message ends without a sync flush, so the appended tail leaves the decoder inside a
    // stored block header; the next message still starts on a block boundary.
    assert_eq!(inflate(&mut inf, &HELLO), b"Hello");
    // Level 0 writes a stored block; its sync flush adds an empty stored block, whose header
    // byte remains after the tail is removed.
    let mut a = Agreed::DEFAULT;
    a.level = 0;
    let mut c = Compressor::new(&a);
    let out = compress(&mut c, b"Hello");
    assert_eq!(
        out,
        [0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00]
    );
    let mut inf = Inflater::new(&a, 1 << 20);
    assert_eq!(inflate(&mut inf, &out), b"Hello");
}

#[test]
fn rfc_7_2_3_4_bfinal_block() {
    let payload = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    let mut inf = Inflater::new(&Agreed::DEFAULT, 1 << 20);
    assert_eq!(inflate(&mut inf, &payload), b"Hello");
    // The window survives the final block: the takeover example still decodes.
    assert_eq!(inflate(&mut inf, &[0xf2, 0x00, 0x11, 0x00, 0x00]), b"Hello");
}

#[test]
fn rfc_7_2_3_5_two_blocks_in_one_message() {
    let payload = [
        0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
    ];
    let mut inf = Inflater::new(&Agreed::DEFAULT, 1 << 20);
    assert_eq!(inflate(&mut inf, &payload), b"Hello");
}

#[test]
fn rfc_7_2_3_6_empty_message() {
    let mut c = Compressor::new(&Agreed::DEFAULT);
    assert_eq!(compress(&mut c, b""), [0x00]);
    let mut inf = Inflater::new(&Agreed::DEFAULT, 1 << 20);
    assert_eq!(inflate(&mut inf, &[0x00]), b"");
    // An empty payload also inflates to nothing.
    assert_eq!(inflate(&mut inf, &[]), b"");
    assert_eq!(inflate(&mut inf, &HELLO), b"Hello");
}

#[test]
fn mid_message_flush_keeps_its_marker() {
    let mut c = Compressor::new(&Agreed::DEFAULT);
    let mut first = Vec::new();
    c.compress(b"Hel", &mut first).unwrap();
    c.flush(&mut first).unwrap();
    assert!(first.ends_with(&TAIL));
    let mut second = Vec::new();
    c.compress(b"lo", &mut second).unwrap();
    c.finish(&mut second).unwrap();
    let mut inf = Inflater::new(&Agreed::DEFAULT, 1 << 20);
    let mut out = [0u8; 16];
    let r = inf.inflate(&first, false, &mut out).unwrap();
    assert_eq!(&out[..r.written], b"Hel"); // decodable before the message ends
    let r2 = inf.inflate(&second, true, &mut out).unwrap();
    assert_eq!(&out[..r2.written], b"lo");
    assert_eq!(r2.status, InflateStatus::MessageDone);
}

// ---------------------------------------------------------------------------------------------
// Inflate errors, limits, text
// ---------------------------------------------------------------------------------------------

#[test]
fn corrupt_data_fails_with_1007() {
    for payload in [&[0xff, 0xff, 0xff][..], &[0x06], &[0x04, 0x00, 0x00, 0x00]] {
        let mut inf = Inflater::new(&Agreed::DEFAULT, 1 << 20);
        let e = inflate_with(&mut inf, payload, 1, 64).unwrap_err();
        assert_eq!(e, InflateError::Corrupt, "{payload:02x?}");
        assert_eq!(e.close_code(), crate::CloseCode::INVALID_PAYLOAD);
    }
    // A stored block whose NLEN does not match.
    let mut inf = Inflater::new(&Agreed::DEFAULT, 1 << 20);
    assert_eq!(
        inflate_with(
            &mut inf,
            &[0x00, 0x05, 0x00, 0x00, 0x00, 1, 2, 3, 4, 5],
            4,
            64
        ),
        Err(InflateError::Corrupt)
    );
}

#[test]
fn limit_is_exact() {
    let msg = text_like(10_000, 7);
    let mut c = Compressor::new(&Agreed::DEFAULT);
    let payload = compress(&mut c, &msg);
    for (limit, ok) in [(10_000u64, true), (9_999, false), (0, false)] {
        let mut inf = Inflater::new(&Agreed::DEFAULT, limit);
        let r = inflate_with(&mut inf, &payload, 100, 333);
        assert_eq!(r.is_ok(), ok, "limit {limit}");
        if let Err(e) = r {
            assert_eq!(e, InflateError::TooBig);
            assert_eq!(e.close_code(), crate::CloseCode::MESSAGE_TOO_BIG);
        }
    }
    // The limit is per message.
    let mut inf = Inflater::new(&Agreed::DEFAULT, 10_000);
    let mut c = Compressor::new(&Agreed::DEFAULT);
    for _ in 0..3 {
        assert_eq!(inflate(&mut inf, &compress(&mut c, &msg)), msg);
    }
}

#[test]
fn small_bomb_stops_at_the_limit() {
    let zeros = alloc::vec![0u8; 4 << 20];
    let mut c = Compressor::new(&Agreed::DEFAULT);
    let payload = compress(&mut c, &zeros);
    assert!(payload.len() < 8 << 10, "{}", payload.len());
    let mut inf = Inflater::new(&Agreed::DEFAULT, 1 << 16);
    let mut out = alloc::vec![0u8; 1 << 20];
    let mut total = 0;
    let mut input = &payload[..];
    let err = loop {
        match inf.inflate(input, true, &mut out) {
            Ok(r) => {
                total += r.written;
                input = &input[r.consumed..];
            }
            Err(e) => break e,
        }
    };
    assert_eq!(err, InflateError::TooBig);
    assert_eq!(total, 1 << 16);
}

#[test]
fn text_is_validated_on_inflated_bytes() {
    let mut c = Compressor::new(&Agreed::DEFAULT);
    let mut inf = Inflater::new(&Agreed::DEFAULT, 1 << 20);
    let good = "añ€😀 ".repeat(50);
    let payload = compress(&mut c, good.as_bytes());
    let mut out = [0u8; 7]; // splits characters between calls
    let mut v = Utf8Validator::new();
    let mut input = &payload[..];
    let mut text = Vec::new();
    loop {
        let r = inf.inflate_text(input, true, &mut out, &mut v).unwrap();
        input = &input[r.consumed..];
        text.extend_from_slice(&out[..r.written]);
        if r.status == InflateStatus::MessageDone {
            break;
        }
    }
    assert_eq!(text, good.as_bytes());

    // Invalid UTF-8 fails at the first invalid byte, not at the end of the message.
    let mut bad = alloc::vec![b'a'; 100];
    bad.push(0xff);
    bad.extend(core::iter::repeat_n(b'b', 100_000));
    let payload = compress(&mut c, &bad);
    let mut v = Utf8Validator::new();
    let mut out = [0u8; 64];
    let mut input = &payload[..];
    let mut produced = 0;
    let e = loop {
        match inf.inflate_text(input, true, &mut out, &mut v) {
            Ok(r) => {
                input = &input[r.consumed..];
                produced += r.written;
            }
            Err(e) => break e,
        }
    };
    assert_eq!(e, InflateError::InvalidUtf8);
    assert_eq!(e.close_code(), crate::CloseCode::INVALID_PAYLOAD);
    assert!(produced < 200, "{produced}");

    // A text that ends inside a character fails at the end.
    let mut inf = Inflater::new(&Agreed::DEFAULT, 1 << 20);
    let payload = compress(&mut c, &[b'a', 0xe2, 0x82]);
    let mut v = Utf8Validator::new();
    let mut out = [0u8; 64];
    assert_eq!(
        inf.inflate_text(&payload, true, &mut out, &mut v),
        Err(InflateError::InvalidUtf8)
    );
}

#[test]
fn release_frees_only_without_takeover() {
    let mut c = Compressor::new(&Agreed::DEFAULT);
    let mut inf = Inflater::new(&Agreed::DEFAULT, 1 << 20);
    assert!(c.release() && inf.release()); // nothing allocated yet
    assert_eq!(inflate(&mut inf, &compress(&mut c, b"Hello")), b"Hello");
    assert!(!c.release() && !inf.release());
    assert!(!c.is_shareable());

    let a = agreed(15, true);
    let mut c = Compressor::new(&a);
    let mut inf = Inflater::new(&a, 1 << 20);
    assert!(c.is_shareable());
    let mut partial = Vec::new();
    c.compress(b"Hel", &mut partial).unwrap();
    assert!(!c.release()); // mid-message
    c.compress(b"lo", &mut partial).unwrap();
    c.finish(&mut partial).unwrap();
    assert_eq!(partial, HELLO);
    assert_eq!(inflate(&mut inf, &partial), b"Hello");
    assert!(c.release() && inf.release());
    assert_eq!(inflate(&mut inf, &compress(&mut c, b"Hello")), b"Hello");
}

#[test]
fn threshold() {
    let a = Agreed::DEFAULT;
    assert!(!a.should_compress(63));
    assert!(a.should_compress(64));
}

// ---------------------------------------------------------------------------------------------
// The window bound, checked by the reference decoder
// ---------------------------------------------------------------------------------------------

#[test]
fn window_is_honoured_on_text_and_random_data() {
    let messages: Vec<Vec<u8>> = (0..6)
        .map(|i| {
            if i % 3 == 2 {
                random_bytes(3000 + i * 1000, i as u64)
            } else {
                text_like(20_000 + i * 7_000, i as u64)
            }
        })
        .collect();
    for bits in 8..=15 {
        for nct in [false, true] {
            check_window(&agreed(bits, nct), &messages);
        }
    }
}

#[test]
fn backend_alone_ignores_small_windows() {
    // Why the full-flush bound exists: miniz_oxide with a 9-bit window still matches far back.
    use miniz_oxide::deflate::core::{
        compress_to_output, CompressionStrategy, CompressorOxide, TDEFLFlush,
    };
    use miniz_oxide::DataFormat;
    let data = text_like(60_000, 3);
    for bits in [9u8, 12, 14] {
        let mut c = alloc::boxed::Box::new(CompressorOxide::with_params(
            DataFormat::Raw,
            6,
            CompressionStrategy::Default,
            bits,
        ));
        let mut out = Vec::new();
        compress_to_output(&mut c, &data, TDEFLFlush::Sync, |b| {
            out.extend_from_slice(b);
            true
        });
        let mut max = 0;
        assert_eq!(reference_inflate(&out, |d, _| max = max.max(d)), data);
        if bits >= 12 {
            assert!(max >= 1 << bits, "bits {bits}: max distance {max}");
        }
    }
}

/// Prints the ratio cost of the window bound on text-like data (run with `--ignored --nocapture`).
#[test]
#[ignore]
fn report_window_ratio_cost() {
    for (name, messages) in [
        (
            "one 256 KiB text message",
            alloc::vec![text_like(256 << 10, 1)],
        ),
        (
            "100 text messages of 2 KiB",
            (0..100).map(|i| text_like(2048, i)).collect::<Vec<_>>(),
        ),
    ] {
        let raw: usize = messages.iter().map(Vec::len).sum();
        std::println!("{name}: {raw} bytes");
        for nct in [false, true] {
            let base = check_window(&agreed(15, nct), &messages);
            for bits in 8..=15 {
                let size = check_window(&agreed(bits, nct), &messages);
                std::println!(
                    "  nct={nct:5} bits={bits:2}: {size:7} bytes, ratio {:.3}, {:+.1}% vs window 15",
                    size as f64 / raw as f64,
                    (size as f64 / base as f64 - 1.0) * 100.0
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// Splits `data` at the cut points (taken modulo its length).
fn split<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|c| if data.is_empty() { 0 } else { c % data.len() })
        .collect();
    points.push(0);
    points.push(data.len());
    points.sort_unstable();
    points.dedup();
    points.windows(2).map(|w| &data[w[0]..w[1]]).collect()
}

fn message_strategy() -> impl Strategy<Value = (Vec<u8>, Vec<usize>)> {
    let bytes = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..3000),
        (0usize..40_000, any::<u64>()).prop_map(|(n, s)| text_like(n, s)),
        proptest::collection::vec(0u8..3, 0..5000),
    ];
    (bytes, proptest::collection::vec(any::<usize>(), 0..6))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Compress (whole or in pieces, with or without mid-message flushes) then inflate (in random
    /// input pieces and random output buffer sizes) is the identity, over several messages, any
    /// window and takeover; the reference decoder sees no distance past the window.
    #[test]
    fn round_trip(
        messages in proptest::collection::vec(message_strategy(), 1..5),
        bits in 8u8..=15,
        nct in any::<bool>(),
        level in 0u8..=9,
        flush_pieces in any::<bool>(),
        in_step in 1usize..2000,
        out_step in 1usize..5000,
    ) {
        let mut a = agreed(bits, nct);
        a.level = level;
        let mut c = Compressor::new(&a);
        let mut inf = Inflater::new(&a, 1 << 20);
        let mut stream = Vec::new();
        for (msg, cuts) in &messages {
            let mut payload = Vec::new();
            for piece in split(msg, cuts) {
                c.compress(piece, &mut payload).unwrap();
                if flush_pieces {
                    c.flush(&mut payload).unwrap();
                }
            }
            c.finish(&mut payload).unwrap();
            prop_assert_eq!(&inflate_with(&mut inf, &payload, in_step, out_step).unwrap(), msg);
            stream.extend_from_slice(&payload);
            stream.extend_from_slice(&TAIL);
        }
        let window = 1usize << bits;
        let expected: Vec<u8> = messages.iter().flat_map(|(m, _)| m.iter().copied()).collect();
        let decoded = reference_inflate(&stream, |d, _| assert!(d < window, "distance {d}, window {window}"));
        prop_assert_eq!(decoded, expected);
    }

    /// Inflating arbitrary bytes never panics, never writes past the limit plus one, and either
    /// finishes the message or fails with a typed error.
    #[test]
    fn arbitrary_payloads(payload in proptest::collection::vec(any::<u8>(), 0..600), in_step in 1usize..64, out_step in 1usize..300) {
        let limit = 1000u64;
        let mut inf = Inflater::new(&Agreed::DEFAULT, limit);
        match inflate_with(&mut inf, &payload, in_step, out_step) {
            Ok(m) => prop_assert!(m.len() as u64 <= limit),
            Err(e) => prop_assert!(matches!(e, InflateError::TooBig | InflateError::Corrupt)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Negotiation: server
// ---------------------------------------------------------------------------------------------

const D: DeflateConfig = DeflateConfig::DEFAULT;

#[test]
fn server_accepts_a_bare_offer() {
    let (a, resp) = server(&D, "permessage-deflate").unwrap();
    assert_eq!(resp, "permessage-deflate");
    assert_eq!(a, Agreed::DEFAULT);
}

#[test]
fn server_accepts_browser_offer() {
    let (a, resp) = server(&D, "permessage-deflate; client_max_window_bits").unwrap();
    assert_eq!(resp, "permessage-deflate");
    assert_eq!(a, Agreed::DEFAULT);
}

#[test]
fn server_accepts_every_parameter() {
    let (a, resp) = server(
        &D,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=\"12\"",
    )
    .unwrap();
    assert_eq!(resp, "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10");
    assert_eq!(
        (a.compress_window_bits, a.compress_no_context_takeover),
        (10, true)
    );
    assert_eq!(
        (a.inflate_window_bits, a.inflate_no_context_takeover),
        (12, true)
    );
}

#[test]
fn server_imposes_its_config() {
    let mut cfg = D;
    cfg.server_no_context_takeover = true;
    cfg.client_no_context_takeover = true;
    cfg.server_max_window_bits = 11;
    cfg.client_max_window_bits = 10;
    let (a, resp) = server(&cfg, "permessage-deflate; client_max_window_bits").unwrap();
    assert_eq!(
        resp,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; client_max_window_bits=10"
    );
    assert_eq!((a.compress_window_bits, a.inflate_window_bits), (11, 10));
    // The lower of the offered and configured windows wins, both ways.
    let (a, resp) = server(
        &cfg,
        "permessage-deflate; server_max_window_bits=9; client_max_window_bits=12",
    )
    .unwrap();
    assert_eq!((a.compress_window_bits, a.inflate_window_bits), (9, 10));
    assert!(
        resp.ends_with("server_max_window_bits=9; client_max_window_bits=10"),
        "{resp}"
    );
    let (a, resp) = server(&cfg, "permessage-deflate; client_max_window_bits=9").unwrap();
    assert_eq!(a.inflate_window_bits, 9);
    assert!(!resp.contains("client_max_window_bits"), "{resp}");
}

#[test]
fn server_takes_the_first_acceptable_offer() {
    with_extensions(
        "x-webkit-deflate-frame, permessage-deflate; bogus, permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=12, permessage-deflate",
        |exts| {
            let acc = D.accept_offers(exts.iter().copied()).unwrap();
            assert_eq!(acc.agreed().compress_window_bits, 12);
        },
    );
    with_extensions("permessage-deflate; bogus, foo", |exts| {
        assert!(D.accept_offers(exts.iter().copied()).is_none())
    });
}

#[test]
fn server_declines_each_cause() {
    let cases: &[(&str, NegotiationError)] = &[
        ("x-webkit-deflate-frame", NegotiationError::NotDeflate),
        (
            "permessage-deflate; foo",
            NegotiationError::UnknownParameter,
        ),
        (
            "permessage-deflate; foo=1",
            NegotiationError::UnknownParameter,
        ),
        (
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            NegotiationError::DuplicateParameter,
        ),
        (
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            NegotiationError::DuplicateParameter,
        ),
        (
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
            NegotiationError::DuplicateParameter,
        ),
        (
            "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
            NegotiationError::DuplicateParameter,
        ),
        (
            "permessage-deflate; server_no_context_takeover=1",
            NegotiationError::UnexpectedValue,
        ),
        (
            "permessage-deflate; client_no_context_takeover=\"x\"",
            NegotiationError::UnexpectedValue,
        ),
        (
            "permessage-deflate; server_max_window_bits",
            NegotiationError::MissingValue,
        ),
        (
            "permessage-deflate; server_max_window_bits=7",
            NegotiationError::InvalidWindowBits,
        ),
        (
            "permessage-deflate; server_max_window_bits=16",
            NegotiationError::InvalidWindowBits,
        ),
        (
            "permessage-deflate; server_max_window_bits=010",
            NegotiationError::InvalidWindowBits,
        ),
        (
            "permessage-deflate; server_max_window_bits=abc",
            NegotiationError::InvalidWindowBits,
        ),
        (
            "permessage-deflate; client_max_window_bits=0",
            NegotiationError::InvalidWindowBits,
        ),
        (
            "permessage-deflate; client_max_window_bits=16",
            NegotiationError::InvalidWindowBits,
        ),
        (
            "permessage-deflate; client_max_window_bits=\"1a\"",
            NegotiationError::InvalidWindowBits,
        ),
        (
            "permessage-deflate; server_max_window_bits=8",
            NegotiationError::ServerWindowTooSmall,
        ),
    ];
    for &(offer, want) in cases {
        assert_eq!(server(&D, offer).map(|r| r.0), Err(want), "{offer:?}");
    }
    let mut cfg = D;
    cfg.client_max_window_bits = 12;
    assert_eq!(
        server(&cfg, "permessage-deflate").map(|r| r.0),
        Err(NegotiationError::ClientWindowNotLimitable)
    );
    cfg = D;
    cfg.enabled = false;
    assert_eq!(
        server(&cfg, "permessage-deflate").map(|r| r.0),
        Err(NegotiationError::Disabled)
    );
}

#[test]
fn server_accepts_client_window_8_and_quoted_values() {
    let (a, resp) = server(&D, "permessage-deflate; client_max_window_bits=8").unwrap();
    assert_eq!(a.inflate_window_bits, 8);
    assert_eq!(resp, "permessage-deflate");
    let (a, _) = server(&D, "permessage-deflate; server_max_window_bits=\"9\"").unwrap();
    assert_eq!(a.compress_window_bits, 9);
    let (a, _) = server(&D, "permessage-deflate; server_max_window_bits=\"1\\1\"").unwrap();
    assert_eq!(a.compress_window_bits, 11);
    let (a, _) = server(&D, "Permessage-Deflate; Server_Max_Window_Bits=15").unwrap();
    assert_eq!(a.compress_window_bits, 15);
}

#[test]
fn response_writing_is_transactional() {
    with_extensions(
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
        |exts| {
            let acc = D.accept_offer(&exts[0]).unwrap();
            let text = b"permessage-deflate; server_no_context_takeover; server_max_window_bits=10";
            let mut small = [0xaau8; 40];
            assert_eq!(
                acc.write_response(&mut small),
                Err(crate::BufferTooSmall { needed: text.len() })
            );
            assert!(small.iter().all(|&b| b == 0xaa));
            let mut exact = alloc::vec![0u8; text.len()];
            assert_eq!(acc.write_response(&mut exact), Ok(text.len()));
            assert_eq!(&exact[..], &text[..]);
        },
    );
}

#[test]
fn longest_value_fits_max_value_len() {
    let mut cfg = D;
    cfg.server_no_context_takeover = true;
    cfg.client_no_context_takeover = true;
    cfg.server_max_window_bits = 14;
    cfg.client_max_window_bits = 14;
    let text = offer_text(&cfg);
    assert_eq!(text, "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=14; client_max_window_bits=14");
    assert_eq!(text.len(), MAX_VALUE_LEN);
    let mut small = [0u8; MAX_VALUE_LEN - 1];
    assert_eq!(
        cfg.write_offer(&mut small),
        Err(crate::BufferTooSmall {
            needed: MAX_VALUE_LEN
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Negotiation: client
// ---------------------------------------------------------------------------------------------

#[test]
fn client_offers() {
    assert_eq!(offer_text(&D), "permessage-deflate; client_max_window_bits");
    let mut cfg = D;
    cfg.advertise_client_max_window_bits = false;
    assert_eq!(offer_text(&cfg), "permessage-deflate");
    cfg.client_max_window_bits = 3; // clamped to 9
    cfg.server_max_window_bits = 12;
    cfg.server_no_context_takeover = true;
    assert_eq!(offer_text(&cfg), "permessage-deflate; server_no_context_takeover; server_max_window_bits=12; client_max_window_bits=9");
}

#[test]
fn client_accepts_valid_responses() {
    assert_eq!(
        client(&D, "permessage-deflate").unwrap(),
        Some(Agreed::DEFAULT)
    );
    let a = client(&D, "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=10")
        .unwrap()
        .unwrap();
    assert_eq!(
        (a.compress_window_bits, a.compress_no_context_takeover),
        (10, true)
    );
    assert_eq!(
        (a.inflate_window_bits, a.inflate_no_context_takeover),
        (9, true)
    );
    // A client honours a client window of 8.
    assert_eq!(
        client(&D, "permessage-deflate; client_max_window_bits=8")
            .unwrap()
            .unwrap()
            .compress_window_bits,
        8
    );
    // Our own offer's values apply when the response leaves them out, and it may lower them.
    let mut cfg = D;
    cfg.client_max_window_bits = 11;
    cfg.server_max_window_bits = 12;
    cfg.client_no_context_takeover = true;
    let a = client(&cfg, "permessage-deflate; server_max_window_bits=12")
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            a.compress_window_bits,
            a.compress_no_context_takeover,
            a.inflate_window_bits
        ),
        (11, true, 12)
    );
    let a = client(
        &cfg,
        "permessage-deflate; server_max_window_bits=8; client_max_window_bits=9",
    )
    .unwrap()
    .unwrap();
    assert_eq!((a.compress_window_bits, a.inflate_window_bits), (9, 8));
}

#[test]
fn client_with_no_extension_in_response_has_no_compression() {
    assert_eq!(D.check_responses(core::iter::empty()), Ok(None));
}

#[test]
fn client_fails_each_cause() {
    let mut asked = D;
    asked.server_no_context_takeover = true;
    asked.server_max_window_bits = 10;
    asked.client_max_window_bits = 10;
    let mut quiet = D;
    quiet.advertise_client_max_window_bits = false;
    let mut off = D;
    off.enabled = false;
    let cases: &[(&DeflateConfig, &str, NegotiationError)] = &[
        (&D, "x-webkit-deflate-frame", NegotiationError::ExtensionNotOffered),
        (&off, "permessage-deflate", NegotiationError::ExtensionNotOffered),
        (&D, "permessage-deflate, permessage-deflate", NegotiationError::DuplicateExtension),
        (&D, "permessage-deflate; foo", NegotiationError::UnknownParameter),
        (&D, "permessage-deflate; client_no_context_takeover; client_no_context_takeover", NegotiationError::DuplicateParameter),
        (&D, "permessage-deflate; server_max_window_bits=9; server_max_window_bits=9", NegotiationError::DuplicateParameter),
        (&D, "permessage-deflate; server_no_context_takeover=yes", NegotiationError::UnexpectedValue),
        (&D, "permessage-deflate; server_max_window_bits", NegotiationError::MissingValue),
        (&D, "permessage-deflate; client_max_window_bits", NegotiationError::MissingValue),
        (&D, "permessage-deflate; server_max_window_bits=16", NegotiationError::InvalidWindowBits),
        (&D, "permessage-deflate; client_max_window_bits=7", NegotiationError::InvalidWindowBits),
        (&quiet, "permessage-deflate; client_max_window_bits=10", NegotiationError::ClientWindowNotOffered),
        (&asked, "permessage-deflate; server_no_context_takeover; server_max_window_bits=11", NegotiationError::ServerWindowTooLarge),
        (&asked, "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11", NegotiationError::ClientWindowTooLarge),
        (&asked, "permessage-deflate; server_no_context_takeover", NegotiationError::MissingServerWindow),
        (&asked, "permessage-deflate; server_max_window_bits=10", NegotiationError::MissingServerNoContextTakeover),
    ];
    for &(cfg, response, want) in cases {
        assert_eq!(client(cfg, response), Err(want), "{response:?}");
    }
    with_extensions("permessage-deflate", |exts| {
        assert_eq!(
            off.check_response(&exts[0]),
            Err(NegotiationError::Disabled)
        )
    });
}

#[test]
fn errors_display_distinctly() {
    use NegotiationError as N;
    let all = [
        N::NotDeflate,
        N::Disabled,
        N::UnknownParameter,
        N::DuplicateParameter,
        N::UnexpectedValue,
        N::MissingValue,
        N::InvalidWindowBits,
        N::ServerWindowTooSmall,
        N::ClientWindowNotLimitable,
        N::ClientWindowNotOffered,
        N::ServerWindowTooLarge,
        N::ClientWindowTooLarge,
        N::MissingServerWindow,
        N::MissingServerNoContextTakeover,
        N::DuplicateExtension,
        N::ExtensionNotOffered,
    ];
    let mut texts: Vec<std::string::String> = all.iter().map(|e| format!("{e}")).collect();
    texts.extend(
        [
            InflateError::TooBig,
            InflateError::Corrupt,
            InflateError::InvalidUtf8,
        ]
        .iter()
        .map(|e| format!("{e}")),
    );
    texts.push(format!("{}", CompressError::Backend));
    assert_eq!(
        CompressError::Backend.close_code(),
        crate::CloseCode::INTERNAL_ERROR
    );
    let n = texts.len();
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), n);
}

#[test]
fn layer_values_are_small() {
    use core::mem::size_of;
    assert!(size_of::<Agreed>() <= 16, "{}", size_of::<Agreed>());
    assert!(size_of::<Compressor>() <= 48, "{}", size_of::<Compressor>());
    assert!(size_of::<Inflater>() <= 80, "{}", size_of::<Inflater>());
    std::println!(
        "Agreed {} B, Compressor {} B, Inflater {} B",
        size_of::<Agreed>(),
        size_of::<Compressor>(),
        size_of::<Inflater>()
    );
}

/// Inflates `messages` as text with the given steps; the messages and the first error.
fn inflate_all(
    messages: &[&[u8]],
    agreed: &Agreed,
    limit: u64,
    in_step: usize,
    out_step: usize,
) -> (Vec<Vec<u8>>, Option<InflateError>) {
    let mut inf = Inflater::new(agreed, limit);
    let mut out = alloc::vec![0u8; out_step];
    let mut done = Vec::new();
    for payload in messages {
        let mut msg = Vec::new();
        let mut utf8 = Utf8Validator::new();
        let pieces: Vec<&[u8]> = if payload.is_empty() {
            alloc::vec![*payload]
        } else {
            payload.chunks(in_step).collect()
        };
        let last = pieces.len() - 1;
        for (i, piece) in pieces.into_iter().enumerate() {
            let mut input = piece;
            loop {
                match inf.inflate_text(input, i == last, &mut out, &mut utf8) {
                    Ok(r) => {
                        input = &input[r.consumed..];
                        msg.extend_from_slice(&out[..r.written]);
                        if r.status != InflateStatus::OutputFull {
                            break;
                        }
                    }
                    Err(e) => return (done, Some(e)),
                }
            }
        }
        done.push(msg);
    }
    (done, None)
}

#[test]
fn results_do_not_depend_on_chunking() {
    // Fuzzer finds: invalid UTF-8 produced just before corrupt data; data after a BFINAL block
    // whose bits the decoder had already read in an earlier call.
    let cases: [(&[&[u8]], u64); 3] = [
        (
            &[
                b"",
                &[
                    0xf2, 0x00, 0x11, 0x41, 0x00, 0xcd, 0xc9, 0xc9, 0xc9, 0x07, 0x00, 0xf2, 0xc9,
                    0x07, 0x00, 0xf2, 0x00, 0x11, 0x00, 0x00,
                ],
            ],
            4096,
        ),
        (&[b"", &[0x03, 0x05, 0xfa]], 512),
        (
            &[&[0x00, 0xfa, 0x05, 0x48, 0x00, 0x40, 0x9a, 0x6c, 0x6c, 0x6f]],
            4096,
        ),
    ];
    for (messages, limit) in cases {
        for nct in [false, true] {
            let mut a = Agreed::DEFAULT;
            a.inflate_no_context_takeover = nct;
            let whole = inflate_all(messages, &a, limit, usize::MAX, 1 << 20);
            for (in_step, out_step) in [(1, 1), (3, 8), (60, 8), (2, 47)] {
                assert_eq!(
                    inflate_all(messages, &a, limit, in_step, out_step),
                    whole,
                    "{messages:02x?} {in_step} {out_step}"
                );
            }
        }
    }
    // Data after a final block is skipped: the message ends with the block.
    let mut inf = Inflater::new(&Agreed::DEFAULT, 1 << 20);
    assert_eq!(
        inflate(
            &mut inf,
            &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xde, 0xad]
        ),
        b"Hello"
    );
    assert_eq!(inflate(&mut inf, &HELLO), b"Hello");
}
