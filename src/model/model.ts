// Model: a loaded checkpoint on the WASM kernels — score, scoreMany (shared prompt K/V), generate
// (KV cache), forward, and the low-level run() that tuning and compression build on.
import { PromptkilnError, throwIfAborted } from '../errors.js';
import { init, type Kernels, type Tensor } from '../kernels/index.js';
import { renderChat, type ChatMessage, type ChatTemplateOptions } from './chat-template.js';
import { checkPrefix, checkSoft, conditionedIds, rowBatches, type Conditioning } from './conditioning.js';
import { stopIds } from './generation-config.js';
import { Lock } from './lock.js';
import { rng, sample, type SampleOptions } from './sampling.js';
import { checkIds, requireTokenizer, splitPromptTarget, type Text } from './text.js';
import { Transformer, type KVCache, type Prefix, type RopeSet, type RopeTable } from './transformer.js';
import type { LinearAdapter } from './adapter-hook.js';
import type { Checkpoint, ModelConfig, RopeParams, Tokenizer } from './types.js';
import { ropeOf, ropeTables } from './rope.js';
import { planWeights, type WeightsMode } from './memory-plan.js';
import { refsOf } from './weight-ref.js';
import { tableRows, uploadWeights, type Weights } from './weights.js';

export type { Conditioning } from './conditioning.js';
export type { Text } from './text.js';

export interface ScoreOptions {
  conditioning?: Conditioning | null;
  signal?: AbortSignal;
}

export interface ScoreResult {
  total: number; // Σ ln p(target_j | prompt, target_<j)
  tokens: number[]; // target ids scored
  logprobs: number[]; // per target token
}

export interface GenerateOptions extends SampleOptions {
  maxTokens?: number; // default 64
  seed?: number;
  stop?: string[]; // stop sequences (not included in the text)
  stopAtEos?: boolean; // default true
  signal?: AbortSignal;
  conditioning?: Conditioning | null;
}

export interface GenerateResult {
  text: string | null; // null when the checkpoint has no tokenizer
  tokens: number[];
  finishReason: 'stop' | 'length' | 'eos';
}

// A row of the input: a token id, or a soft vector (C).
export type Segment = { ids: readonly number[] } | { embeds: Float32Array | Tensor; rows: number };

export interface ForwardBatch {
  sequences: (readonly number[] | Segment[])[]; // B sequences, right-padded to the longest
  posOffset?: number;
  prefix?: Prefix | null;
  mask?: boolean; // pass a padding mask (not needed for right padding)
  hidden?: boolean; // also return the last hidden states
  logits?: boolean; // default true
}

export interface ForwardResult {
  B: number;
  T: number;
  lengths: number[];
  logits: Float32Array | null; // (B, T, V)
  hidden: Float32Array | null; // (B, T, C) after the final norm
}

export interface LoadOptions {
  kernels?: Kernels;
  maxMemoryBytes?: number;
  // how the heap stores the weights: 'f32', 'bf16' (matrices and the token table in 16 bits,
  // memory-plan.ts), or 'auto' (default): f32 unless f32 weights and room for activations exceed
  // the heap, then bf16 with a note through onWarning. A model too large in the mode (or, for
  // 'auto', in every mode) is an OOM error naming the bytes, before anything is allocated.
  weights?: WeightsMode | 'auto';
  onWarning?: (message: string) => void;
  signal?: AbortSignal;
}

const MAX_BATCH_ROWS = 2048;

export class Model {
  readonly config: ModelConfig;
  readonly tokenizer: Tokenizer | null;
  readonly id: string;
  readonly source: string;
  readonly chatTemplate: string | null;
  readonly stack: Transformer;
  private weights: Weights | null;
  private ropeT: RopeSet | null;
  // the one workspace serves one call at a time: every public entry point holds this lock
  protected readonly lock = new Lock();

