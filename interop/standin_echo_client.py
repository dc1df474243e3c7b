#!/usr/bin/env python3
"""Stand-in for sockless's `echo_client` example, built on Python `websockets`.

Same command-line contract as

    cargo run --release --example echo_client -- ws://HOST:PORT/PATH [--max-message BYTES] [--protocol NAME]... [--no-deflate]

What the harness expects from the real client:

* Connects to the URL (path and query are sent as the request target), offering
  the `--protocol` names in the order given (none if the option is absent).
* Offers permessage-deflate (`permessage-deflate; client_max_window_bits`) unless
  `--no-deflate` is given.
* Echoes every text/binary message back unchanged, with the same type, and
  answers Pings with Pongs carrying the same payload.
* When the server closes, answers with a Close carrying the same code, waits for
  the server to close TCP, and exits 0.
* Exits non-zero with a message on stderr on any failure: handshake rejected,
  bad `Sec-WebSocket-Accept`, a subprotocol it did not offer, a protocol
  violation by the server (it then sends Close 1002 / 1007 first), I/O errors.

For testing the harness itself, STANDIN_FAULT=truncate|crash-large|hang-large|bad-exit
makes the echo of messages of 1 MiB or more lose its last byte, kill the process,
or never arrive; bad-exit exits 1 after a clean close.
"""

import argparse
import os
import sys
import time

from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.sync.client import connect


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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("--max-message", type=int, default=16 * 1024 * 1024)
    ap.add_argument("--protocol", action="append", default=[])
    ap.add_argument("--no-deflate", action="store_true", help="do not offer permessage-deflate")
    args = ap.parse_args()
    # Like the examples: permessage-deflate with the RFC 7692 defaults unless --no-deflate.
    extensions = None if args.no_deflate else [ClientPerMessageDeflateFactory()]

    try:
        ws = connect(
            args.url,
            subprotocols=args.protocol or None,
            max_size=args.max_message,
            compression=None,
        extensions=extensions,
            ping_interval=None,
            open_timeout=10,
            close_timeout=10,
        ).__enter__()  # the connection itself; avoids websockets >= 17.1's "use a context manager" warning
    except Exception as exc:  # noqa: BLE001 - report any handshake failure
        print(f"echo_client: connect failed: {exc!r}", file=sys.stderr)
        return 1

    try:
        while True:
            message = ws.recv()
            ws.send(faulty(message))
    except ConnectionClosed:
        pass
    except Exception as exc:  # noqa: BLE001
        print(f"echo_client: error: {exc!r}", file=sys.stderr)
        ws.close(1011)
        return 1

    rcvd, sent = ws.protocol.close_rcvd, ws.protocol.close_sent
    if rcvd is None or sent is None:
        print(f"echo_client: connection dropped (received {rcvd}, sent {sent})", file=sys.stderr)
        return 1
    if not ws.protocol.close_rcvd_then_sent:
        print(f"echo_client: failed the connection: sent {sent}, received {rcvd}", file=sys.stderr)
        return 1
    if sent.code != rcvd.code:
        print(f"echo_client: close not echoed: received {rcvd}, sent {sent}", file=sys.stderr)
        return 1
    if FAULT == "bad-exit":
        print("echo_client: STANDIN_FAULT=bad-exit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
