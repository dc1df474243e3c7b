//! Compressing outgoing messages (RFC 7692 section 7.2.1).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use miniz_oxide::deflate::core::{
    compress_to_output, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush, TDEFLStatus,
};

use super::{Agreed, MAX_LEVEL, MAX_WINDOW_BITS, TAIL};
use crate::frame::CloseCode;

/// The backend refused to compress. This does not happen with `miniz_oxide` as used here (its
/// output goes to a callback that always accepts it); it is reported rather than ignored.
///
/// The message cannot be sent; fail the connection with [`close_code`](Self::close_code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CompressError {
    /// `miniz_oxide` returned an error status or left input unconsumed. Close code 1011.
    Backend,
}

impl CompressError {
    /// The close code to fail the connection with: 1011 (internal error).
    #[must_use]
    pub const fn close_code(self) -> CloseCode {
        CloseCode::INTERNAL_ERROR
    }
}

impl fmt::Display for CompressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the deflate backend failed")
    }
}

impl core::error::Error for CompressError {}

/// Compresses our outgoing messages for one connection (or, with no context takeover, for many:
/// see the module docs on the shared compressor).
///
/// A message is fed in any number of pieces with [`compress`](Self::compress) and ended with
/// [`finish`](Self::finish) (or given whole to [`compress_message`](Self::compress_message)).
/// Output is appended to a caller `Vec<u8>`: keep one per connection and `clear()` it between
/// frames, so it is allocated once and reused. The backend state (about 320 KB) is allocated on
/// the first byte compressed, not by [`new`](Self::new).
///
/// Match distances stay below `2^compress_window_bits` (see the module docs for how), and with
/// `compress_no_context_takeover` no message refers to an earlier one.
///
/// ```
/// use sockless::deflate::Compressor;
/// let agreed = sockless::deflate::Agreed::DEFAULT;
/// let mut compressor = Compressor::new(&agreed);
/// let mut wire = Vec::new();
/// compressor.compress_message(b"Hello", &mut wire)?;
/// assert_eq!(wire, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]); // RFC 7692 7.2.3.1
/// # Ok::<(), sockless::deflate::CompressError>(())
/// ```
pub struct Compressor {
    backend: Option<Box<CompressorOxide>>,
    flags: u32,
    /// `2^window_bits` when a window below 15 must be enforced by full flushes, else `None`.
    window: Option<usize>,
    no_context_takeover: bool,
    /// Bytes fed since the dictionary was last emptied (a fresh backend or a full flush).
    since_reset: usize,
}

impl fmt::Debug for Compressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compressor")
            .field("allocated", &self.backend.is_some())
            .field("window", &self.window)
            .field("no_context_takeover", &self.no_context_takeover)
            .field("since_reset", &self.since_reset)
            .finish()
    }
}

impl Compressor {
    /// A compressor for the parameters in `agreed` (our side's window and context takeover, and
    /// the level). Allocates nothing until the first byte is compressed.
    #[must_use]
    pub fn new(agreed: &Agreed) -> Self {
        let bits = agreed.compress_window_bits.clamp(8, MAX_WINDOW_BITS);
        Self {
            backend: None,
            // Negative window bits: raw deflate, no zlib header. The window value itself is
            // ignored by miniz_oxide; `window` below enforces it.
            flags: create_comp_flags_from_zip_params(
                i32::from(agreed.level.min(MAX_LEVEL)),
                -i32::from(MAX_WINDOW_BITS),
                0,
            ),
            window: (bits < MAX_WINDOW_BITS).then(|| 1usize << bits),
            no_context_takeover: agreed.compress_no_context_takeover,
            since_reset: 0,
        }
    }

    /// Whether this compressor keeps nothing between messages (`compress_no_context_takeover`),
    /// so one instance may serve any number of connections, one message at a time.
    #[must_use]
    pub const fn is_shareable(&self) -> bool {
        self.no_context_takeover
    }

