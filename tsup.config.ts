import path from 'node:path';
import { defineConfig, type Options } from 'tsup';
import type { Plugin } from 'esbuild';

// Two builds of the same sources:
//   node     dist/index.{js,cjs} (Node, Deno, Bun), dist/ort.{js,cjs} (the onnxruntime backend, an
//            entry of its own so the main entry never reaches onnxruntime), dist/cli.js, dist/worker.js
//   browser  dist/browser.js for the `browser`, `worker` and `workerd` conditions: Node built-ins
//            (only ever imported lazily behind isNode() checks) become modules that throw a typed
//            error, so a user's bundler for the web or workerd never meets a `node:` specifier.

const nodeUnavailable: Plugin = {
  name: 'node-unavailable',
  setup(build) {
    build.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'node-unavailable' }));
    build.onLoad({ filter: /.*/, namespace: 'node-unavailable' }, (args) => ({
      contents:
        `import { PromptkilnError } from ${JSON.stringify(path.resolve('src/errors.ts'))};\n` +
        `throw new PromptkilnError('BACKEND', ${JSON.stringify(`${args.path} is not available in this runtime (promptkiln's browser/worker build)`)});\n`,
      loader: 'js',
      resolveDir: path.resolve('src'),
    }));
  },
};

const common: Options = {
  sourcemap: true,
  target: 'es2022',
  platform: 'neutral',
  splitting: false,
  // keep `node:` on built-ins: Deno and workerd resolve only the prefixed names, and the browser
  // build's plugin below recognises them by it
  removeNodeProtocol: false,
  // imported statically (tokenizer-hf.ts, chat-template.ts): bundled (both dependency-free) so
  // the ESM bundles have no bare specifiers, which browsers and module Workers cannot resolve
  noExternal: ['@huggingface/tokenizers', '@huggingface/jinja'],
};

export default defineConfig([
  {
    ...common,
    entry: { index: 'src/index.ts', ort: 'src/ort-entry.ts', cli: 'src/cli/main.ts', worker: 'src/worker.ts' },
    format: ['esm', 'cjs'],
    dts: { entry: { index: 'src/index.ts', ort: 'src/ort-entry.ts' } },
    clean: true,
    shims: true,
    external: [/^node:/, 'onnxruntime-web', 'onnxruntime-node', 'playwright-core'],
  },
  {
    ...common,
    entry: { browser: 'src/index.ts' },
    format: ['esm'],
    // the node build above cleans dist/ once; this one only adds its file
    clean: false,
    external: ['onnxruntime-web'],
    esbuildPlugins: [nodeUnavailable],
  },
]);
