//! The connection state machine: one type for both roles.
//!
//! Every state transition of an established connection happens in this module.

use crate::config::Config;
use crate::error::{BufferTooSmall, ProtocolError, SendError};
use crate::frame::{
    apply_mask, copy_masked, copy_short, unmask_reporting_ascii, CloseCode, CloseFrame, DataKind,
    FrameHeader, OpCode, Rsv,
};
use crate::rand::{NoRandom, RandomSource};
use crate::utf8::Utf8Validator;
use crate::Status;

#[cfg(test)]
mod tests;

/// Which end of the connection this is. The only differences are at the edges: a client masks what
/// it sends and needs randomness for it; a server requires masks on what it receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The end that sent the upgrade request.
    Client,
    /// The end that accepted it.
    Server,
}

/// The state of the connection as the driver needs to see it: open, or where the closing
/// handshake (RFC 6455 7) stands. Section numbers are RFC 6455's.
///
/// ```text
///   opening handshake done (4.1 client, 4.2.2 server)
///      |
///      v      close(): start the closing handshake (7.1.2)    peer's Close (5.5.1)
///    Open ------------------------------------> CloseSent ----------------------------+
///      |                                                                              |
///      |      peer's Close (5.5.1)                      our Close written (5.5.1)     v
///      +------------------------------------> CloseReceived -----------------------> Closed
///      |      (its echo queued when Config::auto_close)                               ^
///      |                                                                              |
///      |      protocol error, or fail(): fail the connection (7.1.7)                  |
///      +------------------------------------> Failed ---------------------------------+
///                                                     its Close written (7.1.7)
/// ```
///
/// Sending or receiving a Close starts the closing handshake (7.1.3); both passed, the
/// connection is closed (5.5.1). From `CloseSent` a protocol error goes to `Closed` at once (our
/// Close is already out). In `Closed` the server closes the transport at once; a client waits
/// a while (its own timeout) for the server to close it first (7.1.1).
///
/// ```
/// use sockless::{CloseCode, Config, Connection, State};
/// let mut server = Connection::server(Config::default());
/// let mut out = [0u8; 131];
/// server.close(CloseCode::NORMAL, "", &mut out)?;
/// assert_eq!(server.state(), State::CloseSent);
/// // The client's Close 1000, masked with a zero key.
/// let mut input = [0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8];
/// assert_eq!(server.receive(&mut input).consumed, 8);
/// assert_eq!(server.state(), State::Closed);
/// # Ok::<(), sockless::SendError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Both directions are open.
    Open,
    /// We sent a Close and wait for the peer's. Received data is still delivered; nothing more may
    /// be sent, except the Pongs owed for Pings that still arrive (RFC 6455 5.5.2), which
    /// [`Connection::poll_transmit`] writes as before.
    CloseSent,
    /// The peer sent a Close; ours is not written yet (queued for
    /// [`Connection::poll_transmit`] when [`Config::auto_close`] is on, or up to the caller).
    /// Nothing more is received.
    CloseReceived,
    /// A protocol error was found, or a layer called [`Connection::fail`]; the Close frame waits
    /// in [`Connection::poll_transmit`]. Nothing more is received.
    Failed,
    /// The closing handshake is over (or the connection failed and its Close was flushed): flush
    /// [`Connection::poll_transmit`] (a Pong owed for a Ping that came before the peer's Close may
    /// still be there), then close the transport.
    Closed,
}

