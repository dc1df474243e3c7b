//! Message reassembly, a layer over [`Event::Data`](crate::Event::Data) pieces.
//!
//! The connection streams payload in pieces and never buffers. When whole messages are easier to
//! handle, feed the pieces to an [`Assembler`], which stores them in a [`MessageBuffer`]: a
//! `Vec<u8>` (feature `alloc`; it grows to the largest message seen, which the connection bounds by
//! [`Config::max_message_len`](crate::Config::max_message_len), and is reused), or a fixed
//! `ArrayVec<u8, N>` (no allocation at all; set `max_message_len` to at most `N` so the connection
//! fails an oversized message at its frame header with 1009).
//!
//! A message that arrives whole in one piece (one frame, fully in the input) is handed back
//! borrowed from the input, without a copy; a fixed buffer's capacity still bounds it, so whether a
//! message fits never depends on how it was split.
//!
//! ```
//! use sockless::message::{Assembler, Message};
//! use sockless::{Config, Connection, Event, Recv};
//!
//! let mut server = Connection::server(Config::default());
//! let mut assembler = Assembler::new(arrayvec::ArrayVec::<u8, 64>::new());
//! // "Hel" + "lo" as two masked fragments (RFC 6455 5.7, masked with a zero key).
//! let mut input = [0x01, 0x83, 0, 0, 0, 0, b'H', b'e', b'l', 0x80, 0x82, 0, 0, 0, 0, b'l', b'o'];
//! let mut pos = 0;
//! let mut got = None;
//! while pos < input.len() {
//!     let r = server.receive(&mut input[pos..]);
//!     pos += r.consumed;
//!     if let Ok(Recv::Event(Event::Data { kind, payload, message_done, .. })) = r.result {
//!         if let Some(Message::Text(text)) = assembler.push(kind, payload, message_done)? {
//!             got = Some(text.to_owned());
//!         }
//!     }
//! }
//! assert_eq!(got.as_deref(), Some("Hello"));
//! # Ok::<(), sockless::ProtocolError>(())
//! ```

use crate::error::ProtocolError;
use crate::frame::DataKind;

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

/// Storage for the message being reassembled.
pub trait MessageBuffer {
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

/// Reassembles [`Event::Data`](crate::Event::Data) pieces into whole messages.
#[derive(Clone, Debug, Default)]
pub struct Assembler<B> {
    buf: B,
    /// Bytes of an unfinished message are in `buf`.
    in_progress: bool,
}

impl<B: MessageBuffer> Assembler<B> {
    /// An assembler storing pieces in `buf` (which should start empty).
    pub fn new(buf: B) -> Self {
        Self {
            buf,
            in_progress: false,
        }
    }

    /// Takes the next piece of a message (the fields of an [`Event::Data`](crate::Event::Data)).
    /// Returns the whole message with its last piece; until then `None`.
    ///
    /// # Errors
    /// [`ProtocolError::MessageTooLong`] if the buffer cannot hold the message: close the
    /// connection with its [`close_code`](ProtocolError::close_code) (1009). The partial message is
    /// dropped.
    pub fn push<'a>(
        &'a mut self,
        kind: DataKind,
        payload: &'a [u8],
        message_done: bool,
    ) -> Result<Option<Message<'a>>, ProtocolError> {
        if !self.in_progress {
            self.buf.clear();
            if message_done {
                if self.buf.max_len().is_some_and(|max| payload.len() > max) {
                    return Err(ProtocolError::MessageTooLong);
                }
                return message(kind, payload).map(Some);
            }
        }
        if self.buf.try_extend(payload).is_err() {
            self.buf.clear();
            self.in_progress = false;
            return Err(ProtocolError::MessageTooLong);
        }
        self.in_progress = !message_done;
        if message_done {
            message(kind, self.buf.as_slice()).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Whether part of a message is stored.
    pub fn is_in_progress(&self) -> bool {
        self.in_progress
    }

    /// The buffer, for example to shrink a `Vec` after a large message.
    pub fn buffer_mut(&mut self) -> &mut B {
        &mut self.buf
    }
}

fn message(kind: DataKind, bytes: &[u8]) -> Result<Message<'_>, ProtocolError> {
    Ok(match kind {
        // The connection validated the text already; this only recovers the `&str` without unsafe.
        DataKind::Text => Message::Text(
            simdutf8::basic::from_utf8(bytes).map_err(|_| ProtocolError::InvalidUtf8)?,
        ),
        DataKind::Binary => Message::Binary(bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrayvec::ArrayVec;

    #[test]
    fn whole_message_is_borrowed_not_copied() {
        let mut a = Assembler::new(ArrayVec::<u8, 14>::new());
        let payload = b"no copy needed";
        let m = a.push(DataKind::Binary, payload, true).unwrap().unwrap();
        let Message::Binary(b) = m else { panic!() };
        assert!(core::ptr::eq(b, payload.as_slice()));
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
