/**
 * The router plugin (netloom.router, kind Router) end to end: one real controller and two
 * simulated hosts with real agents (libs/simhosts), routers created through the generated GraphQL
 * API, and assertions on packets between the port namespaces the agents build: routing between
 * subnets across hosts, detaching and re-attaching an interface, a static route to a subnet behind
 * a second router, SNAT to the router's external address, a floating IP (1:1 NAT), and bad input
 * refused with nothing written.
 *
 * The tests build on each other (one set of networks and routers for the file), in order. Every
 * name carries a per-run prefix; everything goes in afterAll (cluster.destroy()), even on failure.
 * This file talks to the plugin only through GraphQL: it type-checks without the plugin.
 */
import { errorCode } from '@netloom/simhosts';
import { netnsExec, netnsList, ping, sleep, waitFor } from './support/agent';
import { revision } from './support/fixtures';
import {
  addressesIn,
  askTcp,
  attr,
  Lab,
  type Net,
  PEER_ADDRESS,
  type PortView,
  runPrefix,
  shutdownLab,
  STATUS_FIELDS,
  type StatusView,
} from './support/plugin-e2e';

const describeRoot = process.getuid?.() === 0 ? describe : describe.skip;
jest.setTimeout(60_000);

/** This run's prefix: 'r' + 3 random [a-z0-9]. */
const P = runPrefix('r');
const ROUTER_FIELDS = `id name generation hostId interfaces { subnetId ipAddress } routes { destination nexthop } externalNetworkId externalAddress snat floatingIps { portId address } status { ${STATUS_FIELDS} }`;
const ECHO_PORT = 7000;

interface RouterView {
  id: string;
  name: string;
  generation: number;
  hostId: string | null;
  interfaces: { subnetId: string; ipAddress: string | null }[];
  routes: { destination: string; nexthop: string }[];
  externalNetworkId: string | null;
  externalAddress: string | null;
  snat: boolean | null;
  floatingIps: { portId: string; address: string }[];
  status: StatusView[];
}

let lab: Lab | undefined;

/** What the tests build, in order; a later test needs what an earlier one made. */
const world: {
  a?: Net;
  b?: Net;
  c?: Net;
  e?: Net;
  pa?: PortView;
  pb?: PortView;
  pc?: PortView;
  x?: PortView;
  r1?: RouterView;
  r2?: RouterView;
} = {};

function need<K extends keyof typeof world>(key: K): NonNullable<(typeof world)[K]> {
  const value = world[key];
  if (!value) throw new Error(`${key} was not made: an earlier test failed`);
  return value;
}

const theLab = (): Lab => {
  if (!lab) throw new Error('no cluster');
  return lab;
};
const api = (): Lab['api'] => theLab().api;
const hostId = (i: number): string => theLab().hostId(i);
const makeNetwork = (label: string, cidr: string): Promise<Net> => theLab().makeNetwork(label, cidr);
const makePort = (net: Net, host: number, ip?: string): Promise<PortView> => theLab().makePort(net, host, ip);
const withAgentLogs = <T>(work: Promise<T>): Promise<T> => theLab().withAgentLogs(work);

/** Checks a router the API returned after wait: true: applied on exactly one host, with a namespace. */
function appliedRouter(r: RouterView): RouterView {
  expect(r.status).toHaveLength(1);
  expect(r.status[0]).toMatchObject({ state: 'APPLIED', reason: null, generation: r.generation });
  expect(lab?.cluster.hostIds).toContain(r.status[0].hostId);
  if (r.hostId !== null) expect(r.status[0].hostId).toBe(r.hostId);
  attr(r.status, 'netns');
  return r;
}

const routerNs = (r: RouterView): string => attr(r.status, 'netns');

const createRouter = async (input: Record<string, unknown>): Promise<RouterView> =>
  appliedRouter(await theLab().write<RouterView>('Router', 'create', input, ROUTER_FIELDS));
const updateRouter = async (input: Record<string, unknown>): Promise<RouterView> =>
  appliedRouter(await theLab().write<RouterView>('Router', 'update', input, ROUTER_FIELDS));
