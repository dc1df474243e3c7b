//! # sockless
//!
//! The WebSocket protocol (RFC 6455) as a pure state machine. **There is no I/O inside**: no sockets,
//! files, threads, clocks, global state or global randomness. You read bytes from wherever you
//! like and hand them in; sockless hands back events, handshake responses and encoded frames,
//! written into buffers you own. Any async runtime, blocking loop, `no_std` microcontroller or
//! fuzzer can drive it.
//!
//! * **Both roles, one machine.** [`handshake::ServerHandshake`] parses and validates an upgrade
//!   request and writes the `101` (or the right `4xx`); [`handshake::ClientHandshake`] writes the
//!   request and checks the response. Both end in a [`Connection`], the same type for either role.
//! * **Caller-owned buffers.** Payloads are unmasked in place and handed back as slices of your
//!   input; frames are encoded into your output slice. The connection holds a few fixed fields
//!   (at most 192 bytes without an extension) and never allocates.
//! * **Every rule, every limit.** All of RFC 6455's framing, fragmentation, UTF-8 and closing rules
//!   are enforced; every violation is a typed error that knows its close code, and its Close frame
//!   is already queued. Limits on head size, header count, frame and message length are
//!   [`Config`] fields with documented defaults.
//! * **Any chunking gives the same result.** Bytes may arrive whole, one at a time, or split
//!   anywhere: the events, the payload bytes (joined), the error and the output are the same.
//!   Invalid text too: every byte before the first one at which it can no longer be valid UTF-8
//!   is delivered, then `receive` fails with 1007.
//! * **Randomness and time are yours.** A client draws masking keys from a [`RandomSource`] you
//!   pass ([`OsRandom`] with the `getrandom` feature); a server never needs entropy. Timeouts are
//!   the driver's (see [`Connection`]).
//!
//! ## The server loop
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use sockless::handshake::{Accept, ServerHandshake, EMPTY_HEADER};
//! use sockless::{Config, Event, Outgoing, Recv, State, Status};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = std::net::TcpListener::bind("127.0.0.1:9001")?;
//! let (mut tcp, _) = listener.accept()?;
//! tcp.set_nodelay(true)?;
//! let (mut rbuf, mut wbuf) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
//! let mut filled = 0;
//!
//! // 1. The handshake: append reads to one buffer until the head is complete.
//! let mut handshake = ServerHandshake::new(Config::default());
//! let (mut conn, head_len) = loop {
//!     let n = tcp.read(&mut rbuf[filled..])?;
//!     if n == 0 { return Ok(()); }
//!     filled += n;
//!     let mut headers = [EMPTY_HEADER; 32];
//!     match handshake.parse(&rbuf[..filled], &mut headers) {
//!         Ok(Status::Partial) => continue,
//!         Ok(Status::Complete(req)) => {
//!             let (len, conn) = req.accept(&Accept::new(), &mut wbuf)?;
//!             tcp.write_all(&wbuf[..len])?;
//!             break (conn, req.len());
//!         }
//!         Err(e) => {
//!             let len = handshake.write_error(e, &mut wbuf)?;
//!             tcp.write_all(&wbuf[..len])?;
//!             return Ok(());
//!         }
//!     }
//! };
//! // Bytes after the head are already frames: keep them.
//! rbuf.copy_within(head_len..filled, 0);
//! filled -= head_len;
//!
//! // 2. The frame loop.
//! loop {
//!     let mut pos = 0;
//!     while pos < filled {
//!         let r = conn.receive(&mut rbuf[pos..filled]);
//!         pos += r.consumed;
//!         match r.result {
//!             Ok(Recv::Event(Event::Data { kind, payload, .. })) => {
//!                 // Echo each piece as it comes (a real echo would reassemble messages).
//!                 let _ = (kind, payload);
//!             }
//!             Ok(Recv::Event(_)) => {} // Ping (Pong queued), Pong, Close (reply queued)
//!             Ok(Recv::NeedFlush) => {
//!                 let n = conn.poll_transmit(&mut wbuf)?;
//!                 tcp.write_all(&wbuf[..n])?;
//!             }
//!             Ok(Recv::NeedInput) | Ok(Recv::Closed) => break,
//!             Err(e) => { eprintln!("peer error: {e}"); break; } // its Close is queued
//!         }
//!     }
//!     rbuf.copy_within(pos..filled, 0); // once per read, not once per event
//!     filled -= pos;
//!     loop {
//!         let n = conn.poll_transmit(&mut wbuf)?;
//!         if n == 0 { break; }
//!         tcp.write_all(&wbuf[..n])?;
//!     }
//!     if conn.state() == State::Closed { return Ok(()); } // the server closes TCP first
//!     # let _ = conn.send(Outgoing::Text("hi"), &mut wbuf);
//!     let n = tcp.read(&mut rbuf[filled..])?;
//!     if n == 0 { return Ok(()); }
//!     filled += n;
//! }
//! # }
//! ```
//!
//! A client is the same loop, opened with [`handshake::ClientHandshake::new`] (which writes the
//! request), [`handshake::ClientHandshake::parse`] and [`handshake::ClientHandshake::finish`]; in
//! [`State::Closed`] a client waits a short while for the server to close TCP before closing it
//! itself. `examples/echo_server.rs` and `examples/echo_client.rs` are complete drivers.
//!
//! ## Extensions
//!
//! The core implements no extension, but carries one: a layer (permessage-deflate, say) plugs
//! in at these points, all in the core, with no feature needed. Offer, parse the response,
//! check, and the connection is made with the RSV bits the agreed extensions own:
//!
//! 1. **Offer** (client): [`ClientRequest::extensions`](handshake::ClientRequest::extensions),
//!    one entry per offer in preference order, for example
//!    `&["permessage-deflate; client_max_window_bits", "permessage-deflate"]`.
//! 2. **Answer** (server): read the offers from
//!    [`Request::extensions`](handshake::Request::extensions), and accept with
//!    [`Accept::extension`](handshake::Accept::extension)`(value, Rsv::RSV1)`: the `101`
//!    carries `value`, and the connection `accept` makes owns RSV1.
//! 3. **Check** (client):
//!    [`ClientHandshake::finish_with_extensions`](handshake::ClientHandshake::finish_with_extensions)
//!    refuses an answer that names an extension not offered, or one twice; then the layer's
//!    check reads the agreed parameters from [`Response::extensions`](handshake::Response::extensions)
//!    and returns the bits they own (or refuses), and the connection owns those.
//! 4. **Receive**: every piece of a message carries its first frame's bits
//!    ([`Event::Data`]'s `rsv`); owned bits are accepted on a message's first frame only. A text
//!    message with such bits is *not* checked as UTF-8 by the core: the layer validates what it
//!    decodes.
//! 5. **Send**: [`Connection::send_frame_with`] and [`Connection::send_header_with`] set the
//!    bits on a message's first frame.
//! 6. **Fail**: [`Connection::fail`] with the layer's close code (1007 bad data, 1009 too big,
//!    1010 a missing extension, 1008 policy) fails the connection like a protocol error does.
//!
//! [`Connection::with_extension_bits`] sets the bits for a connection whose handshake was done
//! elsewhere. No extension state lives in the [`Connection`]; it stays at 192 bytes.
//!
//! permessage-deflate (feature `deflate`, on by default) is such a layer:
//! [`deflate::ServerNegotiation`] turns a parsed request into the `Accept`,
//! [`deflate::ClientNegotiation`] makes the offer and the check, and [`deflate::Deflate`] sits
//! beside the connection: [`deflate::Deflate::receive`] in place of
//! [`message::Assembler::receive`] gives whole messages, compressed or not, and
//! [`deflate::Deflate::send`] compresses what is worth it.
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `std` | yes | runtime CPU detection for SIMD UTF-8 validation. Implies `alloc`. |
//! | `alloc` | with `std` | `Vec<u8>` as a [`message::MessageBuffer`], and output appended to a `Vec` ([`Connection::send_to_vec`], [`Connection::poll_transmit_to_vec`], [`connection::encode_to_vec`]). Nothing else allocates. |
//! | `getrandom` | yes | [`OsRandom`], a [`RandomSource`] backed by the operating system. |
//! | `deflate` | yes | [`deflate`]: permessage-deflate (RFC 7692): negotiation in one call per role ([`deflate::ServerNegotiation`], [`deflate::ClientNegotiation`]), the per-connection layer ([`deflate::Deflate`]) and its parts (compressor, bounded streaming inflater), on `miniz_oxide`. Implies `alloc`; works without `std`. |
//!
//! Without default features the crate is `no_std` and allocation-free (it is built for
//! `thumbv7em-none-eabihf` in CI, also with `deflate` alone).
//!
//! ## Modules
//!
//! * [`handshake`]: the opening handshake, both roles.
//! * [`connection`]: the state machine ([`Connection`]) and its events.
//! * [`frame`]: the stateless frame codec: header decode and encode, opcodes, close codes,
//!   masking.
//! * [`utf8`]: the streaming UTF-8 validator.
//! * [`message`]: optional reassembly of pieces into whole messages.
//! * [`manual`]: the design rationale, and where it departs from the first sketch.

#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]
// No panic path in library code: no indexing or slicing that can go out of bounds, no unwrap,
// expect, panic, unreachable, todo or unimplemented (tests may). See `manual` for why
// `clippy::arithmetic_side_effects` is not in this list.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::panic,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod config;
pub mod connection;
#[cfg(feature = "deflate")]
pub mod deflate;
mod error;
pub mod frame;
pub mod handshake;
pub mod manual;
pub mod message;
mod rand;
// The one conversion to `&str` without a second UTF-8 pass; its safety argument is written there.
#[allow(unsafe_code)]
mod unchecked;
pub mod utf8;

pub use config::{Config, HandshakeLimits};
pub use connection::{Connection, Event, Outgoing, Received, Recv, Role, State};
pub use error::{BufferTooSmall, EncodeError, Error, HandshakeError, ProtocolError, SendError};
pub use frame::{CloseCode, CloseFrame, DataKind, Rsv};
#[cfg(feature = "getrandom")]
pub use rand::OsRandom;
pub use rand::{NoRandom, RandomError, RandomSource};

/// The result of feeding input that may be incomplete: not enough bytes yet is a status, not an
/// error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<T> {
    /// More input is needed.
    Partial,
    /// Done, with the value.
    Complete(T),
}
