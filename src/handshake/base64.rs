//! Base64 (RFC 4648 section 4, standard alphabet, padded) for the two fixed-size values of the
//! handshake: the 16-byte `Sec-WebSocket-Key` and the 20-byte SHA-1 of `Sec-WebSocket-Accept`.
//!
//! Written here rather than taken from the `base64` crate: a general engine's set-up costs more
//! than the work for 16 or 20 bytes (measured on the W6 handshake workload, see the manual's
//! performance notes), and these two uses need neither decoding into bytes nor any other
//! alphabet or padding mode. A unit test compares both functions with the `base64` crate.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The character for the low 6 bits of `sextet`.
#[inline]
fn char_of(sextet: u32) -> u8 {
    ALPHABET
        .get((sextet & 0x3F) as usize)
        .copied()
        .unwrap_or(b'A')
}

/// Encodes `src` into the front of `dst`, padded with `=`; returns the length written,
/// `4 * ceil(src.len() / 3)`, or 0 (writing nothing) if `dst` is shorter than that.
pub(crate) fn encode(src: &[u8], dst: &mut [u8]) -> usize {
    let len = src.len().div_ceil(3) * 4;
    let Some(dst) = dst.get_mut(..len) else {
        return 0;
    };
    for (group, out) in src.chunks(3).zip(dst.chunks_exact_mut(4)) {
        let [a, b, c] = match *group {
            [a, b, c] => [a, b, c],
            [a, b] => [a, b, 0],
            [a] => [a, 0, 0],
            _ => [0, 0, 0],
        };
        let bits = u32::from(a) << 16 | u32::from(b) << 8 | u32::from(c);
        let chars = [
            char_of(bits >> 18),
            char_of(bits >> 12),
            if group.len() > 1 {
                char_of(bits >> 6)
            } else {
                b'='
            },
            if group.len() > 2 { char_of(bits) } else { b'=' },
        ];
        out.copy_from_slice(&chars);
    }
    len
}

/// Each byte's value in the alphabet, or 0xFF for bytes outside it. (Indexing in a constant is
/// checked when the crate compiles.)
#[allow(clippy::indexing_slicing)]
const VALUES: [u8; 256] = {
    let mut table = [0xFF; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Whether `text` is the canonical base64 of exactly 16 bytes: 22 characters of the alphabet
/// whose last one carries no bits past the 128th (its low 4 bits are zero), then `==`.
pub(crate) fn is_16_bytes(text: &[u8]) -> bool {
    let Some((chars, b"==")) = text.split_at_checked(22) else {
        return false;
    };
    let (mut outside, mut last) = (0u8, 0u8);
    for &c in chars {
        last = VALUES.get(usize::from(c)).copied().unwrap_or(0xFF);
        outside |= last;
    }
    // Values are below 64: a byte outside the alphabet (0xFF) sets the top bits.
    outside & 0xC0 == 0 && last & 0x0F == 0
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use base64::Engine;
    use std::vec::Vec;

    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn encode_agrees_with_the_base64_crate() {
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        for len in 0..70 {
            for _ in 0..20 {
                let src: Vec<u8> = (0..len).map(|_| xorshift(&mut s) as u8).collect();
                let mut ours = [0u8; 96];
                let n = encode(&src, &mut ours);
                let theirs = base64::engine::general_purpose::STANDARD.encode(&src);
                assert_eq!(&ours[..n], theirs.as_bytes(), "{src:x?}");
            }
        }
        assert_eq!(
            encode(b"abc", &mut [0u8; 3]),
            0,
            "too short: nothing written"
        );
    }

    #[test]
    fn key_check_agrees_with_the_base64_crate() {
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ !\x80";
        let crate_says = |t: &[u8]| {
            let mut out = [0u8; 32];
            matches!(
                base64::engine::general_purpose::STANDARD.decode_slice(t, &mut out),
                Ok(16)
            )
        };
        for _ in 0..20_000 {
            // A valid key, then mutations of it: a character, the length, the padding.
            let raw: Vec<u8> = (0..16).map(|_| xorshift(&mut s) as u8).collect();
            let mut key = [0u8; 24];
            assert_eq!(encode(&raw, &mut key), 24);
            assert!(is_16_bytes(&key));
            let mut t = key.to_vec();
            let r = xorshift(&mut s) as usize;
            match r % 4 {
                0 => t[r / 4 % 24] = alphabet[r / 96 % alphabet.len()],
                1 => t.truncate(r / 4 % 24),
                2 => t.push(alphabet[r / 4 % alphabet.len()]),
                _ => t[21] = alphabet[r / 4 % 64],
            }
            assert_eq!(
                is_16_bytes(&t),
                crate_says(&t),
                "{:?}",
                std::string::String::from_utf8_lossy(&t)
            );
        }
    }
}
