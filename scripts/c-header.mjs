// Reads the function declarations out of wasm/promptkiln.h. Shared by the header test
// (tests/hosts/header.test.ts) and the wasm2c glue generator (scripts/gen-wasm2c-glue.mjs), so
// both see the header the same way. The header is plain C99 prototypes, one per export, named
// promptkiln_<export>; this is not a C parser and does not try to be one.

/** @typedef {{ type: string, name: string }} CParam */
/** @typedef {{ name: string, ret: string, params: CParam[] }} CFunction */

/**
 * @param {string} text the header's source
 * @returns {{ abiVersion: number | null, functions: CFunction[] }}
 */
export function parseHeader(text) {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');
  const m = /#define\s+PROMPTKILN_ABI_VERSION\s+(\d+)/.exec(code);
  const abiVersion = m ? Number(m[1]) : null;
  const flat = code.replace(/#[^\n]*/g, ' ').replace(/\s+/g, ' ');
  const functions = [];
  const re = /([A-Za-z_][\w ]*?)\s+promptkiln_(\w+)\s*\(([^)]*)\)\s*;/g;
  for (let d; (d = re.exec(flat)); ) {
    const ret = d[1].trim().split(' ').pop();
    const list = d[3].trim();
    const params = list === 'void' || list === '' ? [] : list.split(',').map((s) => {
      const parts = s.trim().split(' ');
      if (parts.length !== 2) throw new Error(`promptkiln.h: cannot read parameter "${s.trim()}" of promptkiln_${d[2]}`);
      return { type: parts[0], name: parts[1] };
    });
    functions.push({ name: d[2], ret, params });
  }
  return { abiVersion, functions };
}

// C type of each wasm value type the ABI uses, for checking and for casts in generated glue.
export const C_TO_WASM = { uint32_t: 'i32', int32_t: 'i32', float: 'f32', void: null };
