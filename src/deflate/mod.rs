//! permessage-deflate (RFC 7692), as a layer beside the connection: negotiation, a compressor
//! for our messages and a bounded, streaming inflater for the peer's.
//!
//! Nothing here touches a [`Connection`](crate::Connection); the pieces are pure values the
//! handshake and the connection's extension hook call:
//!
//! * **Negotiation** ([`DeflateConfig`]): a server passes the parsed offers to
//!   [`DeflateConfig::accept_offers`] and, for the [`Accepted`] one, writes
//!   [`Accepted::write_response`] into its 101; a client writes [`DeflateConfig::write_offer`]
//!   into its request and checks the answer with [`DeflateConfig::check_responses`]. Both end
//!   in an [`Agreed`]: the parameters in force, from our side (our compressor's window and
//!   takeover, the peer's).
//! * **Sending** ([`Compressor`]): a message whole ([`Compressor::compress_message`]) or in
//!   pieces ([`Compressor::compress`], [`Compressor::flush`], [`Compressor::finish`]), appended
//!   to a caller `Vec<u8>`; the first frame of a compressed message carries RSV1. Messages
//!   shorter than [`Agreed::min_compress_len`] go out uncompressed ([`Agreed::should_compress`]).
//! * **Receiving** ([`Inflater`]): each payload piece of a message with RSV1 is inflated into a
//!   caller buffer of any size; [`Inflater::inflate_text`] validates text as it is produced.
//!   Errors know their close codes ([`InflateError::close_code`]).
//!
//! # Wiring
//!
//! The glue does it in a few calls (the crate's examples `echo_server` and `echo_client` use it):
//!
//! * Server: [`ServerNegotiation::new`]`(&config, &request)` chooses;
//!   `request.accept(&negotiation.accept(Accept::new()), out)` answers (the connection then owns
//!   RSV1); [`Deflate::new`]`(&negotiation.agreed()?, max_message_len)` is the layer.
//! * Client: [`ClientNegotiation::offer`] goes into `ClientRequest::extensions`;
//!   `finish_with_extensions(&response, |r| negotiation.check(r))` checks the answer
//!   (a bad one fails the handshake with `ExtensionRefused`); [`ClientNegotiation::agreed`] gives
//!   the parameters for [`Deflate::new`].
//! * Connection: [`Deflate::receive`] in place of `Assembler::receive` (whole messages, plain or
//!   compressed), or [`Deflate::inflate`] per piece; [`Deflate::send`] and
//!   [`Deflate::send_frame`] to send. Every error the layer meets fails the connection with its
//!   close code.
//!
//! What the glue does, by hand:
//!
//! * Server handshake: `config.deflate.accept_offers(request.extensions())`; if `Some`, add
//!   `Sec-WebSocket-Extensions: ` + [`Accepted::write_response`] to the 101 (both are
//!   transactional, so a too-small buffer can be retried) and keep [`Accepted::agreed`].
//! * Client handshake: add [`DeflateConfig::write_offer`] to the request; on the 101, pass every
//!   parsed `Sec-WebSocket-Extensions` element to [`DeflateConfig::check_responses`] (an error
//!   fails the handshake); `Some(agreed)` turns the extension on.
//! * Connection, receiving: with an `Agreed`, RSV1 is allowed on the first frame of a data message
//!   and reported as `compressed`. For a compressed message, each payload piece goes to
//!   [`Inflater::inflate`] (or [`Inflater::inflate_text`] with the connection's own
//!   `Utf8Validator`, instead of validating the compressed bytes), with `end` = the piece ends the
//!   final frame; an error goes to `Connection::fail(e.close_code(), ..)`.
//! * Connection, sending: if [`Agreed::should_compress`], compress into a reused `Vec`, set RSV1
//!   on the first frame, and frame the `Vec`'s bytes; a streamed message sends each piece's
//!   output (after [`Compressor::flush`] if the peer should see it now) as a fragment, and the
//!   output of [`Compressor::finish`] as the final one.
//! * Size: `Agreed` is 16 bytes, [`Compressor`] 40 and [`Inflater`] 72 (on 64-bit), holding their
//!   backend state in a lazily allocated box, so `Option<Box<...>>` of them keeps the
//!   connection's own size bound.
//!
//! # The backend: `miniz_oxide`, with the window enforced by full flushes
//!
//! The crate is `no_std` with `alloc`, so the backend is `miniz_oxide` 0.9 (pure Rust,
//! `forbid(unsafe_code)`, builds for `thumbv7em-none-eabihf`). `zlib-rs` honours small windows
//! natively and is faster, but needs std and has `unsafe` inside.
//!
//! `miniz_oxide`'s compressor ignores the window size: it matches up to 32 KiB back at any
//! setting (checked again: windows 9 to 14 gave the same output as 15, with distances far past
//! `2^bits`; its `with_params` maps windows below 12 to run-length matching only and 12 to 14 to
//! its fast mode, still with 32 KiB distances). A peer whose inflater has a smaller window would
//! read garbage. So [`Compressor`] bounds distances itself: a full flush empties the backend's
//! dictionary, and the compressor forces one before the bytes fed since the last one would exceed
//! `2^bits`. Every match then lies within the bytes since the last flush, so its distance is below
//! `2^bits`. At window 15 none is needed (the dictionary is 32 KiB and the current byte is in it,
//! so distances are below 32768). The cost of a flush is the 4-5 byte empty stored block and a
//! fresh block header, and the lost history. Measured on 256 KiB of text-like data (JSON log
//! lines) at level 6, compressed size over input size:
//!
//! | window bits | 9 | 10 | 11 | 12 | 13 | 14 | 15 |
//! |---|---|---|---|---|---|---|---|
//! | this compressor | 0.453 | 0.347 | 0.277 | 0.233 | 0.205 | 0.185 | 0.152 |
//! | zlib, honouring the window natively (similar data) | 0.300 | 0.222 | 0.186 | 0.176 | 0.169 | 0.162 | 0.156 |
//!
//! That is about +50% over a native small window at 9 to 11 bits, +33% at 12, +22% at 13, +17% at
//! 14, and nothing at 15, the window every browser and common library uses unless configured
//! otherwise. With 2 KiB messages and no context takeover, windows of 11 bits and more cost
//! nothing (a message never reaches the window). Window 8 gives 0.60. A server that will not pay
//! this can call [`DeflateConfig::accept_offer`] per offer and skip those whose
//! [`Agreed::compress_window_bits`] is below 15.
//!
//! The test suite checks the bound with a separate, minimal DEFLATE decoder that records every
//! distance, on random and text-like data, every window, with and without context takeover.
//!
//! # Window 8
//!
//! A window of 8 bits is legal in RFC 7692 but zlib cannot compress with it (it silently uses 9,
//! safe only thanks to its 262-byte lookahead margin). A **server declines** offers with
//! `server_max_window_bits=8` ([`NegotiationError::ServerWindowTooSmall`]): no browser or common
//! library sends it, and Python `websockets` declines it too. A **client honours** a response with
//! `client_max_window_bits=8` (it cannot decline without failing the connection): the full-flush
//! bound works for 256 bytes too, at a high ratio cost. Our own configured windows are 9 to 15.
//! Our inflater accepts any window from 8 to 15: it keeps 32 KiB of history.
//!
//! # Inflating, and what it tolerates
//!
//! The inflater keeps 32 KiB of history, so it accepts any window the peer uses. Its results do
//! not depend on how the payload or the output space is split (tested by proptest and fuzzing):
//! an error is reported only after every byte inflated before it was handed out. It is as
//! lenient as zlib-based peers in two places: a message that does not end on a block boundary
//! (no sync flush) is accepted and the next message starts on a fresh block, and the rest of a
//! message after a block with BFINAL set is skipped. A back-reference beyond the data inflated so
//! far (or, under the peer's no context takeover, into an earlier message) reads the old window
//! (zeros at first) instead of failing, because `miniz_oxide`'s ring-buffer mode cannot check
//! it; it cannot read outside the window.
//!
//! # Close codes
//!
//! RFC 7692 only says "_Fail the WebSocket Connection_". Corrupt compressed data fails with 1007
//! (invalid payload data, as Node's `ws` does; Python `websockets` uses 1002), an inflated
//! message over the limit with 1009, invalid UTF-8 in an inflated text with 1007, a backend
//! failure on our side with 1011. A bad negotiation response fails the client's handshake, before
//! any Close frame can be sent.
//!
//! # Memory per connection
//!
//! Heap held after a few 64 KiB messages, measured with a counting allocator
//! (`tests/deflate_bomb.rs`):
//!
//! | state | window 9 | window 15 | after `release()` |
//! |---|---|---|---|
//! | [`Compressor`], context takeover | 319,326 B | 319,326 B | kept |
//! | [`Compressor`], no context takeover | 319,326 B | 319,326 B | 0 |
//! | [`Inflater`], peer takes over context | 43,272 B | 43,272 B | kept |
//! | [`Inflater`], peer's no context takeover | 43,272 B | 43,272 B | 0 |
//!
//! The window does not change the figures: `miniz_oxide` always allocates for 32 KiB. Before the
//! first message each holds nothing. Building the compressor's state passes about 64 KiB through
//! the stack once (the backend's struct is built, then boxed); the inflater's window is
//! allocated directly on the heap. The caller's output `Vec` for compressed frames comes on top.
//!
//! [`Deflate`] adds to these a `Vec` in which compressed frames are built (as long as the longest
//! compressed message or fragment sent, freed by [`Deflate::release`]) and, once
//! [`Deflate::receive`] has inflated a message, a buffer of [`INFLATE_CHUNK`] (16 KiB); the
//! struct itself is about 200 bytes, outside the connection.
//!
//! Both states are allocated on first use, and [`Compressor::release`] / [`Inflater::release`]
//! free them between messages under no context takeover. With our no context takeover, a
//! compressor keeps nothing between messages ([`Compressor::is_shareable`]): one per thread can
//! serve every connection with the same level whose agreed window is at least its own, one
//! message at a time, instead of one per connection.

