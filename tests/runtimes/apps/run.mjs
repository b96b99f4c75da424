// Node / Deno / Bun: import the package by name from a project that installed it (the runtime's
// own `exports` conditions pick the entry), run the workload, print one JSON line.
// argv: <model folder>
const t0 = performance.now();
const pk = await import('promptkiln');
const importMs = performance.now() - t0;
const { workload } = await import('./workload.mjs');
const args = typeof Deno !== 'undefined' ? Deno.args : process.argv.slice(2);
const out = await workload(pk, args[0]);
const runtime = typeof Deno !== 'undefined' ? `deno ${Deno.version.deno}` : typeof Bun !== 'undefined' ? `bun ${Bun.version}` : `node ${process.versions.node}`;
console.log(JSON.stringify({ runtime, entry: import.meta.resolve('promptkiln'), ...out, ms: { import: importMs, ...out.ms } }));
