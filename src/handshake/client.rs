//! The client side: write the upgrade request, then parse and check the server's response.

use super::{
    has_token, list, single, trim, uri, values, AcceptKey, Extension, HeadScanner, Header, Writer,
};
use crate::config::Config;
use crate::connection::Connection;
use crate::error::{BufferTooSmall, HandshakeError};
use crate::frame::Rsv;
use crate::rand::RandomSource;
use crate::Status;

/// What a client asks for: the `Host`, the request target, and optionally an `Origin`,
/// subprotocols and extensions to offer and extra headers.
///
/// What is written is valid by RFC 3986, or refused:
///
/// * The `Host` must be `uri-host [ ":" port ]` (RFC 7230 5.4, RFC 3986 3.2.2): a name of
///   letters, digits, `-._~`, sub-delims and `%XX`, an IPv4 address, or an IPv6 or `vX.`
///   address in brackets, then optionally `:` and digits. Anything else fails with
///   [`HandshakeError::InvalidHost`] (the server side refuses the same values with 400). A
///   non-ASCII name is not converted: give its IDNA form (`xn--bcher-kva.example`) or
///   percent-encode its UTF-8 (`b%C3%BCcher.example`).
/// * The request target must start with `/` and may not contain `#` (a WebSocket URI has no
///   fragment, RFC 6455 3; write a literal `#` as `%23`). Every byte outside the path and query
///   grammar (controls, space, `"`, `<`, `>`, `\`, `^`, `` ` ``, `{`, `|`, `}`, DEL and every
///   non-ASCII byte) is written percent-encoded with uppercase hex (`/caf\u{e9}` goes out as
///   `/caf%C3%A9`); a `%` that starts a `%XX` sequence is kept, so an already encoded target
///   goes out as given, and any other `%` is written `%25`.
///
/// ```
/// use sockless::handshake::ClientRequest;
/// let req = ClientRequest::new("example.com:8080", "/chat?room=1")
///     .origin("http://example.com")
///     .protocols(&["v2.chat", "v1.chat"])
///     .extensions(&["permessage-deflate; client_max_window_bits"])
///     .headers(&[("Authorization", b"Bearer abc")]);
/// # let _ = req;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ClientRequest<'a> {
    pub(super) host: &'a str,
    pub(super) path: &'a str,
    pub(super) origin: Option<&'a str>,
    pub(super) protocols: &'a [&'a str],
    pub(super) extensions: &'a [&'a str],
    pub(super) headers: &'a [(&'a str, &'a [u8])],
}

