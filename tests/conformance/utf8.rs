//! UTF-8 in text messages (RFC 6455 5.6, 8.1; RFC 3629): valid text at every code point boundary,
//! and invalid text (overlongs, surrogates, code points past U+10FFFF, stray continuation bytes,
//! truncated sequences, 0xFE and 0xFF), in one frame and split across fragments. The harness checks
//! on every run that the error comes on the read holding the first byte at which the text can no
//! longer be valid UTF-8, and that exactly the text before that byte was delivered, whatever the
//! chunking.

use sockless::ProtocolError as E;

use crate::harness::*;

/// Valid texts, named.
fn valid() -> Vec<(&'static str, Vec<u8>)> {
    let mixed: String = (0..2000)
        .map(|i| {
            [
                'a',
                '\u{E9}',
                '\u{20AC}',
                '\u{1F600}',
                '\u{10FFFF}',
                '\u{7F}',
            ][i % 6]
        })
        .collect();
    let mut v: Vec<(&'static str, Vec<u8>)> = vec![
        ("empty", b"".to_vec()),
        ("ASCII", b"Hello, world".to_vec()),
        ("NUL", b"\0".to_vec()),
        ("U+007F (last 1-byte)", "\u{7F}".into()),
        ("U+0080 (first 2-byte)", "\u{80}".into()),
        ("U+07FF (last 2-byte)", "\u{7FF}".into()),
        ("U+0800 (first 3-byte)", "\u{800}".into()),
        ("U+D7FF (before the surrogates)", "\u{D7FF}".into()),
        ("U+E000 (after the surrogates)", "\u{E000}".into()),
        ("U+FEFF (BOM)", "\u{FEFF}".into()),
        ("U+FFFD", "\u{FFFD}".into()),
        ("U+FFFE (noncharacter)", "\u{FFFE}".into()),
        ("U+FFFF (max BMP)", "\u{FFFF}".into()),
        ("U+10000 (first 4-byte)", "\u{10000}".into()),
        ("U+1F600", "\u{1F600}".into()),
        ("U+10FFFF (last code point)", "\u{10FFFF}".into()),
        ("Greek kosme", "\u{3BA}\u{1F79}\u{3C3}\u{3BC}\u{3B5}".into()),
        (
            "Hello-\u{B5}@\u{DF}\u{F6}",
            "Hello-\u{B5}@\u{DF}\u{F6}\u{E4}\u{FC}\u{E0}\u{E1}-UTF-8!!".into(),
        ),
        ("2-byte run", "\u{E9}\u{E9}\u{E9}\u{E9}".into()),
        ("3-byte run", "\u{20AC}\u{20AC}\u{20AC}\u{20AC}".into()),
        ("4-byte run", "\u{1F600}\u{1F600}\u{1F600}".into()),
        (
            "every boundary code point",
            "\u{0}\u{7F}\u{80}\u{7FF}\u{800}\u{D7FF}\u{E000}\u{FFFF}\u{10000}\u{10FFFF}".into(),
        ),
    ];
    v.push(("2000 characters of mixed widths", mixed.into_bytes()));
    v
}

