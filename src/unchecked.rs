//! The crate's only `unsafe` code: one conversion from bytes to `&str` without a UTF-8 pass.
//!
//! The crate root is `#![deny(unsafe_code)]` and allows it in this module alone. It exists because
//! [`message::Assembler`](crate::message::Assembler) hands back text the connection has already
//! validated, and a second full pass to recover a `&str` cost 40-46% of the time of reassembled
//! receive workloads. Everything that makes the call sound is in `message.rs`; the argument is
//! written out at the call's only caller and summarised here.

/// `bytes` as `&str`, without validating it.
///
/// The callers are `message::finish`, which passes either a payload that arrived in one piece
/// or the contents of the assembler's buffer, and only with `complete` true, and
/// `message::whole_text` (point 4). Why those bytes are valid UTF-8:
///
/// 1. The assembler appends to its buffer only through `Assembler::take`, and hands text out only
///    from there, at the last piece. Every piece of a text message goes through
///    `TextTail::join` first; a failure drops the message. The buffer is one of the crate's own
///    (`MessageBuffer` is sealed: `Vec<u8>` or `ArrayVec<u8, N>`), so it holds exactly the pieces
///    appended since the message started, in order; `Assembler::buffer_mut`, the only other way
///    to reach it, drops the message in progress, and a new message clears the buffer.
/// 2. `TextTail` keeps the invariant "the joined text is valid UTF-8 followed by at most one
///    unfinished, valid character prefix, which it holds": a piece from `Assembler::push` is
///    validated whole (`simdutf8`, the same check as `core::str::from_utf8`); a piece from
///    `Assembler::receive` (or from `deflate::Deflate::receive`, the only other caller of the
///    crate-private `Assembler::assemble`, which hands it the result of its own
///    `Connection::receive` call unchanged once it has taken out the pieces with RSV1; inflated
///    text goes through `Assembler::push` instead) came straight from `Connection::receive` as
///    `DataKind::Text` with no extension bits, whose
///    streaming validator accepted the message's bytes up to the end of that piece (documented on
///    `Event::Data`, and failing the connection instead of delivering otherwise), so it is a run
///    of valid UTF-8 cut at arbitrary byte positions; `join` checks its first byte is a character
///    boundary once the carried character is completed (and completes that character with a
///    checked conversion of at most 4 bytes), and checks and carries its last character. A run cut
///    from the middle of some other text fails those checks instead of joining.
/// 3. `complete` is `TextTail::is_clear()` after the last piece: no character is unfinished, so
///    the whole text is valid UTF-8.
/// 4. `whole_text` gets, from `Assembler::assemble` only, a piece that came straight from
///    `Connection::receive` as `DataKind::Text` with no extension bits and `message_done`, while
///    the assembler had no message in progress. The connection's validator accepted its message
///    from the message's first byte up to this piece's end and, since the message ends there,
///    its end-of-text check passed: the piece is a suffix of a valid UTF-8 text that ends on a
///    character boundary. Such a suffix is valid UTF-8 exactly when it starts on a boundary, which
///    `whole_text` checks (its first byte is not a continuation byte) before converting.
///
/// Debug builds (the tests, Miri and the fuzzers) check the conclusion with `core::str::from_utf8`
/// on every call.
#[inline]
pub(crate) fn validated_str(bytes: &[u8]) -> &str {
    debug_assert!(core::str::from_utf8(bytes).is_ok(), "unvalidated text");
    // SAFETY: `bytes` is valid UTF-8 by the argument above: every byte of it either passed a
    // UTF-8 validator (the connection's streaming one, or `simdutf8` in `push`) as part of the same
    // text, in the same order, and the joins between pieces and the end of the text were checked.
    unsafe { core::str::from_utf8_unchecked(bytes) }
}
