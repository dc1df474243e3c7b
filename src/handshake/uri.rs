//! The RFC 3986 pieces of the handshake: the `Host` value (`uri-host [ ":" port ]`, which both
//! roles check with [`is_valid_host`]) and the request-target the client writes
//! ([`encode_target`]). Pure functions over bytes; nothing is allocated.

/// `unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"` (RFC 3986 2.3).
const fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// `sub-delims = "!" / "$" / "&" / "'" / "(" / ")" / "*" / "+" / "," / ";" / "="` (RFC 3986 2.2).
const fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// Whether `s` starts with `pct-encoded = "%" HEXDIG HEXDIG`.
fn starts_with_pct_encoded(s: &[u8]) -> bool {
    matches!(s, [b'%', a, b, ..] if a.is_ascii_hexdigit() && b.is_ascii_hexdigit())
}

/// The bytes that stand for themselves in a `reg-name`, one lookup each: `Host` is checked on
/// every handshake. (Indexing in a constant is checked when the crate compiles.)
#[allow(clippy::indexing_slicing)]
const REG_NAME_CHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = is_unreserved(b as u8) || is_sub_delim(b as u8);
        b += 1;
    }
    table
};

/// `reg-name = *( unreserved / pct-encoded / sub-delims )`.
fn is_reg_name(mut s: &[u8]) -> bool {
    while let Some((&b, rest)) = s.split_first() {
        if REG_NAME_CHAR.get(usize::from(b)) == Some(&true) {
            s = rest;
        } else if starts_with_pct_encoded(s) {
            s = s.get(3..).unwrap_or_default();
        } else {
            return false;
        }
    }
    true
}

/// `h16 = 1*4HEXDIG`.
fn is_h16(s: &[u8]) -> bool {
    (1..=4).contains(&s.len()) && s.iter().all(u8::is_ascii_hexdigit)
}

/// `IPv4address = dec-octet "." dec-octet "." dec-octet "." dec-octet`, where a `dec-octet` is
/// 0 to 255 without leading zeros.
fn is_ipv4(s: &[u8]) -> bool {
    let mut octets = 0;
    for part in s.split(|&b| b == b'.') {
        if part.is_empty() || part.len() > 3 || (part.len() > 1 && part.first() == Some(&b'0')) {
            return false;
        }
        let value = part.iter().try_fold(0u16, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u16::from(d - b'0'))
        });
        if value.is_none_or(|v| v > 255) {
            return false;
        }
        octets += 1;
    }
    octets == 4
}

/// The number of 16-bit pieces in one side of an `IPv6address` (the part before or after `::`,
/// or all of it), or `None` if it is not a run of `h16 ":"` pieces. The last piece of the address
/// (`last`) may be an `IPv4address`, which counts as two.
fn ipv6_pieces(s: &[u8], last: bool) -> Option<usize> {
    if s.is_empty() {
        return Some(0);
    }
    let count = s.split(|&b| b == b':').count();
    let mut pieces = 0;
    for (i, part) in s.split(|&b| b == b':').enumerate() {
        if is_h16(part) {
            pieces += 1;
        } else if last && i + 1 == count && is_ipv4(part) {
            pieces += 2;
        } else {
            return None;
        }
    }
    Some(pieces)
}

/// `IPv6address` (RFC 3986 3.2.2): eight 16-bit pieces, or at most seven around one `::`, the last
/// two of which may be written as an `IPv4address`. No zone identifier.
fn is_ipv6(s: &[u8]) -> bool {
    let gap = s.windows(2).position(|w| w == b"::");
    match gap {
        None => ipv6_pieces(s, true) == Some(8),
        Some(at) => {
            let (left, right) = (
                s.get(..at).unwrap_or_default(),
                s.get(at + 2..).unwrap_or_default(),
            );
            match (ipv6_pieces(left, false), ipv6_pieces(right, true)) {
                (Some(l), Some(r)) => l + r <= 7,
                _ => false,
            }
        }
    }
}

