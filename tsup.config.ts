import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', cli: 'src/cli/main.ts', worker: 'src/worker.ts' },
  format: ['esm', 'cjs'],
  dts: { entry: { index: 'src/index.ts' } },
  sourcemap: true,
  clean: true,
  target: 'es2022',
  platform: 'neutral',
  shims: true,
  splitting: false,
  external: [/^node:/, 'onnxruntime-web', 'onnxruntime-node', '@huggingface/jinja', 'playwright-core'],
  // src/model/tokenizer-hf.ts imports it statically: bundled (dependency-free, ~100 kB) so the
  // ESM bundle has no bare specifiers, which browsers and module Workers cannot resolve
  noExternal: ['@huggingface/tokenizers'],
});
