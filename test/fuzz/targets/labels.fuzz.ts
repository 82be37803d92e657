// The Docker label parser. The input is label lines, `key=value`, each key under the `lb.` prefix
// (with `lb.enable=true` unless a line sets it); the first byte's low bit makes the container a
// compose service. parseLabels never throws: problems come back as errors, each naming a label
// under the prefix, and a container has a configuration exactly when it has no error.
import assert from 'node:assert/strict';
import { parseLabels } from '../../../src/providers/docker/labels.js';

export function fuzz(data: Buffer): void {
  const labels: Record<string, string> = { 'lb.enable': 'true' };
  for (const line of data.toString('utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    labels[`lb.${line.slice(0, eq)}`] = line.slice(eq + 1);
  }
  const compose = (data[0] ?? 0) & 1 ? 'web' : undefined;
  const context = JSON.stringify(labels);
  const result = parseLabels(labels, { prefix: 'lb', exposedByDefault: false, name: 'web', ...(compose ? { composeService: compose } : {}) });
  for (const problem of [...result.errors, ...result.warnings]) {
    assert.ok(problem.label.toLowerCase().startsWith('lb.'), `label ${problem.label}: ${context}`);
    assert.ok(typeof problem.message === 'string' && problem.message.length > 0, context);
  }
  if (!result.enabled) {
    assert.equal(result.config, undefined, context);
    return;
  }
  assert.equal(result.config === undefined, result.errors.length > 0, `config ${result.config ? 'and' : 'without'} errors: ${context}`);
}
