// The body of one kernel worker, as JavaScript source. It is a string rather than a module file
// so that it runs unchanged from src/ (tests), from dist/ (ESM or CJS) and from any bundler:
// Node starts it with `new Worker(src, { eval: true })`, a browser from a Blob URL. It uses only
// WebAssembly, Atomics and postMessage — no Node built-ins beyond finding its message port.
//
// Protocol (threads.ts is the other side). The control block is an Int32Array over a
// SharedArrayBuffer; SEQ, NEXT and DONE sit on separate cache lines.
// - A job is an op, a range [0, TOTAL) cut into CHUNKS pieces aligned to ALIGN, and the kernel's
//   arguments without its range; every chunk is one call of the kernel on [lo, hi).
// - NEXT = CHUNKS << 16 | next unclaimed chunk. Threads claim chunks with compareExchange and only
//   then read the job, which the caller leaves untouched until every chunk is DONE. So a worker
//   that wakes late finds nothing to claim (or claims a chunk of the current job, which is also
//   correct), and a worker the OS does not schedule at all only means the caller does more
//   chunks itself: never a wrong result, never a wait on a thread that never started.
// - The caller bumps SEQ to wake workers. They spin on it briefly before Atomics.wait (a plain
//   wait made a 64³ GEMM 6x slower: waking a sleeping thread costs more than the whole call).

export const CTL_INTS = 128;
export const SEQ = 0;
export const NEXT = 16;
export const DONE = 32;
export const FLAGS = 48; // bit 0: exit; bit 1: a kernel failed in a worker
export const OP = 64;
export const ALIGN = 65;
export const TOTAL = 66;
export const ARGS = 67; // up to CTL_INTS - ARGS kernel arguments
export const OP_MATMUL = 1;
export const OP_MATMUL_DX = 2;
export const OP_ATTENTION = 3;
export const OP_ATTENTION_BWD = 4;
export const OP_MATMUL_BF16 = 5;
export const OP_MATMUL_DX_BF16 = 6;

// [lo, hi) of chunk i of c over [0, total), boundaries multiples of align (the last one: total)
export function chunkRange(i: number, c: number, total: number, align: number): [number, number] {
  const cut = (j: number) => (j >= c ? total : Math.min(total, Math.round((total * j) / c / align) * align));
  return [cut(i), cut(i + 1)];
}

export const WORKER_SOURCE = `
'use strict';
const SEQ = ${SEQ}, NEXT = ${NEXT}, DONE = ${DONE}, FLAGS = ${FLAGS}, OP = ${OP}, ALIGN = ${ALIGN}, TOTAL = ${TOTAL}, ARGS = ${ARGS};
const chunkRange = ${chunkRange.toString()};
const nodePort = typeof require === 'function' ? require('node:worker_threads').parentPort : null;

// claims and runs chunks of the current job until none is left; shared with the caller's side
function drain(ctl, ex) {
  for (;;) {
    const v = Atomics.load(ctl, NEXT);
    const c = v >>> 16, i = v & 0xffff;
    if (i >= c) return;
    if (Atomics.compareExchange(ctl, NEXT, v, v + 1) !== v) continue;
    const [lo, hi] = chunkRange(i, c, ctl[TOTAL], ctl[ALIGN]);
    const a = (j) => ctl[ARGS + j];
    try {
      switch (ctl[OP]) {
        case 1: ex.matmul_fwd_range(a(0), a(1), a(2), a(3), a(4), a(5), a(6), lo, hi); break;
        case 2: ex.matmul_bwd_dx_packed(a(0), a(1), a(2), a(6) ? (a(6) >>> 0) + i * a(7) : 0, a(3), a(4), a(5), lo, hi); break;
        case 3: ex.attention_fwd(a(0), a(1), a(2), a(3), a(4), a(5), a(6), a(7), a(8), a(9), a(10),
          a(11), a(12), a(13), a(14), lo, hi); break;
        case 4: ex.attention_bwd_range(a(0), a(1), a(2), a(3), a(4), a(5), a(6), a(7), a(8), a(9), a(10), a(11),
          a(12), a(13), a(14), a(15), a(16), a(17), a(18), lo, hi); break;
        case 5: ex.matmul_fwd_bf16_packed(a(0), a(1), a(2), a(3), a(7) ? (a(7) >>> 0) + i * a(8) : 0, a(4), a(5), a(6), lo, hi); break;
        case 6: ex.matmul_bwd_dx_bf16_packed(a(0), a(1), a(2), a(6) ? (a(6) >>> 0) + i * a(7) : 0, a(3), a(4), a(5), lo, hi); break;
        default: throw new Error('unknown op ' + ctl[OP]);
      }
    } catch (e) {
      Atomics.or(ctl, FLAGS, 2);
    }
    Atomics.add(ctl, DONE, 1);
    Atomics.notify(ctl, DONE);
  }
}

function run(msg) {
  const { module, memory, ctl: sab, spinMicros } = msg;
  const ctl = new Int32Array(sab);
  const ex = new WebAssembly.Instance(module, {
    env: { memory, abort() { throw new Error('kernel abort'); } },
  }).exports;
  post({ ready: true });
  let seen = Atomics.load(ctl, SEQ);
  for (;;) {
    let seq = Atomics.load(ctl, SEQ);
    if (seq === seen) {
      const t0 = performance.now();
      let spins = 0;
      while ((seq = Atomics.load(ctl, SEQ)) === seen) {
        if ((++spins & 255) === 0 && performance.now() - t0 > spinMicros / 1000) Atomics.wait(ctl, SEQ, seen);
      }
    }
    seen = seq;
    if (Atomics.load(ctl, FLAGS) & 1) break;
    drain(ctl, ex);
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
