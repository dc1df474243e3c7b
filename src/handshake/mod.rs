//! The opening handshake (RFC 6455 section 4), for both roles.
//!
//! The two phases are types: a handshake object parses the peer's HTTP head, and only a value that
//! a successful parse made ([`Request`] on the server, [`Response`] on the client) can turn into a
//! [`Connection`](crate::Connection).
//!
//! Parsing is incremental. Keep appending what you read to one buffer and pass the whole buffer
//! each time: the handshake remembers how far it has looked for the blank line that ends the head,
//! so each byte is scanned for it once, and the head is parsed (by `httparse`) once, when complete.
//! The head is bounded by [`HandshakeLimits`]. Bytes after the head
//! (`len()` of the request or response) already belong to the frame stream: hand them to
//! [`Connection::receive`](crate::Connection::receive).

mod base64;
mod client;
mod list;
pub mod origin;
mod server;
pub mod upgraded;
mod uri;

pub use client::{ClientHandshake, ClientRequest, Response};
pub use list::{Extension, Param, ParamValue, Params};
pub use origin::{origin_allowed, Origin};
pub use server::{Accept, Request, ServerHandshake};

use crate::config::HandshakeLimits;
use crate::error::{BufferTooSmall, HandshakeError};

/// A header as parsed from a head: a name and a raw value (this is `httparse`'s type, re-exported).
/// Pass an array of [`EMPTY_HEADER`] to the `parse` methods; its length caps the header count.
pub use httparse::Header;

/// An empty header, to fill the array passed to the `parse` methods:
/// `[sockless::handshake::EMPTY_HEADER; 32]`.
pub const EMPTY_HEADER: Header<'static> = httparse::EMPTY_HEADER;

/// The GUID that RFC 6455 appends to the key before hashing.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A `Sec-WebSocket-Accept` value: base64 of the SHA-1 of the key and [`GUID`] (28 ASCII bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AcceptKey([u8; 28]);

impl AcceptKey {
    /// The accept value for a `Sec-WebSocket-Key` value (as sent, in base64).
    ///
    /// ```
    /// use sockless::handshake::AcceptKey;
    /// // RFC 6455 section 1.3.
    /// let accept = AcceptKey::from_key(b"dGhlIHNhbXBsZSBub25jZQ==");
    /// assert_eq!(accept.as_str(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /// ```
    pub fn from_key(key: &[u8]) -> Self {
        let digest = sha1_of_key(key);
        let mut out = [0u8; 28];
        // 20 bytes always encode to exactly 28.
        base64::encode(&digest, &mut out);
        Self(out)
    }

    /// The value as text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The value as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// SHA-1 of `key` followed by [`GUID`]: with the CPU's SHA extensions where it has them (x86 and
/// x86-64, detected at run time), portable code otherwise. See the dependency notes in Cargo.toml.
///
/// A key of 24 bytes (every valid one) and the GUID make 60 bytes: with SHA-1's padding (0x80,
/// zeros, the length in bits as a big-endian u64) exactly two blocks, laid out here and compressed
/// in one call. Other lengths go through the general hasher.
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
fn sha1_of_key(key: &[u8]) -> [u8; 20] {
    use sha1::digest::generic_array::GenericArray;
    use sha1::Digest;
    const KEY_LEN: usize = 24;
    const MESSAGE_BITS: u64 = (8 * (KEY_LEN + GUID.len())) as u64;
    let Ok(key) = <&[u8; KEY_LEN]>::try_from(key) else {
        let mut sha = sha1::Sha1::new();
        sha.update(key);
        sha.update(GUID.as_bytes());
        return sha.finalize().into();
    };
    let mut first = [0u8; 64];
    let (k, rest) = first.split_at_mut(KEY_LEN);
    k.copy_from_slice(key);
    let (guid, pad) = rest.split_at_mut(GUID.len());
    guid.copy_from_slice(GUID.as_bytes());
    if let Some(first_pad) = pad.first_mut() {
        *first_pad = 0x80;
    }
    let mut second = [0u8; 64];
    let (_, bits) = second.split_at_mut(56);
    bits.copy_from_slice(&MESSAGE_BITS.to_be_bytes());
    // The initial hash value of FIPS 180-4 5.3.1.
    let mut state: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    sha1::compress(
        &mut state,
        &[GenericArray::from(first), GenericArray::from(second)],
    );
    let mut digest = [0u8; 20];
    for (out, word) in digest.chunks_exact_mut(4).zip(state) {
        out.copy_from_slice(&word.to_be_bytes());
    }
    digest
}

/// SHA-1 of `key` followed by [`GUID`].
#[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
fn sha1_of_key(key: &[u8]) -> [u8; 20] {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key);
    sha.update(GUID.as_bytes());
    sha.digest().bytes()
}

