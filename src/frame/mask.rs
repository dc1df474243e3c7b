//! Masking (RFC 6455 5.3): XOR with a 4-byte key, a machine word at a time.

/// The key rotated so that its first byte applies at payload position `offset`.
#[inline]
fn rotated(key: [u8; 4], offset: usize) -> [u8; 4] {
    let k = u32::from_le_bytes(key).rotate_right(8 * (offset % 4) as u32);
    k.to_le_bytes()
}

/// XORs `buf` in place with `key`, where `buf[0]` is payload byte number `offset` (so a payload
/// masked in pieces gives the same bytes as one masked whole). Masking twice restores the input.
///
/// ```
/// use sockless::frame::apply_mask;
/// let key = [0x37, 0xfa, 0x21, 0x3d];
/// let mut whole = *b"Hello";
/// apply_mask(&mut whole, key, 0);
/// assert_eq!(whole, [0x7f, 0x9f, 0x4d, 0x51, 0x58]); // RFC 6455 5.7
/// let mut split = *b"Hello";
/// let (a, b) = split.split_at_mut(3);
/// apply_mask(a, key, 0);
/// apply_mask(b, key, 3);
/// assert_eq!(split, whole);
/// ```
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let rk = rotated(key, offset);
    let word = u64::from_ne_bytes([rk[0], rk[1], rk[2], rk[3], rk[0], rk[1], rk[2], rk[3]]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(w) ^ word).to_ne_bytes());
    }
    for (b, k) in chunks.into_remainder().iter_mut().zip(rk.iter().cycle()) {
        *b ^= k;
    }
}

/// Copies `src` into the front of `dst` masked with `key` (payload position `offset` first), in one
/// pass. Copies `min(src.len(), dst.len())` bytes.
#[inline]
pub fn copy_masked(src: &[u8], dst: &mut [u8], key: [u8; 4], offset: usize) {
    let rk = rotated(key, offset);
    let word = u64::from_ne_bytes([rk[0], rk[1], rk[2], rk[3], rk[0], rk[1], rk[2], rk[3]]);
    let n = src.len().min(dst.len());
    let (src, dst) = (
        src.get(..n).unwrap_or_default(),
        dst.get_mut(..n).unwrap_or_default(),
    );
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (dc, sc) in (&mut d).zip(&mut s) {
        let mut w = [0u8; 8];
        w.copy_from_slice(sc);
        dc.copy_from_slice(&(u64::from_ne_bytes(w) ^ word).to_ne_bytes());
    }
    for ((db, sb), k) in d
        .into_remainder()
        .iter_mut()
        .zip(s.remainder())
        .zip(rk.iter().cycle())
    {
        *db = sb ^ k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(i + offset) % 4];
        }
    }

    #[test]
    fn matches_reference_at_every_offset_and_length() {
        let key = [0x12, 0x34, 0x56, 0x78];
        for len in 0..40 {
            for offset in 0..8 {
                let orig: [u8; 40] = core::array::from_fn(|i| (i * 7 + 3) as u8);
                let mut a = orig;
                let mut b = orig;
                apply_mask(&mut a[..len], key, offset);
                reference(&mut b[..len], key, offset);
                assert_eq!(a, b, "len {len} offset {offset}");
                let mut c = [0u8; 40];
                copy_masked(&orig[..len], &mut c, key, offset);
                assert_eq!(c[..len], b[..len], "copy len {len} offset {offset}");
                assert!(c[len..].iter().all(|&x| x == 0));
            }
        }
    }
}