  private constructor(readonly kernels: Kernels, ckpt: Checkpoint, weights: Weights, rope: RopeSet | null) {
    this.config = ckpt.config;
    this.tokenizer = ckpt.tokenizer;
    this.id = ckpt.id;
    this.source = ckpt.source;
    this.chatTemplate = ckpt.chatTemplate ?? null;
    this.weights = weights;
    this.ropeT = rope;
    this.stack = new Transformer(kernels, ckpt.config, weights, rope);
  }

  static async fromCheckpoint(ckpt: Checkpoint, opts: LoadOptions = {}): Promise<Model> {
    try {
      const kernels = opts.kernels ?? (await init(opts.maxMemoryBytes ? { maxMemoryBytes: opts.maxMemoryBytes } : {}));
      const heap = kernels.heap;
      const plan = planWeights(ckpt.config, heap.maxBytes - heap.usedBytes, opts.weights ?? 'auto', ckpt.source);
      if (plan.note) (opts.onWarning ?? console.warn)(plan.note);
      const refs = ckpt.lazy?.refs ?? refsOf(ckpt.tensors, ckpt.source);
      const weights = await uploadWeights(kernels, ckpt.config, refs, ckpt.source, plan.mode, opts.signal);
      const m = new Model(kernels, ckpt, weights, uploadRope(kernels, ckpt.config));
      m.weightsMode = plan.mode;
      return m;
    } finally {
      await ckpt.lazy?.close();
    }
  }

  // how the heap stores the weights (LoadOptions.weights)
  weightsMode: WeightsMode = 'f32';

  private get w(): Weights {
    if (!this.weights) throw new PromptkilnError('ARGUMENT', `model ${this.id} was disposed`);
    return this.weights;
  }

  dispose(): void {
    if (!this.weights) return;
    this.stack.acts.release();
    for (const t of this.weights.all) t.free();
    for (const t of [this.ropeT?.full, this.ropeT?.local]) if (t) { t.cos.free(); t.sin.free(); }
    this.weights = null;
    this.ropeT = null;
  }

  // Bytes of WASM memory held by weights and workspaces.
  memoryBytes(): { weights: number; workspace: number; heapPeak: number } {
    const weights = (this.weights?.all ?? []).reduce((a, t) => a + t.n * (t.dtype === 'f32' ? 4 : 2), 0);
    return { weights, workspace: this.stack.acts.bytes(), heapPeak: this.kernels.heap.peak };
  }

  // The checkpoint's chat template rendered as transformers' apply_chat_template(..., tokenize=False)
  // (see chat-template.ts); encode the result with { bos: false }: templates write their own BOS.
  applyChatTemplate(messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): string {
    return renderChat(this.chatTemplate, messages, opts, this.tokenizer?.specialTokens);
  }

  requireTokenizer(what: string): Tokenizer {
    return requireTokenizer(this.tokenizer, what, this.source);
  }

  checkIds(ids: readonly number[], what: string): void {
    checkIds(ids, this.config.vocabSize, what);
  }

  // Token embedding rows (n, C) of ids as the embedding module gives them: soft-prompt init from
  // text or vocabulary samples, and compression's chunk-mean init.
  embeddingRows(ids: readonly number[]): Float32Array {
    this.checkIds(ids, 'embedding rows');
    const out = tableRows(this.w.tokEmbeddings, ids, this.config.dim);
    // what the embedding module returns: Gemma's scales its rows (f32 product, as transformers)
    const s = this.config.embedScale;
    if (s !== undefined && s !== 1) for (let i = 0; i < out.length; i++) out[i] = Math.fround(out[i] * s);
    return out;
  }

  // Prompt ids with the checkpoint's BOS rule.
  encodePrompt(prompt: Text): number[] {
    if (typeof prompt !== 'string') {
      this.checkIds(prompt, 'prompt');
      return [...prompt];
    }
    return this.requireTokenizer('a text prompt').encode(prompt);
  }

