import { deriveMac, type IntentFilter, type IntentView } from '@netloom/plugin-sdk';
import { inMemoryIntent, runController } from '@netloom/plugin-sdk/testing';
import { loadBalancer, type LoadBalancerSpec } from './index';
import { parseExpectedCodes } from './controller';
import type { ListenerSpec, MemberSpec } from './spec';

const intent = () =>
  inMemoryIntent({
    hosts: [{ id: 'h1' }, { id: 'h2' }],
    networks: [{ id: 'n1' }, { id: 'n2', mtu: 9000 }, { id: 'n6' }],
    subnets: [
      { id: 's1', networkId: 'n1', cidr: '10.20.1.0/24', gatewayIp: '10.20.1.1' },
      { id: 's1b', networkId: 'n1', cidr: '10.20.9.0/24', gatewayIp: '10.20.9.1' },
      { id: 's2', networkId: 'n2', cidr: '10.20.2.0/24', gatewayIp: '10.20.2.1' },
      // The VIP network's CIDR again, on another network.
      { id: 's2o', networkId: 'n2', cidr: '10.20.1.0/24' },
      { id: 's6', networkId: 'n6', cidr: 'fd00:20::/64', gatewayIp: 'fd00:20::1' },
    ],
    ports: [
      { id: 'p1', networkId: 'n1', hostId: 'h1', fixedIps: [{ subnetId: 's1', ipAddress: '10.20.1.11' }] },
      { id: 'p2', networkId: 'n1', hostId: 'h2', fixedIps: [{ subnetId: 's1b', ipAddress: '10.20.9.12' }] },
      { id: 'p3', networkId: 'n2', hostId: 'h1', fixedIps: [{ subnetId: 's2', ipAddress: '10.20.2.13' }] },
      { id: 'p6', networkId: 'n1', hostId: 'h1', fixedIps: [] },
      { id: 'p7', networkId: 'n2', hostId: 'h2', fixedIps: [{ subnetId: 's2o', ipAddress: '10.20.1.200' }] },
    ],
    resources: [{ kind: 'LoadBalancer', id: 'earlier', spec: { hostId: 'h1', subnetId: 's1', vipAddress: '10.20.1.99', listeners: [] } }],
  });

const member = (m: Partial<MemberSpec>): MemberSpec => ({ name: null, portId: null, address: null, port: 8080, weight: null, adminUp: null, ...m });
const listener = (l: Partial<ListenerSpec> & { members?: MemberSpec[] } = {}): ListenerSpec => ({
  protocol: 'TCP',
  port: 80,
  pool: { algorithm: 'ROUND_ROBIN', affinityTimeout: null, healthMonitor: null, ...l.pool, members: l.members ?? l.pool?.members ?? [member({ portId: 'p1' })] },
  ...(l.protocol ? { protocol: l.protocol } : {}),
  ...(l.port !== undefined ? { port: l.port } : {}),
});
const spec = (s: Partial<LoadBalancerSpec>): LoadBalancerSpec => ({ mode: null, hostId: null, subnetId: 's1', vipAddress: '10.20.1.50', listeners: [listener()], ...s });
const run = (s: Partial<LoadBalancerSpec>) => runController(loadBalancer, 'LoadBalancer', { id: 'lb1', spec: spec(s) }, intent());

/** `view` recording the filter of every ports() read. */
const portsAsked = (view: IntentView): { view: IntentView; asked: (IntentFilter | undefined)[] } => {
  const asked: (IntentFilter | undefined)[] = [];
  return { asked, view: { ...view, ports: (filter) => (asked.push(filter), view.ports(filter)) } };
};

