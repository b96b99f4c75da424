// Where ../shared is, from a suite bundled into bench/.cache/ or run from bench/.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = [path.resolve(here, '..'), path.resolve(here, '../..')].find((p) => existsSync(path.join(p, 'package.json')))!;
export const SHARED = path.resolve(REPO, '../shared');
export const MODELS = process.env.PROMPTKILN_TEST_MODELS ?? path.join(SHARED, 'models');
