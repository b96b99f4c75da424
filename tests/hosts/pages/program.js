// A page that applies a saved program.json as a web app would: loadProgram and openaiModel from
// promptkiln's browser build, the model behind an OpenAI-compatible endpoint on this page's origin.
import { loadProgram, openaiModel } from 'promptkiln';

const INPUTS = { input: 'Once upon a time' };

window.promptkiln = (async () => {
  try {
    const program = loadProgram(await (await fetch('/program.json')).text());
    const lm = openaiModel({ baseURL: `${location.origin}/v1`, model: 'stories260K', apiKey: 'none' });
    return { rendered: program.render(INPUTS), outputs: await program.run(lm, INPUTS), hasProcess: typeof process };
  } catch (e) {
    return { error: `${e?.code ?? ''} ${e?.message ?? e}\n${e?.stack ?? ''}` };
  }
})();
