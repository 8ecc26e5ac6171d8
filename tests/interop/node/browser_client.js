#!/usr/bin/env node
'use strict';
// Echo checks from a real browser: headless Chromium's own `WebSocket`.
//
// Usage:
//   node browser_client.js --url ws://127.0.0.1:PORT/ [--sizes 0,1,...]
//                          [--protocols a,b] [--timeout SECONDS]
//
// Opens about:blank and, inside the page, connects with
// `new WebSocket(url)` (binaryType "arraybuffer"). For every size it sends a
// text message of that many ASCII characters and a binary message of that
// many bytes, plus a short and a long (> 64 KiB) non-ASCII UTF-8 text; each
// echo must come back identical and with the same type. Then
// ws.close(1000, "bye") and wait for the close event. (Browsers cannot send
// pings; Chromium answers the server's pings by itself.)
//
// Prints {"ok": true, "messages": N, "close_code": C, "close_reason": R,
//         "was_clean": B, "extensions": "...", "protocol": "..."} and
// exits 0, or {"ok": false, "error": "..."} and exits 1 (2: usage, 3: timeout).

const common = require('./common');
const browser = require('./browser');

const USAGE =
  'usage: node browser_client.js --url ws://HOST:PORT/PATH [--sizes 0,1,...] ' +
  '[--protocols a,b] [--timeout SECONDS]';

/**
 * Runs inside the page: must be self-contained (playwright sends its source).
 * The payload patterns match common.js.
 */
async function pageEchoTest({ url, sizes, protocols, utf8Sample, utf8Repeat, timeoutMs }) {
  function asciiText(n) {
    const bytes = new Uint8Array(n);
    for (let i = 0; i < n; i++) bytes[i] = 32 + ((i * 7 + (i >> 8) * 13 + (i >> 16)) % 95);
    return new TextDecoder('latin1').decode(bytes);
  }
  function binaryBytes(n) {
    const bytes = new Uint8Array(n);
    let x = 0x9e3779b9 >>> 0;
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      bytes[i] = (x ^ i) & 0xff;
    }
    return bytes;
  }
  function sameBytes(a, b) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  function describe(data) {
    if (typeof data === 'string') return `text of ${new TextEncoder().encode(data).length} bytes`;
    if (data instanceof ArrayBuffer) return `binary of ${data.byteLength} bytes`;
    return `unexpected ${Object.prototype.toString.call(data)}`;
  }

  const deadline = new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`in-page timeout after ${timeoutMs} ms`)), timeoutMs),
  );

  let ws;
  const queue = [];
  let waiter = null;
  let closeEvent = null;
  let errorSeen = false;
  const push = (item) => {
    if (waiter) {
      const w = waiter;
      waiter = null;
      w(item);
    } else {
      queue.push(item);
    }
  };
  const next = () =>
    Promise.race([
      deadline,
      new Promise((resolve) => {
        if (queue.length) resolve(queue.shift());
        else waiter = resolve;
      }),
    ]);

  try {
    ws = protocols.length ? new WebSocket(url, protocols) : new WebSocket(url);
  } catch (e) {
    return { ok: false, error: `new WebSocket failed: ${e}` };
  }
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => push({ kind: 'open' });
  ws.onmessage = (ev) => push({ kind: 'message', data: ev.data });
  ws.onerror = () => {
    errorSeen = true;
  };
  ws.onclose = (ev) => {
    closeEvent = { code: ev.code, reason: ev.reason, wasClean: ev.wasClean };
    push({ kind: 'close', ...closeEvent });
  };
  const closedInfo = (ev) =>
    `connection closed (code ${ev.code}, reason ${JSON.stringify(ev.reason)}, clean ${ev.wasClean}` +
    `${errorSeen ? ', error event fired' : ''})`;

  try {
    const opened = await next();
    if (opened.kind !== 'open') return { ok: false, error: `handshake failed: ${closedInfo(opened)}` };
    const extensions = ws.extensions;
    const protocol = ws.protocol;

    const cases = [];
    for (const n of sizes) {
      cases.push({ label: `text[${n}]`, payload: asciiText(n), binary: false });
      cases.push({ label: `binary[${n}]`, payload: binaryBytes(n), binary: true });
    }
    cases.push({ label: 'utf8-short', payload: utf8Sample, binary: false });
    cases.push({ label: 'utf8-long', payload: utf8Sample.repeat(utf8Repeat), binary: false });

    let messages = 0;
    for (const c of cases) {
      ws.send(c.payload);
      const ev = await next();
      if (ev.kind !== 'message') return { ok: false, error: `${c.label}: ${closedInfo(ev)}` };
      const data = ev.data;
      if (c.binary) {
        if (!(data instanceof ArrayBuffer)) return { ok: false, error: `${c.label}: echo came back as ${describe(data)}` };
        if (!sameBytes(new Uint8Array(data), c.payload)) {
          return { ok: false, error: `${c.label}: echo differs (sent ${c.payload.length} bytes, got ${describe(data)})` };
        }
      } else {
        if (typeof data !== 'string') return { ok: false, error: `${c.label}: echo came back as ${describe(data)}` };
        if (data !== c.payload) {
          return { ok: false, error: `${c.label}: echo differs (sent ${c.payload.length} chars, got ${describe(data)})` };
        }
      }
      messages += 1;
    }

    ws.close(1000, 'bye');
    let ev = await next();
    while (ev.kind === 'message') ev = await next(); // late messages are allowed while closing
    if (ev.kind !== 'close') return { ok: false, error: `expected close, got ${ev.kind}` };
    return {
      ok: true,
      messages,
      close_code: ev.code,
      close_reason: ev.reason,
      was_clean: ev.wasClean,
      extensions,
      protocol,
    };
  } catch (e) {
    try {
      ws.close();
    } catch (_) {
      // already closing
    }
    return { ok: false, error: String(e && e.message ? e.message : e), close: closeEvent };
  }
}

