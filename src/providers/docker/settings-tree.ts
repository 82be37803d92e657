// Service settings as labels write them: label text read into YAML values, in the shape of the
// service schema. Trees of several labels (the short form and a long-form service) and of
// several containers (replicas) are merged before the schema checks them.

export interface SettingsTree {
  [key: string]: unknown;
}

const isTree = (value: unknown): value is SettingsTree => value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * Copies `from` into `into` key by key (mappings deeply, copied, so that `into` never shares a
 * subtree with `from`). A leaf that both set differently goes to `clash` before `from` wins.
 */
export function mergeSettings(into: SettingsTree, from: SettingsTree, clash: (path: string, kept: unknown, taken: unknown) => void = () => undefined, path: readonly string[] = []): void {
  for (const [key, value] of Object.entries(from)) {
    const existing = into[key];
    if (isTree(value) && isTree(existing)) {
      mergeSettings(existing, value, clash, [...path, key]);
      continue;
    }
    if (existing !== undefined && JSON.stringify(existing) !== JSON.stringify(value)) clash([...path, key].join('.'), existing, value);
    into[key] = isTree(value) ? structuredClone(value) : value;
  }
}

/** Every leaf key path of a tree, dotted. */
export function leafPaths(tree: SettingsTree, path: readonly string[] = []): string[] {
  return Object.entries(tree).flatMap(([key, value]) => (isTree(value) ? leafPaths(value, [...path, key]) : [[...path, key].join('.')]));
}
