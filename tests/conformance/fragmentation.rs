//! Fragmentation (RFC 6455 5.4): messages in 2..N fragments, empty fragments, continuations with
//! no message, new messages inside one, control frames between fragments, fragmented control
//! frames.

use sockless::ProtocolError as E;

use crate::framing::pattern;
use crate::harness::*;

/// `payload` cut into `n` fragments of near-equal size (the first frame carries `op`).
fn split(op: u8, payload: &[u8], n: usize) -> Vec<Fr> {
    let size = payload.len().div_ceil(n);
    let mut frames = Vec::new();
    for i in 0..n {
        let piece = &payload[(i * size).min(payload.len())..((i + 1) * size).min(payload.len())];
        let f = if i == 0 {
            frame(op, piece)
        } else {
            cont(piece)
        };
        frames.push(if i + 1 == n { f } else { f.nofin() });
    }
    frames
}

pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for role in ROLES {
        let c = |name: String| case(Area::Fragmentation, role, name);

        let sentence = b"Fragmented messages are the sum of their frames.";
        for n in 2..=8 {
            v.push(
                c(format!("text in {n} fragments"))
                    .frames(split(1, sentence, n))
                    .expect(vec![ev_text(sentence)]),
            );
            let b = pattern(256, false);
            v.push(
                c(format!("binary in {n} fragments"))
                    .frames(split(2, &b, n))
                    .expect(vec![ev_bin(&b)]),
            );
        }
        v.push(
            c("text in one-byte fragments".into())
                .frames(split(1, sentence, sentence.len()))
                .expect(vec![ev_text(sentence)]),
        );
        let big = pattern(70_000, false);
        v.push(
            c("binary in fragments of 7-, 16- and 64-bit lengths".into())
                .frames(vec![
                    bin(&big[..100]).nofin(),
                    cont(&big[100..3000]).nofin(),
                    cont(&big[3000..]),
                ])
                .expect(vec![ev_bin(&big)]),
        );
        v.push(
            c("two fragmented messages back to back".into())
                .frames(vec![
                    text("one ").nofin(),
                    cont("two"),
                    bin([1]).nofin(),
                    cont([2]).nofin(),
                    cont([3]),
                ])
                .expect(vec![ev_text("one two"), ev_bin([1, 2, 3])]),
        );
        v.push(
            c("fragmented, whole, fragmented".into())
                .frames(vec![
                    bin("a").nofin(),
                    cont("b"),
                    text("whole"),
                    text("c").nofin(),
                    cont("d"),
                ])
                .expect(vec![ev_bin("ab"), ev_text("whole"), ev_text("cd")]),
        );

        // Empty fragments.
        v.push(
            c("empty first fragment".into())
                .frames(vec![text("").nofin(), cont("abc")])
                .expect(vec![ev_text("abc")]),
        );
        v.push(
            c("empty middle fragment".into())
                .frames(vec![text("ab").nofin(), cont("").nofin(), cont("c")])
                .expect(vec![ev_text("abc")]),
        );
        v.push(
            c("empty final fragment".into())
                .frames(vec![bin("abc").nofin(), cont("")])
                .expect(vec![ev_bin("abc")]),
        );
        v.push(
            c("every fragment empty (text)".into())
                .frames(vec![text("").nofin(), cont("").nofin(), cont("")])
                .expect(vec![ev_text("")]),
        );
        v.push(
            c("every fragment empty (binary)".into())
                .frames(vec![bin([]).nofin(), cont([])])
                .expect(vec![ev_bin([])]),
        );
        let mut many = vec![text("x").nofin()];
        many.extend((0..20).map(|_| cont("").nofin()));
        many.push(cont("y"));
        v.push(
            c("twenty empty fragments in the middle".into())
                .frames(many)
                .expect(vec![ev_text("xy")]),
        );

        // A continuation needs a message in progress.
        for (name, frames, events) in [
            (
                "continuation with FIN and no message",
                vec![cont("abc")],
                vec![],
            ),
            (
                "continuation without FIN and no message",
                vec![cont("abc").nofin()],
                vec![],
            ),
            ("empty continuation and no message", vec![cont("")], vec![]),
            (
                "continuation after a finished message",
                vec![text("done"), cont("more")],
                vec![ev_text("done")],
            ),
            (
                "continuation after a finished fragmented message",
                vec![text("a").nofin(), cont("b"), cont("c")],
                vec![ev_text("ab")],
            ),
            (
                "continuation after a ping",
                vec![ping("p"), cont("x")],
                vec![ev_ping("p")],
            ),
        ] {
            v.push(
                c(name.into())
                    .frames(frames)
                    .expect(events)
                    .fails(E::UnexpectedContinuation, 1002),
            );
        }

        // A new data frame while a message is in progress.
        for (name, first, second) in [
            ("text inside text", text("ab").nofin(), text("cd")),
            ("binary inside text", text("ab").nofin(), bin("cd")),
            ("text inside binary", bin("ab").nofin(), text("cd")),
            ("binary inside binary", bin("ab").nofin(), bin("cd")),
            (
                "unfinished text inside text",
                text("ab").nofin(),
                text("cd").nofin(),
            ),
            ("empty text inside empty text", text("").nofin(), text("")),
        ] {
            v.push(
                c(format!("new message during fragmentation: {name}"))
                    .frames(vec![first, second])
                    .fails(E::ExpectedContinuation, 1002),
            );
        }
        v.push(
            c("new message after the second fragment".into())
                .frames(vec![bin("a").nofin(), cont("b").nofin(), bin("c")])
                .fails(E::ExpectedContinuation, 1002),
        );

        // Control frames between fragments.
        v.push(
            c("ping and pong between fragments".into())
                .frames(vec![
                    text("a").nofin(),
                    ping("1"),
                    pong("2"),
                    cont("b").nofin(),
                    pong("3"),
                    ping("4"),
                    cont("c"),
                ])
                .expect(vec![
                    ev_ping("1"),
                    ev_pong("2"),
                    ev_pong("3"),
                    ev_ping("4"),
                    ev_text("abc"),
                ]),
        );
        v.push(
            c("125-byte ping between 64-bit-length fragments".into())
                .frames(vec![
                    bin(&big[..65536]).nofin(),
                    ping([0x55; 125]),
                    cont(&big[65536..]),
                ])
                .expect(vec![ev_ping([0x55; 125]), ev_bin(&big)]),
        );
        let after_close = cont("rest");
        let n = render(std::slice::from_ref(&after_close), role).0.len();
        v.push(
            c("close between fragments: echoed, the rest left unread".into())
                .frames(vec![text("half").nofin(), close(1001, "away"), after_close])
                .expect(vec![ev_close(1001, "away")])
                .unread(n),
        );
        v.push(
            c("empty close between fragments".into())
                .frames(vec![bin("x").nofin(), close_raw([])])
                .expect(vec![ev_close_empty()]),
        );

        // Control frames must not be fragmented.
        for (name, f) in [
            ("ping", ping("abc")),
            ("pong", pong("abc")),
            ("close", close(1000, "")),
            ("empty ping", ping([])),
        ] {
            v.push(
                c(format!("fragmented {name}"))
                    .frames(vec![f.nofin()])
                    .fails(E::FragmentedControlFrame, 1002),
            );
        }
        v.push(
            c("fragmented ping followed by a continuation".into())
                .frames(vec![ping("ab").nofin(), cont("cd")])
                .bad_frame(0)
                .fails(E::FragmentedControlFrame, 1002),
        );
        for (name, f) in [
            ("ping", ping("abc")),
            ("pong", pong("abc")),
            ("close", close(1000, "")),
        ] {
            v.push(
                c(format!("fragmented {name} between data fragments"))
                    .frames(vec![text("ab").nofin(), f.nofin(), cont("cd")])
                    .bad_frame(1)
                    .fails(E::FragmentedControlFrame, 1002),
            );
        }
    }
    v
}
