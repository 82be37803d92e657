// A service's retryBudget changed by a reload applies to the requests after it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { parseConfig } from '../src/config/load.js';
import { startLb } from './helpers/lb.js';
import { closedPort, namedBackend } from './helpers/servers.js';
import { serviceConfig } from './helpers/service-config.js';

/** Half of the picks go to a server that refuses connections; only the retry budget decides whether they are retried. */
function config(deadUrl: string, liveUrl: string, budgetPercent: number): string {
  return serviceConfig(`{ retries: 1, retryBudget: ${budgetPercent}, outlierDetection: { consecutiveFailures: 1000 }, servers: [ { url: "${deadUrl}" }, { url: "${liveUrl}" } ] }`);
}

async function failures(url: string, requests: number): Promise<number> {
  let failed = 0;
  for (let i = 0; i < requests; i++) {
    const res = await request(url);
    await res.body.dump();
    if (res.statusCode !== 200) failed++;
  }
  return failed;
}

test('a retryBudget raised by a reload funds the retries that the old budget refused', async (t) => {
  const live = await namedBackend(t, 'live');
  const deadUrl = `http://127.0.0.1:${await closedPort()}`;
  const lb = await startLb(t, config(deadUrl, live.url, 0));
  // 0 %: one starting token and one a second, so most refused picks are not retried.
  assert.ok((await failures(lb.url('web'), 40)) > 0, 'with retryBudget 0 some refused connections reach the client as 502');

  await lb.reload(parseConfig(config(deadUrl, live.url, 100), 'test.yaml'));
  // 100 %: every request earns the retry it may need.
  assert.equal(await failures(lb.url('web'), 40), 0, 'after the reload to retryBudget 100 every refused connection is retried');
});
