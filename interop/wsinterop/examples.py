"""The examples under test: the table of server examples (each one a direction of the matrix,
run through the same server-direction scenarios by every peer), a running server example
(started on 127.0.0.1:0, port read from its output, restarted when it dies), and the
echo_client runner (one run per connection to a peer server)."""

from __future__ import annotations

import copy
import dataclasses
import os
import queue
import re
import shlex
import subprocess
import threading
import time

from .common import (
    MAX_MESSAGE,
    REPO_ROOT,
    SERVER_PROTOCOLS,
    HarnessError,
    file_tail,
    kill_proc,
    spawn,
    wait_proc,
)

LISTENING_RE = re.compile(r"listening on (\S+):(\d+)")


@dataclasses.dataclass(frozen=True)
class ServerExample:
    """A server example: `NAME [ADDR] [--max-message BYTES] [--protocol NAME]...` that prints
    `listening on IP:PORT` (see interop/README.md). `args` are appended after the common
    arguments; `default` puts it in the default --servers; `deflate`: it negotiates
    permessage-deflate by default and takes --no-deflate (the deflate cases run against it)."""

    name: str
    args: tuple = ()
    default: bool = False
    deflate: bool = False


# One line per server example. A name given to --servers whose binary is not in the examples
# directory fails as `FAIL - NAME setup`.
SERVER_EXAMPLES = [
    ServerExample("echo_server", default=True, deflate=True),
    ServerExample("tokio_echo", default=True),
    ServerExample("mio_echo", default=True),
    ServerExample("fixed_echo_server"),
]
SERVERS = {s.name: s for s in SERVER_EXAMPLES}
DEFAULT_SERVERS = [s.name for s in SERVER_EXAMPLES if s.default]


class ServerTarget:
    """A server example resolved to a command: `cmd` is the binary in the examples directory,
    or the given override (split like a shell command, not checked)."""

    def __init__(self, example, examples_dir, override=None):
        self.example = example
        self.name = example.name
        if override:
            self.cmd = shlex.split(override)
            self.missing = None
        else:
            path = os.path.join(examples_dir, example.name)
            self.cmd = [path]
            ok = os.path.isfile(path) and os.access(path, os.X_OK)
            self.missing = None if ok else f"{path} is missing: build it with cargo build --release --examples"

    def argv(self):
        argv = list(self.cmd) + ["127.0.0.1:0", "--max-message", str(MAX_MESSAGE)]
        for name in SERVER_PROTOCOLS:
            argv += ["--protocol", name]
        return argv + list(self.example.args)

    def with_args(self, *extra):
        """The same server example started with `extra` arguments too (e.g. --no-deflate)."""
        target = copy.copy(self)
        target.example = dataclasses.replace(self.example, args=self.example.args + extra)
        return target


class RunningServer:
    """A server example under test, started on 127.0.0.1:0; reads the port it prints. The
    server example's name is the direction of its cases."""

    def __init__(self, target, workdir, label):
        self.target = target
        self.name = target.name
        self.workdir = workdir
        self.label = label
        self.proc = None
        self.port = None
        self.restarts = 0

    def start(self, timeout=120):
        argv = self.target.argv()
        self.stderr_path = os.path.join(self.workdir, f"{self.name}-{self.label}-{self.restarts}.log")
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
            f"{self.name} ({shlex.join(argv)}) did not print 'listening on HOST:PORT' "
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
        return f" [{self.name} had exited ({rc}); stderr: {tail}; restarted]"

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
            return f" [{self.name} exited ({self.proc.returncode}); stderr: {file_tail(self.stderr_path)}]"
        return ""

    def stop(self):
        if self.proc is not None:
            kill_proc(self.proc)
            self.stderr_file.close()


class ClientRunner:
    """Runs our echo_client against a peer server and collects that server's report."""

    def __init__(self, cmd, workdir):
        self.cmd = cmd
        self.workdir = workdir
        self.counter = 0

    def run(self, server, path, protocols, timeout, extra=()):
        """Returns (the peer server's report or None, echo_client's exit code, its output).
        `extra`: more arguments for echo_client (e.g. --no-deflate)."""
        self.counter += 1
        nonce = str(self.counter)
        url = f"ws://127.0.0.1:{server.port}/t{nonce}{path}"
        argv = list(self.cmd) + [url, "--max-message", str(MAX_MESSAGE)]
        for name in protocols:
            argv += ["--protocol", name]
        argv += list(extra)
        log_path = os.path.join(self.workdir, f"echo_client-{nonce}.log")
        server.unmatched = None
        with open(log_path, "wb") as logf:
            proc = spawn(argv, stdout=logf, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
            rep = server.get_report(nonce, proc, timeout)
            rc = wait_proc(proc, 10)
        out = file_tail(log_path)
        if rep is None and server.unmatched is not None:
            out += (
                f" [the peer server did see a connection, {server.unmatched_desc()}"
                f" (expected /t{nonce}{path})]"
            )
        return rep, rc, out
