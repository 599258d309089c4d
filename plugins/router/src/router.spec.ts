import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { deriveMac, type IntentFilter, RealizationState } from '@netloom/plugin-sdk';
import { agentTestHost, AgentTestHost, inMemoryIntent, runController } from '@netloom/plugin-sdk/testing';
import { natTable, router, RouterPlacement, RouterSpec } from './index';

// The controller half against an in-memory intent; the agent half against the kernel in a
// throwaway host, with "port" namespaces of the test's own on each network bridge.

const NETWORKS = [{ id: 'n1' }, { id: 'n2', mtu: 9000 }, { id: 'n4' }, { id: 'next' }];
const intent = (extra: { id: string; spec: Partial<RouterSpec> & { hostId?: string | null } }[] = [], networks: { id: string; mtu?: number; providerInterface?: string }[] = NETWORKS) =>
  inMemoryIntent({
    hosts: [{ id: 'h1' }, { id: 'h2' }],
    networks,
    subnets: [
      { id: 's1', networkId: 'n1', cidr: '10.10.1.0/24', gatewayIp: '10.10.1.1' },
      { id: 's2', networkId: 'n2', cidr: '10.10.2.0/24', gatewayIp: '10.10.2.1' },
      { id: 's2b', networkId: 'n2', cidr: '10.10.3.0/24', gatewayIp: '10.10.3.1' },
      { id: 'sover', networkId: 'n4', cidr: '10.10.1.128/25', gatewayIp: '10.10.1.129' },
      { id: 's4', networkId: 'n4', cidr: '10.10.4.0/24', gatewayIp: '10.10.4.1' },
      { id: 'sx', networkId: 'next', cidr: '203.0.113.0/24', gatewayIp: '203.0.113.1' },
    ],
    ports: [
      { id: 'p1', networkId: 'n1', hostId: 'h1', fixedIps: [{ subnetId: 's1', ipAddress: '10.10.1.10' }] },
      { id: 'p2', networkId: 'n2', hostId: 'h1', fixedIps: [{ subnetId: 's2', ipAddress: '10.10.2.10' }] },
      { id: 'p3', networkId: 'n2', hostId: 'h1', fixedIps: [{ subnetId: 's2b', ipAddress: '10.10.3.10' }] },
      { id: 'p4', networkId: 'n4', hostId: 'h1', fixedIps: [{ subnetId: 's4', ipAddress: '10.10.4.10' }] },
      { id: 'pext', networkId: 'next', hostId: 'h1', fixedIps: [{ subnetId: 'sx', ipAddress: '203.0.113.50' }] },
    ],
    resources: [
      {
        id: 'other',
        kind: 'Router',
        spec: {
          hostId: 'h1',
          interfaces: [{ subnetId: 's4', ipAddress: null }],
          routes: [],
          externalNetworkId: 'next',
          externalAddress: '203.0.113.2',
          snat: null,
          floatingIps: [{ portId: 'p4', address: '203.0.113.20' }],
        },
      },
      ...extra.map((r) => ({ kind: 'Router', id: r.id, spec: { hostId: null, interfaces: [], routes: [], floatingIps: [], ...r.spec } })),
    ],
  });

const spec = (s: Partial<RouterSpec>): RouterSpec => ({
  hostId: 'h1',
  interfaces: [],
  routes: [],
  externalNetworkId: null,
  externalAddress: null,
  snat: null,
  floatingIps: [],
  ...s,
});
const ext = { externalNetworkId: 'next', externalAddress: '203.0.113.5' };
const run = (s: Partial<RouterSpec>, view = intent()) => runController(router, 'Router', { id: 'r1', spec: spec(s) }, view);

