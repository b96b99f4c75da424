// The official ONNX checker (Debian python3-onnx) on exported graphs, with full shape inference.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PY, requirePython } from '../helpers/system.js';
import { exportOnnx, type ExportOptions } from '../../src/ort/export.js';
import { loadGpt2Tiny, loadStories260K } from './helpers/checkpoints.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-onnx-check-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

// check_model on a path resolves external data next to the file; full_check adds shape inference
// (strict mode), which catches rank/type mismatches the runtime might tolerate.
function check(file: string): { ok: boolean; out: string } {
  const code = [
    'import sys, onnx',
    'from onnx import shape_inference',
    'onnx.checker.check_model(sys.argv[1], full_check=True)',
    'm = onnx.load(sys.argv[1], load_external_data=False)',
    'print("ir", m.ir_version, "opset", m.opset_import[0].version, "nodes", len(m.graph.node))',
  ].join('\n');
  const r = spawnSync(PY, ['-c', code, file], { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

const cases: { name: string; load: typeof loadStories260K; opts: ExportOptions }[] = [
  { name: 'stories260K (plain)', load: loadStories260K, opts: {} },
  { name: 'stories260K (prefix + logits + input_ids, external data)', load: loadStories260K, opts: { prefix: true, logits: true, inputIds: true, externalThreshold: 1024, externalLocation: 's.data' } },
  { name: 'gpt2-tiny-random (plain)', load: loadGpt2Tiny, opts: {} },
  { name: 'gpt2-tiny-random (prefix + logits, external data)', load: loadGpt2Tiny, opts: { prefix: true, logits: true, externalThreshold: 1024, externalLocation: 'g.data' } },
];

describe('onnx.checker.check_model', () => {
  beforeAll(() => requirePython('onnx', 'python3-onnx'));
  for (const c of cases) {
    it(`${c.name} passes the full check`, () => {
      const ck = c.load();
      const exp = exportOnnx(ck.config, ck.tensors, c.opts);
      const file = path.join(dir, `${c.name.replace(/\W+/g, '_')}.onnx`);
      fs.writeFileSync(file, exp.model);
      if (exp.external) fs.writeFileSync(path.join(dir, exp.external.location), exp.external.data);
      expect(Boolean(exp.external)).toBe(c.opts.externalThreshold !== undefined);
      const r = check(file);
      expect(r.out).toMatch(/ir 8 opset 17 nodes \d+/);
      expect(r.ok, r.out).toBe(true);
    });
  }
});
