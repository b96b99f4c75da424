// The table of CLI commands, filled by each command module as it is imported.
import type { Command } from './command.js';

// Commands register themselves here on import (see commands/index.ts).
export const commands: Command[] = [];

export function register(c: Command): void {
  commands.push(c);
}
