import { connect, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { Worker } from 'node:worker_threads';

/** Listens with a backlog of 1 and, its thread blocked, never accepts; then tells the thread to close. */
const listener = `
const { workerData, parentPort } = require('node:worker_threads');
const server = require('node:net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
  parentPort.postMessage(server.address().port);
  Atomics.wait(workerData, 0, 0);
  server.close();
  process.exit(0);
});`;

/** Resolves with the socket once it connects, or undefined when it is still connecting after `waitMs`. */
function connected(port: number, waitMs: number, sockets: Socket[]): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    socket.on('error', () => undefined);
    const timer = setTimeout(() => resolve(undefined), waitMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
  });
}

/**
 * A loopback port where a connect never completes: a listener whose accept queue is full and that
 * never accepts, so the kernel drops further SYNs (a server that is overloaded or gone dark). For
 * connect timeouts without leaving loopback.
 */
export async function unacceptingPort(t: TestContext): Promise<number> {
  const release = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(listener, { eval: true, workerData: release });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const fillers: Socket[] = [];
  t.after(async () => {
    for (const socket of fillers) socket.destroy();
    Atomics.store(release, 0, 1);
    Atomics.notify(release, 0);
    await new Promise((resolve) => worker.once('exit', resolve));
  });
  // Connections that complete wait in the accept queue; the first that does not finds it full.
  for (let i = 0; i < 16; i++) if (!(await connected(port, 300, fillers))) return port;
  throw new Error('the accept queue never filled up');
}
