//! Hostile inputs: each case asserts the error with its close code or HTTP status, and a bound on
//! the heap used inside the library calls, measured by a counting global allocator.
//!
//! The allocator counts per thread, and only inside [`measure`]: the test harness runs tests on
//! parallel threads, and the library never spawns one, so what a thread counts is exactly what its
//! own measured calls allocated. Inputs and output buffers are built before measuring; where a
//! case reassembles into a `Vec`, the `Vec` starts empty inside the measurement, so its growth is
//! counted.
//!
//! Two peaks are kept: `live`, the most bytes allocated and not yet freed (a `realloc` counts its
//! net change), and `transient`, which also counts both blocks of a moving `realloc`.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::{raw_frame_into, raw_header_into};
use sockless::handshake::{ClientHandshake, ClientRequest, Request, ServerHandshake, EMPTY_HEADER};
#[cfg(feature = "alloc")]
use sockless::message::{Assembler, Message};
use sockless::{
    CloseCode, Config, Connection, Event, HandshakeError, ProtocolError, RandomError, Recv, State,
    Status,
};

// =============================================================================================
// The counting allocator
// =============================================================================================

struct Counting;

thread_local! {
    static MEASURING: Cell<bool> = const { Cell::new(false) };
    static CURRENT: Cell<isize> = const { Cell::new(0) };
    static PEAK_LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK_TRANSIENT: Cell<isize> = const { Cell::new(0) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// Records `grow` new bytes, then `shrink` freed ones (a moving `realloc` holds both for a while).
fn record(grow: usize, shrink: usize, new_block: bool) {
    // `try_with`: never panic inside the allocator, even while a thread's TLS is torn down. The
    // cells are `const` and have no destructor, so using them never allocates.
    let _ = MEASURING.try_with(|m| {
        if !m.get() {
            return;
        }
        let before = CURRENT.get();
        let transient = before + grow as isize;
        let after = transient - shrink as isize;
        CURRENT.set(after);
        PEAK_TRANSIENT.set(PEAK_TRANSIENT.get().max(transient));
        PEAK_LIVE.set(PEAK_LIVE.get().max(after));
        if new_block {
            ALLOCATIONS.set(ALLOCATIONS.get() + 1);
        }
    });
}

// SAFETY: every call is forwarded to `System` unchanged; the bookkeeping only touches `const`
// thread-locals of `Copy` types, which neither allocate nor unwind.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            record(layout.size(), 0, true);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            record(layout.size(), 0, true);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        record(0, layout.size(), false);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            record(new_size, layout.size(), true);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What a measured section did to the heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Heap {
    /// The most bytes live at once, above what was live when the section began.
    live: usize,
    /// The same, counting both blocks of a moving `realloc`.
    transient: usize,
    /// Allocations and reallocations.
    allocations: usize,
}

/// Runs `f`, counting the heap it uses on this thread.
fn measure<T>(f: impl FnOnce() -> T) -> (T, Heap) {
    CURRENT.set(0);
    PEAK_LIVE.set(0);
    PEAK_TRANSIENT.set(0);
    ALLOCATIONS.set(0);
    MEASURING.set(true);
    let r = f();
    MEASURING.set(false);
    let heap = Heap {
        live: PEAK_LIVE.get().max(0) as usize,
        transient: PEAK_TRANSIENT.get().max(0) as usize,
        allocations: ALLOCATIONS.get(),
    };
    (r, heap)
}

/// Prints a measurement (shown with `--nocapture`, for the report).
fn report(case: &str, heap: Heap) {
    println!(
        "heap: {case}: live {} B, transient {} B, {} allocations",
        heap.live, heap.transient, heap.allocations
    );
}

fn assert_no_heap(case: &str, heap: Heap) {
    report(case, heap);
    assert_eq!(
        heap,
        Heap {
            live: 0,
            transient: 0,
            allocations: 0
        },
        "{case}: the library allocated"
    );
}

#[test]
fn the_allocator_counts() {
    let (v, heap) = measure(|| {
        let mut v: Vec<u8> = Vec::with_capacity(100);
        v.extend_from_slice(&[1; 100]);
        v.reserve(1000);
        v
    });
    assert!(heap.live >= v.capacity() && heap.live <= v.capacity() + 100);
    assert!(heap.transient >= heap.live);
    assert_eq!(heap.allocations, 2);
    let ((), heap) = measure(|| drop(v));
    assert_eq!(heap.live, 0);
    assert_eq!(measure(|| ()).1.allocations, 0);
}

// =============================================================================================
// Helpers
// =============================================================================================

fn client_rng() -> impl FnMut(&mut [u8]) -> Result<(), RandomError> {
    let mut x = common::XorShift::new(7);
    move |dest: &mut [u8]| {
        for b in dest {
            *b = x.next() as u8;
        }
        Ok(())
    }
}

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// The code of the single Close frame in `out` (masked or not).
fn close_code_in(out: &[u8]) -> u16 {
    assert_eq!(out[0], 0x88, "not a Close: {out:x?}");
    let len = usize::from(out[1] & 0x7F);
    assert_eq!(len, 2, "a Close with a reason: {out:x?}");
    let (mask, body) = if out[1] & 0x80 != 0 {
        ([out[2], out[3], out[4], out[5]], &out[6..])
    } else {
        ([0; 4], &out[2..])
    };
    assert_eq!(body.len(), 2, "more than one frame: {out:x?}");
    u16::from_be_bytes([body[0] ^ mask[0], body[1] ^ mask[1]])
}

/// Feeds `input` to `conn` and flushes its output: the first error, the bytes consumed before it,
/// and the code of the Close it queued.
fn fail_with<R: sockless::RandomSource>(
    conn: &mut Connection<R>,
    input: &mut [u8],
    out: &mut [u8],
) -> (ProtocolError, usize, u16) {
    let mut pos = 0;
    let (e, n) = loop {
        let r = conn.receive(&mut input[pos..]);
        pos += r.consumed;
        match r.result {
            Err(e) => {
                let n = conn.poll_transmit(out).unwrap();
                break (e, n);
            }
            Ok(Recv::Event(_)) => {}
            other => panic!("expected an error, got {other:?} at {pos}"),
        }
    };
    (e, pos, close_code_in(&out[..n]))
}

const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

/// A valid upgrade request with `extra` header lines (given whole, without the CRLF).
fn request_with(extra: &[&[u8]]) -> Vec<u8> {
    let mut v =
        Vec::with_capacity(REQUEST.len() + extra.iter().map(|e| e.len() + 2).sum::<usize>() + 2);
    v.extend_from_slice(REQUEST);
    for line in extra {
        v.extend_from_slice(line);
        v.extend_from_slice(b"\r\n");
    }
    v.extend_from_slice(b"\r\n");
    v
}

/// The default configuration with a 4 MiB head, so that the header parsers run on huge values.
fn big_head_config() -> Config {
    let mut c = Config::default();
    c.handshake.max_head_len = 4 << 20;
    c
}

/// What a valid request holds, counted by walking its iterators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Counts {
    len: usize,
    headers: usize,
    protocols: usize,
    extensions: usize,
    params: usize,
    /// Bytes of parameter values, unescaped.
    value_bytes: usize,
}