  // Encodes prompt + target once and splits where the prompt's own encoding ends (see text.ts).
  splitPromptTarget(prompt: Text, target: Text): { full: number[]; cut: number } {
    return splitPromptTarget(this.tokenizer, this.config.vocabSize, this.source, prompt, target);
  }

  // Writes a batch of sequences into the transformer's input rows and returns their layout.
  private fill(x: Tensor, sequences: Segment[][], T: number): void {
    const { config: c, kernels: k } = this;
    const C = c.dim;
    k.zero(x);
    const ids = new Int32Array(sequences.length * T).fill(-1);
    const softs: { row: number; src: Float32Array | Tensor; off: number }[] = [];
    sequences.forEach((segs, b) => {
      let t = 0;
      for (const s of segs) {
        if ('ids' in s) {
          for (const id of s.ids) ids[b * T + t++] = id;
        } else {
          for (let r = 0; r < s.rows; r++) softs.push({ row: b * T + t++, src: s.embeds, off: r * C });
        }
      }
    });
    this.stack.embedTokens(ids);
    for (const s of softs) {
      const dst = x.at(s.row * C, C);
      if (s.src instanceof Float32Array) {
        if (s.off + C > s.src.length) throw new PromptkilnError('SHAPE', `soft rows: ${s.src.length} values, need ${s.off + C}`);
        dst.set(s.src.subarray(s.off, s.off + C));
      } else k.copy(dst, s.src.at(s.off, C));
    }
  }

  static segLength(segs: Segment[]): number {
    return segs.reduce((a, s) => a + ('ids' in s ? s.ids.length : s.rows), 0);
  }

