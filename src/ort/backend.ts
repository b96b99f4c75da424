// OrtBackend: scoring through onnxruntime with the same score / scoreMany API as the WASM Model.
// The model is exported to ONNX once; each graph variant (plain, with prefix K/V inputs) gets one
// InferenceSession, created on first use and reused. Runs are serialized: onnxruntime-web does
// not allow two run() calls on one session at the same time.

import { PromptkilnError, throwIfAborted } from '../errors.js';
import { checkPrefix, checkSoft, conditionedIds, rowBatches, type PrefixKV, type SoftRows } from '../model/conditioning.js';
import { Lock } from '../model/lock.js';
import type { ScoreOptions, ScoreResult } from '../model/model.js';
import type { Checkpoint, ModelConfig, Tokenizer } from '../model/types.js';
import { exportOnnx, type ExportedModel } from './export.js';
import { importOrtWeb, probeWebGpu, type OrtModule, type RuntimeOptions } from './runtime.js';
import { splitPromptTarget, type Text } from '../model/text.js';

export type OrtEp = 'webgpu' | 'wasm' | 'native';

export interface OrtBackendOptions extends RuntimeOptions {
  // 'webgpu' or 'wasm' force that EP of onnxruntime-web; 'auto' (default) takes WebGPU when
  // navigator.gpu gives any adapter and falls back to the wasm EP if that session fails.
  ep?: 'webgpu' | 'wasm' | 'auto';
  // An already imported onnxruntime module (e.g. onnxruntime-node, EP 'cpu'); skips onnxruntime-web.
  runtime?: OrtModule;
  // A GPUAdapter probed by the caller (backend selection does this once).
  adapter?: unknown;
  // Upper bound of the (B, T, V) logits one run materializes inside the graph; batches are split
  // to stay under it. Default 256 MiB.
  maxLogitsBytes?: number;
  // Initializers this large go to ONNX external data instead of the protobuf (2 GiB cap);
  // default 1 MiB.
  externalThreshold?: number;
  // Extra InferenceSession options (e.g. intraOpNumThreads for onnxruntime-node).
  sessionOptions?: Record<string, unknown>;
  onWarning?: (message: string) => void;
}

// The bytes a software WASM heap can address, less room for activations: wasm32 is 4 GiB.
const WASM_WEIGHT_LIMIT = 3 * 2 ** 30;

export class OrtBackend {
  readonly config: ModelConfig;
  readonly tokenizer: Tokenizer | null;
  readonly id: string;
  readonly source: string;
  readonly ep: OrtEp;
  private readonly tok: Float32Array; // (V, C) token embeddings: the graph takes inputs_embeds
  private readonly sessions = new Map<'plain' | 'prefix', Promise<any>>(); // InferenceSession per graph variant
  private readonly lock = new Lock(); // onnxruntime-web allows one run() per session at a time
  private disposed = false;

  private constructor(
    private readonly ort: OrtModule,
    private readonly ckpt: Checkpoint,
    ep: OrtEp,
    private readonly opts: OrtBackendOptions,
  ) {
    this.config = ckpt.config;
    this.tokenizer = ckpt.tokenizer;
    this.id = ckpt.id;
    this.source = ckpt.source;
    this.ep = ep;
    const tok = ckpt.tensors.get('tok_embeddings');
    if (!tok || tok.length !== ckpt.config.vocabSize * ckpt.config.dim) {
      throw new PromptkilnError('CHECKPOINT', `${ckpt.source}: tok_embeddings missing or not (${ckpt.config.vocabSize}, ${ckpt.config.dim})`);
    }
    this.tok = tok;
  }

  // Exports the checkpoint and creates the plain session now, so failures surface here
  // (as BACKEND errors) rather than at the first score() call.
  static async create(ckpt: Checkpoint, opts: OrtBackendOptions = {}): Promise<OrtBackend> {
    let ep: OrtEp;
    let ort: OrtModule;
    if (opts.runtime) {
      ort = opts.runtime;
      ep = 'native';
    } else {
      let want = opts.ep ?? 'auto';
      let adapter = opts.adapter;
      if (want !== 'wasm' && !adapter) {
        const probe = await probeWebGpu();
        adapter = probe.adapter;
        if (!adapter && want === 'webgpu') throw new PromptkilnError('BACKEND', `the webgpu EP was asked for, but ${probe.reason}`);
      }
      if (want === 'auto') want = adapter ? 'webgpu' : 'wasm';
      ep = want;
      ort = await importOrtWeb(want, opts);
      if (want === 'webgpu') (ort.env as any).webgpu.adapter = adapter;
    }
    checkFits(ckpt, ep, opts.adapter ?? (ort.env as any).webgpu?.adapter);
    const b = new OrtBackend(ort, ckpt, ep, opts);
    try {
      await b.session(false);
      return b;
    } catch (e) {
      if (ep === 'webgpu' && (opts.ep ?? 'auto') === 'auto') {
        // WebGPU was only a preference: report once and use the wasm EP
        opts.onWarning?.(`onnxruntime webgpu EP failed (${(e as Error).message}); using its wasm EP`);
        return OrtBackend.create(ckpt, { ...opts, ep: 'wasm' });
      }
      throw e;
    }
  }

