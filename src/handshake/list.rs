//! Zero-copy parsers for the HTTP list syntax used by the WebSocket handshake.
//!
//! Header values arrive from `httparse` as raw bytes, so everything here works
//! on `&[u8]` and hands out sub-slices of the input: nothing is copied and
//! nothing is allocated.
//!
//! * [`Tokens`] walks a comma-separated list of tokens (RFC 7230 section 7,
//!   the `#rule`), as used by `Connection`, `Upgrade` and
//!   `Sec-WebSocket-Protocol` (RFC 6455 section 4.3).
//! * [`Extensions`] walks a `Sec-WebSocket-Extensions` value (RFC 6455
//!   section 9.1, RFC 7692 section 5), validating its syntax as it goes.
//!
//! Every parser is a single forward pass without recursion, so the work done
//! is linear in the length of the value, and no input can make it panic.

use core::fmt;
use core::iter::FusedIterator;
use core::str;

/// Counts one byte examined, in the unit tests that check the parsers are linear.
#[inline(always)]
fn step() {
    #[cfg(test)]
    tests::STEPS.with(|s| s.set(s.get() + 1));
}

/// Returns true for an RFC 7230 `tchar`.
fn is_tchar(b: u8) -> bool {
    step();
    matches!(
        b,
        b'!' | b'#'
            | b'$'
            | b'%'
            | b'&'
            | b'\''
            | b'*'
            | b'+'
            | b'-'
            | b'.'
            | b'^'
            | b'_'
            | b'`'
            | b'|'
            | b'~'
            | b'0'..=b'9'
            | b'a'..=b'z'
            | b'A'..=b'Z'
    )
}

/// Returns true for optional whitespace (`OWS`/`BWS`): SP or HTAB, and CR and LF. A value that
/// `httparse` hands out has CR or LF only inside an obs-fold (CRLF or LF then SP or HTAB), which
/// is allowed in responses only, and which a recipient reads as SP (RFC 7230 3.2.4).
fn is_ows(b: u8) -> bool {
    step();
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Returns true for an RFC 7230 `qdtext` byte.
fn is_qdtext(b: u8) -> bool {
    step();
    matches!(b, b'\t' | b' ' | 0x21 | 0x23..=0x5B | 0x5D..=0x7E | 0x80..=0xFF)
}

/// Returns true for a byte allowed after the backslash of a `quoted-pair`.
fn is_quoted_pair_byte(b: u8) -> bool {
    step();
    matches!(b, b'\t' | b' ' | 0x21..=0x7E | 0x80..=0xFF)
}

/// Returns true if `s` is an RFC 7230 `token`: non-empty, and every byte is a
/// `tchar`: DIGIT, ALPHA or one of ``!#$%&'*+-.^_`|~``.
#[must_use]
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Removes leading whitespace (see [`is_ows`]).
fn skip_ows(s: &[u8]) -> &[u8] {
    match s.iter().position(|&b| !is_ows(b)) {
        Some(i) => s.get(i..).unwrap_or_default(),
        None => &[],
    }
}

/// Removes leading and trailing whitespace (see [`is_ows`]).
pub(crate) fn trim_ows(s: &[u8]) -> &[u8] {
    let s = skip_ows(s);
    let end = s
        .iter()
        .rposition(|&b| !is_ows(b))
        .map_or(0, |i| i.saturating_add(1));
    s.get(..end).unwrap_or_default()
}

/// Splits `s` into its longest prefix of `tchar`s and the remainder.
fn split_token(s: &[u8]) -> (&[u8], &[u8]) {
    let n = s.iter().position(|&b| !is_tchar(b)).unwrap_or(s.len());
    s.split_at_checked(n).unwrap_or((s, &[]))
}

/// Converts bytes produced by [`split_token`] to a `str`, rejecting an empty
/// token.
fn token_str(t: &[u8]) -> Result<&str, ListError> {
    if t.is_empty() {
        return Err(ListError::InvalidToken);
    }
    str::from_utf8(t).map_err(|_| ListError::InvalidToken)
}

/// Parses the body of a quoted-string; `s` starts just after the opening
/// DQUOTE. Returns the inner bytes (escapes still in place) and the input
/// after the closing DQUOTE.
///
/// Syntax errors win over the "must be a token once unescaped" check (RFC 6455
/// section 9.1), which is applied when the closing quote is reached.
fn split_quoted(s: &[u8]) -> Result<(&[u8], &[u8]), ListError> {
    let mut token = true;
    let mut empty = true;
    let mut iter = s.iter().enumerate();
    while let Some((i, &b)) = iter.next() {
        match b {
            b'"' => {
                if empty || !token {
                    return Err(ListError::InvalidQuotedValue);
                }
                let (inner, tail) = s.split_at_checked(i).ok_or(ListError::UnterminatedQuote)?;
                return Ok((inner, tail.get(1..).unwrap_or_default()));
            }
            b'\\' => match iter.next() {
                Some((_, &e)) if is_quoted_pair_byte(e) => {
                    token &= is_tchar(e);
                    empty = false;
                }
                Some(_) => return Err(ListError::InvalidQuotedCharacter),
                None => return Err(ListError::UnterminatedQuote),
            },
            b if is_qdtext(b) => {
                token &= is_tchar(b);
                empty = false;
            }
            _ => return Err(ListError::InvalidQuotedCharacter),
        }
    }
    Err(ListError::UnterminatedQuote)
}

/// Parses one `extension-param`; `s` starts just after its `;`. Returns the
/// parameter and the input after it (with whitespace after the parameter
/// possibly, but not necessarily, skipped).
fn split_param(s: &[u8]) -> Result<(Param<'_>, &[u8]), ListError> {
    let (name, rest) = split_token(skip_ows(s));
    let name = token_str(name)?;
    let rest = skip_ows(rest);
    let rest = match rest.split_first() {
        Some((&b'=', rest)) => skip_ows(rest),
        _ => return Ok((Param { name, value: None }, rest)),
    };
    let (value, rest) = match rest.split_first() {
        Some((&b'"', inner)) => {
            let (raw, rest) = split_quoted(inner)?;
            (ParamValue { raw, quoted: true }, rest)
        }
        _ => {
            let (raw, rest) = split_token(rest);
            if raw.is_empty() {
                return Err(ListError::InvalidToken);
            }
            (ParamValue { raw, quoted: false }, rest)
        }
    };
    Ok((
        Param {
            name,
            value: Some(value),
        },
        rest,
    ))
}

/// Iterator over the elements of a comma-separated list in one header value.
///
/// Each element is returned with surrounding whitespace removed but otherwise
/// unchecked; empty elements are skipped, as RFC 7230 section 7 requires.
/// Use `is_token` to check that an element is a valid token.
#[derive(Clone, Debug)]
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub(crate) struct Tokens<'a> {
    rest: &'a [u8],
}

