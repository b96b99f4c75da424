// Prints one plain closing line, "N passed, N failed[, N skipped]", after vitest's own summary, so
// CI logs carry a runner-independent count.
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0, failed = 0, skipped = 0;
    for (const m of modules) {
      for (const t of m.children.allTests()) {
        const s = t.result().state;
        if (s === 'passed') passed++;
        else if (s === 'failed') failed++;
        else skipped++;
      }
      // a file that failed to load or whose hooks threw counts as a failure even when none of its tests ran
      if (m.state() === 'failed' && ![...m.children.allTests()].some((t) => t.result().state === 'failed')) failed++;
    }
    process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
    // every test must run: a skipped or todo test fails the run (a missing tool is a failure, not a skip)
    if (skipped > 0) {
      process.stdout.write(`${skipped} test(s) did not run: the suite requires every test to execute\n`);
      process.exitCode = 1;
    }
  }
}
