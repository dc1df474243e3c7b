//! A sockless `Connection` over a byte stream that an HTTP stack owns (an HTTP/2 stream, an
//! upgraded HTTP/1.1 connection): bytes in, whole messages out, output gathered for the stack
//! to send. Shared by `tests/h2.rs` and `tests/hyper.rs` (included with `#[path]`).

#![allow(dead_code)]

use std::fmt;
use std::mem::take;

use sockless::{
    CloseCode, Connection, DataKind, Error, Event, Outgoing, RandomSource, Recv, State,
};

/// What the peer sent, reassembled.
#[derive(Clone, PartialEq, Eq)]
pub enum Got {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>),
}

/// Lengths and a checksum instead of megabytes of payload.
impl fmt::Debug for Got {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sum = |b: &[u8]| b.iter().fold(0u32, |s, &x| s.rotate_left(5) ^ u32::from(x));
        match self {
            Got::Text(t) => write!(f, "Text({} bytes, {:08x})", t.len(), sum(t.as_bytes())),
            Got::Binary(b) => write!(f, "Binary({} bytes, {:08x})", b.len(), sum(b)),
            Got::Ping(p) => write!(f, "Ping({p:?})"),
            Got::Pong(p) => write!(f, "Pong({p:?})"),
            Got::Close(c) => write!(f, "Close({c:?})"),
        }
    }
}

impl Got {
    pub fn is_pong(&self) -> bool {
        matches!(self, Got::Pong(_))
    }
}

/// `got` split into its Pongs and the rest, each in order: a Pong may overtake data the peer
/// echoes, since the peer answers a Ping when it reads it and echoes a message when it has it
/// whole.
pub fn pongs_apart(got: Vec<Got>) -> (Vec<Got>, Vec<Got>) {
    got.into_iter().partition(Got::is_pong)
}

/// The messages of the end-to-end tests: small and large, text and binary, up to 1 MiB.
pub fn messages() -> Vec<Outgoing<'static>> {
    let big: &'static [u8] = Box::leak((0..1 << 20).map(|i| (i * 7 + i / 251) as u8).collect());
    let text: &'static str = Box::leak("h\u{e9}llo \u{1f600} ".repeat(20_000).into_boxed_str());
    vec![
        Outgoing::Text("hello"),
        Outgoing::Binary(&[]),
        Outgoing::Binary(big),
        Outgoing::Text(text),
        Outgoing::Binary(&big[..70_000]),
    ]
}

/// What an echo gives back for `message`.
pub fn echoed(message: &Outgoing<'_>) -> Got {
    match *message {
        Outgoing::Text(t) => Got::Text(t.to_owned()),
        Outgoing::Binary(b) => Got::Binary(b.to_vec()),
        Outgoing::Ping(p) => Got::Pong(p.to_vec()),
        Outgoing::Pong(_) => unreachable!("nothing answers a Pong"),
    }
}

pub struct Peer<R> {
    pub conn: Connection<R>,
    /// Bytes received and not consumed yet.
    rbuf: Vec<u8>,
    /// The message being reassembled.
    message: Vec<u8>,
    /// Bytes owed to the stack (what `send`, `close` and `poll_transmit` produced).
    out: Vec<u8>,
}

impl<R: RandomSource> Peer<R> {
    pub fn new(conn: Connection<R>) -> Self {
        Self {
            conn,
            rbuf: Vec::new(),
            message: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Hands `bytes` to the connection, as the driving loop of the crate docs does, and returns
    /// what arrived; automatic replies go to the output.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Got>, Error> {
        self.rbuf.extend_from_slice(bytes);
        let mut got = Vec::new();
        let mut pos = 0;
        loop {
            let r = self.conn.receive(&mut self.rbuf[pos..]);
            pos += r.consumed;
            match r.result? {
                Recv::Event(Event::Data {
                    kind,
                    payload,
                    message_done,
                    ..
                }) => {
                    self.message.extend_from_slice(payload);
                    if message_done {
                        let m = take(&mut self.message);
                        got.push(match kind {
                            DataKind::Text => Got::Text(String::from_utf8(m).unwrap()),
                            DataKind::Binary => Got::Binary(m),
                        });
                    }
                }
                Recv::Event(Event::Ping(p)) => got.push(Got::Ping(p.to_vec())),
                Recv::Event(Event::Pong(p)) => got.push(Got::Pong(p.to_vec())),
                Recv::Event(Event::Close(c)) => got.push(Got::Close(c.map(|c| c.code.0))),
                Recv::NeedFlush => {
                    self.conn.poll_transmit_to_vec(&mut self.out)?;
                }
                Recv::NeedInput | Recv::Closed => break,
            }
        }
        self.rbuf.drain(..pos);
        self.conn.poll_transmit_to_vec(&mut self.out)?;
        Ok(got)
    }

    pub fn send(&mut self, message: Outgoing<'_>) -> Result<(), Error> {
        self.conn.send_to_vec(message, &mut self.out)?;
        Ok(())
    }

    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.conn.close_to_vec(code, reason, &mut self.out)?;
        Ok(())
    }

    /// The bytes owed to the stack, taken.
    pub fn output(&mut self) -> Vec<u8> {
        take(&mut self.out)
    }

    pub fn is_closed(&self) -> bool {
        self.conn.state() == State::Closed
    }
}
