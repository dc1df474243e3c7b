//! Negotiation (RFC 7692 section 5 and 7.1): pure functions over parsed extension values, no
//! allocation. The server picks the first offer it can honour exactly; the client checks the
//! server's answer against the offer it sent.

use core::fmt;

use super::{Agreed, DeflateConfig, EXTENSION_NAME, MAX_WINDOW_BITS, MIN_CONFIG_WINDOW_BITS};
use crate::error::BufferTooSmall;
use crate::handshake::{Extension, ParamValue};

/// Why an offer was declined (server) or a response rejected (client).
///
/// A server declines the offer and tries the next one; a client fails the connection: it closes
/// the transport without a Close frame (RFC 6455 section 4.1), since the WebSocket connection
/// never opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NegotiationError {
    /// Both roles: the extension is not `permessage-deflate`.
    NotDeflate,
    /// Both roles: [`DeflateConfig::enabled`] is false.
    Disabled,
    /// Both roles: a parameter RFC 7692 does not define.
    UnknownParameter,
    /// Both roles: a parameter given twice.
    DuplicateParameter,
    /// Both roles: `server_no_context_takeover` or `client_no_context_takeover` with a value.
    UnexpectedValue,
    /// Both roles: `server_max_window_bits` without a value, or (client) `client_max_window_bits`
    /// without a value in a response.
    MissingValue,
    /// Both roles: a window-bits value that is not a decimal 8 to 15 without leading zeros.
    InvalidWindowBits,
    /// Server: the offer asks our compressor for `server_max_window_bits=8`, which we decline (see
    /// the module docs on window 8).
    ServerWindowTooSmall,
    /// Server: [`DeflateConfig::client_max_window_bits`] is below 15 but the offer has no
    /// `client_max_window_bits`, so the client's window cannot be limited.
    ClientWindowNotLimitable,
    /// Client: the response has `client_max_window_bits` but the offer did not.
    ClientWindowNotOffered,
    /// Client: the response's `server_max_window_bits` is larger than the one offered.
    ServerWindowTooLarge,
    /// Client: the response's `client_max_window_bits` is larger than the one offered.
    ClientWindowTooLarge,
    /// Client: the offer had `server_max_window_bits` and the response does not.
    MissingServerWindow,
    /// Client: the offer had `server_no_context_takeover` and the response does not.
    MissingServerNoContextTakeover,
    /// Client: the response names `permessage-deflate` more than once.
    DuplicateExtension,
    /// Client: the response names an extension that was not offered.
    ExtensionNotOffered,
}

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotDeflate => "not permessage-deflate",
            Self::Disabled => "permessage-deflate is disabled",
            Self::UnknownParameter => "unknown permessage-deflate parameter",
            Self::DuplicateParameter => "duplicate permessage-deflate parameter",
            Self::UnexpectedValue => "value on a no_context_takeover parameter",
            Self::MissingValue => "window-bits parameter without a value",
            Self::InvalidWindowBits => "window bits not a decimal 8 to 15",
            Self::ServerWindowTooSmall => "server_max_window_bits=8 is declined",
            Self::ClientWindowNotLimitable => "client window cannot be limited",
            Self::ClientWindowNotOffered => "client_max_window_bits in response but not offered",
            Self::ServerWindowTooLarge => "server_max_window_bits larger than offered",
            Self::ClientWindowTooLarge => "client_max_window_bits larger than offered",
            Self::MissingServerWindow => "server_max_window_bits offered but not answered",
            Self::MissingServerNoContextTakeover => {
                "server_no_context_takeover offered but not answered"
            }
            Self::DuplicateExtension => "permessage-deflate answered twice",
            Self::ExtensionNotOffered => "extension in response was not offered",
        })
    }
}

impl core::error::Error for NegotiationError {}

/// The `client_max_window_bits` parameter: absent, present without a value, or with one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientBits {
    Absent,
    NoValue,
    Value(u8),
}

/// The parameters of one `permessage-deflate` element, checked for syntax (RFC 7692 section 7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    client_max_window_bits: ClientBits,
}

impl Params {
    const NONE: Self = Self {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: None,
        client_max_window_bits: ClientBits::Absent,
    };