const getRouter = (id: string): Promise<RouterView> => theLab().read<RouterView>('Router', id, ROUTER_FIELDS);

/** `ip` answers from `ns`: one ping of 1 s, then retries for up to 3 s (noted for the report). */
async function reach(ns: string, ip: string, what: string): Promise<void> {
  if (await ping(ns, ip)) return;
  const started = Date.now();
  await withAgentLogs(waitFor(() => ping(ns, ip), 3_000, 100, `ping ${what}`));
  theLab().notes.push(`first ping failed, answered after a retry (${Date.now() - started} ms more): ${what}`);
}

/** No answer from `ip` within 2 echo requests (1 s each). */
async function unreachable(ns: string, ip: string): Promise<boolean> {
  return (await netnsExec(ns, ['ping', '-c2', '-W1', '-i', '0.2', ip])).code !== 0;
}

/** A server in `ns` on port 7000 that answers each connection with the peer's address and closes; returns its stop. */
async function startEchoServer(ns: string): Promise<() => Promise<void>> {
  const server = await theLab().answerServer(ns, ECHO_PORT, PEER_ADDRESS);
  return () => server.stop();
}

/**
 * Whether tcpdump in `ns` sees an ICMP packet from `source` while `during` runs (it stops at the
 * first one; killed by pid after 3 s otherwise).
 */
async function capturedFrom(ns: string, source: string, during: () => Promise<unknown>): Promise<boolean> {
  const dump = theLab().spawnIn(ns, ['tcpdump', '-i', 'any', '-nn', '-l', '-c1', 'icmp', 'and', 'src', 'host', source]);
  try {
    await waitFor(() => /listening on/.test(dump.stderr.join('')) || !dump.running, 5_000, 20, `tcpdump listening in ${ns}`);
    await during();
    await Promise.race([dump.exited, sleep(3_000)]);
  } finally {
    await dump.stop();
  }
  return dump.stdout.join('').includes(`${source} >`);
}

/** Connects from `ns` to `ip`:7000 and returns what the server said ('' when nothing answered). */
const askPeer = (ns: string, ip: string): Promise<string> => askTcp(ns, ip, ECHO_PORT);

/** askPeer, retried for up to 3 s until the server answers. */
const peerSeen = (ns: string, ip: string, what: string): Promise<string> => theLab().answerFrom(ns, ip, ECHO_PORT, what);

/** Runs a mutation that must be refused with `code`; asserts nothing was written. */
async function refused(code: string, query: string, input: Record<string, unknown>): Promise<void> {
  expect(await theLab().refusal('Router', query, { input })).toMatchObject({ code, message: expect.any(String), data: null, written: false });
}

const CREATE = `mutation($input: CreateRouterInput!) { createRouter(input: $input, wait: true) { id } }`;
const UPDATE = `mutation($input: UpdateRouterInput!) { updateRouter(input: $input, wait: true) { id } }`;

