//! Message reassembly, a layer over [`Event::Data`] pieces.
//!
//! The connection streams payload in pieces and never buffers. When whole messages are easier to
//! handle, let an [`Assembler`] drive the connection: [`Assembler::receive`] calls
//! [`Connection::receive`] and stores the pieces in a [`MessageBuffer`]: a `Vec<u8>` (feature
//! `alloc`; it grows to the largest message seen, which the connection bounds by
//! [`Config::max_message_len`](crate::Config::max_message_len), and is reused), or a fixed
//! `ArrayVec<u8, N>` (no allocation at all; set `max_message_len` to at most `N` so the connection
//! fails an oversized message at its frame header with 1009).
//!
//! A message that arrives whole in one piece (one frame, fully in the input) is handed back
//! borrowed from the input, without a copy; a fixed buffer's capacity still bounds it, so whether a
//! message fits never depends on how it was split. Text is not validated a second time: the
//! connection validated it as it streamed, and the assembler checks only where pieces join (see
//! [`manual`](crate::manual#one-utf-8-pass)).
//!
//! ```
//! use sockless::message::{Assembler, Incoming, Message};
//! use sockless::{Config, Connection};
//!
//! let mut server = Connection::server(Config::default());
//! let mut assembler = Assembler::new(arrayvec::ArrayVec::<u8, 64>::new());
//! // "Hel" + "lo" as two masked fragments (RFC 6455 5.7, masked with a zero key).
//! let mut input = [0x01, 0x83, 0, 0, 0, 0, b'H', b'e', b'l', 0x80, 0x82, 0, 0, 0, 0, b'l', b'o'];
//! let mut pos = 0;
//! let mut got = None;
//! while pos < input.len() {
//!     let r = assembler.receive(&mut server, &mut input[pos..]);
//!     pos += r.consumed;
//!     match r.result? {
//!         Incoming::Message(Message::Text(text)) => got = Some(text.to_owned()),
//!         Incoming::Pending => {} // a piece was stored: go on
//!         _ => break,
//!     }
//! }
//! assert_eq!(got.as_deref(), Some("Hello"));
//! # Ok::<(), sockless::ProtocolError>(())
//! ```

use crate::connection::{Connection, Event, Recv};
use crate::error::ProtocolError;
use crate::frame::DataKind;
use crate::rand::RandomSource;

/// A whole received message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message (valid UTF-8).
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
}

/// A buffer that could not take more bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapacityError;

mod sealed {
    /// Only the crate's buffers: text is handed out of them without a second UTF-8 pass, which
    /// relies on `as_slice` returning exactly the bytes appended since `clear`.
    pub trait Sealed {}
}

/// Storage for the message being reassembled: `Vec<u8>` (feature `alloc`) or
/// `arrayvec::ArrayVec<u8, N>`. The trait is sealed: the assembler hands text out of the buffer
/// without validating it again, which relies on the buffer returning exactly the bytes appended.
pub trait MessageBuffer: sealed::Sealed {
    /// The bytes stored.
    fn as_slice(&self) -> &[u8];
    /// Forgets the bytes stored (keeping any capacity).
    fn clear(&mut self);
    /// Appends `bytes`, or fails without change if they do not fit.
    ///
    /// # Errors
    /// [`CapacityError`] if the buffer cannot hold them.
    fn try_extend(&mut self, bytes: &[u8]) -> Result<(), CapacityError>;

    /// The most bytes a message may have, if the buffer has a fixed capacity. A message that
    /// arrives in one piece is handed back without being stored, but is still held to this, so
    /// that whether a message fits does not depend on how it was split.
    fn max_len(&self) -> Option<usize> {
        None
    }
}

#[cfg(feature = "alloc")]
impl sealed::Sealed for alloc::vec::Vec<u8> {}

#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
impl MessageBuffer for alloc::vec::Vec<u8> {
    fn as_slice(&self) -> &[u8] {
        self
    }
    fn clear(&mut self) {
        alloc::vec::Vec::clear(self);
    }
    fn try_extend(&mut self, bytes: &[u8]) -> Result<(), CapacityError> {
        self.try_reserve(bytes.len()).map_err(|_| CapacityError)?;
        self.extend_from_slice(bytes);
        Ok(())
    }
}

impl<const N: usize> sealed::Sealed for arrayvec::ArrayVec<u8, N> {}