/// Whether `key` is base64 (standard alphabet, padded) of exactly 16 bytes, as RFC 6455 4.1 asks
/// of `Sec-WebSocket-Key`.
pub(crate) fn is_valid_key(key: &[u8]) -> bool {
    base64::is_16_bytes(key)
}

/// Finds the end of an HTTP head in input that grows between calls, looking at each byte once.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct HeadScanner {
    /// Where the next call starts looking.
    scanned: usize,
    /// How many bytes have been examined in all, over every call (a word skipped at once counts
    /// as its eight bytes); counted in the tests only.
    #[cfg(test)]
    examined: usize,
    /// 0: inside a line; 1: just after LF; 2: just after LF CR; [`Self::DONE`]: the head ended
    /// at `scanned`.
    state: u8,
}

impl HeadScanner {
    /// The head has ended: later calls return the same length instead of scanning the frame bytes
    /// after it for another blank line.
    const DONE: u8 = 3;

    /// Looks at `input[self.scanned..]` for the blank line ending the head; returns the head's
    /// length (through the blank line) once found, and the same length on every later call.
    pub(crate) fn scan(
        &mut self,
        input: &[u8],
        limits: &HandshakeLimits,
    ) -> Result<Option<usize>, HandshakeError> {
        if self.state == Self::DONE {
            return Ok((input.len() >= self.scanned).then_some(self.scanned));
        }
        let start = self.scanned.min(input.len());
        let rest = input.get(start..).unwrap_or_default();
        let mut state = self.state;
        let mut i = 0;
        while i < rest.len() {
            if state == 0 {
                // Inside a line only LF matters: jump to the next one.
                match find_lf(rest.get(i..).unwrap_or_default()) {
                    Some(at) => {
                        i += at + 1;
                        state = 1;
                        continue;
                    }
                    None => break,
                }
            }
            let Some(&b) = rest.get(i) else { break };
            i += 1;
            state = match (b, state) {
                (b'\n', _) => {
                    #[cfg(test)]
                    {
                        self.examined += i;
                    }
                    let end = start + i;
                    if end > limits.max_head_len {
                        return Err(HandshakeError::HeadTooLarge);
                    }
                    self.scanned = end;
                    self.state = Self::DONE;
                    return Ok(Some(end));
                }
                (b'\r', 1) => 2,
                _ => 0,
            };
        }
        #[cfg(test)]
        {
            self.examined += rest.len();
        }
        self.scanned = input.len();
        self.state = state;
        if input.len() >= limits.max_head_len {
            return Err(HandshakeError::HeadTooLarge);
        }
        Ok(None)
    }

    /// Whether nothing has been scanned yet.
    pub(crate) fn is_fresh(&self) -> bool {
        self.scanned == 0 && self.state == 0
    }

    /// Records that the head, parsed whole without a scan, ends at `end`: later calls return it.
    pub(crate) fn found(&mut self, end: usize) {
        self.scanned = end;
        self.state = Self::DONE;
    }

    /// After a head that is to be skipped (an interim response), looks for the end of the next
    /// head, which starts where that one ended: bytes already examined are not examined again,
    /// and the head limit keeps counting from the start of the input.
    pub(crate) fn next_head(&mut self) {
        if self.state == Self::DONE {
            self.state = 0;
        }
    }

