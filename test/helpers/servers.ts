import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { TestContext } from 'node:test';

/** Listens on a loopback port; at the end of the test, every socket is destroyed and it closes. */
async function listenUntilTestEnds(t: TestContext, server: NetServer | Server): Promise<number> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return (server.address() as AddressInfo).port;
}

export interface TestBackend {
  server: Server;
  port: number;
  url: string;
  /** Open sockets from lb to this backend. */
  connections(): Promise<number>;
}

/** An HTTP backend on loopback, closed when the test ends. */
export async function startBackend(t: TestContext, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestBackend> {
  const server = createServer({ keepAliveTimeout: 5_000 }, handler);
  const port = await listenUntilTestEnds(t, server);
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    connections: () => new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n)))),
  };
}

/** A backend that answers with its own name, to see where requests went. */
export function namedBackend(t: TestContext, name: string): Promise<TestBackend> {
  return startBackend(t, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'text/plain');
      res.end(name);
    });
  });
}

/** A backend that answers with the length of the body it read, and remembers each request. */
export async function recordingBackend(t: TestContext): Promise<TestBackend & { seen: Array<{ method: string; url: string; body: string; host: string }> }> {
  const seen: Array<{ method: string; url: string; body: string; host: string }> = [];
  const backend = await startBackend(t, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ method: req.method!, url: req.url!, body, host: req.headers.host! });
      res.end(String(body.length));
    });
  });
  return { ...backend, seen };
}

/** A raw TCP server on loopback, closed when the test ends. */
export async function startTcpServer(t: TestContext, onSocket: (socket: Socket) => void, options: { allowHalfOpen?: boolean } = {}): Promise<{ server: NetServer; port: number }> {
  const server = createNetServer({ allowHalfOpen: options.allowHalfOpen ?? false }, onSocket);
  return { server, port: await listenUntilTestEnds(t, server) };
}

/** True when `port` can be listened on at 127.0.0.1 now (it is released again at once). */
async function isFree(port: number): Promise<boolean> {
  const server = createNetServer();
  const bound = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (bound) await new Promise((resolve) => server.close(resolve));
  return bound;
}

/** The lowest port the kernel hands out for `listen(0)` (Linux; 32768 where it cannot be read). */
function ephemeralLow(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32_768;
  } catch {
    return 32_768;
  }
}

const handedOut = new Set<number>();

/**
 * A loopback port with nothing listening on it: connecting is refused, and a test may listen on
 * it itself. Picked at random between 10000 and the kernel's ephemeral range, and checked free by
 * binding it once: `listen(0)` never lands there, so the backends that tests running at the same
 * time start cannot take it (a port merely bound and released in the ephemeral range could be
 * handed to one of them, and a "dead" server then answered).
 */
export async function closedPort(): Promise<number> {
  const low = ephemeralLow();
  for (let tries = 0; low - 10_000 >= 1_000 && tries < 100; tries++) {
    const port = 10_000 + Math.floor(Math.random() * (low - 10_000));
    if (handedOut.has(port) || !(await isFree(port))) continue;
    handedOut.add(port);
    return port;
  }
  // No room below the ephemeral range: a port bound, then released.
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A backend that holds requests to /hold (their responses, in `held`, for the test to end) and answers others at once. */
export async function holdingBackend(t: TestContext): Promise<TestBackend & { held: ServerResponse[] }> {
  const held: ServerResponse[] = [];
  const backend = await startBackend(t, (req, res) => {
    if (req.url === '/hold') held.push(res);
    else res.end('quick');
  });
  t.after(() => held.forEach((res) => res.destroy()));
  return Object.assign(backend, { held });
}
