#!/usr/bin/env node
'use strict';
// Echo-checking client built on the `ws` package.
//
// Usage:
//   node ws_client.js --url ws://127.0.0.1:PORT/path [--no-compression]
//                     [--sizes 0,1,125,126,65535,65536,1048576]
//                     [--deflate JSON] [--protocols a,b] [--timeout SECONDS]
//
// For every size it sends a text message of that many ASCII characters and
// a binary message of that many bytes; it also sends a short and a long
// (> 64 KiB) non-ASCII UTF-8 text. Each echo must come back identical and
// with the same type. Then a ping (its pong must carry the same payload),
// then close(1000, "bye") and wait for the server's close.
//
// Prints {"ok": true, "messages": N, "close_code": C, "close_reason": R,
//         "extensions": "...", "protocol": "..."} and exits 0, or
//        {"ok": false, "error": "..."} and exits 1 (2: usage, 3: timeout).

const WebSocket = require('ws');
const common = require('./common');

const USAGE =
  'usage: node ws_client.js --url ws://HOST:PORT/PATH [--no-compression] ' +
  '[--sizes 0,1,...] [--deflate JSON] [--protocols a,b] [--timeout SECONDS]';

function describe(data, isBinary) {
  return `${isBinary ? 'binary' : 'text'} of ${data.length} bytes`;
}

/** One-shot waiter for the next message / pong / close, with error fan-out. */
class Peer {
  constructor(ws) {
    this.ws = ws;
    this.waiter = null;
    this.closed = null;
    this.error = null;
    ws.on('message', (data, isBinary) => this._deliver('message', { data, isBinary }));
    ws.on('pong', (data) => this._deliver('pong', { data }));
    ws.on('error', (err) => {
      this.error = err;
      this._reject(err);
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString('utf8') };
      this._deliver('close', this.closed);
    });
  }

  next(kind) {
    if (this.waiter) throw new Error('internal error: concurrent waits');
    if (this.error) return Promise.reject(this.error);
    if (this.closed && kind !== 'close') {
      return Promise.reject(
        new Error(`connection closed (${this.closed.code} ${JSON.stringify(this.closed.reason)}) while waiting for ${kind}`),
      );
    }
    if (this.closed) return Promise.resolve(this.closed);
    return new Promise((resolve, reject) => {
      this.waiter = { kind, resolve, reject };
    });
  }

  _deliver(kind, value) {
    const w = this.waiter;
    if (!w) {
      if (kind !== 'close') this._unexpected = `unexpected ${kind} with nobody waiting`;
      return;
    }
    this.waiter = null;
    if (w.kind === kind) {
      w.resolve(value);
    } else if (kind === 'close') {
      w.reject(
        new Error(`connection closed (${value.code} ${JSON.stringify(value.reason)}) while waiting for ${w.kind}`),
      );
    } else {
      w.reject(new Error(`got ${kind} while waiting for ${w.kind}`));
    }
  }

  _reject(err) {
    const w = this.waiter;
    this.waiter = null;
    if (w) w.reject(err);
  }
}

function connect(url, options) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options.protocols, options.wsOptions);
    const onError = (err) => reject(err);
    ws.once('error', onError);
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        if (body.length < 2000) body += chunk;
      });
      res.on('end', () => reject(new Error(`handshake rejected: HTTP ${res.statusCode} ${res.statusMessage}: ${body}`)));
      res.on('error', () => reject(new Error(`handshake rejected: HTTP ${res.statusCode} ${res.statusMessage}`)));
    });
    let extensionsHeader = '';
    ws.once('upgrade', (res) => {
      extensionsHeader = res.headers['sec-websocket-extensions'] || '';
    });
    ws.once('open', () => {
      ws.off('error', onError);
      resolve({ ws, extensionsHeader });
    });
  });
}

async function run(args) {
  const sizes = common.parseSizes(args.sizes);
  let perMessageDeflate = false;
  if (!args['no-compression']) {
    perMessageDeflate = { threshold: 0 };
    if (args.deflate !== undefined) Object.assign(perMessageDeflate, JSON.parse(args.deflate));
  }
  const protocols = args.protocols ? args.protocols.split(',') : [];
  const { ws, extensionsHeader } = await connect(args.url, {
    protocols,
    wsOptions: { perMessageDeflate, maxPayload: 64 * 1024 * 1024, handshakeTimeout: 15000 },
  });
  const peer = new Peer(ws);

  const cases = [];
  for (const n of sizes) {
    cases.push({ label: `text[${n}]`, payload: common.asciiText(n), binary: false });
    cases.push({ label: `binary[${n}]`, payload: common.binaryBytes(n), binary: true });
  }
  cases.push({ label: 'utf8-short', payload: common.UTF8_SAMPLE, binary: false });
  cases.push({ label: 'utf8-long', payload: common.UTF8_SAMPLE.repeat(common.UTF8_REPEAT), binary: false });

  let messages = 0;
  for (const c of cases) {
    ws.send(c.payload, { binary: c.binary });
    const { data, isBinary } = await peer.next('message');
    if (isBinary !== c.binary) {
      throw new Error(`${c.label}: echo came back as ${describe(data, isBinary)}`);
    }
    const same = c.binary ? Buffer.compare(data, c.payload) === 0 : data.toString('utf8') === c.payload;
    if (!same) {
      const sent = c.binary ? c.payload.length : Buffer.byteLength(c.payload);
      throw new Error(`${c.label}: echo differs (sent ${sent} bytes, got ${describe(data, isBinary)})`);
    }
    messages += 1;
  }

  const pingPayload = Buffer.from('ping-0123456789');
  ws.ping(pingPayload);
  const pong = await peer.next('pong');
  if (Buffer.compare(pong.data, pingPayload) !== 0) {
    throw new Error(`pong payload ${JSON.stringify(pong.data.toString('latin1'))} != ping payload`);
  }

  // The server's Sec-WebSocket-Extensions header as received (same as a
  // browser's WebSocket.extensions).
  const extensions = extensionsHeader;
  const protocol = ws.protocol;
  ws.close(1000, 'bye');
  const closed = await peer.next('close');
  if (peer._unexpected) throw new Error(peer._unexpected);
  return {
    ok: true,
    messages,
    close_code: closed.code,
    close_reason: closed.reason,
    extensions,
    protocol,
  };
}

function main() {
  let args;
  try {
    args = common.parseArgs(process.argv.slice(2), {
      url: 'string',
      'no-compression': 'bool',
      sizes: 'string',
      deflate: 'string',
      protocols: 'string',
      timeout: 'number',
    });
    if (!args.url) throw new common.UsageError('--url is required');
    common.parseSizes(args.sizes);
  } catch (e) {
    common.usage(USAGE)(e);
    return;
  }
  common.hardTimeout(args.timeout ?? 60);
  run(args).then(
    (result) => common.finish(result, 0),
    (err) => common.fail(err, 1),
  );
}

main();
