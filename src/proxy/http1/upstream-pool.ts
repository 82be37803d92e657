import { UpstreamConnection, type UpstreamHandler, type UpstreamOrigin, type UpstreamRequest } from './upstream-connection.js';

/** How long an idle keep-alive connection to a server may be reused (see UpstreamPool). */
export const UPSTREAM_KEEP_ALIVE_MS = 4_000;

/**
 * Keep-alive connections to one backend server: a request takes the most recently used idle
 * connection (so that the others age out), or opens a new one; a request that must not be lost
 * takes it only while it is fresh. Idle connections close after `keepAliveMs`, under the 5 s that
 * Node and nginx backends commonly keep them, to avoid the race where lb reuses a socket that the
 * server is closing.
 */
export class UpstreamPool {
  private readonly idle: UpstreamConnection[] = [];
  private readonly open = new Set<UpstreamConnection>();
  private readonly sweep: NodeJS.Timeout;
  private onEmpty: (() => void) | undefined;
  private closing = false;

  constructor(
    private readonly origin: UpstreamOrigin,
    private readonly connectMs: number,
    private readonly keepAliveMs = UPSTREAM_KEEP_ALIVE_MS,
  ) {
    this.sweep = setInterval(() => this.closeStale(), Math.min(1_000, keepAliveMs)).unref();
  }

  dispatch(request: UpstreamRequest, handler: UpstreamHandler): void {
    let conn: UpstreamConnection | undefined;
    if (request.freshOnly) conn = this.takeFresh();
    else if (!request.reset) while ((conn = this.idle.pop()) && !conn.usable);
    if (!conn) {
      conn = new UpstreamConnection(this.origin, this.connectMs, (c) => this.reusable(c), (c) => this.gone(c));
      this.open.add(conn);
    }
    const chosen = conn;
    handler.onConnect((err) => chosen.abort(err));
    // The handler may abort at once (its client already left).
    if (chosen.usable) chosen.send(request, handler);
  }

  /** Stops reuse: idle connections close now, busy ones after their request; resolves when none is left. */
  close(): Promise<void> {
    this.closing = true;
    clearInterval(this.sweep);
    for (const conn of this.idle.splice(0)) conn.destroy();
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.onEmpty = resolve));
  }

  destroy(): Promise<void> {
    const closed = this.close();
    for (const conn of this.open) conn.destroy();
    return closed;
  }

  /** The most recently used idle connection if it is fresh: the others have been idle longer. */
  private takeFresh(): UpstreamConnection | undefined {
    while (this.idle.length > 0 && !this.idle.at(-1)!.usable) this.idle.pop();
    return this.idle.at(-1)?.fresh ? this.idle.pop() : undefined;
  }

  private reusable(conn: UpstreamConnection): void {
    if (this.closing) conn.destroy();
    else this.idle.push(conn);
  }

  private gone(conn: UpstreamConnection): void {
    this.open.delete(conn);
    const at = this.idle.indexOf(conn);
    if (at >= 0) this.idle.splice(at, 1);
    if (this.open.size === 0) this.onEmpty?.();
  }

  private closeStale(): void {
    const cutoff = performance.now() - this.keepAliveMs;
    while (this.idle.length > 0 && this.idle[0]!.lastUsed < cutoff) this.idle.shift()!.destroy();
  }
}
