// llama2.c `tokenizer.bin`: a SentencePiece BPE vocabulary with scores, and llama2.c's encoder.
//
// File: int32 max_token_length, then per token: f32 score, int32 byte length, the bytes (no
// terminator). The token count is not stored: it is the model's vocab size (or, when unknown,
// everything up to the end of the file).
//
// Encoding (llama2.c `encode()`, exactly): BOS; if the text is non-empty the dummy-prefix piece
// " "; each UTF-8 code point whose bytes are a piece becomes that id, else each byte b becomes id
// b + 3 (byte fallback); then repeatedly merge the adjacent pair whose concatenation is a piece
// with the highest score (leftmost on ties) until none merges; optional EOS.
// We run the merge loop with a heap (O(n log n) instead of llama2.c's O(n²) rescans); popping the
// highest score and, among equal scores, the leftmost pair picks the same pair at every step.
// One deliberate difference: the control pieces (<unk>, BOS, EOS) and the "<0xHH>" byte pieces
// are never produced by merging text, as in SentencePiece (llama2.c would match the literal text
// "<0x41>" if merges could build it; tok512's cannot).
//
// Pieces are handled as bytes (held in "binary strings", one char per byte), so pieces that are
// not valid UTF-8 on their own work like in C.

import { PromptkilnError } from '../errors.js';
import type { Tokenizer } from './types.js';

const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;
// llama2.c starts its best-score search at -1e10: pairs scoring at or below it never merge
const MIN_SCORE = -1e10;

function bad(file: string, msg: string): PromptkilnError {
  return new PromptkilnError('TOKENIZER', `${file}: ${msg}`, { file });
}