    /// How many bytes have been examined in all.
    #[cfg(test)]
    pub(crate) fn examined(&self) -> usize {
        self.examined
    }
}

/// The position of the first LF in `bytes`, looking at eight bytes at a time.
#[inline]
fn find_lf(bytes: &[u8]) -> Option<usize> {
    const LF: u64 = 0x0a0a_0a0a_0a0a_0a0a;
    let mut chunks = bytes.chunks_exact(8);
    for (n, chunk) in (&mut chunks).enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let x = u64::from_le_bytes(w) ^ LF;
        // The lowest set bit marks the first zero byte (bits above it may be false positives).
        let zero = x.wrapping_sub(0x0101_0101_0101_0101) & !x & 0x8080_8080_8080_8080;
        if zero != 0 {
            return Some(n * 8 + (zero.trailing_zeros() / 8) as usize);
        }
    }
    let tail = chunks.remainder();
    tail.iter()
        .position(|&b| b == b'\n')
        .map(|p| bytes.len() - tail.len() + p)
}

/// Values of all headers named `name` (ASCII case-insensitive).
pub(crate) fn values<'h, 'b>(
    headers: &'h [Header<'b>],
    name: &'h str,
) -> impl Iterator<Item = &'b [u8]> + 'h {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// The value of the only header named `name`: `Ok(None)` if absent, `Err(())` if repeated.
pub(crate) fn single<'b>(headers: &[Header<'b>], name: &str) -> Result<Option<&'b [u8]>, ()> {
    let mut it = values(headers, name);
    let first = it.next();
    if it.next().is_some() {
        return Err(());
    }
    Ok(first)
}

/// Whether any header named `name` lists `token`.
pub(crate) fn has_token(headers: &[Header<'_>], name: &str, token: &str) -> bool {
    values(headers, name).any(|v| list::contains_token(v, token))
}

pub(crate) use list::trim_ows as trim;

/// Whether `value` may be written as a header value (RFC 7230 3.2 `field-content`): HTAB, visible
/// ASCII, space and obs-text; no other control character (CR and LF would inject lines, and the
/// rest make the peer refuse the head).
pub(crate) fn is_field_value(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| matches!(b, b'\t' | 0x20..=0x7E | 0x80..=0xFF))
}

/// Headers a caller may not add: the handshake writes them itself.
const RESERVED: [&str; 8] = [
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-accept",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
];

/// Checks a caller's extra header: a token name that the handshake does not write itself, and a
/// value without CR, LF or NUL (which would let it inject lines).
pub(crate) fn check_extra_header(name: &str, value: &[u8]) -> Result<(), HandshakeError> {
    if !list::is_token(name.as_bytes())
        || RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name))
        || !is_field_value(value)
    {
        return Err(HandshakeError::InvalidHeader);
    }
    Ok(())
}

/// Writes an HTTP head into a caller buffer in two passes: one that measures, one that writes, so
/// that a too-small buffer is left untouched.
pub(crate) struct Writer<'o> {
    out: &'o mut [u8],
    pos: usize,
}

