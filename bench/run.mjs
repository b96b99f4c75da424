#!/usr/bin/env node
// promptkiln benchmark runner.
//
//   npm run bench                 build, then run every suite
//   npm run bench -- gemm         build, then run the suites whose name contains "gemm"
//   node bench/run.mjs gemm       the same without rebuilding (uses wasm/ as it is)
//
// It prints one table, rewrites bench/results.json (an array of rows) and bench/RESULTS.md (the
// same table and the exact command). Rows of suites that did not run this time are kept, so a
// partial run updates only its own rows.
//
// ── Writing a suite ───────────────────────────────────────────────────────────────────────────
// A suite is a file bench/<name>.bench.ts (or .mjs). Its default export is
//
//   export default {
//     name: 'gemm',                       // selects it on the command line
//     async run(ctx) { ... },             // records rows with ctx.row(...)
//   };
//
// TypeScript suites are bundled by esbuild (it comes with tsup) into bench/.cache/ before they
// run, so a suite imports the SDK straight from ../src/*.js — no `npm run build:ts` needed — and
// the kernel loader finds ../wasm/ from there as it does in tests. Packages in node_modules stay
// external (imported as usual).
//
// ctx (see lib.mjs):
//   ctx.row({ name, unit, value, peer, peer_value, build, threads?, ratio?, ...extra })
//       One result. `build` names the kernel build that produced `value` ('simd', 'relaxed',
//       'portable', 'threads', or 'n/a' for rows without kernels); `peer` names what it is
//       compared with and `peer_value` must be measured in the same run. `ratio` defaults to
//       value / peer_value (flip it yourself for lower-is-better units like ms).
//   ctx.measure(fn, { time?, warmup? }) → { median, min, mean, samples } in ms per call, timed by
//       tinybench (fn may be async).
//   ctx.measureMany({ a: fnA, b: fnB, ... }, { rounds?, time? }) → { a: {...}, b: {...} }: the same,
//       in interleaved rounds, so that ratios between them are not skewed by load on the machine.
//   ctx.note(text) a line printed under the suite's table in RESULTS.md (targets met or missed, caveats).
//   ctx.log(...)  progress lines (stderr).
//   ctx.args      the command-line arguments that are not suite names.
// ─────────────────────────────────────────────────────────────────────────────────────────────
import { build } from 'esbuild';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { makeContext, formatTable, machineLine } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const cacheDir = join(here, '.cache');

// Bundles a TypeScript suite (and the src/ files it imports) into one ESM file.
export async function loadSuite(file) {
  let path = join(here, file);
  if (file.endsWith('.ts')) {
    mkdirSync(cacheDir, { recursive: true });
    const out = join(cacheDir, file.replace(/\.ts$/, '.mjs'));
    await build({
      entryPoints: [path], outfile: out, bundle: true, format: 'esm', platform: 'node', target: 'node20',
      packages: 'external', sourcemap: 'inline', logLevel: 'error',
    });
    path = out;
  }
  const mod = await import(pathToFileURL(path).href);
  return { ...mod.default, file, bundled: path };
}

async function main() {
  const argv = process.argv.slice(2);
  const files = readdirSync(here).filter((f) => /\.bench\.(ts|mjs)$/.test(f)).sort();
  const names = files.map((f) => f.replace(/\.bench\.(ts|mjs)$/, ''));
  const selectors = argv.filter((a) => !a.startsWith('-'));
  const chosen = files.filter((f, i) => selectors.length === 0 || selectors.some((s) => names[i].includes(s)));
  if (chosen.length === 0) {
    console.error(`bench: no suite matches ${selectors.join(', ')}; suites: ${names.join(', ')}`);
    process.exit(2);
  }
  const command = `npm run bench${argv.length ? ' -- ' + argv.join(' ') : ''}`;
  const rows = [];
  const ran = [];
  const ctxNotes = new Map();
  for (const f of chosen) {
    const suite = await loadSuite(f);
    const ctx = makeContext(suite.name, argv.filter((a) => a.startsWith('-')));
    console.error(`\n── ${suite.name} (${f})`);
    const t0 = performance.now();
    await suite.run(ctx);
    console.error(`── ${suite.name}: ${ctx.rows.length} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    rows.push(...ctx.rows);
    ran.push(suite.name);
    ctxNotes.set(suite.name, ctx.notes);
  }

  // keep the rows of suites that did not run this time
  const resultsPath = join(here, 'results.json');
  let kept = [];
  if (existsSync(resultsPath)) {
    try { kept = JSON.parse(readFileSync(resultsPath, 'utf8')).filter((r) => !ran.includes(r.suite)); } catch { kept = []; }
  }
  const all = [...kept, ...rows];
  writeFileSync(resultsPath, JSON.stringify(all, null, 2) + '\n');

  const table = formatTable(rows);
  console.log('\n' + table);

  // RESULTS.md: one section per suite, each with the command and machine that produced it
  const mdPath = join(here, 'RESULTS.md');
  const sections = new Map();
  if (existsSync(mdPath)) {
    const old = readFileSync(mdPath, 'utf8');
    for (const m of old.matchAll(/<!-- suite:(\S+) -->\n([\s\S]*?)<!-- \/suite:\1 -->/g)) sections.set(m[1], m[2]);
  }
  const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  for (const name of ran) {
    const mine = rows.filter((r) => r.suite === name);
    const notes = ctxNotes.get(name) ?? [];
    sections.set(name, `## ${name}\n\nCommand: \`${command}\` — ${when}, ${machineLine()}\n\n${formatTable(mine)}\n` +
      (notes.length ? '\n' + notes.map((n) => `- ${n}`).join('\n') + '\n' : ''));
  }
  // hand-written observations between <!-- notes --> markers survive the rewrite
  let notes = '<!-- notes -->\n<!-- /notes -->';
  if (existsSync(mdPath)) {
    const m = readFileSync(mdPath, 'utf8').match(/<!-- notes -->[\s\S]*?<!-- \/notes -->/);
    if (m) notes = m[0];
  }
  const header = '# Benchmark results\n\nWritten by `bench/run.mjs` (see its header for how to add a suite); every row names the kernel ' +
    'build that produced it and a peer measured in the same run. Raw rows: `bench/results.json`.\n\n';
  const body = [...sections.entries()].map(([n, s]) => `<!-- suite:${n} -->\n${s}<!-- /suite:${n} -->`).join('\n\n');
  writeFileSync(mdPath, header + notes + '\n\n' + body + '\n');
  console.error(`\nbench: wrote ${resultsPath} (${all.length} rows) and ${mdPath}`);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(() => process.exit(0), (e) => {
    console.error(e);
    process.exit(1);
  });
}
