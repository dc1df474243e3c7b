#!/usr/bin/env python3
"""Idle-connection memory of an echo server example: RSS with N upgraded idle connections minus
RSS with none, over N; then checks that a new client is still served. 127.0.0.1 only.

    ulimit -n 20000; python3 benches/e2e/idle_rss.py target/release/examples/mio_echo [N]
"""
import os
import re
import socket
import subprocess
import sys
import time

REQUEST = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def upgrade(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(REQUEST)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("EOF in the handshake")
        head += chunk
    assert head.startswith(b"HTTP/1.1 101 "), head
    return s


def masked(opcode, payload):
    key = b"\x01\x02\x03\x04"
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def echo_check(port, size):
    """A fresh client: one binary message of `size` bytes echoed back whole, then a Close."""
    s = upgrade(port)
    payload = bytes(i % 251 for i in range(size))
    t0 = time.monotonic()
    s.sendall(masked(2, payload))
    got = b""
    data = b""
    while len(got) < size:
        chunk = s.recv(1 << 16)
        if not chunk:
            raise RuntimeError("EOF before the echo")
        data += chunk
        while len(data) >= 2:  # unmasked server frames
            n = data[1] & 0x7F
            off = 2
            if n == 126:
                if len(data) < 4:
                    break
                n, off = int.from_bytes(data[2:4], "big"), 4
            elif n == 127:
                if len(data) < 10:
                    break
                n, off = int.from_bytes(data[2:10], "big"), 10
            if len(data) < off + n:
                break
            got += data[off:off + n]
            data = data[off + n:]
    assert got == payload, "echo differs"
    elapsed = time.monotonic() - t0
    s.sendall(masked(8, b"\x03\xe8"))
    s.settimeout(10)
    while s.recv(4096):
        pass
    s.close()
    return elapsed


def main():
    server = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    proc = subprocess.Popen([server, "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        line = proc.stdout.readline().decode()
        port = int(re.search(r"listening on \S+:(\d+)", line).group(1))
        # Warm up: one client with a 64 KiB echo touches the per-thread (or per-connection)
        # buffers once, so the baseline is a server that has served, not a fresh process.
        echo_check(port, 65536)
        time.sleep(0.5)
        base = rss_kib(proc.pid)
        conns = [upgrade(port) for _ in range(n)]
        time.sleep(1.0)
        with_n = rss_kib(proc.pid)
        latency = echo_check(port, 65536)
        per = (with_n - base) * 1024 / n
        print(f"{os.path.basename(server)}: baseline {base} KiB, with {n} idle {with_n} KiB, "
              f"{per:.0f} B per idle connection; a new client's 64 KiB echo took {latency * 1000:.1f} ms")
        for s in conns:
            s.close()
    finally:
        proc.kill()
        proc.wait()


main()
