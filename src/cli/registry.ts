import type { Command } from './command.js';

// Commands register themselves here on import (see commands/index.ts).
export const commands: Command[] = [];

export function register(c: Command): void {
  commands.push(c);
}