/// `IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )` ("v" in either case, as
/// ABNF strings are case-insensitive).
fn is_ipvfuture(s: &[u8]) -> bool {
    let Some((b'v' | b'V', rest)) = s.split_first() else {
        return false;
    };
    let Some(dot) = rest.iter().position(|&b| b == b'.') else {
        return false;
    };
    let (version, tail) = rest.split_at(dot);
    let tail = tail.get(1..).unwrap_or_default();
    !version.is_empty()
        && version.iter().all(u8::is_ascii_hexdigit)
        && !tail.is_empty()
        && tail
            .iter()
            .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':')
}

/// Whether `value` is `uri-host [ ":" port ]` (RFC 7230 5.4, RFC 3986 3.2.2 and 3.2.3) with a
/// non-empty host: an `IP-literal` in brackets (`IPv6address` or `IPvFuture`), or a `reg-name` of
/// unreserved characters, percent-encodings and sub-delims (which includes every `IPv4address`),
/// then optionally `:` and any number of digits. The host may not be empty because a `ws` or
/// `wss` URI has no default host (RFC 6455 3, RFC 3986 3.2.2). Non-ASCII names must be given in
/// their IDNA (`xn--`) or percent-encoded form.
pub(crate) fn is_valid_host(value: &[u8]) -> bool {
    let (host, port) = match value.split_first() {
        Some((b'[', rest)) => {
            let Some(close) = rest.iter().position(|&b| b == b']') else {
                return false;
            };
            let (literal, after) = rest.split_at(close);
            if !(is_ipv6(literal) || is_ipvfuture(literal)) {
                return false;
            }
            (literal, after.get(1..).unwrap_or_default())
        }
        _ => {
            // Most names are plain characters up to the port: one pass finds where they end.
            // Only a name with a `%` is looked at again, with the full grammar.
            let plain = value
                .iter()
                .position(|&b| REG_NAME_CHAR.get(usize::from(b)) != Some(&true))
                .unwrap_or(value.len());
            let end = if value.get(plain) == Some(&b'%') {
                value.iter().position(|&b| b == b':').unwrap_or(value.len())
            } else {
                plain
            };
            let (name, port) = value.split_at(end);
            if name.is_empty() || (end != plain && !is_reg_name(name)) {
                return false;
            }
            (name, port)
        }
    };
    let port_ok = match port.split_first() {
        None => true,
        Some((b':', digits)) => digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    };
    !host.is_empty() && port_ok
}

/// Whether `b` may appear as itself in an origin-form request-target (RFC 7230 5.3.1:
/// `absolute-path [ "?" query ]`): a `pchar` other than a percent sign, `/`, or `?`.
fn is_target_char(b: u8) -> bool {
    is_unreserved(b) || is_sub_delim(b) || matches!(b, b':' | b'@' | b'/' | b'?')
}