mod compress;
mod handshake;
mod inflate;
mod layer;
mod negotiate;
#[cfg(test)]
mod tests;

pub use compress::{CompressError, Compressor};
pub use handshake::{ClientNegotiation, ServerNegotiation};
pub use inflate::{InflateError, InflateStatus, Inflated, Inflater};
pub use layer::{Deflate, DeflateError, INFLATE_CHUNK};
pub use negotiate::{Accepted, NegotiationError};

/// The extension's name in `Sec-WebSocket-Extensions`.
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// The longest value [`DeflateConfig::write_offer`] or [`Accepted::write_response`] writes:
/// `permessage-deflate; server_no_context_takeover; client_no_context_takeover;
/// server_max_window_bits=15; client_max_window_bits=15`.
pub const MAX_VALUE_LEN: usize = 128;

/// Appended to a message's payload before inflating, removed after compressing (RFC 7692 7.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The largest LZ77 window, in bits (32 KiB).
const MAX_WINDOW_BITS: u8 = 15;

/// The smallest window we configure, or agree to compress with as a server.
const MIN_CONFIG_WINDOW_BITS: u8 = 9;

/// The highest compression level.
const MAX_LEVEL: u8 = 9;

/// What we offer (client) or accept (server). Start from [`DeflateConfig::default()`] (or
/// [`DeflateConfig::DEFAULT`]) and change fields.
///
/// Names follow the RFC's parameters, which name the role: `server_*` is about the server's
/// compressor (the client's inflater), `client_*` about the client's compressor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// Whether to negotiate permessage-deflate at all. Default `true`.
    pub enabled: bool,
    /// The largest window the server's compressor may use, 9 to 15 (others are clamped).
    /// Default 15. A client below 15 offers `server_max_window_bits` with it; a server uses at
    /// most this, answering `server_max_window_bits` when below 15 or when offered.
    pub server_max_window_bits: u8,
    /// The largest window the client's compressor may use, 9 to 15 (others are clamped).
    /// Default 15. A client below 15 offers `client_max_window_bits` with it; a server below 15
    /// answers with it and declines offers without `client_max_window_bits`.
    pub client_max_window_bits: u8,
    /// Client: offer `client_max_window_bits` (without a value when
    /// [`client_max_window_bits`](Self::client_max_window_bits) is 15), telling the server it may
    /// limit our window. Default `true`, as browsers do.
    pub advertise_client_max_window_bits: bool,
    /// Ask (client) or impose (server) that the server's compressor starts every message with an
    /// empty window. Default `false`. A server always accepts it when offered.
    pub server_no_context_takeover: bool,
    /// Ask (client) or impose (server) that the client's compressor starts every message with an
    /// empty window. Default `false`. A server always accepts it when offered.
    pub client_no_context_takeover: bool,
    /// Messages shorter than this are sent uncompressed. Default 64 bytes: below that, DEFLATE
    /// rarely saves the bytes its block header costs.
    pub min_compress_len: usize,
    /// The compression level, 0 (stored blocks only) to 9 (slowest, smallest); higher values act
    /// as 9. Default 6.
    pub level: u8,
}

