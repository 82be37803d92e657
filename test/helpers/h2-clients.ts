// Real HTTP/2 clients for tests: curl, nghttp and h2load (Debian's curl and nghttp2-client) run
// with a time limit, and Node's own http2 client.
import { execFile } from 'node:child_process';
import { connect, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { TestContext } from 'node:test';
import { requireTool } from './tools.js';

export interface ToolRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end, killed after `ms`; its output as latin1 (bytes kept, binary bodies too). */
export function runTool(command: string, args: readonly string[], ms = 20_000): Promise<ToolRun> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: ms, maxBuffer: 64 * 1024 * 1024, encoding: 'latin1' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Whether curl, nghttp and h2load are there (skips the test on a laptop without them; fails in CI). */
export function http2ToolsAvailable(t: TestContext): boolean {
  return requireTool(t, 'curl', 'curl') && requireTool(t, 'nghttp', 'nghttp2-client') && requireTool(t, 'h2load', 'nghttp2-client');
}

export interface H2Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** An HTTP/2 session from Node's client (TLS to app.test without verification, or h2c), closed when the test ends. */
export function h2Session(t: TestContext, origin: string): ClientHttp2Session {
  const session = connect(origin, { servername: 'app.test', rejectUnauthorized: false });
  session.on('error', () => undefined);
  t.after(() => session.destroy());
  return session;
}

/** One request on `session`; `body`: written and ended (a stream of unknown length: no content-length unless given). */
export function h2Request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: Buffer | Buffer[]): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let responseHeaders: IncomingHttpHeaders = {};
    stream.on('response', (h) => (responseHeaders = h));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve({ status: Number(responseHeaders[':status']), headers: responseHeaders, body: Buffer.concat(chunks) }));
    stream.on('error', reject);
    if (body !== undefined) {
      for (const chunk of Array.isArray(body) ? body : [body]) stream.write(chunk);
      stream.end();
    }
  });
}
