// The accounting of rateLimit and inFlightReq under workers: the primary's LimitAuthority and
// workers' LeasedLimits, joined by an asynchronous channel as cluster IPC joins them (messages
// arrive in order, later). The whole lb admits exactly the limit, however requests spread.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { LimitAuthority, LeasedLimits } from '../src/cluster/limits.js';
import type { LimitPool, TakeResult } from '../src/middleware/limits.js';

function cluster(workers: number): { pools: (id: string, capacity: number, perMs: number) => LimitPool[]; authority: LimitAuthority } {
  const leased: LeasedLimits[] = [];
  const authority = new LimitAuthority(
    (worker, message) =>
      setImmediate(() => {
        if (message.type === 'lb:limit-grant') leased[worker]!.granted(message);
        else leased[worker]!.recall(message);
      }),
    () => workers,
  );
  for (let id = 0; id < workers; id++) {
    leased.push(
      new LeasedLimits((message) =>
        setImmediate(() => {
          if (message.type === 'lb:limit-take') authority.take(id, message);
          else authority.giveBack(id, message);
        }),
      ),
    );
  }
  return { authority, pools: (id, capacity, perMs) => leased.map((each) => each.pool(id, { capacity, perMs })) };
}

/** A deterministic spread of requests over the workers, uneven on purpose. */
function spread(i: number, workers: number): number {
  return (i * 7 + (i >> 2)) % workers;
}

test('a rate limit leased to three workers admits exactly its burst, sequential or concurrent', async () => {
  const { pools } = cluster(3);
  const sequential = pools('seq', 25, 0.000_001);
  let admitted = 0;
  for (let i = 0; i < 100; i++) if ((await sequential[spread(i, 3)]!.take('ip:192.0.2.1')) === true) admitted++;
  assert.equal(admitted, 25);

  const concurrent = pools('conc', 40, 0.000_001);
  const results: TakeResult[] = await Promise.all(Array.from({ length: 150 }, (_, i) => concurrent[spread(i, 3)]!.take('ip:192.0.2.1')));
  assert.equal(results.filter((r) => r === true).length, 40);
  // Refusals say when a token is due: at 0.001 a second, in about 1000 s.
  const waits = results.filter((r): r is number => r !== true);
  assert.ok(waits.every((ms) => ms > 900_000 && ms <= 1_000_000), `waits ${waits.slice(0, 3)}`);
});

test('sources are counted apart', async () => {
  const { pools } = cluster(2);
  const pool = pools('sources', 3, 0.000_001);
  let a = 0;
  let b = 0;
  for (let i = 0; i < 20; i++) {
    if ((await pool[i % 2]!.take('h:key-a')) === true) a++;
    if ((await pool[(i + 1) % 2]!.take('h:key-b')) === true) b++;
  }
  assert.deepEqual([a, b], [3, 3]);
});

test('an in-flight limit across workers holds at most its amount, and frees slots as requests end', async () => {
  const { pools, authority } = cluster(3);
  const pool = pools('inflight', 5, 0);
  const held: Array<{ worker: number }> = [];
  let refused = 0;
  for (let i = 0; i < 12; i++) {
    const worker = spread(i, 3);
    if ((await pool[worker]!.take('ip:198.51.100.7')) === true) held.push({ worker });
    else refused++;
  }
  assert.equal(held.length, 5);
  assert.equal(refused, 7);
  // Two requests end, on whichever worker held them: two more pass, on any worker.
  for (const { worker } of held.splice(0, 2)) pool[worker]!.give('ip:198.51.100.7');
  let again = 0;
  for (let i = 0; i < 6; i++) {
    const worker = (i + 1) % 3;
    if ((await pool[worker]!.take('ip:198.51.100.7')) === true) {
      again++;
      held.push({ worker });
    }
  }
  assert.equal(again, 2);
  // A worker that exits gives back the slots of its requests, which ended with it.
  const gone = held[0]!.worker;
  authority.workerGone(gone);
  await tick();
  const other = (gone + 1) % 3;
  let afterExit = 0;
  for (let i = 0; i < 6; i++) if ((await pool[other]!.take('ip:198.51.100.7')) === true) afterExit++;
  assert.equal(afterExit, held.filter(({ worker }) => worker === gone).length);
});