/// Writes `target` through `put` as a valid origin-form request-target: bytes outside the RFC 3986
/// path and query grammar (controls, space, `"`, `<`, `>`, `\`, `^`, `` ` ``, `{`, `|`, `}`, DEL
/// and every non-ASCII byte) become `%XX` with uppercase hex digits, a `%` that already starts a
/// `%XX` sequence is kept, and any other `%` becomes `%25`. The caller has refused `#` (a
/// fragment) before.
pub(crate) fn encode_target(target: &[u8], mut put: impl FnMut(&[u8])) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut rest = target;
    while !rest.is_empty() {
        // A run of bytes that go out unchanged, in one piece.
        let mut run = 0;
        while let Some(&b) = rest.get(run) {
            let keep = is_target_char(b)
                || (b == b'%' && starts_with_pct_encoded(rest.get(run..).unwrap_or_default()));
            if !keep {
                break;
            }
            run += 1;
        }
        let (plain, tail) = rest.split_at(run);
        if !plain.is_empty() {
            put(plain);
        }
        rest = match tail.split_first() {
            Some((&b, tail)) => {
                let hex = |nibble: u8| HEX.get(usize::from(nibble)).copied().unwrap_or(b'0');
                put(&[b'%', hex(b >> 4), hex(b & 0x0F)]);
                tail
            }
            None => tail,
        };
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec::Vec;

    #[test]
    fn hosts_of_every_form_are_valid() {
        for host in [
            "example.com",
            "example.com:8080",
            "example.com:",
            "EXAMPLE.com:0",
            "localhost",
            "a",
            "127.0.0.1",
            "127.0.0.1:9001",
            "999.1.1.1", // not an IPv4address, but a valid reg-name
            "xn--bcher-kva.example",
            "b%C3%BCcher.example",
            "b%C3%BCcher.example:443",
            "%41",
            "a-b_c~d.e",
            "!$&'()*+,;=",
            "[::1]",
            "[::1]:443",
            "[::]",
            "[1:2:3:4:5:6:7:8]",
            "[1:2:3:4:5:6:7::]",
            "[::2:3:4:5:6:7:8]",
            "[1::8]",
            "[1:2:3:4:5:6:1.2.3.4]",
            "[::ffff:192.0.2.1]:80",
            "[::1.2.3.4]",
            "[1:2:3:4:5::1.2.3.4]",
            "[fe80::abcd:EF01]",
            "[v1.a]",
            "[V7.fe80::1]",
            "[v1F.a:b!$]:1",
            "host:123456789",
        ] {
            assert!(is_valid_host(host.as_bytes()), "{host:?}");
        }
    }

    #[test]
    fn hosts_outside_the_grammar_are_invalid() {
        for host in [
            "",
            ":80",
            "exa mple.com",
            "example.com\t",
            "example.com\r\nX: y",
            "bücher.example",
            "a%zz",
            "a%zz:80",
            "a%41%:80",
            "a%41 b:80",
            "a%4",
            "a/b",
            "a?b",
            "a#b",
            "a@b",
            "user@example.com",
            "a\"b",
            "a<b",
            "a{b",
            "a|b",
            "a\\b",
            "a^b",
            "a`b",
            "a[b",
            "example.com:80:80",
            "example.com:8o",
            "example.com: 80",
            "[::1",
            "::1",
            "[::1]x",
            "[::1]:x",
            "[::1]80",
            "[]",
            "[:]",
            "[:::]",
            "[1:2:3:4:5:6:7]",
            "[1:2:3:4:5:6:7:8:9]",
            "[1:2:3:4:5:6:7:8::]",
            "[1::2::3]",
            "[12345::]",
            "[g::]",
            "[1:2:3:4:5:6:7:1.2.3.4]",
            "[1:2:3:4:5:6::1.2.3.4]",
            "[1.2.3.4::]",
            "[::1.2.3]",
            "[::1.2.3.256]",
            "[::01.2.3.4]",
            "[1:]",
            "[:1]",
            "[fe80::1%25en0]",
            "[v.a]",
            "[v1.]",
            "[v1a]",
            "[vg.a]",
            "[v1.a/b]",
            "[x1.a]",
        ] {
            assert!(!is_valid_host(host.as_bytes()), "{host:?}");
        }
    }

    fn encoded(target: &str) -> std::string::String {
        let mut out = Vec::new();
        encode_target(target.as_bytes(), |piece| out.extend_from_slice(piece));
        std::string::String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_target_is_percent_encoded_outside_the_grammar() {
        for (target, expected) in [
            ("/", "/"),
            ("/chat?room=1&x=%20y", "/chat?room=1&x=%20y"),
            (
                "/a-z_A.Z~0:9@!$&'()*+,;=/?/?",
                "/a-z_A.Z~0:9@!$&'()*+,;=/?/?",
            ),
            ("/a b", "/a%20b"),
            ("/caf\u{e9}", "/caf%C3%A9"),
            ("/\"<>{}|\\^`", "/%22%3C%3E%7B%7D%7C%5C%5E%60"),
            ("/\x00\x01\t\r\n\x1f\x7f", "/%00%01%09%0D%0A%1F%7F"),
            ("/a HTTP/1.0\r\nX: y", "/a%20HTTP/1.0%0D%0AX:%20y"),
            ("/[x]", "/%5Bx%5D"),
            ("/%", "/%25"),
            ("/%4", "/%254"),
            ("/%zz%41%a", "/%25zz%41%25a"),
            ("/%e9%C3%a9", "/%e9%C3%a9"),
            ("/100%", "/100%25"),
        ] {
            assert_eq!(encoded(target), expected, "{target:?}");
        }
    }
}
