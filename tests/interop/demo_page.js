// Drives the demo's page (wsproto_lite/demo/page.html) like a person would.
// Run by tests/interop/test_demo_browser.py through node/browser_page.js:
// one async function of the playwright page; its return value is the result.
async (page, { args }) => {
  const pushText = args[0];
  const text = async (selector) => (await page.textContent(selector)).trim();
  const replies = () => page.$$eval('#log li.reply, #log li.error', (items) => items.length);
  const waitForReplies = (count) =>
    page.waitForFunction(
      (n) => document.querySelectorAll('#log li.reply, #log li.error').length >= n,
      count,
    );

  await page.waitForSelector('#status.open', { timeout: 10000 });
  const connected = await text('#status');

  // The form comes filled with the demo's user: one click signs in.
  const prefilled = [await page.inputValue('#login'), await page.inputValue('#password')];
  const credentials = await text('#credentials');
  await page.click('#auth');
  await page.waitForSelector('#status.authenticated');
  const status = await text('#status');
  const token = await text('#token');

  // A wrong password is refused.
  await page.fill('#password', 'wrong');
  await page.click('#auth');
  await page.waitForSelector('#result.error');
  const wrong = JSON.parse(await text('#result'));

  await page.click('#getUsers');
  await page.waitForSelector('#users li');
  const users = await page.$$eval('#users li', (items) =>
    items.map((li) => ({ login: li.dataset.login, online: li.classList.contains('online') })),
  );

  // A push from another client (the test's Python client broadcasts once we are in).
  await page.waitForFunction(
    (wanted) => [...document.querySelectorAll('#log li.push')].some((li) => li.textContent.includes(wanted)),
    pushText,
    { timeout: 15000 },
  );

  // Our own broadcast comes back to us as a push.
  await page.fill('#message', 'hello from the browser');
  await page.click('#broadcast');
  await page.waitForFunction(() =>
    [...document.querySelectorAll('#log li.push')].some((li) => li.textContent.includes('hello from the browser')),
  );

  // Out of order: sleep(1500) then sleep(100); the second reply arrives first.
  const before = await replies();
  await page.fill('#ms', '0');
  await page.click('#race');
  await waitForReplies(before + 2);
  const race = await page.$$eval('#log li.reply .dir', (items) =>
    items.slice(-2).map((el) => el.textContent),
  );

  // A malformed raw message gets an error reply; the connection stays open.
  await page.fill('#raw', '{"id": 77, "method": ');
  await page.click('#sendRaw');
  await page.waitForFunction(() => document.querySelector('#result').textContent.includes('-32700'));
  const parseError = JSON.parse(await text('#result'));
  await page.click('#whoami');
  await page.waitForFunction(() => document.querySelector('#result').textContent.includes('"authenticated": true'));
  const whoami = JSON.parse(await text('#result'));

  // A raw note gets no reply (the page says so); raw calls without an id are
  // answered in order, and the page matches the replies to them by position.
  await page.fill('#raw', '{"message": "from the page"}');
  await page.click('#sendRaw');
  const noteInfo = await page.$$eval('#log li.info .text', (items) => items[items.length - 1].textContent);
  const before2 = await replies();
  await page.fill('#raw', '{"method": "sleep", "args": [300]}');
  await page.click('#sendRaw');
  await page.fill('#raw', '{"method": "whoami"}');
  await page.click('#sendRaw');
  await waitForReplies(before2 + 2);
  const unnumbered = await page.$$eval('#log li.reply .text', (items) =>
    items.map((el) => el.textContent.split(' ')[0]),
  );

  const log = await page.$$eval('#log li', (items) =>
    items.map((li) => ({ kind: li.className, text: li.querySelector('.text').textContent })),
  );
  return {
    connected, prefilled, credentials, wrong, status, token, users, race, parseError, whoami,
    noteInfo, unnumbered, log,
  };
};
