// Rebuilds wasm/ and dist/ only when their sources changed, so tests never run stale builds.
// Called by vitest's global setup and by `npm test`; safe to call from several processes at once.
//
// Freshness is a content hash of each output's inputs (not mtimes: a fresh clone has new mtimes on
// everything), stored beside the output. Builds run under a lock directory so two test runs do not
// build into the same folder at once, and dist/ is built into a sibling folder and swapped in with
// renames, so a test already reading dist/ never sees a half-written bundle.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const LOCK = path.join(ROOT, '.cache', 'build.lock');

function walk(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

function hashOf(inputs) {
  const h = createHash('sha256');
  for (const input of inputs) {
    const p = path.join(ROOT, input);
    for (const f of statSync(p).isDirectory() ? walk(p) : [p]) {
      h.update(path.relative(ROOT, f)).update('\0').update(readFileSync(f)).update('\0');
    }
  }
  return h.digest('hex');
}

// Each output: the inputs whose bytes decide it, and how to build it.
const OUTPUTS = [
  {
    name: 'wasm',
    stamp: 'wasm/.build-hash',
    inputs: ['assembly', 'asconfig.json', 'scripts/build-wasm.mjs', 'node_modules/assemblyscript/package.json',
      'wasm/promptkiln.h', 'scripts/gen-exports.mjs', 'scripts/c-header.mjs'],
    build() {
      execFileSync(process.execPath, [path.join(ROOT, 'scripts/build-wasm.mjs')], { cwd: ROOT, stdio: 'inherit' });
    },
  },
  {
    name: 'dist',
    stamp: 'dist/.build-hash',
    inputs: ['src', 'tsup.config.ts', 'package.json', 'tsconfig.json'],
    build() {
      const next = path.join(ROOT, '.cache', 'dist-next');
      rmSync(next, { recursive: true, force: true });
      const tsup = path.join(ROOT, 'node_modules', 'tsup', 'dist', 'cli-default.js');
      execFileSync(process.execPath, [tsup, '--out-dir', next], { cwd: ROOT, stdio: 'inherit' });
      const dist = path.join(ROOT, 'dist');
      const old = path.join(ROOT, '.cache', `dist-old-${process.pid}`);
      if (existsSync(dist)) renameSync(dist, old);
      renameSync(next, dist);
      rmSync(old, { recursive: true, force: true });
    },
  },
];

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

// A lock directory holding the owner's pid; a lock whose owner died is taken over.
function withLock(fn) {
  mkdirSync(path.dirname(LOCK), { recursive: true });
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(path.join(LOCK, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      let owner = NaN;
      try {
        owner = Number(readFileSync(path.join(LOCK, 'pid'), 'utf8'));
      } catch {}
      if (Number.isFinite(owner) && owner > 0 && !pidAlive(owner)) {
        rmSync(LOCK, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`ensure-build: ${LOCK} held by pid ${owner} for 15 minutes`);
      // another process is building: block this one briefly (Atomics.wait is a synchronous sleep)
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

export function ensureBuild({ quiet = false } = {}) {
  return withLock(() => {
    const built = [];
    for (const o of OUTPUTS) {
      const want = hashOf(o.inputs);
      const stamp = path.join(ROOT, o.stamp);
      const have = existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : '';
      if (have === want) continue;
      if (!quiet) console.log(`ensure-build: ${o.name} is out of date, building`);
      o.build();
      writeFileSync(stamp, want + '\n');
      built.push(o.name);
    }
    return built;
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const built = ensureBuild();
  console.log(built.length ? `ensure-build: built ${built.join(', ')}` : 'ensure-build: wasm/ and dist/ are up to date');
}
