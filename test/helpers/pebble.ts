// A real ACME server for tests: Debian's pebble, with pebble-challtestsrv as its DNS (every name
// resolves to 127.0.0.1), on free loopback ports, with its own TLS certificate made by openssl.
// Its validation connects for real to `httpPort` (http-01) and `tlsPort` (tls-alpn-01).
import type { X509Certificate } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Agent, request } from 'undici';
import { requireTool } from './tools.js';
import { closedPort } from './servers.js';
import { eventually } from './wait.js';

export interface PebbleOptions {
  /** Where lb answers http-01. */
  httpPort: number;
  /** Where lb answers tls-alpn-01 (default: a port nobody listens on). */
  tlsPort?: number;
  /** Lifetime of issued certificates, in seconds (pebble's default is years). */
  validitySeconds?: number;
}

export interface Pebble {
  /** The ACME directory URL. */
  readonly directory: string;
  /** pebble's own TLS certificate, for `caFile`. */
  readonly caFile: string;
  /** Starts pebble (again) on the same ports; the DNS stand-in keeps running. */
  start(): Promise<void>;
  /** Stops pebble (only). */
  stop(): Promise<void>;
  /** The root that issued certificates chain to (it changes at every start). */
  root(): Promise<string>;
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = once(child, 'exit').then(() => undefined);
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  return exited.finally(() => clearTimeout(timer));
}

/** GET over TLS that trusts `ca` (pebble's own certificate). */
async function getText(url: string, dispatcher: Agent): Promise<{ status: number; body: string }> {
  const res = await request(url, { dispatcher, signal: AbortSignal.timeout(3_000) });
  return { status: res.statusCode, body: await res.body.text() };
}

/**
 * Prepares pebble and its DNS stand-in; `startNow: false` leaves pebble down (its directory
 * refuses connections) until `start()`. Both are stopped when the test ends, pass or fail.
 */
export async function startPebble(t: TestContext, options: PebbleOptions, startNow = true): Promise<Pebble | undefined> {
  if (!requireTool(t, 'pebble', 'pebble') || !requireTool(t, 'openssl', 'openssl')) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'lb-pebble-'));
  const caFile = join(dir, 'cert.pem');
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', caFile, '-days', '2', '-subj', '/CN=pebble test', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr}`);
  const [listen, management, dns, dnsManagement] = [await closedPort(), await closedPort(), await closedPort(), await closedPort()];
  const tlsPort = options.tlsPort ?? (await closedPort());
  writeFileSync(join(dir, 'pebble.json'), JSON.stringify({
    pebble: {
      listenAddress: `127.0.0.1:${listen}`,
      managementListenAddress: `127.0.0.1:${management}`,
      certificate: caFile,
      privateKey: join(dir, 'key.pem'),
      httpPort: options.httpPort,
      tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
      ...(options.validitySeconds ? { certificateValidityPeriod: options.validitySeconds } : {}),
    },
  }));
  const logs: string[] = [];
  const keepLog = (child: ChildProcess) => {
    child.stdout?.setEncoding('utf8').on('data', (text: string) => logs.push(text));
    child.stderr?.setEncoding('utf8').on('data', (text: string) => logs.push(text));
  };
  const dnsServer = spawn('pebble-challtestsrv', ['-defaultIPv4', '127.0.0.1', '-defaultIPv6', '', '-dns01', `127.0.0.1:${dns}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${dnsManagement}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  keepLog(dnsServer);
  let pebble: ChildProcess | undefined;
  t.after(async () => {
    await Promise.all([pebble && stopProcess(pebble), stopProcess(dnsServer)]);
    if (process.env.LB_TEST_LOG) console.log(logs.join(''));
  });
  const trusting = new Agent({ connect: { ca: readFileSync(caFile, 'utf8') } });
  t.after(() => trusting.close());
  const directory = `https://127.0.0.1:${listen}/dir`;
  const handle: Pebble = {
    directory,
    caFile,
    async start() {
      pebble = spawn('pebble', ['-config', join(dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${dns}`], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_AUTHZREUSE: '0', PEBBLE_WFE_NONCEREJECT: '0' },
      });
      keepLog(pebble);
      await eventually(async () => (await getText(directory, trusting)).status === 200, `pebble's directory at ${directory} (log: ${logs.join('').slice(-500)})`, 15_000);
    },
    async stop() {
      if (pebble) await stopProcess(pebble);
    },
    async root() {
      return (await getText(`https://127.0.0.1:${management}/roots/0`, trusting)).body;
    },
  };
  if (startNow) await handle.start();
  return handle;
}

export interface AcmeLbOptions {
  /** The fixed port of entrypoint `web`, the one pebble validates http-01 on. */
  webPort: number;
  /** The fixed port of the https entrypoint `websecure`, the one pebble validates tls-alpn-01 on; default: any. */
  websecurePort?: number;
  /** Folder of the resolver's storage. */
  storage: string;
  /** Hosts routed on the ACME entrypoint `websecure`, one router each. */
  hosts: string[];
  challenge?: 'http-01' | 'tls-alpn-01';
  /** More top-level YAML (workers, more routers under `routers:` are not allowed here). */
  extra?: string;
}

/** lb.yaml with an ACME resolver `test` on pebble and routers on `websecure` (tls.acme: test). */
export function acmeLbYaml(pebble: Pebble, options: AcmeLbOptions): string {
  const routers = options.hosts.map((host, i) => `  r${i}: { entrypoint: websecure, match: { host: "${host}" }, service: svc }`);
  return [
    'entrypoints:',
    `  web: { address: "127.0.0.1:${options.webPort}" }`,
    `  websecure: { address: "127.0.0.1:${options.websecurePort ?? 0}", protocol: https, tls: { acme: test } }`,
    'admin: { address: "127.0.0.1:0" }',
    'acme:',
    `  test: { directory: "${pebble.directory}", email: "ops@example.com", storage: "${options.storage}", caFile: "${pebble.caFile}", challenge: ${options.challenge ?? 'http-01'}, backoff: { min: 200ms, max: 1s } }`,
    ...(routers.length ? ['routers:', ...routers] : []),
    'services: { svc: { servers: [ { url: "http://127.0.0.1:9" } ] } }',
    options.extra ?? '',
  ].join('\n');
}

/** The certificate lb's TLS listener on `port` serves for `servername`, or undefined when the handshake fails. */
export function servedCertificate(port: number, servername: string): Promise<X509Certificate | undefined> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerX509Certificate());
      socket.destroy();
    });
    socket.once('error', () => resolve(undefined));
    socket.setTimeout(5_000, () => socket.destroy(new Error('timeout')));
  });
}
