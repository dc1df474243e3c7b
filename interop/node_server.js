#!/usr/bin/env node
// Node `ws` server peer: the echo client under test connects to it and the server
// drives the scenarios (it sends, the client echoes back, the server verifies).
// Usage: node node_server.js [--deflate on|off]   (listens on 127.0.0.1, a free port)
// --deflate on|off: accept permessage-deflate or not (without it, ws's default: not accepted).
//        node node_server.js --pmd JSON   accept it with `perMessageDeflate: JSON` (ws's options)
// Prints JSON lines: {"event":"listening","port"}, then per connection
// {"nonce","event":"open","path","offered","selected","offer","answer"} (offer/answer: the
// request's and our 101's Sec-WebSocket-Extensions, or null), {"nonce","scenario","ok","detail"}...,
// {"nonce","event":"end","completed","close_code","close_reason","error"}.
// Paths (after the /t<nonce> prefix):
//        /data/K    run data scenarios K.. then close 4002 "done"
//        /noproto   one echo, then close 4002 "done"
//        /close4001 close 4001 "bye" at once
//        /echo      echo what the client sends (one {"scenario":"echo-N"} line each) until the
//                   client closes; "end" reports the code and reason it closed with
//                   (library-client client-closes: tests/peers.rs closes with 4003 "client-bye")
//        /close-me  close 4004 "server-bye" at once; "end" reports the code that came back
//        /deflate   the deflate scenarios (deflateScenarios()), each line with `wire_in` (bytes
//                   read while waiting for the echo; a `compressible` scenario whose echo took
//                   more than half its size fails: not compressed), then close 4002 "done"
'use strict';

const { WebSocketServer } = require('ws');
const S = require('./scenarios.js');
const { NodeConn, digest, out, parseFlags, MAX_PAYLOAD } = require('./node_common.js');

const SUPPORTED = ['proto-b', 'proto-c'];
const SCENARIOS = S.dataScenarios();
const DEFLATE_SCENARIOS = S.deflateScenarios();
const flags = parseFlags(process.argv.slice(2), ['--deflate', '--pmd']);

const serverOptions = {
  host: '127.0.0.1',
  port: 0,
  maxPayload: MAX_PAYLOAD,
  // The first protocol offered by the client that we support; none otherwise.
  handleProtocols: (protocols) => {
    for (const p of protocols) if (SUPPORTED.includes(p)) return p;
    return false;
  },
};
if (flags['--deflate'] !== undefined) serverOptions.perMessageDeflate = flags['--deflate'] === 'on';
if (flags['--pmd'] !== undefined) serverOptions.perMessageDeflate = JSON.parse(flags['--pmd']);
const wss = new WebSocketServer(serverOptions);

// The 101's header lines, kept on the request for the 'connection' handler.
wss.on('headers', (headers, req) => {
  const line = headers.find((h) => /^sec-websocket-extensions:/i.test(h));
  req.extensionsAnswer = line ? line.slice(line.indexOf(':') + 1).trim() : null;
});

wss.on('listening', () => out({ event: 'listening', port: wss.address().port }));

wss.on('connection', async (ws, req) => {
  // Request targets look like /t<nonce>/data/3: the nonce ties the reports to one echo_client run.
  const m = /^\/t(\d+)(\/.*)$/.exec(new URL(req.url, 'http://127.0.0.1').pathname);
  const nonce = m ? m[1] : '';
  const pathname = m ? m[2] : new URL(req.url, 'http://127.0.0.1').pathname;
  const header = req.headers['sec-websocket-protocol'];
  const offered = header ? header.split(',').map((s) => s.trim()).filter(Boolean) : [];
  const offer = req.headers['sec-websocket-extensions'] || null;
  out({ nonce, event: 'open', path: pathname, offered, selected: ws.protocol || null, offer, answer: req.extensionsAnswer });
  const conn = new NodeConn(ws);
  const end = (fields) => out(Object.assign({ nonce, event: 'end', completed: false, close_code: null, close_reason: null, error: null }, fields));
  try {
    let closeWith = [4002, 'done'];
    if (pathname.startsWith('/data/')) {
      const k = Number(pathname.slice('/data/'.length));
      for (const s of SCENARIOS.slice(k)) {
        const r = await S.runScenario(conn, s, digest);
        out({ nonce, scenario: s.name, ok: r.ok, detail: r.detail });
        if (r.fatal) { conn.terminate(); end({ error: 'aborted after ' + s.name }); return; }
      }
    } else if (pathname === '/noproto') {
      const r = await S.runScenario(conn, { name: 'echo', kind: 'message', payload: 'no subprotocol' }, digest);
      out({ nonce, scenario: 'echo', ok: r.ok, detail: r.detail });
      if (r.fatal) { conn.terminate(); end({ error: 'aborted' }); return; }
    } else if (pathname === '/deflate') {
      for (const s of DEFLATE_SCENARIOS) {
        const before = ws._socket.bytesRead;
        const r = await S.runScenario(conn, s, digest);
        const wireIn = ws._socket.bytesRead - before;
        let { ok, detail } = r;
        if (s.compressible && ok) {
          const size = S.utf8Length(s.payload);
          ok = wireIn * 2 < size;
          detail = wireIn + ' B on the wire for ' + size + ' B' + (ok ? '' : ': the echo was not compressed');
        }
        out({ nonce, scenario: s.name, ok, detail, wire_in: wireIn });
        if (r.fatal) { conn.terminate(); end({ error: 'aborted after ' + s.name }); return; }
      }
    } else if (pathname === '/close4001') {
      closeWith = [4001, 'bye'];
    } else if (pathname === '/echo') {
      for (let n = 1; n <= 100; n++) {
        let m;
        try { m = await conn.recv(10000); } catch (e) { if (conn.closed) break; throw e; }
        conn.sendMessage(m.data);
        const size = m.isBinary ? m.data.length : Buffer.byteLength(m.data, 'utf8');
        out({ nonce, scenario: 'echo-' + n, ok: true, detail: (m.isBinary ? 'binary ' : 'text ') + size + ' B' });
      }
      const closed = await conn.waitClosed(10000, 'the client to close');
      end({ completed: true, close_code: closed.code, close_reason: closed.reason });
      return;
    } else if (pathname === '/close-me') {
      closeWith = [4004, 'server-bye'];
    } else {
      closeWith = [1008, 'unknown path'];
    }
    const closed = await conn.close(closeWith[0], closeWith[1], 10000);
    end({ completed: true, close_code: closed.code, close_reason: closed.reason });
  } catch (e) {
    conn.terminate();
    end({ error: String(e && e.message || e) });
  }
});

// Never outlive the driver.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
setTimeout(() => process.exit(3), 10 * 60 * 1000).unref();
