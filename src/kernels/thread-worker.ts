// The body of one kernel worker, as JavaScript source. It is a string rather than a module file
// so that it runs unchanged from src/ (tests), from dist/ (ESM or CJS) and from any bundler:
// Node starts it with `new Worker(src, { eval: true })`, a browser from a Blob URL. It uses only
// WebAssembly, Atomics and postMessage — no Node built-ins beyond finding its message port.
//
// Protocol (see threads.ts, which owns the layout): the control block is an Int32Array over a
// SharedArrayBuffer. Worker i owns the slot at SLOT·(i+1): [seq, op, args…]. The main thread
// writes op and args, then bumps seq; the worker spins briefly on seq (a plain Atomics.wait
// made a 64³ GEMM 6x slower: waking a sleeping thread costs more than the whole call), then
// sleeps in Atomics.wait. When done it adds 1 to ctl[DONE] (or sets ctl[FAILED]) and notifies.

export const SLOT = 32; // ints per worker slot: 128 bytes, two cache lines, so slots never share one
export const DONE = 0;
export const FAILED = 1;
export const OP_EXIT = 0;
export const OP_MATMUL = 1;
export const OP_MATMUL_DX = 2;
export const OP_ATTENTION = 3;

export const WORKER_SOURCE = `
'use strict';
const SLOT = ${SLOT}, DONE = ${DONE}, FAILED = ${FAILED};
const nodePort = typeof require === 'function' ? require('node:worker_threads').parentPort : null;

function run(msg) {
  const { module, memory, ctl: sab, index, spinMicros } = msg;
  const ctl = new Int32Array(sab);
  const ex = new WebAssembly.Instance(module, {
    env: { memory, abort() { throw new Error('kernel abort'); } },
  }).exports;
  const base = SLOT * (index + 1);
  const a = (i) => ctl[base + 2 + i];
  post({ ready: true });
  let seen = 0;
  for (;;) {
    let seq = Atomics.load(ctl, base);
    if (seq === seen) {
      const t0 = performance.now();
      let spins = 0;
      while ((seq = Atomics.load(ctl, base)) === seen) {
        if ((++spins & 255) === 0 && performance.now() - t0 > spinMicros / 1000) {
          Atomics.wait(ctl, base, seen);
        }
      }
    }
    seen = seq;
    const op = ctl[base + 1];
    if (op === 0) break;
    try {
      if (op === 1) ex.matmul_fwd_range(a(0), a(1), a(2), a(3), a(4), a(5), a(6), a(7), a(8));
      else if (op === 2) ex.matmul_bwd_dx_range(a(0), a(1), a(2), a(3), a(4), a(5), a(6), a(7));
      else if (op === 3) ex.attention_fwd(a(0), a(1), a(2), a(3), a(4), a(5), a(6), a(7), a(8), a(9), a(10),
        a(11), a(12), a(13), a(14), a(15), a(16));
      else throw new Error('unknown op ' + op);
    } catch (e) {
      Atomics.store(ctl, FAILED, 1);
    }
    Atomics.add(ctl, DONE, 1);
    Atomics.notify(ctl, DONE);
  }
  if (nodePort) nodePort.close(); else self.close();
}

function post(m) { if (nodePort) nodePort.postMessage(m); else self.postMessage(m); }

function onMessage(msg) {
  try { run(msg); } catch (e) { post({ error: String(e && e.message || e) }); }
}
if (nodePort) nodePort.once('message', onMessage);
else self.onmessage = (ev) => { self.onmessage = null; onMessage(ev.data); };
`;