  // Low-level entry used by forward(), tuning and compression: lays out the batch and runs the stack.
  // Returns the transformer, positioned for head/loss/backward calls.
  run(sequences: Segment[][], o: { posOffset?: number; prefix?: Prefix | null; train?: boolean; mask?: boolean; cache?: KVCache | null; adapter?: LinearAdapter | null }): Transformer {
    this.w; // throws if disposed
    const B = sequences.length;
    const lengths = sequences.map((s) => Model.segLength(s));
    for (const s of sequences) for (const seg of s) if ('ids' in seg) this.checkIds(seg.ids, 'input');
    const T = Math.max(...lengths);
    const off = (o.posOffset ?? 0) + (o.cache?.len ?? 0);
    if (off + T > this.config.maxSeqLen) {
      throw new PromptkilnError('CONTEXT', `a sequence of ${off + T} positions exceeds the model's context of ${this.config.maxSeqLen}`);
    }
    const pos = new Int32Array(B * T);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) pos[b * T + t] = off + t;
    let mask: Float32Array | null = null;
    if (o.mask) {
      mask = new Float32Array(B * T);
      for (let b = 0; b < B; b++) for (let t = 0; t < lengths[b]; t++) mask[b * T + t] = 1;
    }
    const x = this.stack.begin({ B, T, pos, mask, prefix: o.prefix ?? null, cache: o.cache ?? null, train: o.train ?? false, adapter: o.adapter ?? null });
    this.fill(x, sequences, T);
    this.stack.addPositions();
    this.stack.forward();
    return this.stack;
  }

  // Full forward over a batch: logits (B, T, V) and optionally the hidden states (B, T, C).
  async forward(batch: ForwardBatch): Promise<ForwardResult> {
    return this.lock.run(() => {
      const seqs = batch.sequences.map((s) => (s.length && typeof s[0] === 'number' ? [{ ids: s as readonly number[] }] : (s as Segment[])));
      if (seqs.length === 0) throw new PromptkilnError('SHAPE', 'forward: the batch has no sequences');
      const lengths = seqs.map((s) => Model.segLength(s));
      const st = this.run(seqs, { posOffset: batch.posOffset, prefix: batch.prefix, mask: batch.mask });
      const B = seqs.length, T = Math.max(...lengths), C = this.config.dim, V = this.config.vocabSize;
      let logits: Float32Array | null = null;
      if (batch.logits !== false) {
        logits = new Float32Array(B * T * V);
        const rows = Array.from({ length: B * T }, (_, i) => i);
        st.eachHeadChunk(rows, (lg, s, n) => {
          logits!.set(lg.f32().subarray(0, n * V), s * V);
          return false;
        });
      }
      const hidden = batch.hidden ? st.hidden().f32().slice() : null;
      return { B, T, lengths, logits, hidden };
    });
  }

  // Uploads a conditioning's prefix into WASM (scoped: the caller frees it or resets the heap).
  private prefixTensors(cond: Conditioning | null | undefined): Prefix | null {
    const p = checkPrefix(cond, this.config, this.id);
    if (!p) return null;
    return { P: p.P, k: p.k.map((t) => this.kernels.from(t, 'prefix k')), v: p.v.map((t) => this.kernels.from(t, 'prefix v')) };
  }

  private condSegments(cond: Conditioning | null | undefined, ids: readonly number[]): Segment[] {
    const segs: Segment[] = [];
    const soft = checkSoft(cond, this.config);
    if (soft) segs.push({ embeds: soft.data, rows: soft.rows });
    const body = conditionedIds(cond, ids, this.config.bosId);
    if (body.length) segs.push({ ids: body });
    return segs;
  }

  async score(prompt: Text, target: Text, opts: ScoreOptions = {}): Promise<ScoreResult> {
    return (await this.scoreMany(prompt, [target], opts))[0];
  }

  // Scores many targets under one prompt: the prompt's K/V are computed once and every target
  // batch attends to them as a shared prefix.
  async scoreMany(prompt: Text, targets: Text[], opts: ScoreOptions = {}): Promise<ScoreResult[]> {
    return this.lock.run(() => this.scoreManySync(prompt, targets, opts));
  }

  // scoreMany without the lock (the caller holds it).
  scoreManySync(prompt: Text, targets: Text[], opts: ScoreOptions = {}): ScoreResult[] {
    if (targets.length === 0) return [];
    const splits = targets.map((t) => this.splitPromptTarget(prompt, t));
    const shared = sharedPromptLength(splits);
    const cond = opts.conditioning ?? null;
    const posOffset = cond?.posOffset ?? 0;
    const mark = this.kernels.heap.mark(); // releases every scoped tensor below (prefixes)
    try {
      const adapter = cond?.linear ?? null;
      const pass = this.promptPass(this.condSegments(cond, splits[0].full.slice(0, shared)), this.prefixTensors(cond), posOffset, adapter);
      const results: ScoreResult[] = splits.map((s) => ({ total: 0, tokens: s.full.slice(s.cut), logprobs: [] }));
      this.targetPasses(splits, shared, pass.prefix, posOffset + pass.rows, results, opts.signal, adapter);
      splits.forEach((s, i) => {
        const r = results[i];
        // a target starting right after the shared prompt: the prompt's last row predicts its first token
        if (s.cut === shared && s.full.length > shared) {
          if (pass.lastLogp) r.logprobs.unshift(pass.lastLogp[s.full[shared]]);
          else r.tokens.shift(); // nothing precedes the first token: it is context, not scored
        }
        r.total = r.logprobs.reduce((a, b) => a + b, 0);
      });
      return results;
    } finally {
      this.kernels.heap.reset(mark);
    }
  }

  // Runs the shared prompt once. Its K/V, after the conditioning prefix, become the targets' prefix
  // (P0 + Tp, Hkv, hd) per layer; its last row's log-probs (V) predict each target's first token.
  private promptPass(segs: Segment[], condPrefix: Prefix | null, posOffset: number, adapter: LinearAdapter | null): { prefix: Prefix | null; rows: number; lastLogp: Float32Array | null } {
    const Tp = Model.segLength(segs);
    if (Tp === 0) return { prefix: condPrefix, rows: 0, lastLogp: null };
    const c = this.config, k = this.kernels;
    const V = c.vocabSize, kvd = c.nKvHeads * c.headDim, P0 = condPrefix?.P ?? 0;
    const cache = this.stack.newCache(Tp);
    try {
      const st = this.run([segs], { posOffset, prefix: condPrefix, cache, adapter });
      const lp = k.alloc(V, 'prompt logp'); // (V)
      st.eachHeadChunk([Tp - 1], (lg) => {
        k.logSoftmax(lp, lg, 1, V);
        return false;
      });
      const prefix: Prefix = { P: P0 + Tp, k: [], v: [] };
      for (let l = 0; l < c.nLayers; l++) {
        for (const [dst, cond, cached] of [[prefix.k, condPrefix?.k[l], cache.k[l]], [prefix.v, condPrefix?.v[l], cache.v[l]]] as const) {
          const t = k.alloc((P0 + Tp) * kvd, 'prompt prefix'); // (P0 + Tp, Hkv, hd)
          if (cond) k.copy(t, cond, P0 * kvd);
          k.copy(t.at(P0 * kvd, Tp * kvd), cached.at(0, Tp * kvd));
          dst.push(t);
        }
      }
      return { prefix, rows: Tp, lastLogp: lp.f32().slice() };
    } finally {
      this.stack.freeCache(cache);
    }
  }

  // Target rows after the shared prompt, in batches of at most MAX_BATCH_ROWS rows: each row's
  // log-prob of the next target token is appended to its target's result, in order.
  private targetPasses(splits: { full: number[]; cut: number }[], shared: number, prefix: Prefix | null, posOffset: number,
    results: ScoreResult[], signal?: AbortSignal, adapter: LinearAdapter | null = null): void {
    const lengths = splits.map((s) => s.full.length - shared);
    for (const { items, T } of rowBatches(lengths, MAX_BATCH_ROWS)) {
      throwIfAborted(signal, 'scoring');
      const rows: number[] = [], tg: number[] = [], owner: number[] = [];
      items.forEach((idx, b) => {
        const s = splits[idx];
        for (let j = Math.max(1, s.cut - shared); j < s.full.length - shared; j++) {
          rows.push(b * T + j - 1); // row b·T + j − 1 predicts target token j
          tg.push(s.full[shared + j]);
          owner.push(idx);
        }
      });
      if (rows.length === 0) continue;
      // a sequence with no rows still needs one row for the batch layout
      const seqs: Segment[][] = items.map((idx) => [{ ids: splits[idx].full.length > shared ? splits[idx].full.slice(shared) : [0] }]);
      const { logprobs } = this.run(seqs, { posOffset, prefix, adapter }).nll(rows, tg, 1, false);
      owner.forEach((o, r) => results[o].logprobs.push(logprobs[r]));
    }
  }

  // Token-by-token generation with a KV cache; yields each new token and its text. The model is
  // held for the whole generation; other calls wait.
  async *stream(prompt: Text, opts: GenerateOptions = {}): AsyncGenerator<{ token: number; text: string }, GenerateResult> {
    const c = this.config;
    const ids = this.encodePrompt(prompt);
    const cond = opts.conditioning ?? null;
    const segs = this.condSegments(cond, ids);
    const Tp = Model.segLength(segs);
    if (Tp === 0) throw new PromptkilnError('ARGUMENT', 'generate: the prompt is empty (and the checkpoint adds no BOS)');
    const maxTokens = opts.maxTokens ?? 64;
    if (!(Number.isInteger(maxTokens) && maxTokens >= 0)) throw new PromptkilnError('ARGUMENT', `maxTokens must be a non-negative integer, got ${maxTokens}`);
    const posOffset = cond?.posOffset ?? 0;
    const cap = Math.min(c.maxSeqLen - posOffset, Tp + maxTokens);
    if (Tp > cap) throw new PromptkilnError('CONTEXT', `the prompt has ${Tp} rows, the model's context is ${c.maxSeqLen}`);
    const rand = rng(opts.seed ?? 0);
    const tok = this.tokenizer;
    const out: number[] = [];
    let text = '';
    let prev: number | null = ids.length ? ids[ids.length - 1] : null;
    let finish: GenerateResult['finishReason'] = 'length';
    const stopAtEos = opts.stopAtEos ?? true;
    const release = await this.lock.acquire();
    let prefix: Prefix | null = null;
    let cache: KVCache | null = null;
    const logits = new Float32Array(c.vocabSize); // (V) of the last row
    try {
      // inside the try: a refused prefix (or OOM) must still release the model
      prefix = this.prefixTensors(cond);
      cache = this.stack.newCache(Math.max(cap, 1));
      let step: Segment[] = segs;
      let lastYield = Date.now();
      for (let n = 0; n < maxTokens; n++) {
        throwIfAborted(opts.signal, 'generation');
        if (cache.len + Model.segLength(step) > cache.cap) break;
        const st = this.run([step], { posOffset, prefix, cache, adapter: cond?.linear ?? null });
        const last = Model.segLength(step) - 1;
        st.eachHeadChunk([last], (lg) => {
          logits.set(lg.f32().subarray(0, c.vocabSize));
          return false;
        });
        const id = sample(logits, opts, rand);
        // llama2.c checkpoints (no HF family) separate stories with BOS: it ends a generation there
        if (stopAtEos && (stopIds(c).includes(id) || (c.bosId !== null && id === c.bosId && c.arch === 'llama' && c.family === undefined))) {
          finish = 'eos';
          break;
        }
        out.push(id);
        const piece = tok ? tok.decodeToken(id, prev) : '';
        prev = id;
        if (tok && opts.stop?.length) {
          const t2 = text + piece;
          const hit = opts.stop.map((s) => (s ? t2.indexOf(s, Math.max(0, text.length - s.length)) : -1)).filter((x) => x >= 0);
          if (hit.length) {
            text = t2.slice(0, Math.min(...hit));
            finish = 'stop';
            break;
          }
          text = t2;
        } else text += piece;
        yield { token: id, text: piece };
        step = [{ ids: [id] }];
        if (Date.now() - lastYield > 8) {
          // let timers and abort events run between tokens
          await new Promise((r) => setTimeout(r, 0));
          lastYield = Date.now();
        }
      }
    } finally {
      if (cache) this.stack.freeCache(cache);
      if (prefix) { prefix.k.forEach((t) => t.free()); prefix.v.forEach((t) => t.free()); }
      release();
    }
    return { text: tok ? text : null, tokens: out, finishReason: finish };
  }

  async generate(prompt: Text, opts: GenerateOptions = {}): Promise<GenerateResult> {
    const it = this.stream(prompt, opts);
    for (;;) {
      const r = await it.next();
      if (r.done) return r.value;
    }
  }
}

// The longest prompt prefix every split keeps on its prompt side of the cut.
function sharedPromptLength(splits: { full: number[]; cut: number }[]): number {
  let shared = Math.min(...splits.map((s) => s.cut));
  const p0 = splits[0].full;
  for (const s of splits) for (let j = 0; j < shared; j++) if (s.full[j] !== p0[j]) shared = j;
  return shared;
}

// RoPE tables of the full-attention layers, and of the sliding ones when their RoPE differs.
function uploadRope(k: Kernels, c: ModelConfig): RopeSet | null {
  if (c.arch !== 'llama') return null;
  const table = (p: RopeParams): RopeTable => {
    const t = ropeTables(p, c.maxSeqLen); // (maxSeqLen, rotaryDim/2)
    return { cos: k.alloc(t.cos.length, 'rope cos', false).set(t.cos), sin: k.alloc(t.sin.length, 'rope sin', false).set(t.sin), rd: p.rotaryDim };
  };
  return { full: table(ropeOf(c)), local: c.ropeLocal ? table(ropeOf(c, true)) : null };
}
