"""The library directions: the #[ignore]d tests of tests/peers.rs, run one per case with
`cargo test --release --test peers -- --ignored --exact NAME --nocapture`.

library-client: a client test against a peer echo server (SOCKLESS_PEER_SERVER), which
reports what it saw on /echo or /close-me. library-server: a server test writes its port to
SOCKLESS_PORT_FILE and a peer client connects; the client reports the close it saw. A case
passes only if the test passed (exactly `1 passed`) and the peer's report is right."""

from __future__ import annotations

import os
import re
import subprocess
import time

from .common import (
    D_LIB_CLIENT,
    D_LIB_SERVER,
    REPO_ROOT,
    file_tail,
    log,
    rc_desc,
    serving,
    spawn,
    time_left,
    wait_proc,
)

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
            R.not_run(peer, D_LIB_CLIENT, [scenario])
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
                detail += f" (it saw one {server.unmatched_desc()})"
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
            R.not_run(peer, D_LIB_SERVER, [scenario])
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


def with_peer_server(peer, factory):
    """The library-client family for a peer whose server (from `factory()`) answers /echo and
    /close-me."""
    return lambda lib, R: serving(factory, lambda srv: library_client_direction(peer, srv, lib, R))


def with_peer_client(peer, client_fn):
    """The library-server family for a peer client `client_fn(port, mode)`."""
    return lambda lib, R: library_server_direction(peer, client_fn, lib, R)
