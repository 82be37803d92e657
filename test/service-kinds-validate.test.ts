import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { configErrors } from './helpers/config.js';

const header = `entrypoints:
  web: { address: "127.0.0.1:8080" }
routers:
  app: { entrypoint: web, service: app }
services:
`;

test('lb validate refuses weighted and mirroring services that name missing services, reach themselves, or mix kinds, at file:line:col', () => {
  assert.deepEqual(configErrors(`${header}  app: { weighted: { services: [ { name: app-v1, weight: 95 }, { name: app-v3, weight: 5 } ] } }
  app-v1: { servers: [ { url: "http://127.0.0.1:3001" } ] }
  loop-a: { weighted: { services: [ { name: loop-b } ] } }
  loop-b: { mirroring: { service: app-v1, mirrors: [ { name: loop-a, percent: 10 } ] } }
  self: { weighted: { services: [ { name: app-v1 }, { name: self } ] } }
  labels: { weighted: { services: [ { name: app-v1@docker } ] } }
`), [
    'lb.yaml:6:72: services.app.weighted.services[1].name: service "app-v3" is not defined (did you mean "app-v1"?)',
    'lb.yaml:11:45: services.labels.weighted.services[0].name: service "app-v1@docker" comes from Docker labels, but providers.docker.enabled is false',
    'lb.yaml:8:45: services.loop-a.weighted.services[0].name: services name each other in a cycle: loop-a → loop-b → loop-a',
    'lb.yaml:10:61: services.self.weighted.services[1].name: service "self" names itself',
  ]);

  assert.deepEqual(configErrors(`${header}  app:
    weighted: { services: [ { name: app-v1, weight: 0 } ] }
    mirroring: { service: app-v1, mirrors: [ { name: app-v1, percent: 101 } ] }
    servers: [ { url: "http://127.0.0.1:3001" } ]
    retries: 2
  app-v1: { servers: [ { url: "http://127.0.0.1:3001" } ] }
`), [
    'lb.yaml:8:5: services.app.mirroring: a service is either weighted or mirroring, not both: make "mirroring" a service of its own',
    'lb.yaml:9:5: services.app.servers: a weighted service passes requests on to the services it names and has no servers of its own: give them to those services',
    'lb.yaml:10:5: services.app.retries: a weighted service passes requests on to the services it names and has no "retries" of its own: set it on those services',
    'lb.yaml:7:53: services.app.weighted.services[0].weight: must be between 1 and 10000, got 0',
    'lb.yaml:8:71: services.app.mirroring.mirrors[0].percent: must be between 0 and 100, got 101',
  ]);
});

test('with Docker on, a weighted service in lb.yaml may name services that containers define', () => {
  const config = parseConfig(`${header}  app: { weighted: { services: [ { name: app-v1@docker, weight: 95 }, { name: app-v2, weight: 5 } ], sticky: { cookie: lb_canary } } }
providers: { docker: { enabled: true } }
`, 'lb.yaml');
  assert.deepEqual(config.services.get('app')!.weighted, { services: [{ name: 'app-v1', weight: 95 }, { name: 'app-v2', weight: 5 }], sticky: { cookie: 'lb_canary', secure: false } });
});
