// Adapters PEFT 0.21 itself wrote (../shared/refs/hf/peft-*, base llama-gqa): each loads and its
// target log-probs match PEFT's forward within 1e-4; for the trainable kinds, the loss and the
// gradient of every trainable parameter (under PEFT's names) match grads.safetensors.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/model/index.js';
import { parseSafetensors } from '../../src/model/safetensors.js';
import { artifactForward } from '../../src/soft/conditioning.js';
import { layoutExample } from '../../src/soft/mixed.js';
import { MultitaskTuning } from '../../src/soft/multitask.js';
import { P_TUNING_PARAMS, PTuning, type PTuningInit } from '../../src/soft/p-tuning.js';
import { loadPeft } from '../../src/soft/peft.js';
import { batchTargets, type TuningMethod } from '../../src/soft/method.js';
import { REFS_DIR } from '../helpers/paths.js';
import { expectClose } from './helpers.js';

const HF = path.join(REFS_DIR, 'hf');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const cases: Record<string, any> = JSON.parse(readFileSync(path.join(HF, 'cases.json'), 'utf8')).peft_written;
let base: Promise<Model> | null = null;
const llama = () => (base ??= loadModel(path.join(HF, 'llama-gqa')));

function tensors(folder: string, file: string): Map<string, Float32Array> {
  const b = readFileSync(path.join(HF, folder, file));
  const st = parseSafetensors(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), file);
  return new Map([...st.tensors].map(([n, t]) => [n.replace('prompt_encoder.default.', ''), t.data.slice()]));
}

const example = (c: { prompt_ids: number[]; target_ids: number[]; forward_kwargs: { task_ids?: number[] } }) =>
  ({ input: c.prompt_ids, target: c.target_ids, taskId: c.forward_kwargs.task_ids?.[0] });

describe('PEFT-written adapters (refs/hf)', () => {
  for (const name of ['prompt-tuning-llama', 'prefix-tuning-llama', 'prefix-projection-llama', 'p-tuning-llama', 'multitask-prompt-tuning-llama']) {
    it(`${name}: loads and scores PEFT's target log-probs within 1e-4`, async () => {
      const c = cases[name], m = await llama();
      const a = await loadPeft(path.join(HF, c.folder), m);
      expect(a.kind).toBe(name.startsWith('prefix') ? 'prefix' : name.startsWith('multitask') ? 'multitask' : 'prompt');
      if (name.startsWith('p-tuning')) expect(a.kind === 'prompt' && a.encoder?.encoder_hidden_size).toBe(32);
      const ex = example(c);
      const f = artifactForward(m, a, ex.taskId);
      try {
        const laid = layoutExample(m, a.template, ex, f.posOffset);
        const { rows, targets } = batchTargets([laid]);
        const { logprobs } = f.forward([laid]).nll(rows, targets, 1, false);
        expectClose(logprobs, c.target_logprobs, 1e-4, 0, `${name} target log-probs`);
      } finally {
        f.free();
      }
    });
  }

  // PEFT's trainable parameters → our method; one forward/backward of the case's mean target NLL
  async function gradCase(name: string, build: (m: Model, p: Map<string, Float32Array>) => TuningMethod & { params: { name: string }[] }, names: readonly string[]) {
    const c = cases[name], m = await llama();
    const method = build(m, tensors(c.folder, 'trainable_params.safetensors'));
    try {
      const ex = example(c);
      let laid = layoutExample(m, method.template, ex, method.posOffset);
      laid = method.layout?.(ex, laid) ?? laid;
      const { rows, targets } = batchTargets([laid]);
      for (const p of method.params) m.kernels.zero(p.grad);
      const st = method.forward([laid], true);
      const loss = st.nll(rows, targets, 1 / rows.length, true).sum / rows.length;
      method.backward(st, [laid]);
      expect(Math.abs(loss - c.loss)).toBeLessThanOrEqual(1e-5);
      const want = tensors(c.folder, 'grads.safetensors');
      names.forEach((n, i) => expectClose(method.params[i].grad.f32(), want.get(n)!, 3e-5, 1e-3, `${name} d ${n}`));
    } finally {
      method.free();
    }
  }

  it('p-tuning-llama: the MLP prompt encoder\'s loss and gradients (embedding, three linears) match PEFT', async () => {
    await gradCase('p-tuning-llama', (m, p) => new PTuning(m, [{ soft: 4 }, { input: true }], { type: 'random' }, 0, { hidden: 32 },
      Object.fromEntries(P_TUNING_PARAMS.map((n) => [n, p.get(n)!])) as unknown as PTuningInit), P_TUNING_PARAMS);
  });

  it('multitask-prompt-tuning-llama: shared prompt and task factors\' loss and gradients match PEFT (task 2 of 3)', async () => {
    await gradCase('multitask-prompt-tuning-llama', (m, p) => new MultitaskTuning(m, [{ soft: 4 }, { input: true }], { type: 'random' }, 0, { tasks: 3, rank: 1 }, 0,
      { shared: p.get('embedding.weight')!, taskCols: p.get('prefix_task_cols')!, taskRows: p.get('prefix_task_rows')! }),
    ['embedding.weight', 'prefix_task_cols', 'prefix_task_rows']);
  });
});
