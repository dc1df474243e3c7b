"""The `chromium` peer: headless Debian Chromium loads a page from a loopback HTTP server
(PageServer) that holds the load event until the page has POSTed its results, and the DOM
dump is read back. browser_test.html runs the server-direction scenarios against a server
example; browser_library.html is the library-server client. The browser always offers
permessage-deflate: PeerOptions do not apply to it."""

from __future__ import annotations

import html
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading

from .common import HERE, Peer, file_tail, kill_proc, log, rc_desc, spawn, time_left
from .library import with_peer_client
from .scenarios import DATA_NAMES, EXTRA_SERVER_NAMES

PEER = "chromium"
PAGE_FILES = {
    "/browser_test.html": "text/html; charset=utf-8",
    "/scenarios.js": "text/javascript; charset=utf-8",
    "/browser_library.html": "text/html; charset=utf-8",
}


def find_chromium(explicit):
    for candidate in [explicit, "/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")]:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


class PageServer:
    """Tiny loopback HTTP server for the pages; /hold is released once the page POSTs."""

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
                if path in PAGE_FILES:
                    with open(os.path.join(HERE, path.lstrip("/")), "rb") as f:
                        self._reply(200, f.read(), PAGE_FILES[path])
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


def server_direction(chromium, server, workdir, R):
    """browser_test.html against a running server example; its PASS/FAIL/SKIP lines become
    results, and every scenario it should report is checked off. Against a server example that
    negotiates permessage-deflate, the page also reports deflate-negotiated (ws.extensions)."""
    browser_budget = max(30, min(150, int(time_left())))
    deflate = server.target.example.deflate
    query = f"port={server.port}" + ("&deflate=1" if deflate else "")
    text, source, rc, err_path = chromium_page(
        chromium, "browser_test.html", query, workdir, f"chromium-{server.name}", browser_budget
    )
    log(f"chromium: results read from {source}")
    if not text.strip():
        R.record(
            PEER,
            server.name,
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
            R.record(PEER, server.name, scenario, status == "PASS", detail)
        elif status == "SKIP":
            seen.add(scenario)
            R.skip(PEER, server.name, scenario, detail)
    if "DONE all" not in text:
        R.record(PEER, server.name, "page", False, f"the page did not finish (results from {source})")
    for name in DATA_NAMES + EXTRA_SERVER_NAMES + ["subprotocol-not-offered"] + (["deflate-negotiated"] if deflate else []):
        if name not in seen:
            R.record(PEER, server.name, name, False, f"not reported by the page (results from {source})")


def library_client(chromium, workdir):
    """browser_library.html in headless Chromium, for the library-server direction."""

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


def make_peer(chromium, workdir):
    """No echo_client or library-client family: a page cannot be a server."""
    return Peer(
        PEER,
        server=lambda server, R: server_direction(chromium, server, workdir, R),
        library_server=with_peer_client(PEER, library_client(chromium, workdir)),
    )
