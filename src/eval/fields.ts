// Typed task fields (a signature): their definitions as users write them, the TypeScript types
// those definitions imply, checking gold values strictly and coercing model answers leniently.
// No Node APIs: programs use this in browsers and edge workers.
import type { ChatMessage } from '../llm/types.js';
import { checkSchema, validate, type JsonSchema } from './schema.js';

export type FieldTypeName = 'string' | 'number' | 'boolean' | 'class' | 'list' | 'json' | 'chat';
export const FIELD_TYPES: readonly FieldTypeName[] = ['string', 'number', 'boolean', 'class', 'list', 'json', 'chat'];

// As written in a task file or in code: a type name, or an object with the type and its details.
export type FieldSpec =
  | FieldTypeName
  | { type: 'class'; labels: readonly string[]; description?: string }
  | { type: 'list'; items?: 'string' | 'number'; description?: string }
  | { type: 'json'; schema?: JsonSchema; description?: string }
  | { type: Exclude<FieldTypeName, 'class' | 'list' | 'json'>; description?: string };
export type FieldsSpec = Record<string, FieldSpec>;

// The value type one field spec implies (flows into program.run's result type).
export type FieldValue<S> = S extends 'string' ? string
  : S extends 'number' ? number
  : S extends 'boolean' ? boolean
  : S extends 'list' ? string[]
  : S extends 'json' ? Record<string, unknown>
  : S extends 'chat' ? ChatMessage[]
  : S extends 'class' ? string
  : S extends { type: 'class'; labels: readonly (infer L)[] } ? L
  : S extends { type: 'list'; items: 'number' } ? number[]
  : S extends { type: infer T } ? FieldValue<T>
  : unknown;
// a task whose field names are not known to the compiler (read from a file) gets plain records
export type FieldValues<F extends FieldsSpec> = string extends keyof F ? Values : { -readonly [K in keyof F]: FieldValue<F[K]> };

// The normalized definition every other module works with.
export interface FieldDef {
  name: string;
  type: FieldTypeName;
  description: string;
  labels?: string[]; // class
  items?: 'string' | 'number'; // list
  schema?: JsonSchema; // json
}

export interface Signature {
  inputs: FieldDef[];
  outputs: FieldDef[];
  format: 'json' | 'markers'; // how the model is asked to write its outputs
}

export type Values = Record<string, unknown>;

// Parse one field spec; `fail(path, expected, found)` throws the caller's typed error.
export function fieldDef(name: string, spec: unknown, fail: (path: string, expected: string, found: unknown) => never): FieldDef {
  const o = typeof spec === 'string' ? { type: spec } : spec;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) fail(name, `a type name (${FIELD_TYPES.join(', ')}) or an object {"type", …}`, spec);
  const r = o as Record<string, unknown>;
  const type = r.type as FieldTypeName;
  if (!FIELD_TYPES.includes(type)) fail(`${name}.type`, `one of ${FIELD_TYPES.join(', ')}`, r.type);
  const allowed = new Set(['type', 'description', ...(type === 'class' ? ['labels'] : type === 'list' ? ['items'] : type === 'json' ? ['schema'] : [])]);
  for (const k of Object.keys(r)) if (!allowed.has(k)) fail(`${name}.${k}`, `no "${k}" on a ${type} field (allowed: ${[...allowed].join(', ')})`, r[k]);
  if (r.description !== undefined && typeof r.description !== 'string') fail(`${name}.description`, 'a string', r.description);
  const def: FieldDef = { name, type, description: (r.description as string | undefined) ?? '' };
  if (type === 'class') {
    const labels = r.labels;
    if (!Array.isArray(labels) || labels.length < 2 || labels.some((l) => typeof l !== 'string') || new Set(labels).size !== labels.length) {
      fail(`${name}.labels`, 'an array of at least two distinct strings', labels);
    }
    def.labels = labels as string[];
  }
  if (type === 'list') {
    if (r.items !== undefined && r.items !== 'string' && r.items !== 'number') fail(`${name}.items`, '"string" or "number"', r.items);
    def.items = (r.items as 'string' | 'number' | undefined) ?? 'string';
  }
  if (type === 'json' && r.schema !== undefined) {
    const err = checkSchema(r.schema);
    if (err) fail(`${name}.schema`, `a JSON Schema (${err})`, r.schema);
    def.schema = r.schema as JsonSchema;
  }
  return def;
}

export function fieldDefs(spec: unknown, key: string, fail: (path: string, expected: string, found: unknown) => never): FieldDef[] {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec) || Object.keys(spec).length === 0) {
    fail(key, 'an object of at least one field: {"name": "string" | {"type": …}}', spec);
  }
  return Object.entries(spec as Record<string, unknown>).map(([n, s]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(n)) fail(`${key}.${n}`, 'a field name of letters, digits and _', n);
    return fieldDef(n, s, (p, e, f) => fail(`${key}.${p}`, e, f));
  });
}

