/** A request target split into its path and what follows it (`?query`, or ''). */
export function splitTarget(url: string): { path: string; query: string } {
  const at = url.indexOf('?');
  return at < 0 ? { path: url, query: '' } : { path: url.slice(0, at), query: url.slice(at) };
}

/** The host of a Host header without its port; an IPv6 literal keeps its brackets. */
export function hostWithoutPort(host: string): string {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^:]*)/.exec(host.trim());
  return match![1]!.toLowerCase();
}

/** 301/302 for GET and HEAD, 308/307 for other methods (which must not turn into a GET). */
export function redirectStatus(method: string, permanent: boolean): number {
  const safe = method === 'GET' || method === 'HEAD';
  return permanent ? (safe ? 301 : 308) : safe ? 302 : 307;
}

export function redirect(status: number, location: string) {
  return { status, headers: [['Location', location]] as const, body: `${status} redirect: ${location}\n` };
}
