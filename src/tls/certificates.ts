// Certificates as lb reads them: a PEM certificate chain and its private key, checked to belong
// together, with the DNS names the certificate covers (its subjectAltName) and its expiry. The
// same checks serve `lb validate` (config/load.ts reports them at the lb.yaml key that names the
// file), start-up, reloads, and certificates from other sources (ACME).
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { EntrypointConfig } from '../config/types.js';
import { TlsCertificateError } from '../errors.js';
import { formatPath, type KeyPath } from '../config/validate.js';

/** A certificate and its key as PEM text, with what lb read from them. */
export interface Certificate {
  /** A label for logs and metrics: the first DNS name, else the certificate file's name. */
  readonly name: string;
  /** Where it came from: `file` (lb.yaml), or another source's name (such as `acme`). */
  readonly source: string;
  /** PEM: the leaf certificate first, then any intermediates. */
  readonly cert: string;
  /** PEM: the private key (unencrypted). */
  readonly key: string;
  /** Lower-case DNS names of the subjectAltName; `*.example.com` covers one label. */
  readonly names: readonly string[];
  /** Unix milliseconds after which the certificate is no longer valid. */
  readonly notAfter: number;
}

/** Where a PEM text came from, for messages: a file and the lb.yaml key that names it. */
export interface PemOrigin {
  file: string;
  key: string;
}

function readPem(origin: PemOrigin): string {
  try {
    return readFileSync(origin.file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'a folder, not a file' : (err as Error).message;
    throw new TlsCertificateError(origin.file, origin.key, `cannot read the file (${reason})`, { cause: err });
  }
}

/** The DNS names in a subjectAltName as Node prints it (`DNS:a.example.com, IP Address:10.0.0.1`). */
function dnsNames(subjectAltName: string | undefined): string[] {
  const names: string[] = [];
  for (const match of (subjectAltName ?? '').matchAll(/(?:^|,\s*)DNS:("?)([^,"]+)\1/g)) names.push(match[2]!.trim().toLowerCase().replace(/\.$/, ''));
  return [...new Set(names)];
}

/**
 * Checks a certificate chain and its private key: both parse, and the key is the certificate's.
 * Throws TlsCertificateError naming the file at fault.
 */
export function parseCertificate(cert: string, key: string, source: string, origins: { cert: PemOrigin; key: PemOrigin }): Certificate {
  if (!/-----BEGIN CERTIFICATE-----/.test(cert)) throw new TlsCertificateError(origins.cert.file, origins.cert.key, 'no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new TlsCertificateError(origins.cert.file, origins.cert.key, `not a valid certificate (${(err as Error).message})`, { cause: err });
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) throw new TlsCertificateError(origins.key.file, origins.key.key, 'no PEM private key in it (expected -----BEGIN PRIVATE KEY-----)');
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(key)) throw new TlsCertificateError(origins.key.file, origins.key.key, 'the private key is encrypted; give lb an unencrypted key (openssl pkey -in key.pem -out plain.pem)');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new TlsCertificateError(origins.key.file, origins.key.key, `not a valid private key (${(err as Error).message})`, { cause: err });
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new TlsCertificateError(origins.cert.file, origins.cert.key, `the private key in ${origins.key.file} does not belong to this certificate (their public keys differ)`);
  }
  const names = dnsNames(x509.subjectAltName);
  return { name: names[0] ?? basename(origins.cert.file), source, cert, key, names, notAfter: Date.parse(x509.validTo) };
}

/** Reads and checks a certificate file and its key file. */
export function loadCertificateFiles(origins: { cert: PemOrigin; key: PemOrigin }): Certificate {
  return parseCertificate(readPem(origins.cert), readPem(origins.key), 'file', origins);
}

/** Reads a CA bundle for client authentication: one or more PEM certificates. */
export function loadCaFile(origin: PemOrigin): string {
  const pem = readPem(origin);
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new TlsCertificateError(origin.file, origin.key, 'no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)');
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (err) {
      throw new TlsCertificateError(origin.file, origin.key, `not a valid certificate (${(err as Error).message})`, { cause: err });
    }
  }
  return pem;
}

/** What an https entrypoint's files are, each with the key path that names it in lb.yaml. */
export function tlsFilesOf(entrypoint: EntrypointConfig): { certificates: Array<{ cert: PemOrigin & { path: KeyPath }; key: PemOrigin & { path: KeyPath } }>; cas: Array<PemOrigin & { path: KeyPath }> } {
  const tls = entrypoint.tls;
  const base = ['entrypoints', entrypoint.name, 'tls'];
  const origin = (file: string, path: KeyPath) => ({ file, path, key: formatPath(path) });
  return {
    certificates: (tls?.certificates ?? []).map((c, i) => ({
      cert: origin(c.certFile, [...base, 'certificates', i, 'certFile']),
      key: origin(c.keyFile, [...base, 'certificates', i, 'keyFile']),
    })),
    cas: (tls?.clientAuth?.caFiles ?? []).map((file, i) => origin(file, [...base, 'clientAuth', 'caFiles', i])),
  };
}

/**
 * Reads every certificate, key and CA file of the https entrypoints and reports each problem at the
 * key path that names the file: what `lb validate` and a config load print as `file:line:col`.
 */
export function checkTlsFiles(entrypoints: ReadonlyMap<string, EntrypointConfig>, report: (path: KeyPath, message: string) => void): void {
  for (const ep of entrypoints.values()) {
    const files = tlsFilesOf(ep);
    for (const pair of files.certificates) {
      try {
        loadCertificateFiles(pair);
      } catch (err) {
        if (!(err instanceof TlsCertificateError)) throw err;
        report(err.file === pair.key.file && err.key === pair.key.key ? pair.key.path : pair.cert.path, `${err.file}: ${err.problem}`);
      }
    }
    for (const ca of files.cas) {
      try {
        loadCaFile(ca);
      } catch (err) {
        if (!(err instanceof TlsCertificateError)) throw err;
        report(ca.path, `${err.file}: ${err.problem}`);
      }
    }
  }
}

/**
 * A certificate subject as one line (RFC 4514 order, most specific first: `CN=client,O=Example`),
 * safe for a header value: special characters are escaped, non-ASCII bytes written as `\XX`.
 */
export function formatSubject(subject: string): string {
  return subject
    .split('\n')
    .filter(Boolean)
    .reverse()
    .map((rdn) => {
      const eq = rdn.indexOf('=');
      if (eq < 0) return escapeDnValue(rdn);
      return `${rdn.slice(0, eq)}=${escapeDnValue(rdn.slice(eq + 1))}`;
    })
    .join(',');
}

function escapeDnValue(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const ch = String.fromCharCode(byte);
    if (byte < 0x20 || byte > 0x7e) out += `\\${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    else if (',+"\\<>;='.includes(ch)) out += `\\${ch}`;
    else out += ch;
  }
  return out.replace(/^([ #])/, '\\$1').replace(/ $/, '\\ ');
}
