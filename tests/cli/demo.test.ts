// The README demo end to end against a loopback hub mirror, then offline from the cache.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHubServer, type HubServer } from '../helpers/hub-server.js';
import { runCli } from './run-cli.js';

// The README's main command, end to end: the demo downloads stories260K through our hub client
// from a loopback mirror of ../shared/models (HF_ENDPOINT), then generates, scores, tunes and
// compresses for real.
describe('README demo (promptkiln demo) against a loopback hub mirror', () => {
  let hub: HubServer;
  const cache = mkdtempSync(path.join(tmpdir(), 'pk-demo-cache-'));
  beforeAll(async () => {
    hub = await startHubServer();
  });
  afterAll(async () => {
    await hub.close();
  });

  it('runs every step and reports real numbers', async () => {
    const env = { HF_ENDPOINT: hub.url, PROMPTKILN_CACHE: cache, HF_HUB_OFFLINE: '' };
    const r = await runCli(['demo', '--json'], env, 240_000);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.load.model).toContain('karpathy/tinyllamas');
    expect(hub.requests.some((q) => q.url.includes('/karpathy/tinyllamas/resolve/main/stories260K/stories260K.bin'))).toBe(true);
    // greedy continuation of "Once upon a time" (the model's own text, see refs README)
    expect(out.generate.text.startsWith(', there was a little girl named Lily.')).toBe(true);
    // " Lily." is the likeliest ending of "…a little girl named"
    expect(out.score[0].ending).toBe(' Lily.');
    expect(out.tune.validNllAfter).toBeLessThan(out.tune.validNllBefore * 0.7);
    expect(out.compress.klAfter).toBeLessThan(out.compress.klBefore * 0.5);

    // a second run is served from the cache, offline: the mirror (still HF_ENDPOINT) gets no request
    const seen = hub.requests.length;
    const again = await runCli(['demo', '--json'], { ...env, HF_HUB_OFFLINE: '1' }, 240_000);
    expect(again.code, again.stderr).toBe(0);
    expect(hub.requests.slice(seen)).toEqual([]);
    expect(JSON.parse(again.stdout).generate.text).toBe(out.generate.text);
  }, 480_000);
});
