// P-tuning's LSTM prompt encoder (PEFT encoder_reparameterization_type "LSTM"): the N input
// embeddings through torch.nn.LSTM(C, H, num_layers=L, bidirectional=True, batch_first=True), then
// mlp_head = Linear(2H, 2H) → ReLU → Linear(2H, C); forward and full BPTT backward side by side.
// Tiny tensors (N virtual tokens): plain loops, activations kept in f64 between forward and backward.

// Weights or gradients by PEFT's state-dict names (without the "prompt_encoder.default." prefix).
export type LstmWeights = Record<string, Float32Array>;

export interface LstmDims {
  N: number; // rows (virtual tokens)
  C: number; // token_dim: the LSTM's input and the head's output
  H: number; // encoder_hidden_size: each direction's hidden size
  L: number; // encoder_num_layers
}

const DIRS = ['', '_reverse'] as const; // torch's direction suffixes, forward then reverse

// The head's tensors in torch's state-dict order (lstm_head: layer by layer, each direction's
// weight_ih, weight_hh, bias_ih, bias_hh; then mlp_head), with their sizes and torch's default
// init bound (LSTM: U(±1/√H) for every tensor; Linear: U(±1/√fan_in) for weight and bias).
export function lstmHeadShapes({ C, H, L }: LstmDims): { name: string; size: number; bound: number }[] {
  const out: { name: string; size: number; bound: number }[] = [];
  const b = 1 / Math.sqrt(H);
  for (let l = 0; l < L; l++) {
    const inW = l === 0 ? C : 2 * H;
    for (const s of DIRS) {
      out.push({ name: `lstm_head.weight_ih_l${l}${s}`, size: 4 * H * inW, bound: b }, { name: `lstm_head.weight_hh_l${l}${s}`, size: 4 * H * H, bound: b },
        { name: `lstm_head.bias_ih_l${l}${s}`, size: 4 * H, bound: b }, { name: `lstm_head.bias_hh_l${l}${s}`, size: 4 * H, bound: b });
    }
  }
  const m = 1 / Math.sqrt(2 * H);
  out.push({ name: 'mlp_head.0.weight', size: 4 * H * H, bound: m }, { name: 'mlp_head.0.bias', size: 2 * H, bound: m },
    { name: 'mlp_head.2.weight', size: C * 2 * H, bound: m }, { name: 'mlp_head.2.bias', size: C, bound: m });
  return out;
}

