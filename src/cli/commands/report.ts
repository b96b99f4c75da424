// promptkiln report DIR: rebuild DIR/report.html from an optimize run directory, during the run or after.
import { PromptkilnError } from '../../errors.js';
import { nodeFs, writeFileAtomic } from '../../util/files.js';
import { parse } from '../command.js';
import { register } from '../registry.js';
import { runReport } from '../report-run.js';

const usage = `promptkiln report DIR [--out FILE]

Rebuilds DIR/report.html (or FILE) from an optimize run directory: DIR/run.jsonl and, when there,
DIR/events.jsonl. Works while the run is going (it reads the lines written so far). The page is
one offline HTML file with inline SVG: score per iteration, the candidate tree, the Pareto front,
cost and calls over time, and the best candidate's worst examples with their feedback.`;

register({
  name: 'report',
  summary: 'rebuild report.html from an optimize run directory',
  usage,
  async run(argv, io) {
    const { values, positionals } = parse('report', argv, { out: { type: 'string' } });
    const dir = positionals[0];
    if (!dir || positionals.length > 1) throw new PromptkilnError('ARGUMENT', `report: give exactly one run directory, got ${JSON.stringify(positionals)}`);
    const { fs, path } = await nodeFs();
    const read = async (name: string, required: boolean) => {
      try {
        return await fs.readFile(path.join(dir, name), 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !required) return null;
        throw new PromptkilnError('DATA', `report: cannot read ${path.join(dir, name)}: ${(e as Error).message} (is ${dir} an optimize --out directory?)`);
      }
    };
    const html = runReport((await read('run.jsonl', true))!, await read('events.jsonl', false));
    const out = values.out ?? path.join(dir, 'report.html');
    await writeFileAtomic(out, html);
    io.out(out);
    return 0;
  },
});
