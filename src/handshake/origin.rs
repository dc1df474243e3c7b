//! Origin policy: which web pages may open a WebSocket to this server.
//!
//! # Cross-site WebSocket hijacking
//!
//! A browser lets any page open a WebSocket to any server, and the same-origin policy that keeps
//! one site from reading another's HTTP responses does not apply: once the upgrade succeeds, the
//! page reads and writes the connection freely. The browser also sends its **ambient
//! credentials** with the upgrade request: the server's cookies, HTTP authentication, a TLS
//! client certificate. So if a user who is logged in to `https://bank.example` visits
//! `https://evil.example`, a script there can open `wss://bank.example/socket`, the browser
//! attaches the bank's session cookie, and a server that authenticates by that cookie hands the
//! attacker's page a connection acting as the user: it can read the user's data and send
//! commands in the user's name. This is cross-site WebSocket hijacking (CSWSH), the WebSocket
//! form of cross-site request forgery, except that the attacker also reads the answers.
//!
//! The defence is the `Origin` header (RFC 6454, RFC 6455 section 10.2). A browser always sends
//! it with a WebSocket request, a script cannot change it, and it names the site whose page made
//! the request. **A server that accepts browser connections and relies on cookies, or any other
//! credential the browser adds by itself, must compare `Origin` with the sites it trusts and
//! refuse the others** (with 403, say: [`Request::reject`]). A server that authenticates only
//! with something the page must supply explicitly (a token in the first message, say) is not
//! exposed the same way, though checking `Origin` costs nothing.
//!
//! [`Request::origin_allowed`] is that check in one call. A request **without** `Origin` is
//! allowed: browsers always send one, so a request without it comes from a program (a command
//! line client, another server), which carries no browser's ambient credentials and could send
//! any `Origin` it liked anyway. The check protects browser users; it authenticates no one.
//!
//! # How origins compare
//!
//! An origin is compared as its RFC 6454 serialization `scheme "://" host [ ":" port ]` (see
//! [`Origin`]): the scheme and host are compared without regard to ASCII case, and a port equal
//! to the scheme's default (80 for `http` and `ws`, 443 for `https` and `wss`) is the same as no
//! port. Nothing else is normalised: no path, query or trailing `/` is allowed, an IPv6 address is
//! compared as written (browsers write it in the canonical form of RFC 5952), and an
//! internationalised host must be given as the browser sends it, in its `xn--` form.
//!
//! The opaque origin `null` (sandboxed frames, `file:` pages, some redirects) never equals a
//! host origin; it is allowed only if `"null"` itself is in the list, and since every opaque
//! origin is sent as the same `null`, allowing it allows all of them.
//!
//! ```
//! use sockless::handshake::{Origin, ServerHandshake, EMPTY_HEADER};
//! use sockless::{Config, Status};
//!
//! let head = b"GET /chat HTTP/1.1\r\nHost: chat.example\r\nUpgrade: websocket\r\n\
//!     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
//!     Sec-WebSocket-Version: 13\r\nOrigin: HTTPS://Chat.Example:443\r\n\r\n";
//! let mut handshake = ServerHandshake::new(Config::default());
//! let mut headers = [EMPTY_HEADER; 16];
//! let Ok(Status::Complete(request)) = handshake.parse(head, &mut headers) else {
//!     panic!("a valid request");
//! };
//! assert!(request.origin_allowed(&["https://chat.example"]));
//! assert!(!request.origin_allowed(&["https://evil.example", "null"]));
//!
//! let mut out = [0u8; 256];
//! if !request.origin_allowed(&["https://chat.example"]) {
//!     let n = request.reject(403, &mut out).expect("256 bytes are enough");
//!     // Write out[..n], then close the connection.
//!     # let _ = n;
//! }
//! assert_eq!(Origin::parse("http://a.example:80"), Origin::parse("HTTP://A.EXAMPLE"));
//! ```

use super::{values, Request};

