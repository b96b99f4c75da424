// Types for scripts/c-header.mjs (imported by the TypeScript tests).
export interface CParam { type: string; name: string }
export interface CFunction { name: string; ret: string; params: CParam[] }
export function parseHeader(text: string): { abiVersion: number | null; functions: CFunction[] };
export const C_TO_WASM: Record<string, 'i32' | 'f32' | null>;
