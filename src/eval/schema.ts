// A small JSON Schema (draft 2020-12 subset) checker and validator for JSON output fields. No
// code generation (edge workers forbid eval), no Node APIs. Keywords outside the subset are
// refused when the schema is checked, so a schema is never half-applied.

export type JsonSchema = Record<string, unknown>;

const TYPES = new Set(['object', 'array', 'string', 'number', 'integer', 'boolean', 'null']);
// keywords that change what validates, and that validate() implements
const KNOWN = new Set([
  'type', 'properties', 'required', 'additionalProperties', 'items', 'enum', 'const', 'minimum', 'maximum',
  'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength', 'pattern', 'minItems', 'maxItems', 'anyOf',
]);
// annotations: no effect on validation
const ANNOTATIONS = new Set(['$schema', '$id', 'title', 'description', 'default', 'examples', '$comment']);

// Returns null when `s` is a schema this validator implements fully, else what is wrong (at which path).
export function checkSchema(s: unknown, path = '(root)'): string | null {
  if (typeof s !== 'object' || s === null || Array.isArray(s)) return `${path}: a schema is a JSON object, found ${JSON.stringify(s)}`;
  const o = s as JsonSchema;
  for (const k of Object.keys(o)) {
    if (!KNOWN.has(k) && !ANNOTATIONS.has(k)) return `${path}: keyword "${k}" is not supported (supported: ${[...KNOWN].join(', ')})`;
  }
  if (o.type !== undefined) {
    const ts = Array.isArray(o.type) ? o.type : [o.type];
    const badType = ts.find((t) => typeof t !== 'string' || !TYPES.has(t));
    if (badType !== undefined || ts.length === 0) return `${path}.type: expected one of ${[...TYPES].join(', ')}, found ${JSON.stringify(o.type)}`;
  }
  if (o.properties !== undefined) {
    if (typeof o.properties !== 'object' || o.properties === null || Array.isArray(o.properties)) return `${path}.properties: expected an object of schemas`;
    for (const [k, v] of Object.entries(o.properties)) {
      const e = checkSchema(v, `${path}.properties.${k}`);
      if (e) return e;
    }
  }
  if (o.required !== undefined && (!Array.isArray(o.required) || o.required.some((x) => typeof x !== 'string'))) return `${path}.required: expected an array of strings`;
  if (o.additionalProperties !== undefined && typeof o.additionalProperties !== 'boolean') {
    const e = checkSchema(o.additionalProperties, `${path}.additionalProperties`);
    if (e) return e;
  }
  if (o.items !== undefined) {
    const e = checkSchema(o.items, `${path}.items`);
    if (e) return e;
  }
  if (o.anyOf !== undefined) {
    if (!Array.isArray(o.anyOf) || o.anyOf.length === 0) return `${path}.anyOf: expected a non-empty array of schemas`;
    for (const [i, v] of o.anyOf.entries()) {
      const e = checkSchema(v, `${path}.anyOf[${i}]`);
      if (e) return e;
    }
  }
  if (o.enum !== undefined && !Array.isArray(o.enum)) return `${path}.enum: expected an array`;
  for (const k of ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength', 'minItems', 'maxItems']) {
    if (o[k] !== undefined && typeof o[k] !== 'number') return `${path}.${k}: expected a number`;
  }
  if (o.pattern !== undefined) {
    if (typeof o.pattern !== 'string') return `${path}.pattern: expected a string`;
    try {
      new RegExp(o.pattern, 'u');
    } catch (e) {
      return `${path}.pattern: invalid regular expression: ${(e as Error).message}`;
    }
  }
  return null;
}

const typeOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

// The first violation of `v` against a checked schema ("$.age: expected integer, found 3.5"), or null.
export function validate(v: unknown, s: JsonSchema, path = '$'): string | null {
  const found = () => JSON.stringify(v)?.slice(0, 60);
  if (s.type !== undefined) {
    const ts = (Array.isArray(s.type) ? s.type : [s.type]) as string[];
    const ok = ts.some((t) => (t === 'integer' ? Number.isInteger(v) : t === 'number' ? typeof v === 'number' && Number.isFinite(v) : typeOf(v) === t));
    if (!ok) return `${path}: expected ${ts.join(' or ')}, found ${found()}`;
  }
  if (s.const !== undefined && !jsonEqual(v, s.const)) return `${path}: expected ${JSON.stringify(s.const)}, found ${found()}`;
  if (Array.isArray(s.enum) && !s.enum.some((e) => jsonEqual(e, v))) return `${path}: expected one of ${JSON.stringify(s.enum)}, found ${found()}`;
  if (Array.isArray(s.anyOf) && !s.anyOf.some((a) => validate(v, a as JsonSchema, path) === null)) return `${path}: matches none of anyOf, found ${found()}`;
  if (typeof v === 'number') {
    if (typeof s.minimum === 'number' && v < s.minimum) return `${path}: expected ≥ ${s.minimum}, found ${v}`;
    if (typeof s.maximum === 'number' && v > s.maximum) return `${path}: expected ≤ ${s.maximum}, found ${v}`;
    if (typeof s.exclusiveMinimum === 'number' && v <= s.exclusiveMinimum) return `${path}: expected > ${s.exclusiveMinimum}, found ${v}`;
    if (typeof s.exclusiveMaximum === 'number' && v >= s.exclusiveMaximum) return `${path}: expected < ${s.exclusiveMaximum}, found ${v}`;
  }
  if (typeof v === 'string') {
    const n = [...v].length;
    if (typeof s.minLength === 'number' && n < s.minLength) return `${path}: expected at least ${s.minLength} characters, found ${n}`;
    if (typeof s.maxLength === 'number' && n > s.maxLength) return `${path}: expected at most ${s.maxLength} characters, found ${n}`;
    if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(v)) return `${path}: expected a match of /${s.pattern}/, found ${found()}`;
  }
  if (Array.isArray(v)) {
    if (typeof s.minItems === 'number' && v.length < s.minItems) return `${path}: expected at least ${s.minItems} items, found ${v.length}`;
    if (typeof s.maxItems === 'number' && v.length > s.maxItems) return `${path}: expected at most ${s.maxItems} items, found ${v.length}`;
    if (s.items) {
      for (const [i, x] of v.entries()) {
        const e = validate(x, s.items as JsonSchema, `${path}[${i}]`);
        if (e) return e;
      }
    }
  }
  if (typeOf(v) === 'object') {
    const o = v as Record<string, unknown>;
    for (const k of (s.required as string[] | undefined) ?? []) if (!(k in o)) return `${path}: missing required property "${k}"`;
    const props = (s.properties ?? {}) as Record<string, JsonSchema>;
    for (const [k, x] of Object.entries(o)) {
      if (props[k]) {
        const e = validate(x, props[k], `${path}.${k}`);
        if (e) return e;
      } else if (s.additionalProperties === false) return `${path}: unexpected property "${k}"`;
      else if (typeof s.additionalProperties === 'object') {
        const e = validate(x, s.additionalProperties as JsonSchema, `${path}.${k}`);
        if (e) return e;
      }
    }
  }
  return null;
}

// Structural equality of JSON values (object key order ignored).
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeOf(a) !== typeOf(b)) return false;
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((x, i) => jsonEqual(x, (b as unknown[])[i]));
  if (typeOf(a) === 'object') {
    const ka = Object.keys(a as object);
    const kb = Object.keys(b as object);
    return ka.length === kb.length && ka.every((k) => k in (b as object) && jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return false;
}