/// A parsed origin serialization (RFC 6454 section 6.2): `scheme "://" host [ ":" port ]`.
///
/// Two origins are equal when their schemes and hosts are equal without regard to ASCII case
/// and their ports are equal once a default port (80 for `http` and `ws`, 443 for `https` and
/// `wss`) is taken as no port.
///
/// ```
/// use sockless::handshake::Origin;
/// let origin = Origin::parse("https://Example.COM:8443").unwrap();
/// assert_eq!((origin.scheme(), origin.host(), origin.port()), ("https", "Example.COM", Some(8443)));
/// assert_eq!(Origin::parse("https://example.com:443"), Origin::parse("https://example.com"));
/// assert_ne!(Origin::parse("http://example.com"), Origin::parse("https://example.com"));
/// assert_eq!(Origin::parse("null"), None); // opaque: not a host origin
/// assert_eq!(Origin::parse("https://example.com/"), None); // an origin has no path
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Origin<'a> {
    scheme: &'a str,
    host: &'a str,
    /// `None` when absent or equal to the scheme's default port.
    port: Option<u16>,
}

impl<'a> Origin<'a> {
    /// Parses an origin serialization. Returns `None` for `null` (an opaque origin) and for
    /// anything that is not `scheme "://" host [ ":" port ]`: a path, query, fragment or user
    /// info, an empty host or port, a port above 65535, whitespace or a control character.
    pub fn parse(value: &'a str) -> Option<Self> {
        let (scheme, rest) = value.split_once("://")?;
        let mut chars = scheme.bytes();
        let scheme_ok = chars.next().is_some_and(|b| b.is_ascii_alphabetic())
            && chars.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !scheme_ok {
            return None;
        }
        let (host, port) = match rest.strip_prefix('[') {
            // An IPv6 address: `[` address `]`, then perhaps a port.
            Some(bracketed) => {
                let (address, after) = bracketed.split_once(']')?;
                let ok = !address.is_empty()
                    && address
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'));
                if !ok {
                    return None;
                }
                let host = rest.get(..address.len() + 2)?;
                (host, after)
            }
            None => {
                let end = rest.find(':').unwrap_or(rest.len());
                let (host, after) = rest.split_at_checked(end)?;
                let ok = !host.is_empty() && host.bytes().all(is_reg_name_byte);
                if !ok {
                    return None;
                }
                (host, after)
            }
        };
        let port = match port {
            "" => None,
            port => {
                let digits = port.strip_prefix(':')?;
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                Some(digits.parse::<u16>().ok()?)
            }
        };
        let port = port.filter(|&p| Some(p) != default_port(scheme));
        Some(Self { scheme, host, port })
    }

    /// The scheme, as written.
    pub fn scheme(&self) -> &'a str {
        self.scheme
    }

    /// The host, as written (an IPv6 address with its brackets).
    pub fn host(&self) -> &'a str {
        self.host
    }

    /// The port, or `None` if absent or the scheme's default.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
}

impl PartialEq for Origin<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.scheme.eq_ignore_ascii_case(other.scheme)
            && self.host.eq_ignore_ascii_case(other.host)
            && self.port == other.port
    }
}

impl Eq for Origin<'_> {}

/// Bytes of a registered name or IPv4 address in an origin (RFC 3986 `reg-name`, without
/// percent-encoding, which an origin serialization never has).
fn is_reg_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// The default port of the schemes a WebSocket origin has in practice.
fn default_port(scheme: &str) -> Option<u16> {
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("ws") {
        Some(80)
    } else if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("wss") {
        Some(443)
    } else {
        None
    }
}

