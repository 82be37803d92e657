import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { tcpRoundTrip } from './helpers/raw-http.js';
import { startLb } from './helpers/lb.js';
import { closedPort, startBackend, startTcpServer } from './helpers/servers.js';
import { CertificateFolder, certEntry } from './helpers/tls.js';
import { requireTool } from './helpers/tools.js';

const artifacts = new URL('../test-artifacts/', import.meta.url).pathname;


test('the dashboard shows traffic as it flows, turns a failing server red, and a refusing one amber before ejection', { timeout: 90_000 }, async (t) => {
  if (!requireTool(t, 'chromium', 'chromium')) return;
  const health = new Map<number, boolean>();
  const serve = () => startBackend(t, (req, res) => res.writeHead(req.url === '/health' && health.get(req.socket.localPort!) === false ? 500 : 200).end('ok'));
  const [a, b] = [await serve(), await serve()];
  const echo = await startTcpServer(t, (socket) => socket.pipe(socket));
  const refusing = await closedPort();
  if (!CertificateFolder.available(t)) return;
  const certificate = new CertificateFolder(t).certificate({ names: ['shop.example.com'] });
  const lb = await startLb(t, lbYaml(`
routers:
  shop: { entrypoint: web, match: { host: "shop.example.com" }, service: shop }
  db: { entrypoint: db, service: db }
services:
  shop: { healthCheck: { path: /health, interval: 300ms, timeout: 150ms, fall: 1 }, servers: [ { url: "${a.url}" }, { url: "${b.url}", weight: 2 } ] }
  db: { servers: [ { address: "127.0.0.1:${echo.port}" }, { address: "127.0.0.1:${refusing}" } ] }
`, { entrypoints: { db: 'protocol: tcp', websecure: `protocol: https, tls: { certificates: [ ${certEntry(certificate)} ] }` } }));
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

  // While traffic flows: a non-zero rate, latency quantiles, 2xx answers, an open connection.
  const text = (sel: string) => page.evaluate((s) => document.querySelector(s)?.textContent ?? '', sel);
  await page.waitForFunction(() => /requests\/s [1-9]/.test(document.querySelector('[data-service="shop"] [data-rate="requests"]')?.textContent ?? ''), undefined, { timeout: 15_000 });
  await page.waitForFunction(() => /2xx [1-9]/.test(document.querySelector('[data-service="shop"] [data-figure="2xx"]')?.textContent ?? ''), undefined, { timeout: 10_000 });
  assert.match(await text('[data-service="shop"] [data-figure="p50"]'), /^p50 \d+(\.\d+)? ms$/);
  assert.match(await text('[data-service="shop"] [data-figure="p99"]'), /^p99 \d+(\.\d+)? ms$/);
  await page.waitForFunction(() => Number(document.querySelector('[data-entrypoint="web"] [data-open]')?.getAttribute('data-open')) >= 1, undefined, { timeout: 10_000 });

  // A TCP server that refuses: each connection to it is retried on the other, and its failures
  // show (amber, a count, the last one) well before five in a row eject it.
  for (let i = 0; i < 4; i++) await tcpRoundTrip(lb.port('db'));
  const dead = page.locator(`[data-service="db"] [data-server="127.0.0.1:${refusing}"]`);
  await dead.and(page.locator('[data-state="failing"]')).waitFor({ timeout: 10_000 });
  assert.ok(Number(await dead.getAttribute('data-failures')) >= 1);
  assert.match((await dead.textContent()) ?? '', /failure\(s\) in a row · last failure connect_refused/);
  // The certificates, with their expiry: this one was made for two days, so it is due soon.
  const certRow = page.locator('[data-certificate="shop.example.com"]');
  await certRow.waitFor({ timeout: 5_000 });
  assert.match((await certRow.textContent()) ?? '', /shop\.example\.comwebsecurefileexpires in (4[0-9]) h \(\d{4}-\d\d-\d\d\)/);
  assert.equal(await certRow.locator('.soon').count(), 1);
  const deadColour = await page.evaluate((sel) => getComputedStyle(document.querySelector(`${sel} .dot`)!).backgroundColor, `[data-service="db"] [data-server="127.0.0.1:${refusing}"]`);
  assert.equal(deadColour, 'rgb(188, 76, 0)');

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
