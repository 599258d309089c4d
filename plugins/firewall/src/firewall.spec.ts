import { type HostContext } from '@netloom/plugin-sdk';
import { inMemoryIntent, runController } from '@netloom/plugin-sdk/testing';
import { OBSERVE_BUDGET } from './agent';
import { firewall, type FirewallPolicySpec } from './index';
import { selectPorts } from './controller';
import type { PlacedRule, PolicyPlacement, RuleSpec } from './spec';
import { defaultCounter, firewallTable, groupSets, type HeldPolicy, portDefault, ruleCounter, ruleLines, setElements } from './table';

const intent = () =>
  inMemoryIntent({
    hosts: [{ id: 'h1' }, { id: 'h2' }],
    networks: [{ id: 'na' }, { id: 'nb' }],
    subnets: [
      { id: 'sa', networkId: 'na', cidr: '10.30.1.0/24' },
      { id: 'sb', networkId: 'nb', cidr: '10.30.2.0/24' },
    ],
    ports: [
      { id: 'web1', networkId: 'na', hostId: 'h1', labels: { role: 'web' }, fixedIps: [{ subnetId: 'sa', ipAddress: '10.30.1.10' }] },
      { id: 'web2', networkId: 'nb', hostId: 'h2', labels: { role: 'web' }, fixedIps: [{ subnetId: 'sb', ipAddress: '10.30.2.10' }] },
      { id: 'db', networkId: 'na', hostId: 'h1', labels: { role: 'db' }, fixedIps: [{ subnetId: 'sa', ipAddress: '10.30.1.20' }] },
      { id: 'client', networkId: 'na', hostId: 'h2', labels: { role: 'client' }, fixedIps: [{ subnetId: 'sa', ipAddress: '10.30.1.30' }] },
    ],
    resources: [{ kind: 'AddressGroup', id: 'g1', spec: { cidrs: ['192.0.2.0/24'], selector: { portIds: [], networkIds: [], labels: [{ key: 'role', value: 'client' }] } } }],
  });

const rule = (r: Partial<RuleSpec>): RuleSpec => ({ priority: 10, direction: 'INGRESS', protocol: 'TCP', ports: [], remoteCidrs: [], remoteGroupIds: [], action: 'ALLOW', log: null, ...r });
const spec = (s: Partial<FirewallPolicySpec>): FirewallPolicySpec => ({
  priority: null,
  selector: { portIds: [], networkIds: [], labels: [{ key: 'role', value: 'web' }] },
  ingressDefault: null,
  egressDefault: null,
  rules: [],
  ...s,
});
const run = (s: Partial<FirewallPolicySpec>) => runController(firewall, 'FirewallPolicy', { id: 'fw1', spec: spec(s) }, intent());