/// Whether the `Origin` header value `origin` is one of `allowed` (origin serializations such
/// as `"https://app.example"`, or `"null"`), by the rules in the [module docs](crate::handshake::origin). An entry
/// that does not parse as an origin matches nothing (except the literal `"null"`), and neither
/// does a value that is not UTF-8. For a request parsed by another HTTP stack; on a
/// [`Request`], use [`Request::origin_allowed`].
///
/// ```
/// use sockless::handshake::origin_allowed;
/// let allowed = ["https://app.example", "http://localhost:8080"];
/// assert!(origin_allowed(&allowed, b"https://APP.example:443"));
/// assert!(origin_allowed(&allowed, b"http://localhost:8080"));
/// assert!(!origin_allowed(&allowed, b"http://localhost"));
/// assert!(!origin_allowed(&allowed, b"https://app.example.evil.example"));
/// assert!(!origin_allowed(&allowed, b"null"));
/// assert!(origin_allowed(&["null"], b"null"));
/// ```
pub fn origin_allowed(allowed: &[&str], origin: &[u8]) -> bool {
    let Ok(origin) = core::str::from_utf8(origin) else {
        return false;
    };
    if origin == "null" {
        return allowed.contains(&"null");
    }
    let Some(origin) = Origin::parse(origin) else {
        return false;
    };
    allowed
        .iter()
        .any(|entry| Origin::parse(entry).is_some_and(|entry| entry == origin))
}

