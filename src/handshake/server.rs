//! The server side: parse and validate the upgrade request, then accept or reject it.

use super::{list, trim, uri, values, AcceptKey, Extension, HeadScanner, Header, Writer};
use crate::config::Config;
use crate::connection::Connection;
use crate::error::{BufferTooSmall, HandshakeError};
use crate::frame::Rsv;
use crate::Status;

/// Parses a client's upgrade request, fed as it arrives.
///
/// ```
/// use sockless::handshake::{Accept, ServerHandshake, EMPTY_HEADER};
/// use sockless::{Config, Status};
///
/// let request = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
///     Sec-WebSocket-Version: 13\r\n\r\n";
/// let mut handshake = ServerHandshake::new(Config::default());
/// let mut headers = [EMPTY_HEADER; 16];
/// let Status::Complete(req) = handshake.parse(request, &mut headers)? else { unreachable!() };
/// assert_eq!(req.path(), "/chat");
/// assert_eq!(req.protocols().collect::<Vec<_>>(), ["chat", "superchat"]);
///
/// let mut out = [0u8; 256];
/// let (n, _connection) = req.accept(&Accept::new().protocol("chat"), &mut out)?;
/// let response = std::str::from_utf8(&out[..n]).unwrap();
/// assert!(response.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
/// assert!(response.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
/// assert!(response.contains("Sec-WebSocket-Protocol: chat\r\n"));
/// // Bytes after req.len() in the input are the client's first frames.
/// # Ok::<(), sockless::HandshakeError>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ServerHandshake {
    config: Config,
    scanner: HeadScanner,
}

impl ServerHandshake {
    /// A handshake that will make connections with `config`, and bounds the head by
    /// `config.handshake`.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            scanner: HeadScanner::default(),
        }
    }

    /// Parses the request from `input`: everything received so far, from the request's first byte
    /// (append new reads to the same buffer and call again; bytes already scanned are not scanned
    /// again). `headers` receives the header lines; its length, or
    /// [`HandshakeLimits::max_headers`](crate::HandshakeLimits::max_headers) if smaller, caps their
    /// number.
    ///
    /// Returns [`Status::Partial`] until the head is complete, then the validated [`Request`].
    ///
    /// # Errors
    /// A [`HandshakeError`] for malformed HTTP or a request that is not a valid WebSocket upgrade;
    /// answer it with [`write_error`](Self::write_error) (its [`status`](HandshakeError::status)
    /// says which HTTP status) and close the connection. A plain HTTP request without
    /// `Upgrade: websocket` is [`HandshakeError::NotUpgrade`], so a server that also serves plain
    /// HTTP can recognise it; that includes an HTTP/1.0 request without `Host` (an HTTP/1.0
    /// request that asks to upgrade is [`HandshakeError::HttpVersion`]). A request that announces
    /// a body, or an `Expect` other than `100-continue`, is refused.
    pub fn parse<'h, 'b>(
        &mut self,
        input: &'b [u8],
        headers: &'h mut [Header<'b>],
    ) -> Result<Status<Request<'h, 'b>>, HandshakeError> {
        let cap = headers.len().min(self.config.handshake.max_headers);
        let headers = headers.get_mut(..cap).unwrap_or_default();
        let mut req = httparse::Request::new(headers);
        // A request head nearly always arrives whole in the first read: parse it in one pass,
        // with no scan for its end first. Anything else (an unfinished or malformed head, one
        // over the limit) takes the scanning path from the start, so the result is the same as
        // for any other chunking, and a head fed in pieces is still looked at once per byte
        // after this first attempt. So does a head that starts with an empty line: httparse
        // skips those, where the scanner takes the first blank line for the end of the head.
        let fast = self.scanner.is_fresh() && !matches!(input.first(), Some(b'\r' | b'\n'));
        let end = match fast.then(|| req.parse(input)) {
            Some(Ok(httparse::Status::Complete(end)))
                if end <= self.config.handshake.max_head_len =>
            {
                self.scanner.found(end);
                end
            }
            _ => {
                let Some(end) = self.scanner.scan(input, &self.config.handshake)? else {
                    return Ok(Status::Partial);
                };
                req = httparse::Request::new(core::mem::take(&mut req.headers));
                match req.parse(input.get(..end).unwrap_or_default()) {
                    Ok(httparse::Status::Complete(_)) => {}
                    Err(httparse::Error::TooManyHeaders) => {
                        return Err(HandshakeError::TooManyHeaders)
                    }
                    _ => return Err(HandshakeError::MalformedHttp),
                }
                end
            }
        };
        let (Some(method), Some(path), Some(version)) = (req.method, req.path, req.version) else {
            return Err(HandshakeError::MalformedHttp);
        };
        let headers: &'h [Header<'b>] = req.headers;
        Request::validated(method, version, path, headers, end, self.config).map(Status::Complete)
    }

    /// How many request bytes the head scanner has examined: each byte once, however the request
    /// is fed (the tests check the linear-work guarantee with it).
    #[cfg(test)]
    pub(crate) fn bytes_examined(&self) -> usize {
        self.scanner.examined()
    }

    /// Writes the response for a handshake error: its status line with `Content-Length: 0` and
    /// `Connection: close`, plus `Upgrade: websocket`, `Sec-WebSocket-Version: 13` and
    /// `Connection: Upgrade, close` for 426 (RFC 7230 6.7) and `Allow: GET` for 405. Close the
    /// connection after writing it.
    ///
    /// # Errors
    /// [`BufferTooSmall`] with the size needed (at most 160 bytes); nothing is written.
    pub fn write_error(
        &self,
        error: HandshakeError,
        out: &mut [u8],
    ) -> Result<usize, BufferTooSmall> {
        super::write_error_response(error.status(), out)
    }
}

