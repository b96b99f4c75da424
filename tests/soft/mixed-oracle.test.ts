// An oracle for mixed soft+hard templates: soft rows set exactly to the token embeddings of a
// text are that text, so the mixed layout must give the logits of the hard prompt holding those
// tokens in the same places, on every row (Llama and GPT-2; soft rows before the input, after it,
// and on both sides of text). Then a real mixed-template run: it lowers the loss, moves every soft
// row, and leaves the text rows (the frozen embedding table, the template's text) untouched.
import { describe, expect, it } from 'vitest';
import type { Model, Segment } from '../../src/model/index.js';
import { layoutExample, parseTemplate, type LaidExample } from '../../src/soft/mixed.js';
import { PromptTuning } from '../../src/soft/prompt-tuning.js';
import { tune } from '../../src/soft/trainer.js';
import type { TemplatePart } from '../../src/soft/types.js';
import { expectClose, model, MODELS, ref } from './helpers.js';
import { tomTask } from './tom-task.js';

// the hard sequence of a laid-out example: the soft parts, in order, replaced by the ids their
// rows embed (counted here, not read from the layout's softOffset, so a wrong offset shows)
function hardIds(ex: LaidExample, softIds: readonly number[]): number[] {
  let next = 0;
  return ex.parts.flatMap((p) => ('ids' in p ? p.ids : softIds.slice(next, (next += p.rows))));
}

// logits (T, V) of every row of one laid-out example under a soft prompt
function mixedLogits(m: Model, template: TemplatePart[], ex: LaidExample, soft: Float32Array): Float32Array {
  const pt = new PromptTuning(m, template, { type: 'random' }, 0, soft);
  try {
    const st = pt.forward([ex], false);
    const V = m.config.vocabSize;
    const out = new Float32Array(ex.length * V);
    st.eachHeadChunk(Array.from({ length: ex.length }, (_, i) => i), (lg, s, n) => {
      out.set(lg.f32().subarray(0, n * V), s * V);
      return false;
    });
    return out;
  } finally {
    pt.free();
  }
}

for (const name of MODELS) {
  describe(`${name}: soft rows = a text's embeddings reproduce the hard prompt`, () => {
    const r = ref(name, 'prompt_tuning');
    const example = { input: r.input_tokens as number[], target: r.target_tokens as number[] };
    // the "text": token ids of a span the model knows (stories260K: " named Max. He liked")
    const text = (r.target_tokens as number[]).slice(0, 5);
    // gpt2-tiny-random has no tokenizer, so its templates hold no text parts
    const templates: [string, TemplatePart[]][] = name === 'stories260K'
      ? [
        ['soft rows before the input', parseTemplate('[soft:5]{input}')],
        ['soft rows after the input, text before', parseTemplate('Story:{input}[soft:5]')],
        ['soft rows on both sides of text', parseTemplate('[soft:2] Once{input}[soft:3]')],
      ]
      : [
        ['soft rows before the input', [{ soft: 5 }, { input: true }]],
        ['soft rows after the input', [{ input: true }, { soft: 5 }]],
        ['soft rows on both sides of the input', [{ soft: 2 }, { input: true }, { soft: 3 }]],
      ];

    for (const [what, template] of templates) {
      it(`${what}: every row's logits equal the hard prompt's; the target log-likelihood too`, async () => {
        const m = await model(name);
        const ex = layoutExample(m, template, example);
        const ids = hardIds(ex, text);
        expect(ids.length).toBe(ex.length);
        expect(ex.parts.filter((p) => 'softOffset' in p).length).toBeGreaterThan(0);
        const mixed = mixedLogits(m, template, ex, m.embeddingRows(text));
        const hard = (await m.forward({ sequences: [ids] })).logits!;
        // the same input rows through the same stack: identical, not merely close
        expect(mixed).toEqual(hard);
        // and through the scoring path (prompt K/V cached, then the target): the hard prompt's log-probs
        const cut = ids.length - ex.targets.length;
        const s = await m.score(ids.slice(0, cut), ids.slice(cut));
        const V = m.config.vocabSize;
        const lp = ex.targetRows.map((row, j) => {
          const a = mixed.subarray(row * V, (row + 1) * V);
          const mx = Math.max(...a);
          return a[ex.targets[j]] - mx - Math.log(a.reduce((acc, x) => acc + Math.exp(x - mx), 0));
        });
        expectClose(lp, s.logprobs, 1e-4, 0, 'target log-probs');
      });
    }

    it('a soft row that differs from the text embedding changes the logits from its row on, not before', async () => {
      // guards the check above: it can see a misplaced row
      const m = await model(name);
      const template = templates[2][1];
      const ex = layoutExample(m, template, example);
      const soft = m.embeddingRows(text);
      const C = m.config.dim, V = m.config.vocabSize;
      soft[3 * C] += 1; // row 3 = the first row of the second soft part
      const mixed = mixedLogits(m, template, ex, soft);
      const hard = (await m.forward({ sequences: [hardIds(ex, text)] })).logits!;
      let row = 0;
      for (const p of ex.parts) {
        if ('softOffset' in p && p.softOffset + p.rows > 3) { row += 3 - p.softOffset; break; }
        row += 'ids' in p ? p.ids.length : p.rows;
      }
      expect(mixed.subarray(0, row * V)).toEqual(hard.subarray(0, row * V));
      expect(mixed.subarray(row * V, (row + 1) * V)).not.toEqual(hard.subarray(row * V, (row + 1) * V));
    });
  });
}

