//! Reserved bits and reserved opcodes (RFC 6455 5.2): with no extension negotiated, any RSV bit
//! and any of the opcodes 3-7 and 11-15 fail the connection with 1002, on data and control
//! frames, alone or in the middle of a fragmented message.

use sockless::ProtocolError as E;

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