fn counts(req: &Request<'_, '_>) -> Counts {
    let mut params = 0;
    let mut value_bytes = 0;
    for e in req.extensions() {
        for p in e.params() {
            params += 1;
            value_bytes += p.value().map_or(0, |v| v.unescaped().count());
        }
    }
    Counts {
        len: req.len(),
        headers: req.headers().len(),
        protocols: req.protocols().count(),
        extensions: req.extensions().count(),
        params,
        value_bytes,
    }
}

/// Parses a whole request with `config` and a 64-header array, and counts what it holds.
fn parse_request(config: Config, input: &[u8]) -> Result<Counts, HandshakeError> {
    let mut headers = [EMPTY_HEADER; 64];
    match ServerHandshake::new(config).parse(input, &mut headers)? {
        Status::Partial => panic!("partial"),
        Status::Complete(req) => Ok(counts(&req)),
    }
}

fn status_line(e: HandshakeError) -> Vec<u8> {
    let mut out = [0u8; 256];
    let n = ServerHandshake::new(Config::default())
        .write_error(e, &mut out)
        .unwrap();
    out[..n].split(|&b| b == b'\r').next().unwrap().to_vec()
}

// =============================================================================================
// Frames
// =============================================================================================

#[test]
fn a_64_bit_length_with_the_top_bit_set_is_1002() {
    // Server (masked) and client (unmasked) receivers; the whole header and only the byte that
    // carries the bit.
    let masked = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
    let unmasked = [0x82, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
    for cut in [3, 10, 14] {
        let mut input = masked;
        let mut out = [0u8; 16];
        let mut server = Connection::server(Config::default());
        let (r, heap) = measure(|| fail_with(&mut server, &mut input[..cut], &mut out));
        assert_eq!(r, (ProtocolError::LengthOverflow, 0, 1002));
        assert_eq!(
            ProtocolError::LengthOverflow.close_code(),
            CloseCode::PROTOCOL_ERROR
        );
        assert_eq!(server.state(), State::Closed);
        assert_no_heap("top bit set, server", heap);
    }
    for cut in [3, 10] {
        let mut input = unmasked;
        let mut out = [0u8; 16];
        let mut client = Connection::client(Config::default(), client_rng());
        let (r, heap) = measure(|| fail_with(&mut client, &mut input[..cut], &mut out));
        assert_eq!(r, (ProtocolError::LengthOverflow, 0, 1002));
        assert_no_heap("top bit set, client", heap);
    }
}

#[test]
fn a_frame_declaring_2_pow_62_bytes_is_1009_at_the_header() {
    let mut header = Vec::new();
    raw_header_into(&mut header, true, 0, 2, Some(KEY), 1 << 62);
    // Default limits: FrameTooLong (16 MiB frames).
    let mut out = [0u8; 16];
    let mut server = Connection::server(Config::default());
    let mut input = header.clone();
    let (r, heap) = measure(|| fail_with(&mut server, &mut input, &mut out));
    assert_eq!(r, (ProtocolError::FrameTooLong, 0, 1009));
    assert_no_heap("2^62 frame, default limits", heap);

    // Frames unlimited, messages limited: MessageTooLong, still at the header.
    let mut config = Config::default();
    config.max_frame_len = u64::MAX;
    let mut server = Connection::server(config);
    let mut input = header.clone();
    let (r, heap) = measure(|| fail_with(&mut server, &mut input, &mut out));
    assert_eq!(r, (ProtocolError::MessageTooLong, 0, 1009));
    assert_no_heap("2^62 frame, unlimited frames", heap);

    // Nothing limited: the header is taken and 1 MiB of payload streams through in place, in
    // 64 KiB reads, with nothing buffered.
    config.max_message_len = u64::MAX;
    let mut server = Connection::server(config);
    let mut input = header.clone();
    input.resize(header.len() + (1 << 20), 0xAB);
    let (delivered, heap) = measure(|| {
        let r = server.receive(&mut input[..header.len()]);
        assert_eq!((r.consumed, r.result), (header.len(), Ok(Recv::NeedInput)));
        let mut delivered = 0;
        for piece in input[header.len()..].chunks_mut(64 << 10) {
            let n = piece.len();
            let r = server.receive(piece);
            assert_eq!(r.consumed, n);
            let Ok(Recv::Event(Event::Data {
                payload,
                frame_done: false,
                ..
            })) = r.result
            else {
                panic!("{:?}", r.result);
            };
            delivered += payload.len();
        }
        delivered
    });
    assert_eq!(delivered, 1 << 20);
    assert_eq!(server.state(), State::Open);
    assert_no_heap("2^62 frame, no limits, 1 MiB streamed", heap);
}

#[cfg(feature = "alloc")]
/// A binary message of `n` fragments with `len` payload bytes each, masked, for a server.
fn fragmented_message(n: usize, len: usize) -> Vec<u8> {
    let mut wire = Vec::with_capacity(n * (6 + len));
    let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
    for i in 0..n {
        let opcode = if i == 0 { 2 } else { 0 };
        raw_frame_into(&mut wire, i + 1 == n, 0, opcode, Some(KEY), &payload);
    }
    wire
}

#[cfg(feature = "alloc")]
/// Receives `wire` whole into a `Vec` assembler. Returns the message length (or the error and
/// where it happened), the number of pieces, and the assembler's capacity at the end.
fn assemble(
    config: Config,
    wire: &mut [u8],
) -> (Result<usize, (ProtocolError, usize)>, usize, usize) {
    let mut server = Connection::server(config);
    let mut assembler = Assembler::new(Vec::new());
    let mut pos = 0;
    let mut pieces = 0;
    let mut out = [0u8; 16];
    let result = loop {
        let r = server.receive(&mut wire[pos..]);
        pos += r.consumed;
        match r.result {
            Ok(Recv::Event(Event::Data {
                kind,
                payload,
                message_done,
                ..
            })) => {
                pieces += 1;
                if let Some(m) = assembler.push(kind, payload, message_done).unwrap() {
                    let Message::Binary(b) = m else { panic!() };
                    // Every fragment carried byte 0 (or nothing).
                    assert!(b.iter().all(|&x| x == 0));
                    break Ok(b.len());
                }
            }
            Err(e) => {
                let n = server.poll_transmit(&mut out).unwrap();
                assert_eq!(close_code_in(&out[..n]), 1009);
                break Err((e, pos));
            }
            other => panic!("{other:?} at {pos}"),
        }
    };
    let capacity = assembler.buffer_mut().capacity();
    (result, pieces, capacity)
}

#[cfg(feature = "alloc")]
#[test]
fn a_million_empty_fragments() {
    const N: usize = 1_000_000;
    let mut wire = fragmented_message(N, 0);
    let mut limited = Config::default();
    limited.max_message_len = 100_000;
    for (name, config) in [
        ("default limits", Config::default()),
        ("100 KB limit", limited),
    ] {
        let ((result, pieces, capacity), heap) = measure(|| assemble(config, &mut wire));
        // No byte ever crosses a length limit, and no memory is spent on empty frames.
        assert_eq!(result, Ok(0));
        assert_eq!(pieces, N);
        assert_eq!(capacity, 0);
        assert_no_heap(&format!("a million empty fragments, {name}"), heap);
    }
}

#[cfg(feature = "alloc")]
#[test]
fn a_million_one_byte_fragments() {
    const N: usize = 1_000_000;
    let mut wire = fragmented_message(N, 1);

    // Default limits: the message is received, and the only heap is the assembler's buffer.
    let ((result, pieces, capacity), heap) = measure(|| assemble(Config::default(), &mut wire));
    assert_eq!(result, Ok(N));
    assert_eq!(pieces, N);
    report("a million 1-byte fragments, default limits", heap);
    assert_eq!(
        heap.live, capacity,
        "something besides the message buffer stayed allocated"
    );
    assert!(capacity < 2 * N, "capacity {capacity}");
    assert!(heap.transient <= capacity + capacity / 2 + 64);

    // A 100 KB limit: 1009 on the header of fragment 100,000 (0-based), before its byte.
    let mut config = Config::default();
    config.max_message_len = 100_000;
    let ((result, pieces, capacity), heap) = measure(|| assemble(config, &mut wire));
    assert_eq!(result, Err((ProtocolError::MessageTooLong, 100_000 * 7)));
    assert_eq!(pieces, 100_000);
    report("a million 1-byte fragments, 100 KB limit", heap);
    assert_eq!(heap.live, capacity);
    assert!(capacity <= 2 * 100_000, "capacity {capacity}");
}

#[test]
fn ten_thousand_pings_get_ten_thousand_pongs_in_order() {
    const N: usize = 10_000;
    let payload = |i: usize| -> [u8; 125] {
        let mut p = [0u8; 125];
        p[..2].copy_from_slice(&(i as u16).to_be_bytes());
        for (j, b) in p[2..].iter_mut().enumerate() {
            *b = (i + j) as u8;
        }
        p
    };
    let mut wire = Vec::with_capacity(N * 131);
    for i in 0..N {
        raw_frame_into(&mut wire, true, 0, 9, Some(KEY), &payload(i));
    }
    let mut out = vec![0u8; N * 127];
    let mut server = Connection::server(Config::default());
    let ((pings, need_flush, written), heap) = measure(|| {
        let (mut pos, mut written, mut pings, mut need_flush) = (0, 0, 0, 0);
        loop {
            let r = server.receive(&mut wire[pos..]);
            pos += r.consumed;
            match r.result {
                Ok(Recv::Event(Event::Ping(p))) => {
                    assert_eq!(p, payload(pings));
                    pings += 1;
                }
                Ok(Recv::NeedFlush) => {
                    assert_eq!(r.consumed, 0);
                    // Back-pressure holds until the flush: nothing more is consumed.
                    let again = server.receive(&mut wire[pos..]);
                    assert_eq!((again.consumed, again.result), (0, Ok(Recv::NeedFlush)));
                    need_flush += 1;
                    written += server.poll_transmit(&mut out[written..]).unwrap();
                }
                Ok(Recv::NeedInput) => break,
                other => panic!("{other:?}"),
            }
        }
        written += server.poll_transmit(&mut out[written..]).unwrap();
        (pings, need_flush, written)
    });
    assert_eq!((pings, need_flush), (N, N - 1));
    assert!(!server.wants_transmit());
    assert_eq!(written, N * 127);
    for (i, pong) in out.chunks(127).enumerate() {
        assert_eq!(pong[..2], [0x8A, 125], "pong {i}");
        assert_eq!(pong[2..], payload(i), "pong {i}");
    }
    // The connection's state is fixed-size (the crate docs promise at most 192 bytes).
    assert!(std::mem::size_of::<Connection>() <= 192);
    assert_no_heap("10,000 pings", heap);
}

// =============================================================================================
// Handshake heads
// =============================================================================================

#[test]
fn a_head_fed_one_byte_at_a_time_fails_with_431_exactly_at_the_limit() {
    let limit = Config::default().handshake.max_head_len;
    // No blank line ever: fails when the buffer reaches the limit (the head can then only be
    // longer than the limit), and every later call fails the same way.
    let mut endless = b"GET / HTTP/1.1\r\nX-Pad: ".to_vec();
    endless.resize(limit + 100, b'a');
    let mut hs = ServerHandshake::new(Config::default());
    let (first_error, heap) = measure(|| {
        let mut first_error = None;
        for i in 1..=endless.len() {
            let mut headers = [EMPTY_HEADER; 64];
            match hs.parse(&endless[..i], &mut headers) {
                Ok(Status::Partial) => assert!(first_error.is_none(), "partial again at {i}"),
                Err(HandshakeError::HeadTooLarge) => {
                    first_error.get_or_insert(i);
                }
                Err(e) => panic!("{e:?} at {i}"),
                Ok(Status::Complete(_)) => panic!("complete at {i}"),
            }
        }
        first_error
    });
    assert_eq!(first_error, Some(limit));
    assert_eq!(HandshakeError::HeadTooLarge.status(), 431);
    assert_eq!(
        status_line(HandshakeError::HeadTooLarge),
        b"HTTP/1.1 431 Request Header Fields Too Large"
    );
    assert_no_heap("head one byte at a time past max_head_len", heap);

    // A valid head of exactly the limit is accepted; one byte more is refused when the buffer
    // reaches the limit. Server and client alike.
    for (extra, expect) in [(0, Ok(limit)), (1, Err(limit))] {
        let pad = limit + extra - request_with(&[b"X-Pad: "]).len();
        let pad_line = [b"X-Pad: ".as_slice(), &vec![b'a'; pad]].concat();
        let head = request_with(&[&pad_line]);
        assert_eq!(head.len(), limit + extra);
        let mut hs = ServerHandshake::new(Config::default());
        let (r, heap) = measure(|| {
            byte_by_byte(&head, |input| {
                let mut headers = [EMPTY_HEADER; 64];
                hs.parse(input, &mut headers)
                    .map(|s| matches!(s, Status::Complete(_)))
            })
        });
        assert_eq!(r, expect, "server, head of {} bytes", head.len());
        assert_no_heap("server head at the limit", heap);

        let mut out = [0u8; 512];
        let (mut client, _) = ClientHandshake::new(
            ClientRequest::new("example.com", "/"),
            Config::default(),
            client_rng(),
            &mut out,
        )
        .unwrap();
        let mut response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\nX-Pad: ",
            client.expected_accept().as_str()
        )
        .into_bytes();
        response.resize(limit + extra - 4, b'a');
        response.extend_from_slice(b"\r\n\r\n");
        let (r, heap) = measure(|| {
            byte_by_byte(&response, |input| {
                let mut headers = [EMPTY_HEADER; 64];
                client
                    .parse(input, &mut headers)
                    .map(|s| matches!(s, Status::Complete(_)))
            })
        });
        assert_eq!(r, expect, "client, head of {} bytes", response.len());
        assert_no_heap("client head at the limit", heap);
    }
}

