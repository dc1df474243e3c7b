//! Adapter for `sockless` (cargo feature `ours`, on by default here; the crate
//! two directories up). Written the way sockless's docs and `examples/echo_server.rs`
//! drive it, with the harness's fairness rules:
//!
//!   * decode: the crate's documented driving loop. Each read copies at most
//!     `mem::MAX_READ` bytes into a caller receive buffer of 64 KiB plus a frame
//!     header (`rbuf[filled..]`), and `Config::whole_messages_up_to` set to that
//!     length, so that a message in one frame that fits the buffer is received
//!     whole (a 64 KiB message among them). `Connection::receive` is called until `NeedInput`,
//!     advancing by `consumed`; the unconsumed bytes are moved to the front once
//!     per read. Payloads are
//!     unmasked in place and borrowed from `rbuf`. Messages are reassembled by the
//!     crate's own layer, `sockless::message::Assembler<Vec<u8>>`, which drives
//!     the connection (`Assembler::receive` in place of `Connection::receive`;
//!     zero-copy when a message arrives in one piece, otherwise copied into the
//!     Vec). The connection validates UTF-8 as it streams; the Assembler does not
//!     again. The receive buffer and the Assembler's Vec persist across runs (as
//!     in the other sans-IO adapters); a fresh `Connection` per run.
//!   * encode: `Connection::send(Outgoing::Binary(..), &mut out[pos..])` into a
//!     caller buffer sized exactly (`FrameHeader::encoded_len`), one pass (copy, or
//!     copy+mask for a client). Client masking keys come from the harness's
//!     xorshift through a closure `RandomSource` (as the other sans-IO adapters;
//!     sockless leaves randomness to the caller).
//!   * handshake: `ServerHandshake::parse` (16-header array) ->
//!     `Request::accept(&Accept::new(), out)`, which writes the full `101` into a
//!     caller buffer reused across requests (no allocation) and returns the
//!     server `Connection` (kept alive with `black_box`).
//!
//! The `variant_*` functions are alternatives used only when
//! `PEERBENCH_OURS_VARIANTS=1` (see main.rs): they show what the reassembly
//! layer and the buffer strategy cost.
#![cfg_attr(not(feature = "ours"), allow(dead_code))]

#[cfg(feature = "ours")]
mod imp {
    use crate::check::Check;
    use crate::gen::{EncodeInput, Rng};
    use crate::mem::{MemStream, MAX_READ};
    use sockless::frame::{FrameHeader, OpCode};
    use sockless::handshake::{Accept, ServerHandshake, EMPTY_HEADER};
    use sockless::message::{Assembler, Incoming, Message};
    use sockless::{Config, Connection, DataKind, Event, Outgoing, RandomError, Recv, Status};
    use std::hint::black_box;

    pub const AVAILABLE: bool = true;

    /// Receive buffer of the documented loop: 64 KiB and room for a frame header, so
    /// that a 64 KiB message fits whole (the crate docs; `tokio_echo`).
    const RBUF_LEN: usize = MAX_READ + sockless::frame::MAX_HEADER_LEN;

    pub struct Decoder {
        rbuf: Vec<u8>,
        asm: Assembler<Vec<u8>>,
        /// Used by the hand-reassembly variant only.
        msg: Vec<u8>,
    }

    impl Default for Decoder {
        fn default() -> Self {
            Self::new()
        }
    }

    impl Decoder {
        pub fn new() -> Self {
            Self::with_rbuf(RBUF_LEN)
        }

        pub fn with_rbuf(len: usize) -> Self {
            Decoder {
                rbuf: vec![0; len],
                asm: Assembler::new(Vec::with_capacity(128 * 1024)),
                msg: Vec::with_capacity(128 * 1024),
            }
        }

        /// The documented loop + `Assembler<Vec<u8>>` driving the connection, with
        /// `Config::whole_messages_up_to` set to the receive buffer's length (as the
        /// crate docs say), so that a message in one frame that fits it is received
        /// whole, in place.
        pub fn decode(&mut self, input: &[u8], n: usize) -> Result<Check, String> {
            self.decode_filled(input, n, false, true)
        }

