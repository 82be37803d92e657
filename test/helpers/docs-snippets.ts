// The ```yaml blocks of README.md and docs/: each is a whole lb.yaml that a reader may copy, so the
// tests check it against lb validate and lb.schema.json. (Show anything else with another fence.)
import { readdirSync, readFileSync } from 'node:fs';

export interface YamlSnippet {
  /** `docs/tls.md:8`: the file and the line the YAML starts on. */
  readonly where: string;
  readonly text: string;
}

const root = new URL('../../', import.meta.url);

export function docFiles(): string[] {
  const docs = readdirSync(new URL('docs/', root)).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`);
  return ['README.md', 'examples/README.md', ...docs];
}

export function yamlSnippets(): YamlSnippet[] {
  const snippets: YamlSnippet[] = [];
  for (const file of docFiles()) {
    const lines = readFileSync(new URL(file, root), 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (lines[i]!.trim() !== '```yaml') continue;
      const end = lines.findIndex((line, j) => j > i && line.trim() === '```');
      if (end < 0) throw new Error(`${file}:${i + 1}: a \`\`\`yaml block that is never closed`);
      snippets.push({ where: `${file}:${i + 2}`, text: lines.slice(i + 1, end).join('\n') });
      i = end;
    }
  }
  return snippets;
}
