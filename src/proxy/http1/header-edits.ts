// Header edits that a router's middlewares make to a request or a response head, applied while
// the head is copied out: a head is never rebuilt for them, a name is compared as bytes, and an
// edit's line is made once, with the edit, so that a head with edits costs no string per line.
// Most edits are made when a middleware is (a headers middleware's, stripPrefix's): a request
// that takes one costs no string and no buffer for it.
import { copyBytes } from './bytes.js';
import type { Fields } from './syntax.js';

/** Replaces every line of a header with one, or removes them (an empty `value`). */
export interface HeaderEdit {
  readonly lower: string;
  /** The name as set, as it goes out. */
  readonly name: string;
  readonly value: string;
  /** `Name: value\r\n`, latin1; empty for a removal. */
  readonly line: Buffer;
}

export type HeaderEdits = readonly HeaderEdit[];

export function headerEdit(name: string, value: string): HeaderEdit {
  return { lower: name.toLowerCase(), name, value, line: value === '' ? Buffer.alloc(0) : Buffer.from(`${name}: ${value}\r\n`, 'latin1') };
}

/** Where the edit of `lower` is in `edits`, or -1. */
export function editIndex(edits: HeaderEdits, lower: string): number {
  for (let i = 0; i < edits.length; i++) if (edits[i]!.lower === lower) return i;
  return -1;
}

/** `edits` with `edit`, which replaces an earlier edit of the same name; the list is made at the first edit. */
export function withEdit(edits: HeaderEdit[] | undefined, edit: HeaderEdit): HeaderEdit[] {
  // An array of exactly one edit: most requests get one or two.
  if (edits === undefined) return [edit];
  const at = editIndex(edits, edit.lower);
  if (at < 0) edits.push(edit);
  else edits[at] = edit;
  return edits;
}

/** The value an edit gives `lower`: undefined when not edited (or no edits yet), '' when removed. */
export function editedValue(edits: HeaderEdits | undefined, lower: string): string | undefined {
  if (edits === undefined) return undefined;
  const at = editIndex(edits, lower);
  return at < 0 ? undefined : edits[at]!.value;
}

/** Whether the header name in buf[start, end) is edited (replaced or removed), ignoring ASCII case. */
export function editsName(edits: HeaderEdits, buf: Buffer, start: number, end: number): boolean {
  const length = end - start;
  next: for (let i = 0; i < edits.length; i++) {
    const lower = edits[i]!.lower;
    if (lower.length !== length) continue;
    for (let j = 0; j < length; j++) {
      let byte = buf[start + j]!;
      if (byte >= 0x41 && byte <= 0x5a) byte += 0x20;
      if (byte !== lower.charCodeAt(j)) continue next;
    }
    return true;
  }
  return false;
}

/** The bytes of the lines the edits add. */
export function editLinesLength(edits: HeaderEdits): number {
  let length = 0;
  for (let i = 0; i < edits.length; i++) length += edits[i]!.line.length;
  return length;
}

/** Copies the lines the edits add into `out` at `at`; returns the bytes copied. */
export function copyEditLines(edits: HeaderEdits, out: Buffer, at: number): number {
  const start = at;
  for (let i = 0; i < edits.length; i++) {
    const line = edits[i]!.line;
    at += copyBytes(line, out, at, 0, line.length);
  }
  return at - start;
}

/** [name, value, ...] of the lines the edits add. */
export function editFields(edits: HeaderEdits, out: string[]): string[] {
  for (const edit of edits) if (edit.value !== '') out.push(edit.name, edit.value);
  return out;
}

/** The fields as [name, value, ...] strings (see fieldStrings) after the edits: edited names left out, their new lines last. */
export function editedFieldStrings({ buf, offsets }: Fields, edits: HeaderEdits): string[] {
  const out: string[] = [];
  for (let i = 0; i < offsets.length; i += 4) {
    if (editsName(edits, buf, offsets[i]!, offsets[i + 1]!)) continue;
    out.push(buf.toString('latin1', offsets[i], offsets[i + 1]), buf.toString('latin1', offsets[i + 2], offsets[i + 3]));
  }
  return editFields(edits, out);
}

/** `earlier` then `later`: a name that both edit takes the later edit. */
export function mergeEdits(earlier: HeaderEdits, later: HeaderEdits): HeaderEdits {
  return [...earlier.filter((edit) => editIndex(later, edit.lower) < 0), ...later];
}
