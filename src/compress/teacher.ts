// The compression student's layout against the full-context teacher (train/distill.ts computes and
// holds the teacher rows): σ in the first K rows, then the query.
import type { Segment } from '../model/index.js';
import type { Tensor } from '../kernels/index.js';
import { expandTeacher, type TeacherRows } from '../train/index.js';

export { teacherFor, expandTeacher, argmaxRow, type TeacherRows } from '../train/index.js';

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
