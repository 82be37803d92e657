// Reads the key tables of docs/configuration.md: one row per key of lb.yaml, with its default and
// meaning. The docs are checked against the schema (test/docs-configuration-sync.test.ts), and
// lb.schema.json takes its descriptions from them (scripts/json-schema.ts).
import { readFileSync } from 'node:fs';

export interface DocumentedKey {
  /** As the table writes it: `required`, `none`, a value in backticks, or prose. */
  readonly default: string;
  /** Markdown. */
  readonly meaning: string;
}

/** The dictionaries of user-chosen names; below them the docs write NAME. */
export const namedSections = new Set(['entrypoints', 'routers', 'services', 'middlewares', 'acme']);

/** Rows of the tables, keyed by the full path (the section heading names the prefix). */
export function documentedKeys(docs = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8')): Map<string, DocumentedKey> {
  const rows = new Map<string, DocumentedKey>();
  let prefix = '';
  for (const line of docs.split('\n')) {
    const heading = /^## (.+)$/.exec(line);
    if (heading) prefix = /^(entrypoints|routers|services|middlewares|acme)\.NAME$|^admin$/.test(heading[1]!) ? `${heading[1]}.` : '';
    const row = /^\| `([^`]+)` \| (.+?) \| (.*) \|$/.exec(line);
    if (row) rows.set(`${prefix}${row[1]}`, { default: row[2]!, meaning: row[3]! });
  }
  return rows;
}
