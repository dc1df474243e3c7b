"""The `websockets` peer (Python, sync API): a connection adapter over a websockets
connection (either side), the client used against the server examples and tests/peers.rs's
servers, the peer server for echo_client and tests/peers.rs's clients, and the extra
server-direction case handshake-bad-version (a client sending Sec-WebSocket-Version: 8)."""

from __future__ import annotations

import threading
import time

import websockets.client
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory, ServerPerMessageDeflateFactory
from websockets.sync.client import connect as ws_connect
from websockets.sync.server import serve as ws_serve

from . import deflate_matrix
from .common import Closed, Timeout
from .directions import PeerServer, adapter_peer, choose_subprotocol, parse_offered, serve_connection

PEER = "websockets"


def compression_kwargs(options, params=None, factory=None):
    """websockets offers and accepts permessage-deflate unless compression=None. `params` (RFC
    7692 parameter names, the keyword arguments of websockets' factories) configure it
    explicitly: `factory` is the client's or the server's factory class."""
    if params is not None:
        return {"compression": None, "extensions": [factory(**params)]}
    if options.deflate is None:
        return {}
    return {"compression": "deflate" if options.deflate else None}


def header(headers, name):
    """All values of a header, joined (None when absent)."""
    values = headers.get_all(name)
    return ", ".join(values) if values else None


class WebsocketsConn:
    """Adapter over a websockets (sync API) connection, client or server side."""

    def __init__(self, ws):
        self.ws = ws
        self.pending = {}
        # Sec-WebSocket-Extensions of the request and of the 101, whichever side we are.
        self.ext_offer = header(ws.request.headers, "Sec-WebSocket-Extensions")
        self.ext_answer = header(ws.response.headers, "Sec-WebSocket-Extensions")

    @property
    def subprotocol(self):
        return self.ws.subprotocol

    @staticmethod
    def _closed(exc):
        return Closed(f"connection closed ({exc})")

    def send_message(self, payload):
        try:
            self.ws.send(payload)
        except ConnectionClosed as exc:
            raise self._closed(exc) from None

    def send_fragments(self, parts, ping):
        def fragments():
            yield parts[0]
            self.pending[ping] = self.ws.ping(ping)
            yield from parts[1:]

        try:
            self.ws.send(fragments())
        except ConnectionClosed as exc:
            raise self._closed(exc) from None

    def ping(self, payload):
        try:
            self.pending[payload] = self.ws.ping(payload)
        except ConnectionClosed as exc:
            raise self._closed(exc) from None

    def wait_pong(self, payload, timeout):
        event = self.pending.pop(payload)
        deadline = time.monotonic() + timeout
        while not event.wait(0.1):
            if self.ws.protocol.close_rcvd or self.ws.state.name == "CLOSED":
                raise Closed(f"connection closed (code {self.ws.close_code}) while waiting for pong")
            if time.monotonic() > deadline:
                raise Timeout(f"timeout after {timeout:g} s waiting for pong ({len(payload)} B payload)")

    def recv(self, timeout):
        try:
            return self.ws.recv(timeout=timeout)
        except TimeoutError:
            raise Timeout(f"timeout after {timeout:g} s waiting for echo") from None
        except ConnectionClosed as exc:
            raise self._closed(exc) from None

    def _close_rcvd(self):
        rcvd = self.ws.protocol.close_rcvd
        return (rcvd.code, rcvd.reason) if rcvd else (None, None)

    def close(self, code, reason, timeout=10):
        """Closing handshake started by us; returns (code, reason) the other side sent."""
        self.ws.close(code, reason)
        return self._close_rcvd()

    def wait_peer_close(self, timeout=10):
        """After the other side started the closing handshake (recv raised Closed; websockets
        answered it): waits, bounded, until the connection is closed, and returns the
        (code, reason) the other side sent."""
        deadline = time.monotonic() + timeout
        while self.ws.state.name != "CLOSED" and time.monotonic() < deadline:
            time.sleep(0.02)
        return self._close_rcvd()

    def abort(self):
        try:
            self.ws.close_socket()
        except Exception:  # noqa: BLE001
            pass


def connect(port, path="/", subprotocols=None, *, options, params=None):
    ws = ws_connect(
        f"ws://127.0.0.1:{port}{path}",
        subprotocols=subprotocols,
        max_size=None,
        ping_interval=None,
        open_timeout=10,
        close_timeout=10,
        **compression_kwargs(options, params, ClientPerMessageDeflateFactory),
    )
    # __enter__ returns the connection itself; it only marks it as used "as a context
    # manager", which websockets >= 17.1 otherwise warns about.
    return WebsocketsConn(ws.__enter__())


class WebsocketsPeerServer(PeerServer):
    def __init__(self, options, params=None):
        super().__init__()

        def handler(ws):
            offered = parse_offered(ws.request.headers.get_all("Sec-WebSocket-Protocol"))
            rep = serve_connection(WebsocketsConn(ws), ws.request.path, offered, ws.subprotocol)
            self.reports.put(rep)

        self.server = ws_serve(
            handler,
            "127.0.0.1",
            0,
            select_subprotocol=lambda _conn, offered: choose_subprotocol(offered),
            max_size=None,
            ping_interval=None,
            close_timeout=10,
            **compression_kwargs(options, params, ServerPerMessageDeflateFactory),
        )
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.thread.join(timeout=10)


def bad_version(server, R, options):
    """A websockets client sending Sec-WebSocket-Version: 8 must see the failed connect (426)."""
    server.ensure_alive()
    original = websockets.client.ClientProtocol.connect

    def connect_v8(self):
        request = original(self)
        del request.headers["Sec-WebSocket-Version"]
        request.headers["Sec-WebSocket-Version"] = "8"
        return request

    websockets.client.ClientProtocol.connect = connect_v8
    scenario = "handshake-bad-version"
    try:
        with ws_connect(
            f"ws://127.0.0.1:{server.port}/", open_timeout=10, ping_interval=None, **compression_kwargs(options)
        ):
            pass
        R.record(PEER, server.name, scenario, False, "connection was accepted with version 8")
    except InvalidStatus as exc:
        status = exc.response.status_code
        version = exc.response.headers.get("Sec-WebSocket-Version")
        R.record(
            PEER,
            server.name,
            scenario,
            status == 426,
            f"connect failed with HTTP {status}, Sec-WebSocket-Version: {version}",
        )
    except Exception as exc:  # noqa: BLE001
        R.record(PEER, server.name, scenario, False, f"{type(exc).__name__}: {exc}")
    finally:
        websockets.client.ClientProtocol.connect = original


def make_peer(options):
    variants = deflate_matrix.WEBSOCKETS_VARIANTS

    def client_variant(server, variant, R):
        deflate_matrix.adapter_client_variant(
            PEER, lambda port, path, params: connect(port, path, options=options, params=params), server, variant, R
        )

    return adapter_peer(
        PEER,
        lambda port, path="/", subprotocols=None: connect(port, path, subprotocols, options=options),
        lambda: WebsocketsPeerServer(options),
        more_server_cases=lambda server, R: bad_version(server, R, options),
        agrees=(options.deflate is not False, options.deflate is not False),
        deflate=(
            deflate_matrix.server_variants(PEER, variants, client_variant, with_no_deflate=True),
            deflate_matrix.client_variants(
                PEER, lambda params: WebsocketsPeerServer(options, params), variants, with_no_deflate=True
            ),
        ),
    )