/// Calls `parse` on every prefix of `head`: `Ok(i)` if it completed at prefix `i` (and never
/// before), `Err(i)` if it failed with `HeadTooLarge` at prefix `i`.
fn byte_by_byte(
    head: &[u8],
    mut parse: impl FnMut(&[u8]) -> Result<bool, HandshakeError>,
) -> Result<usize, usize> {
    for i in 1..=head.len() {
        match parse(&head[..i]) {
            Ok(false) => {}
            Ok(true) => return Ok(i),
            Err(HandshakeError::HeadTooLarge) => return Err(i),
            Err(e) => panic!("{e:?} at {i}"),
        }
    }
    panic!("never completed")
}

#[test]
fn ten_thousand_headers_are_431() {
    let lines: Vec<&[u8]> = vec![b"X-A: b"; 10_000];
    let head = request_with(&lines);
    // Default limits: the head is too large long before the header count matters.
    let (r, heap) = measure(|| parse_request(Config::default(), &head));
    assert_eq!(r, Err(HandshakeError::HeadTooLarge));
    assert_no_heap("10,000 headers, default limits", heap);

    // A 4 MiB head: too many headers, for the 64-slot array and for a huge caller array alike
    // (the configured `max_headers` caps it).
    let (r, heap) = measure(|| parse_request(big_head_config(), &head));
    assert_eq!(r, Err(HandshakeError::TooManyHeaders));
    assert_eq!(HandshakeError::TooManyHeaders.status(), 431);
    assert_no_heap("10,000 headers, 64-slot array", heap);

    let mut many = vec![EMPTY_HEADER; 20_000];
    let (r, heap) = measure(|| {
        ServerHandshake::new(big_head_config())
            .parse(&head, &mut many)
            .map(|_| ())
    });
    assert_eq!(r, Err(HandshakeError::TooManyHeaders));
    assert_no_heap("10,000 headers, 20,000-slot array", heap);

    // Both raised: parsed and validated, with no allocation either.
    let mut config = big_head_config();
    config.handshake.max_headers = 20_000;
    let (r, heap) = measure(|| {
        let mut hs = ServerHandshake::new(config);
        match hs.parse(&head, &mut many) {
            Ok(Status::Complete(req)) => Ok(counts(&req)),
            Ok(Status::Partial) => panic!("partial"),
            Err(e) => Err(e),
        }
    });
    assert_eq!(r.map(|c| c.headers), Ok(10_005));
    assert_no_heap("10,000 headers, limits raised", heap);
}

