// `promptkiln score`: log-likelihood of a target after a prompt, per token, on the wasm or ort backend.
import { PromptkilnError } from '../../errors.js';
import { idsOpt, parse } from '../command.js';
import { backendOpt, modelOptions, openConditioning, taskIdOpt, openScorer } from '../model-options.js';
import { register } from '../registry.js';

const usage = `promptkiln score --model M (--prompt TEXT | --prompt-ids 1,2,3) (--target TEXT | --target-ids 4,5)
                 [--adapter DIR [--task-id N | --description TEXT] | --compressed DIR] [--backend wasm|ort|auto] [--json]

Log-likelihood of the target given the prompt (natural log). Text is encoded as prompt + target
once and split where the prompt's own encoding ends. --json prints
{"total": …, "tokens": […], "logprobs": […], "backend": "wasm"|"ort"} with
logprobs[j] = ln p(target_j | prompt, target_<j) and backend the one that computed them.
--adapter DIR takes a PEFT folder or a prompt encoder's (tune --method encoder): an encoder writes
the prompt for --description TEXT (a new task, one forward pass) or for training task --task-id N.`;

register({
  name: 'score',
  summary: 'log-likelihood of a target after a prompt',
  usage,
  async run(argv, io) {
    const { values } = parse('score', argv, {
      ...modelOptions,
      prompt: { type: 'string' }, 'prompt-ids': { type: 'string' },
      target: { type: 'string' }, 'target-ids': { type: 'string' },
      'task-id': { type: 'string' }, description: { type: 'string' }, json: { type: 'boolean', default: false },
    });
    const backend = backendOpt('score', values.backend);
    const prompt = values['prompt-ids'] !== undefined ? idsOpt('score', 'prompt-ids', values['prompt-ids']) : values.prompt;
    const target = values['target-ids'] !== undefined ? idsOpt('score', 'target-ids', values['target-ids']) : values.target;
    if (prompt === undefined) throw new PromptkilnError('ARGUMENT', 'score: --prompt or --prompt-ids is required');
    if (target === undefined) throw new PromptkilnError('ARGUMENT', 'score: --target or --target-ids is required');
    const sel = await openScorer('score', values.model, backend, io, values.weights);
    const scorer = sel.backend;
    try {
      const conditioning = await openConditioning('score', { ...values, taskId: taskIdOpt('score', values['task-id']) }, scorer);
      const r = await scorer.score(prompt, target, { conditioning });
      if (values.json) io.out(JSON.stringify({ total: r.total, tokens: r.tokens, logprobs: r.logprobs, backend: sel.kind }));
      else {
        io.out(`total log-likelihood ${r.total.toFixed(6)} over ${r.tokens.length} tokens (mean ${(r.total / Math.max(1, r.tokens.length)).toFixed(6)})`);
        const tok = scorer.tokenizer;
        r.tokens.forEach((t, i) => io.out(`  ${String(t).padStart(6)} ${JSON.stringify(tok ? tok.decodeToken(t, null) : '').padEnd(16)} ${r.logprobs[i].toFixed(6)}`));
      }
      return 0;
    } finally {
      await scorer.dispose();
    }
  },
});
