//! A table-driven RFC 6455 conformance corpus for the receive side of `Connection`, both roles.
//!
//! Every row (a [`harness::Case`]) names its input as frames, the events it must produce (whole
//! messages, pings, pongs, the peer's Close), the error if any with the close code it must put on
//! the wire, and, derived from RFC 6455 unless the row overrides it, the frames the endpoint must
//! write back through `poll_transmit` (a Pong per Ping in order, the Close echo, the error's
//! Close), its final state and the bytes it must leave unread. Each row is run whole, one byte at
//! a time and in five seeded random chunkings, with the driving loop of the crate docs, and once
//! more whole with `poll_transmit` flushed after every event; every run must agree with the row
//! and with the others, the bytes written included.
//!
//! The cases are our own, written from the RFC text, one module per area.

#[path = "conformance/bits.rs"]
mod bits;
#[path = "conformance/closing.rs"]
mod closing;
#[path = "common/mod.rs"]
mod common;
#[path = "conformance/control.rs"]
mod control;
#[path = "conformance/fragmentation.rs"]
mod fragmentation;
#[path = "conformance/framing.rs"]
mod framing;
#[path = "conformance/harness.rs"]
mod harness;
#[path = "conformance/limits.rs"]
mod limits;
#[path = "conformance/utf8.rs"]
mod utf8;

use std::time::Instant;

use harness::{run_cases, Area, Case, Tally};

fn cases(area: Area) -> Vec<Case> {
    match area {
        Area::Framing => framing::cases(),
        Area::PingPong => control::cases(),
        Area::ReservedBits => bits::reserved_bits(),
        Area::Opcodes => bits::opcodes(),
        Area::Fragmentation => fragmentation::cases(),
        Area::Utf8 => utf8::cases(),
        Area::Limits => limits::cases(),
        Area::Closing => closing::cases(),
        Area::CloseCodes => closing::close_codes(),
    }
}

fn run(area: Area) -> Tally {
    run_cases(area, &cases(area))
}

fn check(area: Area) {
    let t = run(area);
    println!("{}", t.summary());
    t.report();
}

#[test]
fn framing() {
    check(Area::Framing);
}

#[test]
fn ping_pong() {
    check(Area::PingPong);
}

#[test]
fn reserved_bits() {
    check(Area::ReservedBits);
}

#[test]
fn opcodes() {
    check(Area::Opcodes);
}

#[test]
fn fragmentation() {
    check(Area::Fragmentation);
}

#[test]
fn utf8() {
    check(Area::Utf8);
}

#[test]
fn limits() {
    check(Area::Limits);
}

#[test]
fn closing() {
    check(Area::Closing);
}

#[test]
fn close_codes() {
    check(Area::CloseCodes);
}

/// The whole corpus, with a summary line per area.
#[test]
fn corpus() {
    let start = Instant::now();
    let tallies: Vec<Tally> = Area::ALL.iter().map(|&a| run(a)).collect();
    for t in &tallies {
        println!("{}", t.summary());
    }
    let total: usize = tallies.iter().map(|t| t.cases).sum();
    let passed: usize = tallies.iter().map(|t| t.passed).sum();
    let failed: usize = tallies.iter().map(|t| t.failures.len()).sum();
    let sweep = tallies
        .iter()
        .find(|t| t.area == Area::CloseCodes)
        .map_or(0, |t| t.cases);
    println!(
        "conformance: total {total} cases ({} written by hand, {sweep} in the close-code sweep), \
         each run in 7 chunkings and once flushing after every event: {passed} passed, {failed} failed, in {:.1?}",
        total - sweep,
        start.elapsed()
    );
    for t in &tallies {
        t.report();
    }
}
