// tune / compress / optimize / adapter generation through the model worker's protocol: the worker
// host (model/worker-host.ts + worker-tasks.ts) on one end of a real MessageChannel (structured
// clone, transferred bytes), the page-side proxy (WorkerModel + worker-client.ts) on the other.
// Results must equal the same calls made in-process, and abort + resume from the checkpoint bytes
// must end where an uninterrupted run ends, bit for bit. (The browser's real Worker: tune-app.test.ts.)
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compress } from '../../src/compress/index.js';
import { localModel } from '../../src/llm/local.js';
import { loadModel, type Model } from '../../src/model/index.js';
import { WorkerModel, type WorkerLike } from '../../src/model/remote.js';
import { serveModel } from '../../src/model/worker-host.js';
import { defineTask } from '../../src/eval/task.js';
import { optimize } from '../../src/search/optimize.js';
import { CONFIG_FILE, decodeCheckpoint, decodePeft, toConditioning, tune, WEIGHTS_FILE } from '../../src/soft/index.js';
import { compressInWorker, generateInWorker, optimizeInWorker, tuneFilesInWorker, tuneInWorker } from '../../src/worker-client.js';
import { WORKER_TASKS } from '../../src/worker-tasks.js';
import { MODELS_DIR, REPO_DIR } from '../helpers/paths.js';

const MODEL = path.join(MODELS_DIR, 'stories260K');
const DATA = [
  { input: 'Once upon a time, there was a little girl.', target: ' Tom was happy.' },
  { input: 'One day, a boy went to the park.', target: ' Tom was happy.' },
  { input: 'Lily had a red ball.', target: ' Tom was happy.' },
  { input: 'The sun was shining.', target: ' Tom was happy.' },
];
const TUNE = { virtualTokens: 4, maxSteps: 20, batchSize: 2, lr: 0.1, seed: 3 };

// A "worker" whose other end is served in this process, over a real MessageChannel.
function channelWorker(): WorkerLike {
  const { port1, port2 } = new MessageChannel();
  serveModel(port1 as never, WORKER_TASKS);
  port1.start();
  port2.start();
  return {
    postMessage: (m, t) => port2.postMessage(m, t ?? []),
    addEventListener: (type, fn) => port2.addEventListener(type as 'message', fn),
    terminate: () => { port1.close(); port2.close(); },
  };
}

let model: Model;
let wm: WorkerModel;

beforeAll(async () => {
  model = await loadModel(MODEL);
  wm = await WorkerModel.load(MODEL, { worker: channelWorker() });
});
afterAll(async () => {
  await wm?.dispose();
  model?.dispose();
});

