// Types for compute.js (the Node test imports it from TypeScript).
import type { Kernels } from '../../src/kernels/index.js';
export declare const GEMM_SHAPES: [number, number, number][];
export declare const LOGLIK_SHAPES: [number, number][];
export declare function compute(k: Kernels): { build: string; gemm: number[][]; logp: number[][]; sums: number[] };