/// Something the peer sent.
///
/// Not `Copy`: a data payload is a mutable borrow of the caller's input, so that it can be
/// forwarded or echoed in place.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A piece of a data frame's payload, unmasked in place in the caller's buffer. A message is the
    /// concatenation of the pieces up to the one with `message_done`. Text has been validated up to
    /// the end of this piece (which may end inside a character; the rest follows in the next piece).
    /// When text turns invalid, the piece holds every byte before the first one at which it can no
    /// longer be valid UTF-8 (for a message ending inside a character, its last byte), and the
    /// next [`Connection::receive`] fails with [`ProtocolError::InvalidUtf8`]: the same bytes,
    /// then the same error, however the input is split.
    Data {
        /// Text or binary, from the message's first frame.
        kind: DataKind,
        /// The payload bytes of this piece (empty only for an empty frame), borrowed mutably from
        /// the input: a driver may change them in place, for example hand them to
        /// [`Connection::send_payload`] to echo them without a copy.
        payload: &'a mut [u8],
        /// Payload bytes of the current frame still to come after this piece (0 when the piece
        /// ends its frame). With `frame_done` false, a layer can reserve that much at once; a
        /// piece whose `frame_remaining` is 0 and that starts its frame holds the whole frame.
        frame_remaining: u64,
        /// This piece ends its frame (`frame_remaining == 0`).
        frame_done: bool,
        /// This piece ends its message.
        message_done: bool,
        /// The RSV bits of the message's first frame, the same on every piece of the message:
        /// always empty unless a negotiated extension owns bits
        /// ([`Connection::with_extension_bits`]). For permessage-deflate, [`Rsv::RSV1`] says the
        /// message is compressed.
        ///
        /// **A text message with any of these bits is not validated as UTF-8 by the
        /// connection**: its payload is the extension's encoding (compressed bytes, say), not
        /// text. The layer that decodes it validates the decoded text, and fails the
        /// connection with 1007 through [`Connection::fail`] when it is invalid.
        rsv: Rsv,
    },
    /// A Ping with its payload. With [`Config::auto_pong`] the Pong is already queued.
    Ping(&'a [u8]),
    /// A Pong (solicited or not) with its payload.
    Pong(&'a [u8]),
    /// The peer's Close, with its code and reason if it had one. With [`Config::auto_close`] the
    /// reply is already queued (or, if we had sent a Close first, the connection is now
    /// [`State::Closed`]).
    Close(Option<CloseFrame<'a>>),
}

/// What [`Connection::receive`] did with the input, other than fail.
#[derive(Debug, PartialEq, Eq)]
pub enum Recv<'a> {
    /// Something arrived.
    Event(Event<'a>),
    /// The input holds no complete unit: read more bytes, keeping the unconsumed ones in front of
    /// them. (Frame headers and control frames are only taken whole, so keep at least 139 bytes of
    /// receive buffer.)
    NeedInput,
    /// The next frame is a Ping, but the Pong for the previous one is still queued: flush
    /// [`Connection::poll_transmit`], then call `receive` again with the same bytes. Every Ping gets
    /// its own Pong, in order, and the queue never grows. (If a frame begun with
    /// [`Connection::send_header`] is still being streamed, finish its payload first: until then
    /// `poll_transmit` holds the Pong back.)
    NeedFlush,
    /// The connection receives nothing more ([`State::CloseReceived`], [`State::Failed`] or
    /// [`State::Closed`]). Bytes after the peer's Close are not the peer's to send and are left
    /// unread.
    Closed,
}

/// The outcome of [`Connection::receive`]: how many input bytes were used, and what happened.
///
/// Always advance the input by `consumed`: bytes consumed are never looked at again, and bytes not
/// consumed must be handed in again (in front of any new ones). On `Err`, `consumed` is 0 and the
/// connection reads nothing more, so the remaining input can be dropped.
#[must_use = "the consumed count must be applied to the input"]
#[derive(Debug, PartialEq, Eq)]
pub struct Received<'a> {
    /// The number of input bytes used.
    pub consumed: usize,
    /// What happened. On `Err` the connection is failed and the error's Close frame is queued.
    pub result: Result<Recv<'a>, ProtocolError>,
}

/// A whole message or a control frame to send with [`Connection::send`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outgoing<'a> {
    /// A text message in one frame.
    Text(&'a str),
    /// A binary message in one frame.
    Binary(&'a [u8]),
    /// A Ping (at most 125 bytes).
    Ping(&'a [u8]),
    /// An unsolicited Pong (at most 125 bytes), for example as a one-way heartbeat.
    Pong(&'a [u8]),
}

const NO_PONG: u8 = u8::MAX;

/// An established WebSocket connection, for either role: bytes in, events out; messages in, bytes
/// out. It owns no buffers and does no I/O.
///
/// # The driving contract
///
/// * **Input.** Hand the bytes read from the transport to [`receive`](Self::receive), advance by
///   [`Received::consumed`], and call again until it answers [`Recv::NeedInput`] (read more, keeping
///   the unconsumed bytes in front), [`Recv::NeedFlush`] (flush, then call again) or
///   [`Recv::Closed`].
/// * **Output owed to the peer.** After handling events, call [`poll_transmit`](Self::poll_transmit)
///   until it returns 0 and write what it produced: automatic Pongs, the Close reply, and the Close
///   that reports a protocol error.
/// * **Output you choose.** [`send`](Self::send), [`send_frame`](Self::send_frame),
///   [`send_header`](Self::send_header) + [`send_payload`](Self::send_payload) and
///   [`close`](Self::close) encode into your buffer at once (behind a Pong still owed, see
///   below); write the bytes in the order produced.
/// * **Failing from above.** A layer over the connection (an extension, an assembler, the
///   application) that finds a message unacceptable calls [`fail`](Self::fail) with its close
///   code, then flushes `poll_transmit` as after a protocol error.
/// * **Ending.** When [`state`](Self::state) is [`State::Closed`], close the transport (a client
///   should first wait a little for the server to close it).
///
/// Timeouts are the driver's: bound the wait for the peer's Close after sending ours, and, if you
/// want, send Pings on an idle timer and close when no Pong comes back.
///
/// # Pongs keep their place
///
/// The automatic Pong for a received Ping goes out before any frame the application sends after
/// that Ping arrived: if [`poll_transmit`](Self::poll_transmit) has not written it yet, `send`,
/// `send_frame`, `send_header` and `close` write it in front of their own frame in `out`, and
/// their count includes it. So the bytes the peer gets are the same whether or not the driver
/// flushed `poll_transmit` in between. This is all or nothing: if the Pong and the frame do not
/// both fit, the error's `needed` is their total, and nothing is written, dequeued or drawn
/// from the randomness source. While a frame begun with `send_header` is still being streamed,
/// a Pong owed for a Ping received meanwhile waits until the frame's payload is complete.
///
/// `R` is the randomness source for masking keys; a server connection uses [`NoRandom`] and never
/// draws.
///
/// # Example
///
/// A client and a server wired back to back in memory: each side's output is the other's
/// input, and each follows the contract above.
///
/// ```
/// use sockless::{Config, Connection, Event, Outgoing, RandomError, Recv};
///
/// let rng = |dest: &mut [u8]| -> Result<(), RandomError> { dest.fill(0x5a); Ok(()) }; // tests only!
/// let mut client = Connection::client(Config::default(), rng);
/// let mut server = Connection::server(Config::default());
///
/// // The client sends a text message and a Ping (masked, so both go out as 6 + payload bytes).
/// let mut wire = [0u8; 64];
/// let mut n = client.send(Outgoing::Text("hi"), &mut wire)?;
/// n += client.send(Outgoing::Ping(b"?"), &mut wire[n..])?;
///
/// // The server takes the bytes in, advancing by `consumed`, until it needs more input.
/// let (mut pos, mut got) = (0, Vec::new());
/// loop {
///     let r = server.receive(&mut wire[pos..n]);
///     pos += r.consumed;
///     match r.result? {
///         Recv::Event(Event::Data { payload, .. }) => got.extend_from_slice(payload),
///         Recv::Event(Event::Ping(p)) => assert_eq!(p, b"?"),
///         Recv::Event(_) | Recv::NeedFlush | Recv::Closed => unreachable!(),
///         Recv::NeedInput => break,
///     }
/// }
/// assert_eq!((pos, &got[..]), (n, &b"hi"[..]));
///
/// // It owes the client a Pong: poll_transmit writes it.
/// let mut out = [0u8; 131];
/// let m = server.poll_transmit(&mut out)?;
/// assert_eq!(&out[..m], &[0x8a, 1, b'?']);
/// assert_eq!(server.poll_transmit(&mut out)?, 0); // nothing more owed
///
/// // The client receives it: a Pong event, and nothing for it to answer.
/// let r = client.receive(&mut out[..m]);
/// assert!(matches!(r.result, Ok(Recv::Event(Event::Pong(b"?")))));
/// # Ok::<(), sockless::Error>(())
/// ```
///
/// # Size
///
/// `size_of::<Connection>()` is 192 bytes on 64-bit targets (asserted by a test), 125 of them
/// for the one queued Pong payload and one for the RSV bits negotiated extensions own (their
/// state lives in their layers). With the smallest buffers that work (139 bytes to receive
/// into, 131 to write one control frame), a whole connection fits in 462 bytes.
#[derive(Clone, Debug)]
pub struct Connection<R = NoRandom> {
    max_frame_len: u64,
    max_message_len: u64,
    /// Payload bytes left in the frame being received.
    rx_remaining: u64,
    /// Payload bytes of the message being received so far, including the current frame's.
    rx_message_len: u64,
    /// Payload bytes left in the frame being streamed out by `send_header`/`send_payload`.
    tx_remaining: u64,
    /// `Config::whole_messages_up_to`.
    whole_messages_up_to: u32,
    /// The masking key of the frame being received, advanced to the next payload byte.
    rx_mask: [u8; 4],
    /// The masking key of the frame being streamed out, advanced to the next payload byte.
    tx_mask: [u8; 4],
    utf8: Utf8Validator,
    /// The payload of the queued Pong (`pong_len` bytes of it, or none if `NO_PONG`).
    pong: [u8; 125],
    pong_len: u8,
    /// The code of the queued Close, if `flags` has `CLOSE_QUEUED` (`NO_STATUS` means an empty
    /// payload).
    close_code: CloseCode,
    /// The RSV bits that negotiated extensions own (laid out as `FrameHeader::rsv`).
    extension_bits: u8,
    /// The RSV bits of the first frame of the message being received.
    rx_rsv: u8,
    rx_message: Option<DataKind>,
    tx_message: Option<DataKind>,
    state: State,
    role: Role,
    /// `AUTO_PONG`, `AUTO_CLOSE`, `RX_FIN`, `CLOSE_QUEUED`: one byte, so that the state stays
    /// within 192 bytes.
    flags: u8,
    rng: R,
}

/// `Config::auto_pong`.
const AUTO_PONG: u8 = 1;
/// `Config::auto_close`.
const AUTO_CLOSE: u8 = 2;
/// The frame being received is its message's last.
const RX_FIN: u8 = 4;
/// A Close is queued, with `Connection::close_code`.
const CLOSE_QUEUED: u8 = 8;

impl Connection<NoRandom> {
    /// A server connection whose handshake is done, for example by
    /// [`Request::accept`](crate::handshake::Request::accept), or by an HTTP server that performed
    /// the upgrade itself.
    pub fn server(config: Config) -> Self {
        Self::new(Role::Server, config, NoRandom)
    }
}

impl<R: RandomSource> Connection<R> {
    /// A client connection whose handshake is done (normally made by
    /// [`ClientHandshake::finish`](crate::handshake::ClientHandshake::finish)), drawing masking keys
    /// from `rng`.
    pub fn client(config: Config, rng: R) -> Self {
        Self::new(Role::Client, config, rng)
    }

    fn new(role: Role, config: Config, rng: R) -> Self {
        Self {
            max_frame_len: config.max_frame_len,
            max_message_len: config.max_message_len,
            rx_remaining: 0,
            rx_message_len: 0,
            tx_remaining: 0,
            whole_messages_up_to: u32::try_from(config.whole_messages_up_to).unwrap_or(u32::MAX),
            rx_mask: [0; 4],
            tx_mask: [0; 4],
            utf8: Utf8Validator::new(),
            pong: [0; 125],
            pong_len: NO_PONG,
            close_code: CloseCode::NO_STATUS,
            extension_bits: 0,
            rx_rsv: 0,
            rx_message: None,
            tx_message: None,
            state: State::Open,
            role,
            flags: if config.auto_pong { AUTO_PONG } else { 0 }
                | if config.auto_close { AUTO_CLOSE } else { 0 },
            rng,
        }
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        self.state
    }

    /// The connection with `bits` owned by the extensions the handshake negotiated: a received
    /// frame may then set them, on the first frame of a data message only (RFC 7692 6: they
    /// describe the message), and they are reported as [`Event::Data`]'s `rsv` on every piece of
    /// that message; [`send_frame_with`](Self::send_frame_with) and
    /// [`send_header_with`](Self::send_header_with) may set them on the first frame of a message
    /// sent. An owned bit on a continuation or a control frame, or a bit not owned, still fails
    /// with [`ProtocolError::ReservedBits`] (1002).
    ///
    /// The handshakes call it for you: [`Request::accept`](crate::handshake::Request::accept)
    /// with the bits of [`Accept::extension`](crate::handshake::Accept::extension), and
    /// [`ClientHandshake::finish_with_extensions`](crate::handshake::ClientHandshake::finish_with_extensions)
    /// with the bits its check returns. Call it yourself only for a connection whose handshake
    /// was done elsewhere, before the first `receive`. The connection stores one byte for it;
    /// the extension's own state lives in its layer.
    ///
    /// ```
    /// use sockless::{Config, Connection, Event, Recv, Rsv};
    /// let mut server = Connection::server(Config::default()).with_extension_bits(Rsv::RSV1);
    /// // A masked binary frame with RSV1 (zero key): 0xC2 = FIN + RSV1 + binary.
    /// let mut input = [0xC2, 0x82, 0, 0, 0, 0, 0xAA, 0xBB];
    /// let r = server.receive(&mut input);
    /// assert!(matches!(r.result, Ok(Recv::Event(Event::Data { rsv: Rsv::RSV1, .. }))));
    /// ```
    #[must_use]
    pub fn with_extension_bits(mut self, bits: Rsv) -> Self {
        self.extension_bits = bits.bits();
        self
    }

    /// The RSV bits negotiated extensions own ([`Rsv::NONE`] without an extension).
    pub fn extension_bits(&self) -> Rsv {
        Rsv::from_bits(self.extension_bits).unwrap_or_default()
    }

    /// Whether [`poll_transmit`](Self::poll_transmit) has something to write now.
    pub fn wants_transmit(&self) -> bool {
        self.tx_remaining == 0 && (self.pong_len != NO_PONG || self.close_queued().is_some())
    }

    /// Takes the next unit from the front of `input`: a frame header, a piece of data payload, or a
    /// whole control frame. Payload is unmasked in place and borrowed from `input`.
    ///
    /// Frame headers (up to 14 bytes) and control frames (up to 14 + 125 bytes) are consumed only
    /// whole; data payload is delivered in whatever pieces the input holds. Feeding the same bytes
    /// in any chunking gives the same events, the same payload bytes (joined) and the same error,
    /// also around invalid text: the valid part of a piece (every byte before the first one at
    /// which the text can no longer be valid UTF-8) is delivered as a [`Event::Data`] consuming
    /// exactly those bytes, and the next call fails with [`ProtocolError::InvalidUtf8`] (1007),
    /// exactly as byte-by-byte input would.
    ///
    /// The payload of a data event is a mutable slice of `input`, and the event borrows `input`,
    /// not the connection: a driver can echo or forward the payload in place with
    /// [`send_header`](Self::send_header) and [`send_payload`](Self::send_payload) (which masks
    /// it in place for a client) while it holds the event, with no copy.
    ///
    /// ```
    /// use sockless::{Config, Connection, DataKind, Event, Recv};
    /// let mut server = Connection::server(Config::default());
    /// // RFC 6455 5.7: a masked text frame "Hello".
    /// let mut input = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    /// let r = server.receive(&mut input);
    /// assert_eq!(r.consumed, 11);
    /// let Ok(Recv::Event(Event::Data { kind, payload, frame_remaining, message_done, .. })) = r.result
    /// else {
    ///     panic!("a data event")
    /// };
    /// assert_eq!((kind, &payload[..], frame_remaining), (DataKind::Text, &b"Hello"[..], 0));
    ///
    /// // Echo it in place: the header goes into `out`, the payload stays where it is.
    /// let mut out = [0u8; 145]; // room for a Pong owed in front of the header
    /// let n = server.send_header(kind, payload.len() as u64, message_done, &mut out)?;
    /// server.send_payload(payload)?; // a client would mask it here, in place
    /// assert_eq!(&out[..n], &[0x81, 0x05]);
    /// assert_eq!(&input[6..], b"Hello"); // write out[..n], then input[6..] (one vectored write)
    /// # Ok::<(), sockless::SendError>(())
    /// ```
    ///
    /// # Errors
    /// In [`Received::result`], the [`ProtocolError`] for the first rule the peer broke. The
    /// connection is then [`State::Failed`] with the error's Close frame queued (or
    /// [`State::Closed`] if we had already sent a Close).
    #[inline]
    pub fn receive<'a>(&mut self, input: &'a mut [u8]) -> Received<'a> {
        match self.whole_small_message(input) {
            Ok(r) => r,
            Err(input) => self.receive_general(input),
        }
    }

    /// The length, header included, of the frame that `input` starts, once its header is
    /// complete: `Some(n)` when no frame is in progress (so the next byte handed to
    /// [`receive`](Self::receive) starts one) and `input` holds the whole header; `None` while a
    /// frame is in progress, while its header is unfinished, and for a header `receive` will
    /// refuse (it reports why).
    ///
    /// `receive` delivers a data frame in whatever pieces the input holds, and an assembler then
    /// copies them. A driver that wants a frame whole, in place (so that
    /// [`Assembler::receive`](crate::message::Assembler::receive) hands it back without a copy),
    /// reads on before calling `receive` while `n` is more than it holds and no more than its
    /// buffer takes. It costs one header decode at the start of each frame.
    ///
    /// ```
    /// use sockless::{Config, Connection};
    /// let server = Connection::server(Config::default());
    /// // A masked binary frame of 300 bytes (16-bit length): 8 bytes of header.
    /// let mut frame = vec![0x82, 0xFE, 0x01, 0x2C, 1, 2, 3, 4];
    /// assert_eq!(server.whole_frame_len(&frame[..3]), None); // the header is not complete yet
    /// assert_eq!(server.whole_frame_len(&frame), Some(308)); // read on until 308 bytes are in
    /// frame.resize(308, 0);
    /// assert_eq!(server.whole_frame_len(&frame), Some(308)); // now `receive` gets it whole
    /// ```
    pub fn whole_frame_len(&self, input: &[u8]) -> Option<usize> {
        if self.rx_remaining != 0 {
            return None;
        }
        match FrameHeader::decode(input) {
            Ok(Status::Complete((header, header_len))) => usize::try_from(header.payload_len)
                .ok()
                .and_then(|len| len.checked_add(header_len)),
            _ => None,
        }
    }

    /// The common case in one short path: a whole unfragmented data frame of at most 65,535
    /// bytes, with no RSV bits, masked as the role requires, within the limits, starting no
    /// message in progress, lies complete in `input` (and its text is valid). Anything else,
    /// including every error, goes back (`Err(input)`, unchanged) to the general path, which then
    /// gives exactly the result it gives for any other frame.
    #[inline(always)]
    fn whole_small_message<'a>(
        &mut self,
        input: &'a mut [u8],
    ) -> Result<Received<'a>, &'a mut [u8]> {
        let [b0, b1, ..] = *input else {
            return Err(input);
        };
        let kind = match b0 {
            0x81 => DataKind::Text,
            0x82 => DataKind::Binary,
            _ => return Err(input),
        };
        let masked = b1 & 0x80 != 0;
        let (len, mask_at) = match b1 & 0x7F {
            126 => match input.get(2..4) {
                Some(&[a, b]) if u16::from_be_bytes([a, b]) >= 126 => {
                    (usize::from(u16::from_be_bytes([a, b])), 4)
                }
                _ => return Err(input),
            },
            127 => return Err(input),
            n => (usize::from(n), 2),
        };
        if self.rx_remaining != 0
            || self.rx_message.is_some()
            || masked != (self.role == Role::Server)
            || !matches!(self.state, State::Open | State::CloseSent)
            || len as u64 > self.max_frame_len
            || len as u64 > self.max_message_len
        {
            return Err(input);
        }
        let header_len = if masked { mask_at + 4 } else { mask_at };
        if input.len() < header_len + len {
            return Err(input);
        }
        let key = match input.get(mask_at..header_len) {
            Some(&[a, b, c, d]) => Some([a, b, c, d]),
            _ => None,
        };
        let frame = header_len..header_len + len;
        let payload = input.get_mut(frame.clone()).unwrap_or_default();
        // Short masked text is known to be ASCII (or not) from the unmasking itself.
        let ascii = key.is_some_and(|key| unmask_reporting_ascii(payload, key));
        if kind == DataKind::Text
            && !ascii
            && !payload.is_ascii()
            && simdutf8::basic::from_utf8(payload).is_err()
        {
            // Invalid text: the general path finds the valid prefix. Masking again restores the
            // bytes as they came.
            if let Some(key) = key {
                apply_mask(payload, key, 0);
            }
            return Err(input);
        }
        let payload = input.get_mut(frame).unwrap_or_default();
        Ok(Received {
            consumed: header_len + len,
            result: Ok(Recv::Event(Event::Data {
                kind,
                payload,
                frame_remaining: 0,
                frame_done: true,
                message_done: true,
                rsv: Rsv::default(),
            })),
        })
    }

    fn receive_general<'a>(&mut self, input: &'a mut [u8]) -> Received<'a> {
        if !matches!(self.state, State::Open | State::CloseSent) {
            return Received {
                consumed: 0,
                result: Ok(Recv::Closed),
            };
        }
        let mut consumed = 0;
        // A frame is in progress exactly while payload remains: an empty data frame is delivered
        // in the same call as its header.
        if self.rx_remaining == 0 {
            let (header, header_len) = match FrameHeader::decode(input) {
                Ok(Status::Complete(h)) => h,
                Ok(Status::Partial) => return need_input(0),
                Err(e) => return self.fail_received(e),
            };
            if let Err(e) = self.check_header(&header) {
                return self.fail_received(e);
            }
            if header.opcode.is_control() {
                // At most 125 by `FrameHeader::decode`.
                let len = header.payload_len as usize;
                let Some(frame) = input.get_mut(..header_len + len) else {
                    return need_input(0);
                };
                if header.opcode == OpCode::Ping && self.will_pong() && self.pong_len != NO_PONG {
                    return Received {
                        consumed: 0,
                        result: Ok(Recv::NeedFlush),
                    };
                }
                let (_, payload) = frame.split_at_mut(header_len);
                if let Some(key) = header.mask {
                    apply_mask(payload, key, 0);
                }
                return self.on_control(header.opcode, payload, header_len + len);
            }
            let message_len = match self.data_frame_message_len(&header) {
                Ok(n) => n,
                Err(e) => return self.fail_received(e),
            };
            // `Config::whole_messages_up_to`: a message in one frame that short waits until it
            // is all here. (A fragment would only be copied twice: it is reassembled anyway.)
            let frame_len = header.payload_len.saturating_add(header_len as u64);
            if header.fin
                && header.opcode != OpCode::Continuation
                && frame_len <= u64::from(self.whole_messages_up_to)
                && frame_len > input.len() as u64
            {
                return need_input(0);
            }
            self.start_data_frame(&header, message_len);
            consumed = header_len;
        }
        let rest = input.get_mut(consumed..).unwrap_or_default();
        let n = usize::try_from(self.rx_remaining).map_or(rest.len(), |r| r.min(rest.len()));
        if n == 0 && self.rx_remaining != 0 {
            return need_input(consumed);
        }
        let (piece, _) = rest.split_at_mut(n);
        let key = self.rx_mask;
        if self.role == Role::Server {
            apply_mask(piece, key, 0);
        }
        let kind = self.rx_message.unwrap_or(DataKind::Binary);
        let mut take = n;
        // A message an extension transformed is not text until the extension's layer decodes it.
        if kind == DataKind::Text && self.rx_rsv == 0 {
            let ends_message = self.has(RX_FIN) && self.rx_remaining == n as u64;
            if let Some(valid) = self.check_text(piece, ends_message) {
                if valid == 0 {
                    return self.fail_received(ProtocolError::InvalidUtf8);
                }
                // Deliver the valid part; the rest is handed in again, so it goes back to the
                // bytes it was (masking twice is the identity).
                take = valid;
                if self.role == Role::Server {
                    if let Some(back) = piece.get_mut(valid..) {
                        apply_mask(back, advance_key(key, valid), 0);
                    }
                }
            }
        }
        let (payload, _) = piece.split_at_mut(take);
        if self.role == Role::Server {
            self.rx_mask = advance_key(key, take);
        }
        self.rx_remaining -= take as u64;
        let frame_done = self.rx_remaining == 0;
        let message_done = frame_done && self.has(RX_FIN);
        if message_done {
            self.rx_message = None;
        }
        Received {
            consumed: consumed + take,
            result: Ok(Recv::Event(Event::Data {
                kind,
                payload,
                frame_remaining: self.rx_remaining,
                frame_done,
                message_done,
                rsv: Rsv::from_bits(self.rx_rsv).unwrap_or_default(),
            })),
        }
    }

    /// Validates the next `piece` of text (the message's last when `ends_message`). `None` if it
    /// is valid so far. Otherwise the number of its bytes before the first byte at which the text
    /// can no longer be valid UTF-8 (an unfinished character just before that byte included; for
    /// a message ending inside a character, that byte is its last), with the validator left as
    /// if exactly those bytes had been fed: delivering them and failing on the next call gives
    /// the same pieces and error as byte-by-byte input would.
    fn check_text(&mut self, piece: &[u8], ends_message: bool) -> Option<usize> {
        let before = self.utf8;
        let valid_up_to = match self.utf8.feed(piece) {
            Ok(()) if !ends_message || self.utf8.finish().is_ok() => return None,
            Ok(()) => {
                // Every byte is a valid prefix; the end of the message after the last one is not.
                let valid = piece.len().saturating_sub(1);
                self.utf8 = before;
                return Some(
                    match self.utf8.feed(piece.get(..valid).unwrap_or_default()) {
                        Ok(()) => valid,
                        Err(_) => 0,
                    },
                );
            }
            Err(e) => e.valid_up_to,
        };
        Some(self.refeed_valid_prefix(before, piece, valid_up_to))
    }

    /// After `piece` failed with its invalid sequence starting at `valid_up_to`: restarts from
    /// `before` (the validator before the piece), feeds the valid bytes, then byte by byte the at
    /// most three bytes of the invalid sequence that still continued it, and returns how many
    /// bytes of `piece` that is.
    #[cold]
    fn refeed_valid_prefix(
        &mut self,
        before: Utf8Validator,
        piece: &[u8],
        valid_up_to: usize,
    ) -> usize {
        let mut v = before;
        let (head, tail) = piece.split_at(valid_up_to.min(piece.len()));
        if v.feed(head).is_err() {
            return 0;
        }
        let mut valid = head.len();
        for byte in tail {
            let mut next = v;
            if next.feed(core::slice::from_ref(byte)).is_err() {
                break;
            }
            v = next;
            valid += 1;
        }
        self.utf8 = v;
        valid
    }

    /// Rules on a decoded header that depend on the role, the configuration or the extensions.
    fn check_header(&self, h: &FrameHeader) -> Result<(), ProtocolError> {
        // RFC 6455 5.2: a bit no negotiated extension gives a meaning fails. The bits an
        // extension owns mean something on the first frame of a data message only.
        if h.rsv != 0
            && (h.rsv & !self.extension_bits != 0
                || !matches!(h.opcode, OpCode::Text | OpCode::Binary))
        {
            return Err(ProtocolError::ReservedBits);
        }
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        // Control frames are bounded by the RFC's 125 bytes (checked by `FrameHeader::decode`),
        // never by the configured data frame limit.
        if !h.opcode.is_control() && h.payload_len > self.max_frame_len {
            return Err(ProtocolError::FrameTooLong);
        }
        Ok(())
    }

    /// Checks a data frame header against the message in progress, changing nothing; returns the
    /// length of the message so far with this frame's payload.
    fn data_frame_message_len(&self, h: &FrameHeader) -> Result<u64, ProtocolError> {
        let before = match (h.opcode, self.rx_message) {
            (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            (OpCode::Continuation, Some(_)) => self.rx_message_len,
            (_, Some(_)) => return Err(ProtocolError::ExpectedContinuation),
            (_, None) => 0,
        };
        match before.checked_add(h.payload_len) {
            Some(n) if n <= self.max_message_len => Ok(n),
            _ => Err(ProtocolError::MessageTooLong),
        }
    }

    /// Starts receiving the payload of a data frame that `data_frame_message_len` accepted.
    fn start_data_frame(&mut self, h: &FrameHeader, message_len: u64) {
        if h.opcode != OpCode::Continuation {
            self.rx_message = Some(if h.opcode == OpCode::Text {
                DataKind::Text
            } else {
                DataKind::Binary
            });
            self.rx_rsv = h.rsv;
            self.utf8 = Utf8Validator::new();
        }
        self.rx_message_len = message_len;
        self.rx_remaining = h.payload_len;
        self.set(RX_FIN, h.fin);
        self.rx_mask = h.mask.unwrap_or_default();
    }

    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    fn set(&mut self, flag: u8, on: bool) {
        self.flags = if on {
            self.flags | flag
        } else {
            self.flags & !flag
        };
    }

    /// The code of the Close queued to be written, if one is.
    fn close_queued(&self) -> Option<CloseCode> {
        self.has(CLOSE_QUEUED).then_some(self.close_code)
    }

    fn queue_close(&mut self, code: Option<CloseCode>) {
        self.set(CLOSE_QUEUED, code.is_some());
        if let Some(code) = code {
            self.close_code = code;
        }
    }

    /// Whether a Ping received now gets an automatic Pong: unless a Close was received (RFC 6455
    /// 5.5.2). Our own Close forbids only data frames (5.5.1), so `CloseSent` still answers.
    fn will_pong(&self) -> bool {
        self.has(AUTO_PONG) && matches!(self.state, State::Open | State::CloseSent)
    }

    fn on_control<'a>(
        &mut self,
        opcode: OpCode,
        payload: &'a [u8],
        consumed: usize,
    ) -> Received<'a> {
        let event = match opcode {
            OpCode::Ping => {
                if self.will_pong() {
                    // At most 125 bytes, checked by `FrameHeader::decode`.
                    if let Some(dest) = self.pong.get_mut(..payload.len()) {
                        dest.copy_from_slice(payload);
                    }
                    self.pong_len = payload.len() as u8;
                }
                Event::Ping(payload)
            }
            OpCode::Pong => Event::Pong(payload),
            _ => {
                let frame = match CloseFrame::parse(payload) {
                    Ok(f) => f,
                    Err(e) => return self.fail_received(e),
                };
                if self.state == State::CloseSent {
                    self.state = State::Closed;
                } else {
                    self.state = State::CloseReceived;
                    if self.has(AUTO_CLOSE) {
                        self.queue_close(Some(frame.map_or(CloseCode::NO_STATUS, |f| f.code)));
                    }
                }
                Event::Close(frame)
            }
        };
        Received {
            consumed,
            result: Ok(Recv::Event(event)),
        }
    }

    /// Fails the connection for a peer's protocol error, reporting it.
    #[cold]
    fn fail_received<'a>(&mut self, e: ProtocolError) -> Received<'a> {
        self.enter_failed(e.close_code());
        Received {
            consumed: 0,
            result: Err(e),
        }
    }

    /// Fails the connection (RFC 6455 7.1.7): queue a Close with `code` unless ours was already
    /// sent, in which case the connection is over. A Pong already queued stays in front of it,
    /// so that the bytes written do not depend on whether the driver flushed between the Ping
    /// and the failure. (In `CloseReceived` our Close was not sent: `code` replaces an echo
    /// still queued.)
    fn enter_failed(&mut self, code: CloseCode) {
        if matches!(self.state, State::Open | State::CloseReceived) {
            self.state = State::Failed;
            self.queue_close(Some(code));
        } else {
            self.state = State::Closed;
            self.queue_close(None);
        }
    }

    /// Fails the connection with `code`, for a reason found above the frame layer: an extension's
    /// layer that cannot decode a message ([`CloseCode::INVALID_PAYLOAD`], 1007, for bad
    /// compressed data or inflated text that is not UTF-8), an assembler over its limit
    /// ([`CloseCode::MESSAGE_TOO_BIG`], 1009), a client missing an extension it requires
    /// ([`CloseCode::MANDATORY_EXTENSION`], 1010), or the application's policy
    /// ([`CloseCode::POLICY_VIOLATION`], 1008). It does what a protocol error found by
    /// [`receive`](Self::receive) does: the state becomes [`State::Failed`], nothing more is
    /// received or may be sent, and a Close with `code` waits in
    /// [`poll_transmit`](Self::poll_transmit) (behind a Pong still owed, and after the payload of
    /// a frame being streamed with [`send_payload`](Self::send_payload), which must be finished
    /// first); once it is written the state is [`State::Closed`] and the transport is closed. If
    /// our Close was already sent ([`State::CloseSent`]), nothing more is written and the state
    /// is `Closed` at once. The peer's Close already received, the Close not yet written carries
    /// `code`.
    ///
    /// The Close carries the code only, like the one a protocol error sends: a reason would take
    /// up to 123 more bytes in every connection, and the 125-byte Pong slot cannot hold it,
    /// since an owed Pong must still go out first. To send a reason, use [`close`](Self::close)
    /// instead, which writes it at once (and then waits for the peer's Close).
    ///
    /// ```
    /// use sockless::{CloseCode, Config, Connection, State};
    /// let mut server = Connection::server(Config::default());
    /// server.fail(CloseCode::INVALID_PAYLOAD)?; // say, a layer could not inflate a message
    /// assert_eq!(server.state(), State::Failed);
    /// let mut out = [0u8; 131];
    /// let n = server.poll_transmit(&mut out)?;
    /// assert_eq!(&out[..n], &[0x88, 0x02, 0x03, 0xEF]); // Close 1007
    /// assert_eq!(server.state(), State::Closed);
    /// # Ok::<(), sockless::SendError>(())
    /// ```
    ///
    /// # Errors
    /// [`SendError::InvalidCloseCode`] for a code that may not be sent (1005, 1006, 1015, ...);
    /// [`SendError::Closing`] if the connection already failed or is closed. Nothing changes.
    pub fn fail(&mut self, code: CloseCode) -> Result<(), SendError> {
        if !code.is_sendable() {
            return Err(SendError::InvalidCloseCode(code.0));
        }
        if matches!(self.state, State::Failed | State::Closed) {
            return Err(SendError::Closing);
        }
        self.enter_failed(code);
        Ok(())
    }

    /// Writes the frames owed to the peer (queued Pong, Close reply, error Close) into `out`,
    /// returning the number of bytes written; 0 when nothing is owed, or while a frame begun with
    /// [`send_header`](Self::send_header) still expects payload (a control frame cannot go inside
    /// it). Call until it returns 0.
    ///
    /// Writing the Close moves the state on: [`State::CloseReceived`] and [`State::Failed`] become
    /// [`State::Closed`].
    ///
    /// ```
    /// use sockless::{Config, Connection, Event, Recv, State};
    /// let mut server = Connection::server(Config::default());
    /// // A masked Ping "hi", then the client's Close 1000 (zero keys), in one read.
    /// let mut input = [0x89, 0x82, 0, 0, 0, 0, b'h', b'i', 0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8];
    /// let r = server.receive(&mut input);
    /// assert!(matches!(r.result, Ok(Recv::Event(Event::Ping(b"hi")))));
    /// let r = server.receive(&mut input[8..]);
    /// assert!(matches!(r.result, Ok(Recv::Event(Event::Close(Some(_))))));
    ///
    /// // Owed: the Pong, then the Close echo, written together when they fit.
    /// let mut out = [0u8; 131];
    /// let n = server.poll_transmit(&mut out)?;
    /// assert_eq!(&out[..n], &[0x8a, 2, b'h', b'i', 0x88, 2, 0x03, 0xe8]);
    /// assert_eq!(server.state(), State::Closed); // now close the transport
    /// assert_eq!(server.poll_transmit(&mut out)?, 0);
    /// # Ok::<(), sockless::SendError>(())
    /// ```
    ///
    /// # Errors
    /// [`SendError::BufferTooSmall`] if not even the first owed frame fits (131 bytes always do);
    /// [`SendError::Random`] if a client's randomness source fails. Nothing is written or dequeued.
    #[must_use = "the bytes written must be sent to the peer"]
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> Result<usize, SendError> {
        if self.tx_remaining != 0 {
            return Ok(0);
        }
        // A queued Close carries a code only (or, for `NO_STATUS`, nothing).
        let mut body = [0u8; 2];
        let close = match self.close_queued() {
            Some(code) => Some(close_payload(code, "", &mut body)?),
            None => None,
        };
        let mut written = self.write_owed_pong(out)?;
        self.pong_len = NO_PONG;
        if let Some(payload) = close {
            let dest = out.get_mut(written..).unwrap_or_default();
            match self.write_frame(OpCode::Close, true, 0, payload, dest) {
                Ok(n) => written += n,
                Err(_) if written != 0 => return Ok(written),
                Err(e) => return Err(e),
            }
            self.queue_close(None);
            self.state = State::Closed;
        }
        Ok(written)
    }

    /// Encodes a whole message, or a Ping or Pong, as one frame into `out`; returns the number of
    /// bytes written. A Pong still owed for a received Ping is written in front of the frame (see
    /// [Pongs keep their place](Self#pongs-keep-their-place)), so the count includes it.
    ///
    /// ```
    /// use sockless::{Config, Connection, Outgoing};
    /// let mut server = Connection::server(Config::default());
    /// let mut out = [0u8; 64];
    /// let n = server.send(Outgoing::Text("Hello"), &mut out).unwrap();
    /// assert_eq!(&out[..n], &[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']); // RFC 6455 5.7
    /// ```
    ///
    /// # Errors
    /// [`SendError`]: no room (for the owed Pong and the frame together: `needed` is their total),
    /// closing, a control payload over 125 bytes, a data message while a fragmented one is in
    /// progress (control frames may go between fragments), or entropy failure. Nothing is written
    /// or dequeued and no state changes.
    #[inline]
    pub fn send(&mut self, msg: Outgoing<'_>, out: &mut [u8]) -> Result<usize, SendError> {
        if let Some(n) = self.send_small_unmasked(&msg, out) {
            return Ok(n);
        }
        self.send_general(msg, out)
    }

    /// The common case of a server's `send` in one short path: a data message of at most 125
    /// bytes, nothing owed, nothing in progress, room in `out`. `None` for anything else, which
    /// the general path then handles (and fails) exactly as it does any other message.
    #[inline]
    fn send_small_unmasked(&mut self, msg: &Outgoing<'_>, out: &mut [u8]) -> Option<usize> {
        let (b0, payload) = match msg {
            Outgoing::Text(t) => (0x81, t.as_bytes()),
            Outgoing::Binary(b) => (0x82, *b),
            _ => return None,
        };
        if self.role != Role::Server
            || self.state != State::Open
            || self.pong_len != NO_PONG
            || self.close_queued().is_some()
            || self.tx_remaining != 0
            || self.tx_message.is_some()
            || payload.len() > 125
        {
            return None;
        }
        let (head, body) = out
            .get_mut(..2 + payload.len())?
            .split_first_chunk_mut::<2>()?;
        *head = [b0, payload.len() as u8];
        copy_short(body, payload);
        Some(2 + payload.len())
    }

    fn send_general(&mut self, msg: Outgoing<'_>, out: &mut [u8]) -> Result<usize, SendError> {
        self.check_can_send()?;
        let (opcode, payload) = match msg {
            Outgoing::Text(t) => (OpCode::Text, t.as_bytes()),
            Outgoing::Binary(b) => (OpCode::Binary, b),
            Outgoing::Ping(p) => (OpCode::Ping, p),
            Outgoing::Pong(p) => (OpCode::Pong, p),
        };
        if opcode.is_control() {
            if payload.len() > 125 {
                return Err(SendError::ControlPayloadTooLong);
            }
        } else if self.tx_message.is_some() {
            return Err(SendError::MessageInProgress);
        }
        self.write_after_pong(opcode, true, 0, payload, out)
    }

    /// Encodes one frame of a fragmented message into `out`; returns the number of bytes written
    /// (with an owed Pong in front, as for [`send`](Self::send)). The first frame carries `kind`;
    /// later ones go out as continuations and must name the same `kind`. The frame with `fin` ends
    /// the message. For text, the concatenated payloads must be valid UTF-8 (a frame may split a
    /// character).
    ///
    /// ```
    /// use sockless::{Config, Connection, DataKind};
    /// let mut server = Connection::server(Config::default());
    /// let mut out = [0u8; 64];
    /// let a = server.send_frame(DataKind::Text, b"Hel", false, &mut out).unwrap();
    /// let b = server.send_frame(DataKind::Text, b"lo", true, &mut out[a..]).unwrap();
    /// assert_eq!(&out[..a + b], &[0x01, 0x03, b'H', b'e', b'l', 0x80, 0x02, b'l', b'o']); // RFC 6455 5.7
    /// ```
    ///
    /// # Errors
    /// As [`send`](Self::send); [`SendError::MessageInProgress`] if a message of the other kind is
    /// in progress.
    pub fn send_frame(
        &mut self,
        kind: DataKind,
        payload: &[u8],
        fin: bool,
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        self.send_frame_with(kind, payload, fin, Rsv::NONE, out)
    }

    /// [`send_frame`](Self::send_frame) with RSV bits that a negotiated extension owns set on the
    /// frame ([`with_extension_bits`](Self::with_extension_bits)): for permessage-deflate,
    /// [`Rsv::RSV1`] on the first frame of a compressed message, whose payload is then the
    /// compressed bytes (a text message's too: they are not checked as UTF-8). Bits go on the
    /// first frame of a message only; pass [`Rsv::NONE`] for its continuations.
    ///
    /// ```
    /// use sockless::{Config, Connection, DataKind, Rsv};
    /// let mut server = Connection::server(Config::default()).with_extension_bits(Rsv::RSV1);
    /// let mut out = [0u8; 64];
    /// // RFC 7692 7.2.3.1: "Hello" compressed, in one frame with RSV1.
    /// let deflated = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    /// let n = server.send_frame_with(DataKind::Text, &deflated, true, Rsv::RSV1, &mut out)?;
    /// assert_eq!(&out[..2], &[0xc1, 0x07]);
    /// assert_eq!(&out[2..n], &deflated);
    /// # Ok::<(), sockless::SendError>(())
    /// ```
    ///
    /// # Errors
    /// As [`send_frame`](Self::send_frame); [`SendError::ReservedBits`] if `rsv` has a bit no
    /// negotiated extension owns, or any bit on a continuation. Nothing is written.
    pub fn send_frame_with(
        &mut self,
        kind: DataKind,
        payload: &[u8],
        fin: bool,
        rsv: Rsv,
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        self.check_can_send()?;
        let opcode = self.data_opcode(kind)?;
        self.check_rsv(opcode, rsv)?;
        let n = self.write_after_pong(opcode, fin, rsv.bits(), payload, out)?;
        self.tx_message = if fin { None } else { Some(kind) };
        Ok(n)
    }

    /// Begins a data frame of `len` payload bytes whose payload the caller streams through
    /// [`send_payload`](Self::send_payload) (masked in place for a client, so no copy is made):
    /// writes the header (at most 14 bytes) into `out` and returns the number of bytes written.
    /// A Pong still owed for a received Ping is written in front of the header (at most
    /// [`MAX_CONTROL_FRAME_LEN`](crate::frame::MAX_CONTROL_FRAME_LEN) bytes more, so 145 bytes of
    /// `out` always suffice), and the count includes it: write `out[..n]`, then the payload. Fragmentation rules are those of [`send_frame`](Self::send_frame). Until
    /// all `len` bytes went through `send_payload`, nothing else may be sent and
    /// [`poll_transmit`](Self::poll_transmit) waits (a Pong owed for a Ping received meanwhile
    /// goes out after the frame).
    ///
    /// ```
    /// use sockless::frame::{MAX_CONTROL_FRAME_LEN, MAX_HEADER_LEN};
    /// use sockless::{Config, Connection, DataKind};
    /// let mut server = Connection::server(Config::default());
    /// let mut header = [0u8; MAX_CONTROL_FRAME_LEN + MAX_HEADER_LEN]; // room for an owed Pong
    /// let mut payload = vec![7u8; 70_000];
    /// let n = server.send_header(DataKind::Binary, payload.len() as u64, true, &mut header).unwrap();
    /// assert_eq!(&header[..n], &[0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
    /// server.send_payload(&mut payload).unwrap(); // a server does not mask: bytes unchanged
    /// // write header[..n] (any owed Pong, then the header) and payload, in that order (one
    /// // vectored write)
    /// ```
    ///
    /// # Errors
    /// As [`send_frame`](Self::send_frame); [`SendError::LengthOverflow`] for a `len` of 2^63 or
    /// more, which no frame may declare (RFC 6455 5.2).
    pub fn send_header(
        &mut self,
        kind: DataKind,
        len: u64,
        fin: bool,
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        self.send_header_with(kind, len, fin, Rsv::NONE, out)
    }

    /// [`send_header`](Self::send_header) with RSV bits that a negotiated extension owns set on
    /// the frame, as for [`send_frame_with`](Self::send_frame_with): a compressed message can be
    /// streamed out, its first frame with [`Rsv::RSV1`].
    ///
    /// ```
    /// use sockless::frame::{MAX_CONTROL_FRAME_LEN, MAX_HEADER_LEN};
    /// use sockless::{Config, Connection, DataKind, Rsv};
    /// let mut server = Connection::server(Config::default()).with_extension_bits(Rsv::RSV1);
    /// let mut header = [0u8; MAX_CONTROL_FRAME_LEN + MAX_HEADER_LEN];
    /// let mut deflated = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]; // "Hello", RFC 7692 7.2.3.1
    /// let n = server.send_header_with(DataKind::Text, 7, true, Rsv::RSV1, &mut header)?;
    /// server.send_payload(&mut deflated)?;
    /// assert_eq!(&header[..n], &[0xc1, 0x07]);
    /// # Ok::<(), sockless::SendError>(())
    /// ```
    ///
    /// # Errors
    /// As [`send_header`](Self::send_header); [`SendError::ReservedBits`] as for
    /// [`send_frame_with`](Self::send_frame_with). Nothing is written.
    pub fn send_header_with(
        &mut self,
        kind: DataKind,
        len: u64,
        fin: bool,
        rsv: Rsv,
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        self.check_can_send()?;
        let opcode = self.data_opcode(kind)?;
        self.check_rsv(opcode, rsv)?;
        if len >> 63 != 0 {
            return Err(SendError::LengthOverflow);
        }
        let mut header = FrameHeader {
            fin,
            rsv: rsv.bits(),
            opcode,
            mask: None,
            payload_len: len,
        };
        if self.role == Role::Client {
            header.mask = Some([0; 4]);
        }
        let pong_len = self.owed_pong_len();
        let needed = pong_len + header.encoded_len();
        if out.len() < needed {
            return Err(BufferTooSmall { needed }.into());
        }
        let (pong_out, header_out) = out.split_at_mut(pong_len);
        self.write_owed_pong(pong_out)?;
        if self.role == Role::Client {
            let mut key = [0u8; 4];
            self.rng.fill(&mut key)?;
            header.mask = Some(key);
            self.tx_mask = key;
        }
        let n = pong_len + header.encode(header_out)?;
        self.pong_len = NO_PONG;
        self.tx_remaining = len;
        self.tx_message = if fin { None } else { Some(kind) };
        Ok(n)
    }

    /// Passes the next `chunk` of the payload of the frame begun by
    /// [`send_header`](Self::send_header): a client masks it in place, a server leaves it as is.
    /// Write the chunk after the header, in order.
    ///
    /// ```
    /// use sockless::{Config, Connection, DataKind, RandomError};
    /// let rng = |dest: &mut [u8]| -> Result<(), RandomError> { dest.copy_from_slice(&[1, 2, 3, 4]); Ok(()) };
    /// let mut client = Connection::client(Config::default(), rng); // key 01 02 03 04 (tests only!)
    /// let mut header = [0u8; 145];
    /// let n = client.send_header(DataKind::Binary, 6, true, &mut header)?;
    /// assert_eq!(&header[..n], &[0x82, 0x86, 1, 2, 3, 4]);
    /// // The payload in two chunks, masked in place: the key carries on across them.
    /// let mut payload = [0u8; 6];
    /// let (a, b) = payload.split_at_mut(3);
    /// client.send_payload(a)?;
    /// client.send_payload(b)?;
    /// assert_eq!(payload, [1, 2, 3, 4, 1, 2]); // zeros masked: the key bytes themselves
    /// assert_eq!(client.payload_remaining(), 0); // the frame is complete
    /// # Ok::<(), sockless::SendError>(())
    /// ```
    ///
    /// # Errors
    /// [`SendError::PayloadOverrun`] if `chunk` is longer than what remains of the streamed frame
    /// (so any non-empty chunk when none is in progress); the chunk is left unchanged.
    pub fn send_payload(&mut self, chunk: &mut [u8]) -> Result<(), SendError> {
        let n = chunk.len() as u64;
        if n > self.tx_remaining {
            return Err(SendError::PayloadOverrun);
        }
        if self.role == Role::Client {
            apply_mask(chunk, self.tx_mask, 0);
            self.tx_mask = advance_key(self.tx_mask, chunk.len());
        }
        self.tx_remaining -= n;
        Ok(())
    }

    /// Bytes still expected by [`send_payload`](Self::send_payload) for the streamed frame.
    pub fn payload_remaining(&self) -> u64 {
        self.tx_remaining
    }

    /// Starts the closing handshake, or answers the peer's Close: encodes a Close frame with `code`
    /// and `reason` into `out` and returns the length written (a Pong still owed for a received
    /// Ping is written in front of it). [`CloseCode::NO_STATUS`] sends a Close with
    /// no payload, so its `reason` must be empty. After it nothing more can be sent; the state becomes
    /// [`State::CloseSent`], or [`State::Closed`] when answering the peer's Close.
    ///
    /// ```
    /// use sockless::{Config, Connection, State, frame::CloseCode};
    /// let mut server = Connection::server(Config::default());
    /// let mut out = [0u8; 131];
    /// let n = server.close(CloseCode::NORMAL, "bye", &mut out).unwrap();
    /// assert_eq!(&out[..n], &[0x88, 5, 0x03, 0xE8, b'b', b'y', b'e']);
    /// assert_eq!(server.state(), State::CloseSent);
    /// ```
    ///
    /// # Errors
    /// [`SendError::InvalidCloseCode`] for a code that may not be sent,
    /// [`SendError::ReasonWithoutCode`] for a non-empty reason with [`CloseCode::NO_STATUS`],
    /// [`SendError::ControlPayloadTooLong`] for a reason over 123 bytes, [`SendError::Closing`] if a
    /// Close was already sent or queued, and otherwise as [`send`](Self::send).
    pub fn close(
        &mut self,
        code: CloseCode,
        reason: &str,
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        if !matches!(self.state, State::Open | State::CloseReceived)
            || self.close_queued().is_some()
        {
            return Err(SendError::Closing);
        }
        if self.tx_remaining != 0 {
            return Err(SendError::FrameInProgress);
        }
        if code != CloseCode::NO_STATUS && !code.is_sendable() {
            return Err(SendError::InvalidCloseCode(code.0));
        }
        let mut body = [0u8; 125];
        let payload = close_payload(code, reason, &mut body)?;
        let n = self.write_after_pong(OpCode::Close, true, 0, payload, out)?;
        self.state = if self.state == State::CloseReceived {
            State::Closed
        } else {
            State::CloseSent
        };
        Ok(n)
    }

    fn check_can_send(&self) -> Result<(), SendError> {
        if self.state != State::Open || self.close_queued().is_some() {
            // With auto_close off, RFC 6455 5.5.1 lets us send data until we send our Close.
            if !(self.state == State::CloseReceived && self.close_queued().is_none()) {
                return Err(SendError::Closing);
            }
        }
        if self.tx_remaining != 0 {
            return Err(SendError::FrameInProgress);
        }
        Ok(())
    }

    /// The opcode for the next data frame of `kind`, given the message in progress.
    fn data_opcode(&self, kind: DataKind) -> Result<OpCode, SendError> {
        match self.tx_message {
            None => Ok(kind.opcode()),
            Some(k) if k == kind => Ok(OpCode::Continuation),
            Some(_) => Err(SendError::MessageInProgress),
        }
    }

    /// Whether a data frame with `opcode` may carry `rsv`: bits that negotiated extensions own,
    /// on the first frame of a message only.
    fn check_rsv(&self, opcode: OpCode, rsv: Rsv) -> Result<(), SendError> {
        if rsv.bits() & !self.extension_bits != 0
            || (!rsv.is_empty() && opcode == OpCode::Continuation)
        {
            return Err(SendError::ReservedBits);
        }
        Ok(())
    }

    /// The length of the frame of the Pong still owed for a received Ping; 0 if none is owed.
    fn owed_pong_len(&self) -> usize {
        if self.pong_len == NO_PONG {
            return 0;
        }
        let mask_len = if self.role == Role::Client { 4 } else { 0 };
        2 + mask_len + usize::from(self.pong_len)
    }

    /// Writes the Pong still owed (if any) and then one whole frame into `out`, returning the
    /// total length: the Pong keeps its place in front of everything the application sends after
    /// its Ping arrived. All or nothing: the size of both is checked before any randomness is
    /// drawn, and the Pong is dequeued only once both are written.
    #[inline]
    fn write_after_pong(
        &mut self,
        opcode: OpCode,
        fin: bool,
        rsv: u8,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        let pong_len = self.owed_pong_len();
        let mask_len = if self.role == Role::Client { 4 } else { 0 };
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask: None,
            payload_len: payload.len() as u64,
        };
        let needed = pong_len + header.encoded_len() + mask_len + payload.len();
        if out.len() < needed {
            return Err(BufferTooSmall { needed }.into());
        }
        let (pong_out, frame_out) = out.split_at_mut(pong_len);
        self.write_owed_pong(pong_out)?;
        let n = self.write_frame(opcode, fin, rsv, payload, frame_out)?;
        self.pong_len = NO_PONG;
        Ok(pong_len + n)
    }

    /// [`write_owed_pong`](Self::write_owed_pong) once a Pong is known to be owed (kept out of
    /// line: the common send path owes none).
    #[cold]
    fn write_owed_pong_slow(&mut self, out: &mut [u8]) -> Result<usize, SendError> {
        let pong = self.pong;
        let payload = pong.get(..usize::from(self.pong_len)).unwrap_or_default();
        self.write_frame(OpCode::Pong, true, 0, payload, out)
    }

    /// Writes the Pong still owed for a received Ping, if any, into `out`, returning its length (0
    /// if none is owed). The caller dequeues it once everything it writes alongside succeeded.
    #[inline]
    fn write_owed_pong(&mut self, out: &mut [u8]) -> Result<usize, SendError> {
        if self.pong_len == NO_PONG {
            return Ok(0);
        }
        self.write_owed_pong_slow(out)
    }

    /// Encodes one whole frame (header and payload, masked for a client) into `out`.
    #[inline]
    fn write_frame(
        &mut self,
        opcode: OpCode,
        fin: bool,
        rsv: u8,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        let mut header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask: (self.role == Role::Client).then_some([0; 4]),
            payload_len: payload.len() as u64,
        };
        let header_len = header.encoded_len();
        let needed = header_len + payload.len();
        let Some(out) = out.get_mut(..needed) else {
            return Err(BufferTooSmall { needed }.into());
        };
        let (head, body) = out.split_at_mut(header_len);
        if let Some(key) = &mut header.mask {
            self.rng.fill(key)?;
            copy_masked(payload, body, *key, 0);
        } else {
            body.copy_from_slice(payload);
        }
        header.encode(head)?;
        Ok(needed)
    }
}