impl<const N: usize> MessageBuffer for arrayvec::ArrayVec<u8, N> {
    fn as_slice(&self) -> &[u8] {
        self
    }
    fn clear(&mut self) {
        arrayvec::ArrayVec::clear(self);
    }
    fn try_extend(&mut self, bytes: &[u8]) -> Result<(), CapacityError> {
        self.try_extend_from_slice(bytes).map_err(|_| CapacityError)
    }
    fn max_len(&self) -> Option<usize> {
        Some(N)
    }
}

/// What [`Assembler::receive`] got from the connection, other than an error.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// A whole message: borrowed from the input if it arrived in one piece, else from the
    /// assembler's buffer.
    Message(Message<'a>),
    /// A piece of a message was stored and the message is not complete: call again with the rest
    /// of the input.
    Pending,
    /// An event other than data (a Ping, Pong or Close), as [`Connection::receive`] reported it;
    /// or a data piece whose message carries reserved bits of a negotiated extension (for example
    /// a compressed message), handed back untouched for the extension's layer, since its payload
    /// is not the message's bytes (and text in it was not validated by the connection).
    Event(Event<'a>),
    /// As [`Recv::NeedInput`]: read more, keeping the unconsumed bytes in front.
    NeedInput,
    /// As [`Recv::NeedFlush`]: flush [`Connection::poll_transmit`], then call again.
    NeedFlush,
    /// As [`Recv::Closed`]: nothing more is received.
    Closed,
}

/// The outcome of [`Assembler::receive`]: how many input bytes the connection used, and what
/// happened. `E` is the error type: [`ProtocolError`] for the assembler alone, the layer's own
/// for a layer that receives through it (`deflate::DeflateError` for permessage-deflate).
#[must_use = "the consumed count must be applied to the input"]
#[derive(Debug, PartialEq, Eq)]
pub struct Assembled<'a, E = ProtocolError> {
    /// The number of input bytes used; advance the input by it, also on `Err`.
    pub consumed: usize,
    /// What happened.
    pub result: Result<Incoming<'a>, E>,
}

/// Reassembles [`Event::Data`] pieces into whole messages.
#[derive(Clone, Debug, Default)]
pub struct Assembler<B> {
    buf: B,
    /// Bytes of an unfinished message are in `buf`.
    in_progress: bool,
    /// The message in progress is text (its first piece said so).
    text: bool,
    /// Where the text so far ends.
    tail: TextTail,
}

impl<B: MessageBuffer> Assembler<B> {
    /// An assembler storing pieces in `buf` (anything in it is dropped when the first message
    /// starts).
    pub fn new(buf: B) -> Self {
        Self {
            buf,
            in_progress: false,
            text: false,
            tail: TextTail::new(),
        }
    }

