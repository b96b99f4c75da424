// Rendering a typed task's prompt: for chat models a system message (instruction + output
// format), the demonstrations as user/assistant turns, any chat-history input as its own turns,
// then the input as the last user message; for completion models the same parts as plain text.
// No Node APIs: programs render in browsers and edge workers.
import type { ChatMessage } from '../llm/types.js';
import { describeType, formatValue, type FieldDef, type Signature, type Values } from './fields.js';

export interface TypedDemo {
  inputs: Values;
  outputs: Values;
}

export function formatSection(sig: Signature): string {
  const line = (d: FieldDef) => `- ${d.name} (${describeType(d)})${d.description ? `: ${d.description}` : ''}`;
  const ins = sig.inputs.filter((d) => d.type !== 'chat');
  const how =
    sig.format === 'json'
      ? 'Answer with one JSON object with exactly these keys, and nothing else:'
      : 'Answer with one line per field, written "name: value", in this order, and nothing else:';
  return [ins.length ? `Input fields:\n${ins.map(line).join('\n')}` : '', `${how}\n${sig.outputs.map(line).join('\n')}`].filter(Boolean).join('\n\n');
}

export function formatInputs(sig: Signature, inputs: Values): string {
  return sig.inputs
    .filter((d) => d.type !== 'chat')
    .map((d) => `${d.name}: ${formatValue(d, inputs[d.name])}`)
    .join('\n');
}

export function formatOutputs(sig: Signature, outputs: Values): string {
  if (sig.format === 'json') return JSON.stringify(Object.fromEntries(sig.outputs.map((d) => [d.name, outputs[d.name]])));
  return sig.outputs.map((d) => `${d.name}: ${formatValue(d, outputs[d.name])}`).join('\n');
}

export function systemText(sig: Signature, instruction: string): string {
  return [instruction.trim(), formatSection(sig)].filter(Boolean).join('\n\n');
}

export function renderMessages(sig: Signature, instruction: string, demos: TypedDemo[], inputs: Values): ChatMessage[] {
  const msgs: ChatMessage[] = [{ role: 'system', content: systemText(sig, instruction) }];
  for (const d of demos) msgs.push({ role: 'user', content: formatInputs(sig, d.inputs) }, { role: 'assistant', content: formatOutputs(sig, d.outputs) });
  for (const f of sig.inputs) if (f.type === 'chat') msgs.push(...(inputs[f.name] as ChatMessage[]));
  const last = formatInputs(sig, inputs);
  // a task whose only input is a chat history ends on that history's own last turn
  if (last || msgs[msgs.length - 1].role !== 'user') msgs.push({ role: 'user', content: last });
  return msgs;
}

const OUT = 'Output:';

// The completion-model rendering: every part as text, ending where the model writes its answer.
const inputBlock = (sig: Signature, ins: Values) =>
  `Input:\n${sig.inputs.map((d) => (d.type === 'chat' ? `${d.name}:\n${formatValue(d, ins[d.name])}` : `${d.name}: ${formatValue(d, ins[d.name])}`)).join('\n')}\n${OUT}`;

// Everything before the input's block: what every prompt of one candidate starts with.
export function textPrefix(sig: Signature, instruction: string, demos: TypedDemo[]): string {
  return [systemText(sig, instruction), ...demos.map((d) => `${inputBlock(sig, d.inputs)}\n${formatOutputs(sig, d.outputs)}`)].join('\n\n') + '\n\n';
}

export function renderText(sig: Signature, instruction: string, demos: TypedDemo[], inputs: Values): string {
  return `${textPrefix(sig, instruction, demos)}${inputBlock(sig, inputs)}\n`;
}

// The follow-up after an unusable answer: the error shown to the model, asking again.
export function retryText(sig: Signature, error: string): string {
  return `That answer could not be used: ${error}. Answer again.\n\n${formatSection(sig)}`;
}

export function withRetryMessages(msgs: ChatMessage[], answer: string, sig: Signature, error: string): ChatMessage[] {
  return [...msgs, { role: 'assistant', content: answer }, { role: 'user', content: retryText(sig, error) }];
}

export function withRetryText(text: string, answer: string, sig: Signature, error: string): string {
  return `${text}${answer.trim()}\n\n${retryText(sig, error)}\n${OUT}\n`;
}
