// Builds every kernel variant listed in asconfig.json (simd, relaxed, portable, threads)
// with the AssemblyScript compiler's API, so `npm run build` needs no global tools; then
// regenerates src/kernels/exports.ts from wasm/promptkiln.h (scripts/gen-exports.mjs).
import asc from 'assemblyscript/asc';
import { readFileSync, mkdirSync } from 'node:fs';
import { syncExports } from './gen-exports.mjs';

const cfg = JSON.parse(readFileSync(new URL('../asconfig.json', import.meta.url), 'utf8'));
mkdirSync('wasm', { recursive: true });
const only = process.argv.slice(2);
const targets = Object.keys(cfg.targets).filter((t) => only.length === 0 || only.includes(t));

for (const target of targets) {
  const t0 = performance.now();
  const { error, stderr } = await asc.main(['assembly/index.ts', '--config', 'asconfig.json', '--target', target]);
  if (error) {
    process.stderr.write(stderr.toString());
    console.error(`build-wasm: target ${target} failed: ${error.message}`);
    process.exit(1);
  }
  console.log(`build-wasm: ${target} → ${cfg.targets[target].outFile} (${(performance.now() - t0).toFixed(0)} ms)`);
}

if (syncExports()) console.log('build-wasm: regenerated src/kernels/exports.ts from wasm/promptkiln.h');
