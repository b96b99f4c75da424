// Reads the function signatures of a module's exports straight from its binary (type, import,
// function and export sections). The JS API only exposes names and arity; the header test needs
// the value types too, and parsing needs no engine flags (the relaxed build fails to compile on
// Node 20 without --experimental-wasm-relaxed-simd).

export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'funcref' | 'externref';
export interface FuncSig {
  params: ValType[];
  results: ValType[];
}
export interface ModuleSigs {
  functions: Map<string, FuncSig>; // exported functions by export name
  others: Map<string, 'table' | 'memory' | 'global' | 'tag'>; // non-function exports
  imports: { module: string; name: string; kind: string }[];
}

const VALTYPES: Record<number, ValType> = {
  0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64', 0x7b: 'v128', 0x70: 'funcref', 0x6f: 'externref',
};
const KINDS = ['function', 'table', 'memory', 'global', 'tag'] as const;

export function readExportSignatures(bytes: Uint8Array): ModuleSigs {
  let p = 0;
  const u8 = () => bytes[p++]!;
  const leb = (): number => {
    let r = 0, shift = 0, b: number;
    do {
      b = u8();
      r += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return r;
  };
  const name = () => {
    const n = leb();
    const s = new TextDecoder().decode(bytes.subarray(p, p + n));
    p += n;
    return s;
  };
  const valtype = (): ValType => {
    const b = u8();
    const t = VALTYPES[b];
    if (!t) throw new Error(`unknown value type 0x${b.toString(16)} at byte ${p - 1}`);
    return t;
  };
  const limits = () => {
    const flags = u8();
    leb();
    if (flags & 1) leb();
  };

  if (bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) throw new Error('not a wasm binary');
  p = 8;
  const types: FuncSig[] = [];
  const imports: ModuleSigs['imports'] = [];
  const funcTypes: number[] = []; // type index of every function, imported ones first
  const functions = new Map<string, FuncSig>();
  const others: ModuleSigs['others'] = new Map();

  while (p < bytes.length) {
    const id = u8();
    const size = leb();
    const end = p + size;
    if (id === 1) {
      for (let n = leb(); n > 0; n--) {
        if (u8() !== 0x60) throw new Error('type section: only function types are expected');
        const params = Array.from({ length: leb() }, valtype);
        const results = Array.from({ length: leb() }, valtype);
        types.push({ params, results });
      }
    } else if (id === 2) {
      for (let n = leb(); n > 0; n--) {
        const module = name(), field = name(), kind = u8();
        imports.push({ module, name: field, kind: KINDS[kind] ?? String(kind) });
        if (kind === 0) funcTypes.push(leb());
        else if (kind === 1) { u8(); limits(); }
        else if (kind === 2) limits();
        else if (kind === 3) { valtype(); u8(); }
        else if (kind === 4) { u8(); leb(); }
      }
    } else if (id === 3) {
      for (let n = leb(); n > 0; n--) funcTypes.push(leb());
    } else if (id === 7) {
      for (let n = leb(); n > 0; n--) {
        const field = name(), kind = u8(), index = leb();
        if (kind === 0) functions.set(field, types[funcTypes[index]!]!);
        else others.set(field, KINDS[kind] as 'table' | 'memory' | 'global' | 'tag');
      }
    }
    p = end;
  }
  return { functions, others, imports };
}
