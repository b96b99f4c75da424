// Installs the system packages the test suite needs (the `pretest` of `npm test`), so the README's
// test command passes on a fresh Debian machine: apt-get as root, or through sudo when it needs no
// password; elsewhere it names the packages and the one command that installs them, and fails.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

// Each requirement: what it is for, how to tell it is there, and the Debian packages that bring it.
export const REQUIREMENTS = [
  { what: 'headless Chromium (browser, worker and WebGPU hosts)', ok: () => existsSync('/usr/bin/chromium'), apt: ['chromium'] },
  { what: 'wasm2c and wasm-interp (C host, interpreter self-test)', ok: () => onPath('wasm2c') && onPath('wasm-interp'), apt: ['wabt'] },
  { what: 'gcc and libc headers (C host built from wasm2c output)', ok: () => onPath('gcc') && existsSync('/usr/include/stdio.h'), apt: ['gcc', 'libc6-dev'] },
  { what: 'onnx for /usr/bin/python3 (onnx.checker on exported graphs)', ok: () => pyImports('onnx'), apt: ['python3-onnx'] },
  { what: 'PyTorch for /usr/bin/python3 (reads our PEFT files as PEFT does)', ok: () => pyImports('torch'), apt: ['python3-torch', 'python3-numpy'] },
];

function onPath(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function pyImports(mod) {
  return existsSync('/usr/bin/python3') && spawnSync('/usr/bin/python3', ['-c', `import ${mod}`], { stdio: 'ignore' }).status === 0;
}

export function missingRequirements() {
  return REQUIREMENTS.filter((r) => !r.ok());
}

function main() {
  const missing = missingRequirements();
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.flatMap((r) => r.apt))];
  const listed = missing.map((r) => `  - ${r.what}: ${r.apt.join(' ')}`).join('\n');
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = existsSync('/usr/bin/apt-get');
  const sudoOk = !isRoot && onPath('sudo') && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
  if (!hasApt || (!isRoot && !sudoOk)) {
    console.error(
      `test-system: the tests need these system packages, which are missing:\n${listed}\n` +
        `Install them with:\n  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${pkgs.join(' ')}\n` +
        (hasApt ? '' : '(names are Debian/Ubuntu packages; on other systems install the equivalents)\n'),
    );
    process.exit(1);
  }
  console.log(`test-system: installing missing packages:\n${listed}`);
  const pre = isRoot ? [] : ['sudo', '-n'];
  const run = (args) => {
    const [cmd, ...rest] = [...pre, ...args];
    execFileSync(cmd, rest, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  };
  run(['apt-get', 'update']);
  run(['apt-get', 'install', '-y', '--no-install-recommends', ...pkgs]);
  const still = missingRequirements();
  if (still.length) {
    console.error(`test-system: still missing after apt-get install:\n${still.map((r) => `  - ${r.what}`).join('\n')}`);
    process.exit(1);
  }
}

main();