impl DeflateConfig {
    /// The defaults: enabled, 15-bit windows both ways, context takeover both ways, level 6,
    /// messages from 64 bytes compressed.
    pub const DEFAULT: Self = Self {
        enabled: true,
        server_max_window_bits: MAX_WINDOW_BITS,
        client_max_window_bits: MAX_WINDOW_BITS,
        advertise_client_max_window_bits: true,
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        min_compress_len: 64,
        level: 6,
    };

    const fn server_bits(&self) -> u8 {
        clamp_bits(self.server_max_window_bits)
    }

    const fn client_bits(&self) -> u8 {
        clamp_bits(self.client_max_window_bits)
    }
}

impl Default for DeflateConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

const fn clamp_bits(bits: u8) -> u8 {
    if bits < MIN_CONFIG_WINDOW_BITS {
        MIN_CONFIG_WINDOW_BITS
    } else if bits > MAX_WINDOW_BITS {
        MAX_WINDOW_BITS
    } else {
        bits
    }
}

/// The parameters in force after negotiation, from our side, plus the local settings the layer
/// needs (level and threshold, copied from the [`DeflateConfig`]). Build the [`Compressor`] and
/// the [`Inflater`] from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Agreed {
    /// The largest window our compressor may use, 8 to 15.
    pub compress_window_bits: u8,
    /// Our compressor starts every message with an empty window.
    pub compress_no_context_takeover: bool,
    /// The largest window the peer's compressor may use, 8 to 15 (our inflater accepts any).
    pub inflate_window_bits: u8,
    /// The peer's compressor starts every message with an empty window.
    pub inflate_no_context_takeover: bool,
    /// Our compression level, 0 to 9.
    pub level: u8,
    /// Messages shorter than this are sent uncompressed.
    pub min_compress_len: usize,
}

impl Agreed {
    /// What a bare `permessage-deflate` answer to a bare offer agrees, with the default level and
    /// threshold: 15-bit windows and context takeover both ways.
    pub const DEFAULT: Self = Self {
        compress_window_bits: MAX_WINDOW_BITS,
        compress_no_context_takeover: false,
        inflate_window_bits: MAX_WINDOW_BITS,
        inflate_no_context_takeover: false,
        level: DeflateConfig::DEFAULT.level,
        min_compress_len: DeflateConfig::DEFAULT.min_compress_len,
    };

    /// Whether to compress a message of `len` bytes (at least
    /// [`min_compress_len`](Self::min_compress_len)). A streamed message of unknown length
    /// decides on its first piece.
    #[must_use]
    pub const fn should_compress(&self, len: usize) -> bool {
        len >= self.min_compress_len
    }
}
