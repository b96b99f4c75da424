import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', cli: 'src/cli/main.ts' },
  format: ['esm', 'cjs'],
  dts: { entry: { index: 'src/index.ts' } },
  sourcemap: true,
  clean: true,
  target: 'es2022',
  platform: 'neutral',
  shims: true,
  splitting: false,
  external: [/^node:/, 'onnxruntime-web', 'onnxruntime-node', '@huggingface/tokenizers', '@huggingface/jinja', 'playwright-core'],
});
