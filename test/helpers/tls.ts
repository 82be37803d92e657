// Real certificates for the https tests, made by openssl in a temporary folder, and a TLS client
// that says what it saw: the certificate, the version, whether the session was resumed, the reply.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { readClientHello } from '../../src/tls/client-hello.js';
import { requireTool } from './tools.js';

export interface TestCertificate {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface CertificateOptions {
  /** `ec` (ECDSA P-256, the default) or `rsa` (2048 bits). */
  type?: 'ec' | 'rsa';
  /** DNS names (or IP addresses) of the subjectAltName; the first is also the CN. */
  names: string[];
  /** Signed by this CA instead of self-signed. */
  ca?: TestCertificate;
  /** `clientAuth` for client certificates; servers get `serverAuth`. */
  usage?: 'serverAuth' | 'clientAuth';
  /** The subject, e.g. `/CN=alice/O=Example`; default `/CN=<first name>`. */
  subject?: string;
}

/** A folder of certificates made with openssl; removed when the test ends. Skips the test without openssl. */
export class CertificateFolder {
  readonly dir: string;
  private count = 0;

  constructor(t: TestContext) {
    this.dir = mkdtempSync(join(tmpdir(), 'lb-certs-'));
    t.after(() => rmSync(this.dir, { recursive: true, force: true }));
  }

  static available(t: TestContext): boolean {
    return requireTool(t, 'openssl', 'openssl');
  }

  /** A CA that signs client (or server) certificates. */
  ca(name = 'lb test CA'): TestCertificate {
    const base = this.next('ca');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.pem`, '-days', '2', '-subj', `/CN=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { stdio: 'ignore' });
    return this.read(base);
  }

  certificate(options: CertificateOptions): TestCertificate {
    const base = this.next(options.names[0]?.replace(/[^\w.-]/g, '_') ?? 'cert');
    const keyArgs = options.type === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
    const subject = options.subject ?? `/CN=${options.names[0] ?? 'lb test'}`;
    const san = options.names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
    const usage = options.usage ?? 'serverAuth';
    if (!options.ca) {
      execFileSync('openssl', ['req', '-x509', ...keyArgs, '-nodes', '-keyout', `${base}.key`, '-out', `${base}.pem`, '-days', '2', '-subj', subject,
        ...(san ? ['-addext', `subjectAltName=${san}`] : []), '-addext', `extendedKeyUsage=${usage}`], { stdio: 'ignore' });
      return this.read(base);
    }
    execFileSync('openssl', ['req', '-new', ...keyArgs, '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', subject], { stdio: 'ignore' });
    writeFileSync(`${base}.ext`, `${san ? `subjectAltName=${san}\n` : ''}extendedKeyUsage=${usage}\n`);
    execFileSync('openssl', ['x509', '-req', '-in', `${base}.csr`, '-CA', options.ca.certFile, '-CAkey', options.ca.keyFile, '-CAcreateserial', '-out', `${base}.pem`, '-days', '2', '-extfile', `${base}.ext`], { stdio: 'ignore' });
    return this.read(base);
  }

  private next(name: string): string {
    return join(this.dir, `${++this.count}-${name}`);
  }

  private read(base: string): TestCertificate {
    return { certFile: `${base}.pem`, keyFile: `${base}.key`, cert: readFileSync(`${base}.pem`, 'utf8'), key: readFileSync(`${base}.key`, 'utf8') };
  }
}

/** `{ certFile: "...", keyFile: "..." }` for lb.yaml. */
export function certEntry(c: TestCertificate): string {
  return `{ certFile: "${c.certFile}", keyFile: "${c.keyFile}" }`;
}

