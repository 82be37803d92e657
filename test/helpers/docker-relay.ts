import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/**
 * An HTTP relay on a unix socket between lb and the Docker daemon, standing in for a socket proxy:
 * it can be cut and restored (the daemon itself is never touched), can refuse paths with 403,
 * and records every request lb makes. Anything but GET is refused.
 */
export class DockerRelay {
  readonly socketPath: string;
  /** Every request lb sent, in order: method and path (without the API version). */
  readonly requests: Array<{ method: string; path: string }> = [];
  private server: Server | undefined;
  forbidden: RegExp | undefined;

  constructor(t: TestContext, private readonly daemonSocket = '/var/run/docker.sock') {
    const dir = mkdtempSync(join(tmpdir(), 'lb-relay-'));
    this.socketPath = join(dir, 'docker.sock');
    t.after(() => {
      this.cut();
      rmSync(dir, { recursive: true, force: true });
    });
  }

  get endpoint(): string {
    return `unix://${this.socketPath}`;
  }

  async open(): Promise<void> {
    if (existsSync(this.socketPath)) rmSync(this.socketPath);
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').replace(/^\/v[\d.]+/, '');
      this.requests.push({ method: req.method ?? '', path });
      if (req.method !== 'GET' || (this.forbidden && this.forbidden.test(path))) {
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: 'forbidden by the test relay' }));
        return;
      }
      const upstream = request({ socketPath: this.daemonSocket, path: req.url, method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        // At once, as the daemon does: an event stream may send no byte for a long time.
        res.flushHeaders();
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      res.on('close', () => upstream.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.socketPath, resolve));
  }

  /** Drops every connection and stops listening, as a socket proxy that goes away. */
  cut(): void {
    this.server?.closeAllConnections();
    this.server?.close();
    this.server = undefined;
  }
}
