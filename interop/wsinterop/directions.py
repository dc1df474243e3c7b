"""Peer-independent drivers, shared by the peers that plug into them:

* client_against_server: a peer client (a connection adapter, see scenarios.py) against a
  server example: the data scenarios, the subprotocol choice, close 4001 (websockets, wsproto).
* PeerServer, serve_connection: a peer server's side of one connection from echo_client or a
  tests/peers.rs client; the path says what to run (/data/K, /noproto, /close4001, /echo,
  /close-me). Its report goes on the server's queue (node_server.js does the same in JS).
* client_direction: our echo_client against a peer server that drives the scenarios
  (websockets, wsproto, node-ws).
* adapter_library_client: the library-server peer client made from a connection adapter.
* adapter_peer: a whole Peer from a connection adapter and a peer server (websockets, wsproto)."""

from __future__ import annotations

import queue
import re
import socket
import threading
import time

from .common import (
    D_CLIENT,
    OFFER_NONE,
    OFFER_ORDER,
    OFFER_PICK,
    SERVER_PROTOCOLS,
    Closed,
    Peer,
    log,
    rc_desc,
    serving,
    time_left,
)
from . import pmd
from .library import with_peer_client, with_peer_server
from .scenarios import DATA, DATA_NAMES, DEFLATE, Scn, echo_check, run_scenario

# --------------------------------------------------------------------------- peer client, server example


def agreement_name(agrees):
    return "deflate-negotiated" if agrees else "deflate-none"


def record_agreement(R, peer, direction, agrees, offer, answer):
    """deflate-negotiated (the offer was answered with a valid permessage-deflate) or deflate-none
    (no extension agreed), on the first data connection; `agrees` says which is expected."""
    ok, detail = pmd.check_agreement(offer, answer, pmd.ANY if agrees else None)
    R.record(peer, direction, agreement_name(agrees), ok, detail)


def client_against_server(peer, connect_fn, server, R, offers_deflate=False):
    """A peer client against a running server example: data scenarios, subprotocols, close.
    `connect_fn(port, path, subprotocols=None)` returns a connection adapter. For a server example
    that negotiates permessage-deflate, the first data connection also checks that the peer's
    offer (`offers_deflate`) was accepted, or that nothing was agreed."""
    direction = server.name
    conn = None
    first = True
    for scn in DATA:
        if time_left() <= 0:
            R.not_run(peer, direction, [scn.name])
            continue
        if conn is None:
            try:
                conn, note = server.connect(connect_fn, "/")
            except Exception as exc:  # noqa: BLE001
                R.record(peer, direction, scn.name, False, f"connect failed: {exc}{server.died_note()}")
                continue
            if note:
                log(f"{peer}: {note.strip()}")
            if first and server.target.example.deflate:
                record_agreement(R, peer, direction, offers_deflate, conn.ext_offer, conn.ext_answer)
            first = False
        ok, detail, fatal = run_scenario(conn, scn)
        if not ok:
            detail += server.died_note(wait=1.0 if fatal else 0.0)
        R.record(peer, direction, scn.name, ok, detail)
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
            R.not_run(peer, direction, [scenario])
            continue
        try:
            c, _ = server.connect(connect_fn, "/", offer)
        except Exception as exc:  # noqa: BLE001
            R.record(peer, direction, scenario, False, f"offered {offer}: connect failed: {exc}{server.died_note()}")
            continue
        try:
            got = c.subprotocol
            diff = echo_check(c, "subprotocol check")
            ok = got == want and diff is None
            detail = f"offered {offer}, server chose {got!r}" + (f" (expected {want!r})" if got != want else "")
            if diff:
                detail += f"; echo: {diff}"
            R.record(peer, direction, scenario, ok, detail)
            c.close(1000, "", 5)
        except Exception as exc:  # noqa: BLE001
            R.record(peer, direction, scenario, False, f"offered {offer}: {exc}")
            c.abort()

    try:
        c, _ = server.connect(connect_fn, "/")
        c.send_message("before close")
        c.recv(10)
        code, reason = c.close(4001, "bye", 10)
        R.record(peer, direction, "close-4001", code == 4001, f"server echoed {code} {reason!r}")
    except Exception as exc:  # noqa: BLE001
        R.record(peer, direction, "close-4001", False, f"{exc}{server.died_note()}")


# --------------------------------------------------------------------------- peer servers


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


def new_report(nonce, path, offered, selected, offer=None, answer=None):
    """What a peer server reports about one connection (node_server.js's lines, assembled,
    have the same keys). offer/answer: the request's and the 101's Sec-WebSocket-Extensions."""
    return {
        "nonce": nonce,
        "path": path,
        "offered": offered,
        "selected": selected,
        "offer": offer,
        "answer": answer,
        "results": [],
        "completed": False,
        "close_code": None,
        "close_reason": None,
        "error": None,
    }


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

    def unmatched_desc(self):
        """The connection the server saw instead of the one asked for, for failure details."""
        stray = self.unmatched
        return f"to {stray.get('path')!r} with nonce {stray.get('nonce')!r}; error: {stray.get('error')}"

    def stop(self):
        pass