/// Invalid sequences: name, bytes, and whether they can only stand at the end of a message
/// (truncated sequences: followed by anything they would be a different case).
fn invalid() -> Vec<(&'static str, Vec<u8>, bool)> {
    let seqs: &[(&str, &[u8], bool)] = &[
        // Overlong encodings.
        ("overlong NUL C0 80", &[0xC0, 0x80], false),
        ("overlong C1 BF", &[0xC1, 0xBF], false),
        ("overlong '/' C0 AF", &[0xC0, 0xAF], false),
        ("overlong 3-byte E0 80 80", &[0xE0, 0x80, 0x80], false),
        ("overlong 3-byte '/' E0 80 AF", &[0xE0, 0x80, 0xAF], false),
        ("overlong max 3-byte E0 9F BF", &[0xE0, 0x9F, 0xBF], false),
        (
            "overlong 4-byte F0 80 80 80",
            &[0xF0, 0x80, 0x80, 0x80],
            false,
        ),
        (
            "overlong 4-byte '/' F0 80 80 AF",
            &[0xF0, 0x80, 0x80, 0xAF],
            false,
        ),
        (
            "overlong max 4-byte F0 8F BF BF",
            &[0xF0, 0x8F, 0xBF, 0xBF],
            false,
        ),
        (
            "5-byte form F8 88 80 80 80",
            &[0xF8, 0x88, 0x80, 0x80, 0x80],
            false,
        ),
        (
            "6-byte form FC 84 80 80 80 80",
            &[0xFC, 0x84, 0x80, 0x80, 0x80, 0x80],
            false,
        ),
        // UTF-16 surrogates U+D800..U+DFFF.
        ("surrogate U+D800", &[0xED, 0xA0, 0x80], false),
        ("surrogate U+DB7F", &[0xED, 0xAD, 0xBF], false),
        ("surrogate U+DB80", &[0xED, 0xAE, 0x80], false),
        ("surrogate U+DBFF", &[0xED, 0xAF, 0xBF], false),
        ("surrogate U+DC00", &[0xED, 0xB0, 0x80], false),
        ("surrogate U+DF80", &[0xED, 0xBE, 0x80], false),
        ("surrogate U+DFFF", &[0xED, 0xBF, 0xBF], false),
        (
            "surrogate pair U+D800 U+DC00",
            &[0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80],
            false,
        ),
        (
            "surrogate pair U+DBFF U+DFFF",
            &[0xED, 0xAF, 0xBF, 0xED, 0xBF, 0xBF],
            false,
        ),
        // Past U+10FFFF.
        ("U+110000 F4 90 80 80", &[0xF4, 0x90, 0x80, 0x80], false),
        ("U+13FFFF F4 BF BF BF", &[0xF4, 0xBF, 0xBF, 0xBF], false),
        ("U+140000 F5 80 80 80", &[0xF5, 0x80, 0x80, 0x80], false),
        ("U+1FFFFF F7 BF BF BF", &[0xF7, 0xBF, 0xBF, 0xBF], false),
        // Continuation bytes with no lead.
        ("lone continuation 80", &[0x80], false),
        ("lone continuation BF", &[0xBF], false),
        ("two continuations 80 BF", &[0x80, 0xBF], false),
        (
            "continuation after a whole character",
            &[0xC3, 0xA9, 0x80],
            false,
        ),
        // A lead byte followed by something that cannot continue it.
        ("2-byte lead then ASCII", &[0xC3, 0x41], false),
        ("3-byte lead then ASCII", &[0xE2, 0x41], false),
        (
            "3-byte lead, 1 continuation, then ASCII",
            &[0xE2, 0x82, 0x41],
            false,
        ),
        (
            "4-byte lead, 2 continuations, then ASCII",
            &[0xF0, 0x9F, 0x98, 0x41],
            false,
        ),
        ("2-byte lead then a lead", &[0xC3, 0xC3], false),
        (
            "4-byte lead then a 4-byte lead",
            &[0xF0, 0xF0, 0x9F, 0x98, 0x80],
            false,
        ),
        // Bytes that never appear.
        ("FE", &[0xFE], false),
        ("FF", &[0xFF], false),
        ("FE FE FF FF", &[0xFE, 0xFE, 0xFF, 0xFF], false),
        // Truncated at the end of the message.
        ("truncated 2-byte C3", &[0xC3], true),
        ("truncated 2-byte C2", &[0xC2], true),
        ("truncated 3-byte E2", &[0xE2], true),
        ("truncated 3-byte E2 82", &[0xE2, 0x82], true),
        ("truncated 4-byte F0", &[0xF0], true),
        ("truncated 4-byte F0 9F", &[0xF0, 0x9F], true),
        ("truncated 4-byte F0 9F 98", &[0xF0, 0x9F, 0x98], true),
        ("truncated U+10FFFF F4 8F BF", &[0xF4, 0x8F, 0xBF], true),
    ];
    seqs.iter().map(|&(n, b, t)| (n, b.to_vec(), t)).collect()
}

/// `payload` as text split into fragments after each offset in `cuts`.
fn fragments(payload: &[u8], cuts: &[usize]) -> Vec<Fr> {
    let mut bounds = vec![0];
    bounds.extend(cuts.iter().copied().filter(|&c| c > 0 && c < payload.len()));
    bounds.push(payload.len());
    bounds.dedup();
    let n = bounds.len() - 1;
    (0..n)
        .map(|i| {
            let piece = &payload[bounds[i]..bounds[i + 1]];
            let f = if i == 0 { text(piece) } else { cont(piece) };
            if i + 1 == n {
                f
            } else {
                f.nofin()
            }
        })
        .collect()
}

fn bytewise(payload: &[u8]) -> Vec<Fr> {
    let cuts: Vec<usize> = (1..payload.len()).collect();
    fragments(payload, &cuts)
}

pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for role in ROLES {
        let c = |name: String| case(Area::Utf8, role, name);

        for (name, s) in valid() {
            v.push(
                c(format!("valid: {name}, one frame"))
                    .frames(vec![text(&s)])
                    .expect(vec![ev_text(&s)]),
            );
            if s.len() > 1 {
                v.push(
                    c(format!("valid: {name}, one byte per fragment"))
                        .frames(bytewise(&s))
                        .expect(vec![ev_text(&s)]),
                );
            }
        }
        let mixed = "a\u{80}\u{800}\u{10000}z".as_bytes();
        for cut in 1..mixed.len() {
            v.push(
                c(format!(
                    "valid: mixed widths cut into 2 fragments at byte {cut}"
                ))
                .frames(fragments(mixed, &[cut]))
                .expect(vec![ev_text(mixed)]),
            );
        }
        v.push(
            c("valid: characters split across fragments with pings between".into())
                .frames(vec![
                    text([0xF0, 0x9F]).nofin(),
                    ping("1"),
                    cont([0x98, 0x80, 0xE2]).nofin(),
                    ping("2"),
                    cont([0x82, 0xAC]),
                ])
                .expect(vec![
                    ev_ping("1"),
                    ev_ping("2"),
                    ev_text("\u{1F600}\u{20AC}"),
                ]),
        );
        v.push(
            c("binary messages are not UTF-8 checked".into())
                .frames(vec![bin([0xFF, 0xFE, 0xC0, 0x80, 0xED, 0xA0, 0x80])])
                .expect(vec![ev_bin([0xFF, 0xFE, 0xC0, 0x80, 0xED, 0xA0, 0x80])]),
        );

        let prefix = "ok \u{3BA}\u{1F600} ".as_bytes();
        for (name, bad, truncated) in invalid() {
            let mut p = prefix.to_vec();
            p.extend_from_slice(&bad);
            if !truncated {
                p.extend_from_slice(b" tail");
            }
            let at = prefix.len();
            v.push(
                c(format!("invalid: {name}, alone"))
                    .frames(vec![text(&bad)])
                    .fails(E::InvalidUtf8, 1007),
            );
            v.push(
                c(format!("invalid: {name}, inside one frame"))
                    .frames(vec![text(&p)])
                    .fails(E::InvalidUtf8, 1007),
            );
            v.push(
                c(format!("invalid: {name}, in a fragment of its own"))
                    .frames(fragments(&p, &[at, at + bad.len()]))
                    .fails(E::InvalidUtf8, 1007),
            );
            if bad.len() > 1 {
                v.push(
                    c(format!("invalid: {name}, split across fragments"))
                        .frames(fragments(&p, &[at + 1]))
                        .fails(E::InvalidUtf8, 1007),
                );
            }
            v.push(
                c(format!("invalid: {name}, one byte per fragment"))
                    .frames(bytewise(&p))
                    .fails(E::InvalidUtf8, 1007),
            );
            v.push(
                c(format!("invalid: {name}, in the second message"))
                    .frames(vec![text(prefix), ping("p"), text(&p)])
                    .expect(vec![ev_text(prefix), ev_ping("p")])
                    .fails(E::InvalidUtf8, 1007),
            );
            if truncated {
                let mut frames = vec![text(&p).nofin()];
                frames.push(cont([]));
                v.push(
                    c(format!("invalid: {name}, then an empty final fragment"))
                        .frames(frames)
                        .fails(E::InvalidUtf8, 1007),
                );
                v.push(
                    c(format!(
                        "invalid: {name}, then a fragment starting with ASCII"
                    ))
                    .frames(vec![text(&p).nofin(), cont("x")])
                    .fails(E::InvalidUtf8, 1007),
                );
            }
        }

        // Fail fast in long text: the error comes at the byte, not at the end of the frame or
        // message, and everything before it was delivered.
        let mut long = vec![b'a'; 3000];
        long[1500] = 0xFF;
        v.push(
            c("invalid: FF at byte 1500 of a 3000-byte frame".into())
                .frames(vec![text(&long)])
                .fails(E::InvalidUtf8, 1007),
        );
        let mut long = "\u{20AC}".repeat(1000).into_bytes();
        long[2001] = 0x41; // the middle of a character
        v.push(
            c("invalid: ASCII inside a 3-byte character at byte 2001".into())
                .frames(vec![text(&long)])
                .fails(E::InvalidUtf8, 1007),
        );
        let mut long = vec![b'b'; 2800];
        long[2100] = 0xC0;
        v.push(
            c("invalid: C0 in the fourth of four 700-byte fragments".into())
                .frames(fragments(&long, &[700, 1400, 2100]))
                .fails(E::InvalidUtf8, 1007),
        );
        let mut long = vec![b'c'; 70_000];
        long[66_000] = 0xED;
        long[66_001] = 0xA0;
        long[66_002] = 0x80;
        v.push(
            c("invalid: surrogate at byte 66000 of a 64-bit-length frame".into())
                .frames(vec![text(&long)])
                .fails(E::InvalidUtf8, 1007),
        );
        // Issue 7's example: "ab" is delivered in every chunking, then the error.
        v.push(
            c("invalid: ab FF c, the valid part delivered first".into())
                .frames(vec![text(b"ab\xFFc")])
                .fails(E::InvalidUtf8, 1007),
        );
        v.push(
            c("invalid: an unfinished character before the bad byte is delivered".into())
                .frames(vec![text(b"ab\xF0\x9F\x98A")])
                .fails(E::InvalidUtf8, 1007),
        );
        v.push(
            c("invalid: bad byte after pings between fragments".into())
                .frames(vec![
                    text("abc").nofin(),
                    ping("1"),
                    cont("def").nofin(),
                    ping("2"),
                    cont([b'g', 0xF8, b'h']),
                ])
                .expect(vec![ev_ping("1"), ev_ping("2")])
                .fails(E::InvalidUtf8, 1007),
        );
    }
    v
}
