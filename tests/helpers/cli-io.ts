// In-process CLI runs for tests: a CliIO that records what a command prints, and a command by name.
import '../../src/cli/commands/index.js';
import type { CliIO } from '../../src/cli/command.js';
import { commands } from '../../src/cli/registry.js';

export function io(): { io: CliIO; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const x: CliIO = { out: (s) => out.push(s), err: (s) => err.push(s), isTTY: false, signal: new AbortController().signal };
  return { io: x, out, err };
}

export function cmd(name: string) {
  const c = commands.find((c) => c.name === name);
  if (!c) throw new Error(`no CLI command '${name}' is registered`);
  return c;
}
