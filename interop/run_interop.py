#!/usr/bin/env python3
"""Interop matrix for sockless's `echo_server` and `echo_client` examples, and for
the library itself through the #[ignore]d tests of tests/peers.rs.

Runs independent WebSocket implementations against them, on 127.0.0.1 only, and
prints one line per case:

    PASS|FAIL|SKIP PEER DIRECTION SCENARIO [detail]

PEER is the other implementation (websockets, wsproto, node-ws, chromium, raw);
DIRECTION names our side under test: `echo_server` (the peer is a client
connecting to our echo server), `echo_client` (the peer is a server that our
echo client connects to; the peer drives the scenarios and closes),
`library-client` (a test of tests/peers.rs connects to a peer echo server and
closes, or watches the peer close) or `library-server` (a test of tests/peers.rs
serves a peer client and closes, or watches the peer close). The last line is
`interop: N passed, M failed`; the exit status is 1 if anything failed.

Needs: Python 3.9+ with `websockets>=14` and `wsproto` (interop/requirements.txt),
Node.js with `ws@8` installed in interop/node_modules (for node-ws),
/usr/bin/chromium (for chromium; skipped when absent unless --browser on), and
cargo (for the library directions). See interop/README.md.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import hashlib
import html
import http.server
import json
import os
import queue
import random
import re
import select
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import deque

import websockets
import websockets.client
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect
from websockets.sync.server import serve as ws_serve
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)

MiB = 1024 * 1024
SIZES = [0, 1, 125, 126, 65535, 65536, 8 * MiB]
LARGE = 65535  # payloads of at least this many bytes are compared by sha256
MAX_MESSAGE = 16 * MiB  # passed as --max-message to both examples
# 2-byte (é ß Ω Ж), 3-byte (— € 中 文 ✓) and 4-byte (𝄞 😀 🎉) UTF-8 sequences.
UTF8_SAMPLE = "é ß Ω Ж — € 中文 ✓ 𝄞 😀 🎉 "
ALNUM = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
FRAGMENT_PARTS = ["frag-1 é ", "€ frag-2 ", "😀 frag-3"]
FRAGMENT_PING = b"between-fragments"
PING_PAYLOADS = [b"ping\x00\xff\x10\x80\x7f\x01", bytes((i * 7 + 1) & 0xFF for i in range(125))]

# Subprotocols. echo_server is started with --protocol proto-c --protocol proto-b;
# the peer servers support the same two. Clients offer:
OFFER_PICK = ["proto-a", "proto-b"]  # -> proto-b
OFFER_ORDER = ["proto-b", "proto-c"]  # -> proto-b: the client's order wins
OFFER_NONE = ["proto-x"]  # -> no subprotocol, the connection still opens
SERVER_PROTOCOLS = ["proto-c", "proto-b"]

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
LISTENING_RE = re.compile(r"listening on (\S+):(\d+)")

# The matrix stops starting new work once this many seconds have passed (--budget);
# what was not run is reported as failed. Keeps run.sh under ~8 minutes even when
# every case times out.
BUDGET = {"deadline": float("inf")}


def time_left():
    return BUDGET["deadline"] - time.monotonic()


BUDGET_NOTE = "not run: the interop time budget was exhausted (see --budget)"

D_SERVER = "echo_server"
D_CLIENT = "echo_client"
# sockless itself, driven by the #[ignore]d tests of tests/peers.rs (no example in between):
# the test is a client of a peer echo server, or a server for a peer client.
D_LIB_CLIENT = "library-client"
D_LIB_SERVER = "library-server"
DIRECTIONS = [D_SERVER, D_CLIENT, D_LIB_CLIENT, D_LIB_SERVER]
PEERS = ["raw", "websockets", "wsproto", "node-ws", "chromium"]


class HarnessError(Exception):
    pass


class Timeout(Exception):
    pass


class Closed(Exception):
    pass


# --------------------------------------------------------------------------- results


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.failures = []
        self.lock = threading.Lock()

    @staticmethod
    def _clean(detail):
        detail = re.sub(r"\s+", " ", str(detail or "")).strip()
        return detail if len(detail) <= 400 else detail[:397] + "..."

    def record(self, peer, direction, scenario, ok, detail=""):
        status = "PASS" if ok else "FAIL"
        line = f"{status} {peer} {direction} {scenario}"
        detail = self._clean(detail)
        if detail:
            line += " " + detail
        with self.lock:
            if ok:
                self.passed += 1
            else:
                self.failed += 1
                self.failures.append(line)
            print(line, flush=True)

    def skip(self, peer, direction, scenario, detail=""):
        line = f"SKIP {peer} {direction} {scenario}"
        detail = self._clean(detail)
        if detail:
            line += " " + detail
        with self.lock:
            self.skipped += 1
            print(line, flush=True)


def log(msg):
    print(f"# {msg}", flush=True)


# --------------------------------------------------------------------------- processes

CHILDREN = []


def spawn(argv, **kw):
    """Start a child in its own process group so that it (and only it) can be killed."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    proc = subprocess.Popen(argv, start_new_session=True, **kw)
    CHILDREN.append(proc)
    return proc


def kill_proc(proc, grace=2.0):
    """Terminate the process group we created for `proc`; returns its exit code."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    # Stray members of the group (chromium helpers, cargo's child) go too.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    return proc.returncode


def wait_proc(proc, timeout):
    """Wait for exit; kill on timeout. Returns the exit code or None if it had to be killed."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_proc(proc)
        return None


def cleanup_children():
    for proc in CHILDREN:
        kill_proc(proc, grace=1.0)


def rc_desc(rc):
    return "still running after the timeout (killed)" if rc is None else f"exit {rc}"


def file_tail(path, limit=300):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 4096))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    data = re.sub(r"\s+", " ", data).strip()
    return data[-limit:]