describe('router: controller half', () => {
  it('reads the ports of its networks and those given a floating IP only, never the whole site’s', async () => {
    const asked: (IntentFilter | undefined)[] = [];
    const base = intent();
    const view = { ...base, ports: (filter?: IntentFilter) => (asked.push(filter), base.ports(filter)) };
    await run({ interfaces: [{ subnetId: 's1', ipAddress: null }], ...ext, floatingIps: [{ portId: 'p1', address: '203.0.113.30' }] }, view);
    expect(asked.length).toBeGreaterThan(0);
    // Each read narrowed by ids or networks.
    expect(asked.every((f) => (f?.ids ?? f?.networkIds) !== undefined)).toBe(true);
    expect(asked).toContainEqual({ ids: ['p1'] });
  });

  it('reserves the addresses it holds, so the core IPAM never hands them to a port', async () => {
    const { reservations } = await run({
      interfaces: [{ subnetId: 's1', ipAddress: null }, { subnetId: 's2', ipAddress: '10.10.2.254' }],
      ...ext,
      floatingIps: [{ portId: 'p1', address: '203.0.113.30' }],
    });
    expect(reservations).toEqual([
      { subnetId: 's1', ipAddress: '10.10.1.1', field: 'input.interfaces.0.subnetId' },
      { subnetId: 's2', ipAddress: '10.10.2.254', field: 'input.interfaces.1.ipAddress' },
      { subnetId: 'sx', ipAddress: '203.0.113.5', field: 'input.externalAddress' },
      { subnetId: 'sx', ipAddress: '203.0.113.30', field: 'input.floatingIps.0.address' },
    ]);
  });

  it('gives its leg on a provider network (external) the 1500 its ports get there, unless the network sets an MTU', async () => {
    const provider = NETWORKS.map((n) => (n.id === 'next' ? { ...n, providerInterface: 'physnet1' } : n));
    const { placements } = await run({ interfaces: [{ subnetId: 's1', ipAddress: null }], ...ext }, intent([], provider));
    expect((placements[0].spec).external?.mtu).toBe(1500);
    expect((placements[0].spec).legs[0].mtu).toBe(1450);
    const set = provider.map((n) => (n.id === 'next' ? { ...n, mtu: 1400 } : n));
    expect(((await run({ interfaces: [{ subnetId: 's1', ipAddress: null }], ...ext }, intent([], set))).placements[0].spec).external?.mtu).toBe(1400);
  });

  it('places a router with legs, an external leg, routes, SNAT and floating IPs', async () => {
    const { placements } = await run({
      interfaces: [{ subnetId: 's1', ipAddress: null }, { subnetId: 's2', ipAddress: '10.10.2.254' }],
      routes: [{ destination: '10.50.0.0/16', nexthop: '10.10.1.9' }],
      ...ext,
      floatingIps: [{ portId: 'p2', address: '203.0.113.30' }],
    });
    const mac = (seed: string) => deriveMac(`router:r1:${seed}`);
    expect(placements).toEqual([
      {
        hostId: 'h1',
        spec: {
          legs: [
            { networkId: 'n1', cidr: '10.10.1.1/24', mac: mac('s1'), mtu: 1450 },
            { networkId: 'n2', cidr: '10.10.2.254/24', mac: mac('s2'), mtu: 9000 },
          ],
          external: { networkId: 'next', cidr: '203.0.113.5/24', mac: mac('external'), mtu: 1450, gateway: '203.0.113.1', floating: ['203.0.113.30'] },
          routes: [{ destination: '10.50.0.0/16', nexthop: '10.10.1.9' }],
          snatSources: ['10.10.1.0/24', '10.10.2.0/24'],
          floatingIps: [{ address: '203.0.113.30', internal: '10.10.2.10' }],
        },
        networks: ['n1', 'n2', 'next'],
        endpoints: [
          { networkId: 'n1', mac: mac('s1'), ips: ['10.10.1.1'] },
          { networkId: 'n2', mac: mac('s2'), ips: ['10.10.2.254'] },
          { networkId: 'next', mac: mac('external'), ips: ['203.0.113.5', '203.0.113.30'] },
        ],
      },
    ]);
  });

  it('leaves SNAT out when snat is false, and everything external without an external network', async () => {
    const noSnat = (await run({ interfaces: [{ subnetId: 's1', ipAddress: null }], ...ext, snat: false })).placements[0].spec;
    expect(noSnat.snatSources).toEqual([]);
    expect(noSnat.external?.cidr).toBe('203.0.113.5/24');
    const inside = (await run({ interfaces: [{ subnetId: 's1', ipAddress: null }] })).placements[0];
    expect(inside.spec).toEqual({ legs: [expect.objectContaining({ cidr: '10.10.1.1/24' })], routes: [], snatSources: [], floatingIps: [] });
    expect(inside.networks).toEqual(['n1']);
  });

  it('schedules an unpinned router on the host with the fewest routers (ties: the lowest id)', async () => {
    // 'other' is pinned on h1.
    expect((await run({ hostId: null, interfaces: [{ subnetId: 's1', ipAddress: null }] })).placements[0].hostId).toBe('h2');
    // 'a' (earlier, pinned on h2) evens it out: a tie goes to h1.
    const tie = intent([{ id: 'a', spec: { hostId: 'h2' } }]);
    expect((await run({ hostId: null, interfaces: [{ subnetId: 's1', ipAddress: null }] }, tie)).placements[0].hostId).toBe('h1');
    // Unpinned earlier routers count where they were scheduled: 'a' → h2, 'b' → h1 (tie), r1 → h2.
    const chain = intent([{ id: 'a', spec: {} }, { id: 'b', spec: {} }]);
    expect((await run({ hostId: null, interfaces: [{ subnetId: 's1', ipAddress: null }] }, chain)).placements[0].hostId).toBe('h2');
    // Routers created later (greater ids) never move an existing one.
    const later = intent([{ id: 'z1', spec: { hostId: 'h2' } }, { id: 'z2', spec: { hostId: 'h2' } }]);
    expect((await run({ hostId: null, interfaces: [{ subnetId: 's1', ipAddress: null }] }, later)).placements[0].hostId).toBe('h2');
  });

  it('refuses an unpinned router when there is no host', async () => {
    await expect(runController(router, 'Router', { id: 'r1', spec: spec({ hostId: null }) }, inMemoryIntent())).rejects.toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'input.hostId',
    });
  });

  it.each<[string, Partial<RouterSpec>, string, string, RegExp]>([
    ['two interfaces on overlapping subnets', { interfaces: [{ subnetId: 's1', ipAddress: null }, { subnetId: 'sover', ipAddress: null }] }, 'BAD_USER_INPUT', 'input.interfaces.1.subnetId', /overlaps/],
    ['the same subnet twice', { interfaces: [{ subnetId: 's1', ipAddress: null }, { subnetId: 's1', ipAddress: '10.10.1.2' }] }, 'BAD_USER_INPUT', 'input.interfaces.1.subnetId', /overlaps/],
    ['an interface address outside its subnet', { interfaces: [{ subnetId: 's1', ipAddress: '10.10.2.5' }] }, 'BAD_USER_INPUT', 'input.interfaces.0.ipAddress', /not in subnet/],
    ["a subnet whose gateway another router holds", { interfaces: [{ subnetId: 's1', ipAddress: null }, { subnetId: 's4', ipAddress: null }] }, 'CONFLICT', 'input.interfaces.1.subnetId', /already attached to router other/],
    ['an interface address a port holds', { interfaces: [{ subnetId: 's1', ipAddress: '10.10.1.10' }] }, 'CONFLICT', 'input.interfaces.0.ipAddress', /port p1/],
    ['an external network without externalAddress', { externalNetworkId: 'next' }, 'BAD_USER_INPUT', 'input.externalAddress', /required/],
    ['an externalAddress without external network', { externalAddress: '203.0.113.5' }, 'BAD_USER_INPUT', 'input.externalAddress', /needs externalNetworkId/],
    ['an externalAddress outside the external network', { externalNetworkId: 'next', externalAddress: '198.51.100.5' }, 'BAD_USER_INPUT', 'input.externalAddress', /no subnet/],
    ["an externalAddress equal to the external gateway", { externalNetworkId: 'next', externalAddress: '203.0.113.1' }, 'BAD_USER_INPUT', 'input.externalAddress', /gateway/],
    ['an externalAddress a port holds', { externalNetworkId: 'next', externalAddress: '203.0.113.50' }, 'CONFLICT', 'input.externalAddress', /port pext/],
    ["another router's externalAddress", { externalNetworkId: 'next', externalAddress: '203.0.113.2' }, 'CONFLICT', 'input.externalAddress', /router other/],
    ["another router's floating IP as externalAddress", { externalNetworkId: 'next', externalAddress: '203.0.113.20' }, 'CONFLICT', 'input.externalAddress', /router other/],
    ['floating IPs without an external network', { interfaces: [{ subnetId: 's1', ipAddress: null }], floatingIps: [{ portId: 'p1', address: '203.0.113.30' }] }, 'BAD_USER_INPUT', 'input.floatingIps', /external network/],
    ['a floating IP outside the external network', { interfaces: [{ subnetId: 's1', ipAddress: null }], ...ext, floatingIps: [{ portId: 'p1', address: '198.51.100.30' }] }, 'BAD_USER_INPUT', 'input.floatingIps.0.address', /no subnet/],
    ["another router's floating IP", { interfaces: [{ subnetId: 's1', ipAddress: null }], ...ext, floatingIps: [{ portId: 'p1', address: '203.0.113.20' }] }, 'CONFLICT', 'input.floatingIps.0.address', /router other/],
    ["another router's externalAddress as a floating IP", { interfaces: [{ subnetId: 's1', ipAddress: null }], ...ext, floatingIps: [{ portId: 'p1', address: '203.0.113.2' }] }, 'CONFLICT', 'input.floatingIps.0.address', /router other/],
    ["a port's address as a floating IP", { interfaces: [{ subnetId: 's1', ipAddress: null }], ...ext, floatingIps: [{ portId: 'p1', address: '203.0.113.50' }] }, 'CONFLICT', 'input.floatingIps.0.address', /port pext/],
    ["the router's own externalAddress as a floating IP", { interfaces: [{ subnetId: 's1', ipAddress: null }], ...ext, floatingIps: [{ portId: 'p1', address: '203.0.113.5' }] }, 'BAD_USER_INPUT', 'input.floatingIps.0.address', /external address/],
    ['a floating IP for a port on no attached network', { interfaces: [{ subnetId: 's1', ipAddress: null }], ...ext, floatingIps: [{ portId: 'p2', address: '203.0.113.30' }] }, 'BAD_USER_INPUT', 'input.floatingIps.0.portId', /no network attached/],
    ['a floating IP for a port without an address on an attached subnet', { interfaces: [{ subnetId: 's2', ipAddress: null }], ...ext, floatingIps: [{ portId: 'p3', address: '203.0.113.30' }] }, 'BAD_USER_INPUT', 'input.floatingIps.0.portId', /no address/],
    [
      'two floating IPs for one port',
      { interfaces: [{ subnetId: 's1', ipAddress: null }], ...ext, floatingIps: [{ portId: 'p1', address: '203.0.113.30' }, { portId: 'p1', address: '203.0.113.31' }] },
      'BAD_USER_INPUT',
      'input.floatingIps.1.portId',
      /already has a floating IP/,
    ],
    ['a route whose nexthop is in no interface subnet', { interfaces: [{ subnetId: 's1', ipAddress: null }], routes: [{ destination: '10.50.0.0/16', nexthop: '10.10.2.9' }] }, 'BAD_USER_INPUT', 'input.routes.0.nexthop', /none of the router's interface subnets/],
    ['an interface on the external network', { interfaces: [{ subnetId: 'sx', ipAddress: '203.0.113.9' }], ...ext }, 'BAD_USER_INPUT', 'input.interfaces.0.subnetId', /external network/],
  ])('refuses %s', async (_what, s, code, field, message) => {
    await expect(run(s)).rejects.toMatchObject({ code, field, message: expect.stringMatching(message) as string });
  });

  it('accepts a second router on a subnet at another address', async () => {
    await expect(run({ interfaces: [{ subnetId: 's4', ipAddress: '10.10.4.2' }] })).resolves.toBeDefined();
  });

  it('writes floating rules before the SNAT of the inside', () => {
    const placement: RouterPlacement = {
      legs: [],
      external: { networkId: 'x', cidr: '203.0.113.5/24', mac: deriveMac('x'), gateway: '203.0.113.1', floating: ['203.0.113.30'] },
      routes: [],
      snatSources: ['10.10.1.0/24', '10.10.2.0/24'],
      floatingIps: [{ address: '203.0.113.30', internal: '10.10.2.10' }],
    };
    const body = natTable(placement);
    expect(body).toContain('type nat hook prerouting priority dstnat; policy accept;\nip daddr 203.0.113.30 dnat ip to 10.10.2.10\n}');
    expect(body).toContain(
      'oifname "ext0" ip saddr 10.10.2.10 snat ip to 203.0.113.30\noifname "ext0" ip saddr { 10.10.1.0/24, 10.10.2.0/24 } snat ip to 203.0.113.5\n}',
    );
    expect(natTable({ ...placement, external: undefined })).toBe('');
    expect(natTable({ ...placement, snatSources: [], floatingIps: [] })).toBe('');
  });
});

