// The tutorial's browser-console steps, pasted into the console of the demo's
// page (tests/interop/test_demo_tutorial.py). args[0]: a JSON object of the
// snippets, taken verbatim from docs/demo.md and docs/quickstart.md.
//
// Each snippet is evaluated the way DevTools' console evaluates what is pasted
// into it (Runtime.evaluate in REPL mode: a top-level `const ws` stays defined
// for the next snippet), in the page's own context, under the page's CSP.
// What the console shows is collected from the page's console messages.
async (page, { args }) => {
  const snippets = JSON.parse(args[0]);
  const cdp = await page.context().newCDPSession(page);
  const paste = async (text) => {
    const reply = await cdp.send('Runtime.evaluate', {
      expression: text, replMode: true, userGesture: true, returnByValue: true,
    });
    if (reply.exceptionDetails) {
      const e = reply.exceptionDetails;
      throw new Error(`pasting ${JSON.stringify(text)}: ${e.exception ? e.exception.description : e.text}`);
    }
    return reply.result.value;
  };
  // What the console answers to an expression typed in it. (Not page.evaluate
  // or waitForFunction with a string: those eval() in the page, which its CSP
  // forbids, and cannot see the console's `const ws`.)
  const waitForConsole = async (expression, what) => {
    const deadline = Date.now() + 10000;
    while (!(await paste(expression))) {
      if (Date.now() > deadline) throw new Error(`waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  let shown = [];
  page.on('console', (msg) => {
    // Kept in order: each entry resolves to the logged values.
    shown.push(Promise.all(msg.args().map((arg) => arg.jsonValue())).then((values) => ({ type: msg.type(), text: msg.text(), values })));
  });
  const console_ = async () => Promise.all(shown);
  const waitForLogs = async (count, what) => {
    const deadline = Date.now() + 15000;
    while (shown.length < count) {
      if (Date.now() > deadline) throw new Error(`waiting for ${what}: the console shows ${JSON.stringify(await console_())}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  // The user types the next line a moment after the previous one ran.
  const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

  // Load the page again with the console listened to: a load-time message (a
  // CSP error...) shows up too.
  await page.reload({ waitUntil: 'load' });
  await page.waitForSelector('#status.open', { timeout: 10000 });  // the page itself is connected
  const result = { pageUrl: page.url() };

  // Step 2: connect.
  await paste(snippets['2']);
  await waitForConsole('ws.readyState !== WebSocket.CONNECTING', 'the connection');
  result.readyState = await paste('ws.readyState');
  result.url = await paste('ws.url');

  // Step 4: a message; only the server's terminal shows it.
  await paste(snippets['4']);
  await settle();

  // Step 5: the listener, then a ping.
  await paste(snippets['5-listener']);
  await paste(snippets['5']);
  await waitForLogs(1, 'the pong');

  // Step 6: three sends, back to back (one paste).
  await paste(snippets['6']);
  await waitForLogs(4, 'the three replies of step 6');
  await settle();  // nothing more comes
  result.tutorial = await console_();

  // The quickstart's snippet, on a fresh load of the page.
  shown = [];
  await page.reload({ waitUntil: 'load' });
  await page.waitForSelector('#status.open', { timeout: 10000 });
  await paste(snippets.quickstart);
  await waitForLogs(1, "the quickstart's reply");
  result.quickstart = await console_();
  return result;
};
