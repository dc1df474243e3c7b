//! A client and a server wired back to back, driven by a fuzzer-chosen sequence of operations.
//! After every step: nothing panicked, neither side saw a protocol error (both are sockless),
//! every message, ping and close arrives as sent and in order, states only move forward, and
//! every close code on the wire is legal.
#![no_main]
use std::collections::VecDeque;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use sockless::frame::CloseCode;
use sockless::{Config, Connection, DataKind, Event, Outgoing, RandomError, RandomSource, Recv, SendError, State};

#[derive(Arbitrary, Debug)]
enum Op {
    Text { client: bool, text: String },
    Binary { client: bool, data: Vec<u8> },
    /// One frame of a fragmented message; text fragments are whole strings.
    Fragment { client: bool, text: bool, data: String, fin: bool },
    Ping { client: bool, data: Vec<u8> },
    Close { client: bool, code: u16, reason: String },
    Deliver { to_server: bool, max: u16 },
    Flush { client: bool },
}

#[derive(Debug, PartialEq, Clone)]
enum Seen {
    Message(DataKind, Vec<u8>),
    Ping(Vec<u8>),
    Close(Option<u16>),
}

struct Side<R> {
    conn: Connection<R>,
    /// Bytes on the wire towards this side, not yet received.
    inbound: Vec<u8>,
    /// What the peer sent that this side should see, in order.
    expect: VecDeque<Seen>,
    message: Vec<u8>,
    kind: Option<DataKind>,
    /// Kind of the fragmented message this side is sending.
    sending: Option<DataKind>,
    fragments: Vec<u8>,
}

fn rank(s: State) -> u8 {
    match s {
        State::Open => 0,
        State::CloseSent | State::CloseReceived | State::Failed => 1,
        State::Closed => 2,
    }
}

impl<R: RandomSource> Side<R> {
    fn new(conn: Connection<R>) -> Self {
        Self { conn, inbound: Vec::new(), expect: VecDeque::new(), message: Vec::new(), kind: None, sending: None, fragments: Vec::new() }
    }

    /// Feeds up to `max` inbound bytes; returns the bytes this side owes the peer.
    fn deliver(&mut self, max: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let n = max.min(self.inbound.len());
        let mut buf: Vec<u8> = self.inbound[..n].to_vec();
        let mut pos = 0;
        loop {
            let before = rank(self.conn.state());
            let r = self.conn.receive(&mut buf[pos..]);
            pos += r.consumed;
            assert!(rank(self.conn.state()) >= before);
            match r.result.expect("no protocol error between two sockless endpoints") {
                Recv::Event(Event::Data { kind, payload, message_done, .. }) => {
                    assert!(self.kind.is_none_or(|k| k == kind));
                    self.kind = Some(kind);
                    self.message.extend_from_slice(payload);
                    if message_done {
                        let got = Seen::Message(kind, std::mem::take(&mut self.message));
                        self.kind = None;
                        assert_eq!(self.expect.pop_front(), Some(got));
                    }
                }
                Recv::Event(Event::Ping(p)) => assert_eq!(self.expect.pop_front(), Some(Seen::Ping(p.to_vec()))),
                Recv::Event(Event::Pong(_)) => {}
                Recv::Event(Event::Close(c)) => {
                    assert!(c.is_none_or(|c| c.code.is_sendable()));
                    // The close we expect may be the peer's own or its echo of ours.
                    let got = Seen::Close(c.map(|c| c.code.0));
                    if let Some(i) = self.expect.iter().position(|s| matches!(s, Seen::Close(_))) {
                        assert_eq!(self.expect.remove(i), Some(got));
                    }
                }
                Recv::NeedFlush => self.flush_into(&mut out),
                Recv::NeedInput | Recv::Closed => break,
            }
        }
        self.inbound.drain(..pos);
        self.flush_into(&mut out);
        out
    }

    fn flush_into(&mut self, out: &mut Vec<u8>) {
        let mut wbuf = [0u8; 300];
        loop {
            let n = self.conn.poll_transmit(&mut wbuf).expect("poll_transmit");
            if n == 0 {
                break;
            }
            out.extend_from_slice(&wbuf[..n]);
        }
    }
}

