// The prompt encoder's own files (PEFT has no such type): encoder.json (shape, training tasks,
// template, model identity) and encoder.safetensors (every tensor, F32, named as
// encoderTensorShapes names them). A hand-written small format; anything unknown is refused.
import { PromptkilnError } from '../errors.js';
import { writeSafetensors } from '../model/safetensors.js';
import { nodeFs } from '../util/files.js';
import { adapterError, adapterFileReader, parseAdapterSafetensors } from './adapter-files.js';
import { checkModelIdentity, readModelIdentity } from '../train/index.js';
import { modelIdentity, type ModelRef } from './identity.js';
import { checkTemplate, softRows } from './mixed.js';
import { encoderTensorShapes, type PromptEncoderArtifact, type TaskDescription } from './prompt-encoder.js';
import type { TemplatePart } from './types.js';

export const ENCODER_CONFIG_FILE = 'encoder.json';
export const ENCODER_WEIGHTS_FILE = 'encoder.safetensors';
const FORMAT = 'promptkiln.prompt_encoder';
const VERSION = 1;

const CONFIG_KEYS = ['format', 'version', 'num_virtual_tokens', 'width', 'layers', 'heads', 'hidden', 'positions', 'layer_norm_eps', 'tasks', 'template', 'model'] as const;

export function encodePromptEncoder(a: PromptEncoderArtifact): { config: Record<string, unknown>; weights: Uint8Array } {
  const config = {
    format: FORMAT, version: VERSION, num_virtual_tokens: a.rows, width: a.dims.width, layers: a.dims.layers, heads: a.dims.heads, hidden: a.dims.hidden,
    positions: 'sinusoidal', layer_norm_eps: 1e-5, tasks: a.tasks, template: a.template, model: a.model,
  } satisfies Record<(typeof CONFIG_KEYS)[number], unknown>;
  const tensors = Object.fromEntries(encoderTensorShapes(a.rows, a.model.dim, a.dims).map(([n, shape]) => [n, { shape, data: a.tensors[n] }]));
  return { config, weights: writeSafetensors(tensors, { format: FORMAT }) };
}

const posInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;

