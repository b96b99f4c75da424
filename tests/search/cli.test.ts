// `promptkiln optimize` and `promptkiln serve` through the command registry, with real files,
// the real model and a real loopback server; the CLI I/O is captured in memory.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import '../../src/cli/commands/index.js';
import type { CliIO } from '../../src/cli/command.js';
import { commands } from '../../src/cli/registry.js';
import { serve } from '../../src/llm/server.js';
import { loadModel } from '../../src/model/index.js';
import { MODELS_DIR } from '../helpers/paths.js';

const FIXTURES = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures');
const MODEL = path.join(MODELS_DIR, 'stories260K');

function io(signal = new AbortController().signal) {
  const out: string[] = [];
  const err: string[] = [];
  const x: CliIO = { out: (s) => out.push(s), err: (s) => err.push(s), isTTY: false, signal };
  return { io: x, out, err };
}
const cmd = (name: string) => commands.find((c) => c.name === name)!;

describe('promptkiln optimize (CLI)', () => {
  it('runs GrIPS on the local model, prints --json, writes run.jsonl, cache, result and report.html; --resume repeats nothing', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-cli-'));
    const args = ['--task', path.join(FIXTURES, 'tom-stories.json'), '--model', MODEL, '--strategy', 'grips', '--budget', '120', '--seed', '1', '--iterations', '3', '--out', dir, '--json'];
    const a = io();
    expect(await cmd('optimize').run(args, a.io)).toBe(0);
    const j = JSON.parse(a.out[0]);
    expect(Object.keys(j)).toEqual(expect.arrayContaining(['best', 'score', 'initial_score', 'calls']));
    expect(j.calls).toBeLessThanOrEqual(120);
    expect(j.score).toBeGreaterThanOrEqual(j.initial_score);
    expect(a.err.some((l) => /^iteration 1 /.test(l))).toBe(true);
    expect(a.err[0]).toMatch(/estimated ≤ \d+ model calls/);
    const html = await fs.readFile(path.join(dir, 'report.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('Lineage of the best prompt');
    const log = (await fs.readFile(path.join(dir, 'run.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(log.filter((e) => e.type === 'candidate').length).toBeGreaterThan(3);
    expect(log.at(-1).type).toBe('result');

    const b = io();
    expect(await cmd('optimize').run([...args, '--resume'], b.io)).toBe(0);
    expect(JSON.parse(b.out[0])).toEqual(j);
    const res = JSON.parse(await fs.readFile(path.join(dir, 'result.json'), 'utf8'));
    expect(res.result.freshCalls).toBe(0);
    expect(b.err.some((l) => l.startsWith('resuming:'))).toBe(true);
  });

  it('--endpoint: runs against an OpenAI-compatible server; the API key is not written anywhere in DIR', async () => {
    const model = await loadModel(MODEL);
    const srv = await serve(model, { port: 0, name: 'tiny' });
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-cli-ep-'));
    const old = process.env.OPENAI_API_KEY;
    process.env.OPENAI_API_KEY = 'sk-very-SECRET-key-42';
    try {
      const a = io();
      const code = await cmd('optimize').run(['--task', path.join(FIXTURES, 'tom-stories.json'), '--endpoint', srv.url, '--llm-model', 'tiny', '--strategy', 'opro', '--iterations', '1', '--candidates', '3', '--out', dir, '--json'], a.io);
      expect(code).toBe(0);
      expect(JSON.parse(a.out[0]).calls).toBeGreaterThan(0);
      for (const f of await fs.readdir(dir)) expect(await fs.readFile(path.join(dir, f), 'utf8')).not.toContain('SECRET');
      expect(a.err.join('\n')).not.toContain('SECRET');
    } finally {
      if (old === undefined) delete process.env.OPENAI_API_KEY;
      else process.env.OPENAI_API_KEY = old;
      await srv.close();
    }
  });

  it('bad arguments are typed errors', async () => {
    const t = path.join(FIXTURES, 'tom-stories.json');
    await expect(cmd('optimize').run(['--task', t, '--model', MODEL, '--out', '/tmp/x', '--budget', '0'], io().io)).rejects.toMatchObject({ code: 'BUDGET' });
    await expect(cmd('optimize').run(['--task', t, '--model', MODEL, '--out', '/tmp/x', '--strategy', 'magic'], io().io)).rejects.toMatchObject({ code: 'ARGUMENT', message: expect.stringMatching(/unknown strategy "magic"/) });
    await expect(cmd('optimize').run(['--task', t, '--out', '/tmp/x'], io().io)).rejects.toMatchObject({ code: 'ARGUMENT' });
    await expect(cmd('optimize').run(['--task', t, '--endpoint', 'http://127.0.0.1:9/v1', '--llm-model', 'x', '--strategy', 'rl', '--out', '/tmp/x'], io().io)).rejects.toMatchObject({ code: 'ARGUMENT', message: expect.stringMatching(/rl needs a local --model/) });
    await expect(cmd('optimize').run(['--task', '/nonexistent.json', '--model', MODEL, '--out', '/tmp/x'], io().io)).rejects.toMatchObject({ code: 'DATA' });
  });
});

describe('promptkiln optimize --strategy rl (CLI)', () => {
  it('trains the policy on the local model and reports a result', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-cli-rl-'));
    const a = io();
    expect(await cmd('optimize').run(['--task', path.join(FIXTURES, 'tom-stories.json'), '--model', MODEL, '--strategy', 'rl', '--iterations', '1', '--out', dir, '--json'], a.io)).toBe(0);
    const j = JSON.parse(a.out[0]);
    expect(j.score).toBeGreaterThanOrEqual(j.initial_score);
    const log = (await fs.readFile(path.join(dir, 'run.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(log.some((e) => e.type === 'candidate' && e.operator === 'rl')).toBe(true);
  });
});

describe('promptkiln serve (CLI)', () => {
  it('serves until the signal fires', async () => {
    const ac = new AbortController();
    const x = io(ac.signal);
    const done = cmd('serve').run(['--model', MODEL, '--port', '0', '--name', 'tiny'], x.io);
    for (let i = 0; i < 100 && !x.err.some((l) => l.startsWith('serving')); i++) await new Promise((r) => setTimeout(r, 20));
    const url = /at (http:\S+)/.exec(x.err.find((l) => l.startsWith('serving'))!)![1];
    const j = (await (await fetch(url + '/models')).json()) as { data: { id: string }[] };
    expect(j.data[0].id).toBe('tiny');
    ac.abort();
    expect(await done).toBe(0);
  });
});