#[test]
fn a_header_line_of_one_mebibyte() {
    let line = [b"X-Big: ".as_slice(), &vec![b'a'; 1 << 20]].concat();
    let head = request_with(&[&line]);
    let (r, heap) = measure(|| parse_request(Config::default(), &head));
    assert_eq!(r, Err(HandshakeError::HeadTooLarge));
    assert_eq!(r.unwrap_err().status(), 431);
    assert_no_heap("1 MiB header line, default limits", heap);

    let (r, heap) = measure(|| parse_request(big_head_config(), &head));
    assert_eq!(r.map(|c| c.len), Ok(head.len()));
    assert_no_heap("1 MiB header line, 4 MiB head", heap);
}

const MIB: usize = 1 << 20;

/// `unit` repeated to about 1 MiB, between `prefix` and `suffix`.
fn repeat(prefix: &[u8], unit: &[u8], suffix: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(MIB + prefix.len() + suffix.len() + unit.len());
    v.extend_from_slice(prefix);
    while v.len() < MIB + prefix.len() {
        v.extend_from_slice(unit);
    }
    v.extend_from_slice(suffix);
    v
}

/// How many of something a valid list holds, in terms of the number of repeated units.
#[derive(Clone, Copy, Debug)]
enum N {
    Zero,
    One,
    Units,
}