/// The `_to_vec` forms: output appended to a caller `Vec`, grown as needed.
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
impl<R: RandomSource> Connection<R> {
    /// [`send`](Self::send), appending the frame (behind an owed Pong) to `out`, which grows as
    /// needed; returns the number of bytes appended. Nothing is allocated when `out` has the
    /// capacity.
    ///
    /// ```
    /// use sockless::{Config, Connection, Outgoing};
    /// let mut server = Connection::server(Config::default());
    /// let mut out = Vec::new();
    /// server.send_to_vec(Outgoing::Text("Hel"), &mut out)?;
    /// server.send_to_vec(Outgoing::Binary(&[0xff]), &mut out)?;
    /// assert_eq!(out, [0x81, 3, b'H', b'e', b'l', 0x82, 1, 0xff]);
    /// # Ok::<(), sockless::SendError>(())
    /// ```
    ///
    /// # Errors
    /// As [`send`](Self::send), less [`SendError::BufferTooSmall`]; `out` is left as it was.
    pub fn send_to_vec(
        &mut self,
        msg: Outgoing<'_>,
        out: &mut alloc::vec::Vec<u8>,
    ) -> Result<usize, SendError> {
        encode_to_vec(out, |buf| self.send(msg, buf))
    }

    /// [`send_frame`](Self::send_frame), appending to `out` as [`send_to_vec`](Self::send_to_vec)
    /// does.
    ///
    /// # Errors
    /// As [`send_frame`](Self::send_frame), less [`SendError::BufferTooSmall`]; `out` is left as
    /// it was.
    pub fn send_frame_to_vec(
        &mut self,
        kind: DataKind,
        payload: &[u8],
        fin: bool,
        out: &mut alloc::vec::Vec<u8>,
    ) -> Result<usize, SendError> {
        encode_to_vec(out, |buf| self.send_frame(kind, payload, fin, buf))
    }