export interface TlsExchange {
  /** The CN of the certificate lb presented. */
  cn: string;
  /** Its subjectAltName, as Node prints it. */
  san: string;
  protocol: string;
  cipher: string;
  alpn: string | false | null;
  reused: boolean;
  /** The session to resume with (TLS 1.3 tickets arrive after the handshake). */
  session: Buffer | undefined;
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface TlsRequest extends ConnectionOptions {
  port: number;
  path?: string;
  /** Host header; default: the server name, else 127.0.0.1. */
  host?: string;
  headers?: Record<string, string>;
}

/**
 * One HTTP/1.1 request over a new TLS connection (Connection: close). Rejects with the TLS error
 * when the handshake fails (its `code`: ERR_SSL_TLSV1_UNRECOGNIZED_NAME, ...).
 */
export function tlsRequest(options: TlsRequest): Promise<TlsExchange> {
  return new Promise((resolve, reject) => {
    const { port, path = '/', host, headers = {}, ...tlsOptions } = options;
    const socket: TLSSocket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], ...tlsOptions });
    let session: Buffer | undefined;
    let handshake: Omit<TlsExchange, 'status' | 'headers' | 'body' | 'session'> | undefined;
    let text = '';
    const timer = setTimeout(() => socket.destroy(new Error('timed out')), 10_000);
    socket.on('session', (s: Buffer) => (session = s));
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate();
      handshake = { cn: String(peer.subject?.CN ?? ''), san: peer.subjectaltname ?? '', protocol: socket.getProtocol() ?? '', cipher: socket.getCipher().name, alpn: socket.alpnProtocol, reused: socket.isSessionReused() };
      const lines = Object.entries({ host: host ?? (typeof tlsOptions.servername === 'string' ? tlsOptions.servername : '127.0.0.1'), connection: 'close', ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      socket.write(`GET ${path} HTTP/1.1\r\n${lines}\r\n`);
    });
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('end', () => {
      clearTimeout(timer);
      // The session ticket of TLS 1.3 may come just before the end.
      setImmediate(() => {
        if (!handshake) return reject(new Error('closed before the handshake finished'));
        const [head = '', ...rest] = text.split('\r\n\r\n');
        const [statusLine = '', ...headerLines] = head.split('\r\n');
        const parsed: Record<string, string> = {};
        for (const line of headerLines) {
          const colon = line.indexOf(':');
          if (colon > 0) parsed[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
        }
        resolve({ ...handshake, session, status: Number(statusLine.split(' ')[1] ?? 0), headers: parsed, body: rest.join('\r\n\r\n') });
      });
    });
  });
}

/** A TLS socket, with the first session (ticket) the server gives it, which may come before or after the handshake. */
export type TestTlsSocket = TLSSocket & { readonly ticket: Promise<Buffer> };

/** Opens a TLS connection and waits for the handshake; the caller writes and closes. */
export function tlsConnect(options: ConnectionOptions & { port: number }): Promise<TestTlsSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', rejectUnauthorized: false, ...options });
    const ticket = new Promise<Buffer>((got) => socket.once('session', got));
    socket.once('secureConnect', () => resolve(Object.assign(socket, { ticket })));
    socket.once('error', reject);
  });
}

/** Sends one keep-alive request on an open TLS socket and reads one response with a Content-Length body. */
export function requestOn(socket: TLSSocket, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/content-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
      if (text.length < end + 4 + length) return;
      socket.off('data', onData);
      socket.off('error', reject);
      resolve({ status: Number(text.split(' ')[1]), body: text.slice(end + 4, end + 4 + length) });
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nhost: ${host}\r\n\r\n`);
  });
}

/** The ClientHello that Node's own TLS client sends, captured by a plain TCP server. */
export async function captureClientHello(options: { servername?: string; ALPNProtocols?: string[] }): Promise<Buffer> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const received = new Promise<Buffer>((resolve) => {
    server.once('connection', (socket) => {
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        const bytes = Buffer.concat(chunks);
        if (readClientHello(bytes).status !== 'incomplete') {
          resolve(bytes);
          socket.destroy();
        }
      });
    });
  });
  const client = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, rejectUnauthorized: false, ...options });
  client.on('error', () => undefined);
  try {
    return await received;
  } finally {
    client.destroy();
    server.close();
  }
}