    /// Receives from `conn` ([`Connection::receive`] on `input`) and reassembles: a data piece is
    /// stored, or handed back as a whole [`Message`] when it ends one; anything else the
    /// connection says is passed on. Call it where the driving loop calls `Connection::receive`,
    /// and advance the input by [`Assembled::consumed`] whatever the result.
    ///
    /// Text comes back as `&str` without a second UTF-8 pass: the connection validated every
    /// piece, and the assembler checks the few bytes where pieces join.
    ///
    /// ```
    /// use sockless::message::{Assembler, Incoming, Message};
    /// use sockless::{Config, Connection, Event};
    ///
    /// let mut server = Connection::server(Config::default());
    /// let mut assembler = Assembler::new(arrayvec::ArrayVec::<u8, 64>::new());
    /// // Binary "ab" + "c" in two masked fragments with a Ping between them (zero keys).
    /// let mut input = [
    ///     0x02, 0x82, 0, 0, 0, 0, b'a', b'b',
    ///     0x89, 0x80, 0, 0, 0, 0,
    ///     0x80, 0x81, 0, 0, 0, 0, b'c',
    /// ];
    /// let r = assembler.receive(&mut server, &mut input);
    /// assert_eq!((r.consumed, r.result), (8, Ok(Incoming::Pending))); // "ab" stored
    /// let r = assembler.receive(&mut server, &mut input[8..]);
    /// assert!(matches!(r.result, Ok(Incoming::Event(Event::Ping(b""))))); // its Pong is queued
    /// let r = assembler.receive(&mut server, &mut input[14..]);
    /// assert_eq!(r.result, Ok(Incoming::Message(Message::Binary(b"abc"))));
    /// # Ok::<(), sockless::ProtocolError>(())
    /// ```
    ///
    /// # Errors
    /// An error of the connection (it is failed and its Close is queued, as for
    /// `Connection::receive`), or one of the assembler's, after which the connection is still
    /// open (`conn.state()` is unchanged) and the partial message is dropped:
    /// [`ProtocolError::MessageTooLong`] if a fixed buffer cannot hold the message, and
    /// [`ProtocolError::InvalidUtf8`] only if pieces of one text were taken out of its middle
    /// (received from `conn` directly, or from another connection) so that the rest does not
    /// join. Close the connection with [`Connection::close`] and the error's
    /// [`close_code`](ProtocolError::close_code).
    pub fn receive<'a, R: RandomSource>(
        &'a mut self,
        conn: &mut Connection<R>,
        input: &'a mut [u8],
    ) -> Assembled<'a> {
        let crate::Received { consumed, result } = conn.receive(input);
        Assembled {
            consumed,
            result: self.assemble(result),
        }
    }

    /// What [`receive`](Self::receive) makes of `result`, which must be the result of a
    /// [`Connection::receive`] call, handed over unchanged: its plain text pieces are taken as
    /// validated (see `src/unchecked.rs`). Crate-private for that reason; the deflate layer calls
    /// it with the result of its own `Connection::receive` call, once it has taken the
    /// compressed pieces out.
    pub(crate) fn assemble<'a>(
        &'a mut self,
        result: Result<Recv<'a>, ProtocolError>,
    ) -> Result<Incoming<'a>, ProtocolError> {
        match result {
            // A whole message in one piece, nothing stored: handed back as it is. Its text was
            // validated by the connection up to the message's end; see `whole_text`.
            Ok(Recv::Event(Event::Data {
                kind,
                payload,
                message_done: true,
                rsv,
                ..
            })) if rsv.is_empty()
                && !self.in_progress
                && self.buf.max_len().is_none_or(|max| payload.len() <= max) =>
            {
                match kind {
                    DataKind::Binary => Ok(Incoming::Message(Message::Binary(payload))),
                    DataKind::Text => whole_text(payload).map(Incoming::Message),
                }
            }
            // A message with extension bits is not plain data: its text was not validated by the
            // connection, so it must never reach the unchecked path.
            Ok(Recv::Event(Event::Data {
                kind,
                payload,
                message_done,
                rsv,
                ..
            })) if rsv.is_empty() => self
                .take(kind, payload, message_done, Origin::Validated)
                .map(|m| m.map_or(Incoming::Pending, Incoming::Message)),
            Ok(Recv::Event(event)) => Ok(Incoming::Event(event)),
            Ok(Recv::NeedInput) => Ok(Incoming::NeedInput),
            Ok(Recv::NeedFlush) => Ok(Incoming::NeedFlush),
            Ok(Recv::Closed) => Ok(Incoming::Closed),
            Err(e) => Err(e),
        }
    }

    /// Takes the next piece of a message from elsewhere than a connection this assembler drives
    /// (for example the fields of an [`Event::Data`] handled by hand, or bytes inflated by an
    /// extension). Returns the whole message with its last piece; until then `None`. The kind of
    /// a message is that of its first piece. Text handed in here is validated as it arrives
    /// (failing at the first invalid piece); prefer [`receive`](Self::receive), which does not
    /// validate again what the connection validated.
    ///
    /// ```
    /// use sockless::message::{Assembler, Message};
    /// use sockless::{DataKind, ProtocolError};
    ///
    /// let mut assembler = Assembler::new(arrayvec::ArrayVec::<u8, 16>::new());
    /// // "é" split between two pieces: nothing until the last piece, then the whole text.
    /// assert_eq!(assembler.push(DataKind::Text, b"caf\xc3", false)?, None);
    /// assert_eq!(assembler.push(DataKind::Text, b"\xa9!", true)?, Some(Message::Text("café!")));
    /// // Invalid text fails as it arrives, with the close code to send.
    /// let e = assembler.push(DataKind::Text, b"\xff", false).unwrap_err();
    /// assert_eq!(e.close_code().0, 1007);
    /// # Ok::<(), ProtocolError>(())
    /// ```
    ///
    /// # Errors
    /// [`ProtocolError::MessageTooLong`] if the buffer cannot hold the message, and
    /// [`ProtocolError::InvalidUtf8`] if text is not valid UTF-8: close the connection with the
    /// error's [`close_code`](ProtocolError::close_code) (1009, 1007). The partial message is
    /// dropped.
    pub fn push<'a>(
        &'a mut self,
        kind: DataKind,
        payload: &'a [u8],
        message_done: bool,
    ) -> Result<Option<Message<'a>>, ProtocolError> {
        self.take(kind, payload, message_done, Origin::Unchecked)
    }

    /// Whether part of a message is stored.
    pub fn is_in_progress(&self) -> bool {
        self.in_progress
    }

    /// The buffer, for example to shrink a `Vec` after a large message. A message in progress is
    /// dropped: the next piece must start a message.
    pub fn buffer_mut(&mut self) -> &mut B {
        self.drop_message();
        &mut self.buf
    }

    fn drop_message(&mut self) {
        self.buf.clear();
        self.in_progress = false;
        self.tail = TextTail::new();
    }

    fn take<'a>(
        &'a mut self,
        kind: DataKind,
        payload: &'a [u8],
        message_done: bool,
        origin: Origin,
    ) -> Result<Option<Message<'a>>, ProtocolError> {
        if !self.in_progress {
            self.drop_message();
            self.text = kind == DataKind::Text;
        }
        // Only a text piece the connection reported as text was validated by it.
        let validated = origin == Origin::Validated && kind == DataKind::Text;
        if self.text && !self.tail.join(payload, validated) {
            self.drop_message();
            return Err(ProtocolError::InvalidUtf8);
        }
        if !self.in_progress && message_done {
            if self.buf.max_len().is_some_and(|max| payload.len() > max) {
                self.drop_message();
                return Err(ProtocolError::MessageTooLong);
            }
            return finish(self.text, self.tail.is_clear(), payload).map(Some);
        }
        if self.buf.try_extend(payload).is_err() {
            self.drop_message();
            return Err(ProtocolError::MessageTooLong);
        }
        self.in_progress = !message_done;
        if !message_done {
            return Ok(None);
        }
        finish(self.text, self.tail.is_clear(), self.buf.as_slice()).map(Some)
    }
}

