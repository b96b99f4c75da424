// KL and top-1 agreement of a student (with or without σ) against the teacher's distributions.
import type { Tensor } from '../kernels/index.js';
import { HEAD_CHUNK, type Model } from '../model/index.js';
import { argmaxRow, expandTeacher, studentSegments, type TeacherRows } from './teacher.js';

export interface CompressionMeasures {
  kl: number; // mean over z rows of KL(teacher ‖ student), nats
  top1: number; // fraction of z rows where the student's argmax equals the teacher's
  nll: number; // mean −ln p(z_{j+1}) under the student over rows that have a next token
  rows: number;
}

// Student = [σ ; z] when sigma is given, else z alone (the no-context baseline: no BOS, nothing).
export function measure(model: Model, sigma: Tensor | Float32Array | null, K: number,
  queries: readonly (readonly number[])[], teacher: TeacherRows[]): CompressionMeasures {
  const V = model.config.vocabSize;
  const k = model.kernels;
  let kl = 0, agree = 0, rows = 0, nll = 0, nllRows = 0;
  const Kx = sigma ? K : 0; // rows before z
  const mark = k.heap.mark();
  try {
    // per LM-head chunk of rows
    const klRow = k.alloc(HEAD_CHUNK, 'kl rows');
    const tg = k.alloc(HEAD_CHUNK, 'targets');
    const lp = k.alloc(HEAD_CHUNK, 'logp');
    queries.forEach((z, qi) => {
      const st = model.run([studentSegments(sigma, K, z)], {});
      const t = new Float32Array(z.length * V); // (Lz, V) teacher log-probs
      expandTeacher(teacher[qi], V, t);
      const tT = k.from(t, 'teacher rows');
      const rowsIdx = Array.from({ length: z.length }, (_, j) => Kx + j);
      st.eachHeadChunk(rowsIdx, (lg, s, n) => {
        kl += k.kl(klRow.at(0, n), tT.at(s * V, n * V), lg, n, V);
        const lgv = lg.f32();
        for (let i = 0; i < n; i++) {
          if (argmaxRow(lgv, i * V, V) === argmaxRow(t, (s + i) * V, V)) agree++;
        }
        const targets = Array.from({ length: n }, (_, i) => (s + i + 1 < z.length ? z[s + i + 1] : -1));
        nll -= k.targetLogprobs(lp.at(0, n), lg, tg.at(0, n).setI32(targets), n, V);
        nllRows += targets.filter((x) => x >= 0).length;
        return false;
      });
      rows += z.length;
      tT.free();
    });
  } finally {
    k.heap.reset(mark);
  }
  return { kl: kl / rows, top1: agree / rows, nll: nll / Math.max(1, nllRows), rows };
}
