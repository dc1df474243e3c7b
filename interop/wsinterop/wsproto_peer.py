"""The `wsproto` peer: wsproto's state machine driven over a plain non-blocking socket by this
code (a connection adapter for either side), its client for the server examples and
tests/peers.rs's servers, and its peer server for echo_client and tests/peers.rs's clients."""

from __future__ import annotations

import select
import socket
import time
from collections import deque

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate

from . import deflate_matrix
from .common import Closed, HarnessError, Timeout
from .directions import ListeningPeerServer, adapter_peer, choose_subprotocol, serve_connection

PEER = "wsproto"


def extensions(options, params=None):
    """wsproto offers (client) or accepts (server) permessage-deflate only when given it; `params`
    (RFC 7692 parameter names, PerMessageDeflate's keyword arguments) configure it explicitly."""
    if params is not None:
        return [PerMessageDeflate(**params)]
    return [PerMessageDeflate()] if options.deflate else []


def head_header(head, name):
    """The values of header `name` in the HTTP head bytes `head`, joined (None when absent)."""
    text = bytes(head).split(b"\r\n\r\n", 1)[0].decode("latin-1")
    values = []
    for line in text.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            values.append(value.strip())
    return ", ".join(values) if values else None


class WsprotoConn:
    """wsproto driven over a plain non-blocking socket by this code."""

    def __init__(self, sock, ws, is_client, subprotocol=None, request_head=b"", response_head=b""):
        self.sock = sock
        self.ws = ws
        self.is_client = is_client
        self.subprotocol = subprotocol
        self.ext_offer = head_header(request_head, "Sec-WebSocket-Extensions")
        self.ext_answer = head_header(response_head, "Sec-WebSocket-Extensions")
        self.inbox = deque()
        self.pongs = []
        self.close_rcvd = None
        self.eof = False
        self._parts = []
        self._sending = False
        self._deferred = []
        self._process()

    # Writing interleaves reading: a peer that echoes while it receives must not deadlock us.
    def _sendall(self, data, timeout=60.0):
        view = memoryview(data)
        deadline = time.monotonic() + timeout
        self._sending = True
        try:
            while view:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Timeout(f"timeout after {timeout:g} s sending {len(data)} B")
                rlist = [] if self.eof else [self.sock]
                r, w, _ = select.select(rlist, [self.sock], [], min(remaining, 1.0))
                if r:
                    self._read_once()
                if w:
                    try:
                        n = self.sock.send(view[: 1 << 20])
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError as exc:
                        raise Closed(f"connection lost while sending ({exc})") from None
                    view = view[n:]
        finally:
            self._sending = False
        while self._deferred:
            self._sendall(self._deferred.pop(0), timeout)

    def _send(self, event):
        data = self.ws.send(event)
        if not data:
            return
        if self._sending:
            self._deferred.append(data)
        else:
            self._sendall(data)

    def _read_once(self):
        try:
            data = self.sock.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.eof = True
            if self.ws.state is not ConnectionState.CLOSED:
                self.ws.receive_data(None)
        elif self.ws.state in (ConnectionState.OPEN, ConnectionState.LOCAL_CLOSING):
            self.ws.receive_data(data)
        self._process()

    def _process(self):
        for event in self.ws.events():
            if isinstance(event, (TextMessage, BytesMessage)):
                self._parts.append(event.data)
                if event.message_finished:
                    joiner = "" if isinstance(event, TextMessage) else b""
                    self.inbox.append(joiner.join(self._parts))
                    self._parts = []
            elif isinstance(event, Ping):
                self._send(event.response())
            elif isinstance(event, Pong):
                self.pongs.append(bytes(event.payload))
            elif isinstance(event, CloseConnection):
                if self.close_rcvd is None:
                    self.close_rcvd = (event.code, event.reason)
                if self.ws.state is ConnectionState.REMOTE_CLOSING:
                    self._send(event.response())

    def _wait(self, cond, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            value = cond()
            if value is not None:
                return value
            if self.close_rcvd is not None or self.eof:
                code, reason = self.close_rcvd or (None, None)
                raise Closed(f"connection closed (code {code} {reason!r}) while waiting for {what}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout(f"timeout after {timeout:g} s waiting for {what}")
            r, _, _ = select.select([self.sock], [], [], min(remaining, 1.0))
            if r:
                self._read_once()

    def send_message(self, payload):
        self._send(Message(data=payload))

    def send_fragments(self, parts, ping):
        self._send(Message(data=parts[0], message_finished=False))
        self._send(Ping(payload=ping))
        for i, part in enumerate(parts[1:], 1):
            self._send(Message(data=part, message_finished=(i == len(parts) - 1)))

    def ping(self, payload):
        self._send(Ping(payload=payload))

    def wait_pong(self, payload, timeout):
        def found():
            if payload in self.pongs:
                self.pongs.remove(payload)
                return True
            return None

        self._wait(found, timeout, f"pong ({len(payload)} B payload)")

    def recv(self, timeout):
        return self._wait(lambda: self.inbox.popleft() if self.inbox else None, timeout, "echo")

    def close(self, code, reason, timeout=10):
        if self.ws.state is ConnectionState.OPEN:
            self._send(CloseConnection(code=code, reason=reason))
        deadline = time.monotonic() + timeout
        while self.close_rcvd is None and not self.eof and time.monotonic() < deadline:
            r, _, _ = select.select([self.sock], [], [], 0.2)
            if r:
                self._read_once()
        # The server closes TCP first: a client waits (briefly) for EOF.
        if self.is_client:
            end = min(deadline, time.monotonic() + 3)
            while not self.eof and time.monotonic() < end:
                r, _, _ = select.select([self.sock], [], [], 0.2)
                if r:
                    try:
                        if not self.sock.recv(65536):
                            self.eof = True
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        self.eof = True
        self.abort()
        return self.close_rcvd if self.close_rcvd else (None, None)

    def wait_peer_close(self, timeout=10):
        """After the other side's Close arrived (our reply went out with it): a client waits,
        bounded, for the server to close TCP. Returns the (code, reason) the other side sent."""
        return self.close(1000, "", timeout)  # sends nothing: the connection is no longer OPEN

    def abort(self):
        try:
            self.sock.close()
        except OSError:
            pass


def connect(port, path="/", subprotocols=None, *, options, params=None, timeout=10.0):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ws = WSConnection(ConnectionType.CLIENT)
    request = Request(
        host=f"127.0.0.1:{port}",
        target=path,
        subprotocols=subprotocols or [],
        extensions=extensions(options, params),
    )
    request_head = ws.send(request)
    sock.sendall(request_head)
    sock.setblocking(False)
    received = b""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            sock.close()
            raise Timeout("timeout waiting for the handshake response")
        r, _, _ = select.select([sock], [], [], min(remaining, 1.0))
        if not r:
            continue
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            continue
        ws.receive_data(data or None)
        received += data
        for event in ws.events():
            if isinstance(event, AcceptConnection):
                return WsprotoConn(sock, ws, True, event.subprotocol, request_head, received)
            if isinstance(event, (RejectConnection, RejectData)):
                status = getattr(event, "status_code", "?")
                sock.close()
                raise HarnessError(f"handshake rejected with HTTP {status}")
            if isinstance(event, CloseConnection):
                sock.close()
                raise Closed(f"connection closed during the handshake ({event.code})")
        if not data:
            sock.close()
            raise Closed("EOF during the handshake")


class WsprotoPeerServer(ListeningPeerServer):
    def __init__(self, options, params=None):
        self.options = options
        self.params = params
        super().__init__()

    def handle(self, sock):
        try:
            return self._serve(sock)
        except Exception as exc:  # noqa: BLE001
            sock.close()
            return {"nonce": None, "error": repr(exc)}

    def _serve(self, sock):
        """The handshake by hand, then serve_connection; None if no request arrived in 10 s."""
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        ws = WSConnection(ConnectionType.SERVER)
        deadline = time.monotonic() + 10
        request = None
        received = b""
        while request is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                sock.close()
                return None
            r, _, _ = select.select([sock], [], [], min(remaining, 1.0))
            if not r:
                continue
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            if not data:
                sock.close()
                return None
            ws.receive_data(data)
            received += data
            for event in ws.events():
                if isinstance(event, Request):
                    request = event
                    break
        offered = list(request.subprotocols)
        chosen = choose_subprotocol(offered)
        sock.setblocking(True)
        sock.settimeout(10)
        accept = ws.send(AcceptConnection(subprotocol=chosen, extensions=extensions(self.options, self.params)))
        sock.sendall(accept)
        sock.setblocking(False)
        conn = WsprotoConn(sock, ws, False, chosen, received, accept)
        return serve_connection(conn, request.target, offered, chosen)


def make_peer(options):
    variants = deflate_matrix.WSPROTO_VARIANTS

    def client_variant(server, variant, R):
        deflate_matrix.adapter_client_variant(
            PEER, lambda port, path, params: connect(port, path, options=options, params=params), server, variant, R
        )

    return adapter_peer(
        PEER,
        lambda port, path="/", subprotocols=None: connect(port, path, subprotocols, options=options),
        lambda: WsprotoPeerServer(options),
        agrees=(bool(options.deflate), bool(options.deflate)),
        deflate=(
            deflate_matrix.server_variants(PEER, variants, client_variant, with_no_deflate=False),
            deflate_matrix.client_variants(
                PEER, lambda params: WsprotoPeerServer(options, params), variants, with_no_deflate=False
            ),
        ),
    )
