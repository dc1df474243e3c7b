//! Framing (RFC 6455 5.2, 5.3): payload lengths in each of the three encodings, non-minimal
//! lengths, the most significant bit of the 64-bit length, the masking direction for each role,
//! the section 5.7 examples, and input that stops inside a frame.

use sockless::{DataKind, ProtocolError as E, Role};

use crate::harness::*;

/// A payload of `n` bytes: lowercase ASCII for text, every byte value for binary.
pub fn pattern(n: usize, text: bool) -> Vec<u8> {
    (0..n)
        .map(|i| {
            if text {
                b'a' + (i % 26) as u8
            } else {
                (i * 7 + 3) as u8
            }
        })
        .collect()
}

/// The same frame sent in the wrong masking direction for a receiver in `role`.
pub fn wrong_mask(role: Role, f: Fr) -> Fr {
    match role {
        Role::Server => f.unmasked(),
        Role::Client => f.key([0x12, 0x34, 0x56, 0x78]),
    }
}

/// The error for a frame masked the wrong way for a receiver in `role`.
pub fn wrong_mask_error(role: Role) -> E {
    match role {
        Role::Server => E::UnmaskedFrame,
        Role::Client => E::MaskedFrame,
    }
}

pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for role in ROLES {
        let c = |name: String| case(Area::Framing, role, name);

        // Every length class, in its minimal encoding.
        for len in [0usize, 1, 125, 126, 127, 65535, 65536] {
            let enc = match len {
                0..=125 => "7-bit",
                126..=65535 => "16-bit",
                _ => "64-bit",
            };
            let b = pattern(len, false);
            v.push(
                c(format!("binary length {len} ({enc} length)"))
                    .frames(vec![bin(&b)])
                    .expect(vec![ev_bin(&b)]),
            );
            let t = pattern(len, true);
            v.push(
                c(format!("text length {len} ({enc} length)"))
                    .frames(vec![text(&t)])
                    .expect(vec![ev_text(&t)]),
            );
        }
        v.push(
            c("lengths 125, 126, 65535, 65536 back to back".into())
                .frames(vec![
                    bin(pattern(125, false)),
                    bin(pattern(126, false)),
                    text(pattern(65535, true)),
                    bin(pattern(65536, false)),
                ])
                .expect(vec![
                    ev_bin(pattern(125, false)),
                    ev_bin(pattern(126, false)),
                    ev_text(pattern(65535, true)),
                    ev_bin(pattern(65536, false)),
                ]),
        );

        // Non-minimal lengths (RFC 6455 5.2: "the minimal number of bytes MUST be used").
        for len in [0usize, 1, 125] {
            v.push(
                c(format!(
                    "binary length {len} in the 16-bit field is non-minimal"
                ))
                .frames(vec![bin(pattern(len, false)).len(LenSpec::Ext16)])
                .fails(E::NonMinimalLength, 1002),
            );
        }
        for len in [0usize, 1, 125, 126, 65535] {
            v.push(
                c(format!(
                    "binary length {len} in the 64-bit field is non-minimal"
                ))
                .frames(vec![bin(pattern(len, false)).len(LenSpec::Ext64)])
                .fails(E::NonMinimalLength, 1002),
            );
        }
        v.push(
            c("text length 5 in the 16-bit field is non-minimal".into())
                .frames(vec![text("hello").len(LenSpec::Ext16)])
                .fails(E::NonMinimalLength, 1002),
        );
        v.push(
            c("text length 300 in the 64-bit field is non-minimal".into())
                .frames(vec![text(pattern(300, true)).len(LenSpec::Ext64)])
                .fails(E::NonMinimalLength, 1002),
        );
        v.push(
            c("continuation length 3 in the 16-bit field is non-minimal".into())
                .frames(vec![text("ab").nofin(), cont("cde").len(LenSpec::Ext16)])
                .fails(E::NonMinimalLength, 1002),
        );
        v.push(
            c("non-minimal length after a valid message".into())
                .frames(vec![bin("ok"), bin("x").len(LenSpec::Ext16)])
                .expect(vec![ev_bin("ok")])
                .fails(E::NonMinimalLength, 1002),
        );

        // The most significant bit of the 64-bit length MUST be 0.
        for (name, n) in [
            ("2^63", 1u64 << 63),
            ("2^63 + 5", (1 << 63) | 5),
            ("2^63 + 2^16", (1 << 63) | (1 << 16)),
            ("2^64 - 1", u64::MAX),
        ] {
            v.push(
                c(format!("64-bit length {name} has its top bit set"))
                    .frames(vec![bin([]).len(LenSpec::Declare64(n))])
                    .fails(E::LengthOverflow, 1002),
            );
        }
        v.push(
            c("text with a 64-bit length with its top bit set".into())
                .frames(vec![text("abc").len(LenSpec::Declare64(1 << 63))])
                .fails(E::LengthOverflow, 1002),
        );
        // Top bit clear, but more than the default 16 MiB frame limit: 1009, before any payload.
        for (name, n) in [
            ("2^63 - 1", (1u64 << 63) - 1),
            ("2^32", 1 << 32),
            ("16 MiB + 1", (16 << 20) + 1),
        ] {
            v.push(
                c(format!(
                    "64-bit length {name} is legal but over the default frame limit"
                ))
                .frames(vec![bin([]).len(LenSpec::Declare64(n))])
                .fails(E::FrameTooLong, 1009),
            );
        }

        // The masking direction: a client masks every frame, a server none (RFC 6455 5.1, 5.3).
        let err = wrong_mask_error(role);
        for (name, f) in [
            ("text", text("hi")),
            ("empty text", text("")),
            ("binary", bin([1, 2, 3])),
            ("binary, 16-bit length", bin(pattern(200, false))),
            ("binary, 64-bit length", bin(pattern(70_000, false))),
            ("ping", ping("p")),
            ("pong", pong("q")),
            ("close", close(1000, "")),
            ("first fragment", text("ab").nofin()),
        ] {
            v.push(
                c(format!("{name} masked the wrong way"))
                    .frames(vec![wrong_mask(role, f)])
                    .fails(err, 1002),
            );
        }
        v.push(
            c("continuation masked the wrong way".into())
                .frames(vec![text("ab").nofin(), wrong_mask(role, cont("cd"))])
                .fails(err, 1002),
        );
        v.push(
            c("wrong masking direction after a valid message".into())
                .frames(vec![bin("ok"), ping("x"), wrong_mask(role, bin("x"))])
                .expect(vec![ev_bin("ok"), ev_ping("x")])
                .fails(err, 1002),
        );
        for (name, key) in [
            ("all-zero", [0u8; 4]),
            ("all-ones", [0xFF; 4]),
            ("0x80 bytes", [0x80, 0x80, 0x80, 0x80]),
        ] {
            let f = text("masked with a special key").key(key);
            let row = c(format!("{name} masking key"));
            v.push(match role {
                // A server accepts any key, the zero key included.
                Role::Server => row
                    .frames(vec![f])
                    .expect(vec![ev_text("masked with a special key")]),
                // A client refuses any mask, the zero key included.
                Role::Client => row.frames(vec![f]).fails(E::MaskedFrame, 1002),
            });
        }
        v.push(
            c("three messages, each with its own key".into())
                .frames(vec![text("one"), bin([2, 2]), text("three")])
                .expect(vec![ev_text("one"), ev_bin([2, 2]), ev_text("three")]),
        );

        // RFC 6455 5.7 examples.
        let (hello, frag) = match role {
            Role::Server => (
                raw([
                    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
                ]),
                vec![text("Hel").nofin(), cont("lo")],
            ),
            Role::Client => (
                raw([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]),
                vec![raw([0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f])],
            ),
        };
        v.push(
            c("RFC 6455 5.7 single-frame \"Hello\"".into())
                .frames(vec![hello])
                .expect(vec![ev_text("Hello")]),
        );
        v.push(
            c("RFC 6455 5.7 fragmented \"Hel\" + \"lo\"".into())
                .frames(frag)
                .expect(vec![ev_text("Hello")]),
        );

        // Input that stops inside a frame: what arrived is delivered, the rest is awaited.
        v.push(
            c("payload cut short: 4 of 10 declared bytes arrive".into())
                .frames(vec![bin("abcd").len(LenSpec::Declare7(10))])
                .unfinished(DataKind::Binary, "abcd"),
        );
        v.push(
            c("payload cut short in the 16-bit class".into())
                .frames(vec![bin(pattern(130, false)).len(LenSpec::Declare16(300))])
                .unfinished(DataKind::Binary, pattern(130, false)),
        );
        v.push(
            c("declared 16 MiB (at the default limit), 10 bytes arrive".into())
                .frames(vec![
                    bin(pattern(10, false)).len(LenSpec::Declare64(16 << 20))
                ])
                .unfinished(DataKind::Binary, pattern(10, false)),
        );
        let (partial_header, partial_ping) = match role {
            Role::Server => (
                raw([0x81, 0x85, 0x01, 0x02]),
                raw([0x89, 0x85, 0, 0, 0, 0, b'a', b'b']),
            ),
            Role::Client => (raw([0x82, 0x7E, 0x01]), raw([0x89, 0x05, b'a', b'b'])),
        };
        let n = partial_header.raw.as_ref().map_or(0, Vec::len);
        v.push(
            c("a header cut short is left unconsumed".into())
                .frames(vec![text("ok"), partial_header])
                .expect(vec![ev_text("ok")])
                .unread(n),
        );
        let n = partial_ping.raw.as_ref().map_or(0, Vec::len);
        v.push(
            c("a control frame cut short is left unconsumed".into())
                .frames(vec![text("ok"), partial_ping])
                .expect(vec![ev_text("ok")])
                .unread(n),
        );
    }
    v
}