    /// Parses the parameters of `ext`, which must be `permessage-deflate`.
    fn parse(ext: &Extension<'_>) -> Result<Self, NegotiationError> {
        if !ext.name().eq_ignore_ascii_case(EXTENSION_NAME) {
            return Err(NegotiationError::NotDeflate);
        }
        let mut p = Self::NONE;
        for param in ext.params() {
            let name = param.name();
            let value = param.value();
            if name.eq_ignore_ascii_case("server_no_context_takeover") {
                set_flag(&mut p.server_no_context_takeover, value)?;
            } else if name.eq_ignore_ascii_case("client_no_context_takeover") {
                set_flag(&mut p.client_no_context_takeover, value)?;
            } else if name.eq_ignore_ascii_case("server_max_window_bits") {
                if p.server_max_window_bits.is_some() {
                    return Err(NegotiationError::DuplicateParameter);
                }
                let value = value.ok_or(NegotiationError::MissingValue)?;
                p.server_max_window_bits = Some(window_bits(value)?);
            } else if name.eq_ignore_ascii_case("client_max_window_bits") {
                if p.client_max_window_bits != ClientBits::Absent {
                    return Err(NegotiationError::DuplicateParameter);
                }
                p.client_max_window_bits = match value {
                    None => ClientBits::NoValue,
                    Some(v) => ClientBits::Value(window_bits(v)?),
                };
            } else {
                return Err(NegotiationError::UnknownParameter);
            }
        }
        Ok(p)
    }

    /// The text of this element: `permessage-deflate` and its parameters, `; `-separated.
    fn write(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let mut w = Counter::default();
        self.emit(&mut w);
        let needed = w.len;
        let dest = out.get_mut(..needed).ok_or(BufferTooSmall { needed })?;
        let mut w = SliceWriter { out: dest, pos: 0 };
        self.emit(&mut w);
        Ok(needed)
    }

    fn emit(&self, w: &mut impl Sink) {
        w.put(EXTENSION_NAME.as_bytes());
        if self.server_no_context_takeover {
            w.put(b"; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            w.put(b"; client_no_context_takeover");
        }
        if let Some(bits) = self.server_max_window_bits {
            w.put(b"; server_max_window_bits=");
            put_bits(w, bits);
        }
        match self.client_max_window_bits {
            ClientBits::Absent => {}
            ClientBits::NoValue => w.put(b"; client_max_window_bits"),
            ClientBits::Value(bits) => {
                w.put(b"; client_max_window_bits=");
                put_bits(w, bits);
            }
        }
    }
}

/// Sets a flag parameter, which must be valueless and given once.
fn set_flag(flag: &mut bool, value: Option<ParamValue<'_>>) -> Result<(), NegotiationError> {
    if value.is_some() {
        return Err(NegotiationError::UnexpectedValue);
    }
    if *flag {
        return Err(NegotiationError::DuplicateParameter);
    }
    *flag = true;
    Ok(())
}

/// A window-bits value: a decimal integer 8 to 15 without leading zeros (RFC 7692 7.1.2),
/// possibly quoted.
fn window_bits(value: ParamValue<'_>) -> Result<u8, NegotiationError> {
    let mut digits = value.unescaped();
    let bits = match (digits.next(), digits.next(), digits.next()) {
        (Some(d @ b'8'..=b'9'), None, None) => d - b'0',
        (Some(b'1'), Some(d @ b'0'..=b'5'), None) => 10 + (d - b'0'),
        _ => return Err(NegotiationError::InvalidWindowBits),
    };
    Ok(bits)
}

/// Where [`Params::emit`] writes: a length counter, then the caller's slice.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

#[derive(Default)]
struct Counter {
    len: usize,
}

impl Sink for Counter {
    fn put(&mut self, bytes: &[u8]) {
        self.len = self.len.saturating_add(bytes.len());
    }
}

/// Writes into a slice already checked to be exactly long enough.
struct SliceWriter<'o> {
    out: &'o mut [u8],
    pos: usize,
}

impl Sink for SliceWriter<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        if let Some(dest) = self.out.get_mut(self.pos..end) {
            dest.copy_from_slice(bytes);
        }
        self.pos = end;
    }
}

/// Writes 8 to 15 in decimal.
fn put_bits(w: &mut impl Sink, bits: u8) {
    if bits >= 10 {
        w.put(&[b'1', b'0' + (bits - 10)]);
    } else {
        w.put(&[b'0' + bits]);
    }
}

/// The response to an accepted offer: the agreed parameters and the exact text to answer with.
///
/// Made by [`DeflateConfig::accept_offers`] or [`DeflateConfig::accept_offer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    agreed: Agreed,
    response: Params,
}

impl Accepted {
    /// The parameters in force, from the server's point of view.
    #[must_use]
    pub const fn agreed(&self) -> Agreed {
        self.agreed
    }

