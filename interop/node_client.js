#!/usr/bin/env node
// Node `ws` client peer: drives the scenarios against the echo server under test.
// Usage: node node_client.js PORT [--deflate on|off]
// Prints one JSON line per scenario: {"scenario", "ok", "detail"} or {"scenario", "skip"},
// then {"event": "done"}. run_interop.py turns them into PASS/FAIL lines.
//
//        node node_client.js PORT --library wait-close|close [--deflate on|off]
// The library-server direction (a server test of tests/peers.rs listens on PORT): send one
// message and check its echo, then wait for the server to close (wait-close) or close with
// 4006 "client-bye" (close). Prints one line
// {"event":"library","mode","echo","close_code","close_reason","error"}: echo is "ok" or what
// differed; close_code/close_reason are what the server sent in its Close.
//
// --deflate on|off: offer permessage-deflate or not (without it, ws's default: offered).
// The first data connection reports what was negotiated, before its scenarios:
// {"event":"extensions","offer","answer"} (the request's and the 101's Sec-WebSocket-Extensions).
//
//        node node_client.js PORT --pmd JSON
// The permessage-deflate matrix: one connection with `perMessageDeflate: JSON` (ws's options,
// e.g. {"threshold":0,"serverMaxWindowBits":10}), the "extensions" line, then one line per
// deflate scenario (scenarios.js deflateScenarios()) with `wire_in`, the bytes read from the
// socket while waiting for that echo; a `compressible` scenario whose echo took more than half
// its size on the wire fails (it was not compressed). Then {"event":"done"}.
'use strict';

const WebSocket = require('ws');
const S = require('./scenarios.js');
const { NodeConn, digest, out, parseFlags, MAX_PAYLOAD } = require('./node_common.js');

const port = Number(process.argv[2]);
const flags = parseFlags(process.argv.slice(3), ['--library', '--deflate', '--pmd']);
const base = 'ws://127.0.0.1:' + port + '/';
const wsOptions = { maxPayload: MAX_PAYLOAD, handshakeTimeout: 10000 };
if (flags['--deflate'] !== undefined) wsOptions.perMessageDeflate = flags['--deflate'] === 'on';
if (flags['--pmd'] !== undefined) wsOptions.perMessageDeflate = JSON.parse(flags['--pmd']);

function open(protocols) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base, protocols, wsOptions);
    const conn = new NodeConn(ws);
    const timer = setTimeout(() => { ws.terminate(); reject(new Error('timeout opening connection')); }, 12000);
    // The request is still there while 'upgrade' is emitted: both headers, as sent and received.
    ws.once('upgrade', (res) => {
      conn.extensions = {
        offer: ws._req ? ws._req.getHeader('sec-websocket-extensions') || null : null,
        answer: res.headers['sec-websocket-extensions'] || null,
      };
    });
    ws.once('open', () => { clearTimeout(timer); resolve(conn); });
    ws.once('error', (err) => { clearTimeout(timer); ws.terminate(); reject(err); });
  });
}

function report(scenario, ok, detail) {
  out({ scenario, ok, detail: detail || '' });
}

async function closeQuietly(conn) {
  try { await conn.close(1000, '', 5000); } catch (e) { conn.terminate(); }
}

