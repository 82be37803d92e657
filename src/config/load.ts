// lb.yaml → LbConfig: YAML parsing, and every problem mapped to file:line:col and its key path.
// It reads the TLS files lb.yaml names (certificates, keys, CAs) to check them; nothing else.
// What is valid and what the defaults are lives in schema.ts; cross-key checks in normalise.ts.
import { readFileSync } from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { ConfigInvalidError, ConfigReadError, type ConfigIssue } from '../errors.js';
import { checkTlsFiles } from '../tls/certificates.js';
import { normaliseConfig } from './normalise.js';
import { configSchema } from './schema.js';
import { formatPath, type KeyPath, type Problem } from './validate.js';
import type { LbConfig } from './types.js';

/** Finds the YAML node at a key path, to report positions. */
function nodeAt(root: Node | null | undefined, path: KeyPath, atKey: boolean): Node | undefined {
  let node: Node | null | undefined = root;
  let last: Node | undefined = root ?? undefined;
  for (let i = 0; i < path.length; i++) {
    const step = path[i];
    if (isMap(node)) {
      const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(step));
      if (!pair) return last;
      node = (atKey && i === path.length - 1 ? pair.key : pair.value) as Node | null;
    } else if (isSeq(node) && typeof step === 'number') {
      node = node.items[step] as Node | null;
    } else {
      return last;
    }
    if (node) last = node;
  }
  return last;
}

/**
 * Turns YAML text into a validated config, or throws ConfigInvalidError listing every problem
 * with `file:line:col` and its key path. Nothing is partially applied. Deprecated spellings are
 * accepted and listed in `warnings`.
 */
export function parseConfig(text: string, source: string): LbConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const locate = (offset: number | undefined) => {
    if (offset === undefined) return source;
    const { line, col } = lineCounter.linePos(offset);
    return `${source}:${line}:${col}`;
  };
  if (doc.errors.length) {
    throw new ConfigInvalidError(doc.errors.map((error) => ({ location: locate(error.pos[0]), path: '', message: error.message.split('\n')[0]! })));
  }

  const problems: Problem[] = [];
  const js = (doc.toJS() ?? {}) as Record<string, unknown>;
  const raw = configSchema(js, [], problems);
  // A service that failed its own checks must not also be reported as missing by its routers.
  const written = (key: string) => new Set(Object.keys((js[key] as object | null) ?? {}));
  const config = raw && normaliseConfig(raw, source, (path, message, atKey, warning) => problems.push({ path, message, atKey, ...(warning ? { warning } : {}) }), { services: written('services'), entrypoints: written('entrypoints'), middlewares: written('middlewares') });
  // Certificate and key files are read now, so that `lb validate` finds a missing file or a
  // mismatched pair at the line that names it.
  if (config) checkTlsFiles(config.entrypoints, (path, message) => problems.push({ path, message }));
  const issue = (problem: Problem): ConfigIssue => {
    const node = nodeAt(doc.contents as Node | null, problem.path, problem.atKey ?? false);
    return { location: locate(node?.range?.[0]), path: formatPath(problem.path), message: problem.message };
  };
  const errors = problems.filter((p) => !p.warning).map(issue);
  if (errors.length || !config) throw new ConfigInvalidError(errors);
  return { ...config, warnings: problems.filter((p) => p.warning).map(issue) };
}

export function loadConfigFile(file: string): LbConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigReadError(file, err);
  }
  return parseConfig(text, file);
}
