"""The driver: options, which peers and server examples take part, the order of the sections
(one per peer and direction), and the summary. Prints one line per case,

    PASS|FAIL|SKIP PEER DIRECTION SCENARIO [detail]

and ends with `interop: N passed, M failed` alone on the last line; exits 1 if anything
failed (or nothing passed). See interop/README.md."""

from __future__ import annotations

import argparse
import atexit
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
import traceback

from . import chromium_peer, node_peer, raw, tls_peer, websockets_peer, wsproto_peer
from .common import (
    BUDGET,
    D_CLIENT,
    D_LIB_CLIENT,
    D_LIB_SERVER,
    PEERS,
    REPO_ROOT,
    PeerOptions,
    Results,
    cleanup_children,
    log,
    serving,
    time_left,
)
from .examples import DEFAULT_SERVERS, SERVERS, ClientRunner, RunningServer, ServerTarget
from .library import LIB_SCENARIOS, LibraryTests

# The direction families; "server" is one direction per server example, named after it.
SERVER = "server"
FAMILY_ATTR = {SERVER: "server", D_CLIENT: "echo_client", D_LIB_CLIENT: "library_client", D_LIB_SERVER: "library_server"}
FIXED_DIRECTIONS = [D_CLIENT, D_LIB_CLIENT, D_LIB_SERVER] + tls_peer.DIRECTIONS
# The order of the sections. raw's echo_client cases come after node-ws's, as they always have.
# The permessage-deflate matrix (deflate_matrix.py) comes last.
DEFLATE_SERVER, DEFLATE_CLIENT = "deflate-server", "deflate-client"
ORDER = (
    [("raw", SERVER)]
    + [(p, f) for p in ("websockets", "wsproto", "node-ws") for f in (SERVER, D_CLIENT, D_LIB_CLIENT, D_LIB_SERVER)]
    + [("raw", D_CLIENT), ("chromium", SERVER), ("chromium", D_LIB_SERVER)]
    + [(p, f) for p in ("raw", "websockets", "wsproto", "node-ws") for f in (DEFLATE_SERVER, DEFLATE_CLIENT)]
)
DEFAULT_EXAMPLES = os.path.join(REPO_ROOT, "target", "release", "examples")


