//! Handshakes that another HTTP stack carries: WebSockets over HTTP/2 and HTTP/3 (RFC 8441,
//! RFC 9220), and an HTTP/1.1 upgrade that a server you already have (hyper, say) has parsed.
//!
//! Both paths take the request as header fields another stack decoded, as [`Header`] pairs
//! (`name: &str`, `value: &[u8]`, the type the HTTP/1.1 path parses into), check every rule the
//! protocol sets, and give back the response to send as a [`ResponseHead`]: a status and header
//! pairs, which the stack turns into its own response type. No bytes are written: the stack
//! frames the response. Nothing is allocated: the pairs borrow from the request, the
//! [`Accept`] and static strings, and the one value computed (`sec-websocket-accept`) lives in
//! the `ResponseHead`. The connection that results is the same [`Connection`] as after
//! [`ServerHandshake`](super::ServerHandshake), with the same extension bits; run it over the
//! stream the stack hands over (an HTTP/2 or HTTP/3 stream's data, or the upgraded HTTP/1.1
//! connection). Frames are exactly RFC 6455's on every path, masking included.
//!
//! # Extended CONNECT (RFC 8441 over HTTP/2, RFC 9220 over HTTP/3)
//!
//! The server enables `SETTINGS_ENABLE_CONNECT_PROTOCOL` in its HTTP stack, and passes each
//! request's fields, pseudo-header fields first, to [`ConnectRequest::validate`]. Success is
//! `:status 200` with the chosen subprotocol and extensions; there is no key and no accept.
//!
//! ```
//! use sockless::handshake::upgraded::ConnectRequest;
//! use sockless::handshake::{Accept, Header};
//! use sockless::{Config, State};
//!
//! // RFC 8441 section 5.1, as an HTTP/2 (or HTTP/3) stack decodes it.
//! let fields = [
//!     Header { name: ":method", value: b"CONNECT" },
//!     Header { name: ":protocol", value: b"websocket" },
//!     Header { name: ":scheme", value: b"https" },
//!     Header { name: ":path", value: b"/chat" },
//!     Header { name: ":authority", value: b"server.example.com" },
//!     Header { name: "sec-websocket-protocol", value: b"chat, superchat" },
//!     Header { name: "sec-websocket-extensions", value: b"permessage-deflate" },
//!     Header { name: "sec-websocket-version", value: b"13" },
//!     Header { name: "origin", value: b"http://www.example.com" },
//! ];
//! let request = match ConnectRequest::validate(&fields, Config::default()) {
//!     Ok(request) => request,
//!     // Answer e.status() with e.response_head().headers(), then end the stream.
//!     Err(e) => panic!("refused: {e} ({})", e.status()),
//! };
//! assert_eq!(request.path(), "/chat");
//! let (head, connection) = request.accept(&Accept::new().protocol("chat"))?;
//! assert_eq!(head.status(), 200);
//! let sent: Vec<_> = head.headers().map(|h| (h.name, h.value)).collect();
//! assert_eq!(sent, [("sec-websocket-protocol", &b"chat"[..])]);
//! assert_eq!(connection.state(), State::Open); // frames go over the stream's DATA
//! # Ok::<(), sockless::HandshakeError>(())
//! ```
//!
//! A client builds the request's fields with [`ConnectClient`] and checks the response with
//! [`ConnectClient::finish`]. It needs the server's `SETTINGS_ENABLE_CONNECT_PROTOCOL = 1` first
//! (the HTTP stack reports it).
//!
//! # Behind an HTTP/1.1 server you already have
//!
//! The server parses the request itself; [`Request::from_parsed`] runs the same validation
//! [`ServerHandshake::parse`](super::ServerHandshake::parse) runs (one implementation), and
//! [`Request::accept_head`] gives the `101`'s fields, `sec-websocket-accept` included. Send the
//! `101`, take the connection back from the server (hyper: `hyper::upgrade::on(request)`), and
//! run the [`Connection`] over it.
//!
//! ```
//! use sockless::handshake::upgraded::ResponseHead;
//! use sockless::handshake::{Accept, Header, Request};
//! use sockless::Config;
//!
//! // As hyper's `http::Request` holds it: method, version, target and fields.
//! let fields = [
//!     Header { name: "host", value: b"server.example.com" },
//!     Header { name: "upgrade", value: b"websocket" },
//!     Header { name: "connection", value: b"Upgrade" },
//!     Header { name: "sec-websocket-key", value: b"dGhlIHNhbXBsZSBub25jZQ==" },
//!     Header { name: "sec-websocket-version", value: b"13" },
//! ];
//! let request = match Request::from_parsed("GET", 1, "/chat", &fields, Config::default()) {
//!     Ok(request) => request,
//!     Err(e) => {
//!         let refusal = ResponseHead::error(e); // its status, and what that status needs
//!         panic!("refused with {}", refusal.status());
//!     }
//! };
//! let (head, _connection) = request.accept_head(&Accept::new())?;
//! assert_eq!(head.status(), 101);
//! let accept = head.headers().find(|h| h.name == "sec-websocket-accept").map(|h| h.value);
//! assert_eq!(accept, Some(&b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="[..]));
//! # Ok::<(), sockless::HandshakeError>(())
//! ```

