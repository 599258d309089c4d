import type { DataSource } from 'typeorm';
import { ChangeOperation } from '@netloom/model';
import { Change } from '../changes/change.entity';
import { ChangesService } from '../changes/changes.service';
import type { ControllerConfig } from '../config';
import type { Store } from '../database/store';
import type { MetricsService } from '../observability/metrics.service';
import type { DispatcherService } from './dispatcher.service';
import { ChangeWaiter } from './wait.interceptor';

/** A ChangesService whose transactions write nowhere (the statements answer at once; revisions are numbered as the store would). */
function changesService(): ChangesService {
  // The newest revision inserted, which the next write numbers from.
  let max = 0;
  const chain: Record<string, unknown> = {};
  for (const step of ['insert', 'into', 'updateEntity', 'select']) chain[step] = () => chain;
  chain.values = (rows: { revision?: number }[]) => {
    for (const row of rows) max = Math.max(max, row.revision ?? 0);
    return chain;
  };
  chain.execute = () => Promise.resolve();
  chain.getRawOne = () => Promise.resolve({ max });
  const em = { create: (_entity: unknown, value: object) => ({ ...value }), createQueryBuilder: () => chain, connection: { driver: { escape: (s: string) => s }, getMetadata: () => ({ columns: [] }) } };
  const dataSource = { transaction: async (work: (em: unknown) => Promise<unknown>) => work(em) } as unknown as DataSource;
  const store = { shared: false, beginWrite: () => Promise.resolve(), announce: () => Promise.resolve(), recover: () => undefined } as unknown as Store;
  const metrics = { commitSeconds: { startTimer: () => () => undefined } } as unknown as MetricsService;
  return new ChangesService(dataSource, store, metrics);
}

/** A write that records one port change. */
const createPort = (changes: ChangesService, id: string) => changes.transact(async (tx) => void (await tx.record('Port', id, ChangeOperation.CREATE, 1, null, null)));

describe('ChangeWaiter', () => {
  it('waits for the changes its own write committed, not for those another request committed meanwhile', async () => {
    const changes = changesService();
    const waited: { from: number; to: number; changed: { kind: string; id: string }[] }[] = [];
    const dispatcher = {
      waitApplied: (from: number, to: number, changed: Change[]) => {
        waited.push({ from, to, changed: changed.map((c) => ({ kind: c.kind, id: c.id })) });
        return Promise.resolve();
      },
    } as unknown as DispatcherService;
    const waiter = new ChangeWaiter(dispatcher, { waitTimeoutMs: 1_000 } as ControllerConfig);

    // The first request starts, but its write comes after the second's: the second commits revision 1, the first revision 2.
    let letFirstWrite!: () => void;
    const gate = new Promise<void>((resolve) => (letFirstWrite = resolve));
    const first = waiter.around(true, async () => {
      await gate;
      await createPort(changes, 'p-first');
      return 'first';
    });
    await expect(waiter.around(true, () => createPort(changes, 'p-second').then(() => 'second'))).resolves.toBe('second');
    letFirstWrite();
    await expect(first).resolves.toBe('first');
    expect(waited).toEqual([
      { from: 0, to: 1, changed: [{ kind: 'Port', id: 'p-second' }] },
      { from: 1, to: 2, changed: [{ kind: 'Port', id: 'p-first' }] },
    ]);

    // A write that commits nothing waits for nothing; without wait, nothing is waited for.
    await expect(waiter.around(true, () => Promise.resolve('nothing'))).resolves.toBe('nothing');
    await expect(waiter.around(false, () => createPort(changes, 'p-third').then(() => 'no wait'))).resolves.toBe('no wait');
    expect(waited).toHaveLength(2);
  });
});
