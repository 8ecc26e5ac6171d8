#!/usr/bin/env node
'use strict';
// Echo server built on the `ws` package: every message comes back with the
// same type (text stays text, binary stays binary).
//
// Usage:
//   node ws_echo_server.js --port N [--host 127.0.0.1] [--no-compression]
//                          [--deflate JSON] [--max-payload BYTES]
//                          [--exit-on-stdin-close] [--verbose]
//
// First stdout line: {"listening": PORT} (the real port, also with --port 0).
// Runs until SIGTERM/SIGINT (or stdin closes with --exit-on-stdin-close);
// then prints {"ok": true, "connections": N, "messages": M} and exits 0.
// --deflate takes extra `ws` perMessageDeflate options as JSON, e.g.
//   '{"serverNoContextTakeover": true, "serverMaxWindowBits": 10}'.

const { WebSocketServer } = require('ws');
const { parseArgs, finish, fail, usage } = require('./common');

const USAGE =
  'usage: node ws_echo_server.js --port N [--host 127.0.0.1] [--no-compression] ' +
  '[--deflate JSON] [--max-payload BYTES] [--exit-on-stdin-close] [--verbose]';

function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2), {
      port: 'number',
      host: 'string',
      'no-compression': 'bool',
      deflate: 'string',
      'max-payload': 'number',
      'exit-on-stdin-close': 'bool',
      verbose: 'bool',
    });
    if (args.port === undefined) throw new Error('--port is required (0 picks a free port)');
  } catch (e) {
    usage(USAGE)(e);
    return;
  }

  const log = args.verbose ? (msg) => process.stderr.write(`[echo-server] ${msg}\n`) : () => {};

  let perMessageDeflate = false;
  if (!args['no-compression']) {
    // threshold 0: compress every message, even empty ones, so the peer's
    // inflate path is exercised for all sizes.
    perMessageDeflate = { threshold: 0 };
    if (args.deflate !== undefined) {
      try {
        Object.assign(perMessageDeflate, JSON.parse(args.deflate));
      } catch (e) {
        usage(USAGE)(new Error(`--deflate: ${e.message}`));
        return;
      }
    }
  }

  const wss = new WebSocketServer({
    host: args.host ?? '127.0.0.1',
    port: args.port,
    perMessageDeflate,
    maxPayload: args['max-payload'] ?? 64 * 1024 * 1024,
  });

  let listening = false;
  let connections = 0;
  let messages = 0;

  wss.on('error', (err) => {
    if (!listening) fail(err, 1);
    else process.stderr.write(`[echo-server] server error: ${err.stack || err}\n`);
  });

  wss.on('listening', () => {
    listening = true;
    process.stdout.write(JSON.stringify({ listening: wss.address().port }) + '\n');
  });

  wss.on('connection', (ws, req) => {
    connections += 1;
    const id = connections;
    log(`#${id} open ${req.url} extensions=${JSON.stringify(ws.extensions)} protocol=${JSON.stringify(ws.protocol)}`);
    ws.on('message', (data, isBinary) => {
      messages += 1;
      log(`#${id} ${isBinary ? 'binary' : 'text'} ${data.length} bytes`);
      ws.send(data, { binary: isBinary });
    });
    ws.on('ping', (data) => log(`#${id} ping ${data.length} bytes`));
    ws.on('error', (err) => log(`#${id} error: ${err.message}`));
    ws.on('close', (code, reason) => log(`#${id} close ${code} ${JSON.stringify(reason.toString())}`));
  });

  let stopping = false;
  const stop = (why) => {
    if (stopping) return;
    stopping = true;
    log(`stopping (${why})`);
    for (const client of wss.clients) client.close(1001, 'server shutting down');
    const done = () => finish({ ok: true, connections, messages }, 0);
    wss.close(done);
    // Peers that do not answer the close handshake must not keep us alive.
    setTimeout(() => {
      for (const client of wss.clients) client.terminate();
      done();
    }, 1000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (args['exit-on-stdin-close']) {
    process.stdin.on('end', () => stop('stdin closed'));
    process.stdin.on('error', () => stop('stdin error'));
    process.stdin.resume();
  }
}

main();
