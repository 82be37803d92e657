import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { yamlSnippets } from './helpers/docs-snippets.js';
import { cliPath } from './helpers/lb-process.js';
import { CertificateFolder } from './helpers/tls.js';

// Every ```yaml block of README.md and docs/ is a whole lb.yaml that `lb validate` accepts, so a
// doc cannot drift from the schema. The TLS files a snippet names are made where it names them.

const run = promisify(execFile);

/** The relative paths of TLS files a snippet names: certificate/key pairs, and CA files. */
function tlsFiles(value: unknown, pairs: Array<[string, string]>, cas: string[]): void {
  if (Array.isArray(value)) return value.forEach((item) => tlsFiles(item, pairs, cas));
  if (!value || typeof value !== 'object') return;
  const record = value as Record<string, unknown>;
  if (typeof record.certFile === 'string' && typeof record.keyFile === 'string') pairs.push([record.certFile, record.keyFile]);
  for (const key of ['caFile', 'caFiles']) for (const file of [record[key]].flat()) if (typeof file === 'string') cas.push(file);
  Object.values(record).forEach((child) => tlsFiles(child, pairs, cas));
}

test('every yaml block in README.md and docs/ is a valid lb.yaml', { timeout: 90_000 }, async (t) => {
  if (!CertificateFolder.available(t)) return;
  const certificates = new CertificateFolder(t);
  const snippets = yamlSnippets();
  assert.ok(snippets.length >= 10, `found ${snippets.length} yaml blocks`);
  const failures: string[] = [];
  for (const snippet of snippets) {
    const dir = mkdtempSync(join(tmpdir(), 'lb-snippet-'));
    try {
      const pairs: Array<[string, string]> = [];
      const cas: string[] = [];
      tlsFiles(parse(snippet.text), pairs, cas);
      const place = (file: string, pem: string) => {
        assert.ok(!isAbsolute(file), `${snippet.where}: name TLS files relative to lb.yaml in docs, not ${file}`);
        mkdirSync(dirname(join(dir, file)), { recursive: true });
        writeFileSync(join(dir, file), pem);
      };
      for (const [certFile, keyFile] of pairs) {
        const made = certificates.certificate({ names: ['example.com'] });
        place(certFile, made.cert);
        place(keyFile, made.key);
      }
      for (const caFile of cas) place(caFile, certificates.ca().cert);
      writeFileSync(join(dir, 'lb.yaml'), snippet.text);
      await run(process.execPath, [cliPath, 'validate', '--config', join(dir, 'lb.yaml')], { timeout: 20_000 }).catch((err: { stderr?: string; message: string }) => {
        failures.push(`${snippet.where}:\n${(err.stderr ?? err.message).trim()}`);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  assert.deepEqual(failures, []);
});
