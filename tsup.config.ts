import path from 'node:path';
import { defineConfig, type Options } from 'tsup';
import type { Plugin } from 'esbuild';

// Two builds of the same sources:
//   node     dist/index.{js,cjs} (Node, Deno, Bun), dist/ort.{js,cjs} (the onnxruntime backend, an
//            entry of its own so the main entry never reaches onnxruntime), dist/cli.js, dist/worker.js
//   browser  dist/browser.js for the `browser`, `worker` and `workerd` conditions: Node built-ins
//            (only ever imported lazily behind isNode() checks) become modules that throw a typed
//            error, so a user's bundler for the web or workerd never meets a `node:` specifier.

// Packages only Node code paths import lazily (serve()'s chat templates): stubbed in the browser
// build too, so a bundler does not pull them into a web bundle.
const NODE_ONLY_PACKAGES = ['@huggingface/jinja'];

const nodeUnavailable: Plugin = {
  name: 'node-unavailable',
  setup(build) {
    const filter = new RegExp(`^(node:.*|${NODE_ONLY_PACKAGES.map((p) => p.replace(/[/]/g, '\\/')).join('|')})$`);
    build.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'node-unavailable' }));
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
  // src/model/tokenizer-hf.ts imports it statically: bundled (dependency-free, ~100 kB) so the
  // ESM bundles have no bare specifiers, which browsers and module Workers cannot resolve
  noExternal: ['@huggingface/tokenizers'],
};

export default defineConfig([
  {
    ...common,
    entry: { index: 'src/index.ts', ort: 'src/ort-entry.ts', cli: 'src/cli/main.ts', worker: 'src/worker.ts' },
    format: ['esm', 'cjs'],
    dts: { entry: { index: 'src/index.ts', ort: 'src/ort-entry.ts' } },
    clean: true,
    shims: true,
    external: [/^node:/, 'onnxruntime-web', 'onnxruntime-node', '@huggingface/jinja', 'playwright-core'],
  },
  {
    ...common,
    entry: { browser: 'src/index.ts' },
    format: ['esm'],
    // the node build above cleans dist/ once; this one only adds its file
    clean: false,
    external: ['onnxruntime-web'],
    // tsup leaves dependencies external before plugins run; these must reach nodeUnavailable
    noExternal: [...(common.noExternal as string[]), ...NODE_ONLY_PACKAGES],
    esbuildPlugins: [nodeUnavailable],
  },
]);
