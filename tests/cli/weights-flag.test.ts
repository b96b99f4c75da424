// --weights f32|bf16|auto on the commands that load a model: it reaches loadModel (bf16 rounding
// moves the log-probs a little, f32 equals the API's default), and bad values are refused.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/model/index.js';
import { PromptkilnError } from '../../src/errors.js';
import { cmd, io } from '../helpers/cli-io.js';
import { REFS_DIR } from '../helpers/paths.js';

const QWEN2 = path.join(REFS_DIR, 'hf', 'qwen2');
const scoreArgs = ['--model', QWEN2, '--prompt', 'Hello there', '--target', ' general Kenobi', '--json', '--backend', 'wasm'];

async function score(extra: string[]): Promise<{ total: number; logprobs: number[] }> {
  const a = io();
  await cmd('score').run([...scoreArgs, ...extra], a.io);
  return JSON.parse(a.out.join('\n')) as { total: number; logprobs: number[] };
}

describe('--weights', () => {
  it('score --weights f32 equals the API; bf16 differs within what bf16 rounding implies', async () => {
    const m = await loadModel(QWEN2, { weights: 'f32' });
    const api = await m.score('Hello there', ' general Kenobi');
    m.dispose();
    const f32 = await score(['--weights', 'f32']);
    const bf16 = await score(['--weights', 'bf16']);
    expect(f32.logprobs).toEqual(api.logprobs);
    const d = Math.max(...bf16.logprobs.map((v, i) => Math.abs(v - f32.logprobs[i])));
    expect(d).toBeGreaterThan(0); // the flag reached the loader: weights were rounded
    expect(d).toBeLessThan(0.1);
  });

  it('generate --weights bf16 runs; a bad value and bf16 with --backend ort are ARGUMENT errors', async () => {
    const a = io();
    await cmd('generate').run(['--model', QWEN2, '--prompt', 'Hello', '--max-tokens', '3', '--weights', 'bf16', '--json'], a.io);
    expect((JSON.parse(a.out.join('\n')) as { tokens: number[] }).tokens.length).toBeGreaterThan(0);
    for (const [name, argv] of [
      ['score', [...scoreArgs.slice(0, -2), '--weights', 'f16']],
      ['generate', ['--model', QWEN2, '--prompt', 'Hi', '--weights', 'half']],
      ['score', [...scoreArgs.slice(0, -2), '--backend', 'ort', '--weights', 'bf16']],
    ] as const) {
      const b = io();
      const e = await cmd(name).run([...argv], b.io).then(() => null, (x: unknown) => x);
      expect(e).toBeInstanceOf(PromptkilnError);
      expect((e as PromptkilnError).code).toBe('ARGUMENT');
      expect((e as Error).message).toMatch(/--weights/);
    }
  });
});
