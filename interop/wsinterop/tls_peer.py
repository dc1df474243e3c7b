"""The `websockets-tls` peer: Python `websockets` over TLS (the standard `ssl` module) against the
`wss_server` and `wss_client` examples. Two directions, named after the examples:

* wss_server: wss_server makes a self-signed certificate at start and writes it with
  `--cert-out`; a websockets client whose `ssl.SSLContext` trusts exactly that file runs the
  whole server direction of the plain peers (every data scenario, the subprotocol choice,
  close 4001).
* wss_client: a websockets TLS server, with a certificate and key made by the `openssl`
  command for 127.0.0.1, drives the data scenarios on wss_client (`--ca` that certificate)
  and closes with 4002, which must come back, and wss_client must exit 0.

Run it with `--peers websockets-tls` (it is in the default peers)."""

from __future__ import annotations

import os
import ssl
import subprocess
import threading

from .common import MAX_MESSAGE, REPO_ROOT, file_tail, rc_desc, spawn, wait_proc
from .directions import PeerServer, choose_subprotocol, client_against_server, parse_offered, serve_connection
from .examples import RunningServer, ServerExample, ServerTarget
from .scenarios import DATA_NAMES
from .websockets_peer import WebsocketsConn, ws_connect, ws_serve

PEER = "websockets-tls"
D_WSS_SERVER = "wss_server"
D_WSS_CLIENT = "wss_client"
DIRECTIONS = [D_WSS_SERVER, D_WSS_CLIENT]


def client_context(cafile):
    """A client context that trusts only `cafile`, with the default checks (hostname included)."""
    return ssl.create_default_context(cafile=cafile)


def against_wss_server(examples_dir, workdir, R):
    """The websockets TLS client against wss_server, through the plain peers' server direction."""
    cert = os.path.join(workdir, "wss_server-cert.pem")
    target = ServerTarget(ServerExample(D_WSS_SERVER, args=("--cert-out", cert)), examples_dir)
    if target.missing:
        R.record(PEER, D_WSS_SERVER, "setup", False, target.missing)
        return

    def connect(port, path="/", subprotocols=None):
        # Read the certificate at each connect: a restarted server has made a new one.
        ws = ws_connect(
            f"wss://127.0.0.1:{port}{path}",
            ssl=client_context(cert),
            subprotocols=subprotocols,
            max_size=None,
            ping_interval=None,
            open_timeout=10,
            close_timeout=10,
        )
        return WebsocketsConn(ws.__enter__())

    server = RunningServer(target, workdir, PEER).start()
    try:
        client_against_server(PEER, connect, server, R)
    finally:
        server.stop()


class TlsPeerServer(PeerServer):
    """The websockets peer server of the echo_client direction, inside TLS."""

    def __init__(self, context):
        super().__init__()

        def handler(ws):
            offered = parse_offered(ws.request.headers.get_all("Sec-WebSocket-Protocol"))
            self.reports.put(serve_connection(WebsocketsConn(ws), ws.request.path, offered, ws.subprotocol))

        self.server = ws_serve(
            handler,
            "127.0.0.1",
            0,
            ssl=context,
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


def make_certificate(workdir):
    """A self-signed certificate and key for 127.0.0.1 made by `openssl`; returns their paths."""
    cert, key = os.path.join(workdir, "peer-cert.pem"), os.path.join(workdir, "peer-key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=sockless interop",
         # Not a CA (openssl's default for -x509): rustls refuses a CA certificate as a server's.
         "-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE"],
        check=True, capture_output=True, timeout=30,
    )
    return cert, key


def wss_client_direction(examples_dir, workdir, R):
    """wss_client against the websockets TLS server: every data scenario, then close 4002."""
    binary = os.path.join(examples_dir, D_WSS_CLIENT)
    if not os.access(binary, os.X_OK):
        R.record(PEER, D_WSS_CLIENT, "setup", False, f"{binary} is missing: build it with cargo build --release --examples")
        return
    try:
        cert, key = make_certificate(workdir)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        R.record(PEER, D_WSS_CLIENT, "setup", False, f"openssl could not make a certificate: {exc} {detail[-200:]!r}")
        return
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = TlsPeerServer(context)
    try:
        nonce = "1"
        url = f"wss://127.0.0.1:{server.port}/t{nonce}/data/0"
        log_path = os.path.join(workdir, "wss_client.log")
        with open(log_path, "wb") as logf:
            proc = spawn([binary, url, "--max-message", str(MAX_MESSAGE), "--ca", cert],
                         stdout=logf, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
            rep = server.get_report(nonce, proc, 180)
            rc = wait_proc(proc, 10)
        out = file_tail(log_path)
        if rep is None:
            for name in DATA_NAMES + ["close-4002"]:
                R.record(PEER, D_WSS_CLIENT, name, False, f"no connection: wss_client {rc_desc(rc)}: {out}")
            return
        reported = [r[0] for r in rep["results"]]
        for name, ok, detail in rep["results"]:
            R.record(PEER, D_WSS_CLIENT, name, ok, detail)
        for name in DATA_NAMES[len(reported):]:
            R.record(PEER, D_WSS_CLIENT, name, False, f"not run: {rep.get('error')}; wss_client {rc_desc(rc)}: {out}")
        ok = rep["completed"] and rep["close_code"] == 4002 and rc == 0
        detail = f"peer server got close {rep['close_code']} {rep['close_reason']!r} back; wss_client {rc_desc(rc)}"
        R.record(PEER, D_WSS_CLIENT, "close-4002", ok, detail if ok else f"{detail}: {out}")
    finally:
        server.stop()
