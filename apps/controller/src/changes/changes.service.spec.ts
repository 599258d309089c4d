import type { DataSource } from 'typeorm';
import type { Store } from '../database/store';
import type { MetricsService } from '../observability/metrics.service';
import { ChangesService } from './changes.service';

/** A promise and its resolver. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function service(shared: boolean): ChangesService {
  const dataSource = { transaction: async (work: (em: unknown) => Promise<unknown>) => work({}) } as unknown as DataSource;
  const store = { shared, beginWrite: () => Promise.resolve(), recover: () => undefined } as unknown as Store;
  const metrics = { commitSeconds: { startTimer: () => () => undefined } } as unknown as MetricsService;
  return new ChangesService(dataSource, store, metrics);
}

describe('ChangesService.betweenWrites', () => {
  it('on one connection (SQLite), a read waits for an open dry run to be rolled back', async () => {
    const changes = service(false);
    const inside = deferred();
    const release = deferred();
    const order: string[] = [];
    const dry = changes.dryRun(async () => {
      inside.resolve();
      await release.promise;
      order.push('dry run ends');
    });
    await inside.promise;
    const read = changes.betweenWrites(() => {
      order.push('read');
      return Promise.resolve(7);
    });
    // The dry run is open: the read has not run (a turn of the event loop would have run it, were it not queued).
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual([]);
    release.resolve();
    await dry;
    expect(await read).toBe(7);
    expect(order).toEqual(['dry run ends', 'read']);
  });

  it('on a shared store (PostgreSQL), a read runs at once: each transaction has its own connection', async () => {
    const changes = service(true);
    const release = deferred();
    const inside = deferred();
    const dry = changes.dryRun(async () => {
      inside.resolve();
      await release.promise;
    });
    await inside.promise;
    expect(await changes.betweenWrites(() => Promise.resolve('read'))).toBe('read');
    release.resolve();
    await dry;
  });

  it('a failed read does not stop the writes queued behind it', async () => {
    const changes = service(false);
    await expect(changes.betweenWrites(() => Promise.reject(new Error('store away')))).rejects.toThrow('store away');
    await expect(changes.dryRun(() => Promise.resolve('planned'))).resolves.toBe('planned');
  });
});
