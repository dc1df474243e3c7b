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

/// How many bytes [`OsRandom`] draws from the operating system at a time: 64 masking keys per
/// system call.
#[cfg(feature = "getrandom")]
const OS_BLOCK: usize = 256;

/// The operating system's randomness (the `getrandom` crate), for clients on hosted platforms.
///
/// It draws [`OS_BLOCK_LEN`](Self::OS_BLOCK_LEN) bytes from the operating system with one call and
/// hands them out in order, each byte once, so a client pays one system call per 64 frames instead
/// of one per frame (a 4-byte masking key then costs nanoseconds, not the quarter of a microsecond
/// of a `getrandom` call). The bytes are the operating system's own, unchanged: a masking key is
/// as unpredictable as if it had been drawn alone (RFC 6455 10.3). Requests longer than a quarter
/// of the block (none of the crate's own: keys are 4 bytes, the handshake key 16) go to the
/// operating system directly.
///
/// The block lives inside the value (258 bytes), so [`Connection<OsRandom>`](crate::Connection) is
/// that much bigger than a server's `Connection`: 448 bytes instead of 192 on 64-bit targets
/// (bounded by a test). A client has few connections; a boxed block would make the source need
/// `alloc` and cost an allocation per connection to save 250 bytes. See [`manual`](crate::manual).
///
/// A clone starts with an empty block (it never hands out bytes the original will), and `Debug`
/// does not show the buffered bytes, which are masking keys not sent yet. A process that forks
/// while it holds an `OsRandom` has two copies of the block: draw in the child from a new one.
///
/// ```
/// use sockless::{OsRandom, RandomSource};
/// let mut rng = OsRandom::new();
/// let (mut a, mut b) = ([0u8; 4], [0u8; 4]);
/// rng.fill(&mut a)?; // one system call fills the block
/// rng.fill(&mut b)?; // the next 4 bytes of it: no system call
/// # Ok::<(), sockless::RandomError>(())
/// ```
#[cfg(feature = "getrandom")]
#[cfg_attr(docsrs, doc(cfg(feature = "getrandom")))]
pub struct OsRandom {
    block: [u8; OS_BLOCK],
    /// Bytes at the front of `block` already handed out; `OS_BLOCK` when it is empty.
    used: u16,
}

#[cfg(feature = "getrandom")]
impl OsRandom {
    /// How many bytes are drawn from the operating system per call.
    pub const OS_BLOCK_LEN: usize = OS_BLOCK;

    /// A source with an empty block: the first draw makes the first system call.
    pub const fn new() -> Self {
        Self {
            block: [0; OS_BLOCK],
            used: OS_BLOCK as u16,
        }
    }

    /// Refills the block with one call to the operating system. On failure the block stays empty.
    #[cold]
    fn refill(&mut self) -> Result<(), RandomError> {
        self.used = OS_BLOCK as u16;
        getrandom::fill(&mut self.block).map_err(|_| RandomError)?;
        self.used = 0;
        Ok(())
    }
}

#[cfg(feature = "getrandom")]
impl Default for OsRandom {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "getrandom")]
impl Clone for OsRandom {
    /// A new source with an empty block, so that the two never hand out the same bytes.
    fn clone(&self) -> Self {
        Self::new()
    }
}

#[cfg(feature = "getrandom")]
impl fmt::Debug for OsRandom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OsRandom")
            .field("buffered", &(OS_BLOCK - usize::from(self.used)))
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "getrandom")]
impl RandomSource for OsRandom {
    #[inline]
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError> {
        if dest.len() > OS_BLOCK / 4 {
            return getrandom::fill(dest).map_err(|_| RandomError);
        }
        let start = usize::from(self.used);
        // `start <= OS_BLOCK` and `dest.len() <= OS_BLOCK / 4`: no overflow.
        let end = start + dest.len();
        let (start, end) = if end <= OS_BLOCK {
            (start, end)
        } else {
            // The rest of the block is too short: it is dropped, never handed out.
            self.refill()?;
            (0, dest.len())
        };
        if let Some(src) = self.block.get(start..end) {
            dest.copy_from_slice(src);
        }
        self.used = end as u16;
        Ok(())
    }
}

#[cfg(all(test, feature = "getrandom"))]
mod tests {
    extern crate std;

    use super::*;
    use std::format;

    #[test]
    fn block_is_handed_out_in_order_and_once() {
        let mut rng = OsRandom::new();
        let mut keys = [[0u8; 4]; OS_BLOCK / 4];
        for key in &mut keys {
            rng.fill(key).unwrap();
        }
        // All 64 keys came from one block, in order.
        let mut joined = [0u8; OS_BLOCK];
        for (dest, key) in joined.chunks_exact_mut(4).zip(&keys) {
            dest.copy_from_slice(key);
        }
        assert_eq!(joined, rng.block);
        assert_eq!(usize::from(rng.used), OS_BLOCK);
        // The next key comes from a new block.
        let mut next = [0u8; 4];
        rng.fill(&mut next).unwrap();
        assert_eq!(rng.used, 4);
        assert_eq!(next, rng.block[..4]);
    }

    #[test]
    fn a_short_rest_is_dropped_not_reused() {
        let mut rng = OsRandom::new();
        let mut first = [0u8; 60];
        rng.fill(&mut first).unwrap();
        for _ in 0..3 {
            rng.fill(&mut [0u8; 60]).unwrap();
        }
        assert_eq!(rng.used, 240);
        let mut key = [0u8; 16];
        rng.fill(&mut key).unwrap(); // 240 + 16 fits exactly
        assert_eq!(usize::from(rng.used), OS_BLOCK);
        let mut more = [0u8; 8];
        rng.fill(&mut more).unwrap();
        assert_eq!(rng.used, 8);
        // Larger requests bypass the block.
        let mut big = [0u8; 100];
        rng.fill(&mut big).unwrap();
        assert_eq!(rng.used, 8);
        assert!(big.iter().any(|&b| b != 0));
    }

    #[test]
    fn clones_start_empty_and_debug_hides_the_bytes() {
        let mut rng = OsRandom::new();
        rng.fill(&mut [0u8; 4]).unwrap();
        let clone = rng.clone();
        assert_eq!(usize::from(clone.used), OS_BLOCK);
        let shown = format!("{rng:?}");
        assert_eq!(shown, "OsRandom { buffered: 252, .. }");
    }

    #[test]
    fn a_client_connection_holds_the_block() {
        assert_eq!(core::mem::size_of::<OsRandom>(), OS_BLOCK + 2);
        // A server's `Connection` is at most 192 bytes; the block adds its 258 (448 in all today).
        assert!(core::mem::size_of::<crate::Connection<OsRandom>>() <= 192 + OS_BLOCK + 8);
    }
}
