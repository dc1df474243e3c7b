//! The per-connection layer: a [`Compressor`] and an [`Inflater`] wired to a [`Connection`].

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use super::{Agreed, CompressError, Compressor, InflateError, InflateStatus, Inflated, Inflater};
use crate::connection::{encode_to_vec, Connection, Event, Outgoing, Recv};
use crate::error::{ProtocolError, SendError};
use crate::frame::{CloseCode, DataKind, Rsv};
use crate::message::{Assembled, Assembler, Incoming, MessageBuffer};
use crate::rand::RandomSource;
use crate::utf8::Utf8Validator;

/// The size of the buffer [`Deflate::receive`] inflates into, allocated on the first compressed
/// message it receives. A message that inflates within it is handed back from it without a copy;
/// a longer one is copied into the assembler's buffer piece by piece.
pub const INFLATE_CHUNK: usize = 16 << 10;

/// Why the layer failed. Each error but [`Send`](Self::Send) has failed the connection: its Close
/// (with [`close_code`](Self::close_code)) is queued, so flush
/// [`Connection::poll_transmit`] and stop reading, as after a protocol error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeflateError {
    /// The peer broke RFC 6455 (from [`Connection::receive`]), or a reassembled message broke
    /// the assembler's rules (too long for a fixed buffer, or invalid UTF-8 in inflated text).
    Protocol(ProtocolError),
    /// A compressed message could not be inflated: corrupt (1007), too long once inflated
    /// (1009), or invalid UTF-8 in inflated text (1007, from [`Deflate::inflate`]).
    Inflate(InflateError),
    /// Compressing failed (1011). The connection cannot go on: the peer's inflater would no
    /// longer follow ours.
    Compress(CompressError),
    /// The send was refused ([`SendError`]: closing, another message in progress, a control
    /// payload too long; nothing was compressed or written, and the connection is as it was), or
    /// a client's randomness source failed after the message was compressed (the connection is
    /// then failed with 1011, since the compressor has moved on).
    Send(SendError),
}

impl DeflateError {
    /// The close code that goes on the wire: the connection's for a protocol error, the layer's
    /// for the others; `None` for a refused send, which fails nothing.
    #[must_use]
    pub const fn close_code(self) -> Option<CloseCode> {
        match self {
            Self::Protocol(e) => Some(e.close_code()),
            Self::Inflate(e) => Some(e.close_code()),
            Self::Compress(e) => Some(e.close_code()),
            Self::Send(SendError::Random(_)) => Some(CloseCode::INTERNAL_ERROR),
            Self::Send(_) => None,
        }
    }
}

impl fmt::Display for DeflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Protocol(e) => e.fmt(f),
            Self::Inflate(e) => e.fmt(f),
            Self::Compress(e) => e.fmt(f),
            Self::Send(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for DeflateError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(match self {
            Self::Protocol(e) => e,
            Self::Inflate(e) => e,
            Self::Compress(e) => e,
            Self::Send(e) => e,
        })
    }
}

impl From<ProtocolError> for DeflateError {
    fn from(e: ProtocolError) -> Self {
        Self::Protocol(e)
    }
}

impl From<SendError> for DeflateError {
    fn from(e: SendError) -> Self {
        Self::Send(e)
    }
}

/// How the message being sent with [`Deflate::send_frame`] goes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sending {
    /// No fragmented message in progress.
    Idle,
    /// Fragments of a compressed message of this kind.
    Compressed(DataKind),
    /// Fragments of a plain message of this kind.
    Plain(DataKind),
}

