// Runs the kernels twice: on this page's main thread (init() picks the best build the browser
// validates) and in a module Worker that is handed the compiled module and uses nothing but
// WebAssembly and postMessage. Results land in window.promptkilnResult for tests to read, and on
// the page for people.
import { init, PromptkilnError } from '../../dist/index.js';
import { compute } from './compute.js';

const log = document.getElementById('log');
const show = (o) => (log.textContent = JSON.stringify(o, null, 2));

async function inWorker(module, build) {
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  try {
    return await new Promise((resolve, reject) => {
      worker.onmessage = (e) => (e.data.error ? reject(new Error(`worker: ${e.data.error}`)) : resolve(e.data));
      worker.onerror = (e) => reject(new Error(`worker failed to start: ${e.message}`));
      // a WebAssembly.Module is structured-cloneable: the worker never fetches or compiles bytes
      worker.postMessage({ module, build });
    });
  } finally {
    worker.terminate();
  }
}

async function run() {
  const k = await init();
  const page = compute(k);
  // the same build the page picked, compiled here and handed over
  const bytes = await (await fetch(new URL(`../../wasm/promptkiln.${k.build}.wasm`, import.meta.url))).arrayBuffer();
  const worker = await inWorker(await WebAssembly.compile(bytes), k.build);
  return {
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    sharedArrayBuffer: typeof SharedArrayBuffer !== 'undefined',
    isPromptkilnErrorExported: typeof PromptkilnError === 'function',
    page,
    worker,
  };
}

window.promptkilnResult = run().then(
  (r) => (show(r), r),
  (e) => {
    const r = { error: `${e?.name}: ${e?.message}\n${e?.stack ?? ''}` };
    show(r);
    return r;
  },
);