describeRoot(`the router plugin end to end: 2 simulated hosts, real agents (prefix ${P})`, () => {
  beforeAll(async () => {
    lab = await Lab.start({ prefix: P, hosts: 2, resyncMs: 2_000 });
  }, 90_000);

  afterAll(async () => {
    expect(await shutdownLab(lab, P, 'router e2e')).toEqual({ problems: [], left: [] });
  }, 60_000);

  it('agents run the router plugin', async () => {
    const { hosts } = await api().ok<{ hosts: { edges: { node: { agent: { plugins: string[] } } }[] } }>(
      '{ hosts { edges { node { agent { plugins } } } } }',
    );
    expect(hosts.edges).toHaveLength(2);
    for (const edge of hosts.edges) expect(edge.node.agent.plugins).toContainEqual(expect.stringMatching(/^netloom\.router@/));
  });

  it('1. a router joins two subnets on two hosts; detaching an interface cuts them apart, re-attaching joins them again', async () => {
    world.a = await makeNetwork('a', '10.91.1.0/24');
    world.b = await makeNetwork('b', '10.91.2.0/24');
    const { a, b } = world as Required<typeof world>;
    world.pa = await makePort(a, 0);
    world.pb = await makePort(b, 1);
    const { pa, pb } = world as Required<typeof world>;
    expect([pa.ip, pb.ip]).toEqual(['10.91.1.2', '10.91.2.2']);
    // Without a router, nothing joins A and B.
    expect(await unreachable(pa.ns, pb.ip)).toBe(true);

    const r1 = await createRouter({
      name: `${P}-r1`,
      hostId: hostId(0),
      interfaces: [{ subnetId: a.subnetId }, { subnetId: b.subnetId }],
    });
    world.r1 = r1;
    expect(r1.status[0].hostId).toBe(hostId(0));
    expect(r1.interfaces.map((i) => i.subnetId)).toEqual([a.subnetId, b.subnetId]);
    // Without ipAddress the router takes each subnet's gateway (the API may echo it or leave it null).
    expect([null, '10.91.1.1']).toContain(r1.interfaces[0].ipAddress);
    expect([null, '10.91.2.1']).toContain(r1.interfaces[1].ipAddress);
    expect(r1.routes).toEqual([]);
    expect(r1.floatingIps).toEqual([]);
    // One leg per attached network in the router's namespace, at the gateway addresses.
    expect(await addressesIn(routerNs(r1))).toEqual(expect.arrayContaining(['10.91.1.1', '10.91.2.1']));

    await reach(pa.ns, pb.ip, 'A (host 0) → B (host 1) through R1');
    await reach(pb.ns, pa.ip, 'B (host 1) → A (host 0) through R1');

    // Detach B: its leg goes, and A and B are apart.
    const detached = await updateRouter({ id: r1.id, interfaces: [{ subnetId: a.subnetId }] });
    expect(detached.interfaces.map((i) => i.subnetId)).toEqual([a.subnetId]);
    expect(detached.generation).toBeGreaterThan(r1.generation);
    expect(routerNs(detached)).toBe(routerNs(r1));
    const left = await addressesIn(routerNs(detached));
    expect(left).toContain('10.91.1.1');
    expect(left).not.toContain('10.91.2.1');
    expect(await unreachable(pa.ns, pb.ip)).toBe(true);
    expect(await unreachable(pb.ns, pa.ip)).toBe(true);

    // Re-attach B: joined again.
    world.r1 = await updateRouter({ id: r1.id, generation: detached.generation, interfaces: [{ subnetId: a.subnetId }, { subnetId: b.subnetId }] });
    expect(await addressesIn(routerNs(world.r1))).toEqual(expect.arrayContaining(['10.91.1.1', '10.91.2.1']));
    await reach(pa.ns, pb.ip, 'A → B after re-attaching B');
    await reach(pb.ns, pa.ip, 'B → A after re-attaching B');

    // Detach the first interface (A): B keeps its leg and its gateway; A is cut off. Then back.
    const onlyB = await updateRouter({ id: r1.id, interfaces: [{ subnetId: b.subnetId }] });
    const kept = await addressesIn(routerNs(onlyB));
    expect(kept).toContain('10.91.2.1');
    expect(kept).not.toContain('10.91.1.1');
    await reach(pb.ns, '10.91.2.1', "B → R1's B address with A detached");
    expect(await unreachable(pb.ns, pa.ip)).toBe(true);
    world.r1 = await updateRouter({ id: r1.id, interfaces: [{ subnetId: a.subnetId }, { subnetId: b.subnetId }] });
    await reach(pa.ns, pb.ip, 'A → B after re-attaching A');
    await reach(pb.ns, pa.ip, 'B → A after re-attaching A');
  });

  it('2. a static route reaches a third subnet behind a second router (placed by the scheduler)', async () => {
    const [a, b, pa, r1] = [need('a'), need('b'), need('pa'), need('r1')];
    world.c = await makeNetwork('c', '10.91.3.0/24');
    const c = world.c;
    world.pc = await makePort(c, 1);
    const pc = world.pc;
    expect(pc.ip).toBe('10.91.3.2');

    // R2: on B at an explicit address (B's gateway is R1's), on C at C's gateway (the port's
    // default route), with the way back to A through R1. No hostId: the scheduler picks.
    const r2 = await createRouter({
      name: `${P}-r2`,
      interfaces: [{ subnetId: b.subnetId, ipAddress: '10.91.2.254' }, { subnetId: c.subnetId }],
      routes: [{ destination: '10.91.1.0/24', nexthop: '10.91.2.1' }],
    });
    world.r2 = r2;
    theLab().notes.push(`test 2: the scheduler placed R2 on host ${theLab().cluster.hostIds.indexOf(r2.status[0].hostId)} (Router.hostId ${JSON.stringify(r2.hostId)})`);
    expect(r2.interfaces.map((i) => i.subnetId)).toEqual([b.subnetId, c.subnetId]);
    expect(r2.interfaces[0].ipAddress).toBe('10.91.2.254');
    expect([null, '10.91.3.1']).toContain(r2.interfaces[1].ipAddress);
    expect(r2.routes).toEqual([{ destination: '10.91.1.0/24', nexthop: '10.91.2.1' }]);
    expect(await addressesIn(routerNs(r2))).toEqual(expect.arrayContaining(['10.91.2.254', '10.91.3.1']));
    // R2 itself reaches A's port through R1 (its own route), before R1 knows the way to C.
    await reach(routerNs(r2), pa.ip, 'R2 → A via R1');
    expect(await unreachable(pa.ns, pc.ip)).toBe(true);

    world.r1 = await updateRouter({ id: r1.id, routes: [{ destination: '10.91.3.0/24', nexthop: '10.91.2.254' }] });
    expect(world.r1.routes).toEqual([{ destination: '10.91.3.0/24', nexthop: '10.91.2.254' }]);
    // Routes change nothing about the interfaces.
    expect(world.r1.interfaces.map((i) => i.subnetId)).toEqual([a.subnetId, b.subnetId]);
    await reach(pa.ns, pc.ip, 'A → C via R1 then R2');
    await reach(pc.ns, pa.ip, 'C → A via R2 then R1');
  });

  it('3. SNAT: a port inside reaches the external network, seen from there as the router\u2019s external address', async () => {
    const [pa, r1] = [need('pa'), need('r1')];
    world.e = await makeNetwork('e', '10.91.9.0/24');
    const e = world.e;
    // X, "the outside world", on the other host than R1.
    world.x = await makePort(e, 1, '10.91.9.100');
    const x = world.x;
    expect(await unreachable(pa.ns, x.ip)).toBe(true);

    world.r1 = await updateRouter({ id: r1.id, externalNetworkId: e.networkId, externalAddress: '10.91.9.10' });
    expect(world.r1).toMatchObject({ externalNetworkId: e.networkId, externalAddress: '10.91.9.10' });
    // snat defaults to true (the API may show the default or leave it null).
    expect([null, true]).toContain(world.r1.snat);
    expect(await addressesIn(routerNs(world.r1))).toEqual(expect.arrayContaining(['10.91.1.1', '10.91.2.1', '10.91.9.10']));

    await reach(pa.ns, x.ip, 'A → X (external) through R1');
    const stop = await startEchoServer(x.ns);
    try {
      expect(await peerSeen(pa.ns, x.ip, 'X, connecting from A')).toBe('10.91.9.10');
      expect(await peerSeen(need('pb').ns, x.ip, 'X, connecting from B')).toBe('10.91.9.10');
    } finally {
      await stop();
    }
    // X cannot reach the inside port's own address: nothing routes 10.91.1.0/24 on E.
    expect(await unreachable(x.ns, pa.ip)).toBe(true);

    // snat: false: B's port reaches E with its own address (X has no way back, so only X's capture shows it).
    world.r1 = await updateRouter({ id: r1.id, snat: false });
    expect(world.r1.snat).toBe(false);
    const pb = need('pb');
    expect(await capturedFrom(x.ns, pb.ip, () => netnsExec(pb.ns, ['ping', '-c3', '-i', '0.2', '-W1', x.ip]))).toBe(true);
    world.r1 = await updateRouter({ id: r1.id, snat: true });
    const stopAgain = await startEchoServer(x.ns);
    try {
      expect(await peerSeen(pb.ns, x.ip, 'X, connecting from B with snat back on')).toBe('10.91.9.10');
    } finally {
      await stopAgain();
    }
  });

  it('4. a floating IP: the outside reaches the inside port at its floating address (1:1 NAT)', async () => {
    const [pa, pb, x, r1] = [need('pa'), need('pb'), need('x'), need('r1')];
    world.r1 = await updateRouter({ id: r1.id, floatingIps: [{ portId: pa.id, address: '10.91.9.20' }] });
    expect(world.r1.floatingIps).toEqual([{ portId: pa.id, address: '10.91.9.20' }]);
    expect(world.r1.externalAddress).toBe('10.91.9.10');

    const atA = await startEchoServer(pa.ns);
    try {
      // Inbound: X connects to 10.91.9.20 and lands on A's port, which sees X's own address.
      expect(await peerSeen(x.ns, '10.91.9.20', 'A, connecting from X to the floating IP')).toBe(x.ip);
      await reach(x.ns, '10.91.9.20', 'X → the floating IP');
    } finally {
      await atA();
    }

    const atX = await startEchoServer(x.ns);
    try {
      // Outbound, 1:1: A's port goes out as its floating address; a port without one still as the router's.
      expect(await peerSeen(pa.ns, x.ip, 'X, connecting from A (which has a floating IP)')).toBe('10.91.9.20');
      expect(await peerSeen(pb.ns, x.ip, 'X, connecting from B (no floating IP)')).toBe('10.91.9.10');
    } finally {
      await atX();
    }

    // Removing the floating IP closes the way in.
    world.r1 = await updateRouter({ id: r1.id, floatingIps: [] });
    expect(world.r1.floatingIps).toEqual([]);
    const again = await startEchoServer(pa.ns);
    try {
      expect(await askPeer(x.ns, '10.91.9.20')).toBe('');
    } finally {
      await again();
    }
    // Put it back for the bad-input test (an address in use).
    world.r1 = await updateRouter({ id: r1.id, floatingIps: [{ portId: pa.id, address: '10.91.9.20' }] });
  });

  it('4b. with routes, SNAT and a floating IP in place, a resync pass changes nothing', async () => {
    // Two more passes of every agent (resyncs: nothing else asks for one), and no change logged meanwhile.
    expect(await theLab().changesOverResyncs()).toEqual(theLab().cluster.agents.map(() => []));
    // And the data plane is still right.
    await reach(need('pa').ns, need('pb').ip, 'A → B after a resync');
    await reach(need('pa').ns, need('pc').ip, 'A → C after a resync');
  });

  it('5. bad input is refused with nothing written', async () => {
    const [a, b, e, r1] = [need('a'), need('b'), need('e'), need('r1')];
    // Fresh networks no router uses: D1 and D2 overlap each other (10.91.5.0/24), D3 overlaps A.
    const d1 = await makeNetwork('d1', '10.91.5.0/24');
    const d2 = await makeNetwork('d2', '10.91.5.0/24');
    const d3 = await makeNetwork('d3', '10.91.1.0/25');
    const pd = await makePort(d1, 1);
    const before = await getRouter(r1.id);

    // Two overlapping subnets on one router.
    await refused('BAD_USER_INPUT', CREATE, { name: `${P}-overlap`, interfaces: [{ subnetId: d1.subnetId }, { subnetId: d2.subnetId }] });
    await refused('BAD_USER_INPUT', UPDATE, {
      id: r1.id,
      interfaces: [{ subnetId: a.subnetId }, { subnetId: b.subnetId }, { subnetId: d3.subnetId }],
    });
    // B at its gateway, which R1 holds.
    await refused('CONFLICT', CREATE, { name: `${P}-taken`, interfaces: [{ subnetId: d1.subnetId }, { subnetId: b.subnetId }] });
    // A floating IP outside the external subnet.
    await refused('BAD_USER_INPUT', CREATE, {
      name: `${P}-fip-out`,
      interfaces: [{ subnetId: d1.subnetId }],
      externalNetworkId: e.networkId,
      externalAddress: '10.91.9.11',
      floatingIps: [{ portId: pd.id, address: '10.91.8.5' }],
    });
    await refused('BAD_USER_INPUT', UPDATE, { id: r1.id, floatingIps: [{ portId: need('pa').id, address: '10.91.8.5' }] });
    // A floating IP already in use: R1's floating IP, and X's address.
    await refused('CONFLICT', CREATE, {
      name: `${P}-fip-used`,
      interfaces: [{ subnetId: d1.subnetId }],
      externalNetworkId: e.networkId,
      externalAddress: '10.91.9.11',
      floatingIps: [{ portId: pd.id, address: '10.91.9.20' }],
    });
    await refused('CONFLICT', CREATE, {
      name: `${P}-fip-port`,
      interfaces: [{ subnetId: d1.subnetId }],
      externalNetworkId: e.networkId,
      externalAddress: '10.91.9.11',
      floatingIps: [{ portId: pd.id, address: need('x').ip }],
    });

    // R1 is as it was.
    expect(await getRouter(r1.id)).toEqual(before);

    // The addresses routers hold are reserved in the core's IPAM: no port can take one.
    for (const [net, ip] of [
      [b, '10.91.2.254'], // R2's explicit address on B
      [e, '10.91.9.10'], // R1's external address
      [e, '10.91.9.20'], // a floating IP
    ] as const) {
      const before = await revision(api());
      const probe = await api().gql<{ createPort: { id: string } }>('mutation($input: CreatePortInput!) { createPort(input: $input) { id } }', {
        input: { name: theLab().name('probe'), networkId: net.networkId, hostId: hostId(1), fixedIps: [{ subnetId: net.subnetId, ipAddress: ip }] },
      });
      expect(errorCode(probe)).toBe('CONFLICT');
      expect(await revision(api())).toBe(before);
    }
    // A network a router is attached to cannot be deleted, not even with cascade.
    const beforeDelete = await revision(api());
    const gone = await api().gql('mutation($id: ID!) { deleteNetwork(input: { id: $id, cascade: true }) { revision } }', { id: b.networkId });
    expect(gone.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT' }, message: expect.stringMatching(/held by plugin resources/) as string });
    expect(await revision(api())).toBe(beforeDelete);
    // The same router, valid, is accepted: the refusals were for the reasons tested.
    const ok = await createRouter({
      name: `${P}-fip-ok`,
      interfaces: [{ subnetId: d1.subnetId }],
      externalNetworkId: e.networkId,
      externalAddress: '10.91.9.11',
      floatingIps: [{ portId: pd.id, address: '10.91.9.21' }],
    });
    await theLab().remove('Router', ok.id);
  });

  it('6. deleting a router removes its namespace from its host; traffic through it stops', async () => {
    const [pa, pc, r1, r2] = [need('pa'), need('pc'), need('r1'), need('r2')];
    const ns2 = routerNs(r2);
    expect(await theLab().remove('Router', r2.id)).toEqual([r2.id]);
    expect(await netnsList()).not.toContain(ns2);
    expect(await unreachable(pa.ns, pc.ip)).toBe(true);
    // R1 is unaffected.
    await reach(pa.ns, need('pb').ip, 'A → B after R2 was deleted');

    const ns1 = routerNs(r1);
    await theLab().remove('Router', r1.id);
    expect(await netnsList()).not.toContain(ns1);
    expect((await theLab().counts('Router')).count).toBe(0);
    // After resyncs on every agent, the deleted namespaces stay deleted.
    await theLab().morePasses(2);
    const names = await netnsList();
    expect(names).not.toContain(ns1);
    expect(names).not.toContain(ns2);
  });
});
