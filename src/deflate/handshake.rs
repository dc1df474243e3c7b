//! Negotiation in one call per role: from a parsed request to the `Accept`, from a response to
//! the RSV bits, with the agreed parameters kept for [`Deflate`](super::Deflate).

use core::cell::Cell;

use super::{Accepted, Agreed, DeflateConfig, NegotiationError, MAX_VALUE_LEN};
use crate::error::HandshakeError;
use crate::frame::Rsv;
use crate::handshake::{Accept, Extension, Request, Response};

/// A `Sec-WebSocket-Extensions` value held in a fixed buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Value {
    bytes: [u8; MAX_VALUE_LEN],
    len: usize,
}

impl Value {
    const EMPTY: Self = Self {
        bytes: [0; MAX_VALUE_LEN],
        len: 0,
    };

    /// The value `write` writes, or `None` if it does not fit (it always does: the writers are
    /// bounded by [`MAX_VALUE_LEN`]).
    fn new(write: impl FnOnce(&mut [u8]) -> Result<usize, crate::BufferTooSmall>) -> Option<Self> {
        let mut value = Self::EMPTY;
        value.len = write(&mut value.bytes).ok()?;
        Some(value)
    }

    fn as_str(&self) -> &str {
        // The writers emit ASCII only; an empty value otherwise, which nothing sends.
        self.bytes
            .get(..self.len)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or_default()
    }
}

/// Server: the answer to a request's permessage-deflate offers, in one call.
///
/// [`new`](Self::new) takes the first offer the [`DeflateConfig`] can honour exactly
/// ([`DeflateConfig::accept_offers`]) and writes the response value into a fixed buffer;
/// [`accept`](Self::accept) adds it to an [`Accept`] with [`Rsv::RSV1`], so the connection
/// [`Request::accept`] makes owns RSV1; [`agreed`](Self::agreed) gives the parameters for
/// [`Deflate::new`](super::Deflate::new). When no offer is acceptable (or none was made, or
/// deflate is disabled), `accept` leaves the `Accept` as it is and `agreed` is `None`.
///
/// ```
/// use sockless::deflate::{Deflate, DeflateConfig, ServerNegotiation};
/// use sockless::handshake::{Accept, ServerHandshake, EMPTY_HEADER};
/// use sockless::{Config, Rsv, Status};
///
/// let request = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
///     Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";
/// let config = Config::default();
/// let mut handshake = ServerHandshake::new(config);
/// let mut headers = [EMPTY_HEADER; 16];
/// let Status::Complete(req) = handshake.parse(request, &mut headers)? else { unreachable!() };
/// let deflate = ServerNegotiation::new(&DeflateConfig::default(), &req);
/// assert_eq!(deflate.response(), Some("permessage-deflate"));
/// let mut out = [0u8; 256];
/// let (n, connection) = req.accept(&deflate.accept(Accept::new()), &mut out)?;
/// assert!(out[..n].windows(44).any(|w| w == b"Sec-WebSocket-Extensions: permessage-deflate"));
/// assert_eq!(connection.extension_bits(), Rsv::RSV1);
/// let layer = deflate.agreed().map(|agreed| Deflate::new(&agreed, config.max_message_len));
/// assert!(layer.is_some());
/// # Ok::<(), sockless::HandshakeError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerNegotiation {
    accepted: Option<(Accepted, Value)>,
}

impl ServerNegotiation {
    /// Reads the offers of `request` and chooses, with `config`.
    #[must_use]
    pub fn new(config: &DeflateConfig, request: &Request<'_, '_>) -> Self {
        Self::from_offers(config, request.extensions())
    }

    /// Chooses among parsed offers from any handshake, for example
    /// [`ConnectRequest::extensions`](crate::handshake::upgraded::ConnectRequest::extensions) of an
    /// HTTP/2 or HTTP/3 extended CONNECT; then [`accept`](Self::accept) the same way.
    #[must_use]
    pub fn from_offers<'a>(
        config: &DeflateConfig,
        offers: impl IntoIterator<Item = Extension<'a>>,
    ) -> Self {
        let accepted = config
            .accept_offers(offers)
            .and_then(|a| Some((a, Value::new(|out| a.write_response(out))?)));
        Self { accepted }
    }

    /// The parameters agreed, from the server's side; `None` if the server declines.
    #[must_use]
    pub fn agreed(&self) -> Option<Agreed> {
        self.accepted.as_ref().map(|(a, _)| a.agreed())
    }

    /// The `Sec-WebSocket-Extensions` value of the response, for example
    /// `permessage-deflate; client_max_window_bits=10`; `None` if the server declines.
    #[must_use]
    pub fn response(&self) -> Option<&str> {
        self.accepted.as_ref().map(|(_, v)| v.as_str())
    }

    /// `accept` with the extension agreed ([`Accept::extension`] with the response value and
    /// [`Rsv::RSV1`]), or `accept` unchanged if the server declines. An extension `accept`
    /// already named is replaced: `Accept` answers with one value.
    #[must_use]
    pub fn accept<'a>(&'a self, accept: Accept<'a>) -> Accept<'a> {
        match self.response() {
            Some(value) => accept.extension(value, Rsv::RSV1),
            None => accept,
        }
    }
}

