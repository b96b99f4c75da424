// The meta-prompts search sends to the proposing LLM. Every one is editable through
// optimize({ metaPrompts: { ... } }); placeholders are {name} and are filled by fill().

export interface MetaPrompts {
  // initialization from the task description
  fromDescription: string;
  // instruction induction from input/output pairs; {pairs} expands to "Input: … Output: …" lines
  fromExamples: string;
  // APE resampling: new prompts for the same task
  expand: string;
  // paraphrase (APE's "variation" template; also GrIPS phrase paraphrase)
  paraphrase: string;
  // ProTeGi: the "textual gradient" (critique) and the revision it drives
  critique: string;
  revise: string;
  // OPRO: the scored trajectory ({trajectory}) and a few exemplars ({exemplars})
  opro: string;
}

export const DEFAULT_META_PROMPTS: MetaPrompts = {
  fromDescription: 'You are given a task to complete using LLMs. Please write a prompt to guide the LLMs. Task Description: {task-description}',
  fromExamples: 'You are provided with several input-output pairs for a task. Please write an instruction for performing this task. {pairs}',
  expand: 'Below is a prompt for an LLM. Please provide some new prompts to perform the same task. Input Prompt: {prompt}',
  paraphrase: 'Generate a variation of the following instruction while keeping the semantic meaning.\n\nInput: {prompt}\n\nOutput:',
  critique:
    'I\'m trying to write a prompt for a task.\nMy current prompt is:\n"{prompt}"\nBut this prompt gets the following examples wrong:\n{errors}\nGive {n} reasons why the prompt could have gotten these examples wrong.',
  revise:
    'I\'m trying to write a prompt for a task.\nMy current prompt is:\n"{prompt}"\nBut it gets the following examples wrong:\n{errors}\nBased on these examples the problem with this prompt is that {critique}\nBased on the above information, write an improved prompt. The prompt is wrapped with <START> and <END>.',
  opro:
    'Your task is to generate the instruction <INS>. Below are some previous instructions with their scores. The score is higher when the instruction is better.\n\n{trajectory}\nBelow are some problems.\n\n{exemplars}\nGenerate an instruction that is different from all the instructions <INS> above, and has a higher score than all the instructions <INS> above. The instruction should begin with <INS> and end with </INS>.',
};

export function fill(template: string, vars: Record<string, string | number>): string {
  return template.replace(/\{([a-z0-9_-]+)\}/gi, (m, k: string) => (k in vars ? String(vars[k]) : m));
}

export function pairsText(pairs: { input: string; output: string }[]): string {
  return pairs.map((p) => `Input: ${p.input} Output: ${p.output}`).join(' ');
}
