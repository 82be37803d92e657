import { Pool } from 'undici';

export interface LoadResult {
  requests: number;
  ok: number;
  /** Failure description → count: a status other than 2xx, or a socket error. */
  failures: Map<string, number>;
}

/**
 * Drives a bounded load at lb: `connections` workers, each sending requests one after another
 * until `signal` aborts, `maxMs` passes or `maxRequests` is reached. Every third request is a
 * small POST when `withPosts` is set.
 */
export async function runLoad(options: { url: string; host: string; connections: number; maxMs: number; maxRequests?: number; withPosts?: boolean; signal?: AbortSignal }): Promise<LoadResult> {
  const pool = new Pool(options.url, { connections: options.connections, pipelining: 1 });
  const deadline = Date.now() + options.maxMs;
  const limit = options.maxRequests ?? 200_000;
  const result: LoadResult = { requests: 0, ok: 0, failures: new Map() };
  const fail = (what: string) => result.failures.set(what, (result.failures.get(what) ?? 0) + 1);
  const worker = async () => {
    while (!options.signal?.aborted && Date.now() < deadline && result.requests < limit) {
      const post = options.withPosts === true && result.requests % 3 === 0;
      result.requests++;
      try {
        const res = await pool.request({ path: '/', method: post ? 'POST' : 'GET', headers: { host: options.host }, body: post ? 'a small form=1' : null });
        await res.body.text();
        if (res.statusCode >= 200 && res.statusCode < 300) result.ok++;
        else fail(`${post ? 'POST' : 'GET'} ${res.statusCode}`);
      } catch (err) {
        fail(`${post ? 'POST' : 'GET'} ${(err as { code?: string }).code ?? (err as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: options.connections }, worker));
  await pool.close();
  return result;
}
