import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseAddress, choosePort, type AddressContext, type ContainerInfo } from '../src/providers/docker/address.js';

function container(overrides: Partial<ContainerInfo>): ContainerInfo {
  return { id: 'c1', name: 'c1', created: 0, labels: {}, running: true, paused: false, networkMode: 'default', networks: [], exposedPorts: [], published: new Map(), oneOff: false, ...overrides };
}

const base: AddressContext = { resolve: () => undefined, ownNetworks: undefined, preferredNetworks: [], hostAddress: '127.0.0.1', useBindPort: false };
const twoNets = [{ name: 'back', ip: '10.1.0.2' }, { name: 'front', ip: '10.2.0.2' }];

test('rule 1: container:<id> uses the target network, and cycles are refused', () => {
  const target = container({ id: 't', name: 'target', networks: [{ name: 'app', ip: '10.9.0.5' }] });
  const sidecar = container({ networkMode: 'container:t' });
  const choice = chooseAddress(sidecar, 8080, undefined, 'lb.network', { ...base, resolve: (id) => (id === 't' ? target : undefined) });
  assert.deepEqual(choice.ok && [choice.host, choice.port, choice.network], ['10.9.0.5', 8080, 'app']);
  const a = container({ id: 'a', networkMode: 'container:b' });
  const b = container({ id: 'b', networkMode: 'container:a' });
  const cycle = chooseAddress(a, 80, undefined, 'lb.network', { ...base, resolve: (id) => (id === 'a' ? a : b) });
  assert.equal(!cycle.ok && /cycle/.test(cycle.reason), true);
  const missing = chooseAddress(container({ networkMode: 'container:gone' }), 80, undefined, 'lb.network', base);
  assert.equal(!missing.ok && missing.reason, 'network_mode container:gone: that container is not known');
});

test('rules 2 and 3: host mode uses hostAddress; none is unroutable', () => {
  const host = chooseAddress(container({ networkMode: 'host' }), 9000, undefined, 'lb.network', { ...base, hostAddress: '192.0.2.1' });
  assert.deepEqual(host.ok && [host.host, host.port], ['192.0.2.1', 9000]);
  const none = chooseAddress(container({ networkMode: 'none' }), 80, undefined, 'lb.network', base);
  assert.equal(!none.ok && none.reason, 'network_mode none: the container has no network');
});

test('rule 4: the swarm ingress network and address-less networks are ignored', () => {
  const choice = chooseAddress(container({ networks: [{ name: 'ingress', ip: '10.0.0.3' }, { name: 'empty', ip: '' }, { name: 'app', ip: '10.5.0.3' }] }), 80, undefined, 'lb.network', base);
  assert.equal(choice.ok && choice.network, 'app');
});

test('rule 5: lb.network picks that network (compose-prefixed too), never another', () => {
  const c = container({ networks: [{ name: 'proj_front', ip: '10.2.0.2' }, { name: 'back', ip: '10.1.0.2' }], composeProject: 'proj' });
  const chosen = chooseAddress(c, 80, 'front', 'lb.network', base);
  assert.equal(chosen.ok && chosen.host, '10.2.0.2');
  const wrong = chooseAddress(c, 80, 'other', 'lb.network', { ...base, preferredNetworks: ['back'] });
  assert.equal(!wrong.ok && wrong.reason, 'lb.network=other, but the container is on networks: proj_front, back');
});

test('rule 6: providers.docker.network in order', () => {
  const choice = chooseAddress(container({ networks: twoNets }), 80, undefined, 'lb.network', { ...base, preferredNetworks: ['missing', 'front', 'back'] });
  assert.equal(choice.ok && choice.network, 'front');
});

test('rule 7: a network shared with lb own container, first by name', () => {
  const choice = chooseAddress(container({ networks: twoNets }), 80, undefined, 'lb.network', { ...base, ownNetworks: ['front', 'back'] });
  assert.equal(choice.ok && choice.network, 'back');
});

test('rule 8: a published port with useBindPort, 0.0.0.0 becoming hostAddress', () => {
  const published = new Map([[80, [{ hostIp: '0.0.0.0', hostPort: 32768 }]]]);
  const choice = chooseAddress(container({ networks: twoNets, published }), 80, undefined, 'lb.network', { ...base, useBindPort: true, hostAddress: '192.0.2.7' });
  assert.deepEqual(choice.ok && [choice.host, choice.port, choice.network], ['192.0.2.7', 32768, 'published']);
});

test('rule 9: the only network, or unroutable with the label that fixes it', () => {
  const only = chooseAddress(container({ networks: [twoNets[0]!] }), 80, undefined, 'lb.network', base);
  assert.equal(only.ok && only.network, 'back');
  const several = chooseAddress(container({ networks: twoNets }), 80, undefined, 'lb.network', base);
  assert.equal(!several.ok && several.reason, 'on networks back, front and none was chosen; set lb.network (or providers.docker.network)');
});

test('the port is the label, else the only exposed port; several are never guessed', () => {
  assert.deepEqual(choosePort(container({ exposedPorts: [80, 443] }), 8080, 'lb.port'), { port: 8080 });
  assert.deepEqual(choosePort(container({ exposedPorts: [3000] }), undefined, 'lb.port'), { port: 3000 });
  assert.deepEqual(choosePort(container({ exposedPorts: [80, 443] }), undefined, 'lb.port'), { reason: 'several exposed ports (80, 443); set lb.port to choose one' });
  assert.deepEqual(choosePort(container({}), undefined, 'lb.port'), { reason: 'no port: the image exposes none; set lb.port' });
});