/// A header that must appear exactly once.
#[derive(Default)]
pub(super) struct Repeated<'b> {
    value: Option<&'b [u8]>,
    pub(super) repeated: bool,
}

impl<'b> Repeated<'b> {
    pub(super) fn see(&mut self, value: &'b [u8]) {
        self.repeated |= self.value.is_some();
        self.value = Some(value);
    }

    /// The value if the header appeared exactly once.
    pub(super) fn only(&self) -> Option<&'b [u8]> {
        self.value.filter(|_| !self.repeated)
    }
}

/// What validation found; `host` and `key` are ASCII (checked by their grammars), and become
/// `&str` only when asked for.
struct Validated<'b> {
    host: &'b [u8],
    key: &'b [u8],
    expect_continue: bool,
}

/// Whether a `Content-Length` value says there is no body: `1*DIGIT` with the value 0.
fn is_zero_length(value: &[u8]) -> bool {
    let v = trim(value);
    !v.is_empty() && v.iter().all(|&b| b == b'0')
}

/// Every rule RFC 6455 4.2.1 sets for the request, and the HTTP/1.1 rules it depends on (RFC 7230
/// 5.4 Host, 3.3 body, RFC 7231 5.1.1 Expect), in an order that gives an old or plain client the
/// most useful status.
fn validate<'b>(
    method: &str,
    http_minor: u8,
    headers: &[Header<'b>],
) -> Result<Validated<'b>, HandshakeError> {
    if method != "GET" {
        return Err(HandshakeError::MethodNotGet);
    }
    // One pass over the headers; the checks below then run in the order that gives an old or
    // plain client the most useful status.
    let mut host = Repeated::default();
    let mut version = Repeated::default();
    let mut key = Repeated::default();
    let (mut upgrade, mut connection, mut lists_ok) = (false, false, true);
    let (mut length_ok, mut transfer_encoding) = (true, false);
    let (mut expect_ok, mut expect_continue) = (true, false);
    for h in headers {
        // Matched on length first, so most headers cost one comparison of lengths.
        let is = |name: &str| h.name.eq_ignore_ascii_case(name);
        match h.name.len() {
            4 if is("host") => host.see(h.value),
            6 if is("expect") => {
                let ok = trim(h.value).eq_ignore_ascii_case(b"100-continue");
                expect_ok &= ok;
                expect_continue |= ok;
            }
            7 if is("upgrade") => upgrade |= list::contains_token(h.value, "websocket"),
            10 if is("connection") => connection |= list::contains_token(h.value, "upgrade"),
            14 if is("content-length") => length_ok &= is_zero_length(h.value),
            17 if is("sec-websocket-key") => key.see(h.value),
            17 if is("transfer-encoding") => transfer_encoding = true,
            21 if is("sec-websocket-version") => version.see(h.value),
            22 if is("sec-websocket-protocol") => {
                lists_ok &= list::tokens(h.value).all(list::is_token);
            }
            24 if is("sec-websocket-extensions") => {
                lists_ok &= list::extensions(h.value).all(|e| e.is_ok());
            }
            _ => {}
        }
    }
    // HTTP/1.0 cannot upgrade (RFC 6455 4.1 asks for 1.1); without an upgrade it is a plain
    // request, which needs no Host (RFC 7230 5.4 asks it of 1.1 only).
    if http_minor < 1 && upgrade {
        return Err(HandshakeError::HttpVersion);
    }
    let host = match (host.only(), host.repeated) {
        (Some(h), _) if trim(h).is_empty() => return Err(HandshakeError::MissingHost),
        (Some(h), _) if uri::is_valid_host(trim(h)) => trim(h),
        (Some(_), _) => return Err(HandshakeError::InvalidHost),
        (None, false) if http_minor < 1 => b"",
        (None, _) => return Err(HandshakeError::MissingHost),
    };
    if !upgrade {
        return Err(HandshakeError::NotUpgrade);
    }
    if !connection {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    match version.only() {
        Some(v) if trim(v) == b"13" => {}
        Some(_) => return Err(HandshakeError::UnsupportedVersion),
        None => return Err(HandshakeError::MissingVersion),
    }
    let key = match key.only() {
        Some(k) if super::is_valid_key(trim(k)) => trim(k),
        _ => return Err(HandshakeError::InvalidKey),
    };
    if !lists_ok {
        return Err(HandshakeError::InvalidHeaderList);
    }
    // A body would be read as frames. Transfer-Encoding first: it overrides Content-Length
    // (RFC 7230 3.3.3).
    if transfer_encoding {
        return Err(HandshakeError::UnexpectedTransferEncoding);
    }
    if !length_ok {
        return Err(HandshakeError::UnexpectedContentLength);
    }
    if !expect_ok {
        return Err(HandshakeError::UnsupportedExpectation);
    }
    Ok(Validated {
        host,
        key,
        expect_continue,
    })
}