impl<'o> Writer<'o> {
    /// Runs `emit` to measure, then again to write into `out` if it fits.
    pub(crate) fn write_all(
        out: &'o mut [u8],
        emit: impl Fn(&mut Writer<'_>),
    ) -> Result<usize, BufferTooSmall> {
        let mut measure = Writer {
            out: &mut [],
            pos: 0,
        };
        emit(&mut measure);
        let needed = measure.pos;
        if needed > out.len() {
            return Err(BufferTooSmall { needed });
        }
        let mut w = Writer { out, pos: 0 };
        emit(&mut w);
        Ok(needed)
    }

    /// Writes into `out` in one pass what `emit` writes, whose length the caller has counted as
    /// `needed` (checked in debug builds).
    pub(crate) fn write_counted(
        out: &'o mut [u8],
        needed: usize,
        emit: impl FnOnce(&mut Writer<'_>),
    ) -> Result<usize, BufferTooSmall> {
        let Some(out) = out.get_mut(..needed) else {
            return Err(BufferTooSmall { needed });
        };
        let mut w = Writer { out, pos: 0 };
        emit(&mut w);
        debug_assert_eq!(w.pos, needed, "the counted length of a response");
        Ok(needed)
    }

    /// The length of what [`header`](Self::header) writes.
    pub(crate) fn header_len(name: &str, value: &[u8]) -> usize {
        name.len() + 2 + value.len() + 2
    }

    pub(crate) fn put(&mut self, bytes: &[u8]) {
        let end = self.pos + bytes.len();
        if let Some(dest) = self.out.get_mut(self.pos..end) {
            dest.copy_from_slice(bytes);
        }
        self.pos = end;
    }

    pub(crate) fn header(&mut self, name: &str, value: &[u8]) {
        self.put(name.as_bytes());
        self.put(b": ");
        self.put(value);
        self.put(b"\r\n");
    }
}

/// The reason phrase of every status in the IANA HTTP Status Code Registry from 100 to 599 (the
/// phrases of RFC 9110 and of the RFCs that define the others). 306 and 418 are registered as
/// unused, and 104 only temporarily: they, like unregistered codes, get "Error".
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => "Error",
    }
}

