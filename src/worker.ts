// Entry of dist/worker.js: the dedicated worker behind loadModelInWorker(), serving the model's
// calls and the long work above it (tune, compress, optimize; src/worker-tasks.ts).
import { serveModel } from './model/worker-host.js';
import { WORKER_TASKS } from './worker-tasks.js';

serveModel(self as unknown as Parameters<typeof serveModel>[0], WORKER_TASKS);
