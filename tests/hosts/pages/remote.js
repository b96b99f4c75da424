// A page that keeps its main thread free: the model lives in a dedicated worker (loadModelInWorker),
// downloaded through the hub client from the loopback mirror given as ?hub=, cached with the Cache API.
import { loadModelInWorker } from '/dist/index.js';

const hub = new URLSearchParams(location.search).get('hub');
const ID = 'karpathy/tinyllamas/stories260K';

window.promptkiln = (async () => {
  try {
    const m = await loadModelInWorker(ID, { endpoint: hub, threads: 2 });
    const info = { id: m.id, build: m.build, threads: m.threads, dim: m.config.dim, crossOriginIsolated };
    const score = await m.score('Once upon a time', ', there was a little girl');
    const many = await m.scoreMany('Once upon a time, there was a little girl named', [' Lily.', ' Tom.']);
    // the page's own timers keep running while the worker generates 300 tokens
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const long = await m.generate('Once upon a time', { maxTokens: 300, stopAtEos: false });
    clearInterval(timer);
    const pieces = [];
    const it = m.stream('Once upon a time', { maxTokens: 20 });
    let streamed;
    for (;;) {
      const r = await it.next();
      if (r.done) { streamed = r.value; break; }
      pieces.push(r.value.text);
    }
    const ac = new AbortController();
    const pending = m.generate('Once', { maxTokens: 450, stopAtEos: false, signal: ac.signal });
    setTimeout(() => ac.abort(), 1);
    let aborted = null;
    try { await pending; } catch (e) { aborted = e.code; }
    let tokenError = null;
    try { await m.score([1, 9999], [2]); } catch (e) { tokenError = { code: e.code, name: e.name, message: e.message }; }
    await m.dispose();
    // offline: the second load is served from the Cache API
    const m2 = await loadModelInWorker(ID, { endpoint: hub, offline: true, threads: 2 }); // the same (threads) build as m: same numbers
    const again = await m2.score('Once upon a time', ', there was a little girl');
    await m2.dispose();
    return { info, score, many, long: { tokens: long.tokens.length, ticks }, streamed, pieces, aborted, tokenError, again };
  } catch (e) {
    return { error: String((e && e.stack) || e) };
  }
})();
