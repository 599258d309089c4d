import { EntityManager } from 'typeorm';
import { definePlugin, SDK_VERSION } from '@netloom/plugin-sdk';
import { IpAllocation } from '../ports/ip-allocation.entity';
import { Port } from '../ports/port.entity';
import { databaseIntentView } from './intent-view';

const plugin = definePlugin({ id: 'acme.view', version: '1.0.0', sdk: SDK_VERSION, kinds: { Thing: { fields: {} } } });

/** An entity manager that answers `find` for the tables the view reads (a `where` of `In(…)` columns honoured), and fails on anything else. */
function fakeEm(rows: Map<unknown, unknown[]>): EntityManager {
  const find = jest.fn((entity: unknown, opts?: { where?: Record<string, { value: unknown[] }> }) => {
    if (!rows.has(entity)) throw new Error(`unexpected find of ${String((entity as { name?: string }).name)}`);
    const where = Object.entries(opts?.where ?? {});
    return Promise.resolve(rows.get(entity)!.filter((row) => where.every(([column, inList]) => inList.value.includes((row as Record<string, unknown>)[column]))));
  });
  return { find } as unknown as EntityManager;
}

const TABLES = (): Map<unknown, unknown[]> =>
  new Map<unknown, unknown[]>([
    [
      Port,
      [
        { id: 'p1', name: 'web-1', networkId: 'n1', hostId: 'h1', macAddress: '02:00:00:00:00:01', labels: [{ key: 'tier', value: 'web' }] },
        { id: 'p2', name: 'db-1', networkId: 'n1', hostId: 'h2', macAddress: '02:00:00:00:00:02', labels: [] },
        { id: 'p3', name: 'web-2', networkId: 'n2', hostId: 'h2', macAddress: '02:00:00:00:00:03', labels: [{ key: 'tier', value: 'web' }] },
      ],
    ],
    [
      IpAllocation,
      [
        { portId: 'p1', subnetId: 's1', ipAddress: '10.0.0.2' },
        { portId: null, subnetId: 's1', ipAddress: '10.0.0.9' },
        { portId: 'p3', subnetId: 's2', ipAddress: '10.1.0.2' },
      ],
    ],
  ]);

describe('databaseIntentView', () => {
  it('gives ports with their labels and addresses, reading each table once', async () => {
    const em = fakeEm(
      new Map<unknown, unknown[]>([
        [
          Port,
          [
            { id: 'p1', name: 'web-1', networkId: 'n1', hostId: 'h1', macAddress: '02:00:00:00:00:01', labels: [{ key: 'tier', value: 'web' }] },
            { id: 'p2', name: 'db-1', networkId: 'n1', hostId: 'h2', macAddress: '02:00:00:00:00:02', labels: [] },
          ],
        ],
        [IpAllocation, [{ portId: 'p1', subnetId: 's1', ipAddress: '10.0.0.2' }, { portId: null, subnetId: 's1', ipAddress: '10.0.0.9' }]],
      ]),
    );
    const view = databaseIntentView(em, plugin);
    expect(await view.ports()).toEqual([
      { id: 'p1', name: 'web-1', networkId: 'n1', hostId: 'h1', macAddress: '02:00:00:00:00:01', fixedIps: [{ subnetId: 's1', ipAddress: '10.0.0.2' }], labels: { tier: 'web' } },
      { id: 'p2', name: 'db-1', networkId: 'n1', hostId: 'h2', macAddress: '02:00:00:00:00:02', fixedIps: [], labels: {} },
    ]);
    await view.ports();
    expect((em.find as jest.Mock).mock.calls.map(([entity]) => entity)).toEqual([Port, IpAllocation]);
  });

  it('reads only the rows a narrowed read can match (by ids, networks or hosts), the rest of the filter in memory', async () => {
    const em = fakeEm(TABLES());
    const view = databaseIntentView(em, plugin);
    expect((await view.ports({ ids: ['p3', 'p1'], labels: { tier: 'web' } })).map((p) => [p.id, p.fixedIps])).toEqual([
      ['p1', [{ subnetId: 's1', ipAddress: '10.0.0.2' }]],
      ['p3', [{ subnetId: 's2', ipAddress: '10.1.0.2' }]],
    ]);
    expect((await view.ports({ networkIds: ['n1'] })).map((p) => p.id)).toEqual(['p1', 'p2']);
    expect((await view.ports({ hostIds: ['h2'], networkIds: ['n2'] })).map((p) => p.id)).toEqual(['p3']);
    expect(await view.ports({ ids: [] })).toEqual([]);
    // Each read asked the store for its rows only, and their addresses only.
    const calls = (em.find as jest.Mock).mock.calls.map(([entity, opts]: [unknown, { where?: Record<string, { value: unknown[] }> }]) => [
      entity === Port ? 'ports' : 'allocations',
      Object.fromEntries(Object.entries(opts?.where ?? {}).map(([column, inList]) => [column, [...inList.value].sort()])),
    ]);
    expect(calls).toEqual([
      ['ports', { id: ['p1', 'p3'] }],
      ['allocations', { portId: ['p1', 'p3'] }],
      ['ports', { networkId: ['n1'] }],
      ['allocations', { portId: ['p1', 'p2'] }],
      ['ports', { networkId: ['n2'] }],
      ['allocations', { portId: ['p3'] }],
    ]);
    // Once the whole table was read, narrowed reads filter it.
    await view.ports();
    const before = (em.find as jest.Mock).mock.calls.length;
    expect((await view.ports({ ids: ['p2'] })).map((p) => p.id)).toEqual(['p2']);
    expect((em.find as jest.Mock).mock.calls.length).toBe(before);
  });
});
