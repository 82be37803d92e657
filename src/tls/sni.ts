// Which certificate answers a ClientHello: by the server name it carries (SNI). Generic over what
// is selected (a SecureContext on https entrypoints; a TCP entrypoint that terminates TLS can use
// the same rules), so that the rules exist once.

/**
 * Names → values: the exact name first, then a wildcard (`*.example.com` covers exactly one label:
 * `a.example.com`, not `example.com` nor `a.b.example.com`), else nothing. Where several entries
 * cover a name, the first one given wins. Names are compared in lower case, without a trailing dot.
 */
export class NameSelector<T> {
  private readonly exact = new Map<string, T>();
  /** `*.example.com` is kept under `example.com`. */
  private readonly wildcard = new Map<string, T>();
  /** The first entry's value: what a ClientHello without a name, or with a name nothing covers, gets. */
  readonly fallback: T | undefined;

  constructor(entries: ReadonlyArray<{ readonly names: readonly string[]; readonly value: T }>) {
    this.fallback = entries[0]?.value;
    for (const { names, value } of entries) {
      for (const raw of names) {
        const name = normaliseServerName(raw);
        if (name.startsWith('*.')) {
          const parent = name.slice(2);
          if (!this.wildcard.has(parent)) this.wildcard.set(parent, value);
        } else if (!this.exact.has(name)) {
          this.exact.set(name, value);
        }
      }
    }
  }

  /** The value of the entry that covers `serverName`, or undefined when none does. */
  match(serverName: string): T | undefined {
    const name = normaliseServerName(serverName);
    const exact = this.exact.get(name);
    if (exact !== undefined) return exact;
    const dot = name.indexOf('.');
    // One label before the parent, and a parent that is itself a name (not a bare TLD).
    return dot > 0 ? this.wildcard.get(name.slice(dot + 1)) : undefined;
  }

  /** What a ClientHello gets: the entry covering its name, else the first entry (no name: the first too). */
  select(serverName: string | undefined): T | undefined {
    return (serverName ? this.match(serverName) : undefined) ?? this.fallback;
  }

  /** Whether some entry covers `serverName`. */
  covers(serverName: string): boolean {
    return this.match(serverName) !== undefined;
  }
}

function normaliseServerName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}
