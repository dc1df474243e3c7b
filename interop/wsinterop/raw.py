"""The `raw` peer: HTTP heads and WebSocket frames written by hand, to check what the real
peers never send. Server direction: the HTTP page, rejected handshakes (version 8, bad keys),
protocol violations (unmasked frame, invalid UTF-8) and a UTF-8 character split across
fragments. Client direction: a misbehaving server (masked frame, invalid UTF-8, bad
Sec-WebSocket-Accept, a subprotocol that was not offered) that echo_client must refuse.

The permessage-deflate cases (the deflate matrix, see DEFLATE_SERVER_CASES and
DEFLATE_CLIENT_CASES): the compressed "Hello" frames of RFC 7692 section 7.2.3 and messages
compressed here with zlib, echoed and inflated back; and the violations (RSV1 on a continuation
or control frame, RSV2, corrupt compressed data, compressed invalid UTF-8, RSV1 without
negotiation) that must fail the connection with the right close code."""

from __future__ import annotations

import base64
import hashlib
import os
import random
import socket
import struct
import time

from . import pmd
from .common import D_CLIENT, Closed, HarnessError, Peer, Timeout, rc_desc, serving
from .deflate_matrix import NO_DEFLATE_ARG
from .directions import ListeningPeerServer, echo_client_family, no_connection, parse_offered, parse_target
from .examples import RunningServer
from .scenarios import ascii_text

PEER = "raw"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# --------------------------------------------------------------------------- bytes by hand


