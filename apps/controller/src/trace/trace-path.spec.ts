import { explainPath, LB_PLUGIN, TraceInputError, type TraceWorld } from './trace-path';
import { judge, type ScopeCounts } from './trace-verdict';

/** Networks A and B (router R on host h2 joins them, external network E with SNAT), ports on hosts h1 and h2, a load balancer on B. */
const world = (): TraceWorld => ({
  hosts: [
    { id: 'h1', name: 'one' },
    { id: 'h2', name: 'two' },
  ],
  networks: [
    { id: 'na', name: 'A', vni: 101 },
    { id: 'nb', name: 'B', vni: 102 },
    { id: 'ne', name: 'E', vni: 109 },
  ],
  subnets: [
    { id: 'sa', networkId: 'na', cidr: '10.0.1.0/24', gatewayIp: '10.0.1.1' },
    { id: 'sb', networkId: 'nb', cidr: '10.0.2.0/24', gatewayIp: '10.0.2.1' },
    { id: 'se', networkId: 'ne', cidr: '10.0.9.0/24', gatewayIp: '10.0.9.1' },
  ],
  ports: [
    { id: 'pa', name: 'a1', networkId: 'na', hostId: 'h1', ips: ['10.0.1.5'] },
    { id: 'pa2', name: 'a2', networkId: 'na', hostId: 'h1', ips: ['10.0.1.6'] },
    { id: 'pa3', name: 'a3', networkId: 'na', hostId: 'h2', ips: ['10.0.1.7'] },
    { id: 'pb', name: 'b1', networkId: 'nb', hostId: 'h1', ips: ['10.0.2.5'] },
    { id: 'pm', name: 'web', networkId: 'nb', hostId: 'h2', ips: ['10.0.2.8'] },
    { id: 'px', name: 'x', networkId: 'ne', hostId: 'h1', ips: ['10.0.9.100'] },
  ],
  routers: [
    {
      id: 'r',
      name: 'R',
      hostIds: ['h2'],
      legs: [
        { subnetId: 'sa', address: null },
        { subnetId: 'sb', address: null },
      ],
      externalNetworkId: 'ne',
      externalAddress: '10.0.9.10',
      snat: true,
      floatingIps: [{ portId: 'pb', address: '10.0.9.50' }],
    },
  ],
  loadBalancers: [
    {
      id: 'lb',
      name: 'front',
      hostIds: ['h2'],
      subnetId: 'sb',
      vip: '10.0.2.100',
      listeners: [{ protocol: 'TCP', port: 80, members: [{ name: null, portId: 'pm', address: null, port: 8080 }, { name: 'far', portId: null, address: '10.0.2.9', port: 8080 }] }],
    },
  ],
});

const ICMP = { protocol: 'ICMP' as const, port: null };
const kinds = (plan: ReturnType<typeof explainPath>): string[] => plan.hops.map((h) => h.kind);