/// Returns an iterator over the elements of the comma-separated list `value`,
/// e.g. `b" websocket , Upgrade,,keep-alive "` yields `websocket`, `Upgrade`
/// and `keep-alive`.
pub(crate) const fn tokens(value: &[u8]) -> Tokens<'_> {
    Tokens { rest: value }
}

/// Returns true if some element of the comma-separated list `value` equals
/// `token`, compared ASCII-case-insensitively.
#[must_use]
pub(crate) fn contains_token(value: &[u8], token: &str) -> bool {
    tokens(value).any(|t| t.eq_ignore_ascii_case(token.as_bytes()))
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        while !self.rest.is_empty() {
            let (element, rest) = match self.rest.iter().position(|&b| {
                step();
                b == b','
            }) {
                Some(i) => match self.rest.split_at_checked(i) {
                    Some((element, comma)) => (element, comma.get(1..).unwrap_or_default()),
                    None => (self.rest, &[][..]),
                },
                None => (self.rest, &[][..]),
            };
            self.rest = rest;
            let element = trim_ows(element);
            if !element.is_empty() {
                return Some(element);
            }
        }
        None
    }
}

impl FusedIterator for Tokens<'_> {}

/// Why a `Sec-WebSocket-Extensions` value could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum ListError {
    /// A token was required but is missing or starts with a byte that cannot
    /// appear in a token: an empty extension name (`;a`), an empty parameter
    /// name (`a;`, `a; =1`) or an empty unquoted parameter value (`a; b=`,
    /// `a; b=@`).
    InvalidToken,
    /// A quoted-string has no closing `"` (possibly because the last byte is
    /// the backslash of an incomplete quoted-pair).
    UnterminatedQuote,
    /// A quoted-string contains a byte that is neither `qdtext` nor part of a
    /// valid quoted-pair, such as a control character or DEL.
    InvalidQuotedCharacter,
    /// A quoted parameter value is syntactically valid but is not a token once
    /// its escapes are removed, which RFC 6455 section 9.1 requires (for
    /// example `""` or `"a b"`).
    InvalidQuotedValue,
    /// A byte that cannot appear at this position, for example after an
    /// extension name (`a b`, `a=1`) or after a parameter (`a; b c`,
    /// `a; b="c"d`).
    UnexpectedCharacter,
}

impl fmt::Display for ListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidToken => "expected a token in header list",
            Self::UnterminatedQuote => "unterminated quoted-string in header list",
            Self::InvalidQuotedCharacter => "invalid character in quoted-string in header list",
            Self::InvalidQuotedValue => "quoted parameter value is not a token once unescaped",
            Self::UnexpectedCharacter => "unexpected character in header list",
        })
    }
}

/// Iterator over the extensions offered or accepted in one
/// `Sec-WebSocket-Extensions` header value (RFC 6455 section 9.1).
///
/// Syntax is validated as the value is walked: after yielding an `Err` the
/// iterator yields `None` forever. Empty list elements are skipped.
#[derive(Clone, Debug)]
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub(crate) struct Extensions<'a> {
    rest: &'a [u8],
    done: bool,
}

