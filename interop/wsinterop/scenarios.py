"""The data scenarios (message sizes at the length-encoding edges, multi-byte UTF-8, a
fragmented message with a Ping inside, Ping payloads), how an echo is compared, and how one
scenario runs on any connection adapter. Names and order match scenarios.js (the Node peers
and the page), which the driver checks.

A connection adapter (websockets_peer.WebsocketsConn, wsproto_peer.WsprotoConn) has
send_message(payload), send_fragments(parts, ping), ping(payload), wait_pong(payload, timeout),
recv(timeout), close(code, reason, timeout) -> (code, reason) sent back,
wait_peer_close(timeout) -> (code, reason) the other side sent, abort(), and subprotocol."""

from __future__ import annotations

import hashlib
import random

from .common import MiB, Closed, Timeout

SIZES = [0, 1, 125, 126, 65535, 65536, 8 * MiB]
LARGE = 65535  # payloads of at least this many bytes are compared by sha256
# 2-byte (é ß Ω Ж), 3-byte (— € 中 文 ✓) and 4-byte (𝄞 😀 🎉) UTF-8 sequences.
UTF8_SAMPLE = "é ß Ω Ж — € 中文 ✓ 𝄞 😀 🎉 "
ALNUM = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
FRAGMENT_PARTS = ["frag-1 é ", "€ frag-2 ", "😀 frag-3"]
FRAGMENT_PING = b"between-fragments"
PING_PAYLOADS = [b"ping\x00\xff\x10\x80\x7f\x01", bytes((i * 7 + 1) & 0xFF for i in range(125))]


class Scn:
    def __init__(self, name, kind, payload=None, parts=None, ping=None, payloads=None):
        self.name = name
        self.kind = kind
        self.payload = payload
        self.parts = parts
        self.ping = ping
        self.payloads = payloads

    @property
    def timeout(self):
        if self.kind == "message" and len(self.payload) >= MiB:
            return 20.0
        return 10.0


def size_label(n):
    return "8MiB" if n == 8 * MiB else f"{n}B"


_ASCII_TABLE = bytes((ALNUM * 5)[:256])


def ascii_text(n, rng):
    return rng.randbytes(n).translate(_ASCII_TABLE).decode("ascii")


def data_scenarios():
    """The data scenarios, in order. Same names and order as scenarios.js."""
    out = []
    seed = 6455
    for kind in ("text", "binary"):
        for n in SIZES:
            seed += 1
            rng = random.Random(seed)
            payload = ascii_text(n, rng) if kind == "text" else rng.randbytes(n)
            out.append(Scn(f"{kind}-{size_label(n)}", "message", payload=payload))
    out.append(Scn("utf8-multibyte", "message", payload=UTF8_SAMPLE * 3))
    out.append(Scn("utf8-multibyte-large", "message", payload=UTF8_SAMPLE * 1600))
    out.append(Scn("fragmented-with-ping", "fragments", parts=FRAGMENT_PARTS, ping=FRAGMENT_PING))
    out.append(Scn("ping-pong-payload", "ping", payloads=PING_PAYLOADS))
    return out


def deflate_scenarios():
    """The scenarios of the permessage-deflate matrix (a connection per variant), in order. Same
    names and order as deflateScenarios() in scenarios.js. Tiny messages (a peer with threshold 0
    compresses them, our side echoes them uncompressed), an empty compressed message, random text
    and binary, the same 16 KiB twice (the second refers back into the first under context
    takeover), 4 KiB repeated 16 times (matches 4096 bytes back: past a 9- to 11-bit window),
    multi-byte UTF-8 (which the Node peers, counting bytes on the wire, check came back
    compressed), and a compressed fragmented message with a Ping inside."""
    out = []
    seed = 7692
    for kind, n in (("binary", 0), ("text", 1), ("text", 125), ("binary", 126), ("text", 4096), ("binary", 65536)):
        seed += 1
        rng = random.Random(seed)
        payload = ascii_text(n, rng) if kind == "text" else rng.randbytes(n)
        out.append(Scn(f"{kind}-{n // 1024}KiB" if n >= 1024 else f"{kind}-{n}B", "message", payload=payload))
    twice = ascii_text(16384, random.Random(seed + 1))
    out.append(Scn("text-16KiB", "message", payload=twice))
    out.append(Scn("text-16KiB-again", "message", payload=twice))
    block = ascii_text(4096, random.Random(seed + 2))
    out.append(Scn("text-repeat-64KiB", "message", payload=block * 16))
    out.append(Scn("utf8-multibyte-large", "message", payload=UTF8_SAMPLE * 1600))
    out.append(Scn("fragmented-with-ping", "fragments", parts=FRAGMENT_PARTS, ping=FRAGMENT_PING))
    return out


