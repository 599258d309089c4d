import { conflict, ErrorCode } from '@netloom/model';
import { t } from './fields';
import { definePlugin } from './plugin';
import { inMemoryIntent, runController } from './testkit-controller';

const plugin = definePlugin<{ hostId: string; networks: string[] }>({
  id: 'acme.router',
  version: '1.0.0',
  sdk: 1,
  kinds: { Router: { fields: { hostId: t.ref('Host'), networks: t.list(t.ref('Network')) } } },
  controller: {
    async validate(resource, intent) {
      const others = await intent.resources<{ hostId: string }>('Router');
      if (others.some((r) => r.spec.hostId === resource.spec.hostId)) throw conflict('host taken', 'input.hostId');
    },
    async place(resource, intent) {
      const host = (await intent.hosts()).find((h) => h.id === resource.spec.hostId);
      return host ? [{ hostId: host.id, spec: { vtep: host.vtepAddress }, networks: resource.spec.networks }] : [];
    },
  },
});

describe('controller test kit', () => {
  const intent = inMemoryIntent({
    hosts: [{ id: 'h1' }, { id: 'h2', vtepAddress: '198.51.100.2' }],
    networks: [{ id: 'n1' }],
    subnets: [{ id: 's1', networkId: 'n1', cidr: '10.0.0.0/24' }],
    ports: [{ id: 'p1', networkId: 'n1', hostId: 'h1' }],
    resources: [{ kind: 'Router', id: 'r0', spec: { hostId: 'h1', networks: [] } }],
  });

  it('fills defaults in the in-memory intent', async () => {
    expect(await intent.hosts()).toEqual([
      { id: 'h1', name: 'h1', vtepAddress: '192.0.2.1', labels: {} },
      { id: 'h2', name: 'h2', vtepAddress: '198.51.100.2', labels: {} },
    ]);
    expect(await intent.subnets()).toEqual([{ id: 's1', networkId: 'n1', name: 's1', cidr: '10.0.0.0/24', gatewayIp: '10.0.0.0', ipVersion: 4 }]);
    expect((await intent.ports())[0]).toMatchObject({ id: 'p1', fixedIps: [] });
    expect((await intent.resources('Router')).map((r) => r.id)).toEqual(['r0']);
    expect(await intent.resources('Other')).toEqual([]);
  });

  it('runs validate then place', async () => {
    const { placements } = await runController(plugin, 'Router', { spec: { hostId: 'h2', networks: ['n1'] } }, intent);
    expect(placements).toEqual([{ hostId: 'h2', spec: { vtep: '198.51.100.2' }, networks: ['n1'] }]);
  });

  it("throws the plugin's validation errors, and leaves the resource itself out of resources()", async () => {
    await expect(runController(plugin, 'Router', { spec: { hostId: 'h1', networks: [] } }, intent)).rejects.toMatchObject({
      code: ErrorCode.Conflict,
    });
    const { placements } = await runController(plugin, 'Router', { id: 'r0', spec: { hostId: 'h1', networks: [] } }, intent);
    expect(placements).toHaveLength(1);
  });

  it('refuses a kind the plugin does not declare', async () => {
    await expect(runController(plugin, 'Nope', { spec: { hostId: 'h1', networks: [] } })).rejects.toThrow(/no kind Nope/);
  });
});
