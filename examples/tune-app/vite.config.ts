// Vite 7 config of the tune app: promptkiln from this checkout's dist/ (with the package installed,
// drop the aliases), the kernel .wasm files emitted where the worker looks, COOP/COEP headers.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// The worker chunk (assets/) fetches ../wasm/promptkiln.<build>.wasm, i.e. /wasm/ of the app.
function kernelWasm(): Plugin {
  return {
    name: 'promptkiln-kernel-wasm',
    apply: 'build',
    generateBundle() {
      for (const f of readdirSync(path.join(repo, 'wasm')).filter((f) => f.endsWith('.wasm'))) {
        this.emitFile({ type: 'asset', fileName: `wasm/${f}`, source: readFileSync(path.join(repo, 'wasm', f)) });
      }
    },
  };
}

// cross-origin isolation: what browsers ask before they give a page shared memory (kernel threads)
const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  root: path.dirname(fileURLToPath(import.meta.url)),
  base: './',
  resolve: {
    alias: [
      { find: /^promptkiln$/, replacement: path.join(repo, 'dist/browser.js') },
      { find: /^promptkiln\/worker\.js$/, replacement: path.join(repo, 'dist/worker.js') },
    ],
  },
  worker: { format: 'es' },
  build: { target: 'es2022', emptyOutDir: true },
  plugins: [kernelWasm()],
  preview: { headers: isolation },
});
