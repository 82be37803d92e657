import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { startBalancer, type RunningBalancer } from '../../src/lb.js';
import { createLogger } from '../../src/log.js';
import { lbYaml } from './config.js';

export interface TestBalancer extends RunningBalancer {
  /** `http://127.0.0.1:PORT` of an entrypoint (or `admin`). */
  url(name: string): string;
  port(name: string): number;
}

/** Starts lb in this process on a YAML config; stopped when the test ends, pass or fail. */
export async function startLb(t: TestContext, yaml: string): Promise<TestBalancer> {
  const config = parseConfig(yaml, 'test.yaml');
  const balancer = await startBalancer(config, createLogger(process.env.LB_TEST_LOG ? 'debug' : 'silent', 2));
  t.after(() => balancer.stop(200));
  const address = (name: string): AddressInfo => {
    const found = balancer.addresses[name];
    if (!found) throw new Error(`no listener named ${name}`);
    return found;
  };
  return Object.assign(balancer, {
    url: (name: string) => `http://127.0.0.1:${address(name).port}`,
    port: (name: string) => address(name).port,
  });
}

/** One HTTP entrypoint `web` whose every request goes to service `svc` on `url`. */
export function oneServiceConfig(url: string, serviceSettings = ''): string {
  return lbYaml(`
routers: { all: { entrypoint: web, service: svc } }
services: { svc: { ${serviceSettings} servers: [ { url: "${url}" } ] } }
`);
}

/** How many servers of a service pass their checks and are not ejected. */
export function usableServers(lb: RunningBalancer, service: string): number {
  return lb.control.snapshot.services.get(service)?.backends.filter((b) => lb.control.isUsable(service, b)).length ?? 0;
}
