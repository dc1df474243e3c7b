//! Inflating incoming messages (RFC 7692 section 7.2.2), streamed and bounded.

use alloc::boxed::Box;
use alloc::vec;
use core::fmt;

use miniz_oxide::inflate::core::inflate_flags::TINFL_FLAG_HAS_MORE_INPUT;
use miniz_oxide::inflate::core::{decompress_with_limit, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

use super::{Agreed, TAIL};
use crate::frame::CloseCode;
use crate::utf8::Utf8Validator;

/// The history the inflater keeps: 32 KiB, enough for any window the peer may use.
const WINDOW: usize = 1 << 15;

/// Why an incoming compressed message was refused. The connection is failed with
/// [`close_code`](Self::close_code); the inflater must not be used again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InflateError {
    /// The inflated message would exceed the configured maximum message length. Close code 1009.
    /// The bytes up to the limit were handed out first; none past it is.
    TooBig,
    /// The payload is not valid DEFLATE data. Close code 1007 (invalid payload data), as Node's
    /// `ws` sends; see the module docs.
    Corrupt,
    /// A text message's inflated bytes are not valid UTF-8
    /// ([`inflate_text`](Inflater::inflate_text) only). Close code 1007.
    InvalidUtf8,
}

impl InflateError {
    /// The close code to fail the connection with.
    #[must_use]
    pub const fn close_code(self) -> CloseCode {
        match self {
            Self::TooBig => CloseCode::MESSAGE_TOO_BIG,
            Self::Corrupt | Self::InvalidUtf8 => CloseCode::INVALID_PAYLOAD,
        }
    }
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooBig => "inflated message longer than the configured limit",
            Self::Corrupt => "invalid compressed data",
            Self::InvalidUtf8 => "invalid UTF-8 in an inflated text message",
        })
    }
}

impl core::error::Error for InflateError {}

/// What one [`Inflater::inflate`] call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct Inflated {
    /// Input bytes used. Hand the rest (`input[consumed..]`) to the next call.
    pub consumed: usize,
    /// Bytes written to the start of the output buffer.
    pub written: usize,
    /// What to do next.
    pub status: InflateStatus,
}

/// What the caller does after an [`Inflater::inflate`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InflateStatus {
    /// All input was used and all output produced so far was written: pass the next piece of
    /// payload (or, at the end of the message, call with `end = true`).
    NeedInput,
    /// The output buffer is full, or an error is due: call again with fresh output space and the
    /// unconsumed input. (There may turn out to be nothing more.) An error is reported only after
    /// every byte inflated before it has been handed out, so the result does not depend on the
    /// buffer sizes.
    OutputFull,
    /// `end` was given and the whole message is inflated. The inflater is ready for the next
    /// message.
    MessageDone,
}

/// The backend state, allocated on first use.
struct State {
    decomp: Box<DecompressorOxide>,
    /// The last 32 KiB inflated, as a ring; `pos` is where the next byte goes.
    window: Box<[u8]>,
    pos: usize,
    /// Bytes inflated into `window` (ending at `pos`) not yet copied to the caller.
    pending: usize,
}

impl State {
    fn new() -> Self {
        Self {
            decomp: Box::default(),
            window: vec![0u8; WINDOW].into_boxed_slice(),
            pos: 0,
            pending: 0,
        }
    }

    /// Copies pending bytes into `out`, returning how many.
    fn drain(&mut self, out: &mut [u8]) -> usize {
        let mut done = 0;
        while self.pending > 0 {
            let start = self.pos.wrapping_sub(self.pending) & (WINDOW - 1);
            let run = self.pending.min(WINDOW - start);
            let Some(dest) = out.get_mut(done..) else {
                break;
            };
            let n = run.min(dest.len());
            if n == 0 {
                break;
            }
            if let (Some(d), Some(s)) = (dest.get_mut(..n), self.window.get(start..start + n)) {
                d.copy_from_slice(s);
            }
            done += n;
            self.pending -= n;
        }
        done
    }
}

