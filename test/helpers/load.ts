import { Pool } from 'undici';

export interface LoadResult {
  requests: number;
  ok: number;
  /** Failure description → count: a status other than 2xx, or a socket error. */
  failures: Map<string, number>;
}

export interface LoadOptions {
  url: string;
  host: string;
  connections: number;
  maxMs: number;
  maxRequests?: number;
  withPosts?: boolean;
  signal?: AbortSignal;
  /** Called with the body of each 2xx answer (which server answered, when the server says so). */
  onBody?: (body: string) => void;
}

export interface RunningLoad {
  /** What the load has done so far (the counts go on changing until `done`). */
  progress: LoadResult;
  /** The number (1, 2, ...: `progress.requests` when it was sent) of the oldest request still waiting for its answer. */
  oldestPending(): number | undefined;
  /** Resolves once every worker has stopped. */
  done: Promise<LoadResult>;
}

/**
 * Drives a bounded load at lb: `connections` workers, each sending requests one after another
 * until `signal` aborts, `maxMs` passes or `maxRequests` is reached. Every third request is a
 * small POST when `withPosts` is set.
 */
export function startLoad(options: LoadOptions): RunningLoad {
  const pool = new Pool(options.url, { connections: options.connections, pipelining: 1 });
  const deadline = Date.now() + options.maxMs;
  const limit = options.maxRequests ?? 200_000;
  const result: LoadResult = { requests: 0, ok: 0, failures: new Map() };
  const pending = new Set<number>();
  const fail = (what: string) => result.failures.set(what, (result.failures.get(what) ?? 0) + 1);
  const worker = async () => {
    while (!options.signal?.aborted && Date.now() < deadline && result.requests < limit) {
      const post = options.withPosts === true && result.requests % 3 === 0;
      const number = ++result.requests;
      pending.add(number);
      try {
        const res = await pool.request({ path: '/', method: post ? 'POST' : 'GET', headers: { host: options.host }, body: post ? 'a small form=1' : null });
        const body = await res.body.text();
        if (res.statusCode >= 200 && res.statusCode < 300) {
          result.ok++;
          options.onBody?.(body);
        } else fail(`${post ? 'POST' : 'GET'} ${res.statusCode}`);
      } catch (err) {
        fail(`${post ? 'POST' : 'GET'} ${(err as { code?: string }).code ?? (err as Error).message}`);
      } finally {
        pending.delete(number);
      }
    }
  };
  const done = (async () => {
    await Promise.all(Array.from({ length: options.connections }, worker));
    await pool.close();
    return result;
  })();
  // A Set iterates in insertion order, and numbers are inserted in increasing order.
  const oldestPending = () => pending.values().next().value;
  return { progress: result, oldestPending, done };
}

/** startLoad(options), awaited: the outcome once the load has stopped. */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  return startLoad(options).done;
}