/// Client: the offer for the request, and the check of the server's answer.
///
/// Put [`offer`](Self::offer) into [`ClientRequest::extensions`](crate::handshake::ClientRequest::extensions),
/// and pass [`check`](Self::check) to
/// [`ClientHandshake::finish_with_extensions`](crate::handshake::ClientHandshake::finish_with_extensions):
/// it returns [`Rsv::RSV1`] when the server agreed, [`Rsv::NONE`] when it declined (answered
/// without the extension), and fails the handshake when the answer is not one the offer allows
/// ([`DeflateConfig::check_responses`]). Then [`agreed`](Self::agreed) gives the parameters for
/// [`Deflate::new`](super::Deflate::new).
///
/// ```
/// use sockless::deflate::{ClientNegotiation, DeflateConfig};
/// use sockless::handshake::{ClientHandshake, ClientRequest, EMPTY_HEADER};
/// use sockless::{Config, HandshakeError, RandomError, Rsv, Status};
///
/// let rng = |dest: &mut [u8]| -> Result<(), RandomError> { dest.fill(7); Ok(()) }; // tests only!
/// let deflate = ClientNegotiation::new(&DeflateConfig::default());
/// let offers: Vec<&str> = deflate.offer().into_iter().collect();
/// let req = ClientRequest::new("localhost", "/").extensions(&offers);
/// let mut out = [0u8; 512];
/// let (mut handshake, _) = ClientHandshake::new(req, Config::default(), rng, &mut out)?;
/// let response = format!(
///     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///      Sec-WebSocket-Accept: {}\r\n\
///      Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=12\r\n\r\n",
///     handshake.expected_accept().as_str()
/// );
/// let mut headers = [EMPTY_HEADER; 16];
/// let Status::Complete(resp) = handshake.parse(response.as_bytes(), &mut headers)? else { unreachable!() };
/// let connection = handshake.finish_with_extensions(&resp, |r| deflate.check(r))?;
/// assert_eq!(connection.extension_bits(), Rsv::RSV1);
/// assert_eq!(deflate.agreed().map(|a| a.compress_window_bits), Some(12));
/// # Ok::<(), HandshakeError>(())
/// ```
///
/// `check` takes `&self` (the outcome is kept in a `Cell`), because the request, which borrows
/// the offer, lives in the handshake until `finish_with_extensions`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientNegotiation {
    config: DeflateConfig,
    offer: Option<Value>,
    agreed: Cell<Option<Agreed>>,
    refused: Cell<Option<NegotiationError>>,
}

impl ClientNegotiation {
    /// The offer `config` makes (none when it is disabled).
    #[must_use]
    pub fn new(config: &DeflateConfig) -> Self {
        let offer = if config.enabled {
            Value::new(|out| config.write_offer(out))
        } else {
            None
        };
        Self {
            config: *config,
            offer,
            agreed: Cell::new(None),
            refused: Cell::new(None),
        }
    }

    /// The `Sec-WebSocket-Extensions` offer, for example
    /// `permessage-deflate; client_max_window_bits`; `None` when deflate is disabled.
    #[must_use]
    pub fn offer(&self) -> Option<&str> {
        self.offer.as_ref().map(Value::as_str)
    }

    /// Checks the extensions `response` agrees to: the check for
    /// [`ClientHandshake::finish_with_extensions`](crate::handshake::ClientHandshake::finish_with_extensions).
    /// Returns the RSV bits the agreed extension owns: [`Rsv::RSV1`] for permessage-deflate,
    /// [`Rsv::NONE`] if the server answered without it.
    ///
    /// # Errors
    /// [`HandshakeError::ExtensionNotOffered`] if the response names an extension other than
    /// permessage-deflate (or any, when nothing was offered), and
    /// [`HandshakeError::ExtensionRefused`] for a permessage-deflate answer the offer does not
    /// allow; [`refused`](Self::refused) then says why.
    pub fn check(&self, response: &Response<'_, '_>) -> Result<Rsv, HandshakeError> {
        self.check_answers(response.extensions())
    }

    /// [`check`](Self::check) for the parsed answer of any handshake, for example
    /// [`ConnectResponse::extensions`](crate::handshake::upgraded::ConnectResponse::extensions)
    /// in the check passed to
    /// [`ConnectClient::finish_with_extensions`](crate::handshake::upgraded::ConnectClient::finish_with_extensions).
    ///
    /// # Errors
    /// As [`check`](Self::check).
    pub fn check_answers<'a>(
        &self,
        answers: impl IntoIterator<Item = Extension<'a>>,
    ) -> Result<Rsv, HandshakeError> {
        let checked = self.config.check_responses(answers);
        self.agreed.set(checked.ok().flatten());
        self.refused.set(checked.err());
        match checked {
            Ok(agreed) => Ok(if agreed.is_some() {
                Rsv::RSV1
            } else {
                Rsv::NONE
            }),
            Err(e) => Err(match e {
                NegotiationError::ExtensionNotOffered => HandshakeError::ExtensionNotOffered,
                _ => HandshakeError::ExtensionRefused,
            }),
        }
    }

    /// The parameters agreed, from the client's side, once [`check`](Self::check) succeeded;
    /// `None` before, or when the server declined.
    #[must_use]
    pub fn agreed(&self) -> Option<Agreed> {
        self.agreed.get()
    }

    /// Why [`check`](Self::check) refused the server's answer, if it did.
    #[must_use]
    pub fn refused(&self) -> Option<NegotiationError> {
        self.refused.get()
    }
}