/// The whole message `bytes`. For text, `complete` says that the text's tail is clear: the join
/// checks of [`TextTail`] succeeded on every piece of `bytes` and no character is unfinished.
fn finish(text: bool, complete: bool, bytes: &[u8]) -> Result<Message<'_>, ProtocolError> {
    if !text {
        return Ok(Message::Binary(bytes));
    }
    if !complete {
        return Err(ProtocolError::InvalidUtf8);
    }
    Ok(Message::Text(crate::unchecked::validated_str(bytes)))
}

/// The text of a whole message that came in one piece from the connection's `receive` as
/// `DataKind::Text` with no extension bits, with `message_done`, when no message was in
/// progress here. The connection validated the text of its message up to that piece's end, and
/// the message ends there (the validator's end-of-text check passed), so the piece is the end of
/// a valid UTF-8 text, ending on a whole character: it is valid UTF-8 itself exactly when its
/// first byte starts a character (a driver that took the message's first pieces by hand hands in
/// a piece that may start inside one: then 1007).
fn whole_text(payload: &[u8]) -> Result<Message<'_>, ProtocolError> {
    if payload.first().is_some_and(|&b| is_continuation(b)) {
        return Err(ProtocolError::InvalidUtf8);
    }
    Ok(Message::Text(crate::unchecked::validated_str(payload)))
}

/// Where a piece of text comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Straight from [`Connection::receive`] as [`DataKind::Text`]: a run of a text whose bytes up
    /// to the end of the piece the connection's streaming validator accepted.
    Validated,
    /// Anywhere else: validated here.
    Unchecked,
}

/// Whether `b` continues a UTF-8 character (`10xxxxxx`).
#[inline]
const fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// The length of the sequence a lead byte starts, or 0 if it cannot start one.
#[inline]
const fn sequence_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

