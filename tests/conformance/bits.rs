//! Reserved bits and reserved opcodes (RFC 6455 5.2): with no extension negotiated, any RSV bit
//! and any of the opcodes 3-7 and 11-15 fail the connection with 1002, on data and control
//! frames, alone or in the middle of a fragmented message. With bits owned by a negotiated
//! extension (`Connection::with_extension_bits`), those bits are accepted on the first frame of a
//! data message only (RFC 7692 6) and reported on every piece of it; the send side sets them
//! under the same rule.

use sockless::frame::{FrameHeader, OpCode};
use sockless::ProtocolError as E;
use sockless::{
    Config, Connection, DataKind, Event, RandomError, RandomSource, Recv, Rsv, SendError, Status,
};

use crate::harness::*;

fn rsv_name(rsv: u8) -> String {
    let names: Vec<String> = (0..3)
        .filter(|b| rsv & (4 >> b) != 0)
        .map(|b| format!("RSV{}", b + 1))
        .collect();
    names.join("+")
}

pub fn reserved_bits() -> Vec<Case> {
    let mut v = Vec::new();
    for role in ROLES {
        let c = |name: String| case(Area::ReservedBits, role, name);
        for rsv in 1..=7u8 {
            let bits = rsv_name(rsv);
            for (what, f) in [
                ("text", text("abc")),
                ("empty text", text("")),
                ("binary", bin([1, 2, 3])),
                ("ping", ping("p")),
                ("pong", pong("p")),
                ("close", close(1000, "")),
            ] {
                v.push(
                    c(format!("{bits} on a {what} frame"))
                        .frames(vec![f.rsv(rsv)])
                        .fails(E::ReservedBits, 1002),
                );
            }
            v.push(
                c(format!("{bits} on a continuation"))
                    .frames(vec![text("ab").nofin(), cont("cd").rsv(rsv)])
                    .fails(E::ReservedBits, 1002),
            );
            v.push(
                c(format!("{bits} on a first fragment"))
                    .frames(vec![bin("ab").nofin().rsv(rsv), cont("cd")])
                    .bad_frame(0)
                    .fails(E::ReservedBits, 1002),
            );
        }
        v.push(
            c("RSV1 after a valid message and a ping".into())
                .frames(vec![text("ok"), ping("p"), bin("x").rsv(4)])
                .expect(vec![ev_text("ok"), ev_ping("p")])
                .fails(E::ReservedBits, 1002),
        );
        v.push(
            c("RSV2 on a 16-bit-length frame".into())
                .frames(vec![bin([7; 300]).rsv(2)])
                .fails(E::ReservedBits, 1002),
        );
        v.push(
            c("RSV3 on a 64-bit-length frame".into())
                .frames(vec![bin(vec![7; 70_000]).rsv(1)])
                .fails(E::ReservedBits, 1002),
        );
        v.push(
            c("RSV1 on a ping between fragments".into())
                .frames(vec![text("ab").nofin(), ping("p").rsv(4), cont("cd")])
                .bad_frame(1)
                .fails(E::ReservedBits, 1002),
        );
        // Two rules broken at once: either answer is a protocol error.
        v.push(
            c("RSV1 on a ping with FIN clear".into())
                .frames(vec![ping("p").rsv(4).nofin()])
                .fails_any(&[E::ReservedBits, E::FragmentedControlFrame], 1002),
        );
    }
    v.extend(owned_bits());
    v
}

