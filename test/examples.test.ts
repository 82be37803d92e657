import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { loadConfigFile } from '../src/config/load.js';
import { defaultName, parseLabels } from '../src/providers/docker/labels.js';

const examples = new URL('../examples/', import.meta.url).pathname;

function files(dir: string, name: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(dir, entry.name), name) : entry.name === name ? [join(dir, entry.name)] : [],
  );
}

test('every example lb.yaml and the bundled lb.yaml validate', () => {
  const configs = [...files(examples, 'lb.yaml'), new URL('../lb.yaml', import.meta.url).pathname];
  assert.ok(configs.length >= 4);
  for (const file of configs) assert.doesNotThrow(() => loadConfigFile(file), file);
});

test('every example compose file keeps to the top-level keys that Compose v1 and v2 both accept', () => {
  // docker-compose 1.29 rejects the rest (`name` included: "'name' does not match any of the regexes: '^x-'").
  const common = new Set(['services', 'networks', 'volumes', 'configs', 'secrets']);
  for (const file of files(examples, 'docker-compose.yml')) {
    const keys = Object.keys(parse(readFileSync(file, 'utf8')) as object);
    assert.deepEqual(keys.filter((key) => !common.has(key) && !key.startsWith('x-')), [], file);
  }
});

test('the labels in every example compose file parse without errors', () => {
  const composeFiles = files(examples, 'docker-compose.yml');
  assert.equal(composeFiles.length, 2);
  for (const file of composeFiles) {
    const compose = parse(readFileSync(file, 'utf8')) as { services: Record<string, { labels?: Record<string, string> }> };
    for (const [service, spec] of Object.entries(compose.services)) {
      if (!spec.labels) continue;
      const result = parseLabels(spec.labels, { prefix: 'lb', exposedByDefault: false, name: defaultName(service, service) });
      assert.deepEqual(result.errors, [], `${file}: service ${service}`);
      assert.equal(result.enabled, true, `${file}: service ${service}`);
    }
  }
});
