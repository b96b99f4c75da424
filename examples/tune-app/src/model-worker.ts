// The app's dedicated worker: promptkiln's model worker (score, generate, tune, …), bundled by Vite.
import 'promptkiln/worker.js';
