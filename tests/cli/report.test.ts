// `promptkiln optimize --strategy grips --objectives …` on the real stories260K model (loglik),
// then `promptkiln report DIR`: the page is rebuilt from the run directory alone, works offline
// (no request leaves the page) and renders in headless Chromium; the screenshot is kept in
// .cache/test-output/ (gitignored).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cmd, io } from '../helpers/cli-io.js';
import { runReport } from '../../src/cli/report-run.js';
import { launchChromium } from '../hosts/chromium.js';
import { MODELS_DIR, REPO_DIR } from '../helpers/paths.js';

const TASK = path.join(REPO_DIR, 'tests/search/fixtures/tom-stories.json');
const MODEL = path.join(MODELS_DIR, 'stories260K');
const SHOTS = path.join(REPO_DIR, '.cache/test-output');

const lines = async (f: string) => (await fs.readFile(f, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));

describe('promptkiln report', () => {
  it('rebuilds a GrIPS run with objectives from its directory: tree, front, calls over time, worst examples; renders offline in Chromium', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-report-'));
    const a = io();
    const args = ['--task', TASK, '--model', MODEL, '--strategy', 'grips', '--budget', '150', '--seed', '2', '--iterations', '2', '--candidates', '4',
      '--objectives', 'score,latency,length', '--select', 'score=1,length=0.001', '--out', dir, '--json'];
    expect(await cmd('optimize').run(args, a.io)).toBe(0);
    const summary = JSON.parse(a.out[0]);
    expect(summary.objectives.front.length).toBeGreaterThan(0);
    expect(summary.objectives.front).toContain(summary.objectives.winner);
    const log = await lines(path.join(dir, 'run.jsonl'));
    const cands = log.filter((e) => e.type === 'candidate');
    const events = await lines(path.join(dir, 'events.jsonl'));
    expect(events.filter((e) => e.name === 'proposal').map((e) => e.attributes.candidate)).toEqual(cands.map((c) => c.id));

    // the report page is rebuilt from the directory alone
    await fs.rm(path.join(dir, 'report.html'));
    const r = io();
    expect(await cmd('report').run([dir], r.io)).toBe(0);
    expect(r.out[0]).toBe(path.join(dir, 'report.html'));
    const html = await fs.readFile(path.join(dir, 'report.html'), 'utf8');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
    for (const h of ['Score per iteration', 'Candidate tree', 'Pareto front', 'Cost and calls over time', 'Worst examples of the best candidate']) expect(html).toContain(h);
    // one tree node per candidate, one edge per parent link; the front as the run selected it
    expect(html.match(/class="node"/g)!.length).toBe(cands.length);
    expect(html.match(/class="edge"/g)?.length ?? 0).toBe(cands.filter((c) => c.parent).length + cands.filter((c) => /:c\d+$/.test(c.operator)).length);
    expect((html.match(/class="(front|winner)"/g) ?? []).length).toBe(summary.objectives.front.length);
    expect(html).toContain(`<b>${summary.objectives.winner}</b>`);

    // a report of a run still going: a log cut mid-line renders what is there
    const partial = path.join(dir, 'partial');
    await fs.mkdir(partial);
    const text = await fs.readFile(path.join(dir, 'run.jsonl'), 'utf8');
    await fs.writeFile(path.join(partial, 'run.jsonl'), text.slice(0, Math.floor(text.length * 0.6)));
    expect(await cmd('report').run([partial], io().io)).toBe(0);
    expect(await fs.readFile(path.join(partial, 'report.html'), 'utf8')).toContain('running or stopped');
    await expect(cmd('report').run([path.join(dir, 'missing')], io().io)).rejects.toMatchObject({ code: 'DATA' });

    // headless Chromium, offline: every request but the page itself is refused and counted
    const b = await launchChromium();
    try {
      const page = await b.context.newPage();
      const requests: string[] = [];
      await page.route('**/*', (route) => {
        const u = route.request().url();
        if (u.startsWith('file://')) return route.continue();
        requests.push(u);
        return route.abort();
      });
      await page.goto('file://' + path.join(dir, 'report.html'));
      expect(await page.locator('svg.tree circle.node').count()).toBe(cands.length);
      expect(await page.locator('svg.pareto circle').count()).toBe(summary.objectives.front.length + log.find((e) => e.type === 'objectives').points.length - summary.objectives.front.length);
      const box = await page.locator('svg.tree').boundingBox();
      expect(box!.width).toBeGreaterThan(100);
      await fs.mkdir(SHOTS, { recursive: true });
      const shot = path.join(SHOTS, 'report-grips.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect((await fs.stat(shot)).size).toBeGreaterThan(20_000);
      expect(requests).toEqual([]);
    } finally {
      await b.close();
    }
  });

  it('a synthetic run log: front and winner as logged, a merge drawn with both parents, worst examples of the best', () => {
    const L = (o: object) => JSON.stringify(o);
    const log = [
      L({ type: 'start', task: 't', strategy: 'gepa', seed: 0, metric: 'exact_match', model: 'm', proposer: 'm' }),
      L({ type: 'candidate', iteration: 0, id: 'c0', parent: null, operator: 'manual', instruction: 'a', demos: [], score: 0.2, n: 3, pruned: false }),
      L({ type: 'candidate', iteration: 1, id: 'c1', parent: 'c0', operator: 'gepa:reflect', instruction: 'bb', demos: [], score: 0.5, n: 3, pruned: false }),
      L({ type: 'candidate', iteration: 1, id: 'c2', parent: 'c0', operator: 'gepa:reflect', instruction: 'ccc', demos: [], score: 0.4, n: 3, pruned: false }),
      L({ type: 'candidate', iteration: 2, id: 'c3', parent: 'c1', operator: 'gepa:merge:c2', instruction: 'dddd', demos: [], score: 0.9, n: 3, pruned: false }),
      L({ type: 'iteration', iteration: 2, best: 'c3', score: 0.9, calls: 30, cost: 0 }),
      L({ type: 'objectives', names: ['score', 'length'], front: ['c0', 'c1', 'c3'], winner: 'c1', constraintsMet: true, selection: { constraints: { length: { max: 3 } } },
        points: [['c0', 0.2, 1], ['c1', 0.5, 2], ['c2', 0.4, 3], ['c3', 0.9, 4]].map(([id, score, length]) => ({ id, values: { score, cost: null, latency: null, length } })) }),
    ].join('\n');
    const ev = { traceId: 't', spanId: 'eval:c1', parentSpanId: 'it1', name: 'evaluation', start: 0, end: 1,
      attributes: { candidate: 'c1', worst: [JSON.stringify({ id: 'i7', score: 0, input: 'river', expected: 'RIVER', prediction: 'river', feedback: 'not in capitals' })] } };
    const html = runReport(log, JSON.stringify(ev) + '\n');
    expect(html.match(/class="front"/g)).toHaveLength(2);
    expect(html.match(/class="winner"/g)).toHaveLength(1);
    expect(html.match(/class="dominated"/g)).toHaveLength(1);
    expect(html.match(/class="edge"/g)).toHaveLength(4); // c1←c0, c2←c0, c3←c1 and the merge's c3←c2
    expect(html.match(/stroke-dasharray/g)).toHaveLength(1);
    expect(html).toContain('<b>c1</b>'); // the winner of the objectives, not the best score
    expect(html).toContain('<td>not in capitals</td>');
  });
});
