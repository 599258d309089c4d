import { buildApiReport, REPORT_FILE } from './report';
import { readFileSync } from 'node:fs';

describe('the plugin SDK API report', () => {
  it('matches the code: a change to the public surface must update api-report.d.ts (npm run api-report)', () => {
    expect(readFileSync(REPORT_FILE, 'utf8')).toBe(buildApiReport());
  });
});
