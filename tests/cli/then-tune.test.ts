// optimize --then-tune: a search winner's text initializes prompt tuning.
import { mkdtempSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTask } from '../../src/eval/task.js';
import { loadModel } from '../../src/model/index.js';
import { loadAdapter } from '../../src/soft/index.js';
import { MODELS_DIR, REPO_DIR } from '../helpers/paths.js';
import { runCli } from './run-cli.js';

const STORIES = path.join(MODELS_DIR, 'stories260K');
const TASK = path.join(REPO_DIR, 'tests/search/fixtures/tom-stories.json');

// Hard → soft, orchestrated by the CLI: GrIPS finds an instruction, then prompt tuning starts from
// its text and trains on the task's train pairs; the PEFT files it writes score through --adapter.
describe('optimize --then-tune', () => {
  it('tunes soft tokens initialized from the search winner\'s text; the saved adapter beats the winner on the held-out test split', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pk-then-tune-'));
    const r = await runCli(['optimize', '--task', TASK, '--model', STORIES, '--strategy', 'grips', '--budget', '60', '--iterations', '2',
      '--out', dir, '--then-tune', '--tune-steps', '40', '--json'], {}, 180_000);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    const task = await loadTask(TASK);
    const model = await loadModel(STORIES);

    // provenance: the soft tokens start from the winner's text (the template before {input}), not
    // the task's own instruction, one soft token per token of that text
    expect(out.best).not.toBe(task.instruction);
    expect(out.tuned.init_text).toBe(`${out.best} `); // template "{instruction} {demos}{input}", no demos
    expect(out.tuned.virtual_tokens).toBe(model.tokenizer!.encode(out.tuned.init_text, { bos: false }).length);
    const cfg = JSON.parse(readFileSync(path.join(dir, 'tuned/adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ peft_type: 'PROMPT_TUNING', prompt_tuning_init: 'TEXT', prompt_tuning_init_text: out.tuned.init_text, num_virtual_tokens: out.tuned.virtual_tokens });
    expect(existsSync(path.join(dir, 'tuned/adapter_model.safetensors'))).toBe(true);

    // the reported validation loss is the saved adapter's (NLL per target token over the validation split)
    const cond = await loadAdapter(path.join(dir, 'tuned'), model);
    const nll = async (examples: { input: string; output: string }[]) => {
      let sum = 0, tokens = 0, meanOfMeans = 0;
      for (const e of examples) {
        const s = await model.score(e.input, e.output, { conditioning: cond });
        sum += s.total;
        tokens += s.logprobs.length;
        meanOfMeans += s.total / s.logprobs.length / examples.length;
      }
      return { perToken: -sum / tokens, meanLoglik: meanOfMeans };
    };
    const valid = await nll(task.validation);
    expect(Math.abs(valid.perToken - out.tuned.valid_loss_after)).toBeLessThan(1e-5);
    // on the test split neither the search nor the tuning saw, the soft prompt beats the hard winner
    // (the evaluator's loglik score: mean over examples of the mean target-token log-likelihood)
    const test = await nll(task.test);
    expect(test.meanLoglik).toBeGreaterThan(out.test_score);
    expect(out.test_score).toBeGreaterThan(out.initial_test_score);
    model.dispose();

    // the adapter applies in the score command
    const ex = task.test[0];
    const base = await runCli(['score', '--model', STORIES, '--prompt', ex.input, '--target', ex.output, '--json', '--backend', 'wasm']);
    const withAdapter = await runCli(['score', '--model', STORIES, '--adapter', path.join(dir, 'tuned'), '--prompt', ex.input, '--target', ex.output, '--json', '--backend', 'wasm']);
    expect(withAdapter.code, withAdapter.stderr).toBe(0);
    expect(JSON.parse(withAdapter.stdout).total).toBeGreaterThan(JSON.parse(base.stdout).total);
  }, 240_000);

  it('refuses --then-tune with an endpoint (soft prompts need the local weights)', async () => {
    const r = await runCli(['optimize', '--task', TASK, '--endpoint', 'http://127.0.0.1:9', '--llm-model', 'x', '--out', mkdtempSync(path.join(tmpdir(), 'pk-tt-')), '--then-tune']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--then-tune needs a local --model/);
  });
});
