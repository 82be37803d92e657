// The validator library behind the one schema (schema.ts) that lb.yaml and container labels share.
// Each validator returns the checked value, or undefined after recording a problem with the exact
// key path, so that lb.yaml errors can point at file:line:col and label errors at the label. A
// validator also knows how a label's text becomes a value of its shape (`fromText`), so that a
// label is checked by the same rule as the YAML key it stands for.
import { durationPattern, parseDuration } from './duration.js';
import { didYouMean } from './suggest.js';

export type KeyPath = ReadonlyArray<string | number>;

/** A JSON Schema (draft-07) node: what editors check lb.yaml with (lb.schema.json). */
export type JsonSchema = { readonly [keyword: string]: unknown };

export interface Problem {
  path: KeyPath;
  message: string;
  /** Point at the key itself rather than its value (unknown keys). */
  atKey?: boolean;
  /** Accepted with a deprecation warning (an old spelling), not an error. */
  warning?: boolean;
}

export interface Validator<T> {
  (value: unknown, path: KeyPath, problems: Problem[]): T | undefined;
  /** How a label's text becomes a value for this validator (labels are always strings). */
  readonly fromText: (text: string) => unknown;
  /** The same rule for editors, as far as JSON Schema can say it (lb validate says the rest). */
  readonly jsonSchema: JsonSchema;
  /** object(): the known keys, for walking a label's key path. */
  readonly fields?: Readonly<Record<string, Validator<unknown>>>;
  /** object(): the keys that must be written. */
  readonly required?: readonly string[];
  /** dictionary(): the validator of each entry. */
  readonly entry?: Validator<unknown>;
  /** The default as a YAML value; object() fills a missing key with it. */
  readonly defaultValue?: unknown;
  /** The default as docs/configuration.md states it, where it depends on other keys. */
  readonly defaultText?: string;
}

export type Output<V> = V extends Validator<infer T> ? T : never;

type Check<T> = (value: unknown, path: KeyPath, problems: Problem[]) => T | undefined;

function validator<T>(check: Check<T>, jsonSchema: JsonSchema, fromText: (text: string) => unknown = (text) => text, extra: Partial<Validator<T>> = {}): Validator<T> {
  return Object.assign(check, { fromText, jsonSchema, ...extra });
}

/** The same validator, with a default that object() fills in when the key is missing. */
export function withDefault<T>(inner: Validator<T>, value: unknown): Validator<T> & { readonly defaulted: true } {
  const jsonSchema = { ...inner.jsonSchema, default: value };
  return Object.assign(validator((v, path, problems) => inner(v, path, problems), jsonSchema, inner.fromText, { fields: inner.fields, entry: inner.entry, defaultValue: value }), { defaulted: true as const });
}

/** The same validator; its default depends on other keys, so it is only stated, for the docs. */
export function documentedDefault<T>(inner: Validator<T>, text: string): Validator<T> {
  return validator((v, path, problems) => inner(v, path, problems), inner.jsonSchema, inner.fromText, { fields: inner.fields, entry: inner.entry, defaultText: text });
}

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

/** A whole number or a boolean written in a label stays text unless it reads as one. */
const numberFromText = (text: string): unknown => (/^-?\d+$/.test(text) ? Number(text) : text);

export function string<const E extends string = string>(options: { oneOf?: readonly E[]; deprecated?: Readonly<Record<string, E>>; check?: (s: string) => string | undefined; pattern?: RegExp } = {}): Validator<E> {
  // Old spellings stay valid in editors too: lb accepts them, with a warning.
  const jsonSchema = options.oneOf
    ? { type: 'string', enum: [...options.oneOf, ...Object.keys(options.deprecated ?? {})] }
    : { type: 'string', ...(options.pattern ? { pattern: options.pattern.source } : {}) };
  return validator((value, path, problems) => {
    if (typeof value !== 'string') {
      problems.push({ path, message: `expected a string, got ${describe(value)}` });
      return undefined;
    }
    let text: string = value;
    const renamed = options.deprecated?.[value];
    if (renamed !== undefined) {
      problems.push({ path, warning: true, message: `"${value}" is deprecated; write "${renamed}"` });
      text = renamed;
    }
    if (options.oneOf && !(options.oneOf as readonly string[]).includes(text)) {
      problems.push({
        path,
        message: `must be one of ${options.oneOf.join(', ')}, got "${text}"${didYouMean(text, options.oneOf)}`,
      });
      return undefined;
    }
    const complaint = options.check?.(text);
    if (complaint) {
      problems.push({ path, message: complaint });
      return undefined;
    }
    return text as E;
  }, jsonSchema);
}

