// Deno and Bun, real runtimes from npm (pinned devDependencies): a project that installed
// promptkiln imports it by name, and the same workload (apps/workload.mjs: init, load
// stories260K, score, generate, tune 3 steps) gives Node's results: bit for bit on Deno (V8, the
// same kernel build), within float tolerance on Bun (JavaScriptCore lowers relaxed SIMD its own way).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { MODELS_DIR } from '../helpers/paths.js';
import { runtimeBinary, scratchProject, type WorkloadResult } from './runtimes.js';

const MODEL = path.join(MODELS_DIR, 'stories260K');

function runIn(dir: string, cmd: string, args: string[]): WorkloadResult {
  const out = execFileSync(cmd, [...args, 'run.mjs', MODEL], {
    cwd: dir, encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'],
    // Deno: no cache or lock file outside the scratch project, no update check
    env: { ...process.env, DENO_DIR: path.join(dir, '.deno'), DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' },
  });
  return JSON.parse(out.trim().split('\n').pop()!) as WorkloadResult;
}

function expectClose(got: number[], want: number[], rel: number, what: string): void {
  expect(got.length, what).toBe(want.length);
  got.forEach((g, i) => expect(Math.abs(g - want[i]!), `${what}[${i}]: ${g} vs ${want[i]}`).toBeLessThanOrEqual(rel * (1 + Math.abs(want[i]!))));
}

describe('Deno and Bun run the package like Node', () => {
  let dir: string;
  let node: WorkloadResult;

  beforeAll(() => {
    dir = scratchProject('runtimes');
    node = runIn(dir, process.execPath, []);
    console.log(`node cold start (ms): ${JSON.stringify(node.ms)}`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('Node baseline: the package entry, a falling tuning loss, the model\'s known ranking', () => {
    expect(node.entry).toMatch(/\/dist\/index\.js$/);
    expect(node.losses).toHaveLength(3);
    expect(node.losses[2]!).toBeLessThan(node.losses[0]!);
    // ' Lily.' is the model's own continuation (README demo numbers)
    expect(node.scores[0]).toBeCloseTo(-0.147, 3);
    expect(node.text.startsWith(', there was a little girl named Lily.')).toBe(true);
  });

  it('Deno resolves the node entry and matches Node bit for bit', () => {
    const deno = runIn(dir, runtimeBinary('deno'), ['run', '--allow-read', '--allow-env', '--no-lock', '--no-prompt']);
    console.log(`deno cold start (ms): ${JSON.stringify(deno.ms)}`);
    expect(deno.runtime).toMatch(/^deno 2\./);
    expect(deno.entry).toBe(node.entry);
    expect(deno.build).toBe(node.build);
    expect(deno.scores).toEqual(node.scores);
    expect(deno.tokens).toEqual(node.tokens);
    expect(deno.text).toBe(node.text);
    expect(deno.losses).toEqual(node.losses);
  });

  it('Bun resolves the node entry and matches Node within float tolerance', () => {
    const bun = runIn(dir, runtimeBinary('bun'), []);
    console.log(`bun cold start (ms): ${JSON.stringify(bun.ms)}`);
    expect(bun.runtime).toMatch(/^bun 1\./);
    expect(bun.entry).toBe(node.entry);
    expect(['relaxed', 'simd']).toContain(bun.build);
    expectClose(bun.scores, node.scores, 1e-5, 'scores');
    expect(bun.tokens).toEqual(node.tokens);
    expectClose(bun.losses, node.losses, 1e-5, 'losses');
  });
});