/// The end of the text joined so far: its first `len` bytes are an unfinished character (a valid
/// prefix of one), and everything before them is valid UTF-8.
///
/// That invariant is what lets [`finish`] hand text out unchecked; [`TextTail::join`] keeps it for
/// every piece appended:
/// * a piece from elsewhere ([`Origin::Unchecked`]) is validated whole;
/// * a piece the connection validated is a run `P[a..b]` of a text `P` whose prefix `P[..b]` is
///   valid UTF-8 up to an unfinished last character. Such a run is: continuation bytes that end a
///   character begun before `a`, then whole characters (valid, since `P[..b]` is), then possibly
///   the start of a character. Only the two ends are checked here: the continuation bytes must
///   finish the carried character exactly (which rejects a run from the middle of another text),
///   and the last character is checked and carried if unfinished. The middle, which is most of the
///   bytes, is not read.
#[derive(Clone, Copy, Debug, Default)]
struct TextTail {
    bytes: [u8; 4],
    len: u8,
}

impl TextTail {
    const fn new() -> Self {
        Self {
            bytes: [0; 4],
            len: 0,
        }
    }

    /// No character is unfinished.
    fn is_clear(&self) -> bool {
        self.len == 0
    }

    /// Joins `piece` to the text; `false` if the text is then not valid UTF-8 (or not a valid
    /// prefix of it). With `validated`, `piece` came from the connection ([`Origin::Validated`]).
    #[inline]
    fn join(&mut self, piece: &[u8], validated: bool) -> bool {
        let Some(rest) = self.finish_carried(piece) else {
            return false;
        };
        if rest.is_empty() {
            return true;
        }
        if validated {
            self.join_validated(rest)
        } else {
            self.join_unchecked(rest)
        }
    }

