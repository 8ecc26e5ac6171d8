// Measures every table of the built documentation (tests/interop/test_docs_layout.py).
// args: the base URL of the HTML build, then the pages to visit (relative to it).
// Returns {page: [tables wider than their text column]}; an empty list per page
// means every table fits.
async (page, { args }) => {
  const [base, ...pages] = args;
  const result = {};
  for (const name of pages) {
    const response = await page.goto(base + name, { waitUntil: 'load' });
    if (response && !response.ok()) throw new Error(`${name}: HTTP ${response.status()}`);
    result[name] = await page.evaluate(() =>
      [...document.querySelectorAll('article table')]
        .map((table) => {
          const wrapper = table.closest('.table-wrapper') || table.parentElement;
          return {
            header: [...table.querySelectorAll('th')].map((th) => th.textContent.trim()).join(' | '),
            tableWidth: Math.round(table.getBoundingClientRect().width),
            wrapperWidth: wrapper.clientWidth,
            scrollWidth: wrapper.scrollWidth,
            tableRight: Math.round(table.getBoundingClientRect().right),
            windowWidth: window.innerWidth,
          };
        })
        // Too wide: its wrapper scrolls (a column is cut off), or it leaves the window.
        .filter((t) => t.scrollWidth > t.wrapperWidth || t.tableRight > t.windowWidth),
    );
  }
  return result;
};
