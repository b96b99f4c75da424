// Types for scripts/gen-exports.mjs (imported by the TypeScript tests).
export const HEADER_PATH: string;
export const EXPORTS_PATH: string;
export function renderExports(headerText: string): string;
export function syncExports(opts?: { check?: boolean }): boolean;
