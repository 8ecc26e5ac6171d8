#!/usr/bin/env node
'use strict';
// Load a page in headless Chromium and run a test script against it.
//
// Usage:
//   node browser_page.js --url http://127.0.0.1:PORT/ --script FILE.js
//                        [--screenshot out.png] [--wait-until load]
//                        [--viewport 1280x800] [--timeout SECONDS]
//                        [--chromium-arg SWITCH ...]
//
// FILE.js holds a single async arrow function expression, e.g.
//   async (page) => { await page.click('#send'); return await page.textContent('#log'); }
// It runs here in Node with the playwright `page` (already navigated to
// --url). Its JSON-serializable return value is printed as one JSON line.
// A second argument gives { url, args } (args: extra `--arg VALUE` strings).
//
// --screenshot saves a PNG after the script has run (also when it failed).
// --wait-until: load | domcontentloaded | networkidle | commit.
// --chromium-arg adds a command-line switch to Chromium (repeatable), e.g.
// --chromium-arg='--host-rules=MAP localhost:4000 127.0.0.1:54321'.
// Exits 0 on success; on failure prints {"ok": false, "error": "..."} and
// exits 1 (2: usage, 3: timeout).

const fs = require('fs');
const path = require('path');
const vm = require('vm');
const common = require('./common');
const browser = require('./browser');

const USAGE =
  'usage: node browser_page.js --url URL --script FILE.js [--screenshot out.png] ' +
  '[--wait-until load|domcontentloaded|networkidle|commit] [--viewport WxH] ' +
  '[--arg VALUE ...] [--chromium-arg SWITCH ...] [--timeout SECONDS]';

function loadScript(file) {
  const source = fs.readFileSync(file, 'utf8');
  // Strip a trailing semicolon so the text can be wrapped as an expression.
  const expr = source.trim().replace(/;\s*$/, '');
  const fn = vm.runInThisContext(`(${expr}\n)`, { filename: path.resolve(file) });
  if (typeof fn !== 'function') throw new Error(`${file} does not evaluate to a function`);
  return fn;
}

function parseViewport(text) {
  if (text === undefined) return undefined;
  const m = /^(\d+)x(\d+)$/.exec(text);
  if (!m) throw new common.UsageError(`bad --viewport: ${text} (expected WxH)`);
  return { width: Number(m[1]), height: Number(m[2]) };
}

async function run(args, fn, state) {
  const b = await browser.launch({
    viewport: parseViewport(args.viewport),
    args: args['chromium-arg'] || [],
  });
  state.close = b.close;
  browser.logPage(b.page);
  let value;
  let failure = null;
  try {
    const response = await b.page.goto(args.url, { waitUntil: args['wait-until'] || 'load', timeout: 30000 });
    if (response && !response.ok()) {
      throw new Error(`loading ${args.url} gave HTTP ${response.status()} ${response.statusText()}`);
    }
    value = await fn(b.page, { url: args.url, args: args.arg || [] });
  } catch (e) {
    failure = e;
  }
  if (args.screenshot) {
    try {
      await b.page.screenshot({ path: args.screenshot, fullPage: true, timeout: 15000 });
    } catch (e) {
      process.stderr.write(`screenshot failed: ${e}\n`);
      if (!failure) failure = e;
    }
  }
  await b.close();
  if (failure) throw failure;
  return value;
}

function main() {
  let args;
  let fn;
  const argv = process.argv.slice(2);
  // --arg and --chromium-arg may repeat: collect those before the generic parser.
  const extra = [];
  const switches = [];
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--arg' && i + 1 < argv.length) extra.push(argv[++i]);
    else if (argv[i].startsWith('--arg=')) extra.push(argv[i].slice(6));
    else if (argv[i] === '--chromium-arg' && i + 1 < argv.length) switches.push(argv[++i]);
    else if (argv[i].startsWith('--chromium-arg=')) switches.push(argv[i].slice(15));
    else rest.push(argv[i]);
  }
  try {
    args = common.parseArgs(rest, {
      url: 'string',
      script: 'string',
      screenshot: 'string',
      'wait-until': 'string',
      viewport: 'string',
      timeout: 'number',
    });
    args.arg = extra;
    args['chromium-arg'] = switches;
    if (!args.url) throw new common.UsageError('--url is required');
    if (!args.script) throw new common.UsageError('--script is required');
    parseViewport(args.viewport);
    const waitUntil = args['wait-until'];
    if (waitUntil && !['load', 'domcontentloaded', 'networkidle', 'commit'].includes(waitUntil)) {
      throw new common.UsageError(`bad --wait-until: ${waitUntil}`);
    }
  } catch (e) {
    common.usage(USAGE)(e);
    return;
  }
  try {
    fn = loadScript(args.script);
  } catch (e) {
    common.usage(USAGE)(new Error(`cannot load --script: ${e.message}`));
    return;
  }
  const state = { close: null };
  browser.closeOnSignals(
    () => state.close,
    (sig) => common.fail(new Error(`killed by ${sig}`), 1),
  );
  common.hardTimeout(args.timeout ?? 60, () => state.close && state.close());
  run(args, fn, state).then(
    (value) => common.finish(value, 0),
    (err) => common.fail(err, 1),
  );
}

main();
