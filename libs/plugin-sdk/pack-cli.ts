import { Command } from 'commander';
import { compileSdk, extractApi, inSdkWorkDir, packSdk } from './packaging';

// `npm run sdk:pack` (the npm tarball of @netloom/plugin-sdk) and `npm run api-report` (its API reports rewritten).
const program = new Command('sdk-pack')
  .description('compile @netloom/plugin-sdk, check its API reports and pack it')
  .option('--out <dir>', 'where the tarball goes', 'dist/sdk')
  .option('--write-report', 'rewrite libs/plugin-sdk/api/*.api.md from the code instead of packing', false)
  .parse();
const { out, writeReport } = program.opts<{ out: string; writeReport: boolean }>();

void inSdkWorkDir((work) => {
  compileSdk(work);
  const changed = extractApi(work, writeReport ? 'write' : 'check');
  if (writeReport) {
    console.log(changed.length ? `API reports rewritten: ${changed.join(', ')}` : 'API reports unchanged');
  } else if (changed.length) {
    console.error(`the SDK's public surface differs from its API report (${changed.join(', ')}): run npm run api-report and commit the change`);
    process.exitCode = 1;
  } else {
    console.log(packSdk(work, out));
  }
});