  private session(prefix: boolean): Promise<any> {
    const key = prefix ? 'prefix' : 'plain';
    let session = this.sessions.get(key);
    if (!session) {
      session = this.createSession(prefix);
      session.catch(() => this.sessions.delete(key)); // a later call may retry
      this.sessions.set(key, session);
    }
    return session;
  }

  private async createSession(prefix: boolean): Promise<any> {
    let exp: ExportedModel;
    try {
      exp = exportOnnx(this.config, this.ckpt.tensors, {
        prefix, externalThreshold: this.opts.externalThreshold ?? 2 ** 20, externalLocation: 'weights.data',
      });
    } catch (e) {
      if (e instanceof PromptkilnError) throw e;
      throw new PromptkilnError('BACKEND', `ONNX export of ${this.source} failed: ${(e as Error).message}`, undefined, { cause: e });
    }
    const options: Record<string, unknown> = {
      ...this.opts.sessionOptions,
      executionProviders: [this.ep === 'native' ? 'cpu' : this.ep],
      graphOptimizationLevel: 'all',
    };
    if (exp.external) options.externalData = [{ path: exp.external.location, data: exp.external.data }];
    try {
      return await this.ort.InferenceSession.create(exp.model, options as any);
    } catch (e) {
      throw new PromptkilnError('BACKEND', `onnxruntime (${this.ep} EP) could not create a session for ${this.source}: ${(e as Error).message}`, { ep: this.ep }, { cause: e });
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    (await this.lock.acquire())(); // wait for the runs in flight
    for (const session of this.sessions.values()) {
      try { await (await session).release(); } catch { /* a failed session holds nothing */ }
    }
    this.sessions.clear();
  }

  async score(prompt: Text, target: Text, opts: ScoreOptions = {}): Promise<ScoreResult> {
    return (await this.scoreMany(prompt, [target], opts))[0]!;
  }

  // Every target is scored as its own full sequence [soft rows, prompt, target] (right-padded in
  // a batch); the graph returns one log-prob per row and we keep the target rows.
  async scoreMany(prompt: Text, targets: Text[], opts: ScoreOptions = {}): Promise<ScoreResult[]> {
    if (this.disposed) throw new PromptkilnError('ARGUMENT', `OrtBackend for ${this.id} was disposed`);
    if (targets.length === 0) return [];
    const c = this.config;
    const cond = opts.conditioning ?? null;
    // the graph holds the base weights: an unmerged adapter cannot run in it (merge, then export)
    if (cond?.linear) {
      throw new PromptkilnError('ADAPTER', `the ort backend runs the exported base weights and cannot apply the unmerged adapter ${cond.linear.id}: export merged weights (mergeAdapter, or \`promptkiln merge\`) and load that folder, or use --backend wasm`, { adapter: cond.linear.id });
    }
    const soft = checkSoft(cond, c);
    const prefix = checkPrefix(cond, c, this.id);
    const posOffset = cond?.posOffset ?? 0;
    const S = soft?.rows ?? 0;

    const seqs = targets.map((t) => {
      const { full, cut } = splitPromptTarget(this.tokenizer, c.vocabSize, this.source, prompt, t);
      const body = conditionedIds(cond, full, c.bosId) as number[];
      const bodyCut = Math.max(0, cut - (full.length - body.length));
      // target token j of the body is predicted by row S + j - 1; with no row before it, it is context
      const first = Math.max(bodyCut, S === 0 ? 1 : 0);
      const L = S + body.length;
      if (posOffset + L > c.maxSeqLen) {
        throw new PromptkilnError('CONTEXT', `a sequence of ${posOffset + L} positions exceeds the model's context of ${c.maxSeqLen}`);
      }
      return { body, first, L };
    });

    return this.lock.run(async () => {
      const session = await this.session(prefix !== null);
      const results: ScoreResult[] = seqs.map((s) => ({ total: 0, tokens: s.body.slice(s.first), logprobs: [] }));
      // B·T rows per run within the logits budget
      const maxRows = Math.max(1, Math.floor((this.opts.maxLogitsBytes ?? 2 ** 28) / (c.vocabSize * 4)));
      for (const { items: chunk, T } of rowBatches(seqs.map((s) => s.L), maxRows)) {
        throwIfAborted(opts.signal, 'scoring');
        const lp = await this.runChunk(session, chunk.map((k) => seqs[k]!), T, soft, prefix, posOffset);
        chunk.forEach((k, b) => {
          const s = seqs[k]!, r = results[k]!;
          for (let j = s.first; j < s.body.length; j++) r.logprobs.push(lp[b * T + S + j - 1]!);
          r.total = r.logprobs.reduce((a, x) => a + x, 0);
        });
      }
      return results;
    });
  }

  private async runChunk(
    session: any, seqs: { body: number[]; L: number }[], T: number,
    soft: SoftRows | null, prefix: PrefixKV | null, posOffset: number,
  ): Promise<Float32Array> {
    const { dim: C, nLayers, nKvHeads: Hkv, headDim: hd } = this.config;
    const B = seqs.length, S = soft?.rows ?? 0, P = prefix?.P ?? 0;
    const x = new Float32Array(B * T * C); // (B, T, C)
    const mask = new BigInt64Array(B * (P + T)); // (B, P + T)
    const pos = new BigInt64Array(B * T); // (B, T)
    const tgt = new BigInt64Array(B * T); // (B, T)
    seqs.forEach((s, b) => {
      if (soft) x.set(soft.data.subarray(0, S * C), b * T * C);
      s.body.forEach((id, j) => x.set(this.tok.subarray(id * C, (id + 1) * C), (b * T + S + j) * C));
      // Gemma's embedding module scales token rows (never soft rows), as the WASM model does
      const es = this.config.embedScale;
      if (es !== undefined && es !== 1) {
        for (let i = (b * T + S) * C; i < (b * T + S + s.body.length) * C; i++) x[i] = Math.fround(x[i] * es);
      }
      for (let p = 0; p < P; p++) mask[b * (P + T) + p] = 1n;
      for (let t = 0; t < s.L; t++) {
        mask[b * (P + T) + P + t] = 1n;
        pos[b * T + t] = BigInt(posOffset + t);
        const next = t + 1 - S; // body index of the token row t predicts
        if (next >= 0 && next < s.body.length) tgt[b * T + t] = BigInt(s.body[next]!);
      }
    });
    const ort = this.ort;
    const feeds: Record<string, unknown> = {
      inputs_embeds: new ort.Tensor('float32', x, [B, T, C]),
      attention_mask: new ort.Tensor('int64', mask, [B, P + T]),
      position_ids: new ort.Tensor('int64', pos, [B, T]),
      target_ids: new ort.Tensor('int64', tgt, [B, T]),
    };
    if (prefix) {
      // conditioning holds (P, Hkv, hd) per layer; the graph wants (B, Hkv, P, hd)
      for (let l = 0; l < nLayers; l++) {
        feeds[`past_key_${l}`] = new ort.Tensor('float32', tileHeadsFirst(prefix.k[l]!, B, P, Hkv, hd), [B, Hkv, P, hd]);
        feeds[`past_value_${l}`] = new ort.Tensor('float32', tileHeadsFirst(prefix.v[l]!, B, P, Hkv, hd), [B, Hkv, P, hd]);
      }
    }
    let out: any;
    try {
      out = await session.run(feeds);
    } catch (e) {
      throw new PromptkilnError('BACKEND', `onnxruntime (${this.ep} EP) run failed on a (${B}, ${T}) batch: ${(e as Error).message}`, { ep: this.ep }, { cause: e });
    }
    const lp = out.target_logprobs;
    const data = (lp.getData ? await lp.getData() : lp.data) as Float32Array; // (B, T)
    lp.dispose?.();
    return data;
  }
}

// (P, Hkv, hd) → (B, Hkv, P, hd)
function tileHeadsFirst(src: Float32Array, B: number, P: number, Hkv: number, hd: number): Float32Array {
  const one = new Float32Array(Hkv * P * hd);
  for (let p = 0; p < P; p++) for (let h = 0; h < Hkv; h++) one.set(src.subarray((p * Hkv + h) * hd, (p * Hkv + h + 1) * hd), (h * P + p) * hd);
  const out = new Float32Array(B * one.length);
  for (let b = 0; b < B; b++) out.set(one, b * one.length);
  return out;
}

// "Model too large for the device": every initializer must fit one WebGPU storage buffer, and all
// of them the wasm32 heap for the wasm EP. Checked before export so the failure is immediate.
function checkFits(ckpt: Checkpoint, ep: OrtEp, adapter: any): void {
  let total = 0, largest = 0, largestName = '';
  for (const [name, t] of ckpt.tensors) {
    total += t.byteLength;
    if (t.byteLength > largest) { largest = t.byteLength; largestName = name; }
  }
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (ep === 'webgpu' && adapter?.limits) {
    const lim = Math.min(Number(adapter.limits.maxStorageBufferBindingSize), Number(adapter.limits.maxBufferSize));
    if (largest > lim) {
      throw new PromptkilnError('BACKEND', `model too large for this WebGPU device: tensor ${largestName} is ${mib(largest)}, the adapter's largest buffer is ${mib(lim)}`, { ep });
    }
  }
  if (ep === 'wasm' && total > WASM_WEIGHT_LIMIT) {
    throw new PromptkilnError('BACKEND', `model too large for the onnxruntime wasm EP: ${mib(total)} of weights, the wasm32 heap holds at most ${mib(WASM_WEIGHT_LIMIT)} of them`, { ep });
  }
}
