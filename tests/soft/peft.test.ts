// PEFT files both directions: round trips, hand-made PEFT-style fixtures (tests/fixtures/peft,
// written by peft_torch.py byte by byte, keys in the HF rotate-half layout), our saved files
// scored by PyTorch reading them the way PEFT's get_prompt does, and bad adapters.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isPromptkilnError } from '../../src/errors.js';
import { readSafetensorsHeader } from '../../src/model/safetensors.js';
import { artifactForward } from '../../src/soft/conditioning.js';
import { evaluateLaid } from '../../src/soft/evaluate.js';
import { layoutExample } from '../../src/soft/mixed.js';
import { decodePeft, encodePeft, loadAdapter, loadPeft, savePeft } from '../../src/soft/peft.js';
import { modelIdentity } from '../../src/soft/identity.js';
import type { PrefixArtifact, SoftArtifact, SoftPromptArtifact } from '../../src/soft/types.js';
import { REPO_DIR } from '../helpers/paths.js';
import { expectClose, model, MODELS, prefixFromRef, ref, type ModelName } from './helpers.js';

const FIXTURES = path.join(REPO_DIR, 'tests/fixtures/peft');
const tmp = () => mkdtempSync(path.join(tmpdir(), 'pk-peft-'));

async function refArtifacts(name: ModelName): Promise<{ prompt: SoftPromptArtifact; prefix: PrefixArtifact }> {
  const m = await model(name);
  const pt = ref(name, 'prompt_tuning'), pf = ref(name, 'prefix_tuning');
  const id = modelIdentity(m);
  const init = { type: 'RANDOM' as const, text: null };
  return {
    prompt: { kind: 'prompt', rows: pt.P, data: new Float32Array(pt.soft_prompt_init.data), template: [{ soft: pt.P }, { input: true }], init, model: id },
    prefix: { kind: 'prefix', P: pf.P, ...prefixFromRef(pf.prefix_init), template: [{ input: true }], init, model: id },
  };
}

// mean target NLL of the reference pair under an artifact, through the soft/ evaluation path
async function lossWith(name: ModelName, a: SoftArtifact): Promise<number> {
  const m = await model(name);
  const r = ref(name, a.kind === 'prompt' ? 'prompt_tuning' : 'prefix_tuning');
  const f = artifactForward(m, a);
  try {
    const ex = { input: r.input_tokens, target: r.target_tokens };
    return evaluateLaid({ model: m, template: a.template, posOffset: f.posOffset, forward: f.forward }, [ex]).loss;
  } finally {
    f.free();
  }
}
const refLoss = (name: ModelName, kind: 'prompt' | 'prefix') =>
  kind === 'prompt' ? ref(name, 'prompt_tuning').float64.loss : ref(name, 'prefix_tuning').variants[0].float64.loss;