/// RSV bits owned by a negotiated extension, in both roles.
fn owned_bits() -> Vec<Case> {
    let mut v = Vec::new();
    for role in ROLES {
        let c = |name: &str| {
            case(Area::ReservedBits, role, format!("RSV1 owned: {name}")).owns(Rsv::RSV1)
        };
        v.push(
            c("on a text frame, delivered with its bit")
                .frames(vec![text("abc").rsv(4)])
                .expect(vec![ev_text("abc").rsv(Rsv::RSV1)]),
        );
        v.push(
            c("on an empty binary frame")
                .frames(vec![bin([]).rsv(4)])
                .expect(vec![ev_bin([]).rsv(Rsv::RSV1)]),
        );
        v.push(
            c("on a 64-bit-length frame")
                .frames(vec![bin(vec![9; 70_000]).rsv(4)])
                .expect(vec![ev_bin(vec![9; 70_000]).rsv(Rsv::RSV1)]),
        );
        v.push(
            c("on a first fragment: every piece of the message carries it")
                .frames(vec![
                    text("ab").nofin().rsv(4),
                    ping("p"),
                    cont("cd").nofin(),
                    cont("ef"),
                ])
                .expect(vec![ev_ping("p"), ev_text("abcdef").rsv(Rsv::RSV1)]),
        );
        v.push(
            c("a compressed message, then a plain one")
                .frames(vec![bin("z").rsv(4), bin("p"), text("q").rsv(4)])
                .expect(vec![
                    ev_bin("z").rsv(Rsv::RSV1),
                    ev_bin("p"),
                    ev_text("q").rsv(Rsv::RSV1),
                ]),
        );
        // The payload of a compressed text message is compressed bytes: the layer validates
        // the inflated text, not the connection.
        v.push(
            c("compressed text is not checked as UTF-8")
                .frames(vec![
                    text([0xF2, 0x48, 0xCD, 0xFF]).nofin().rsv(4),
                    cont([0xC0, 0x80]),
                ])
                .expect(vec![
                    ev_text([0xF2, 0x48, 0xCD, 0xFF, 0xC0, 0x80]).rsv(Rsv::RSV1)
                ]),
        );
        v.push(
            c("plain text after compressed text is still checked")
                .frames(vec![text([0xFF]).rsv(4), text(b"ok\xFF")])
                .expect(vec![ev_text([0xFF]).rsv(Rsv::RSV1)])
                .fails(E::InvalidUtf8, 1007),
        );
        v.push(
            c("on a continuation")
                .frames(vec![text("ab").nofin(), cont("cd").rsv(4)])
                .fails(E::ReservedBits, 1002),
        );
        v.push(
            c("on a first fragment and its continuation")
                .frames(vec![bin("ab").nofin().rsv(4), cont("cd").rsv(4)])
                .fails(E::ReservedBits, 1002),
        );
        for (what, f) in [
            ("ping", ping("p")),
            ("pong", pong("p")),
            ("close", close(1000, "")),
        ] {
            v.push(
                c(&format!("on a {what} frame"))
                    .frames(vec![f.rsv(4)])
                    .fails(E::ReservedBits, 1002),
            );
        }
        v.push(
            c("on a ping inside a compressed message")
                .frames(vec![bin("ab").nofin().rsv(4), ping("p").rsv(4), cont("cd")])
                .bad_frame(1)
                .fails(E::ReservedBits, 1002),
        );
        for rsv in [2, 1, 6, 7] {
            v.push(
                c(&format!("{} on a first frame is not owned", rsv_name(rsv)))
                    .frames(vec![text("abc").rsv(rsv)])
                    .fails(E::ReservedBits, 1002),
            );
        }
        v.push(
            case(
                Area::ReservedBits,
                role,
                "RSV2 owned, RSV1 not: RSV2 accepted",
            )
            .owns(Rsv::RSV2)
            .frames(vec![bin("x").rsv(2), bin("y").rsv(4)])
            .expect(vec![ev_bin("x").rsv(Rsv::RSV2)])
            .fails(E::ReservedBits, 1002),
        );
        v.push(
            case(
                Area::ReservedBits,
                role,
                "RSV1 not owned, as without an extension",
            )
            .owns(Rsv::RSV2 | Rsv::RSV3)
            .frames(vec![text("abc").rsv(4)])
            .fails(E::ReservedBits, 1002),
        );
    }
    v
}

pub fn opcodes() -> Vec<Case> {
    let mut v = Vec::new();
    for role in ROLES {
        let c = |name: String| case(Area::Opcodes, role, name);
        for op in (3..=7u8).chain(11..=15) {
            let class = if op < 8 { "data" } else { "control" };
            let err = E::UnknownOpcode(op);
            v.push(
                c(format!("reserved {class} opcode {op:#x}, empty"))
                    .frames(vec![frame(op, [])])
                    .fails(err, 1002),
            );
            v.push(
                c(format!("reserved {class} opcode {op:#x} with a payload"))
                    .frames(vec![frame(op, "payload")])
                    .fails(err, 1002),
            );
            v.push(
                c(format!("reserved {class} opcode {op:#x} with FIN clear"))
                    .frames(vec![frame(op, "x").nofin()])
                    .fails(err, 1002),
            );
            v.push(
                c(format!(
                    "reserved {class} opcode {op:#x} after a valid message"
                ))
                .frames(vec![text("ok"), frame(op, [])])
                .expect(vec![ev_text("ok")])
                .fails(err, 1002),
            );
            v.push(
                c(format!(
                    "reserved {class} opcode {op:#x} in the middle of a fragmented message"
                ))
                .frames(vec![text("ab").nofin(), frame(op, "x"), cont("cd")])
                .bad_frame(1)
                .fails(err, 1002),
            );
            v.push(
                c(format!(
                    "reserved {class} opcode {op:#x} with FIN clear in the middle of a message"
                ))
                .frames(vec![bin("ab").nofin(), frame(op, "x").nofin(), cont("cd")])
                .bad_frame(1)
                .fails(err, 1002),
            );
        }
        // Every defined opcode, for contrast, in one stream.
        v.push(
            c("every defined opcode in one stream".into())
                .frames(vec![
                    text("a").nofin(),
                    cont("b"),
                    bin([1]),
                    ping("p"),
                    pong("q"),
                    close(1000, ""),
                ])
                .expect(vec![
                    ev_text("ab"),
                    ev_bin([1]),
                    ev_ping("p"),
                    ev_pong("q"),
                    ev_close(1000, ""),
                ]),
        );
    }
    v
}

// =============================================================================================
// The send side
// =============================================================================================

