"""What every part of the matrix shares: paths and constants, the result lines and their
counts, the time budget, child processes (own process group, bounded waits), JSON-lines
children (the Node peers), the options a peer is run with, and what a peer provides in
each direction family."""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from typing import Callable, Optional

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # interop/
REPO_ROOT = os.path.dirname(HERE)

MiB = 1024 * 1024
MAX_MESSAGE = 16 * MiB  # passed as --max-message to the examples

# Subprotocols. A server example is started with --protocol proto-c --protocol proto-b;
# the peer servers support the same two. Clients offer:
OFFER_PICK = ["proto-a", "proto-b"]  # -> proto-b
OFFER_ORDER = ["proto-b", "proto-c"]  # -> proto-b: the client's order wins
OFFER_NONE = ["proto-x"]  # -> no subprotocol, the connection still opens
SERVER_PROTOCOLS = ["proto-c", "proto-b"]

# Directions besides the server examples' own (each server example is a direction, named
# after it: `echo_server`, ...). echo_client is the client example; the library directions
# are sockless itself, driven by the #[ignore]d tests of tests/peers.rs (no example in between).
D_CLIENT = "echo_client"
D_LIB_CLIENT = "library-client"
D_LIB_SERVER = "library-server"
PEERS = ["raw", "websockets", "wsproto", "node-ws", "chromium", "websockets-tls"]


class HarnessError(Exception):
    pass


class Timeout(Exception):
    pass


class Closed(Exception):
    pass


@dataclasses.dataclass(frozen=True)
class PeerOptions:
    """How the peers are configured, passed through every adapter that can honour it.

    deflate: offer permessage-deflate (peer clients) or accept it (peer servers); None keeps
    each peer library's own default (websockets: offered and accepted; Node ws: offered by
    the client, not accepted by the server; wsproto: neither; Chromium always offers it)."""

    deflate: Optional[bool] = None


# --------------------------------------------------------------------------- results


def log(msg):
    print(f"# {msg}", flush=True)


class Results:
    """PASS/FAIL/SKIP lines, `STATUS PEER DIRECTION SCENARIO [detail]`, and their counts."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.failures = []
        self.lock = threading.Lock()

    @staticmethod
    def _line(status, peer, direction, scenario, detail):
        line = f"{status} {peer} {direction} {scenario}"
        detail = re.sub(r"\s+", " ", str(detail or "")).strip()
        if len(detail) > 400:
            detail = detail[:397] + "..."
        return line + " " + detail if detail else line

    def record(self, peer, direction, scenario, ok, detail=""):
        line = self._line("PASS" if ok else "FAIL", peer, direction, scenario, detail)
        with self.lock:
            if ok:
                self.passed += 1
            else:
                self.failed += 1
                self.failures.append(line)
            print(line, flush=True)

    def skip(self, peer, direction, scenario, detail=""):
        line = self._line("SKIP", peer, direction, scenario, detail)
        with self.lock:
            self.skipped += 1
            print(line, flush=True)

    def not_run(self, peer, direction, scenarios):
        """Fails `scenarios` for lack of time (see --budget)."""
        for scenario in scenarios:
            self.record(peer, direction, scenario, False, BUDGET_NOTE)


# --------------------------------------------------------------------------- the time budget

# The matrix stops starting new work once this many seconds have passed (--budget); what was
# not run is reported as failed. Keeps run.sh under ~8 minutes even when every case times out.
BUDGET = {"deadline": float("inf")}
BUDGET_NOTE = "not run: the interop time budget was exhausted (see --budget)"


def time_left():
    return BUDGET["deadline"] - time.monotonic()


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


class JsonLinesProcess:
    """A child (run in interop/) that prints JSON lines on stdout; a reader thread queues them,
    a line that is not JSON as {"event": "noise"}, and the end of stdout as {"event": "eof"}."""

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

    def finish(self, timeout):
        """Waits for the child to exit (killing it after `timeout`); returns its exit code or None."""
        rc = wait_proc(self.proc, timeout)
        self.stderr_file.close()
        return rc

    def stop(self):
        kill_proc(self.proc)
        self.stderr_file.close()


# --------------------------------------------------------------------------- peers


@dataclasses.dataclass
class Peer:
    """One peer implementation and what it runs in each direction family (None: nothing).

    server(running_server, R): the peer as a client of a server example (the direction is
    the server example's name). echo_client(runner, R): the peer as a server for echo_client.
    library_client(lib, R) / library_server(lib, R): the peer with tests/peers.rs.
    deflate_server(target, workdir, R) / deflate_client(runner, R): the permessage-deflate
    matrix (deflate_matrix.py) against a server example that negotiates it (`target`, a
    ServerTarget, started as needed) and against echo_client."""

    name: str
    server: Optional[Callable] = None
    echo_client: Optional[Callable] = None
    library_client: Optional[Callable] = None
    library_server: Optional[Callable] = None
    deflate_server: Optional[Callable] = None
    deflate_client: Optional[Callable] = None


def serving(factory, body):
    """Runs body(peer_server) on a fresh peer server from `factory()`, stopped afterwards."""
    srv = factory()
    try:
        body(srv)
    finally:
        srv.stop()
