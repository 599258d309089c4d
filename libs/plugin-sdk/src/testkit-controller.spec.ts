import { conflict, definePlugin, ErrorCode, t } from '@netloom/plugin-sdk';
import { inMemoryIntent, runController } from '@netloom/plugin-sdk/testing';

const plugin = definePlugin({
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
    expect((await intent.ports())[0]).toMatchObject({ id: 'p1', fixedIps: [], labels: {} });
    expect((await inMemoryIntent({ ports: [{ id: 'p2', networkId: 'n1', hostId: 'h1', labels: { tier: 'web' } }] }).ports())[0].labels).toEqual({ tier: 'web' });
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

  describe('reservations IPAM picks', () => {
    type VipSpec = { subnetId: string; vipAddress: string | null; extra?: string | null };
    const vip = (extra: Partial<Record<'assignTo', string>> = {}) =>
      definePlugin({
        id: 'acme.vip',
        version: '1.0.0',
        sdk: 1,
        kinds: { Vip: { fields: { subnetId: t.ref('Subnet'), vipAddress: t.ip({ required: false }), extra: t.string({ required: false }) } } },
        controller: {
          place: (resource) => [{ hostId: 'h1', spec: { vip: resource.spec.vipAddress } }],
          reserve: (resource) => [
            ...(resource.spec.extra ? [{ subnetId: resource.spec.subnetId, ipAddress: resource.spec.extra }] : []),
            resource.spec.vipAddress
              ? { subnetId: resource.spec.subnetId, ipAddress: resource.spec.vipAddress, field: 'input.vipAddress' }
              : { subnetId: resource.spec.subnetId, assignTo: 'vipAddress', field: 'input.vipAddress', ...extra },
          ],
        },
      });
    const vipIntent = (cidr: string, gatewayIp: string, others: VipSpec[] = []) =>
      inMemoryIntent({
        hosts: [{ id: 'h1' }],
        networks: [{ id: 'n1' }],
        subnets: [{ id: 's1', networkId: 'n1', cidr, gatewayIp }],
        ports: [{ id: 'p1', networkId: 'n1', hostId: 'h1', fixedIps: [{ subnetId: 's1', ipAddress: '10.0.0.2' }] }],
        resources: others.map((spec, i) => ({ kind: 'Vip', id: `v${i}`, spec })),
      });

    it('picks the lowest free host address, skipping the network, gateway, ports, its own and other resources’ addresses', async () => {
      const intent = vipIntent('10.0.0.0/24', '10.0.0.1', [{ subnetId: 's1', vipAddress: '10.0.0.3' }]);
      const { spec, reservations, placements } = await runController(vip(), 'Vip', { spec: { subnetId: 's1', vipAddress: null, extra: '10.0.0.4' } }, intent);
      expect(spec.vipAddress).toBe('10.0.0.5');
      expect(reservations).toEqual([
        { subnetId: 's1', ipAddress: '10.0.0.4' },
        { subnetId: 's1', assignTo: 'vipAddress', field: 'input.vipAddress' },
      ]);
      expect(placements).toEqual([{ hostId: 'h1', spec: { vip: '10.0.0.5' } }]);
      // Once the address is in the spec, it is reserved as given.
      const again = await runController(vip(), 'Vip', { spec }, intent);
      expect(again.reservations).toEqual([
        { subnetId: 's1', ipAddress: '10.0.0.4' },
        { subnetId: 's1', ipAddress: '10.0.0.5', field: 'input.vipAddress' },
      ]);
      expect(again.spec).toEqual(spec);
    });

    it('skips addresses other resources only announce as endpoints, as the core holds those too', async () => {
      const announcer = definePlugin({
        id: 'acme.announcer',
        version: '1.0.0',
        sdk: 1,
        kinds: { Vip: { fields: { subnetId: t.ref('Subnet'), vipAddress: t.ip({ required: false }) } } },
        controller: {
          place: (r) => [{ hostId: 'h1', spec: {}, endpoints: r.spec.vipAddress ? [{ networkId: 'n1', mac: '02:00:00:00:00:01', ips: [r.spec.vipAddress] }] : [] }],
          reserve: (r) => (r.spec.vipAddress ? [] : [{ subnetId: r.spec.subnetId, assignTo: 'vipAddress', field: 'input.vipAddress' }]),
        },
      });
      const intent = vipIntent('10.0.0.0/24', '10.0.0.1', [{ subnetId: 's1', vipAddress: '10.0.0.3' }]);
      expect((await runController(announcer, 'Vip', { spec: { subnetId: 's1', vipAddress: null } }, intent)).spec.vipAddress).toBe('10.0.0.4');
    });

    it('picks IPv6 addresses too, and skips the IPv4 broadcast address; a full subnet is a CONFLICT', async () => {
      const v6 = await runController(vip(), 'Vip', { spec: { subnetId: 's1', vipAddress: null, extra: null } }, vipIntent('2001:db8::/64', '2001:db8::1'));
      expect(v6.spec.vipAddress).toBe('2001:db8::2');
      // 10.0.0.0/30: .1 gateway, .2 the port, .3 broadcast.
      await expect(runController(vip(), 'Vip', { spec: { subnetId: 's1', vipAddress: null, extra: null } }, vipIntent('10.0.0.0/30', '10.0.0.1'))).rejects.toMatchObject({
        code: ErrorCode.Conflict,
        field: 'input.vipAddress',
      });
    });

    it('names the plugin when a reservation has neither address nor a top-level ip field to write it to', async () => {
      const intent = vipIntent('10.0.0.0/24', '10.0.0.1');
      const run = (assignTo: string) => runController(vip({ assignTo }), 'Vip', { spec: { subnetId: 's1', vipAddress: null, extra: null } }, intent);
      await expect(run('')).rejects.toThrow(/plugin acme\.vip: .*neither ipAddress nor assignTo/);
      await expect(run('extra')).rejects.toThrow(/plugin acme\.vip: .*extra, which is not a top-level ip field of Vip/);
    });
  });

  it('refuses a kind the plugin does not declare', async () => {
    // Refused by the types too (a kind of the plugin is expected); at run time, with a message.
    // @ts-expect-error: 'Nope' is not a kind of the plugin.
    await expect(runController(plugin, 'Nope', { spec: { hostId: 'h1', networks: [] } })).rejects.toThrow(/no kind Nope/);
  });
});
