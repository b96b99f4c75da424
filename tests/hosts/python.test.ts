// The Python host: wasm/examples/python/build.sh links the wasm2c translation of the portable
// build into libpromptkiln.so, and check.py calls it through ctypes (signatures read from
// wasm/promptkiln.h): GEMM and target log-probs against hand-worked values and Python loops, the
// same checks as the C host, and a trap that must come back as a Python exception. CI installs
// wabt, gcc and python3 (scripts/test-system.mjs): a missing tool is a failure, never a skip.
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO_DIR } from '../helpers/paths.js';

const EXAMPLE = path.join(REPO_DIR, 'wasm/examples/python');
const PYTHON = '/usr/bin/python3';

describe('Python host (ctypes over wasm2c)', () => {
  const out = mkdtempSync(path.join(tmpdir(), 'pk-python-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('builds libpromptkiln.so and check.py\'s GEMM, log-prob and trap checks pass', () => {
    const b = spawnSync('bash', [path.join(EXAMPLE, 'build.sh'), out], { encoding: 'utf8', timeout: 120_000 });
    expect(b.status, `${b.stdout}\n${b.stderr}`).toBe(0);
    const r = spawnSync(PYTHON, [path.join(EXAMPLE, 'check.py'), path.join(out, 'libpromptkiln.so'), path.join(REPO_DIR, 'wasm/promptkiln.h')], {
      encoding: 'utf8', timeout: 60_000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    });
    expect(r.error, `${PYTHON}: ${r.error?.message}`).toBeUndefined();
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/^abi_version 1, build_kind 0, heap_base \d+$/m);
    expect(r.stdout).toMatch(/^self_test 0$/m);
    expect(r.stdout).toContain('matmul_fwd (2,3,2) by hand: [[-1.5, 3], [-1.5, 12]]');
    expect(r.stdout).toMatch(/matmul_fwd \(17,33,19\) vs Python loop/);
    expect(r.stdout).toMatch(/target_logprobs by hand: \[-1\.3862944, -0\.9162908, 0\.0000000\], sum -2\.3025851/);
    expect(r.stdout).toMatch(/target_logprobs \(3,512\) vs Python loop/);
    expect(r.stdout).toMatch(/^trap: matmul_fwd: out of bounds$/m);
    expect(r.stdout).toMatch(/^OK$/m);
    expect(r.stderr).not.toContain('MISMATCH');
  });
});
