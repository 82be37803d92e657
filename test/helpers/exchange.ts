import { request, type IncomingHttpHeaders } from 'node:http';

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body as it came on the wire (still compressed, if it was). */
  body: Buffer;
}

export interface ExchangeOptions {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  /** The loopback address to connect from (127.0.0.2, ...): another client address for lb. */
  localAddress?: string;
  timeoutMs?: number;
}

/** One request on a connection of its own (closed after it); the whole body, as bytes. */
export function exchange(port: number, options: ExchangeOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        port,
        host: '127.0.0.1',
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        headers: { connection: 'close', ...options.headers },
        agent: false,
        timeout: options.timeoutMs ?? 10_000,
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** How many answers had each status, as { 200: n, 429: m }. */
export function statusCounts(answers: readonly Answer[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const { status } of answers) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}
