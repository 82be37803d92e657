/** Which permission a Docker socket proxy must grant for each API path lb uses. */
const dockerPermissions: Array<[RegExp, string]> = [
  [/^\/containers/, 'CONTAINERS'],
  [/^\/events/, 'EVENTS'],
  [/^\/networks/, 'NETWORKS'],
  [/^\/version/, 'VERSION'],
  [/^\/_ping/, 'PING'],
  [/^\/info/, 'INFO'],
  [/^\/services/, 'SERVICES'],
  [/^\/tasks/, 'TASKS'],
  [/^\/nodes/, 'NODES'],
];

/** What to allow in a socket proxy that refused `path`, named as tecnativa/docker-socket-proxy names it. */
/** `needed`: every path the provider calls, for the whole list to allow. */
export function permissionToGrant(path: string, needed: string): string {
  const permission = dockerPermissions.find(([pattern]) => pattern.test(path))?.[1] ?? 'the matching section';
  return (
    `allow read access to ${path.split('?')[0]} in your socket proxy ` +
    `(for tecnativa/docker-socket-proxy: ${permission}=1). lb needs only GET on ${needed}.`
  );
}
