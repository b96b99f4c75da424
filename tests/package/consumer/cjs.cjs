// Run inside a scratch project that installed the packed tarball (tests/package/tarball.test.ts):
// the CommonJS entry scores with the real model. argv[2]: the model folder. Prints one JSON line.
const { init, loadModel } = require('promptkiln');
const { createBackend } = require('promptkiln/ort');

(async () => {
  const kernels = await init({ build: 'simd' });
  const model = await loadModel(process.argv[2], { kernels });
  const r = await model.score('Once upon a time', ', there was a little girl');
  console.log(JSON.stringify({
    build: kernels.build, total: r.total, entry: require.resolve('promptkiln'),
    wasm: require.resolve('promptkiln/wasm/simd.wasm'), createBackend: typeof createBackend,
  }));
})().catch((e) => { console.error(e); process.exit(1); });