/// Inflates the peer's compressed messages, streamed through payload pieces of any size into
/// output buffers of any size, bounded by a maximum message length.
///
/// Call [`inflate`](Self::inflate) with each piece of a message's payload as it arrives, and
/// `end = true` with the last one (possibly empty); the `00 00 ff ff` tail is appended
/// internally. Each call says how much input it used, how much output it wrote and what it needs
/// next ([`InflateStatus`]).
///
/// Memory: 32 KiB of history and the decoder's tables, about 43 KB in all, allocated on the first
/// call. The layer never holds more output than that: inflated bytes go to the caller's buffers,
/// and they count against `max_message_len` as they are produced, so a bomb fails with
/// [`InflateError::TooBig`] once `max_message_len` bytes were handed out.
///
/// ```
/// use sockless::deflate::{Agreed, InflateStatus, Inflater};
/// let mut inflater = Inflater::new(&Agreed::DEFAULT, 1 << 20);
/// let payload = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]; // "Hello", RFC 7692 7.2.3.1
/// let mut out = [0u8; 3]; // any size works
/// let mut message = Vec::new();
/// let mut input = &payload[..];
/// loop {
///     let r = inflater.inflate(input, true, &mut out)?;
///     input = &input[r.consumed..];
///     message.extend_from_slice(&out[..r.written]);
///     if r.status == InflateStatus::MessageDone {
///         break;
///     }
/// }
/// assert_eq!(message, b"Hello");
/// # Ok::<(), sockless::deflate::InflateError>(())
/// ```
pub struct Inflater {
    state: Option<State>,
    no_context_takeover: bool,
    max_message_len: u64,
    /// Bytes inflated in the current message.
    produced: u64,
    /// How much of [`TAIL`] the decoder has taken at the end of the current message.
    tail_used: usize,
    /// An error found while output inflated before it was still to be handed out; reported
    /// (and then for good) once it has been.
    failed: Option<InflateError>,
    /// The current message had a block with BFINAL set; the rest of it is skipped.
    after_final: bool,
    /// The decoder stopped for want of output space and may have more from input it already
    /// took.
    decoder_has_output: bool,
}

impl fmt::Debug for Inflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inflater")
            .field("allocated", &self.state.is_some())
            .field("no_context_takeover", &self.no_context_takeover)
            .field("max_message_len", &self.max_message_len)
            .field("produced", &self.produced)
            .finish()
    }
}

impl Inflater {
    /// An inflater for the peer's parameters in `agreed` (its context takeover; any window up to
    /// 15 is accepted), failing messages that inflate to more than `max_message_len` bytes
    /// (use [`Config::max_message_len`](crate::Config::max_message_len)). Allocates nothing until
    /// the first call.
    #[must_use]
    pub const fn new(agreed: &Agreed, max_message_len: u64) -> Self {
        Self {
            state: None,
            no_context_takeover: agreed.inflate_no_context_takeover,
            max_message_len,
            produced: 0,
            tail_used: 0,
            failed: None,
            after_final: false,
            decoder_has_output: false,
        }
    }

