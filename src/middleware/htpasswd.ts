// htpasswd entries as Apache's htpasswd writes them: bcrypt (-B), Apache MD5 (-m, the default) and
// SHA1 (-s). crypt(3) and plain-text entries are refused: they are too weak to accept.
import { createHash, timingSafeEqual } from 'node:crypto';
import apacheMd5Module from 'apache-md5';
import bcrypt from 'bcryptjs';

export interface HtpasswdProblem {
  /** 1-based line of the file (or index + 1 of an inline list). */
  line: number;
  message: string;
}

// The package is CommonJS (module.exports = the function) while its types declare a default export.
const apacheMd5 = apacheMd5Module as unknown as (password: string, salt: string) => string;

const schemes = [
  { test: (hash: string) => /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash), verify: (password: string, hash: string) => bcrypt.compare(password, hash) },
  { test: (hash: string) => /^\$apr1\$[./A-Za-z0-9]{1,8}\$[./A-Za-z0-9]{22}$/.test(hash), verify: (password: string, hash: string) => sameText(apacheMd5(password, hash), hash) },
  { test: (hash: string) => /^\{SHA\}[A-Za-z0-9+/]{27}=$/.test(hash), verify: (password: string, hash: string) => sameText(`{SHA}${createHash('sha1').update(password).digest('base64')}`, hash) },
];

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Users and their hashes from htpasswd lines; blank lines and `#` comments are skipped. */
export function parseHtpasswd(lines: readonly string[]): { users: Map<string, string>; problems: HtpasswdProblem[] } {
  const users = new Map<string, string>();
  const problems: HtpasswdProblem[] = [];
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (colon <= 0) problems.push({ line: index + 1, message: 'expected "user:hash"' });
    else if (!schemes.some((scheme) => scheme.test(hash))) problems.push({ line: index + 1, message: `user "${user}": unsupported hash; use bcrypt (htpasswd -B), Apache MD5 (htpasswd -m) or SHA1 (htpasswd -s)` });
    else if (users.has(user)) problems.push({ line: index + 1, message: `user "${user}" is listed twice` });
    else users.set(user, hash);
  });
  return { users, problems };
}

/** Whether `password` matches `hash`; the comparison takes the same time wherever they differ. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const scheme = schemes.find((s) => s.test(hash));
  return scheme !== undefined && scheme.verify(password, hash);
}
