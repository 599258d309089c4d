import { DesiredResource, NetworkSpec, PortSpec, ResourceKind } from '@netloom/model';
import { compileHosts, Intent } from './compile';

const host = (id: string, vtepAddress: string, underlayMtu = 1500) => ({ id, vtepAddress, underlayMtu });
const network = (id: string, extra: Partial<Intent['networks'][number]> = {}) => ({ id, generation: 1, vni: 100, mtu: null, ...extra });
const subnet = (id: string, networkId: string, cidr: string, gatewayIp: string) => ({ id, networkId, cidr, gatewayIp, ipVersion: cidr.includes(':') ? (6 as const) : (4 as const) });
const port = (id: string, networkId: string, hostId: string, macAddress: string, extra: Partial<Intent['ports'][number]> = {}) => ({
  id,
  networkId,
  hostId,
  generation: 3,
  macAddress,
  netns: null,
  ...extra,
});
const alloc = (portId: string, subnetId: string, ipAddress: string) => ({ portId, subnetId, ipAddress });
const spec = <S>(resources: DesiredResource[] | undefined, id: string): S => resources!.find((r) => r.id === id)!.spec as S;

describe('compileHosts', () => {
  it('places a network where its ports are, with addresses and default routes per family', () => {
    const out = compileHosts({
      hosts: [host('h1', '192.0.2.1')],
      networks: [network('n1', { vni: 4242, generation: 2 }), network('n2')],
      subnets: [subnet('s4', 'n1', '10.0.0.0/24', '10.0.0.1'), subnet('s6', 'n1', 'fd00::/64', 'fd00::1')],
      ports: [port('p1', 'n1', 'h1', '02:00:00:00:00:01')],
      allocations: [alloc('p1', 's6', 'fd00::2'), alloc('p1', 's4', '10.0.0.2')],
    });
    expect(out.get('h1')).toEqual([
      { kind: ResourceKind.Network, id: 'n1', generation: 2, spec: { vni: 4242, mtu: 1450, vxlan: null } },
      {
        kind: ResourceKind.Port,
        id: 'p1',
        generation: 3,
        spec: {
          networkId: 'n1',
          mac: '02:00:00:00:00:01',
          mtu: 1450,
          addresses: [
            { cidr: '10.0.0.2/24', family: 4 },
            { cidr: 'fd00::2/64', family: 6 },
          ],
          routes: [
            { dst: 'default', via: '10.0.0.1', family: 4 },
            { dst: 'default', via: 'fd00::1', family: 6 },
          ],
          netns: null,
        },
      },
    ]);
  });

  it('gives a provider network no VXLAN nor FDB entries across hosts, its physical network and VLAN, and 1500 by default', () => {
    const intent: Intent = {
      hosts: [host('h1', '192.0.2.1', 9000), host('h2', '192.0.2.2', 9000)],
      networks: [network('vlan', { providerInterface: 'physnet1', vlanId: 100 }), network('flat', { vni: 101, providerInterface: 'physnet1', vlanId: null })],
      subnets: [],
      ports: [
        port('p1', 'vlan', 'h1', '02:00:00:00:00:01'),
        port('p2', 'vlan', 'h2', '02:00:00:00:00:02'),
        port('p3', 'flat', 'h1', '02:00:00:00:00:03'),
        port('p4', 'flat', 'h2', '02:00:00:00:00:04'),
      ],
      allocations: [],
    };
    const out = compileHosts(intent);
    for (const h of ['h1', 'h2']) {
      expect(spec<NetworkSpec>(out.get(h), 'vlan')).toEqual({ vni: 100, mtu: 1500, vxlan: null, provider: { physicalNetwork: 'physnet1', vlanId: 100 } });
      expect(spec<NetworkSpec>(out.get(h), 'flat')).toEqual({ vni: 101, mtu: 1500, vxlan: null, provider: { physicalNetwork: 'physnet1' } });
    }
    expect(spec<PortSpec>(out.get('h1'), 'p1').mtu).toBe(1500);
    // The same network as an overlay: VXLAN between the two hosts, the underlay's MTU minus 50.
    const overlay = compileHosts({ ...intent, networks: [network('vlan'), network('flat', { vni: 101 })] });
    expect(spec<NetworkSpec>(overlay.get('h1'), 'vlan')).toMatchObject({ mtu: 8950, vxlan: { peers: ['192.0.2.2'] } });
  });

  it('uses the network MTU when set, and keeps a user namespace', () => {
    const out = compileHosts({
      hosts: [host('h1', '192.0.2.1')],
      networks: [network('n1', { mtu: 1400 })],
      subnets: [],
      ports: [port('p1', 'n1', 'h1', '02:00:00:00:00:01', { netns: 'customer-ns' })],
      allocations: [],
    });
    expect(spec<NetworkSpec>(out.get('h1'), 'n1')).toEqual({ vni: 100, mtu: 1400, vxlan: null });
    expect(spec<PortSpec>(out.get('h1'), 'p1')).toMatchObject({ mtu: 1400, addresses: [], routes: [], netns: 'customer-ns' });
  });

  it('gives a host without ports nothing, and routes via the first subnet of a family only', () => {
    const out = compileHosts({
      hosts: [host('h1', '192.0.2.1'), host('h2', '192.0.2.2')],
      networks: [network('n1')],
      subnets: [subnet('sa', 'n1', '10.0.0.0/24', '10.0.0.1'), subnet('sb', 'n1', '10.0.1.0/24', '10.0.1.1')],
      ports: [port('p1', 'n1', 'h1', '02:00:00:00:00:01')],
      allocations: [alloc('p1', 'sb', '10.0.1.5'), alloc('p1', 'sa', '10.0.0.5')],
    });
    expect(out.get('h2')).toEqual([]);
    expect(spec<PortSpec>(out.get('h1'), 'p1').routes).toEqual([{ dst: 'default', via: '10.0.0.1', family: 4 }]);
  });

  it('leaves port security out of the spec when it is the default, and names every pair with its MAC', () => {
    const out = compileHosts({
      hosts: [host('h1', '192.0.2.1'), host('h2', '192.0.2.2')],
      networks: [network('n1')],
      subnets: [subnet('s4', 'n1', '10.0.0.0/24', '10.0.0.1')],
      ports: [
        port('plain', 'n1', 'h1', '02:00:00:00:00:01', { portSecurity: true, allowedAddressPairs: [] }),
        port('open', 'n1', 'h1', '02:00:00:00:00:02', { portSecurity: false, allowedAddressPairs: [] }),
        port('vrrp', 'n1', 'h2', '02:00:00:00:00:03', {
          portSecurity: true,
          allowedAddressPairs: [
            { ipAddress: '10.0.0.100', macAddress: null },
            { ipAddress: '10.0.0.101', macAddress: '00:00:5e:00:01:07' },
            { ipAddress: '10.9.0.0/16', macAddress: null },
          ],
        }),
      ],
      allocations: [alloc('vrrp', 's4', '10.0.0.3')],
    });
    const plain = spec<PortSpec>(out.get('h1'), 'plain');
    expect('portSecurity' in plain || 'allowedAddressPairs' in plain).toBe(false);
    expect(spec<PortSpec>(out.get('h1'), 'open').portSecurity).toBe(false);
    expect(spec<PortSpec>(out.get('h2'), 'vrrp').allowedAddressPairs).toEqual([
      { ip: '10.0.0.100', mac: '02:00:00:00:00:03' },
      { ip: '10.0.0.101', mac: '00:00:5e:00:01:07' },
      { ip: '10.9.0.0/16', mac: '02:00:00:00:00:03' },
    ]);
    // The other host answers ARP for the pair's single addresses (not for a CIDR).
    expect(spec<NetworkSpec>(out.get('h1'), 'n1').vxlan!.remotes).toEqual([
      { mac: '00:00:5e:00:01:07', ips: ['10.0.0.101'], vtep: '192.0.2.2' },
      { mac: '02:00:00:00:00:03', ips: ['10.0.0.3', '10.0.0.100'], vtep: '192.0.2.2' },
    ]);
  });

  describe('across hosts', () => {
    const intent: Intent = {
      hosts: [host('h1', '192.0.2.1'), host('h2', '192.0.2.2', 9000), host('h3', '192.0.2.3')],
      networks: [network('blue', { vni: 200 }), network('red', { vni: 300 })],
      subnets: [subnet('sb', 'blue', '10.1.0.0/24', '10.1.0.1'), subnet('sr', 'red', '10.1.0.0/24', '10.1.0.1')],
      ports: [
        port('b1', 'blue', 'h1', '02:00:00:00:01:01'),
        port('b2', 'blue', 'h2', '02:00:00:00:01:02'),
        port('b3', 'blue', 'h3', '02:00:00:00:01:03'),
        port('r1', 'red', 'h1', '02:00:00:00:02:01'),
      ],
      allocations: [alloc('b1', 'sb', '10.1.0.2'), alloc('b2', 'sb', '10.1.0.3'), alloc('b3', 'sb', '10.1.0.4'), alloc('r1', 'sr', '10.1.0.2')],
    };

    it('gives each host the other hosts as peers and their ports as remotes', () => {
      const out = compileHosts(intent);
      expect(spec<NetworkSpec>(out.get('h1'), 'blue')).toEqual({
        vni: 200,
        mtu: 1450,
        vxlan: {
          local: '192.0.2.1',
          peers: ['192.0.2.2', '192.0.2.3'],
          remotes: [
            { mac: '02:00:00:00:01:02', ips: ['10.1.0.3'], vtep: '192.0.2.2' },
            { mac: '02:00:00:00:01:03', ips: ['10.1.0.4'], vtep: '192.0.2.3' },
          ],
        },
      });
      expect(spec<NetworkSpec>(out.get('h2'), 'blue').vxlan!.peers).toEqual(['192.0.2.1', '192.0.2.3']);
      // red lives on h1 only: no overlay, and no other host hears of it.
      expect(spec<NetworkSpec>(out.get('h1'), 'red').vxlan).toBeNull();
      expect(out.get('h2')!.map((r) => r.id)).toEqual(['blue', 'b2']);
    });

    it('takes the smallest underlay MTU of the span minus 50', () => {
      const out = compileHosts({ ...intent, hosts: [host('h1', '192.0.2.1', 9000), host('h2', '192.0.2.2', 9000), host('h3', '192.0.2.3', 1600)] });
      expect(spec<NetworkSpec>(out.get('h1'), 'blue').mtu).toBe(1550);
      expect(spec<PortSpec>(out.get('h2'), 'b2').mtu).toBe(1550);
      expect(spec<NetworkSpec>(out.get('h1'), 'red').mtu).toBe(8950);
    });

    it('drops a host out of the others’ spans when it is lost, but still compiles its own state', () => {
      const out = compileHosts(intent, (h) => h !== 'h3');
      expect(spec<NetworkSpec>(out.get('h1'), 'blue').vxlan!.peers).toEqual(['192.0.2.2']);
      expect(spec<NetworkSpec>(out.get('h1'), 'blue').vxlan!.remotes.map((r) => r.vtep)).toEqual(['192.0.2.2']);
      expect(spec<NetworkSpec>(out.get('h3'), 'blue').vxlan!.peers).toEqual(['192.0.2.1', '192.0.2.2']);
    });

    it('removes the overlay from the last two hosts when a host leaves the span', () => {
      const out = compileHosts({ ...intent, ports: intent.ports.filter((p) => p.id !== 'b3') });
      expect(out.get('h3')).toEqual([]);
      expect(spec<NetworkSpec>(out.get('h1'), 'blue').vxlan!.peers).toEqual(['192.0.2.2']);
    });
  });

  describe('plugin placements', () => {
    const base: Intent = {
      hosts: [host('h1', '192.0.2.1'), host('h2', '192.0.2.2'), host('h3', '192.0.2.3')],
      networks: [network('blue')],
      subnets: [],
      ports: [port('b1', 'blue', 'h1', '02:00:00:00:00:01')],
      allocations: [],
    };
    const router = { kind: 'Router', id: 'r1', generation: 4, spec: { routes: ['10.0.0.0/8'] } };

    it('puts each placed resource on its host, with its spec and generation', () => {
      const out = compileHosts({ ...base, placements: [{ ...router, hostId: 'h3' }] });
      expect(out.get('h3')).toEqual([router]);
      expect(out.get('h2')).toEqual([]);
      expect(out.get('h1')!.map((r) => r.kind)).toEqual([ResourceKind.Network, ResourceKind.Port]);
    });

    it("makes the placement's networks present on its host, in the network's VXLAN span", () => {
      const out = compileHosts({ ...base, placements: [{ ...router, hostId: 'h2', networks: ['blue'] }] });
      expect(out.get('h2')!.map((r) => `${r.kind}/${r.id}`)).toEqual(['Network/blue', 'Router/r1']);
      const onH2 = spec<NetworkSpec>(out.get('h2'), 'blue');
      expect(onH2.vxlan).toEqual({ local: '192.0.2.2', peers: ['192.0.2.1'], remotes: [{ mac: '02:00:00:00:00:01', ips: [], vtep: '192.0.2.1' }] });
      expect(spec<NetworkSpec>(out.get('h1'), 'blue').vxlan).toEqual({ local: '192.0.2.1', peers: ['192.0.2.2'], remotes: [] });
    });

    it('ignores placements on unknown hosts, unknown networks, and duplicates', () => {
      const out = compileHosts({
        ...base,
        placements: [
          { ...router, hostId: 'gone' },
          { ...router, hostId: 'h3', networks: ['missing'] },
          { ...router, hostId: 'h3', spec: { other: true } },
        ],
      });
      expect(out.get('h3')).toEqual([router]);
      expect(out.has('gone')).toBe(false);
    });

    describe('guards', () => {
      const ports = [port('b1', 'blue', 'h1', '02:00:00:00:00:01'), port('b2', 'blue', 'h1', '02:00:00:00:00:02'), port('b3', 'blue', 'h2', '02:00:00:00:00:03')];
      const policy = (id: string, hostId: string, guards: unknown) => ({ kind: 'FirewallPolicy', id, generation: 1, hostId, spec: {}, guards: guards as string[] });
      const guardedBy = (out: Map<string, DesiredResource[]>, hostId: string, portId: string) => spec<PortSpec>(out.get(hostId), portId).guardedBy;

      it("gives each guarded port the sorted keys of its guards; only ids of ports on the placement's own host count", () => {
        const out = compileHosts({
          ...base,
          ports,
          placements: [
            policy('fw-b', 'h1', ['b1', 'b3', 'nope', 'b1']),
            policy('fw-a', 'h1', ['b1']),
            { ...router, hostId: 'h1', guards: ['b1'] },
            policy('fw-b', 'h2', ['b3']),
            // Not a list, or not strings: ignored.
            policy('fw-c', 'h1', 'b2'),
            policy('fw-d', 'h1', [{ id: 'b2' }, 7, null]),
          ],
        });
        expect(guardedBy(out, 'h1', 'b1')).toEqual(['FirewallPolicy/fw-a', 'FirewallPolicy/fw-b', 'Router/r1']);
        expect(guardedBy(out, 'h2', 'b3')).toEqual(['FirewallPolicy/fw-b']);
        expect(spec<PortSpec>(out.get('h1'), 'b2')).not.toHaveProperty('guardedBy');
        // The placement itself reaches its host as before.
        expect(out.get('h1')!.find((r) => r.id === 'fw-b')).toEqual({ kind: 'FirewallPolicy', id: 'fw-b', generation: 1, spec: {} });
      });

      it('leaves the spec of an unguarded port exactly as it was (no re-configuring on upgrade)', () => {
        const without = compileHosts({ ...base, ports });
        const withGuards = compileHosts({ ...base, ports, placements: [policy('fw', 'h1', ['b1']), policy('fw2', 'h1', [])] });
        expect(JSON.stringify(spec(withGuards.get('h1'), 'b2'))).toBe(JSON.stringify(spec(without.get('h1'), 'b2')));
        expect(JSON.stringify(spec(withGuards.get('h2'), 'b3'))).toBe(JSON.stringify(spec(without.get('h2'), 'b3')));
        expect(spec<PortSpec>(withGuards.get('h1'), 'b1')).toEqual({ ...spec<PortSpec>(without.get('h1'), 'b1'), guardedBy: ['FirewallPolicy/fw'] });
      });

      it('a duplicate placement on a host adds no guard (the first placement is the one placed)', () => {
        const out = compileHosts({ ...base, ports, placements: [policy('fw', 'h1', ['b1']), policy('fw', 'h1', ['b2'])] });
        expect(guardedBy(out, 'h1', 'b1')).toEqual(['FirewallPolicy/fw']);
        expect(guardedBy(out, 'h1', 'b2')).toBeUndefined();
      });
    });
  });
});

