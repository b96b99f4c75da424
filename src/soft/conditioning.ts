// Turning a trained soft artifact into the model's conditioning (soft rows, prefix K/V, adapters).
import { PromptkilnError } from '../errors.js';
import type { Tensor } from '../kernels/index.js';
import type { Conditioning, Model, Transformer } from '../model/index.js';
import type { BatchForward } from './evaluate.js';
import { batchSequences } from './method.js';
import type { LaidExample } from './mixed.js';
import { taskPrompt } from './multitask.js';
import type { SoftArtifact, TemplatePart } from './types.js';

let seq = 0;
function artifactId(a: SoftArtifact): string {
  // caches are keyed on the id, so two different prompts must never share one: the counter
  // guarantees that (the hash only makes ids readable in logs); converting the same artifact
  // twice gives two ids, which costs at most a cache miss
  const d = a.kind === 'prompt' ? a.data : a.kind === 'multitask' ? a.shared : a.k[0];
  let h = 2166136261 >>> 0;
  const u = new Uint32Array(d.buffer, d.byteOffset, d.length);
  for (let i = 0; i < u.length; i++) h = Math.imul(h ^ u[i], 16777619) >>> 0;
  return `${a.kind}:${a.model.id}:${a.kind === 'prefix' ? a.P : a.rows}:${h.toString(16)}:${seq++}`;
}

// Whether the template is the plain layout a Conditioning can express (see toConditioning).
export function isPlainTemplate(t: readonly TemplatePart[], kind: SoftArtifact['kind']): boolean {
  if (kind !== 'prefix') return t.length === 2 && 'soft' in t[0] && 'input' in t[1];
  return t.length === 1 && 'input' in t[0];
}

// A trained artifact as the model's inference-time Conditioning (score, generate, stream). Only
// plain layouts map onto it: soft rows before the prompt (PEFT prompt tuning), or a prefix with
// positions from P. A mixed template has text around the input; render it with the template.
// A multitask prompt serves one task: `taskId` picks it (required there, refused elsewhere).
export function toConditioning(a: SoftArtifact, o: { taskId?: number } = {}): Conditioning {
  if (!isPlainTemplate(a.template, a.kind)) {
    throw new PromptkilnError('ADAPTER', `this ${a.kind} artifact uses a mixed template (${a.template.length} parts); score it with the template, not as a plain conditioning`);
  }
  checkTaskId(a, o.taskId);
  if (a.kind === 'multitask') return { id: `${artifactId(a)}:task${o.taskId}`, soft: { rows: a.rows, data: taskPrompt(a, o.taskId) } };
  if (a.kind === 'prompt') return { id: artifactId(a), soft: { rows: a.rows, data: a.data } };
  return { id: artifactId(a), prefix: { P: a.P, k: a.k, v: a.v }, posOffset: a.P };
}

// A batch forward for evaluation with an artifact, or with none (the template's soft parts
// must then be absent). The caller frees the returned handle.
export function artifactForward(model: Model, a: SoftArtifact | null, taskId?: number): { forward: BatchForward; posOffset: number; free(): void } {
  if (!a) return { forward: (b: LaidExample[]) => model.run(batchSequences(model, b, null), {}), posOffset: 0, free() {} };
  checkTaskId(a, taskId);
  if (a.kind === 'multitask') {
    const rows = taskPrompt(a, taskId);
    return { forward: (b: LaidExample[]) => model.run(batchSequences(model, b, rows), {}), posOffset: 0, free() {} };
  }
  if (a.kind === 'prompt') {
    return { forward: (b: LaidExample[]) => model.run(batchSequences(model, b, a.data), {}), posOffset: 0, free() {} };
  }
  const k = model.kernels;
  const kt: Tensor[] = a.k.map((x) => k.from(x, 'prefix k'));
  const vt: Tensor[] = a.v.map((x) => k.from(x, 'prefix v'));
  const prefix = { P: a.P, k: kt, v: vt };
  return {
    forward: (b: LaidExample[]): Transformer => model.run(batchSequences(model, b, null), { prefix, posOffset: a.P }),
    posOffset: a.P,
    free() { kt.forEach((t) => t.free()); vt.forEach((t) => t.free()); },
  };
}

// A task id only means something to a multitask prompt; anywhere else it is refused, not ignored.
function checkTaskId(a: SoftArtifact, taskId: number | undefined): void {
  if (taskId !== undefined && a.kind !== 'multitask') {
    throw new PromptkilnError('ADAPTER', `task id ${taskId} given, but this is a ${a.kind === 'prompt' && a.encoder ? 'P-tuning' : a.kind} adapter (only multitask prompts have tasks)`, { taskId });
  }
}