fn rng() -> impl FnMut(&mut [u8]) -> Result<(), RandomError> {
    let mut x = 0x1234_5678u32;
    move |d: &mut [u8]| {
        for b in d {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        Ok(())
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let mut config = Config::default();
    config.max_message_len = 1 << 20;
    let mut client = Side::new(Connection::client(config, rng()));
    let mut server = Side::new(Connection::server(config));
    let mut out = vec![0u8; 1 << 17];
    for op in ops.into_iter().take(200) {
        // `sent` is what goes on the wire and what the peer should then see.
        let (from_client, result, seen): (bool, Result<usize, SendError>, Option<Seen>) = match op {
            Op::Text { client: c, text } => {
                let r = if c { client.conn.send(Outgoing::Text(&text), &mut out) } else { server.conn.send(Outgoing::Text(&text), &mut out) };
                (c, r, Some(Seen::Message(DataKind::Text, text.into_bytes())))
            }
            Op::Binary { client: c, data } => {
                let r = if c { client.conn.send(Outgoing::Binary(&data), &mut out) } else { server.conn.send(Outgoing::Binary(&data), &mut out) };
                (c, r, Some(Seen::Message(DataKind::Binary, data)))
            }
            Op::Fragment { client: c, text, data, fin } => {
                let kind = if text { DataKind::Text } else { DataKind::Binary };
                let side_sending = if c { client.sending } else { server.sending };
                let r = if c { client.conn.send_frame(kind, data.as_bytes(), fin, &mut out) } else { server.conn.send_frame(kind, data.as_bytes(), fin, &mut out) };
                let mut seen = None;
                if r.is_ok() {
                    assert!(side_sending.is_none_or(|k| k == kind));
                    let (fragments, sending) =
                        if c { (&mut client.fragments, &mut client.sending) } else { (&mut server.fragments, &mut server.sending) };
                    fragments.extend_from_slice(data.as_bytes());
                    *sending = if fin { None } else { Some(kind) };
                    if fin {
                        seen = Some(Seen::Message(kind, std::mem::take(fragments)));
                    }
                } else if let Err(SendError::MessageInProgress) = r {
                    assert!(side_sending.is_some_and(|k| k != kind));
                }
                (c, r, seen)
            }
            Op::Ping { client: c, data } => {
                let r = if c { client.conn.send(Outgoing::Ping(&data), &mut out) } else { server.conn.send(Outgoing::Ping(&data), &mut out) };
                if data.len() > 125 {
                    assert!(matches!(r, Err(SendError::ControlPayloadTooLong | SendError::Closing)), "{r:?}");
                }
                (c, r, Some(Seen::Ping(data)))
            }
            Op::Close { client: c, code, reason } => {
                let code = CloseCode(code);
                let r = if c { client.conn.close(code, &reason, &mut out) } else { server.conn.close(code, &reason, &mut out) };
                if r.is_ok() {
                    assert!(code == CloseCode::NO_STATUS || code.is_sendable());
                    assert!(code != CloseCode::NO_STATUS || reason.is_empty());
                }
                let seen = if code == CloseCode::NO_STATUS { None } else { Some(code.0) };
                (c, r, Some(Seen::Close(seen)))
            }
            Op::Deliver { to_server, max } => {
                let max = usize::from(max) + 1;
                if to_server {
                    let owed = server.deliver(max);
                    client.inbound.extend_from_slice(&owed);
                } else {
                    let owed = client.deliver(max);
                    server.inbound.extend_from_slice(&owed);
                }
                continue;
            }
            Op::Flush { client: c } => {
                let mut owed = Vec::new();
                if c {
                    client.flush_into(&mut owed);
                    server.inbound.extend_from_slice(&owed);
                } else {
                    server.flush_into(&mut owed);
                    client.inbound.extend_from_slice(&owed);
                }
                continue;
            }
        };
        if let Ok(n) = result {
            let (to, seen) = if from_client { (&mut server.inbound, seen) } else { (&mut client.inbound, seen) };
            to.extend_from_slice(&out[..n]);
            if let Some(s) = seen {
                if from_client { server.expect.push_back(s) } else { client.expect.push_back(s) }
            }
        }
    }
    // Drain: deliver everything both ways until quiet.
    for _ in 0..64 {
        let a = server.deliver(usize::MAX);
        client.inbound.extend_from_slice(&a);
        let b = client.deliver(usize::MAX);
        server.inbound.extend_from_slice(&b);
        if client.inbound.is_empty() && server.inbound.is_empty() {
            break;
        }
    }
    // Everything sent before a side's Close was seen by the other side.
    for side_expect in [&client.expect, &server.expect] {
        assert!(side_expect.iter().all(|s| matches!(s, Seen::Close(_))), "undelivered: {side_expect:?}");
    }
});
