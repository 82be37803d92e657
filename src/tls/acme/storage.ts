// Where one ACME resolver keeps its account key and its certificates, so that a restart orders
// nothing new. Layout: <storage>/<directory>/account.key and
// <storage>/<directory>/certificates/<host>.crt (the chain) and <host>.key; folders 0700, files
// 0600, each file written whole (temporary file, then rename).
import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as acme from 'acme-client';

export interface IssuedCertificate {
  /** The leaf certificate, then its chain, PEM. */
  certPem: string;
  keyPem: string;
  notBefore: Date;
  notAfter: Date;
}

/** The certificate's validity, read from the leaf (the first PEM block). */
export function issued(certPem: string, keyPem: string): IssuedCertificate {
  const leaf = new X509Certificate(certPem);
  return { certPem, keyPem, notBefore: new Date(leaf.validFrom), notAfter: new Date(leaf.validTo) };
}

/** A folder name for a directory URL, so that certificates of one CA are never taken for another's. */
function directoryFolder(directory: string): string {
  const url = new URL(directory);
  return `${url.host}${url.pathname}`.replace(/[^A-Za-z0-9.-]+/g, '_').replace(/_+$/, '');
}

async function ownFolder(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  await chmod(path, 0o700);
}

async function writePrivate(path: string, text: string): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text, { mode: 0o600 });
  await rename(temporary, path);
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export class AcmeStorage {
  private readonly folder: string;
  private readonly certificates: string;

  constructor(storage: string, directory: string) {
    this.folder = join(storage, directoryFolder(directory));
    this.certificates = join(this.folder, 'certificates');
  }

  private account: Promise<string> | undefined;

  /** The account key, made (ECDSA P-256) and kept the first time; one for every order, even concurrent ones. */
  accountKey(): Promise<string> {
    this.account ??= this.loadAccountKey();
    // A failure (a full disk) is not kept: the next order tries again.
    this.account.catch(() => (this.account = undefined));
    return this.account;
  }

  private async loadAccountKey(): Promise<string> {
    const path = join(this.folder, 'account.key');
    const stored = await readIfPresent(path);
    if (stored) return stored;
    await ownFolder(this.folder);
    const key = (await acme.crypto.createPrivateEcdsaKey()).toString();
    await writePrivate(path, key);
    return key;
  }

  /** The stored certificate of `host`, if there is one that covers it. */
  async load(host: string): Promise<IssuedCertificate | undefined> {
    const [certPem, keyPem] = await Promise.all([readIfPresent(this.certPath(host)), readIfPresent(this.keyPath(host))]);
    if (!certPem || !keyPem) return undefined;
    const certificate = issued(certPem, keyPem);
    return new X509Certificate(certPem).checkHost(host) ? certificate : undefined;
  }

  async save(host: string, certificate: IssuedCertificate): Promise<void> {
    await ownFolder(this.folder);
    await ownFolder(this.certificates);
    // The key first: a certificate on disk always has its key beside it.
    await writePrivate(this.keyPath(host), certificate.keyPem);
    await writePrivate(this.certPath(host), certificate.certPem);
  }

  private certPath(host: string): string {
    return join(this.certificates, `${host}.crt`);
  }

  private keyPath(host: string): string {
    return join(this.certificates, `${host}.key`);
  }
}
