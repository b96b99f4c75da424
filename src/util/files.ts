// Node file helpers shared by every room that saves artifacts. Node built-ins are imported
// lazily so the core bundle still loads in browsers and workers.

type Fs = typeof import('node:fs/promises');
type PathMod = typeof import('node:path');

export async function nodeFs(): Promise<{ fs: Fs; path: PathMod }> {
  const fs = (await import(/* @vite-ignore */ 'node:fs/promises' as string)) as Fs;
  const path = (await import(/* @vite-ignore */ 'node:path' as string)) as PathMod;
  return { fs, path };
}

// Writes to a temporary file beside the target and renames it over: readers see the old file or
// the new one, never half of one (a crash mid-write leaves only a stray .tmp).
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const { fs, path } = await nodeFs();
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now().toString(36)}.tmp`;
  await fs.writeFile(tmp, data);
  await fs.rename(tmp, file);
}

export async function readFileBytes(file: string): Promise<Uint8Array> {
  const { fs } = await nodeFs();
  return new Uint8Array(await fs.readFile(file));
}
