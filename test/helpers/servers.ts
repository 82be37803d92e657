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

/** A raw TCP server on loopback, closed when the test ends. */
export async function startTcpServer(t: TestContext, onSocket: (socket: Socket) => void, options: { allowHalfOpen?: boolean } = {}): Promise<{ server: NetServer; port: number }> {
  const server = createNetServer({ allowHalfOpen: options.allowHalfOpen ?? false }, onSocket);
  return { server, port: await listenUntilTestEnds(t, server) };
}

/** A loopback port with nothing listening on it (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