    /// Completes the carried character with continuation bytes from the front of `piece`,
    /// returning the rest of it; `None` if they do not continue it.
    #[inline]
    fn finish_carried<'p>(&mut self, piece: &'p [u8]) -> Option<&'p [u8]> {
        if self.len == 0 {
            return Some(piece);
        }
        let have = usize::from(self.len);
        let take = sequence_len(self.bytes[0])
            .saturating_sub(have)
            .min(piece.len());
        let (head, rest) = piece.split_at_checked(take)?;
        let mut char_bytes = self.bytes;
        char_bytes.get_mut(have..have + take)?.copy_from_slice(head);
        let len = have + take;
        match core::str::from_utf8(char_bytes.get(..len)?) {
            Ok(_) => self.len = 0,
            // Still unfinished: `head` was all of `piece`.
            Err(e) if e.error_len().is_none() => {
                self.bytes = char_bytes;
                self.len = len as u8;
            }
            Err(_) => return None,
        }
        Some(rest)
    }

    /// `rest` (not empty) starts at a character boundary of a run the connection validated: checks
    /// its first byte and its last character, and carries that character if it is unfinished.
    #[inline]
    fn join_validated(&mut self, rest: &[u8]) -> bool {
        let (Some(&first), Some(&last)) = (rest.first(), rest.last()) else {
            return true;
        };
        if is_continuation(first) {
            return false;
        }
        if last < 0x80 {
            return true;
        }
        let end = rest.get(rest.len().saturating_sub(4)..).unwrap_or_default();
        let Some(lead) = end.iter().rposition(|&b| !is_continuation(b)) else {
            return false;
        };
        self.carry_if_valid(end.get(lead..).unwrap_or_default())
    }

    /// `rest` (not empty) must start at a character boundary: validates all of it, and carries an
    /// unfinished last character.
    fn join_unchecked(&mut self, rest: &[u8]) -> bool {
        if rest.len() < 64 && rest.is_ascii() {
            return true;
        }
        match simdutf8::compat::from_utf8(rest) {
            Ok(_) => true,
            Err(e) if e.error_len().is_none() => {
                self.carry_if_valid(rest.get(e.valid_up_to()..).unwrap_or_default())
            }
            Err(_) => false,
        }
    }

    /// `last` is the text's last character, whole or begun: `true` if it is valid, carrying it if
    /// it is unfinished.
    fn carry_if_valid(&mut self, last: &[u8]) -> bool {
        match core::str::from_utf8(last) {
            Ok(_) => true,
            Err(e) if e.error_len().is_none() && e.valid_up_to() == 0 && last.len() < 4 => {
                if let Some(dest) = self.bytes.get_mut(..last.len()) {
                    dest.copy_from_slice(last);
                }
                self.len = last.len() as u8;
                true
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use arrayvec::ArrayVec;

    /// A client frame as a server receives it (masked with the zero key: payload as is).
    fn frame(opcode: u8, fin: bool, payload: &[u8]) -> ArrayVec<u8, 64> {
        let mut f = ArrayVec::new();
        f.push(if fin { 0x80 } else { 0 } | opcode);
        f.push(0x80 | payload.len() as u8);
        f.try_extend_from_slice(&[0; 4]).unwrap();
        f.try_extend_from_slice(payload).unwrap();
        f
    }

    /// A message whose first frame carries an owned extension bit (a compressed message) is not
    /// the message's bytes and its text was not validated: the assembler hands it back untouched
    /// and never takes it for a validated `&str`, even when the bytes are not UTF-8.
    #[test]
    fn data_with_extension_bits_is_handed_back_untouched() {
        let mut conn = Connection::server(Config::default()).with_extension_bits(crate::Rsv::RSV1);
        let mut a: Assembler<ArrayVec<u8, 64>> = Assembler::new(ArrayVec::new());
        let mut input = frame(0x1, true, b"\xf2\x48\xcd\xc9\xc9\x07\x00");
        input[0] |= 0x40; // RSV1
        let len = input.len();
        let r = a.receive(&mut conn, &mut input);
        assert_eq!(r.consumed, len);
        match r.result {
            Ok(Incoming::Event(Event::Data {
                kind,
                payload,
                rsv,
                message_done,
                ..
            })) => {
                assert_eq!(kind, DataKind::Text);
                assert_eq!(rsv, crate::Rsv::RSV1);
                assert!(message_done);
                assert_eq!(payload, b"\xf2\x48\xcd\xc9\xc9\x07\x00");
            }
            other => panic!("expected the data piece back, got {other:?}"),
        }
        assert!(!a.is_in_progress());
        // The next plain message is assembled as usual.
        let mut plain = frame(0x1, true, b"ok");
        match a.receive(&mut conn, &mut plain).result {
            Ok(Incoming::Message(Message::Text(t))) => assert_eq!(t, "ok"),
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// What the assembler makes of `frames` received by `conn`, one call per frame.
    fn assemble<const N: usize>(
        a: &mut Assembler<ArrayVec<u8, N>>,
        conn: &mut Connection,
        frames: &[ArrayVec<u8, 64>],
    ) -> Result<Option<ArrayVec<u8, N>>, ProtocolError> {
        let mut out = None;
        for f in frames {
            let mut input = f.clone();
            let r = a.receive(conn, &mut input);
            assert_eq!(r.consumed, f.len());
            match r.result? {
                Incoming::Message(Message::Text(t)) => {
                    out = Some(t.as_bytes().try_into().unwrap());
                }
                Incoming::Message(Message::Binary(b)) => out = Some(b.try_into().unwrap()),
                Incoming::Pending => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        Ok(out)
    }

    #[test]
    fn receive_joins_text_split_inside_characters() {
        let text = "a€😀ñz".as_bytes();
        for cut in 0..=text.len() {
            for cut2 in cut..=text.len() {
                let mut conn = Connection::server(Config::default());
                let mut a = Assembler::new(ArrayVec::<u8, 32>::new());
                let frames = [
                    frame(0x1, false, &text[..cut]),
                    frame(0x0, false, &text[cut..cut2]),
                    frame(0x0, true, &text[cut2..]),
                ];
                let got = assemble(&mut a, &mut conn, &frames).unwrap().unwrap();
                assert_eq!(got.as_slice(), text, "cuts {cut} {cut2}");
            }
        }
    }

    #[test]
    fn receive_hands_a_whole_frame_back_borrowed() {
        let mut conn = Connection::server(Config::default());
        let mut a = Assembler::new(ArrayVec::<u8, 8>::new());
        let mut input = frame(0x1, true, "ñandú".as_bytes());
        let start = input[6..].as_ptr();
        let r = a.receive(&mut conn, &mut input);
        let Ok(Incoming::Message(Message::Text(t))) = r.result else {
            panic!("{r:?}")
        };
        assert_eq!(t, "ñandú");
        assert!(core::ptr::eq(t.as_ptr(), start));
    }

    #[test]
    fn receive_passes_control_events_and_pauses_on() {
        let mut conn = Connection::server(Config::default());
        let mut a = Assembler::new(ArrayVec::<u8, 8>::new());
        let mut ping = frame(0x9, true, b"hi");
        let r = a.receive(&mut conn, &mut ping);
        assert_eq!(r.result, Ok(Incoming::Event(Event::Ping(b"hi"))));
        let mut partial = [0x81];
        let r = a.receive(&mut conn, &mut partial);
        assert_eq!((r.consumed, r.result), (0, Ok(Incoming::NeedInput)));
        let mut bad = frame(0x3, true, b"");
        let r = a.receive(&mut conn, &mut bad);
        assert_eq!(r.result, Err(ProtocolError::UnknownOpcode(3)));
        let r = a.receive(&mut conn, &mut ping);
        assert_eq!(r.result, Ok(Incoming::Closed));
    }

    #[test]
    fn a_run_taken_out_of_a_text_does_not_join() {
        // The first piece of "é..." received by hand, the rest through the assembler: the rest
        // starts with a continuation byte, which no message may.
        let mut conn = Connection::server(Config::default());
        let mut a = Assembler::new(ArrayVec::<u8, 16>::new());
        let mut first = frame(0x1, false, &[0xC3]);
        let _ = conn.receive(&mut first);
        let rest = [frame(0x0, true, &[0xA9, b'x'])];
        assert_eq!(
            assemble(&mut a, &mut conn, &rest),
            Err(ProtocolError::InvalidUtf8)
        );
        assert!(!a.is_in_progress());

        // Pieces of two connections' texts: "\xE2\x82" (begun "€") then the end of another "€"
        // cut after its first byte: E2 82 82 is a character (U+2082), but AC cannot follow it.
        let (mut one, mut two) = (
            Connection::server(Config::default()),
            Connection::server(Config::default()),
        );
        let mut a = Assembler::new(ArrayVec::<u8, 16>::new());
        assert_eq!(
            assemble(&mut a, &mut one, &[frame(0x1, false, &[0xE2, 0x82])]),
            Ok(None)
        );
        let _ = two.receive(&mut frame(0x1, false, &[0xE2]));
        assert_eq!(
            assemble(&mut a, &mut two, &[frame(0x0, true, &[0x82, 0xAC])]),
            Err(ProtocolError::InvalidUtf8)
        );

        // A text piece pushed by hand into a message received from a connection is checked.
        let mut a = Assembler::new(ArrayVec::<u8, 16>::new());
        let mut conn = Connection::server(Config::default());
        assert_eq!(
            assemble(&mut a, &mut conn, &[frame(0x1, false, b"ok")]),
            Ok(None)
        );
        assert_eq!(
            a.push(DataKind::Text, &[0xFF], true),
            Err(ProtocolError::InvalidUtf8)
        );
    }

    #[test]
    fn pushed_text_fails_at_the_first_invalid_piece() {
        let mut a = Assembler::new(ArrayVec::<u8, 16>::new());
        assert_eq!(a.push(DataKind::Text, &[0xF0, 0x9F], false), Ok(None));
        assert_eq!(
            a.push(DataKind::Text, &[0x41], false),
            Err(ProtocolError::InvalidUtf8)
        );
        assert!(!a.is_in_progress());
        assert_eq!(a.push(DataKind::Text, &[0xF0, 0x9F], false), Ok(None));
        assert_eq!(
            a.push(DataKind::Text, &[0x98, 0x80], true),
            Ok(Some(Message::Text("😀")))
        );
        // A text that ends inside a character.
        assert_eq!(
            a.push(DataKind::Text, &[b'a', 0xE2, 0x82], true),
            Err(ProtocolError::InvalidUtf8)
        );
        assert_eq!(
            a.push(DataKind::Text, b"fine", true),
            Ok(Some(Message::Text("fine")))
        );
    }

    #[test]
    fn buffer_mut_drops_the_message_in_progress() {
        let mut a = Assembler::new(ArrayVec::<u8, 16>::new());
        assert_eq!(a.push(DataKind::Text, &[0xC3], false), Ok(None));
        a.buffer_mut().push(0xFF);
        assert!(!a.is_in_progress());
        assert_eq!(
            a.push(DataKind::Text, &[0xA9], true),
            Err(ProtocolError::InvalidUtf8)
        );
        assert_eq!(
            a.push(DataKind::Text, "é".as_bytes(), true),
            Ok(Some(Message::Text("é")))
        );
    }

    #[test]
    fn whole_message_is_borrowed_not_copied() {
        let mut a = Assembler::new(ArrayVec::<u8, 14>::new());
        let payload = b"no copy needed";
        let m = a.push(DataKind::Binary, payload, true).unwrap().unwrap();
        let Message::Binary(b) = m else { panic!() };
        assert!(core::ptr::eq(b, payload.as_slice()));
    }

    #[test]
    fn with_whole_messages_up_to_a_message_read_in_chunks_is_borrowed_from_the_input() {
        // A 40-byte text frame arriving in reads of every size: with the connection waiting for
        // whole frames, the assembler stores no piece and hands the text back from the driver's
        // buffer.
        let input = frame(1, true, "ünïcödé text, forty bytes long".as_bytes());
        for chunk in 1..=input.len() {
            let mut conn = Connection::server(Config {
                whole_messages_up_to: input.len(),
                ..Config::default()
            });
            let mut a = Assembler::new(ArrayVec::<u8, 64>::new());
            let mut rbuf = [0u8; 64];
            let (mut filled, mut got) = (0, None);
            for read in input.chunks(chunk) {
                rbuf[filled..filled + read.len()].copy_from_slice(read);
                filled += read.len();
                let start = rbuf.as_ptr() as usize;
                let r = a.receive(&mut conn, &mut rbuf[..filled]);
                match r.result {
                    Ok(Incoming::NeedInput) => assert_eq!(r.consumed, 0, "chunk {chunk}"),
                    Ok(Incoming::Message(Message::Text(t))) => {
                        assert_eq!(t.as_ptr() as usize, start + 6, "chunk {chunk}");
                        got = Some(t.len());
                    }
                    other => panic!("chunk {chunk}: {other:?}"),
                }
            }
            assert_eq!(got, Some(input.len() - 6), "chunk {chunk}");
            assert!(a.buffer_mut().is_empty(), "chunk {chunk}");
        }
    }

    #[test]
    fn capacity_holds_whether_or_not_the_message_is_split() {
        let mut a = Assembler::new(ArrayVec::<u8, 4>::new());
        assert_eq!(
            a.push(DataKind::Binary, &[1; 5], true),
            Err(ProtocolError::MessageTooLong)
        );
        assert_eq!(a.push(DataKind::Binary, &[1; 3], false), Ok(None));
        assert_eq!(
            a.push(DataKind::Binary, &[1; 2], true),
            Err(ProtocolError::MessageTooLong)
        );
        assert_eq!(
            a.push(DataKind::Binary, &[1; 4], true),
            Ok(Some(Message::Binary(&[1; 4])))
        );
    }

    #[test]
    fn pieces_are_joined_and_capacity_is_enforced() {
        let mut a = Assembler::new(ArrayVec::<u8, 8>::new());
        assert_eq!(a.push(DataKind::Text, "añ".as_bytes(), false), Ok(None));
        assert!(a.is_in_progress());
        assert_eq!(
            a.push(DataKind::Text, b"bc", true),
            Ok(Some(Message::Text("añbc")))
        );
        assert!(!a.is_in_progress());
        assert_eq!(a.push(DataKind::Binary, &[1; 8], false), Ok(None));
        assert_eq!(a.push(DataKind::Binary, &[], false), Ok(None));
        assert_eq!(
            a.push(DataKind::Binary, &[1], true),
            Err(ProtocolError::MessageTooLong)
        );
        // The next message starts clean.
        assert_eq!(a.push(DataKind::Binary, &[2], false), Ok(None));
        assert_eq!(
            a.push(DataKind::Binary, &[3], true),
            Ok(Some(Message::Binary(&[2, 3])))
        );
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn vec_buffer_is_reused() {
        let mut a = Assembler::new(alloc::vec::Vec::new());
        for round in 0..3u8 {
            assert_eq!(a.push(DataKind::Binary, &[round; 100], false), Ok(None));
            assert_eq!(
                a.push(DataKind::Binary, &[round], true),
                Ok(Some(Message::Binary(&[round; 101][..])))
            );
        }
        assert!(a.buffer_mut().capacity() >= 101);
    }
}
