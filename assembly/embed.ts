// Embedding kernels: token gather (soft rows left to the host) and added positions.
import { add } from './util';

// Embedding gather. Soft rows (prompt tuning, compression) are written by the host into the
// rows whose id is negative: those rows are left untouched here.

// out (N, C) row r = table[ids[r]] for ids[r] ≥ 0; ids (N) i32; table (V, C)
export function embed_fwd(out: usize, ids: usize, table: usize, N: i32, C: i32): void {
  const row = <usize>C << 2;
  for (let r = 0; r < N; r++) {
    const id = load<i32>(ids + (<usize>r << 2));
    if (id < 0) continue;
    memory.copy(out + <usize>r * row, table + <usize>id * row, row);
  }
}

// out (N, C) row r += pos_table[pos[r]]; GPT-2's learned positions, added to soft rows too
export function add_pos(out: usize, pos: usize, table: usize, N: i32, C: i32): void {
  for (let r = 0; r < N; r++) {
    const p = load<i32>(pos + (<usize>r << 2));
    const y = out + (<usize>r * <usize>C << 2);
    add(y, y, table + (<usize>p * <usize>C << 2), C);
  }
}
