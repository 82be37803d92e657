// The ACME control plane: which hosts need a certificate (every host routed on an entrypoint whose
// `tls.acme` names a resolver, from lb.yaml and labels alike), ordering them with acme-client,
// renewing them at two thirds of their lifetime, backing off on failure, and keeping them on disk.
// It runs where the control loop runs (the primary with `workers: N`); what it decides leaves
// through AcmeOutputs: certificates for the TLS certificate store, challenges for the data plane.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { rootCertificates } from 'node:tls';
import * as acme from 'acme-client';
import type { AcmeResolverConfig } from '../../config/types.js';
import type { RoutingSnapshot } from '../../control/snapshot.js';
import { AcmeOrderError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { ChallengeSet } from './challenges.js';
import { AcmeStorage, issued, type IssuedCertificate } from './storage.js';

/** Orders in flight at once, over every resolver: a burst of new hosts queues rather than floods the CA. */
const maxConcurrentOrders = 2;
/** The longest one request to the ACME server may take. */
const requestTimeoutMs = 30_000;
/** acme-client polls an order's status with a doubling wait from this (its default, 5 s, adds seconds to every order). */
const firstPollMs = 1_000;
/** Renew once this share of a certificate's lifetime has passed. */
const renewAtLifetime = 2 / 3;
/** setTimeout's limit; a later renewal is re-armed when it fires. */
const maxTimerMs = 2 ** 31 - 1;

export interface AcmeOutputs {
  /** A certificate (new, renewed, or loaded from storage) for `host`. */
  onCertificate(host: string, certificate: IssuedCertificate, resolver: string): void;
  /** The pending challenges changed; resolves once the data plane answers with them. */
  onChallenges(challenges: ChallengeSet): Promise<void>;
}

export type HostStatus = 'pending' | 'valid' | 'renewing' | 'failed';

interface HostState {
  resolver: AcmeResolverConfig;
  host: string;
  status: HostStatus;
  certificate?: IssuedCertificate;
  renewAt?: Date;
  lastError?: string;
  nextAttempt?: Date;
  failures: number;
  timer?: NodeJS.Timeout;
  /** Queued or ordering now: a host has one order at a time. */
  busy: boolean;
}

/** A router on an ACME entrypoint for which no certificate can be ordered. */
export interface NotOrderable {
  resolver: string;
  entrypoint: string;
  router: string;
  host: string | null;
  reason: string;
}

/**
 * acme-client talks through one shared axios instance. lb trusts each resolver's `caFile` for
 * that resolver's directory origin only, bounds every request, and leaves retries to its own
 * backoff per host: the library's fixed retries of a refused connection would hold an order for
 * more than a minute, and with it one of the few order slots.
 */
const agentsByOrigin = new Map<string, Agent>();
let axiosPrepared = false;
function prepareAxios(): void {
  if (axiosPrepared) return;
  axiosPrepared = true;
  (acme.axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number } }).acmeSettings.retryMaxAttempts = 0;
  acme.axios.interceptors.request.use((config) => {
    config.timeout = requestTimeoutMs;
    const origin = config.url ? new URL(config.url).origin : '';
    const agent = agentsByOrigin.get(origin);
    if (agent) config.httpsAgent = agent;
    return config;
  });
}

function trustFor(resolver: AcmeResolverConfig): void {
  if (!resolver.caFile) return;
  const origin = new URL(resolver.directory).origin;
  agentsByOrigin.set(origin, new Agent({ ca: [...rootCertificates, readFileSync(resolver.caFile, 'utf8')], keepAlive: true }));
}

/**
 * Fetches the directory before an order, so that an unreachable or untrusted server fails with its
 * own error: acme-client turns a failed connection into a TypeError of its own (it reads the
 * response that never came).
 */
