// A compression killed mid-run (SIGKILL, no chance to clean up) resumes from its last checkpoint.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/train/index.js';
import { MODELS_DIR, REPO_DIR } from '../helpers/paths.js';
import { runCli } from './run-cli.js';

const STORIES = path.join(MODELS_DIR, 'stories260K');
const STORY = 'Once upon a time, there was a little girl named Lily. She loved to play with her red ball in the garden. One day, the ball rolled into the pond. Lily was sad. Her friend Tom came and helped her get the ball back. Lily said thank you to Tom.';

describe('compress --resume after a kill', () => {
  it('continues from DIR/compress_state.safetensors and finishes; a foreign state file is refused', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pk-compress-resume-'));
    const ctxFile = path.join(dir, 'story.txt');
    writeFileSync(ctxFile, STORY);
    const out = path.join(dir, 'out');
    const state = path.join(out, 'compress_state.safetensors');
    const args = ['compress', '--model', STORIES, '--context', ctxFile, '--tokens', '4', '--steps', '300', '--queries-n', '8', '--query-tokens', '8', '--out', out, '--json'];
    const child = spawn(process.execPath, [path.join(REPO_DIR, 'dist/cli.js'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise((r) => child.on('exit', r));
    // kill as soon as the CLI announces its first checkpoint on disk
    const announced = await new Promise<string>((resolve, reject) => {
      let err = '';
      child.stderr.on('data', (d) => {
        err += d;
        const m = /checkpoint: step (\d+) saved/.exec(err);
        if (m) resolve(m[1]);
      });
      child.on('exit', () => reject(new Error(`compress exited before its first checkpoint:\n${err}`)));
    });
    child.kill('SIGKILL');
    await exited;
    expect(announced).toBe('25');
    const saved = decodeCheckpoint(new Uint8Array(readFileSync(state)), state);
    expect(saved.step % 25).toBe(0);
    expect(saved.step).toBeGreaterThanOrEqual(25);
    expect(saved.step).toBeLessThan(300);

    const r = await runCli([...args, '--resume'], {}, 180_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`at step ${saved.step}`);
    expect(JSON.parse(r.stdout).kl_after).toBeLessThan(JSON.parse(r.stdout).kl_before);
    expect(existsSync(state)).toBe(false); // finished runs leave nothing to resume

    // the same state with another learning rate recorded: refused, naming the setting
    writeFileSync(state, encodeCheckpoint({ ...saved, identity: { ...saved.identity, settings: { ...saved.identity.settings, lr: 0.5 } } }));
    const foreign = await runCli([...args, '--resume']);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toMatch(/\[DATA\].*other settings.*lr 0\.5 vs 0\.05/);
  }, 240_000);
});