describe('firewall: controller half', () => {
  it('places a policy on each host of the ports it selects, guarding them, with its groups resolved', async () => {
    const { placements } = await run({ rules: [rule({ ports: [{ from: 80, to: null }], remoteGroupIds: ['g1'] }), rule({ priority: 5, protocol: 'ICMP', ports: [] })] });
    expect(placements.map((p) => [p.hostId, p.guards])).toEqual([
      ['h1', ['web1']],
      ['h2', ['web2']],
    ]);
    const placed = placements[0].spec;
    expect(placed).toMatchObject({ priority: 1000, ingressDefault: 'DROP', egressDefault: 'ALLOW', ports: ['web1'], groups: { g1: ['10.30.1.30', '192.0.2.0/24'] } });
    // Rules in priority order, defaults filled in.
    expect(placed.rules.map((r) => [r.priority, r.protocol, r.ports, r.log])).toEqual([
      [5, 'ICMP', [], false],
      [10, 'TCP', [[80, 80]], false],
    ]);
  });

  it('selects listed ports, and those on the networks with the labels', () => {
    const ports: { id: string; networkId: string; labels: Record<string, string> }[] = [
      { id: 'a', networkId: 'n1', labels: { x: '1' } },
      { id: 'b', networkId: 'n2', labels: { x: '1' } },
      { id: 'c', networkId: 'n1', labels: {} },
    ]
    const rows = ports.map((p) => ({ ...p, name: p.id, hostId: 'h', macAddress: '', fixedIps: [] }));
    const ids = (s: Parameters<typeof selectPorts>[0]) => selectPorts(s, rows).map((p) => p.id);
    expect(ids({ portIds: ['c'], networkIds: [], labels: [] })).toEqual(['c']);
    expect(ids({ portIds: [], networkIds: ['n1'], labels: [] })).toEqual(['a', 'c']);
    expect(ids({ portIds: [], networkIds: ['n1'], labels: [{ key: 'x', value: '1' }] })).toEqual(['a']);
    expect(ids({ portIds: ['b'], networkIds: ['n1'], labels: [{ key: 'x', value: '1' }] })).toEqual(['a', 'b']);
    expect(ids({ portIds: [], networkIds: [], labels: [] })).toEqual([]);
  });

  it.each<[string, Partial<FirewallPolicySpec>, string, RegExp]>([
    ['an empty selector', { selector: { portIds: [], networkIds: [], labels: [] } }, 'input.selector', /picks no port/],
    ['duplicate rule priorities', { rules: [rule({}), rule({ action: 'DROP' })] }, 'input.rules.1.priority', /two rules have priority 10/],
    ['a port range out of order', { rules: [rule({ ports: [{ from: 90, to: 80 }] })] }, 'input.rules.0.ports.0.to', /out of order/],
    ['a port of 0', { rules: [rule({ ports: [{ from: 0, to: null }] })] }, 'input.rules.0.ports.0.from', /1-65535/],
    ['a port above 65535', { rules: [rule({ ports: [{ from: 80, to: 70000 }] })] }, 'input.rules.0.ports.0.to', /1-65535/],
    ['ports without TCP or UDP', { rules: [rule({ protocol: 'ICMP', ports: [{ from: 80, to: null }] })] }, 'input.rules.0.ports', /TCP or UDP/],
    ['ICMP with an IPv6 remote', { rules: [rule({ protocol: 'ICMP', remoteCidrs: ['fd00::/8'] })] }, 'input.rules.0.remoteCidrs.0', /family/],
    ['a policy priority out of range', { priority: 70000 }, 'input.priority', /0-65535/],
  ])('refuses %s', async (_what, s, field, message) => {
    await expect(run(s)).rejects.toMatchObject({ code: 'BAD_USER_INPUT', field, message: expect.stringMatching(message) as string });
  });
});

const placed = (p: Partial<PolicyPlacement>): PolicyPlacement => ({ priority: 1000, ingressDefault: 'DROP', egressDefault: 'ALLOW', rules: [], ports: ['p1'], groups: {}, ...p });
const placedRule = (r: Partial<PlacedRule>): PlacedRule => ({ priority: 10, direction: 'INGRESS', protocol: 'ANY', ports: [], remoteCidrs: [], remoteGroupIds: [], action: 'ALLOW', log: false, ...r });

