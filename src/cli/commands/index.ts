// One import per command file; each registers itself with main.ts.
import './score.js';
import './generate.js';
import './optimize.js';
import './serve.js';
import './compress.js';
import './demo.js';
import './tune.js';
import './merge.js';
import './run.js';
import './judge-check.js';
import './report.js';
