import { createHash } from 'node:crypto';
import { readFile, readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { Logger } from '../log.js';
import { headerEdit } from '../proxy/http1/header-edits.js';
import { parseHtpasswd, verifyPassword } from './htpasswd.js';
import type { Answer, Middleware, MiddlewareFactory, MiddlewareRequest } from './middleware.js';

/** How often the users file is checked for changes. */
const WATCH_INTERVAL_MS = 1_000;
/** Credentials that passed, remembered so that a browser's every request does not cost a bcrypt. */
const MAX_REMEMBERED = 1_024;
const REMOVE_AUTHORIZATION = headerEdit('Authorization', '');

/**
 * `basicAuth`: HTTP Basic authentication against htpasswd entries (inline `users`, and
 * `usersFile`, read again whenever it changes). The user goes to the access log; the
 * Authorization header is not forwarded unless `removeHeader: false`.
 */
export const basicAuth: MiddlewareFactory<'basicAuth'> = ({ name, settings }, logger) => new BasicAuth(settings.users ?? [], settings.usersFile, settings.realm, settings.removeHeader, logger?.child({ middleware: name, usersFile: settings.usersFile }));

class BasicAuth implements Middleware {
  private users: Map<string, string>;
  /** sha256 of user, password and hash, for credentials already verified against the current users. */
  private remembered = new Set<string>();
  private readonly unauthorized: Answer;

  constructor(
    private readonly inline: readonly string[],
    private readonly usersFile: string | undefined,
    realm: string,
    private readonly removeHeader: boolean,
    private readonly logger: Logger | undefined,
  ) {
    this.unauthorized = { status: 401, headers: [['WWW-Authenticate', `Basic realm="${realm}"`]], body: '401 Unauthorized\n' };
    // Read at once (it was read at load too), so that no request finds the users missing.
    this.users = this.withFile(parseHtpasswd(usersFile === undefined ? [] : (readUsersFile(usersFile)?.split('\n') ?? [])).users);
    if (usersFile !== undefined) watchFile(usersFile, { interval: WATCH_INTERVAL_MS, persistent: false }, this.reload);
  }

  /** The inline users, and the file's that they do not name. */
  private withFile(fromFile: ReadonlyMap<string, string>): Map<string, string> {
    const users = parseHtpasswd(this.inline).users;
    for (const [user, hash] of fromFile) if (!users.has(user)) users.set(user, hash);
    return users;
  }

  /**
   * A file that cannot be read keeps the users it had: lb validate reported it at load, and a
   * file being rewritten must not lock everyone out. A line it cannot use is left out, as at load.
   */
  private readonly reload = (): void => {
    readFile(this.usersFile!, 'utf8', (err, text) => {
      if (err) {
        this.logger?.warn({ err: (err as NodeJS.ErrnoException).code ?? err.message }, 'users file cannot be read; the users read before stay');
        return;
      }
      const file = parseHtpasswd(text.split('\n'));
      for (const problem of file.problems) this.logger?.warn({ line: problem.line }, `users file line left out: ${problem.message}`);
      this.users = this.withFile(file.users);
      this.remembered = new Set();
      this.logger?.info({ users: this.users.size }, 'users file read again');
    });
  };

  onRequest(request: MiddlewareRequest): Answer | undefined | Promise<Answer | undefined> {
    const credentials = basicCredentials(request.header('authorization'));
    if (!credentials) return this.unauthorized;
    const [user, password] = credentials;
    const hash = this.users.get(user);
    if (hash === undefined) {
      // An unknown user costs what a wrong password costs, so that timing does not tell users apart.
      const any = this.users.values().next().value;
      return any === undefined ? this.unauthorized : verifyPassword(password, any).then(() => this.unauthorized);
    }
    const key = createHash('sha256').update(`${user}\0${password}\0${hash}`).digest('base64');
    if (this.remembered.has(key)) return this.pass(request, user);
    const users = this.users;
    return verifyPassword(password, hash).then((ok) => {
      if (!ok) return this.unauthorized;
      if (users === this.users) {
        if (this.remembered.size >= MAX_REMEMBERED) this.remembered.clear();
        this.remembered.add(key);
      }
      return this.pass(request, user);
    });
  }

  private pass(request: MiddlewareRequest, user: string): undefined {
    request.user = user;
    if (this.removeHeader) request.setHeaderEdit(REMOVE_AUTHORIZATION);
    return undefined;
  }

  close(): void {
    if (this.usersFile !== undefined) unwatchFile(this.usersFile, this.reload);
  }
}

function readUsersFile(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** [user, password] from `Authorization: Basic base64(user:password)`. */
function basicCredentials(header: string | undefined): [string, string] | undefined {
  const match = header === undefined ? null : /^Basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(header);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon <= 0 ? undefined : [decoded.slice(0, colon), decoded.slice(colon + 1)];
}
