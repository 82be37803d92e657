// Copies into the heads lb writes. A head is assembled from short pieces (a request line, a
// run of header lines, an edit's line, the X-Forwarded-* lines), and on Node 20 Buffer#copy
// costs about as much as copying 150 bytes one at a time: it checks its arguments and makes a
// typed array over the source for every call. Short pieces are copied byte by byte instead.

/** Pieces up to this size are copied in a loop; longer ones by Buffer#copy. */
const LOOP_MAX = 128;

/** Copies source[start, end) to target at `at`; returns the bytes copied. */
export function copyBytes(source: Buffer, target: Buffer, at: number, start: number, end: number): number {
  if (end - start > LOOP_MAX) return source.copy(target, at, start, end);
  for (let i = start; i < end; i++) target[at++] = source[i]!;
  return end - start;
}

/** Writes `text` as latin1 (a character is a byte, as Buffer#write's latin1) at `at`; returns the bytes written. */
export function writeLatin1(text: string, target: Buffer, at: number): number {
  if (text.length > LOOP_MAX) return target.write(text, at, 'latin1');
  for (let i = 0; i < text.length; i++) target[at + i] = text.charCodeAt(i);
  return text.length;
}
