// A small declarative validator. Each validator returns the checked value, or undefined after
// recording a problem with the exact key path, so that the loader can point at file:line:col.
import { parseDuration } from './duration.js';
import { didYouMean } from './suggest.js';

export type KeyPath = ReadonlyArray<string | number>;

export interface Problem {
  path: KeyPath;
  message: string;
  /** Point at the key itself rather than its value (unknown keys). */
  atKey?: boolean;
}

export type Validator<T> = (value: unknown, path: KeyPath, problems: Problem[]) => T | undefined;

export type Output<V> = V extends Validator<infer T> ? T : never;

export function formatPath(path: KeyPath): string {
  let text = '';
  for (const step of path) {
    if (typeof step === 'number') text += `[${step}]`;
    else if (/^[A-Za-z_][\w-]*$/.test(step)) text += text ? `.${step}` : step;
    else text += `[${JSON.stringify(step)}]`;
  }
  return text;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `"${value}"`;
  return `${typeof value} ${String(value)}`;
}

export function string<const E extends string = string>(options: { oneOf?: readonly E[]; check?: (s: string) => string | undefined } = {}): Validator<E> {
  return (value, path, problems) => {
    if (typeof value !== 'string') {
      problems.push({ path, message: `expected a string, got ${describe(value)}` });
      return undefined;
    }
    if (options.oneOf && !(options.oneOf as readonly string[]).includes(value)) {
      problems.push({
        path,
        message: `must be one of ${options.oneOf.join(', ')}, got "${value}"${didYouMean(value, options.oneOf)}`,
      });
      return undefined;
    }
    const complaint = options.check?.(value);
    if (complaint) {
      problems.push({ path, message: complaint });
      return undefined;
    }
    return value as E;
  };
}

export function integer(options: { min?: number; max?: number } = {}): Validator<number> {
  return (value, path, problems) => {
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      problems.push({ path, message: `expected a whole number, got ${describe(value)}` });
      return undefined;
    }
    if ((options.min !== undefined && value < options.min) || (options.max !== undefined && value > options.max)) {
      problems.push({ path, message: `must be between ${options.min ?? '-∞'} and ${options.max ?? '∞'}, got ${value}` });
      return undefined;
    }
    return value;
  };
}

export function boolean(): Validator<boolean> {
  return (value, path, problems) => {
    if (typeof value !== 'boolean') {
      problems.push({ path, message: `expected true or false, got ${describe(value)}` });
      return undefined;
    }
    return value;
  };
}

/** A duration such as `500ms`, `5s`, `1m`, returned in milliseconds. */
export function duration(options: { min?: number } = {}): Validator<number> {
  return (value, path, problems) => {
    const ms = typeof value === 'string' ? parseDuration(value) : undefined;
    if (ms === undefined) {
      const hint = typeof value === 'number' ? `; add a unit, for example "${value}s"` : '';
      problems.push({ path, message: `expected a duration like 500ms, 5s or 1m, got ${describe(value)}${hint}` });
      return undefined;
    }
    if (options.min !== undefined && ms < options.min) {
      problems.push({ path, message: `must be at least ${options.min}ms, got ${String(value)}` });
      return undefined;
    }
    return ms;
  };
}

export function list<T>(item: Validator<T>, options: { minItems?: number } = {}): Validator<T[]> {
  return (value, path, problems) => {
    if (!Array.isArray(value)) {
      problems.push({ path, message: `expected a list, got ${describe(value)}` });
      return undefined;
    }
    if (options.minItems !== undefined && value.length < options.minItems) {
      problems.push({ path, message: `needs at least ${options.minItems} item(s)` });
      return undefined;
    }
    const out: T[] = [];
    value.forEach((entry, index) => {
      const checked = item(entry, [...path, index], problems);
      if (checked !== undefined) out.push(checked);
    });
    return out;
  };
}

/** A single value or a list of them, always returned as a list. */
export function oneOrMany<T>(item: Validator<T>): Validator<T[]> {
  const asList = list(item, { minItems: 1 });
  return (value, path, problems) => {
    if (Array.isArray(value)) return asList(value, path, problems);
    const single = item(value, path, problems);
    return single === undefined ? undefined : [single];
  };
}

/** A mapping from user-chosen names to values of one shape (entrypoints, services, ...). */
export function dictionary<T>(entry: Validator<T>, options: { keyPattern?: RegExp; keyHint?: string } = {}): Validator<Map<string, T>> {
  return (value, path, problems) => {
    if (value === null || value === undefined) return new Map();
    if (typeof value !== 'object' || Array.isArray(value)) {
      problems.push({ path, message: `expected a mapping of names, got ${describe(value)}` });
      return undefined;
    }
    const out = new Map<string, T>();
    for (const [key, child] of Object.entries(value)) {
      if (options.keyPattern && !options.keyPattern.test(key)) {
        problems.push({ path: [...path, key], atKey: true, message: `invalid name "${key}": ${options.keyHint ?? 'use letters, digits, - and _'}` });
        continue;
      }
      const checked = entry(child, [...path, key], problems);
      if (checked !== undefined) out.set(key, checked);
    }
    return out;
  };
}

type Fields = Record<string, Validator<unknown>>;
export type ObjectOutput<F extends Fields, R extends keyof F> = { [K in R]: Output<F[K]> } & { [K in Exclude<keyof F, R>]?: Output<F[K]> };

/**
 * A mapping with known keys; unknown keys are errors with a "did you mean" suggestion, or, for a
 * key in `renamed`, the key that replaced it.
 */
export function object<F extends Fields, R extends keyof F & string = never>(fields: F, required: readonly R[] = [], renamed: Readonly<Record<string, string>> = {}): Validator<ObjectOutput<F, R>> {
  const known = Object.keys(fields);
  return (value, path, problems) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      problems.push({ path, message: `expected a mapping with keys ${known.join(', ')}, got ${describe(value)}` });
      return undefined;
    }
    const record = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    let complete = true;
    for (const key of Object.keys(record)) {
      if (!Object.hasOwn(fields, key)) {
        const hint = Object.hasOwn(renamed, key) ? `: it was replaced by ${renamed[key]}` : didYouMean(key, known);
        problems.push({ path: [...path, key], atKey: true, message: `unknown key "${key}"${hint}` });
        complete = false;
      }
    }
    for (const key of known) {
      const child = record[key];
      if (child === undefined || child === null) {
        if ((required as readonly string[]).includes(key)) {
          problems.push({ path, message: `missing required key "${key}"` });
          complete = false;
        }
        continue;
      }
      const checked = fields[key]!(child, [...path, key], problems);
      if (checked === undefined) complete = false;
      else out[key] = checked;
    }
    return complete ? (out as ObjectOutput<F, R>) : undefined;
  };
}
