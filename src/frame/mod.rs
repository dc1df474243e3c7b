//! The stateless frame codec (RFC 6455 section 5): opcodes, close codes, header decode and encode,
//! and masking. Nothing here knows about connection state; [`crate::Connection`] applies the rules
//! that need it (masking direction, reserved bits, fragmentation order, limits).

mod close;
mod header;
mod mask;

pub use close::{CloseCode, CloseFrame};
pub use header::{FrameHeader, MAX_CONTROL_FRAME_LEN, MAX_HEADER_LEN};
pub use mask::{apply_mask, copy_masked};
pub(crate) use mask::{copy_short, unmask_reporting_ascii};

/// A frame opcode (RFC 6455 5.2). The reserved values 3-7 and 11-15 have no variant: decoding them
/// fails with [`ProtocolError::UnknownOpcode`](crate::ProtocolError::UnknownOpcode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// The opcode for a 4-bit value, or `None` for a reserved one.
    ///
    /// ```
    /// use sockless::frame::OpCode;
    /// assert_eq!(OpCode::from_u8(0x9), Some(OpCode::Ping));
    /// assert_eq!(OpCode::from_u8(0x3), None);
    /// ```
    pub const fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            _ => return None,
        })
    }

    /// The 4-bit wire value.
    pub const fn as_u8(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// Close, Ping and Pong are control frames: never fragmented, at most 125 payload bytes.
    pub const fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// The kind of a data message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataKind {
    /// UTF-8 text (validated on receive).
    Text,
    /// Arbitrary bytes.
    Binary,
}

impl DataKind {
    /// The opcode of the first frame of a message of this kind.
    pub const fn opcode(self) -> OpCode {
        match self {
            Self::Text => OpCode::Text,
            Self::Binary => OpCode::Binary,
        }
    }
}

/// A set of the reserved bits RSV1, RSV2 and RSV3 of a frame header, which only a negotiated
/// extension may give a meaning (RFC 6455 5.2, 9). The bits sit as in [`FrameHeader::rsv`]:
/// RSV1 is `0b100`. permessage-deflate (RFC 7692) owns [`Rsv::RSV1`], its "compressed" bit.
///
/// ```
/// use sockless::Rsv;
/// let owned = Rsv::RSV1 | Rsv::RSV3;
/// assert!(owned.contains(Rsv::RSV1) && !owned.contains(Rsv::RSV2));
/// assert_eq!(owned.bits(), 0b101);
/// assert_eq!(Rsv::from_bits(0b101), Some(owned));
/// assert_eq!(Rsv::from_bits(0b1000), None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rsv(u8);

impl Rsv {
    /// No bit.
    pub const NONE: Self = Self(0);
    /// RSV1 (`0b100`): "compressed" for permessage-deflate.
    pub const RSV1: Self = Self(0b100);
    /// RSV2 (`0b010`).
    pub const RSV2: Self = Self(0b010);
    /// RSV3 (`0b001`).
    pub const RSV3: Self = Self(0b001);

    /// The set with these bits (RSV1 = `0b100`), or `None` if a bit above the three is set.
    pub const fn from_bits(bits: u8) -> Option<Self> {
        if bits & !0b111 == 0 {
            Some(Self(bits))
        } else {
            None
        }
    }

    /// The bits, laid out as in [`FrameHeader::rsv`].
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for Rsv {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}
