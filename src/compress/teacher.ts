import { HEAD_CHUNK, type Model, type Segment } from '../model/index.js';
import type { Tensor } from '../kernels/index.js';

// The full-context teacher: P(· | c, z) at the rows of the z tokens (row Lc + j predicts the token
// after z_j), computed once per query and kept as log-probs. With topK > 0 only the k most likely
// tokens are kept exactly and the remaining mass is spread evenly over the rest (memory ÷ V/k).
export interface TeacherRows {
  rows: number; // Lz
  full?: Float32Array; // (Lz, V) log-probs
  top?: { ids: Int32Array; logp: Float32Array; rest: Float32Array; k: number }; // (Lz, k), (Lz, k), (Lz)
}

export function teacherFor(model: Model, context: readonly number[], queries: readonly (readonly number[])[], topK = 0): TeacherRows[] {
  const V = model.config.vocabSize;
  const k = model.kernels;
  const out: TeacherRows[] = [];
  const lp = k.alloc(HEAD_CHUNK * V, 'teacher logp'); // (HEAD_CHUNK, V): one LM-head chunk of rows
  try {
    for (const z of queries) {
      const Lc = context.length, Lz = z.length;
      const st = model.run([[{ ids: [...context, ...z] }]], {});
      const rows = Array.from({ length: Lz }, (_, j) => Lc + j);
      const full = new Float32Array(Lz * V);
      st.eachHeadChunk(rows, (lg, s, n) => {
        k.logSoftmax(lp.at(0, n * V), lg, n, V);
        full.set(lp.at(0, n * V).f32(), s * V);
        return false;
      });
      out.push(topK > 0 && topK < V ? compact(full, Lz, V, topK) : { rows: Lz, full });
    }
  } finally {
    lp.free();
  }
  return out;
}

function compact(full: Float32Array, L: number, V: number, kk: number): TeacherRows {
  const ids = new Int32Array(L * kk), logp = new Float32Array(L * kk), rest = new Float32Array(L);
  for (let r = 0; r < L; r++) {
    const row = full.subarray(r * V, (r + 1) * V);
    const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => row[b] - row[a]).slice(0, kk);
    let mass = 0;
    order.forEach((id, j) => {
      ids[r * kk + j] = id;
      logp[r * kk + j] = row[id];
      mass += Math.exp(row[id]);
    });
    rest[r] = Math.log(Math.max(1e-30, 1 - mass) / (V - kk));
  }
  return { rows: L, top: { ids, logp, rest, k: kk } };
}

// Writes the teacher log-probs of one query into dst (rows, V).
export function expandTeacher(t: TeacherRows, V: number, dst: Float32Array): void {
  if (t.full) {
    dst.set(t.full);
    return;
  }
  const { ids, logp, rest, k } = t.top!;
  for (let r = 0; r < t.rows; r++) {
    dst.fill(rest[r], r * V, (r + 1) * V);
    for (let j = 0; j < k; j++) dst[r * V + ids[r * k + j]] = logp[r * k + j];
  }
}

export function argmaxRow(x: Float32Array, off: number, V: number): number {
  let b = 0;
  for (let i = 1; i < V; i++) if (x[off + i] > x[off + b]) b = i;
  return b;
}

// A padded student batch (row stride T, σ in the first K rows of each sequence): the rows of the
// queries' z tokens, and the teacher log-probs of those rows (rows, V) in the same order.
export function studentTargets(zs: readonly (readonly number[])[], teacher: TeacherRows[], K: number, T: number, V: number): { rows: number[]; t: Float32Array } {
  const rows: number[] = [];
  zs.forEach((z, b) => { for (let j = 0; j < z.length; j++) rows.push(b * T + K + j); });
  const t = new Float32Array(rows.length * V); // (rows, V)
  let off = 0;
  zs.forEach((z, b) => {
    expandTeacher(teacher[b], V, t.subarray(off * V, (off + z.length) * V));
    off += z.length;
  });
  return { rows, t };
}

// Student sequence: σ (K rows, no BOS — it replaces the whole context) then the query tokens.
export function studentSegments(sigma: Tensor | Float32Array | null, K: number, z: readonly number[]): Segment[] {
  const segs: Segment[] = [];
  if (sigma && K > 0) segs.push({ embeds: sigma, rows: K });
  segs.push({ ids: z });
  return segs;
}