describe('explainPath', () => {
  it('same network, same host: the bridge; counters in both ports', () => {
    const plan = explainPath(world(), 'pa', { portId: 'pa2' }, ICMP);
    expect(kinds(plan)).toEqual(['PORT', 'BRIDGE', 'PORT']);
    expect(plan.address).toBe('10.0.1.6');
    expect(plan.scopes).toEqual([
      { hostId: 'h1', portId: 'pa' },
      { hostId: 'h1', portId: 'pa2' },
    ]);
  });

  it('same network across hosts: the overlay with its VNI and both hosts', () => {
    const plan = explainPath(world(), 'pa', { portId: 'pa3' }, ICMP);
    expect(kinds(plan)).toEqual(['PORT', 'OVERLAY', 'PORT']);
    expect(plan.hops[1].detail).toBe('VXLAN VNI 101 from host one to host two');
  });

  it('same provider network across hosts: its physical network (and VLAN), not VXLAN', () => {
    for (const [vlanId, detail] of [
      [100, 'physical network physnet1 VLAN 100 from host one to host two'],
      [null, 'physical network physnet1 (flat) from host one to host two'],
    ] as const) {
      const w = world();
      w.networks = w.networks.map((n) => (n.id === 'na' ? { ...n, providerInterface: 'physnet1', vlanId } : n));
      const plan = explainPath(w, 'pa', { portId: 'pa3' }, ICMP);
      expect(kinds(plan)).toEqual(['PORT', 'PHYSICAL', 'PORT']);
      expect(plan.hops[1].detail).toBe(detail);
    }
  });

  it('another network: to the router over the overlay, the router hop, then on to the port', () => {
    const plan = explainPath(world(), 'pa', { portId: 'pb' }, ICMP);
    expect(kinds(plan)).toEqual(['PORT', 'OVERLAY', 'ROUTER', 'OVERLAY', 'PORT']);
    expect(plan.hops[2]).toMatchObject({ name: 'R', host: 'two', detail: 'routes from network A to network B' });
  });

  it('to the external network: the router hop and its SNAT address; a floating IP instead for a port that has one', () => {
    const snat = explainPath(world(), 'pa', { address: '10.0.9.100' }, ICMP);
    expect(kinds(snat)).toEqual(['PORT', 'OVERLAY', 'ROUTER', 'NAT', 'OVERLAY', 'PORT']);
    expect(snat.hops[3].detail).toBe('SNAT: 10.0.1.5 leaves as 10.0.9.10');
    expect(snat.target).toBe('port x');
    const floating = explainPath(world(), 'pb', { portId: 'px' }, ICMP);
    expect(floating.hops.find((h) => h.kind === 'NAT')?.detail).toBe('floating IP: 10.0.2.5 is seen as 10.0.9.50 (1:1 NAT)');
  });

  it('outside every subnet: out by the external network', () => {
    const plan = explainPath(world(), 'pa', { address: '192.0.2.1' }, ICMP);
    expect(kinds(plan)).toEqual(['PORT', 'OVERLAY', 'ROUTER', 'NAT', 'EXTERNAL']);
  });

  it('to a floating IP from the external network: DNAT to the inside port', () => {
    const plan = explainPath(world(), 'px', { address: '10.0.9.50' }, ICMP);
    expect(kinds(plan)).toEqual(['PORT', 'OVERLAY', 'ROUTER', 'NAT', 'OVERLAY', 'PORT']);
    expect(plan.hops[3].detail).toBe('DNAT: floating IP 10.0.9.50 to b1 (10.0.2.5)');
    expect(plan.scopes).toContainEqual({ hostId: 'h1', portId: 'pb' });
  });

  it('a VIP: the load balancer with its members, counters in its namespace and the members’ ports', () => {
    const plan = explainPath(world(), 'pb', { loadBalancerId: 'lb' }, { protocol: 'TCP', port: 80 });
    expect(kinds(plan)).toEqual(['PORT', 'OVERLAY', 'LOAD_BALANCER']);
    expect(plan.address).toBe('10.0.2.100');
    expect(plan.loadBalancer?.members.map((m) => [m.name, m.address, m.port])).toEqual([
      ['web', '10.0.2.8', 8080],
      ['far', '10.0.2.9', 8080],
    ]);
    expect(plan.scopes).toEqual([
      { hostId: 'h1', portId: 'pb' },
      { hostId: 'h2', pluginId: LB_PLUGIN, resourceId: 'lb' },
      { hostId: 'h2', portId: 'pm' },
    ]);
    // The VIP given as an address is the same load balancer.
    expect(explainPath(world(), 'pb', { address: '10.0.2.100' }, { protocol: 'TCP', port: 80 }).loadBalancer?.id).toBe('lb');
  });

  it('a DISTRIBUTED VIP: translated on the client’s host, its counters read with the client’s port (the host table)', () => {
    const w = world();
    w.loadBalancers[0] = { ...w.loadBalancers[0], hostIds: ['h1', 'h2'], distributed: true };
    const plan = explainPath(w, 'pb', { loadBalancerId: 'lb' }, { protocol: 'TCP', port: 80 });
    expect(plan.hops.find((h) => h.kind === 'LOAD_BALANCER')).toMatchObject({ host: 'one', detail: expect.stringContaining("translated on the client's host, DNAT to one of") as string });
    expect(plan.scopes).toEqual([
      { hostId: 'h1', portId: 'pb' },
      { hostId: 'h2', portId: 'pm' },
    ]);
  });

  it('a VIP whose members sit behind the router: each at its own address, said to be reached through the gateway', () => {
    const w = world();
    w.loadBalancers[0].listeners[0].members = [
      { name: null, portId: 'pa3', address: null, port: 8080 },
      { name: 'ext', portId: null, address: '192.0.2.7', port: 8080 },
      { name: null, portId: 'pm', address: null, port: 8080 },
    ];
    const plan = explainPath(w, 'pb', { loadBalancerId: 'lb' }, { protocol: 'TCP', port: 80 });
    expect(plan.loadBalancer?.members.map((m) => [m.name, m.address, m.host])).toEqual([
      ['a3', '10.0.1.7', 'two'],
      ['ext', '192.0.2.7', null],
      ['web', '10.0.2.8', 'two'],
    ]);
    expect(plan.hops.find((h) => h.kind === 'LOAD_BALANCER')?.detail).toBe(
      'VIP 10.0.2.100 TCP 80: DNAT to one of a3 (10.0.1.7:8080 on host two, through the gateway), ext (192.0.2.7:8080, through the gateway), web (10.0.2.8:8080 on host two)',
    );
  });

  it('no router between two networks: said, not guessed', () => {
    const w = world();
    w.routers = [];
    expect(kinds(explainPath(w, 'pa', { portId: 'pb' }, ICMP))).toEqual(['PORT', 'NO_ROUTE', 'PORT']);
  });

  it.each([
    ['an unknown source port', 'nope', { portId: 'pb' }, ICMP, 'NOT_FOUND', 'input.fromPortId'],
    ['an unknown destination port', 'pa', { portId: 'nope' }, ICMP, 'NOT_FOUND', 'input.toPortId'],
    ['an unknown load balancer', 'pa', { loadBalancerId: 'nope' }, ICMP, 'NOT_FOUND', 'input.toLoadBalancerId'],
    ['a VIP without that listener', 'pa', { loadBalancerId: 'lb' }, { protocol: 'TCP' as const, port: 81 }, 'BAD_INPUT', 'input.protocol'],
    ['an IPv6 address', 'pa', { address: 'fd00::1' }, ICMP, 'BAD_INPUT', 'input.toAddress'],
  ])('refuses %s', (_what, from, target, probe, reason, field) => {
    expect(() => explainPath(world(), from, target, probe)).toThrow(TraceInputError);
    try {
      explainPath(world(), from, target, probe);
    } catch (error) {
      expect(error).toMatchObject({ reason, field });
    }
  });
});

