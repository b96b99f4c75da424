// The work every runtime does with the package, and its cold-start timings: instantiate the
// kernels, load stories260K, score candidate endings (the first score is the cold-start mark),
// generate greedily, tune a soft prompt for a few steps. Plain ESM that takes the package's
// namespace as an argument, so Node, Deno, Bun (run.mjs) and workerd (worker.mjs) run this code.

export const PROMPT = 'Once upon a time, there was a little girl named';
export const ENDINGS = [' Lily.', ' Sue.', ' Tom.', ' a big rock.'];
const TRAIN = [
  { input: 'One day, a boy went to the park.', target: ' Tom was happy.' },
  { input: 'The cat sat on the mat.', target: ' Tom was happy.' },
];

export async function workload(pk, source, { kernelOptions = {}, tuneSteps = 3 } = {}) {
  const ms = {};
  let t = performance.now();
  const lap = (name) => {
    const now = performance.now();
    ms[name] = now - t;
    t = now;
  };
  const kernels = await pk.init(kernelOptions);
  lap('init');
  const model = await pk.loadModel(source, { kernels });
  lap('load');
  const first = await model.score(PROMPT, ENDINGS[0]);
  lap('firstScore');
  const scores = (await model.scoreMany(PROMPT, ENDINGS)).map((r) => r.total);
  const gen = await model.generate('Once upon a time', { maxTokens: 24, temperature: 0 });
  const tuned = await pk.tune(model, TRAIN, { virtualTokens: 4, maxSteps: tuneSteps, batchSize: 2, lr: 0.05, seed: 7 });
  const losses = tuned.history.filter((h) => h.loss !== undefined).map((h) => h.loss);
  model.dispose();
  return { build: kernels.build, ms, first: first.total, scores, text: gen.text, tokens: gen.tokens, losses };
}
