#!/usr/bin/env node
// The promptkiln CLI. Each command lives in commands/<name>.ts and is registered here.
import { isPromptkilnError } from '../errors.js';
import type { CliIO } from './command.js';
import { commands } from './registry.js';
import './commands/index.js';

function help(io: CliIO): void {
  io.out('usage: promptkiln <command> [options]\n\ncommands:');
  for (const c of commands) io.out(`  ${c.name.padEnd(10)} ${c.summary}`);
  io.out('\n`promptkiln <command> --help` shows its options.');
}

export async function main(argv: string[]): Promise<number> {
  const ac = new AbortController();
  const onSig = () => ac.abort(new Error('interrupted'));
  process.once('SIGINT', onSig);
  const io: CliIO = {
    out: (s) => process.stdout.write(s + '\n'),
    err: (s) => process.stderr.write(s + '\n'),
    isTTY: Boolean(process.stderr.isTTY),
    signal: ac.signal,
  };
  try {
    const [name, ...rest] = argv;
    if (!name || name === '--help' || name === '-h') {
      help(io);
      return name ? 0 : 1;
    }
    const cmd = commands.find((c) => c.name === name);
    if (!cmd) {
      io.err(`promptkiln: unknown command "${name}"`);
      help(io);
      return 2;
    }
    if (rest.includes('--help') || rest.includes('-h')) {
      io.out(cmd.usage);
      return 0;
    }
    return await cmd.run(rest, io);
  } catch (e) {
    if (isPromptkilnError(e)) {
      io.err(`promptkiln: error [${e.code}]: ${e.message}`);
      return e.code === 'ABORTED' ? 130 : 1;
    }
    io.err(`promptkiln: internal error: ${(e as Error)?.stack ?? e}`);
    return 70;
  } finally {
    process.off('SIGINT', onSig);
  }
}

const isMain = typeof process !== 'undefined' && process.argv[1] &&
  /(?:^|[\\/])(?:cli\.(?:c?js|mjs)|main\.ts|promptkiln)$/.test(process.argv[1]);
if (isMain) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