function toBinary(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

// Incremental UTF-8 text for a stream of token ids: bytes of a character split across byte
// tokens (e.g. <0xE2><0x98><0x83> = ☃) are held back until the character is complete, so the
// concatenated outputs equal decode(ids).
export interface TokenStreamDecoder {
  push(id: number): string;
  flush(): string; // whatever incomplete bytes remain, as U+FFFD
}

export class Llama2cTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId = 1;
  readonly eosId = 2;
  readonly maxTokenLength: number;
  private readonly rawPieces: Uint8Array[]; // as stored in the file
  private readonly pieces: Uint8Array[]; // decoded bytes of each id ("<0xHH>" → the byte)
  private readonly scores: Float32Array;
  private readonly lookup = new Map<string, number>(); // binary piece → id (first wins)
  private stream: TokenStreamDecoder | null = null;
  private streamLast: number | null = null;

  constructor(rawPieces: Uint8Array[], scores: Float32Array, maxTokenLength: number) {
    this.vocabSize = rawPieces.length;
    this.scores = scores;
    this.maxTokenLength = maxTokenLength;
    this.rawPieces = rawPieces;
    this.pieces = rawPieces.map((p) => {
      const m = BYTE_PIECE.exec(toBinary(p));
      return m ? Uint8Array.of(parseInt(m[1], 16)) : p;
    });
    for (let id = 0; id < rawPieces.length; id++) {
      const s = toBinary(rawPieces[id]);
      if (id <= 2 || BYTE_PIECE.test(s)) continue; // control and byte pieces: never matched from text
      if (!this.lookup.has(s)) this.lookup.set(s, id);
    }
  }

  // The vocab string of an id, as stored ("<0x0A>", " Once", "\n<s>\n").
  piece(id: number): string {
    this.check(id);
    return new TextDecoder().decode(this.rawPieces[id]);
  }

  score(id: number): number {
    this.check(id);
    return this.scores[id];
  }

  encode(text: string, opts: { bos?: boolean; eos?: boolean } = {}): number[] {
    const bytes = new TextEncoder().encode(text);
    const ids: number[] = [];
    if (opts.bos ?? true) ids.push(this.bosId);
    // symbols of the merge loop, as binary strings + ids
    const strs: string[] = [];
    const syms: number[] = [];
    // like llama2.c, a byte-fallback symbol merges by its piece text ("<0xC3>"), i.e. never in practice
    const addByteFallback = (b: number) => {
      strs.push(b + 3 < this.vocabSize ? toBinary(this.rawPieces[b + 3]) : '\uffff'); // (no such token: check() refuses it below)
      syms.push(b + 3);
    };
    if (bytes.length > 0) {
      const sp = this.lookup.get(' ');
      if (sp !== undefined) {
        strs.push(' ');
        syms.push(sp);
      } else addByteFallback(0x20);
    }
    for (let i = 0; i < bytes.length; ) {
      // one code point: a lead byte and up to 3 continuation bytes (10xxxxxx), as llama2.c groups them
      let j = i + 1;
      while (j < bytes.length && (bytes[j] & 0xc0) === 0x80 && j - i < 4) j++;
      const cp = toBinary(bytes.subarray(i, j));
      const id = this.lookup.get(cp);
      if (id !== undefined) {
        strs.push(cp);
        syms.push(id);
      } else for (let k = i; k < j; k++) addByteFallback(bytes[k]);
      i = j;
    }
    this.merge(strs, syms);
    for (let i = 0; i < syms.length; i++) if (syms[i] >= 0) ids.push(syms[i]);
    if (opts.eos) ids.push(this.eosId);
    for (const id of ids) this.check(id); // byte fallback into a vocab without byte tokens
    return ids;
  }

  // Greedy highest-score pair merging over a linked list; merged-away symbols get id -1.
  private merge(strs: string[], syms: number[]): void {
    const n = syms.length;
    const next = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
    const prev = Int32Array.from({ length: n }, (_, i) => i - 1);
    const version = new Int32Array(n);
    // heap of candidate pairs: [score, left index, right index, left version, right version]
    type Cand = [number, number, number, number, number];
    const heap: Cand[] = [];
    const better = (a: Cand, b: Cand) => a[0] > b[0] || (a[0] === b[0] && a[1] < b[1]);
    const push = (c: Cand) => {
      heap.push(c);
      for (let k = heap.length - 1; k > 0; ) {
        const p = (k - 1) >> 1;
        if (!better(heap[k], heap[p])) break;
        [heap[k], heap[p]] = [heap[p], heap[k]];
        k = p;
      }
    };
    const pop = (): Cand => {
      const top = heap[0];
      const last = heap.pop()!;
      if (heap.length > 0) {
        heap[0] = last;
        for (let k = 0; ; ) {
          const l = 2 * k + 1;
          const r = l + 1;
          let m = k;
          if (l < heap.length && better(heap[l], heap[m])) m = l;
          if (r < heap.length && better(heap[r], heap[m])) m = r;
          if (m === k) break;
          [heap[k], heap[m]] = [heap[m], heap[k]];
          k = m;
        }
      }
      return top;
    };
    const consider = (i: number) => {
      const j = next[i];
      if (i < 0 || j < 0) return;
      const id = this.lookup.get(strs[i] + strs[j]);
      if (id === undefined) return;
      const s = this.scores[id];
      if (s > MIN_SCORE) push([s, i, j, version[i], version[j]]); // NaN never merges, as in C
    };
    for (let i = 0; i + 1 < n; i++) consider(i);
    while (heap.length > 0) {
      const [, i, j, vi, vj] = pop();
      if (next[i] !== j || version[i] !== vi || version[j] !== vj || syms[i] < 0 || syms[j] < 0) continue; // stale
      strs[i] = strs[i] + strs[j];
      syms[i] = this.lookup.get(strs[i])!;
      syms[j] = -1;
      version[i]++;
      next[i] = next[j];
      if (next[j] >= 0) prev[next[j]] = i;
      if (prev[i] >= 0) consider(prev[i]);
      consider(i);
    }
  }

  // Bytes one token contributes after `prev` (BOS/EOS: none; a leading space after BOS: dropped).
  private tokenBytes(id: number, prev: number | null): Uint8Array {
    this.check(id);
    if (id === this.bosId || id === this.eosId) return new Uint8Array(0);
    const p = this.pieces[id];
    return prev === this.bosId && p[0] === 0x20 ? p.subarray(1) : p;
  }

  decode(ids: readonly number[]): string {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (let k = 0; k < ids.length; k++) {
      const b = this.tokenBytes(ids[k], k > 0 ? ids[k - 1] : null);
      parts.push(b);
      total += b.length;
    }
    const all = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return new TextDecoder().decode(all);
  }

  // A decoder for one stream of generated ids; `prev` is the token before the first pushed one.
  createStreamDecoder(prev: number | null = null): TokenStreamDecoder {
    const td = new TextDecoder();
    let last = prev;
    return {
      push: (id: number) => {
        const out = td.decode(this.tokenBytes(id, last), { stream: true });
        last = id;
        return out;
      },
      flush: () => td.decode(),
    };
  }

  // Streaming: the text `id` adds after `prev`. Incomplete UTF-8 bytes are buffered in one
  // internal stream, which continues while each call's `prev` is the previous call's `id` and
  // restarts otherwise; so concatenating the outputs of one generation equals decode(). For
  // several interleaved generations use createStreamDecoder() per generation.
  decodeToken(id: number, prev: number | null): string {
    if (this.stream === null || prev === null || prev !== this.streamLast) this.stream = this.createStreamDecoder(prev);
    const out = this.stream.push(id);
    this.streamLast = id;
    return out;
  }

  private check(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new PromptkilnError('TOKEN', `token id ${id} is outside the vocabulary [0, ${this.vocabSize})`, { id });
    }
  }
}