use core::fmt;

use super::client::{check_agreed, ClientRequest};
use super::server::{check_accept, offered_extensions, offered_protocols, Repeated};
use super::{list, trim, uri, values, Accept, AcceptKey, Extension, Header, Request};
use crate::config::Config;
use crate::connection::Connection;
use crate::error::HandshakeError;
use crate::frame::Rsv;
use crate::rand::RandomSource;

/// The scheme of an extended CONNECT request's target: `https` for a `wss` URI, `http` for a
/// `ws` URI (RFC 8441 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `http`, for `ws://` (over cleartext HTTP/2).
    Http,
    /// `https`, for `wss://`.
    Https,
}

impl Scheme {
    /// The scheme as it goes in `:scheme`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    /// `http` or `https`, in any case (RFC 3986 3.1: schemes are case-insensitive).
    fn parse(value: &[u8]) -> Option<Self> {
        if value.eq_ignore_ascii_case(b"https") {
            Some(Self::Https)
        } else if value.eq_ignore_ascii_case(b"http") {
            Some(Self::Http)
        } else {
            None
        }
    }
}

/// Why an extended CONNECT request is not a valid WebSocket request (RFC 8441 4 and 5, RFC 9113
/// 8). Each cause knows the status to answer with ([`status`](Self::status)) and the fields that
/// status needs ([`response_head`](Self::response_head)).
///
/// In HTTP/2 a malformed request (the variants with "RFC 9113" below) may instead be reset with
/// `PROTOCOL_ERROR`; most HTTP/2 stacks refuse those before an application sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectError {
    /// More fields than [`HandshakeLimits::max_headers`](crate::HandshakeLimits::max_headers).
    /// Status 431.
    TooManyHeaders,
    /// A pseudo-header field after a regular field, repeated, unknown (`:status` included), or
    /// `:method` missing (RFC 9113 8.3). Status 400.
    PseudoHeader,
    /// A field name that is not a lowercase token, or a value with a control byte (CR, LF, NUL
    /// and the like) (RFC 9113 8.2.1). Status 400.
    MalformedField,
    /// A connection-specific field (`connection`, `upgrade`, `keep-alive`, `proxy-connection`,
    /// `transfer-encoding`, or `te` other than `trailers`), which HTTP/2 and HTTP/3 forbid
    /// (RFC 9113 8.2.2, RFC 9114 4.2; RFC 8441 5 names `connection` and `upgrade`). Status 400.
    ConnectionSpecificHeader,
    /// `:method` is not `CONNECT` (methods are case-sensitive). Status 405, with
    /// `allow: CONNECT`.
    MethodNotConnect,
    /// A `CONNECT` without `:protocol`: a request for a TCP tunnel, not a WebSocket. Status 400.
    MissingProtocol,
    /// `:protocol` names a protocol other than `websocket` (compared ASCII case-insensitively,
    /// as upgrade tokens are, RFC 9110 7.8). Status 501.
    UnsupportedProtocol,
    /// `:scheme` is missing or neither `https` nor `http` (RFC 8441 4 and 5). Status 400.
    InvalidScheme,
    /// `:path` is missing, empty, does not start with `/`, holds a `#fragment`, or is not UTF-8.
    /// Status 400.
    InvalidPath,
    /// `:authority` is missing. Status 400.
    MissingAuthority,
    /// `:authority` is not `uri-host [ ":" port ]` (the check the HTTP/1.1 `Host` gets), or a
    /// `host` field names another (RFC 9113 8.3.1). Status 400.
    InvalidAuthority,
    /// `sec-websocket-version` is missing or repeated. Status 400.
    MissingVersion,
    /// `sec-websocket-version` is not 13. Status 400 with `sec-websocket-version: 13` (RFC 6455
    /// 4.2.2 asks for an error status naming the versions supported; 426 would need an `Upgrade`
    /// field, which HTTP/2 forbids).
    UnsupportedVersion,
    /// A `sec-websocket-protocol` or `sec-websocket-extensions` value does not follow its
    /// grammar. Status 400.
    InvalidHeaderList,
}

