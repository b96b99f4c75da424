// Reading a model's answer into typed output fields: the whole text as JSON, else a fenced
// ```json block, else the first balanced {…}, else "name: value" field markers; then each field
// coerced and validated. A failure says what was wrong, for the retry message and the record.
import { coerceValue, type Signature, type Values } from './fields.js';

export type Parsed = { ok: true; values: Values } | { ok: false; error: string };

function firstObject(text: string): string | null {
  const start = text.indexOf('{');
  if (start < 0) return null;
  let depth = 0;
  let inStr = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inStr) {
      if (c === '\\') i++;
      else if (c === '"') inStr = false;
    } else if (c === '"') inStr = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return text.slice(start, i + 1);
  }
  return null;
}

function jsonObject(text: string): Record<string, unknown> | null {
  const fenced = /```(?:json)?\s*\n?([\s\S]*?)```/i.exec(text)?.[1];
  for (const t of [text.trim(), fenced?.trim(), firstObject(text)]) {
    if (!t) continue;
    try {
      const v = JSON.parse(t);
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      /* next form */
    }
  }
  return null;
}

// "name: value" lines; a value runs until the next field's marker.
function markers(sig: Signature, text: string): Record<string, unknown> | null {
  const names = sig.outputs.map((d) => d.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const re = new RegExp(`^[ \\t]*(?:\\*\\*|#+ *)?(${names.join('|')})(?:\\*\\*)?[ \\t]*[:=][ \\t]*`, 'gim');
  const hits = [...text.matchAll(re)];
  if (hits.length === 0) return null;
  const out: Record<string, unknown> = {};
  hits.forEach((m, i) => {
    const name = sig.outputs.find((d) => d.name.toLowerCase() === m[1].toLowerCase())!.name;
    const end = i + 1 < hits.length ? hits[i + 1].index : text.length;
    if (!(name in out)) out[name] = text.slice(m.index! + m[0].length, end).trim();
  });
  return out;
}

export function parseOutputs(sig: Signature, text: string): Parsed {
  const raw = (sig.format === 'json' ? (jsonObject(text) ?? markers(sig, text)) : (markers(sig, text) ?? jsonObject(text)));
  if (!raw) {
    const want = sig.format === 'json' ? 'JSON object' : `"name: value" lines for ${sig.outputs.map((d) => d.name).join(', ')}`;
    return { ok: false, error: `no ${want} found in the answer ${JSON.stringify(text.slice(0, 120))}` };
  }
  const values: Values = {};
  const missing = sig.outputs.filter((d) => !(d.name in raw)).map((d) => d.name);
  if (missing.length) return { ok: false, error: `missing output field${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')}` };
  for (const d of sig.outputs) {
    const c = coerceValue(d, raw[d.name]);
    if (!c.ok) return { ok: false, error: c.error };
    values[d.name] = c.value;
  }
  return { ok: true, values };
}
