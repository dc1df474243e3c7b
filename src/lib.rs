//! # sockless
//!
//! The WebSocket protocol (RFC 6455) as a pure state machine. **There is no I/O inside**: no sockets,
//! files, threads, clocks, global state or global randomness. You read bytes from wherever you
//! like and hand them in; sockless hands back events, handshake responses and encoded frames,
//! written into buffers you own. Any async runtime, blocking loop, `no_std` microcontroller or
//! fuzzer can drive it.
//!
//! The crate is `#![no_std]`; `alloc` and `std` are features (see below).
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod config;
pub mod connection;
mod error;
pub mod frame;
pub mod handshake;
pub mod message;
mod rand;
pub mod utf8;

pub use config::{Config, HandshakeLimits};
pub use connection::{Connection, Event, Outgoing, Received, Recv, Role, State};
pub use error::{BufferTooSmall, HandshakeError, ProtocolError, SendError};
pub use frame::{CloseCode, CloseFrame, DataKind};
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