// A field's definition as written back to program.json (the inverse of fieldDef).
export function fieldSpecOf(d: FieldDef): FieldSpec {
  const extra = d.type === 'class' ? { labels: d.labels! } : d.type === 'list' ? { items: d.items } : d.type === 'json' && d.schema ? { schema: d.schema } : {};
  if (!d.description && (d.type !== 'class' && (d.type !== 'list' || d.items === 'string') && !(d.type === 'json' && d.schema))) return d.type;
  return { type: d.type, ...extra, ...(d.description ? { description: d.description } : {}) } as FieldSpec;
}

const isChat = (v: unknown): v is ChatMessage[] =>
  Array.isArray(v) && v.every((m) => typeof m === 'object' && m !== null && ['system', 'user', 'assistant'].includes((m as ChatMessage).role) && typeof (m as ChatMessage).content === 'string');

// A gold value (task examples, program inputs): the exact type, no coercion. null when valid.
export function checkValue(d: FieldDef, v: unknown): string | null {
  switch (d.type) {
    case 'string':
      return typeof v === 'string' ? null : 'a string';
    case 'number':
      return typeof v === 'number' && Number.isFinite(v) ? null : 'a finite number';
    case 'boolean':
      return typeof v === 'boolean' ? null : 'true or false';
    case 'class':
      return typeof v === 'string' && d.labels!.includes(v) ? null : `one of ${JSON.stringify(d.labels)}`;
    case 'list':
      return Array.isArray(v) && v.every((x) => (d.items === 'number' ? typeof x === 'number' && Number.isFinite(x) : typeof x === 'string')) ? null : `an array of ${d.items}s`;
    case 'json': {
      if (typeof v !== 'object' || v === null) return 'a JSON object or array';
      const e = d.schema ? validate(v, d.schema) : null;
      return e ? `a value matching the field's schema (${e})` : null;
    }
    case 'chat':
      return isChat(v) ? null : 'a chat history: an array of {"role": "system"|"user"|"assistant", "content": string}';
  }
}

export type Coerced = { ok: true; value: unknown } | { ok: false; error: string };

// A model's answer for one field: numbers and booleans may arrive as text, a class label in
// another case, a list as comma-separated text, JSON as a string holding JSON.
export function coerceValue(d: FieldDef, v: unknown): Coerced {
  let x = v;
  if (typeof x === 'string') {
    const t = x.trim();
    if (d.type === 'number' && t !== '' && Number.isFinite(Number(t.replace(/,/g, '')))) x = Number(t.replace(/,/g, ''));
    else if (d.type === 'boolean' && /^(true|false|yes|no)$/i.test(t)) x = /^(true|yes)$/i.test(t);
    else if (d.type === 'class') x = d.labels!.find((l) => l.toLowerCase() === t.toLowerCase().replace(/^["'`]|["'`.]$/g, '')) ?? t;
    else if (d.type === 'list' || d.type === 'json') {
      try {
        x = JSON.parse(t);
      } catch {
        if (d.type === 'list') x = t === '' ? [] : t.split(/\s*[,;\n]\s*/).filter(Boolean);
      }
      if (d.type === 'list' && d.items === 'number' && Array.isArray(x)) x = x.map((y) => (typeof y === 'string' && y.trim() !== '' && Number.isFinite(Number(y)) ? Number(y) : y));
    } else if (d.type === 'string') x = t;
  } else if (d.type === 'string' && (typeof x === 'number' || typeof x === 'boolean')) x = String(x);
  const e = checkValue(d, x);
  return e ? { ok: false, error: `field "${d.name}": expected ${e}, found ${JSON.stringify(v)?.slice(0, 80)}` } : { ok: true, value: x };
}

// One value as prompt text.
export function formatValue(d: FieldDef, v: unknown): string {
  if (typeof v === 'string') return v;
  if (d.type === 'chat') return (v as ChatMessage[]).map((m) => `${m.role[0].toUpperCase()}${m.role.slice(1)}: ${m.content}`).join('\n');
  return JSON.stringify(v);
}

// Human-readable type for format instructions ("one of: positive, negative").
export function describeType(d: FieldDef): string {
  switch (d.type) {
    case 'class':
      return `one of: ${d.labels!.join(', ')}`;
    case 'list':
      return `a list of ${d.items}s`;
    case 'json':
      return d.schema ? `JSON matching the schema ${JSON.stringify(d.schema)}` : 'a JSON value';
    case 'chat':
      return 'a conversation';
    default:
      return `a ${d.type}`;
  }
}

// A JSON Schema for the whole output object (the endpoint's structured-output mode).
export function outputSchema(sig: Signature): JsonSchema {
  const prop = (d: FieldDef): JsonSchema => {
    const base: JsonSchema =
      d.type === 'class' ? { type: 'string', enum: d.labels }
        : d.type === 'list' ? { type: 'array', items: { type: d.items } }
          : d.type === 'json' ? (d.schema ?? { type: 'object' })
            : d.type === 'chat' ? { type: 'array', items: { type: 'object', properties: { role: { type: 'string' }, content: { type: 'string' } }, required: ['role', 'content'] } }
              : { type: d.type };
    return d.description ? { ...base, description: d.description } : base;
  };
  return {
    type: 'object',
    properties: Object.fromEntries(sig.outputs.map((d) => [d.name, prop(d)])),
    required: sig.outputs.map((d) => d.name),
    additionalProperties: false,
  };
}