class ListeningPeerServer(PeerServer):
    """A peer server with its own loopback listener and accept thread; `handle(sock)` serves
    one connection at a time and returns its report."""

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
            rep = self.handle(sock)
            if rep is not None:
                self.reports.put(rep)

    def handle(self, sock):
        raise NotImplementedError

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=10)
        self.listener.close()


def serve_connection(conn, target, offered, selected):
    """The peer server drives the scenarios on one connection from our echo_client (or from a
    tests/peers.rs client); returns the report."""
    nonce, path = parse_target(target)
    rep = new_report(nonce, path, offered, selected, conn.ext_offer, conn.ext_answer)
    try:
        close_with = (4002, "done")
        if path.startswith("/data/") or path == "/deflate":
            scenarios = DEFLATE if path == "/deflate" else DATA[int(path[len("/data/"):]):]
            for scn in scenarios:
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


# --------------------------------------------------------------------------- echo_client, peer server


def no_connection(rc, out):
    """The failure detail when a peer server saw no connection from echo_client."""
    return f"no connection: echo_client {rc_desc(rc)}: {out}"


def client_direction(peer, server, runner, R, accepts_deflate=False):
    """Our echo_client against a peer server that drives the scenarios. On the first connection,
    echo_client's permessage-deflate offer must have been accepted (`accepts_deflate`: the peer
    server accepts it) or nothing agreed."""
    k = 0
    first = True
    while k <= len(DATA):
        if time_left() <= 0:
            before = [agreement_name(accepts_deflate), "subprotocol-pick"] if first else []
            R.not_run(peer, D_CLIENT, before + DATA_NAMES[k:] + ["close-4002"])
            break
        rep, rc, out = runner.run(server, f"/data/{k}", OFFER_PICK, timeout=180)
        if rep is None:
            detail = f"the {peer} server saw no connection: echo_client {rc_desc(rc)}: {out}"
            if first:
                R.record(peer, D_CLIENT, agreement_name(accepts_deflate), False, detail)
                R.record(peer, D_CLIENT, "subprotocol-pick", False, detail)
            for name in DATA_NAMES[k:]:
                R.record(peer, D_CLIENT, name, False, detail)
            R.record(peer, D_CLIENT, "close-4002", False, detail)
            break
        if first:
            first = False
            record_agreement(R, peer, D_CLIENT, accepts_deflate, rep["offer"], rep["answer"])
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
        R.not_run(peer, D_CLIENT, ["subprotocol-none", "close-4001"])
        return
    rep, rc, out = runner.run(server, "/noproto", OFFER_NONE, timeout=30)
    if rep is None:
        R.record(peer, D_CLIENT, "subprotocol-none", False, no_connection(rc, out))
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
        R.record(peer, D_CLIENT, "close-4001", False, no_connection(rc, out))
    else:
        ok = rep["completed"] and rep["close_code"] == 4001 and rc == 0
        detail = f"peer server got close {rep['close_code']} {rep['close_reason']!r} back; echo_client {rc_desc(rc)}"
        if rep.get("error"):
            detail += f"; {rep['error']}"
        if not ok:
            detail += f": {out}"
        R.record(peer, D_CLIENT, "close-4001", ok, detail)


# --------------------------------------------------------------------------- library-server peer client


def adapter_library_client(peer, connect_fn):
    """A library-server peer client from a connection adapter (see library.py): connects, checks
    one echo, then closes with 4006 "client-bye" (mode "close") or waits for the server's Close
    (mode "wait-close")."""

    def client(port, mode):
        rep = {"echo": None, "close_code": None, "close_reason": None, "error": None}
        conn = None
        try:
            conn = connect_fn(port, "/")
            rep["echo"] = echo_check(conn, f"hello from {peer}") or "ok"
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


# --------------------------------------------------------------------------- peers built from these


def echo_client_family(peer, factory, drive=client_direction):
    """The echo_client family: `drive(peer, peer_server, runner, R)` on a fresh `factory()`."""
    return lambda runner, R: serving(factory, lambda srv: drive(peer, srv, runner, R))


def adapter_peer(name, connect_fn, server_factory, more_server_cases=None, agrees=(False, False), deflate=None):
    """A peer with a Python connection adapter, `connect_fn(port, path, subprotocols=None)`, and a
    PeerServer running serve_connection: every direction family. `more_server_cases(server, R)`
    runs after client_against_server in the server-example directions. `agrees`: (the client
    offers permessage-deflate, the server accepts it), as configured by the PeerOptions.
    `deflate`: the (deflate_server, deflate_client) families of the permessage-deflate matrix."""

    def against_server(server, R):
        client_against_server(name, connect_fn, server, R, offers_deflate=agrees[0])
        if more_server_cases is not None:
            more_server_cases(server, R)

    deflate_server, deflate_client = deflate or (None, None)
    return Peer(
        name,
        server=against_server,
        echo_client=echo_client_family(
            name, server_factory, drive=lambda *a: client_direction(*a, accepts_deflate=agrees[1])
        ),
        deflate_server=deflate_server,
        deflate_client=deflate_client,
        library_client=with_peer_server(name, server_factory),
        library_server=with_peer_client(name, adapter_library_client(name, connect_fn)),
    )
