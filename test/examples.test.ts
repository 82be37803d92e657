import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfigFile } from '../src/config/load.js';

const examples = new URL('../examples/', import.meta.url).pathname;

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? yamlFiles(join(dir, entry.name)) : entry.name === 'lb.yaml' ? [join(dir, entry.name)] : [],
  );
}

test('every example lb.yaml and the bundled lb.yaml validate', () => {
  const files = [...yamlFiles(examples), new URL('../lb.yaml', import.meta.url).pathname];
  assert.ok(files.length >= 2);
  for (const file of files) assert.doesNotThrow(() => loadConfigFile(file), file);
});