export function decodePromptEncoder(configText: string, weights: Uint8Array, model: ModelRef, dir = '.'): PromptEncoderArtifact {
  const where = `${dir}/${ENCODER_CONFIG_FILE}`;
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(configText);
  } catch (e) {
    throw adapterError(where, `not valid JSON (${(e as Error).message})`);
  }
  if (!c || typeof c !== 'object' || Array.isArray(c)) throw adapterError(where, 'expected a JSON object');
  const unknown = Object.keys(c).find((k) => !(CONFIG_KEYS as readonly string[]).includes(k));
  if (unknown !== undefined) throw adapterError(where, `key "${unknown}" is not part of prompt encoder format ${VERSION}`, { key: unknown, value: c[unknown] });
  if (c.format !== FORMAT) throw adapterError(where, `format ${JSON.stringify(c.format)} is not "${FORMAT}"`, { key: 'format', value: c.format });
  if (c.version !== VERSION) throw adapterError(where, `version ${JSON.stringify(c.version)} is not supported (this build reads ${VERSION})`, { key: 'version', value: c.version });
  for (const k of ['num_virtual_tokens', 'width', 'layers', 'heads', 'hidden'] as const) {
    if (!posInt(c[k])) throw adapterError(where, `${k} must be a positive integer, got ${JSON.stringify(c[k])}`, { key: k, value: c[k] });
  }
  // the math is fixed: a file asking for other positions or another norm epsilon is refused
  if (c.positions !== 'sinusoidal') throw adapterError(where, `positions ${JSON.stringify(c.positions)} is not implemented (only "sinusoidal")`, { key: 'positions', value: c.positions });
  if (c.layer_norm_eps !== 1e-5) throw adapterError(where, `layer_norm_eps ${JSON.stringify(c.layer_norm_eps)} is not implemented (only 1e-5)`, { key: 'layer_norm_eps', value: c.layer_norm_eps });
  if (!Array.isArray(c.tasks) || !c.tasks.every((t) => typeof t === 'string' || (Array.isArray(t) && t.every((x) => Number.isInteger(x) && x >= 0)))) {
    throw adapterError(where, 'tasks must be an array of descriptions (strings or token id arrays)', { key: 'tasks' });
  }
  const template = c.template as TemplatePart[];
  try {
    checkTemplate(template);
  } catch (e) {
    throw adapterError(where, `template: ${(e as Error).message}`, { key: 'template' });
  }
  const N = c.num_virtual_tokens as number;
  if (softRows(template) !== N) throw adapterError(where, `template has ${softRows(template)} soft rows, num_virtual_tokens is ${N}`, { key: 'template' });
  if (!c.model || typeof c.model !== 'object' || Array.isArray(c.model)) throw adapterError(where, 'model must be the identity object of the model it was trained for', { key: 'model' });
  checkModelIdentity(readModelIdentity(c.model as Record<string, unknown>), model, where);
  const here = modelIdentity(model);
  const dims = { width: c.width as number, layers: c.layers as number, heads: c.heads as number, hidden: c.hidden as number };
  if (dims.width % dims.heads) throw adapterError(where, `width ${dims.width} does not split over ${dims.heads} heads`, { key: 'heads', value: dims.heads });
  const wfile = `${dir}/${ENCODER_WEIGHTS_FILE}`;
  const st = parseAdapterSafetensors(weights, wfile);
  const shapes = encoderTensorShapes(N, here.dim, dims);
  const tensors: Record<string, Float32Array> = {};
  for (const [name, shape] of shapes) {
    const t = st.tensors.get(name);
    if (!t) throw adapterError(wfile, `tensor "${name}" is missing`, { key: name });
    if (t.dtype !== 'F32') throw adapterError(wfile, `tensor "${name}" is ${t.dtype}, expected F32`, { key: name, value: t.dtype });
    if (t.shape.join() !== shape.join()) throw adapterError(wfile, `tensor "${name}" has shape [${t.shape}], expected [${shape}]`, { key: name, value: t.shape });
    tensors[name] = t.data as Float32Array;
  }
  const extra = [...st.tensors.keys()].find((n) => !shapes.some(([s]) => s === n));
  if (extra !== undefined) throw adapterError(wfile, `tensor "${extra}" is not part of a ${dims.layers}-layer prompt encoder`, { key: extra });
  return { kind: 'encoder', rows: N, dims, tensors, tasks: c.tasks as TaskDescription[], template, model: here };
}

// Whether `dir` holds a prompt encoder (encoder.json), rather than PEFT files.
export async function isEncoderDir(dir: string): Promise<boolean> {
  const { fs, path } = await nodeFs();
  return fs.access(path.join(dir, ENCODER_CONFIG_FILE)).then(() => true, () => false);
}

export async function loadPromptEncoder(dir: string, model: ModelRef): Promise<PromptEncoderArtifact> {
  const read = await adapterFileReader(dir);
  const cfg = await read(ENCODER_CONFIG_FILE);
  const w = await read(ENCODER_WEIGHTS_FILE);
  return decodePromptEncoder(cfg.toString('utf8'), new Uint8Array(w.buffer, w.byteOffset, w.byteLength), model, dir);
}

// A training task's description by id, or a new one: what the encoder is asked to encode.
export function encoderTask(a: PromptEncoderArtifact, o: { taskId?: number; description?: TaskDescription }, where: string): TaskDescription {
  if (o.taskId !== undefined && o.description !== undefined) throw new PromptkilnError('ADAPTER', `${where}: give a task id or a description, not both`);
  if (o.description !== undefined) return o.description;
  if (o.taskId === undefined) throw new PromptkilnError('ADAPTER', `${where}: a prompt encoder needs a task: a description (CLI --description TEXT) or the id of a training task (0..${a.tasks.length - 1})`);
  if (!Number.isInteger(o.taskId) || o.taskId < 0 || o.taskId >= a.tasks.length) {
    throw new PromptkilnError('ADAPTER', `${where}: task id ${o.taskId} is out of range: this encoder was trained on ${a.tasks.length} tasks (0..${a.tasks.length - 1})`, { taskId: o.taskId });
  }
  return a.tasks[o.taskId];
}
