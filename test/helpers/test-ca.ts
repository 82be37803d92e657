// A certificate authority made with openssl for one test (CertificateFolder), and certificates it
// issues. Tests that need TLS call requireTool(t, 'openssl', 'openssl') first.
import { createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { CertificateFolder, type TestCertificate } from './tls.js';

export type Issued = TestCertificate;

export interface TestCa {
  caFile: string;
  /** The CA certificate, PEM. */
  ca: string;
  /** A certificate for `names` (DNS names, or IP addresses), with `names[0]` as its CN. */
  issue(names: readonly string[]): Issued;
}

export function makeTestCa(t: TestContext, cn = 'lb test CA'): TestCa {
  const folder = new CertificateFolder(t);
  const ca = folder.ca(cn);
  return { caFile: ca.certFile, ca: ca.cert, issue: (names) => folder.certificate({ names: [...names], ca }) };
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
