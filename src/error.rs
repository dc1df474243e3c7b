//! Error types. Every error is small, `Copy`, and says what goes on the wire.
//!
//! * [`ProtocolError`]: the peer broke RFC 6455 after the handshake. It knows its close code, and by
//!   the time it is returned the matching Close frame is already queued for
//!   [`Connection::poll_transmit`](crate::Connection::poll_transmit).
//! * [`HandshakeError`]: the opening handshake failed. On the server side it knows the HTTP status to
//!   answer with.
//! * [`SendError`]: local misuse or a local resource problem while encoding (too small a buffer, the
//!   connection is closing, entropy failed). Nothing was written and no state changed.
//! * [`BufferTooSmall`]: an output buffer was too small; carries the size needed.
//! * [`EncodeError`]: the stateless frame codec refused to write a header
//!   ([`FrameHeader::encode`](crate::frame::FrameHeader::encode)).
//! * [`Error`]: any of the above (and [`RandomError`]), for a driver that wants one error type:
//!   each converts into it with `?`, and under `std` into [`std::io::Error`] too.

use core::fmt;

use crate::frame::CloseCode;
use crate::rand::RandomError;

/// An output buffer was too small. Nothing was written and no state changed; retry with a buffer of
/// at least [`needed`](Self::needed) bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferTooSmall {
    /// The number of bytes the operation needs.
    pub needed: usize,
}

impl fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "output buffer too small: {} bytes needed", self.needed)
    }
}

/// Why [`FrameHeader::encode`](crate::frame::FrameHeader::encode) wrote nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer is too small.
    BufferTooSmall(BufferTooSmall),
    /// The payload length is 2^63 or more: RFC 6455 5.2 requires the most significant bit of the
    /// 64-bit length to be 0, so no legal frame has it.
    LengthOverflow,
}

impl From<BufferTooSmall> for EncodeError {
    fn from(e: BufferTooSmall) -> Self {
        Self::BufferTooSmall(e)
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall(e) => e.fmt(f),
            Self::LengthOverflow => f.write_str("payload length of 2^63 or more"),
        }
    }
}

/// The peer violated RFC 6455 (or a configured limit) after the handshake.
///
/// The connection is failed: a Close frame carrying [`close_code`](Self::close_code) is queued for
/// [`Connection::poll_transmit`](crate::Connection::poll_transmit) (unless a Close was already sent),
/// and after flushing it the driver closes the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A reserved bit (RSV1-3) was set that no negotiated extension gives a meaning there: a bit
    /// no extension owns, or an owned bit on a continuation or a control frame (extensions own
    /// bits on the first frame of a data message only). Close code 1002.
    ReservedBits,
    /// The opcode is one of the reserved values 3-7 or 11-15. Close code 1002.
    UnknownOpcode(u8),
    /// A control frame (Close, Ping, Pong) had FIN clear. Close code 1002.
    FragmentedControlFrame,
    /// A control frame declared more than 125 payload bytes. Close code 1002.
    ControlFrameTooLong,
    /// The 64-bit extended payload length had its most significant bit set. Close code 1002.
    LengthOverflow,
    /// The payload length was not encoded in the minimal number of bytes (RFC 6455 5.2). Close code 1002.
    NonMinimalLength,
    /// A server received a frame without a mask. Close code 1002.
    UnmaskedFrame,
    /// A client received a masked frame. Close code 1002.
    MaskedFrame,
    /// A continuation frame arrived with no fragmented message in progress. Close code 1002.
    UnexpectedContinuation,
    /// A new Text or Binary frame arrived while a fragmented message was in progress. Close code 1002.
    ExpectedContinuation,
    /// A Text message (or a Close reason) was not valid UTF-8. Close code 1007.
    InvalidUtf8,
    /// A Close frame had a payload of exactly one byte. Close code 1002.
    InvalidClosePayload,
    /// A Close frame carried a code that may not appear on the wire. Close code 1002.
    InvalidCloseCode(u16),
    /// A data frame declared a payload longer than
    /// [`Config::max_frame_len`](crate::Config::max_frame_len). Close code 1009.
    FrameTooLong,
    /// A message grew beyond [`Config::max_message_len`](crate::Config::max_message_len). Close code 1009.
    MessageTooLong,
}

