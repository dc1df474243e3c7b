#!/usr/bin/env python3
"""Soak an echo server example: N upgraded idle connections, a stream of abrupt disconnects and a
few busy echo connections, for a bounded time; the server's RSS sampled throughout. 127.0.0.1 only
(127.0.0.x source addresses if the ephemeral ports run short); Python 3.11 stdlib.

    python3 benches/e2e/soak.py [SERVER] [--seconds 60] [--idle 10000] [--busy 4] [--rate 5]

SERVER (default target/release/examples/mio_echo) is started as `SERVER 127.0.0.1:0` and killed by
its PID at the end. The open-file limit is raised to what the idle connections need (the server
inherits it). Then:

1. one warm-up echo, and the baseline RSS;
2. the idle connections are upgraded and left open: RSS at start, and RSS per idle connection
   ((start - baseline) / N);
3. for --seconds: --busy connections each send random-size text and binary messages one at a time
   and check every echo (opcode and bytes); a disconnect thread, --rate times a second, alternates
   a connection that sends part of the request head and a connection that upgrades and sends part
   of a frame, each then reset (SO_LINGER 0); RSS is sampled every --sample seconds;
4. the idle connections are checked: none may have been closed or sent anything;
5. the server's open file descriptors are counted (/proc/PID/fd) until they are back to the
   baseline's plus the idle connections, for at most --settle seconds: any more are connections
   the server still holds after their clients reset or closed them.

Exits 1 if a message was lost or mismatched, a disconnect or busy connection failed, an idle
connection was dropped, the server still held a closed connection, or RSS grew by more than
--margin percent from the first sample after --warmup seconds to the last one.
"""
import argparse
import os
import random
import re
import resource
import select
import socket
import struct
import subprocess
import sys
import threading
import time