/// A client drawing masking keys from a counter.
fn client(bits: Rsv) -> Connection<impl RandomSource> {
    let mut n = 0u8;
    let rng = move |dest: &mut [u8]| -> Result<(), RandomError> {
        for b in dest {
            n = n.wrapping_add(41);
            *b = n;
        }
        Ok(())
    };
    Connection::client(Config::default(), rng).with_extension_bits(bits)
}

fn server(bits: Rsv) -> Connection {
    Connection::server(Config::default()).with_extension_bits(bits)
}

/// The RSV bits and opcode of every frame in `bytes`.
fn headers(mut bytes: &[u8]) -> Vec<(u8, OpCode)> {
    let mut v = Vec::new();
    while !bytes.is_empty() {
        let Ok(Status::Complete((h, n))) = FrameHeader::decode(bytes) else {
            panic!("undecodable output");
        };
        v.push((h.rsv, h.opcode));
        bytes = &bytes[n + h.payload_len as usize..];
    }
    v
}

/// `tx` sends a fragmented text message with RSV1 on its first frame; `rx` receives it.
fn send_compressed<A: RandomSource, B: RandomSource>(mut tx: Connection<A>, mut rx: Connection<B>) {
    let mut out = vec![0u8; 256];
    let a = tx
        .send_frame_with(DataKind::Text, b"ab", false, Rsv::RSV1, &mut out)
        .unwrap();
    assert_eq!(
        tx.send_frame_with(DataKind::Text, b"cd", true, Rsv::RSV1, &mut out[a..]),
        Err(SendError::ReservedBits),
        "never on a continuation"
    );
    let n = a + tx
        .send_frame_with(DataKind::Text, b"cd", true, Rsv::NONE, &mut out[a..])
        .unwrap();
    assert_eq!(
        tx.send_frame_with(DataKind::Binary, b"x", true, Rsv::RSV2, &mut out[n..]),
        Err(SendError::ReservedBits),
        "only owned bits"
    );
    assert_eq!(
        headers(&out[..n]),
        [(0b100, OpCode::Text), (0, OpCode::Continuation)]
    );
    let mut pos = 0;
    let mut got = Vec::new();
    while pos < n {
        let r = rx.receive(&mut out[pos..n]);
        pos += r.consumed;
        match r.result {
            Ok(Recv::Event(Event::Data { payload, rsv, .. })) => got.push((payload.to_vec(), rsv)),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        got,
        [(b"ab".to_vec(), Rsv::RSV1), (b"cd".to_vec(), Rsv::RSV1)]
    );
}

#[test]
fn owned_bits_go_on_the_first_frame_sent_in_both_roles() {
    send_compressed(server(Rsv::RSV1), client(Rsv::RSV1));
    send_compressed(client(Rsv::RSV1), server(Rsv::RSV1));
}

#[test]
fn unowned_bits_are_refused_and_nothing_is_written() {
    for bits in [Rsv::NONE, Rsv::RSV2] {
        let mut c = client(bits);
        let mut out = [0xEEu8; 64];
        assert_eq!(
            c.send_frame_with(DataKind::Binary, b"x", true, Rsv::RSV1, &mut out),
            Err(SendError::ReservedBits)
        );
        assert_eq!(
            c.send_header_with(DataKind::Binary, 1, true, Rsv::RSV1, &mut out),
            Err(SendError::ReservedBits)
        );
        assert_eq!(out, [0xEE; 64]);
        // No state changed: a message can still start.
        let n = c
            .send_frame(DataKind::Binary, b"x", true, &mut out)
            .unwrap();
        assert_eq!(headers(&out[..n]), [(0, OpCode::Binary)]);
    }
}

#[test]
fn streamed_first_frame_carries_the_bits_and_an_owed_pong_does_not() {
    let mut c = server(Rsv::RSV1);
    // A Ping from the client (masked, zero key): its Pong is owed.
    let mut ping = [0x89, 0x81, 0, 0, 0, 0, b'p'];
    let r = c.receive(&mut ping);
    assert!(matches!(r.result, Ok(Recv::Event(Event::Ping(_)))));
    let mut out = [0u8; 160];
    let n = c
        .send_header_with(DataKind::Binary, 3, false, Rsv::RSV1, &mut out)
        .unwrap();
    let mut payload = *b"abc";
    c.send_payload(&mut payload).unwrap();
    let mut wire = out[..n].to_vec();
    wire.extend_from_slice(&payload);
    assert_eq!(
        c.send_header_with(DataKind::Binary, 1, true, Rsv::RSV1, &mut out),
        Err(SendError::ReservedBits)
    );
    let m = c.send_header(DataKind::Binary, 1, true, &mut out).unwrap();
    c.send_payload(&mut [b'd']).unwrap();
    wire.extend_from_slice(&out[..m]);
    wire.push(b'd');
    assert_eq!(
        headers(&wire),
        [
            (0, OpCode::Pong),
            (0b100, OpCode::Binary),
            (0, OpCode::Continuation)
        ]
    );
}