function probeDirectory(directory: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const agent = agentsByOrigin.get(new URL(directory).origin);
    const req = request(directory, { timeout: requestTimeoutMs, ...(agent ? { agent } : {}) }, (res) => {
      res.resume();
      if (res.statusCode === 200) resolve();
      else reject(new Error(`the directory ${directory} answered ${res.statusCode}`));
    });
    req.on('timeout', () => req.destroy(new Error(`the directory ${directory} did not answer in ${requestTimeoutMs / 1000}s`)));
    req.on('error', (err: NodeJS.ErrnoException) => reject(new Error(`cannot reach the directory ${directory}: ${err.message}`)));
    req.end();
  });
}

function hostKey(resolver: string, host: string): string {
  return `${resolver}\0${host}`;
}

/** Every host that needs a certificate, by resolver, and the routers that cannot have one. */
function acmeHosts(snapshot: RoutingSnapshot, resolvers: ReadonlyMap<string, AcmeResolverConfig>): { hosts: Map<string, Set<string>>; notOrderable: NotOrderable[] } {
  const hosts = new Map<string, Set<string>>();
  const notOrderable: NotOrderable[] = [];
  for (const router of snapshot.routers.values()) {
    const entrypoint = snapshot.entrypoints.get(router.entrypoint)?.config;
    const resolver = entrypoint?.tls?.acme;
    if (!resolver || !resolvers.has(resolver)) continue;
    const base = { resolver, entrypoint: router.entrypoint, router: router.name };
    if (router.match.hosts.length === 0) {
      notOrderable.push({ ...base, host: null, reason: 'the router matches no host, so there is no name to order a certificate for; give it match.host' });
    }
    for (const host of router.match.hosts) {
      if (host.startsWith('*.')) notOrderable.push({ ...base, host, reason: 'a wildcard needs the dns-01 challenge, which lb does not support; give the certificate as a file' });
      else hosts.set(resolver, (hosts.get(resolver) ?? new Set()).add(host));
    }
  }
  return { hosts, notOrderable };
}

/**
 * Keeps a certificate for every host that needs one. A new host is loaded from storage, or
 * ordered at once; orders run a few at a time, one per host. A failed order is retried after
 * a doubling wait (`backoff`), while the last good certificate keeps serving.
 */
export class AcmeManager {
  private readonly states = new Map<string, HostState>();
  private readonly storages = new Map<string, AcmeStorage>();
  private readonly clients = new Map<string, Promise<acme.Client>>();
  private readonly queue: HostState[] = [];
  private running = 0;
  private notOrderable: NotOrderable[] = [];
  private readonly reported = new Set<string>();
  private readonly http01 = new Map<string, string>();
  private readonly tlsAlpn01 = new Map<string, [string, string]>();
  private stopped = false;