        /// `decode`; with `fill`, the receive buffer is filled by several reads before
        /// processing (as one read of a socket with that much queued would); `whole`:
        /// `Config::whole_messages_up_to` is the buffer's length (otherwise every piece
        /// is received as it lies, and a message in pieces is copied).
        pub fn decode_filled(&mut self, input: &[u8], n: usize, fill: bool, whole: bool) -> Result<Check, String> {
            let Decoder { rbuf, asm, .. } = self;
            if asm.is_in_progress() {
                // only after a failed run (preflight): start clean
                *asm = Assembler::new(Vec::with_capacity(128 * 1024));
            }
            let mut config = Config::default();
            if whole {
                config.whole_messages_up_to = rbuf.len();
            }
            let mut conn = Connection::server(config);
            let mut src = MemStream::reader(input);
            let (mut filled, mut count) = (0usize, 0usize);
            let mut c = Check::default();
            while count < n {
                let k = read(&mut src, rbuf, filled, fill);
                if k == 0 {
                    return Err("unexpected end of input".into());
                }
                filled += k;
                let mut pos = 0;
                while pos < filled {
                    let r = asm.receive(&mut conn, &mut rbuf[pos..filled]);
                    pos += r.consumed;
                    match r.result {
                        Ok(Incoming::Message(m)) => {
                            c.add(match m {
                                Message::Text(t) => t.as_bytes(),
                                Message::Binary(b) => b,
                            });
                            count += 1;
                            if count == n {
                                break;
                            }
                        }
                        Ok(Incoming::Pending) => {}
                        Ok(Incoming::NeedInput) => break,
                        Ok(other) => return Err(format!("unexpected {other:?}")),
                        Err(e) => return Err(format!("receive: {e}")),
                    }
                }
                rbuf.copy_within(pos..filled, 0);
                filled -= pos;
            }
            Ok(c)
        }

        /// Variant: same loop, but messages reassembled by hand into a Vec (no
        /// Assembler, so no second UTF-8 pass; zero-copy when whole in one piece).
        /// `fill`: read until the receive buffer is full before processing.
        pub fn variant_hand(&mut self, input: &[u8], n: usize, fill: bool) -> Result<Check, String> {
            let Decoder { rbuf, msg, .. } = self;
            msg.clear();
            let mut conn = Connection::server(Config::default());
            let mut src = MemStream::reader(input);
            let (mut filled, mut count) = (0usize, 0usize);
            let mut c = Check::default();
            while count < n {
                let k = read(&mut src, rbuf, filled, fill);
                if k == 0 {
                    return Err("unexpected end of input".into());
                }
                filled += k;
                let mut pos = 0;
                while pos < filled {
                    let r = conn.receive(&mut rbuf[pos..filled]);
                    pos += r.consumed;
                    match r.result {
                        Ok(Recv::Event(Event::Data { payload, message_done, .. })) => {
                            if message_done && msg.is_empty() {
                                c.add(payload);
                                count += 1;
                            } else {
                                msg.extend_from_slice(payload);
                                if message_done {
                                    c.add(msg);
                                    msg.clear();
                                    count += 1;
                                }
                            }
                            if count == n {
                                break;
                            }
                        }
                        Ok(Recv::NeedInput) => break,
                        Ok(other) => return Err(format!("unexpected {other:?}")),
                        Err(e) => return Err(format!("receive: {e}")),
                    }
                }
                rbuf.copy_within(pos..filled, 0);
                filled -= pos;
            }
            Ok(c)
        }

        /// Variant: the Assembler fed by hand (`push`, which validates text);
        /// `fill`: the receive buffer is filled by several reads before processing
        /// (so that most 64 KiB frames lie whole in it); `as_binary`: every piece is
        /// pushed as `DataKind::Binary`, so `push` skips its UTF-8 check -- isolates
        /// what that check costs.
        pub fn variant_asm(&mut self, input: &[u8], n: usize, fill: bool, as_binary: bool) -> Result<Check, String> {
            let Decoder { rbuf, asm, .. } = self;
            let mut conn = Connection::server(Config::default());
            let mut src = MemStream::reader(input);
            let (mut filled, mut count) = (0usize, 0usize);
            let mut c = Check::default();
            while count < n {
                let k = read(&mut src, rbuf, filled, fill);
                if k == 0 {
                    return Err("unexpected end of input".into());
                }
                filled += k;
                let mut pos = 0;
                while pos < filled {
                    let r = conn.receive(&mut rbuf[pos..filled]);
                    pos += r.consumed;
                    match r.result {
                        Ok(Recv::Event(Event::Data { kind, payload, message_done, .. })) => {
                            let kind = if as_binary { DataKind::Binary } else { kind };
                            match asm.push(kind, payload, message_done) {
                                Ok(None) => {}
                                Ok(Some(Message::Text(t))) => {
                                    c.add(t.as_bytes());
                                    count += 1;
                                }
                                Ok(Some(Message::Binary(b))) => {
                                    c.add(b);
                                    count += 1;
                                }
                                Err(e) => return Err(format!("assembler: {e}")),
                            }
                            if count == n {
                                break;
                            }
                        }
                        Ok(Recv::NeedInput) => break,
                        Ok(other) => return Err(format!("unexpected {other:?}")),
                        Err(e) => return Err(format!("receive: {e}")),
                    }
                }
                rbuf.copy_within(pos..filled, 0);
                filled -= pos;
            }
            Ok(c)
        }
    }