impl ProtocolError {
    /// The close code that goes on the wire for this error.
    pub const fn close_code(self) -> CloseCode {
        match self {
            Self::InvalidUtf8 => CloseCode::INVALID_PAYLOAD,
            Self::FrameTooLong | Self::MessageTooLong => CloseCode::MESSAGE_TOO_BIG,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReservedBits => {
                f.write_str("reserved bits set where no negotiated extension defines them")
            }
            Self::UnknownOpcode(op) => write!(f, "unknown opcode {op:#x}"),
            Self::FragmentedControlFrame => f.write_str("fragmented control frame"),
            Self::ControlFrameTooLong => f.write_str("control frame payload over 125 bytes"),
            Self::LengthOverflow => f.write_str("64-bit payload length with the top bit set"),
            Self::NonMinimalLength => f.write_str("payload length not minimally encoded"),
            Self::UnmaskedFrame => f.write_str("unmasked frame from a client"),
            Self::MaskedFrame => f.write_str("masked frame from a server"),
            Self::UnexpectedContinuation => {
                f.write_str("continuation frame without a message in progress")
            }
            Self::ExpectedContinuation => {
                f.write_str("new data frame while a fragmented message is in progress")
            }
            Self::InvalidUtf8 => f.write_str("invalid UTF-8 in text"),
            Self::InvalidClosePayload => f.write_str("close frame with a one-byte payload"),
            Self::InvalidCloseCode(c) => write!(f, "invalid close code {c}"),
            Self::FrameTooLong => f.write_str("frame longer than the configured limit"),
            Self::MessageTooLong => f.write_str("message longer than the configured limit"),
        }
    }
}

/// Why an encode or send was refused. Nothing was written and no state changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The output buffer is too small.
    BufferTooSmall(BufferTooSmall),
    /// A Close frame was already sent or queued: nothing more may be sent.
    Closing,
    /// A control frame payload (Ping, Pong, or Close code plus reason) over 125 bytes.
    ControlPayloadTooLong,
    /// The close code may not be sent on the wire (for example 1006 or 1015).
    InvalidCloseCode(u16),
    /// [`Connection::close`](crate::Connection::close) was given a reason with
    /// [`CloseCode::NO_STATUS`], which sends a Close without a payload: a reason can only follow a
    /// code (RFC 6455 5.5.1), so it would be lost.
    ReasonWithoutCode,
    /// A message of the other kind is in progress: finish it (a frame with `fin`) first, or a new
    /// message was started as a continuation of none.
    MessageInProgress,
    /// A frame begun with [`Connection::send_header`](crate::Connection::send_header) still has
    /// payload bytes to go through [`Connection::send_payload`](crate::Connection::send_payload).
    FrameInProgress,
    /// More payload was given to [`Connection::send_payload`](crate::Connection::send_payload) than
    /// the frame header declared, or no streamed frame is in progress.
    PayloadOverrun,
    /// [`Connection::send_header`](crate::Connection::send_header) was given a payload length of
    /// 2^63 or more, which no frame may declare (RFC 6455 5.2: the most significant bit of the
    /// 64-bit length MUST be 0).
    LengthOverflow,
    /// RSV bits that no negotiated extension owns, or owned bits on a frame that cannot carry
    /// them (a continuation: they go on the first frame of a message only). See
    /// [`Connection::with_extension_bits`](crate::Connection::with_extension_bits).
    ReservedBits,
    /// The caller's randomness source failed while drawing a masking key.
    Random(RandomError),
}

impl From<BufferTooSmall> for SendError {
    fn from(e: BufferTooSmall) -> Self {
        Self::BufferTooSmall(e)
    }
}

impl From<EncodeError> for SendError {
    fn from(e: EncodeError) -> Self {
        match e {
            EncodeError::BufferTooSmall(e) => Self::BufferTooSmall(e),
            EncodeError::LengthOverflow => Self::LengthOverflow,
        }
    }
}