export function integer(options: { min?: number; max?: number } = {}): Validator<number> {
  return validator((value, path, problems) => {
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      problems.push({ path, message: `expected a whole number, got ${describe(value)}` });
      return undefined;
    }
    if ((options.min !== undefined && value < options.min) || (options.max !== undefined && value > options.max)) {
      problems.push({ path, message: `must be between ${options.min ?? '-∞'} and ${options.max ?? '∞'}, got ${value}` });
      return undefined;
    }
    return value;
  }, { type: 'integer', ...(options.min !== undefined ? { minimum: options.min } : {}), ...(options.max !== undefined ? { maximum: options.max } : {}) }, numberFromText);
}

export function boolean(): Validator<boolean> {
  return validator((value, path, problems) => {
    if (typeof value !== 'boolean') {
      problems.push({ path, message: `expected true or false, got ${describe(value)}` });
      return undefined;
    }
    return value;
  }, { type: 'boolean' }, (text) => (text === 'true' ? true : text === 'false' ? false : text));
}

/** A duration such as `500ms`, `5s`, `1m`, returned in milliseconds. */
export function duration(options: { min?: number } = {}): Validator<number> {
  return validator((value, path, problems) => {
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
  }, { type: 'string', pattern: durationPattern.source });
}

/** In a label, a list is written with commas: `a.example.com,b.example.com`. */
const listFromText = (item: Validator<unknown>) => (text: string): unknown[] =>
  text.split(',').map((part) => part.trim()).filter(Boolean).map((part) => item.fromText(part));

export function list<T>(item: Validator<T>, options: { minItems?: number } = {}): Validator<T[]> {
  return validator((value, path, problems) => {
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
  }, { type: 'array', items: item.jsonSchema, ...(options.minItems !== undefined ? { minItems: options.minItems } : {}) }, listFromText(item as Validator<unknown>));
}

/** A single value or a list of them, always returned as a list. */
export function oneOrMany<T>(item: Validator<T>): Validator<T[]> {
  const asList = list(item, { minItems: 1 });
  return validator((value, path, problems) => {
    if (Array.isArray(value)) return asList(value, path, problems);
    const single = item(value, path, problems);
    return single === undefined ? undefined : [single];
  }, { anyOf: [item.jsonSchema, asList.jsonSchema] }, asList.fromText);
}

/**
 * A mapping from user-chosen names to values of one shape (entrypoints, services, headers, ...).
 * In a label, a dictionary of strings is written `Name=value,Name2=value2`.
 */
export function dictionary<T>(entry: Validator<T>, options: { keyPattern?: RegExp; keyHint?: string } = {}): Validator<Map<string, T>> {
  const fromText = (text: string): unknown => {
    const pairs: Record<string, unknown> = {};
    for (const item of text.split(',').map((s) => s.trim()).filter(Boolean)) {
      const eq = item.indexOf('=');
      if (eq <= 0) return text;
      pairs[item.slice(0, eq).trim()] = entry.fromText(item.slice(eq + 1).trim());
    }
    return pairs;
  };
  return validator((value, path, problems) => {
    if (value === null || value === undefined) return new Map();
    if (typeof value !== 'object' || Array.isArray(value)) {
      const hint = typeof value === 'string' ? ' (in a label: Name=value pairs separated by commas)' : '';
      problems.push({ path, message: `expected a mapping of names, got ${describe(value)}${hint}` });
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
  }, {
    type: ['object', 'null'],
    additionalProperties: entry.jsonSchema,
    ...(options.keyPattern ? { propertyNames: { pattern: options.keyPattern.source } } : {}),
  }, fromText, { entry: entry as Validator<unknown> });
}

type Fields = Record<string, Validator<unknown>>;
type Defaulted<F extends Fields> = { [K in keyof F]: F[K] extends { readonly defaulted: true } ? K : never }[keyof F];
export type ObjectOutput<F extends Fields, R extends keyof F> = { [K in R | Defaulted<F>]: Output<F[K]> } & { [K in Exclude<keyof F, R | Defaulted<F>>]?: Output<F[K]> };

/**
 * A mapping with known keys; unknown keys are errors with a "did you mean" suggestion, or, for a
 * key in `renamed`, the key that replaced it. Missing keys with a default get it.
 */
export function object<F extends Fields, R extends keyof F & string = never>(fields: F, required: readonly R[] = [], renamed: Readonly<Record<string, string>> = {}): Validator<ObjectOutput<F, R>> {
  const known = Object.keys(fields);
  return validator((value, path, problems) => {
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
      const field = fields[key]!;
      let child = record[key];
      if (child === undefined || child === null) {
        if ((required as readonly string[]).includes(key)) {
          problems.push({ path, message: `missing required key "${key}"` });
          complete = false;
        }
        if (field.defaultValue === undefined) continue;
        child = field.defaultValue;
      }
      const checked = field(child, [...path, key], problems);
      if (checked === undefined) complete = false;
      else out[key] = checked;
    }
    return complete ? (out as ObjectOutput<F, R>) : undefined;
  }, {
    type: 'object',
    properties: Object.fromEntries(known.map((key) => [key, fields[key]!.jsonSchema])),
    ...(required.length ? { required } : {}),
    additionalProperties: false,
  }, (text) => text, { fields, required });
}
