// The shared distillation step: a teacher's next-token log-probs at chosen rows (computed once and
// kept), and the student's loss against them — KL(teacher ‖ student), or NLL of the teacher's greedy
// tokens — with its gradient put on the student's head. Context compression uses it; a prompt
// distilled from a longer prompt would too.
import { HEAD_CHUNK, type Model, type Transformer } from '../model/index.js';

// P(· | prefix, z) at the rows of the z tokens (row Lp + j predicts the token after z_j), as
// log-probs. With topK > 0 only the k most likely tokens are kept exactly and the remaining mass is
// spread evenly over the rest (memory ÷ V/k).
export interface TeacherRows {
  rows: number; // Lz
  full?: Float32Array; // (Lz, V) log-probs
  top?: { ids: Int32Array; logp: Float32Array; rest: Float32Array; k: number }; // (Lz, k), (Lz, k), (Lz)
}

export type DistillObjective = 'kl' | 'argmax';

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

// Mean loss over the student's `rows` against teacher log-probs t (rows, V), its gradient (scaled
// 1/rows) put on the head; st.backward() carries it to the student's inputs.
export function distillLoss(model: Model, st: Transformer, rows: number[], t: Float32Array, objective: DistillObjective): number {
  const k = model.kernels, V = model.config.vocabSize;
  const n = rows.length;
  if (objective === 'kl') {
    const tT = k.from(t, 'teacher batch'); // (rows, V), in the caller's heap scope
    return st.kl(rows, tT, 1 / n, true).sum / n;
  }
  const targets = Array.from({ length: n }, (_, r) => argmaxRow(t, r * V, V));
  return st.nll(rows, targets, 1 / n, true).sum / n;
}
