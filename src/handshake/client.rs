//! The client side: write the upgrade request, then parse and check the server's response.

use base64::Engine;

use super::{has_token, list, single, trim, values, AcceptKey, HeadScanner, Header, Writer};
use crate::config::Config;
use crate::connection::Connection;
use crate::error::{BufferTooSmall, HandshakeError};
use crate::rand::RandomSource;
use crate::Status;

/// What a client asks for: the `Host`, the request target, and optionally an `Origin`,
/// subprotocols to offer and extra headers.
///
/// ```
/// use sockless::handshake::ClientRequest;
/// let req = ClientRequest::new("example.com:8080", "/chat?room=1")
///     .origin("http://example.com")
///     .protocols(&["v2.chat", "v1.chat"])
///     .headers(&[("Authorization", b"Bearer abc")]);
/// # let _ = req;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ClientRequest<'a> {
    host: &'a str,
    path: &'a str,
    origin: Option<&'a str>,
    protocols: &'a [&'a str],
    headers: &'a [(&'a str, &'a [u8])],
}

impl<'a> ClientRequest<'a> {
    /// A request for `path` (the request target: path and query, starting with `/`) on `host` (the
    /// `Host` header: host and, if not the default, port).
    pub const fn new(host: &'a str, path: &'a str) -> Self {
        Self {
            host,
            path,
            origin: None,
            protocols: &[],
            headers: &[],
        }
    }

    /// Send an `Origin` header (browsers do; other clients may).
    pub const fn origin(mut self, origin: &'a str) -> Self {
        self.origin = Some(origin);
        self
    }

    /// Offer these subprotocols, most preferred first.
    pub const fn protocols(mut self, protocols: &'a [&'a str]) -> Self {
        self.protocols = protocols;
        self
    }

    /// Add headers to the request (not the ones the handshake writes itself).
    pub const fn headers(mut self, headers: &'a [(&'a str, &'a [u8])]) -> Self {
        self.headers = headers;
        self
    }

    fn check(&self) -> Result<(), HandshakeError> {
        let bad_text = |s: &str| s.is_empty() || s.bytes().any(|b| b <= b' ' || b == 0x7F);
        // RFC 6455 3: the resource name has no fragment.
        if bad_text(self.host)
            || bad_text(self.path)
            || !self.path.starts_with('/')
            || self.path.contains('#')
        {
            return Err(HandshakeError::InvalidHeader);
        }
        if self
            .origin
            .is_some_and(|o| !super::is_field_value(o.as_bytes()))
        {
            return Err(HandshakeError::InvalidHeader);
        }
        // RFC 6455 4.1: each offered subprotocol is a token, and none is offered twice.
        let protocols = self.protocols;
        let unique = |(i, p): (usize, &&str)| !protocols.get(..i).unwrap_or_default().contains(p);
        if !protocols.iter().all(|p| list::is_token(p.as_bytes()))
            || !protocols.iter().enumerate().all(unique)
        {
            return Err(HandshakeError::InvalidHeader);
        }
        for (name, value) in self.headers {
            super::check_extra_header(name, value)?;
        }
        Ok(())
    }

    /// Writes the request head with `key` into `out` (measuring only, when `out` is empty).
    fn write(&self, key: &[u8; 24], out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        Writer::write_all(out, |w| {
            w.put(b"GET ");
            w.put(self.path.as_bytes());
            w.put(b" HTTP/1.1\r\n");
            w.header("Host", self.host.as_bytes());
            w.header("Upgrade", b"websocket");
            w.header("Connection", b"Upgrade");
            w.header("Sec-WebSocket-Key", key);
            w.header("Sec-WebSocket-Version", b"13");
            if let Some(origin) = self.origin {
                w.header("Origin", origin.as_bytes());
            }
            if let Some((first, rest)) = self.protocols.split_first() {
                w.put(b"Sec-WebSocket-Protocol: ");
                w.put(first.as_bytes());
                for p in rest {
                    w.put(b", ");
                    w.put(p.as_bytes());
                }
                w.put(b"\r\n");
            }
            for (name, value) in self.headers {
                w.header(name, value);
            }
            w.put(b"\r\n");
        })
    }
}