    /// One read (recv emulation), or with `fill` as many as fit (like reading a
    /// non-blocking socket until it would block).
    #[inline]
    fn read(src: &mut MemStream<'_>, rbuf: &mut [u8], filled: usize, fill: bool) -> usize {
        let mut total = 0;
        loop {
            let k = src.read_into(&mut rbuf[filled + total..]);
            total += k;
            if !fill || k == 0 || filled + total == rbuf.len() {
                return total;
            }
        }
    }

    /// The contract's free function (fresh buffers each call).
    #[allow(dead_code)]
    pub fn decode(input: &[u8], n: usize) -> Result<Check, String> {
        Decoder::new().decode(input, n)
    }

    /// Encodes into `out`, sized exactly so that the buffer handed back next
    /// round needs no memset; one `send` per message.
    pub fn encode(inp: &EncodeInput, client: bool, mut out: Vec<u8>) -> Result<Vec<u8>, String> {
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Binary,
            mask: client.then_some([0; 4]),
            payload_len: inp.len as u64,
        };
        let need = inp.count * (header.encoded_len() + inp.len);
        out.resize(need, 0);
        let mut pos = 0;
        if client {
            let mut rng = Rng::new(13);
            let source = move |dest: &mut [u8]| -> Result<(), RandomError> {
                rng.fill(dest);
                Ok(())
            };
            let mut conn = Connection::client(Config::default(), source);
            for i in 0..inp.count {
                pos += conn
                    .send(Outgoing::Binary(inp.slice(i)), &mut out[pos..])
                    .map_err(|e| format!("send: {e}"))?;
            }
        } else {
            let mut conn = Connection::server(Config::default());
            for i in 0..inp.count {
                pos += conn
                    .send(Outgoing::Binary(inp.slice(i)), &mut out[pos..])
                    .map_err(|e| format!("send: {e}"))?;
            }
        }
        out.truncate(pos);
        Ok(out)
    }

    /// Variant for the client encode: `send_header` + copy the payload behind it
    /// + `send_payload` masking it in place (two passes: memcpy, then mask).
    pub fn variant_encode_streamed(inp: &EncodeInput, client: bool, mut out: Vec<u8>) -> Result<Vec<u8>, String> {
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Binary,
            mask: client.then_some([0; 4]),
            payload_len: inp.len as u64,
        };
        let need = inp.count * (header.encoded_len() + inp.len);
        out.resize(need, 0);
        let mut rng = Rng::new(13);
        let source = move |dest: &mut [u8]| -> Result<(), RandomError> {
            rng.fill(dest);
            Ok(())
        };
        let mut conn = Connection::client(Config::default(), source);
        let mut pos = 0;
        for i in 0..inp.count {
            let p = inp.slice(i);
            pos += conn
                .send_header(DataKind::Binary, p.len() as u64, true, &mut out[pos..])
                .map_err(|e| format!("send_header: {e}"))?;
            let body = &mut out[pos..pos + p.len()];
            body.copy_from_slice(p);
            conn.send_payload(body).map_err(|e| format!("send_payload: {e}"))?;
            pos += p.len();
        }
        out.truncate(pos);
        Ok(out)
    }

    /// Parses the upgrade request and writes the `101` into `out` (reused by the
    /// caller); returns its length.
    pub fn handshake(req: &[u8], out: &mut [u8]) -> Result<usize, String> {
        let mut hs = ServerHandshake::new(Config::default());
        let mut headers = [EMPTY_HEADER; 16];
        match hs.parse(req, &mut headers).map_err(|e| format!("parse: {e}"))? {
            Status::Complete(request) => {
                let (n, conn) = request.accept(&Accept::new(), out).map_err(|e| format!("accept: {e}"))?;
                black_box(&conn);
                Ok(n)
            }
            Status::Partial => Err("partial request".into()),
        }
    }
}

#[cfg(feature = "ours")]
pub use imp::*;

#[cfg(not(feature = "ours"))]
pub const AVAILABLE: bool = false;
