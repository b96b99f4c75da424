// promptkiln judge-check: the judge's agreement with exact match on a labelled set, so a judge
// can be trusted (or not) before a search optimizes against it.
import { PromptkilnError } from '../../errors.js';
import { judgeCheck, type LabelledAnswer } from '../../eval/judge-check.js';
import { JUDGE_KINDS, type JudgeKind } from '../../eval/judge.js';
import { nodeFs } from '../../util/files.js';
import { numberOpt, parse } from '../command.js';
import { keysUsage, lmOptions, loadPrices, roleModel, targetModel, usd } from '../lm-roles.js';
import { register } from '../registry.js';

const usage = `promptkiln judge-check --data FILE.jsonl (--judge-endpoint URL --judge-model NAME [--judge-provider P] | --endpoint URL --llm-model NAME [--provider P])
                       [--judge rubric|pairwise] [--rubric TEXT] [--threshold 0.5] [--prices FILE] [--json]

FILE.jsonl holds one labelled answer a line: {"input", "reference", "prediction"}. The judge grades
each prediction; a score ≥ threshold counts as correct. Reports agreement with exact match
(prediction = reference), Cohen's kappa, the confusion counts, the disagreements with the judge's
reasons, and the judge's calls, tokens and cost. ${keysUsage}`;

register({
  name: 'judge-check',
  summary: "measure an LLM judge's agreement with exact match on a labelled set",
  usage,
  async run(argv, io) {
    const { values } = parse('judge-check', argv, { ...lmOptions, data: { type: 'string' }, judge: { type: 'string', default: 'rubric' }, rubric: { type: 'string' }, threshold: { type: 'string' }, json: { type: 'boolean', default: false } });
    if (!values.data) throw new PromptkilnError('ARGUMENT', 'judge-check: --data FILE.jsonl is required');
    if (!JUDGE_KINDS.includes(values.judge as JudgeKind)) throw new PromptkilnError('ARGUMENT', `judge-check: --judge must be one of ${JUDGE_KINDS.join(', ')}, got "${values.judge}"`);
    const threshold = numberOpt('judge-check', 'threshold', values.threshold, 0.5)!;
    const judge = roleModel('judge-check', 'judge', values) ?? targetModel('judge-check', values);
    if (!judge) throw new PromptkilnError('ARGUMENT', 'judge-check: give the judge: --judge-endpoint URL --judge-model NAME (or --endpoint/--llm-model)');
    const { fs } = await nodeFs();
    let text: string;
    try {
      text = await fs.readFile(values.data, 'utf8');
    } catch (e) {
      throw new PromptkilnError('DATA', `${values.data}: cannot read the labelled set: ${(e as Error).message}`, { file: values.data });
    }
    const items: LabelledAnswer[] = [];
    text.split('\n').forEach((raw, k) => {
      if (!raw.trim()) return;
      const at = `${values.data}:${k + 1}`;
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(raw);
      } catch (e) {
        throw new PromptkilnError('DATA', `${at}: invalid JSON: ${(e as Error).message}`, { file: values.data, line: k + 1 });
      }
      for (const f of ['input', 'reference', 'prediction']) {
        if (typeof o?.[f] !== 'string') throw new PromptkilnError('DATA', `${at}: field ${f}: expected a string, found ${JSON.stringify(o?.[f]) ?? 'nothing'}`, { file: values.data, line: k + 1, field: f });
      }
      items.push({ input: o.input as string, reference: o.reference as string, prediction: o.prediction as string });
    });
    const r = await judgeCheck(judge, items, { judge: { type: values.judge as JudgeKind, rubric: values.rubric }, threshold, prices: await loadPrices(values.prices), signal: io.signal });
    if (values.json) io.out(JSON.stringify({ judge: judge.id, ...r }));
    else {
      io.out(`judge ${judge.id} on ${r.n} labelled answers: agreement with exact match ${(100 * r.agreement).toFixed(1)}%, kappa ${r.kappa === null ? 'n/a' : r.kappa.toFixed(3)}`);
      io.out(`  judge ✓ exact ✓ ${r.confusion.both}   judge ✓ exact ✗ ${r.confusion.judgeOnly}   judge ✗ exact ✓ ${r.confusion.exactOnly}   judge ✗ exact ✗ ${r.confusion.neither}   unreadable ${r.failures}`);
      for (const d of r.disagreements.slice(0, 10)) io.out(`  line ${d.index + 1}: judge ${d.judge.toFixed(2)}, exact ${d.exact}: ${d.reason}`);
      io.out(`  ${r.calls} judge calls, ${r.tokens} tokens, ${usd(r.cost)}`);
    }
    return 0;
  },
});
