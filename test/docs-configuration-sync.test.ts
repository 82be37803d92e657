import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { configSchema, labelServerSchema, serviceSchema, swarmLabelSchema } from '../src/config/schema.js';
import type { Validator } from '../src/config/validate.js';
import { documentedKeys, namedSections } from '../scripts/configuration-docs.js';

// docs/configuration.md is checked against the schema, as fastify checks its Errors.md against
// its error catalogue: every key has a row, every row is a key, and the default agrees.

const docs = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8');

function format(value: unknown): string {
  if (Array.isArray(value)) return `\`[${value.join(', ')}]\``;
  return `\`${String(value)}\``;
}

/** Every key path of the schema with the default the docs must state. */
function keys(parent: Validator<unknown>, prefix: string, out: Map<string, string>): Map<string, string> {
  for (const [key, field] of Object.entries(parent.fields!)) {
    const path = `${prefix}${key}`;
    if (namedSections.has(path)) keys(field.entry!, `${path}.NAME.`, out);
    else if (field.fields) keys(field, `${path}.`, out);
    else out.set(path, parent.required?.includes(key) ? 'required' : field.defaultValue !== undefined ? format(field.defaultValue) : field.defaultText ?? 'none');
  }
  return out;
}

function documented(): Map<string, string> {
  return new Map([...documentedKeys(docs)].map(([key, row]) => [key, row.default]));
}

test('docs/configuration.md has a row for every key of lb.yaml, with its default, and no row for a key that does not exist', () => {
  const expected = keys(configSchema, '', new Map());
  const rows = documented();
  const missing = [...expected.keys()].filter((k) => !rows.has(k));
  const stale = [...rows.keys()].filter((k) => !expected.has(k));
  assert.deepEqual(missing, [], 'keys without a row in docs/configuration.md');
  assert.deepEqual(stale, [], 'rows in docs/configuration.md for keys the schema does not have');
  const wrong = [...expected].filter(([k, v]) => rows.get(k) !== v).map(([k, v]) => `${k}: docs say ${rows.get(k)}, the schema ${v}`);
  assert.deepEqual(wrong, []);
});

test('docs/docker.md names every label key that only a container can set, and says that every service key can be set', () => {
  const docker = readFileSync(new URL('../docs/docker.md', import.meta.url), 'utf8');
  for (const key of Object.keys(labelServerSchema.fields!)) assert.match(docker, new RegExp(`\`lb\\.${key}\``), `lb.${key} is documented`);
  for (const key of Object.keys(serviceSchema.fields!)) assert.match(docs, new RegExp(`\`${key}[.\`]`), `services.${key} is in configuration.md, which docker.md points to`);
  assert.match(docker, /every key of `services\.NAME` in \[configuration\.md\]/);
});

test('docs/swarm.md has a row for every lb.swarm.* label of a service, with its default', () => {
  const swarm = readFileSync(new URL('../docs/swarm.md', import.meta.url), 'utf8');
  for (const [key, field] of Object.entries(swarmLabelSchema.fields!)) {
    assert.match(swarm, new RegExp(`^\\| \`lb\\.swarm\\.${key}\` \\| ${format(field.defaultValue).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\|`, 'm'), `lb.swarm.${key} has a row in docs/swarm.md`);
  }
});
