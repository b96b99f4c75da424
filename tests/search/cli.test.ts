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
const TASK = path.join(FIXTURES, 'tom-stories.json');
const MODEL = path.join(MODELS_DIR, 'stories260K');
const VALIDATION = 9; // tom-stories: 36 examples, split 0.5 / 0.25 / 0.25

// Captured CLI I/O; lineOn(re) resolves with the first stderr line matching re (the readiness signal).
function io(signal = new AbortController().signal) {
  const out: string[] = [];
  const err: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const x: CliIO = {
    out: (s) => out.push(s),
    err: (s) => {
      err.push(s);
      for (const w of waiters.filter((w) => w.re.test(s))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(s);
      }
    },
    isTTY: false,
    signal,
  };
  const lineOn = (re: RegExp) => new Promise<string>((resolve) => waiters.push({ re, resolve }));
  return { io: x, out, err, lineOn };
}
const cmd = (name: string) => commands.find((c) => c.name === name)!;
const readLog = async (dir: string) => (await fs.readFile(path.join(dir, 'run.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
const candidates = (log: any[]) => log.filter((e) => e.type === 'candidate');

// The best candidate's ancestry from the run log, root first.
function ancestry(log: any[], instruction: string): any[] {
  const byId = new Map(candidates(log).map((c) => [c.id, c]));
  const chain: any[] = [];
  for (let c = candidates(log).find((e) => e.instruction === instruction); c; c = c.parent ? byId.get(c.parent) : undefined) chain.unshift(c);
  return chain;
}

describe('promptkiln optimize (CLI)', () => {
  it('GrIPS on the local model beats the initial prompt on the held-out test split; the winner\'s lineage is logged; --resume repeats nothing', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-cli-'));
    const args = ['--task', TASK, '--model', MODEL, '--strategy', 'grips', '--budget', '120', '--seed', '1', '--iterations', '3', '--out', dir, '--json'];
    const a = io();
    expect(await cmd('optimize').run(args, a.io)).toBe(0);
    const j = JSON.parse(a.out[0]);
    expect(j.calls).toBeLessThanOrEqual(120);
    // strictly better on validation (what search selects on) and on test (which it never saw)
    expect(j.score).toBeGreaterThan(j.initial_score);
    expect(j.test_score).toBeGreaterThan(j.initial_test_score);
    expect(j.best).not.toBe('A story.');
    expect(a.err.some((l) => /^iteration 1 /.test(l))).toBe(true);
    expect(a.err[0]).toMatch(/estimated ≤ \d+ model calls/);

    // provenance: the winner is a GrIPS edit whose parents lead back to the manual prompt, and
    // result.json names the same lineage
    const log = await readLog(dir);
    const chain = ancestry(log, j.best);
    expect(chain[0]).toMatchObject({ id: 'c0', parent: null, operator: 'manual', instruction: 'A story.' });
    expect(chain.length).toBeGreaterThan(1);
    expect(chain.slice(1).every((c) => c.operator.startsWith('grips:'))).toBe(true);
    expect(chain.at(-1).score).toBe(j.score);
    expect(chain.at(-1).n).toBe(VALIDATION);
    const res = JSON.parse(await fs.readFile(path.join(dir, 'result.json'), 'utf8'));
    expect(res.result.lineage.map((c: any) => c.id)).toEqual(chain.map((c) => c.id));
    expect(log.at(-1)).toMatchObject({ type: 'result', instruction: j.best, score: j.score });
    const html = await fs.readFile(path.join(dir, 'report.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('Lineage of the best prompt');

    const b = io();
    expect(await cmd('optimize').run([...args, '--resume'], b.io)).toBe(0);
    expect(JSON.parse(b.out[0])).toEqual(j);
    const res2 = JSON.parse(await fs.readFile(path.join(dir, 'result.json'), 'utf8'));
    expect(res2.result.freshCalls).toBe(0);
    expect(b.err.some((l) => l.startsWith('resuming:'))).toBe(true);
  });

  it('--racing exhaustive scores every candidate on all validation examples; --racing halving stops weak ones early with fewer calls', async () => {
    const run = async (racing: string) => {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), `pk-cli-${racing}-`));
      const a = io();
      expect(await cmd('optimize').run(['--task', TASK, '--model', MODEL, '--strategy', 'grips', '--seed', '1', '--iterations', '1', '--candidates', '8', '--racing', racing, '--out', dir, '--json'], a.io)).toBe(0);
      return { j: JSON.parse(a.out[0]), cands: candidates(await readLog(dir)) };
    };
    const ex = await run('exhaustive');
    const hv = await run('halving');
    expect(ex.cands.length).toBeGreaterThan(4);
    expect(ex.cands.every((c) => c.n === VALIDATION && !c.pruned)).toBe(true);
    expect(hv.cands.some((c) => c.pruned && c.n < VALIDATION)).toBe(true);
    expect(hv.j.calls).toBeLessThan(ex.j.calls);
  });

  it('--endpoint: runs against an OpenAI-compatible server; --api chat sends the proposals to /chat/completions; the API key is not written anywhere in DIR', async () => {
    const model = await loadModel(MODEL);
    const requests: string[] = [];
    const srv = await serve(model, { port: 0, name: 'tiny', log: (l) => requests.push(l) });
    const old = process.env.OPENAI_API_KEY;
    process.env.OPENAI_API_KEY = 'sk-very-SECRET-key-42';
    try {
      const run = async (api: string[]) => {
        const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-cli-ep-'));
        const a = io();
        requests.length = 0;
        const code = await cmd('optimize').run(['--task', TASK, '--endpoint', srv.url, '--llm-model', 'tiny', '--strategy', 'opro', '--iterations', '1', '--candidates', '3', ...api, '--out', dir, '--json'], a.io);
        expect(code).toBe(0);
        for (const f of await fs.readdir(dir)) expect(await fs.readFile(path.join(dir, f), 'utf8')).not.toContain('SECRET');
        expect(a.err.join('\n')).not.toContain('SECRET');
        const chat = requests.filter((l) => l.startsWith('POST /v1/chat/completions 200')).length;
        const completions = requests.filter((l) => l.startsWith('POST /v1/completions 200')).length;
        return { j: JSON.parse(a.out[0]), chat, completions, log: await readLog(dir) };
      };
      const chat = await run(['--api', 'chat']);
      // OPRO's proposals go to /chat/completions; scoring always uses /completions (echo + logprobs)
      expect(chat.chat).toBeGreaterThan(0);
      expect(chat.completions).toBeGreaterThan(0);
      expect(candidates(chat.log).some((c) => c.operator === 'opro')).toBe(true);
      const plain = await run([]);
      expect(plain.chat).toBe(0);
      expect(plain.j.calls).toBeGreaterThan(0);
    } finally {
      if (old === undefined) delete process.env.OPENAI_API_KEY;
      else process.env.OPENAI_API_KEY = old;
      await srv.close();
    }
  });

  it('bad arguments are typed errors', async () => {
    const t = TASK;
    const run = (args: string[]) => cmd('optimize').run(args, io().io);
    await expect(run(['--task', t, '--model', MODEL, '--out', '/tmp/x', '--budget', '0'])).rejects.toMatchObject({ code: 'BUDGET' });
    await expect(run(['--task', t, '--model', MODEL, '--out', '/tmp/x', '--strategy', 'magic'])).rejects.toMatchObject({ code: 'ARGUMENT', message: expect.stringMatching(/unknown strategy "magic"/) });
    await expect(run(['--task', t, '--out', '/tmp/x'])).rejects.toMatchObject({ code: 'ARGUMENT' });
    await expect(run(['--task', t, '--endpoint', 'http://127.0.0.1:9/v1', '--llm-model', 'x', '--strategy', 'rl', '--out', '/tmp/x'])).rejects.toMatchObject({ code: 'ARGUMENT', message: expect.stringMatching(/rl needs a local --model/) });
    await expect(run(['--task', '/nonexistent.json', '--model', MODEL, '--out', '/tmp/x'])).rejects.toMatchObject({ code: 'DATA' });
    await expect(run(['--task', t, '--model', MODEL, '--out', '/tmp/x', '--racing', 'fastest'])).rejects.toMatchObject({ code: 'ARGUMENT', message: expect.stringMatching(/--racing must be halving, ucb or exhaustive, got "fastest"/) });
    await expect(run(['--task', t, '--endpoint', 'http://127.0.0.1:9/v1', '--llm-model', 'x', '--api', 'soap', '--out', '/tmp/x'])).rejects.toMatchObject({ code: 'ARGUMENT', message: expect.stringMatching(/--api must be chat or completions, got "soap"/) });
    // --backend: tests/cli/commands.test.ts checks every command's
  });
});

describe('promptkiln optimize --strategy rl (CLI)', () => {
  it('trains the policy on the local model; its winner beats the initial prompt on the held-out test split', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-cli-rl-'));
    const a = io();
    expect(await cmd('optimize').run(['--task', TASK, '--model', MODEL, '--strategy', 'rl', '--iterations', '1', '--out', dir, '--json'], a.io)).toBe(0);
    const j = JSON.parse(a.out[0]);
    expect(j.score).toBeGreaterThan(j.initial_score);
    expect(j.test_score).toBeGreaterThan(j.initial_test_score);
    const chain = ancestry(await readLog(dir), j.best);
    expect(chain.map((c) => c.operator)).toEqual(['manual', 'rl']);
  });
});

describe('promptkiln serve (CLI)', () => {
  it('serves once it says so, until the signal fires', async () => {
    const ac = new AbortController();
    const x = io(ac.signal);
    let isReady = false;
    const ready = x.lineOn(/^serving /).then((l) => ((isReady = true), l));
    const done = cmd('serve').run(['--model', MODEL, '--port', '0', '--name', 'tiny'], x.io);
    // the command ending before its ready line is a failure, not a wait
    const early = done.then((code) => {
      if (!isReady) throw new Error(`serve returned ${code} before it was ready: ${x.err.join('\n')}`);
      return '';
    });
    early.catch(() => {}); // after the race, only `done` is awaited
    try {
      const line = await Promise.race([ready, early]);
      const url = /at (http:\S+)/.exec(line)![1];
      const j = (await (await fetch(url + '/models')).json()) as { data: { id: string }[] };
      expect(j.data[0].id).toBe('tiny');
    } finally {
      ac.abort(); // the server never outlives the test
    }
    expect(await done).toBe(0);
  });
});
