import { Linux } from '@netloom/linux';
import { BridgeRoutes, bridgeRoutingTable } from './bridge-routing';
import type { BridgeRouting, PortPlace } from './host-context';

// What bridgeRouting refuses, before anything runs (no kernel needed: it throws first).
describe('BridgeRoutes', () => {
  const linux = new Linux();
  const ports = new Map<string, PortPlace>([
    ['p1', { netns: 'ns1', ifname: 'eth0', hostIfname: 'tp1', bridge: 'br1' }],
    ['p2', { netns: 'ns2', ifname: 'eth0', hostIfname: 'tp2', bridge: 'br2' }],
    ['p3', { netns: 'ns3', ifname: 'eth0' }],
  ]);
  const routes = new BridgeRoutes({ linux, pluginId: 'acme.lb', hostNetns: undefined, networkBridges: new Map([['n1', 'br1'], ['n2', 'br2'], ['n3', 'br1']]), ports });
  const refused = (wanted: unknown) => routes.ensure(wanted as BridgeRouting[]);

  it('derives a table of the plugin per bridge, the same every time', () => {
    const t = bridgeRoutingTable('acme.lb', 'br1');
    expect(t).toBe(bridgeRoutingTable('acme.lb', 'br1'));
    expect(t).toBeGreaterThanOrEqual(0x4e000000);
    expect(t).toBeLessThan(0x4f000000);
    expect(bridgeRoutingTable('acme.lb', 'br2')).not.toBe(t);
    expect(bridgeRoutingTable('other', 'br1')).not.toBe(t);
  });

  it.each([
    [{ networkId: 'n1' }, /takes a list of networks/],
    [[null], /a network must be/],
    [[{ networkId: 'n9', routes: [] }], /network "n9" has no bridge on this host/],
    [[{ networkId: 'n1', routes: 'default' }], /routes must be a list/],
    [[{ networkId: 'n1', routes: [{ dst: 'fd00::/64' }] }], /route dst "fd00::\/64" is not an IPv4 prefix/],
    [[{ networkId: 'n1', routes: [{ dst: '10.0.0.1/24' }] }], /host bits clear/],
    [[{ networkId: 'n1', routes: [{ dst: '10.0.0.0/33' }] }], /not an IPv4 prefix/],
    [[{ networkId: 'n1', routes: [{ dst: '10.0.0.0/24 table 254' }] }], /not an IPv4 prefix/],
    [[{ networkId: 'n1', routes: [{ dst: 'default', via: 'fd00::1' }] }], /route via "fd00::1" is not an IPv4 address/],
    [[{ networkId: 'n1', routes: [{ dst: 'default', via: '10.0.0.1 dev lo' }] }], /is not an IPv4 address/],
    [[{ networkId: 'n1', routes: [{ dst: 'default' }, { dst: '0.0.0.0/0' }] }], /route default is given twice/],
    [[{ networkId: 'n1', routes: [], hairpinPorts: ['p9'] }], /port "p9" is not on this host/],
    [[{ networkId: 'n1', routes: [], hairpinPorts: ['p3'] }], /port "p3" is not on this host/],
    [[{ networkId: 'n1', routes: [], hairpinPorts: ['p2'] }], /port p2 is on bridge br2, not br1/],
    [[{ networkId: 'n1', routes: [], hairpinPorts: 'p1' }], /hairpinPorts must be a list/],
    [[{ networkId: 'n1', routes: [] }, { networkId: 'n1', routes: [] }], /network n1 is given twice/],
    [[{ networkId: 'n1', routes: [] }, { networkId: 'n3', routes: [] }], /networks n1 and n3 share bridge br1/],
  ])('refuses %j', async (wanted, message) => {
    const [mutating, reads] = [linux.runner.mutatingCount, linux.runner.readCount];
    await expect(refused(wanted)).rejects.toThrow(message);
    await expect(refused(wanted)).rejects.toThrow(/^plugin acme\.lb: bridgeRouting/);
    expect([linux.runner.mutatingCount, linux.runner.readCount]).toEqual([mutating, reads]);
  });
});
