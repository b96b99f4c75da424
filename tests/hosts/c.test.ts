// The C host: wasm2c translates the portable build, gcc compiles wasm/examples/c against
// wasm/promptkiln.h, and the program checks GEMM and log-likelihood against hand-worked values
// and plain C loops. wasm-interp runs the SIMD build's zero-argument self_test. CI installs wabt
// and gcc: a missing tool is a failure with the install command, never a skip.
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const EXAMPLE = path.join(ROOT, 'wasm/examples/c');

function requireTool(cmd: string, install: string): void {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} is not installed; the C host test needs it: ${install}`);
}

describe('C host (wasm2c)', () => {
  it('builds wasm/examples/c with gcc and its GEMM and log-likelihood checks pass', () => {
    requireTool('wasm2c', 'apt-get install -y wabt');
    requireTool('gcc', 'apt-get install -y gcc');
    const r = spawnSync('bash', [path.join(EXAMPLE, 'build.sh')], { encoding: 'utf8', timeout: 120_000 });
    const log = `${r.stdout}\n${r.stderr}`;
    expect(r.status, log).toBe(0);
    expect(r.stdout).toMatch(/abi_version 1, build_kind 0/);
    expect(r.stdout).toMatch(/^self_test 0$/m);
    expect(r.stdout).toContain('matmul_fwd (2,3,2) by hand: [[-1.5, 3], [-1.5, 12]]');
    expect(r.stdout).toMatch(/target_logprobs by hand: \[-1\.3862944, -0\.9162908, 0\.0000000\], sum -2\.3025851/);
    expect(r.stdout).toMatch(/matmul_fwd \(17,33,19\) vs C loop/);
    expect(r.stdout).toMatch(/^OK$/m);
    expect(r.stderr).not.toContain('MISMATCH');
  });

  it('the generated glue rejects a header that disagrees with the module', () => {
    // A header whose matmul_fwd takes float M: the glue must fail to compile (-Wconversion
    // -Werror), which is what makes "gcc checks promptkiln.h against the module" true.
    requireTool('wasm2c', 'apt-get install -y wabt');
    const dir = mkdtempSync(path.join(tmpdir(), 'pk-glue-'));
    const header = readFileSync(path.join(ROOT, 'wasm/promptkiln.h'), 'utf8');
    const broken = header.replace(/(promptkiln_matmul_fwd\([^)]*?)int32_t M/, '$1float M');
    expect(broken).not.toBe(header);
    // in its own folder: glue.c's #include "promptkiln.h" would otherwise find it beside itself
    const brokenDir = path.join(dir, 'broken');
    mkdirSync(brokenDir);
    writeFileSync(path.join(brokenDir, 'promptkiln.h'), broken);
    execFileSync('wasm2c', [path.join(ROOT, 'wasm/promptkiln.portable.wasm'), '-n', 'promptkiln', '-o', path.join(dir, 'pk_module.c')]);
    execFileSync('node', [path.join(ROOT, 'scripts/gen-wasm2c-glue.mjs'), path.join(brokenDir, 'promptkiln.h'), 'pk_module.h', 'promptkiln', path.join(dir, 'glue.c')]);
    const cc = (hdrDir: string) =>
      spawnSync('gcc', ['-std=c11', '-Wall', '-Wconversion', '-Werror', '-I', hdrDir, '-I', dir, '-I', EXAMPLE,
        '-I', '/usr/share/wabt/wasm2c', '-c', path.join(dir, 'glue.c'), '-o', path.join(dir, 'glue.o')], { encoding: 'utf8' });
    const bad = cc(brokenDir);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/Z_promptkilnZ_matmul_fwd[\s\S]*conversion|conversion[\s\S]*Z_promptkilnZ_matmul_fwd/);
    // and the same glue source compiles against the real header once regenerated from it
    execFileSync('node', [path.join(ROOT, 'scripts/gen-wasm2c-glue.mjs'), path.join(ROOT, 'wasm/promptkiln.h'), 'pk_module.h', 'promptkiln', path.join(dir, 'glue.c')]);
    const good = cc(path.join(ROOT, 'wasm'));
    expect(good.status, good.stderr).toBe(0);
  });

  it('wasm-interp runs the SIMD build\'s self_test and it returns 0', () => {
    requireTool('wasm-interp', 'apt-get install -y wabt');
    const r = spawnSync('wasm-interp', [path.join(ROOT, 'wasm/promptkiln.simd.wasm'), '--run-all-exports'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^build_kind\(\) => i32:1$/m);
    expect(r.stdout).toMatch(/^self_test\(\) => i32:0$/m);
  });
});
