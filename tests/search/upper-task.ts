// The scripted "write the word in capitals" task the search tests share: its target model is a
// plain function whose behaviour is known exactly (said in each test's name).
import { defineTask, type Task } from '../../src/eval/task.js';
import { functionModel } from '../../src/llm/function.js';

export const WORDS = ['apple', 'river', 'stone', 'cloud', 'tiger', 'lemon', 'piano', 'orbit', 'maple', 'sugar', 'train', 'zebra', 'candle', 'forest', 'mirror', 'pepper', 'rocket', 'silver', 'tunnel', 'violet'];

// 20 words: 10 train, 5 validation, 5 test
export async function upperTask(): Promise<Task> {
  return defineTask({
    name: 'upper',
    description: 'Write the word in capital letters.',
    instruction: 'Repeat the word.',
    template: '{instruction}\n{demos}Input: {input}\nOutput:',
    demo_template: 'Input: {input}\nOutput: {output}\n',
    examples: WORDS.map((w) => ({ input: w, output: w.toUpperCase() })),
    split: { train: 0.5, validation: 0.25, test: 0.25, seed: 1 },
    metric: 'exact_match',
  });
}

// The word a target prompt asks about (the rendered template ends with "Input: <word>\nOutput:").
export const inputOf = (prompt: string) => /Input: (\S+)\nOutput:$/.exec(prompt)?.[1] ?? '';

// Target model: answers in capitals only when the instruction says "uppercase" (or capital).
// As a proposer it answers each meta-prompt with fixed text that leads there.
export function scripted() {
  let calls = 0;
  const m = functionModel(
    async (prompt) => {
      calls++;
      if (prompt.includes('<INS>')) return '<INS>Answer in uppercase letters.</INS>'; // OPRO
      if (prompt.includes('give') && prompt.includes('reasons') || prompt.includes('Give')) return 'The prompt never asks for capital letters.'; // ProTeGi critique
      if (prompt.includes('<START>')) return '<START>Write the word in uppercase.<END>'; // ProTeGi revise
      if (prompt.includes('new prompts')) return '1. Say the word in uppercase.\n2. Say the word.'; // APE
      if (prompt.includes('variation')) return 'Output the word in uppercase.'; // paraphrase
      if (prompt.includes('input-output pairs')) return 'Copy the input.';
      const input = inputOf(prompt);
      return /uppercase|capital/i.test(prompt.split('\n')[0]) ? ` ${input.toUpperCase()}` : ` ${input}`;
    },
    { id: 'scripted-upper' },
  );
  return { m, calls: () => calls };
}
