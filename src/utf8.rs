//! A streaming UTF-8 validator: text arrives in pieces split anywhere (inside a character, across
//! frames and reads); it fails at the first byte that cannot start or continue a valid sequence, and
//! carries an unfinished character (at most 3 bytes) to the next piece.
//!
//! Whole runs are checked by `simdutf8` (SIMD with runtime CPU detection under `std`, the core
//! validator otherwise), which has an ASCII fast path; only the at most 3 bytes of a character split
//! between pieces go through the carry.

/// The text was not valid UTF-8.
///
/// Where the invalid sequence starts, counted from the start of the text (as
/// `core::str::Utf8Error::valid_up_to` counts it): `start_of_piece + valid_up_to - carried`, where
/// `start_of_piece` is how many bytes were fed before the failing piece (for
/// [`finish`](Utf8Validator::finish), all of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utf8Error {
    /// Bytes of the failing piece that were valid before the invalid sequence (0 when that
    /// sequence began in an earlier piece).
    pub valid_up_to: usize,
    /// Bytes of the invalid sequence that came in earlier pieces (an unfinished character carried
    /// over); 0 when it starts in the failing piece.
    pub carried: usize,
}

/// Validates UTF-8 fed in pieces.
///
/// ```
/// use sockless::utf8::Utf8Validator;
/// let text = "añ€😀".as_bytes();
/// let mut v = Utf8Validator::new();
/// for byte in text {
///     v.feed(core::slice::from_ref(byte)).unwrap(); // one byte at a time
/// }
/// assert!(v.finish().is_ok());
///
/// let mut v = Utf8Validator::new();
/// assert!(v.feed(&[0xE2, 0x82]).is_ok()); // an unfinished character is carried
/// assert!(v.feed(&[0x41]).is_err()); // and fails at the first byte that cannot continue it
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Utf8Validator {
    carry: [u8; 4],
    carry_len: u8,
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

/// The length of `piece` without a character it ends inside: the last lead byte among its last 3
/// bytes starts a sequence longer than the bytes left from it. Otherwise the whole length (then
/// any error is the validator's to find).
#[inline]
fn whole_characters_len(piece: &[u8]) -> usize {
    let len = piece.len();
    for back in 1..=3 {
        let Some(&b) = piece.get(len.wrapping_sub(back)) else {
            break;
        };
        if b < 0x80 {
            break;
        }
        if b >= 0xC0 {
            return if sequence_len(b) > back {
                len - back
            } else {
                len
            };
        }
    }
    len
}

impl Utf8Validator {
    /// A validator at the start of a text.
    pub const fn new() -> Self {
        Self {
            carry: [0; 4],
            carry_len: 0,
        }
    }

    /// Whether the text so far ends inside a character.
    pub const fn is_mid_character(&self) -> bool {
        self.carry_len != 0
    }

    /// Validates the next piece of the text.
    ///
    /// # Errors
    /// [`Utf8Error`] at the first byte that makes the text invalid. The validator is then spent:
    /// start a new one for another text.
    #[inline]
    pub fn feed(&mut self, mut piece: &[u8]) -> Result<(), Utf8Error> {
        let whole = piece.len();
        if self.carry_len != 0 {
            piece = self.finish_carry(piece)?;
        }
        if piece.len() < 64 && piece.is_ascii() {
            return Ok(());
        }
        // The common case, a valid piece that may end inside a character, is checked by the
        // faster validator that only says yes or no; positions are worked out only on failure.
        let whole_chars = whole_characters_len(piece);
        if let Some((body, tail)) = piece.split_at_checked(whole_chars) {
            if simdutf8::basic::from_utf8(body).is_ok() && self.carry_valid_prefix(tail) {
                return Ok(());
            }
        }
        match simdutf8::compat::from_utf8(piece) {
            Ok(_) => Ok(()),
            Err(e) => {
                // Counted from the start of the piece, including the bytes that completed a
                // carried character.
                let valid = e.valid_up_to() + (whole - piece.len());
                if e.error_len().is_some() {
                    return Err(Utf8Error {
                        valid_up_to: valid,
                        carried: 0,
                    });
                }
                // An unfinished character at the end: at most 3 bytes.
                let tail = piece.get(e.valid_up_to()..).unwrap_or_default();
                let n = tail.len().min(3);
                if let (Some(dest), Some(src)) = (self.carry.get_mut(..n), tail.get(..n)) {
                    dest.copy_from_slice(src);
                }
                self.carry_len = n as u8;
                Ok(())
            }
        }
    }

    /// Carries `tail` (at most 3 bytes after the last whole character) if it is the valid start
    /// of a character; `false` otherwise (the caller then finds the error).
    #[inline]
    fn carry_valid_prefix(&mut self, tail: &[u8]) -> bool {
        if tail.is_empty() {
            return true;
        }
        let valid_prefix = matches!(core::str::from_utf8(tail), Err(e) if e.valid_up_to() == 0 && e.error_len().is_none());
        match self.carry.get_mut(..tail.len()) {
            Some(dest) if valid_prefix => {
                dest.copy_from_slice(tail);
                self.carry_len = tail.len() as u8;
                true
            }
            _ => false,
        }
    }

    /// Completes the carried character with bytes from the front of `piece`, returning the rest.
    #[cold]
    fn finish_carry<'p>(&mut self, piece: &'p [u8]) -> Result<&'p [u8], Utf8Error> {
        let have = usize::from(self.carry_len);
        let need = sequence_len(self.carry[0]);
        let take = need.saturating_sub(have).min(piece.len());
        // `have + take <= need <= 4`: the carry has room.
        for (len, &b) in (have + 1..).zip(piece.iter().take(take)) {
            if let Some(slot) = self.carry.get_mut(len - 1) {
                *slot = b;
            }
            if let Err(e) = core::str::from_utf8(self.carry.get(..len).unwrap_or_default()) {
                if e.error_len().is_some() {
                    return Err(Utf8Error {
                        valid_up_to: 0,
                        carried: have,
                    });
                }
            }
        }
        let len = have + take;
        self.carry_len = if len == need { 0 } else { len as u8 };
        Ok(piece.get(take..).unwrap_or_default())
    }

    /// Ends the text.
    ///
    /// # Errors
    /// [`Utf8Error`] if it ends inside a character.
    #[inline]
    pub fn finish(&self) -> Result<(), Utf8Error> {
        if self.carry_len == 0 {
            Ok(())
        } else {
            Err(Utf8Error {
                valid_up_to: 0,
                carried: usize::from(self.carry_len),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streaming_ok(bytes: &[u8], split: usize) -> bool {
        let mut v = Utf8Validator::new();
        let (a, b) = bytes.split_at(split.min(bytes.len()));
        v.feed(a).is_ok() && v.feed(b).is_ok() && v.finish().is_ok()
    }

    #[test]
    fn agrees_with_core_on_every_split() {
        let samples: &[&[u8]] = &[
            "κόσμε".as_bytes(),
            "a€b😀c".as_bytes(),
            &[
                0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xF4, 0x90, 0x80,
                0x80,
            ],
            &[0xED, 0xA0, 0x80], // surrogate
            &[0xC0, 0x80],       // overlong
            &[0xF0, 0x90, 0x80], // truncated
            &[0xE0, 0x9F, 0xBF], // overlong 3-byte
            &[0xF4, 0x8F, 0xBF, 0xBF],
            &[0x80],
            &[0xFF],
            b"plain ascii",
        ];
        for s in samples {
            let expect = core::str::from_utf8(s).is_ok();
            for split in 0..=s.len() {
                assert_eq!(streaming_ok(s, split), expect, "{s:x?} split {split}");
            }
            let mut v = Utf8Validator::new();
            let bytewise =
                s.iter().all(|b| v.feed(core::slice::from_ref(b)).is_ok()) && v.finish().is_ok();
            assert_eq!(bytewise, expect, "{s:x?} byte by byte");
        }
    }

    /// The error position, counted from the start of the text, when fed in two pieces.
    fn error_position(bytes: &[u8], split: usize) -> Option<usize> {
        let mut v = Utf8Validator::new();
        let (a, b) = bytes.split_at(split);
        let at = |start: usize, e: Utf8Error| start + e.valid_up_to - e.carried;
        if let Err(e) = v.feed(a) {
            return Some(at(0, e));
        }
        if let Err(e) = v.feed(b) {
            return Some(at(a.len(), e));
        }
        v.finish().err().map(|e| at(bytes.len(), e))
    }

    #[test]
    fn error_position_matches_core_on_every_split() {
        let samples: &[&[u8]] = &[
            b"ab\xE2\x82A",
            b"\xE2\x82",
            b"abc\xF0\x90\x80",
            b"x\xED\xA0\x80y",
            b"\xC3\xA9\xFFz",
            "ok€".as_bytes(),
        ];
        for s in samples {
            let expect = core::str::from_utf8(s).err().map(|e| e.valid_up_to());
            for split in 0..=s.len() {
                assert_eq!(error_position(s, split), expect, "{s:x?} split {split}");
            }
        }
    }

    /// Pieces long enough to skip the short-ASCII shortcut, ending inside a character (valid or
    /// not), agree with core on validity and error position at every split.
    #[test]
    fn long_pieces_ending_inside_a_character_agree_with_core() {
        extern crate std;
        use std::vec::Vec;
        let tails: &[&[u8]] = &[
            b"\xE2\x82\xAC",
            b"\xE2\x82",
            b"\xE0\x80\x80",
            b"\xF0\x9F\x98\x80",
            b"\xF0\x9F\x98",
            b"\xF4\x90\x80\x80",
            b"\xC3",
            b"\x80\x80\x80\x80",
            b"\xFF",
        ];
        for tail in tails {
            let mut s: Vec<u8> = b"0123456789".repeat(10);
            s.extend_from_slice(tail);
            s.extend_from_slice(b"z");
            let expect = core::str::from_utf8(&s).err().map(|e| e.valid_up_to());
            for split in 0..=s.len() {
                assert_eq!(error_position(&s, split), expect, "{tail:x?} split {split}");
            }
        }
    }

    #[test]
    fn fails_fast_inside_a_carried_character() {
        let mut v = Utf8Validator::new();
        v.feed(&[0xF0]).unwrap();
        // 0xF0 must be followed by 0x90..=0xBF.
        assert_eq!(
            v.feed(&[0x80, 0x80, 0x80]),
            Err(Utf8Error {
                valid_up_to: 0,
                carried: 1
            })
        );
    }
}
