import type { LinkStats } from '@netloom/linux';
import type { PortCountersEntry, PortCountersMessage } from '@netloom/protocol';
import { CountersReporter, portCounters, SentCounters } from './port-counters';

const link = (ifname: string, rx: number, tx: number): LinkStats => ({
  ifname,
  rx: { packets: rx, bytes: rx * 100, dropped: rx % 7, errors: rx % 3 },
  tx: { packets: tx, bytes: tx * 100, dropped: tx % 7, errors: tx % 3 },
});
const hostEnd = (portId: string): string => `nlv${portId}`;

describe('portCounters', () => {
  it("turns each host end's counters to the port's point of view, spoofed drops beside", () => {
    const stats = [link('lo', 1, 1), link('nlva', 10, 20), link('nlvb', 5, 9), link('nlbother', 3, 3)];
    expect(portCounters(['a', 'b', 'c'], stats, hostEnd, new Map([['a', 4]]))).toEqual([
      // The host end received 10 (the port sent them) and sent 20 (the port received them).
      { portId: 'a', rxPackets: 20, rxBytes: 2000, rxDropped: 6, rxErrors: 2, txPackets: 10, txBytes: 1000, txDropped: 3, txErrors: 1, droppedSpoofedPackets: 4 },
      { portId: 'b', rxPackets: 9, rxBytes: 900, rxDropped: 2, rxErrors: 0, txPackets: 5, txBytes: 500, txDropped: 5, txErrors: 2 },
      // c's host end is not there (not made yet): left out.
    ]);
  });
});

const entry = (portId: string, packets: number, spoofed?: number): PortCountersEntry => ({
  portId,
  rxPackets: packets,
  rxBytes: packets,
  rxDropped: 0,
  rxErrors: 0,
  txPackets: packets,
  txBytes: packets,
  txDropped: 0,
  txErrors: 0,
  ...(spoofed === undefined ? {} : { droppedSpoofedPackets: spoofed }),
});

describe('SentCounters', () => {
  it('sends everything when full, then only what moved and what went', () => {
    const sent = new SentCounters();
    expect(sent.message([entry('a', 1), entry('b', 1)], true)).toEqual({ type: 'port-counters', full: true, ports: [entry('a', 1), entry('b', 1)], removed: [] });
    // Nothing moved: an empty message (its arrival dates the counters).
    expect(sent.message([entry('a', 1), entry('b', 1)], false)).toMatchObject({ full: false, ports: [], removed: [] });
    // a moved, b went, c came; a spoofed drop alone is a move.
    expect(sent.message([entry('a', 2), entry('c', 0)], false)).toMatchObject({ ports: [entry('a', 2), entry('c', 0)], removed: ['b'] });
    expect(sent.message([entry('a', 2, 1), entry('c', 0)], false)).toMatchObject({ ports: [entry('a', 2, 1)], removed: [] });
    // Full again (a new channel): everything, nothing removed.
    expect(sent.message([entry('c', 0)], true)).toMatchObject({ full: true, ports: [entry('c', 0)], removed: [] });
  });
});

describe('CountersReporter', () => {
  afterEach(() => jest.useRealTimers());

  it('sends nothing until asked, then a full message at once and deltas every period; a lost send makes the next one full', async () => {
    jest.useFakeTimers();
    let packets = 1;
    const read = jest.fn(() => Promise.resolve([entry('a', packets)]));
    const messages: PortCountersMessage[] = [];
    let open = true;
    const reporter = new CountersReporter({
      everyMs: 1_000,
      read,
      send: (m) => {
        if (open) messages.push(m);
        return open;
      },
      log: () => {
        throw new Error('nothing to log');
      },
    });
    await jest.advanceTimersByTimeAsync(5_000);
    expect(read).not.toHaveBeenCalled();

    reporter.requested();
    await jest.advanceTimersByTimeAsync(0);
    expect(messages).toMatchObject([{ full: true, ports: [entry('a', 1)] }]);
    packets = 2;
    await jest.advanceTimersByTimeAsync(1_000);
    expect(messages[1]).toMatchObject({ full: false, ports: [entry('a', 2)] });
    await jest.advanceTimersByTimeAsync(1_000);
    expect(messages[2]).toMatchObject({ full: false, ports: [] });

    open = false;
    await jest.advanceTimersByTimeAsync(1_000);
    open = true;
    await jest.advanceTimersByTimeAsync(1_000);
    expect(messages).toHaveLength(4);
    expect(messages[3]).toMatchObject({ full: true, ports: [entry('a', 2)] });

    reporter.stop();
    const reads = read.mock.calls.length;
    await jest.advanceTimersByTimeAsync(5_000);
    expect(read).toHaveBeenCalledTimes(reads);
  });

  it('logs a failing read once, and when it works again', async () => {
    jest.useFakeTimers();
    let fail = true;
    const lines: string[] = [];
    const reporter = new CountersReporter({
      everyMs: 1_000,
      read: () => (fail ? Promise.reject(new Error('ip: boom')) : Promise.resolve([])),
      send: () => true,
      log: (line) => lines.push(line),
    });
    reporter.requested();
    await jest.advanceTimersByTimeAsync(2_000);
    fail = false;
    await jest.advanceTimersByTimeAsync(1_000);
    reporter.stop();
    expect(lines).toEqual(['reading port counters: ip: boom', 'reading port counters works again']);
  });
});
