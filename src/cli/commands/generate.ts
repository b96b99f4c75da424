// `promptkiln generate`: sample or greedy-decode a continuation, optionally through a soft artifact.
import { PromptkilnError } from '../../errors.js';
import { idsOpt, numberOpt, parse } from '../command.js';
import { backendOpt, modelOptions, openConditioning, taskIdOpt, openModel } from '../model-options.js';
import { register } from '../registry.js';

const usage = `promptkiln generate --model M (--prompt TEXT | --prompt-ids 1,2,3)
                    [--max-tokens N --temperature T --top-k K --top-p P --seed S --stop STR]
                    [--adapter DIR [--task-id N | --description TEXT] | --compressed DIR] [--backend wasm|auto] [--json]

Continues the prompt (temperature 0 = greedy). Streams text to stdout; --json prints
{"text": …, "tokens": […]} (text is null when the checkpoint has no tokenizer).
--adapter DIR takes a PEFT folder or a prompt encoder's (tune --method encoder): an encoder writes
the prompt for --description TEXT (a new task, one forward pass) or for training task --task-id N.`;

register({
  name: 'generate',
  summary: 'continue a prompt (greedy or sampled)',
  usage,
  async run(argv, io) {
    const { values } = parse('generate', argv, {
      ...modelOptions,
      prompt: { type: 'string' }, 'prompt-ids': { type: 'string' },
      'max-tokens': { type: 'string' }, temperature: { type: 'string' }, 'top-k': { type: 'string' },
      'top-p': { type: 'string' }, seed: { type: 'string' }, stop: { type: 'string', multiple: true },
      'task-id': { type: 'string' }, description: { type: 'string' }, json: { type: 'boolean', default: false },
    });
    backendOpt('generate', values.backend, 'generation runs on the WASM kernels (onnxruntime only scores)');
    const prompt = values['prompt-ids'] !== undefined ? idsOpt('generate', 'prompt-ids', values['prompt-ids']) : values.prompt;
    if (prompt === undefined) throw new PromptkilnError('ARGUMENT', 'generate: --prompt or --prompt-ids is required');
    const model = await openModel('generate', values.model, io, values.weights);
    try {
      const conditioning = await openConditioning('generate', { ...values, taskId: taskIdOpt('generate', values['task-id']) }, model);
      const opts = {
        maxTokens: numberOpt('generate', 'max-tokens', values['max-tokens'], 64),
        temperature: numberOpt('generate', 'temperature', values.temperature, 0),
        topK: numberOpt('generate', 'top-k', values['top-k'], 0),
        topP: numberOpt('generate', 'top-p', values['top-p'], 1),
        seed: numberOpt('generate', 'seed', values.seed, 0),
        stop: values.stop,
        conditioning,
        signal: io.signal,
      };
      if (values.json) {
        const r = await model.generate(prompt, opts);
        io.out(JSON.stringify({ text: r.text, tokens: r.tokens }));
        return 0;
      }
      const it = model.stream(prompt, opts);
      for (;;) {
        const r = await it.next();
        if (r.done) break;
        process.stdout.write(r.value.text);
      }
      process.stdout.write('\n');
      return 0;
    } finally {
      model.dispose();
    }
  },
});
