//! Support shared by the unit tests inside the crate (the integration suites have theirs in
//! `tests/common`): the deterministic generator for chunk sizes.

/// xorshift64: deterministic read sizes for the chunking tests.
#[derive(Clone, Debug)]
pub(crate) struct XorShift(u64);

impl XorShift {
    /// A generator starting from `state` as it is (not zero, or it stays at zero).
    pub(crate) fn from_state(state: u64) -> Self {
        Self(state)
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `1..=max`.
    pub(crate) fn upto(&mut self, max: usize) -> usize {
        1 + (self.next() % max.max(1) as u64) as usize
    }
}
