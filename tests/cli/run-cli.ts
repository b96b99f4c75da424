// Runs the built CLI (dist/cli.js, made by `npm test`'s build step) as a child process.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { REPO_DIR } from '../helpers/paths.js';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 120_000): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [path.join(REPO_DIR, 'dist/cli.js'), ...args], {
      cwd: REPO_DIR, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`promptkiln ${args.join(' ')} timed out\n${stderr}`)); }, timeoutMs);
    p.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}
