// What the data plane needs to terminate TLS, as the control plane's CertificateStore publishes it:
// the certificates of each https entrypoint and the session ticket keys. It travels to workers
// over IPC as it is (advanced serialization: Maps and byte arrays survive), and every https
// entrypoint of every process serves from the latest one.
import { randomBytes, randomFillSync } from 'node:crypto';
import type { SecureContext } from 'node:tls';
import type { Certificate } from './certificates.js';

/** The TLS material of one https entrypoint. */
export interface EntrypointTls {
  /** Changes whenever the certificates or CAs change, so that an unchanged entrypoint is left alone. */
  readonly revision: number;
  /** In order: the first is the default certificate. */
  readonly certificates: readonly Certificate[];
  /** PEM bundles of the CAs client certificates must chain to (clientAuth). */
  readonly clientCa: readonly string[];
}

/**
 * A session ticket key, 48 bytes as Node lays them out: a 16-byte name (sent in the ticket, to
 * find the key again), a 16-byte HMAC secret, a 16-byte AES-128 key.
 */
export type TicketKey = Uint8Array;

export interface TlsState {
  /** By https entrypoint name. */
  readonly entrypoints: ReadonlyMap<string, EntrypointTls>;
  /** The first encrypts new tickets; each one decrypts (the previous key, after a rotation). */
  readonly ticketKeys: readonly TicketKey[];
  /** Changes at every ticket key rotation. */
  readonly ticketRevision: number;
}

/** Where the data plane gets its TLS material: the CertificateStore in process, or a worker's copy. */
export interface TlsSource {
  readonly tls: TlsState;
  /** Calls `listener` with every new state; returns a function that stops it. */
  subscribe(listener: (state: TlsState) => void): () => void;
}

export const emptyTlsState: TlsState = Object.freeze({ entrypoints: new Map(), ticketKeys: [], ticketRevision: 0 });

export function newTicketKey(): TicketKey {
  return new Uint8Array(randomBytes(48));
}

/**
 * A fixed, never-used secret for answers that carry no key: Node reads the HMAC and AES keys (and,
 * to encrypt, the name and IV) of every answer, whatever its status, and aborts the process on a
 * missing one.
 */
const unusedSecret = Buffer.alloc(16);

interface SplitKey {
  name: Buffer;
  hmac: Buffer;
  aes: Buffer;
}

function split(key: TicketKey): SplitKey {
  const bytes = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  return { name: bytes.subarray(0, 16), hmac: bytes.subarray(16, 32), aes: bytes.subarray(32, 48) };
}

/** Node's native SecureContext, where its ticket key callback lives (not a public API; checked before use). */
interface NativeContext {
  enableTicketKeyCallback?: () => void;
  onticketkeycallback?: (name: Buffer, iv: Buffer, encrypt: boolean) => unknown[];
}

/**
 * The ticket keys of one process, installed on every SecureContext it serves with, so that a
 * ticket made by any worker resumes on any other, and a ticket made with the previous key still
 * resumes after a rotation (and is then replaced by one under the current key).
 *
 * Node's public API takes one ticket key per context (`ticketKeys`); it is always given the
 * current key. Where Node's native context offers its ticket key callback, lb installs it too, so
 * that every key of the ring decrypts; without it, a rotation costs each client one full handshake.
 */
export class TicketKeyRing {
  private keys: SplitKey[] = [];
  private current: Buffer | undefined;

  private readonly callback = (name: Buffer, _iv: Buffer, encrypt: boolean): unknown[] => {
    const keys = this.keys;
    if (encrypt) {
      const key = keys[0];
      // No key yet: 0 makes OpenSSL send no ticket.
      if (!key) return [0, unusedSecret, unusedSecret, unusedSecret, unusedSecret];
      return [1, key.hmac, key.aes, key.name, randomFillSync(Buffer.allocUnsafe(16))];
    }
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      // 2: valid, but renew the ticket under the current key.
      if (key.name.equals(name)) return [i === 0 ? 1 : 2, key.hmac, key.aes];
    }
    return [0, unusedSecret, unusedSecret];
  };

  set(keys: readonly TicketKey[]): void {
    this.keys = keys.map(split);
    this.current = keys[0] ? Buffer.from(keys[0]) : undefined;
  }

  /** Options for tls.createSecureContext: the current key, Node's own way. */
  contextOptions(): { ticketKeys?: Buffer } {
    return this.current ? { ticketKeys: this.current } : {};
  }

  /** Lets every key of the ring decrypt tickets on `context`, where Node allows it. */
  install(context: SecureContext): void {
    const native = (context as unknown as { context?: NativeContext }).context;
    if (typeof native?.enableTicketKeyCallback !== 'function') return;
    native.enableTicketKeyCallback();
    native.onticketkeycallback = this.callback;
  }
}