impl ConnectError {
    /// The status to answer with.
    pub const fn status(self) -> u16 {
        match self {
            Self::TooManyHeaders => 431,
            Self::MethodNotConnect => 405,
            Self::UnsupportedProtocol => 501,
            _ => 400,
        }
    }

    /// The response: [`status`](Self::status) and the fields it needs (`allow: CONNECT` for
    /// 405, `sec-websocket-version: 13` for a version other than 13). End the stream after it.
    pub const fn response_head(self) -> ResponseHead<'static> {
        let fixed: &'static [Header<'static>] = match self {
            Self::MethodNotConnect => &[Header {
                name: "allow",
                value: b"CONNECT",
            }],
            Self::UnsupportedVersion => &[VERSION_13],
            _ => &[],
        };
        ResponseHead::fixed(self.status(), fixed)
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooManyHeaders => "too many header fields",
            Self::PseudoHeader => "misplaced, repeated, unknown or missing pseudo-header field",
            Self::MalformedField => "field name not a lowercase token, or control byte in a value",
            Self::ConnectionSpecificHeader => "connection-specific header field",
            Self::MethodNotConnect => "method is not CONNECT",
            Self::MissingProtocol => "CONNECT without :protocol",
            Self::UnsupportedProtocol => ":protocol is not websocket",
            Self::InvalidScheme => ":scheme is missing or not http or https",
            Self::InvalidPath => ":path is missing or not an absolute path",
            Self::MissingAuthority => ":authority is missing",
            Self::InvalidAuthority => ":authority is not a valid host and port",
            Self::MissingVersion => "missing or repeated sec-websocket-version",
            Self::UnsupportedVersion => "sec-websocket-version is not 13",
            Self::InvalidHeaderList => "malformed subprotocol or extension list",
        })
    }
}

impl core::error::Error for ConnectError {}

/// Under `std`, as [`io::ErrorKind::InvalidData`](std::io::ErrorKind::InvalidData): the peer's
/// request is at fault.
#[cfg(feature = "std")]
impl From<ConnectError> for std::io::Error {
    fn from(e: ConnectError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }
}

const VERSION_13: Header<'static> = Header {
    name: "sec-websocket-version",
    value: b"13",
};

/// The fields of a `101` before the accept value.
const SWITCHING: &[Header<'static>] = &[
    Header {
        name: "upgrade",
        value: b"websocket",
    },
    Header {
        name: "connection",
        value: b"upgrade",
    },
];

/// A response for another HTTP stack to send: a status and header fields as pairs, names in
/// lowercase (as HTTP/2 and HTTP/3 require; HTTP/1.1 takes any case). The stack adds what its
/// framing needs (`:status` itself, `date`, lengths).
///
/// ```
/// use sockless::handshake::upgraded::ResponseHead;
/// use sockless::HandshakeError;
///
/// let head = ResponseHead::error(HandshakeError::UnsupportedVersion);
/// assert_eq!(head.status(), 426);
/// let names: Vec<_> = head.headers().map(|h| h.name).collect();
/// assert_eq!(names, ["upgrade", "connection", "sec-websocket-version"]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseHead<'a> {
    status: u16,
    fixed: &'static [Header<'static>],
    accept_key: Option<AcceptKey>,
    protocol: Option<&'a str>,
    extension: Option<&'a str>,
    extra: &'a [(&'a str, &'a [u8])],
}