/// A complete, valid upgrade request. Decide, then [`accept`](Self::accept) or
/// [`reject`](Self::reject) it.
#[derive(Debug)]
pub struct Request<'h, 'b> {
    path: &'b str,
    /// ASCII: `uri-host [ ":" port ]`.
    host: &'b [u8],
    /// ASCII: base64 of 16 bytes.
    key: &'b [u8],
    /// The request had `Expect: 100-continue`: a `100 Continue` goes before the `101`.
    expect_continue: bool,
    headers: &'h [Header<'b>],
    len: usize,
    config: Config,
}

impl<'h, 'b> Request<'h, 'b> {
    /// Validates a parsed request head (method, HTTP minor version, target and header lines,
    /// `len` bytes long) and makes the request: the one path from a head to a [`Request`], for
    /// heads parsed here and heads another HTTP stack parsed.
    pub(super) fn validated(
        method: &str,
        http_minor: u8,
        path: &'b str,
        headers: &'h [Header<'b>],
        len: usize,
        config: Config,
    ) -> Result<Self, HandshakeError> {
        let v = validate(method, http_minor, headers)?;
        Ok(Request {
            path,
            host: v.host,
            key: v.key,
            expect_continue: v.expect_continue,
            headers,
            len,
            config,
        })
    }

    /// The configuration the connection is made with.
    pub(super) fn config(&self) -> Config {
        self.config
    }

    /// The request target, as sent (path and query).
    pub fn path(&self) -> &'b str {
        self.path
    }

    /// The `Host` header, checked to be `uri-host [ ":" port ]` with a non-empty host (RFC 7230
    /// 5.4, RFC 3986 3.2.2).
    pub fn host(&self) -> &'b str {
        // ASCII by the host grammar, so the conversion cannot fail.
        core::str::from_utf8(self.host).unwrap_or_default()
    }

    /// The `Origin` header, if present and UTF-8. Browsers always send it: a server that serves
    /// browsers should check it against the origins it trusts (RFC 6455 10.2).
    pub fn origin(&self) -> Option<&'b str> {
        self.header("origin")
            .and_then(|v| core::str::from_utf8(v).ok())
    }

    /// The `Sec-WebSocket-Key` header.
    pub fn key(&self) -> &'b str {
        // ASCII (base64), so the conversion cannot fail.
        core::str::from_utf8(self.key).unwrap_or_default()
    }

    /// The subprotocols offered, in the client's order of preference, across all
    /// `Sec-WebSocket-Protocol` headers.
    pub fn protocols(&self) -> impl Iterator<Item = &'b str> + '_ {
        offered_protocols(self.headers)
    }

    /// The extensions offered, with their parameters, across all `Sec-WebSocket-Extensions`
    /// headers (already checked against the grammar).
    pub fn extensions(&self) -> impl Iterator<Item = Extension<'b>> + '_ {
        offered_extensions(self.headers)
    }

    /// The value of the first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        values(self.headers, name).next()
    }

    /// All header lines.
    pub fn headers(&self) -> &'h [Header<'b>] {
        self.headers
    }

    /// The length of the request head. Input bytes after it are WebSocket frames; pass them to
    /// [`Connection::receive`].
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Accepts the upgrade: writes the `101 Switching Protocols` response into `out` and returns
    /// its length with the server [`Connection`]. Extensions are agreed only by
    /// [`Accept::extension`], whose value goes into `Sec-WebSocket-Extensions` and whose RSV bits
    /// the connection lets the peer set ([`Connection::with_extension_bits`]); offers not named
    /// there are declined by omission. If the request had `Expect: 100-continue`, a
    /// `100 Continue` response goes before the `101` in the same output (RFC 7230 6.7), and the
    /// length counts both.
    ///
    /// # Errors
    /// [`HandshakeError::ProtocolNotOffered`] if the chosen subprotocol was not offered,
    /// [`HandshakeError::ExtensionNotOffered`] if the extension value names one the client did
    /// not offer, [`HandshakeError::InvalidHeader`] for an extension value that is not a list of
    /// extensions (or names one twice) or an extra header that cannot be written, and
    /// [`HandshakeError::BufferTooSmall`]; nothing is written, and the request can be accepted
    /// again.
    pub fn accept(
        &self,
        accept: &Accept<'_>,
        out: &mut [u8],
    ) -> Result<(usize, Connection), HandshakeError> {
        check_accept(self.headers, accept)?;
        let accept_key = AcceptKey::from_key(self.key);
        const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
        const SWITCHING: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n";
        // Counted up front, so that the response is written in one pass (the debug build checks
        // the count against what is written).
        let needed = if self.expect_continue {
            CONTINUE.len()
        } else {
            0
        } + SWITCHING.len()
            + Writer::header_len("Upgrade", b"websocket")
            + Writer::header_len("Connection", b"Upgrade")
            + Writer::header_len("Sec-WebSocket-Accept", accept_key.as_bytes())
            + accept.protocol.map_or(0, |p| {
                Writer::header_len("Sec-WebSocket-Protocol", p.as_bytes())
            })
            + accept.extension.map_or(0, |(value, _)| {
                Writer::header_len("Sec-WebSocket-Extensions", value.as_bytes())
            })
            + accept
                .headers
                .iter()
                .map(|(name, value)| Writer::header_len(name, value))
                .sum::<usize>()
            + 2;
        let n = Writer::write_counted(out, needed, |w| {
            if self.expect_continue {
                w.put(CONTINUE);
            }
            w.put(SWITCHING);
            w.header("Upgrade", b"websocket");
            w.header("Connection", b"Upgrade");
            w.header("Sec-WebSocket-Accept", accept_key.as_bytes());
            if let Some(p) = accept.protocol {
                w.header("Sec-WebSocket-Protocol", p.as_bytes());
            }
            if let Some((value, _)) = accept.extension {
                w.header("Sec-WebSocket-Extensions", value.as_bytes());
            }
            for (name, value) in accept.headers {
                w.header(name, value);
            }
            w.put(b"\r\n");
        })?;
        Ok((
            n,
            Connection::server(self.config).with_extension_bits(accept.bits()),
        ))
    }

    /// Refuses the upgrade with an HTTP `status` (for example 403 for an untrusted origin, 404 for
    /// an unknown path): writes a response with no body and `Connection: close`. The status line
    /// has the registered reason phrase of `status` ("Error" for a code the IANA registry does
    /// not name); `Content-Length: 0` is written except for 1xx, 204 and 304 (RFC 7230 3.3.2), and
    /// 405 and 426 get the headers [`ServerHandshake::write_error`] gives them.
    ///
    /// # Errors
    /// [`BufferTooSmall`] with the size needed; nothing is written.
    pub fn reject(&self, status: u16, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        super::write_error_response(status, out)
    }
}

