#!/usr/bin/env python3
"""Stand-in for sockless's `echo_server` example, built on Python `websockets`.

It follows the same command-line contract as

    cargo run --release --example echo_server -- [ADDR] [--max-message BYTES] [--protocol NAME]... [--no-deflate]

so that `run_interop.py --server-cmd ".venv/bin/python standin_echo_server.py"`
can exercise the harness before the real example exists. It documents what the
harness expects from the real server:

* ADDR defaults to 127.0.0.1:9001; port 0 picks a free port. Once bound it prints
  `listening on HOST:PORT` (flushed) on stdout.
* Every text/binary message is echoed back unchanged, with the same type.
* Pings are answered with Pongs carrying the same payload.
* A Close from the client is answered with a Close carrying the same code.
* `--protocol NAME` (repeatable): the first subprotocol *offered by the client*
  that is in this list is selected; if none matches, the connection opens without
  a subprotocol (no 400).
* A plain `GET /` without an Upgrade header gets an HTML page (200, text/html)
  whose script opens a WebSocket back to the same host and echoes.
* An upgrade request with `Sec-WebSocket-Version` other than 13 gets
  `426 Upgrade Required` with `Sec-WebSocket-Version: 13`; a malformed
  `Sec-WebSocket-Key` gets 400.
* Protocol violations close with the RFC 6455 code (1002 for an unmasked client
  frame, 1007 for invalid UTF-8 in a text message).
* permessage-deflate (RFC 7692) is accepted when offered, with the defaults (15-bit windows,
  context takeover unless the client asks otherwise); `--no-deflate` declines it. Unlike the
  real example, corrupt compressed data closes with 1002 (websockets' choice), not 1007.
* Connections are served concurrently (the real example may serve one at a time:
  the harness never opens two connections to the server at once).

For testing the harness itself, STANDIN_FAULT=truncate|crash-large|hang-large
makes the echo of messages of 1 MiB or more lose its last byte, kill the process,
or never arrive.
"""

import argparse
import os
import sys
import time

from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.http11 import Response
from websockets.sync.server import serve


FAULT = os.environ.get("STANDIN_FAULT", "")


def faulty(message):
    """Applies the STANDIN_FAULT self-test fault, if any, to a message about to be echoed."""
    if len(message) >= 1024 * 1024:
        if FAULT == "truncate":
            return message[:-1]
        if FAULT == "crash-large":
            os._exit(3)
        if FAULT == "hang-large":
            time.sleep(45)
    return message


PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>echo_server</title></head>
<body><pre id="log">connecting...</pre>
<script>
const log = (s) => { document.getElementById('log').textContent += '\\n' + s; };
const ws = new WebSocket('ws://' + location.host + '/');
ws.binaryType = 'arraybuffer';
ws.onopen = () => log('open');
ws.onmessage = (e) => { ws.send(e.data); };
ws.onclose = (e) => log('closed ' + e.code + ' ' + e.reason);
</script></body></html>
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("addr", nargs="?", default="127.0.0.1:9001")
    ap.add_argument("--max-message", type=int, default=16 * 1024 * 1024)
    ap.add_argument("--protocol", action="append", default=[])
    ap.add_argument("--no-deflate", action="store_true", help="do not accept permessage-deflate")
    args = ap.parse_args()
    # Like the examples: permessage-deflate with the RFC 7692 defaults unless --no-deflate.
    extensions = None if args.no_deflate else [ServerPerMessageDeflateFactory()]

    host, _, port = args.addr.rpartition(":")
    supported = list(args.protocol)

    def select_subprotocol(_conn, offered):
        for name in offered:
            if name in supported:
                return name
        return None

    def process_request(_conn, request):
        headers = request.headers
        upgrade = headers.get("Upgrade", "")
        if "websocket" not in upgrade.lower():
            if request.path.split("?")[0] == "/":
                return Response(
                    200,
                    "OK",
                    Headers(
                        [
                            ("Content-Type", "text/html; charset=utf-8"),
                            ("Content-Length", str(len(PAGE))),
                            ("Connection", "close"),
                        ]
                    ),
                    PAGE,
                )
            return None  # websockets answers 426 Upgrade Required
        versions = headers.get_all("Sec-WebSocket-Version")
        if versions != ["13"]:
            body = b"unsupported Sec-WebSocket-Version\n"
            return Response(
                426,
                "Upgrade Required",
                Headers(
                    [
                        ("Sec-WebSocket-Version", "13"),
                        ("Content-Type", "text/plain"),
                        ("Content-Length", str(len(body))),
                        ("Connection", "close"),
                    ]
                ),
                body,
            )
        return None  # websockets validates the key etc. (400 on error)

    def handler(ws):
        try:
            for message in ws:
                ws.send(faulty(message))
        except ConnectionClosed:
            pass

    with serve(
        handler,
        host,
        int(port),
        select_subprotocol=select_subprotocol,
        process_request=process_request,
        max_size=args.max_message,
        compression=None,
        extensions=extensions,
        ping_interval=None,
        close_timeout=5,
    ) as server:
        bound_host, bound_port = server.socket.getsockname()[:2]
        print(f"listening on {bound_host}:{bound_port}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
