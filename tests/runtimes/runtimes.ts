// Finds the Deno, Bun and workerd binaries that `npm ci` installed (pinned devDependencies) and
// lays out a scratch project in which `promptkiln` resolves to this checkout through its package
// name, as after `npm i promptkiln`.
//
// Each runtime's binary ships inside a platform package (an optional dependency of the wrapper).
// The wrappers' postinstall scripts only copy or link it (Bun's moves it to bun/bin/bun.exe), and
// npm may skip install scripts, so both places are tried: no script has to have run.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_DIR } from '../helpers/paths.js';

export type Runtime = 'deno' | 'bun' | 'workerd';

const NM = path.join(REPO_DIR, 'node_modules');
export const APPS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'apps');

function candidates(rt: Runtime): string[] {
  const { platform, arch } = process;
  switch (rt) {
    case 'deno':
      return [`@deno/${platform}-${arch}${platform === 'linux' ? '-glibc' : ''}/deno`, 'deno/deno'];
    case 'bun': {
      const a = arch === 'arm64' ? 'aarch64' : arch;
      return [`@oven/bun-${platform}-${a}/bin/bun`, `@oven/bun-${platform}-${a}-baseline/bin/bun`, 'bun/bin/bun.exe'];
    }
    case 'workerd':
      return [`@cloudflare/workerd-${platform}-${arch === 'x64' ? '64' : arch}/bin/workerd`, 'workerd/bin/workerd'];
  }
}

export function runtimeBinary(rt: Runtime): string {
  const tried = candidates(rt).map((c) => path.join(NM, c));
  // the wrappers ship small placeholder files where the binary goes until postinstall replaces them
  const found = tried.find((p) => existsSync(p) && statSync(p).size > 1_000_000);
  if (!found) throw new Error(`no ${rt} binary for ${process.platform}-${process.arch}; tried:\n  ${tried.join('\n  ')}\n(run \`npm ci\`)`);
  return found;
}

// A scratch project: node_modules/promptkiln → this checkout, the apps copied beside.
export function scratchProject(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `promptkiln-${prefix}-`));
  mkdirSync(path.join(dir, 'node_modules'));
  symlinkSync(REPO_DIR, path.join(dir, 'node_modules', 'promptkiln'), 'dir');
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `scratch-${prefix}`, private: true, type: 'module' }));
  for (const f of ['run.mjs', 'workload.mjs']) copyFileSync(path.join(APPS_DIR, f), path.join(dir, f));
  return dir;
}

export interface WorkloadResult {
  runtime: string;
  entry: string;
  build: string;
  ms: Record<string, number>;
  first: number;
  scores: number[];
  text: string;
  tokens: number[];
  losses: number[];
}