/// Returns an iterator over the extensions in one `Sec-WebSocket-Extensions`
/// header value.
pub(crate) const fn extensions(value: &[u8]) -> Extensions<'_> {
    Extensions {
        rest: value,
        done: false,
    }
}

impl<'a> Extensions<'a> {
    /// Parses the next non-empty list element, or returns `Ok(None)` at the
    /// end of the value.
    fn parse_next(&mut self) -> Result<Option<Extension<'a>>, ListError> {
        let mut cur = self.rest;
        loop {
            cur = skip_ows(cur);
            match cur.split_first() {
                None => return Ok(None),
                Some((&b',', tail)) => cur = tail,
                Some(_) => break,
            }
        }
        let (name, after_name) = split_token(cur);
        let name = token_str(name)?;
        let mut cur = after_name;
        let next = loop {
            cur = skip_ows(cur);
            match cur.split_first() {
                None => break cur,
                Some((&b',', tail)) => break tail,
                Some((&b';', tail)) => cur = split_param(tail)?.1,
                Some(_) => return Err(ListError::UnexpectedCharacter),
            }
        };
        // `cur` is a suffix of `after_name` starting at the `,` or the end.
        let params = after_name
            .len()
            .checked_sub(cur.len())
            .and_then(|n| after_name.get(..n))
            .unwrap_or_default();
        self.rest = next;
        Ok(Some(Extension { name, params }))
    }
}

impl<'a> Iterator for Extensions<'a> {
    type Item = Result<Extension<'a>, ListError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.parse_next() {
            Ok(Some(extension)) => Some(Ok(extension)),
            Ok(None) => {
                self.done = true;
                self.rest = &[];
                None
            }
            Err(e) => {
                self.done = true;
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

impl FusedIterator for Extensions<'_> {}

/// One extension from a `Sec-WebSocket-Extensions` value: a name and its
/// already-validated parameters.
///
/// Equality compares the name and the parameters' raw text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extension<'a> {
    name: &'a str,
    /// Raw text after the name: `*( OWS ";" OWS extension-param ) `, without
    /// trailing whitespace. Validated by the pass that produced this value.
    params: &'a [u8],
}

impl<'a> Extension<'a> {
    /// The extension's name, e.g. `permessage-deflate`. Always a valid token.
    #[must_use]
    pub const fn name(&self) -> &'a str {
        self.name
    }

    /// Iterates over the extension's parameters in the order they appear.
    pub const fn params(&self) -> Params<'a> {
        Params { rest: self.params }
    }
}

/// Iterator over the parameters of an [`Extension`].
///
/// The parameters were validated when the extension was parsed, so this
/// iterator yields plain [`Param`]s rather than results.
#[derive(Clone, Debug)]
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Params<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Params<'a> {
    type Item = Param<'a>;

    fn next(&mut self) -> Option<Param<'a>> {
        let parsed = match skip_ows(self.rest).split_first() {
            Some((&b';', tail)) => split_param(tail).ok(),
            _ => None,
        };
        match parsed {
            Some((param, rest)) => {
                self.rest = rest;
                Some(param)
            }
            None => {
                self.rest = &[];
                None
            }
        }
    }
}

impl FusedIterator for Params<'_> {}

/// One `extension-param`: a name with an optional value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param<'a> {
    name: &'a str,
    value: Option<ParamValue<'a>>,
}

impl<'a> Param<'a> {
    /// The parameter's name, e.g. `client_max_window_bits`. Always a valid
    /// token.
    #[must_use]
    pub const fn name(&self) -> &'a str {
        self.name
    }

    /// The parameter's value, or `None` if it was given without `=`.
    #[must_use]
    pub const fn value(&self) -> Option<ParamValue<'a>> {
        self.value
    }
}

/// The value of an extension parameter, given either as a token or as a
/// quoted-string whose unescaped content is a token.
///
/// Equality compares the raw form, so `10` and `"10"` are not equal; use
/// [`ParamValue::eq_ignore_ascii_case`] or [`ParamValue::unescaped`] to
/// compare values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamValue<'a> {
    raw: &'a [u8],
    quoted: bool,
}

impl<'a> ParamValue<'a> {
    /// The value as written: the token, or the bytes between the quotes of a
    /// quoted-string with any backslash escapes still in place.
    #[must_use]
    pub const fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Whether the value was written as a quoted-string.
    #[must_use]
    pub const fn is_quoted(&self) -> bool {
        self.quoted
    }

