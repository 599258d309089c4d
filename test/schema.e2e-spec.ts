import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

describe('schema.graphql', () => {
  it('is the SDL the code serves', async () => {
    const cli = resolve(__dirname, '../dist/apps/controller/src/schema-cli.js');
    // --check exits non-zero (and execFile rejects) when the committed file differs.
    await expect(run(process.execPath, [cli, '--check'])).resolves.toBeDefined();
    // Starting the controller's modules takes a few seconds on a loaded machine.
  }, 60_000);
});