async function run(args, state) {
  const sizes = common.parseSizes(args.sizes);
  const started = Date.now();
  const b = await browser.launch();
  state.close = b.close;
  browser.logPage(b.page);
  const consoleErrors = [];
  b.page.on('console', (msg) => {
    if (msg.type() === 'error' && consoleErrors.length < 20) consoleErrors.push(msg.text());
  });
  const launchedMs = Date.now() - started;
  try {
    await b.page.goto('about:blank');
    const timeoutMs = Math.max(5000, (args.timeout ?? 60) * 1000 - (Date.now() - started) - 5000);
    const result = await b.page.evaluate(pageEchoTest, {
      url: args.url,
      sizes,
      protocols: args.protocols ? args.protocols.split(',') : [],
      utf8Sample: common.UTF8_SAMPLE,
      utf8Repeat: common.UTF8_REPEAT,
      timeoutMs,
    });
    result.browser_version = b.context.browser() ? b.context.browser().version() : undefined;
    result.launch_ms = launchedMs;
    result.total_ms = Date.now() - started;
    if (!result.ok && consoleErrors.length) result.console_errors = consoleErrors;
    return result;
  } finally {
    await b.close();
  }
}

function main() {
  let args;
  try {
    args = common.parseArgs(process.argv.slice(2), {
      url: 'string',
      sizes: 'string',
      protocols: 'string',
      timeout: 'number',
    });
    if (!args.url) throw new common.UsageError('--url is required');
    common.parseSizes(args.sizes);
  } catch (e) {
    common.usage(USAGE)(e);
    return;
  }
  const state = { close: null };
  browser.closeOnSignals(
    () => state.close,
    (sig) => common.fail(new Error(`killed by ${sig}`), 1),
  );
  common.hardTimeout(args.timeout ?? 60, () => state.close && state.close());
  run(args, state).then(
    (result) => common.finish(result, result.ok ? 0 : 1),
    (err) => common.fail(err, 1),
  );
}

main();
