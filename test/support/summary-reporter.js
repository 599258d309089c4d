// Prints one plain closing line, "tests: N passed, N failed, N skipped", as the very last line of
// the run (at exit, after jest's own summary), so a tool reading the closing lines knows what ran.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const line = `tests: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${skipped} skipped\n`;
    process.once('exit', () => process.stdout.write(line));
  }
}
module.exports = SummaryReporter;
