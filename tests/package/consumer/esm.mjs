// Run inside a scratch project that installed the packed tarball (tests/package/tarball.test.ts):
// the ESM entry scores with the real model. argv[2]: the model folder. Prints one JSON line.
import { init, loadModel, PromptkilnError } from 'promptkiln';

const kernels = await init({ build: 'simd' });
const model = await loadModel(process.argv[2], { kernels });
const r = await model.score('Once upon a time', ', there was a little girl');
let ort;
try {
  await (await import('promptkiln/ort')).importOrtWeb('wasm');
  ort = 'loaded';
} catch (e) {
  ort = e instanceof PromptkilnError ? e.code : String(e);
}
console.log(JSON.stringify({ build: kernels.build, total: r.total, entry: import.meta.resolve('promptkiln'), ort }));