impl<'a> ClientRequest<'a> {
    /// A request for `path` (the request target: path and query, starting with `/`) on `host` (the
    /// `Host` header: host and, if not the default, port). See above for how each is checked
    /// and written.
    pub const fn new(host: &'a str, path: &'a str) -> Self {
        Self {
            host,
            path,
            origin: None,
            protocols: &[],
            extensions: &[],
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

    /// Offer these extensions, most preferred first, in one `Sec-WebSocket-Extensions` header
    /// (RFC 6455 9.1). Each offer is one extension with its parameters, as it goes on the wire:
    /// `"permessage-deflate; client_max_window_bits"`. An extension may be offered several
    /// times with different parameters, as fallbacks. The server's answer is checked by
    /// [`ClientHandshake::finish_with_extensions`].
    pub const fn extensions(mut self, offers: &'a [&'a str]) -> Self {
        self.extensions = offers;
        self
    }

    /// Add headers to the request (not the ones the handshake writes itself).
    pub const fn headers(mut self, headers: &'a [(&'a str, &'a [u8])]) -> Self {
        self.headers = headers;
        self
    }

    /// Whether `name` is the name of an extension offered.
    fn offers(&self, name: &str) -> bool {
        self.extensions.iter().any(|offer| {
            list::extensions(offer.as_bytes())
                .next()
                .and_then(Result::ok)
                .is_some_and(|e| e.name().eq_ignore_ascii_case(name))
        })
    }

    /// Checks what will be written, for either way of sending the request.
    pub(super) fn check(&self) -> Result<(), HandshakeError> {
        if !uri::is_valid_host(self.host.as_bytes()) {
            return Err(HandshakeError::InvalidHost);
        }
        // RFC 6455 3: the resource name has no fragment.
        if !self.path.starts_with('/') || self.path.contains('#') {
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
        // RFC 6455 9.1: each offer is one `extension` of the list grammar.
        for offer in self.extensions {
            let mut parsed = list::extensions(offer.as_bytes());
            if !super::is_field_value(offer.as_bytes())
                || !matches!((parsed.next(), parsed.next()), (Some(Ok(_)), None))
            {
                return Err(HandshakeError::InvalidHeader);
            }
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
            uri::encode_target(self.path.as_bytes(), |piece| w.put(piece));
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
            if let Some((first, rest)) = self.extensions.split_first() {
                w.put(b"Sec-WebSocket-Extensions: ");
                w.put(first.as_bytes());
                for e in rest {
                    w.put(b", ");
                    w.put(e.as_bytes());
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
    /// Where the response head being looked for starts: after any interim responses skipped.
    head_start: usize,
    rng: R,
}

impl<'a, R: RandomSource> ClientHandshake<'a, R> {
    /// Draws a 16-byte key from `rng`, writes the upgrade request into `out`, and returns the
    /// handshake with the request's length. `rng` then masks the connection's frames.
    ///
    /// ```
    /// use sockless::handshake::{ClientHandshake, ClientRequest};
    /// use sockless::{Config, HandshakeError, RandomError};
    ///
    /// let rng = |dest: &mut [u8]| -> Result<(), RandomError> { dest.fill(0); Ok(()) }; // tests only!
    /// let request = ClientRequest::new("example.com", "/chat").protocols(&["chat"]);
    /// let mut out = [0u8; 256];
    /// let (handshake, n) = ClientHandshake::new(request, Config::default(), rng, &mut out)?;
    /// assert_eq!(
    ///     std::str::from_utf8(&out[..n]).unwrap(),
    ///     "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
    ///      Connection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\
    ///      Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
    /// );
    /// # let _ = handshake;
    ///
    /// // Too small a buffer: the size needed, and no randomness drawn.
    /// let mut small = [0u8; 16];
    /// let r = ClientHandshake::new(request, Config::default(), rng, &mut small);
    /// assert!(matches!(r, Err(HandshakeError::BufferTooSmall(b)) if b.needed == n));
    /// # Ok::<(), HandshakeError>(())
    /// ```
    ///
    /// # Errors
    /// [`HandshakeError::InvalidHost`] for a host that is not `uri-host [ ":" port ]`;
    /// [`HandshakeError::InvalidHeader`] for a path, origin, subprotocol or extra header that
    /// cannot be written (a path not starting with `/` or with a `#fragment`, a subprotocol offered
    /// twice);
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
        super::base64::encode(&raw, &mut key);
        let n = request.write(&key, out)?;
        let handshake = Self {
            request,
            accept: AcceptKey::from_key(&key),
            config,
            scanner: HeadScanner::default(),
            head_start: 0,
            rng,
        };
        Ok((handshake, n))
    }

    /// How many response bytes the head scanner has examined: each byte once, however the
    /// response is fed (the tests check the linear-work guarantee with it).
    #[cfg(test)]
    pub(crate) fn bytes_examined(&self) -> usize {
        self.scanner.examined()
    }

    /// The `Sec-WebSocket-Accept` value the server must answer with.
    pub fn expected_accept(&self) -> &AcceptKey {
        &self.accept
    }

    /// Parses the server's response from `input`: everything received so far, from the response's
    /// first byte (append reads to the same buffer; bytes are scanned once). Returns
    /// [`Status::Partial`] until the head is complete. Any complete final HTTP response is
    /// returned, so that a refusal (`401`, `403`, a redirect) can be inspected;
    /// [`finish`](Self::finish) checks that it is a valid upgrade.
    ///
    /// Interim responses (1xx other than 101: `100 Continue`, `102 Processing`, `103 Early Hints`)
    /// are parsed and skipped, as RFC 7231 6.2 requires of a client, and the response after them
    /// is the one returned; its [`len`](Response::len) counts them. They count against
    /// [`HandshakeLimits::max_head_len`](crate::HandshakeLimits::max_head_len) together with the
    /// final head, which bounds their number. A header line folded over several lines (obs-fold,
    /// RFC 7230 3.2.4) is accepted, and read as if each fold were spaces.
    ///
    /// ```
    /// use sockless::handshake::{ClientHandshake, ClientRequest, EMPTY_HEADER};
    /// use sockless::{Config, HandshakeError, RandomError, Status};
    ///
    /// let rng = |dest: &mut [u8]| -> Result<(), RandomError> { dest.fill(0); Ok(()) }; // tests only!
    /// let mut out = [0u8; 256];
    /// let (mut handshake, _) =
    ///     ClientHandshake::new(ClientRequest::new("a", "/"), Config::default(), rng, &mut out)?;
    /// // A refusal arrives in two reads, appended to one buffer.
    /// let response = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
    /// let mut headers = [EMPTY_HEADER; 16];
    /// assert!(matches!(handshake.parse(&response[..20], &mut headers)?, Status::Partial));
    /// let Status::Complete(resp) = handshake.parse(response, &mut headers)? else { unreachable!() };
    /// assert_eq!((resp.status(), resp.reason(), resp.len()), (403, "Forbidden", response.len()));
    /// let refused = handshake.finish(&resp);
    /// assert!(matches!(refused, Err(HandshakeError::UnexpectedStatus(403))));
    /// # Ok::<(), HandshakeError>(())
    /// ```
    ///
    /// # Errors
    /// [`HandshakeError::HeadTooLarge`], [`HandshakeError::TooManyHeaders`] and
    /// [`HandshakeError::MalformedHttp`] (for an interim head as for the final one).
    pub fn parse<'h, 'b>(
        &mut self,
        input: &'b [u8],
        headers: &'h mut [Header<'b>],
    ) -> Result<Status<Response<'h, 'b>>, HandshakeError> {
        let cap = headers.len().min(self.config.handshake.max_headers);
        let headers = headers.get_mut(..cap).unwrap_or_default();
        let mut config = httparse::ParserConfig::default();
        config.allow_obsolete_multiline_headers_in_responses(true);
        let parse_error = |e| match e {
            httparse::Error::TooManyHeaders => HandshakeError::TooManyHeaders,
            _ => HandshakeError::MalformedHttp,
        };
        loop {
            let Some(end) = self.scanner.scan(input, &self.config.handshake)? else {
                return Ok(Status::Partial);
            };
            let head = input.get(self.head_start..end).unwrap_or_default();
            if is_interim(head) {
                // Checked like any head, into the caller's array, then dropped.
                let mut resp = httparse::Response::new(&mut *headers);
                match config.parse_response(&mut resp, head) {
                    Ok(httparse::Status::Complete(_)) => {}
                    Ok(httparse::Status::Partial) => return Err(HandshakeError::MalformedHttp),
                    Err(e) => return Err(parse_error(e)),
                }
                self.head_start = end;
                self.scanner.next_head();
                continue;
            }
            let mut resp = httparse::Response::new(headers);
            match config.parse_response(&mut resp, head) {
                Ok(httparse::Status::Complete(_)) => {}
                Ok(httparse::Status::Partial) => return Err(HandshakeError::MalformedHttp),
                Err(e) => return Err(parse_error(e)),
            }
            let (Some(version), Some(status)) = (resp.version, resp.code) else {
                return Err(HandshakeError::MalformedHttp);
            };
            return Ok(Status::Complete(Response {
                version,
                status,
                reason: resp.reason.unwrap_or_default(),
                headers: resp.headers,
                len: end,
            }));
        }
    }

    /// Checks the response (RFC 6455 4.1): status 101, `Upgrade` exactly `websocket`,
    /// `Connection: Upgrade`, the right `Sec-WebSocket-Accept`, no extension, and at most one
    /// subprotocol, one that was offered. Returns the client [`Connection`].
    ///
    /// A client that offered extensions uses
    /// [`finish_with_extensions`](Self::finish_with_extensions) instead: `finish` refuses any
    /// extension in the response, since it cannot know what agreeing to it would mean.
    ///
    /// ```
    /// use sockless::handshake::{ClientHandshake, ClientRequest, EMPTY_HEADER};
    /// use sockless::{Config, HandshakeError, RandomError, Role, Status};
    ///
    /// let rng = |dest: &mut [u8]| -> Result<(), RandomError> { dest.fill(0); Ok(()) }; // tests only!
    /// let mut out = [0u8; 256];
    /// let (mut handshake, _) =
    ///     ClientHandshake::new(ClientRequest::new("a", "/"), Config::default(), rng, &mut out)?;
    /// // The accept value for the key of 16 zero bytes, and a first frame right behind the head.
    /// let mut input = format!(
    ///     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    ///      Sec-WebSocket-Accept: {}\r\n\r\n",
    ///     handshake.expected_accept().as_str()
    /// )
    /// .into_bytes();
    /// input.extend_from_slice(&[0x81, 2, b'h', b'i']);
    /// let mut headers = [EMPTY_HEADER; 16];
    /// let Status::Complete(resp) = handshake.parse(&input, &mut headers)? else { unreachable!() };
    /// let head_len = resp.len();
    /// let mut conn = handshake.finish(&resp)?;
    /// assert_eq!(conn.role(), Role::Client);
    /// // The bytes after the head are frames: hand them to the connection.
    /// let r = conn.receive(&mut input[head_len..]);
    /// assert_eq!(r.consumed, 4);
    /// # Ok::<(), HandshakeError>(())
    /// ```
    ///
    /// # Errors
    /// [`HandshakeError::UnexpectedStatus`] for a status other than 101 (the response still shows
    /// its headers), [`HandshakeError::ExtensionRefused`] for an offered extension the server
    /// agreed to, and the error for the first rule broken.
    pub fn finish(self, response: &Response<'_, '_>) -> Result<Connection<R>, HandshakeError> {
        self.finish_with_extensions(response, |r| match r.extensions().next() {
            None => Ok(Rsv::NONE),
            Some(_) => Err(HandshakeError::ExtensionRefused),
        })
    }

    /// Checks the response as [`finish`](Self::finish) does, except that the server may agree to
    /// extensions the client offered ([`ClientRequest::extensions`]): each must be one offered,
    /// named once, and `check` (the extensions' layer) then reads the agreed extensions and their
    /// parameters from [`Response::extensions`], and returns the RSV bits they own, or an error
    /// if it cannot honour what the server chose (RFC 6455 9.1 and RFC 7692 5 ask the client to
    /// fail then). The connection is made with those bits
    /// ([`Connection::with_extension_bits`]). `check` runs once the rest of the response is
    /// valid, also when no extension was agreed (then it returns [`Rsv::NONE`], or refuses if the
    /// layer requires its extension).
    ///
    /// ```
    /// use sockless::handshake::{ClientHandshake, ClientRequest, EMPTY_HEADER};
    /// use sockless::{Config, HandshakeError, RandomError, Rsv, Status};
    ///
    /// let rng = |dest: &mut [u8]| -> Result<(), RandomError> { dest.fill(7); Ok(()) }; // tests only!
    /// let req = ClientRequest::new("localhost", "/")
    ///     .extensions(&["permessage-deflate; client_max_window_bits", "permessage-deflate"]);
    /// let mut out = [0u8; 512];
    /// let (mut handshake, n) = ClientHandshake::new(req, Config::default(), rng, &mut out)?;
    /// let request = std::str::from_utf8(&out[..n]).unwrap();
    /// assert!(request.contains(
    ///     "\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, permessage-deflate\r\n"
    /// ));
    /// let response = format!(
    ///     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    ///      Sec-WebSocket-Accept: {}\r\n\
    ///      Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n",
    ///     handshake.expected_accept().as_str()
    /// );
    /// let mut headers = [EMPTY_HEADER; 16];
    /// let Status::Complete(resp) = handshake.parse(response.as_bytes(), &mut headers)? else { unreachable!() };
    /// let connection = handshake.finish_with_extensions(&resp, |resp| {
    ///     // The deflate layer reads the agreed parameters here (and refuses what it cannot do).
    ///     let agreed = resp.extensions().find(|e| e.name() == "permessage-deflate");
    ///     Ok(if agreed.is_some() { Rsv::RSV1 } else { Rsv::NONE })
    /// })?;
    /// assert_eq!(connection.extension_bits(), Rsv::RSV1);
    /// # Ok::<(), HandshakeError>(())
    /// ```
    ///
    /// # Errors
    /// As [`finish`](Self::finish); [`HandshakeError::InvalidHeaderList`] for a
    /// `Sec-WebSocket-Extensions` that does not follow its grammar,
    /// [`HandshakeError::ExtensionNotOffered`] for an extension not offered,
    /// [`HandshakeError::ExtensionRefused`] for one named twice, and whatever `check` returns
    /// (normally [`HandshakeError::ExtensionRefused`]).
    pub fn finish_with_extensions(
        self,
        response: &Response<'_, '_>,
        check: impl FnOnce(&Response<'_, '_>) -> Result<Rsv, HandshakeError>,
    ) -> Result<Connection<R>, HandshakeError> {
        let headers = response.headers;
        if response.status != 101 {
            return Err(HandshakeError::UnexpectedStatus(response.status));
        }
        if response.version < 1 {
            return Err(HandshakeError::HttpVersion);
        }
        // RFC 6455 4.1: the value is "websocket", not a list that contains it.
        let mut upgrade = values(headers, "upgrade").flat_map(list::tokens);
        match (upgrade.next(), upgrade.next()) {
            (Some(token), None) if token.eq_ignore_ascii_case(b"websocket") => {}
            _ => return Err(HandshakeError::NotUpgrade),
        }
        if !has_token(headers, "connection", "upgrade") {
            return Err(HandshakeError::MissingConnectionUpgrade);
        }
        match single(headers, "sec-websocket-accept") {
            Ok(Some(v)) if trim(v) == self.accept.as_bytes() => {}
            _ => return Err(HandshakeError::AcceptMismatch),
        }
        check_agreed(&self.request, headers)?;
        let bits = check(response)?;
        Ok(Connection::client(self.config, self.rng).with_extension_bits(bits))
    }
}

/// The rules on what a successful response agrees to, whatever carried it (RFC 6455 4.1, 9.1):
/// the extensions follow the grammar, each one was offered and none is named twice, and the
/// subprotocol, if any, is one that was offered. The work is linear in the header values times
/// the (caller-given) number of offers: every extension before a repeated one was offered, so a
/// repeat is found among the first offers + 1 of them.
pub(super) fn check_agreed(
    request: &ClientRequest<'_>,
    headers: &[Header<'_>],
) -> Result<(), HandshakeError> {
    let agreed = || values(headers, "sec-websocket-extensions").flat_map(list::extensions);
    for (i, ext) in agreed().enumerate() {
        let ext = ext.map_err(|_| HandshakeError::InvalidHeaderList)?;
        if !request.offers(ext.name()) {
            return Err(HandshakeError::ExtensionNotOffered);
        }
        let same = |e: Result<Extension<'_>, _>| {
            e.is_ok_and(|e| e.name().eq_ignore_ascii_case(ext.name()))
        };
        if agreed().take(i).any(same) {
            return Err(HandshakeError::ExtensionRefused);
        }
    }
    match single(headers, "sec-websocket-protocol") {
        Ok(None) => Ok(()),
        Ok(Some(p)) if request.protocols.iter().any(|o| o.as_bytes() == trim(p)) => Ok(()),
        _ => Err(HandshakeError::ProtocolNotOffered),
    }
}

/// Whether `head` (a complete response head) is an interim response: its status line, after the
/// empty lines `httparse` skips too, is `HTTP/1.x` and a 1xx status other than 101. A head this
/// misjudges as final is returned with its status, which [`ClientHandshake::finish`] refuses.
fn is_interim(head: &[u8]) -> bool {
    let start = head
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(head.len());
    match head.get(start..).unwrap_or_default() {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', _, b' ', b'1', d2, d3, ..] => {
            d2.is_ascii_digit() && d3.is_ascii_digit() && (*d2, *d3) != (b'0', b'1')
        }
        _ => false,
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

    /// The extensions the server agreed to, with their parameters, across all
    /// `Sec-WebSocket-Extensions` headers, in order. Entries that do not follow the grammar are
    /// skipped here; [`ClientHandshake::finish_with_extensions`] refuses a response with any,
    /// before its check reads this.
    pub fn extensions(&self) -> impl Iterator<Item = Extension<'b>> + '_ {
        values(self.headers, "sec-websocket-extensions")
            .flat_map(list::extensions)
            .filter_map(Result::ok)
    }

    /// The subprotocol the server chose, if any.
    pub fn protocol(&self) -> Option<&'b str> {
        self.header("sec-websocket-protocol")
            .and_then(|v| core::str::from_utf8(trim(v)).ok())
    }

    /// The value of the first header named `name` (ASCII case-insensitive), as received: a value
    /// folded over several lines (obs-fold) keeps its CR and LF bytes, which read as spaces.
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        values(self.headers, name).next()
    }

    /// All header lines (of the final response, not of interim ones before it).
    pub fn headers(&self) -> &'h [Header<'b>] {
        self.headers
    }

    /// The length of the response head, counted from the first byte of the input, so including
    /// any interim responses skipped before it. Input bytes after it are WebSocket frames; pass
    /// them to [`Connection::receive`].
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests;
