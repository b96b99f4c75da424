// The two test checkpoints through the real loader (src/model/source.ts), loaded once per test
// file. Synchronous accessors keep the test bodies short.
import path from 'node:path';
import { loadCheckpoint } from '../../../src/model/source.js';
import type { Checkpoint } from '../../../src/model/types.js';
import { MODELS_DIR } from '../../helpers/paths.js';

export type TestCheckpoint = Checkpoint;

const stories = await loadCheckpoint(path.join(MODELS_DIR, 'stories260K'));
const gpt2 = await loadCheckpoint(path.join(MODELS_DIR, 'gpt2-tiny-random'));

export function loadStories260K(): Checkpoint {
  return stories;
}

export function loadGpt2Tiny(): Checkpoint {
  return gpt2;
}
