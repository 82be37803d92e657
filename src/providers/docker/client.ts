import { readFileSync } from 'node:fs';
import Docker from 'dockerode';
import type { DockerTlsConfig } from '../../config/types.js';
import { DockerForbiddenError, DockerTlsError, DockerUnreachableError, SwarmNotManagerError } from '../../errors.js';
import { permissionToGrant } from './permissions.js';
import type { ContainerInfo, PublishedPort } from './address.js';

/** A Docker engine event, as `/events` streams it (one JSON object per line). */
export interface DockerEvent {
  Type: string;
  Action: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  id?: string;
  time?: number;
  timeNano?: number;
}

/**
 * The read-only slice of the Docker API that lb uses: GET /_ping, /version, /events,
 * /containers/json and /containers/{id}/json (and, for swarm, the calls of SwarmClient).
 * Nothing else, so a socket proxy that allows only these GETs is enough.
 */
export class DockerClient {
  readonly endpoint: string;
  protected readonly docker: Docker;
  /** lb presents a client certificate: a refused handshake then means the engine does not accept it. */
  private readonly clientCertificate: boolean;
  /** What a socket proxy must allow, named when it refuses a call. */
  protected readonly neededPaths: string = '/_ping, /version, /events and /containers';

  /** `tls`: PEM files for a TCP endpoint (a swarm manager's API on port 2376). */
  constructor(endpoint: string | undefined, tls?: DockerTlsConfig) {
    this.endpoint = endpoint ?? process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
    this.clientCertificate = Boolean(tls?.certFile);
    const url = new URL(this.endpoint.replace(/^unix:\/\//, 'unix:'));
    if (url.protocol === 'unix:') this.docker = new Docker({ socketPath: url.pathname });
    else if (!tls) this.docker = new Docker({ host: url.hostname, port: Number(url.port), protocol: 'http' });
    else {
      const pem = (file: string | undefined) => (file === undefined ? undefined : readFileSync(file));
      this.docker = new Docker({ host: url.hostname, port: Number(url.port), protocol: 'https', ca: pem(tls.caFile), ...(tls.certFile ? { cert: pem(tls.certFile), key: pem(tls.keyFile) } : {}) });
    }
  }

  async ping(): Promise<void> {
    await this.call('GET', '/_ping', () => this.docker.ping());
  }

  async version(): Promise<string> {
    const version = await this.call('GET', '/version', () => this.docker.version());
    return `${version.Version} (API ${version.ApiVersion})`;
  }

  async listContainerIds(): Promise<string[]> {
    const list = await this.call('GET', '/containers/json?all=1', () => this.docker.listContainers({ all: true }));
    return list.map((c) => c.Id);
  }

  /** Undefined when the container no longer exists. */
  async inspect(id: string): Promise<ContainerInfo | undefined> {
    try {
      return toContainerInfo(await this.call('GET', `/containers/${id}/json`, () => this.docker.getContainer(id).inspect()));
    } catch (err) {
      if ((err as { cause?: { statusCode?: number } }).cause?.statusCode === 404) return undefined;
      throw err;
    }
  }

  /** Container and network events since `since` (seconds), until the stream ends or `signal` aborts. */
  async events(since: number, signal: AbortSignal): Promise<NodeJS.ReadableStream> {
    const filters = JSON.stringify({ type: ['container', 'network'] });
    const stream = await this.call('GET', '/events', () => this.docker.getEvents({ since, filters, abortSignal: signal } as Docker.GetEventsOptions));
    return stream;
  }

  protected async call<T>(method: string, path: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      if (status === 403) throw new DockerForbiddenError(method, path, permissionToGrant(path, this.neededPaths), err);
      // A worker, or an engine outside any swarm, answers swarm calls with 503.
      if (status === 503) throw new SwarmNotManagerError(this.endpoint, `${method} ${path} answered 503: ${(err as { json?: { message?: string } }).json?.message ?? (err as Error).message}`, err);
      const tls = status === undefined ? tlsProblem(err, this.clientCertificate) : undefined;
      if (tls) throw new DockerTlsError(this.endpoint, tls, err);
      if (status === undefined) throw new DockerUnreachableError(this.endpoint, err);
      throw Object.assign(new Error(`Docker API ${method} ${path} answered ${status}: ${(err as Error).message}`), { cause: err });
    }
  }
}

/** Node's codes for a server certificate that the CA of `caFile` did not sign. */
const untrusted = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_SIGNATURE_FAILURE']);

/** What a TLS failure says to fix, or undefined when the error is no TLS failure. */
function tlsProblem(err: unknown, clientCertificate: boolean): string | undefined {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const message = (err as Error).message;
  if (untrusted.has(code)) return `its certificate is not signed by the CA of providers.swarm.tls.caFile (${code})`;
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return `its certificate is not valid now (${code})`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `its certificate does not name the endpoint's host (${message}); connect by a name or address it has`;
  // Alerts the engine sends when it checks lb's client certificate (--tlsverify); dockerd answers
  // "bad certificate" both to none and to one it does not trust.
  if (/ALERT_(CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|DECRYPT_ERROR)$/.test(code)) {
    if (!clientCertificate) return `it requires a client certificate (${code}; it runs with --tlsverify): set providers.swarm.tls.certFile and keyFile to one signed by the CA of its --tlscacert`;
    return `it refused lb's client certificate (${code}): providers.swarm.tls.certFile must be signed by the CA of its --tlscacert, for client authentication`;
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER') return `it does not speak TLS on that port (${code}): leave out providers.swarm.tls, or use its TLS port (2376)`;
  return undefined;
}

function toContainerInfo(inspect: Docker.ContainerInspectInfo): ContainerInfo {
  const labels = inspect.Config?.Labels ?? {};
  const published = new Map<number, PublishedPort[]>();
  for (const [spec, bindings] of Object.entries(inspect.NetworkSettings?.Ports ?? {})) {
    const [port, proto] = spec.split('/');
    if (proto !== 'tcp' || !bindings) continue;
    published.set(Number(port), bindings.map((b) => ({ hostIp: b.HostIp, hostPort: Number(b.HostPort) })));
  }
  const health = inspect.State?.Health?.Status;
  return {
    id: inspect.Id,
    name: inspect.Name.replace(/^\//, ''),
    created: Date.parse(inspect.Created),
    labels,
    running: Boolean(inspect.State?.Running) && !inspect.State?.Restarting,
    paused: Boolean(inspect.State?.Paused),
    ...(health === 'starting' || health === 'healthy' || health === 'unhealthy' ? { health } : {}),
    networkMode: inspect.HostConfig?.NetworkMode ?? 'default',
    networks: Object.entries(inspect.NetworkSettings?.Networks ?? {}).map(([name, n]) => ({ name, ip: n.IPAddress })),
    exposedPorts: Object.keys(inspect.Config?.ExposedPorts ?? {})
      .filter((spec) => spec.endsWith('/tcp'))
      .map((spec) => Number(spec.split('/')[0]))
      .sort((a, b) => a - b),
    published,
    ...(labels['com.docker.compose.project'] ? { composeProject: labels['com.docker.compose.project'] } : {}),
    ...(labels['com.docker.compose.service'] ? { composeService: labels['com.docker.compose.service'] } : {}),
    oneOff: labels['com.docker.compose.oneoff'] === 'True',
  };
}
