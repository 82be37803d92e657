// Header edits that a router's middlewares make to a request or a response head, kept flat and
// applied while the head is copied out: a head is never rebuilt for them, and a name is compared
// as bytes, so an edit costs no string per header line.
import type { Fields } from './syntax.js';

/**
 * [lower-case name, name as set, value, ...]: an empty value removes the header, any other
 * replaces every line of it.
 */
export type HeaderEdits = readonly string[];

/** Where the edit of `lower` is in `edits`, or -1. */
export function editIndex(edits: HeaderEdits, lower: string): number {
  for (let i = 0; i < edits.length; i += 3) if (edits[i] === lower) return i;
  return -1;
}

/** `edits` with `name` set to `value`, replacing an earlier edit of the same name; made at the first edit. */
export function setEdit(edits: string[] | undefined, name: string, value: string): string[] {
  const lower = name.toLowerCase();
  // An array of exactly one edit: most requests get one or two.
  if (edits === undefined) return [lower, name, value];
  const at = editIndex(edits, lower);
  if (at < 0) {
    edits.push(lower, name, value);
  } else {
    edits[at + 1] = name;
    edits[at + 2] = value;
  }
  return edits;
}

/** The value an edit gives `lower`: undefined when not edited (or no edits yet), '' when removed. */
export function editedValue(edits: HeaderEdits | undefined, lower: string): string | undefined {
  if (edits === undefined) return undefined;
  const at = editIndex(edits, lower);
  return at < 0 ? undefined : edits[at + 2];
}

/** Whether the header name in buf[start, end) is edited (replaced or removed), ignoring ASCII case. */
export function editsName(edits: HeaderEdits, buf: Buffer, start: number, end: number): boolean {
  const length = end - start;
  next: for (let i = 0; i < edits.length; i += 3) {
    const lower = edits[i]!;
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

/** The lines of edits made once for every request (fixedEdits), kept beside them. */
const fixedLines = new WeakMap<HeaderEdits, string>();

/** Edits that are the same on every request or response (a headers middleware's): their lines are made once. */
export function fixedEdits(edits: HeaderEdits): HeaderEdits {
  const fixed = Object.freeze([...edits]);
  fixedLines.set(fixed, buildLines(fixed));
  return fixed;
}

function buildLines(edits: HeaderEdits): string {
  let lines = '';
  for (let i = 0; i < edits.length; i += 3) if (edits[i + 2] !== '') lines += `${edits[i + 1]}: ${edits[i + 2]}\r\n`;
  return lines;
}

/** The lines the edits add, `Name: value\r\n` each ('' when they only remove). */
export function editLines(edits: HeaderEdits): string {
  return fixedLines.get(edits) ?? buildLines(edits);
}

/** [name, value, ...] of the lines the edits add. */
export function editFields(edits: HeaderEdits, out: string[]): string[] {
  for (let i = 0; i < edits.length; i += 3) if (edits[i + 2] !== '') out.push(edits[i + 1]!, edits[i + 2]!);
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
  const merged: string[] = [];
  for (let i = 0; i < earlier.length; i += 3) if (editIndex(later, earlier[i]!) < 0) merged.push(earlier[i]!, earlier[i + 1]!, earlier[i + 2]!);
  merged.push(...later);
  return merged;
}
