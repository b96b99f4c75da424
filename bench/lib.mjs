// Shared by bench/run.mjs and the suites: the context a suite records rows into, timing with
// tinybench, and the table both the console and RESULTS.md show.
import { Bench } from 'tinybench';
import os from 'node:os';

// Times fn (sync or async) with tinybench: `time` ms of samples after `warmup` ms of warm-up.
// Returns ms per call. The median is what rows report: other processes share this machine's
// two cores, and the median shrugs off the samples they disturb where the mean does not.
export async function measure(fn, { time = 400, warmup = 100, iterations = 5 } = {}) {
  const bench = new Bench({ time, warmupTime: warmup, iterations, warmupIterations: 2, throws: true });
  bench.add('x', fn);
  await bench.run();
  const r = bench.tasks[0].result;
  if (!r || r.state === 'errored' || !r.latency) throw r?.error ?? new Error('benchmark failed');
  return { median: r.latency.p50, min: r.latency.min, mean: r.latency.mean, samples: r.latency.samples?.length ?? r.latency.samplesCount };
}

// Times several functions in interleaved rounds (A B C, A B C, ...) and pools each one's samples.
// A ratio between two of them then compares samples taken in the same stretches of time, so a
// burst of load from another process hits both sides instead of whichever ran during it.
export async function measureMany(fns, { rounds = 6, time = 80, warmup = 40 } = {}) {
  const names = Object.keys(fns);
  const samples = Object.fromEntries(names.map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    const bench = new Bench({
      time, iterations: 2, warmupTime: r === 0 ? warmup : 0, warmupIterations: r === 0 ? 2 : 0, retainSamples: true, throws: true,
    });
    for (const k of names) bench.add(k, fns[k]);
    await bench.run();
    for (const t of bench.tasks) {
      if (!t.result?.latency?.samples) throw t.result?.error ?? new Error(`benchmark ${t.name} failed`);
      samples[t.name].push(...t.result.latency.samples);
    }
  }
  const out = {};
  for (const k of names) {
    const a = samples[k].sort((x, y) => x - y);
    out[k] = { median: a[Math.floor(a.length / 2)], min: a[0], mean: a.reduce((x, y) => x + y, 0) / a.length, samples: a.length };
  }
  return out;
}

export function makeContext(suite, args) {
  const rows = [];
  const notes = [];
  return {
    rows,
    notes,
    args,
    measure,
    measureMany,
    log: (...a) => console.error('  ', ...a),
    note: (text) => notes.push(text),
    row(r) {
      for (const k of ['name', 'unit', 'value', 'peer', 'peer_value', 'build']) {
        if (r[k] === undefined) throw new Error(`bench ${suite}: row ${r.name ?? '?'} lacks "${k}"`);
      }
      const ratio = 'ratio' in r ? r.ratio : (r.peer_value ? r.value / r.peer_value : null);
      const row = { suite, ...r, value: round(r.value), peer_value: round(r.peer_value), ratio: ratio === null ? null : round(ratio, 2) };
      rows.push(row);
      console.error(`   ${row.name} [${row.build}${row.threads ? `, ${row.threads}T` : ''}]: ${fmt(row.value)} ${row.unit}` +
        ` | ${row.peer}: ${fmt(row.peer_value)}${row.ratio !== null ? ` | ratio ${row.ratio}` : ''}`);
      return row;
    },
  };
}

function round(v, digits) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return v;
  const d = digits ?? (Math.abs(v) >= 100 ? 1 : Math.abs(v) >= 1 ? 2 : 4);
  return Number(v.toFixed(d));
}
const fmt = (v) => (typeof v === 'number' ? String(v) : v ?? '—');

export function machineLine() {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `Node ${process.version}, ${cpu} × ${os.cpus().length}, ${os.platform()}`;
}

// A GitHub-flavoured markdown table of rows (also readable in a terminal).
export function formatTable(rows) {
  const extra = (r) => {
    const skip = new Set(['suite', 'name', 'unit', 'value', 'peer', 'peer_value', 'build', 'threads', 'ratio', 'target']);
    return Object.entries(r).filter(([k]) => !skip.has(k)).map(([k, v]) => `${k}: ${fmt(v)}`).join('; ');
  };
  const head = ['benchmark', 'build', 'threads', 'value', 'unit', 'peer', 'peer value', 'ratio', 'target', 'also'];
  const body = rows.map((r) => [r.name, r.build, r.threads ?? 1, fmt(r.value), r.unit, r.peer, fmt(r.peer_value),
    r.ratio ?? '—', r.target ?? '', extra(r)]);
  const lines = [head, head.map(() => '---'), ...body].map((cells) => `| ${cells.join(' | ')} |`);
  return lines.join('\n');
}
