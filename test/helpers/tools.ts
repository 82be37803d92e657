import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

/**
 * True when `command` is on the PATH. Otherwise the test is skipped with the package to install;
 * in CI (CI=true), where .ci/run installs it, a missing tool fails the test instead.
 */
export function requireTool(t: TestContext, command: string, debianPackage: string): boolean {
  if (spawnSync('sh', ['-c', `command -v ${command}`]).status === 0) return true;
  const message = `${command} is not installed (apt-get install -y ${debianPackage})`;
  if (process.env.CI === 'true') throw new Error(`${message}; .ci/run should have installed it`);
  t.skip(message);
  return false;
}