    /// Writes the `Sec-WebSocket-Extensions` value of the response, for example
    /// `permessage-deflate; server_no_context_takeover; client_max_window_bits=10`, into `out`.
    ///
    /// # Errors
    /// [`BufferTooSmall`] with the length needed (at most [`MAX_VALUE_LEN`](super::MAX_VALUE_LEN));
    /// nothing is written then.
    pub fn write_response(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        self.response.write(out)
    }
}

impl DeflateConfig {
    /// Server: accepts the first `permessage-deflate` offer among `offers` (as
    /// [`Request::extensions`](crate::handshake::Request::extensions) yields them) that can be
    /// honoured exactly, declining the rest. `None` means no offer was acceptable: answer without
    /// a `Sec-WebSocket-Extensions` header for deflate, and use no compression.
    ///
    /// Offers of other extensions are skipped.
    ///
    /// ```
    /// # use sockless::deflate::DeflateConfig;
    /// # fn demo(req: &sockless::handshake::Request<'_, '_>) {
    /// let config = DeflateConfig::default();
    /// if let Some(accepted) = config.accept_offers(req.extensions()) {
    ///     let mut value = [0u8; sockless::deflate::MAX_VALUE_LEN];
    ///     let len = accepted.write_response(&mut value).unwrap_or(0);
    ///     // Send `Sec-WebSocket-Extensions: value[..len]`, build the layer from accepted.agreed().
    ///     # let _ = len;
    /// }
    /// # }
    /// ```
    pub fn accept_offers<'a, I>(&self, offers: I) -> Option<Accepted>
    where
        I: IntoIterator<Item = Extension<'a>>,
    {
        offers
            .into_iter()
            .find_map(|offer| self.accept_offer(&offer).ok())
    }

    /// Server: checks one offer.
    ///
    /// # Errors
    /// Why the offer is declined: a [`NegotiationError`] whose docs say "Both roles" or "Server".
    pub fn accept_offer(&self, offer: &Extension<'_>) -> Result<Accepted, NegotiationError> {
        if !self.enabled {
            return Err(NegotiationError::Disabled);
        }
        let offered = Params::parse(offer)?;
        let ours = self.server_bits();
        let compress_window_bits = match offered.server_max_window_bits {
            Some(bits) if bits < MIN_CONFIG_WINDOW_BITS => {
                return Err(NegotiationError::ServerWindowTooSmall)
            }
            Some(bits) => bits.min(ours),
            None => ours,
        };
        let limit = self.client_bits();
        let (inflate_window_bits, client_answer) = match offered.client_max_window_bits {
            ClientBits::Absent if limit < MAX_WINDOW_BITS => {
                return Err(NegotiationError::ClientWindowNotLimitable)
            }
            ClientBits::Absent => (MAX_WINDOW_BITS, ClientBits::Absent),
            ClientBits::NoValue if limit < MAX_WINDOW_BITS => (limit, ClientBits::Value(limit)),
            ClientBits::NoValue => (MAX_WINDOW_BITS, ClientBits::Absent),
            ClientBits::Value(bits) if limit < bits => (limit, ClientBits::Value(limit)),
            ClientBits::Value(bits) => (bits, ClientBits::Absent),
        };
        let compress_no_context_takeover =
            offered.server_no_context_takeover || self.server_no_context_takeover;
        let inflate_no_context_takeover =
            offered.client_no_context_takeover || self.client_no_context_takeover;
        let server_answer =
            if offered.server_max_window_bits.is_some() || compress_window_bits < MAX_WINDOW_BITS {
                Some(compress_window_bits)
            } else {
                None
            };
        Ok(Accepted {
            agreed: self.agreed(
                compress_window_bits,
                compress_no_context_takeover,
                inflate_window_bits,
                inflate_no_context_takeover,
            ),
            response: Params {
                server_no_context_takeover: compress_no_context_takeover,
                client_no_context_takeover: inflate_no_context_takeover,
                server_max_window_bits: server_answer,
                client_max_window_bits: client_answer,
            },
        })
    }

    /// The client's offer: what [`write_offer`](Self::write_offer) writes.
    fn offer(&self) -> Params {
        let server = self.server_bits();
        let client = self.client_bits();
        Params {
            server_no_context_takeover: self.server_no_context_takeover,
            client_no_context_takeover: self.client_no_context_takeover,
            server_max_window_bits: (server < MAX_WINDOW_BITS).then_some(server),
            client_max_window_bits: if client < MAX_WINDOW_BITS {
                ClientBits::Value(client)
            } else if self.advertise_client_max_window_bits {
                ClientBits::NoValue
            } else {
                ClientBits::Absent
            },
        }
    }

