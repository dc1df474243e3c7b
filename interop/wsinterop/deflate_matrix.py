"""The permessage-deflate matrix: peers configured with explicit permessage-deflate parameters
(context takeover on and off, reduced windows), each variant on its own connection, both
directions, against a server example that negotiates it by default (ServerExample.deflate) and
against echo_client. Per variant and direction: `VARIANT/negotiated` (the parameters the offer
and its answer put in force are exactly the variant's), then `VARIANT/SCENARIO` for each
deflate scenario (scenarios.deflate_scenarios), and in the echo_client direction
`VARIANT/close-4002`. The `no-deflate` variant runs the same scenarios with the example
started with --no-deflate: nothing may be agreed and the data must still flow.

A variant's `params` are RFC 7692 parameter names, which are also the keyword arguments of
websockets' and wsproto's permessage-deflate classes; node_options() turns them into ws's."""

from __future__ import annotations

import dataclasses
import json
import time

from . import pmd
from .common import D_CLIENT, JsonLinesProcess, file_tail, rc_desc, serving, time_left
from .directions import no_connection
from .examples import RunningServer
from .scenarios import DEFLATE, DEFLATE_NAMES, run_scenario

NO_DEFLATE_ARG = "--no-deflate"


@dataclasses.dataclass(frozen=True)
class Variant:
    """name: the scenario prefix; params: what the peer offers (client) or answers with
    (server); want: what must be in force (pmd.expected()), None for no extension."""

    name: str
    params: dict
    want: object

    def names(self, closing=False):
        return [f"{self.name}/{n}" for n in ["negotiated"] + DEFLATE_NAMES + (["close-4002"] if closing else [])]


NCT = {"server_no_context_takeover": True, "client_no_context_takeover": True}
W10_9 = {"server_max_window_bits": 10, "client_max_window_bits": 9}

# Node ws: takeover on and off, one side only, reduced windows, and both at once.
NODE_VARIANTS = [
    Variant("deflate", {}, pmd.expected()),
    Variant("deflate-nct", NCT, pmd.expected(server_nct=True, client_nct=True)),
    Variant("deflate-w10-9", W10_9, pmd.expected(server_bits=10, client_bits=9)),
    Variant("deflate-nct-w10-9", {**NCT, **W10_9}, pmd.expected(True, True, 10, 9)),
    Variant(
        "deflate-snct-w9",
        {"server_no_context_takeover": True, "server_max_window_bits": 9},
        pmd.expected(server_nct=True, server_bits=9),
    ),
]
# Python websockets: its own defaults (15-bit windows from explicit factories; the main section
# already runs its default 12-bit server) and the smallest window we compress with, no takeover.
WEBSOCKETS_VARIANTS = [
    Variant("deflate", {}, pmd.expected()),
    Variant(
        "deflate-nct-w9",
        {**NCT, "server_max_window_bits": 9, "client_max_window_bits": 9},
        pmd.expected(True, True, 9, 9),
    ),
]
WSPROTO_VARIANTS = [Variant("deflate", {}, pmd.expected())]
# The peer offers (or accepts) its defaults; the example runs with --no-deflate.
NO_DEFLATE = Variant("no-deflate", {}, None)


def node_options(params):
    """ws's perMessageDeflate options for RFC 7692 parameters, with threshold 0 so that every
    message is compressed."""
    names = {
        "server_no_context_takeover": "serverNoContextTakeover",
        "client_no_context_takeover": "clientNoContextTakeover",
        "server_max_window_bits": "serverMaxWindowBits",
        "client_max_window_bits": "clientMaxWindowBits",
    }
    options = {"threshold": 0}
    options.update({names[k]: v for k, v in params.items()})
    return options


# --------------------------------------------------------------------------- peer client, server example


def adapter_client_variant(peer, connect_fn, server, variant, R):
    """A Python peer client with `connect_fn(port, path, params)` against a running server
    example: the agreement on the first connection, then the deflate scenarios (reconnecting after
    one that broke the connection)."""
    direction = server.name
    if time_left() <= 0:
        R.not_run(peer, direction, variant.names())
        return
    conn = None
    for i, scn in enumerate(DEFLATE):
        name = f"{variant.name}/{scn.name}"
        if conn is None:
            try:
                conn, _ = server.connect(lambda port, path: connect_fn(port, path, variant.params), "/")
            except Exception as exc:  # noqa: BLE001
                detail = f"connect failed: {exc}{server.died_note()}"
                if i == 0:
                    R.record(peer, direction, f"{variant.name}/negotiated", False, detail)
                R.record(peer, direction, name, False, detail)
                continue
            if i == 0:
                ok, detail = pmd.check_agreement(conn.ext_offer, conn.ext_answer, variant.want)
                R.record(peer, direction, f"{variant.name}/negotiated", ok, detail)
        ok, detail, fatal = run_scenario(conn, scn)
        if not ok:
            detail += server.died_note(wait=1.0 if fatal else 0.0)
        R.record(peer, direction, name, ok, detail)
        if fatal:
            conn.abort()
            conn = None
    if conn is not None:
        try:
            conn.close(1000, "", 5)
        except Exception:  # noqa: BLE001
            conn.abort()