/// The client's handshake: made by writing the request, finished by a valid response.
///
/// ```
/// use sockless::handshake::{ClientHandshake, ClientRequest, EMPTY_HEADER};
/// use sockless::{Config, RandomError, Status};
///
/// let rng = |dest: &mut [u8]| -> Result<(), RandomError> { dest.fill(7); Ok(()) }; // tests only!
/// let mut out = [0u8; 512];
/// let (mut handshake, n) =
///     ClientHandshake::new(ClientRequest::new("localhost", "/"), Config::default(), rng, &mut out)?;
/// assert!(out[..n].starts_with(b"GET / HTTP/1.1\r\nHost: localhost\r\n"));
/// // ... write out[..n], then read the response into a buffer:
/// let response = format!(
///     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///      Sec-WebSocket-Accept: {}\r\n\r\n",
///     handshake.expected_accept().as_str()
/// );
/// let mut headers = [EMPTY_HEADER; 16];
/// let Status::Complete(resp) = handshake.parse(response.as_bytes(), &mut headers)? else { unreachable!() };
/// let after_head = resp.len(); // bytes after this are frames
/// let connection = handshake.finish(&resp)?;
/// # let _ = (after_head, connection);
/// # Ok::<(), sockless::HandshakeError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ClientHandshake<'a, R> {
    request: ClientRequest<'a>,
    accept: AcceptKey,
    config: Config,
    scanner: HeadScanner,
    rng: R,
}

impl<'a, R: RandomSource> ClientHandshake<'a, R> {
    /// Draws a 16-byte key from `rng`, writes the upgrade request into `out`, and returns the
    /// handshake with the request's length. `rng` then masks the connection's frames.
    ///
    /// # Errors
    /// [`HandshakeError::InvalidHeader`] for a host, path, origin, subprotocol or extra header that
    /// cannot be written (including a path with a `#fragment`, or a subprotocol offered twice);
    /// [`HandshakeError::BufferTooSmall`] (checked before any randomness is drawn);
    /// [`HandshakeError::Random`] if `rng` fails. Nothing is written.
    pub fn new(
        request: ClientRequest<'a>,
        config: Config,
        mut rng: R,
        out: &mut [u8],
    ) -> Result<(Self, usize), HandshakeError> {
        request.check()?;
        // Measure first, so that a too-small buffer costs no randomness.
        let needed = request
            .write(&[0; 24], &mut [])
            .unwrap_or_else(|e| e.needed);
        if out.len() < needed {
            return Err(BufferTooSmall { needed }.into());
        }
        let mut raw = [0u8; 16];
        rng.fill(&mut raw)?;
        let mut key = [0u8; 24];
        // 16 bytes always encode to exactly 24.
        let _ = base64::engine::general_purpose::STANDARD.encode_slice(raw, &mut key);
        let n = request.write(&key, out)?;
        let handshake = Self {
            request,
            accept: AcceptKey::from_key(&key),
            config,
            scanner: HeadScanner::default(),
            rng,
        };
        Ok((handshake, n))
    }

    /// How many response bytes the head scanner has examined: each byte once, however the
    /// response is fed (a diagnostic for the linear-work guarantee).
    pub fn bytes_examined(&self) -> usize {
        self.scanner.examined()
    }

    /// The `Sec-WebSocket-Accept` value the server must answer with.
    pub fn expected_accept(&self) -> &AcceptKey {
        &self.accept
    }

