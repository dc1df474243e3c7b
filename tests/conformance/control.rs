//! Ping and Pong (RFC 6455 5.5.2, 5.5.3): every payload size a control frame may have, the 125-byte
//! limit, one Pong per Ping in order with the same payload, unsolicited Pongs, control frames
//! between the fragments of a message, and an echo server's frames after the Pongs it owed first.

use sockless::frame::OpCode;
use sockless::ProtocolError as E;

use crate::harness::*;

/// A ping payload of `n` bytes that runs through many byte values (not UTF-8: none is needed).
fn ping_payload(n: usize, salt: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(37).wrapping_add(salt))
        .collect()
}

pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for role in ROLES {
        let c = |name: String| case(Area::PingPong, role, name);

        // Every payload size 0..=125 is answered with a Pong carrying the same bytes.
        for n in 0..=125 {
            let p = ping_payload(n, 11);
            v.push(
                c(format!("ping with {n} payload bytes"))
                    .frames(vec![ping(&p)])
                    .expect(vec![ev_ping(&p)]),
            );
        }

        // More than 125 bytes is a protocol error, whichever length field says it.
        for (name, f) in [
            ("ping with 126 payload bytes", ping(ping_payload(126, 1))),
            ("ping with 127 payload bytes", ping(ping_payload(127, 1))),
            (
                "ping declaring 65535 bytes",
                ping([]).len(LenSpec::Declare16(65535)),
            ),
            (
                "ping declaring 65536 bytes",
                ping([]).len(LenSpec::Declare64(65536)),
            ),
            ("pong with 126 payload bytes", pong(ping_payload(126, 2))),
            ("close with 126 payload bytes", close(1000, [b'r'; 124])),
        ] {
            v.push(
                c(name.into())
                    .frames(vec![f])
                    .fails(E::ControlFrameTooLong, 1002),
            );
        }
        // A control frame with a 16-bit length that is itself small: illegal either way.
        v.push(
            c("ping of 5 bytes in the 16-bit length field".into())
                .frames(vec![ping("hello").len(LenSpec::Ext16)])
                .fails_any(&[E::ControlFrameTooLong, E::NonMinimalLength], 1002),
        );
        v.push(
            c("ping of 126 bytes after a valid ping".into())
                .frames(vec![ping("ok"), ping(ping_payload(126, 3))])
                .expect(vec![ev_ping("ok")])
                .fails(E::ControlFrameTooLong, 1002),
        );

        // Several Pings in one read: one Pong each, in order.
        for count in [2usize, 3, 10] {
            let pings: Vec<Vec<u8>> = (0..count)
                .map(|i| format!("ping #{i}").into_bytes())
                .collect();
            v.push(
                c(format!("{count} pings in one read, answered in order"))
                    .frames(pings.iter().map(ping).collect())
                    .expect(pings.iter().map(ev_ping).collect()),
            );
        }
        v.push(
            c("10 empty pings, answered in order".into())
                .frames(vec![ping([]); 10])
                .expect(vec![ev_ping([]); 10]),
        );
        v.push(
            c("3 pings of 125 bytes".into())
                .frames((0..3).map(|i| ping(ping_payload(125, i))).collect())
                .expect((0..3).map(|i| ev_ping(ping_payload(125, i))).collect()),
        );
        v.push(
            c("pings between messages".into())
                .frames(vec![ping("a"), text("t"), ping("b"), bin([9]), ping("c")])
                .expect(vec![
                    ev_ping("a"),
                    ev_text("t"),
                    ev_ping("b"),
                    ev_bin([9]),
                    ev_ping("c"),
                ]),
        );
        v.push(
            c("pings and pongs mixed".into())
                .frames(vec![ping("1"), pong("x"), ping("2"), pong("y"), ping("3")])
                .expect(vec![
                    ev_ping("1"),
                    ev_pong("x"),
                    ev_ping("2"),
                    ev_pong("y"),
                    ev_ping("3"),
                ]),
        );

        // The Pong echoes the Ping's payload exactly.
        let all: Vec<u8> = (0..125u8)
            .map(|i| i.wrapping_mul(2).wrapping_add(1))
            .collect();
        v.push(
            c("pong echoes 125 odd byte values exactly".into())
                .frames(vec![ping(&all)])
                .expect(vec![ev_ping(&all)]),
        );
        let high: Vec<u8> = (0x83..=0xFFu8).collect();
        v.push(
            c("pong echoes bytes 0x83..=0xFF exactly".into())
                .frames(vec![ping(&high)])
                .expect(vec![ev_ping(&high)]),
        );
        v.push(
            c("ping payload need not be UTF-8".into())
                .frames(vec![ping([0xFF, 0xFE, 0x00, 0xC0, 0xED, 0xA0, 0x80])])
                .expect(vec![ev_ping([0xFF, 0xFE, 0x00, 0xC0, 0xED, 0xA0, 0x80])]),
        );

        // Unsolicited Pongs are reported and otherwise ignored.
        for n in [0usize, 1, 125] {
            let p = ping_payload(n, 5);
            v.push(
                c(format!("unsolicited pong with {n} bytes"))
                    .frames(vec![pong(&p)])
                    .expect(vec![ev_pong(&p)])
                    .writes(vec![]),
            );
        }
        v.push(
            c("unsolicited pong, then a message".into())
                .frames(vec![pong("hb"), text("after")])
                .expect(vec![ev_pong("hb"), ev_text("after")]),
        );

        // Control frames between fragments (RFC 6455 5.4).
        v.push(
            c("ping between two text fragments".into())
                .frames(vec![text("Hel").nofin(), ping("mid"), cont("lo")])
                .expect(vec![ev_ping("mid"), ev_text("Hello")]),
        );
        v.push(
            c("ping between every binary fragment".into())
                .frames(vec![
                    bin([1]).nofin(),
                    ping("a"),
                    cont([2]).nofin(),
                    ping("b"),
                    cont([3]).nofin(),
                    ping("c"),
                    cont([4]),
                ])
                .expect(vec![
                    ev_ping("a"),
                    ev_ping("b"),
                    ev_ping("c"),
                    ev_bin([1, 2, 3, 4]),
                ]),
        );
        v.push(
            c("pong between two fragments".into())
                .frames(vec![bin("ab").nofin(), pong("p"), cont("cd")])
                .expect(vec![ev_pong("p"), ev_bin("abcd")]),
        );
        v.push(
            c("ping between fragments that split a character".into())
                .frames(vec![
                    text([b'x', 0xE2, 0x82]).nofin(),
                    ping("p"),
                    cont([0xAC, b'y']),
                ])
                .expect(vec![ev_ping("p"), ev_text("x\u{20AC}y")]),
        );
        v.push(
            c("two pings between empty fragments".into())
                .frames(vec![text("").nofin(), ping("1"), ping("2"), cont("")])
                .expect(vec![ev_ping("1"), ev_ping("2"), ev_text("")]),
        );

        // Pongs keep their place: an echo server (the Autobahn 5.x setting) sends its echo after
        // the Pong owed for a Ping that arrived first, whether or not it flushed in between.
        v.push(
            c("echo: ping between two text fragments, pong before the echo".into())
                .echo(Echo::Message)
                .frames(vec![text("Hel").nofin(), ping("mid"), cont("lo")])
                .expect(vec![ev_ping("mid"), ev_text("Hello")])
                .writes(vec![wf_pong(b"mid"), wf_text("Hello")]),
        );
        v.push(
            c("echo: pings between binary fragments, pongs before the echo".into())
                .echo(Echo::Message)
                .frames(vec![
                    bin([1]).nofin(),
                    ping("a"),
                    cont([2]).nofin(),
                    ping("b"),
                    cont([3]),
                ])
                .expect(vec![ev_ping("a"), ev_ping("b"), ev_bin([1, 2, 3])])
                .writes(vec![wf_pong(b"a"), wf_pong(b"b"), wf_bin([1, 2, 3])]),
        );
        v.push(
            c("echo: message, ping, message: each in its place".into())
                .echo(Echo::Message)
                .frames(vec![text("one"), ping("p"), bin([2]), ping("q")])
                .expect(vec![
                    ev_text("one"),
                    ev_ping("p"),
                    ev_bin([2]),
                    ev_ping("q"),
                ]),
        );
        v.push(
            c("echo: ping before a fragmented message and a close".into())
                .echo(Echo::Message)
                .frames(vec![
                    ping("first"),
                    text("x").nofin(),
                    cont("y"),
                    close(1000, ""),
                ])
                .expect(vec![ev_ping("first"), ev_text("xy"), ev_close(1000, "")])
                .writes(vec![
                    wf_pong(b"first"),
                    wf_text("xy"),
                    wf_close(Some(1000), ""),
                ]),
        );
        let long: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
        for (how, name) in [
            (Echo::Frames, "send_frame"),
            (Echo::Streamed, "send_header"),
        ] {
            v.push(
                c(format!("echo by {name}: a ping between fragments"))
                    .echo(how)
                    .frames(vec![text("Hel").nofin(), ping("mid"), cont("lo")])
                    .expect(vec![ev_ping("mid"), ev_text("Hello")])
                    .writes(vec![
                        wf_frame(OpCode::Text, "Hel", false),
                        wf_pong(b"mid"),
                        wf_frame(OpCode::Continuation, "lo", true),
                    ]),
            );
            v.push(
                c(format!("echo by {name}: two pings, long fragments"))
                    .echo(how)
                    .frames(vec![
                        bin(&long).nofin(),
                        ping("1"),
                        ping("2"),
                        cont(&long[..200]),
                    ])
                    .expect(vec![
                        ev_ping("1"),
                        ev_ping("2"),
                        ev_bin([&long[..], &long[..200]].concat()),
                    ])
                    .writes(vec![
                        wf_frame(OpCode::Binary, &long, false),
                        wf_pong(b"1"),
                        wf_pong(b"2"),
                        wf_frame(OpCode::Continuation, &long[..200], true),
                    ]),
            );
        }

        // With auto_pong off the Ping is still reported, and nothing is written.
        v.push(
            c("auto_pong off: ping reported, not answered".into())
                .config(|c| c.auto_pong = false)
                .frames(vec![ping("p1"), ping("p2")])
                .expect(vec![ev_ping("p1"), ev_ping("p2")])
                .writes(vec![]),
        );

        // The Pong stays in front of a Close that follows.
        v.push(
            c("ping then close in one read: pong, then the close echo".into())
                .frames(vec![ping("last"), close(1000, "bye")])
                .expect(vec![ev_ping("last"), ev_close(1000, "bye")])
                .writes(vec![wf_pong(b"last"), wf_close(Some(1000), "")]),
        );
        v.push(
            c("ping then a protocol error: pong, then the error close".into())
                .frames(vec![ping("before"), frame(3, [])])
                .expect(vec![ev_ping("before")])
                .fails(E::UnknownOpcode(3), 1002)
                .writes(vec![wf_pong(b"before"), wf_close(Some(1002), "")]),
        );
    }
    v
}
