// wasm/promptkiln.h must declare exactly the module's exports, with the C types their
// AssemblyScript signatures imply (usize → uint32_t, i32 → int32_t, f32 → float), for every
// build, and its PROMPTKILN_ABI_VERSION must be what the module reports; src/kernels/exports.ts
// must be the header rendered by scripts/gen-exports.mjs. When this fails after you added or
// changed an export: update wasm/promptkiln.h (and bump ABI_VERSION if an existing export
// changed), then run `node scripts/gen-exports.mjs` (the wasm build runs it too).
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseHeader, C_TO_WASM, type CFunction } from '../../scripts/c-header.mjs';
import { renderExports, EXPORTS_PATH } from '../../scripts/gen-exports.mjs';
import { readExportSignatures, type ModuleSigs } from './wasm-binary.js';
import { ABI_VERSION as SDK_ABI_VERSION } from '../../src/kernels/exports.js';
import { hasRelaxedSimd } from '../../src/kernels/features.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BUILDS = ['simd', 'relaxed', 'portable', 'threads'] as const;
const wasmFile = (b: string) => path.join(ROOT, 'wasm', `promptkiln.${b}.wasm`);
const headerText = readFileSync(path.join(ROOT, 'wasm/promptkiln.h'), 'utf8');
const header = parseHeader(headerText);

// AssemblyScript type → the C type the header must use for it
const AS_TO_C: Record<string, string> = { usize: 'uint32_t', u32: 'uint32_t', i32: 'int32_t', f32: 'float', void: 'void' };

// `export function name(a: T, ...): R` across assembly/*.ts, signatures may span lines
function assemblySignatures(): Map<string, { params: { name: string; type: string }[]; ret: string; file: string }> {
  const out = new Map<string, { params: { name: string; type: string }[]; ret: string; file: string }>();
  const dir = path.join(ROOT, 'assembly');
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const src = readFileSync(path.join(dir, f), 'utf8');
    const re = /export\s+function\s+(\w+)\s*\(([^)]*)\)\s*:\s*(\w+)/g;
    for (let m; (m = re.exec(src)); ) {
      const list = m[2]!.replace(/\s+/g, ' ').trim();
      const params = list === '' ? [] : list.split(',').map((s) => {
        const [name, type] = s.split(':').map((x) => x.trim());
        return { name: name!, type: type!.split('=')[0]!.trim() };
      });
      out.set(m[1]!, { params, ret: m[3]!, file: `assembly/${f}` });
    }
  }
  // asc --exportStart exports the (empty) start function under the name asconfig.json gives it
  const start = JSON.parse(readFileSync(path.join(ROOT, 'asconfig.json'), 'utf8')).options?.exportStart as string | undefined;
  if (start) out.set(start, { params: [], ret: 'void', file: 'asconfig.json exportStart' });
  return out;
}

function sigOf(fn: CFunction): string {
  return `${fn.ret} promptkiln_${fn.name}(${fn.params.map((p) => `${p.type} ${p.name}`).join(', ') || 'void'})`;
}

