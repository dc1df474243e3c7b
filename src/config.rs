//! Configuration: limits with documented defaults, and the automatic replies.

/// Limits on the opening handshake. Every one bounds memory or work per connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandshakeLimits {
    /// The most bytes an HTTP head (request or response, up to and including the blank line) may
    /// take. Default 8192: browsers send 400-1500 bytes; nginx's default header buffer is 8 KiB.
    /// A longer head fails with [`HandshakeError::HeadTooLarge`](crate::HandshakeError::HeadTooLarge)
    /// (status 431).
    pub max_head_len: usize,
    /// The most header lines. Default 64; the caller's header array may lower it further. More fail
    /// with [`HandshakeError::TooManyHeaders`](crate::HandshakeError::TooManyHeaders) (status 431).
    pub max_headers: usize,
}

impl HandshakeLimits {
    /// The defaults: an 8 KiB head with at most 64 headers.
    pub const DEFAULT: Self = Self {
        max_head_len: 8192,
        max_headers: 64,
    };
}

impl Default for HandshakeLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Connection configuration. Start from [`Config::default()`] (or [`Config::DEFAULT`] in a `const`)
/// and change fields.
///
/// ```
/// let mut config = sockless::Config::default();
/// config.max_message_len = 1 << 20; // 1 MiB messages at most
/// assert_eq!(config.max_frame_len, 16 << 20);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The largest payload one data frame (Text, Binary or Continuation) may declare. Default
    /// 16 MiB. Checked on the header, before any payload arrives; a larger one fails with close
    /// code 1009. Control frames (Ping, Pong, Close) are not bounded by it: RFC 6455 5.5 bounds
    /// them to 125 bytes (a longer one fails with 1002), so even a limit below 125 never turns a
    /// peer's Ping or Close into a 1009.
    pub max_frame_len: u64,
    /// The largest message (sum of its frames' payloads). Default 64 MiB. Checked on each frame
    /// header, so a message fails with 1009 as soon as a frame would take it past the limit. The
    /// streaming API never buffers, so this is a policy limit there; the reassembly layer
    /// ([`crate::message`]) relies on it to bound its buffer.
    pub max_message_len: u64,
    /// Queue a Pong with the same payload for every Ping received. Default `true`. The Ping event is
    /// reported either way.
    pub auto_pong: bool,
    /// Answer a received Close with a Close echoing its code. Default `true`. With `false` the
    /// caller answers with [`Connection::close`](crate::Connection::close).
    pub auto_close: bool,
    /// Receive a message sent in one frame (the usual case) whole when that frame is at most this
    /// many bytes, header included: until all of it is in the input,
    /// [`Connection::receive`](crate::Connection::receive) answers
    /// [`Recv::NeedInput`](crate::Recv::NeedInput) without consuming its header, so the driver
    /// reads on (its loop already does) and then gets the payload in one piece, in place:
    /// [`Assembler::receive`](crate::message::Assembler::receive) hands such a message back
    /// without copying it, and an echo or a proxy sends it from where it lies. Longer frames, and
    /// the frames of a fragmented message (which a reassembler copies anyway), are delivered in
    /// pieces as they arrive, as every frame is with the default, 0. The header is still checked
    /// as soon as it is complete, so a frame that breaks a rule or a limit fails at once, not
    /// after its payload.
    ///
    /// Set it to at most the length of the receive buffer (64 KiB and
    /// [`frame::MAX_HEADER_LEN`](crate::frame::MAX_HEADER_LEN) in the documented loop): a frame
    /// that fits the setting but not the buffer can never be whole, and the connection waits for
    /// it for ever. Values above `u32::MAX` are taken as `u32::MAX`.
    pub whole_messages_up_to: usize,
    /// Limits on the opening handshake.
    pub handshake: HandshakeLimits,
}

impl Config {
    /// The defaults: 16 MiB frames, 64 MiB messages, automatic Pong and Close replies, data
    /// delivered in pieces as it arrives, default handshake limits.
    pub const DEFAULT: Self = Self {
        max_frame_len: 16 << 20,
        max_message_len: 64 << 20,
        auto_pong: true,
        auto_close: true,
        whole_messages_up_to: 0,
        handshake: HandshakeLimits::DEFAULT,
    };
}

impl Default for Config {
    fn default() -> Self {
        Self::DEFAULT
    }
}