impl<'a> ResponseHead<'a> {
    const fn fixed(status: u16, fixed: &'static [Header<'static>]) -> Self {
        Self {
            status,
            fixed,
            accept_key: None,
            protocol: None,
            extension: None,
            extra: &[],
        }
    }

    /// What an [`Accept`] puts in a successful response, after `fixed` and the accept value.
    fn accepted(
        status: u16,
        fixed: &'static [Header<'static>],
        accept_key: Option<AcceptKey>,
        accept: &Accept<'a>,
    ) -> Self {
        Self {
            status,
            fixed,
            accept_key,
            protocol: accept.protocol,
            extension: accept.extension.map(|(value, _)| value),
            extra: accept.headers,
        }
    }

    /// The response to an HTTP/1.1 request refused by [`Request::from_parsed`]: the error's
    /// [`status`](HandshakeError::status), with `upgrade: websocket`, `connection: upgrade` and
    /// `sec-websocket-version: 13` for 426 (RFC 6455 4.2.2, RFC 9110 7.8) and `allow: GET` for
    /// 405. The HTTP stack adds `content-length` and decides whether to keep the connection.
    pub const fn error(error: HandshakeError) -> ResponseHead<'static> {
        let fixed: &'static [Header<'static>] = match error.status() {
            426 => &[
                Header {
                    name: "upgrade",
                    value: b"websocket",
                },
                Header {
                    name: "connection",
                    value: b"upgrade",
                },
                VERSION_13,
            ],
            405 => &[Header {
                name: "allow",
                value: b"GET",
            }],
            _ => &[],
        };
        ResponseHead::fixed(error.status(), fixed)
    }

    /// The status code: 200 for an accepted extended CONNECT, 101 for an accepted HTTP/1.1
    /// upgrade, the error's status for a refusal.
    pub const fn status(&self) -> u16 {
        self.status
    }

    /// The header fields, in order: those the status needs (`upgrade`, `connection` and
    /// `sec-websocket-accept` in a `101`), `sec-websocket-protocol` and
    /// `sec-websocket-extensions` if agreed, then the [`Accept::headers`].
    pub fn headers(&self) -> impl Iterator<Item = Header<'_>> + '_ {
        let field = |name, value: &'a str| Header {
            name,
            value: value.as_bytes(),
        };
        self.fixed
            .iter()
            .map(|h| Header {
                name: h.name,
                value: h.value,
            })
            .chain(self.accept_key.as_ref().map(|key| Header {
                name: "sec-websocket-accept",
                value: key.as_bytes(),
            }))
            .chain(self.protocol.map(|p| field("sec-websocket-protocol", p)))
            .chain(self.extension.map(|e| field("sec-websocket-extensions", e)))
            .chain(
                self.extra
                    .iter()
                    .map(|&(name, value)| Header { name, value }),
            )
    }
}

/// Whether `name` may name a field in an HTTP/2 or HTTP/3 message: a token without uppercase
/// letters (RFC 9113 8.2.1) that is not connection-specific (RFC 9113 8.2.2; `te` is judged by
/// its value, see [`is_connection_specific`]).
fn is_h2_field_name(name: &str) -> bool {
    list::is_token(name.as_bytes()) && !name.bytes().any(|b| b.is_ascii_uppercase())
}

/// Whether a field (with a lowercase name) is connection-specific, which HTTP/2 and HTTP/3
/// forbid: `te` is allowed with the value `trailers` only.
fn is_connection_specific(name: &str, value: &[u8]) -> bool {
    match name {
        "connection" | "proxy-connection" | "keep-alive" | "transfer-encoding" | "upgrade" => true,
        "te" => trim(value) != b"trailers",
        _ => false,
    }
}

/// A valid extended CONNECT request for a WebSocket (RFC 8441 over HTTP/2, RFC 9220 over
/// HTTP/3). Decide, then [`accept`](Self::accept) it, or answer another status and end the
/// stream.
#[derive(Clone, Copy, Debug)]
pub struct ConnectRequest<'h, 'b> {
    scheme: Scheme,
    authority: &'b str,
    path: &'b str,
    headers: &'h [Header<'b>],
    config: Config,
}