/// A header value of about 1 MiB: `prefix`, `unit` repeated, `suffix`; and what the request then
/// holds (protocols, extensions, parameters, unescaped value bytes), or `None` for a 400.
struct ListCase {
    header: &'static str,
    prefix: &'static [u8],
    unit: &'static [u8],
    suffix: &'static [u8],
    expect: Option<[N; 4]>,
}

const EXT: &str = "Sec-WebSocket-Extensions";
const PROTO: &str = "Sec-WebSocket-Protocol";

const fn case(
    header: &'static str,
    prefix: &'static [u8],
    unit: &'static [u8],
    suffix: &'static [u8],
    expect: Option<[N; 4]>,
) -> ListCase {
    ListCase {
        header,
        prefix,
        unit,
        suffix,
        expect,
    }
}

#[test]
fn one_mebibyte_extension_and_protocol_lists() {
    use N::{One, Units, Zero};
    let cases = [
        case(EXT, b"a", b";a", b"", Some([Zero, One, Units, Zero])),
        case(EXT, b"a", b" ; a ", b"", Some([Zero, One, Units, Zero])),
        case(EXT, b"", b"a,", b"", Some([Zero, Units, Zero, Zero])),
        case(EXT, b"a", b";b=1", b"", Some([Zero, One, Units, Units])),
        case(EXT, b"a", b";b=\"x\"", b"", Some([Zero, One, Units, Units])),
        case(
            EXT,
            b"a; b=\"",
            b"\\a",
            b"\"",
            Some([Zero, One, One, Units]),
        ),
        case(EXT, b"", b",", b"", Some([Zero, Zero, Zero, Zero])),
        case(EXT, b"a", b" ", b";b", Some([Zero, One, One, Zero])),
        case(EXT, b"a; b=\"", b"\\\\", b"\"", None),
        case(EXT, b"a; b=\"", b"\\a", b"", None),
        case(EXT, b"a; b=\"", b"x", b"\\", None),
        case(EXT, b"", b";", b"", None),
        case(EXT, b"", b"a;a,", b"@", None),
        case(EXT, b"a", b";a=", b"", None),
        case(PROTO, b"", b"a,", b"", Some([Units, Zero, Zero, Zero])),
        case(PROTO, b"", b" a , ", b"", Some([Units, Zero, Zero, Zero])),
        case(PROTO, b"", b",", b"", Some([Zero, Zero, Zero, Zero])),
        case(PROTO, b"", b" , ", b"", Some([Zero, Zero, Zero, Zero])),
        case(PROTO, b"", b"a,", b"@", None),
        case(PROTO, b"", b"a ", b"", None),
        case(PROTO, b"", b"\"a\",", b"", None),
    ];
    for c in cases {
        let value = repeat(c.prefix, c.unit, c.suffix);
        let line = [c.header.as_bytes(), b": ", &value].concat();
        let head = request_with(&[&line]);
        let units = (value.len() - c.prefix.len() - c.suffix.len()) / c.unit.len();
        let count = |n: N| match n {
            Zero => 0,
            One => 1,
            Units => units,
        };
        let expect = match c.expect {
            Some(e) => Ok((count(e[0]), count(e[1]), count(e[2]), count(e[3]))),
            None => Err(HandshakeError::InvalidHeaderList),
        };
        let (r, heap) = measure(|| parse_request(big_head_config(), &head));
        let got = r.map(|c| (c.protocols, c.extensions, c.params, c.value_bytes));
        let what = format!(
            "{}: {:?} + {:?} x {units} + {:?}",
            c.header,
            String::from_utf8_lossy(c.prefix),
            String::from_utf8_lossy(c.unit),
            String::from_utf8_lossy(c.suffix)
        );
        assert_eq!(got, expect, "{what}");
        if let Err(e) = got {
            assert_eq!(e.status(), 400);
        }
        assert_no_heap(&what, heap);
    }
}

