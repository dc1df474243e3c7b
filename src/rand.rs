//! Randomness comes from the caller.
//!
//! A client needs 16 random bytes for its handshake key and 4 for the masking key of every frame it
//! sends (RFC 6455 10.3 asks for a strong source, so that masks cannot be predicted by scripts). The
//! crate never reaches for global randomness: the client is generic over a [`RandomSource`], and a
//! server uses [`NoRandom`], which it never calls.

use core::fmt;

/// The caller's randomness source failed. Sending is refused with
/// [`SendError::Random`](crate::SendError::Random); nothing was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RandomError;

impl fmt::Display for RandomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the randomness source failed")
    }
}

impl core::error::Error for RandomError {}

/// A source of unpredictable bytes, supplied by the caller.
///
/// Implemented for closures `FnMut(&mut [u8]) -> Result<(), RandomError>` and, with
/// the `getrandom` feature, by [`OsRandom`].
///
/// ```
/// use sockless::{RandomError, RandomSource};
/// // A deterministic source for tests (never use one like this on a network).
/// let mut counter = 0u8;
/// let mut rng = |dest: &mut [u8]| -> Result<(), RandomError> {
///     for b in dest { counter = counter.wrapping_add(1); *b = counter; }
///     Ok(())
/// };
/// let mut key = [0u8; 4];
/// rng.fill(&mut key).unwrap();
/// assert_eq!(key, [1, 2, 3, 4]);
/// ```
pub trait RandomSource {
    /// Fills `dest` entirely with random bytes.
    ///
    /// # Errors
    /// [`RandomError`] if no randomness could be had; the crate then refuses the operation.
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError>;
}

impl<F: FnMut(&mut [u8]) -> Result<(), RandomError>> RandomSource for F {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError> {
        self(dest)
    }
}

/// The randomness source of a server connection: a server never masks, so it never draws.
/// Calling it anyway fails with [`RandomError`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoRandom;

impl RandomSource for NoRandom {
    fn fill(&mut self, _dest: &mut [u8]) -> Result<(), RandomError> {
        Err(RandomError)
    }
}

/// The operating system's randomness (the `getrandom` crate), for clients on hosted platforms.
#[cfg(feature = "getrandom")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OsRandom;

#[cfg(feature = "getrandom")]
impl RandomSource for OsRandom {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError> {
        getrandom::fill(dest).map_err(|_| RandomError)
    }
}