describe('load balancer: controller half', () => {
  it('reads its member ports only, never the whole site’s', async () => {
    const { view, asked } = portsAsked(intent());
    await runController(loadBalancer, 'LoadBalancer', { id: 'lb1', spec: spec({ listeners: [listener({ members: [member({ portId: 'p1' }), member({ portId: 'p2' })] })] }) }, view);
    expect(asked.length).toBeGreaterThan(0);
    for (const filter of asked) expect(filter?.ids).toEqual(['p1', 'p2']);
  });

  it('places a health-monitored one (APPLIANCE) on the least loaded host, members resolved to addresses, the VIP announced', async () => {
    const hm = { type: 'HTTP' as const, httpPath: '/healthz', expectedCodes: '200-204,301', intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 3 };
    const { placements, reservations } = await run({
      listeners: [
        listener({
          members: [member({ portId: 'p1', name: 'a', weight: 3 }), member({ portId: 'p2' }), member({ address: '10.20.1.77', port: 9000, adminUp: false })],
          pool: { algorithm: 'SOURCE_IP', affinityTimeout: 60, members: [], healthMonitor: hm },
        }),
      ],
    });
    expect(reservations).toEqual([{ subnetId: 's1', ipAddress: '10.20.1.50', field: 'input.vipAddress' }]);
    const mac = deriveMac('lb:lb1');
    expect(placements).toEqual([
      {
        hostId: 'h2',
        networks: ['n1'],
        endpoints: [{ networkId: 'n1', mac, ips: ['10.20.1.50'] }],
        spec: {
          mode: 'APPLIANCE',
          networkId: 'n1',
          subnets: ['10.20.1.0/24', '10.20.9.0/24'],
          vip: '10.20.1.50',
          cidr: '10.20.1.50/24',
          gateway: '10.20.1.1',
          mac,
          mtu: 1450,
          listeners: [
            {
              protocol: 'TCP',
              port: 80,
              algorithm: 'SOURCE_IP',
              affinityTimeout: 60,
              members: [
                // Nothing reported yet: its checks start with each ONLINE.
                { name: 'a', portId: 'p1', address: '10.20.1.11', port: 8080, weight: 3, adminUp: true, online: true },
                { name: null, portId: 'p2', address: '10.20.9.12', port: 8080, weight: 1, adminUp: true, online: true },
                { name: null, portId: null, address: '10.20.1.77', port: 9000, weight: 1, adminUp: false, online: true },
              ],
              healthMonitor: {
                type: 'HTTP',
                path: '/healthz',
                expect: [
                  { from: 200, to: 204 },
                  { from: 301, to: 301 },
                ],
                intervalMs: 1000,
                timeoutMs: 500,
                rise: 2,
                fall: 3,
              },
            },
          ],
        },
      },
    ]);
  });

  it('places one without a health monitor nor a host (DISTRIBUTED) on every host, asking for no bridge and announcing nothing', async () => {
    const { placements } = await run({ listeners: [listener({ members: [member({ portId: 'p1' }), member({ portId: 'p2', weight: 2 })] })] });
    expect(placements.map((p) => [p.hostId, p.networks, p.endpoints, p.spec.mode])).toEqual([
      ['h1', undefined, undefined, 'DISTRIBUTED'],
      ['h2', undefined, undefined, 'DISTRIBUTED'],
    ]);
    expect(placements[0].spec).toEqual(placements[1].spec);
    expect(placements[0].spec).toMatchObject({ networkId: 'n1', subnets: ['10.20.1.0/24', '10.20.9.0/24'], vip: '10.20.1.50', gateway: '10.20.1.1' });
    expect(placements[0].spec.listeners[0].members.map((m) => [m.address, m.weight])).toEqual([
      ['10.20.1.11', 1],
      ['10.20.9.12', 2],
    ]);
  });

  it("with a health monitor: DISTRIBUTED, each host checks its own members and every host follows what the member's host found; APPLIANCE, its host's checks start from what it found", async () => {
    const hm = { type: 'TCP' as const, httpPath: null, expectedCodes: null, intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 2 };
    const lb = { id: 'lb1', spec: spec({ mode: 'DISTRIBUTED', listeners: [listener({ members: [member({ portId: 'p1' }), member({ portId: 'p2' })], pool: { algorithm: 'ROUND_ROBIN', affinityTimeout: null, members: [], healthMonitor: hm } })] }) };
    const report = (hostId: string, statuses: Record<string, 'ONLINE' | 'OFFLINE'>, checked: string[]) => ({
      kind: 'LoadBalancer',
      id: 'lb1',
      hostId,
      value: loadBalancer.controller!.observedForPlacement!(
        {
          operatingStatus: 'ONLINE',
          listeners: [
            {
              protocol: 'TCP',
              port: 80,
              members: Object.entries(statuses).map(([address, operatingStatus]) => ({
                name: null,
                portId: null,
                address,
                port: 8080,
                weight: 1,
                operatingStatus,
                lastCheck: null,
                checked: checked.includes(address),
                connections: 5,
                packets: 50,
                bytes: 500,
              })),
            },
          ],
        },
        'LoadBalancer',
      ),
    });
    const members = (placements: { hostId: string; spec: { listeners: { members: { address: string; check?: boolean; online?: boolean }[] }[] } }[]) =>
      placements.map((p) => [p.hostId, p.spec.listeners[0].members.map((m) => [m.address, m.check, m.online])]);
    // Nothing reported yet: members start ONLINE; h1 checks p1's member, h2 p2's.
    const first = await runController(loadBalancer, 'LoadBalancer', lb, intent());
    expect(members(first.placements)).toEqual([
      ['h1', [['10.20.1.11', true, true], ['10.20.9.12', false, true]]],
      ['h2', [['10.20.1.11', false, true], ['10.20.9.12', true, true]]],
    ]);
    // h2 found its member OFFLINE; h1 thinks otherwise of that member (it does not check it, its word does not count).
    const seenIntent = {
      hosts: [{ id: 'h1' }, { id: 'h2' }],
      networks: [{ id: 'n1' }],
      subnets: [
        { id: 's1', networkId: 'n1', cidr: '10.20.1.0/24', gatewayIp: '10.20.1.1' },
        { id: 's1b', networkId: 'n1', cidr: '10.20.9.0/24', gatewayIp: '10.20.9.1' },
      ],
      ports: [
        { id: 'p1', networkId: 'n1', hostId: 'h1', fixedIps: [{ subnetId: 's1', ipAddress: '10.20.1.11' }] },
        { id: 'p2', networkId: 'n1', hostId: 'h2', fixedIps: [{ subnetId: 's1b', ipAddress: '10.20.9.12' }] },
      ],
    };
    const seen = inMemoryIntent({
      ...seenIntent,
      observed: [report('h2', { '10.20.9.12': 'OFFLINE', '10.20.1.11': 'ONLINE' }, ['10.20.9.12']), report('h1', { '10.20.1.11': 'ONLINE', '10.20.9.12': 'ONLINE' }, ['10.20.1.11'])],
    });
    expect(members((await runController(loadBalancer, 'LoadBalancer', lb, seen)).placements)).toEqual([
      ['h1', [['10.20.1.11', true, true], ['10.20.9.12', false, false]]],
      ['h2', [['10.20.1.11', false, true], ['10.20.9.12', true, false]]],
    ]);
    // What the controller keeps of a report: the checked members' health, never the counters.
    expect(report('h2', { '10.20.9.12': 'OFFLINE', '10.20.1.11': 'ONLINE' }, ['10.20.9.12']).value).toEqual({ 'TCP/80>10.20.9.12:8080': false });
    expect(report('h1', { '10.20.1.11': 'ONLINE' }, []).value).toBeUndefined();
    // An APPLIANCE checks every member from its own host: what that host reported is where its checks start.
    const appliance = { id: 'lb1', spec: { ...lb.spec, mode: 'APPLIANCE' as const, hostId: 'h1' } };
    const onH1 = inMemoryIntent({ ...seenIntent, observed: [report('h1', { '10.20.1.11': 'ONLINE', '10.20.9.12': 'OFFLINE' }, ['10.20.1.11', '10.20.9.12']), report('h2', { '10.20.1.11': 'OFFLINE' }, ['10.20.1.11'])] });
    expect(members((await runController(loadBalancer, 'LoadBalancer', appliance, onH1)).placements)).toEqual([['h1', [['10.20.1.11', undefined, true], ['10.20.9.12', undefined, false]]]]);
  });

  it('runs DISTRIBUTED by default, with a health monitor too, unless a monitored member is given by address', async () => {
    const hm = { type: 'TCP' as const, httpPath: null, expectedCodes: null, intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 2 };
    const monitored = (members: MemberSpec[]) => [listener({ members, pool: { algorithm: 'ROUND_ROBIN', affinityTimeout: null, members: [], healthMonitor: hm } })];
    expect((await run({ listeners: monitored([member({ portId: 'p1' }), member({ portId: 'p2' })]) })).placements.map((p) => [p.hostId, p.spec.mode])).toEqual([
      ['h1', 'DISTRIBUTED'],
      ['h2', 'DISTRIBUTED'],
    ]);
    expect((await run({ listeners: monitored([member({ portId: 'p1' }), member({ address: '10.20.1.77' })]) })).placements.map((p) => [p.hostId, p.spec.mode])).toEqual([['h2', 'APPLIANCE']]);
    // Without a monitor a member by address is no reason for an appliance.
    expect((await run({ listeners: [listener({ members: [member({ address: '10.20.1.77' })] })] })).placements.map((p) => p.spec.mode)).toEqual(['DISTRIBUTED', 'DISTRIBUTED']);
    // Nor is a member port on another network; with a monitor it is (checked through the gateway).
    expect((await run({ listeners: [listener({ members: [member({ portId: 'p3' })] })] })).placements.map((p) => p.spec.mode)).toEqual(['DISTRIBUTED', 'DISTRIBUTED']);
    expect((await run({ listeners: monitored([member({ portId: 'p1' }), member({ portId: 'p3' })]) })).placements.map((p) => [p.hostId, p.spec.mode])).toEqual([['h2', 'APPLIANCE']]);
  });

  it('counts an appliance its monitored members behind the router made one when it spreads appliances over hosts', async () => {
    const hm = { type: 'TCP' as const, httpPath: null, expectedCodes: null, intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 2 };
    const monitored = [listener({ members: [member({ portId: 'p3' })], pool: { algorithm: 'ROUND_ROBIN', affinityTimeout: null, members: [], healthMonitor: hm } })];
    const view = intent();
    // Made after 'earlier' (pinned to h1), before lb1: on h2, so lb1 goes to h1 (it would go to h2 were it not counted).
    const auto = { kind: 'LoadBalancer', id: 'f-auto', name: 'f-auto', generation: 1, labels: {}, spec: spec({ vipAddress: '10.20.1.98', listeners: monitored }) };
    const withAuto: IntentView = { ...view, resources: async <T>(kind: string) => [...(await view.resources<T>(kind)), auto as never] };
    const { placements } = await runController(loadBalancer, 'LoadBalancer', { id: 'lb1', spec: spec({ mode: 'APPLIANCE' }) }, withAuto);
    expect(placements.map((p) => p.hostId)).toEqual(['h1']);
  });

  it('runs as an APPLIANCE when pinned to a host or asked to, DISTRIBUTED when asked to', async () => {
    expect((await run({ hostId: 'h1' })).placements.map((p) => [p.hostId, p.spec.mode])).toEqual([['h1', 'APPLIANCE']]);
    expect((await run({ mode: 'APPLIANCE' })).placements.map((p) => [p.hostId, p.spec.mode])).toEqual([['h2', 'APPLIANCE']]);
    expect((await run({ mode: 'DISTRIBUTED' })).placements.map((p) => [p.hostId, p.spec.mode])).toEqual([
      ['h1', 'DISTRIBUTED'],
      ['h2', 'DISTRIBUTED'],
    ]);
  });

  it('asks the IPAM for the VIP when none is given, and places nothing until it has one', async () => {
    const { reservations } = await run({ vipAddress: null, hostId: 'h1' });
    expect(reservations).toEqual([{ subnetId: 's1', assignTo: 'vipAddress', field: 'input.vipAddress' }]);
  });

  it('parses expected codes', () => {
    expect(parseExpectedCodes('200')).toEqual([{ from: 200, to: 200 }]);
    expect(parseExpectedCodes('200-299, 404')).toEqual([
      { from: 200, to: 299 },
      { from: 404, to: 404 },
    ]);
    for (const bad of ['', '20', '299-200', '600', '200;201', 'abc']) expect(parseExpectedCodes(bad)).toBeUndefined();
  });

  const hm = (h: Record<string, unknown>) => ({ pool: { algorithm: 'ROUND_ROBIN' as const, affinityTimeout: null, members: [member({ portId: 'p1' })], healthMonitor: { type: 'TCP', intervalMs: 1000, timeoutMs: 500, rise: 1, fall: 1, ...h } as never } });
  it.each<[string, Partial<LoadBalancerSpec>, string, RegExp]>([
    ['a VIP outside its subnet', { vipAddress: '10.20.2.50' }, 'input.vipAddress', /not in subnet/],
    ["the subnet's gateway as VIP", { vipAddress: '10.20.1.1' }, 'input.vipAddress', /gateway/],
    ['an IPv6 subnet', { subnetId: 's6', vipAddress: 'fd00:20::5' }, 'input.subnetId', /IPv6/],
    ['a duplicate listener', { listeners: [listener(), listener()] }, 'input.listeners.1.port', /already a listener on TCP port 80/],
    ['a listener port out of range', { listeners: [listener({ port: 70000 })] }, 'input.listeners.0.port', /1-65535/],
    [
      'a member on another network whose address lies in a subnet of the VIP network too',
      { listeners: [listener({ members: [member({ portId: 'p7' })] })] },
      'input.listeners.0.pool.members.0.portId',
      /cannot be told from/,
    ],
    [
      'a DISTRIBUTED one with a health monitor and a member on another network',
      { mode: 'DISTRIBUTED', listeners: [listener({ ...hm({}), members: [member({ portId: 'p3' })] })] },
      'input.listeners.0.pool.members.0.portId',
      /another network.*give mode APPLIANCE/,
    ],
    ['a member port without an address', { listeners: [listener({ members: [member({ portId: 'p6' })] })] }, 'input.listeners.0.pool.members.0.portId', /no IPv4 address/],
    ['a member with both portId and address', { listeners: [listener({ members: [member({ portId: 'p1', address: '10.20.1.11' })] })] }, 'input.listeners.0.pool.members.0', /either/],
    ['a member with neither', { listeners: [listener({ members: [member({})] })] }, 'input.listeners.0.pool.members.0', /either/],
    ['a weight of 0', { listeners: [listener({ members: [member({ portId: 'p1', weight: 0 })] })] }, 'input.listeners.0.pool.members.0.weight', /1-256/],
    ['a weight of 257', { listeners: [listener({ members: [member({ portId: 'p1', weight: 257 })] })] }, 'input.listeners.0.pool.members.0.weight', /1-256/],
    ['a member port of 0', { listeners: [listener({ members: [member({ portId: 'p1', port: 0 })] })] }, 'input.listeners.0.pool.members.0.port', /1-65535/],
    ['the same member twice', { listeners: [listener({ members: [member({ portId: 'p1' }), member({ address: '10.20.1.11' })] })] }, 'input.listeners.0.pool.members.1', /given twice/],
    ['the VIP as a member', { listeners: [listener({ members: [member({ address: '10.20.1.50' })] })] }, 'input.listeners.0.pool.members.0', /VIP itself/],
    ['affinity without SOURCE_IP', { listeners: [listener({ pool: { algorithm: 'RANDOM', affinityTimeout: 5, members: [], healthMonitor: null } })] }, 'input.listeners.0.pool.affinityTimeout', /SOURCE_IP/],
    ['a too short interval', { listeners: [listener(hm({ intervalMs: 10 }))] }, 'input.listeners.0.pool.healthMonitor.intervalMs', /200-/],
    ['a timeout above the interval', { listeners: [listener(hm({ timeoutMs: 2000 }))] }, 'input.listeners.0.pool.healthMonitor.timeoutMs', /up to intervalMs/],
    ['a fall of 0', { listeners: [listener(hm({ fall: 0 }))] }, 'input.listeners.0.pool.healthMonitor.fall', /1-10/],
    ['an httpPath on a TCP monitor', { listeners: [listener(hm({ httpPath: '/x' }))] }, 'input.listeners.0.pool.healthMonitor.httpPath', /type HTTP/],
    ['an httpPath with a space', { listeners: [listener(hm({ type: 'HTTP', httpPath: '/a b' }))] }, 'input.listeners.0.pool.healthMonitor.httpPath', /visible ASCII/],
    ['bad expected codes', { listeners: [listener(hm({ type: 'HTTP', expectedCodes: '2xx' }))] }, 'input.listeners.0.pool.healthMonitor.expectedCodes', /100-599/],
    [
      'a DISTRIBUTED one with a health monitor and a member by address',
      { mode: 'DISTRIBUTED', listeners: [listener(), listener({ port: 81, ...hm({}), members: [member({ address: '10.20.1.77' })] })] },
      'input.listeners.1.pool.members.0.address',
      /host of its port/,
    ],
    ['a DISTRIBUTED one on a host', { mode: 'DISTRIBUTED', hostId: 'h1' }, 'input.hostId', /every host/],
  ])('refuses %s', async (_what, s, field, message) => {
    await expect(run(s)).rejects.toMatchObject({ code: 'BAD_USER_INPUT', field, message: expect.stringMatching(message) as string });
  });

  it('reaches members on other networks through the VIP subnet’s gateway: a port there (its own address) or an address in no subnet of the VIP network', async () => {
    const members = [member({ portId: 'p1' }), member({ portId: 'p3' }), member({ address: '192.0.2.7' })];
    const { placements } = await run({ listeners: [listener({ members })] });
    expect(placements.map((p) => p.spec.mode)).toEqual(['DISTRIBUTED', 'DISTRIBUTED']);
    expect(placements[0].spec.gateway).toBe('10.20.1.1');
    expect(placements[0].spec.listeners[0].members.map((m) => [m.address, m.viaGateway ?? false])).toEqual([
      ['10.20.1.11', false],
      ['10.20.2.13', true],
      ['192.0.2.7', true],
    ]);
    // With a health monitor, as an APPLIANCE: checked from its namespace, through the gateway too.
    const monitoredLb = await run({ mode: 'APPLIANCE', listeners: [listener({ ...hm({}), members: [member({ portId: 'p3' })] })] });
    expect(monitoredLb.placements.map((p) => [p.spec.mode, p.spec.listeners[0].members[0].viaGateway])).toEqual([['APPLIANCE', true]]);
  });

  it('allows the same port on TCP and UDP', async () => {
    await expect(run({ listeners: [listener(), listener({ protocol: 'UDP' })] })).resolves.toBeDefined();
  });
});