describe('PEFT files', () => {
  for (const name of MODELS) {
    for (const kind of ['prompt', 'prefix'] as const) {
      it(`${name} ${kind}: save → load round trip is exact, and the layout is PEFT's`, async () => {
        const m = await model(name);
        const a = (await refArtifacts(name))[kind];
        const dir = tmp();
        await savePeft(dir, a);
        expect(readdirSync(dir).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']); // no temp files left
        const cfg = JSON.parse(readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
        const c = m.config;
        expect(cfg.peft_type).toBe(kind === 'prompt' ? 'PROMPT_TUNING' : 'PREFIX_TUNING');
        expect(cfg).toMatchObject({ task_type: 'CAUSAL_LM', num_transformer_submodules: 1, num_layers: c.nLayers, inference_mode: true, base_model_name_or_path: m.id });
        const hdr = readSafetensorsHeader(new Uint8Array(readFileSync(path.join(dir, 'adapter_model.safetensors'))));
        expect(hdr.metadata).toEqual({ format: 'pt' });
        expect([...hdr.tensors.keys()]).toEqual(['prompt_embeddings']);
        if (kind === 'prompt') {
          expect(cfg).toMatchObject({ num_virtual_tokens: 4, token_dim: c.dim, num_attention_heads: c.nHeads, prompt_tuning_init: 'RANDOM' });
          expect(cfg.promptkiln.convention).toBe('soft_rows_before_bos');
          expect(hdr.tensors.get('prompt_embeddings')!.shape).toEqual([4, c.dim]);
        } else {
          // GQA: token_dim = kv_heads·head_dim, num_attention_heads = kv_heads
          expect(cfg).toMatchObject({ num_virtual_tokens: 3, token_dim: c.nKvHeads * c.headDim, num_attention_heads: c.nKvHeads, prefix_projection: false });
          expect(cfg.promptkiln).toMatchObject({ convention: 'hf_peft', position_offset: 3, key_head_layout: c.arch === 'llama' ? 'rotate_half' : 'none' });
          expect(hdr.tensors.get('prompt_embeddings')!.shape).toEqual([3, c.nLayers * 2 * c.nKvHeads * c.headDim]);
        }
        const back = await loadPeft(dir, m);
        expect(back.kind).toBe(kind);
        if (back.kind === 'prompt') expect(back.data).toEqual(a.kind === 'prompt' ? a.data : null);
        else if (back.kind === 'prefix') {
          const pa = a as PrefixArtifact;
          back.k.forEach((k, l) => { expect(k).toEqual(pa.k[l]); expect(back.v[l]).toEqual(pa.v[l]); });
        }
        expect(Math.abs((await lossWith(name, back)) - refLoss(name, kind))).toBeLessThanOrEqual(2e-5);
        // loadAdapter → Conditioning for score/generate
        const cond = await loadAdapter(dir, m);
        if (kind === 'prompt') expect(cond.soft?.rows).toBe(4);
        else expect([cond.prefix?.P, cond.posOffset]).toEqual([3, 3]);
      });

      it(`${name} ${kind}: PyTorch reading our files as PEFT's get_prompt does gets the reference loss`, async () => {
        const a = (await refArtifacts(name))[kind];
        const dir = tmp();
        await savePeft(dir, a);
        const r = ref(name, kind === 'prompt' ? 'prompt_tuning' : 'prefix_tuning');
        const out = spawnSync('/usr/bin/python3', [path.join(REPO_DIR, 'tests/soft/peft_torch.py'), 'check', dir, name], {
          input: JSON.stringify({ input: r.input_tokens, target: r.target_tokens }), encoding: 'utf8', timeout: 120_000,
        });
        expect(out.status, out.stderr).toBe(0);
        const { loss } = JSON.parse(out.stdout);
        expect(Math.abs(loss - refLoss(name, kind))).toBeLessThanOrEqual(2e-5);
      }, 130_000);
    }
  }

  it('loads hand-made PEFT fixtures (no promptkiln keys; prefix keys rotate-half) and scores them like the references', async () => {
    const m = await model('stories260K');
    const prompt = await loadPeft(path.join(FIXTURES, 'prompt-stories260K'), m);
    expect(prompt.kind).toBe('prompt');
    expect(Math.abs((await lossWith('stories260K', prompt)) - refLoss('stories260K', 'prompt'))).toBeLessThanOrEqual(2e-5);
    const prefix = await loadPeft(path.join(FIXTURES, 'prefix-stories260K'), m);
    expect(prefix.kind).toBe('prefix');
    // the keys came back in the model's interleaved layout: equal to the reference init
    const want = prefixFromRef(ref('stories260K', 'prefix_tuning').prefix_init);
    (prefix as PrefixArtifact).k.forEach((k, l) => expectClose(k, want.k[l], 0, 0, `layer ${l} keys`));
    expect(Math.abs((await lossWith('stories260K', prefix)) - refLoss('stories260K', 'prefix'))).toBeLessThanOrEqual(2e-5);
  });

  it('our encoding of the reference prefix is byte-identical to the hand-made fixture tensor', async () => {
    const { prefix } = await refArtifacts('stories260K');
    const ours = encodePeft(prefix).weights;
    const theirs = new Uint8Array(readFileSync(path.join(FIXTURES, 'prefix-stories260K/adapter_model.safetensors')));
    const data = (b: Uint8Array) => b.subarray(8 + Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true)));
    expect(Buffer.from(data(ours)).equals(Buffer.from(data(theirs)))).toBe(true);
  });

  describe('bad adapters → ADAPTER errors naming what is wrong', () => {
    const fixture = (kind: string) => {
      const dir = tmp();
      for (const f of ['adapter_config.json', 'adapter_model.safetensors']) copyFileSync(path.join(FIXTURES, `${kind}-stories260K`, f), path.join(dir, f));
      return dir;
    };
    const editConfig = (dir: string, fn: (c: Record<string, unknown>) => void) => {
      const p = path.join(dir, 'adapter_config.json');
      const c = JSON.parse(readFileSync(p, 'utf8'));
      fn(c);
      writeFileSync(p, JSON.stringify(c));
    };
    const expectAdapter = async (p: Promise<unknown>, re: RegExp) => {
      const e = await p.then(() => null, (x) => x);
      expect(isPromptkilnError(e, 'ADAPTER'), String(e)).toBe(true);
      expect((e as Error).message).toMatch(re);
    };

    it('a prefix for another model: the dimension, expected vs found', async () => {
      await expectAdapter(loadPeft(path.join(FIXTURES, 'prefix-stories260K'), await model('gpt2-tiny-random')), /num_layers: expected 2 .* found 5/);
      await expectAdapter(loadPeft(path.join(FIXTURES, 'prompt-stories260K'), await model('gpt2-tiny-random')), /token_dim: expected 32 .* found 64/);
    });
    it('token_dim = hidden for a GQA prefix (pre-GQA PEFT) is refused', async () => {
      const dir = fixture('prefix');
      editConfig(dir, (c) => { c.token_dim = 64; c.num_attention_heads = 8; });
      await expectAdapter(loadPeft(dir, await model('stories260K')), /token_dim: expected 32 \(kv_heads·head_dim = 4·8.*found 64/);
    });
    it('tensor shape disagreeing with the config', async () => {
      const dir = fixture('prompt');
      editConfig(dir, (c) => { c.num_virtual_tokens = 5; });
      await expectAdapter(loadPeft(dir, await model('stories260K')), /prompt_embeddings dim 0 \(num_virtual_tokens\): expected 5 .* found 4/);
    });
    it('unsupported peft_type / task_type, missing files, corrupt safetensors', async () => {
      const m = await model('stories260K');
      let dir = fixture('prompt');
      editConfig(dir, (c) => { c.peft_type = 'VERA'; });
      await expectAdapter(loadPeft(dir, m), /peft_type "VERA" is not supported/);
      dir = fixture('prompt');
      editConfig(dir, (c) => { c.task_type = 'SEQ_2_SEQ_LM'; });
      await expectAdapter(loadPeft(dir, m), /task_type "SEQ_2_SEQ_LM" is not supported/);
      dir = tmp();
      await expectAdapter(loadPeft(dir, m), /adapter_config.json: cannot read/);
      dir = fixture('prompt');
      writeFileSync(path.join(dir, 'adapter_model.safetensors'), new Uint8Array([1, 2, 3]));
      await expectAdapter(loadPeft(dir, m), /adapter_model.safetensors/);
      expect(() => decodePeft('{not json', new Uint8Array(), m)).toThrow(/not valid JSON/);
    });
    it('an adapter recorded for another architecture', async () => {
      const dir = tmp();
      const { prompt } = await refArtifacts('stories260K');
      await savePeft(dir, prompt);
      editConfig(dir, (c) => { (c.promptkiln as { model: { arch: string } }).model.arch = 'gpt2'; });
      await expectAdapter(loadPeft(dir, await model('stories260K')), /promptkiln.model.arch: the adapter was trained for "gpt2"/);
    });
  });

  it('saving creates missing folders, replaces an existing adapter whole and leaves no temp files', async () => {
    const { prompt, prefix } = await refArtifacts('stories260K');
    const dir = path.join(tmp(), 'a', 'b');
    await savePeft(dir, prompt);
    await savePeft(dir, prefix);
    expect(readdirSync(dir).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect((await loadPeft(dir, await model('stories260K'))).kind).toBe('prefix');
    // an artifact that cannot be encoded fails before anything touches the folder
    const before = readFileSync(path.join(dir, 'adapter_model.safetensors'));
    await expect(savePeft(dir, { ...prompt, rows: 5 })).rejects.toThrow(/prompt_embeddings/);
    expect(readFileSync(path.join(dir, 'adapter_model.safetensors')).equals(before)).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
  });
});
