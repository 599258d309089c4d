import type { LbPlacement, PlacedListener } from './spec';
import { bridgeZones, counterNames, hostScope, hostTable, lbTable, memberKey, ZONE_BASE } from './table';

const placement = (listeners: PlacedListener[]): LbPlacement => ({
  mode: 'APPLIANCE',
  networkId: 'n1',
  subnets: ['10.0.0.0/24'],
  vip: '10.0.0.10',
  cidr: '10.0.0.10/24',
  gateway: '10.0.0.1',
  mac: '02:00:00:00:00:01',
  mtu: 1450,
  listeners,
});
const members = [
  { name: 'a', portId: null, address: '10.0.0.5', port: 8080, weight: 1, adminUp: true },
  { name: 'b', portId: null, address: '10.0.0.6', port: 8080, weight: 2, adminUp: true },
  { name: 'c', portId: null, address: '10.0.0.7', port: 8081, weight: 3, adminUp: true },
];
const tcp = (extra: Partial<PlacedListener> = {}): PlacedListener => ({
  protocol: 'TCP',
  port: 80,
  algorithm: 'ROUND_ROBIN',
  affinityTimeout: null,
  members,
  healthMonitor: null,
  ...extra,
});

describe('load balancer table', () => {
  it('maps weights to ranges of a numgen map', () => {
    const { body } = lbTable(placement([tcp()]), () => true);
    expect(body).toContain('ip daddr 10.0.0.10 tcp dport 80 dnat ip to numgen inc mod 6 map { 0 : 10.0.0.5 . 8080, 1-2 : 10.0.0.6 . 8080, 3-5 : 10.0.0.7 . 8081 }');
    expect(body).toContain('ct status dnat masquerade');
    expect(body).toContain('type filter hook forward priority filter; policy drop;');
  });

  it('leaves members that take no connections out of the map, but keeps counting them', () => {
    const { body, counters } = lbTable(placement([tcp()]), (_l, m) => m.name !== 'b');
    expect(body).toContain('numgen inc mod 4 map { 0 : 10.0.0.5 . 8080, 1-3 : 10.0.0.7 . 8081 }');
    expect(counters).toHaveLength(6);
    const b = counterNames(memberKey(tcp(), members[1]));
    expect(counters).toEqual(expect.arrayContaining([b.connections, b.traffic]));
    expect(body).toContain(`ct reply ip saddr 10.0.0.6 ct reply proto-src 8080 ct state new counter name "${b.connections}" comment "netloom lb TCP/80>10.0.0.6:8080"`);
  });

  it('drops the DNAT rule when no member is left, so the VIP port refuses', () => {
    const { body } = lbTable(placement([tcp()]), () => false);
    expect(body).not.toContain('dnat ip to');
  });

  it('uses numgen random, and jhash of the source with an affinity map', () => {
    expect(lbTable(placement([tcp({ algorithm: 'RANDOM' })]), () => true).body).toContain('dnat ip to numgen random mod 6 map');
    const { body } = lbTable(placement([tcp({ protocol: 'UDP', port: 53, algorithm: 'SOURCE_IP', affinityTimeout: 30 })]), () => true);
    expect(body).toMatch(/ip daddr 10\.0\.0\.10 udp dport 53 dnat ip to jhash ip saddr mod 6 seed 0x[0-9a-f]{8} map/);
    expect(body).toMatch(/map a_[0-9a-f]{12} \{\ntype ipv4_addr : ipv4_addr \. inet_service; flags dynamic,timeout; timeout 30s;/);
    expect(body).toMatch(/dnat ip to ip saddr map @a_[0-9a-f]{12}\n.*jhash/);
    expect(body).toMatch(/update @a_[0-9a-f]{12} \{ ip saddr timeout 30s : ip daddr \. udp dport \}/);
  });

  it('is empty without listeners', () => {
    expect(lbTable(placement([]), () => true)).toEqual({ body: '', counters: [] });
  });

  describe('the host table (DISTRIBUTED)', () => {
    const spread = (id: string, bridge: string, vip = '10.0.0.10') => ({ id, bridge, p: { ...placement([tcp()]), mode: 'DISTRIBUTED' as const, vip } });

    it('translates what comes in by each load balancer\'s bridge, in chains of its own, masquerades nothing and counts under names of its own', () => {
      // The same VIP on two networks (overlapping CIDRs) stays apart by bridge.
      const { body, counters } = hostTable([spread('L2', 'br2'), spread('L1', 'br1')], () => true);
      const [d1, d2] = [body.match(/iifname "br1" ip daddr 10\.0\.0\.10 jump (d_[0-9a-f]{12})/)?.[1], body.match(/iifname "br2" ip daddr 10\.0\.0\.10 jump (d_[0-9a-f]{12})/)?.[1]];
      expect(d1).toBeDefined();
      expect(d2).not.toBe(d1);
      expect(body).toContain(`chain ${d1} {\nip daddr 10.0.0.10 tcp dport 80 dnat ip to numgen inc mod 6 map`);
      expect(body).not.toContain('masquerade');
      expect(body).not.toContain('policy drop');
      // Only a member reaching itself gets the VIP as its source.
      expect(body).toMatch(/oifname "br1" ct status dnat ct original ip daddr 10\.0\.0\.10 jump h_[0-9a-f]{12}/);
      expect(body).toContain('ip saddr 10.0.0.5 ip daddr 10.0.0.5 snat ip to 10.0.0.10');
      expect(body).toMatch(/ct status dnat ct original ip daddr 10\.0\.0\.10 jump c_[0-9a-f]{12}/);
      // Chains are declared before the base chains that jump to them; the order does not depend on the input's.
      expect(body.indexOf(`chain ${d1} {`)).toBeLessThan(body.indexOf('chain prerouting {'));
      expect(hostTable([spread('L1', 'br1'), spread('L2', 'br2')], () => true).body).toBe(body);
      // Each bridge is its own conntrack zone, above the firewall's.
      expect(body).toMatch(/type filter hook prerouting priority raw; policy accept;\niifname "br1" ct zone set \d+\niifname "br2" ct zone set \d+/);
      const zones = bridgeZones(['br2', 'br1']);
      expect([...zones.values()].every((z) => z >= ZONE_BASE && z <= 0xffff)).toBe(true);
      expect(new Set(zones.values()).size).toBe(2);
      expect(bridgeZones(['br1']).get('br1')).toBe(zones.get('br1'));
      expect(counters).toHaveLength(12);
      expect(new Set(counters).size).toBe(12);
      const l1 = counterNames(`${hostScope({ id: 'L1' })}${memberKey(tcp(), members[0])}`);
      expect(counters).toEqual(expect.arrayContaining([l1.connections, l1.traffic]));
    });

    it('leaves out members that take no connections, and is empty with nothing to translate', () => {
      const { body } = hostTable([spread('L1', 'br1')], (_lb, _l, m) => m.name === 'c');
      expect(body).toContain('dnat ip to numgen inc mod 3 map { 0-2 : 10.0.0.7 . 8081 }');
      // With no member taking connections there is no DNAT chain: the responder refuses; counting goes on.
      const none = hostTable([spread('L1', 'br1')], () => false);
      expect(none.body).not.toContain('dnat ip to');
      expect(none.counters).toHaveLength(6);
      expect(hostTable([], () => true)).toEqual({ body: '', counters: [] });
    });
  });
});
