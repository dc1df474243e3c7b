//! Close codes and the Close frame payload (RFC 6455 5.5.1, 7.4).

use crate::error::ProtocolError;

/// A close status code (RFC 6455 7.4): an open number type with the registered codes as constants.
///
/// ```
/// use sockless::frame::CloseCode;
/// assert!(CloseCode::NORMAL.is_sendable());
/// assert!(CloseCode(4000).is_sendable());
/// assert!(!CloseCode::ABNORMAL.is_sendable()); // 1006 never appears on the wire
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection was fulfilled.
    pub const NORMAL: Self = Self(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: protocol error.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1005: no status code was present. Never on the wire; [`Connection::close`](crate::Connection::close)
    /// with it (and an empty reason) sends a Close frame with an empty payload.
    pub const NO_STATUS: Self = Self(1005);
    /// 1006: closed without a Close frame. Never on the wire.
    pub const ABNORMAL: Self = Self(1006);
    /// 1007: data inconsistent with the message type (invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: a policy was violated.
    pub const POLICY_VIOLATION: Self = Self(1008);
    /// 1009: a message too big to process.
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1010: the client expected the server to negotiate an extension.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1012: the service is restarting.
    pub const SERVICE_RESTART: Self = Self(1012);
    /// 1013: try again later.
    pub const TRY_AGAIN_LATER: Self = Self(1013);
    /// 1014: a gateway or proxy got an invalid response upstream.
    pub const BAD_GATEWAY: Self = Self(1014);
    /// 1015: the TLS handshake failed. Never on the wire.
    pub const TLS_HANDSHAKE: Self = Self(1015);

    /// Whether the code may appear in a Close frame: 1000-1003, 1007-1014 and 3000-4999.
    pub const fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(v: u16) -> Self {
        Self(v)
    }
}

impl From<CloseCode> for u16 {
    fn from(c: CloseCode) -> Self {
        c.0
    }
}

/// The payload of a Close frame that carried a status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloseFrame<'a> {
    /// The status code.
    pub code: CloseCode,
    /// The reason, at most 123 bytes of UTF-8.
    pub reason: &'a str,
}

impl<'a> CloseFrame<'a> {
    /// Parses and validates a received Close payload: empty (no code), or a sendable code followed
    /// by a UTF-8 reason.
    ///
    /// # Errors
    /// [`ProtocolError::InvalidClosePayload`] for a one-byte payload,
    /// [`ProtocolError::InvalidCloseCode`] for a code that may not be on the wire, and
    /// [`ProtocolError::InvalidUtf8`] for a reason that is not UTF-8.
    pub fn parse(payload: &'a [u8]) -> Result<Option<Self>, ProtocolError> {
        match payload {
            [] => Ok(None),
            [_] => Err(ProtocolError::InvalidClosePayload),
            [a, b, reason @ ..] => {
                let code = CloseCode(u16::from_be_bytes([*a, *b]));
                if !code.is_sendable() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                let reason =
                    core::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidUtf8)?;
                Ok(Some(Self { code, reason }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sendable_ranges() {
        let valid = |c: u16| CloseCode(c).is_sendable();
        for c in 0..=5000u16 {
            let expect = matches!(c, 1000..=1003 | 1007..=1014 | 3000..=4999);
            assert_eq!(valid(c), expect, "{c}");
        }
        assert!(!valid(u16::MAX));
    }

    #[test]
    fn parse_payloads() {
        assert_eq!(CloseFrame::parse(&[]), Ok(None));
        assert_eq!(
            CloseFrame::parse(&[3]),
            Err(ProtocolError::InvalidClosePayload)
        );
        assert_eq!(
            CloseFrame::parse(&[0x03, 0xE8, b'o', b'k']),
            Ok(Some(CloseFrame {
                code: CloseCode::NORMAL,
                reason: "ok"
            }))
        );
        assert_eq!(
            CloseFrame::parse(&[0x03, 0xED]),
            Err(ProtocolError::InvalidCloseCode(1005))
        );
        assert_eq!(
            CloseFrame::parse(&[0x00, 0x00]),
            Err(ProtocolError::InvalidCloseCode(0))
        );
        assert_eq!(
            CloseFrame::parse(&[0x03, 0xE8, 0xFF]),
            Err(ProtocolError::InvalidUtf8)
        );
    }
}