class EchoServer:
    """The echo_server under test, started on 127.0.0.1:0; reads the port it prints."""

    def __init__(self, cmd, workdir, label):
        self.cmd = cmd
        self.workdir = workdir
        self.label = label
        self.proc = None
        self.port = None
        self.restarts = 0

    def start(self, timeout=120):
        argv = list(self.cmd) + ["127.0.0.1:0", "--max-message", str(MAX_MESSAGE)]
        for name in SERVER_PROTOCOLS:
            argv += ["--protocol", name]
        self.stderr_path = os.path.join(self.workdir, f"echo_server-{self.label}-{self.restarts}.log")
        self.stderr_file = open(self.stderr_path, "wb")
        self.proc = spawn(argv, stdout=subprocess.PIPE, stderr=self.stderr_file, cwd=REPO_ROOT)
        found = queue.Queue()

        def reader(stream):
            seen = False
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace")
                if not seen:
                    m = LISTENING_RE.search(line)
                    if m:
                        seen = True
                        found.put(int(m.group(2)))
            stream.close()

        threading.Thread(target=reader, args=(self.proc.stdout,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.port = found.get(timeout=0.2)
                return self
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
        rc = self.proc.poll()
        kill_proc(self.proc)
        raise HarnessError(
            f"echo_server ({shlex.join(argv)}) did not print 'listening on HOST:PORT' "
            f"({'exit ' + str(rc) if rc is not None else 'timeout'}); stderr: {file_tail(self.stderr_path)}"
        )

    def ensure_alive(self):
        """Restart the server if it died; returns a note for the failure detail."""
        if self.proc is not None and self.proc.poll() is None:
            return ""
        rc = self.proc.poll() if self.proc else None
        tail = file_tail(self.stderr_path)
        self.restarts += 1
        self.start()
        return f" [echo_server had exited ({rc}); stderr: {tail}; restarted]"

    def connect(self, connect_fn, *args):
        """connect_fn(port, *args); if that fails because the server just died, restart it and
        try once more. Returns (connection, note about a restart or "")."""
        note = self.ensure_alive()
        try:
            return connect_fn(self.port, *args), note
        except Exception:  # noqa: BLE001
            deadline = time.monotonic() + 2
            while self.proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.proc.poll() is None:
                raise
            note += self.ensure_alive()
            return connect_fn(self.port, *args), note

    def died_note(self, wait=0.0):
        """A note for failure details if the server has exited (waiting up to `wait` s for it)."""
        deadline = time.monotonic() + wait
        while self.proc is not None and self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.proc is not None and self.proc.poll() is not None:
            return f" [echo_server exited ({self.proc.returncode}); stderr: {file_tail(self.stderr_path)}]"
        return ""

    def stop(self):
        if self.proc is not None:
            kill_proc(self.proc)
            self.stderr_file.close()


# --------------------------------------------------------------------------- scenarios


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


DATA = data_scenarios()
DATA_NAMES = [s.name for s in DATA]
# What the server-direction peers report besides the data scenarios.
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


# --------------------------------------------------------------------------- websockets adapter


class WebsocketsConn:
    """Adapter over a websockets (sync API) connection, client or server side."""

    def __init__(self, ws):
        self.ws = ws
        self.pending = {}

    @property
    def subprotocol(self):
        return self.ws.subprotocol

    def _closed_desc(self, exc):
        return f"connection closed ({exc})"

    def send_message(self, payload):
        try:
            self.ws.send(payload)
        except ConnectionClosed as exc:
            raise Closed(self._closed_desc(exc)) from None

    def send_fragments(self, parts, ping):
        def fragments():
            yield parts[0]
            self.pending[ping] = self.ws.ping(ping)
            yield from parts[1:]

        try:
            self.ws.send(fragments())
        except ConnectionClosed as exc:
            raise Closed(self._closed_desc(exc)) from None

    def ping(self, payload):
        try:
            self.pending[payload] = self.ws.ping(payload)
        except ConnectionClosed as exc:
            raise Closed(self._closed_desc(exc)) from None

    def wait_pong(self, payload, timeout):
        event = self.pending.pop(payload)
        deadline = time.monotonic() + timeout
        while not event.wait(0.1):
            if self.ws.protocol.close_rcvd or self.ws.state.name == "CLOSED":
                raise Closed(f"connection closed (code {self.ws.close_code}) while waiting for pong")
            if time.monotonic() > deadline:
                raise Timeout(f"timeout after {timeout:g} s waiting for pong ({len(payload)} B payload)")

    def recv(self, timeout):
        try:
            return self.ws.recv(timeout=timeout)
        except TimeoutError:
            raise Timeout(f"timeout after {timeout:g} s waiting for echo") from None
        except ConnectionClosed as exc:
            raise Closed(self._closed_desc(exc)) from None

    def close(self, code, reason, timeout=10):
        """Closing handshake started by us; returns (code, reason) the other side sent."""
        self.ws.close(code, reason)
        rcvd = self.ws.protocol.close_rcvd
        return (rcvd.code, rcvd.reason) if rcvd else (None, None)

    def wait_peer_close(self, timeout=10):
        """After the other side started the closing handshake (recv raised Closed; websockets
        answered it): waits, bounded, until the connection is closed, and returns the
        (code, reason) the other side sent."""
        deadline = time.monotonic() + timeout
        while self.ws.state.name != "CLOSED" and time.monotonic() < deadline:
            time.sleep(0.02)
        rcvd = self.ws.protocol.close_rcvd
        return (rcvd.code, rcvd.reason) if rcvd else (None, None)

    def abort(self):
        try:
            self.ws.close_socket()
        except Exception:  # noqa: BLE001
            pass


def websockets_connect(port, path="/", subprotocols=None):
    ws = ws_connect(
        f"ws://127.0.0.1:{port}{path}",
        subprotocols=subprotocols,
        max_size=None,
        ping_interval=None,
        open_timeout=10,
        close_timeout=10,
    )
    # __enter__ returns the connection itself; it only marks it as used "as a context
    # manager", which websockets >= 17.1 otherwise warns about.
    return WebsocketsConn(ws.__enter__())


# --------------------------------------------------------------------------- wsproto adapter


class WsprotoConn:
    """wsproto driven over a plain non-blocking socket by this code."""

    def __init__(self, sock, ws, is_client, subprotocol=None):
        self.sock = sock
        self.ws = ws
        self.is_client = is_client
        self.subprotocol = subprotocol
        self.inbox = deque()
        self.pongs = []
        self.close_rcvd = None
        self.eof = False
        self._parts = []
        self._sending = False
        self._deferred = []
        self._process()

    # Writing interleaves reading: a peer that echoes while it receives must not deadlock us.
    def _sendall(self, data, timeout=60.0):
        view = memoryview(data)
        deadline = time.monotonic() + timeout
        self._sending = True
        try:
            while view:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Timeout(f"timeout after {timeout:g} s sending {len(data)} B")
                rlist = [] if self.eof else [self.sock]
                r, w, _ = select.select(rlist, [self.sock], [], min(remaining, 1.0))
                if r:
                    self._read_once()
                if w:
                    try:
                        n = self.sock.send(view[: 1 << 20])
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError as exc:
                        raise Closed(f"connection lost while sending ({exc})") from None
                    view = view[n:]
        finally:
            self._sending = False
        while self._deferred:
            self._sendall(self._deferred.pop(0), timeout)

    def _send(self, event):
        data = self.ws.send(event)
        if not data:
            return
        if self._sending:
            self._deferred.append(data)
        else:
            self._sendall(data)

    def _read_once(self):
        try:
            data = self.sock.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.eof = True
            if self.ws.state is not ConnectionState.CLOSED:
                self.ws.receive_data(None)
        elif self.ws.state in (ConnectionState.OPEN, ConnectionState.LOCAL_CLOSING):
            self.ws.receive_data(data)
        self._process()

    def _process(self):
        for event in self.ws.events():
            if isinstance(event, (TextMessage, BytesMessage)):
                self._parts.append(event.data)
                if event.message_finished:
                    joiner = "" if isinstance(event, TextMessage) else b""
                    self.inbox.append(joiner.join(self._parts))
                    self._parts = []
            elif isinstance(event, Ping):
                self._send(event.response())
            elif isinstance(event, Pong):
                self.pongs.append(bytes(event.payload))
            elif isinstance(event, CloseConnection):
                if self.close_rcvd is None:
                    self.close_rcvd = (event.code, event.reason)
                if self.ws.state is ConnectionState.REMOTE_CLOSING:
                    self._send(event.response())

    def _wait(self, cond, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            value = cond()
            if value is not None:
                return value
            if self.close_rcvd is not None or self.eof:
                code, reason = self.close_rcvd or (None, None)
                raise Closed(f"connection closed (code {code} {reason!r}) while waiting for {what}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout(f"timeout after {timeout:g} s waiting for {what}")
            r, _, _ = select.select([self.sock], [], [], min(remaining, 1.0))
            if r:
                self._read_once()

    def send_message(self, payload):
        self._send(Message(data=payload))

    def send_fragments(self, parts, ping):
        self._send(Message(data=parts[0], message_finished=False))
        self._send(Ping(payload=ping))
        for i, part in enumerate(parts[1:], 1):
            self._send(Message(data=part, message_finished=(i == len(parts) - 1)))

    def ping(self, payload):
        self._send(Ping(payload=payload))

    def wait_pong(self, payload, timeout):
        def found():
            if payload in self.pongs:
                self.pongs.remove(payload)
                return True
            return None

        self._wait(found, timeout, f"pong ({len(payload)} B payload)")

    def recv(self, timeout):
        return self._wait(lambda: self.inbox.popleft() if self.inbox else None, timeout, "echo")

    def close(self, code, reason, timeout=10):
        if self.ws.state is ConnectionState.OPEN:
            self._send(CloseConnection(code=code, reason=reason))
        deadline = time.monotonic() + timeout
        while self.close_rcvd is None and not self.eof and time.monotonic() < deadline:
            r, _, _ = select.select([self.sock], [], [], 0.2)
            if r:
                self._read_once()
        # The server closes TCP first: a client waits (briefly) for EOF.
        if self.is_client:
            end = min(deadline, time.monotonic() + 3)
            while not self.eof and time.monotonic() < end:
                r, _, _ = select.select([self.sock], [], [], 0.2)
                if r:
                    try:
                        if not self.sock.recv(65536):
                            self.eof = True
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        self.eof = True
        self.abort()
        return self.close_rcvd if self.close_rcvd else (None, None)

    def wait_peer_close(self, timeout=10):
        """After the other side's Close arrived (our reply went out with it): a client waits,
        bounded, for the server to close TCP. Returns the (code, reason) the other side sent."""
        return self.close(1000, "", timeout)  # sends nothing: the connection is no longer OPEN

    def abort(self):
        try:
            self.sock.close()
        except OSError:
            pass


def wsproto_connect(port, path="/", subprotocols=None, timeout=10.0):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ws = WSConnection(ConnectionType.CLIENT)
    sock.sendall(ws.send(Request(host=f"127.0.0.1:{port}", target=path, subprotocols=subprotocols or [])))
    sock.setblocking(False)
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            sock.close()
            raise Timeout("timeout waiting for the handshake response")
        r, _, _ = select.select([sock], [], [], min(remaining, 1.0))
        if not r:
            continue
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            continue
        ws.receive_data(data or None)
        for event in ws.events():
            if isinstance(event, AcceptConnection):
                return WsprotoConn(sock, ws, True, event.subprotocol)
            if isinstance(event, (RejectConnection, RejectData)):
                status = getattr(event, "status_code", "?")
                sock.close()
                raise HarnessError(f"handshake rejected with HTTP {status}")
            if isinstance(event, CloseConnection):
                sock.close()
                raise Closed(f"connection closed during the handshake ({event.code})")
        if not data:
            sock.close()
            raise Closed("EOF during the handshake")


# --------------------------------------------------------------------------- raw socket helpers


def accept_value(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def mask_bytes(payload, key):
    if not payload:
        return b""
    n = len(payload)
    k = (key * ((n + 3) // 4))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def build_frame(opcode, payload=b"", fin=True, mask=True):
    b0 = (0x80 if fin else 0) | opcode
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
        return bool(b0 & 0x80), b0 & 0x0F, payload, masked

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
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                return code, payload[2:].decode("utf-8", "replace"), others, ""
            others.append((opcode, payload))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def raw_upgrade_request(port, path="/", version="13", key=None, protocols=None):
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
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), key


def status_of(start_line):
    parts = start_line.split(" ", 2)
    try:
        return int(parts[1])
    except (IndexError, ValueError):
        return None


def raw_open(port, path="/"):
    """A real handshake by hand; returns the RawSocket after a valid 101."""
    rs = RawSocket.connect(port)
    request, key = raw_upgrade_request(port, path)
    rs.send(request)
    start, headers = rs.read_head()
    if status_of(start) != 101:
        rs.close()
        raise HarnessError(f"handshake answered {start!r}")
    got = (headers.get("sec-websocket-accept") or [""])[0]
    if got != accept_value(key):
        rs.close()
        raise HarnessError(f"bad Sec-WebSocket-Accept {got!r}")
    return rs


# --------------------------------------------------------------------------- server direction


def python_server_direction(peer, connect_fn, server, R):
    """A Python peer client against our echo_server: data scenarios, subprotocols, close."""
    conn = None
    for scn in DATA:
        if time_left() <= 0:
            R.record(peer, D_SERVER, scn.name, False, BUDGET_NOTE)
            continue
        if conn is None:
            try:
                conn, note = server.connect(connect_fn, "/")
            except Exception as exc:  # noqa: BLE001
                R.record(peer, D_SERVER, scn.name, False, f"connect failed: {exc}{server.died_note()}")
                continue
            if note:
                log(f"{peer}: {note.strip()}")
        ok, detail, fatal = run_scenario(conn, scn)
        if not ok:
            detail += server.died_note(wait=1.0 if fatal else 0.0)
        R.record(peer, D_SERVER, scn.name, ok, detail)
        if fatal:
            conn.abort()
            conn = None
    if conn is not None:
        try:
            conn.close(1000, "", 5)
        except Exception:  # noqa: BLE001
            conn.abort()

    for scenario, offer, want in (
        ("subprotocol-pick", OFFER_PICK, "proto-b"),
        ("subprotocol-client-order", OFFER_ORDER, "proto-b"),
        ("subprotocol-none", OFFER_NONE, None),
    ):
        if time_left() <= 0:
            R.record(peer, D_SERVER, scenario, False, BUDGET_NOTE)
            continue
        try:
            c, _ = server.connect(connect_fn, "/", offer)
        except Exception as exc:  # noqa: BLE001
            R.record(peer, D_SERVER, scenario, False, f"offered {offer}: connect failed: {exc}{server.died_note()}")
            continue
        try:
            got = c.subprotocol
            c.send_message("subprotocol check")
            diff = compare("subprotocol check", c.recv(10))
            ok = got == want and diff is None
            detail = f"offered {offer}, server chose {got!r}" + (f" (expected {want!r})" if got != want else "")
            if diff:
                detail += f"; echo: {diff}"
            R.record(peer, D_SERVER, scenario, ok, detail)
            c.close(1000, "", 5)
        except Exception as exc:  # noqa: BLE001
            R.record(peer, D_SERVER, scenario, False, f"offered {offer}: {exc}")
            c.abort()

    try:
        c, _ = server.connect(connect_fn, "/")
        c.send_message("before close")
        c.recv(10)
        code, reason = c.close(4001, "bye", 10)
        R.record(peer, D_SERVER, "close-4001", code == 4001, f"server echoed {code} {reason!r}")
    except Exception as exc:  # noqa: BLE001
        R.record(peer, D_SERVER, "close-4001", False, f"{exc}{server.died_note()}")


def websockets_bad_version(server, R):
    """websockets client sending Sec-WebSocket-Version: 8 must see the failed connect (426)."""
    server.ensure_alive()
    original = websockets.client.ClientProtocol.connect

    def connect_v8(self):
        request = original(self)
        del request.headers["Sec-WebSocket-Version"]
        request.headers["Sec-WebSocket-Version"] = "8"
        return request

    websockets.client.ClientProtocol.connect = connect_v8
    try:
        with ws_connect(f"ws://127.0.0.1:{server.port}/", open_timeout=10, ping_interval=None):
            pass
        R.record("websockets", D_SERVER, "handshake-bad-version", False, "connection was accepted with version 8")
    except InvalidStatus as exc:
        status = exc.response.status_code
        version = exc.response.headers.get("Sec-WebSocket-Version")
        R.record(
            "websockets",
            D_SERVER,
            "handshake-bad-version",
            status == 426,
            f"connect failed with HTTP {status}, Sec-WebSocket-Version: {version}",
        )
    except Exception as exc:  # noqa: BLE001
        R.record("websockets", D_SERVER, "handshake-bad-version", False, f"{type(exc).__name__}: {exc}")
    finally:
        websockets.client.ClientProtocol.connect = original


def raw_server_direction(server, R):
    peer = "raw"

    def case(name, fn):
        note = server.ensure_alive()
        try:
            ok, detail = fn(server.port)
        except Exception as exc:  # noqa: BLE001
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        if not ok:
            detail += note + server.died_note()
        R.record(peer, D_SERVER, name, ok, detail)

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

    def violation(frames, want_code, what):
        def run(port):
            rs = raw_open(port)
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
                detail = f"{what}: server closed with {code} {reason!r}" + (
                    "" if code == want_code else f" (expected {want_code})"
                )
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
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    return False, f"server closed with {code} {payload[2:]!r}"
            rs.send(build_frame(0x8, close_payload(1000)))
            code, _, _, why = rs.read_until_close()
        finally:
            rs.close()
        ok = got_text == "split 😀 done".encode() and not detail and code == 1000
        detail += f"echo {got_text!r}, close echo {code} {why}".strip()
        return ok, detail

    bad_key_length = base64.b64encode(b"ten bytes!").decode()
    case("http-page", http_page)
    case("handshake-version-8", rejected("8", None, 426, want_version_header=True))
    case("handshake-bad-key-not-base64", rejected("13", "this is not base64!!", 400))
    case("handshake-bad-key-wrong-length", rejected("13", bad_key_length, 400))
    case("unmasked-frame", violation([build_frame(0x1, b"hello", mask=False)], 1002, "unmasked text frame"))
    case("invalid-utf8-text", violation([build_frame(0x1, b"bad \xed\xa0\x80 utf8")], 1007, "text with a UTF-16 surrogate"))
    case(
        "invalid-utf8-fragmented",
        violation(
            [build_frame(0x1, b"split \xf0\x9f", fin=False), build_frame(0x0, b"\x28 bad", fin=True)],
            1007,
            "text whose 2nd fragment breaks a 4-byte sequence",
        ),
    )
    case("utf8-split-across-fragments", split_utf8)


# --------------------------------------------------------------------------- client direction


class PeerServer:
    """Base: reports (dicts) about each connection from our echo_client arrive on a queue."""

    def __init__(self):
        self.reports = queue.Queue()
        self.port = None
        self.unmatched = None  # the last report that belonged to no run we asked for

    def get_report(self, nonce, proc, timeout):
        deadline = time.monotonic() + timeout
        exited_at = None
        while time.monotonic() < deadline:
            try:
                rep = self.reports.get(timeout=0.2)
            except queue.Empty:
                if proc.poll() is not None:
                    exited_at = exited_at or time.monotonic()
                    if time.monotonic() - exited_at > 3:
                        return None
                continue
            if rep.get("nonce") == nonce:
                return rep
            self.unmatched = rep
        return None

    def stop(self):
        pass


def parse_target(target):
    """'/t17/data/3' -> ('17', '/data/3')."""
    path = target.split("?", 1)[0]
    m = re.match(r"^/t(\d+)(/.*)$", path)
    if not m:
        return "", path
    return m.group(1), m.group(2)


def parse_offered(values):
    out = []
    for value in values:
        out += [p.strip() for p in value.split(",") if p.strip()]
    return out


def choose_subprotocol(offered):
    for name in offered:
        if name in SERVER_PROTOCOLS:
            return name
    return None


def serve_connection(conn, target, offered, selected):
    """The peer server drives the scenarios on one connection from our echo_client."""
    nonce, path = parse_target(target)
    rep = {
        "nonce": nonce,
        "path": path,
        "offered": offered,
        "selected": selected,
        "results": [],
        "completed": False,
        "close_code": None,
        "close_reason": None,
        "error": None,
    }
    try:
        close_with = (4002, "done")
        if path.startswith("/data/"):
            for scn in DATA[int(path[len("/data/"):]):]:
                ok, detail, fatal = run_scenario(conn, scn)
                rep["results"].append((scn.name, ok, detail))
                if fatal:
                    conn.abort()
                    rep["error"] = f"aborted after {scn.name}"
                    return rep
        elif path == "/noproto":
            ok, detail, fatal = run_scenario(conn, Scn("echo", "message", payload="no subprotocol"))
            rep["results"].append(("echo", ok, detail))
            if fatal:
                conn.abort()
                rep["error"] = "aborted"
                return rep
        elif path == "/close4001":
            close_with = (4001, "bye")
        elif path == "/echo":
            # library-client client-closes: echo until the client (tests/peers.rs) closes, and
            # report the code and reason it closed with.
            for i in range(1, 101):
                try:
                    msg = conn.recv(10)
                except Closed:
                    break
                conn.send_message(msg)
                kind = "text" if isinstance(msg, str) else "binary"
                size = len(msg.encode("utf-8") if isinstance(msg, str) else msg)
                rep["results"].append((f"echo-{i}", True, f"{kind} {size} B"))
            code, reason = conn.wait_peer_close(10)
            rep.update(completed=True, close_code=code, close_reason=reason)
            return rep
        elif path == "/close-me":
            # library-client client-observes-peer-close: close at once; report what comes back.
            close_with = (4004, "server-bye")
        else:
            close_with = (1008, "unknown path")
        code, reason = conn.close(*close_with, timeout=10)
        rep.update(completed=True, close_code=code, close_reason=reason)
    except Exception as exc:  # noqa: BLE001
        rep["error"] = f"{type(exc).__name__}: {exc}"
        conn.abort()
    return rep


class WebsocketsPeerServer(PeerServer):
    def __init__(self):
        super().__init__()

        def handler(ws):
            offered = parse_offered(ws.request.headers.get_all("Sec-WebSocket-Protocol"))
            rep = serve_connection(WebsocketsConn(ws), ws.request.path, offered, ws.subprotocol)
            self.reports.put(rep)

        self.server = ws_serve(
            handler,
            "127.0.0.1",
            0,
            select_subprotocol=lambda _conn, offered: choose_subprotocol(offered),
            max_size=None,
            ping_interval=None,
            close_timeout=10,
        )
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.thread.join(timeout=10)


class WsprotoPeerServer(PeerServer):
    def __init__(self):
        super().__init__()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(0.3)
        self.port = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                self._handle(sock)
            except Exception as exc:  # noqa: BLE001
                self.reports.put({"nonce": None, "error": repr(exc)})
                sock.close()

    def _handle(self, sock):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        ws = WSConnection(ConnectionType.SERVER)
        deadline = time.monotonic() + 10
        request = None
        while request is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                sock.close()
                return
            r, _, _ = select.select([sock], [], [], min(remaining, 1.0))
            if not r:
                continue
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            if not data:
                sock.close()
                return
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, Request):
                    request = event
                    break
        offered = list(request.subprotocols)
        chosen = choose_subprotocol(offered)
        sock.setblocking(True)
        sock.settimeout(10)
        sock.sendall(ws.send(AcceptConnection(subprotocol=chosen)))
        sock.setblocking(False)
        conn = WsprotoConn(sock, ws, False, chosen)
        self.reports.put(serve_connection(conn, request.target, offered, chosen))

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=10)
        self.listener.close()


class JsonLinesProcess:
    """A child that prints JSON lines on stdout; lines are queued by a reader thread."""

    def __init__(self, argv, workdir, label, stdin=subprocess.DEVNULL):
        self.stderr_path = os.path.join(workdir, f"{label}.log")
        self.stderr_file = open(self.stderr_path, "wb")
        self.proc = spawn(argv, stdout=subprocess.PIPE, stderr=self.stderr_file, stdin=stdin, cwd=HERE)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            try:
                self.lines.put(json.loads(raw))
            except ValueError:
                self.lines.put({"event": "noise", "text": raw.decode("utf-8", "replace")})
        self.lines.put({"event": "eof"})

    def get(self, timeout):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def stop(self):
        kill_proc(self.proc)
        self.stderr_file.close()


class NodePeerServer(PeerServer):
    def __init__(self, node, workdir):
        super().__init__()
        self.child = JsonLinesProcess([node, "node_server.js"], workdir, "node_server", stdin=subprocess.PIPE)
        msg = self.child.get(timeout=20)
        if not msg or msg.get("event") != "listening":
            self.child.stop()
            raise HarnessError(f"node_server.js did not start: {msg}; stderr: {file_tail(self.child.stderr_path)}")
        self.port = msg["port"]
        self.partial = {}
        threading.Thread(target=self._assemble, daemon=True).start()

    def _assemble(self):
        while True:
            msg = self.child.get(timeout=1)
            if msg is None:
                if self.child.proc.poll() is not None:
                    return
                continue
            if msg.get("event") == "eof":
                return
            nonce = msg.get("nonce")
            if msg.get("event") == "open":
                path = msg.get("path")
                self.partial[nonce] = {
                    "nonce": nonce,
                    "path": path,
                    "offered": msg.get("offered", []),
                    "selected": msg.get("selected"),
                    "results": [],
                    "completed": False,
                    "close_code": None,
                    "close_reason": None,
                    "error": None,
                }
            elif "scenario" in msg and nonce in self.partial:
                self.partial[nonce]["results"].append((msg["scenario"], bool(msg["ok"]), msg.get("detail", "")))
            elif msg.get("event") == "end" and nonce in self.partial:
                rep = self.partial.pop(nonce)
                for key in ("completed", "close_code", "close_reason", "error"):
                    rep[key] = msg.get(key)
                self.reports.put(rep)

    def stop(self):
        try:
            self.child.proc.stdin.close()
        except OSError:
            pass
        self.child.stop()


class RawPeerServer(PeerServer):
    """Hand-written server that misbehaves on purpose; our echo_client must fail cleanly."""

    def __init__(self):
        super().__init__()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(0.3)
        self.port = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            rs = RawSocket(sock)
            rep = {"nonce": None, "error": None, "close_code": None, "others": [], "why": ""}
            try:
                start, headers = rs.read_head(timeout=10)
                target = start.split(" ")[1] if len(start.split(" ")) > 1 else "/"
                rep["nonce"], rep["path"] = parse_target(target)
                key = (headers.get("sec-websocket-key") or [""])[0]
                rep["offered"] = parse_offered(headers.get("sec-websocket-protocol", []))
                self._behave(rs, rep, rep["path"], key)
            except Exception as exc:  # noqa: BLE001
                rep["error"] = f"{type(exc).__name__}: {exc}"
            finally:
                rs.close()
            self.reports.put(rep)

    def _behave(self, rs, rep, path, key):
        accept = accept_value(key)
        extra = ""
        if path == "/bad-accept":
            accept = accept_value("AAAAAAAAAAAAAAAAAAAAAA==")
        elif path == "/unoffered-subprotocol":
            extra = "Sec-WebSocket-Protocol: proto-z\r\n"
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
        code, reason, others, why = rs.read_until_close(timeout=5)
        rep.update(close_code=code, close_reason=reason, others=others, why=why)
        if code is not None:
            try:
                rs.send(build_frame(0x8, close_payload(code), mask=False))
            except OSError:
                pass

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=10)
        self.listener.close()


class ClientRunner:
    """Runs our echo_client against a peer server and collects that server's report."""

    def __init__(self, cmd, workdir):
        self.cmd = cmd
        self.workdir = workdir
        self.counter = 0

    def run(self, server, path, protocols, timeout):
        self.counter += 1
        nonce = str(self.counter)
        url = f"ws://127.0.0.1:{server.port}/t{nonce}{path}"
        argv = list(self.cmd) + [url, "--max-message", str(MAX_MESSAGE)]
        for name in protocols:
            argv += ["--protocol", name]
        log_path = os.path.join(self.workdir, f"echo_client-{nonce}.log")
        server.unmatched = None
        with open(log_path, "wb") as logf:
            proc = spawn(argv, stdout=logf, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
            rep = server.get_report(nonce, proc, timeout)
            rc = wait_proc(proc, 10)
        out = file_tail(log_path)
        if rep is None and server.unmatched is not None:
            stray = server.unmatched
            out += (
                f" [the peer server did see a connection, to {stray.get('path')!r} with nonce {stray.get('nonce')!r}"
                f" (expected /t{nonce}{path}); error: {stray.get('error')}]"
            )
        return rep, rc, out


def client_direction(peer, server, runner, R):
    """Our echo_client against a peer server that drives the scenarios."""
    k = 0
    first = True
    while k <= len(DATA):
        if time_left() <= 0:
            for name in (["subprotocol-pick"] if first else []) + DATA_NAMES[k:] + ["close-4002"]:
                R.record(peer, D_CLIENT, name, False, BUDGET_NOTE)
            break
        rep, rc, out = runner.run(server, f"/data/{k}", OFFER_PICK, timeout=180)
        if rep is None:
            detail = f"the {peer} server saw no connection: echo_client {rc_desc(rc)}: {out}"
            if first:
                R.record(peer, D_CLIENT, "subprotocol-pick", False, detail)
            for name in DATA_NAMES[k:]:
                R.record(peer, D_CLIENT, name, False, detail)
            R.record(peer, D_CLIENT, "close-4002", False, detail)
            break
        if first:
            first = False
            ok = rep["offered"] == OFFER_PICK and rep["selected"] == "proto-b"
            R.record(
                peer,
                D_CLIENT,
                "subprotocol-pick",
                ok,
                f"client offered {rep['offered']} (expected {OFFER_PICK}), server chose {rep['selected']!r}",
            )
        names = [r[0] for r in rep["results"]]
        if names != DATA_NAMES[k:k + len(names)]:
            R.record(peer, D_CLIENT, "harness", False, f"peer reported {names}, expected {DATA_NAMES[k:]}")
            break
        for name, ok, detail in rep["results"]:
            if not ok and rep.get("error"):
                detail += f" (echo_client {rc_desc(rc)}: {out})" if name == names[-1] else ""
            R.record(peer, D_CLIENT, name, ok, detail)
        k += len(names)
        if rep["completed"]:
            ok = rep["close_code"] == 4002 and rc == 0
            detail = f"peer server got close {rep['close_code']} {rep['close_reason']!r} back; echo_client {rc_desc(rc)}"
            if not ok:
                detail += f": {out}"
            R.record(peer, D_CLIENT, "close-4002", ok, detail)
            break
        if not names:
            detail = f"connection aborted before any scenario: {rep.get('error')}; echo_client {rc_desc(rc)}: {out}"
            for name in DATA_NAMES[k:]:
                R.record(peer, D_CLIENT, name, False, detail)
            R.record(peer, D_CLIENT, "close-4002", False, detail)
            break
        # A scenario broke the connection: start a new one at the next scenario.

    if time_left() <= 0:
        for name in ("subprotocol-none", "close-4001"):
            R.record(peer, D_CLIENT, name, False, BUDGET_NOTE)
        return
    rep, rc, out = runner.run(server, "/noproto", OFFER_NONE, timeout=30)
    if rep is None:
        R.record(peer, D_CLIENT, "subprotocol-none", False, f"no connection: echo_client {rc_desc(rc)}: {out}")
    else:
        echo_ok = bool(rep["results"]) and rep["results"][0][1]
        ok = rep["selected"] is None and rep["offered"] == OFFER_NONE and echo_ok and rep["completed"] and rc == 0
        detail = f"client offered {rep['offered']}, server chose {rep['selected']!r}; echo " + (
            "ok" if echo_ok else f"failed: {rep['results'][0][2] if rep['results'] else rep.get('error')}"
        )
        detail += f"; echo_client {rc_desc(rc)}" + ("" if ok else f": {out}")
        R.record(peer, D_CLIENT, "subprotocol-none", ok, detail)

    rep, rc, out = runner.run(server, "/close4001", [], timeout=30)
    if rep is None:
        R.record(peer, D_CLIENT, "close-4001", False, f"no connection: echo_client {rc_desc(rc)}: {out}")
    else:
        ok = rep["completed"] and rep["close_code"] == 4001 and rc == 0
        detail = f"peer server got close {rep['close_code']} {rep['close_reason']!r} back; echo_client {rc_desc(rc)}"
        if rep.get("error"):
            detail += f"; {rep['error']}"
        if not ok:
            detail += f": {out}"
        R.record(peer, D_CLIENT, "close-4001", ok, detail)


def raw_client_direction(server, runner, R):
    peer = "raw"
    for name, path, want_code in (
        ("masked-frame-from-server", "/masked-frame", 1002),
        ("invalid-utf8-from-server", "/invalid-utf8", 1007),
    ):
        rep, rc, out = runner.run(server, path, [], timeout=20)
        if rep is None:
            R.record(peer, D_CLIENT, name, False, f"no connection: echo_client {rc_desc(rc)}: {out}")
            continue
        echoed = [p for op, p in rep["others"] if op in (0x1, 0x2)]
        ok = rep["close_code"] == want_code and not echoed and rc is not None
        if rep["close_code"] is None:
            detail = f"expected Close {want_code}, {rep['why'] or rep.get('error')}"
        else:
            detail = f"client closed with {rep['close_code']} {rep['close_reason']!r}" + (
                "" if rep["close_code"] == want_code else f" (expected {want_code})"
            )
        if echoed:
            detail += "; client echoed the offending message"
        detail += f"; echo_client {rc_desc(rc)}" + ("" if ok else f": {out}")
        R.record(peer, D_CLIENT, name, ok, detail)

    for name, path in (("bad-accept", "/bad-accept"), ("unoffered-subprotocol", "/unoffered-subprotocol")):
        rep, rc, out = runner.run(server, path, [], timeout=20)
        if rep is None:
            R.record(peer, D_CLIENT, name, False, f"no connection: echo_client {rc_desc(rc)}: {out}")
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


# --------------------------------------------------------------------------- node


def node_server_direction(node, server, workdir, R):
    peer = "node-ws"
    expected = DATA_NAMES + EXTRA_SERVER_NAMES
    seen = set()
    child = JsonLinesProcess([node, "node_client.js", str(server.port)], workdir, "node_client")
    deadline = time.monotonic() + max(30.0, min(300.0, time_left()))
    done = False
    try:
        while time.monotonic() < deadline:
            msg = child.get(timeout=1)
            if msg is None:
                continue
            if msg.get("event") in ("done", "eof"):
                done = msg.get("event") == "done"
                break
            if msg.get("event") == "crash":
                R.record(peer, D_SERVER, "node-client", False, f"node_client.js crashed: {msg.get('detail')}")
                continue
            if "scenario" in msg:
                seen.add(msg["scenario"])
                detail = msg.get("detail", "")
                if not msg["ok"]:
                    detail += server.died_note()
                R.record(peer, D_SERVER, msg["scenario"], bool(msg["ok"]), detail)
    finally:
        rc = wait_proc(child.proc, 5)
        child.stderr_file.close()
    for name in expected:
        if name not in seen:
            R.record(
                peer,
                D_SERVER,
                name,
                False,
                f"not reported by node_client.js ({'finished' if done else 'timed out or died'}, {rc_desc(rc)}): "
                + file_tail(child.stderr_path),
            )


# --------------------------------------------------------------------------- chromium


def find_chromium(explicit):
    for candidate in [explicit, "/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")]:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


class PageServer:
    """Tiny loopback HTTP server for browser_test.html; /hold is released once the page POSTs."""

    def __init__(self, hold_timeout):
        self.results = None
        self.posted = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _reply(self, status, body=b"", ctype="text/plain"):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                path = self.path.split("?", 1)[0]
                files = {
                    "/browser_test.html": "text/html; charset=utf-8",
                    "/scenarios.js": "text/javascript; charset=utf-8",
                    "/browser_library.html": "text/html; charset=utf-8",
                }
                if path in files:
                    with open(os.path.join(HERE, path.lstrip("/")), "rb") as f:
                        self._reply(200, f.read(), files[path])
                elif path == "/hold":
                    outer.posted.wait(hold_timeout)
                    self._reply(204)
                else:
                    self._reply(404, b"not found")

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                if self.path.split("?", 1)[0] == "/results":
                    outer.results = body.decode("utf-8", "replace")
                    outer.posted.set()
                self._reply(204)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        self.thread.start()

    def stop(self):
        self.posted.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


def chromium_page(chromium, page_name, query, workdir, label, budget):
    """Loads interop/<page_name>?<query> (served by a PageServer on loopback) in headless Chromium
    and returns (the text of the page's <pre id="results">, where it was read from, chromium's
    exit code, its stderr log). The page holds its load event until it has POSTed its results;
    if the DOM dump lacks "DONE all", the POSTed copy is used."""
    page = PageServer(hold_timeout=budget)
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=workdir)
    url = f"http://127.0.0.1:{page.port}/{page_name}?{query}"
    argv = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--disable-extensions",
        f"--user-data-dir={profile}",
        "--dump-dom",
        url,
    ]
    err_path = os.path.join(workdir, f"{label}.log")
    with open(err_path, "wb") as errf:
        proc = spawn(argv, stdout=subprocess.PIPE, stderr=errf)
        try:
            dom, _ = proc.communicate(timeout=budget + 30)
        except subprocess.TimeoutExpired:
            kill_proc(proc)
            dom = b""
        kill_proc(proc)  # chromium's helper processes, if any are left
    page.stop()
    shutil.rmtree(profile, ignore_errors=True)
    dom = dom.decode("utf-8", "replace")
    m = re.search(r'<pre id="results">(.*?)</pre>', dom, re.S)
    source = "--dump-dom"
    text = html.unescape(m.group(1)) if m else ""
    if "DONE all" not in text and page.results:
        text, source = page.results, "the page's POST (the DOM dump was incomplete)"
    return text, source, proc.returncode, err_path


def chromium_server_direction(chromium, server, workdir, R):
    peer = "chromium"
    browser_budget = max(30, min(150, int(time_left())))
    text, source, rc, err_path = chromium_page(
        chromium, "browser_test.html", f"port={server.port}", workdir, "chromium", browser_budget
    )
    log(f"chromium: results read from {source}")
    if not text.strip():
        R.record(
            peer,
            D_SERVER,
            "page",
            False,
            f"no results from the page (chromium {rc_desc(rc)}; stderr: {file_tail(err_path)})",
        )
        return
    seen = set()
    for line in text.splitlines():
        status, _, rest = line.strip().partition(" ")
        scenario, _, detail = rest.partition(" ")
        if status in ("PASS", "FAIL"):
            seen.add(scenario)
            if status == "FAIL":
                detail += server.died_note()
            R.record(peer, D_SERVER, scenario, status == "PASS", detail)
        elif status == "SKIP":
            seen.add(scenario)
            R.skip(peer, D_SERVER, scenario, detail)
    if "DONE all" not in text:
        R.record(peer, D_SERVER, "page", False, f"the page did not finish (results from {source})")
    for name in DATA_NAMES + EXTRA_SERVER_NAMES + ["subprotocol-not-offered"]:
        if name not in seen:
            R.record(peer, D_SERVER, name, False, f"not reported by the page (results from {source})")


# --------------------------------------------------------------------------- library (tests/peers.rs)

# (scenario, test name in tests/peers.rs, path on the peer echo server)
LIB_CLIENT_CASES = [
    ("client-closes", "client_closes", "/echo"),
    ("client-observes-peer-close", "client_observes_peer_close", "/close-me"),
]
# (scenario, test name, peer client mode, close code and reason the peer must see)
LIB_SERVER_CASES = [
    ("server-closes", "server_closes", "wait-close", 4005, "server-bye"),
    ("server-observes-peer-close", "server_observes_peer_close", "close", 4006, None),
]
LIB_SCENARIOS = {
    D_LIB_CLIENT: [c[0] for c in LIB_CLIENT_CASES],
    D_LIB_SERVER: [c[0] for c in LIB_SERVER_CASES],
}


class RunningTest:
    def __init__(self, name, proc, logf, log_path):
        self.name = name
        self.proc = proc
        self.logf = logf
        self.log_path = log_path


class LibraryTests:
    """Runs the #[ignore]d tests of tests/peers.rs, one per case:
    `cargo test --release --test peers -- --ignored --exact NAME --nocapture`. A case passes on
    the Rust side only if cargo exits 0 AND libtest reports exactly that one test passed (a name
    that matches nothing would otherwise "pass" with 0 tests)."""

    BASE = ["test", "--release", "--test", "peers"]

    def __init__(self, cargo, workdir):
        self.cargo = cargo
        self.workdir = workdir
        self.counter = 10000  # nonces for the peer servers' /t<nonce>/ paths
        self.build_error = None
        self.built = False

    def build(self, timeout=900):
        """`cargo test --release --test peers --no-run`, once. Returns an error description or None."""
        if self.built or self.build_error:
            return self.build_error
        log_path = os.path.join(self.workdir, "cargo-test-peers-build.log")
        t0 = time.monotonic()
        log("cargo " + " ".join(self.BASE + ["--no-run"]))
        with open(log_path, "wb") as logf:
            try:
                proc = spawn([self.cargo] + self.BASE + ["--no-run"], stdout=logf, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
            except OSError as exc:
                self.build_error = f"cannot run {self.cargo}: {exc}"
                return self.build_error
            rc = wait_proc(proc, timeout)
        if rc != 0:
            self.build_error = f"cargo test --release --test peers --no-run {rc_desc(rc)}: {file_tail(log_path)}"
        else:
            self.built = True
            log(f"tests/peers.rs built in {time.monotonic() - t0:.1f} s")
        return self.build_error

    def start(self, name, env):
        self.counter += 1
        log_path = os.path.join(self.workdir, f"peers-{self.counter}-{name}.log")
        logf = open(log_path, "wb")
        argv = [self.cargo] + self.BASE + ["--", "--ignored", "--exact", name, "--nocapture"]
        proc = spawn(argv, stdout=logf, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=dict(os.environ, **env))
        return RunningTest(name, proc, logf, log_path)

    @staticmethod
    def wait_port(test, port_file, timeout=60):
        """The port a server test wrote to SOCKLESS_PORT_FILE, or None (timeout, or it exited)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(port_file) as f:
                    text = f.read().strip()
                if text.isdigit():
                    return int(text)
            except FileNotFoundError:
                pass
            if test.proc.poll() is not None:
                return None
            time.sleep(0.05)
        return None

    @staticmethod
    def finish(test, timeout):
        """Waits for the test to end (killing it after `timeout`); returns (ok, detail)."""
        rc = wait_proc(test.proc, timeout)
        test.logf.close()
        try:
            with open(test.log_path, "rb") as f:
                out = f.read().decode("utf-8", "replace")
        except OSError:
            out = ""
        observed = [m.group(1).strip() for m in re.finditer(r"^peers: (?!listening on)(.*)$", out, re.M)]
        one_passed = re.search(r"^test result: ok\. 1 passed;", out, re.M) is not None
        if rc == 0 and one_passed:
            return True, "; ".join(observed) or "passed"
        panic = re.search(r"panicked at (\S+):\n(.*)", out)
        if panic:
            why = f"{panic.group(2).strip()} (at {panic.group(1).rstrip(':')})"
        elif re.search(r"^test result: ok\. 0 passed;", out, re.M):
            why = f"no test named {test.name} ran"
        else:
            why = file_tail(test.log_path)
        detail = f"test {test.name} failed ({rc_desc(rc)}): {why}"
        if observed:
            detail += f"; it printed: {'; '.join(observed)}"
        return False, detail


def library_client_direction(peer, server, lib, R):
    """tests/peers.rs's client tests against a peer echo server: /t<n>/echo echoes until the
    client closes and reports the code and reason it got; /t<n>/close-me closes at once with
    4004 "server-bye" and reports the code that came back."""
    for scenario, name, path in LIB_CLIENT_CASES:
        if time_left() <= 0:
            R.record(peer, D_LIB_CLIENT, scenario, False, BUDGET_NOTE)
            continue
        lib.counter += 1
        nonce = str(lib.counter)
        url = f"ws://127.0.0.1:{server.port}/t{nonce}{path}"
        server.unmatched = None
        test = lib.start(name, {"SOCKLESS_PEER_SERVER": url})
        rep = server.get_report(nonce, test.proc, timeout=40)
        rust_ok, rust_detail = lib.finish(test, timeout=30)
        if rep is None:
            detail = f"the {peer} server saw no connection to {path}"
            if server.unmatched is not None:
                stray = server.unmatched
                detail += f" (it saw {stray.get('path')!r} with nonce {stray.get('nonce')!r}; error: {stray.get('error')})"
            R.record(peer, D_LIB_CLIENT, scenario, False, f"{detail}; sockless: {rust_detail}")
            continue
        code, reason = rep.get("close_code"), rep.get("close_reason")
        if path == "/echo":
            echoes = rep.get("results") or []
            peer_ok = (
                rep.get("completed")
                and code == 4003
                and reason == "client-bye"
                and len(echoes) == 2
                and all(ok for _, ok, _ in echoes)
            )
            peer_detail = f"the {peer} server echoed [{', '.join(d for _, _, d in echoes)}] and got close {code} {reason!r}"
            if not peer_ok:
                peer_detail += " (expected 2 echoes, then 4003 'client-bye')"
        else:
            peer_ok = rep.get("completed") and code == 4004
            peer_detail = f"the {peer} server closed with 4004 'server-bye' and got {code} {reason!r} back"
            if not peer_ok:
                peer_detail += " (expected 4004)"
        if rep.get("error"):
            peer_ok = False
            peer_detail += f"; {peer} server error: {rep['error']}"
        R.record(peer, D_LIB_CLIENT, scenario, bool(rust_ok and peer_ok), f"sockless: {rust_detail}; {peer_detail}")


def library_server_direction(peer, client_fn, lib, R):
    """tests/peers.rs's server tests with a peer client. `client_fn(port, mode)` connects, sends a
    message, checks the echo, then waits for our Close (mode "wait-close") or closes with 4006
    "client-bye" itself (mode "close"); it returns a report: echo ("ok" or what differed),
    close_code/close_reason (what our server sent in its Close), error, and for chromium
    was_clean."""
    for scenario, name, mode, want_code, want_reason in LIB_SERVER_CASES:
        if time_left() <= 0:
            R.record(peer, D_LIB_SERVER, scenario, False, BUDGET_NOTE)
            continue
        lib.counter += 1  # a fresh file name per run: a stale port must never be read
        port_file = os.path.join(lib.workdir, f"port-{lib.counter}-{peer}-{name}")
        for stale in (port_file, port_file + ".tmp"):
            if os.path.exists(stale):
                os.remove(stale)
        test = lib.start(name, {"SOCKLESS_PORT_FILE": port_file})
        port = lib.wait_port(test, port_file)
        rep = None
        if port is not None:
            try:
                rep = client_fn(port, mode)
            except Exception as exc:  # noqa: BLE001
                rep = {"error": f"{type(exc).__name__}: {exc}"}
        rust_ok, rust_detail = lib.finish(test, timeout=30)
        if rep is None:
            R.record(peer, D_LIB_SERVER, scenario, False, f"the test did not write its port file; sockless: {rust_detail}")
            continue
        code, reason = rep.get("close_code"), rep.get("close_reason")
        peer_ok = (
            not rep.get("error")
            and rep.get("echo") == "ok"
            and code == want_code
            and (want_reason is None or reason == want_reason)
            and rep.get("was_clean") is not False
        )
        what = "saw our close" if mode == "wait-close" else "closed with 4006 'client-bye' and got back"
        peer_detail = f"{peer} {what} {code} {reason!r}"
        if rep.get("was_clean") is not None:
            peer_detail += f" wasClean={str(rep['was_clean']).lower()}"
        if rep.get("echo") != "ok":
            peer_detail += f"; echo: {rep.get('echo')}"
        if rep.get("error"):
            peer_detail += f"; {peer} error: {rep['error']}"
        if not peer_ok:
            peer_detail += f" (expected {want_code}" + (f" {want_reason!r})" if want_reason else ")")
        R.record(peer, D_LIB_SERVER, scenario, bool(rust_ok and peer_ok), f"sockless: {rust_detail}; {peer_detail}")


def python_library_client(peer, connect_fn):
    """A websockets or wsproto client for library_server_direction."""

    def client(port, mode):
        rep = {"echo": None, "close_code": None, "close_reason": None, "error": None}
        conn = None
        try:
            conn = connect_fn(port, "/")
            msg = f"hello from {peer}"
            conn.send_message(msg)
            rep["echo"] = compare(msg, conn.recv(10)) or "ok"
            if mode == "close":
                code, reason = conn.close(4006, "client-bye", 10)
            else:
                try:
                    extra = conn.recv(10)
                    rep["error"] = f"a message instead of the Close: {extra!r}"[:200]
                except Closed:
                    pass
                code, reason = conn.wait_peer_close(10)
            rep.update(close_code=code, close_reason=reason)
        except Exception as exc:  # noqa: BLE001
            rep["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            if conn is not None:
                conn.abort()
        return rep

    return client


def node_library_client(node, workdir):
    """node_client.js --library MODE, for library_server_direction."""

    def client(port, mode):
        child = JsonLinesProcess(
            [node, "node_client.js", str(port), "--library", mode], workdir, f"node_client-library-{mode}"
        )
        rep = None
        deadline = time.monotonic() + 40
        try:
            while rep is None and time.monotonic() < deadline:
                msg = child.get(timeout=0.5)
                if msg is None:
                    continue
                if msg.get("event") == "library":
                    rep = msg
                elif msg.get("event") == "crash":
                    rep = {"error": f"node_client.js crashed: {msg.get('detail')}"}
                elif msg.get("event") == "eof":
                    break
        finally:
            rc = wait_proc(child.proc, 5)
            child.stderr_file.close()
        if rep is None:
            rep = {"error": f"node_client.js reported nothing ({rc_desc(rc)}): {file_tail(child.stderr_path)}"}
        return rep

    return client


def chromium_library_client(chromium, workdir):
    """browser_library.html in headless Chromium, for library_server_direction."""

    def client(port, mode):
        text, source, rc, err_path = chromium_page(
            chromium, "browser_library.html", f"port={port}&mode={mode}", workdir, f"chromium-library-{mode}", 40
        )
        m = re.search(r"^RESULT (.*)$", text, re.M)
        if not m:
            return {"error": f"no result from the page (chromium {rc_desc(rc)}; stderr: {file_tail(err_path)})"}
        try:
            return json.loads(m.group(1))
        except ValueError:
            return {"error": f"unreadable result from {source}: {m.group(1)[:200]}"}

    return client


# --------------------------------------------------------------------------- main


def resolve_cmd(value, default_rel):
    if value:
        return shlex.split(value)
    return [os.path.join(REPO_ROOT, default_rel)]


def main():
    ap = argparse.ArgumentParser(description="sockless interop matrix")
    ap.add_argument("--server-cmd", help="command for echo_server (default: target/release/examples/echo_server)")
    ap.add_argument("--client-cmd", help="command for echo_client (default: target/release/examples/echo_client)")
    ap.add_argument("--peers", default=",".join(PEERS), help=f"comma-separated subset of {','.join(PEERS)}")
    ap.add_argument(
        "--directions", default=",".join(DIRECTIONS), help=f"comma-separated subset of {','.join(DIRECTIONS)}"
    )
    ap.add_argument(
        "--browser",
        choices=["auto", "on", "off"],
        default="auto",
        help="auto: run chromium if installed, else SKIP (but FAIL when CI=true); "
        "on: missing chromium is a failure; off: SKIP",
    )
    ap.add_argument("--chromium", help="path to chromium (default /usr/bin/chromium)")
    ap.add_argument("--node", default=shutil.which("node") or "node", help="node binary")
    ap.add_argument(
        "--cargo",
        default=shutil.which("cargo") or "cargo",
        help="cargo binary, for the library-client/library-server tests (tests/peers.rs)",
    )
    ap.add_argument("--keep-logs", action="store_true", help="keep the per-process logs directory")
    ap.add_argument(
        "--budget",
        type=float,
        default=360.0,
        help="seconds after which no new case is started; the rest are reported as failed (default 360)",
    )
    args = ap.parse_args()

    server_cmd = resolve_cmd(args.server_cmd, "target/release/examples/echo_server")
    client_cmd = resolve_cmd(args.client_cmd, "target/release/examples/echo_client")
    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    directions = [d.strip() for d in args.directions.split(",") if d.strip()]
    unknown = [p for p in peers if p not in PEERS] + [d for d in directions if d not in DIRECTIONS]
    if unknown:
        ap.error(f"unknown peers/directions: {unknown}")

    R = Results()
    workdir = tempfile.mkdtemp(prefix="sockless-interop-")
    started = time.monotonic()
    BUDGET["deadline"] = started + args.budget
    atexit.register(cleanup_children)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    log(f"server: {shlex.join(server_cmd)}")
    log(f"client: {shlex.join(client_cmd)}")
    log(f"logs: {workdir}")

    def section(peer, direction, fn):
        if peer not in peers or direction not in directions:
            return
        if time_left() <= 0:
            R.record(peer, direction, "all", False, BUDGET_NOTE)
            return
        t0 = time.monotonic()
        try:
            fn()
        except Exception as exc:  # noqa: BLE001
            R.record(peer, direction, "harness", False, f"{type(exc).__name__}: {exc}")
            traceback.print_exc(file=sys.stdout)
        log(f"{peer} {direction}: {time.monotonic() - t0:.1f} s")

    def with_server(label, body):
        def run():
            server = EchoServer(server_cmd, workdir, label).start()
            try:
                body(server)
            finally:
                server.stop()

        return run

    def with_peer_server(factory, body):
        def run():
            srv = factory()
            try:
                body(srv)
            finally:
                srv.stop()

        return run

    lib = LibraryTests(args.cargo, workdir)

    def library(peer, direction, body):
        """A library-client/library-server section: tests/peers.rs must have been built."""

        def run():
            if not lib.built:
                for scenario in LIB_SCENARIOS[direction]:
                    R.record(peer, direction, scenario, False, f"not run: {lib.build_error or 'tests/peers.rs not built'}")
                return
            body()

        section(peer, direction, run)

    if args.browser == "auto" and os.environ.get("CI") == "true":
        args.browser = "on"
    runner = ClientRunner(client_cmd, workdir)
    node_ok = os.path.isdir(os.path.join(HERE, "node_modules", "ws"))
    lib_peers = {"websockets", "wsproto", "node-ws", "chromium"}
    if lib_peers & set(peers) and {D_LIB_CLIENT, D_LIB_SERVER} & set(directions):
        lib.build()  # once, up front; a failure is reported by each library case

    try:
        section("raw", D_SERVER, with_server("raw", lambda s: raw_server_direction(s, R)))
        section(
            "websockets",
            D_SERVER,
            with_server(
                "websockets",
                lambda s: (python_server_direction("websockets", websockets_connect, s, R), websockets_bad_version(s, R)),
            ),
        )
        section(
            "websockets",
            D_CLIENT,
            with_peer_server(WebsocketsPeerServer, lambda p: client_direction("websockets", p, runner, R)),
        )
        library(
            "websockets",
            D_LIB_CLIENT,
            with_peer_server(WebsocketsPeerServer, lambda p: library_client_direction("websockets", p, lib, R)),
        )
        library(
            "websockets",
            D_LIB_SERVER,
            lambda: library_server_direction("websockets", python_library_client("websockets", websockets_connect), lib, R),
        )
        section(
            "wsproto",
            D_SERVER,
            with_server("wsproto", lambda s: python_server_direction("wsproto", wsproto_connect, s, R)),
        )
        section("wsproto", D_CLIENT, with_peer_server(WsprotoPeerServer, lambda p: client_direction("wsproto", p, runner, R)))
        library(
            "wsproto",
            D_LIB_CLIENT,
            with_peer_server(WsprotoPeerServer, lambda p: library_client_direction("wsproto", p, lib, R)),
        )
        library(
            "wsproto",
            D_LIB_SERVER,
            lambda: library_server_direction("wsproto", python_library_client("wsproto", wsproto_connect), lib, R),
        )
        if node_ok:
            section("node-ws", D_SERVER, with_server("node", lambda s: node_server_direction(args.node, s, workdir, R)))
            section(
                "node-ws",
                D_CLIENT,
                with_peer_server(
                    lambda: NodePeerServer(args.node, workdir), lambda p: client_direction("node-ws", p, runner, R)
                ),
            )
            library(
                "node-ws",
                D_LIB_CLIENT,
                with_peer_server(
                    lambda: NodePeerServer(args.node, workdir), lambda p: library_client_direction("node-ws", p, lib, R)
                ),
            )
            library(
                "node-ws",
                D_LIB_SERVER,
                lambda: library_server_direction("node-ws", node_library_client(args.node, workdir), lib, R),
            )
        elif "node-ws" in peers:
            R.record("node-ws", "-", "setup", False, f"{os.path.join(HERE, 'node_modules', 'ws')} missing: run npm ci in interop/")
        section("raw", D_CLIENT, with_peer_server(RawPeerServer, lambda p: raw_client_direction(p, runner, R)))

        browser_directions = [d for d in (D_SERVER, D_LIB_SERVER) if d in directions]
        if "chromium" in peers and browser_directions:
            chromium = find_chromium(args.chromium) if args.browser != "off" else None
            if chromium:
                section(
                    "chromium",
                    D_SERVER,
                    with_server("chromium", lambda s: chromium_server_direction(chromium, s, workdir, R)),
                )
                library(
                    "chromium",
                    D_LIB_SERVER,
                    lambda: library_server_direction("chromium", chromium_library_client(chromium, workdir), lib, R),
                )
            else:
                for direction in browser_directions:
                    if args.browser == "on":
                        R.record("chromium", direction, "setup", False, "chromium not found (/usr/bin/chromium)")
                    elif args.browser == "off":
                        R.skip("chromium", direction, "all", "disabled (--browser off)")
                    else:
                        R.skip("chromium", direction, "all", "chromium not installed (apt-get install -y chromium)")
    except KeyboardInterrupt:
        R.record("harness", "-", "interrupted", False, "")
    finally:
        cleanup_children()
        log(f"total {time.monotonic() - started:.1f} s")
        if R.failures:
            log(f"{len(R.failures)} failure(s):")
            for line in R.failures[:40]:
                print(f"#   {line[:200]}", flush=True)
            if len(R.failures) > 40:
                log(f"  ... and {len(R.failures) - 40} more")
        if not args.keep_logs and not R.failures:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"logs kept in {workdir}")
        if R.skipped:
            log(f"{R.skipped} skipped")
        print(f"interop: {R.passed} passed, {R.failed} failed", flush=True)
    return 1 if R.failed or R.passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