def comma_list(value):
    out = []
    for item in value.split(","):
        item = item.strip()
        if item and item not in out:
            out.append(item)
    return out


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="run_interop.py", description="sockless interop matrix")
    ap.add_argument(
        "--examples-dir",
        default=DEFAULT_EXAMPLES,
        help="where the example binaries are (default: target/release/examples)",
    )
    ap.add_argument(
        "--servers",
        default=",".join(DEFAULT_SERVERS),
        help=f"comma-separated server examples to test, each a direction (of {','.join(SERVERS)}; "
        f"default {','.join(DEFAULT_SERVERS)})",
    )
    ap.add_argument("--server-cmd", help="command for echo_server (default: EXAMPLES_DIR/echo_server)")
    ap.add_argument("--client-cmd", help="command for echo_client (default: EXAMPLES_DIR/echo_client)")
    ap.add_argument("--peers", default=",".join(PEERS), help=f"comma-separated subset of {','.join(PEERS)}")
    ap.add_argument(
        "--directions",
        help=f"comma-separated subset of the --servers and {','.join(FIXED_DIRECTIONS)} (default: all)",
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
    ap.add_argument(
        "--peer-deflate",
        choices=["default", "on", "off"],
        default="default",
        help="permessage-deflate in the peers that can be told (websockets, wsproto, node-ws): "
        "on: clients offer it, servers accept it; off: neither; default: each library's own default",
    )
    ap.add_argument("--keep-logs", action="store_true", help="keep the per-process logs directory")
    ap.add_argument(
        "--budget",
        type=float,
        default=360.0,
        help="seconds after which no new case is started; the rest are reported as failed (default 360)",
    )
    args = ap.parse_args(argv)

    args.servers = comma_list(args.servers)
    args.peers = comma_list(args.peers)
    args.directions = comma_list(args.directions) if args.directions else args.servers + FIXED_DIRECTIONS
    unknown = [s for s in args.servers if s not in SERVERS]
    if unknown:
        ap.error(f"unknown servers: {unknown} (known: {','.join(SERVERS)}; add one in interop/wsinterop/examples.py)")
    unknown = [p for p in args.peers if p not in PEERS]
    unknown += [d for d in args.directions if d not in FIXED_DIRECTIONS and d not in SERVERS]
    if unknown:
        ap.error(f"unknown peers/directions: {unknown}")
    unlisted = [d for d in args.directions if d in SERVERS and d not in args.servers]
    if unlisted:
        ap.error(f"server directions {unlisted} are not in --servers {','.join(args.servers)}")
    if args.browser == "auto" and os.environ.get("CI") == "true":
        args.browser = "on"
    return args


def main(argv=None):
    args = parse_args(argv)
    options = PeerOptions(deflate={"default": None, "on": True, "off": False}[args.peer_deflate])
    peers, directions = args.peers, args.directions
    targets = [
        ServerTarget(SERVERS[name], args.examples_dir, args.server_cmd if name == "echo_server" else None)
        for name in args.servers
        if name in directions
    ]
    client_cmd = shlex.split(args.client_cmd) if args.client_cmd else [os.path.join(args.examples_dir, "echo_client")]

    R = Results()
    workdir = tempfile.mkdtemp(prefix="sockless-interop-")
    started = time.monotonic()
    BUDGET["deadline"] = started + args.budget
    atexit.register(cleanup_children)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for target in targets:
        log(f"server: {shlex.join(target.cmd)}")
    log(f"client: {shlex.join(client_cmd)}")
    log(f"logs: {workdir}")
    if options.deflate is not None:
        log(f"peers: permessage-deflate {args.peer_deflate} (chromium: always offered)")
    for target in targets:
        if target.missing:
            R.record("-", target.name, "setup", False, target.missing)
    targets = [t for t in targets if not t.missing]

    available = {"raw": raw.make_peer(), "websockets": websockets_peer.make_peer(options)}
    available["wsproto"] = wsproto_peer.make_peer(options)
    if os.path.isdir(node_peer.WS_MODULE):
        available["node-ws"] = node_peer.make_peer(args.node, options, workdir)
    chromium = chromium_peer.find_chromium(args.chromium) if args.browser != "off" else None
    if chromium:
        available["chromium"] = chromium_peer.make_peer(chromium, workdir)
    runner = ClientRunner(client_cmd, workdir)
    lib = LibraryTests(args.cargo, workdir)

    def section(peer, direction, fn, label=""):
        if peer not in peers or direction not in directions:
            return
        if time_left() <= 0:
            R.not_run(peer, direction, ["all"])
            return
        t0 = time.monotonic()
        try:
            fn()
        except Exception as exc:  # noqa: BLE001
            R.record(peer, direction, "harness", False, f"{type(exc).__name__}: {exc}")
            traceback.print_exc(file=sys.stdout)
        log(f"{peer} {direction}{label}: {time.monotonic() - t0:.1f} s")

    def against_servers(peer):
        for target in targets:
            section(
                peer.name,
                target.name,
                lambda: serving(lambda: RunningServer(target, workdir, peer.name).start(), lambda s: peer.server(s, R)),
            )

    def deflate_against_servers(peer):
        """The deflate matrix against the server examples that negotiate permessage-deflate (each
        family starts the servers it needs)."""
        for target in targets:
            if target.example.deflate:
                section(peer.name, target.name, lambda: peer.deflate_server(target, workdir, R), " (deflate matrix)")

    def library(peer, direction, fn):
        """A library-client/library-server section: tests/peers.rs must have been built."""

        def run():
            if not lib.built:
                for scenario in LIB_SCENARIOS[direction]:
                    R.record(peer.name, direction, scenario, False, f"not run: {lib.build_error or 'tests/peers.rs not built'}")
                return
            fn(lib, R)

        section(peer.name, direction, run)

    def unavailable(name):
        """What a selected peer that cannot run reports, once, where its sections would be."""
        if name == "node-ws":
            R.record(name, "-", "setup", False, f"{node_peer.WS_MODULE} missing: run npm ci in interop/")
            return
        for direction in [t.name for t in targets] + [D_LIB_SERVER]:
            if direction not in directions:
                continue
            if args.browser == "on":
                R.record(name, direction, "setup", False, "chromium not found (/usr/bin/chromium)")
            elif args.browser == "off":
                R.skip(name, direction, "all", "disabled (--browser off)")
            else:
                R.skip(name, direction, "all", "chromium not installed (apt-get install -y chromium)")

    library_peers = [
        available[p]
        for p in peers
        if p in available and (available[p].library_client or available[p].library_server)
    ]
    if library_peers and {D_LIB_CLIENT, D_LIB_SERVER} & set(directions):
        lib.build()  # once, up front; a failure is reported by each library case

    reported = set()
    try:
        for name, family in ORDER:
            if name not in peers:
                continue
            peer = available.get(name)
            if peer is None:
                if name not in reported:
                    reported.add(name)
                    unavailable(name)
                continue
            if family == DEFLATE_SERVER:
                deflate_against_servers(peer)
                continue
            if family == DEFLATE_CLIENT:
                section(name, D_CLIENT, lambda: peer.deflate_client(runner, R), " (deflate matrix)")
                continue
            fn = getattr(peer, FAMILY_ATTR[family])
            if family == SERVER:
                against_servers(peer)
            elif family == D_CLIENT:
                section(name, D_CLIENT, lambda: fn(runner, R))
            else:
                library(peer, family, fn)
        # websockets over TLS against wss_server and wss_client, last.
        section(tls_peer.PEER, tls_peer.D_WSS_SERVER, lambda: tls_peer.against_wss_server(args.examples_dir, workdir, R))
        section(tls_peer.PEER, tls_peer.D_WSS_CLIENT, lambda: tls_peer.wss_client_direction(args.examples_dir, workdir, R))
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
