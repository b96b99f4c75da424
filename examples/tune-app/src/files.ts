// Files in and out of the page: examples (JSONL), a local model folder, PEFT downloads.
export interface Example {
  input: string;
  target: string;
}

// One {"input", "target"} object a line (the SDK's training format); blank lines skipped.
export function parseExamples(text: string): Example[] {
  return text.split('\n').map((l) => l.trim()).filter(Boolean).map((l, i) => {
    let e: unknown;
    try {
      e = JSON.parse(l);
    } catch {
      throw new Error(`examples line ${i + 1}: not JSON`);
    }
    const o = e as Partial<Example>;
    if (typeof o.input !== 'string' || typeof o.target !== 'string') throw new Error(`examples line ${i + 1}: needs "input" and "target" strings`);
    return { input: o.input, target: o.target };
  });
}

// A picked folder (or files) by base name, as loadModelInWorker's { files } source takes them.
export async function readPicked(list: FileList): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for (const f of Array.from(list)) out[f.name] = new Uint8Array(await f.arrayBuffer());
  return out;
}

export function download(name: string, data: string | Uint8Array): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([data as BlobPart]));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}
