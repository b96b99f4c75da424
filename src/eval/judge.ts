// LLM-as-judge: the prompts a judge model is sent and how its verdict is read. A rubric judge
// gives a 1–5 score with a short reason (scaled to [0, 1]); a pairwise judge prefers the answer
// or the reference (1, 0.5 for a tie, 0), asked in both orders (answer first, then reference
// first) and averaged, so a judge that favours a position scores no better than a tie. The
// evaluator sends these through its cache and budget.
import { PromptkilnError } from '../errors.js';
import type { ChatMessage } from '../llm/types.js';

export type JudgeKind = 'rubric' | 'pairwise';
export const JUDGE_KINDS: JudgeKind[] = ['rubric', 'pairwise'];

export interface JudgeSpec {
  type: JudgeKind;
  rubric?: string; // what a good answer is; default: correct and complete with respect to the reference
}

export interface JudgeCase {
  input: string;
  reference: string;
  prediction: string;
}

export interface Verdict {
  score: number; // [0, 1]
  reason: string;
}

const DEFAULT_RUBRIC = 'The answer is correct, complete and consistent with the reference answer; wording may differ.';

// swapped (pairwise only): the reference is shown as answer A and the graded answer as B
export function judgeMessages(spec: JudgeSpec, c: JudgeCase, swapped = false): ChatMessage[] {
  const system = 'You are a careful, strict grader of answers. You reply with one JSON object and nothing else.';
  if (spec.type === 'rubric') {
    return [
      { role: 'system', content: system },
      {
        role: 'user',
        content: `Grade the answer against the rubric on a scale of 1 (fails it) to 5 (fully meets it).\n\nRubric: ${spec.rubric ?? DEFAULT_RUBRIC}\n\nInput:\n${c.input}\n\nReference answer:\n${c.reference}\n\nAnswer to grade:\n${c.prediction}\n\nReply as {"score": <1-5>, "reason": "<one sentence>"}.`,
      },
    ];
  }
  return [
    { role: 'system', content: system },
    {
      role: 'user',
      content: `Which answer to the input is better${spec.rubric ? ` (criterion: ${spec.rubric})` : ''}?\n\nInput:\n${c.input}\n\nAnswer A:\n${swapped ? c.reference : c.prediction}\n\nAnswer B:\n${swapped ? c.prediction : c.reference}\n\nReply as {"winner": "A" | "B" | "tie", "reason": "<one sentence>"}.`,
    },
  ];
}

// The same conversation for a completion-only judge.
export function judgeText(msgs: ChatMessage[]): string {
  return msgs.map((m) => m.content).join('\n\n') + '\n\n';
}

function verdictObject(text: string): Record<string, unknown> | null {
  const m = /\{[\s\S]*\}/.exec(text);
  if (!m) return null;
  try {
    const v = JSON.parse(m[0]);
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

// How many judge calls one verdict takes.
export const judgeCalls = (spec: JudgeSpec): number => (spec.type === 'pairwise' ? 2 : 1);

// The judge's verdict on the graded answer (a swapped pairwise reply is turned back); an
// unreadable one is a METRIC error (recorded on the example, with the text).
export function parseVerdict(spec: JudgeSpec, text: string, swapped = false): Verdict {
  const o = verdictObject(text);
  const reason = typeof o?.reason === 'string' ? o.reason.trim() : '';
  if (spec.type === 'rubric') {
    const raw = o?.score ?? /score"?\s*[:=]\s*([1-5])/i.exec(text)?.[1];
    const s = Number(raw);
    if (!(Number.isInteger(s) && s >= 1 && s <= 5)) throw new PromptkilnError('METRIC', `the rubric judge's reply has no score 1-5: ${JSON.stringify(text.slice(0, 160))}`);
    return { score: (s - 1) / 4, reason };
  }
  const w = String(o?.winner ?? /winner"?\s*[:=]\s*"?(A|B|tie)/i.exec(text)?.[1] ?? '').trim().toLowerCase();
  if (!['a', 'b', 'tie'].includes(w)) throw new PromptkilnError('METRIC', `the pairwise judge's reply names no winner A, B or tie: ${JSON.stringify(text.slice(0, 160))}`);
  const first = w === 'a' ? 1 : w === 'tie' ? 0.5 : 0;
  return { score: swapped ? 1 - first : first, reason };
}
