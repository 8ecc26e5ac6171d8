'use strict';
// Launching Debian's Chromium through playwright-core (shared by the
// browser_*.js scripts). No browser is downloaded: the system binary is used.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const DEFAULT_CHROMIUM = '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
  '--disable-features=LocalNetworkAccessChecks',
];

function chromiumPath() {
  return process.env.CHROMIUM_PATH || DEFAULT_CHROMIUM;
}

/**
 * Launch Chromium with a fresh throw-away profile.
 * `args`: extra command-line switches (e.g. --host-rules=...).
 * Returns { context, page, close } where close() shuts the browser down and
 * removes the profile directory (safe to call more than once).
 */
async function launch({ viewport, args = [] } = {}) {
  const executablePath = chromiumPath();
  if (!fs.existsSync(executablePath)) {
    throw new Error(`Chromium not found at ${executablePath} (apt-get install -y chromium, or set CHROMIUM_PATH)`);
  }
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsproto-lite-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: [...CHROMIUM_ARGS, ...args],
      viewport: viewport || { width: 1280, height: 800 },
      timeout: 30000,
      // Let our scripts handle signals so the result line is still printed.
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
  } catch (e) {
    fs.rmSync(userDataDir, { recursive: true, force: true });
    throw e;
  }
  const page = context.pages()[0] || (await context.newPage());
  let closing = null;
  const close = () => {
    if (!closing) {
      closing = context
        .close()
        .catch((e) => process.stderr.write(`closing Chromium failed: ${e}\n`))
        .finally(() => fs.rmSync(userDataDir, { recursive: true, force: true }));
    }
    return closing;
  };
  return { context, page, close };
}

/** Forward page console output and errors to stderr (for debugging failures). */
function logPage(page, prefix = '[page]') {
  page.on('console', (msg) => process.stderr.write(`${prefix} console.${msg.type()}: ${msg.text()}\n`));
  page.on('pageerror', (err) => process.stderr.write(`${prefix} pageerror: ${err.stack || err}\n`));
  page.on('crash', () => process.stderr.write(`${prefix} page crashed\n`));
}

/** Close the browser and exit cleanly on SIGTERM / SIGINT. */
function closeOnSignals(getClose, onSignal) {
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
    process.on(sig, async () => {
      const close = getClose();
      if (close) await Promise.race([close(), new Promise((r) => setTimeout(r, 5000))]);
      onSignal(sig);
    });
  }
}

module.exports = { CHROMIUM_ARGS, chromiumPath, launch, logPage, closeOnSignals };