impl<'h, 'b> ConnectRequest<'h, 'b> {
    /// Validates a request given as the fields an HTTP/2 or HTTP/3 stack decoded, pseudo-header
    /// fields first, names in lowercase (as those protocols send them). With the `h2` or `http`
    /// crates, make the pairs from the request's parts: `:method` from its method, `:protocol`
    /// from the `h2::ext::Protocol` extension, `:scheme`, `:authority` and `:path` from its URI,
    /// then its header map.
    ///
    /// The rules: `:method` `CONNECT`, `:protocol` `websocket`, `:scheme` `https` or `http`,
    /// `:path` an absolute path, `:authority` a valid host (and a `host` field, if any, the
    /// same), `sec-websocket-version: 13`, and the `sec-websocket-protocol` and
    /// `sec-websocket-extensions` lists well formed (each may be repeated: the values join, as
    /// RFC 6455 11.3 allows). No connection-specific field, no misplaced pseudo-header field, no
    /// uppercase name. A `sec-websocket-key` is ignored: RFC 8441 5 replaces its processing by
    /// `:protocol`, and no accept value is sent back. `config` bounds the number of fields and
    /// configures the connection.
    ///
    /// # Errors
    /// The [`ConnectError`] for the first rule broken, in the order above after the
    /// field-count, pseudo-header, field-syntax and connection-specific checks (which make the
    /// request malformed whatever it asks for).
    pub fn validate(headers: &'h [Header<'b>], config: Config) -> Result<Self, ConnectError> {
        if headers.len() > config.handshake.max_headers {
            return Err(ConnectError::TooManyHeaders);
        }
        let mut method = Repeated::default();
        let mut protocol = Repeated::default();
        let mut scheme = Repeated::default();
        let mut path = Repeated::default();
        let mut authority = Repeated::default();
        let mut host = Repeated::default();
        let mut version = Repeated::default();
        let (mut regular, mut pseudo_ok, mut fields_ok) = (false, true, true);
        let (mut connection_specific, mut lists_ok) = (false, true);
        for h in headers {
            fields_ok &= super::is_field_value(h.value);
            if let Some(pseudo) = h.name.strip_prefix(':') {
                let slot = match pseudo {
                    "method" => &mut method,
                    "protocol" => &mut protocol,
                    "scheme" => &mut scheme,
                    "path" => &mut path,
                    "authority" => &mut authority,
                    _ => {
                        pseudo_ok = false;
                        continue;
                    }
                };
                slot.see(h.value);
                pseudo_ok &= !regular && !slot.repeated;
                continue;
            }
            regular = true;
            fields_ok &= is_h2_field_name(h.name);
            connection_specific |= is_connection_specific(h.name, h.value);
            match h.name {
                "host" => host.see(h.value),
                "sec-websocket-version" => version.see(h.value),
                "sec-websocket-protocol" => {
                    lists_ok &= list::tokens(h.value).all(list::is_token);
                }
                "sec-websocket-extensions" => {
                    lists_ok &= list::extensions(h.value).all(|e| e.is_ok());
                }
                _ => {}
            }
        }
        if !pseudo_ok || method.only().is_none() {
            return Err(ConnectError::PseudoHeader);
        }
        if !fields_ok {
            return Err(ConnectError::MalformedField);
        }
        if connection_specific {
            return Err(ConnectError::ConnectionSpecificHeader);
        }
        if method.only() != Some(b"CONNECT") {
            return Err(ConnectError::MethodNotConnect);
        }
        match protocol.only() {
            None => return Err(ConnectError::MissingProtocol),
            Some(p) if p.eq_ignore_ascii_case(b"websocket") => {}
            Some(_) => return Err(ConnectError::UnsupportedProtocol),
        }
        let scheme = scheme
            .only()
            .and_then(Scheme::parse)
            .ok_or(ConnectError::InvalidScheme)?;
        let path = match path.only().map(core::str::from_utf8) {
            Some(Ok(p)) if p.starts_with('/') && !p.contains('#') => p,
            _ => return Err(ConnectError::InvalidPath),
        };
        let authority = authority.only().ok_or(ConnectError::MissingAuthority)?;
        let same_host = match (host.only(), host.repeated) {
            (_, true) => false,
            (Some(h), _) => h.eq_ignore_ascii_case(authority),
            (None, _) => true,
        };
        let authority = match core::str::from_utf8(authority) {
            Ok(a) if uri::is_valid_host(a.as_bytes()) && same_host => a,
            _ => return Err(ConnectError::InvalidAuthority),
        };
        match version.only() {
            Some(v) if trim(v) == b"13" => {}
            Some(_) => return Err(ConnectError::UnsupportedVersion),
            None => return Err(ConnectError::MissingVersion),
        }
        if !lists_ok {
            return Err(ConnectError::InvalidHeaderList);
        }
        Ok(Self {
            scheme,
            authority,
            path,
            headers,
            config,
        })
    }

    /// `:scheme`: [`Scheme::Https`] for a `wss` URI.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// `:authority`, checked to be `uri-host [ ":" port ]` (it stands for HTTP/1.1's `Host`).
    pub fn authority(&self) -> &'b str {
        self.authority
    }

    /// `:path`: the path and query of the WebSocket URI.
    pub fn path(&self) -> &'b str {
        self.path
    }

    /// The `origin` field, if present and UTF-8. Browsers always send it: a server that serves
    /// browsers should check it against the origins it trusts (RFC 6455 10.2).
    pub fn origin(&self) -> Option<&'b str> {
        self.header("origin")
            .and_then(|v| core::str::from_utf8(v).ok())
    }

    /// The subprotocols offered, in the client's order of preference, across all
    /// `sec-websocket-protocol` fields.
    pub fn protocols(&self) -> impl Iterator<Item = &'b str> + '_ {
        offered_protocols(self.headers)
    }

    /// The extensions offered, with their parameters, across all `sec-websocket-extensions`
    /// fields (already checked against the grammar): what a layer such as permessage-deflate
    /// reads, as from [`Request::extensions`].
    pub fn extensions(&self) -> impl Iterator<Item = Extension<'b>> + '_ {
        offered_extensions(self.headers)
    }

    /// The value of the first field named `name` (ASCII case-insensitive; pseudo-header fields
    /// too, by their names with the colon).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        values(self.headers, name).next()
    }

    /// All fields, as given.
    pub fn headers(&self) -> &'h [Header<'b>] {
        self.headers
    }

    /// Accepts: returns the `200` response ([`ResponseHead`], with `sec-websocket-protocol` and
    /// `sec-websocket-extensions` if chosen) and the server [`Connection`], open, with the RSV
    /// bits of [`Accept::extension`] as [`Request::accept`] gives them. Send the response
    /// without ending the stream; the stream's data in both directions is then WebSocket frames.
    ///
    /// # Errors
    /// As [`Request::accept`]: [`HandshakeError::ProtocolNotOffered`],
    /// [`HandshakeError::ExtensionNotOffered`], and [`HandshakeError::InvalidHeader`] for an
    /// extension value that is not a list of offered extensions or an extra header that cannot
    /// be sent (here also a name with uppercase letters or a connection-specific one).
    pub fn accept<'a>(
        &self,
        accept: &Accept<'a>,
    ) -> Result<(ResponseHead<'a>, Connection), HandshakeError> {
        check_accept(self.headers, accept)?;
        if accept
            .headers
            .iter()
            .any(|&(name, value)| !is_h2_field_name(name) || is_connection_specific(name, value))
        {
            return Err(HandshakeError::InvalidHeader);
        }
        let head = ResponseHead::accepted(200, &[], None, accept);
        let connection = Connection::server(self.config).with_extension_bits(accept.bits());
        Ok((head, connection))
    }
}

