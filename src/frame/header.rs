//! Frame header decode and encode (RFC 6455 5.2).

use super::OpCode;
use crate::error::{BufferTooSmall, EncodeError, ProtocolError};
use crate::Status;

/// The longest frame header: 2 bytes, an 8-byte extended length and a 4-byte masking key.
pub const MAX_HEADER_LEN: usize = 14;

/// The longest control frame (Ping, Pong or Close): a 2-byte header, a 4-byte masking key and 125
/// bytes of payload. An output buffer of this size always holds what
/// [`Connection::poll_transmit`](crate::Connection::poll_transmit) writes in one call; a Pong
/// still owed takes at most this much in front of what the `send` methods write.
pub const MAX_CONTROL_FRAME_LEN: usize = 2 + 4 + 125;

/// A decoded frame header.
///
/// ```
/// use sockless::frame::{FrameHeader, OpCode};
/// use sockless::Status;
/// // RFC 6455 5.7: a single-frame masked text message "Hello".
/// let bytes = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
/// let Status::Complete((header, len)) = FrameHeader::decode(&bytes).unwrap() else { panic!() };
/// assert_eq!(len, 6);
/// assert_eq!(header.opcode, OpCode::Text);
/// assert_eq!(header.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
/// assert_eq!(header.payload_len, 5);
/// let mut out = [0u8; 14];
/// assert_eq!(header.encode(&mut out), Ok(6));
/// assert_eq!(out[..6], bytes[..6]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// The final frame of a message.
    pub fin: bool,
    /// The reserved bits RSV1, RSV2, RSV3 as the low three bits (RSV1 = `0b100`).
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, present on every frame a client sends.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Decodes a header from the front of `input`, returning it and its length in bytes, or
    /// [`Status::Partial`] if `input` holds only part of it (at most [`MAX_HEADER_LEN`] bytes are
    /// needed).
    ///
    /// Checks the rules that need no connection state, as soon as the byte carrying them is
    /// present: reserved opcodes, control frames with FIN clear or over 125 bytes, a 64-bit length
    /// with its top bit set, and lengths not in their minimal encoding.
    ///
    /// # Errors
    /// The [`ProtocolError`] for the first rule broken.
    #[inline]
    pub fn decode(input: &[u8]) -> Result<Status<(Self, usize)>, ProtocolError> {
        let Some(&b0) = input.first() else {
            return Ok(Status::Partial);
        };
        let code = b0 & 0x0F;
        let Some(opcode) = OpCode::from_u8(code) else {
            return Err(ProtocolError::UnknownOpcode(code));
        };
        let fin = b0 & 0x80 != 0;
        if opcode.is_control() && !fin {
            return Err(ProtocolError::FragmentedControlFrame);
        }
        let Some(&b1) = input.get(1) else {
            return Ok(Status::Partial);
        };
        let len7 = b1 & 0x7F;
        if opcode.is_control() && len7 > 125 {
            return Err(ProtocolError::ControlFrameTooLong);
        }
        let masked = b1 & 0x80 != 0;
        let (ext, payload_len) = match len7 {
            126 => {
                let Some(&[a, b]) = input.get(2..4).and_then(|s| s.first_chunk::<2>()) else {
                    return Ok(Status::Partial);
                };
                let n = u16::from_be_bytes([a, b]);
                if n < 126 {
                    return Err(ProtocolError::NonMinimalLength);
                }
                (2, u64::from(n))
            }
            127 => {
                let Some(b) = input.get(2..10).and_then(|s| s.first_chunk::<8>()) else {
                    if input.get(2).is_some_and(|&top| top & 0x80 != 0) {
                        return Err(ProtocolError::LengthOverflow);
                    }
                    return Ok(Status::Partial);
                };
                let n = u64::from_be_bytes(*b);
                if n >> 63 != 0 {
                    return Err(ProtocolError::LengthOverflow);
                }
                if n <= 0xFFFF {
                    return Err(ProtocolError::NonMinimalLength);
                }
                (8, n)
            }
            n => (0, u64::from(n)),
        };
        let mask_at = 2 + ext;
        let (mask, len) = if masked {
            let Some(k) = input
                .get(mask_at..mask_at + 4)
                .and_then(|s| s.first_chunk::<4>())
            else {
                return Ok(Status::Partial);
            };
            (Some(*k), mask_at + 4)
        } else {
            (None, mask_at)
        };
        Ok(Status::Complete((
            Self {
                fin,
                rsv: (b0 >> 4) & 0x7,
                opcode,
                mask,
                payload_len,
            },
            len,
        )))
    }

    /// The number of bytes [`encode`](Self::encode) writes: 2 to 14.
    #[inline]
    pub const fn encoded_len(&self) -> usize {
        let ext = if self.payload_len < 126 {
            0
        } else if self.payload_len <= 0xFFFF {
            2
        } else {
            8
        };
        2 + ext + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Encodes the header into the front of `out` with the minimal length encoding, returning the
    /// number of bytes written. Only the low three bits of `rsv` are used.
    ///
    /// # Errors
    /// Nothing is written on error.
    /// * [`EncodeError::LengthOverflow`] if `payload_len` has its top bit set (2^63 or more):
    ///   RFC 6455 5.2 forbids it, so no legal frame can be written with it (checked first).
    /// * [`EncodeError::BufferTooSmall`] if `out` is shorter than
    ///   [`encoded_len`](Self::encoded_len).
    #[inline]
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        if self.payload_len >> 63 != 0 {
            return Err(EncodeError::LengthOverflow);
        }
        let len = self.encoded_len();
        let Some(out) = out.get_mut(..len) else {
            return Err(BufferTooSmall { needed: len }.into());
        };
        let b0 = (u8::from(self.fin) << 7) | ((self.rsv & 0x7) << 4) | self.opcode.as_u8();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let Some((head, rest)) = out.split_first_chunk_mut::<2>() else {
            return Err(BufferTooSmall { needed: len }.into());
        };
        let rest = if self.payload_len < 126 {
            *head = [b0, mask_bit | self.payload_len as u8];
            rest
        } else if self.payload_len <= 0xFFFF {
            *head = [b0, mask_bit | 126];
            let Some((e, r)) = rest.split_first_chunk_mut::<2>() else {
                return Err(BufferTooSmall { needed: len }.into());
            };
            *e = (self.payload_len as u16).to_be_bytes();
            r
        } else {
            *head = [b0, mask_bit | 127];
            let Some((e, r)) = rest.split_first_chunk_mut::<8>() else {
                return Err(BufferTooSmall { needed: len }.into());
            };
            *e = self.payload_len.to_be_bytes();
            r
        };
        if let (Some(k), Some(dest)) = (self.mask, rest.first_chunk_mut::<4>()) {
            *dest = k;
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_ok(bytes: &[u8]) -> (FrameHeader, usize) {
        match FrameHeader::decode(bytes) {
            Ok(Status::Complete(x)) => x,
            other => panic!("expected a header, got {other:?}"),
        }
    }

    #[test]
    fn rfc6455_section_5_7_examples() {
        // Unmasked "Hello".
        let (h, n) = decode_ok(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(
            (h.fin, h.opcode, h.mask, h.payload_len, n),
            (true, OpCode::Text, None, 5, 2)
        );
        // Fragmented unmasked text "Hel" + "lo".
        let (h, _) = decode_ok(&[0x01, 0x03, 0x48, 0x65, 0x6c]);
        assert_eq!((h.fin, h.opcode), (false, OpCode::Text));
        let (h, _) = decode_ok(&[0x80, 0x02, 0x6c, 0x6f]);
        assert_eq!((h.fin, h.opcode), (true, OpCode::Continuation));
        // Unmasked and masked Ping/Pong "Hello".
        let (h, _) = decode_ok(&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(h.opcode, OpCode::Ping);
        let (h, n) = decode_ok(&[0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f]);
        assert_eq!(
            (h.opcode, h.mask, n),
            (OpCode::Pong, Some([0x37, 0xfa, 0x21, 0x3d]), 6)
        );
        // 256 bytes binary, unmasked.
        let (h, n) = decode_ok(&[0x82, 0x7E, 0x01, 0x00]);
        assert_eq!((h.opcode, h.payload_len, n), (OpCode::Binary, 256, 4));
        // 64 KiB binary, unmasked.
        let (h, n) = decode_ok(&[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!((h.payload_len, n), (65536, 10));
    }

    #[test]
    fn partial_at_every_prefix() {
        let full = [0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4];
        for i in 0..full.len() {
            assert_eq!(
                FrameHeader::decode(&full[..i]),
                Ok(Status::Partial),
                "prefix {i}"
            );
        }
        assert_eq!(decode_ok(&full).1, 14);
    }

    #[test]
    fn violations() {
        assert_eq!(
            FrameHeader::decode(&[0x83]),
            Err(ProtocolError::UnknownOpcode(3))
        );
        assert_eq!(
            FrameHeader::decode(&[0x8F]),
            Err(ProtocolError::UnknownOpcode(15))
        );
        assert_eq!(
            FrameHeader::decode(&[0x09]),
            Err(ProtocolError::FragmentedControlFrame)
        );
        assert_eq!(
            FrameHeader::decode(&[0x89, 126]),
            Err(ProtocolError::ControlFrameTooLong)
        );
        assert_eq!(
            FrameHeader::decode(&[0x82, 126, 0, 125]),
            Err(ProtocolError::NonMinimalLength)
        );
        assert_eq!(
            FrameHeader::decode(&[0x82, 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]),
            Err(ProtocolError::NonMinimalLength)
        );
        assert_eq!(
            FrameHeader::decode(&[0x82, 127, 0x80]),
            Err(ProtocolError::LengthOverflow)
        );
        assert_eq!(
            FrameHeader::decode(&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            Err(ProtocolError::LengthOverflow)
        );
    }

    #[test]
    fn encode_refuses_a_length_with_the_top_bit_set() {
        for len in [1u64 << 63, (1 << 63) + 1, u64::MAX] {
            for mask in [None, Some([1, 2, 3, 4])] {
                let h = FrameHeader {
                    fin: true,
                    rsv: 0,
                    opcode: OpCode::Binary,
                    mask,
                    payload_len: len,
                };
                let mut out = [0xAAu8; MAX_HEADER_LEN];
                assert_eq!(
                    h.encode(&mut out),
                    Err(EncodeError::LengthOverflow),
                    "{len:#x}"
                );
                assert_eq!(h.encode(&mut []), Err(EncodeError::LengthOverflow));
                assert_eq!(out, [0xAA; MAX_HEADER_LEN], "nothing written");
            }
        }
    }

    #[test]
    fn encode_round_trips_every_length_class() {
        for &len in &[0u64, 1, 125, 126, 65535, 65536, (1 << 63) - 1] {
            for mask in [None, Some([1, 2, 3, 4])] {
                for (fin, rsv) in [(true, 0), (false, 0b101)] {
                    let h = FrameHeader {
                        fin,
                        rsv,
                        opcode: OpCode::Binary,
                        mask,
                        payload_len: len,
                    };
                    let mut out = [0u8; MAX_HEADER_LEN];
                    let n = h.encode(&mut out).unwrap();
                    assert_eq!(n, h.encoded_len());
                    assert_eq!(decode_ok(&out[..n]), (h, n));
                    assert_eq!(
                        h.encode(&mut out[..n - 1]),
                        Err(EncodeError::BufferTooSmall(BufferTooSmall { needed: n }))
                    );
                }
            }
        }
    }
}