/// permessage-deflate for one connection, from the parameters the handshake agreed: messages
/// compressed on the way out and inflated on the way in, the connection failed with the right
/// code when the peer's data is bad.
///
/// * **Receiving whole messages**: [`receive`](Self::receive) in place of
///   [`Assembler::receive`]: plain and compressed messages come back the same way, as
///   [`Incoming::Message`].
/// * **Receiving in pieces**: for an [`Event::Data`] whose `rsv` contains [`Rsv::RSV1`], hand
///   each payload piece to [`inflate`](Self::inflate), which inflates it into a buffer of yours
///   (text validated on the inflated bytes).
/// * **Sending**: [`send`](Self::send) for a whole message (compressed when
///   [`Agreed::should_compress`] says so, else plain), [`send_frame`](Self::send_frame) for a
///   message in fragments, compressed across them; output appended to a `Vec`.
///
/// Every error that comes from the peer's data or from the layer fails the connection with its
/// close code ([`Connection::fail`]) before it is returned: flush
/// [`Connection::poll_transmit`] as after a protocol error.
///
/// # Memory
///
/// The struct is about 200 bytes; the heap it holds is that of its [`Compressor`] (about
/// 320 KB once a message is compressed) and [`Inflater`] (about 43 KB once one is inflated)
/// (see [the module docs](super#memory-per-connection)), plus what the layer adds: a `Vec` the
/// compressed frames are built in (as long as the longest compressed message or fragment sent;
/// [`release`](Self::release) frees it) and, once [`receive`](Self::receive) got a compressed
/// message, a buffer of [`INFLATE_CHUNK`] (16 KiB) to inflate into. A message longer than that
/// is stored in the assembler's buffer, as a plain one would be.
///
/// ```
/// use sockless::deflate::{Agreed, Deflate};
/// use sockless::message::{Assembler, Incoming, Message};
/// use sockless::{Config, Connection, Outgoing, Rsv};
///
/// let agreed = Agreed::DEFAULT; // from the handshake, both sides
/// let mut server = Connection::server(Config::default()).with_extension_bits(Rsv::RSV1);
/// let mut client = Connection::client(Config::default(), |k: &mut [u8]| {
///     k.fill(7); // tests only!
///     Ok(())
/// })
/// .with_extension_bits(Rsv::RSV1);
/// let (mut server_deflate, mut client_deflate) = (Deflate::new(&agreed, 1 << 20), Deflate::new(&agreed, 1 << 20));
///
/// let text = "a text long enough to be worth compressing, a text long enough to be worth it";
/// let mut wire = Vec::new();
/// client_deflate.send(&mut client, Outgoing::Text(text), &mut wire)?;
/// assert_eq!(wire[0], 0xc1); // FIN, RSV1, text
/// assert!(wire.len() < text.len());
///
/// let mut assembler = Assembler::new(Vec::new());
/// let r = server_deflate.receive(&mut server, &mut assembler, &mut wire);
/// assert_eq!(r.result?, Incoming::Message(Message::Text(text)));
/// # Ok::<(), sockless::deflate::DeflateError>(())
/// ```
pub struct Deflate {
    agreed: Agreed,
    compressor: Compressor,
    inflater: Inflater,
    /// Validates the text being inflated by [`inflate`](Self::inflate).
    utf8: Utf8Validator,
    /// A message is being inflated by [`inflate`](Self::inflate) (its validator is in use).
    inflating: bool,
    sending: Sending,
    /// Compressed frames are built here before they are framed.
    compressed: Vec<u8>,
    /// Where [`receive`](Self::receive) inflates to, allocated on first use.
    chunk: Option<Box<[u8]>>,
}

impl fmt::Debug for Deflate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deflate")
            .field("agreed", &self.agreed)
            .field("compressor", &self.compressor)
            .field("inflater", &self.inflater)
            .field("sending", &self.sending)
            .finish_non_exhaustive()
    }
}

impl Deflate {
    /// The layer for the parameters `agreed` in the handshake (from
    /// [`ServerNegotiation::agreed`](super::ServerNegotiation::agreed) or
    /// [`ClientNegotiation::agreed`](super::ClientNegotiation::agreed)), failing incoming
    /// messages that inflate to more than `max_message_len` bytes (use the connection's
    /// [`Config::max_message_len`](crate::Config::max_message_len)). Allocates nothing until the
    /// first message is compressed or inflated.
    #[must_use]
    pub fn new(agreed: &Agreed, max_message_len: u64) -> Self {
        Self {
            agreed: *agreed,
            compressor: Compressor::new(agreed),
            inflater: Inflater::new(agreed, max_message_len),
            utf8: Utf8Validator::new(),
            inflating: false,
            sending: Sending::Idle,
            compressed: Vec::new(),
            chunk: None,
        }
    }

    /// The parameters in force.
    #[must_use]
    pub const fn agreed(&self) -> &Agreed {
        &self.agreed
    }

