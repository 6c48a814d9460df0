// Runtime validators that double as type descriptions: each one checks an untrusted value and
// carries the TypeScript type it proves, so the control API is written down once and both the
// types and the checks at the boundary come from it. Strict by design: objects with fields the
// schema does not name are refused, because a typo in a field name must not pass silently.
// Pure TypeScript: this module runs in the main process, the CLI and the renderer alike.

export type Checked<T> = { ok: true; value: T } | { ok: false; error: string };

export interface Validator<T> {
  /** Short description for error messages, e.g. "integer 0..65535". */
  readonly expected: string;
  /** Checks `value`; `path` names where it sits (e.g. "params.locators[1].port") in errors. */
  check(value: unknown, path?: string): Checked<T>;
}

export type Infer<V> = V extends Validator<infer T> ? T : never;

const pass = <T>(value: T): Checked<T> => ({ ok: true, value });
const fail = (path: string, expected: string, value: unknown): Checked<never> => ({
  ok: false,
  error: `${path || 'value'}: expected ${expected}, got ${describe(value)}`,
});

/** A value as an error message shows it: short, never the whole payload. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string': return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
    case 'number':
    case 'boolean': return String(value);
    case 'object': return 'an object';
    default: return typeof value;
  }
}

function validator<T>(expected: string, check: (value: unknown, path: string) => Checked<T>): Validator<T> {
  return { expected, check: (value, path = '') => check(value, path) };
}

export function string(opts: { minLength?: number; maxLength?: number; pattern?: RegExp; expected?: string } = {}): Validator<string> {
  const { minLength = 0, maxLength = 4096, pattern } = opts;
  const expected = opts.expected ?? (pattern ? `a string matching ${pattern}` : `a string of ${minLength}..${maxLength} characters`);
  return validator(expected, (v, path) => {
    if (typeof v !== 'string' || v.length < minLength || v.length > maxLength) return fail(path, expected, v);
    if (pattern && !pattern.test(v)) return fail(path, expected, v);
    return pass(v);
  });
}

export function integer(opts: { min?: number; max?: number } = {}): Validator<number> {
  const min = opts.min ?? Number.MIN_SAFE_INTEGER;
  const max = opts.max ?? Number.MAX_SAFE_INTEGER;
  const expected = opts.min === undefined && opts.max === undefined ? 'an integer' : `an integer ${min}..${max}`;
  return validator(expected, (v, path) => (Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max ? pass(v as number) : fail(path, expected, v)));
}

/** A finite number (durations with sub-millisecond parts). */
export function number(opts: { min?: number } = {}): Validator<number> {
  const min = opts.min ?? -Infinity;
  const expected = opts.min === undefined ? 'a finite number' : `a finite number ≥ ${min}`;
  return validator(expected, (v, path) => (typeof v === 'number' && Number.isFinite(v) && v >= min ? pass(v) : fail(path, expected, v)));
}

export const boolean: Validator<boolean> = validator('true or false', (v, path) => (typeof v === 'boolean' ? pass(v) : fail(path, 'true or false', v)));

export function literal<const L extends string | number | boolean>(lit: L): Validator<L> {
  const expected = JSON.stringify(lit);
  return validator(expected, (v, path) => (v === lit ? pass(lit) : fail(path, expected, v)));
}

export function oneOf<const L extends readonly string[]>(options: L): Validator<L[number]> {
  const expected = `one of ${options.map((o) => JSON.stringify(o)).join(', ')}`;
  return validator(expected, (v, path) => (typeof v === 'string' && options.includes(v) ? pass(v as L[number]) : fail(path, expected, v)));
}

export function nullable<T>(inner: Validator<T>): Validator<T | null> {
  const expected = `${inner.expected} or null`;
  return validator(expected, (v, path) => (v === null ? pass(null) : inner.check(v, path)));
}