#[test]
fn accepting_from_a_one_mebibyte_protocol_list() {
    let value = repeat(b"", b"a,", b"chat");
    let line = [b"Sec-WebSocket-Protocol: ".as_slice(), &value].concat();
    let head = request_with(&[&line]);
    let mut out = [0u8; 512];
    let (r, heap) = measure(|| {
        let mut headers = [EMPTY_HEADER; 64];
        let mut hs = ServerHandshake::new(big_head_config());
        let Ok(Status::Complete(req)) = hs.parse(&head, &mut headers) else {
            panic!()
        };
        let last = req
            .accept(
                &sockless::handshake::Accept::new().protocol("chat"),
                &mut out,
            )
            .map(|(n, _)| n);
        let missing = req
            .accept(&sockless::handshake::Accept::new().protocol("zz"), &mut out)
            .map(|(n, _)| n);
        (last.is_ok(), missing)
    });
    assert_eq!(r, (true, Err(HandshakeError::ProtocolNotOffered)));
    assert_no_heap("accept from a 1 MiB protocol list", heap);
}

#[test]
fn a_client_given_one_mebibyte_lists() {
    let mut config = Config::default();
    config.handshake.max_head_len = 4 << 20;
    for (line, expect) in [
        (
            repeat(b"Sec-WebSocket-Extensions: ", b"a,", b""),
            Err(HandshakeError::ExtensionNotOffered),
        ),
        (repeat(b"Sec-WebSocket-Extensions: ", b" , ", b""), Ok(())),
        (
            repeat(b"Sec-WebSocket-Protocol: ", b"a,", b""),
            Err(HandshakeError::ProtocolNotOffered),
        ),
        (repeat(b"X-Big: ", b"a", b""), Ok(())),
    ] {
        let mut out = [0u8; 512];
        let (mut client, _) = ClientHandshake::new(
            ClientRequest::new("example.com", "/").protocols(&["chat"]),
            config,
            client_rng(),
            &mut out,
        )
        .unwrap();
        let mut response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n",
            client.expected_accept().as_str()
        )
        .into_bytes();
        response.extend_from_slice(&line);
        response.extend_from_slice(b"\r\n\r\n");
        let (r, heap) = measure(|| {
            let mut headers = [EMPTY_HEADER; 64];
            let Ok(Status::Complete(resp)) = client.parse(&response, &mut headers) else {
                panic!()
            };
            client
                .finish(&resp)
                .map(|c| assert_eq!(c.state(), State::Open))
        });
        assert_eq!(r, expect);
        assert_no_heap("client, 1 MiB header list", heap);
    }
}

