// Scenario definitions shared by the Node peers (node_client.js, node_server.js)
// and the browser page (browser_test.html). Keep names and order identical to
// data_scenarios() in wsinterop/scenarios.py: the driver checks them.
(function (root, factory) {
  if (typeof module === 'object' && module.exports) module.exports = factory();
  else root.InteropScenarios = factory();
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  const MiB = 1024 * 1024;
  const SIZES = [0, 1, 125, 126, 65535, 65536, 8 * MiB];
  const LARGE = 65535; // payloads of at least this many bytes are compared by sha256
  // 2-byte (é ß Ω Ж), 3-byte (— € 中 文 ✓) and 4-byte (𝄞 😀 🎉) UTF-8 sequences.
  const UTF8_SAMPLE = 'é ß Ω Ж — € 中文 ✓ 𝄞 😀 🎉 ';
  const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const PING_PAYLOADS = [
    Uint8Array.from([0x70, 0x69, 0x6e, 0x67, 0x00, 0xff, 0x10, 0x80, 0x7f, 0x01]), // "ping\0\xff..."
    Uint8Array.from({ length: 125 }, (_, i) => (i * 7 + 1) & 0xff), // largest legal control payload
  ];
  const FRAGMENT_PARTS = ['frag-1 é ', '€ frag-2 ', '😀 frag-3'];
  const FRAGMENT_PING = new TextEncoder().encode('between-fragments');

  function sizeLabel(n) {
    return n === 8 * MiB ? '8MiB' : n + 'B';
  }

  // xorshift32: cheap deterministic bytes (Math.random is too slow for 8 MiB).
  function pseudoRandomBytes(n, seed) {
    const out = new Uint8Array(n);
    let x = seed >>> 0 || 1;
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      out[i] = x; out[i + 1] = x >>> 8; out[i + 2] = x >>> 16; out[i + 3] = x >>> 24;
    }
    for (; i < n; i++) {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      out[i] = x;
    }
    return out;
  }

  function asciiText(n, seed) {
    const b = pseudoRandomBytes(n, seed);
    const table = new Uint8Array(256);
    for (let i = 0; i < 256; i++) table[i] = ALNUM.charCodeAt(i % ALNUM.length);
    for (let i = 0; i < n; i++) b[i] = table[b[i]];
    return new TextDecoder().decode(b);
  }

  function utf8Length(s) {
    return new TextEncoder().encode(s).length;
  }

  // kind 'message': send payload (string = text, Uint8Array = binary), expect it echoed.
  // kind 'fragments': send parts as one fragmented text message with a ping after the
  //   first fragment; expect the joined text echoed and the pong.
  // kind 'ping': send each ping in turn, expect a pong with the same payload.
  function dataScenarios() {
    const list = [];
    let seed = 6455;
    for (const kind of ['text', 'binary']) {
      for (const n of SIZES) {
        seed += 1;
        const payload = kind === 'text' ? asciiText(n, seed) : pseudoRandomBytes(n, seed);
        list.push({ name: kind + '-' + sizeLabel(n), kind: 'message', payload });
      }
    }
    list.push({ name: 'utf8-multibyte', kind: 'message', payload: UTF8_SAMPLE.repeat(3) });
    list.push({ name: 'utf8-multibyte-large', kind: 'message', payload: UTF8_SAMPLE.repeat(1600) });
    list.push({ name: 'fragmented-with-ping', kind: 'fragments', parts: FRAGMENT_PARTS, ping: FRAGMENT_PING });
    list.push({ name: 'ping-pong-payload', kind: 'ping', payloads: PING_PAYLOADS });
    return list;
  }

  // The scenarios of the permessage-deflate matrix, in order: same names and payload shapes as
  // deflate_scenarios() in wsinterop/scenarios.py. `compressible`: compresses to well under half
  // (a peer that counts wire bytes checks that the echo came back compressed). The fragments are
  // sent compressed (`compress`).
  function deflateScenarios() {
    const list = [];
    let seed = 7692;
    for (const [kind, n] of [['binary', 0], ['text', 1], ['text', 125], ['binary', 126], ['text', 4096], ['binary', 65536]]) {
      seed += 1;
      const payload = kind === 'text' ? asciiText(n, seed) : pseudoRandomBytes(n, seed);
      list.push({ name: kind + '-' + (n >= 1024 ? n / 1024 + 'KiB' : n + 'B'), kind: 'message', payload });
    }
    const twice = asciiText(16384, seed + 1);
    list.push({ name: 'text-16KiB', kind: 'message', payload: twice });
    list.push({ name: 'text-16KiB-again', kind: 'message', payload: twice });
    list.push({ name: 'text-repeat-64KiB', kind: 'message', payload: asciiText(4096, seed + 2).repeat(16) });
    list.push({ name: 'utf8-multibyte-large', kind: 'message', payload: UTF8_SAMPLE.repeat(1600), compressible: true });
    list.push({ name: 'fragmented-with-ping', kind: 'fragments', parts: FRAGMENT_PARTS, ping: FRAGMENT_PING, compress: true });
    return list;
  }

  function hex(bytes, max) {
    let s = '';
    for (let i = 0; i < Math.min(bytes.length, max); i++) s += bytes[i].toString(16).padStart(2, '0');
    return s;
  }

  function toBytes(x) {
    if (typeof x === 'string') return new TextEncoder().encode(x);
    if (x instanceof Uint8Array) return x;
    if (x instanceof ArrayBuffer) return new Uint8Array(x);
    if (ArrayBuffer.isView(x)) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
    throw new Error('unexpected payload type ' + Object.prototype.toString.call(x));
  }

  function equalBytes(a, b) {
    if (a.length !== b.length) return -2;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
    return -1;
  }

  // Returns null when `got` matches `expected`, else a one-line description.
  // got: {data: string|Uint8Array|ArrayBuffer, isBinary: bool}. digest: async bytes -> hex.
  async function compare(expected, got, digest) {
    const wantBinary = typeof expected !== 'string';
    const e = toBytes(expected);
    let g;
    if (got.isBinary) g = toBytes(got.data);
    else g = typeof got.data === 'string' ? new TextEncoder().encode(got.data) : toBytes(got.data);
    const parts = [];
    if (wantBinary !== got.isBinary) {
      parts.push('expected ' + (wantBinary ? 'binary' : 'text') + ' got ' + (got.isBinary ? 'binary' : 'text'));
    }
    if (e.length >= LARGE || g.length >= LARGE) {
      const [de, dg] = [await digest(e), await digest(g)];
      if (de !== dg) {
        const at = equalBytes(e, g);
        parts.push('sha256 expected ' + de.slice(0, 16) + ' (' + e.length + ' B) got ' + dg.slice(0, 16) +
          ' (' + g.length + ' B)' + (at >= 0 ? ', first difference at byte ' + at : ''));
      }
    } else {
      const at = equalBytes(e, g);
      if (at === -2) parts.push('expected ' + e.length + ' B got ' + g.length + ' B (got starts ' + hex(g, 16) + ')');
      else if (at >= 0) parts.push('byte ' + at + ' differs: expected ' + hex(e.subarray(at), 8) + ' got ' + hex(g.subarray(at), 8));
    }
    return parts.length ? parts.join('; ') : null;
  }

  function timeoutFor(s) {
    if (s.kind === 'message') {
      const n = typeof s.payload === 'string' ? s.payload.length : s.payload.length;
      return n >= MiB ? 20000 : 10000;
    }
    return 10000;
  }

  // conn: {sendMessage(p), sendFragments(parts, ping, compress), ping(p), waitPong(p, ms), recv(ms)}
  // recv resolves {data, isBinary}; recv/waitPong reject on timeout or close.
  // Returns {ok, detail, fatal}; fatal means the connection can no longer be trusted.
  async function runScenario(conn, s, digest) {
    const ms = timeoutFor(s);
    try {
      if (s.kind === 'message') {
        conn.sendMessage(s.payload);
        const got = await conn.recv(ms);
        const diff = await compare(s.payload, got, digest);
        return { ok: diff === null, detail: diff || '', fatal: false };
      }
      if (s.kind === 'fragments') {
        conn.sendFragments(s.parts, s.ping, Boolean(s.compress));
        const got = await conn.recv(ms);
        const diff = await compare(s.parts.join(''), got, digest);
        await conn.waitPong(s.ping, ms);
        return { ok: diff === null, detail: diff || '', fatal: false };
      }
      if (s.kind === 'ping') {
        for (const p of s.payloads) {
          conn.ping(p);
          await conn.waitPong(p, ms);
        }
        return { ok: true, detail: '', fatal: false };
      }
      return { ok: false, detail: 'unknown scenario kind ' + s.kind, fatal: false };
    } catch (err) {
      return { ok: false, detail: String(err && err.message ? err.message : err), fatal: true };
    }
  }

  return {
    MiB, SIZES, UTF8_SAMPLE, PING_PAYLOADS, FRAGMENT_PARTS, FRAGMENT_PING,
    dataScenarios, deflateScenarios, compare, runScenario, toBytes, equalBytes, hex, utf8Length, sizeLabel,
  };
});
