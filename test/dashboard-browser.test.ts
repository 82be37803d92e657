import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { startBackend } from './helpers/servers.js';
import { requireTool } from './helpers/tools.js';

const artifacts = new URL('../test-artifacts/', import.meta.url).pathname;

test('the dashboard shows services and servers, and turns a failing server red', { timeout: 90_000 }, async (t) => {
  if (!requireTool(t, 'chromium', 'chromium')) return;
  const health = new Map<number, boolean>();
  const serve = () => startBackend(t, (req, res) => res.writeHead(req.url === '/health' && health.get(req.socket.localPort!) === false ? 500 : 200).end('ok'));
  const [a, b] = [await serve(), await serve()];
  const lb = await startLb(t, lbYaml(`
routers: { shop: { entrypoint: web, match: { host: "shop.example.com" }, service: shop } }
services:
  shop: { healthCheck: { path: /health, interval: 300ms, timeout: 150ms, fall: 1 }, servers: [ { url: "${a.url}" }, { url: "${b.url}", weight: 2 } ] }
`));
  // Bounded background traffic so that the rate chart has something to draw.
  let traffic = true;
  const load = (async () => {
    for (let i = 0; i < 5_000 && traffic; i++) {
      await (await request(lb.url('web'), { headers: { host: i % 10 ? 'shop.example.com' : 'nowhere.example.com' } })).body.text();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })().catch(() => undefined); // lb may stop under the last request when the test fails early
  t.after(async () => {
    traffic = false;
    await load;
  });

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
  await page.goto(`${lb.url('admin')}/`);
  const selector = (port: number) => `[data-service="shop"] [data-server="127.0.0.1:${port}"]`;
  const server = (port: number) => page.locator(selector(port));
  // Found and read in one step in the page: render() replaces the list on every update, and a
  // node detached between a locator's lookup and the read has no computed style ('').
  const dotColour = (port: number) => page.evaluate((sel) => getComputedStyle(document.querySelector(`${sel} .dot`)!).backgroundColor, selector(port));
  await server(a.port).and(page.locator('[data-state="up"]')).waitFor({ timeout: 10_000 });
  await server(b.port).and(page.locator('[data-state="up"]')).waitFor({ timeout: 10_000 });
  assert.match((await page.locator('[data-service="shop"] h2').textContent()) ?? '', /shop/);
  assert.equal(await dotColour(a.port), 'rgb(26, 127, 55)');

  health.set(b.port, false);
  const started = Date.now();
  await server(b.port).and(page.locator('[data-state="down"]')).waitFor({ timeout: 5_000 });
  t.diagnostic(`the failing server turned red on the dashboard ${Date.now() - started} ms after its health endpoint failed`);
  assert.equal(await dotColour(b.port), 'rgb(207, 34, 46)');
  // A fixed wait on purpose: nothing is asserted after it; a few stats polls give the screenshot chart lines.
  await page.waitForTimeout(4_500);
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: `${artifacts}dashboard.png`, fullPage: true });
  t.diagnostic(`screenshot: ${artifacts}dashboard.png`);
  traffic = false;
  await load;
});