    /// Client: writes the `Sec-WebSocket-Extensions` value of the offer into `out`, for example
    /// `permessage-deflate; client_max_window_bits` with the defaults.
    ///
    /// ```
    /// let mut out = [0u8; sockless::deflate::MAX_VALUE_LEN];
    /// let len = sockless::deflate::DeflateConfig::default().write_offer(&mut out).unwrap();
    /// assert_eq!(&out[..len], b"permessage-deflate; client_max_window_bits");
    /// ```
    ///
    /// # Errors
    /// [`BufferTooSmall`] with the length needed (at most [`MAX_VALUE_LEN`](super::MAX_VALUE_LEN));
    /// nothing is written then.
    pub fn write_offer(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        self.offer().write(out)
    }

    /// Client: checks the server's answer to [`write_offer`](Self::write_offer)'s offer.
    ///
    /// # Errors
    /// Why the response is invalid: a [`NegotiationError`] whose docs say "Both roles" or
    /// "Client". The client must fail the connection.
    pub fn check_response(&self, response: &Extension<'_>) -> Result<Agreed, NegotiationError> {
        if !self.enabled {
            return Err(NegotiationError::Disabled);
        }
        let offered = self.offer();
        let answer = Params::parse(response)?;
        if offered.server_no_context_takeover && !answer.server_no_context_takeover {
            return Err(NegotiationError::MissingServerNoContextTakeover);
        }
        let inflate_window_bits = match (
            offered.server_max_window_bits,
            answer.server_max_window_bits,
        ) {
            (Some(_), None) => return Err(NegotiationError::MissingServerWindow),
            (Some(asked), Some(bits)) if bits > asked => {
                return Err(NegotiationError::ServerWindowTooLarge)
            }
            (_, Some(bits)) => bits,
            (None, None) => MAX_WINDOW_BITS,
        };
        let compress_window_bits = match (
            offered.client_max_window_bits,
            answer.client_max_window_bits,
        ) {
            (_, ClientBits::NoValue) => return Err(NegotiationError::MissingValue),
            (ClientBits::Absent, ClientBits::Value(_)) => {
                return Err(NegotiationError::ClientWindowNotOffered)
            }
            (ClientBits::Value(asked), ClientBits::Value(bits)) if bits > asked => {
                return Err(NegotiationError::ClientWindowTooLarge)
            }
            (_, ClientBits::Value(bits)) => bits,
            (ClientBits::Value(asked), ClientBits::Absent) => asked,
            (_, ClientBits::Absent) => MAX_WINDOW_BITS,
        };
        Ok(self.agreed(
            compress_window_bits,
            offered.client_no_context_takeover || answer.client_no_context_takeover,
            inflate_window_bits,
            answer.server_no_context_takeover,
        ))
    }

    /// Client: checks every extension in the response (as parsed from its
    /// `Sec-WebSocket-Extensions` headers, in order): `Ok(None)` when there is none (no
    /// compression), `Ok(Some(agreed))` for exactly one valid `permessage-deflate`.
    ///
    /// # Errors
    /// [`NegotiationError::ExtensionNotOffered`] for an extension other than
    /// `permessage-deflate` (this layer is the only one a client offers), or for any extension when
    /// deflate is disabled; [`NegotiationError::DuplicateExtension`] when it appears twice; and
    /// whatever [`check_response`](Self::check_response) finds.
    pub fn check_responses<'a, I>(&self, responses: I) -> Result<Option<Agreed>, NegotiationError>
    where
        I: IntoIterator<Item = Extension<'a>>,
    {
        let mut agreed = None;
        for ext in responses {
            if !self.enabled || !ext.name().eq_ignore_ascii_case(EXTENSION_NAME) {
                return Err(NegotiationError::ExtensionNotOffered);
            }
            if agreed.is_some() {
                return Err(NegotiationError::DuplicateExtension);
            }
            agreed = Some(self.check_response(&ext)?);
        }
        Ok(agreed)
    }

    fn agreed(
        &self,
        compress_window_bits: u8,
        compress_no_context_takeover: bool,
        inflate_window_bits: u8,
        inflate_no_context_takeover: bool,
    ) -> Agreed {
        Agreed {
            compress_window_bits,
            compress_no_context_takeover,
            inflate_window_bits,
            inflate_no_context_takeover,
            level: self.level.min(super::MAX_LEVEL),
            min_compress_len: self.min_compress_len,
        }
    }
}
