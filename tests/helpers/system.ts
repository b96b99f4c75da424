// Fails (never skips) when a system tool the suite needs is missing, naming the package that
// brings it; `npm test`'s pretest (scripts/test-system.mjs) installs them on Debian.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

export const PY = '/usr/bin/python3';

/** Throws unless /usr/bin/python3 can import `mod`; `pkg` is the Debian package that brings it. */
export function requirePython(mod: string, pkg: string): void {
  const ok = fs.existsSync(PY) && spawnSync(PY, ['-c', `import ${mod}`], { encoding: 'utf8' }).status === 0;
  if (!ok) throw new Error(`${PY} cannot import ${mod}: install Debian's ${pkg} (npm test's pretest does: node scripts/test-system.mjs)`);
}