async function main() {
  // Data scenarios over one connection; reconnect after a failure that broke it.
  let conn = null;
  let first = true;
  for (const s of S.dataScenarios()) {
    if (!conn) {
      try { conn = await open(undefined); } catch (e) { report(s.name, false, 'connect failed: ' + e.message); continue; }
      if (first) out(Object.assign({ event: 'extensions' }, conn.extensions));
      first = false;
    }
    const r = await S.runScenario(conn, s, digest);
    report(s.name, r.ok, r.detail);
    if (r.fatal) { conn.terminate(); conn = null; }
  }
  if (conn) await closeQuietly(conn);

  // The server supports proto-c and proto-b (in that order); the first protocol the
  // client offers that the server supports must be chosen.
  for (const [scenario, offer] of [['subprotocol-pick', ['proto-a', 'proto-b']], ['subprotocol-client-order', ['proto-b', 'proto-c']]]) {
    try {
      const c = await open(offer);
      const proto = c.ws.protocol;
      c.sendMessage('subprotocol check');
      const got = await c.recv(10000);
      const diff = await S.compare('subprotocol check', got, digest);
      report(scenario, proto === 'proto-b' && !diff,
        'offered ' + JSON.stringify(offer) + ', server chose "' + proto + '"' + (proto !== 'proto-b' ? ' (expected proto-b)' : '') +
        (diff ? '; echo: ' + diff : ''));
      await closeQuietly(c);
    } catch (e) {
      report(scenario, false, 'offered ' + JSON.stringify(offer) + ': ' + e.message);
    }
  }

  // Offer only [proto-x]. The server must open without a subprotocol. `ws` (like browsers)
  // then fails the connection itself with exactly this message, which proves the
  // server answered 101 without a Sec-WebSocket-Protocol header.
  try {
    const c = await open(['proto-x']);
    report('subprotocol-none', false, 'ws accepted the connection with protocol "' + c.ws.protocol + '"');
    await closeQuietly(c);
  } catch (e) {
    const ok = e.message === 'Server sent no subprotocol';
    report('subprotocol-none', ok, ok ? '(101 without Sec-WebSocket-Protocol; ws then refuses by design)' : 'expected ws error "Server sent no subprotocol", got: ' + e.message);
  }

  // Close started by us with 4001 "bye": the server must echo 4001.
  try {
    const c = await open(undefined);
    c.sendMessage('before close');
    await c.recv(10000);
    const closed = await c.close(4001, 'bye', 10000);
    report('close-4001', closed.code === 4001,
      'server echoed ' + closed.code + ' "' + closed.reason + '"');
  } catch (e) {
    report('close-4001', false, e.message);
  }
  out({ event: 'done' });
}

// The permessage-deflate matrix on one connection (see --pmd above).
async function deflateMain() {
  let conn;
  try { conn = await open(undefined); } catch (e) { out({ event: 'connect-failed', detail: e.message }); return; }
  out(Object.assign({ event: 'extensions' }, conn.extensions));
  for (const s of S.deflateScenarios()) {
    const before = conn.ws._socket.bytesRead;
    const r = await S.runScenario(conn, s, digest);
    const wireIn = conn.ws._socket.bytesRead - before;
    let { ok, detail } = r;
    if (s.compressible && ok) {
      const size = S.utf8Length(s.payload);
      ok = wireIn * 2 < size;
      detail = wireIn + ' B on the wire for ' + size + ' B' + (ok ? '' : ': the echo was not compressed');
    }
    out({ scenario: s.name, ok, detail, wire_in: wireIn });
    if (r.fatal) { conn.terminate(); out({ event: 'done' }); return; }
  }
  await closeQuietly(conn);
  out({ event: 'done' });
}

async function libraryMain(mode) {
  const rep = { event: 'library', mode, echo: null, close_code: null, close_reason: null, error: null };
  let conn = null;
  try {
    if (mode !== 'wait-close' && mode !== 'close') throw new Error('unknown --library mode ' + mode);
    conn = await open(undefined);
    const msg = 'hello from node-ws';
    conn.sendMessage(msg);
    const diff = await S.compare(msg, await conn.recv(10000), digest);
    rep.echo = diff || 'ok';
    const closed = mode === 'close'
      ? await conn.close(4006, 'client-bye', 10000)
      : await conn.waitClosed(10000, 'the server to close');
    rep.close_code = closed.code;
    rep.close_reason = closed.reason;
  } catch (e) {
    rep.error = String(e && e.message || e);
    if (conn) conn.terminate();
  }
  out(rep);
}

let run;
if (flags['--library'] !== undefined) run = libraryMain(flags['--library']);
else if (flags['--pmd'] !== undefined) run = deflateMain();
else run = main();
run.then(() => process.exit(0), (e) => { out({ event: 'crash', detail: String(e && e.stack || e) }); process.exit(2); });