/// An HTTP/1.1 upgrade request that another HTTP stack parsed (hyper, for example).
impl<'h, 'b> Request<'h, 'b> {
    /// Validates an HTTP/1.1 upgrade request that another stack parsed, with the rules and in
    /// the order [`ServerHandshake::parse`](super::ServerHandshake::parse) applies (one
    /// implementation): `method` as sent (`GET`), `http_minor` the minor version (1 for
    /// HTTP/1.1, 0 for HTTP/1.0), `target` the request target (path and query), `headers` the
    /// fields in any case, repeated fields as separate pairs. `config` bounds the number of
    /// fields and configures the connection.
    ///
    /// [`len`](Self::len) is 0: the stack keeps the bytes after the head, and hands them back
    /// with the upgraded connection (hyper does). The stack answers `Expect: 100-continue`
    /// itself; another expectation is refused here as there.
    ///
    /// # Errors
    /// [`HandshakeError::TooManyHeaders`] for more fields than
    /// [`HandshakeLimits::max_headers`](crate::HandshakeLimits::max_headers), else the errors of
    /// [`ServerHandshake::parse`](super::ServerHandshake::parse) for a parsed head.
    /// [`ResponseHead::error`] gives the response.
    pub fn from_parsed(
        method: &str,
        http_minor: u8,
        target: &'b str,
        headers: &'h [Header<'b>],
        config: Config,
    ) -> Result<Self, HandshakeError> {
        if headers.len() > config.handshake.max_headers {
            return Err(HandshakeError::TooManyHeaders);
        }
        Self::validated(method, http_minor, target, headers, 0, config)
    }

    /// Accepts, as [`accept`](Self::accept) does, but gives the `101`'s status and fields
    /// (`upgrade`, `connection`, `sec-websocket-accept`, and the chosen subprotocol, extensions
    /// and extra headers) for another HTTP stack to send, instead of writing them. The
    /// [`Connection`] has the same extension bits.
    ///
    /// # Errors
    /// As [`accept`](Self::accept), without `BufferTooSmall`.
    pub fn accept_head<'a>(
        &self,
        accept: &Accept<'a>,
    ) -> Result<(ResponseHead<'a>, Connection), HandshakeError> {
        check_accept(self.headers(), accept)?;
        let key = AcceptKey::from_key(self.key().as_bytes());
        let head = ResponseHead::accepted(101, SWITCHING, Some(key), accept);
        let connection = Connection::server(self.config()).with_extension_bits(accept.bits());
        Ok((head, connection))
    }
}

