"""The `node-ws` peer (Node `ws`): node_client.js drives the server-direction scenarios
against a server example, or is the library-server client (`--library MODE`); node_server.js
is the peer server for echo_client and tests/peers.rs's clients. Both print JSON lines, turned
here into results and peer-server reports. Needs interop/node_modules/ws (npm ci)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time

from . import deflate_matrix
from .common import HERE, HarnessError, JsonLinesProcess, Peer, file_tail, rc_desc, time_left
from .directions import PeerServer, agreement_name, client_direction, echo_client_family, new_report, record_agreement
from .library import with_peer_client, with_peer_server
from .scenarios import DATA_NAMES, EXTRA_SERVER_NAMES

PEER = "node-ws"
WS_MODULE = os.path.join(HERE, "node_modules", "ws")


def option_args(options):
    """node_client.js/node_server.js flags; none keeps ws's defaults (the client offers
    permessage-deflate, the server does not accept it)."""
    if options.deflate is None:
        return []
    return ["--deflate", "on" if options.deflate else "off"]


def server_direction(node, options, server, workdir, R):
    """node_client.js against a running server example; every scenario it should report is
    checked off, the missing ones fail. A server example that negotiates permessage-deflate must
    accept ws's offer (or agree nothing when ws does not offer)."""
    offers = options.deflate is not False
    deflate = server.target.example.deflate
    expected = DATA_NAMES + EXTRA_SERVER_NAMES + ([agreement_name(offers)] if deflate else [])
    seen = set()
    argv = [node, "node_client.js", str(server.port)] + option_args(options)
    child = JsonLinesProcess(argv, workdir, f"node_client-{server.name}")
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
                R.record(PEER, server.name, "node-client", False, f"node_client.js crashed: {msg.get('detail')}")
                continue
            if msg.get("event") == "extensions":
                if deflate:
                    seen.add(agreement_name(offers))
                    record_agreement(R, PEER, server.name, offers, msg.get("offer"), msg.get("answer"))
                continue
            if "scenario" in msg:
                seen.add(msg["scenario"])
                detail = msg.get("detail", "")
                if not msg["ok"]:
                    detail += server.died_note()
                R.record(PEER, server.name, msg["scenario"], bool(msg["ok"]), detail)
    finally:
        rc = child.finish(5)
    for name in expected:
        if name not in seen:
            R.record(
                PEER,
                server.name,
                name,
                False,
                f"not reported by node_client.js ({'finished' if done else 'timed out or died'}, {rc_desc(rc)}): "
                + file_tail(child.stderr_path),
            )


class NodePeerServer(PeerServer):
    """node_server.js; its per-connection JSON lines are assembled into reports."""

    def __init__(self, node, options, workdir, params=None):
        """params: RFC 7692 parameters for --pmd (the deflate matrix), else the PeerOptions."""
        super().__init__()
        if params is None:
            argv = [node, "node_server.js"] + option_args(options)
        else:
            argv = [node, "node_server.js", "--pmd", json.dumps(deflate_matrix.node_options(params))]
        self.child = JsonLinesProcess(argv, workdir, "node_server", stdin=subprocess.PIPE)
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
                self.partial[nonce] = new_report(
                    nonce, msg.get("path"), msg.get("offered", []), msg.get("selected"), msg.get("offer"), msg.get("answer")
                )
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


def library_client(node, options, workdir):
    """node_client.js PORT --library MODE, for the library-server direction."""

    def client(port, mode):
        argv = [node, "node_client.js", str(port), "--library", mode] + option_args(options)
        child = JsonLinesProcess(argv, workdir, f"node_client-library-{mode}")
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
            rc = child.finish(5)
        if rep is None:
            rep = {"error": f"node_client.js reported nothing ({rc_desc(rc)}): {file_tail(child.stderr_path)}"}
        return rep

    return client


def make_peer(node, options, workdir):
    def factory():
        return NodePeerServer(node, options, workdir)

    def client_variant(server, variant, R):
        deflate_matrix.node_client_variant(node, workdir, server, variant, R)

    variants = deflate_matrix.NODE_VARIANTS
    return Peer(
        PEER,
        server=lambda server, R: server_direction(node, options, server, workdir, R),
        echo_client=echo_client_family(
            PEER, factory, drive=lambda *a: client_direction(*a, accepts_deflate=options.deflate is True)
        ),
        deflate_server=deflate_matrix.server_variants(PEER, variants, client_variant, with_no_deflate=False),
        deflate_client=deflate_matrix.client_variants(
            PEER, lambda params: NodePeerServer(node, options, workdir, params), variants, with_no_deflate=False
        ),
        library_client=with_peer_server(PEER, factory),
        library_server=with_peer_client(PEER, library_client(node, options, workdir)),
    )
