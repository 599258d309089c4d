import { parseTrace, TRACE_ENABLED, traceNow } from './trace';

describe('trace', () => {
  it('is off unless NETLOOM_TRACE=1 was in the environment at start', () => {
    expect(TRACE_ENABLED).toBe(process.env.NETLOOM_TRACE === '1');
  });

  it('reads its lines back out of other output, a line cut short or foreign skipped', () => {
    const text = [
      '2026-12-03T07:35:04Z netloom-agent: reconciled revision 505 in 3659 ms',
      'NETLOOM_TRACE 1796283776874.942 agent.pass.start 31',
      'NETLOOM_TRACE 1796283776875.022 agent.command 31 120.94 r ip -json -details link show',
      'NETLOOM_TRACE 17962837',
      '',
    ].join('\n');
    expect(parseTrace(text)).toEqual([
      { at: 1796283776874.942, point: 'agent.pass.start', revision: 31, detail: '' },
      { at: 1796283776875.022, point: 'agent.command', revision: 31, detail: '120.94 r ip -json -details link show' },
    ]);
  });

  it('tells time on one clock, in epoch milliseconds', () => {
    // Epoch-based (not since start), give or take a clock step since this process began.
    expect(Math.abs(traceNow() - Date.now())).toBeLessThan(60_000);
  });
});