/// The client side of an extended CONNECT (RFC 8441, RFC 9220): the request's fields, then the
/// check of the response. No randomness is drawn for the handshake (there is no key); the
/// connection's source comes with [`finish`](Self::finish).
///
/// ```
/// use sockless::handshake::upgraded::{ConnectClient, ConnectResponse, Scheme};
/// use sockless::handshake::{ClientRequest, Header};
/// use sockless::{Config, RandomError, Role};
///
/// let rng = |dest: &mut [u8]| -> Result<(), RandomError> { dest.fill(7); Ok(()) }; // tests only!
/// let request = ClientRequest::new("server.example.com", "/chat")
///     .origin("http://www.example.com")
///     .protocols(&["chat", "superchat"]);
/// let client = ConnectClient::new(request, Scheme::Https, Config::default())?;
/// let fields: Vec<_> = client.headers().map(|h| (h.name, h.value)).collect();
/// assert_eq!(fields[..3], [(":method", &b"CONNECT"[..]), (":protocol", b"websocket"), (":scheme", b"https")]);
/// assert!(fields.contains(&("sec-websocket-protocol", b"superchat")));
///
/// // The server answered :status 200 with these fields.
/// let answer = [Header { name: "sec-websocket-protocol", value: b"chat" }];
/// let response = ConnectResponse::new(200, &answer);
/// let connection = client.finish(&response, rng)?;
/// assert_eq!(connection.role(), Role::Client);
/// # Ok::<(), sockless::HandshakeError>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ConnectClient<'a> {
    request: ClientRequest<'a>,
    scheme: Scheme,
    config: Config,
}

impl<'a> ConnectClient<'a> {
    /// A client for `request` (`host` goes in `:authority`, `path` in `:path`) over `scheme`.
    ///
    /// # Errors
    /// What [`ClientHandshake::new`](super::ClientHandshake::new) refuses in a request
    /// ([`HandshakeError::InvalidHost`], [`HandshakeError::InvalidHeader`]), and also, as
    /// [`HandshakeError::InvalidHeader`], a path with a byte that would need percent-encoding
    /// (the fields are borrowed, so nothing is encoded: pass it encoded) and an extra header
    /// whose name has uppercase letters or is connection-specific.
    pub fn new(
        request: ClientRequest<'a>,
        scheme: Scheme,
        config: Config,
    ) -> Result<Self, HandshakeError> {
        request.check()?;
        let mut pieces = 0;
        let mut encoded = 0;
        uri::encode_target(request.path.as_bytes(), |piece| {
            pieces += 1;
            encoded += piece.len();
        });
        let path_as_given = pieces == 1 && encoded == request.path.len();
        let extras_ok = request
            .headers
            .iter()
            .all(|&(name, value)| is_h2_field_name(name) && !is_connection_specific(name, value));
        if !path_as_given || !extras_ok {
            return Err(HandshakeError::InvalidHeader);
        }
        Ok(Self {
            request,
            scheme,
            config,
        })
    }

