// Helpers shared by node_client.js and node_server.js: a promise-based wrapper
// around a `ws` WebSocket (either side), JSON-lines output for run_interop.py, and the
// command-line flags.
'use strict';

const crypto = require('crypto');

const MAX_PAYLOAD = 64 * 1024 * 1024;

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// `--name value` pairs from argv, only for the names in `known`; anything else is an error.
function parseFlags(args, known) {
  const flags = {};
  for (let i = 0; i < args.length; i += 2) {
    if (!known.includes(args[i]) || i + 1 >= args.length) throw new Error('usage: unexpected argument ' + args[i]);
    flags[args[i]] = args[i + 1];
  }
  if (flags['--deflate'] !== undefined && !['on', 'off'].includes(flags['--deflate'])) {
    throw new Error('usage: --deflate on|off, not ' + flags['--deflate']);
  }
  return flags;
}

async function digest(bytes) {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

function sameBytes(a, b) {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength),
    Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

class NodeConn {
  constructor(ws) {
    this.ws = ws;
    this.inbox = [];
    this.pongs = [];
    this.waiters = [];
    this.closed = null; // {code, reason} once the 'close' event fired
    this.closeWaiters = [];
    ws.on('message', (data, isBinary) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      this.inbox.push({ data: isBinary ? new Uint8Array(buf) : buf.toString('utf8'), isBinary });
      this._wake();
    });
    ws.on('pong', (data) => { this.pongs.push(new Uint8Array(data)); this._wake(); });
    ws.on('error', (err) => { this.error = err; this._wake(); });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString('utf8') };
      this._wake();
      for (const w of this.closeWaiters.splice(0)) w();
    });
  }

  _wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  // Resolves with cond()'s truthy value; rejects on timeout or when the connection closed.
  _waitFor(cond, ms, what) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { done = true; reject(new Error('timeout after ' + ms / 1000 + ' s waiting for ' + what)); }, ms);
      let done = false;
      const check = () => {
        if (done) return;
        const v = cond();
        if (v) { done = true; clearTimeout(timer); resolve(v); return; }
        if (this.closed) {
          done = true; clearTimeout(timer);
          reject(new Error('connection closed (code ' + this.closed.code + ' "' + this.closed.reason + '")' +
            (this.error ? ' after error: ' + this.error.message : '') + ' while waiting for ' + what));
          return;
        }
        this.waiters.push(check);
      };
      check();
    });
  }

  sendMessage(p) {
    this.ws.send(p, { binary: typeof p !== 'string' });
  }

  // compress: send the message compressed if permessage-deflate was agreed (RSV1 on the first
  // fragment, every fragment deflated with a sync flush); ws decides on the first fragment.
  sendFragments(parts, ping, compress) {
    parts.forEach((p, i) => {
      this.ws.send(p, { binary: false, fin: i === parts.length - 1, compress });
      if (i === 0) this.ws.ping(ping);
    });
  }

  ping(p) {
    this.ws.ping(p);
  }

  waitPong(p, ms) {
    return this._waitFor(() => {
      const i = this.pongs.findIndex((q) => sameBytes(q, p));
      if (i < 0) return false;
      this.pongs.splice(i, 1);
      return true;
    }, ms, 'pong (' + p.length + ' B payload)');
  }

  recv(ms) {
    return this._waitFor(() => this.inbox.shift(), ms, 'echo');
  }

  // Starts the closing handshake; resolves with the close code/reason the peer sent back.
  close(code, reason, ms) {
    if (!this.closed) this.ws.close(code, reason);
    return this.waitClosed(ms, 'the closing handshake');
  }

  // Resolves with the close code/reason the peer sent once the connection is closed (the
  // 'close' event); on timeout terminates the connection and rejects.
  waitClosed(ms, what) {
    return new Promise((resolve, reject) => {
      if (this.closed) { resolve(this.closed); return; }
      const timer = setTimeout(() => { this.ws.terminate(); reject(new Error('timeout after ' + ms / 1000 + ' s waiting for ' + what)); }, ms);
      this.closeWaiters.push(() => { clearTimeout(timer); resolve(this.closed); });
    });
  }

  terminate() {
    this.ws.terminate();
  }
}

module.exports = { NodeConn, digest, out, parseFlags, MAX_PAYLOAD };