    /// Frees the backend state (about 320 KB) between messages, under no context takeover, so an
    /// idle connection holds none; the next message allocates it again. Returns whether it is
    /// freed: with context takeover, or in the middle of a message, nothing is freed.
    pub fn release(&mut self) -> bool {
        if self.no_context_takeover && self.since_reset == 0 {
            self.backend = None;
        }
        self.backend.is_none()
    }

    /// Compresses the next piece of the current message, appending whatever output the backend
    /// emits now (possibly nothing: it buffers until it has a block's worth, or until
    /// [`flush`](Self::flush) or [`finish`](Self::finish)).
    ///
    /// # Errors
    /// [`CompressError`] if the backend fails; the compressor is then unusable.
    pub fn compress(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressError> {
        while !input.is_empty() {
            let take = match self.window {
                None => input.len(),
                Some(window) => {
                    let room = window.saturating_sub(self.since_reset);
                    if room == 0 {
                        // The next byte could be matched at a distance of `window`: empty the
                        // dictionary first.
                        self.run(&[], TDEFLFlush::Full, out)?;
                        self.since_reset = 0;
                        continue;
                    }
                    room.min(input.len())
                }
            };
            let (chunk, rest) = input.split_at_checked(take).unwrap_or((input, &[]));
            self.run(chunk, TDEFLFlush::None, out)?;
            self.since_reset = self.since_reset.saturating_add(chunk.len());
            input = rest;
        }
        Ok(())
    }

    /// Flushes what has been fed so far with a sync flush, so the peer can inflate it now
    /// (for example at the end of a fragment of a streamed message). The `00 00 ff ff` it ends
    /// with stays in the output: only the message's final one is removed.
    ///
    /// # Errors
    /// [`CompressError`] if the backend fails; the compressor is then unusable.
    pub fn flush(&mut self, out: &mut Vec<u8>) -> Result<(), CompressError> {
        self.run(&[], TDEFLFlush::Sync, out)
    }

    /// Ends the current message: a sync flush (a full flush, which also empties the
    /// dictionary, under no context takeover), with its trailing `00 00 ff ff` removed
    /// (RFC 7692 7.2.1). The next [`compress`](Self::compress) starts a new message.
    ///
    /// # Errors
    /// [`CompressError`] if the backend fails; the compressor is then unusable.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), CompressError> {
        let start = out.len();
        let flush = if self.no_context_takeover {
            TDEFLFlush::Full
        } else {
            TDEFLFlush::Sync
        };
        self.run(&[], flush, out)?;
        if self.no_context_takeover {
            self.since_reset = 0;
        }
        let end = out.len();
        let tail_start = end.saturating_sub(TAIL.len()).max(start);
        if out.get(tail_start..) != Some(&TAIL[..]) {
            return Err(CompressError::Backend);
        }
        out.truncate(tail_start);
        Ok(())
    }

    /// Compresses a whole message: [`compress`](Self::compress) then [`finish`](Self::finish).
    ///
    /// # Errors
    /// [`CompressError`] if the backend fails; the compressor is then unusable.
    pub fn compress_message(
        &mut self,
        message: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CompressError> {
        self.compress(message, out)?;
        self.finish(out)
    }

    /// Runs the backend over `input` with `flush`, appending all its output.
    fn run(
        &mut self,
        input: &[u8],
        flush: TDEFLFlush,
        out: &mut Vec<u8>,
    ) -> Result<(), CompressError> {
        let flags = self.flags;
        let backend = self
            .backend
            .get_or_insert_with(|| Box::new(CompressorOxide::new(flags)));
        let (status, consumed) = compress_to_output(backend, input, flush, |bytes| {
            out.extend_from_slice(bytes);
            true
        });
        match status {
            TDEFLStatus::Okay if consumed == input.len() => Ok(()),
            _ => Err(CompressError::Backend),
        }
    }
}