// =============================================================================================
// Work per input byte
// =============================================================================================

/// The head scanner resumes where it stopped: bytes it has looked at are never looked at again.
/// Shown by changing them behind its back (which a caller must never do): a blank line planted in
/// the part already scanned is not found, and the head ends where the appended bytes end it.
/// Feeding a head one byte at a time therefore examines each byte once (n parse calls on a buffer
/// of n bytes cost O(n) scanning, not O(n^2)); `httparse` runs once, on the complete head.
#[test]
fn the_head_scanner_never_rescans() {
    let head = request_with(&[b"X-Pad: 0123456789"]);
    let k = head.len() - 2; // up to the final CRLF
    for server in [true, false] {
        let mut buf = head.clone();
        let mut out = [0u8; 512];
        let (client, _) = ClientHandshake::new(
            ClientRequest::new("example.com", "/"),
            Config::default(),
            client_rng(),
            &mut out,
        )
        .unwrap();
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\nX-Pad: 0123456789\r\n\r\n",
            client.expected_accept().as_str()
        );
        if !server {
            buf = response.into_bytes();
        }
        let k = if server { k } else { buf.len() - 2 };
        let mut sh = ServerHandshake::new(Config::default());
        let mut ch = client;
        let mut parse = |input: &[u8]| -> Result<Option<usize>, HandshakeError> {
            let mut headers = [EMPTY_HEADER; 64];
            if server {
                sh.parse(input, &mut headers).map(|s| match s {
                    Status::Complete(r) => Some(r.len()),
                    Status::Partial => None,
                })
            } else {
                ch.parse(input, &mut headers).map(|s| match s {
                    Status::Complete(r) => Some(r.len()),
                    Status::Partial => None,
                })
            }
        };
        for i in 1..=k {
            assert_eq!(parse(&buf[..i]), Ok(None));
        }
        // Plant a blank line at the start of what was scanned: still partial with one more byte.
        let original = buf.clone();
        buf[..4].copy_from_slice(b"\n\n\n\n");
        assert_eq!(parse(&buf[..k + 1]), Ok(None));
        // Restore the bytes and finish: the head ends at its real end.
        buf.copy_from_slice(&original);
        assert_eq!(parse(&buf), Ok(Some(buf.len())));
    }
}

