// The hook a trainable adapter (LoRA, IA3: in soft/) plugs into the frozen transformer's projections.
import type { Tensor } from '../kernels/index.js';

// Where a layer's projections run, each with one input and its outputs (fused families are split at
// load: Phi-3's qkv_proj / gate_up_proj and GPT-2's c_attn arrive here as separate outputs):
//   qkv   x = attention-norm output (N, C) → [q (N, H·hd), k (N, Hkv·hd), v (N, Hkv·hd)], before q/k norms and RoPE
//   o     x = attention output (N, H·hd) → [o (N, C)], before any post-attention norm
//   up    x = MLP-norm output (N, C) → [gate (N, F), up (N, F)] (GPT-2: [c_fc (N, F)])
//   down  x = MLP activation (N, F) → [down (N, C)], before any post-MLP norm
export type ProjSite = 'qkv' | 'o' | 'up' | 'down';
export const PROJ_SITES: readonly ProjSite[] = ['qkv', 'o', 'up', 'down'];

// Called by Transformer around every projection of every layer, forward and backward side by side.
// The base weights stay frozen: an adapter only changes what the projection reads or adds to /
// rescales what it wrote, and keeps the gradients of its own parameters.
export interface LinearAdapter {
  readonly id: string;
  // at begin(): N rows this pass; train = keep what backward needs
  layout(N: number, train: boolean): void;
  // before the projection: the tensor it reads (x itself, or x rescaled: IA3 feed-forward)
  input(l: number, site: ProjSite, x: Tensor): Tensor;
  // after it: adds to or rescales outs in place; x is what the projection read
  output(l: number, site: ProjSite, x: Tensor, outs: Tensor[]): void;
  // backward of output(): returns the output gradients the frozen projection backpropagates
  // (douts itself, or rescaled copies) and may add into dx (d of what the projection read)
  outputBackward(l: number, site: ProjSite, douts: Tensor[], dx: Tensor): Tensor[];
  // backward of input(): dx (d of what the projection read) → d(x), in place
  inputBackward(l: number, site: ProjSite, dx: Tensor): void;
}