const sh = promisify(execFile);
const describeKernel = process.getuid?.() === 0 ? describe : describe.skip;

describeKernel('router: agent half on the real kernel', () => {
  jest.setTimeout(30_000);
  let kit: AgentTestHost;
  let ns: { a: string; b: string; out: string };
  const listeners: ChildProcess[] = [];
  const leg = (networkId: string, cidr: string, seed: string) => ({ networkId, cidr, mac: deriveMac(`router:R:${seed}`), mtu: 1450 });
  const inside: RouterPlacement = {
    legs: [leg('n1', '10.91.1.1/24', 's1'), leg('n2', '10.91.2.1/24', 's2')],
    routes: [],
    snatSources: [],
    floatingIps: [],
  };
  const withExternal: RouterPlacement = {
    ...inside,
    external: { networkId: 'nx', cidr: '198.51.100.2/24', mac: deriveMac('router:R:external'), gateway: '198.51.100.1', floating: ['198.51.100.20'] },
    snatSources: ['10.91.1.0/24', '10.91.2.0/24'],
    floatingIps: [{ address: '198.51.100.20', internal: '10.91.2.10' }],
  };
  const desired = (spec: RouterPlacement) => [{ kind: 'Router', id: 'R', generation: 1, spec }];
  const exec = (netns: string, ...args: string[]) => kit.exec(netns, args);
  const ip = (...args: string[]) => sh('ip', args);
  /** A namespace of the test on a network bridge: not one of the plugin's, but named under its prefix so destroy() collects it. */
  const portNs = async (name: string, bridge: string, cidr: string, gateway: string): Promise<void> => {
    const hostEnd = `v${name.slice(-2)}`;
    await ip('netns', 'add', name);
    await ip('-n', kit.hostNetns, 'link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name);
    await ip('-n', kit.hostNetns, 'link', 'set', hostEnd, 'master', bridge, 'up');
    await ip('-n', name, 'link', 'set', 'lo', 'up');
    await ip('-n', name, 'link', 'set', 'eth0', 'up');
    await ip('-n', name, 'addr', 'add', cidr, 'dev', 'eth0');
    await ip('-n', name, 'route', 'add', 'default', 'via', gateway);
  };
  const listen = (netns: string, port: number, answer: string): void => {
    const child = spawn('ip', ['netns', 'exec', netns, 'socat', `TCP-LISTEN:${port},reuseaddr,fork`, `SYSTEM:${answer}`], { stdio: 'ignore' });
    listeners.push(child);
  };
  /** What a TCP server answers, read from `from` (retried while the listener starts). */
  const ask = async (from: string, address: string, port: number): Promise<string> => {
    for (let i = 0; ; i++) {
      const r = await exec(from, 'socat', '-T2', '-u', `TCP:${address}:${port},connect-timeout=2`, 'STDOUT');
      if (r.code === 0 || i >= 20) return r.stdout.trim();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const ping = async (from: string, to: string) => (await exec(from, 'ping', '-c1', '-W1', to)).code;

  beforeAll(async () => {
    kit = await agentTestHost({ pluginId: router.id });
    const prefix = kit.host.netnsName('x').slice(0, -8);
    ns = { a: `${prefix}ta`, b: `${prefix}tb`, out: `${prefix}to` };
    const b1 = await kit.addNetworkBridge('n1');
    const b2 = await kit.addNetworkBridge('n2');
    const bx = await kit.addNetworkBridge('nx');
    await portNs(ns.a, b1, '10.91.1.10/24', '10.91.1.1');
    await portNs(ns.b, b2, '10.91.2.10/24', '10.91.2.1');
    await portNs(ns.out, bx, '198.51.100.1/24', '198.51.100.254');
  });
  afterAll(async () => {
    for (const child of listeners) child.kill();
    for (const name of ns ? Object.values(ns) : []) await ip('netns', 'del', name).catch(() => undefined);
    await kit?.destroy();
  });

  it('routes between two networks through a namespace with a leg on each', async () => {
    const statuses = await router.agent!.reconcile(desired(inside), kit.host);
    expect(statuses).toEqual([{ id: 'R', state: RealizationState.APPLIED, attributes: { netns: kit.host.netnsName('R') } }]);
    const links = await kit.host.links(kit.host.netnsName('R'));
    expect(links.find((l) => l.ifname === 'r0')).toMatchObject({ address: inside.legs[0].mac, up: true, mtu: 1450 });
    expect(await ping(ns.a, '10.91.2.10')).toBe(0);
    expect(await ping(ns.b, '10.91.1.10')).toBe(0);
  });

  it('changes nothing when reconciled again with the same state, and reads only the host ends (trusting what it applied)', async () => {
    const before = kit.runner.mutatingCount;
    const reads = kit.runner.readCount;
    await router.agent!.reconcile(desired(inside), kit.host);
    expect(kit.runner.mutatingCount).toBe(before);
    // One listing of the host's links; nothing inside the router's namespace, no nft listing.
    expect(kit.runner.readCount - reads).toBe(1);
  });

  it('source-NATs the inside to the external address, and maps a floating IP both ways', async () => {
    const statuses = await router.agent!.reconcile(desired(withExternal), kit.host);
    expect(statuses[0].state).toBe(RealizationState.APPLIED);
    listen(ns.out, 7000, 'echo $SOCAT_PEERADDR');
    listen(ns.b, 7001, 'echo inside-b $SOCAT_PEERADDR');
    expect(await ask(ns.a, '198.51.100.1', 7000)).toBe('198.51.100.2');
    expect(await ask(ns.b, '198.51.100.1', 7000)).toBe('198.51.100.20');
    expect(await ask(ns.out, '198.51.100.20', 7001)).toBe('inside-b 198.51.100.1');
    // Inside traffic is not NATed.
    listen(ns.a, 7002, 'echo $SOCAT_PEERADDR');
    expect(await ask(ns.b, '10.91.1.10', 7002)).toBe('10.91.2.10');
    const before = kit.runner.mutatingCount;
    await router.agent!.reconcile(desired(withExternal), kit.host);
    expect(kit.runner.mutatingCount).toBe(before);
  });

  it('follows a network MTU change without re-creating the leg', async () => {
    const netns = kit.host.netnsName('R');
    const bigger = { ...withExternal, legs: [{ ...inside.legs[0], mtu: 1400 }, inside.legs[1]] };
    await router.agent!.reconcile(desired(bigger), kit.host);
    expect((await kit.host.links(netns)).find((l) => l.ifname === 'r0')?.mtu).toBe(1400);
    expect((await kit.host.ownedLinks()).find((l) => l.ifname === kit.host.linkName('R', 'r0'))?.mtu).toBe(1400);
    await router.agent!.reconcile(desired(withExternal), kit.host);
    expect((await kit.host.links(netns)).find((l) => l.ifname === 'r0')?.mtu).toBe(1450);
  });

  it('applies static routes, and removes them when dropped', async () => {
    const netns = kit.host.netnsName('R');
    const routed = { ...withExternal, routes: [{ destination: '10.99.0.0/16', nexthop: '10.91.1.10' }, { destination: '10.98.0.5/32', nexthop: '10.91.2.10' }] };
    await router.agent!.reconcile(desired(routed), kit.host);
    const routes = await kit.host.routes(netns);
    expect(routes).toEqual(
      expect.arrayContaining([
        { dst: 'default', gateway: '198.51.100.1', dev: 'ext0' },
        { dst: '10.99.0.0/16', gateway: '10.91.1.10', dev: 'r0' },
        { dst: '10.98.0.5', gateway: '10.91.2.10', dev: 'r1' },
      ]),
    );
    const before = kit.runner.mutatingCount;
    await router.agent!.reconcile(desired(routed), kit.host);
    expect(kit.runner.mutatingCount).toBe(before);
    await router.agent!.reconcile(desired(withExternal), kit.host);
    expect((await kit.host.routes(netns)).filter((r) => r.gateway)).toEqual([{ dst: 'default', gateway: '198.51.100.1', dev: 'ext0' }]);
  });

  it('removes an interface dropped from the spec', async () => {
    const onlyB: RouterPlacement = { ...withExternal, legs: [inside.legs[1]], snatSources: ['10.91.2.0/24'] };
    const statuses = await router.agent!.reconcile(desired(onlyB), kit.host);
    expect(statuses[0].state).toBe(RealizationState.APPLIED);
    expect(await ping(ns.a, '10.91.2.10')).not.toBe(0);
    expect(await ping(ns.b, '10.91.1.10')).not.toBe(0);
    expect(await ask(ns.b, '198.51.100.1', 7000)).toBe('198.51.100.20');
    const netns = kit.host.netnsName('R');
    expect((await kit.host.links(netns)).map((l) => l.ifname).sort()).toEqual(['ext0', 'lo', 'r0']);
    expect((await kit.host.ownedLinks()).length).toBe(2);
    const before = kit.runner.mutatingCount;
    await router.agent!.reconcile(desired(onlyB), kit.host);
    expect(kit.runner.mutatingCount).toBe(before);
  });

  it('fails a router whose network is not on this host', async () => {
    const statuses = await router.agent!.reconcile(
      [...desired(inside), { kind: 'Router', id: 'S', generation: 1, spec: { ...inside, legs: [leg('elsewhere', '10.92.0.1/24', 'e')] } }],
      kit.host,
    );
    expect(statuses[1]).toEqual({ id: 'S', state: RealizationState.FAILED, reason: 'network elsewhere is not on this host' });
  });

  it('removes everything with an empty desired set', async () => {
    await router.agent!.reconcile([], kit.host);
    expect(await kit.host.ownedNetns()).toEqual([]);
    for (let i = 0; (await kit.host.ownedLinks()).length && i < 100; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await kit.host.ownedLinks()).toEqual([]);
  });
});
