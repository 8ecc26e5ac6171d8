'use strict';
// Shared helpers for the interop scripts in this folder (CommonJS, no deps).
//
// Every script prints exactly one JSON line as its result on stdout and
// writes diagnostics to stderr only.

const DEFAULT_SIZES = [0, 1, 125, 126, 65535, 65536, 1048576];

// Short non-ASCII text (2-, 3- and 4-byte UTF-8 sequences).
const UTF8_SAMPLE = 'h\u00e9llo \u2603 \ud834\udd1e';
// Repeated so the UTF-8 encoding is > 64 KiB and multi-byte sequences
// straddle frame / fragment / deflate-block boundaries.
const UTF8_REPEAT = 5000;

class UsageError extends Error {}

/**
 * Parse `--name value` / `--flag` style arguments.
 * `spec` maps option names (without dashes) to 'string' | 'number' | 'bool'.
 */
function parseArgs(argv, spec) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument: ${arg}`);
    let name = arg.slice(2);
    let value;
    const eq = name.indexOf('=');
    if (eq !== -1) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const kind = spec[name];
    if (kind === undefined) throw new UsageError(`unknown option: --${name}`);
    if (kind === 'bool') {
      if (value !== undefined) throw new UsageError(`--${name} takes no value`);
      out[name] = true;
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
      value = argv[++i];
    }
    if (kind === 'number') {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new UsageError(`--${name}: not a number: ${value}`);
      out[name] = n;
    } else {
      out[name] = value;
    }
  }
  return out;
}

function parseSizes(text) {
  if (text === undefined) return DEFAULT_SIZES.slice();
  if (text.trim() === '') return [];
  return text.split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`bad size: ${s}`);
    return n;
  });
}

/** Deterministic printable-ASCII text of `n` characters (period is not a power of two). */
function asciiText(n) {
  const buf = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) buf[i] = 32 + ((i * 7 + (i >> 8) * 13 + (i >> 16)) % 95);
  return buf.toString('latin1');
}

/** Deterministic binary payload of `n` bytes covering all byte values. */
function binaryBytes(n) {
  const buf = Buffer.allocUnsafe(n);
  let x = 0x9e3779b9 >>> 0;
  for (let i = 0; i < n; i++) {
    // xorshift32
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    buf[i] = (x ^ i) & 0xff;
  }
  return buf;
}

let emitted = false;

/** Print the single JSON result line and exit with `code`. */
function finish(result, code) {
  if (!emitted) {
    let line;
    try {
      line = JSON.stringify(result === undefined ? null : result);
    } catch (e) {
      line = JSON.stringify({ ok: false, error: `result is not JSON-serializable: ${e.message}` });
      code = code || 1;
    }
    emitted = true;
    process.stdout.write(line + '\n');
  }
  // Let stdout drain when it is a pipe before exiting.
  process.stdout.write('', () => process.exit(code));
  setTimeout(() => process.exit(code), 2000).unref();
}

function fail(error, code = 1, extra = {}) {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof Error && error.stack) process.stderr.write(error.stack + '\n');
  finish({ ok: false, error: message, ...extra }, code);
}

/** Exit with a failure result after `seconds`, whatever is still pending. */
function hardTimeout(seconds, onTimeout) {
  const timer = setTimeout(async () => {
    try {
      if (onTimeout) await Promise.race([onTimeout(), new Promise((r) => setTimeout(r, 5000))]);
    } catch (e) {
      process.stderr.write(`cleanup after timeout failed: ${e}\n`);
    }
    fail(new Error(`timed out after ${seconds} s`), 3);
  }, seconds * 1000);
  return timer;
}

// A script must always end through finish(); if the event loop drains first
// (a promise that can never settle), report that instead of exiting silently.
process.on('beforeExit', () => {
  if (!emitted) fail(new Error('internal error: event loop drained before a result'), 4);
});

function usage(text) {
  return (error) => {
    process.stderr.write(`${error.message}\n${text}\n`);
    finish({ ok: false, error: error.message }, 2);
  };
}

module.exports = {
  DEFAULT_SIZES,
  UTF8_SAMPLE,
  UTF8_REPEAT,
  UsageError,
  parseArgs,
  parseSizes,
  asciiText,
  binaryBytes,
  finish,
  fail,
  hardTimeout,
  usage,
};