    /// The request's fields, in order: `:method CONNECT`, `:protocol websocket`, `:scheme`,
    /// `:authority`, `:path`, `sec-websocket-version: 13`, then `origin`, one
    /// `sec-websocket-protocol` per subprotocol and one `sec-websocket-extensions` per
    /// extension offer (repeated fields, which RFC 6455 11.3 lets a request join), and the extra
    /// headers. An `http`-based stack (`h2`, `h3`) takes the five pseudo-header fields as the
    /// request's method, URI and `Protocol` extension, and the rest as its header map.
    pub fn headers(&self) -> impl Iterator<Item = Header<'a>> + 'a {
        let r = self.request;
        let field = |name, value: &'a str| Header {
            name,
            value: value.as_bytes(),
        };
        [
            field(":method", "CONNECT"),
            field(":protocol", "websocket"),
            field(":scheme", self.scheme.as_str()),
            field(":authority", r.host),
            field(":path", r.path),
            VERSION_13,
        ]
        .into_iter()
        .chain(r.origin.map(move |o| field("origin", o)))
        .chain(
            r.protocols
                .iter()
                .map(move |p| field("sec-websocket-protocol", p)),
        )
        .chain(
            r.extensions
                .iter()
                .map(move |e| field("sec-websocket-extensions", e)),
        )
        .chain(
            r.headers
                .iter()
                .map(|&(name, value)| Header { name, value }),
        )
    }

    /// Checks the response: a 2xx status (RFC 9110 9.3.6: any 2xx to a CONNECT means the
    /// tunnel is open; servers send 200), no extension, and at most one subprotocol, one that
    /// was offered. Returns the client [`Connection`], open, masking with keys from `rng`.
    ///
    /// # Errors
    /// [`HandshakeError::UnexpectedStatus`] for another status, and the errors of
    /// [`ClientHandshake::finish`](super::ClientHandshake::finish) for the fields.
    pub fn finish<R: RandomSource>(
        self,
        response: &ConnectResponse<'_, '_>,
        rng: R,
    ) -> Result<Connection<R>, HandshakeError> {
        self.finish_with_extensions(response, rng, |r| match r.extensions().next() {
            None => Ok(Rsv::NONE),
            Some(_) => Err(HandshakeError::ExtensionRefused),
        })
    }

    /// Checks the response as [`finish`](Self::finish) does, except that the server may agree
    /// to extensions offered, under the rules of
    /// [`ClientHandshake::finish_with_extensions`](super::ClientHandshake::finish_with_extensions)
    /// (one implementation): `check` reads the agreed extensions from
    /// [`ConnectResponse::extensions`] and returns the RSV bits they own, or refuses.
    ///
    /// # Errors
    /// As [`ClientHandshake::finish_with_extensions`](super::ClientHandshake::finish_with_extensions),
    /// with [`HandshakeError::UnexpectedStatus`] for a status other than 2xx.
    pub fn finish_with_extensions<R: RandomSource>(
        self,
        response: &ConnectResponse<'_, '_>,
        rng: R,
        check: impl FnOnce(&ConnectResponse<'_, '_>) -> Result<Rsv, HandshakeError>,
    ) -> Result<Connection<R>, HandshakeError> {
        if !(200..300).contains(&response.status) {
            return Err(HandshakeError::UnexpectedStatus(response.status));
        }
        check_agreed(&self.request, response.headers)?;
        let bits = check(response)?;
        Ok(Connection::client(self.config, rng).with_extension_bits(bits))
    }
}

/// The response to an extended CONNECT, as the client's HTTP stack decoded it: the status and
/// the fields (a `:status` among them is ignored).
#[derive(Clone, Copy, Debug)]
pub struct ConnectResponse<'h, 'b> {
    status: u16,
    headers: &'h [Header<'b>],
}

impl<'h, 'b> ConnectResponse<'h, 'b> {
    /// The response with `status` and `headers`.
    pub const fn new(status: u16, headers: &'h [Header<'b>]) -> Self {
        Self { status, headers }
    }

    /// The status code.
    pub const fn status(&self) -> u16 {
        self.status
    }

    /// The subprotocol the server chose, if any.
    pub fn protocol(&self) -> Option<&'b str> {
        self.header("sec-websocket-protocol")
            .and_then(|v| core::str::from_utf8(trim(v)).ok())
    }

    /// The extensions the server agreed to, with their parameters, in order (entries that do
    /// not follow the grammar are skipped here; [`ConnectClient::finish_with_extensions`]
    /// refuses a response with any before its check reads this).
    pub fn extensions(&self) -> impl Iterator<Item = Extension<'b>> + '_ {
        offered_extensions(self.headers)
    }

    /// The value of the first field named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        values(self.headers, name).next()
    }

    /// All fields, as given.
    pub fn headers(&self) -> &'h [Header<'b>] {
        self.headers
    }
}

#[cfg(test)]
mod tests;
