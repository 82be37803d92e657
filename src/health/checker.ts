import type { ConnectionOptions } from 'node:tls';
import { Agent, request, type buildConnector } from 'undici';
import { serverKey, type Backend, type ServerKey } from '../balancer/index.js';
import type { HealthCheckConfig, ProxyProtocolVersion, UpstreamTlsConfig } from '../config/types.js';
import { writeLocalProxyHeader } from '../proxy/proxy-protocol.js';
import { connectUpstream, upstreamTlsKey, upstreamTlsOptions } from '../tls/upstream.js';
import { checksOverHttp2, probeGrpc, probeHttpOverHttp2 } from './http2-probe.js';

export interface CheckTarget {
  service: string;
  backend: Backend;
  check: HealthCheckConfig;
  /** The service's TLS settings, which https:// checks use as requests do. */
  tls: UpstreamTlsConfig;
  /** The service's `http2`: requests, and so HTTP checks, speak HTTP/2 to its https:// servers. */
  http2: boolean;
}

export type CheckReport = (target: CheckTarget, ok: boolean, detail: string) => void;

interface Running {
  target: CheckTarget;
  signature: string;
  timer: NodeJS.Timeout | undefined;
  stopped: boolean;
}

/**
 * Runs active health checks, one loop per server of every service that has checks. A check never
 * overlaps the previous one for the same server: the next is scheduled when one finishes, at the
 * interval ±10%. Results go to `report`, that is, to the control loop.
 */
export class HealthChecker {
  private readonly running = new Map<ServerKey, Running>();

  constructor(private readonly report: CheckReport) {}

  /** Starts loops for new targets, stops those no longer wanted, restarts changed ones. */
  sync(targets: readonly CheckTarget[]): void {
    const wanted = new Map(targets.map((t) => [key(t), t]));
    for (const [k, run] of this.running) {
      const target = wanted.get(k);
      if (!target || signature(target) !== run.signature) this.stopOne(k);
    }
    for (const [k, target] of wanted) {
      if (this.running.has(k)) continue;
      const run: Running = { target, signature: signature(target), timer: undefined, stopped: false };
      this.running.set(k, run);
      // A new server is out until its first check passes, so check it at once; the ±10% jitter
      // of the following checks spreads servers that appeared together.
      run.timer = setTimeout(() => this.tick(run), 0);
    }
  }

  stop(): void {
    for (const k of [...this.running.keys()]) this.stopOne(k);
  }

  private stopOne(k: ServerKey): void {
    const run = this.running.get(k);
    if (!run) return;
    run.stopped = true;
    clearTimeout(run.timer);
    this.running.delete(k);
  }

  private tick(run: Running): void {
    const { target } = run;
    probe(target).then(
      (detail) => this.finish(run, true, detail),
      (err: Error) => this.finish(run, false, err.message),
    );
  }

  private finish(run: Running, ok: boolean, detail: string): void {
    if (run.stopped) return;
    this.report(run.target, ok, detail);
    const base = ok ? run.target.check.intervalMs : run.target.check.unhealthyIntervalMs;
    const jittered = base * (0.9 + Math.random() * 0.2);
    run.timer = setTimeout(() => this.tick(run), jittered);
  }
}

function key(target: CheckTarget): ServerKey {
  return serverKey(target.service, target.backend.origin);
}

function signature(target: CheckTarget): string {
  return `${JSON.stringify(target.check)}|${upstreamTlsKey(target.tls)}|${target.http2}`;
}

/** One check; resolves with a short description on success, rejects with the reason otherwise. */
export function probe(target: CheckTarget): Promise<string> {
  const { check, backend } = target;
  const port = check.port ?? backend.port;
  if (check.type === 'tcp') return probeTcp(backend.host, port, check);
  if (check.type === 'grpc') return probeGrpc(target, port);
  return (checksOverHttp2(target) ? probeHttpOverHttp2(target, port) : probeHttp(backend, port, check, target.tls)).then((status) => expectedStatus(check, status));
}