    /// The value's bytes with quoted-pair escapes removed.
    pub fn unescaped(&self) -> impl Iterator<Item = u8> + 'a {
        Unescaped {
            bytes: self.raw.iter(),
            quoted: self.quoted,
        }
    }

    /// Whether the unescaped value equals `s`, ignoring ASCII case.
    #[must_use]
    pub fn eq_ignore_ascii_case(&self, s: &str) -> bool {
        self.unescaped()
            .map(|b| b.to_ascii_lowercase())
            .eq(s.bytes().map(|b| b.to_ascii_lowercase()))
    }

    /// Parses the unescaped value as a decimal `u8`: it must be 1 to 3 ASCII
    /// digits (no sign) with a value of at most 255, so `"010"` is 10 but
    /// `"0010"`, `"+1"` and `"256"` are `None`.
    #[must_use]
    pub fn parse_u8(&self) -> Option<u8> {
        let mut value: u16 = 0;
        let mut digits: u8 = 0;
        for b in self.unescaped() {
            if !b.is_ascii_digit() || digits >= 3 {
                return None;
            }
            digits = digits.checked_add(1)?;
            value = value
                .checked_mul(10)?
                .checked_add(u16::from(b.checked_sub(b'0')?))?;
        }
        if digits == 0 {
            return None;
        }
        u8::try_from(value).ok()
    }
}

/// Iterator behind [`ParamValue::unescaped`].
struct Unescaped<'a> {
    bytes: core::slice::Iter<'a, u8>,
    quoted: bool,
}