    /// Receives from `conn` and reassembles, as [`Assembler::receive`] does, inflating
    /// compressed messages: a whole message comes back as [`Incoming::Message`], plain or
    /// compressed alike (a compressed one borrowed from the layer's buffer if it inflated within
    /// [`INFLATE_CHUNK`] bytes, else from the assembler's). Other events, `NeedInput`,
    /// `NeedFlush` and `Closed` are passed on as [`Assembler::receive`] passes them. Call it where
    /// the driving loop calls `Connection::receive`, and advance the input by
    /// [`Assembled::consumed`] whatever the result.
    ///
    /// Text is validated once: plain text by the connection as it streams, inflated text by the
    /// assembler as each inflated piece is stored ([`Assembler::push`]), so a bad byte fails the
    /// message within one piece of it. Inflated bytes count against the limit as they are
    /// produced, and a fixed assembler buffer bounds a message before it is stored.
    ///
    /// # Errors
    /// Every error fails the connection (unlike [`Assembler::receive`], whose own errors leave it
    /// open), with the error's [`close_code`](DeflateError::close_code):
    /// [`DeflateError::Protocol`] for the connection's errors and the assembler's
    /// ([`ProtocolError::MessageTooLong`] for a fixed buffer too small, 1009;
    /// [`ProtocolError::InvalidUtf8`] for invalid inflated text, 1007), and
    /// [`DeflateError::Inflate`] for corrupt data (1007) or a message that inflates past
    /// `max_message_len` (1009).
    pub fn receive<'a, R: RandomSource, B: MessageBuffer>(
        &'a mut self,
        conn: &mut Connection<R>,
        assembler: &'a mut Assembler<B>,
        input: &'a mut [u8],
    ) -> Assembled<'a, DeflateError> {
        let crate::Received { consumed, result } = conn.receive(input);
        let result = match result {
            Ok(Recv::Event(Event::Data {
                kind,
                payload,
                message_done,
                rsv,
                ..
            })) if rsv.contains(Rsv::RSV1) => {
                self.receive_compressed(conn, assembler, kind, payload, message_done)
            }
            // Straight from `Connection::receive`, as `assemble` requires.
            other => match assembler.assemble(other) {
                Ok(incoming) => Ok(incoming),
                Err(e) => Err(fail(conn, DeflateError::Protocol(e))),
            },
        };
        Assembled { consumed, result }
    }

    /// Inflates one payload piece of a compressed message into the assembler.
    fn receive_compressed<'a, R: RandomSource, B: MessageBuffer>(
        &'a mut self,
        conn: &mut Connection<R>,
        assembler: &'a mut Assembler<B>,
        kind: DataKind,
        payload: &[u8],
        message_done: bool,
    ) -> Result<Incoming<'a>, DeflateError> {
        let Self {
            inflater, chunk, ..
        } = self;
        let out: &'a mut [u8] = chunk.get_or_insert_with(|| vec![0u8; INFLATE_CHUNK].into());
        let mut input = payload;
        let last = loop {
            let r = match inflater.inflate(input, message_done, out) {
                Ok(r) => r,
                Err(e) => return Err(fail(conn, DeflateError::Inflate(e))),
            };
            input = input.get(r.consumed..).unwrap_or_default();
            let inflated = out.get(..r.written).unwrap_or_default();
            if r.status == InflateStatus::MessageDone {
                break r.written;
            }
            // Stored, and validated if text, as it comes: `push` never hands a message back
            // before its last piece.
            if let Err(e) = assembler.push(kind, inflated, false) {
                return Err(fail(conn, DeflateError::Protocol(e)));
            }
            if r.status == InflateStatus::NeedInput {
                return Ok(Incoming::Pending);
            }
        };
        let out: &'a [u8] = out;
        match assembler.push(kind, out.get(..last).unwrap_or_default(), true) {
            Ok(Some(message)) => Ok(Incoming::Message(message)),
            Ok(None) => Ok(Incoming::Pending),
            Err(e) => Err(fail(conn, DeflateError::Protocol(e))),
        }
    }

    /// Inflates the next payload piece of a compressed message (an [`Event::Data`] whose `rsv`
    /// contains [`Rsv::RSV1`]) into `out`, for a driver that handles messages in pieces rather
    /// than whole: [`Inflater::inflate`], with text validated on the inflated bytes (failing in
    /// the call whose output holds the first invalid byte) and errors failing `conn`.
    ///
    /// `kind` is the event's, `end` its `message_done`. Repeat with `input[consumed..]` (and
    /// fresh output space after [`InflateStatus::OutputFull`]) until the status is
    /// [`InflateStatus::NeedInput`] (take the next event) or [`InflateStatus::MessageDone`].
    ///
    /// ```
    /// use sockless::deflate::{Agreed, Deflate, InflateStatus};
    /// use sockless::{Config, Connection, DataKind};
    /// let mut server = Connection::server(Config::default());
    /// let mut deflate = Deflate::new(&Agreed::DEFAULT, 1 << 20);
    /// let payload = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]; // "Hello", RFC 7692 7.2.3.1
    /// let mut out = [0u8; 2];
    /// let (mut input, mut text) = (&payload[..], Vec::new());
    /// loop {
    ///     let r = deflate.inflate(&mut server, DataKind::Text, input, true, &mut out)?;
    ///     input = &input[r.consumed..];
    ///     text.extend_from_slice(&out[..r.written]);
    ///     if r.status == InflateStatus::MessageDone {
    ///         break;
    ///     }
    /// }
    /// assert_eq!(text, b"Hello");
    /// # Ok::<(), sockless::deflate::DeflateError>(())
    /// ```
    ///
    /// # Errors
    /// [`DeflateError::Inflate`]: corrupt data or invalid inflated text (1007), or a message
    /// past `max_message_len` (1009). The connection is failed; the bytes of the failing call
    /// are not handed out.
    pub fn inflate<R: RandomSource>(
        &mut self,
        conn: &mut Connection<R>,
        kind: DataKind,
        input: &[u8],
        end: bool,
        out: &mut [u8],
    ) -> Result<Inflated, DeflateError> {
        if !self.inflating {
            self.utf8 = Utf8Validator::new();
            self.inflating = true;
        }
        let r = match kind {
            DataKind::Text => self.inflater.inflate_text(input, end, out, &mut self.utf8),
            DataKind::Binary => self.inflater.inflate(input, end, out),
        };
        match r {
            Ok(r) => {
                if r.status == InflateStatus::MessageDone {
                    self.inflating = false;
                }
                Ok(r)
            }
            Err(e) => Err(fail(conn, DeflateError::Inflate(e))),
        }
    }

    /// [`inflate`](Self::inflate) of one whole payload piece, appending the inflated bytes to
    /// `out` (grown [`INFLATE_CHUNK`] bytes at a time, bounded by `max_message_len` through the
    /// inflater). Returns `true` once the message is complete (the piece with `end`), `false`
    /// when the next piece is needed.
    ///
    /// ```
    /// use sockless::deflate::{Agreed, Deflate};
    /// use sockless::{Config, Connection, DataKind};
    /// let mut server = Connection::server(Config::default());
    /// let mut deflate = Deflate::new(&Agreed::DEFAULT, 1 << 20);
    /// let mut text = Vec::new();
    /// let payload = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]; // "Hello", RFC 7692 7.2.3.1
    /// assert!(deflate.inflate_to_vec(&mut server, DataKind::Text, &payload, true, &mut text)?);
    /// assert_eq!(text, b"Hello");
    /// # Ok::<(), sockless::deflate::DeflateError>(())
    /// ```
    ///
    /// # Errors
    /// As [`inflate`](Self::inflate); `out` then holds only the bytes of earlier calls.
    pub fn inflate_to_vec<R: RandomSource>(
        &mut self,
        conn: &mut Connection<R>,
        kind: DataKind,
        mut input: &[u8],
        end: bool,
        out: &mut Vec<u8>,
    ) -> Result<bool, DeflateError> {
        loop {
            let start = out.len();
            out.resize(start + INFLATE_CHUNK, 0);
            let r = self.inflate(
                conn,
                kind,
                input,
                end,
                out.get_mut(start..).unwrap_or_default(),
            );
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    out.truncate(start);
                    return Err(e);
                }
            };
            out.truncate(start + r.written);
            input = input.get(r.consumed..).unwrap_or_default();
            match r.status {
                InflateStatus::OutputFull => {}
                InflateStatus::NeedInput => return Ok(false),
                InflateStatus::MessageDone => return Ok(true),
            }
        }
    }

    /// Sends a whole message, or a Ping or Pong, appending the frame to `out` as
    /// [`Connection::send_to_vec`] does: a text or binary message of at least
    /// [`Agreed::min_compress_len`] bytes goes out compressed, in one frame with RSV1; a
    /// shorter one, and a control frame, as it is. Returns the number of bytes appended.
    ///
    /// # Errors
    /// [`DeflateError::Send`] when the connection refuses the frame (nothing was compressed or
    /// appended, and nothing changed); [`DeflateError::Compress`] (the connection is failed with
    /// 1011).
    pub fn send<R: RandomSource>(
        &mut self,
        conn: &mut Connection<R>,
        message: Outgoing<'_>,
        out: &mut Vec<u8>,
    ) -> Result<usize, DeflateError> {
        let (kind, payload) = match message {
            Outgoing::Text(text) => (DataKind::Text, text.as_bytes()),
            Outgoing::Binary(bytes) => (DataKind::Binary, bytes),
            Outgoing::Ping(_) | Outgoing::Pong(_) => return Ok(conn.send_to_vec(message, out)?),
        };
        if self.sending != Sending::Idle || !self.agreed.should_compress(payload.len()) {
            // `send` itself refuses a data message while a fragmented one is in progress.
            return Ok(conn.send_to_vec(message, out)?);
        }
        check_send(conn, kind, true, Rsv::RSV1)?;
        self.compressed.clear();
        if let Err(e) = self
            .compressor
            .compress_message(payload, &mut self.compressed)
        {
            return Err(fail(conn, DeflateError::Compress(e)));
        }
        let compressed = &self.compressed;
        encode_to_vec(out, |buf| {
            conn.send_frame_with(kind, compressed, true, Rsv::RSV1, buf)
        })
        .map_err(|e| fail(conn, DeflateError::Send(e)))
    }

    /// Sends the next fragment of a message (as [`Connection::send_frame`] does, appending to
    /// `out`), compressed across fragments: the first fragment decides, by its own length
    /// ([`Agreed::should_compress`]), whether the whole message is compressed. A compressed
    /// message's fragment carries what compressing `piece` produced, flushed so that the peer can
    /// inflate it at once; the one with `fin` ends the message. Returns the number of bytes
    /// appended.
    ///
    /// The fragments of a text must join into valid UTF-8 (a fragment may split a character),
    /// as for `send_frame`.
    ///
    /// # Errors
    /// As [`send`](Self::send); [`SendError::MessageInProgress`] if a message of the other kind
    /// is in progress.
    pub fn send_frame<R: RandomSource>(
        &mut self,
        conn: &mut Connection<R>,
        kind: DataKind,
        piece: &[u8],
        fin: bool,
        out: &mut Vec<u8>,
    ) -> Result<usize, DeflateError> {
        let (compress, rsv) = match self.sending {
            Sending::Idle => {
                let compress = self.agreed.should_compress(piece.len());
                (compress, if compress { Rsv::RSV1 } else { Rsv::NONE })
            }
            Sending::Compressed(k) | Sending::Plain(k) if k != kind => {
                return Err(DeflateError::Send(SendError::MessageInProgress))
            }
            Sending::Compressed(_) => (true, Rsv::NONE),
            Sending::Plain(_) => (false, Rsv::NONE),
        };
        if !compress {
            let n = encode_to_vec(out, |buf| {
                conn.send_frame_with(kind, piece, fin, Rsv::NONE, buf)
            })?;
            self.sending = if fin {
                Sending::Idle
            } else {
                Sending::Plain(kind)
            };
            return Ok(n);
        }
        check_send(conn, kind, fin, rsv)?;
        self.compressed.clear();
        let compressed = self
            .compressor
            .compress(piece, &mut self.compressed)
            .and_then(|()| {
                if fin {
                    self.compressor.finish(&mut self.compressed)
                } else {
                    self.compressor.flush(&mut self.compressed)
                }
            });
        if let Err(e) = compressed {
            return Err(fail(conn, DeflateError::Compress(e)));
        }
        let compressed = &self.compressed;
        let n = encode_to_vec(out, |buf| {
            conn.send_frame_with(kind, compressed, fin, rsv, buf)
        })
        .map_err(|e| fail(conn, DeflateError::Send(e)))?;
        self.sending = if fin {
            Sending::Idle
        } else {
            Sending::Compressed(kind)
        };
        Ok(n)
    }

    /// Frees what can be freed between messages: the layer's buffers, and the compressor's and
    /// inflater's state when the settings let them start every message afresh (their `release`).
    /// Returns whether all of the heap was freed.
    pub fn release(&mut self) -> bool {
        self.compressed = Vec::new();
        self.chunk = None;
        let compressor = self.sending == Sending::Idle && self.compressor.release();
        let inflater = !self.inflating && self.inflater.release();
        compressor && inflater
    }
}

/// Whether `conn` would take a data frame of `kind` with `rsv` now (an empty dry run: the
/// encoders check everything else before the room, and change nothing on `BufferTooSmall`), so
/// that nothing is compressed for a frame the connection would refuse.
fn check_send<R: RandomSource>(
    conn: &mut Connection<R>,
    kind: DataKind,
    fin: bool,
    rsv: Rsv,
) -> Result<(), DeflateError> {
    match conn.send_frame_with(kind, &[], fin, rsv, &mut []) {
        Err(SendError::BufferTooSmall(_)) => Ok(()),
        Err(e) => Err(DeflateError::Send(e)),
        // No frame fits in an empty buffer; the connection changed nothing either way.
        Ok(_) => Ok(()),
    }
}

/// Fails `conn` with the close code of `e`, if it has one, and returns `e`. A connection that
/// has already failed (for its own protocol errors) keeps its state and its queued Close.
fn fail<R: RandomSource>(conn: &mut Connection<R>, e: DeflateError) -> DeflateError {
    if let Some(code) = e.close_code() {
        // `Closing`: it failed or closed already, and its Close is queued or sent.
        let _ = conn.fail(code);
    }
    e
}
