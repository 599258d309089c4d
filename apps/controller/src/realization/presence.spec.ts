import { AgentPresence, connectedElsewhere, inSpanElsewhere, OwnRanges, STALE_AFTER_MS } from './presence';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const row = (over: Partial<AgentPresence>): AgentPresence => ({
  hostId: 'h1',
  connected: true,
  controllerId: 'b:2',
  lastSeen: new Date(NOW - 1_000),
  appliedRevision: 5,
  ...over,
});

describe('presence across replicas', () => {
  it('an agent is connected elsewhere while another replica holds its channel and its heartbeats are fresh', () => {
    expect(connectedElsewhere(row({}), 'a:1', NOW)).toBe(true);
    expect(connectedElsewhere(row({ lastSeen: new Date(NOW - STALE_AFTER_MS) }), 'a:1', NOW)).toBe(true);
  });

  it('not when the row is this replica’s, says closed, has no holder, or went stale (its replica died without writing it)', () => {
    expect(connectedElsewhere(row({ controllerId: 'a:1' }), 'a:1', NOW)).toBe(false);
    expect(connectedElsewhere(row({ connected: false }), 'a:1', NOW)).toBe(false);
    expect(connectedElsewhere(row({ controllerId: null }), 'a:1', NOW)).toBe(false);
    expect(connectedElsewhere(row({ lastSeen: null }), 'a:1', NOW)).toBe(false);
    expect(connectedElsewhere(row({ lastSeen: new Date(NOW - STALE_AFTER_MS - 1) }), 'a:1', NOW)).toBe(false);
    expect(connectedElsewhere(undefined, 'a:1', NOW)).toBe(false);
  });

  it('a host stays in span while connected elsewhere or seen within the grace period, then leaves', () => {
    const grace = 60_000;
    expect(inSpanElsewhere(row({ lastSeen: new Date(NOW - 30_000) }), 'a:1', NOW, grace)).toBe(true);
    expect(inSpanElsewhere(row({ connected: false, lastSeen: new Date(NOW - 59_000) }), 'a:1', NOW, grace)).toBe(true);
    expect(inSpanElsewhere(row({ lastSeen: new Date(NOW - 60_000) }), 'a:1', NOW, grace)).toBe(false);
    expect(inSpanElsewhere(row({ lastSeen: null }), 'a:1', NOW, grace)).toBe(false);
    expect(inSpanElsewhere(undefined, 'a:1', NOW, grace)).toBe(false);
  });
});

describe('OwnRanges', () => {
  it('knows the numbers this process stored until the reader passes them; a rolled-back range is forgotten', () => {
    const own = new OwnRanges();
    own.add(3, 5);
    own.add(9, 9);
    own.add(12, 20);
    expect([2, 3, 5, 6, 9, 12, 20, 21].map((n) => own.has(n))).toEqual([false, true, true, false, true, true, true, false]);
    own.drop(12, 20);
    expect(own.has(15)).toBe(false);
    own.pruneThrough(5);
    expect(own.size).toBe(1);
    expect(own.has(9)).toBe(true);
    own.pruneThrough(9);
    expect(own.size).toBe(0);
  });
});
