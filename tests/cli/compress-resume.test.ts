import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MODELS_DIR, REPO_DIR } from '../helpers/paths.js';
import { runCli } from './run-cli.js';

const STORIES = path.join(MODELS_DIR, 'stories260K');
const STORY = 'Once upon a time, there was a little girl named Lily. She loved to play with her red ball in the garden. One day, the ball rolled into the pond. Lily was sad. Her friend Tom came and helped her get the ball back. Lily said thank you to Tom.';

// A compression killed mid-run (SIGKILL, no chance to clean up) resumes from its last checkpoint.
describe('compress --resume after a kill', () => {
  it('continues from DIR/compress_state.json and finishes; a foreign state file is refused', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pk-compress-resume-'));
    const ctxFile = path.join(dir, 'story.txt');
    writeFileSync(ctxFile, STORY);
    const out = path.join(dir, 'out');
    const state = path.join(out, 'compress_state.json');
    const args = ['compress', '--model', STORIES, '--context', ctxFile, '--tokens', '4', '--steps', '3000', '--out', out, '--json'];
    const child = spawn(process.execPath, [path.join(REPO_DIR, 'dist/cli.js'), ...args], { stdio: 'ignore' });
    const exited = new Promise((r) => child.on('exit', r));
    const t0 = Date.now();
    while (!existsSync(state) && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await exited;
    expect(existsSync(state)).toBe(true);
    const saved = JSON.parse(readFileSync(state, 'utf8'));
    expect(saved.step).toBeGreaterThan(0);
    expect(saved.step).toBeLessThan(3000);

    const r = await runCli([...args, '--resume'], {}, 180_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`at step ${saved.step}`);
    expect(JSON.parse(r.stdout).kl_after).toBeLessThan(JSON.parse(r.stdout).kl_before);
    expect(existsSync(state)).toBe(false); // finished runs leave nothing to resume

    writeFileSync(state, JSON.stringify({ ...saved, fingerprint: 'another run' }));
    const foreign = await runCli([...args, '--resume']);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toMatch(/\[DATA\].*other settings/);
  }, 240_000);
});
