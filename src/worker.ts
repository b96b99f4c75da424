// Entry of dist/worker.js: the dedicated worker behind loadModelInWorker().
import { serveModel } from './model/worker-host.js';

serveModel(self as unknown as Parameters<typeof serveModel>[0]);