/// The list iterators make one forward pass: every item is a slice of the header value, after the
/// previous one and not overlapping it.
#[test]
fn list_items_come_from_one_forward_pass() {
    let protocols = repeat(b"", b" p , ", b"");
    let extensions = repeat(b"e; a=1; b=\"x\", ", b"f ; g ; h=\"\\i\" , ", b"");
    let lines = [
        [b"Sec-WebSocket-Protocol: ".as_slice(), &protocols].concat(),
        [b"Sec-WebSocket-Extensions: ".as_slice(), &extensions].concat(),
    ];
    let head = request_with(&[&lines[0], &lines[1]]);
    let mut headers = [EMPTY_HEADER; 64];
    let mut hs = ServerHandshake::new(big_head_config());
    let Ok(Status::Complete(req)) = hs.parse(&head, &mut headers) else {
        panic!()
    };
    let base = head.as_ptr() as usize;
    let offset = |s: &[u8]| s.as_ptr() as usize - base;
    let check = |kind: &str, items: &mut dyn Iterator<Item = &[u8]>| {
        let mut end = 0;
        let mut count = 0;
        for s in items {
            let at = offset(s);
            assert!(
                at >= end && at + s.len() <= head.len(),
                "{kind} item {count} goes back"
            );
            end = at + s.len();
            count += 1;
        }
        count
    };
    let ((n_protocols, n_extensions, n_params), heap) = measure(|| {
        let p = check("protocol", &mut req.protocols().map(str::as_bytes));
        let e = check(
            "extension",
            &mut req.extensions().map(|e| e.name().as_bytes()),
        );
        let mut params = 0;
        for e in req.extensions() {
            let mut names = e.params().map(|p| p.name().as_bytes());
            params += check("param", &mut names);
        }
        (p, e, params)
    });
    assert_eq!(n_protocols, protocols.len() / 5);
    assert!(n_extensions > 60_000);
    assert!(n_params > 2 * n_extensions - 2);
    assert_no_heap("walking 1 MiB lists", heap);
}

/// A Pong cannot go out in the middle of a frame being streamed with `send_header`: while one is,
/// `poll_transmit` writes nothing and a second Ping keeps `receive` at `NeedFlush` (consuming
/// nothing) until the frame's payload is complete. A driver must finish the frame to make
/// progress; nothing grows meanwhile.
#[test]
fn pings_during_a_streamed_frame_wait_for_its_end() {
    let mut wire = Vec::new();
    raw_frame_into(&mut wire, true, 0, 9, Some(KEY), b"one");
    raw_frame_into(&mut wire, true, 0, 9, Some(KEY), b"two");
    let mut server = Connection::server(Config::default());
    let mut header = [0u8; 14];
    let mut payload = *b"0123456789";
    let mut out = [0u8; 64];
    let (written, heap) = measure(|| {
        server
            .send_header(sockless::DataKind::Binary, 10, true, &mut header)
            .unwrap();
        let r = server.receive(&mut wire);
        assert_eq!(
            (r.consumed, r.result),
            (9, Ok(Recv::Event(Event::Ping(b"one"))))
        );
        for _ in 0..3 {
            let r = server.receive(&mut wire[9..]);
            assert_eq!((r.consumed, r.result), (0, Ok(Recv::NeedFlush)));
            assert!(!server.wants_transmit());
            assert_eq!(server.poll_transmit(&mut out), Ok(0));
        }
        server.send_payload(&mut payload).unwrap();
        let n = server.poll_transmit(&mut out).unwrap();
        let r = server.receive(&mut wire[9..]);
        assert_eq!(
            (r.consumed, r.result),
            (9, Ok(Recv::Event(Event::Ping(b"two"))))
        );
        n + server.poll_transmit(&mut out[n..]).unwrap()
    });
    assert_eq!(&out[..written], b"\x8a\x03one\x8a\x03two");
    assert_no_heap("pings during a streamed frame", heap);
}
