//! Allocation as a test, not a timing: a counting global allocator shows that the streaming API
//! allocates nothing per frame (receive, poll_transmit and send, for either role), and that
//! reassembly into `Assembler<Vec<u8>>` grows one buffer, reused by every later message, with no
//! allocation for a message that arrives in one piece.
//!
//! Counts are per thread (the test harness and other tests allocate on their own threads).
#![cfg(feature = "alloc")]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::{raw_frame_into, TestRng, XorShift};
use sockless::message::{Assembler, Incoming, Message};
use sockless::{Config, Connection, Event, Outgoing, Recv};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static REALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn bump(counter: &'static std::thread::LocalKey<Cell<u64>>) {
    // `try_with`: the thread's counters may be gone while it exits.
    let _ = counter.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are
// const-initialised thread locals without destructors, so touching them never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump(&ALLOCS);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump(&ALLOCS);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump(&REALLOCS);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations and reallocations made on this thread while `f` runs.
fn counted<T>(f: impl FnOnce() -> T) -> (T, u64, u64) {
    let (a, r) = (ALLOCS.with(Cell::get), REALLOCS.with(Cell::get));
    let out = f();
    (
        out,
        ALLOCS.with(Cell::get) - a,
        REALLOCS.with(Cell::get) - r,
    )
}

const MASK: Option<[u8; 4]> = Some([0x37, 0xFA, 0x21, 0x3D]);

/// Client-to-server wire and its number of data frames: `n` messages of every shape the streaming API handles (text and binary,
/// small, 64 KiB, fragmented, with Pings between fragments).
fn mixed_wire(n: usize) -> (Vec<u8>, usize) {
    let mut rng = XorShift::new(9);
    let mut wire = Vec::new();
    let mut frames = 0;
    let text = "añ€😀 plain ascii ".repeat(4000);
    for i in 0..n {
        let len = match i % 4 {
            0 => rng.upto(16),
            1 => rng.upto(1000),
            2 => 65_536,
            _ => rng.upto(40_000),
        };
        let opcode = if i % 2 == 0 { 0x1 } else { 0x2 };
        // Whole characters of the text, about `len` bytes.
        let mut cut = len;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let payload = &text.as_bytes()[..cut];
        if i % 3 == 0 {
            let half = payload.len() / 2;
            raw_frame_into(&mut wire, false, 0, opcode, MASK, &payload[..half]);
            raw_frame_into(&mut wire, true, 0, 0x9, MASK, b"ping");
            raw_frame_into(&mut wire, true, 0, 0x0, MASK, &payload[half..]);
            frames += 2;
        } else {
            raw_frame_into(&mut wire, true, 0, opcode, MASK, payload);
            frames += 1;
        }
    }
    (wire, frames)
}

/// The documented driving loop over `wire`, 64 KiB reads into a 64 KiB receive buffer, flushing
/// `poll_transmit` after each read; returns (data pieces, payload bytes, Pongs bytes written).
fn drive_server(wire: &[u8], rbuf: &mut [u8], wbuf: &mut [u8]) -> (usize, usize, usize) {
    let mut conn = Connection::server(Config::default());
    let (mut read, mut filled) = (0, 0);
    let (mut pieces, mut bytes, mut written) = (0, 0, 0);
    while read < wire.len() || filled > 0 {
        let k = (wire.len() - read).min(rbuf.len() - filled);
        rbuf[filled..filled + k].copy_from_slice(&wire[read..read + k]);
        read += k;
        filled += k;
        let mut pos = 0;
        while pos < filled {
            let r = conn.receive(&mut rbuf[pos..filled]);
            pos += r.consumed;
            match r.result.expect("valid wire") {
                Recv::Event(Event::Data { payload, .. }) => {
                    pieces += 1;
                    bytes += payload.len();
                }
                Recv::Event(_) => {}
                Recv::NeedFlush => written += conn.poll_transmit(wbuf).expect("flush"),
                Recv::NeedInput | Recv::Closed => break,
            }
        }
        rbuf.copy_within(pos..filled, 0);
        filled -= pos;
        loop {
            let n = conn.poll_transmit(wbuf).expect("flush");
            if n == 0 {
                break;
            }
            written += n;
        }
        if k == 0 && filled > 0 {
            panic!("{filled} bytes left over");
        }
    }
    (pieces, bytes, written)
}

#[test]
fn streaming_receive_and_send_allocate_nothing() {
    let (wire, frames) = mixed_wire(400);
    let mut rbuf = vec![0u8; 64 * 1024];
    let mut wbuf = vec![0u8; 70 * 1024];
    let ((pieces, bytes, pongs), allocs, reallocs) =
        counted(|| drive_server(&wire, &mut rbuf, &mut wbuf));
    assert!(
        pieces >= frames && bytes > 5_000_000 && pongs > 0,
        "{pieces} pieces of {frames} frames, {bytes} bytes, {pongs} bytes of Pongs"
    );
    assert_eq!((allocs, reallocs), (0, 0), "receive over {frames} frames");

    let payload = vec![0x42u8; 65_536];
    let text = "añ€😀".repeat(1000);
    let (sent, allocs, reallocs) = counted(|| {
        let mut server = Connection::server(Config::default());
        let mut client = Connection::client(Config::default(), TestRng::new(3));
        let mut sent = 0;
        for i in 0..10_000 {
            let len = [0, 16, 125, 1000, 65_536][i % 5];
            for conn_out in [
                server.send(Outgoing::Binary(&payload[..len]), &mut wbuf),
                client.send(Outgoing::Binary(&payload[..len]), &mut wbuf),
                client.send(Outgoing::Text(&text), &mut wbuf),
                client.send(Outgoing::Ping(b"hb"), &mut wbuf),
            ] {
                sent += conn_out.expect("send");
            }
        }
        sent
    });
    assert!(sent > 300_000_000);
    assert_eq!((allocs, reallocs), (0, 0), "40,000 sends");
}

#[cfg(feature = "getrandom")]
#[test]
fn os_random_sends_allocate_nothing() {
    let mut wbuf = vec![0u8; 256];
    let (_, allocs, reallocs) = counted(|| {
        let mut client = Connection::client(Config::default(), sockless::OsRandom::new());
        for _ in 0..10_000 {
            client
                .send(Outgoing::Binary(b"16 bytes payload"), &mut wbuf)
                .expect("send");
        }
    });
    assert_eq!((allocs, reallocs), (0, 0));
}

/// Per message, how many allocations and reallocations reassembly made, driving the assembler the
/// documented way over `wire` (one `receive` per piece).
fn reassemble(wire: &mut [u8], assembler: &mut Assembler<Vec<u8>>) -> Vec<(usize, u64, u64)> {
    let mut conn = Connection::server(Config::default());
    let mut per_message = Vec::with_capacity(1000);
    let (mut pos, mut a0, mut r0) = (0, ALLOCS.with(Cell::get), REALLOCS.with(Cell::get));
    while pos < wire.len() {
        let r = assembler.receive(&mut conn, &mut wire[pos..]);
        pos += r.consumed;
        match r.result.expect("valid wire") {
            Incoming::Message(m) => {
                let len = match m {
                    Message::Text(t) => t.len(),
                    Message::Binary(b) => b.len(),
                };
                let (a, r) = (ALLOCS.with(Cell::get), REALLOCS.with(Cell::get));
                // `per_message` has its capacity: pushing does not allocate.
                per_message.push((len, a - a0, r - r0));
                (a0, r0) = (a, r);
            }
            Incoming::Pending | Incoming::Event(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    per_message
}

#[test]
fn reassembly_grows_one_buffer_and_whole_messages_need_none() {
    let text = "añ€😀".repeat(64 * 1024 / 10);
    let mut wire = Vec::new();
    // 100 messages in one frame each, then 100 of 64 KiB in 16 fragments, then 100 in one frame.
    for _ in 0..100 {
        raw_frame_into(&mut wire, true, 0, 0x1, MASK, &text.as_bytes()[..1000]);
    }
    for _ in 0..100 {
        let bytes = text.as_bytes();
        let step = bytes.len().div_ceil(16);
        for (i, piece) in bytes.chunks(step).enumerate() {
            let opcode = if i == 0 { 0x1 } else { 0x0 };
            raw_frame_into(
                &mut wire,
                (i + 1) * step >= bytes.len(),
                0,
                opcode,
                MASK,
                piece,
            );
        }
    }
    for _ in 0..100 {
        raw_frame_into(&mut wire, true, 0, 0x2, MASK, &[7; 60_000]);
    }
    let mut assembler = Assembler::new(Vec::new());
    let per_message = reassemble(&mut wire, &mut assembler);
    assert_eq!(per_message.len(), 300);
    let (whole_first, rest) = per_message.split_at(100);
    let (fragmented, whole_last) = rest.split_at(100);
    assert!(whole_first
        .iter()
        .chain(whole_last)
        .all(|&(_, a, r)| a == 0 && r == 0));
    // The first fragmented message allocates the one buffer and grows it (a Vec doubles, so
    // at most log2(16) = 4 reallocations for 16 pieces); every later one reuses it.
    let (len, allocs, reallocs) = fragmented[0];
    assert_eq!((len, allocs), (text.len(), 1));
    assert!(reallocs <= 4, "{reallocs} reallocations");
    assert!(fragmented[1..].iter().all(|&(_, a, r)| a == 0 && r == 0));
    println!(
        "first fragmented message: {allocs} allocation, {reallocs} reallocations; \
         the other 299 messages: none"
    );

    // A buffer given its capacity up front grows not at all.
    let mut assembler = Assembler::new(Vec::with_capacity(64 * 1024));
    let mut wire2 = Vec::new();
    let step = text.len().div_ceil(16);
    for (i, piece) in text.as_bytes().chunks(step).enumerate() {
        let opcode = if i == 0 { 0x1 } else { 0x0 };
        raw_frame_into(
            &mut wire2,
            (i + 1) * step >= text.len(),
            0,
            opcode,
            MASK,
            piece,
        );
    }
    let per_message = reassemble(&mut wire2, &mut assembler);
    assert_eq!(per_message, [(text.len(), 0, 0)]);
}
