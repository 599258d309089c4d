import { EntityManager } from 'typeorm';
import { definePlugin, SDK_VERSION } from '@netloom/plugin-sdk';
import { IpAllocation } from '../ports/ip-allocation.entity';
import { Port } from '../ports/port.entity';
import { databaseIntentView } from './intent-view';

const plugin = definePlugin({ id: 'acme.view', version: '1.0.0', sdk: SDK_VERSION, kinds: { Thing: { fields: {} } } });

/** An entity manager that answers `find` for the tables the view reads, and fails on anything else. */
function fakeEm(rows: Map<unknown, unknown[]>): EntityManager {
  const find = jest.fn((entity: unknown) => {
    if (!rows.has(entity)) throw new Error(`unexpected find of ${String((entity as { name?: string }).name)}`);
    return Promise.resolve(rows.get(entity));
  });
  return { find } as unknown as EntityManager;
}

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
});