    /// Inflates the next piece of the current message's payload into `out`.
    ///
    /// `end` says `input` is the last piece of the message. Repeat calls (with
    /// `input[consumed..]`, and fresh output space after [`InflateStatus::OutputFull`]) until the
    /// status is [`InflateStatus::NeedInput`] (before the end) or [`InflateStatus::MessageDone`].
    ///
    /// # Errors
    /// [`InflateError::TooBig`] when the message inflates past the limit,
    /// [`InflateError::Corrupt`] when the payload is not valid DEFLATE data; every later call
    /// returns the same error.
    pub fn inflate(
        &mut self,
        input: &[u8],
        end: bool,
        out: &mut [u8],
    ) -> Result<Inflated, InflateError> {
        let state = self.state.get_or_insert_with(State::new);
        let mut consumed = 0;
        let mut written = 0;
        loop {
            written += state.drain(out.get_mut(written..).unwrap_or_default());
            let room = out.len().saturating_sub(written);
            if state.pending > 0 || room == 0 || (self.failed.is_some() && written > 0) {
                return Ok(Inflated {
                    consumed,
                    written,
                    status: InflateStatus::OutputFull,
                });
            }
            // Every byte inflated before the error has been handed out (so a text validator saw
            // it, whatever the chunking): now report it.
            if let Some(e) = self.failed {
                return Err(e);
            }
            if self.after_final {
                // Skip the rest of a message whose last block had BFINAL set.
                consumed = input.len();
                if end {
                    self.tail_used = TAIL.len();
                }
            }
            let from_input = consumed < input.len();
            let src = if from_input {
                input.get(consumed..).unwrap_or_default()
            } else if self.decoder_has_output {
                // The decoder still holds bits it has not turned into output.
                &[]
            } else if !end {
                return Ok(Inflated {
                    consumed,
                    written,
                    status: InflateStatus::NeedInput,
                });
            } else if self.tail_used < TAIL.len() {
                TAIL.get(self.tail_used..).unwrap_or_default()
            } else {
                // Message complete: start the next one on a block boundary.
                state.decomp.init();
                self.produced = 0;
                self.tail_used = 0;
                self.after_final = false;
                return Ok(Inflated {
                    consumed,
                    written,
                    status: InflateStatus::MessageDone,
                });
            };
            // Let at most one byte past the limit be produced (it is withheld), and no more than
            // fits in `out`.
            let allowed = self
                .max_message_len
                .saturating_sub(self.produced)
                .saturating_add(1);
            let limit = usize::try_from(allowed).unwrap_or(usize::MAX).min(room);
            let (status, used, made) = decompress_with_limit(
                &mut state.decomp,
                src,
                &mut state.window,
                state.pos,
                limit,
                TINFL_FLAG_HAS_MORE_INPUT,
            );
            if from_input {
                consumed += used;
            } else {
                self.tail_used += used;
            }
            state.pos = (state.pos + made) & (WINDOW - 1);
            state.pending += made;
            self.produced = self.produced.saturating_add(made as u64);
            if let Some(excess) = self.produced.checked_sub(self.max_message_len) {
                if excess > 0 {
                    // Withhold the byte past the limit; hand out the rest, then fail.
                    let excess = usize::try_from(excess)
                        .unwrap_or(usize::MAX)
                        .min(state.pending);
                    state.pending -= excess;
                    state.pos = state.pos.wrapping_sub(excess) & (WINDOW - 1);
                    self.failed = Some(InflateError::TooBig);
                    continue;
                }
            }
            self.decoder_has_output = status == TINFLStatus::HasMoreOutput;
            match status {
                TINFLStatus::NeedsMoreInput | TINFLStatus::HasMoreOutput => {}
                // A block with BFINAL set (RFC 7692 7.2.3.4) ends the DEFLATE stream: the rest
                // of the message (the 0x00 the RFC's example adds, and the tail) is skipped, as
                // zlib-based peers do; the next message starts a new block in the same window.
                TINFLStatus::Done => self.after_final = true,
                _ => self.failed = Some(InflateError::Corrupt),
            }
            if used == 0 && made == 0 && !src.is_empty() && status != TINFLStatus::Done {
                self.failed = Some(InflateError::Corrupt);
            }
        }
    }

    /// Frees the backend state (about 43 KB) between messages, when the peer does not take over
    /// context, so an idle connection holds none; the next message allocates it again. Returns
    /// whether it was freed: with context takeover, or in the middle of a message, the history is
    /// needed and nothing is freed.
    pub fn release(&mut self) -> bool {
        let between = self.produced == 0
            && self.tail_used == 0
            && !self.after_final
            && !self.decoder_has_output;
        if self.no_context_takeover
            && between
            && self.state.as_ref().is_some_and(|s| s.pending == 0)
        {
            self.state = None;
        }
        self.state.is_none()
    }

    /// [`inflate`](Self::inflate) for a text message: also validates the inflated bytes with
    /// `utf8` as they are produced, failing at the first invalid byte, and checks at the end of
    /// the message that the text does not stop inside a character. Use one validator per
    /// message (a fresh [`Utf8Validator::new`] at the start of each).
    ///
    /// # Errors
    /// Those of [`inflate`](Self::inflate), and [`InflateError::InvalidUtf8`].
    pub fn inflate_text(
        &mut self,
        input: &[u8],
        end: bool,
        out: &mut [u8],
        utf8: &mut Utf8Validator,
    ) -> Result<Inflated, InflateError> {
        let r = self.inflate(input, end, out)?;
        let text = out.get(..r.written).unwrap_or_default();
        utf8.feed(text).map_err(|_| InflateError::InvalidUtf8)?;
        if r.status == InflateStatus::MessageDone {
            utf8.finish().map_err(|_| InflateError::InvalidUtf8)?;
        }
        Ok(r)
    }
}