    /// Parses the server's response from `input`: everything received so far, from the response's
    /// first byte (append reads to the same buffer; bytes are scanned once). Returns
    /// [`Status::Partial`] until the head is complete. Any complete HTTP response is returned, so
    /// that a refusal (`401`, `403`, a redirect) can be inspected; [`finish`](Self::finish) checks
    /// that it is a valid upgrade.
    ///
    /// # Errors
    /// [`HandshakeError::HeadTooLarge`], [`HandshakeError::TooManyHeaders`] and
    /// [`HandshakeError::MalformedHttp`].
    pub fn parse<'h, 'b>(
        &mut self,
        input: &'b [u8],
        headers: &'h mut [Header<'b>],
    ) -> Result<Status<Response<'h, 'b>>, HandshakeError> {
        let Some(end) = self.scanner.scan(input, &self.config.handshake)? else {
            return Ok(Status::Partial);
        };
        let cap = headers.len().min(self.config.handshake.max_headers);
        let headers = headers.get_mut(..cap).unwrap_or_default();
        let mut resp = httparse::Response::new(headers);
        match resp.parse(input.get(..end).unwrap_or_default()) {
            Ok(httparse::Status::Complete(_)) => {}
            Err(httparse::Error::TooManyHeaders) => return Err(HandshakeError::TooManyHeaders),
            _ => return Err(HandshakeError::MalformedHttp),
        }
        let (Some(version), Some(status)) = (resp.version, resp.code) else {
            return Err(HandshakeError::MalformedHttp);
        };
        Ok(Status::Complete(Response {
            version,
            status,
            reason: resp.reason.unwrap_or_default(),
            headers: resp.headers,
            len: end,
        }))
    }

    /// Checks the response (RFC 6455 4.1): status 101, `Upgrade: websocket`,
    /// `Connection: Upgrade`, the right `Sec-WebSocket-Accept`, no extension (none was offered)
    /// and at most one subprotocol, one that was offered. Returns the client [`Connection`].
    ///
    /// # Errors
    /// [`HandshakeError::UnexpectedStatus`] for a status other than 101 (the response still shows
    /// its headers), and the error for the first rule broken.
    pub fn finish(self, response: &Response<'_, '_>) -> Result<Connection<R>, HandshakeError> {
        let headers = response.headers;
        if response.status != 101 {
            return Err(HandshakeError::UnexpectedStatus(response.status));
        }
        if response.version < 1 {
            return Err(HandshakeError::HttpVersion);
        }
        if !has_token(headers, "upgrade", "websocket") {
            return Err(HandshakeError::NotUpgrade);
        }
        if !has_token(headers, "connection", "upgrade") {
            return Err(HandshakeError::MissingConnectionUpgrade);
        }
        match single(headers, "sec-websocket-accept") {
            Ok(Some(v)) if trim(v) == self.accept.as_bytes() => {}
            _ => return Err(HandshakeError::AcceptMismatch),
        }
        if values(headers, "sec-websocket-extensions").any(|v| list::tokens(v).next().is_some()) {
            return Err(HandshakeError::ExtensionNotOffered);
        }
        match single(headers, "sec-websocket-protocol") {
            Ok(None) => {}
            Ok(Some(p))
                if self
                    .request
                    .protocols
                    .iter()
                    .any(|o| o.as_bytes() == trim(p)) => {}
            _ => return Err(HandshakeError::ProtocolNotOffered),
        }
        Ok(Connection::client(self.config, self.rng))
    }
}

/// A complete HTTP response to the upgrade request.
#[derive(Debug)]
pub struct Response<'h, 'b> {
    version: u8,
    status: u16,
    reason: &'b str,
    headers: &'h [Header<'b>],
    len: usize,
}

impl<'h, 'b> Response<'h, 'b> {
    /// The status code (101 for an accepted upgrade).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase.
    pub fn reason(&self) -> &'b str {
        self.reason
    }

    /// The subprotocol the server chose, if any.
    pub fn protocol(&self) -> Option<&'b str> {
        self.header("sec-websocket-protocol")
            .and_then(|v| core::str::from_utf8(trim(v)).ok())
    }

    /// The value of the first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        values(self.headers, name).next()
    }

    /// All header lines.
    pub fn headers(&self) -> &'h [Header<'b>] {
        self.headers
    }

    /// The length of the response head. Input bytes after it are WebSocket frames; pass them to
    /// [`Connection::receive`].
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests;
