// promptkiln merge: a LoRA / IA3 adapter folded into a copy of its base model's folder.
import { PromptkilnError } from '../../errors.js';
import { loadLinearPeft } from '../../soft/linear-adapter.js';
import { mergeAdapter } from '../../soft/merge.js';
import { nodeFs } from '../../util/files.js';
import { parse } from '../command.js';
import { openModel } from '../model-options.js';
import { register } from '../registry.js';

const usage = `promptkiln merge --model DIR --adapter DIR --out DIR

Writes DIR (--out): the base model folder (a Hugging Face folder with one model.safetensors) with
the LoRA / IA3 adapter merged into its weights (PEFT's merge_and_unload: same tensor names, shapes
and layout, F32), plus its config and tokenizer files. The result loads as a plain model anywhere,
including --backend ort, which cannot run an unmerged adapter.`;

register({
  name: 'merge',
  summary: 'merge a LoRA / IA3 adapter into a copy of its base model',
  usage,
  async run(argv, io) {
    const { values } = parse('merge', argv, { model: { type: 'string' }, adapter: { type: 'string' }, out: { type: 'string' } });
    for (const k of ['model', 'adapter', 'out'] as const) if (!values[k]) throw new PromptkilnError('ARGUMENT', `merge: --${k} DIR is required`);
    const { fs } = await nodeFs();
    const isDir = await fs.stat(values.model!).then((s) => s.isDirectory(), () => false);
    if (!isDir) throw new PromptkilnError('ARGUMENT', `merge: --model must be a local model folder holding model.safetensors, got "${values.model}"`);
    const model = await openModel('merge', values.model, io);
    try {
      const a = await loadLinearPeft(values.adapter!, model);
      await mergeAdapter(values.model!, a, model, values.out!);
      io.out(`merged ${a.kind === 'lora' ? `LoRA (rank ${a.r})` : 'IA3'} on ${a.modules.length} modules into ${values.out}`);
      return 0;
    } finally {
      model.dispose();
    }
  },
});
