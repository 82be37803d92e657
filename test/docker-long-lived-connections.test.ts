import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { docker, DockerFixture, eventually, requireDocker } from './helpers/docker.js';
import { startLb, usableServers } from './helpers/lb.js';

function echoRoundTrip(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (chunk: Buffer) => {
      got += chunk.toString('latin1');
      if (got.endsWith(text)) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`connection closed while waiting for "${text}" (got "${got}")`)));
    socket.write(text);
  });
}

async function open(port: number, preamble?: string): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  if (preamble) {
    const head = await new Promise<string>((resolve) => {
      let got = '';
      const onData = (chunk: Buffer) => {
        got += chunk.toString('latin1');
        if (got.includes('\r\n\r\n')) {
          socket.off('data', onData);
          resolve(got);
        }
      };
      socket.on('data', onData);
      socket.write(preamble);
    });
    assert.match(head, /^HTTP\/1\.1 101 /);
  }
  return socket;
}

test('upgraded and TCP connections to replica A survive B starting, failing health and stopping', { timeout: 90_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const lb = await startLb(t, lbYaml(`
providers: { docker: { enabled: true, labelPrefix: "${fixture.prefix}" } }
`, { entrypoints: { echo: 'protocol: tcp' } }));
  const labels = {
    ...fixture.labels({
      enable: 'true', host: 'pair.example.com', port: '8080', 'healthcheck.path': '/health', 'healthcheck.interval': '500ms', 'healthcheck.timeout': '250ms',
      'tcp.routers.pair-tcp.entrypoint': 'echo', 'tcp.routers.pair-tcp.service': 'pair-tcp', 'services.pair-tcp.port': '9000',
    }),
    'com.docker.compose.service': 'pair',
  };
  const usable = () => usableServers(lb, 'pair');
  await fixture.start({ labels, env: { NAME: 'A', TCP_PORT: '9000' } });
  await eventually(() => (usable() === 1 ? true : undefined), 'A healthy', 20_000);

  const tunnel = await open(lb.port('web'), 'GET /ws HTTP/1.1\r\nHost: pair.example.com\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
  const tcp = await eventually(async () => {
    const socket = await open(lb.port('echo'));
    return (await echoRoundTrip(socket, 'ping')) === 'ping' ? socket : undefined;
  }, 'a TCP tunnel to A');
  let closed = 0;
  for (const socket of [tunnel, tcp]) socket.once('close', () => closed++);
  const check = async (step: string) => {
    assert.equal(await echoRoundTrip(tunnel, `upgrade ${step}`), `upgrade ${step}`);
    assert.equal(await echoRoundTrip(tcp, `tcp ${step}`), `tcp ${step}`);
  };
  await check('alone');

  const b = await fixture.start({ labels, env: { NAME: 'B', TCP_PORT: '9000' } });
  await eventually(() => (usable() === 2 ? true : undefined), 'B healthy', 20_000);
  await check('after B started');

  const flip = await request(`http://${await fixture.ip(b)}:8080/fail`, { method: 'POST' });
  assert.equal(await flip.body.text(), 'now failing');
  await eventually(() => (usable() === 1 ? true : undefined), 'B unhealthy', 20_000);
  await check('after B failed its health check');

  await docker('stop', '-t', '5', b);
  await eventually(() => (lb.control.snapshot.services.get('pair')!.backends.length === 1 ? true : undefined), 'B gone');
  await check('after B stopped');
  assert.equal(closed, 0);
  tunnel.destroy();
  tcp.destroy();
});