/// The subprotocols offered in `headers`, in order, across all `Sec-WebSocket-Protocol` headers.
pub(super) fn offered_protocols<'h, 'b>(
    headers: &'h [Header<'b>],
) -> impl Iterator<Item = &'b str> + 'h {
    values(headers, "sec-websocket-protocol")
        .flat_map(list::tokens)
        .filter_map(|t| core::str::from_utf8(t).ok())
}

/// The extensions offered in `headers`, in order, across all `Sec-WebSocket-Extensions` headers.
pub(super) fn offered_extensions<'h, 'b>(
    headers: &'h [Header<'b>],
) -> impl Iterator<Item = Extension<'b>> + 'h {
    values(headers, "sec-websocket-extensions")
        .flat_map(list::extensions)
        .filter_map(Result::ok)
}

/// Checks an [`Accept`] against the offers in the request's `headers`: the subprotocol was
/// offered, the extension answer is a valid list of offered extensions, and the extra headers
/// can be written.
pub(super) fn check_accept(
    headers: &[Header<'_>],
    accept: &Accept<'_>,
) -> Result<(), HandshakeError> {
    if let Some(p) = accept.protocol {
        if !offered_protocols(headers).any(|offered| offered == p) {
            return Err(HandshakeError::ProtocolNotOffered);
        }
    }
    if let Some((value, _)) = accept.extension {
        check_extension_answer(headers, value.as_bytes())?;
    }
    for (name, value) in accept.headers {
        super::check_extra_header(name, value)?;
    }
    Ok(())
}

/// Checks the server's `Sec-WebSocket-Extensions` answer: a header value that is a non-empty list
/// of extensions (RFC 6455 9.1), each offered by the client in `headers`, none twice.
fn check_extension_answer(headers: &[Header<'_>], value: &[u8]) -> Result<(), HandshakeError> {
    let answer = || list::extensions(value);
    if !super::is_field_value(value) || answer().next().is_none() {
        return Err(HandshakeError::InvalidHeader);
    }
    for (i, ext) in answer().enumerate() {
        let ext = ext.map_err(|_| HandshakeError::InvalidHeader)?;
        if !offered_extensions(headers).any(|o| o.name().eq_ignore_ascii_case(ext.name())) {
            return Err(HandshakeError::ExtensionNotOffered);
        }
        let same = |e: Result<Extension<'_>, _>| {
            e.is_ok_and(|e| e.name().eq_ignore_ascii_case(ext.name()))
        };
        if answer().take(i).any(same) {
            return Err(HandshakeError::InvalidHeader);
        }
    }
    Ok(())
}

/// How to accept a request: the chosen subprotocol, the agreed extensions and extra response
/// headers.
///
/// ```
/// use sockless::handshake::Accept;
/// use sockless::Rsv;
/// let accept = Accept::new()
///     .protocol("chat")
///     .extension("permessage-deflate; server_no_context_takeover", Rsv::RSV1)
///     .headers(&[("Server", b"sockless")]);
/// # let _ = accept;
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Accept<'a> {
    pub(super) protocol: Option<&'a str>,
    pub(super) extension: Option<(&'a str, Rsv)>,
    pub(super) headers: &'a [(&'a str, &'a [u8])],
}

impl<'a> Accept<'a> {
    /// Accept with no subprotocol, no extension and no extra headers.
    pub const fn new() -> Self {
        Self {
            protocol: None,
            extension: None,
            headers: &[],
        }
    }

    /// Agree to extensions: `value` is the `Sec-WebSocket-Extensions` answer, as it goes on the
    /// wire (`"permessage-deflate; server_no_context_takeover"`; several extensions
    /// comma-separated, each one the client offered, named once), and `bits` the RSV bits those
    /// extensions own, which the connection [`Request::accept`] makes then accepts on the first
    /// frame of a message and lets [`Connection::send_frame_with`] set. The extension's layer
    /// chooses both from the offers in [`Request::extensions`].
    ///
    /// ```
    /// use sockless::handshake::{Accept, ServerHandshake, EMPTY_HEADER};
    /// use sockless::{Config, Rsv, Status};
    ///
    /// let request = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    ///     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
    ///     Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";
    /// let mut handshake = ServerHandshake::new(Config::default());
    /// let mut headers = [EMPTY_HEADER; 16];
    /// let Status::Complete(req) = handshake.parse(request, &mut headers)? else { unreachable!() };
    /// let offered = req.extensions().any(|e| e.name() == "permessage-deflate");
    /// let accept = if offered {
    ///     Accept::new().extension("permessage-deflate", Rsv::RSV1)
    /// } else {
    ///     Accept::new()
    /// };
    /// let mut out = [0u8; 256];
    /// let (n, connection) = req.accept(&accept, &mut out)?;
    /// assert!(out[..n].windows(44).any(|w| w == b"Sec-WebSocket-Extensions: permessage-deflate"));
    /// assert_eq!(connection.extension_bits(), Rsv::RSV1);
    /// # Ok::<(), sockless::HandshakeError>(())
    /// ```
    pub const fn extension(mut self, value: &'a str, bits: Rsv) -> Self {
        self.extension = Some((value, bits));
        self
    }

    /// Choose `protocol` (a `&str` or an `Option<&str>`), which must be one the client offered.
    pub fn protocol(mut self, protocol: impl Into<Option<&'a str>>) -> Self {
        self.protocol = protocol.into();
        self
    }

    /// Add headers to the response (not the ones the handshake writes itself).
    pub const fn headers(mut self, headers: &'a [(&'a str, &'a [u8])]) -> Self {
        self.headers = headers;
        self
    }

    /// The RSV bits the agreed extensions own (none without an extension).
    pub(super) fn bits(&self) -> Rsv {
        self.extension.map_or(Rsv::NONE, |(_, bits)| bits)
    }
}

#[cfg(test)]
mod tests;