describe('tune in the model worker', () => {
  it('streams every step, returns the in-process prompt bit for bit as PEFT files, and an abort resumes from the checkpoint bytes exactly', async () => {
    const steps: number[] = [];
    const r = await tuneInWorker(wm, DATA, { ...TUNE, onProgress: (e) => steps.push(e.step) });
    expect(steps).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const local = await tune(model, DATA, TUNE);
    expect(r.prompt.kind).toBe('prompt');
    expect([...(r.prompt as { data: Float32Array }).data]).toEqual([...(local.prompt as { data: Float32Array }).data]);
    expect(r.history.map((h) => h.loss)).toEqual(local.history.map((h) => h.loss));
    const back = decodePeft(r.files[CONFIG_FILE], r.files[WEIGHTS_FILE], model);
    expect([...(back as { data: Float32Array }).data]).toEqual([...(local.prompt as { data: Float32Array }).data]);

    // the page's Stop button at step 5 of 80: the abort message reaches the worker at its next
    // yield (every YIELD_MS of work), long before the end; the page then holds the last checkpoint
    const LONG = { ...TUNE, maxSteps: 80, checkpointEvery: 5 };
    const ac = new AbortController();
    const saved: Uint8Array[] = [];
    const err = await tuneInWorker(wm, DATA, {
      ...LONG, signal: ac.signal, onCheckpoint: (b) => saved.push(b),
      onProgress: (e) => { if (e.step === 5) ac.abort(); },
    }).catch((e) => e);
    expect(err.code).toBe('ABORTED');
    const last = decodeCheckpoint(saved.at(-1)!);
    expect(last.step).toBe(5 * saved.length);
    expect(last.step).toBeLessThan(80);
    // the files of the stopped run (the app's Download after Stop) hold the checkpoint's rows
    const stopped = await tuneFilesInWorker(wm, saved.at(-1)!, LONG);
    expect(stopped.step).toBe(last.step);
    expect([...(decodePeft(stopped.files[CONFIG_FILE], stopped.files[WEIGHTS_FILE], model) as { data: Float32Array }).data]).toEqual([...last.params[0]]);
    await expect(tuneFilesInWorker(wm, saved.at(-1)!, { ...LONG, virtualTokens: 2 })).rejects.toMatchObject({ code: 'DATA' });
    const resumedSteps: number[] = [];
    const resumed = await tuneInWorker(wm, DATA, { ...LONG, resume: saved.at(-1), onProgress: (e) => resumedSteps.push(e.step) });
    expect(resumedSteps[0]).toBe(last.step + 1);
    const whole = await tune(model, DATA, LONG);
    expect([...(resumed.prompt as { data: Float32Array }).data]).toEqual([...(whole.prompt as { data: Float32Array }).data]);

    // generation under the downloaded files equals in-process generation under the same prompt
    const gen = await generateInWorker(wm, 'Once upon a time', { adapter: r.files, maxTokens: 12 });
    const want = await model.generate('Once upon a time', { maxTokens: 12, conditioning: toConditioning(local.prompt) });
    expect(gen.tokens).toEqual(want.tokens);
    const plain = await generateInWorker(wm, 'Once upon a time', { maxTokens: 12 });
    expect(plain.tokens).toEqual((await model.generate('Once upon a time', { maxTokens: 12 })).tokens);
  }, 60_000);

  it('refuses what cannot cross, by name, and a resume that is not checkpoint bytes', async () => {
    await expect(tuneInWorker(wm, DATA, { ...TUNE, resume: 'x' as never })).rejects.toMatchObject({ code: 'ARGUMENT', message: expect.stringContaining('resume') });
    await expect(compressInWorker(wm, 'Once upon a time', { method: 'recurrent', compressor: {} as never })).rejects.toMatchObject({ code: 'ARGUMENT', message: expect.stringContaining('"compressor"') });
    await expect(optimizeInWorker(wm, {}, { onEvent: () => {} })).rejects.toMatchObject({ code: 'ARGUMENT', message: expect.stringContaining('"onEvent"') });
    await expect(wm.runTask('nope', [], {})).rejects.toMatchObject({ code: 'ARGUMENT', message: expect.stringContaining('"nope"') });
  });
});

describe('compress and optimize in the model worker', () => {
  it('compress: progress per step, σ equal to the in-process run, resumable from checkpoint bytes', async () => {
    const ctx = 'Once upon a time, there was a little girl named Lily. She loved to play outside.';
    const o = { tokens: 2, steps: 8, numQueries: 4, numHeldOut: 2, queryTokens: 6, seed: 1 };
    const steps: number[] = [];
    const saved: Uint8Array[] = [];
    const r = await compressInWorker(wm, ctx, { ...o, checkpointEvery: 4, onCheckpoint: (b) => saved.push(b), onProgress: (e) => steps.push(e.step) });
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const local = await compress(model, ctx, o);
    expect([...r.compressed.sigma]).toEqual([...local.compressed.sigma]);
    expect(r.after.kl).toBe(local.after.kl);
    const after: number[] = [];
    const resumed = await compressInWorker(wm, ctx, { ...o, checkpointEvery: 4, resume: saved[0], onProgress: (e) => after.push(e.step) });
    expect(after).toEqual([5, 6, 7, 8]);
    expect([...resumed.compressed.sigma]).toEqual([...local.compressed.sigma]);
  }, 60_000);

  it('optimize: the in-process winner; the checkpoint bytes (its cache) replay the whole run with no fresh call', async () => {
    const dir = path.join(REPO_DIR, 'tests/search/fixtures');
    const spec = JSON.parse(readFileSync(path.join(dir, 'tom-stories.json'), 'utf8'));
    delete spec.data;
    spec.examples = readFileSync(path.join(dir, 'tom-stories.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const o = { strategy: 'grips' as const, seed: 0, maxIterations: 1, candidatesPerIteration: 3, testScore: false };
    let bytes: Uint8Array | null = null;
    const events: string[] = [];
    const r = await optimizeInWorker(wm, spec, { ...o, onCheckpoint: (b) => (bytes = b), onProgress: (e) => events.push(e.type) });
    expect(events[0]).toBe('start');
    expect(events.at(-1)).toBe('done');
    const local = await optimize(await defineTask(spec), localModel(model), o);
    expect(r.best.instruction).toBe(local.best.instruction);
    expect(r.score).toBe(local.score);
    expect(r.freshCalls).toBeGreaterThan(0);
    const again = await optimizeInWorker(wm, spec, { ...o, resume: bytes! });
    expect(again.freshCalls).toBe(0);
    expect(again.calls).toBe(r.calls);
    expect(again.best.instruction).toBe(r.best.instruction);
  }, 60_000);
});
