import { joinVerdict } from './join-window';

describe('joinVerdict', () => {
  const usedAt = new Date('2026-12-02T10:00:00Z');
  const at = (ms: number): number => usedAt.getTime() + ms;

  it('lets an unused token through, with or without a credential', () => {
    expect(joinVerdict({ usedAt: null, credentialHash: null }, 'k1', at(0), 600_000)).toBe('first');
    expect(joinVerdict({ usedAt: null, credentialHash: null }, null, at(0), 600_000)).toBe('first');
  });

  it('answers the same credential again inside the window, up to its last millisecond', () => {
    expect(joinVerdict({ usedAt, credentialHash: 'k1' }, 'k1', at(1), 600_000)).toBe('retry');
    expect(joinVerdict({ usedAt, credentialHash: 'k1' }, 'k1', at(600_000), 600_000)).toBe('retry');
  });

  it('refuses the same credential after the window', () => {
    expect(joinVerdict({ usedAt, credentialHash: 'k1' }, 'k1', at(600_001), 600_000)).toBe('refused');
  });

  it('refuses another credential, no credential, or a voided one, even inside the window', () => {
    expect(joinVerdict({ usedAt, credentialHash: 'k1' }, 'k2', at(1), 600_000)).toBe('refused');
    expect(joinVerdict({ usedAt, credentialHash: 'k1' }, null, at(1), 600_000)).toBe('refused');
    expect(joinVerdict({ usedAt, credentialHash: null }, 'k1', at(1), 600_000)).toBe('refused');
  });
});
