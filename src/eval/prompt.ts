// Rendering a candidate's prompt: a plain task's template, a typed task's messages and text, and
// the prefix every prompt of a candidate shares. Pure functions (loadProgram uses them in browsers
// and edge workers: this module must import nothing Node-only, at run time).
import type { ChatMessage } from '../llm/types.js';
import type { Values } from './fields.js';
import { renderMessages, renderText, textPrefix } from './render.js';
import type { PromptCandidate, Task } from './task.js';

const PLACEHOLDER = /\{(instruction|demos|input|output)\}/g;

// Replace {instruction}, {demos}, {input} in one pass, so text inside an input that happens to
// contain "{demos}" is never substituted again.
export function render(task: Pick<Task, 'template' | 'demoTemplate'>, cand: PromptCandidate, input: string): string {
  const demos = cand.demos
    .map((d) => task.demoTemplate.replace(PLACEHOLDER, (_, k: string) => (k === 'input' ? d.input : k === 'output' ? d.output : '')))
    .join('');
  return task.template.replace(PLACEHOLDER, (_, k: string) =>
    k === 'instruction' ? cand.instruction : k === 'demos' ? demos : k === 'input' ? input : '',
  );
}

// The text every rendered prompt of this candidate starts with: what comes before {input}.
export function promptPrefix(task: Pick<Task, 'template' | 'demoTemplate'>, cand: PromptCandidate): string {
  const mark = '\u0000';
  return render(task, cand, mark).split(mark)[0];
}

// A typed task's prompt for one example: the chat messages and the text rendering.
export function renderTyped(task: Pick<Task, 'signature'>, cand: PromptCandidate, inputs: Values): { messages: ChatMessage[]; text: string } {
  const sig = task.signature!;
  const demos = cand.demos.map((d) => ({ inputs: d.inputs!, outputs: d.outputs! }));
  return { messages: renderMessages(sig, cand.instruction, demos, inputs), text: renderText(sig, cand.instruction, demos, inputs) };
}

// The text a candidate's prompts start with, plain or typed (soft-prompt hand-off, prefix reuse).
export function candidatePrefix(task: Pick<Task, 'signature' | 'template' | 'demoTemplate'>, cand: PromptCandidate): string {
  if (!task.signature) return promptPrefix(task, cand);
  return textPrefix(task.signature, cand.instruction, cand.demos.map((d) => ({ inputs: d.inputs!, outputs: d.outputs! })));
}