// torch's default init, tensor by tensor in state-dict order, from a uniform [0, 1) source.
export function lstmHeadInit(d: LstmDims, u: () => number): LstmWeights {
  return Object.fromEntries(lstmHeadShapes(d).map(({ name, size, bound }) => [name, Float32Array.from({ length: size }, () => (2 * u() - 1) * bound)]));
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

export class LstmHead {
  // activations of the last forward, read by backward
  private readonly outs: Float64Array[]; // [l] (N, 2H) layer l's output: [h_fwd(t), h_rev(t)]
  private readonly gates: Float64Array[]; // [2l + dir] (N, 4H) i, f, g, o after their nonlinearities
  private readonly cells: Float64Array[]; // [2l + dir] (N, H) c(t)
  private readonly tanhC: Float64Array[]; // [2l + dir] (N, H) tanh(c(t))
  private readonly pre: Float64Array; // (N, 2H) mlp_head.0 output, before the ReLU
  private readonly act: Float64Array; // (N, 2H) after the ReLU
  private ran = false;

  constructor(readonly d: LstmDims) {
    const { N, H, L } = d;
    this.outs = Array.from({ length: L }, () => new Float64Array(N * 2 * H));
    this.gates = Array.from({ length: 2 * L }, () => new Float64Array(N * 4 * H));
    this.cells = Array.from({ length: 2 * L }, () => new Float64Array(N * H));
    this.tanhC = Array.from({ length: 2 * L }, () => new Float64Array(N * H));
    this.pre = new Float64Array(N * 2 * H);
    this.act = new Float64Array(N * 2 * H);
  }

  // x (N, C) → y (N, C)
  forward(w: LstmWeights, x: Float32Array, y: Float32Array): void {
    const { N, C, H, L } = this.d, H2 = 2 * H;
    this.ran = true;
    for (let l = 0; l < L; l++) {
      const inp: ArrayLike<number> = l === 0 ? x : this.outs[l - 1], inW = l === 0 ? C : H2;
      for (let dir = 0; dir < 2; dir++) this.direction(w, l, dir, inp, inW);
    }
    // mlp_head: (N, 2H) → Linear(2H, 2H) → ReLU → Linear(2H, C) → (N, C)
    const top = this.outs[L - 1], W0 = w['mlp_head.0.weight'], b0 = w['mlp_head.0.bias'], W2 = w['mlp_head.2.weight'], b2 = w['mlp_head.2.bias'];
    for (let t = 0; t < N; t++) {
      for (let j = 0; j < H2; j++) {
        let z = b0[j];
        for (let k = 0; k < H2; k++) z += W0[j * H2 + k] * top[t * H2 + k];
        this.pre[t * H2 + j] = z;
        this.act[t * H2 + j] = z > 0 ? z : 0;
      }
      for (let c = 0; c < C; c++) {
        let z = b2[c];
        for (let k = 0; k < H2; k++) z += W2[c * H2 + k] * this.act[t * H2 + k];
        y[t * C + c] = z;
      }
    }
  }

  // dy (N, C) → accumulates every head tensor's gradient into g and d(embeddings) into dx (N, C);
  // w and x as the last forward saw them (x is passed again: a heap view may have moved since)
  backward(w: LstmWeights, x: Float32Array, g: LstmWeights, dy: Float32Array, dx: Float32Array): void {
    const { N, C, H, L } = this.d, H2 = 2 * H;
    if (!this.ran) throw new Error('LstmHead.backward before forward');
    // mlp_head backward: d act = dy · W2, d pre = d act ⊙ [pre > 0], d top = d pre · W0
    const top = this.outs[L - 1], W0 = w['mlp_head.0.weight'], W2 = w['mlp_head.2.weight'];
    const gW0 = g['mlp_head.0.weight'], gb0 = g['mlp_head.0.bias'], gW2 = g['mlp_head.2.weight'], gb2 = g['mlp_head.2.bias'];
    let dout = new Float64Array(N * H2); // (N, 2H) d(layer output), starting with the top layer's
    const dpre = new Float64Array(H2);
    for (let t = 0; t < N; t++) {
      dpre.fill(0);
      for (let c = 0; c < C; c++) {
        const e = dy[t * C + c];
        gb2[c] += e;
        for (let k = 0; k < H2; k++) {
          gW2[c * H2 + k] += e * this.act[t * H2 + k];
          dpre[k] += e * W2[c * H2 + k];
        }
      }
      for (let j = 0; j < H2; j++) {
        if (!(this.pre[t * H2 + j] > 0)) continue;
        const e = dpre[j];
        gb0[j] += e;
        for (let k = 0; k < H2; k++) {
          gW0[j * H2 + k] += e * top[t * H2 + k];
          dout[t * H2 + k] += e * W0[j * H2 + k];
        }
      }
    }
    // the LSTM, top layer down: each layer's d(input) is the d(output) of the one below
    for (let l = L - 1; l >= 0; l--) {
      const inp: ArrayLike<number> = l === 0 ? x : this.outs[l - 1], inW = l === 0 ? C : H2;
      const din = new Float64Array(N * inW); // (N, in)
      for (let dir = 0; dir < 2; dir++) this.directionBackward(w, g, l, dir, inp, inW, dout, din);
      dout = din;
    }
    for (let i = 0; i < N * C; i++) dx[i] += dout[i];
  }

  // One direction of layer l over the sequence (reverse: t = N-1 … 0), from h = c = 0:
  //   z = W_ih x(t) + b_ih + W_hh h(prev) + b_hh  (4H), gates i, f, o = σ, g = tanh (torch order i, f, g, o)
  //   c(t) = f ⊙ c(prev) + i ⊙ g,   h(t) = o ⊙ tanh(c(t)) → outs[l][t, dir·H : dir·H + H]
  private direction(w: LstmWeights, l: number, dir: number, inp: ArrayLike<number>, inW: number): void {
    const { N, H } = this.d, H2 = 2 * H, s = DIRS[dir];
    const Wih = w[`lstm_head.weight_ih_l${l}${s}`], Whh = w[`lstm_head.weight_hh_l${l}${s}`], bih = w[`lstm_head.bias_ih_l${l}${s}`], bhh = w[`lstm_head.bias_hh_l${l}${s}`];
    const out = this.outs[l], G = this.gates[2 * l + dir], cs = this.cells[2 * l + dir], tc = this.tanhC[2 * l + dir];
    for (let step = 0; step < N; step++) {
      const t = dir ? N - 1 - step : step, tp = dir ? t + 1 : t - 1; // tp: the previous step's row
      for (let j = 0; j < 4 * H; j++) {
        let z = bih[j] + bhh[j];
        for (let k = 0; k < inW; k++) z += Wih[j * inW + k] * inp[t * inW + k];
        if (step > 0) for (let k = 0; k < H; k++) z += Whh[j * H + k] * out[tp * H2 + dir * H + k];
        G[t * 4 * H + j] = j >= 2 * H && j < 3 * H ? Math.tanh(z) : sigmoid(z);
      }
      for (let k = 0; k < H; k++) {
        const gi = G[t * 4 * H + k], gf = G[t * 4 * H + H + k], gg = G[t * 4 * H + 2 * H + k], go = G[t * 4 * H + 3 * H + k];
        const c = (step > 0 ? gf * cs[tp * H + k] : 0) + gi * gg;
        cs[t * H + k] = c;
        tc[t * H + k] = Math.tanh(c);
        out[t * H2 + dir * H + k] = go * tc[t * H + k];
      }
    }
  }

  // BPTT through one direction of layer l: steps in the opposite order of the forward, carrying
  // dh and dc to the previous step; dout (N, 2H) is d(layer output), din (N, in) accumulates d(input).
  private directionBackward(w: LstmWeights, g: LstmWeights, l: number, dir: number, inp: ArrayLike<number>, inW: number, dout: Float64Array, din: Float64Array): void {
    const { N, H } = this.d, H2 = 2 * H, H4 = 4 * H, s = DIRS[dir];
    const Wih = w[`lstm_head.weight_ih_l${l}${s}`], Whh = w[`lstm_head.weight_hh_l${l}${s}`];
    const gWih = g[`lstm_head.weight_ih_l${l}${s}`], gWhh = g[`lstm_head.weight_hh_l${l}${s}`], gbih = g[`lstm_head.bias_ih_l${l}${s}`], gbhh = g[`lstm_head.bias_hh_l${l}${s}`];
    const out = this.outs[l], G = this.gates[2 * l + dir], cs = this.cells[2 * l + dir], tc = this.tanhC[2 * l + dir];
    const dhNext = new Float64Array(H), dcNext = new Float64Array(H), dz = new Float64Array(H4);
    for (let step = N - 1; step >= 0; step--) {
      const t = dir ? N - 1 - step : step, tp = dir ? t + 1 : t - 1;
      for (let k = 0; k < H; k++) {
        const gi = G[t * H4 + k], gf = G[t * H4 + H + k], gg = G[t * H4 + 2 * H + k], go = G[t * H4 + 3 * H + k], th = tc[t * H + k];
        const dh = dout[t * H2 + dir * H + k] + dhNext[k];
        const dc = dh * go * (1 - th * th) + dcNext[k];
        const cPrev = step > 0 ? cs[tp * H + k] : 0;
        dz[k] = dc * gg * gi * (1 - gi); // i
        dz[H + k] = dc * cPrev * gf * (1 - gf); // f
        dz[2 * H + k] = dc * gi * (1 - gg * gg); // g
        dz[3 * H + k] = dh * th * go * (1 - go); // o
        dcNext[k] = dc * gf;
      }
      dhNext.fill(0);
      for (let j = 0; j < H4; j++) {
        const e = dz[j];
        gbih[j] += e;
        gbhh[j] += e;
        for (let k = 0; k < inW; k++) {
          gWih[j * inW + k] += e * inp[t * inW + k];
          din[t * inW + k] += e * Wih[j * inW + k];
        }
        if (step > 0) {
          for (let k = 0; k < H; k++) {
            gWhh[j * H + k] += e * out[tp * H2 + dir * H + k];
            dhNext[k] += e * Whh[j * H + k];
          }
        }
      }
    }
  }
}
