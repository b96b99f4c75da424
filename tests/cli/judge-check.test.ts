// `promptkiln judge-check`: an LLM judge's agreement with exact match on a labelled set, against
// an Anthropic Messages loopback server STANDING IN FOR api.anthropic.com (a scripted judge that
// ignores case, so it disagrees with exact match exactly where case differs).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../../src/cli/commands/index.js';
import type { CliIO } from '../../src/cli/command.js';
import { commands } from '../../src/cli/registry.js';
import { anthropicStandIn, type StandIn } from '../llm/stand-ins.js';

const ROWS = [
  { input: 'capital of France?', reference: 'Paris', prediction: 'Paris' },
  { input: 'capital of Peru?', reference: 'Lima', prediction: 'Lima' },
  { input: 'capital of Chad?', reference: "N'Djamena", prediction: "N'Djamena" },
  { input: 'capital of Mali?', reference: 'Bamako', prediction: 'bamako' },
  { input: 'capital of Laos?', reference: 'Vientiane', prediction: 'VIENTIANE' },
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
    return `{"score": ${same ? 5 : 1}, "reason": "${same ? 'the same city' : 'a different city'}"}`;
  });
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-judge-'));
});
afterAll(() => claude.close());

function io() {
  const out: string[] = [];
  const x: CliIO = { out: (s) => out.push(s), err: () => {}, isTTY: false, signal: new AbortController().signal };
  return { io: x, out };
}
const run = (argv: string[]) => {
  const a = io();
  return commands.find((c) => c.name === 'judge-check')!.run(argv, a.io).then(() => a.out);
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
    // judge ✓ exact ✓: 3; judge ✓ exact ✗: the two case differences; neither: Nadi
    expect(r).toMatchObject({ n: 6, confusion: { both: 3, judgeOnly: 2, exactOnly: 0, neither: 1 }, failures: 0, calls: 6 });
    expect(r.agreement).toBeCloseTo(4 / 6, 12);
    // chance agreement 5/6·3/6 + 1/6·3/6 = 1/2 → κ = (2/3 − 1/2) / (1/2)
    expect(r.kappa).toBeCloseTo(1 / 3, 12);
    expect(r.disagreements).toEqual([
      { index: 3, judge: 1, exact: 0, reason: 'the same city' },
      { index: 4, judge: 1, exact: 0, reason: 'the same city' },
    ]);
    const sent = claude.seen.slice(before);
    expect(sent.length).toBe(6);
    expect(r.cost).toBeCloseTo(sent.reduce((a, s) => a + (s.tokens!.input * 3 + s.tokens!.output * 15) / 1e6, 0), 12);
    expect(r.judge).toBe(`anthropic:${new URL(claude.url).host}/judge-model`);
  });

  it('a bad labelled line names the file, line and field; an unknown judge kind is refused', async () => {
    const data = path.join(dir, 'bad.jsonl');
    await fs.writeFile(data, `${JSON.stringify(ROWS[0])}\n{"input": "x", "reference": "y"}\n`);
    await expect(run(['--data', data, '--judge-provider', 'anthropic', '--judge-endpoint', claude.url, '--judge-model', 'j'])).rejects.toMatchObject({ code: 'DATA', message: `${data}:2: field prediction: expected a string, found nothing` });
    await expect(run(['--data', data, '--judge', 'vibes', '--judge-provider', 'anthropic', '--judge-model', 'j'])).rejects.toMatchObject({ code: 'ARGUMENT', message: 'judge-check: --judge must be one of rubric, pairwise, got "vibes"' });
  });
});