impl Iterator for Unescaped<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let b = *self.bytes.next()?;
        if self.quoted && b == b'\\' {
            self.bytes.next().copied()
        } else {
            Some(b)
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    extern crate std;

    use super::*;

    std::thread_local! {
        /// Bytes examined by the parsers on this thread (see `step`).
        pub(super) static STEPS: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
    }

    /// The bytes examined to walk `value` completely: every token checked, every extension,
    /// every parameter and every unescaped value.
    fn steps_to_walk(value: &[u8]) -> usize {
        STEPS.with(|s| s.set(0));
        for t in tokens(value) {
            let _ = is_token(t);
        }
        for e in extensions(value).flatten() {
            for p in e.params() {
                if let Some(v) = p.value() {
                    let _ = v.unescaped().count();
                }
            }
        }
        STEPS.with(|s| s.get())
    }

    #[test]
    fn parsers_do_linear_work() {
        // Inputs built to make a careless parser quadratic: long runs of separators, many
        // parameters, long quoted strings full of escapes, unterminated quotes.
        let units: [&[u8]; 8] = [
            b"a,",
            b",",
            b"a;",
            b"; a=1",
            b"x; p=\"\\a\\b\", ",
            b"  ,\t",
            b"a;b;c=\"d\"",
            b"\\\"",
        ];
        for unit in units {
            let value = |n: usize| -> Vec<u8> {
                let mut v = b"x".to_vec();
                for _ in 0..n {
                    v.extend_from_slice(unit);
                }
                v
            };
            let (small, large) = (value(10_000), value(20_000));
            let (s1, s2) = (steps_to_walk(&small), steps_to_walk(&large));
            assert!(
                s1 <= 8 * small.len() + 64,
                "{unit:?}: {s1} steps for {} bytes",
                small.len()
            );
            assert!(
                s2 <= 2 * s1 + 64,
                "{unit:?}: {s1} steps, then {s2} for twice the input"
            );
        }
    }
    use std::string::{String, ToString};
    use std::vec;
    use std::vec::Vec;

    /// Owned rendering of one parsed extension, for easy comparisons.
    type Owned = (String, Vec<(String, Option<(String, bool)>)>);

    fn owned(ext: &Extension<'_>) -> Owned {
        let params = ext
            .params()
            .map(|p| {
                let value = p.value().map(|v| {
                    let s: Vec<u8> = v.unescaped().collect();
                    (String::from_utf8(s).unwrap(), v.is_quoted())
                });
                (p.name().to_string(), value)
            })
            .collect();
        (ext.name().to_string(), params)
    }

    fn parse(value: &str) -> Result<Vec<Owned>, ListError> {
        extensions(value.as_bytes())
            .map(|r| r.map(|e| owned(&e)))
            .collect()
    }

    fn ext(name: &str, params: &[(&str, Option<(&str, bool)>)]) -> Owned {
        (
            name.to_string(),
            params
                .iter()
                .map(|(n, v)| (n.to_string(), v.map(|(s, q)| (s.to_string(), q))))
                .collect(),
        )
    }

    fn first_value(value: &str) -> ParamValue<'_> {
        extensions(value.as_bytes())
            .next()
            .unwrap()
            .unwrap()
            .params()
            .next()
            .unwrap()
            .value()
            .unwrap()
    }

    fn toks(value: &str) -> Vec<&[u8]> {
        tokens(value.as_bytes()).collect()
    }

    // ---- is_token ----

    #[test]
    fn is_token_accepts_all_tchars() {
        assert!(is_token(b"!#$%&'*+-.^_`|~0123456789azAZ"));
        assert!(is_token(b"permessage-deflate"));
        assert!(is_token(b"x"));
    }

    #[test]
    fn is_token_rejects_empty_and_separators() {
        assert!(!is_token(b""));
        for b in b"\"(),/:;<=>?@[\\]{} \t\x00\x7f\x80\xff" {
            assert!(!is_token(&[b'a', *b]), "byte {b:#x}");
        }
    }

    #[test]
    fn is_token_matches_tchar_table_exhaustively() {
        let expected = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        for b in 0..=255u8 {
            assert_eq!(is_token(&[b]), expected(b), "byte {b:#x}");
        }
    }

    // ---- Tokens ----

    #[test]
    fn tokens_example_from_docs() {
        assert_eq!(
            toks(" websocket , Upgrade,,keep-alive "),
            [&b"websocket"[..], b"Upgrade", b"keep-alive"]
        );
    }

    #[test]
    fn tokens_empty_and_whitespace_only() {
        assert!(toks("").is_empty());
        assert!(toks("   ").is_empty());
        assert!(toks("\t").is_empty());
        assert!(toks(",").is_empty());
        assert!(toks(" , ,\t,, ").is_empty());
    }

    #[test]
    fn tokens_leading_trailing_commas_and_tabs() {
        assert_eq!(toks(",a,"), [&b"a"[..]]);
        assert_eq!(toks("\ta\t,\tb\t"), [&b"a"[..], b"b"]);
        assert_eq!(toks(", , a , , b , ,"), [&b"a"[..], b"b"]);
        assert_eq!(toks("single"), [&b"single"[..]]);
    }

    #[test]
    fn tokens_returns_raw_elements() {
        // Inner whitespace and non-token bytes are left for the caller.
        let t = toks("a b, c@d ,\"q\"");
        assert_eq!(t, [&b"a b"[..], b"c@d", b"\"q\""]);
        assert!(!is_token(t[0]));
        assert!(!is_token(t[1]));
        assert!(!is_token(t[2]));
        // SP and HTAB are trimmed, and the CR and LF of an obs-fold.
        assert_eq!(toks("\r\n a\r\n\t, b"), [&b"a"[..], b"b"]);
        assert_eq!(toks("a\r\n b"), [&b"a\r\n b"[..]]);
        assert_eq!(toks("\x0ba\x0c"), [&b"\x0ba\x0c"[..]]);
    }

    #[test]
    fn tokens_is_fused() {
        let mut it = tokens(b"a,b");
        assert_eq!(it.next(), Some(&b"a"[..]));
        assert_eq!(it.next(), Some(&b"b"[..]));
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
    }

    #[test]
    fn contains_token_is_case_insensitive() {
        assert!(contains_token(b"keep-alive, Upgrade", "upgrade"));
        assert!(contains_token(b"UPGRADE", "Upgrade"));
        assert!(contains_token(b" websocket ", "WebSocket"));
        assert!(contains_token(b",,websocket,,", "websocket"));
        assert!(!contains_token(b"keep-alive", "upgrade"));
        assert!(!contains_token(b"upgrades", "upgrade"));
        assert!(!contains_token(b"upgrad", "upgrade"));
        assert!(!contains_token(b"", "upgrade"));
        assert!(!contains_token(b"up grade", "upgrade"));
        // An empty needle never matches, since empty elements are skipped.
        assert!(!contains_token(b" , ", ""));
    }

    // ---- Extensions: valid input ----

    #[test]
    fn rfc7692_client_max_window_bits_without_value() {
        assert_eq!(
            parse("permessage-deflate; client_max_window_bits").unwrap(),
            [ext(
                "permessage-deflate",
                &[("client_max_window_bits", None)]
            )]
        );
    }

    #[test]
    fn rfc7692_offer_with_fallback() {
        assert_eq!(
            parse("permessage-deflate; server_max_window_bits=10, permessage-deflate").unwrap(),
            [
                ext(
                    "permessage-deflate",
                    &[("server_max_window_bits", Some(("10", false)))]
                ),
                ext("permessage-deflate", &[]),
            ]
        );
    }

    #[test]
    fn rfc7692_quoted_value() {
        let v = first_value("permessage-deflate; client_max_window_bits=\"10\"");
        assert!(v.is_quoted());
        assert_eq!(v.raw(), b"10");
        assert_eq!(v.parse_u8(), Some(10));
        assert!(v.eq_ignore_ascii_case("10"));
    }

    #[test]
    fn rfc7692_section_7_examples() {
        assert_eq!(
            parse(
                "permessage-deflate; client_no_context_takeover; server_max_window_bits=10; \
                 server_no_context_takeover, permessage-deflate"
            )
            .unwrap(),
            [
                ext(
                    "permessage-deflate",
                    &[
                        ("client_no_context_takeover", None),
                        ("server_max_window_bits", Some(("10", false))),
                        ("server_no_context_takeover", None),
                    ]
                ),
                ext("permessage-deflate", &[]),
            ]
        );
        assert_eq!(
            parse("permessage-deflate; client_max_window_bits; server_max_window_bits=10").unwrap(),
            [ext(
                "permessage-deflate",
                &[
                    ("client_max_window_bits", None),
                    ("server_max_window_bits", Some(("10", false))),
                ]
            )]
        );
    }

    #[test]
    fn legacy_webkit_names() {
        assert_eq!(
            parse("x-webkit-deflate-frame").unwrap(),
            [ext("x-webkit-deflate-frame", &[])]
        );
        assert_eq!(
            parse("permessage-deflate; client_max_window_bits, x-webkit-deflate-frame; no_context_takeover")
                .unwrap(),
            [
                ext("permessage-deflate", &[("client_max_window_bits", None)]),
                ext("x-webkit-deflate-frame", &[("no_context_takeover", None)]),
            ]
        );
    }

    #[test]
    fn rfc6455_example_list() {
        assert_eq!(
            parse("foo, bar; baz=2").unwrap(),
            [ext("foo", &[]), ext("bar", &[("baz", Some(("2", false)))])]
        );
        assert_eq!(
            parse("mux; max-channels=4; flow-control, deflate-stream").unwrap(),
            [
                ext(
                    "mux",
                    &[("max-channels", Some(("4", false))), ("flow-control", None)]
                ),
                ext("deflate-stream", &[]),
            ]
        );
    }

    #[test]
    fn whitespace_around_separators() {
        let expected = [
            ext("a", &[("b", Some(("c", false))), ("d", None)]),
            ext("e", &[("f", Some(("g", true)))]),
        ];
        for value in [
            "a;b=c;d,e;f=\"g\"",
            "  a ; b = c ; d , e ; f = \"g\"  ",
            "\ta\t;\tb\t=\tc\t;\td\t,\te\t;\tf\t=\t\"g\"\t",
            "a ;b= c;d ,e; f =\"g\"",
        ] {
            assert_eq!(parse(value).unwrap(), expected, "{value:?}");
        }
    }

    #[test]
    fn empty_elements_are_skipped() {
        assert_eq!(parse("").unwrap(), []);
        assert_eq!(parse("   ").unwrap(), []);
        assert_eq!(parse(",").unwrap(), []);
        assert_eq!(parse(" , ,\t, ").unwrap(), []);
        assert_eq!(
            parse(", a ,, , b; c ,").unwrap(),
            [ext("a", &[]), ext("b", &[("c", None)])]
        );
    }

    #[test]
    fn extension_equality_and_copy() {
        let a: Vec<Extension<'_>> = extensions(b"x; y=1, x; y=1, x;y=1")
            .map(Result::unwrap)
            .collect();
        assert_eq!(a[0], a[1]);
        // Equality is on the raw text.
        assert_ne!(a[0], a[2]);
        let copy = a[0];
        assert_eq!(copy.name(), "x");
        // params() can be walked any number of times.
        assert_eq!(copy.params().count(), 1);
        assert_eq!(copy.params().count(), 1);
        let p = copy.params().next().unwrap();
        assert_eq!(p.name(), "y");
        assert_eq!(p.value().unwrap().raw(), b"1");
    }

    #[test]
    fn params_iterator_is_fused_and_empty_without_params() {
        let e = extensions(b"x").next().unwrap().unwrap();
        let mut p = e.params();
        assert_eq!(p.next(), None);
        assert_eq!(p.next(), None);
        let e = extensions(b"x;a;b").next().unwrap().unwrap();
        let mut p = e.params();
        assert_eq!(p.next().unwrap().name(), "a");
        assert_eq!(p.next().unwrap().name(), "b");
        assert_eq!(p.next(), None);
        assert_eq!(p.next(), None);
    }

    #[test]
    fn quoted_value_with_separators_inside_is_not_split() {
        // Not a token once unescaped, so it is an error, but the comma inside
        // the quotes must not be taken as a list separator first.
        assert_eq!(parse("a; b=\"x,y\""), Err(ListError::InvalidQuotedValue));
        // A value that is a token may be quoted.
        assert_eq!(
            parse("a; b=\"tok-en\", c").unwrap(),
            [ext("a", &[("b", Some(("tok-en", true)))]), ext("c", &[])]
        );
    }

    // ---- Escapes ----

    #[test]
    fn escapes_are_removed() {
        let v = first_value(r#"a; b="\1\0""#);
        assert_eq!(v.raw(), br"\1\0");
        assert!(v.is_quoted());
        assert_eq!(v.unescaped().collect::<Vec<u8>>(), b"10");
        assert_eq!(v.parse_u8(), Some(10));

        let v = first_value(r#"a; b="x\y\-z""#);
        assert_eq!(v.unescaped().collect::<Vec<u8>>(), b"xy-z");
        assert_eq!(v.raw(), br"x\y\-z");
    }

    #[test]
    fn escaped_quote_and_backslash_are_not_tokens() {
        assert_eq!(parse(r#"a; b="\"""#), Err(ListError::InvalidQuotedValue));
        assert_eq!(parse(r#"a; b="\\""#), Err(ListError::InvalidQuotedValue));
        assert_eq!(parse(r#"a; b="x\ y""#), Err(ListError::InvalidQuotedValue));
    }

    #[test]
    fn unquoted_backslash_is_not_an_escape() {
        // A token value never contains a backslash, but `unescaped` of an
        // unquoted value is the raw bytes.
        let v = first_value("a; b=xy");
        assert!(!v.is_quoted());
        assert_eq!(v.unescaped().collect::<Vec<u8>>(), b"xy");
        assert_eq!(parse(r"a; b=x\y"), Err(ListError::UnexpectedCharacter));
    }

    #[test]
    fn eq_ignore_ascii_case_on_values() {
        let v = first_value(r#"a; mode="\Fa\st""#);
        assert!(v.eq_ignore_ascii_case("fast"));
        assert!(v.eq_ignore_ascii_case("FAST"));
        assert!(v.eq_ignore_ascii_case("FaSt"));
        assert!(!v.eq_ignore_ascii_case(r"\Fa\st"));
        assert!(!v.eq_ignore_ascii_case("fas"));
        assert!(!v.eq_ignore_ascii_case("faster"));
        assert!(!v.eq_ignore_ascii_case(""));

        let v = first_value("a; mode=Slow");
        assert!(v.eq_ignore_ascii_case("slow"));
        assert!(!v.eq_ignore_ascii_case("\"slow\""));
    }

    // ---- parse_u8 ----

    fn u8_of(value: &str) -> Option<u8> {
        first_value(&std::format!("a; b={value}")).parse_u8()
    }

    #[test]
    fn parse_u8_edge_cases() {
        assert_eq!(u8_of("0"), Some(0));
        assert_eq!(u8_of("8"), Some(8));
        assert_eq!(u8_of("15"), Some(15));
        assert_eq!(u8_of("255"), Some(255));
        assert_eq!(u8_of("010"), Some(10));
        assert_eq!(u8_of("000"), Some(0));
        assert_eq!(u8_of("256"), None);
        assert_eq!(u8_of("999"), None);
        assert_eq!(u8_of("0010"), None);
        assert_eq!(u8_of("1000"), None);
        assert_eq!(u8_of("99999999999999999999"), None);
        assert_eq!(u8_of("+1"), None);
        assert_eq!(u8_of("-1"), None);
        assert_eq!(u8_of("1a"), None);
        assert_eq!(u8_of("a1"), None);
        assert_eq!(u8_of("1.0"), None);
        assert_eq!(u8_of("\"255\""), Some(255));
        assert_eq!(u8_of("\"256\""), None);
        assert_eq!(u8_of("\"+1\""), None);
        assert_eq!(u8_of("\"0010\""), None);
        assert_eq!(u8_of(r#""\2\5\5""#), Some(255));
    }

    #[test]
    fn parse_u8_empty_is_none() {
        // An empty value cannot be produced by the parser (`""` is rejected),
        // so construct one directly.
        let v = ParamValue {
            raw: b"",
            quoted: false,
        };
        assert_eq!(v.parse_u8(), None);
        let v = ParamValue {
            raw: b"",
            quoted: true,
        };
        assert_eq!(v.parse_u8(), None);
        assert!(v.eq_ignore_ascii_case(""));
    }

    // ---- Errors ----

    #[test]
    fn error_invalid_token() {
        for value in [
            ";a",
            "; a",
            "a, ;b",
            "a;",
            "a; ",
            "a;;b",
            "a; =1",
            "a; b=",
            "a; b= ",
            "a; b=,c",
            "a; b=;c",
            "a; b=@",
            "a; b==c",
            "a; @",
            "@",
            "=a",
            "\"a\"",
            "a, \x7f",
            "a, \u{e9}",
        ] {
            assert_eq!(parse(value), Err(ListError::InvalidToken), "{value:?}");
        }
    }

    #[test]
    fn error_unterminated_quote() {
        for value in [
            "a; b=\"",
            "a; b=\"10",
            "a; b=\"10, c",
            r#"a; b="10\""#,
            r#"a; b="10\"#,
            "a; b=\"a b",
        ] {
            assert_eq!(parse(value), Err(ListError::UnterminatedQuote), "{value:?}");
        }
    }

    #[test]
    fn error_invalid_quoted_character() {
        for value in [
            "a; b=\"1\x000\"",
            "a; b=\"1\r0\"",
            "a; b=\"1\n0\"",
            "a; b=\"1\x7f0\"",
            "a; b=\"1\\\x000\"",
            "a; b=\"1\\\x7f\"",
        ] {
            assert_eq!(
                parse(value),
                Err(ListError::InvalidQuotedCharacter),
                "{value:?}"
            );
        }
        assert_eq!(
            extensions(b"a; b=\"1\\\x01\"").next(),
            Some(Err(ListError::InvalidQuotedCharacter))
        );
    }

    #[test]
    fn error_invalid_quoted_value() {
        for value in [
            "a; b=\"\"",
            "a; b=\"1 0\"",
            "a; b=\"1\t0\"",
            "a; b=\" 10\"",
            "a; b=\"a,b\"",
            "a; b=\"a;b\"",
            "a; b=\"a=b\"",
            "a; b=\"(x)\"",
            "a; b=\"\\ \"",
        ] {
            assert_eq!(
                parse(value),
                Err(ListError::InvalidQuotedValue),
                "{value:?}"
            );
        }
        // obs-text is valid qdtext but never a token.
        assert_eq!(
            extensions(b"a; b=\"\x80\xff\"").next(),
            Some(Err(ListError::InvalidQuotedValue))
        );
        assert_eq!(
            extensions(b"a; b=\"\\\x80\"").next(),
            Some(Err(ListError::InvalidQuotedValue))
        );
    }

    #[test]
    fn error_unexpected_character() {
        for value in [
            "a b",
            "a=1",
            "a\"b\"",
            "a; b c",
            "a; b=c d",
            "a; b=\"c\"d",
            "a; b=\"c\" d",
            "a; b=\"c\"\"d\"",
            "a@",
            "a; b@",
            "a; b=c@",
            "a\x0b",
            "a, b c",
        ] {
            assert_eq!(
                parse(value),
                Err(ListError::UnexpectedCharacter),
                "{value:?}"
            );
        }
    }

    #[test]
    fn error_ends_iteration() {
        let mut it = extensions(b"good; x=1, b@d, later");
        let first = it.next().unwrap().unwrap();
        assert_eq!(first.name(), "good");
        assert_eq!(it.next(), Some(Err(ListError::UnexpectedCharacter)));
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);

        let mut it = extensions(b"");
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
    }

    #[test]
    fn error_display() {
        let all = [
            ListError::InvalidToken,
            ListError::UnterminatedQuote,
            ListError::InvalidQuotedCharacter,
            ListError::InvalidQuotedValue,
            ListError::UnexpectedCharacter,
        ];
        let msgs: Vec<String> = all.iter().map(ToString::to_string).collect();
        for (i, m) in msgs.iter().enumerate() {
            assert!(!m.is_empty());
            for other in &msgs[i + 1..] {
                assert_ne!(m, other);
            }
        }
    }

    // ---- Robustness ----

    #[test]
    fn one_mebibyte_of_separators() {
        const MIB: usize = 1 << 20;
        let commas = vec![b','; MIB];
        assert_eq!(extensions(&commas).next(), None);
        assert_eq!(tokens(&commas).next(), None);

        let semis = vec![b';'; MIB];
        assert_eq!(
            extensions(&semis).next(),
            Some(Err(ListError::InvalidToken))
        );
        assert_eq!(tokens(&semis).count(), 1);

        let mixed: Vec<u8> = b", ;\t=\"\\".iter().copied().cycle().take(MIB).collect();
        let _ = extensions(&mixed).count();
        let _ = tokens(&mixed).count();

        // A million valid parameters: parsed, then walked again by params().
        let mut many = Vec::with_capacity(MIB + 16);
        many.extend_from_slice(b"x");
        while many.len() < MIB {
            many.extend_from_slice(b";a");
        }
        let e = extensions(&many).next().unwrap().unwrap();
        assert_eq!(e.params().count(), (many.len() - 1) / 2);

        // One huge quoted value that never terminates.
        let mut quoted = Vec::with_capacity(MIB + 8);
        quoted.extend_from_slice(b"x; y=\"");
        quoted.resize(MIB, b'\\');
        let _ = extensions(&quoted).count();
    }

    /// Checks parser invariants on one input.
    fn check_invariants(input: &[u8]) {
        for t in tokens(input) {
            assert!(!t.is_empty());
            assert!(!t.contains(&b','));
            assert!(!t.first().is_some_and(|&b| is_ows(b)));
            assert!(!t.last().is_some_and(|&b| is_ows(b)));
        }
        let mut seen_err = false;
        let mut it = extensions(input);
        for r in &mut it {
            assert!(!seen_err, "yielded after an error");
            match r {
                Err(_) => seen_err = true,
                Ok(e) => {
                    assert!(is_token(e.name().as_bytes()));
                    let semis = e.params.iter().filter(|&&b| b == b';').count();
                    let mut n = 0;
                    for p in e.params() {
                        n += 1;
                        assert!(is_token(p.name().as_bytes()));
                        if let Some(v) = p.value() {
                            let u: Vec<u8> = v.unescaped().collect();
                            assert!(is_token(&u), "{:?}", v);
                            assert!(v.eq_ignore_ascii_case(core::str::from_utf8(&u).unwrap()));
                        }
                    }
                    // Parameters never contain ';' inside their tokens, and a
                    // quoted value containing ';' is rejected, so every ';' in
                    // the raw range starts a parameter.
                    assert_eq!(n, semis);
                }
            }
        }
        assert!(it.next().is_none());
    }

    #[test]
    fn exhaustive_short_inputs_do_not_panic() {
        const ALPHABET: &[u8] = b"a1,; =\"\\\t@\x80";
        let n = ALPHABET.len();
        let mut buf = Vec::new();
        for len in 0..=5u32 {
            for mut code in 0..n.pow(len) {
                buf.clear();
                for _ in 0..len {
                    buf.push(ALPHABET[code % n]);
                    code /= n;
                }
                check_invariants(&buf);
            }
        }
    }
}
