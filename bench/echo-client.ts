// The load generator of the tcp-echo scenario: --connections connections, each sending --size
// bytes and waiting for them to come back, again and again for --seconds. Prints one JSON line:
// round trips per second (counted until the deadline), p50 and p99 of the round-trip time in ms,
// and the number of connection errors. Bounded: it exits --seconds + 10 s after it starts at the
// latest, whatever the server does.
// Usage: node --import tsx bench/echo-client.ts --port 18083 [--connections 50 --seconds 3 --size 64]
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    connections: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '3' },
    size: { type: 'string', default: '64' },
  },
});
const port = Number(values.port);
const connections = Number(values.connections);
const seconds = Number(values.seconds);
const size = Number(values.size);
if (!(port > 0 && connections > 0 && seconds > 0 && size > 0)) {
  console.error('usage: echo-client.ts --port N [--connections 50 --seconds 3 --size 64]');
  process.exit(2);
}

const payload = Buffer.alloc(size, 120);
const latencies: number[] = [];
let completed = 0;
let errors = 0;
let open = connections;
const startedAt = performance.now();
const deadline = startedAt + seconds * 1000;

function finish(code: number): never {
  const sorted = Float64Array.from(latencies).sort();
  const at = (q: number): number => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN);
  console.log(JSON.stringify({ roundTrips: completed, seconds, rps: completed / seconds, p50ms: at(0.5), p99ms: at(0.99), errors }));
  process.exit(code);
}

setTimeout(() => {
  console.error(`echo-client: still ${open} connections open ${seconds + 10}s after the start`);
  finish(1);
}, (seconds + 10) * 1000);

for (let i = 0; i < connections; i++) {
  const socket = connect({ port, host: values.host!, noDelay: true });
  let sentAt = 0;
  let pending = 0;
  socket.on('connect', () => {
    sentAt = performance.now();
    socket.write(payload);
  });
  socket.on('data', (chunk: Buffer) => {
    pending += chunk.length;
    while (pending >= size) {
      pending -= size;
      const now = performance.now();
      latencies.push(now - sentAt);
      if (now >= deadline) {
        socket.end();
        return;
      }
      completed++;
      sentAt = now;
      socket.write(payload);
    }
  });
  socket.on('error', () => errors++);
  socket.on('close', () => {
    if (--open === 0) finish(0);
  });
}
