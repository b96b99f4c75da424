// A module Worker that uses only WebAssembly and postMessage: it receives a compiled
// WebAssembly.Module, instantiates the kernels from it (init({ module })), runs the shared
// computation and posts the numbers back. It also reports that no Node globals exist here, so
// a passing run proves the bundle needs no Node built-ins.
import { init } from '../../dist/index.js';
import { compute } from './compute.js';

self.onmessage = async (e) => {
  try {
    const { module, build } = e.data;
    const k = await init({ module, build });
    const result = compute(k);
    self.postMessage({
      ...result,
      nodeGlobals: ['process', 'require', 'Buffer', 'global', '__dirname'].filter((g) => typeof self[g] !== 'undefined'),
    });
  } catch (err) {
    self.postMessage({ error: `${err?.name}: ${err?.message}` });
  }
};
