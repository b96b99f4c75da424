// Rotary position embedding, in place on x (N, nh, hd): row r is rotated by the angles of
// position pos[r] (i32, N). cos/sin (maxPos, hd/2) are tables built by the host, so each
// checkpoint's angle rounding (llama2.c computes them in f32) is reproduced exactly.
// mode 0: llama2.c / Meta interleaved pairs (2j, 2j+1); mode 1: Hugging Face rotate-half (j, j+hd/2).
// inverse != 0 rotates by −angle: the backward of a rotation is its transpose.
export function rope(x: usize, pos: usize, cos: usize, sin: usize, N: i32, nh: i32, hd: i32,
  mode: i32, inverse: i32): void {
  rope_partial(x, pos, cos, sin, N, nh, hd, hd, mode, inverse);
}

// rope on the first rd dims of each head only (partial rotary: Phi-3, partial_rotary_factor);
// dims rd..hd−1 pass through. Tables are (maxPos, rd/2); pairs are taken within the rd dims.
export function rope_partial(x: usize, pos: usize, cos: usize, sin: usize, N: i32, nh: i32, hd: i32,
  rd: i32, mode: i32, inverse: i32): void {
  const half = rd >> 1;
  const sgn: f32 = inverse ? -1.0 : 1.0;
  for (let r = 0; r < N; r++) {
    const p = load<i32>(pos + (<usize>r << 2));
    const ct = cos + (<usize>p * <usize>half << 2);
    const st = sin + (<usize>p * <usize>half << 2);
    for (let h = 0; h < nh; h++) {
      const v = x + ((<usize>r * <usize>nh + <usize>h) * <usize>hd << 2);
      for (let j = 0; j < half; j++) {
        const c = load<f32>(ct + (<usize>j << 2));
        const s = sgn * load<f32>(st + (<usize>j << 2));
        const i0: usize = mode == 0 ? <usize>(2 * j) : <usize>j;
        const i1: usize = mode == 0 ? <usize>(2 * j + 1) : <usize>(j + half);
        const a = load<f32>(v + (i0 << 2));
        const b = load<f32>(v + (i1 << 2));
        store<f32>(v + (i0 << 2), a * c - b * s);
        store<f32>(v + (i1 << 2), a * s + b * c);
      }
    }
  }
}
