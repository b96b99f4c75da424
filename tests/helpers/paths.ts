// Where tests find the real model files and the PyTorch reference vectors.
// They live beside the repo in ../shared (never committed); PROMPTKILN_TEST_MODELS overrides the models.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED_DIR = path.resolve(REPO_DIR, '../shared');
export const MODELS_DIR = process.env.PROMPTKILN_TEST_MODELS ?? path.join(SHARED_DIR, 'models');
export const REFS_DIR = path.join(SHARED_DIR, 'refs');
