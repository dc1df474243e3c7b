//! # sockless-embedded
//!
//! A WebSocket echo server for a microcontroller: `no_std`, no allocator, sockless without
//! default features, over any byte stream that implements [`Transport`].
//!
//! * **Fixed memory.** A [`Buffers`] of [`RX_LEN`] (512) bytes to receive into and [`TX_LEN`]
//!   (160) bytes to write the handshake response and control frames into, plus the
//!   [`Connection`](sockless::Connection) and, during the handshake only, a header array on the
//!   stack. `tests/echo.rs` prints the figures.
//! * **Messages of any size.** sockless streams data payload in pieces: each piece is unmasked in
//!   place in the receive buffer and echoed from there as a frame of its own
//!   ([`send_header`](sockless::Connection::send_header) +
//!   [`send_payload`](sockless::Connection::send_payload)), so a 1 MiB message passes through
//!   512 bytes. The echoed message has the same kind and bytes; only its fragmentation may differ.
//! * **Every obligation.** Each Ping gets its Pong (queued by sockless, written by the loop), the
//!   peer's Close is answered, a protocol error is answered with the Close carrying its code, and
//!   a refused upgrade with its HTTP status. A transport that reports read timeouts
//!   ([`Transport::is_timeout`]) gets an idle connection closed politely, with 1001.
//!
//! ```no_run
//! use sockless_embedded::{serve, Buffers, Transport};
//!
//! struct Uart; // your driver
//! impl Transport for Uart {
//!     type Error = ();
//!     fn read(&mut self, buf: &mut [u8]) -> Result<usize, ()> {
//!         Ok(0) // block until bytes arrive, copy them into `buf`, return how many
//!     }
//!     fn write_all(&mut self, buf: &[u8]) -> Result<(), ()> {
//!         Ok(()) // block until all of `buf` is sent
//!     }
//! }
//!
//! let mut buffers = Buffers::new();
//! loop {
//!     let _ = serve(&mut Uart, &mut buffers); // one connection; then close the link and wait
//! }
//! ```
//!
//! `src/bin/firmware.rs` links [`serve`] into a `thumbv7em-none-eabihf` binary whose `.text` is
//! the flash the echo costs; the root package's `examples/fixed_echo_server.rs` serves TCP with
//! the same loop (it includes `src/echo.rs`).

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
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

mod echo;

pub use echo::{config, echo, serve, Buffers, Error, Transport, MAX_HEADERS, RX_LEN, TX_LEN};
