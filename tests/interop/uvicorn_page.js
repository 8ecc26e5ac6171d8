// The page of tests/interop/test_uvicorn_browser.py does its WebSocket work by
// itself when it loads and leaves the outcome in window.result; this script,
// run by node/browser_page.js, waits for it and returns it.
async (page) => {
  await page.waitForFunction(() => window.result !== undefined, null, { timeout: 30000 });
  return await page.evaluate(() => window.result);
}