describe('firewall table', () => {
  it('writes a rule with its protocol, ports, remotes, counter and verdict', () => {
    const c = ruleCounter('pol', 10);
    const allow = 'comment "netloom fw pol 10 ALLOW"';
    const drop = 'comment "netloom fw pol 10 DROP"';
    const reject = 'comment "netloom fw pol 10 REJECT"';
    expect(ruleLines('pol', placedRule({ protocol: 'TCP', ports: [[80, 80], [8000, 8080]], remoteCidrs: ['10.0.0.0/8', 'fd00::/8'] }))).toEqual([
      `tcp dport { 80, 8000-8080 } ip saddr 10.0.0.0/8 counter name "${c}" accept ${allow}`,
      `tcp dport { 80, 8000-8080 } ip6 saddr fd00::/8 counter name "${c}" accept ${allow}`,
    ]);
    expect(ruleLines('pol', placedRule({ protocol: 'UDP', ports: [[53, 53]], remoteCidrs: ['10.0.0.0/8', '192.0.2.0/24'] }))).toEqual([
      `udp dport 53 ip saddr { 10.0.0.0/8, 192.0.2.0/24 } counter name "${c}" accept ${allow}`,
    ]);
    expect(ruleLines('pol', placedRule({ direction: 'EGRESS', protocol: 'UDP', remoteGroupIds: ['g'], action: 'DROP' }))).toEqual([
      `meta l4proto udp ip daddr @${groupSets('g').v4} counter name "${c}" drop ${drop}`,
      `meta l4proto udp ip6 daddr @${groupSets('g').v6} counter name "${c}" drop ${drop}`,
    ]);
    expect(ruleLines('pol', placedRule({ action: 'REJECT', log: true }))).toEqual([
      `meta l4proto tcp counter name "${c}" log prefix "nlfw pol 10 REJECT " reject with tcp reset ${reject}`,
      `counter name "${c}" log prefix "nlfw pol 10 REJECT " reject with icmpx type admin-prohibited ${reject}`,
    ]);
    // ICMP with only IPv6 remotes would match nothing (refused by validation anyway).
    expect(ruleLines('pol', placedRule({ protocol: 'ICMP', remoteCidrs: ['fd00::/8'] }))).toEqual([]);
  });

  it('composes policies by priority then id; a non-ALLOW default of the first such policy decides', () => {
    const a: HeldPolicy = { id: 'a', spec: placed({ priority: 20, ingressDefault: 'ALLOW', rules: [placedRule({ priority: 1, action: 'DROP' })] }) };
    const b: HeldPolicy = { id: 'b', spec: placed({ priority: 10, ingressDefault: 'REJECT', rules: [placedRule({ priority: 1 })] }) };
    const { body, counters } = firewallTable([{ portId: 'p1', ifname: 'eth0', policies: [a, b] }]);
    expect(body.indexOf(ruleCounter('b', 1))).toBeLessThan(body.indexOf(ruleCounter('a', 1)));
    expect(portDefault([a, b], 'INGRESS')).toEqual({ action: 'REJECT', policyId: 'b' });
    expect(portDefault([a, b], 'EGRESS')).toEqual({ action: 'ALLOW', policyId: 'b' });
    expect(counters).toEqual([ruleCounter('a', 1), ruleCounter('b', 1), defaultCounter('b', 'INGRESS'), defaultCounter('b', 'EGRESS')].sort());
    expect(body).toContain('chain in_0 {\nct state established,related accept\nct state invalid drop\n');
    expect(body).toContain('iifname "eth0" jump in_0');
    expect(body).toContain('oifname "eth0" jump out_0');
    expect(body).toMatch(/type filter hook input priority filter; policy accept;/);
  });

  it('declares the address-group sets its rules use, with their elements apart', () => {
    const p: HeldPolicy = { id: 'a', spec: placed({ rules: [placedRule({ remoteGroupIds: ['g'] })], groups: { g: ['10.1.0.0/16', '10.1.2.3', 'fd00::1', '10.1.0.0/24'] } }) };
    const { body, sets } = firewallTable([{ portId: 'p1', ifname: 'eth0', policies: [p] }]);
    const names = groupSets('g');
    expect(sets).toEqual({ [names.v4]: ['10.1.0.0/16'], [names.v6]: ['fd00::1'] });
    expect(body).toContain(`set ${names.v4} {\ntype ipv4_addr; flags interval;\n}`);
  });

  it('keeps set elements that no other contains, host addresses plain', () => {
    expect(setElements(['10.0.0.5/32', '10.0.0.0/24', '10.0.1.7', '10.0.1.7'])).toEqual(['10.0.0.0/24', '10.0.1.7']);
    expect(setElements(['fd00::/64', 'fd00::5', 'fd01::5/128'])).toEqual(['fd00::/64', 'fd01::5']);
  });

  it('is empty without ports', () => {
    expect(firewallTable([])).toEqual({ body: '', counters: [], sets: {} });
  });
});

describe('firewall: observe', () => {
  it(`reads the counters of at most ${OBSERVE_BUDGET} namespaces per call, the never or longest unread first, and sums what it has`, async () => {
    const reads: string[] = [];
    const ports = Array.from({ length: 20 }, (_, i) => `p${i}`);
    const host = {
      port: (id: string) => ({ netns: `ns-${id}`, ifname: 'eth0' }),
      portIds: () => ports,
      nftCounters: (netns: string) => {
        reads.push(netns);
        return Promise.resolve({ [ruleCounter('fw', 1)]: { packets: 1, bytes: 10 } });
      },
    } as unknown as HostContext;
    const desired = [{ kind: 'FirewallPolicy', id: 'fw', generation: 1, spec: placed({ ports, rules: [placedRule({ priority: 1 })] }) }];
    const first = (await firewall.agent!.observe!(desired, host)).fw as { ports: number; rules: { packets: number }[] };
    expect(reads).toHaveLength(OBSERVE_BUDGET);
    expect(first.ports).toBe(20);
    expect(first.rules[0].packets).toBe(OBSERVE_BUDGET);
    reads.length = 0;
    await new Promise((r) => setTimeout(r, 2));
    const second = (await firewall.agent!.observe!(desired, host)).fw as { rules: { packets: number }[] };
    // The 4 never read come first.
    expect(reads.slice(0, 4).sort()).toEqual(['ns-p16', 'ns-p17', 'ns-p18', 'ns-p19']);
    expect(second.rules[0].packets).toBe(20);
  });
});

