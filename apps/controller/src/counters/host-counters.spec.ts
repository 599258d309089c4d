import type { PortCountersEntry } from '@netloom/protocol';
import type { KeyStanding } from '../realization/status-screen';
import { cleanEntry, HostCounters } from './host-counters';

const entry = (portId: string, packets: number, extra: Partial<PortCountersEntry> = {}): PortCountersEntry => ({
  portId,
  rxPackets: packets,
  rxBytes: packets * 64,
  rxDropped: 0,
  rxErrors: 0,
  txPackets: packets,
  txBytes: packets * 64,
  txDropped: 0,
  txErrors: 0,
  ...extra,
});

describe('cleanEntry', () => {
  it('keeps the declared counts only, each a safe non-negative integer', () => {
    expect(cleanEntry({ ...entry('a', 1), droppedSpoofedPackets: 3, extra: 'x' })).toEqual({ ...entry('a', 1), droppedSpoofedPackets: 3 });
    expect(cleanEntry(entry('a', 1))).toEqual(entry('a', 1));
    for (const bad of [null, 'a', { ...entry('a', 1), rxBytes: -1 }, { ...entry('a', 1), txPackets: 1.5 }, { ...entry('a', 1), rxErrors: '1' }, { ...entry('a', 1), txBytes: 2 ** 53 }, { ...entry('a', 1), portId: 7 }, { ...entry('a', 1), droppedSpoofedPackets: -2 }]) {
      expect(cleanEntry(bad)).toBeNull();
    }
  });
});

describe('HostCounters', () => {
  const ours = (id: string): KeyStanding => (['a', 'b', 'c'].includes(id) ? 'sent' : id === 'deleted' ? 'retired' : undefined);

  it('replaces on a full message, merges deltas, forgets removed ports, dates everything by the last arrival', () => {
    const host = new HostCounters();
    expect(host.updatedAt).toBeUndefined();
    expect(host.apply({ type: 'port-counters', full: true, ports: [entry('a', 1), entry('b', 1)], removed: [] }, ours, new Date(1_000))).toBe(0);
    expect(host.apply({ type: 'port-counters', full: false, ports: [entry('a', 5)], removed: ['b'] }, ours, new Date(2_000))).toBe(0);
    expect([host.get('a'), host.get('b'), host.updatedAt]).toEqual([entry('a', 5), undefined, new Date(2_000)]);
    // An empty delta still dates the counters.
    host.apply({ type: 'port-counters', full: false, ports: [], removed: [] }, ours, new Date(3_000));
    expect([host.get('a'), host.updatedAt]).toEqual([entry('a', 5), new Date(3_000)]);
    host.apply({ type: 'port-counters', full: true, ports: [entry('c', 2)], removed: [] }, ours, new Date(4_000));
    expect([host.get('a'), host.get('c'), host.size]).toEqual([undefined, entry('c', 2), 1]);
  });

  it("drops, and counts, entries that are not well formed or not this host's ports; ignores a port just deleted from it", () => {
    const host = new HostCounters();
    const ports = [entry('a', 1), entry('elsewhere', 1), { portId: 'b' } as PortCountersEntry, entry('deleted', 1)];
    const dropped = host.apply({ type: 'port-counters', full: true, ports, removed: [] }, ours);
    expect([dropped, host.size, host.get('a')]).toEqual([2, 1, entry('a', 1)]);
  });
});