def server_variants(peer, variants, run_variant, with_no_deflate):
    """A deflate_server family: `run_variant(server, variant, R)` for each variant on one server
    example, then (`with_no_deflate`) NO_DEFLATE on the same example started with --no-deflate."""

    def family(target, workdir, R):
        serving(
            lambda: RunningServer(target, workdir, f"{peer}-deflate").start(),
            lambda srv: [run_variant(srv, v, R) for v in variants],
        )
        if with_no_deflate:
            serving(
                lambda: RunningServer(target.with_args(NO_DEFLATE_ARG), workdir, f"{peer}-no-deflate").start(),
                lambda srv: run_variant(srv, NO_DEFLATE, R),
            )

    return family


def node_client_variant(node, workdir, server, variant, R):
    """node_client.js --pmd against a running server example; its lines become the results and
    every name it should report is checked off."""
    peer, direction = "node-ws", server.name
    if time_left() <= 0:
        R.not_run(peer, direction, variant.names())
        return
    argv = [node, "node_client.js", str(server.port), "--pmd", json.dumps(node_options(variant.params))]
    child = JsonLinesProcess(argv, workdir, f"node_client-{server.name}-{variant.name}")
    seen = set()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            msg = child.get(timeout=1)
            if msg is None:
                continue
            event = msg.get("event")
            if event in ("done", "eof"):
                break
            if event == "extensions":
                ok, detail = pmd.check_agreement(msg.get("offer"), msg.get("answer"), variant.want)
                seen.add("negotiated")
                R.record(peer, direction, f"{variant.name}/negotiated", ok, detail)
            elif event in ("connect-failed", "crash"):
                R.record(peer, direction, f"{variant.name}/node-client", False, f"{event}: {msg.get('detail')}")
            elif "scenario" in msg:
                seen.add(msg["scenario"])
                detail = msg.get("detail", "") + ("" if msg["ok"] else server.died_note())
                R.record(peer, direction, f"{variant.name}/{msg['scenario']}", bool(msg["ok"]), detail)
    finally:
        rc = child.finish(5)
    for name in ["negotiated"] + DEFLATE_NAMES:
        if name not in seen:
            R.record(
                peer,
                direction,
                f"{variant.name}/{name}",
                False,
                f"not reported by node_client.js ({rc_desc(rc)}): {file_tail(child.stderr_path)}",
            )


# --------------------------------------------------------------------------- echo_client, peer server


def client_variant(peer, server, runner, variant, R, extra=()):
    """echo_client (with `extra` arguments) against a peer server configured for `variant`, on
    path /deflate: the agreement, the deflate scenarios, and the closing handshake."""
    names = variant.names(closing=True)
    if time_left() <= 0:
        R.not_run(peer, D_CLIENT, names)
        return
    rep, rc, out = runner.run(server, "/deflate", [], timeout=90, extra=extra)
    if rep is None:
        for name in names:
            R.record(peer, D_CLIENT, name, False, no_connection(rc, out))
        return
    ok, detail = pmd.check_agreement(rep["offer"], rep["answer"], variant.want)
    R.record(peer, D_CLIENT, f"{variant.name}/negotiated", ok, detail)
    results = {name: (ok, detail) for name, ok, detail in rep["results"]}
    for name in DEFLATE_NAMES:
        if name in results:
            ok, detail = results[name]
            if not ok and rep.get("error"):
                detail += f" (echo_client {rc_desc(rc)}: {out})"
        else:
            ok, detail = False, f"not run: {rep.get('error') or 'the peer server stopped'}; echo_client {rc_desc(rc)}: {out}"
        R.record(peer, D_CLIENT, f"{variant.name}/{name}", ok, detail)
    ok = bool(rep["completed"]) and rep["close_code"] == 4002 and rc == 0
    detail = f"peer server got close {rep['close_code']} {rep['close_reason']!r} back; echo_client {rc_desc(rc)}"
    R.record(peer, D_CLIENT, f"{variant.name}/close-4002", ok, detail + ("" if ok else f": {out}"))


def client_variants(peer, server_factory, variants, with_no_deflate):
    """A deflate_client family: a fresh `server_factory(params)` per variant, then (with
    `with_no_deflate`) NO_DEFLATE: the peer server accepts, echo_client runs with --no-deflate."""

    def family(runner, R):
        for variant in variants:
            serving(lambda: server_factory(variant.params), lambda srv: client_variant(peer, srv, runner, variant, R))
        if with_no_deflate:
            serving(
                lambda: server_factory(NO_DEFLATE.params),
                lambda srv: client_variant(peer, srv, runner, NO_DEFLATE, R, extra=(NO_DEFLATE_ARG,)),
            )

    return family