describe('firewall: which table filters a port', () => {
  it('the host table (a conntrack zone per bridge, kept from the table read back), unless its addresses cannot tell its traffic apart or one of its policies may REJECT', async () => {
    const places: Record<string, { netns: string; ifname: string; bridge?: string; addresses?: string[] }> = {
      plain: { netns: 'ns-plain', ifname: 'eth0', bridge: 'br0', addresses: ['10.0.0.1', 'fd00::1'] },
      pair: { netns: 'ns-pair', ifname: 'eth0', bridge: 'br0', addresses: ['10.0.0.2', '10.0.1.0/24'] },
      vip1: { netns: 'ns-vip1', ifname: 'eth0', bridge: 'br0', addresses: ['10.0.0.3', '10.0.0.100'] },
      vip2: { netns: 'ns-vip2', ifname: 'eth0', bridge: 'br0', addresses: ['10.0.0.4', '10.0.0.100'] },
      open: { netns: 'ns-open', ifname: 'eth0', bridge: 'br0' },
      other: { netns: 'ns-other', ifname: 'eth0', bridge: 'br1', addresses: ['10.0.0.3'] },
      rejecting: { netns: 'ns-rejecting', ifname: 'eth0', bridge: 'br0', addresses: ['10.0.0.5'] },
    };
    const written = new Map<string, string>();
    const mapped: string[] = [];
    const host = {
      port: (id: string) => places[id],
      portIds: () => Object.keys(places),
      sysctlValue: () => Promise.resolve('1'),
      nftList: () => Promise.resolve({ nftables: [{ map: { name: 'zones', elem: [['br1', 3]] } }] }),
      nftTable: (body: string, netns: string | undefined, opts: { maps?: Record<string, { key: string[] }[]> }) => {
        written.set(netns ?? 'host', body);
        if (netns === undefined) for (const [name, elements] of Object.entries(opts.maps ?? {})) for (const e of elements) mapped.push(name === 'zones' ? `zone ${e.key.join(' ')} ${(e as unknown as { value: string }).value}` : e.key.join(' '));
        return Promise.resolve();
      },
    } as unknown as HostContext;
    const covering = ['plain', 'pair', 'vip1', 'vip2', 'open', 'other'];
    const desired = [
      { kind: 'FirewallPolicy', id: 'fw', generation: 1, spec: placed({ ports: covering, rules: [placedRule({ priority: 1 })] }) },
      { kind: 'FirewallPolicy', id: 'rj', generation: 1, spec: placed({ ports: ['rejecting'], ingressDefault: 'REJECT' }) },
    ];
    const statuses = await firewall.agent!.reconcile(desired, host);
    expect(statuses.map((st) => st.state)).toEqual(['APPLIED', 'APPLIED']);
    // 10.0.0.3 is vip1's on br0 only: on br1 it keys the other port.
    expect([...new Set(mapped)].sort()).toEqual(['br0 10.0.0.1', 'br0 fd00::1', 'br1 10.0.0.3', 'zone br0 1', 'zone br1 3']);
    expect([...written.keys()].filter((k) => k !== 'host' && written.get(k) !== '').sort()).toEqual(['ns-open', 'ns-pair', 'ns-rejecting', 'ns-vip1', 'ns-vip2']);

    // Without br_netfilter (no net.bridge keys) the host table would see nothing: every port keeps its own.
    const logs: string[] = [];
    const bare = Object.assign(Object.create(host) as HostContext, { sysctlValue: () => Promise.resolve(null), log: (line: string) => logs.push(line) });
    written.clear();
    mapped.length = 0;
    await firewall.agent!.reconcile(desired, bare);
    expect(mapped.filter((m) => !m.startsWith('zone'))).toEqual([]);
    expect([...written.keys()].filter((k) => k !== 'host' && written.get(k) !== '').sort()).toEqual(['ns-open', 'ns-other', 'ns-pair', 'ns-plain', 'ns-rejecting', 'ns-vip1', 'ns-vip2']);
    expect(logs).toEqual([expect.stringMatching(/bridge-nf-call-iptables absent: br_netfilter not loaded/)]);
  });
});