def accept_value(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def mask_bytes(payload, key):
    if not payload:
        return b""
    n = len(payload)
    k = (key * ((n + 3) // 4))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


RSV1, RSV2 = 0x40, 0x20


def build_frame(opcode, payload=b"", fin=True, mask=True, rsv=0):
    b0 = (0x80 if fin else 0) | rsv | opcode
    m = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, m | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if mask:
        key = os.urandom(4)
        return head + key + mask_bytes(payload, key)
    return head + payload


def close_payload(code, reason=""):
    return struct.pack("!H", code) + reason.encode()


def close_code_of(payload):
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005


class RawSocket:
    """A blocking socket with deadlines: HTTP heads and WebSocket frames, by hand."""

    def __init__(self, sock, buf=b""):
        self.sock = sock
        self.buf = bytearray(buf)
        self.eof = False

    @classmethod
    def connect(cls, port, timeout=5.0):
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(sock)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout("timeout")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise Timeout("timeout") from None
        except OSError:
            data = b""
        if not data:
            self.eof = True
            raise Closed("EOF")
        self.buf += data

    def send(self, data):
        self.sock.sendall(data)

    def read_head(self, timeout=5.0):
        """Reads an HTTP head: returns (start_line, {lower-name: [values]})."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise HarnessError("HTTP head too long")
            self._fill(deadline)
        end = self.buf.index(b"\r\n\r\n")
        head = bytes(self.buf[:end]).decode("latin-1")
        del self.buf[: end + 4]
        lines = head.split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        return lines[0], headers

    def read_exact(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_body(self, headers, timeout=5.0):
        deadline = time.monotonic() + timeout
        if "content-length" in headers:
            return self.read_exact(int(headers["content-length"][0]), deadline)
        try:
            while True:
                self._fill(deadline)
        except (Closed, Timeout):
            pass
        data = bytes(self.buf)
        self.buf.clear()
        return data

    def read_frame(self, timeout=5.0):
        """Returns (fin, opcode, payload, masked)."""
        b0, payload, masked = self.read_frame_bits(timeout)
        return bool(b0 & 0x80), b0 & 0x0F, payload, masked

    def read_frame_bits(self, timeout=5.0):
        """Returns (first header byte: FIN, RSV and opcode; payload; masked)."""
        deadline = time.monotonic() + timeout
        b0, b1 = self.read_exact(2, deadline)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self.read_exact(2, deadline))
        elif n == 127:
            (n,) = struct.unpack("!Q", self.read_exact(8, deadline))
        masked = bool(b1 & 0x80)
        key = self.read_exact(4, deadline) if masked else None
        payload = self.read_exact(n, deadline)
        if masked:
            payload = mask_bytes(payload, key)
        return b0, payload, masked

    def read_message(self, timeout=5.0):
        """Reads one data message, skipping (not answering) Pings and Pongs: returns (opcode, RSV1
        of its first frame, the joined payload), or raises Closed on a Close."""
        deadline = time.monotonic() + timeout
        parts, first = [], None
        while True:
            b0, payload, _ = self.read_frame_bits(max(deadline - time.monotonic(), 0.001))
            opcode = b0 & 0x0F
            if opcode == 0x8:
                raise Closed(f"Close {close_code_of(payload)} {payload[2:]!r} instead of a message")
            if opcode >= 0x8:
                continue
            first = first if first is not None else b0
            parts.append(payload)
            if b0 & 0x80:
                return first & 0x0F, bool(first & RSV1), b"".join(parts)

    def read_until_close(self, timeout=5.0):
        """Reads frames until a Close frame. Returns (close_code|None, reason, other_frames, why)."""
        deadline = time.monotonic() + timeout
        others = []
        while True:
            remaining = deadline - time.monotonic()
            try:
                fin, opcode, payload, masked = self.read_frame(max(remaining, 0.001))
            except Timeout:
                return None, "", others, f"no Close frame within {timeout:g} s"
            except Closed:
                return None, "", others, "TCP closed without a Close frame"
            if opcode == 0x8:
                return close_code_of(payload), payload[2:].decode("utf-8", "replace"), others, ""
            others.append((opcode, payload))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def raw_upgrade_request(port, path="/", version="13", key=None, protocols=None, extensions=None):
    key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        f"Sec-WebSocket-Version: {version}",
    ]
    if protocols:
        lines.append("Sec-WebSocket-Protocol: " + ", ".join(protocols))
    if extensions:
        lines.append("Sec-WebSocket-Extensions: " + extensions)
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), key


def status_of(start_line):
    parts = start_line.split(" ", 2)
    try:
        return int(parts[1])
    except (IndexError, ValueError):
        return None


def raw_open(port, path="/", extensions=None):
    """A real handshake by hand (offering `extensions`, a Sec-WebSocket-Extensions value); returns
    the RawSocket after a valid 101, with the 101's Sec-WebSocket-Extensions in `ext_answer`."""
    rs = RawSocket.connect(port)
    request, key = raw_upgrade_request(port, path, extensions=extensions)
    rs.send(request)
    start, headers = rs.read_head()
    if status_of(start) != 101:
        rs.close()
        raise HarnessError(f"handshake answered {start!r}")
    got = (headers.get("sec-websocket-accept") or [""])[0]
    if got != accept_value(key):
        rs.close()
        raise HarnessError(f"bad Sec-WebSocket-Accept {got!r}")
    rs.ext_answer = ", ".join(headers.get("sec-websocket-extensions", [])) or None
    return rs


# --------------------------------------------------------------------------- server direction


def http_page(port):
    rs = RawSocket.connect(port)
    try:
        rs.send(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
        start, headers = rs.read_head()
        body = rs.read_body(headers)
    finally:
        rs.close()
    ctype = (headers.get("content-type") or [""])[0]
    ok = status_of(start) == 200 and "text/html" in ctype and b"WebSocket" in body
    return ok, f"{start!r}, Content-Type {ctype!r}, {len(body)} B body" + (
        "" if b"WebSocket" in body else ", body does not mention WebSocket"
    )


def rejected(version, key, want_status, want_version_header=False):
    """A handshake the server must refuse with `want_status`."""

    def run(port):
        rs = RawSocket.connect(port)
        try:
            request, _ = raw_upgrade_request(port, version=version, key=key)
            rs.send(request)
            start, headers = rs.read_head()
        finally:
            rs.close()
        status = status_of(start)
        versions = headers.get("sec-websocket-version", [])
        ok = status == want_status
        detail = f"{start!r}"
        if want_version_header:
            ok = ok and any("13" in v for v in versions)
            detail += f", Sec-WebSocket-Version: {', '.join(versions) or '(missing)'}"
        if not ok:
            detail = f"expected HTTP {want_status}; got " + detail
        return ok, detail

    return run


def close_detail(who, code, reason, want_code):
    return f"{who} closed with {code} {reason!r}" + ("" if code == want_code else f" (expected {want_code})")


def violation(frames, want_code, what, offer=None, agreed=None):
    """Frames after a valid handshake that the server must answer with Close `want_code`. With
    `offer` (a Sec-WebSocket-Extensions value), the 101 must agree `agreed` (see
    pmd.check_agreement) before the frames are sent."""

    def run(port):
        rs = raw_open(port, extensions=offer)
        if offer is not None:
            ok, detail = pmd.check_agreement(offer, rs.ext_answer, agreed)
            if not ok:
                rs.close()
                return False, f"{what}: handshake: {detail}"
        try:
            for frame in frames:
                rs.send(frame)
            code, reason, others, why = rs.read_until_close()
            if code is not None:
                try:
                    rs.send(build_frame(0x8, close_payload(code)))
                except OSError:
                    pass
        finally:
            rs.close()
        echoed = [p for op, p in others if op in (0x1, 0x2)]
        ok = code == want_code and not echoed
        if code is None:
            detail = f"{what}: expected Close {want_code}, {why}"
        else:
            detail = f"{what}: {close_detail('server', code, reason, want_code)}"
        if echoed:
            detail += f"; server echoed the offending message first ({len(echoed[0])} B)"
        return ok, detail

    return run


def split_utf8(port):
    rs = raw_open(port)
    try:
        rs.send(build_frame(0x1, "split ".encode() + b"\xf0\x9f", fin=False))
        rs.send(build_frame(0x9, b"mid-message"))
        rs.send(build_frame(0x0, b"\x98", fin=False))
        rs.send(build_frame(0x0, b"\x80 done", fin=True))
        got_pong, got_text, detail = False, None, ""
        deadline = time.monotonic() + 10
        while not (got_pong and got_text is not None):
            fin, op, payload, masked = rs.read_frame(max(deadline - time.monotonic(), 0.001))
            if op == 0xA:
                got_pong = payload == b"mid-message"
                if not got_pong:
                    detail += f"pong payload {payload!r}; "
                    got_pong = True
            elif op == 0x1:
                got_text = payload
            elif op == 0x8:
                return False, f"server closed with {close_code_of(payload)} {payload[2:]!r}"
        rs.send(build_frame(0x8, close_payload(1000)))
        code, _, _, why = rs.read_until_close()
    finally:
        rs.close()
    ok = got_text == "split 😀 done".encode() and not detail and code == 1000
    detail += f"echo {got_text!r}, close echo {code} {why}".strip()
    return ok, detail


SERVER_CASES = [
    ("http-page", http_page),
    ("handshake-version-8", rejected("8", None, 426, want_version_header=True)),
    ("handshake-bad-key-not-base64", rejected("13", "this is not base64!!", 400)),
    ("handshake-bad-key-wrong-length", rejected("13", base64.b64encode(b"ten bytes!").decode(), 400)),
    ("unmasked-frame", violation([build_frame(0x1, b"hello", mask=False)], 1002, "unmasked text frame")),
    ("invalid-utf8-text", violation([build_frame(0x1, b"bad \xed\xa0\x80 utf8")], 1007, "text with a UTF-16 surrogate")),
    (
        "invalid-utf8-fragmented",
        violation(
            [build_frame(0x1, b"split \xf0\x9f", fin=False), build_frame(0x0, b"\x28 bad", fin=True)],
            1007,
            "text whose 2nd fragment breaks a 4-byte sequence",
        ),
    ),
    ("utf8-split-across-fragments", split_utf8),
]


# --------------------------------------------------------------------------- permessage-deflate, server direction

# RFC 7692 section 7.2.3: "Hello" compressed (7.2.3.1), again with the first one in the window
# (7.2.3.2: a back-reference into the previous message), and in a stored block (7.2.3.3).
HELLO = bytes.fromhex("f248cdc9c90700")
HELLO_AGAIN = bytes.fromhex("f200110000")
HELLO_STORED = bytes.fromhex("000500faff48656c6c6f00")
OFFER = "permessage-deflate"
OFFER_W9 = "permessage-deflate; server_max_window_bits=9"
DEFAULT_AGREED = pmd.expected()
# The text that must come back compressed: long enough for any threshold, and 4 KiB repeated so
# that a compressor ignoring a 9-bit window would refer 4096 bytes back.
REPEATED = ascii_text(4096, random.Random(7692)).encode() * 16


def inflate_echo(inflater, rsv1, payload):
    """The echo's bytes: inflated if it came compressed (RSV1)."""
    return inflater.inflate(payload) if rsv1 else payload


def echoes(messages, want, offer=OFFER, agreed=DEFAULT_AGREED, must_compress=False, wbits=15):
    """After a handshake offering `offer` (which must agree `agreed`), sends each message (a list
    of (first-byte bits, payload) frames) and checks each echo: text `want[i]` (inflated if RSV1;
    with `must_compress`, RSV1 is required and the inflater window is 2**wbits), then the closing
    handshake."""

    def run(port):
        rs = raw_open(port, extensions=offer)
        inflater = pmd.Inflater(wbits, agreed["server_nct"])
        try:
            ok, detail = pmd.check_agreement(offer, rs.ext_answer, agreed)
            if not ok:
                return False, f"handshake: {detail}"
            got = []
            for frames, expected in zip(messages, want):
                for bits, payload in frames:
                    rs.send(build_frame(bits & 0x0F, payload, fin=bool(bits & 0x80), rsv=bits & 0x70))
                opcode, rsv1, payload = rs.read_message(10)
                try:
                    text = inflate_echo(inflater, rsv1, payload)
                except Exception as exc:  # noqa: BLE001 - zlib.error: what the server sent is not valid
                    return False, f"echo {len(got) + 1} (RSV1, {len(payload)} B) does not inflate with window 2^{wbits}: {exc}"
                if opcode != 0x1 or text != expected or (must_compress and not rsv1):
                    return False, (
                        f"echo {len(got) + 1}: opcode {opcode}, RSV1 {rsv1}, {len(payload)} B on the wire, "
                        f"inflated {text[:24]!r} ({len(text)} B), expected text {expected[:24]!r} ({len(expected)} B)"
                        + (" compressed" if must_compress else "")
                    )
                got.append(f"{'compressed ' if rsv1 else ''}{len(payload)} B -> {len(text)} B")
            rs.send(build_frame(0x8, close_payload(1000)))
            code, _, _, why = rs.read_until_close()
        finally:
            rs.close()
        return code == 1000, f"{rs.ext_answer!r}; echoes: {', '.join(got)}; close echo {code} {why}".strip()

    return run


def text_frame(payload, compressed=True):
    return [(0x80 | (RSV1 if compressed else 0) | 0x1, payload)]


DEFLATE_SERVER_CASES = [
    ("deflate-hello", echoes([text_frame(HELLO)], [b"Hello"])),
    ("deflate-hello-takeover", echoes([text_frame(HELLO), text_frame(HELLO_AGAIN)], [b"Hello", b"Hello"])),
    ("deflate-hello-fragmented", echoes([[(RSV1 | 0x1, HELLO[:3]), (0x80, HELLO[3:])]], [b"Hello"])),
    ("deflate-hello-stored", echoes([text_frame(HELLO_STORED)], [b"Hello"])),
    (
        "deflate-echo-compressed",
        echoes([text_frame(pmd.compress(REPEATED[:1000]))], [REPEATED[:1000]], must_compress=True),
    ),
    (
        "deflate-window-9",
        echoes(
            [text_frame(pmd.compress(REPEATED))],
            [REPEATED],
            offer=OFFER_W9,
            agreed=pmd.expected(server_bits=9),
            must_compress=True,
            wbits=9,
        ),
    ),
    (
        "deflate-rsv1-continuation",
        violation(
            [build_frame(0x1, HELLO[:3], fin=False, rsv=RSV1), build_frame(0x0, HELLO[3:], rsv=RSV1)],
            1002,
            "RSV1 on a continuation frame",
            OFFER,
            DEFAULT_AGREED,
        ),
    ),
    ("deflate-rsv1-ping", violation([build_frame(0x9, b"ping", rsv=RSV1)], 1002, "RSV1 on a Ping", OFFER, DEFAULT_AGREED)),
    ("deflate-rsv2", violation([build_frame(0x1, HELLO, rsv=RSV1 | RSV2)], 1002, "RSV2 on a text frame", OFFER, DEFAULT_AGREED)),
    (
        "deflate-corrupt",
        violation([build_frame(0x1, b"\xff\xff\xff\xff", rsv=RSV1)], 1007, "RSV1 text, reserved block type", OFFER, DEFAULT_AGREED),
    ),
    (
        "deflate-invalid-utf8",
        violation(
            [build_frame(0x1, pmd.compress(b"bad \xed\xa0\x80 utf8"), rsv=RSV1)],
            1007,
            "compressed text with a UTF-16 surrogate",
            OFFER,
            DEFAULT_AGREED,
        ),
    ),
    ("deflate-not-offered", violation([build_frame(0x1, HELLO, rsv=RSV1)], 1002, "RSV1, nothing offered", "", None)),
]
# Against the server example started with --no-deflate: the offer is declined.
NO_DEFLATE_SERVER_CASES = [
    ("no-deflate/rsv1-without-negotiation", violation([build_frame(0x1, HELLO, rsv=RSV1)], 1002, "RSV1 after a declined offer", OFFER, None)),
]


def run_cases(server, cases, R):
    for name, fn in cases:
        note = server.ensure_alive()
        try:
            ok, detail = fn(server.port)
        except Exception as exc:  # noqa: BLE001
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        if not ok:
            detail += note + server.died_note()
        R.record(PEER, server.name, name, ok, detail)


def deflate_server_direction(target, workdir, R):
    """The raw deflate cases against a server example that negotiates permessage-deflate, then
    the no-deflate case against it started with --no-deflate."""
    serving(lambda: RunningServer(target, workdir, "raw-deflate").start(), lambda srv: run_cases(srv, DEFLATE_SERVER_CASES, R))
    serving(
        lambda: RunningServer(target.with_args(NO_DEFLATE_ARG), workdir, "raw-no-deflate").start(),
        lambda srv: run_cases(srv, NO_DEFLATE_SERVER_CASES, R),
    )


def server_direction(server, R):
    """The raw cases against a running server example, one connection each."""
    run_cases(server, SERVER_CASES, R)


# --------------------------------------------------------------------------- client direction


# echo_client's permessage-deflate cases: path -> (the 101's Sec-WebSocket-Extensions or None,
# the unmasked frames sent after it). /deflate-echo is driven in RawPeerServer._behave.
DEFLATE_CLIENT_PATHS = {
    "/deflate-echo": (OFFER, []),
    "/deflate-rsv1-continuation": (
        OFFER,
        [build_frame(0x1, HELLO[:3], fin=False, mask=False, rsv=RSV1), build_frame(0x0, HELLO[3:], mask=False, rsv=RSV1)],
    ),
    "/deflate-corrupt": (OFFER, [build_frame(0x1, b"\xff\xff\xff\xff", mask=False, rsv=RSV1)]),
    "/deflate-not-negotiated": (None, [build_frame(0x1, HELLO, mask=False, rsv=RSV1)]),
    "/deflate-bad-answer": ("permessage-deflate; x-unknown-parameter", []),
}


class RawPeerServer(ListeningPeerServer):
    """Hand-written server that misbehaves on purpose; our echo_client must fail cleanly."""

    def handle(self, sock):
        rs = RawSocket(sock)
        rep = {"nonce": None, "error": None, "close_code": None, "others": [], "why": ""}
        try:
            start, headers = rs.read_head(timeout=10)
            target = start.split(" ")[1] if len(start.split(" ")) > 1 else "/"
            rep["nonce"], rep["path"] = parse_target(target)
            key = (headers.get("sec-websocket-key") or [""])[0]
            rep["offered"] = parse_offered(headers.get("sec-websocket-protocol", []))
            rep["offer"] = ", ".join(headers.get("sec-websocket-extensions", [])) or None
            self._behave(rs, rep, rep["path"], key)
        except Exception as exc:  # noqa: BLE001
            rep["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            rs.close()
        return rep

    @staticmethod
    def _behave(rs, rep, path, key):
        accept = accept_value(key)
        extra = ""
        if path == "/bad-accept":
            accept = accept_value("AAAAAAAAAAAAAAAAAAAAAA==")
        elif path == "/unoffered-subprotocol":
            extra = "Sec-WebSocket-Protocol: proto-z\r\n"
        elif path in DEFLATE_CLIENT_PATHS:
            answer, _ = DEFLATE_CLIENT_PATHS[path]
            extra = f"Sec-WebSocket-Extensions: {answer}\r\n" if answer else ""
        rs.send(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept}\r\n{extra}\r\n"
            ).encode()
        )
        if path == "/masked-frame":
            rs.send(build_frame(0x1, b"masked by the server", mask=True))
        elif path == "/invalid-utf8":
            rs.send(build_frame(0x1, b"bad \xed\xa0\x80 utf8", mask=False))
        elif path == "/deflate-echo":
            # Each message, then its echo (opcode, RSV1, payload as sent), then our Close 1000.
            rep["echoes"] = []
            for payload in (HELLO, pmd.compress(REPEATED[:1000])):
                rs.send(build_frame(0x1, payload, mask=False, rsv=RSV1))
                rep["echoes"].append(rs.read_message(10))
            rs.send(build_frame(0x8, close_payload(1000), mask=False))
        elif path in DEFLATE_CLIENT_PATHS:
            for frame in DEFLATE_CLIENT_PATHS[path][1]:
                rs.send(frame)
        code, reason, others, why = rs.read_until_close(timeout=5)
        rep.update(close_code=code, close_reason=reason, others=others, why=why)
        if code is not None:
            try:
                rs.send(build_frame(0x8, close_payload(code), mask=False))
            except OSError:
                pass


def client_direction(peer, server, runner, R):
    """echo_client against a RawPeerServer."""
    for name, path, want_code in (
        ("masked-frame-from-server", "/masked-frame", 1002),
        ("invalid-utf8-from-server", "/invalid-utf8", 1007),
    ):
        rep, rc, out = runner.run(server, path, [], timeout=20)
        if rep is None:
            R.record(peer, D_CLIENT, name, False, no_connection(rc, out))
            continue
        echoed = [p for op, p in rep["others"] if op in (0x1, 0x2)]
        ok = rep["close_code"] == want_code and not echoed and rc is not None
        if rep["close_code"] is None:
            detail = f"expected Close {want_code}, {rep['why'] or rep.get('error')}"
        else:
            detail = close_detail("client", rep["close_code"], rep["close_reason"], want_code)
        if echoed:
            detail += "; client echoed the offending message"
        detail += f"; echo_client {rc_desc(rc)}" + ("" if ok else f": {out}")
        R.record(peer, D_CLIENT, name, ok, detail)

    for name, path in (("bad-accept", "/bad-accept"), ("unoffered-subprotocol", "/unoffered-subprotocol")):
        rep, rc, out = runner.run(server, path, [], timeout=20)
        if rep is None:
            R.record(peer, D_CLIENT, name, False, no_connection(rc, out))
            continue
        sent = [op for op, _ in rep["others"]]
        ok = rc not in (0, None) and not sent
        detail = f"echo_client {rc_desc(rc)} (must fail)"
        if sent:
            detail += f"; client sent frames with opcodes {sent} after the bad 101"
        if rep["close_code"] is not None:
            detail += f"; client sent Close {rep['close_code']}"
        detail += f": {out}" if out else "; printed nothing"
        R.record(peer, D_CLIENT, name, ok, detail)


def deflate_client_direction(peer, server, runner, R):
    """echo_client's permessage-deflate cases against a RawPeerServer."""
    name = "deflate-echo"
    rep, rc, out = runner.run(server, "/deflate-echo", [], timeout=20)
    if rep is None:
        R.record(peer, D_CLIENT, name, False, no_connection(rc, out))
    else:
        problems = []
        if not any(n == pmd.NAME for n, _ in pmd.parse(rep["offer"])):
            problems.append(f"offer {rep['offer']!r} has no permessage-deflate")
        got = []
        inflater = pmd.Inflater()  # echo_client's default: 15-bit window, context takeover
        for i, (want, must_compress) in enumerate(((b"Hello", False), (REPEATED[:1000], True))):
            if i >= len(rep.get("echoes", [])):
                problems.append(f"echo {i + 1} missing ({rep.get('error')})")
                break
            opcode, rsv1, payload = rep["echoes"][i]
            try:
                text = inflate_echo(inflater, rsv1, payload)
            except Exception as exc:  # noqa: BLE001 - zlib.error
                problems.append(f"echo {i + 1} (RSV1, {len(payload)} B) does not inflate: {exc}")
                continue
            got.append(f"{'compressed ' if rsv1 else ''}{len(payload)} B -> {len(text)} B")
            if opcode != 0x1 or text != want or (must_compress and not rsv1):
                problems.append(f"echo {i + 1}: opcode {opcode}, RSV1 {rsv1}, {text[:24]!r} ({len(text)} B)")
        if rep["close_code"] != 1000:
            problems.append(f"close echo {rep['close_code']} {rep['why']}")
        ok = not problems and rc == 0
        detail = f"offer {rep['offer']!r}; echoes: {', '.join(got)}; echo_client {rc_desc(rc)}"
        if problems:
            detail += "; " + "; ".join(problems)
        R.record(peer, D_CLIENT, name, ok, detail + ("" if ok else f": {out}"))

    for name, path, want_code in (
        ("deflate-rsv1-continuation", "/deflate-rsv1-continuation", 1002),
        ("deflate-corrupt", "/deflate-corrupt", 1007),
        ("deflate-not-negotiated", "/deflate-not-negotiated", 1002),
    ):
        rep, rc, out = runner.run(server, path, [], timeout=20)
        if rep is None:
            R.record(peer, D_CLIENT, name, False, no_connection(rc, out))
            continue
        echoed = [p for op, p in rep["others"] if op in (0x1, 0x2)]
        ok = rep["close_code"] == want_code and not echoed and rc is not None
        if rep["close_code"] is None:
            detail = f"expected Close {want_code}, {rep['why'] or rep.get('error')}"
        else:
            detail = close_detail("client", rep["close_code"], rep["close_reason"], want_code)
        if echoed:
            detail += "; client echoed the offending message"
        detail += f"; echo_client {rc_desc(rc)}" + ("" if ok else f": {out}")
        R.record(peer, D_CLIENT, name, ok, detail)

    rep, rc, out = runner.run(server, "/deflate-bad-answer", [], timeout=20)
    name = "deflate-bad-answer"
    if rep is None:
        R.record(peer, D_CLIENT, name, False, no_connection(rc, out))
    else:
        sent = [op for op, _ in rep["others"]]
        ok = rc not in (0, None) and not sent
        detail = f"101 with {DEFLATE_CLIENT_PATHS['/deflate-bad-answer'][0]!r}: echo_client {rc_desc(rc)} (must fail)"
        if sent:
            detail += f"; client sent frames with opcodes {sent}"
        R.record(peer, D_CLIENT, name, ok, detail + (f": {out}" if out else "; printed nothing"))


def make_peer():
    """No library families: the library tests need a real echo peer."""
    return Peer(
        PEER,
        server=server_direction,
        echo_client=echo_client_family(PEER, RawPeerServer, drive=client_direction),
        deflate_server=deflate_server_direction,
        deflate_client=echo_client_family(PEER, RawPeerServer, drive=deflate_client_direction),
    )
