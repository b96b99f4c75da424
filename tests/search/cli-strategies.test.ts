// `promptkiln optimize --strategy knn|mipro` through the command registry on the real
// stories260K model (loglik), with real files: program.json carries the KNN retrieval and
// `promptkiln run` applies it; a mipro run resumed from its directory sends nothing new.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cmd, io } from '../helpers/cli-io.js';
import { MODELS_DIR } from '../helpers/paths.js';

const TASK = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'tom-stories.json');
const MODEL = path.join(MODELS_DIR, 'stories260K');


describe('optimize --strategy knn|mipro (CLI, stories260K)', () => {
  it('knn beats the initial prompt on test; program.json retrieves per input and promptkiln run applies it', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-knn-'));
    const a = io();
    expect(await cmd('optimize').run(['--task', TASK, '--model', MODEL, '--strategy', 'knn', '--out', dir, '--json'], a.io)).toBe(0);
    const j = JSON.parse(a.out[0]);
    expect(j.test_score).toBeGreaterThan(j.initial_test_score);
    const prog = JSON.parse(await fs.readFile(path.join(dir, 'program.json'), 'utf8'));
    expect(prog.demos).toEqual([]);
    expect(prog.retrieval.k).toBeGreaterThanOrEqual(1);
    expect(prog.retrieval.embedder).toMatch(/^local:/);
    expect(prog.retrieval.pool[0].embedding).toHaveLength(64);
    const r = io();
    expect(await cmd('run').run(['--program', path.join(dir, 'program.json'), '--model', MODEL, '--input', JSON.stringify({ input: 'Once upon a time, there was a dog.' })], r.io)).toBe(0);
    expect(r.out.join('')).toContain('output');
    await expect(cmd('run').run(['--program', path.join(dir, 'program.json'), '--model', MODEL, '--input', '{"input": "x"}', '--render'], io().io)).rejects.toMatchObject({ code: 'ARGUMENT' });
  });

  it('mipro within its budget; --resume replays from the cache without a fresh call and ends the same', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-mipro-'));
    const args = ['--task', TASK, '--model', MODEL, '--strategy', 'mipro', '--budget', '80', '--seed', '3', '--iterations', '3', '--out', dir, '--json'];
    const a = io();
    expect(await cmd('optimize').run(args, a.io)).toBe(0);
    const first = JSON.parse(a.out[0]);
    expect(first.calls).toBeLessThanOrEqual(80);
    expect(first.score).toBeGreaterThan(first.initial_score);
    const b = io();
    expect(await cmd('optimize').run([...args, '--resume'], b.io)).toBe(0);
    const second = JSON.parse(b.out[0]);
    expect(second.best).toBe(first.best);
    expect(second.calls).toBe(first.calls);
    const res = JSON.parse(await fs.readFile(path.join(dir, 'result.json'), 'utf8'));
    expect(res.result.freshCalls).toBe(0);
  });

  it('--objectives and --select are checked before anything runs: unknown names, unreadable parts, --select alone', async () => {
    const base = ['--task', TASK, '--model', MODEL, '--out', path.join(os.tmpdir(), 'pk-unused')];
    await expect(cmd('optimize').run([...base, '--objectives', 'score,speed'], io().io)).rejects.toThrow(/optimize --objectives: unknown objective "speed"/);
    await expect(cmd('optimize').run([...base, '--objectives', 'score,cost', '--select', 'cost<0.1'], io().io)).rejects.toThrow(/optimize --select: cannot read "cost<0.1"/);
    await expect(cmd('optimize').run([...base, '--select', 'score=1'], io().io)).rejects.toThrow(/--select needs --objectives/);
    await expect(cmd('optimize').run([...base, '--objectives', 'score', '--select', 'latency<=5'], io().io)).rejects.toThrow(/names "latency", which is not among the objectives score/);
  });
});