impl Request<'_, '_> {
    /// Whether the request may proceed under an origin policy that allows the origins in
    /// `allowed` (see the [`origin`](crate::handshake::origin) module docs for the comparison rules
    /// and why a server that uses cookies needs this): `true` if the request has no `Origin`
    /// header (a client that is not a browser), or if every `Origin` header it has (a browser
    /// sends one) is allowed. An empty list allows only requests without `Origin`.
    ///
    /// ```
    /// use sockless::handshake::{ServerHandshake, EMPTY_HEADER};
    /// use sockless::{Config, Status};
    ///
    /// let head = b"GET / HTTP/1.1\r\nHost: a.example\r\nUpgrade: websocket\r\n\
    ///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    ///     Sec-WebSocket-Version: 13\r\nOrigin: http://evil.example\r\n\r\n";
    /// let mut headers = [EMPTY_HEADER; 16];
    /// let Ok(Status::Complete(request)) =
    ///     ServerHandshake::new(Config::default()).parse(head, &mut headers)
    /// else {
    ///     panic!("a valid request");
    /// };
    /// assert!(!request.origin_allowed(&["http://a.example"]));
    /// let mut out = [0u8; 128];
    /// let n = request.reject(403, &mut out).unwrap();
    /// assert!(out[..n].starts_with(b"HTTP/1.1 403 Forbidden\r\n"));
    /// ```
    pub fn origin_allowed(&self, allowed: &[&str]) -> bool {
        values(self.headers(), "origin").all(|origin| origin_allowed(allowed, origin))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::handshake::{ServerHandshake, EMPTY_HEADER};
    use crate::{Config, Status};

    fn same(a: &str, b: &str) -> bool {
        match (Origin::parse(a), Origin::parse(b)) {
            (Some(a), Some(b)) => a == b,
            _ => panic!("{a:?} or {b:?} does not parse"),
        }
    }

    #[test]
    fn scheme_and_host_compare_without_case() {
        assert!(same("http://a.example", "HTTP://A.Example"));
        assert!(same("https://[::1]:8443", "HTTPS://[::1]:8443"));
        assert!(same("https://[fe80::a]", "https://[FE80::A]"));
        assert!(!same("http://a.example", "https://a.example"));
        assert!(!same("http://a.example", "http://b.example"));
        assert!(!same("http://a.example", "http://a.example.evil.example"));
        assert!(!same("http://a.example", "http://xa.example"));
    }

    #[test]
    fn default_ports_are_normalised() {
        assert!(same("http://a.example:80", "http://a.example"));
        assert!(same("https://a.example:443", "https://a.example"));
        assert!(same("ws://a.example:80", "ws://a.example"));
        assert!(same("wss://a.example:443", "WSS://a.example"));
        assert!(same("http://a.example:0080", "http://a.example"));
        assert!(!same("http://a.example:443", "http://a.example"));
        assert!(!same("https://a.example:80", "https://a.example"));
        assert!(!same("http://a.example:8080", "http://a.example"));
        assert!(!same("http://a.example:8080", "http://a.example:8081"));
        // No default port is known for other schemes: an explicit port stays.
        assert!(!same("foo://a.example:80", "foo://a.example"));
        assert!(same("foo://a.example:80", "FOO://a.example:80"));
    }

    #[test]
    fn what_is_not_an_origin() {
        for bad in [
            "",
            "null",
            "a.example",
            "http:/a.example",
            "http://",
            "://a.example",
            "1http://a.example",
            "ht tp://a.example",
            "http://a.example/",
            "http://a.example/path",
            "http://a.example?q",
            "http://a.example#f",
            "http://user@a.example",
            "http://a.example:",
            "http://a.example:65536",
            "http://a.example:-1",
            "http://a.example:8o",
            "http://a.example:80:80",
            "http://a .example",
            "http://a.example\r\nX: y",
            "http://[::1",
            "http://[]",
            "http://[::1]x",
            "http://[::1]:",
            "http://[zz::1]",
            "http://é.example",
        ] {
            assert_eq!(Origin::parse(bad), None, "{bad:?}");
        }
        let ipv6 = Origin::parse("http://[::1]:9001").unwrap();
        assert_eq!((ipv6.host(), ipv6.port()), ("[::1]", Some(9001)));
        let default = Origin::parse("http://127.0.0.1:80").unwrap();
        assert_eq!((default.host(), default.port()), ("127.0.0.1", None));
    }

    #[test]
    fn null_matches_only_a_literal_null() {
        assert!(!origin_allowed(&["http://a.example"], b"null"));
        assert!(!origin_allowed(&[], b"null"));
        assert!(origin_allowed(&["http://a.example", "null"], b"null"));
        // `null` in the list allows no host origin, and a malformed entry matches nothing.
        assert!(!origin_allowed(&["null"], b"http://a.example"));
        assert!(!origin_allowed(&["http://a.example/"], b"http://a.example"));
        assert!(!origin_allowed(&["NULL"], b"null"));
        assert!(!origin_allowed(&["null"], b"NULL"));
    }

    #[test]
    fn header_values_that_are_not_origins_are_refused() {
        let allowed = ["http://a.example"];
        assert!(origin_allowed(&allowed, b"http://a.example"));
        assert!(!origin_allowed(&allowed, b"http://a.example/"));
        assert!(!origin_allowed(
            &allowed,
            b"http://a.example http://b.example"
        ));
        assert!(!origin_allowed(&allowed, b"http://a.\xffexample"));
        assert!(!origin_allowed(&allowed, b""));
    }

    fn request_with(origins: &[&str], allowed: &[&str]) -> bool {
        let mut head = std::string::String::from(
            "GET / HTTP/1.1\r\nHost: a.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
        );
        for origin in origins {
            head.push_str("Origin: ");
            head.push_str(origin);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let mut headers = [EMPTY_HEADER; 16];
        let mut handshake = ServerHandshake::new(Config::default());
        match handshake.parse(head.as_bytes(), &mut headers) {
            Ok(Status::Complete(request)) => request.origin_allowed(allowed),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn requests_without_origin_are_allowed_and_every_origin_must_be() {
        let allowed = ["http://a.example", "https://b.example:8443"];
        assert!(request_with(&[], &allowed));
        assert!(request_with(&[], &[]));
        assert!(request_with(&["http://a.example"], &allowed));
        assert!(request_with(&["HTTPS://B.example:8443"], &allowed));
        assert!(!request_with(&["http://evil.example"], &allowed));
        assert!(!request_with(&["http://a.example"], &[]));
        assert!(!request_with(&["https://b.example"], &allowed));
        // A repeated header (no browser sends two): each value must be allowed.
        assert!(!request_with(
            &["http://a.example", "http://evil.example"],
            &allowed
        ));
        assert!(!request_with(
            &["http://evil.example", "http://a.example"],
            &allowed
        ));
        assert!(request_with(
            &["http://a.example", "https://b.example:8443"],
            &allowed
        ));
    }
}