// Parse tokenizer.bin. With `vocabSize` (the model's), exactly that many entries must fill the
// file; without it, entries are read to the end of the file.
export function parseLlama2cTokenizer(bytes: Uint8Array, vocabSize?: number, file = 'tokenizer.bin'): Llama2cTokenizer {
  if (bytes.byteLength < 4) throw bad(file, `file is ${bytes.byteLength} bytes, shorter than the int32 max_token_length`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const maxLen = dv.getInt32(0, true);
  if (maxLen < 0) throw bad(file, `max_token_length is ${maxLen}, expected ≥ 0`);
  if (vocabSize !== undefined) {
    if (!Number.isInteger(vocabSize) || vocabSize <= 0) throw bad(file, `vocab size ${vocabSize} is not a positive integer`);
    // every entry takes at least 8 bytes: refuse before looping over an impossible count
    if (4 + 8 * vocabSize > bytes.byteLength) throw bad(file, `file is ${bytes.byteLength} bytes, too short for ${vocabSize} tokens (at least ${4 + 8 * vocabSize})`);
  }
  const pieces: Uint8Array[] = [];
  const scores: number[] = [];
  let pos = 4;
  while (vocabSize === undefined ? pos < bytes.byteLength : pieces.length < vocabSize) {
    const id = pieces.length;
    if (pos + 8 > bytes.byteLength) throw bad(file, `truncated at token ${id}: its score and length need 8 bytes at offset ${pos}, ${bytes.byteLength - pos} remain`);
    const score = dv.getFloat32(pos, true);
    const len = dv.getInt32(pos + 4, true);
    pos += 8;
    if (len < 0 || pos + len > bytes.byteLength) throw bad(file, `token ${id} has byte length ${len}, but ${bytes.byteLength - pos} bytes remain`);
    if (len > maxLen) throw bad(file, `token ${id} is ${len} bytes, longer than max_token_length ${maxLen}`);
    pieces.push(bytes.slice(pos, pos + len));
    scores.push(score);
    pos += len;
  }
  if (pos !== bytes.byteLength) throw bad(file, `${bytes.byteLength - pos} trailing bytes after ${pieces.length} tokens (vocab size ${vocabSize})`);
  if (pieces.length < 3) throw bad(file, `has ${pieces.length} tokens; a llama2.c vocabulary needs at least <unk>, BOS and EOS`);
  return new Llama2cTokenizer(pieces, Float32Array.from(scores), maxLen);
}