describe('stories260K: a mixed-template run', () => {
  it('lowers the validation loss, moves every soft row, and leaves the text rows untouched', async () => {
    const m = await model('stories260K');
    const template = parseTemplate('[soft:3] A story:{input}[soft:2]');
    const { train, valid } = tomTask();
    const V = m.config.vocabSize, C = m.config.dim;
    const table = m.embeddingRows(Array.from({ length: V }, (_, i) => i));
    const init = m.embeddingRows(m.tokenizer!.encode(' Tom Tom Tom Tom Tom', { bos: false }).slice(0, 5));
    const res = await tune(m, train, { template, initial: init, valid, maxSteps: 12, batchSize: 6, lr: 0.15, seed: 1 });
    const a = res.prompt;
    if (a.kind !== 'prompt') throw new Error('expected a prompt artifact');
    expect(res.metrics.after!.loss).toBeLessThan(res.metrics.before!.loss * 0.8);
    // every soft row moved, in both soft parts
    for (let row = 0; row < 5; row++) {
      expect(a.data.subarray(row * C, (row + 1) * C), `soft row ${row}`).not.toEqual(init.subarray(row * C, (row + 1) * C));
    }
    // the text stays text: template kept, the frozen embedding table bit for bit
    expect(a.template).toEqual(template);
    expect(m.embeddingRows(Array.from({ length: V }, (_, i) => i))).toEqual(table);
    // the reported loss is the loss of [soft rows, the text's token rows, input, soft rows, target]
    // laid out here by hand
    let nll = 0, tokens = 0;
    for (const e of valid) {
      const ex = layoutExample(m, template, e);
      const segs: Segment[] = ex.parts.map((p) => ('ids' in p ? { ids: p.ids } : { embeds: a.data.subarray(p.softOffset * C, (p.softOffset + p.rows) * C), rows: p.rows }));
      expect(ex.parts[1]).toEqual({ ids: m.tokenizer!.encode(` A story:${e.input as string}`) });
      const lg = (await m.forward({ sequences: [segs] })).logits!;
      ex.targetRows.forEach((row, j) => {
        const x = lg.subarray(row * V, (row + 1) * V);
        const mx = Math.max(...x);
        nll -= x[ex.targets[j]] - mx - Math.log(x.reduce((acc, v) => acc + Math.exp(v - mx), 0));
        tokens++;
      });
    }
    expect(Math.abs(nll / tokens - res.metrics.after!.loss)).toBeLessThan(1e-4);
  });
});
