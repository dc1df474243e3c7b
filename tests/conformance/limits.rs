//! Configured limits (sockless `Config::max_frame_len` and `max_message_len`; RFC 6455 7.4.1 code
//! 1009): frames and messages at, below and above small configured limits. A frame is judged on
//! its header, a message on the header of the frame that would take it past the limit. The frame
//! limit bounds data frames only; control frames are bounded by the RFC's 125 bytes.

use sockless::{Config, DataKind, ProtocolError as E};

use crate::framing::pattern;
use crate::harness::*;

fn limits(frame: u64, message: u64) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        c.max_frame_len = frame;
        c.max_message_len = message;
    }
}

pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for role in ROLES {
        let c = |name: String| case(Area::Limits, role, name);
        let b = |n: usize| pattern(n, false);
        let t = |n: usize| pattern(n, true);

        // max_frame_len = 16, max_message_len = 40.
        for n in [0usize, 15, 16] {
            v.push(
                c(format!("binary frame of {n} under a 16-byte frame limit"))
                    .config(limits(16, 40))
                    .frames(vec![bin(b(n))])
                    .expect(vec![ev_bin(b(n))]),
            );
        }
        v.push(
            c("binary frame of 17 over a 16-byte frame limit".into())
                .config(limits(16, 40))
                .frames(vec![bin(b(17))])
                .fails(E::FrameTooLong, 1009),
        );
        v.push(
            c("text frame of 16 at a 16-byte frame limit".into())
                .config(limits(16, 40))
                .frames(vec![text(t(16))])
                .expect(vec![ev_text(t(16))]),
        );
        v.push(
            c("text frame of 17 over a 16-byte frame limit".into())
                .config(limits(16, 40))
                .frames(vec![text(t(17))])
                .fails(E::FrameTooLong, 1009),
        );
        v.push(
            c("frame over the limit in the middle of a message".into())
                .config(limits(16, 40))
                .frames(vec![bin(b(10)).nofin(), cont(b(17))])
                .fails(E::FrameTooLong, 1009),
        );
        v.push(
            c("16-bit length 300 over a 16-byte frame limit, no payload sent".into())
                .config(limits(16, 40))
                .frames(vec![bin([]).len(LenSpec::Declare16(300))])
                .fails(E::FrameTooLong, 1009),
        );
        v.push(
            c("64-bit length 2^40 over a 16-byte frame limit, no payload sent".into())
                .config(limits(16, 40))
                .frames(vec![bin([]).len(LenSpec::Declare64(1 << 40))])
                .fails(E::FrameTooLong, 1009),
        );
        // The frame limit bounds data frames only: control frames have the RFC's bound of 125
        // (RFC 6455 5.5), so a small limit never turns a peer's Ping or Close into a 1009.
        v.push(
            c("ping of 16 at a 16-byte frame limit".into())
                .config(limits(16, 40))
                .frames(vec![ping(b(16))])
                .expect(vec![ev_ping(b(16))]),
        );
        v.push(
            c("ping of 17 over a 16-byte frame limit is answered".into())
                .config(limits(16, 40))
                .frames(vec![ping(b(17))])
                .expect(vec![ev_ping(b(17))]),
        );
        for n in [11usize, 125] {
            v.push(
                c(format!(
                    "ping of {n} under a 10-byte frame limit is answered"
                ))
                .config(limits(10, 40))
                .frames(vec![ping(b(n))])
                .expect(vec![ev_ping(b(n))])
                .writes(vec![wf_pong(&b(n))]),
            );
            v.push(
                c(format!(
                    "pong of {n} under a 10-byte frame limit is reported"
                ))
                .config(limits(10, 40))
                .frames(vec![pong(b(n))])
                .expect(vec![ev_pong(b(n))])
                .writes(vec![]),
            );
        }
        v.push(
            c("close with a 123-byte reason under a 10-byte frame limit is echoed".into())
                .config(limits(10, 40))
                .frames(vec![close(1000, t(123))])
                .expect(vec![ev_close(1000, std::str::from_utf8(&t(123)).unwrap())])
                .writes(vec![wf_close(Some(1000), "")]),
        );
        v.push(
            c("ping of 17 between fragments under a 16-byte frame limit".into())
                .config(limits(16, 40))
                .frames(vec![bin(b(16)).nofin(), ping(b(17)), cont(b(16))])
                .expect(vec![ev_ping(b(17)), ev_bin([b(16), b(16)].concat())]),
        );

        // Messages.
        v.push(
            c("message of 40 in 16+16+8 at a 40-byte message limit".into())
                .config(limits(16, 40))
                .frames(vec![bin(b(16)).nofin(), cont(b(16)).nofin(), cont(b(8))])
                .expect(vec![ev_bin([b(16), b(16), b(8)].concat())]),
        );
        v.push(
            c("message of 39 in 16+16+7 below a 40-byte message limit".into())
                .config(limits(16, 40))
                .frames(vec![text(t(16)).nofin(), cont(t(16)).nofin(), cont(t(7))])
                .expect(vec![ev_text([t(16), t(16), t(7)].concat())]),
        );
        v.push(
            c("message of 41 in 16+16+9 over a 40-byte message limit".into())
                .config(limits(16, 40))
                .frames(vec![bin(b(16)).nofin(), cont(b(16)).nofin(), cont(b(9))])
                .fails(E::MessageTooLong, 1009),
        );
        v.push(
            c("message over the limit by an unfinished frame".into())
                .config(limits(16, 40))
                .frames(vec![
                    bin(b(16)).nofin(),
                    cont(b(16)).nofin(),
                    cont(b(8)).nofin(),
                    cont(b(1)),
                ])
                .fails(E::MessageTooLong, 1009),
        );
        v.push(
            c("message over the limit with empty fragments".into())
                .config(limits(16, 40))
                .frames(vec![
                    text(t(16)).nofin(),
                    cont([]).nofin(),
                    cont(t(16)).nofin(),
                    cont([]).nofin(),
                    cont(t(9)),
                ])
                .fails(E::MessageTooLong, 1009),
        );
        v.push(
            c("the message limit counts each message afresh".into())
                .config(limits(16, 40))
                .frames(vec![
                    bin(b(16)).nofin(),
                    cont(b(16)).nofin(),
                    cont(b(8)),
                    text(t(16)).nofin(),
                    cont(t(16)).nofin(),
                    cont(t(8)),
                ])
                .expect(vec![
                    ev_bin([b(16), b(16), b(8)].concat()),
                    ev_text([t(16), t(16), t(8)].concat()),
                ]),
        );
        v.push(
            c("control frames between fragments do not count".into())
                .config(limits(16, 40))
                .frames(vec![
                    bin(b(16)).nofin(),
                    ping(b(16)),
                    cont(b(16)).nofin(),
                    pong(b(16)),
                    cont(b(8)),
                ])
                .expect(vec![
                    ev_ping(b(16)),
                    ev_pong(b(16)),
                    ev_bin([b(16), b(16), b(8)].concat()),
                ]),
        );
        v.push(
            c("single frame of 40 at a 40-byte message limit".into())
                .config(limits(100, 40))
                .frames(vec![bin(b(40))])
                .expect(vec![ev_bin(b(40))]),
        );
        v.push(
            c("single frame of 41 over a 40-byte message limit".into())
                .config(limits(100, 40))
                .frames(vec![bin(b(41))])
                .fails(E::MessageTooLong, 1009),
        );
        v.push(
            c("frame over both limits".into())
                .config(limits(100, 40))
                .frames(vec![text(t(101))])
                .fails_any(&[E::FrameTooLong, E::MessageTooLong], 1009),
        );

        // Limits of zero.
        v.push(
            c("frame limit 0: empty frames pass".into())
                .config(limits(0, 0))
                .frames(vec![
                    text([]),
                    bin([]).nofin(),
                    cont([]),
                    ping([]),
                    pong([]),
                    close_raw([]),
                ])
                .expect(vec![
                    ev_text([]),
                    ev_bin([]),
                    ev_ping([]),
                    ev_pong([]),
                    ev_close_empty(),
                ]),
        );
        v.push(
            c("frame limit 0: one byte fails".into())
                .config(limits(0, 100))
                .frames(vec![text([]), bin([1])])
                .expect(vec![ev_text([])])
                .fails(E::FrameTooLong, 1009),
        );
        v.push(
            c("message limit 0: one byte fails".into())
                .config(limits(100, 0))
                .frames(vec![bin([]).nofin(), cont([]).nofin(), cont([1])])
                .fails(E::MessageTooLong, 1009),
        );

        // Limits at the length-encoding boundaries.
        v.push(
            c("frame limit 125: 125 passes".into())
                .config(limits(125, 1000))
                .frames(vec![bin(b(125))])
                .expect(vec![ev_bin(b(125))]),
        );
        v.push(
            c("frame limit 125: 126 (16-bit length) fails".into())
                .config(limits(125, 1000))
                .frames(vec![bin(b(126))])
                .fails(E::FrameTooLong, 1009),
        );
        v.push(
            c("frame limit 65535: 65535 passes".into())
                .config(limits(65535, 1 << 20))
                .frames(vec![bin(b(65535))])
                .expect(vec![ev_bin(b(65535))]),
        );
        v.push(
            c("frame limit 65535: 65536 (64-bit length) fails".into())
                .config(limits(65535, 1 << 20))
                .frames(vec![bin(b(65536))])
                .fails(E::FrameTooLong, 1009),
        );
        v.push(
            c("message limit 65536: 65535 + 1 passes".into())
                .config(limits(1 << 20, 65536))
                .frames(vec![bin(b(65535)).nofin(), cont(b(1))])
                .expect(vec![ev_bin([b(65535), b(1)].concat())]),
        );
        v.push(
            c("message limit 65536: 65535 + 2 fails".into())
                .config(limits(1 << 20, 65536))
                .frames(vec![bin(b(65535)).nofin(), cont(b(2))])
                .fails(E::MessageTooLong, 1009),
        );
        v.push(
            c("frame at the limit, cut short: awaited, no error".into())
                .config(limits(16, 40))
                .frames(vec![bin(b(5)).len(LenSpec::Declare7(16))])
                .unfinished(DataKind::Binary, b(5)),
        );
        v.push(
            c("close reason over a 16-byte frame limit is echoed".into())
                .config(limits(16, 40))
                .frames(vec![close(1000, t(20))])
                .expect(vec![ev_close(1000, std::str::from_utf8(&t(20)).unwrap())]),
        );
    }
    v
}