describe('wasm/promptkiln.h', () => {
  const modules = new Map<string, ModuleSigs>(BUILDS.map((b) => [b, readExportSignatures(readFileSync(wasmFile(b)))]));
  const declared = new Map(header.functions.map((f) => [f.name, f]));

  it('declares each export once, with known C types', () => {
    expect(header.functions.length, 'a function is declared twice').toBe(declared.size);
    for (const f of header.functions) {
      for (const t of [f.ret, ...f.params.map((p) => p.type)]) {
        expect(t in C_TO_WASM, `${sigOf(f)}: use uint32_t (offsets), int32_t (sizes) or float, not ${t}`).toBe(true);
      }
    }
  });

  for (const build of BUILDS) {
    it(`declares exactly the exports of the ${build} build, with matching wasm types`, () => {
      const mod = modules.get(build)!;
      const exported = [...mod.functions.keys()].sort();
      const missing = exported.filter((n) => !declared.has(n));
      const extra = [...declared.keys()].filter((n) => !mod.functions.has(n));
      expect(missing, `exports of promptkiln.${build}.wasm missing from wasm/promptkiln.h`).toEqual([]);
      expect(extra, `wasm/promptkiln.h declares functions promptkiln.${build}.wasm does not export`).toEqual([]);
      for (const name of exported) {
        const w = mod.functions.get(name)!;
        const c = declared.get(name)!;
        const wantParams = c.params.map((p) => C_TO_WASM[p.type]);
        const wantResults = c.ret === 'void' ? [] : [C_TO_WASM[c.ret]];
        expect({ params: w.params, results: w.results }, `${sigOf(c)} vs the ${build} build's ${name}`).toEqual({
          params: wantParams,
          results: wantResults,
        });
      }
      // memory and the ABI_VERSION global are the only other exports, and the header names them
      for (const [name] of mod.others) expect(headerText, `header should mention the "${name}" export`).toContain(name);
      expect([...mod.others.entries()].sort()).toEqual([['ABI_VERSION', 'global'], ['memory', 'memory']]);
    });
  }

  it('the single-thread builds import nothing; the threaded one only its shared memory', () => {
    for (const b of ['simd', 'relaxed', 'portable']) expect(modules.get(b)!.imports, b).toEqual([]);
    expect(modules.get('threads')!.imports).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
  });

  it('uses the C types and parameter names of the AssemblyScript signatures', () => {
    const src = assemblySignatures();
    for (const c of header.functions) {
      const s = src.get(c.name);
      expect(s, `no "export function ${c.name}" found in assembly/*.ts`).toBeDefined();
      const want = {
        ret: AS_TO_C[s!.ret] ?? `(unmapped AssemblyScript type ${s!.ret})`,
        params: s!.params.map((p) => ({ type: AS_TO_C[p.type] ?? `(unmapped ${p.type})`, name: p.name })),
      };
      expect({ ret: c.ret, params: c.params }, `${sigOf(c)} vs ${s!.file}`).toEqual(want);
    }
  });

  it('PROMPTKILN_ABI_VERSION matches abi_version() and the ABI_VERSION global of every build', async () => {
    expect(header.abiVersion, '#define PROMPTKILN_ABI_VERSION missing').not.toBeNull();
    expect(header.abiVersion, 'src/kernels/exports.ts ABI_VERSION').toBe(SDK_ABI_VERSION);
    expect(await hasRelaxedSimd(), 'relaxed SIMD should validate (v8 flag) on Node 20').toBe(true);
    for (const b of BUILDS) {
      const module = new WebAssembly.Module(readFileSync(wasmFile(b)));
      const env: Record<string, WebAssembly.ImportValue> = {};
      if (b === 'threads') env.memory = new WebAssembly.Memory({ initial: 16, maximum: 65536, shared: true });
      const ex = new WebAssembly.Instance(module, { env }).exports as {
        abi_version(): number;
        ABI_VERSION: WebAssembly.Global;
      };
      expect(ex.abi_version(), `${b}: abi_version()`).toBe(header.abiVersion);
      expect(ex.ABI_VERSION.value, `${b}: ABI_VERSION global`).toBe(header.abiVersion);
    }
  });

  it('src/kernels/exports.ts is the header rendered by scripts/gen-exports.mjs', () => {
    expect(readFileSync(EXPORTS_PATH, 'utf8'), 'src/kernels/exports.ts is stale: run node scripts/gen-exports.mjs')
      .toBe(renderExports(headerText));
  });

  // Independent of the generator: the interface's methods, read back from the TypeScript source,
  // are the binary's function exports with their arities (a generator that dropped or reordered
  // parameters would pass the test above against its own output, not this one).
  it('the KernelExports interface lists every function export of the binary, with its arity', () => {
    const src = readFileSync(EXPORTS_PATH, 'utf8');
    const body = src.slice(src.indexOf('export interface KernelExports {'), src.indexOf('\n}\n'));
    const methods = new Map<string, number>();
    for (const m of body.matchAll(/^ {2}(\w+)\(([^)]*)\): (?:void|number);$/gm)) {
      methods.set(m[1]!, m[2]!.trim() === '' ? 0 : m[2]!.split(',').length);
    }
    const mod = modules.get('simd')!;
    const want = new Map([...mod.functions].map(([n, s]) => [n, s.params.length]));
    expect(new Map([...methods].sort()), 'KernelExports methods (name → arity)').toEqual(new Map([...want].sort()));
  });
});