describe('compileHosts with plugin placements', () => {
  it('makes a placed resource’s networks present on its host and its endpoints reachable from the others', () => {
    const out = compileHosts({
      hosts: [host('h1', '192.0.2.1'), host('h2', '192.0.2.2')],
      networks: [network('n1', { vni: 500 })],
      subnets: [subnet('s1', 'n1', '10.5.0.0/24', '10.5.0.1')],
      ports: [port('p1', 'n1', 'h1', '02:00:00:00:05:01')],
      allocations: [alloc('p1', 's1', '10.5.0.2')],
      placements: [
        {
          kind: 'Tap',
          id: 't1',
          generation: 2,
          hostId: 'h2',
          spec: { cidr: '10.5.0.50/24' },
          networks: ['n1'],
          endpoints: [{ networkId: 'n1', mac: '02:aa:00:00:00:01', ips: ['10.5.0.50'] }],
        },
      ],
    });
    expect(out.get('h2')!.map((r) => r.id)).toEqual(['n1', 't1']);
    expect(out.get('h2')!.find((r) => r.id === 't1')).toEqual({ kind: 'Tap', id: 't1', generation: 2, spec: { cidr: '10.5.0.50/24' } });
    expect(spec<NetworkSpec>(out.get('h1'), 'n1').vxlan!.remotes).toEqual([{ mac: '02:aa:00:00:00:01', ips: ['10.5.0.50'], vtep: '192.0.2.2' }]);
    expect(spec<NetworkSpec>(out.get('h2'), 'n1').vxlan!.remotes).toEqual([{ mac: '02:00:00:00:05:01', ips: ['10.5.0.2'], vtep: '192.0.2.1' }]);
  });
});
