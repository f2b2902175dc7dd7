// The bytes a first visit to one page puts on the wire for its script, WASM and
// stylesheet, as Chromium fetched them (brotli; no cache): the main bundle plus every
// chunk of the split WASM the page loaded before it was hydrated. Used by
// scripts/bundle-size.
//   node wire.mjs <base URL> <path> [<username> <password>]
// Prints one JSON line: {page, requests, js, wasm_main, wasm_chunks, chunks, css}.
import { chromium } from '@playwright/test';

const [base, path, username, password] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run'],
});
try {
  const context = await browser.newContext({ baseURL: base });
  if (username) {
    const login = await context.request.post('/api/login', { form: { username, password } });
    if (!login.ok()) throw new Error(`login failed: ${login.status()}`);
  }
  const page = await context.newPage();
  const seen = [];
  page.on('requestfinished', (request) => seen.push(request));
  const response = await page.goto(path);
  if (!response || !response.ok()) throw new Error(`${path}: ${response && response.status()}`);
  await page.locator('body[data-hydrated="true"]').waitFor({ timeout: 60_000 });
  const totals = { page: path, requests: 0, js: 0, wasm_main: 0, wasm_chunks: 0, chunks: 0, css: 0 };
  for (const request of seen) {
    const url = new URL(request.url());
    if (!url.pathname.startsWith('/pkg/')) continue;
    const { responseBodySize } = await request.sizes();
    const name = url.pathname.split('/').pop();
    totals.requests += 1;
    if (name.endsWith('.css')) totals.css += responseBodySize;
    else if (name.endsWith('.js')) totals.js += responseBodySize;
    else if (name === 'dial.wasm') totals.wasm_main += responseBodySize;
    else if (name.endsWith('.wasm')) {
      totals.wasm_chunks += responseBodySize;
      totals.chunks += 1;
    }
  }
  console.log(JSON.stringify(totals));
} finally {
  await browser.close();
}