impl From<RandomError> for SendError {
    fn from(e: RandomError) -> Self {
        Self::Random(e)
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall(e) => e.fmt(f),
            Self::Closing => f.write_str("the connection is closing; nothing more may be sent"),
            Self::ControlPayloadTooLong => f.write_str("control frame payload over 125 bytes"),
            Self::InvalidCloseCode(c) => write!(f, "close code {c} may not be sent"),
            Self::ReasonWithoutCode => f.write_str("a close reason needs a close code"),
            Self::MessageInProgress => f.write_str("another message is in progress"),
            Self::FrameInProgress => f.write_str("a streamed frame still expects payload"),
            Self::PayloadOverrun => f.write_str("more payload than the frame header declared"),
            Self::LengthOverflow => f.write_str("payload length of 2^63 or more"),
            Self::ReservedBits => {
                f.write_str("RSV bits not owned by a negotiated extension, or on a continuation")
            }
            Self::Random(e) => e.fmt(f),
        }
    }
}

/// The opening handshake failed.
///
/// On the server side, [`status`](Self::status) is the HTTP status to answer with, and
/// [`ServerHandshake::write_error`](crate::handshake::ServerHandshake::write_error) writes that
/// response (with `Sec-WebSocket-Version: 13` for 426, `Allow: GET` for 405). On the client side the error says why the
/// server's response was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The head is not valid HTTP/1.1 (syntax). Status 400.
    MalformedHttp,
    /// The head grew past [`HandshakeLimits::max_head_len`](crate::HandshakeLimits::max_head_len)
    /// bytes without ending. Status 431.
    HeadTooLarge,
    /// More header lines than allowed (the caller's header array or
    /// [`HandshakeLimits::max_headers`](crate::HandshakeLimits::max_headers)). Status 431.
    TooManyHeaders,
    /// The request method is not `GET`. Status 405.
    MethodNotGet,
    /// The HTTP version is older than 1.1. Status 400 (505 would mean the server does not speak it).
    HttpVersion,
    /// The request has no `Host` header, or more than one. Status 400.
    MissingHost,
    /// `Host` is not `uri-host [ ":" port ]` (RFC 7230 5.4, RFC 3986 3.2.2): a server got such a
    /// value, or a [`ClientRequest`](crate::handshake::ClientRequest) was given one. Status 400.
    InvalidHost,
    /// On the server: `Upgrade` is missing or has no `websocket` token, a plain HTTP request (of
    /// HTTP/1.1, or HTTP/1.0 without any upgrade). On the client: the response's `Upgrade` is not
    /// exactly the one token `websocket`. Status 426.
    NotUpgrade,
    /// `Connection` is missing or has no `Upgrade` token. Status 400.
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Key` is missing, repeated, or not base64 of exactly 16 bytes. Status 400.
    InvalidKey,
    /// `Sec-WebSocket-Version` is missing or repeated. Status 400.
    MissingVersion,
    /// `Sec-WebSocket-Version` is not 13. Status 426, with `Sec-WebSocket-Version: 13`.
    UnsupportedVersion,
    /// A `Sec-WebSocket-Protocol` or `Sec-WebSocket-Extensions` value does not follow its grammar.
    /// Status 400.
    InvalidHeaderList,
    /// The request has a `Content-Length` other than 0 (or one that is not a number): it announces
    /// a body, whose bytes would be read as frames. Status 400.
    UnexpectedContentLength,
    /// The request has a `Transfer-Encoding`: it announces a body, whose bytes would be read as
    /// frames. Status 400.
    UnexpectedTransferEncoding,
    /// The request has an `Expect` other than `100-continue`, which the server cannot meet
    /// (RFC 7231 5.1.1). Status 417.
    UnsupportedExpectation,
    /// A request to write (a header name or value given by the caller) holds bytes that cannot go
    /// into an HTTP head (CR, LF, NUL, or a name that is not a token), or it names a header that the
    /// handshake writes itself.
    InvalidHeader,
    /// The chosen subprotocol was not offered by the peer.
    ProtocolNotOffered,
    /// The server answered with a status other than 101; the [`Response`](crate::handshake::Response)
    /// still shows the status and headers.
    UnexpectedStatus(u16),
    /// The server's `Sec-WebSocket-Accept` is missing or does not match our key.
    AcceptMismatch,
    /// An extension agreed to that the client did not offer: on the client, named in the server's
    /// response; on the server, named in [`Accept::extension`](crate::handshake::Accept::extension).
    ExtensionNotOffered,
    /// The client refuses the extensions the server agreed to: one is named twice, its
    /// parameters are not ones the client's extension layer can honour (the check given to
    /// [`ClientHandshake::finish_with_extensions`](crate::handshake::ClientHandshake::finish_with_extensions)
    /// says so), or the client offered extensions but finished with
    /// [`ClientHandshake::finish`](crate::handshake::ClientHandshake::finish), which agrees to none.
    ExtensionRefused,
    /// The output buffer is too small.
    BufferTooSmall(BufferTooSmall),
    /// The caller's randomness source failed while drawing the client key.
    Random(RandomError),
}

impl HandshakeError {
    /// The HTTP status a server answers this error with. It is meaningful for errors from
    /// [`ServerHandshake::parse`](crate::handshake::ServerHandshake::parse); errors a client meets
    /// keep the status of the same cause on the server side (`NotUpgrade` is 426, say).
    pub const fn status(self) -> u16 {
        match self {
            Self::HeadTooLarge | Self::TooManyHeaders => 431,
            Self::MethodNotGet => 405,
            Self::UnsupportedExpectation => 417,
            Self::NotUpgrade | Self::UnsupportedVersion => 426,
            Self::BufferTooSmall(_) | Self::Random(_) => 500,
            _ => 400,
        }
    }
}

impl From<BufferTooSmall> for HandshakeError {
    fn from(e: BufferTooSmall) -> Self {
        Self::BufferTooSmall(e)
    }
}

impl From<RandomError> for HandshakeError {
    fn from(e: RandomError) -> Self {
        Self::Random(e)
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MalformedHttp => f.write_str("malformed HTTP head"),
            Self::HeadTooLarge => f.write_str("HTTP head too large"),
            Self::TooManyHeaders => f.write_str("too many header lines"),
            Self::MethodNotGet => f.write_str("request method is not GET"),
            Self::HttpVersion => f.write_str("HTTP version older than 1.1"),
            Self::MissingHost => f.write_str("missing or repeated Host header"),
            Self::InvalidHost => f.write_str("Host is not a valid host and port"),
            Self::NotUpgrade => f.write_str("no `Upgrade: websocket`"),
            Self::MissingConnectionUpgrade => f.write_str("no `Connection: Upgrade`"),
            Self::InvalidKey => f.write_str("missing or invalid Sec-WebSocket-Key"),
            Self::MissingVersion => f.write_str("missing Sec-WebSocket-Version"),
            Self::UnsupportedVersion => f.write_str("Sec-WebSocket-Version is not 13"),
            Self::InvalidHeaderList => f.write_str("malformed subprotocol or extension list"),
            Self::UnexpectedContentLength => {
                f.write_str("request announces a body (Content-Length)")
            }
            Self::UnexpectedTransferEncoding => {
                f.write_str("request announces a body (Transfer-Encoding)")
            }
            Self::UnsupportedExpectation => f.write_str("Expect other than 100-continue"),
            Self::InvalidHeader => f.write_str("header name or value cannot be written"),
            Self::ProtocolNotOffered => f.write_str("subprotocol was not offered"),
            Self::UnexpectedStatus(s) => write!(f, "server answered with status {s}, not 101"),
            Self::AcceptMismatch => f.write_str("Sec-WebSocket-Accept does not match the key"),
            Self::ExtensionNotOffered => f.write_str("an extension agreed to was not offered"),
            Self::ExtensionRefused => {
                f.write_str("the extensions the server agreed to are refused")
            }
            Self::BufferTooSmall(e) => e.fmt(f),
            Self::Random(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for BufferTooSmall {}
impl core::error::Error for EncodeError {}
impl core::error::Error for ProtocolError {}
impl core::error::Error for SendError {}
impl core::error::Error for HandshakeError {}

/// Any error of this crate, for a driver that wants one type: [`ProtocolError`],
/// [`HandshakeError`], [`SendError`], [`BufferTooSmall`], [`RandomError`] and [`EncodeError`]
/// each convert into it (`?` does it), unchanged inside, so the close code or HTTP status is
/// still there. Small and `Copy`, like the errors it holds.
///
/// Under `std`, it and each of those errors convert into [`std::io::Error`] too, so a driver
/// whose functions return `io::Result` uses `?` on sockless calls and on socket calls alike:
/// [`io::ErrorKind::InvalidData`](std::io::ErrorKind::InvalidData) for what the peer sent wrong
/// (a protocol error, a bad handshake), `ConnectionRefused` for a handshake answered with a
/// status other than 101, `BrokenPipe` for sending on a closing connection, `InvalidInput` for
/// local misuse (a too-small buffer, a header that cannot be written), and `Other` for a failed
/// randomness source. The `io::Error` wraps the [`Error`], so
/// `e.get_ref().and_then(|e| e.downcast_ref::<sockless::Error>())` recovers it.
///
/// ```
/// use sockless::{CloseCode, Config, Connection, Error, HandshakeError, ProtocolError};
///
/// fn close_code_of(e: impl Into<Error>) -> Option<CloseCode> {
///     e.into().close_code()
/// }
/// assert_eq!(close_code_of(ProtocolError::InvalidUtf8), Some(CloseCode::INVALID_PAYLOAD));
/// assert_eq!(Error::from(HandshakeError::UnsupportedVersion).http_status(), Some(426));
///
/// // One `?` for every sockless call.
/// fn hello(out: &mut [u8]) -> Result<usize, Error> {
///     let mut conn = Connection::server(Config::default());
///     let n = conn.send(sockless::Outgoing::Text("hello"), out)?;
///     Ok(n + conn.poll_transmit(&mut out[n..])?)
/// }
/// assert_eq!(hello(&mut [0u8; 16]), Ok(7));
/// assert!(matches!(hello(&mut [0u8; 4]), Err(Error::Send(_))));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The peer broke RFC 6455 after the handshake (its Close is queued).
    Protocol(ProtocolError),
    /// The opening handshake failed.
    Handshake(HandshakeError),
    /// An encode or send was refused.
    Send(SendError),
    /// An output buffer was too small.
    BufferTooSmall(BufferTooSmall),
    /// The caller's randomness source failed.
    Random(RandomError),
    /// The frame codec refused to write a header.
    Encode(EncodeError),
    /// The permessage-deflate layer failed ([`deflate::Deflate`](crate::deflate::Deflate)).
    #[cfg(feature = "deflate")]
    Deflate(crate::deflate::DeflateError),
}

