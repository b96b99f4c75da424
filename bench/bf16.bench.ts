// bf16 weights: generation tokens/s at batch 1 with f32 vs bf16 weights on a Qwen2.5-0.5B-shaped
// model (Llama code path, seeded random bf16 file), and the Llama-3.2-1B shape from its 2.47 GB
// file: load time and the process's peak RSS while loading (no full-size JS copy), one
// prompt-tuning step at 4 × 128 (seconds, heap peak beside wasm32's 4 GiB).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { init } from '../src/kernels/index.js';
import { loadModel, type Model } from '../src/model/index.js';
import { batchTargets } from '../src/soft/method.js';
import { layoutExample } from '../src/soft/mixed.js';
import { PromptTuning } from '../src/soft/prompt-tuning.js';
import { LLAMA_1B, writeLlamaFolder, type LlamaShape } from '../tests/model/loaders/bf16-writer.js';

const QWEN05: LlamaShape = { vocab: 151936, dim: 896, layers: 24, hidden: 4864, heads: 14, kvHeads: 2, tied: true };
const GiB = 2 ** 30;
const rss = () => process.resourceUsage().maxRSS * 1024; // peak so far, bytes

export default {
  name: 'bf16',
  async run(ctx: any) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pk-bench-bf16-'));
    try {
      // the 1B first, so the process's peak RSS is this load's
      const d1 = path.join(dir, '1b');
      await (await import('node:fs/promises')).mkdir(d1);
      const bytes = await writeLlamaFolder(d1, LLAMA_1B, 3);
      // the peer: reading the same bytes with no conversion or copy (one reused 16 MiB buffer)
      const file = path.join(d1, 'model.safetensors');
      const fh = await (await import('node:fs/promises')).open(file, 'r');
      const buf = new Uint8Array(16 * 2 ** 20);
      let t = performance.now();
      for (let pos = 0; pos < bytes; pos += buf.byteLength) await fh.read(buf, 0, Math.min(buf.byteLength, bytes - pos), pos);
      const readS = (performance.now() - t) / 1000;
      await fh.close();
      const rss0 = rss();
      t = performance.now();
      const m = await loadModel(d1, { kernels: await init({ build: 'simd' }), onWarning: ctx.log });
      const loadS = (performance.now() - t) / 1000;
      const peakRss = rss();
      ctx.row({ name: `Llama-3.2-1B shape: load ${(bytes / 1e9).toFixed(2)} GB bf16 safetensors (auto → bf16)`, build: 'simd', threads: 1, unit: 's',
        value: +loadS.toFixed(2), peer: 'reading the file alone (16 MiB reads)', peer_value: +readS.toFixed(2), ratio: +(readS / loadS).toFixed(2),
        peak_rss_bytes: peakRss, rss_before_bytes: rss0, file_bytes: bytes, heap_weights_bytes: m.memoryBytes().weights });
      ctx.note(`1B load: peak process RSS ${(peakRss / GiB).toFixed(2)} GiB (before loading ${(rss0 / GiB).toFixed(2)} GiB) for a ${(bytes / GiB).toFixed(2)} GiB file: the heap's copy plus ≤ 16 MiB of staging and the read chunks; a full-size JS copy would add ${(bytes / GiB).toFixed(2)} GiB (as f32, twice that). ratio = read alone / load.`);

      // one prompt-tuning step at 4 × 128: 8 soft rows + 100 input + 20 target rows each
      const ids = (s: number) => Array.from({ length: 120 }, (_, i) => ((i + 1) * 2654435761 + s * 40503) % LLAMA_1B.vocab);
      const tpl = [{ soft: 8 }, { input: true as const }];
      const pt = new PromptTuning(m, tpl, { type: 'random' }, 1);
      const batch = [0, 1, 2, 3].map((s) => layoutExample(m, tpl, { input: ids(s).slice(0, 100), target: ids(s).slice(100) }));
      const step = () => {
        for (const p of pt.params) p.grad.f32().fill(0);
        const st = pt.forward(batch, true);
        const { rows, targets } = batchTargets(batch);
        const { sum } = st.nll(rows, targets, 1 / rows.length, true);
        pt.backward(st, batch);
        return sum;
      };
      // one timed step, the first: it includes laying out the workspace (milliseconds beside the GEMMs)
      t = performance.now();
      const loss = step();
      const stepS = (performance.now() - t) / 1000;
      const rows = batch.reduce((a, e) => a + e.length, 0), targetRows = batchTargets(batch).rows.length;
      ctx.row({ name: `Llama-3.2-1B shape: prompt-tuning step 4×${batch[0].length} (fwd + bwd to the soft rows)`, build: 'simd', threads: 1, unit: 's/step',
        value: +stepS.toFixed(2), peer: 'heap peak / 4 GiB', peer_value: +(m.kernels.heap.peak / (4 * GiB)).toFixed(3), ratio: null,
        heap_peak_bytes: m.kernels.heap.peak, rows, target_rows: targetRows, mean_nll: +(loss / targetRows).toFixed(4) });
      pt.free();
      m.dispose();

      // generation at batch 1: the matrix-vector products read every weight once per token
      const d2 = path.join(dir, 'qwen05');
      await (await import('node:fs/promises')).mkdir(d2);
      await writeLlamaFolder(d2, QWEN05, 5);
      const k = await init({ build: 'simd', maxMemoryBytes: 4 * GiB - 65536 });
      const tps: Record<string, number> = {};
      for (const mode of ['f32', 'bf16'] as const) {
        const mm: Model = await loadModel(d2, { kernels: k, weights: mode });
        const prompt = Array.from({ length: 16 }, (_, i) => (i * 7919 + 3) % QWEN05.vocab);
        await mm.generate(prompt, { maxTokens: 4, stopAtEos: false }); // warm
        t = performance.now();
        const g = await mm.generate(prompt, { maxTokens: 32, stopAtEos: false });
        tps[mode] = g.tokens.length / ((performance.now() - t) / 1000);
        mm.dispose();
      }
      ctx.row({ name: 'Qwen2.5-0.5B shape: generation at batch 1, bf16 weights', build: 'simd', threads: 1, unit: 'tokens/s',
        value: +tps.bf16.toFixed(2), peer: 'the same, f32 weights', peer_value: +tps.f32.toFixed(2), target: 'bf16 > f32 (half the bytes per token)' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};
