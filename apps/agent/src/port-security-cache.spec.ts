import { NftTableView } from '@netloom/linux';
import { PortSecurityCache } from './port-security-cache';
import { PortSecurityState } from '@netloom/planner';

const table = (counter: number): NftTableView => ({ chains: [], rules: [], sets: [], counters: [{ name: 'd_00000001', packets: counter, bytes: 0 }] });
const written: PortSecurityState = { intact: true, byVeth: new Map([['nlv00000001', new Set(['s_ports "nlv00000001"'])]]), counters: new Set(['d_00000001']) };

describe('PortSecurityCache', () => {
  /** A listing the test answers, counted. */
  function lister() {
    let answer: (t: NftTableView | null) => void = () => undefined;
    const calls = { count: 0 };
    const list = () => {
      calls.count++;
      return new Promise<NftTableView | null>((resolve) => (answer = resolve));
    };
    return { list, calls, answer: (t: NftTableView | null) => answer(t) };
  }

  it('lists the table once while watched, and again when not watched or dropped', async () => {
    const l = lister();
    const cache = new PortSecurityCache(l.list);
    cache.watched = true;
    const first = cache.read();
    l.answer(table(3));
    expect((await first)?.counters).toEqual(new Set(['d_00000001']));
    expect(cache.drops.get('d_00000001')).toBe(3);
    await cache.read();
    expect(l.calls.count).toBe(1);
    cache.forget();
    const again = cache.read();
    l.answer(null);
    expect(await again).toBeNull();
    expect(l.calls.count).toBe(2);
    // Not watched (nobody hears other writers): every read lists.
    cache.watched = false;
    const unwatched = cache.read();
    l.answer(null);
    await unwatched;
    expect(l.calls.count).toBe(3);
  });

  it('keeps what a write left, unless it was dropped while the write ran; the same for a listing', async () => {
    const l = lister();
    const cache = new PortSecurityCache(l.list);
    cache.watched = true;
    cache.writing()(written);
    expect(await cache.read()).toBe(written);
    expect(l.calls.count).toBe(0);
    // Someone else wrote while ours ran: what ours left is not what the table holds.
    const done = cache.writing();
    cache.forget();
    done(written);
    const listed = cache.read();
    // …and someone else again while that listing ran: it is not kept either.
    cache.forget();
    l.answer(table(0));
    await listed;
    const next = cache.read();
    l.answer(table(1));
    await next;
    expect(l.calls.count).toBe(2);
    expect(cache.drops.get('d_00000001')).toBe(1);
  });
});