impl Error {
    /// The close code that went (or goes) on the wire for a [`ProtocolError`] (or an error of
    /// the deflate layer that failed the connection); `None` for the others.
    pub const fn close_code(self) -> Option<CloseCode> {
        match self {
            Self::Protocol(e) => Some(e.close_code()),
            #[cfg(feature = "deflate")]
            Self::Deflate(e) => e.close_code(),
            _ => None,
        }
    }

    /// The HTTP status a server answers a [`HandshakeError`] with
    /// ([`HandshakeError::status`]); `None` for the others.
    pub const fn http_status(self) -> Option<u16> {
        match self {
            Self::Handshake(e) => Some(e.status()),
            _ => None,
        }
    }

    /// The [`std::io::ErrorKind`] a driver reports this error as (see [`Error`]).
    #[cfg(feature = "std")]
    fn io_kind(self) -> std::io::ErrorKind {
        use std::io::ErrorKind;
        match self {
            Self::Protocol(_) => ErrorKind::InvalidData,
            Self::Handshake(HandshakeError::UnexpectedStatus(_)) => ErrorKind::ConnectionRefused,
            Self::Handshake(HandshakeError::InvalidHeader | HandshakeError::BufferTooSmall(_)) => {
                ErrorKind::InvalidInput
            }
            Self::Handshake(HandshakeError::Random(_))
            | Self::Send(SendError::Random(_))
            | Self::Random(_) => ErrorKind::Other,
            Self::Handshake(_) => ErrorKind::InvalidData,
            Self::Send(SendError::Closing) => ErrorKind::BrokenPipe,
            Self::Send(_) | Self::BufferTooSmall(_) | Self::Encode(_) => ErrorKind::InvalidInput,
            #[cfg(feature = "deflate")]
            Self::Deflate(e) => match e {
                crate::deflate::DeflateError::Protocol(p) => Self::Protocol(p).io_kind(),
                crate::deflate::DeflateError::Send(s) => Self::Send(s).io_kind(),
                crate::deflate::DeflateError::Inflate(_) => ErrorKind::InvalidData,
                _ => ErrorKind::Other,
            },
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Protocol(e) => e.fmt(f),
            Self::Handshake(e) => e.fmt(f),
            Self::Send(e) => e.fmt(f),
            Self::BufferTooSmall(e) => e.fmt(f),
            Self::Random(e) => e.fmt(f),
            Self::Encode(e) => e.fmt(f),
            #[cfg(feature = "deflate")]
            Self::Deflate(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(match self {
            Self::Protocol(e) => e,
            Self::Handshake(e) => e,
            Self::Send(e) => e,
            Self::BufferTooSmall(e) => e,
            Self::Random(e) => e,
            Self::Encode(e) => e,
            #[cfg(feature = "deflate")]
            Self::Deflate(e) => e,
        })
    }
}

/// `From<$ty> for Error` (as `Error::$variant`) and, under `std`, `From<$ty> for io::Error`.
macro_rules! into_error {
    ($($variant:ident($ty:ty)),* $(,)?) => {$(
        impl From<$ty> for Error {
            fn from(e: $ty) -> Self {
                Self::$variant(e)
            }
        }

        #[cfg(feature = "std")]
        #[cfg_attr(docsrs, doc(cfg(feature = "std")))]
        impl From<$ty> for std::io::Error {
            fn from(e: $ty) -> Self {
                Error::from(e).into()
            }
        }
    )*};
}

into_error!(
    Protocol(ProtocolError),
    Handshake(HandshakeError),
    Send(SendError),
    BufferTooSmall(BufferTooSmall),
    Random(RandomError),
    Encode(EncodeError),
);

#[cfg(feature = "deflate")]
into_error!(Deflate(crate::deflate::DeflateError));

#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        std::io::Error::new(e.io_kind(), e)
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use std::io::ErrorKind;
    use std::string::ToString;

    #[test]
    fn every_error_converts_with_its_code_or_status_and_io_kind() {
        let cases: [(Error, Option<u16>, Option<u16>, ErrorKind); 11] = [
            (
                ProtocolError::InvalidUtf8.into(),
                Some(1007),
                None,
                ErrorKind::InvalidData,
            ),
            (
                ProtocolError::MessageTooLong.into(),
                Some(1009),
                None,
                ErrorKind::InvalidData,
            ),
            (
                HandshakeError::HeadTooLarge.into(),
                None,
                Some(431),
                ErrorKind::InvalidData,
            ),
            (
                HandshakeError::UnexpectedStatus(403).into(),
                None,
                Some(400),
                ErrorKind::ConnectionRefused,
            ),
            (
                HandshakeError::InvalidHeader.into(),
                None,
                Some(400),
                ErrorKind::InvalidInput,
            ),
            (
                HandshakeError::Random(RandomError).into(),
                None,
                Some(500),
                ErrorKind::Other,
            ),
            (SendError::Closing.into(), None, None, ErrorKind::BrokenPipe),
            (
                SendError::Random(RandomError).into(),
                None,
                None,
                ErrorKind::Other,
            ),
            (
                BufferTooSmall { needed: 9 }.into(),
                None,
                None,
                ErrorKind::InvalidInput,
            ),
            (RandomError.into(), None, None, ErrorKind::Other),
            (
                EncodeError::LengthOverflow.into(),
                None,
                None,
                ErrorKind::InvalidInput,
            ),
        ];
        for (e, code, status, kind) in cases {
            assert_eq!(e.close_code().map(|c| c.0), code, "{e:?}");
            assert_eq!(e.http_status(), status, "{e:?}");
            let io = std::io::Error::from(e);
            assert_eq!(io.kind(), kind, "{e:?}");
            assert_eq!(io.to_string(), e.to_string());
            let inner = io.get_ref().and_then(|i| i.downcast_ref::<Error>());
            assert_eq!(inner, Some(&e));
            assert!(core::error::Error::source(&e).is_some());
        }
        // The specific errors convert into io::Error directly, the same way.
        let io: std::io::Error = ProtocolError::ReservedBits.into();
        assert_eq!(io.kind(), ErrorKind::InvalidData);
    }
}
