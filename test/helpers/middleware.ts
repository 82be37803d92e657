import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { lbYaml } from './config.js';
import { startLb } from './lb.js';
import { rawRequest } from './raw-http.js';
import { startBackend, type TestBackend } from './servers.js';

/** What the echo backend saw of a request. */
export interface Echoed {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A backend that answers every request with what it received (JSON), and `Server: echo`, `X-Backend: 1`. */
export function echoBackend(t: TestContext): Promise<TestBackend> {
  return startBackend(t, (req, res) => {
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      res.setHeader('Server', 'echo');
      res.setHeader('X-Backend', '1');
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body } satisfies Echoed));
    });
  });
}

export interface RawResponse {
  status: number;
  /** Lower-case names; the last of repeated headers. */
  headers: Record<string, string>;
  body: string;
}

/** The two HTTP/1.1 request paths: lb's fast path, and Node's parser (which a request with an Upgrade header but no `Connection: upgrade` is left to). */
export const requestPaths = ['fast', 'node'] as const;
export type RequestPath = (typeof requestPaths)[number];

/**
 * One request on its own connection, on the chosen path; `headers` are extra header lines
 * (`Name: value`), `body` is sent with its Content-Length.
 */
export async function send(port: number, path: RequestPath, target: string, options: { method?: string; headers?: string[]; body?: string; host?: string; raw?: string } = {}): Promise<RawResponse> {
  const lines = [`${options.method ?? 'GET'} ${target} HTTP/1.1`, `Host: ${options.host ?? 'app.test'}`, 'Connection: close', ...(path === 'node' ? ['Upgrade: not-a-protocol'] : []), ...(options.headers ?? [])];
  if (options.body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(options.body)}`);
  const { text } = await rawRequest(port, options.raw ?? `${lines.join('\r\n')}\r\n\r\n${options.body ?? ''}`, 5_000);
  return parseResponse(text);
}

export function parseResponse(text: string): RawResponse {
  const split = text.indexOf('\r\n\r\n');
  if (split < 0) throw new Error(`no response head in ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine, ...headerLines] = text.slice(0, split).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine!.split(' ')[1]), headers, body: text.slice(split + 4) };
}

/** The echo backend's view of the request behind a response. */
export function echoed(response: RawResponse): Echoed {
  return JSON.parse(response.body) as Echoed;
}

/** An `Authorization: Basic` line for `send`. */
export const basicAuthorization = (user: string, password: string) => `Authorization: Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** An htpasswd file with one bcrypt user, written by Debian's htpasswd in a folder of its own (check requireTool first). */
export function htpasswdFile(prefix: string, user: string, password: string): string {
  const file = join(mkdtempSync(join(tmpdir(), prefix)), 'htpasswd');
  execFileSync('htpasswd', ['-c', '-b', '-B', file, user, password], { stdio: 'pipe' });
  return file;
}

/** Routes every request of entrypoint `web` through basicAuth on `usersFile` to `backendUrl`. */
export const usersFileRouting = (usersFile: string, backendUrl: string) => `
middlewares: { auth: { basicAuth: { usersFile: "${usersFile}" } } }
routers: { r: { entrypoint: web, service: svc, middlewares: [auth] } }
services: { svc: { servers: [ { url: "${backendUrl}" } ] } }
`;

/** An lb whose one router compresses everything the server at `backendUrl` answers (`compress` settings as given). */
export function startCompressingLb(t: TestContext, backendUrl: string, settings = '{ encodings: [br, gzip] }'): ReturnType<typeof startLb> {
  return startLb(
    t,
    lbYaml(`
middlewares:
  squeeze: { compress: ${settings} }
routers: { app: { entrypoint: web, middlewares: [squeeze], service: svc } }
services: { svc: { servers: [ { url: "${backendUrl}" } ] } }
`),
  );
}