  constructor(
    private readonly resolvers: ReadonlyMap<string, AcmeResolverConfig>,
    private readonly outputs: AcmeOutputs,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {
    prepareAxios();
    for (const resolver of resolvers.values()) {
      trustFor(resolver);
      this.storages.set(resolver.name, new AcmeStorage(resolver.storage, resolver.directory));
    }
  }

  /** Follows a routing snapshot: new hosts get a certificate, hosts no longer routed are forgotten. */
  sync(snapshot: RoutingSnapshot): void {
    if (this.stopped) return;
    const { hosts, notOrderable } = acmeHosts(snapshot, this.resolvers);
    this.reportNotOrderable(notOrderable);
    const wanted = new Set<string>();
    for (const [resolverName, names] of hosts) {
      const resolver = this.resolvers.get(resolverName)!;
      for (const host of names) {
        const key = hostKey(resolverName, host);
        wanted.add(key);
        if (this.states.has(key)) continue;
        const state: HostState = { resolver, host, status: 'pending', failures: 0, busy: true };
        this.states.set(key, state);
        void this.adopt(state);
      }
    }
    for (const [key, state] of this.states) {
      if (wanted.has(key)) continue;
      clearTimeout(state.timer);
      this.states.delete(key);
      this.logger.info({ resolver: state.resolver.name, host: state.host }, 'ACME: host no longer routed; its certificate is no longer renewed');
    }
  }

  stop(): void {
    this.stopped = true;
    for (const state of this.states.values()) clearTimeout(state.timer);
    this.queue.length = 0;
  }

  /** Each host's state, and the routers that cannot have a certificate, for /api/state. */
  describe() {
    return {
      resolvers: [...this.resolvers.values()].map((r) => ({ name: r.name, directory: r.directory, challenge: r.challenge })),
      hosts: [...this.states.values()].map((s) => ({
        resolver: s.resolver.name,
        host: s.host,
        state: s.status,
        notAfter: s.certificate?.notAfter.toISOString() ?? null,
        renewAt: s.renewAt?.toISOString() ?? null,
        lastError: s.lastError ?? null,
        nextAttempt: s.nextAttempt?.toISOString() ?? null,
      })),
      notOrderable: this.notOrderable,
    };
  }

  /** Said once per router and host, and kept in /api/state while it lasts. */
  private reportNotOrderable(list: NotOrderable[]): void {
    this.notOrderable = list;
    for (const entry of list) {
      const key = `${entry.resolver}\0${entry.router}\0${entry.host ?? ''}`;
      if (this.reported.has(key)) continue;
      this.reported.add(key);
      this.logger.warn(entry, `ACME: no certificate for router "${entry.router}" on entrypoint "${entry.entrypoint}": ${entry.reason}`);
    }
  }

  /** A new host: its stored certificate if it has a good one (nothing is ordered), else an order. */
  private async adopt(state: HostState): Promise<void> {
    let stored: IssuedCertificate | undefined;
    try {
      stored = await this.storages.get(state.resolver.name)!.load(state.host);
    } catch (err) {
      this.logger.warn({ resolver: state.resolver.name, host: state.host, err: (err as Error).message }, 'ACME: stored certificate unreadable; ordering a new one');
    }
    if (this.stopped || this.states.get(hostKey(state.resolver.name, state.host)) !== state) return;
    state.busy = false;
    if (stored && stored.notAfter.getTime() > Date.now()) {
      this.accept(state, stored);
      this.logger.info({ resolver: state.resolver.name, host: state.host, notAfter: stored.notAfter.toISOString() }, 'ACME: certificate loaded from storage');
      if (state.renewAt!.getTime() > Date.now()) return;
    }
    this.enqueue(state);
  }

  private accept(state: HostState, certificate: IssuedCertificate): void {
    state.certificate = certificate;
    state.status = 'valid';
    state.failures = 0;
    delete state.lastError;
    delete state.nextAttempt;
    const lifetime = certificate.notAfter.getTime() - certificate.notBefore.getTime();
    state.renewAt = new Date(certificate.notBefore.getTime() + lifetime * renewAtLifetime);
    this.outputs.onCertificate(state.host, certificate, state.resolver.name);
    this.schedule(state, state.renewAt.getTime() - Date.now());
  }

  private schedule(state: HostState, delayMs: number): void {
    clearTimeout(state.timer);
    const wait = Math.max(0, Math.min(delayMs, maxTimerMs));
    state.timer = setTimeout(() => {
      state.timer = undefined;
      if (wait < delayMs) return this.schedule(state, delayMs - wait);
      this.enqueue(state);
    }, wait);
    state.timer.unref();
  }

  private enqueue(state: HostState): void {
    if (state.busy || this.stopped) return;
    state.busy = true;
    if (state.certificate) state.status = 'renewing';
    else if (state.status !== 'failed') state.status = 'pending';
    this.queue.push(state);
    this.next();
  }

  private next(): void {
    while (this.running < maxConcurrentOrders && this.queue.length > 0) {
      const state = this.queue.shift()!;
      if (this.states.get(hostKey(state.resolver.name, state.host)) !== state) continue;
      this.running++;
      void this.order(state).finally(() => {
        this.running--;
        state.busy = false;
        this.next();
      });
    }
  }

  private async order(state: HostState): Promise<void> {
    const { resolver, host } = state;
    const started = performance.now();
    try {
      const certificate = await this.issue(resolver, host);
      if (this.stopped) return;
      await this.storages.get(resolver.name)!.save(host, certificate);
      this.metrics.acmeOrders.labels(resolver.name, 'success').inc();
      const renewal = state.certificate !== undefined;
      this.accept(state, certificate);
      this.logger.info({ resolver: resolver.name, host, notAfter: certificate.notAfter.toISOString(), seconds: (performance.now() - started) / 1000 }, renewal ? 'ACME: certificate renewed' : 'ACME: certificate issued');
    } catch (err) {
      if (this.stopped) return;
      this.metrics.acmeOrders.labels(resolver.name, 'failure').inc();
      const error = new AcmeOrderError(resolver.name, host, err);
      const waitMs = Math.min(resolver.backoff.maxMs, resolver.backoff.minMs * 2 ** Math.min(state.failures, 30));
      state.failures++;
      state.status = 'failed';
      state.lastError = error.message;
      state.nextAttempt = new Date(Date.now() + waitMs);
      this.logger.warn({ resolver: resolver.name, host, code: error.code, err: error.message, retryInMs: waitMs, serving: state.certificate ? 'the last good certificate' : 'nothing' }, 'ACME: order failed');
      this.schedule(state, waitMs);
    }
  }

  private async issue(resolver: AcmeResolverConfig, host: string): Promise<IssuedCertificate> {
    await probeDirectory(resolver.directory);
    const client = await this.clientFor(resolver);
    const [key, csr] = await acme.crypto.createCsr({ altNames: [host] }, await acme.crypto.createPrivateEcdsaKey());
    const certPem = await client.auto({
      csr,
      ...(resolver.email !== undefined ? { email: resolver.email } : {}),
      termsOfServiceAgreed: true,
      challengePriority: [resolver.challenge],
      // Its own pre-check would fetch the challenge from this host's public port 80 or 443,
      // which lb may not be behind in every setup; the CA's validation is the one that counts.
      skipChallengeVerification: true,
      challengeCreateFn: (authz, challenge, keyAuthorization) => this.setChallenge(authz, challenge, keyAuthorization, true),
      challengeRemoveFn: (authz, challenge, keyAuthorization) => this.setChallenge(authz, challenge, keyAuthorization, false),
    });
    return issued(certPem, key.toString());
  }

  /**
   * One client per resolver, whose account is registered once: orders for several hosts start
   * together, and each registering the same key at once can fail at the CA ("Error saving account").
   * A failed registration is forgotten, so the next order tries again.
   */
  private clientFor(resolver: AcmeResolverConfig): Promise<acme.Client> {
    let client = this.clients.get(resolver.name);
    if (!client) {
      client = (async () => {
        const created = new acme.Client({ directoryUrl: resolver.directory, accountKey: await this.storages.get(resolver.name)!.accountKey(), backoffMin: firstPollMs });
        await created.createAccount({ termsOfServiceAgreed: true, ...(resolver.email !== undefined ? { contact: [`mailto:${resolver.email}`] } : {}) });
        return created;
      })();
      client.catch(() => this.clients.delete(resolver.name));
      this.clients.set(resolver.name, client);
    }
    return client;
  }

  private async setChallenge(authz: acme.Authorization, challenge: { type: string; token?: string }, keyAuthorization: string, present: boolean): Promise<void> {
    const host = authz.identifier.value.toLowerCase();
    if (challenge.type === 'http-01' && challenge.token) {
      if (present) this.http01.set(challenge.token, keyAuthorization);
      else this.http01.delete(challenge.token);
    } else if (challenge.type === 'tls-alpn-01') {
      if (present) {
        const [key, cert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization);
        this.tlsAlpn01.set(host, [cert.toString(), key.toString()]);
      } else {
        this.tlsAlpn01.delete(host);
      }
    } else {
      throw new Error(`challenge type ${challenge.type} is not supported`);
    }
    // A manager replaced by a reload must not overwrite its successor's challenges.
    if (this.stopped) return;
    await this.outputs.onChallenges({ http01: [...this.http01], tlsAlpn01: [...this.tlsAlpn01].map(([h, [cert, key]]) => [h, cert, key]) });
  }
}
