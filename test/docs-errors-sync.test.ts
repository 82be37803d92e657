// docs/errors.md and the error codes in src/ name the same codes, in the style of fastify's test
// that keeps Errors.md in sync with its catalogue; the proxying table's kind and status columns
// are what ProxyError says for each kind.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ProxyError, type ProxyErrorKind } from '../src/errors.js';

const root = new URL('..', import.meta.url).pathname;
const doc = readFileSync(join(root, 'docs/errors.md'), 'utf8');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? sourceFiles(path) : entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every code an LbError subclass passes to `super`, or a code table gives, anywhere in src/. */
function codesInSource(): Set<string> {
  const codes = new Set<string>();
  for (const file of sourceFiles(join(root, 'src'))) {
    for (const match of readFileSync(file, 'utf8').matchAll(/(?:super\(\s*|\bcode: )'(LB_[A-Z0-9_]+)'/g)) codes.add(match[1]!);
  }
  return codes;
}

/** The first cell of every table row, where it is a code. */
const documentedCodes = new Set([...doc.matchAll(/^\| `(LB_[A-Z0-9_]+)` \|/gm)].map((match) => match[1]!));

test('every error code in src/ is documented in docs/errors.md, and every documented code exists', () => {
  const source = codesInSource();
  assert.ok(source.size >= 10, `found only ${source.size} codes: the pattern no longer matches the sources`);
  assert.deepEqual([...source].filter((code) => !documentedCodes.has(code)).sort(), [], 'codes missing from docs/errors.md');
  assert.deepEqual([...documentedCodes].filter((code) => !source.has(code)).sort(), [], 'docs/errors.md names codes that src/ does not define');
});

test('the proxying table gives each kind its code and status', () => {
  const kinds = /export type ProxyErrorKind =([^;]+);/.exec(readFileSync(join(root, 'src/errors.ts'), 'utf8'))![1]!.match(/'[a-z_]+'/g)!.map((kind) => kind.slice(1, -1) as ProxyErrorKind);
  const rows = new Map([...doc.matchAll(/^\| `(LB_[A-Z0-9_]+)` \| `([a-z_]+)` \| (?:\(?(\d{3}))[^|]*\|/gm)].map((match) => [match[2]!, { code: match[1]!, status: Number(match[3]) }]));
  for (const kind of kinds) {
    const error = new ProxyError(kind);
    assert.deepEqual(rows.get(kind), { code: error.code, status: error.status }, `docs/errors.md row for kind ${kind}`);
  }
  assert.deepEqual([...rows.keys()].filter((kind) => !kinds.includes(kind as ProxyErrorKind)), [], 'docs/errors.md gives kinds that ProxyErrorKind does not have');
});
