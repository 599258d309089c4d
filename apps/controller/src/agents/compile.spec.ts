import { ResourceKind } from '@netloom/model';
import { Network } from '../networks/network.entity';
import { IpAllocation } from '../ports/ip-allocation.entity';
import { Port } from '../ports/port.entity';
import { Subnet } from '../subnets/subnet.entity';
import { compileHost, DEFAULT_PORT_MTU } from './compile';

const network = (id: string, extra: Partial<Network> = {}): Network => Object.assign(new Network(), { id, generation: 1, vni: 100, mtu: null, ...extra });
const subnet = (id: string, networkId: string, cidr: string, gatewayIp: string): Subnet =>
  Object.assign(new Subnet(), { id, networkId, cidr, gatewayIp, ipVersion: cidr.includes(':') ? 6 : 4 });
const port = (id: string, networkId: string, extra: Partial<Port> = {}): Port =>
  Object.assign(new Port(), { id, networkId, generation: 3, macAddress: '02:00:00:00:00:01', netns: null, ...extra });
const alloc = (portId: string, subnetId: string, ipAddress: string): IpAllocation => Object.assign(new IpAllocation(), { portId, subnetId, ipAddress });

describe('compileHost', () => {
  it('places a network where its ports are, with addresses and default routes per family', () => {
    const resources = compileHost({
      networks: [network('n1', { vni: 4242, generation: 2 }), network('n2')],
      subnets: [subnet('s4', 'n1', '10.0.0.0/24', '10.0.0.1'), subnet('s6', 'n1', 'fd00::/64', 'fd00::1')],
      ports: [port('p1', 'n1')],
      allocations: [alloc('p1', 's6', 'fd00::2'), alloc('p1', 's4', '10.0.0.2')],
    });
    expect(resources).toEqual([
      { kind: ResourceKind.Network, id: 'n1', generation: 2, spec: { vni: 4242, mtu: DEFAULT_PORT_MTU } },
      {
        kind: ResourceKind.Port,
        id: 'p1',
        generation: 3,
        spec: {
          networkId: 'n1',
          mac: '02:00:00:00:00:01',
          mtu: DEFAULT_PORT_MTU,
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

  it('uses the network MTU when set, and keeps a user namespace', () => {
    const [net, p] = compileHost({
      networks: [network('n1', { mtu: 1400 })],
      subnets: [],
      ports: [port('p1', 'n1', { netns: 'customer-ns' })],
      allocations: [],
    });
    expect(net.spec).toEqual({ vni: 100, mtu: 1400 });
    expect(p.spec).toMatchObject({ mtu: 1400, addresses: [], routes: [], netns: 'customer-ns' });
  });

  it('gives a host without ports nothing', () => {
    expect(compileHost({ networks: [network('n1')], subnets: [], ports: [], allocations: [] })).toEqual([]);
  });

  it('routes via the first subnet of a family only', () => {
    const [, p] = compileHost({
      networks: [network('n1')],
      subnets: [subnet('sa', 'n1', '10.0.0.0/24', '10.0.0.1'), subnet('sb', 'n1', '10.0.1.0/24', '10.0.1.1')],
      ports: [port('p1', 'n1')],
      allocations: [alloc('p1', 'sb', '10.0.1.5'), alloc('p1', 'sa', '10.0.0.5')],
    });
    expect((p.spec as { routes: unknown[] }).routes).toEqual([{ dst: 'default', via: '10.0.0.1', family: 4 }]);
  });
});
