// Reading adapter folders: the one ADAPTER error shape, a file read that names the path, and a
// safetensors parse whose format errors become ADAPTER errors naming the file.
import { PromptkilnError, isPromptkilnError } from '../errors.js';
import { parseSafetensors, type SafetensorsFile } from '../model/safetensors.js';
import { nodeFs } from '../util/files.js';

export function adapterError(where: string, msg: string, details?: Record<string, unknown>): PromptkilnError {
  return new PromptkilnError('ADAPTER', `${where}: ${msg}`, details);
}

// Node: a reader of `dir`'s files whose failures name the path and the reason (ENOENT, …).
export async function adapterFileReader(dir: string): Promise<(file: string) => Promise<Buffer>> {
  const { fs, path } = await nodeFs();
  return async (f) => {
    try {
      return await fs.readFile(path.join(dir, f));
    } catch (e) {
      throw adapterError(path.join(dir, f), `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  };
}

export function parseAdapterSafetensors(weights: Uint8Array, where: string): SafetensorsFile {
  try {
    return parseSafetensors(weights, where);
  } catch (e) {
    if (isPromptkilnError(e)) throw adapterError(where, e.message);
    throw e;
  }
}
