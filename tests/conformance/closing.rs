//! The closing handshake (RFC 6455 5.5.1, 7): every close code 0..=5000 classified, reasons,
//! malformed payloads, what happens to bytes after the peer's Close, a Close we sent first, and
//! `auto_close` off.

use sockless::{ProtocolError as E, Role, State};

use crate::harness::*;

/// Codes that may appear in a Close frame: 1000-1003 and 1007-1011 (RFC 6455 7.4.1), 1012-1014
/// (registered with IANA since), 3000-4999 (registered and private use, 7.4.2). 1004 is reserved,
/// 1005, 1006 and 1015 must never be sent, 0-999 are unused and the rest of 1000-2999 is reserved
/// for the protocol.
fn code_allowed(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 1012..=1014 | 3000..=4999)
}

pub fn close_codes() -> Vec<Case> {
    let mut v = Vec::new();
    for role in ROLES {
        for code in 0..=5000u16 {
            let reason = ["", "r", "\u{20AC}nd"][usize::from(code % 3)];
            let row = case(
                Area::CloseCodes,
                role,
                format!("close code {code} with reason {reason:?}"),
            )
            .frames(vec![close(code, reason)]);
            v.push(if code_allowed(code) {
                row.expect(vec![ev_close(code, reason)])
            } else {
                row.fails(E::InvalidCloseCode(code), 1002)
            });
        }
    }
    v
}

pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for role in ROLES {
        let c = |name: String| case(Area::Closing, role, name);
        let size = |f: &[Fr]| render(f, role).0.len();

        // The echo: the code only, or nothing for an empty Close.
        v.push(
            c("empty close is echoed empty".into())
                .frames(vec![close_raw([])])
                .expect(vec![ev_close_empty()])
                .wire(WireClose::Empty),
        );
        for (code, reason) in [
            (1000, ""),
            (1000, "bye"),
            (1001, "\u{3BA}\u{1F79}\u{3C3}\u{3BC}\u{3B5}"),
            (1011, "\0"),
            (3000, "app"),
            (4999, "private"),
        ] {
            v.push(
                c(format!("close {code} {reason:?} is echoed with its code"))
                    .frames(vec![close(code, reason)])
                    .expect(vec![ev_close(code, reason)])
                    .wire(WireClose::Code(code)),
            );
        }
        let ascii_123 = "r".repeat(123);
        v.push(
            c("close with a 123-byte reason (125-byte payload)".into())
                .frames(vec![close(1000, &ascii_123)])
                .expect(vec![ev_close(1000, &ascii_123)]),
        );
        let euro_123 = "\u{20AC}".repeat(41);
        v.push(
            c("close with a 123-byte reason of 3-byte characters".into())
                .frames(vec![close(4000, &euro_123)])
                .expect(vec![ev_close(4000, &euro_123)]),
        );
        v.push(
            c("close with a 124-byte reason (126-byte payload)".into())
                .frames(vec![close(1000, "r".repeat(124))])
                .fails(E::ControlFrameTooLong, 1002),
        );

        // Malformed payloads.
        for b in [[0x03u8], [0xE8], [0x00]] {
            v.push(
                c(format!("close payload of 1 byte {:02x}", b[0]))
                    .frames(vec![close_raw(b)])
                    .fails(E::InvalidClosePayload, 1002),
            );
        }
        for (code, reason) in [
            (0u16, ""),
            (999, "reason"),
            (1004, "x"),
            (1005, "x"),
            (1006, ""),
            (1015, "tls"),
            (1016, ""),
            (2999, "x"),
            (5000, ""),
            (5001, ""),
            (65535, "max"),
        ] {
            v.push(
                c(format!("close code {code} may not be on the wire"))
                    .frames(vec![close(code, reason)])
                    .fails(E::InvalidCloseCode(code), 1002),
            );
        }
        for (name, reason) in [
            ("FF", vec![0xFF]),
            ("overlong C0 80", vec![0xC0, 0x80]),
            ("surrogate ED A0 80", vec![0xED, 0xA0, 0x80]),
            ("truncated E2 82", vec![b'a', 0xE2, 0x82]),
            ("lone continuation 80", vec![0x80, b'a']),
            (
                "F5 after valid text",
                [b"fine \xCE\xBA ".as_slice(), &[0xF5]].concat(),
            ),
            ("past U+10FFFF", vec![0xF4, 0x90, 0x80, 0x80]),
        ] {
            v.push(
                c(format!("close reason with invalid UTF-8: {name}"))
                    .frames(vec![close(1000, reason)])
                    .fails(E::InvalidUtf8, 1007),
            );
        }

        // After the peer's Close nothing more is read: bytes after it are left unread.
        for (name, after) in [
            ("a text message", vec![text("after")]),
            ("a ping (not answered)", vec![ping("late")]),
            ("a second close", vec![close(1000, "again")]),
            ("a reserved opcode (not even judged)", vec![frame(3, "x")]),
            (
                "an unmasked, RSV-flagged, oversized ping",
                vec![ping([0; 125])
                    .rsv(7)
                    .unmasked()
                    .len(LenSpec::Declare16(300))],
            ),
            ("several frames", vec![bin([1; 200]), ping("p"), text("t")]),
        ] {
            let n = size(&after);
            let mut frames = vec![close(1000, "")];
            frames.extend(after);
            v.push(
                c(format!("data after close left unread: {name}"))
                    .frames(frames)
                    .expect(vec![ev_close(1000, "")])
                    .unread(n),
            );
        }
        v.push(
            c("messages and a ping before the close are handled".into())
                .frames(vec![text("a"), ping("p"), bin([2]), close(1001, "")])
                .expect(vec![
                    ev_text("a"),
                    ev_ping("p"),
                    ev_bin([2]),
                    ev_close(1001, ""),
                ]),
        );
        v.push(
            c("close in a fragmented message with a split character".into())
                .frames(vec![text([b'x', 0xE2, 0x82]).nofin(), close(1000, "")])
                .expect(vec![ev_close(1000, "")]),
        );

        // A Close we sent first: the peer's Close ends the handshake, nothing more is written.
        v.push(
            c("local close, then the peer's close: Closed".into())
                .local_close(1000, "bye")
                .frames(vec![close(1000, "")])
                .expect(vec![ev_close(1000, "")])
                .state(State::Closed)
                .wire(WireClose::Code(1000)),
        );
        v.push(
            c("local close, then the peer's empty close".into())
                .local_close(1001, "")
                .frames(vec![close_raw([])])
                .expect(vec![ev_close_empty()])
                .wire(WireClose::Code(1001)),
        );
        v.push(
            c("local empty close (1005), then the peer's close".into())
                .local_close(1005, "")
                .frames(vec![close(1000, "ok")])
                .expect(vec![ev_close(1000, "ok")])
                .wire(WireClose::Empty),
        );
        v.push(
            c("local close: data and pings still read, pings answered".into())
                .local_close(1000, "")
                .frames(vec![
                    text("late"),
                    ping("p"),
                    pong("q"),
                    bin([1]).nofin(),
                    cont([2]),
                    close(1000, ""),
                ])
                .expect(vec![
                    ev_text("late"),
                    ev_ping("p"),
                    ev_pong("q"),
                    ev_bin([1, 2]),
                    ev_close(1000, ""),
                ])
                .writes(vec![wf_close(Some(1000), ""), wf_pong(b"p")]),
        );
        // RFC 6455 5.5.2: a Ping gets its Pong unless a Close was *received*; our own Close
        // forbids only data frames (5.5.1).
        v.push(
            c("local close, then pings: each answered in order after our close".into())
                .local_close(1000, "")
                .frames(vec![ping("1"), ping("2"), ping("3")])
                .expect(vec![ev_ping("1"), ev_ping("2"), ev_ping("3")])
                .writes(vec![
                    wf_close(Some(1000), ""),
                    wf_pong(b"1"),
                    wf_pong(b"2"),
                    wf_pong(b"3"),
                ])
                .state(State::CloseSent),
        );
        v.push(
            c("local close, a ping and the peer's close in one read: pong, Closed".into())
                .local_close(1000, "")
                .frames(vec![ping("last"), close(1000, "")])
                .expect(vec![ev_ping("last"), ev_close(1000, "")])
                .writes(vec![wf_close(Some(1000), ""), wf_pong(b"last")])
                .state(State::Closed),
        );
        v.push(
            c("local close, a ping, then a protocol error: pong, no second close".into())
                .local_close(1000, "")
                .frames(vec![ping("p"), frame(5, [])])
                .expect(vec![ev_ping("p")])
                .fails(E::UnknownOpcode(5), 1002)
                .writes(vec![wf_close(Some(1000), ""), wf_pong(b"p")])
                .wire(WireClose::Code(1000)),
        );
        v.push(
            c("local close, a ping with auto_pong off: nothing more written".into())
                .config(|c| c.auto_pong = false)
                .local_close(1000, "")
                .frames(vec![ping("p"), close(1000, "")])
                .expect(vec![ev_ping("p"), ev_close(1000, "")])
                .writes(vec![wf_close(Some(1000), "")]),
        );
        v.push(
            c("local close, no answer yet: CloseSent".into())
                .local_close(3000, "done")
                .frames(vec![text("still open")])
                .expect(vec![ev_text("still open")])
                .state(State::CloseSent),
        );
        let tail = vec![text("after")];
        let n = size(&tail);
        v.push(
            c("local close, the peer's close, then data left unread".into())
                .local_close(1000, "")
                .frames([vec![close(1000, "")], tail].concat())
                .expect(vec![ev_close(1000, "")])
                .unread(n),
        );
        v.push(
            c("local close, then a protocol error: no second close".into())
                .local_close(1000, "")
                .frames(vec![text("x"), frame(5, [])])
                .expect(vec![ev_text("x")])
                .fails(E::UnknownOpcode(5), 1002)
                .writes(vec![wf_close(Some(1000), "")])
                .wire(WireClose::Code(1000)),
        );
        v.push(
            c("local close, then the peer's close with a bad code".into())
                .local_close(1000, "")
                .frames(vec![close(1006, "")])
                .fails(E::InvalidCloseCode(1006), 1002)
                .writes(vec![wf_close(Some(1000), "")]),
        );

        // close() called while handling events: what is owed before it still goes out first.
        v.push(
            c("close() after a message: our close, then the peer's".into())
                .local_close_after(1, 1000, "done")
                .frames(vec![text("hi"), close(1000, "")])
                .expect(vec![ev_text("hi"), ev_close(1000, "")])
                .wire(WireClose::Code(1000)),
        );
        v.push(
            c("close() on a Ping event: the Pong owed goes out before our close".into())
                .local_close_after(1, 1001, "")
                .frames(vec![ping("owed"), text("after")])
                .expect(vec![ev_ping("owed"), ev_text("after")])
                .writes(vec![wf_pong(b"owed"), wf_close(Some(1001), "")])
                .state(State::CloseSent),
        );
        v.push(
            c("close() two events after a Ping: pong, close, then the later pong".into())
                .local_close_after(2, 1000, "")
                .frames(vec![ping("1"), bin([1]), ping("2"), close(1000, "")])
                .expect(vec![
                    ev_ping("1"),
                    ev_bin([1]),
                    ev_ping("2"),
                    ev_close(1000, ""),
                ])
                .writes(vec![wf_pong(b"1"), wf_close(Some(1000), ""), wf_pong(b"2")]),
        );

        v.push(
            c("close() in the middle of a fragmented message: the rest still arrives".into())
                .local_close_after(1, 1000, "")
                .frames(vec![
                    text("frag").nofin(),
                    pong("hb"),
                    cont("mented").nofin(),
                    ping("answered"),
                    cont(""),
                    close(1000, ""),
                ])
                .expect(vec![
                    ev_pong("hb"),
                    ev_ping("answered"),
                    ev_text("fragmented"),
                    ev_close(1000, ""),
                ]),
        );
        v.push(
            c("close() on a Ping event with auto_pong off: nothing owed".into())
                .config(|c| c.auto_pong = false)
                .local_close_after(1, 1000, "")
                .frames(vec![ping("p"), close(1000, "")])
                .expect(vec![ev_ping("p"), ev_close(1000, "")])
                .writes(vec![wf_close(Some(1000), "")]),
        );

        // auto_close off: the Close is reported, the reply is the caller's.
        v.push(
            c("auto_close off: close reported, nothing written".into())
                .config(|c| c.auto_close = false)
                .frames(vec![close(1000, "bye")])
                .expect(vec![ev_close(1000, "bye")])
                .writes(vec![])
                .wire(WireClose::Nothing)
                .state(State::CloseReceived),
        );
        let tail = vec![text("after"), ping("p")];
        let n = size(&tail);
        v.push(
            c("auto_close off: bytes after the close left unread".into())
                .config(|c| c.auto_close = false)
                .frames([vec![close_raw([])], tail].concat())
                .expect(vec![ev_close_empty()])
                .state(State::CloseReceived)
                .unread(n),
        );
        v.push(
            c("auto_close off: a ping before the close is still answered".into())
                .config(|c| c.auto_close = false)
                .frames(vec![ping("p"), close(1001, "")])
                .expect(vec![ev_ping("p"), ev_close(1001, "")])
                .writes(vec![wf_pong(b"p")]),
        );
        v.push(
            c("auto_close off: a protocol error still sends its close".into())
                .config(|c| c.auto_close = false)
                .frames(vec![close_raw([0x03])])
                .fails(E::InvalidClosePayload, 1002),
        );
        v.push(
            c("auto_close and auto_pong off".into())
                .config(|c| {
                    c.auto_close = false;
                    c.auto_pong = false;
                })
                .frames(vec![ping("p"), close(4000, "")])
                .expect(vec![ev_ping("p"), ev_close(4000, "")])
                .writes(vec![]),
        );
        if role == Role::Server {
            v.push(
                c("close masked with the zero key".into())
                    .frames(vec![close(1000, "z").key([0; 4])])
                    .expect(vec![ev_close(1000, "z")]),
            );
        }
    }
    v
}
