import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { buildJsonSchema, schemaFile } from '../scripts/json-schema.js';
import { yamlSnippets } from './helpers/docs-snippets.js';

// lb.schema.json is what editors check lb.yaml with: made from the one schema, so it must be
// current, accept every config the project ships or documents, and refuse what lb refuses.

const schemaText = readFileSync(schemaFile, 'utf8');
const ajv = new Ajv({ allErrors: true, strict: true, keywords: ['markdownDescription'] });
const validate = ajv.compile(JSON.parse(schemaText) as object);

function errorsOf(yaml: string): string[] {
  return validate(parse(yaml) ?? {}) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`);
}

test('lb.schema.json is what `npm run schema` makes from src/config/schema.ts', () => {
  assert.ok(schemaText === buildJsonSchema(), 'lb.schema.json is out of date: run `npm run schema`');
});

test('lb.schema.json accepts the bundled lb.yaml, every example, and every yaml block of the docs', () => {
  const examples = readdirSync(new URL('../examples/', import.meta.url), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => `examples/${entry.name}/lb.yaml`);
  const configs = ['lb.yaml', ...examples].map((file) => ({ where: file, text: readFileSync(new URL(`../${file}`, import.meta.url), 'utf8') }));
  for (const { where, text } of [...configs, ...yamlSnippets()]) assert.deepEqual(errorsOf(text), [], where);
});

test('lb.schema.json refuses a misspelt key, a value outside a list, and a wrong type, as lb validate does', () => {
  const good = 'entrypoints: { web: { address: ":8080" } }\n';
  assert.deepEqual(errorsOf(good), []);
  assert.ok(errorsOf('entrypoints: { web: { adress: ":8080" } }').some((e) => e.includes('must NOT have additional properties')));
  assert.ok(errorsOf('entrypoints: { web: { address: ":8080", protocol: udp } }').some((e) => e.startsWith('/entrypoints/web/protocol')));
  assert.ok(errorsOf('services: { app: { retries: many } }').some((e) => e.startsWith('/services/app/retries')));
  assert.ok(errorsOf('services: { app: { timeouts: { connect: 5 } } }').some((e) => e.startsWith('/services/app/timeouts/connect')));
  // What lb accepts with a deprecation warning, editors accept too.
  assert.deepEqual(errorsOf('workerListen: reusePort'), []);
});

test('lb.schema.json carries each key\'s meaning from docs/configuration.md, for editors to show', () => {
  const schema = JSON.parse(schemaText) as { properties: { entrypoints: { additionalProperties: { properties: Record<string, { description?: string }> } } } };
  assert.match(schema.properties.entrypoints.additionalProperties.properties.address!.description ?? '', /host:port to listen on/);
});