export function array<T>(item: Validator<T>, opts: { maxItems?: number } = {}): Validator<T[]> {
  const maxItems = opts.maxItems ?? 10_000;
  const expected = `an array of ${item.expected}`;
  return validator(expected, (v, path) => {
    if (!Array.isArray(v)) return fail(path, expected, v);
    if (v.length > maxItems) return { ok: false, error: `${path || 'value'}: at most ${maxItems} items, got ${v.length}` };
    const out: T[] = [];
    for (let i = 0; i < v.length; i++) {
      const r = item.check(v[i], `${path}[${i}]`);
      if (!r.ok) return r;
      out.push(r.value);
    }
    return pass(out);
  });
}

/** An object used as a map from free-form keys to values of one type (e.g. drop counters by reason). */
export function record<T>(value: Validator<T>): Validator<Record<string, T>> {
  const expected = `an object of ${value.expected}`;
  return validator(expected, (v, path) => {
    if (!isPlainObject(v)) return fail(path, expected, v);
    const out: Record<string, T> = {};
    for (const [k, x] of Object.entries(v)) {
      const r = value.check(x, join(path, k));
      if (!r.ok) return r;
      out[k] = r.value;
    }
    return pass(out);
  });
}

type Shape = Record<string, Validator<unknown>>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type ObjectOf<R extends Shape, O extends Shape> = Simplify<{ [K in keyof R]: Infer<R[K]> } & { [K in keyof O]?: Infer<O[K]> }>;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/**
 * A strict object: every `required` field present, `optional` ones checked when present (an
 * explicit `undefined` counts as absent), anything else refused by name.
 */
export function object<R extends Shape, O extends Shape = Record<never, never>>(required: R, optional?: O): Validator<ObjectOf<R, O>> {
  const opt: Shape = optional ?? {};
  const expected = 'an object';
  return validator(expected, (v, path) => {
    if (!isPlainObject(v)) return fail(path, expected, v);
    for (const key of Object.keys(v)) {
      if (!(key in required) && !(key in opt)) {
        const known = [...Object.keys(required), ...Object.keys(opt)];
        return { ok: false, error: `${join(path, key)}: unknown field${known.length ? ` (expected ${known.join(', ')})` : ''}` };
      }
    }
    const out: Record<string, unknown> = {};
    for (const [key, check] of Object.entries(required)) {
      if (!(key in v) || v[key] === undefined) return { ok: false, error: `${join(path, key)}: missing (expected ${check.expected})` };
      const r = check.check(v[key], join(path, key));
      if (!r.ok) return r;
      out[key] = r.value;
    }
    for (const [key, check] of Object.entries(opt)) {
      if (v[key] === undefined) continue;
      const r = check.check(v[key], join(path, key));
      if (!r.ok) return r;
      out[key] = r.value;
    }
    return pass(out as ObjectOf<R, O>);
  });
}

/** A union told apart by a string field (e.g. `type`), each variant a strict object. */
export function variants<K extends string, V extends Record<string, Validator<Record<string, unknown>>>>(
  tag: K, byTag: V,
): Validator<{ [T in keyof V]: Infer<V[T]> }[keyof V]> {
  const tags = Object.keys(byTag);
  const expected = `an object with ${tag} ${tags.map((t) => JSON.stringify(t)).join(' | ')}`;
  return validator(expected, (v, path) => {
    if (!isPlainObject(v)) return fail(path, expected, v);
    const t = v[tag];
    if (typeof t !== 'string' || !Object.prototype.hasOwnProperty.call(byTag, t)) {
      return fail(join(path, tag), tags.map((x) => JSON.stringify(x)).join(' | '), t);
    }
    return byTag[t]!.check(v, path) as Checked<never>;
  });
}

/**
 * `inner`, plus a rule its shape cannot say (no duplicates, a range that ends after it starts).
 * `rule` returns null when the value is fine, else what is wrong with it.
 */
export function refine<T>(inner: Validator<T>, rule: (value: T) => string | null): Validator<T> {
  return validator(inner.expected, (v, path) => {
    const r = inner.check(v, path);
    if (!r.ok) return r;
    const problem = rule(r.value);
    return problem === null ? r : { ok: false, error: `${path || 'value'}: ${problem}` };
  });
}