    /// [`close`](Self::close), appending to `out` as [`send_to_vec`](Self::send_to_vec) does.
    ///
    /// # Errors
    /// As [`close`](Self::close), less [`SendError::BufferTooSmall`]; `out` is left as it was.
    pub fn close_to_vec(
        &mut self,
        code: CloseCode,
        reason: &str,
        out: &mut alloc::vec::Vec<u8>,
    ) -> Result<usize, SendError> {
        encode_to_vec(out, |buf| self.close(code, reason, buf))
    }

    /// Appends everything owed to the peer to `out` (the queued Pong, the Close reply or the
    /// error's Close: what repeated [`poll_transmit`](Self::poll_transmit) calls would write),
    /// growing it as needed, and returns the number of bytes appended (0 when nothing is owed).
    ///
    /// ```
    /// use sockless::{CloseCode, Config, Connection, State};
    /// let mut server = Connection::server(Config::default());
    /// server.fail(CloseCode::POLICY_VIOLATION)?;
    /// let mut out = Vec::new();
    /// assert_eq!(server.poll_transmit_to_vec(&mut out)?, 4);
    /// assert_eq!(out, [0x88, 2, 0x03, 0xF0]);
    /// assert_eq!(server.state(), State::Closed);
    /// # Ok::<(), sockless::SendError>(())
    /// ```
    ///
    /// # Errors
    /// [`SendError::Random`] if a client's randomness source fails; the frames written before it
    /// stay in `out` and out of the queue, the rest stays queued.
    pub fn poll_transmit_to_vec(
        &mut self,
        out: &mut alloc::vec::Vec<u8>,
    ) -> Result<usize, SendError> {
        let mut total = 0;
        loop {
            match encode_to_vec(out, |buf| self.poll_transmit(buf))? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    }
}

/// Appends what `encode` writes into a slice to `out`, growing `out` to exactly what is
/// needed, and returns the number of bytes appended. This is how the `_to_vec` methods work;
/// use it for the encoders that have no `_to_vec` form, for example
/// [`Connection::send_frame_with`] or [`Connection::send_header`].
///
/// `encode` is called first with an empty slice, to learn the size from
/// [`SendError::BufferTooSmall`], then with that many bytes appended (zeroed) to `out`. So it
/// must be transactional, as every encoder of this crate is: a refusal for lack of room writes
/// nothing and changes no state. Nothing is allocated when `out` has the capacity.
///
/// ```
/// use sockless::connection::encode_to_vec;
/// use sockless::{Config, Connection, DataKind, Rsv};
/// let mut server = Connection::server(Config::default()).with_extension_bits(Rsv::RSV1);
/// let mut out = Vec::with_capacity(64);
/// let n = encode_to_vec(&mut out, |buf| {
///     server.send_frame_with(DataKind::Binary, b"zz", true, Rsv::RSV1, buf)
/// })?;
/// assert_eq!((n, &out[..]), (4, &[0xc2, 2, b'z', b'z'][..]));
/// # Ok::<(), sockless::SendError>(())
/// ```
///
/// # Errors
/// What `encode` returns, other than [`SendError::BufferTooSmall`] on its first call; `out` is
/// then left as it was.
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub fn encode_to_vec(
    out: &mut alloc::vec::Vec<u8>,
    mut encode: impl FnMut(&mut [u8]) -> Result<usize, SendError>,
) -> Result<usize, SendError> {
    let needed = match encode(&mut []) {
        Err(SendError::BufferTooSmall(BufferTooSmall { needed })) => needed,
        other => return other,
    };
    let start = out.len();
    out.resize(start + needed, 0);
    let r = encode(out.get_mut(start..).unwrap_or_default());
    out.truncate(start + r.as_ref().map_or(0, |&n| n));
    r
}

/// `key` moved on by `n` payload bytes: the key whose first byte masks the next byte. (Keeping the
/// key rotated instead of a position beside it keeps `Connection` within 192 bytes.)
#[inline]
fn advance_key(key: [u8; 4], n: usize) -> [u8; 4] {
    u32::from_le_bytes(key)
        .rotate_right(8 * (n % 4) as u32)
        .to_le_bytes()
}

/// The payload of a Close frame with `code` and `reason`, encoded into `buf` (RFC 6455 5.5.1):
/// the code in network order, then the reason; nothing at all for [`CloseCode::NO_STATUS`].
///
/// # Errors
/// [`SendError::ReasonWithoutCode`] for a reason with `NO_STATUS`;
/// [`SendError::ControlPayloadTooLong`] if the payload does not fit in `buf` (125 bytes: the
/// most a control frame carries).
fn close_payload<'b>(
    code: CloseCode,
    reason: &str,
    buf: &'b mut [u8],
) -> Result<&'b [u8], SendError> {
    if code == CloseCode::NO_STATUS {
        return if reason.is_empty() {
            Ok(&[])
        } else {
            Err(SendError::ReasonWithoutCode)
        };
    }
    let len = 2 + reason.len();
    let Some(payload) = buf.get_mut(..len) else {
        return Err(SendError::ControlPayloadTooLong);
    };
    let (head, rest) = payload.split_at_mut(2);
    head.copy_from_slice(&code.0.to_be_bytes());
    rest.copy_from_slice(reason.as_bytes());
    Ok(payload)
}

fn need_input<'a>(consumed: usize) -> Received<'a> {
    Received {
        consumed,
        result: Ok(Recv::NeedInput),
    }
}