describe('judge', () => {
  const plan = explainPath(world(), 'pb', { loadBalancerId: 'lb' }, { protocol: 'TCP', port: 80 });
  const names = new Map([['pol1', 'web-in']]);
  const scope = (before: Record<string, number>, after: Record<string, number>): ScopeCounts => ({ portName: 'web', host: 'two', before, after });

  it('delivered: names the allowing rule and the member whose counter moved', () => {
    const j = judge(
      plan,
      [scope({ 'netloom fw pol1 10 ALLOW': 4, 'netloom lb TCP/80>10.0.2.8:8080': 1, 'netloom lb TCP/80>10.0.2.9:8080': 3 }, { 'netloom fw pol1 10 ALLOW': 5, 'netloom lb TCP/80>10.0.2.8:8080': 2, 'netloom lb TCP/80>10.0.2.9:8080': 3 })],
      { ok: true, detail: 'connected' },
      names,
    );
    expect(j.verdict).toBe('DELIVERED');
    expect(j.rules).toEqual([{ policyId: 'pol1', policyName: 'web-in', rule: 10, direction: null, action: 'ALLOW', packets: 1, portName: 'web', host: 'two' }]);
    expect(j.member?.name).toBe('web');
    expect(j.summary).toContain('chose member web (10.0.2.8:8080)');
  });

  it('dropped: the DROP rule (or default) that counted it', () => {
    const j = judge(plan, [scope({}, { 'netloom fw pol1 default-INGRESS DROP': 2 })], { ok: false, detail: 'timeout' }, names);
    expect(j.verdict).toBe('DROPPED');
    expect(j.rules[0]).toMatchObject({ rule: null, direction: 'INGRESS', action: 'DROP', packets: 2 });
    expect(j.summary).toMatch(/^dropped by policy web-in default \(INGRESS\) \(DROP\) at port web/);
  });

  it('no answer: nothing dropped it; unread counters are said', () => {
    const j = judge(plan, [scope({ 'netloom fw pol1 10 ALLOW': 1 }, { 'netloom fw pol1 10 ALLOW': 1 }), { portName: 'b1', host: 'one', error: 'nft: no such namespace' }], { ok: false, detail: 'timeout' }, names);
    expect(j.verdict).toBe('NO_ANSWER');
    expect(j.rules).toEqual([]);
    expect(j.unread).toEqual(['b1 on host one: nft: no such namespace']);
  });

  it('two members moved: none named, the concurrent traffic said', () => {
    const j = judge(plan, [scope({}, { 'netloom lb TCP/80>10.0.2.8:8080': 1, 'netloom lb TCP/80>10.0.2.9:8080': 1 })], { ok: true, detail: 'connected' }, names);
    expect(j.member).toBeNull();
    expect(j.summary).toContain('other traffic at the same time');
  });
});