DATA = data_scenarios()
DATA_NAMES = [s.name for s in DATA]
DEFLATE = deflate_scenarios()
DEFLATE_NAMES = [s.name for s in DEFLATE]
# What the server-direction peer clients report besides the data scenarios.
EXTRA_SERVER_NAMES = ["subprotocol-pick", "subprotocol-client-order", "subprotocol-none", "close-4001"]


def compare(expected, got):
    """None when `got` equals `expected` (same type, same bytes), else a description."""
    want_text = isinstance(expected, str)
    got_text = isinstance(got, str)
    e = expected.encode("utf-8") if want_text else bytes(expected)
    g = got.encode("utf-8") if got_text else bytes(got)
    parts = []
    if want_text != got_text:
        parts.append(f"expected {'text' if want_text else 'binary'} got {'text' if got_text else 'binary'}")
    if len(e) >= LARGE or len(g) >= LARGE:
        de, dg = hashlib.sha256(e).hexdigest(), hashlib.sha256(g).hexdigest()
        if de != dg:
            at = first_difference(e, g)
            parts.append(
                f"sha256 expected {de[:16]} ({len(e)} B) got {dg[:16]} ({len(g)} B)"
                + (f", first difference at byte {at}" if at is not None else "")
            )
    elif e != g:
        if len(e) != len(g):
            parts.append(f"expected {len(e)} B got {len(g)} B (got starts {g[:16].hex()})")
        else:
            at = first_difference(e, g)
            parts.append(f"byte {at} differs: expected {e[at:at + 8].hex()} got {g[at:at + 8].hex()}")
    return "; ".join(parts) or None


def first_difference(a, b):
    n = min(len(a), len(b))
    lo = 0
    # Compare in blocks first so that 8 MiB stays cheap.
    step = 65536
    while lo < n and a[lo:lo + step] == b[lo:lo + step]:
        lo += step
    for i in range(lo, min(n, lo + step)):
        if a[i] != b[i]:
            return i
    return None if len(a) == len(b) else n


def echo_check(conn, message, timeout=10):
    """Sends `message` and compares what comes back: None when it is echoed unchanged."""
    conn.send_message(message)
    return compare(message, conn.recv(timeout))


def run_scenario(conn, scn):
    """Runs one data scenario on a connection adapter. Returns (ok, detail, fatal)."""
    try:
        if scn.kind == "message":
            conn.send_message(scn.payload)
            got = conn.recv(scn.timeout)
            diff = compare(scn.payload, got)
            return diff is None, diff or "", False
        if scn.kind == "fragments":
            conn.send_fragments(scn.parts, scn.ping)
            got = conn.recv(scn.timeout)
            diff = compare("".join(scn.parts), got)
            conn.wait_pong(scn.ping, scn.timeout)
            return diff is None, diff or "", False
        if scn.kind == "ping":
            for payload in scn.payloads:
                conn.ping(payload)
                conn.wait_pong(payload, scn.timeout)
            return True, "", False
        return False, f"unknown scenario kind {scn.kind}", False
    except (Timeout, Closed) as exc:
        return False, str(exc), True
    except Exception as exc:  # noqa: BLE001
        return False, f"{type(exc).__name__}: {exc}", True