function expectedStatus(check: HealthCheckConfig, status: number): string {
  if (check.expectStatus.some(([low, high]) => status >= low && status <= high)) return `HTTP ${status}`;
  throw new Error(`HTTP ${status}, expected ${check.expectStatus.map(([l, h]) => (l === h ? l : `${l}-${h}`)).join(',')}`);
}

/**
 * HTTP checks go through undici, on a connection of their own each time (as HAProxy's do), so
 * that a server that accepts no new connections fails its check. https:// checks verify the
 * server as requests do (tls/upstream.ts): a server whose certificate requests would refuse is down.
 *
 * For servers that require the PROXY protocol (the service sends it): each check's connection
 * begins with a LOCAL header (v1: `PROXY UNKNOWN`), so the server accepts the check as lb's own,
 * as HAProxy's `check-send-proxy` does; to an https:// server, TLS starts after it.
 */
const plainAgent = new Agent();
/** By PROXY version, TLS settings and host: what a check's connection is made with. */
const agents = new Map<string, Agent>();

function checkAgent(backend: Backend, tls: UpstreamTlsConfig, version: ProxyProtocolVersion | undefined): Agent {
  const https = backend.scheme === 'https';
  if (!https && !version) return plainAgent;
  const key = `${version ?? ''}|${https ? `${upstreamTlsKey(tls)}|${backend.host}` : ''}`;
  let agent = agents.get(key);
  if (agent) return agent;
  const options = https ? upstreamTlsOptions(tls, backend.host) : undefined;
  agent = new Agent({ connect: version ? headerConnector(writeLocalProxyHeader(version), options) : options });
  agents.set(key, agent);
  return agent;
}

function headerConnector(header: Buffer, tls: ConnectionOptions | undefined): buildConnector.connector {
  return (options, callback) => {
    const socket = connectUpstream({ host: options.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(options.port) }, tls, header);
    const onError = (err: Error) => callback(err, null);
    socket.once('error', onError);
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      socket.off('error', onError);
      callback(null, socket);
    });
  };
}

async function probeHttp(backend: Backend, port: number, check: HealthCheckConfig, tls: UpstreamTlsConfig): Promise<number> {
  const headers: Record<string, string> = { 'user-agent': 'lb-health-check', host: check.host ?? `${backend.host}:${port}` };
  for (const [name, value] of check.headers) headers[name] = value;
  const host = backend.host.includes(':') ? `[${backend.host}]` : backend.host;
  try {
    const res = await request(`${backend.scheme === 'https' ? 'https' : 'http'}://${host}:${port}${check.path}`, {
      method: 'GET',
      headers,
      reset: true,
      dispatcher: checkAgent(backend, tls, check.proxyProtocol),
      signal: AbortSignal.timeout(check.timeoutMs),
    });
    await res.body.dump();
    return res.statusCode;
  } catch (err) {
    const { name, code, message } = err as NodeJS.ErrnoException;
    throw new Error(name === 'TimeoutError' || name === 'AbortError' ? `no answer within ${check.timeoutMs}ms` : (code ?? message));
  }
}

function probeTcp(host: string, port: number, check: HealthCheckConfig): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connectUpstream({ host, port }, undefined, check.proxyProtocol && writeLocalProxyHeader(check.proxyProtocol));
    let reply = '';
    const timer = setTimeout(() => socket.destroy(new Error(`no ${check.expect ? 'expected reply' : 'connection'} within ${check.timeoutMs}ms`)), check.timeoutMs);
    const done = (err?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(check.expect ? `TCP reply contains "${check.expect}"` : 'TCP connect');
    };
    socket.once('connect', () => {
      if (check.send !== undefined) socket.write(check.send);
      if (check.expect === undefined) done();
    });
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      reply += chunk;
      if (check.expect !== undefined && reply.includes(check.expect)) done();
    });
    socket.once('end', () => done(new Error(`connection closed without "${check.expect}"`)));
    socket.once('error', (err: NodeJS.ErrnoException) => done(new Error(err.code ?? err.message)));
  });
}
