// `promptkiln serve`: a local model behind an OpenAI-compatible HTTP endpoint.
import { PromptkilnError } from '../../errors.js';
import { serve } from '../../llm/server.js';
import { loadModel } from '../../model/index.js';
import { numberOpt, parse } from '../command.js';
import { backendOpt, modelOptions } from '../model-options.js';
import { register } from '../registry.js';

const usage = `promptkiln serve --model M [--port P] [--host H] [--name NAME] [--backend wasm|auto]

An OpenAI-compatible server over the local model until Ctrl-C:
  GET /v1/models, POST /v1/completions (logprobs, echo; echo + logprobs + max_tokens 0 scores
  the prompt), POST /v1/chat/completions (the checkpoint's chat template, else a lone user
  message verbatim / "Role: content" turns ending in "Assistant:"), "stream": true as SSE.
Default port 8080 on 127.0.0.1; --port 0 picks a free one (the URL is printed on stderr).`;

register({
  name: 'serve',
  summary: 'OpenAI-compatible HTTP server over a local model',
  usage,
  async run(argv, io) {
    const { values } = parse('serve', argv, {
      model: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' }, name: { type: 'string' },
      backend: modelOptions.backend,
    });
    backendOpt('serve', values.backend, 'the server generates text, which runs on the WASM kernels');
    if (!values.model) throw new PromptkilnError('ARGUMENT', 'serve: --model is required');
    const port = numberOpt('serve', 'port', values.port, 8080)!;
    if (!(Number.isInteger(port) && port >= 0 && port < 65536)) throw new PromptkilnError('ARGUMENT', `serve: --port must be an integer in [0, 65535], got ${values.port}`);
    const model = await loadModel(values.model, { signal: io.signal });
    try {
      const srv = await serve(model, { port, host: values.host, name: values.name, log: (l) => io.err(l) });
      io.err(`serving ${values.name ?? model.id} at ${srv.url} (Ctrl-C stops)`);
      await new Promise<void>((resolve) => {
        if (io.signal.aborted) return resolve();
        io.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      await srv.close();
      return 0;
    } finally {
      model.dispose();
    }
  },
});