REQUEST = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
IO_TIMEOUT = 10.0
# Not in Python's socket module: bind the address now, pick the port at connect (Linux).
IP_BIND_ADDRESS_NO_PORT = 24
TEXT_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 \u00e9\u00df\u20ac\u4e2d\U0001d11e"


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Sources:
    """Source addresses: 127.0.0.1, or 127.0.0.2... in turn when one address's ports run short."""

    def __init__(self, needed):
        lo, hi = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
        per_address = (hi - lo + 1) * 3 // 4
        self.count = max(1, -(-needed // per_address))
        self.next = 0
        self.lock = threading.Lock()

    def connect(self, port):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(IO_TIMEOUT)
        if self.count > 1:
            with self.lock:
                i = self.next
                self.next = (i + 1) % self.count
            s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            s.bind((f"127.0.0.{2 + i}", 0))
        s.connect(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s


def upgrade(sources, port):
    s = sources.connect(port)
    s.sendall(REQUEST)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("EOF in the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101 "):
        raise RuntimeError(f"refused: {head[:40]!r}")
    if not head.endswith(b"\r\n\r\n"):
        raise RuntimeError("bytes after the response head")
    return s


def masked(opcode, payload, rng):
    key = rng.randbytes(4)
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    mask = (key * (n // 4 + 1))[:n]
    body = (int.from_bytes(payload, "big") ^ int.from_bytes(mask, "big")).to_bytes(n, "big")
    return head + key + body


def reset(s):
    """Closes with a RST instead of a FIN."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


class Reader:
    """Reassembles the server's (unmasked) messages, fragmented or not."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def need(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no echo within the deadline")
            self.sock.settimeout(left)
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise RuntimeError("EOF")
            self.buf += chunk

    def frame(self, deadline):
        self.need(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            self.need(4, deadline)
            n, off = int.from_bytes(self.buf[2:4], "big"), 4
        elif n == 127:
            self.need(10, deadline)
            n, off = int.from_bytes(self.buf[2:10], "big"), 10
        self.need(off + n, deadline)
        payload = bytes(self.buf[off:off + n])
        del self.buf[:off + n]
        return b0 & 0x80 != 0, b0 & 0x0F, payload

    def message(self, deadline):
        fin, opcode, payload = self.frame(deadline)
        if opcode not in (1, 2):
            raise RuntimeError(f"unexpected opcode {opcode}")
        parts = [payload]
        while not fin:
            fin, more, payload = self.frame(deadline)
            if more != 0:
                raise RuntimeError(f"opcode {more} inside a fragmented message")
            parts.append(payload)
        return opcode, b"".join(parts)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.sent = self.echoed = self.lost = self.mismatched = 0
        self.disconnects = 0
        self.errors = []

    def add(self, **counts):
        with self.lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def error(self, what):
        with self.lock:
            self.errors.append(what)


def message_size(rng, max_size):
    roll = rng.random()
    if roll < 0.6:
        return rng.randrange(0, 126)
    if roll < 0.9:
        return rng.randrange(126, min(4096, max_size) + 1)
    return rng.randrange(4096, max_size + 1)


def busy(index, sources, port, stop, stats, max_size, seed):
    rng = random.Random(seed * 1000 + index)
    try:
        s = upgrade(sources, port)
    except (OSError, RuntimeError) as e:
        stats.error(f"busy {index}: upgrade: {e}")
        return
    reader = Reader(s)
    while not stop.is_set():
        size = message_size(rng, max_size)
        if rng.random() < 0.5:
            opcode = 1
            text = "".join(rng.choices(TEXT_ALPHABET, k=size // 2))
            payload = text.encode()[:size].decode(errors="ignore").encode()
        else:
            opcode, payload = 2, rng.randbytes(size)
        try:
            stats.add(sent=1)
            s.settimeout(IO_TIMEOUT)
            s.sendall(masked(opcode, payload, rng))
            got_opcode, got = reader.message(time.monotonic() + IO_TIMEOUT)
        except (OSError, RuntimeError) as e:
            stats.add(lost=1)
            stats.error(f"busy {index}: {type(e).__name__}: {e}")
            s.close()
            return
        stats.add(echoed=1)
        if (got_opcode, got) != (opcode, payload):
            stats.add(mismatched=1)
    s.sendall(masked(8, b"\x03\xe8", rng))
    s.close()


def disconnects(sources, port, stop, stats, rate, seed):
    rng = random.Random(seed)
    interval = 1.0 / rate
    next_at = time.monotonic()
    kind = 0
    while not stop.is_set():
        try:
            if kind == 0:
                # Mid-handshake: part of the request head, never the blank line that ends it.
                s = sources.connect(port)
                s.sendall(REQUEST[:rng.randrange(1, len(REQUEST) - 3)])
            else:
                # Mid-frame: a whole header and part of the payload, or part of the header.
                s = upgrade(sources, port)
                frame = masked(rng.choice((1, 2)), b"x" * rng.randrange(1, 70000), rng)
                s.sendall(frame[:rng.randrange(1, len(frame))])
            reset(s)
            stats.add(disconnects=1)
        except (OSError, RuntimeError) as e:
            stats.error(f"disconnect ({'handshake' if kind == 0 else 'frame'}): {e}")
        kind ^= 1
        next_at += interval
        stop.wait(max(0.0, next_at - time.monotonic()))


def warm_up(sources, port):
    s = upgrade(sources, port)
    rng = random.Random(0)
    payload = rng.randbytes(65536)
    s.sendall(masked(2, payload, rng))
    if Reader(s).message(time.monotonic() + IO_TIMEOUT) != (2, payload):
        raise RuntimeError("warm-up echo differs")
    s.sendall(masked(8, b"\x03\xe8", rng))
    s.close()


def idle_dropped(conns):
    """Idle connections the server closed or wrote to (it has no reason to)."""
    poller = select.poll()
    for s in conns:
        poller.register(s, select.POLLIN | select.POLLERR | select.POLLHUP)
    return len(poller.poll(0))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("server", nargs="?", default="target/release/examples/mio_echo")
    p.add_argument("--seconds", type=float, default=60.0, help="the soak's length (default 60)")
    p.add_argument("--idle", type=int, default=10000, help="idle connections (default 10000)")
    p.add_argument("--busy", type=int, default=4, help="busy echo connections (default 4)")
    p.add_argument("--rate", type=float, default=5.0, help="abrupt disconnects a second (5)")
    p.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples (5)")
    p.add_argument("--warmup", type=float, default=10.0,
                   help="seconds of load before the first sample the growth check uses (10)")
    p.add_argument("--margin", type=float, default=10.0, help="allowed RSS growth, percent (10)")
    p.add_argument("--settle", type=float, default=15.0,
                   help="seconds for the server to let go of closed connections at the end (15; "
                        "more than mio_echo's 10 s handshake timeout)")
    p.add_argument("--max-size", type=int, default=65536, help="largest busy message (65536)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    if args.seconds <= args.warmup + args.sample:
        p.error("--seconds must exceed --warmup plus one --sample")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.idle + args.busy + 256
    if hard != resource.RLIM_INFINITY and hard < want:
        sys.exit(f"soak: {args.idle} idle connections need {want} open files; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    sources = Sources(args.idle + args.busy + int(args.rate * args.seconds) + 100)

    proc = subprocess.Popen([args.server, "127.0.0.1:0"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    conns = []
    try:
        line = proc.stdout.readline().decode()
        match = re.search(r"listening on \S+:(\d+)", line)
        if not match:
            sys.exit(f"soak: the server said {line!r}")
        port = int(match.group(1))
        warm_up(sources, port)
        time.sleep(0.5)
        base = rss_kib(proc.pid)
        base_fds = open_fds(proc.pid)
        t0 = time.monotonic()
        for _ in range(args.idle):
            conns.append(upgrade(sources, port))
        setup = time.monotonic() - t0
        time.sleep(1.0)
        start = rss_kib(proc.pid)

        stats = Stats()
        stop = threading.Event()
        threads = [threading.Thread(target=busy, args=(i, sources, port, stop, stats,
                                                       args.max_size, args.seed))
                   for i in range(args.busy)]
        threads.append(threading.Thread(target=disconnects,
                                        args=(sources, port, stop, stats, args.rate, args.seed)))
        for t in threads:
            t.start()
        samples = []  # (seconds into the soak, RSS KiB)
        began = time.monotonic()
        while True:
            elapsed = time.monotonic() - began
            samples.append((elapsed, rss_kib(proc.pid)))
            if elapsed >= args.seconds:
                break
            time.sleep(min(args.sample, args.seconds - elapsed))
        stop.set()
        for t in threads:
            t.join(IO_TIMEOUT * 2)
        if any(t.is_alive() for t in threads):
            stats.error("a load thread did not finish")
        stopped = time.monotonic()
        time.sleep(1.0)
        end = rss_kib(proc.pid)
        dropped = idle_dropped(conns)
        settle_until = time.monotonic() + args.settle
        while True:
            end_fds = open_fds(proc.pid)
            settled = time.monotonic() - stopped
            if end_fds <= base_fds + args.idle or time.monotonic() >= settle_until:
                break
            time.sleep(0.5)
        held = max(0, end_fds - base_fds - args.idle)
    finally:
        for s in conns:
            s.close()
        proc.kill()
        proc.wait()

    after = [rss for at, rss in samples if at >= args.warmup]
    growth = (after[-1] - after[0]) * 100.0 / after[0]
    per_idle = (start - base) * 1024 / args.idle if args.idle else 0.0
    name = os.path.basename(args.server)
    print(f"{name}: {args.idle} idle connections upgraded in {setup:.1f} s, {args.busy} busy, "
          f"{args.rate:g} disconnects/s, {args.seconds:g} s"
          f"{f', sources over 127.0.0.2-{1 + sources.count}' if sources.count > 1 else ''}")
    print(f"  messages: sent {stats.sent}, echoed {stats.echoed}, lost {stats.lost}, "
          f"mismatched {stats.mismatched}")
    print(f"  abrupt disconnects: {stats.disconnects}; idle connections dropped: {dropped}")
    print(f"  server fds: {base_fds} before the idle connections, {end_fds} at the end "
          f"({settled:.1f} s after the load); closed connections still held: {held}")
    print(f"  RSS KiB: baseline {base}, start {start}, end {end}; "
          f"{per_idle:.0f} B per idle connection")
    print("  RSS samples (s: KiB): " + ", ".join(f"{at:.0f}: {rss}" for at, rss in samples))
    print(f"  growth after {args.warmup:g} s warm-up: {after[0]} -> {after[-1]} KiB "
          f"({growth:+.1f}%, margin {args.margin:g}%)")
    for e in stats.errors[:10]:
        print(f"  error: {e}")
    failed = (stats.lost or stats.mismatched or stats.errors or dropped or held
              or growth > args.margin)
    print(f"soak: {'FAIL' if failed else 'PASS'}")
    return 1 if failed else 0


sys.exit(main())
