//! What the client examples (`echo_client`, `client`, `wss_client`) share: parsing the `ws://` or
//! `wss://` URL and connecting to it. Each includes it with `#[path = "common/url.rs"] mod url;`.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The parts of a WebSocket URL a client needs.
pub struct Url {
    /// The host to connect to (and, for `wss://`, to check the certificate against); an IPv6
    /// address without its brackets.
    pub host: String,
    pub port: u16,
    /// The `Host` header: the URL's authority as written.
    pub authority: String,
    /// The request target: path and query as written, `/` if empty.
    pub target: String,
}

/// Parses `SCHEME://HOST[:PORT][/PATH][?QUERY]`, where `scheme` is `ws` or `wss` (matched
/// without regard to case) and the port defaults to `default_port`. No fragment, no user info.
pub fn parse_url(url: &str, scheme: &str, default_port: u16) -> Result<Url, String> {
    let prefix = format!("{scheme}://");
    let rest = url
        .get(..prefix.len())
        .filter(|given| given.eq_ignore_ascii_case(&prefix))
        .map(|_| &url[prefix.len()..])
        .ok_or_else(|| format!("{url:?}: only {prefix} URLs are supported"))?;
    if rest.contains('#') {
        return Err(format!("{url:?}: a WebSocket URL has no fragment"));
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(end);
    if authority.contains('@') {
        return Err(format!("{url:?}: user info is not supported"));
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed
            .split_once(']')
            .ok_or_else(|| format!("{url:?}: no ']' after the IPv6 address"))?,
        None => authority.split_at(authority.find(':').unwrap_or(authority.len())),
    };
    let port = match port {
        "" => default_port,
        port => port
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("{url:?}: bad port"))?,
    };
    if host.is_empty() {
        return Err(format!("{url:?}: no host"));
    }
    let target = match target {
        "" => "/".to_owned(),
        query if query.starts_with('?') => format!("/{query}"),
        path => path.to_owned(),
    };
    Ok(Url {
        host: host.to_owned(),
        port,
        authority: authority.to_owned(),
        target,
    })
}

/// Resolves the host and connects to the first address that answers, each within 10 s.
pub fn connect(url: &Url) -> Result<TcpStream, Box<dyn std::error::Error>> {
    let mut last_error = None;
    for addr in (url.host.as_str(), url.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last_error = Some(e),
        }
    }
    Err(match last_error {
        Some(e) => format!("cannot connect to {}: {e}", url.authority).into(),
        None => format!("{}: no address found", url.host).into(),
    })
}
