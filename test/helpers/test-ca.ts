// A certificate authority made with openssl for one test, and certificates it issues (ECDSA P-256,
// valid for a day). Tests that need TLS call requireTool(t, 'openssl', 'openssl') first.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

export interface Issued {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface TestCa {
  caFile: string;
  /** The CA certificate, PEM. */
  ca: string;
  /** A certificate for `names` (DNS names, or IP addresses), with `names[0]` as its CN. */
  issue(names: readonly string[]): Issued;
}

const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1'];

export function makeTestCa(t: TestContext, cn = 'lb test CA'): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'lb-ca-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const caFile = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  execFileSync('openssl', ['req', '-x509', ...ec, '-keyout', caKey, '-out', caFile, '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'], { stdio: 'ignore' });
  let serial = 0;
  return {
    caFile,
    ca: readFileSync(caFile, 'utf8'),
    issue(names) {
      const base = join(dir, `leaf-${++serial}`);
      const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
      execFileSync('openssl', ['req', '-x509', ...ec, '-CA', caFile, '-CAkey', caKey, '-keyout', `${base}.key`, '-out', `${base}.pem`, '-subj', `/CN=${names[0]}`, '-addext', `subjectAltName=${san}`, '-addext', 'basicConstraints=CA:FALSE'], { stdio: 'ignore' });
      return { certFile: `${base}.pem`, keyFile: `${base}.key`, cert: readFileSync(`${base}.pem`, 'utf8'), key: readFileSync(`${base}.key`, 'utf8') };
    },
  };
}

/**
 * A TLS server on loopback with `certificate` that tells who answered: it writes `name` and then
 * echoes what it reads. Closed when the test ends.
 */
export async function namedTlsServer(t: TestContext, name: string, certificate: Issued): Promise<{ port: number; handshakes: () => number }> {
  let handshakes = 0;
  const sockets = new Set<TLSSocket>();
  const server = createServer({ key: certificate.key, cert: certificate.cert }, (socket: TLSSocket) => {
    handshakes++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.write(`${name}\n`);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as AddressInfo).port, handshakes: () => handshakes };
}
