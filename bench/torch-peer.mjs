// The PyTorch CPU peer (../shared/bench/torch/bench.py), run once per benchmark process and
// shared by every suite that needs it (suites are bundled separately, so the cache lives on
// globalThis). Each (model, threads) runs in its own Python process, as bench.py prescribes.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// bench/ when run directly, bench/.cache/ when bundled into a suite: try both depths
const script = ['../../shared/bench/torch/bench.py', '../../../shared/bench/torch/bench.py']
  .map((p) => resolve(dirname(fileURLToPath(import.meta.url)), p)).find((p) => existsSync(p)) ??
  resolve(dirname(fileURLToPath(import.meta.url)), '../../shared/bench/torch/bench.py');
const PY = '/usr/bin/python3';

// → Map key `${model}/${task}/${threads}` → { median_s, tokens_per_s, runs_s }
export function torchPeer(log = () => {}, { runsSmall = 30, runsBig = 5 } = {}) {
  const g = globalThis;
  if (!g.__promptkilnTorchPeer) {
    g.__promptkilnTorchPeer = (async () => {
      if (!existsSync(script)) throw new Error(`PyTorch peer script not found at ${script}`);
      const rows = new Map();
      for (const [model, runs] of [['stories260K', runsSmall], ['gpt2-small-shape', runsBig]]) {
        for (const threads of [1, 2]) {
          log(`PyTorch peer: ${model}, ${threads} thread(s)…`);
          const out = await new Promise((res, rej) =>
            execFile(PY, [script, '--one', model, String(threads), String(runs)], { maxBuffer: 1 << 24 }, (err, stdout, stderr) =>
              err ? rej(new Error(`bench.py failed (${err.message}): ${stderr}`)) : res(stdout)));
          for (const line of out.split('\n')) {
            if (!line.startsWith('ROW ')) continue;
            const r = JSON.parse(line.slice(4));
            rows.set(`${r.model}/${r.task}/${r.threads}`, r);
          }
        }
      }
      return rows;
    })();
  }
  return g.__promptkilnTorchPeer;
}
