// `promptkiln judge-check`: an LLM judge's agreement with exact match on a labelled set, against
// an Anthropic Messages loopback server STANDING IN FOR api.anthropic.com (a scripted judge that
// ignores case and gives 3 of 5 for extra words, so it disagrees with exact match exactly there).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cmd, io } from '../helpers/cli-io.js';
import { anthropicStandIn, type StandIn } from '../llm/stand-ins.js';

const ROWS = [
  { input: 'capital of France?', reference: 'Paris', prediction: 'Paris' },
  { input: 'capital of Peru?', reference: 'Lima', prediction: 'Lima' },
  { input: 'capital of Chad?', reference: "N'Djamena", prediction: "N'Djamena" },
  { input: 'capital of Italy?', reference: 'Rome', prediction: 'Rome' },
  { input: 'capital of Norway?', reference: 'Oslo', prediction: 'Oslo' },
  { input: 'capital of Mali?', reference: 'Bamako', prediction: 'bamako' },
  { input: 'capital of Laos?', reference: 'Vientiane', prediction: 'VIENTIANE' },
  { input: 'capital of Japan?', reference: 'Tokyo', prediction: 'Tokyo, Japan' },
  { input: 'capital of Fiji?', reference: 'Suva', prediction: 'Nadi' },
];

let claude: StandIn;
let dir: string;
beforeAll(async () => {
  claude = await anthropicStandIn((msgs) => {
    const u = msgs.at(-1)!.content;
    const ref = /Reference answer:\n(.*)\n/.exec(u)![1];
    const ans = /Answer to grade:\n(.*)\n/.exec(u)![1];
    const same = ref.toLowerCase() === ans.toLowerCase();
    const extra = ans.toLowerCase().startsWith(ref.toLowerCase());
    return `{"score": ${same ? 5 : extra ? 3 : 1}, "reason": "${same ? 'the same city' : extra ? 'the right city, with extra words' : 'a different city'}"}`;
  });
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-judge-'));
});
afterAll(() => claude.close());

const run = (argv: string[]) => {
  const a = io();
  return cmd('judge-check').run(argv, a.io).then(() => a.out);
};

describe('promptkiln judge-check', () => {
  it('agreement, kappa, confusion, the disagreements with reasons, and the judge spend by the price file', async () => {
    const data = path.join(dir, 'labelled.jsonl');
    await fs.writeFile(data, ROWS.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const prices = path.join(dir, 'prices.json');
    await fs.writeFile(prices, JSON.stringify({ 'judge-model': { input: 3, output: 15 } }));
    const before = claude.seen.length;
    const out = await run(['--data', data, '--judge-provider', 'anthropic', '--judge-endpoint', claude.url, '--judge-model', 'judge-model', '--prices', prices, '--json']);
    const r = JSON.parse(out[0]);
    // judge ✓ exact ✓: 5; judge ✓ exact ✗: the two case differences and Tokyo (3 of 5 = 0.5, at
    // the threshold); neither: Nadi
    expect(r).toMatchObject({ n: 9, confusion: { both: 5, judgeOnly: 3, exactOnly: 0, neither: 1 }, failures: 0, calls: 9 });
    expect(r.agreement).toBeCloseTo(6 / 9, 12);
    // chance agreement 8/9·5/9 + 1/9·4/9 = 44/81 → κ = (54/81 − 44/81) / (37/81) = 10/37
    expect(r.kappa).toBeCloseTo(10 / 37, 12);
    expect(r.disagreements).toEqual([
      { index: 5, judge: 1, exact: 0, reason: 'the same city' },
      { index: 6, judge: 1, exact: 0, reason: 'the same city' },
      { index: 7, judge: 0.5, exact: 0, reason: 'the right city, with extra words' },
    ]);
    const sent = claude.seen.slice(before);
    expect(sent.length).toBe(9);
    expect(r.cost).toBeCloseTo(sent.reduce((a, s) => a + (s.tokens!.input * 3 + s.tokens!.output * 15) / 1e6, 0), 12);
    expect(r.judge).toBe(`anthropic:${new URL(claude.url).host}/judge-model`);
  });

  it('pairwise: asked in both orders, so a judge that always picks answer A scores every answer as a tie', async () => {
    const biased = await anthropicStandIn(() => '{"winner": "A", "reason": "A reads better"}');
    try {
      const data = path.join(dir, 'pairwise.jsonl');
      await fs.writeFile(data, ROWS.map((r) => JSON.stringify(r)).join('\n') + '\n');
      const r = JSON.parse((await run(['--data', data, '--judge', 'pairwise', '--judge-provider', 'anthropic', '--judge-endpoint', biased.url, '--judge-model', 'j', '--json']))[0]);
      // two orders per row; where the answer equals the reference both orders are one prompt (cached)
      const same = ROWS.filter((x) => x.prediction === x.reference).length;
      expect(r.calls).toBe(2 * ROWS.length - same);
      expect(r.meanJudgeScore).toBe(0.5);
      // each row was shown once with the answer as A, once with the reference as A
      const shown = biased.seen.map((x) => /Answer A:\n(.*)\n\nAnswer B:\n(.*)\n/.exec((x.body.messages as { content: string }[]).at(-1)!.content)!.slice(1));
      expect(shown).toContainEqual(['Tokyo, Japan', 'Tokyo']);
      expect(shown).toContainEqual(['Tokyo', 'Tokyo, Japan']);
    } finally {
      await biased.close();
    }
  });

  it('a bad labelled line names the file, line and field; an unknown judge kind is refused', async () => {
    const data = path.join(dir, 'bad.jsonl');
    await fs.writeFile(data, `${JSON.stringify(ROWS[0])}\n{"input": "x", "reference": "y"}\n`);
    await expect(run(['--data', data, '--judge-provider', 'anthropic', '--judge-endpoint', claude.url, '--judge-model', 'j'])).rejects.toMatchObject({ code: 'DATA', message: `${data}:2: field prediction: expected a string, found nothing` });
    await expect(run(['--data', data, '--judge', 'vibes', '--judge-provider', 'anthropic', '--judge-model', 'j'])).rejects.toMatchObject({ code: 'ARGUMENT', message: 'judge-check: --judge must be one of rubric, pairwise, got "vibes"' });
  });
});
