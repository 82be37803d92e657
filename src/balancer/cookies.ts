/** The value of one cookie in a Cookie header (or several joined), without parsing the rest. */
export function cookieValue(header: string | string[] | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header.join('; ') : header;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf(';', start);
    if (end < 0) end = text.length;
    const eq = text.indexOf('=', start);
    if (eq > 0 && eq < end && text.slice(start, eq).trim() === name) return text.slice(eq + 1, end).trim();
    start = end + 1;
  }
  return undefined;
}
