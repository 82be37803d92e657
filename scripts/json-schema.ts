// lb.schema.json: the JSON Schema of lb.yaml for editors (yaml-language-server, VS Code), made
// from the one schema (src/config/schema.ts) with each key's meaning from docs/configuration.md.
// `npm run schema` writes it; test/json-schema.test.ts fails when the file is not what this makes.
// Usage: node --import tsx scripts/json-schema.ts [--check]
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configSchema } from '../src/config/schema.js';
import type { JsonSchema } from '../src/config/validate.js';
import { documentedKeys, namedSections, type DocumentedKey } from './configuration-docs.js';

export const schemaFile = fileURLToPath(new URL('../lb.schema.json', import.meta.url));

/** Markdown as plain text, for editors that show `description` only. */
function plain(markdown: string): string {
  return markdown.replace(/\[([^\]]+)\]\([^)]+\)/g, '$1').replace(/`([^`]*)`/g, '$1').replace(/\*\*([^*]+)\*\*/g, '$1');
}

/** A copy of `node` with the meaning of every documented key below `path` (nodes are shared between keys). */
function describe(node: JsonSchema, path: string, docs: Map<string, DocumentedKey>): JsonSchema {
  const out: Record<string, unknown> = { ...node };
  const row = docs.get(path);
  if (row) {
    out.description = plain(row.meaning);
    out.markdownDescription = row.meaning;
  }
  const properties = node.properties as Record<string, JsonSchema> | undefined;
  if (properties) {
    out.properties = Object.fromEntries(Object.entries(properties).map(([key, child]) => [key, describe(child, path ? `${path}.${key}` : key, docs)]));
  }
  if (namedSections.has(path) && node.additionalProperties) out.additionalProperties = describe(node.additionalProperties as JsonSchema, `${path}.NAME`, docs);
  return out;
}

export function buildJsonSchema(): string {
  const schema = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'lb.yaml',
    description: 'The configuration of lb, the load balancer. Generated from src/config/schema.ts by `npm run schema`; `lb validate` checks what a JSON Schema cannot (files, references between keys).',
    ...describe(configSchema.jsonSchema, '', documentedKeys()),
  };
  return `${JSON.stringify(schema, null, 2)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = buildJsonSchema();
  if (process.argv.includes('--check')) {
    if (readFileSync(schemaFile, 'utf8') !== text) {
      console.error('lb.schema.json is out of date: run `npm run schema`');
      process.exit(1);
    }
  } else {
    writeFileSync(schemaFile, text);
    console.log(`wrote ${schemaFile}`);
  }
}
