import type { PortPlace } from '@netloom/plugin-sdk';
import { routingOf } from './agent';
import type { LbPlacement, PlacedMember } from './spec';
import type { HostedLb } from './table';

const member = (m: Partial<PlacedMember>): PlacedMember => ({ name: null, portId: null, address: '10.0.1.10', port: 80, weight: 1, adminUp: true, ...m });
const lb = (id: string, members: PlacedMember[], p: Partial<LbPlacement> = {}): HostedLb => ({
  id,
  bridge: 'nlb1',
  p: {
    mode: 'DISTRIBUTED',
    networkId: 'n1',
    subnets: ['10.0.1.0/24'],
    vip: '10.0.1.100',
    cidr: '10.0.1.100/24',
    gateway: '10.0.1.1',
    mac: '02:00:00:00:00:01',
    mtu: 1450,
    listeners: [{ protocol: 'TCP', port: 80, algorithm: 'ROUND_ROBIN', affinityTimeout: null, members, healthMonitor: null }],
    ...p,
  },
});
const places: Record<string, PortPlace> = {
  here: { netns: 'ns1', ifname: 'eth0', hostIfname: 'v1', bridge: 'nlb1' },
  elsewhere: { netns: 'ns2', ifname: 'eth0', hostIfname: 'v2', bridge: 'nlb2' },
};
const host = { port: (id: string): PortPlace | undefined => places[id] };

describe('load balancer agent: where translated traffic goes out of the bridge', () => {
  it('routes the network’s subnets straight, members on other networks through the gateway, hairpin on member ports of this bridge only', () => {
    const routing = routingOf(
      'n1',
      [
        lb('a', [
          member({ portId: 'here', address: '10.0.1.10' }),
          member({ portId: 'away', address: '10.0.1.11' }),
          member({ portId: 'elsewhere', address: '10.0.2.12', viaGateway: true }),
          member({ address: '192.0.2.7', viaGateway: true }),
        ]),
        // The same member through another gateway (a second subnet of the network): the first one's stays.
        lb('b', [member({ address: '192.0.2.7', viaGateway: true })], { subnets: ['10.0.1.0/24', '10.0.9.0/24'], gateway: '10.0.9.1' }),
      ],
      host,
    );
    expect(routing).toEqual({
      networkId: 'n1',
      routes: [{ dst: '10.0.1.0/24' }, { dst: '10.0.9.0/24' }, { dst: '10.0.2.12/32', via: '10.0.1.1' }, { dst: '192.0.2.7/32', via: '10.0.1.1' }],
      hairpinPorts: ['here'],
    });
  });

  it('routes no member through a gateway when there is none', () => {
    expect(routingOf('n1', [lb('a', [member({ address: '192.0.2.7', viaGateway: true })], { gateway: null })], host).routes).toEqual([{ dst: '10.0.1.0/24' }]);
  });
});
