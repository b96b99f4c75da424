// promptkiln run: apply a saved program.json to one input — render it, call the model, print the
// parsed and validated output fields as JSON.
import { PromptkilnError } from '../../errors.js';
import { loadProgram } from '../../eval/program.js';
import { localModel } from '../../llm/local.js';
import type { LanguageModel } from '../../llm/types.js';
import { loadModel } from '../../model/index.js';
import { nodeFs } from '../../util/files.js';
import { parse } from '../command.js';
import { keysUsage, lmOptions, lmUsage, targetModel } from '../lm-roles.js';
import { register } from '../registry.js';

const usage = `promptkiln run --program program.json --input JSON (--model M | ${lmUsage.split('\n')[0]}) [--render]

Applies a program written by optimize: renders the input (a JSON object of the program's input
fields; a plain program takes {"input": "..."}), calls the model, parses and validates the answer
(retrying as the program says), and prints the output fields as one JSON object.
--render prints the exact prompt instead ({"messages", "text"}) and calls nothing.
${keysUsage}`;

register({
  name: 'run',
  summary: 'apply a saved program.json to an input',
  usage,
  async run(argv, io) {
    const { values } = parse('run', argv, { ...lmOptions, program: { type: 'string' }, input: { type: 'string' }, model: { type: 'string' }, render: { type: 'boolean', default: false } });
    if (!values.program) throw new PromptkilnError('ARGUMENT', 'run: --program FILE is required (the program.json optimize wrote)');
    if (values.input === undefined) throw new PromptkilnError('ARGUMENT', 'run: --input JSON is required (an object of the program\'s input fields)');
    const { fs } = await nodeFs();
    let src: string;
    try {
      src = await fs.readFile(values.program, 'utf8');
    } catch (e) {
      throw new PromptkilnError('DATA', `${values.program}: cannot read the program: ${(e as Error).message}`, { file: values.program });
    }
    const program = loadProgram(src, { file: values.program });
    let input: unknown;
    try {
      input = JSON.parse(values.input);
    } catch (e) {
      throw new PromptkilnError('ARGUMENT', `run: --input is not JSON: ${(e as Error).message}`);
    }
    if (values.render) {
      io.out(JSON.stringify(program.render(input as never)));
      return 0;
    }
    const remote = targetModel('run', values);
    if (Boolean(values.model) === Boolean(remote)) throw new PromptkilnError('ARGUMENT', 'run: give exactly one of --model M or --endpoint URL (with --llm-model NAME)');
    let lm: LanguageModel;
    let dispose = () => {};
    if (remote) lm = remote;
    else {
      const m = await loadModel(values.model!, { signal: io.signal });
      lm = localModel(m);
      dispose = () => m.dispose();
    }
    try {
      io.out(JSON.stringify(await program.run(lm, input as never, { signal: io.signal })));
    } finally {
      dispose();
    }
    return 0;
  },
});
