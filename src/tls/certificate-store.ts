// The control plane's certificates: it reads the files lb.yaml names, watches them, takes
// certificates from other sources (ACME), keeps the session ticket keys, and publishes a TlsState
// for the data plane (in this process, or pushed to every worker).
import { watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { EntrypointConfig } from '../config/types.js';
import { TlsCertificateError } from '../errors.js';
import type { Logger } from '../log.js';
import { loadCaFile, loadCertificateFiles, parseCertificate, tlsFilesOf, type Certificate } from './certificates.js';
import { emptyTlsState, newTicketKey, type EntrypointTls, type TicketKey, type TlsSource, type TlsState } from './state.js';

/** A certificate from a source other than lb.yaml's files: PEM text. */
export interface CertificatePem {
  /** The leaf certificate first, then any intermediates. */
  cert: string;
  key: string;
}

/** Ticket keys are replaced this often; the previous key still decrypts for as long again. */
const ticketKeyRotationMs = 12 * 3_600_000;
/** File changes are read this long after the last event, so that a cert and its key written one after the other are read together. */
const settleMs = 200;
/** Files are also read this often, for file systems whose changes raise no event. */
const recheckMs = 60_000;
/** A certificate this close to its expiry is worth a warning at every load. */
const expiryWarningMs = 14 * 86_400_000;

/** The source of the certificates one ACME resolver got (`setSource`); its metric label is `acme`. */
export function acmeSource(resolver: string): string {
  return `acme:${resolver}`;
}

/**
 * The named sources an https entrypoint serves beside its own files, in order after them: the
 * ACME resolver its `tls.acme` names.
 */
function extraSources(entrypoint: EntrypointConfig): string[] {
  return entrypoint.tls?.acme !== undefined ? [acmeSource(entrypoint.tls.acme)] : [];
}

interface FileMaterial {
  certificates: Certificate[];
  clientCa: string[];
}

/**
 * Holds every certificate lb serves and publishes what the data plane needs (TlsSource):
 *
 * - `load(entrypoints)`: reads the files of every entrypoint with `tls` (start-up, lb.yaml reloads).
 *   Any unusable file throws TlsCertificateError and nothing changes; it returns an undo.
 * - The files are watched: a change is read after 200 ms of quiet (and every 60 s regardless).
 *   New handshakes get the new certificate; open connections keep theirs. A change that leaves a
 *   file unusable is logged, and the entrypoint keeps serving what it had.
 * - `setSource(name, certificates)`: certificates from elsewhere (ACME), served on the entrypoints
 *   whose `extraSources` name that source, after their files. The first certificate that covers a
 *   server name wins, so lb.yaml's files come first.
 * - Session ticket keys: made here, rotated every 12 h; the previous key keeps decrypting.
 */
export class CertificateStore implements TlsSource {
  private state: TlsState = emptyTlsState;
  private readonly listeners = new Set<(state: TlsState) => void>();
  private entrypoints: ReadonlyMap<string, EntrypointConfig> = new Map();
  private files = new Map<string, FileMaterial>();
  private readonly sources = new Map<string, readonly Certificate[]>();
  private readonly revisions = new Map<string, { revision: number; material: EntrypointTls }>();
  private nextRevision = 1;
  private ticketKeys: TicketKey[] = [newTicketKey()];
  private ticketRevision = 1;
  private readonly rotation: NodeJS.Timeout;
  private readonly recheck: NodeJS.Timeout;
  private readonly watchers = new Map<string, FSWatcher>();
  private settle: NodeJS.Timeout | undefined;
  /** The last failure logged per entrypoint, so that a file that stays broken is reported once. */
  private readonly reported = new Map<string, string>();

  constructor(
    private readonly logger: Logger,
    options: { ticketRotationMs?: number } = {},
  ) {
    this.rotation = setInterval(() => this.rotateTicketKeys(), options.ticketRotationMs ?? ticketKeyRotationMs).unref();
    this.recheck = setInterval(() => this.reread('periodic check'), recheckMs).unref();
    this.publish();
  }

  get tls(): TlsState {
    return this.state;
  }

  subscribe(listener: (state: TlsState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Reads every certificate, key and CA file of the entrypoints with a tls block (https, and tcp
   * ones that terminate TLS); on success they replace what was served, and the returned function
   * puts the previous ones back (a reload that failed later). Throws TlsCertificateError, naming the file and its lb.yaml key, and changes nothing.
   */
  load(entrypoints: ReadonlyMap<string, EntrypointConfig>): () => void {
    const files = new Map<string, FileMaterial>();
    for (const ep of entrypoints.values()) if (ep.tls) files.set(ep.name, this.read(ep, this.files.get(ep.name)));
    const before = { entrypoints: this.entrypoints, files: this.files };
    this.entrypoints = entrypoints;
    this.files = files;
    for (const ep of entrypoints.values()) this.warnExpiry(ep.name, files.get(ep.name)?.certificates ?? []);
    this.rewatch();
    this.publish();
    return () => {
      this.entrypoints = before.entrypoints;
      this.files = before.files;
      this.rewatch();
      this.publish();
    };
  }

  /**
   * Replaces the certificates of a named source (ACME: `acme:<resolver>`), checked like files are.
   * Throws TlsCertificateError (the source keeps what it had).
   */
  setSource(name: string, certificates: readonly CertificatePem[]): void {
    const parsed = certificates.map((pem, i) => {
      const origin = { file: `${name} certificate ${i + 1}`, key: '' };
      return parseCertificate(pem.cert, pem.key, name.split(':')[0]!, { cert: origin, key: origin });
    });
    this.sources.set(name, parsed);
    this.publish();
  }

  /** Every certificate served, each once: for the expiry metric and the admin API. */
  certificates(): Certificate[] {
    const seen = new Set<Certificate>();
    for (const material of this.state.entrypoints.values()) for (const certificate of material.certificates) seen.add(certificate);
    return [...seen];
  }

  /** New ticket keys; the previous one still decrypts until the next rotation. */
  rotateTicketKeys(): void {
    this.ticketKeys = [newTicketKey(), this.ticketKeys[0]!];
    this.ticketRevision++;
    this.publish();
  }

  stop(): void {
    clearInterval(this.rotation);
    clearInterval(this.recheck);
    clearTimeout(this.settle);
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
    this.listeners.clear();
  }

  /** An entrypoint's files, reusing the Certificate objects of `previous` whose text is unchanged. */
  private read(ep: EntrypointConfig, previous: FileMaterial | undefined): FileMaterial {
    const { certificates, cas } = tlsFilesOf(ep);
    return {
      certificates: certificates.map((pair) => {
        const loaded = loadCertificateFiles(pair);
        return previous?.certificates.find((c) => c.cert === loaded.cert && c.key === loaded.key) ?? loaded;
      }),
      clientCa: cas.map((ca) => loadCaFile(ca)),
    };
  }

  /** After a file event or the periodic check: reads every entrypoint's files again, keeping what it had where they fail. */
  private reread(trigger: string): void {
    let changed = false;
    for (const ep of this.entrypoints.values()) {
      if (!ep.tls) continue;
      const current = this.files.get(ep.name);
      let next: FileMaterial;
      try {
        next = this.read(ep, current);
      } catch (err) {
        const message = (err as Error).message;
        if (this.reported.get(ep.name) !== message) {
          this.reported.set(ep.name, message);
          const fields = err instanceof TlsCertificateError ? { file: err.file, key: err.key, code: err.code } : {};
          this.logger.error({ entrypoint: ep.name, ...fields, trigger }, `certificate reload failed, the running certificates stay: ${err instanceof TlsCertificateError ? err.problem : message}`);
        }
        continue;
      }
      this.reported.delete(ep.name);
      const same = current !== undefined && sameItems(current.certificates, next.certificates) && sameItems(current.clientCa, next.clientCa);
      if (same) continue;
      this.files.set(ep.name, next);
      changed = true;
      this.warnExpiry(ep.name, next.certificates);
      this.logger.info({ entrypoint: ep.name, trigger, certificates: next.certificates.map((c) => c.name) }, 'certificates reloaded: new handshakes use them, open connections keep theirs');
    }
    if (changed) this.publish();
  }

  private warnExpiry(entrypoint: string, certificates: readonly Certificate[]): void {
    const now = Date.now();
    for (const c of certificates) {
      if (c.notAfter < now) this.logger.warn({ entrypoint, certificate: c.name, notAfter: new Date(c.notAfter).toISOString() }, 'certificate has expired: clients will refuse it');
      else if (c.notAfter - now < expiryWarningMs) this.logger.warn({ entrypoint, certificate: c.name, notAfter: new Date(c.notAfter).toISOString() }, 'certificate expires in less than 14 days');
    }
  }

  /** Watches the folders of every file: editors, cert-manager and Kubernetes secrets replace files by renaming. */
  private rewatch(): void {
    const folders = new Set<string>();
    for (const ep of this.entrypoints.values()) {
      const { certificates, cas } = tlsFilesOf(ep);
      for (const pair of certificates) folders.add(dirname(pair.cert.file)).add(dirname(pair.key.file));
      for (const ca of cas) folders.add(dirname(ca.file));
    }
    for (const [folder, watcher] of this.watchers) {
      if (folders.has(folder)) continue;
      watcher.close();
      this.watchers.delete(folder);
    }
    for (const folder of folders) {
      if (this.watchers.has(folder)) continue;
      try {
        const watcher = watch(folder, { persistent: false }, () => {
          clearTimeout(this.settle);
          this.settle = setTimeout(() => this.reread('file changed'), settleMs);
        });
        watcher.on('error', (err) => {
          this.logger.warn({ folder, err: err.message }, 'cannot watch certificate folder any more; changes are read every 60s');
          watcher.close();
          this.watchers.delete(folder);
        });
        this.watchers.set(folder, watcher);
      } catch (err) {
        this.logger.warn({ folder, err: (err as Error).message }, 'cannot watch certificate folder; changes are read every 60s');
      }
    }
  }

  private publish(): void {
    const entrypoints = new Map<string, EntrypointTls>();
    for (const ep of this.entrypoints.values()) {
      const files = this.files.get(ep.name);
      if (!ep.tls || !files) continue;
      const certificates = [...files.certificates, ...extraSources(ep).flatMap((source) => this.sources.get(source) ?? [])];
      const known = this.revisions.get(ep.name);
      if (known && sameItems(known.material.certificates, certificates) && sameItems(known.material.clientCa, files.clientCa)) {
        entrypoints.set(ep.name, known.material);
        continue;
      }
      const material: EntrypointTls = Object.freeze({ revision: this.nextRevision++, certificates: Object.freeze(certificates), clientCa: Object.freeze([...files.clientCa]) });
      this.revisions.set(ep.name, { revision: material.revision, material });
      entrypoints.set(ep.name, material);
    }
    for (const name of this.revisions.keys()) if (!entrypoints.has(name)) this.revisions.delete(name);
    this.state = Object.freeze({ entrypoints, ticketKeys: Object.freeze([...this.ticketKeys]), ticketRevision: this.ticketRevision });
    for (const listener of this.listeners) listener(this.state);
  }
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i]);
}
