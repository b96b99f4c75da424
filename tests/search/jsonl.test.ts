// Run files (run.jsonl, events.jsonl) after a kill: a torn last line is dropped; a bad line before the last is a corrupt file, refused.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRunLog } from '../../src/cli/report-run.js';
import { parseEvents } from '../../src/search/events.js';
import { FileRunLog } from '../../src/search/run-log.js';

const good = '{"type":"start"}\n{"type":"candidate","id":"a"}\n';

describe('append-only run files', () => {
  it('a torn last line is dropped by every reader, and a resumed run log rewrites the file without it', async () => {
    expect(parseRunLog(good + '{"type":"cand')).toEqual([{ type: 'start' }, { type: 'candidate', id: 'a' }]);
    expect(parseEvents(good + '{"na')).toHaveLength(2);
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'pk-jsonl-')), 'run.jsonl');
    writeFileSync(file, good + '{"type":"cand');
    await FileRunLog.open(file, true);
    expect(readFileSync(file, 'utf8')).toBe(good);
  });

  it('a bad line before the last is DATA naming the file and record, and the run log is left as it was', async () => {
    const corrupt = '{"type":"start"}\nnot json\n{"type":"candidate","id":"a"}\n';
    expect(() => parseRunLog(corrupt)).toThrow(expect.objectContaining({ code: 'DATA', message: expect.stringMatching(/^run\.jsonl: record 2 of 3 is not JSON/) }));
    expect(() => parseEvents(corrupt, 'DIR/events.jsonl')).toThrow(expect.objectContaining({ code: 'DATA', message: expect.stringMatching(/^DIR\/events\.jsonl: record 2 of 3/) }));
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'pk-jsonl-')), 'run.jsonl');
    writeFileSync(file, corrupt);
    await expect(FileRunLog.open(file, true)).rejects.toMatchObject({ code: 'DATA' });
    expect(readFileSync(file, 'utf8')).toBe(corrupt);
  });
});
