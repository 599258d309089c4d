import { REPORT_FILE, writeApiReport } from './report';

// `npm run api-report`: records the SDK's public surface after an intended change.
writeApiReport();
process.stdout.write(`wrote ${REPORT_FILE}\n`);
