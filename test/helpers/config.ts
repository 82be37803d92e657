import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import { ConfigInvalidError, formatConfigIssue } from '../../src/errors.js';

export interface LbYamlOptions {
  /** Settings added to the HTTP entrypoint `web`, e.g. `trustedProxies: ["127.0.0.0/8"]`; `false` leaves `web` out. */
  web?: string | false;
  /** More entrypoints, name → settings, e.g. `{ db: 'protocol: tcp' }`; each listens on a free loopback port too. */
  entrypoints?: Record<string, string>;
  /** Settings added to the admin API, e.g. `token: "..."`. */
  admin?: string;
}

/**
 * The lb.yaml that most tests run on: the HTTP entrypoint `web` and the admin API, each on a
 * free loopback port, then `rest` as written (routers, services, and what the test is about).
 *
 *     lbYaml(`
 *     routers: { all: { entrypoint: web, service: svc } }
 *     services: { svc: { servers: [ { url: "${backend.url}" } ] } }
 *     `, { entrypoints: { db: 'protocol: tcp' } })
 */
export function lbYaml(rest = '', options: LbYamlOptions = {}): string {
  const entrypoints = { ...(options.web === false ? {} : { web: options.web ?? '' }), ...options.entrypoints };
  const listener = (settings: string) => `{ address: "127.0.0.1:0"${settings ? `, ${settings}` : ''} }`;
  return [
    'entrypoints:',
    ...Object.entries(entrypoints).map(([name, settings]) => `  ${name}: ${listener(settings)}`),
    `admin: ${listener(options.admin ?? '')}`,
    rest.replace(/^\n/, ''),
  ].join('\n');
}

/** The problems of a config that must be refused, each as lb prints it (`file:line:col: key: message`). */
export function configErrors(yaml: string): string[] {
  try {
    parseConfig(yaml, 'lb.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigInvalidError, `expected ConfigInvalidError, got ${String(err)}`);
    return err.issues.map(formatConfigIssue);
  }
  assert.fail('config was accepted');
}
