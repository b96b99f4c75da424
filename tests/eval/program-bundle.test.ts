// The program path (loadProgram → render / run) carries no Node API: bundled for a neutral
// platform with esbuild and run in a bare V8 context that has no process, require, Buffer, fs
// or fetch — as in a browser or an edge worker — it renders and runs a program.
import path from 'node:path';
import vm from 'node:vm';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { REPO_DIR } from '../helpers/paths.js';

const PROGRAM = {
  promptkiln_program: 1, name: 'mood', kind: 'typed',
  fields: { inputs: { text: 'string' }, outputs: { mood: { type: 'class', labels: ['happy', 'sad'] }, score: 'number' } },
  instruction: 'Rate the mood.',
  demos: [{ inputs: { text: 'I won!' }, outputs: { mood: 'happy', score: 0.9 } }],
  rendering: { mode: 'auto' }, parsing: { format: 'json', retries: 1 },
  model: { id: 'x', generation: { maxTokens: 64, temperature: 0, stop: [] } },
  metric: 'fields', scores: {}, cost: {}, provenance: {},
};

describe('loadProgram without Node', () => {
  it('bundles for the neutral platform with no node: import, and renders and runs in a bare context', async () => {
    const r = await build({
      entryPoints: [path.join(REPO_DIR, 'src/eval/program.ts')], bundle: true, platform: 'neutral', format: 'iife', globalName: 'pk', write: false, logLevel: 'silent',
    });
    const code = r.outputFiles[0].text;
    expect(code).not.toMatch(/["']node:/);
    // only what every JS engine has; a chat model that answers badly once, then well
    const seen: unknown[] = [];
    const ctx = vm.createContext({ seen, program: PROGRAM, out: null as unknown, done: null as unknown });
    vm.runInContext(code, ctx);
    vm.runInContext(`
      const p = pk.loadProgram(program);
      const rendered = p.render({ text: 'I lost.' });
      let n = 0;
      const lm = { id: 'bare', generate: async () => { throw new Error('chat expected'); },
        chat: async (messages) => { seen.push(messages); return { texts: [n++ === 0 ? '{"mood": "gloomy", "score": 0.1}' : '{"mood": "sad", "score": 0.1}'], usage: { promptTokens: 1, completionTokens: 1 } }; } };
      done = p.run(lm, { text: 'I lost.' }).then((o) => { out = { rendered, o, hasProcess: typeof process, hasRequire: typeof require }; });
    `, ctx);
    await ctx.done;
    const o = ctx.out as { rendered: { messages: { role: string; content: string }[] }; o: unknown; hasProcess: string; hasRequire: string };
    expect(o.hasProcess).toBe('undefined');
    expect(o.hasRequire).toBe('undefined');
    expect(o.o).toEqual({ mood: 'sad', score: 0.1 });
    expect(o.rendered.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(o.rendered.messages[2].content).toBe('{"mood":"happy","score":0.9}');
    // the retry showed the model its error
    expect(JSON.stringify((seen as unknown[][])[1].at(-1))).toMatch(/field \\"mood\\": expected one of \[\\"happy\\",\\"sad\\"\], found \\"gloomy\\"/);
  });
});
