import { ChangeOperation } from '@netloom/model';
import { Change } from './change.entity';
import { ChangeFeed } from './change-feed';

const change = (revision: number): Change =>
  Object.assign(new Change(), { revision, kind: 'Network', id: `n${revision}`, operation: ChangeOperation.CREATE, generation: 1, createdAt: new Date(0) });
const range = (from: number, to: number): Change[] => Array.from({ length: to - from + 1 }, (_, i) => change(from + i));

/** The committed rows of a store, read as ChangesService.list reads them; `fail` makes the next reads throw. */
function store(committed: Change[]) {
  const state = { committed, fail: false, reads: [] as [number, number][] };
  const read = jest.fn((after: number, limit: number) => {
    state.reads.push([after, limit]);
    if (state.fail) return Promise.reject(new Error('connect ECONNREFUSED'));
    return Promise.resolve(state.committed.filter((c) => c.revision > after).slice(0, limit));
  });
  return { state, read };
}

function feedOn(read: (after: number, limit: number) => Promise<Change[]>) {
  const calls: number[][] = [];
  const published: number[] = [];
  const feed = new ChangeFeed(read, (c) => {
    published.push(c.revision);
    return Promise.resolve();
  });
  feed.onCommit((changes) => calls.push(changes.map((c) => c.revision)));
  return { feed, calls, published, delivered: () => calls.flat() };
}

describe('ChangeFeed', () => {
  it('delivers a local commit without reading when nothing came before it', async () => {
    const { read } = store([]);
    const { feed, calls, published } = feedOn(read);
    feed.startAfter(4);
    await feed.committed(range(5, 7));
    expect(calls).toEqual([[5, 6, 7]]);
    expect(published).toEqual([5, 6, 7]);
    expect(feed.revision).toBe(7);
    expect(read).not.toHaveBeenCalled();
  });

  it('reads what other processes committed before a local commit and delivers it first', async () => {
    const { read } = store(range(1, 9));
    const { feed, calls, published } = feedOn(read);
    feed.startAfter(2);
    await feed.committed(range(8, 9));
    expect(calls).toEqual([[3, 4, 5, 6, 7], [8, 9]]);
    expect(published).toEqual([3, 4, 5, 6, 7, 8, 9]);
  });

  it('delivers each revision once when a pull read a local commit before the commit itself was handed over', async () => {
    const { read } = store(range(1, 6));
    const { feed, delivered, published } = feedOn(read);
    await feed.pull();
    await feed.committed(range(5, 6));
    await feed.pull();
    expect(delivered()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(published).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('pages through a long run of other processes’ changes in order', async () => {
    const { read, state } = store(range(1, 2500));
    const { feed, delivered, calls } = feedOn(read);
    await feed.pull();
    expect(delivered()).toEqual(range(1, 2500).map((c) => c.revision));
    expect(calls.map((c) => c.length)).toEqual([1000, 1000, 500]);
    expect(state.reads).toEqual([
      [0, 1000],
      [1000, 1000],
      [2000, 1000],
    ]);
  });

  it('keeps a local commit it cannot order for the next pull, which delivers it once the store answers', async () => {
    const { read, state } = store(range(1, 5));
    const { feed, delivered } = feedOn(read);
    feed.startAfter(2);
    state.fail = true;
    await feed.committed(range(5, 5));
    expect(delivered()).toEqual([]);
    expect(feed.revision).toBe(2);
    await feed.pull();
    expect(delivered()).toEqual([]);
    state.fail = false;
    await feed.pull();
    expect(delivered()).toEqual([3, 4, 5]);
  });

  it('merges pulls asked for while one waits, and keeps serving listeners when one throws', async () => {
    const { read, state } = store(range(1, 3));
    const { feed, delivered } = feedOn(read);
    feed.onCommit(() => {
      throw new Error('listener bug');
    });
    await Promise.all([feed.pull(), feed.pull(), feed.pull()]);
    expect(state.reads.length).toBeLessThanOrEqual(2);
    state.committed.push(change(4));
    await feed.pull();
    expect(delivered()).toEqual([1, 2, 3, 4]);
  });
});
