// The Command and CliIO shapes every CLI command uses, and option parsing that fails with typed errors.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { PromptkilnError } from '../errors.js';

export interface Command {
  name: string;
  summary: string;
  usage: string;
  run(argv: string[], io: CliIO): Promise<number>;
}

export interface CliIO {
  out(s: string): void; // stdout (results, --json)
  err(s: string): void; // stderr (progress, warnings)
  isTTY: boolean;
  signal: AbortSignal; // fires on SIGINT
}

// node:util parseArgs with errors turned into PromptkilnError('ARGUMENT') naming the command.
export function parse<T extends NonNullable<ParseArgsConfig['options']>>(cmd: string, argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new PromptkilnError('ARGUMENT', `${cmd}: ${(e as Error).message}`);
  }
}

export function numberOpt(cmd: string, name: string, v: string | undefined, dflt?: number): number | undefined {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new PromptkilnError('ARGUMENT', `${cmd}: --${name} expects a number, got "${v}"`);
  return n;
}

export function idsOpt(cmd: string, name: string, v: string): number[] {
  const ids = v.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (ids.some((x) => !Number.isInteger(x) || x < 0)) {
    throw new PromptkilnError('ARGUMENT', `${cmd}: --${name} expects comma-separated non-negative integers, got "${v}"`);
  }
  return ids;
}