/// Writes an error response with no body: the status line, `Content-Length: 0` (except for 1xx,
/// 204 and 304, which RFC 7230 3.3.2 forbids it in), `Connection: close`, and what the status
/// needs: for 426, `Upgrade: websocket` with `Sec-WebSocket-Version: 13` and the `upgrade` option
/// in `Connection` (RFC 7230 6.7), and `Allow: GET` for 405.
pub(crate) fn write_error_response(status: u16, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
    let status = status.clamp(100, 999);
    let digits = [
        b'0' + (status / 100) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
    ];
    Writer::write_all(out, |w| {
        w.put(b"HTTP/1.1 ");
        w.put(&digits);
        w.put(b" ");
        w.put(reason(status).as_bytes());
        w.put(b"\r\n");
        match status {
            426 => {
                w.header("Upgrade", b"websocket");
                w.header("Sec-WebSocket-Version", b"13");
            }
            405 => w.header("Allow", b"GET"),
            _ => {}
        }
        if !matches!(status, 100..=199 | 204 | 304) {
            w.header("Content-Length", b"0");
        }
        if status == 426 {
            w.header("Connection", b"Upgrade, close");
        } else {
            w.header("Connection", b"close");
        }
        w.put(b"\r\n");
    })
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    #[test]
    fn rfc6455_key_and_accept() {
        assert!(is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert_eq!(
            AcceptKey::from_key(b"dGhlIHNhbXBsZSBub25jZQ==").as_str(),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    /// The SHA-1 used here (the two-block fast path for 24-byte keys, the general hasher for
    /// other lengths; on x86 the `sha1` crate, elsewhere `sha1_smol`) agrees with `sha1_smol`, the
    /// portable reference, for keys of every length up to four blocks and varied bytes.
    #[test]
    fn accept_key_sha1_agrees_with_the_portable_reference() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for len in 0..=256 {
            let key: std::vec::Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let mut reference = sha1_smol::Sha1::new();
            reference.update(&key);
            reference.update(GUID.as_bytes());
            assert_eq!(
                sha1_of_key(&key),
                reference.digest().bytes(),
                "key length {len}"
            );
        }
    }

    #[test]
    fn key_must_be_16_bytes_of_base64() {
        assert!(!is_valid_key(b""));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ")); // unpadded
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=")); // short padding
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZWU=")); // 17 bytes
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZ!==")); // bad alphabet
        assert!(!is_valid_key(b"AAAAAAAAAAAAAAAAAAAAAAAAAAAA")); // 21 bytes
    }

    #[test]
    fn scanner_finds_the_end_once_whatever_the_chunking() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest";
        for split in 0..head.len() {
            let mut s = HeadScanner::default();
            let first = s.scan(&head[..split], &HandshakeLimits::DEFAULT).unwrap();
            let end = first.or_else(|| s.scan(head, &HandshakeLimits::DEFAULT).unwrap());
            assert_eq!(end, Some(27), "split {split}");
        }
        let mut s = HeadScanner::default();
        assert_eq!(
            s.scan(b"GET / HTTP/1.1\nHost: a\n\n", &HandshakeLimits::DEFAULT),
            Ok(Some(24))
        );
    }

    #[test]
    fn scanner_enforces_the_head_limit() {
        let limits = HandshakeLimits {
            max_head_len: 16,
            max_headers: 4,
        };
        let mut s = HeadScanner::default();
        assert_eq!(
            s.scan(b"GET / HTTP/1.1\r\n", &limits),
            Err(HandshakeError::HeadTooLarge)
        );
        let mut s = HeadScanner::default();
        assert_eq!(
            s.scan(b"GET / HTTP/1.1\r\n\r\n", &limits),
            Err(HandshakeError::HeadTooLarge)
        );
        let mut s = HeadScanner::default();
        assert_eq!(s.scan(b"GET / HTTP/1\r\n\r\n", &limits), Ok(Some(16)));
    }

    #[test]
    fn error_responses() {
        let mut out = [0u8; 256];
        let n = write_error_response(426, &mut out).unwrap();
        let text = core::str::from_utf8(&out[..n]).unwrap();
        assert!(text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
        assert!(text.contains("\r\nSec-WebSocket-Version: 13\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        let mut small = [0u8; 10];
        let needed = write_error_response(400, &mut out).unwrap();
        assert_eq!(
            write_error_response(400, &mut small),
            Err(BufferTooSmall { needed })
        );
        assert_eq!(small, [0u8; 10]);
    }

    #[test]
    fn extra_headers_cannot_inject() {
        assert!(check_extra_header("X-Ok", b"fine").is_ok());
        assert_eq!(
            check_extra_header("X-Bad", b"a\r\nInjected: 1"),
            Err(HandshakeError::InvalidHeader)
        );
        assert_eq!(
            check_extra_header("Bad Name", b"x"),
            Err(HandshakeError::InvalidHeader)
        );
        assert_eq!(
            check_extra_header("sec-websocket-accept", b"x"),
            Err(HandshakeError::InvalidHeader)
        );
        // Other control characters and DEL would make the peer refuse the head.
        for bad in [&b"a\x01b"[..], b"a\x7fb", b"\x00", b"a\x1bb"] {
            assert_eq!(
                check_extra_header("X-Bad", bad),
                Err(HandshakeError::InvalidHeader)
            );
        }
        assert!(check_extra_header("X-Ok", b"tab\tspace and obs-text \xC3\xA9").is_ok());
    }

    #[test]
    fn find_lf_agrees_with_a_plain_search() {
        for len in 0..40 {
            for lf in 0..=len {
                let mut bytes = [b'a'; 40];
                if lf < len {
                    bytes[lf] = b'\n';
                    // Bytes that differ from LF in one bit, and LF again later.
                    bytes[(lf + 1).min(39)] = b'\n' ^ 1;
                    bytes[(lf + 5).min(39)] = b'\n';
                }
                let slice = &bytes[..len];
                assert_eq!(
                    find_lf(slice),
                    slice.iter().position(|&b| b == b'\n'),
                    "len {len} lf {lf}"
                );
            }
        }
    }

    #[test]
    fn the_scanner_examines_each_byte_once() {
        let mut head = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        head.extend(core::iter::repeat_n(b'x', 4000));
        head.extend_from_slice(b"\r\n\r\n");
        for double in [false, true] {
            let input: std::vec::Vec<u8> = if double {
                [&head[..head.len() - 4], &head[16..]].concat()
            } else {
                head.clone()
            };
            let mut s = HeadScanner::default();
            for end in 1..=input.len() {
                let _ = s.scan(
                    &input[..end],
                    &HandshakeLimits {
                        max_head_len: 1 << 20,
                        max_headers: 8,
                    },
                );
            }
            assert_eq!(
                s.examined(),
                input.len(),
                "fed one byte at a time, scanned once"
            );
        }
    }
}
