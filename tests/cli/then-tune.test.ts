import { mkdtempSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MODELS_DIR, REPO_DIR } from '../helpers/paths.js';
import { runCli } from './run-cli.js';

const STORIES = path.join(MODELS_DIR, 'stories260K');
const TASK = path.join(REPO_DIR, 'tests/search/fixtures/tom-stories.json');

// Hard → soft, orchestrated by the CLI: GrIPS finds an instruction, then prompt tuning starts from
// its text and trains on the task's pairs; the PEFT files it writes score through --adapter.
describe('optimize --then-tune', () => {
  it('hands the winning prompt to prompt tuning and the tuned adapter scores the task better', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pk-then-tune-'));
    const r = await runCli(['optimize', '--task', TASK, '--model', STORIES, '--strategy', 'grips', '--budget', '60', '--iterations', '2',
      '--out', dir, '--then-tune', '--tune-steps', '40', '--json'], {}, 180_000);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.tuned.virtual_tokens).toBeGreaterThan(0);
    expect(out.tuned.valid_loss_after).toBeLessThan(out.tuned.valid_loss_before);
    const cfg = JSON.parse(readFileSync(path.join(dir, 'tuned/adapter_config.json'), 'utf8'));
    expect(cfg.peft_type).toBe('PROMPT_TUNING');
    expect(cfg.prompt_tuning_init).toBe('TEXT');
    expect(existsSync(path.join(dir, 'tuned/adapter_model.safetensors'))).toBe(true);

    // the adapter applies in score: a task target after the same input, with and without it
    const ex = JSON.parse(readFileSync(TASK.replace(/\.json$/, '.jsonl'), 'utf8').split('\n')[0]);
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
