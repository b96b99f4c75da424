// Reading the append-only JSONL files of a run (run.jsonl, events.jsonl) where a kill may have torn the last line.
import { PromptkilnError } from '../errors.js';

// The complete lines of `text`, each with its parsed value. Only the last line may fail to parse
// (it was being written); a bad line before it means the file is corrupt, and dropping what
// follows it would silently lose part of the run.
export function completeJsonl(text: string, file: string): { line: string; value: unknown }[] {
  const lines = text.split('\n').filter((l) => l.trim());
  const out: { line: string; value: unknown }[] = [];
  for (const [i, line] of lines.entries()) {
    try {
      out.push({ line, value: JSON.parse(line) });
    } catch (e) {
      if (i === lines.length - 1) break;
      throw new PromptkilnError('DATA', `${file}: record ${i + 1} of ${lines.length} is not JSON (${(e as Error).message}), and only the last can be torn by a kill: the file is corrupt`, { file, record: i + 1 });
    }
  }
  return out;
}
