/**
 * The load balancer plugin (netloom.load-balancer, kind LoadBalancer) end to end: one real
 * controller and two simulated hosts with real agents (libs/simhosts), load balancers created
 * through the generated GraphQL API, and assertions on real TCP connections between the port
 * namespaces the agents build. DISTRIBUTED (the default: translated on every host, in the
 * host namespace): weighted round robin over members on both hosts, members seeing the client's
 * own address, per-member counters in the observed status, a client behind a router, members
 * behind a router (and an APPLIANCE checking them through it), hairpin.
 * APPLIANCE (asked for: a namespace of its own on one host): a member taken out and back
 * by its health monitor (polled, and on the `resourceStatusChanges` subscription), source-IP
 * affinity. DISTRIBUTED with a health monitor: each member checked on its port's host, one
 * stopped taken out of both hosts' maps and brought back. Then bad input refused with nothing written, a firewall policy on the members that
 * tells a DISTRIBUTED VIP's clients apart by their own address, and delete.
 *
 * Each member runs `socat … fork` answering its own name, so every connection says where it
 * landed. The tests build on each other, in order. Every name carries a per-run prefix; everything
 * goes in afterAll, even on failure. Timings are measured and printed, never asserted.
 */
import type { Client } from 'graphql-ws';
import { netnsExec, netnsList, sleep, waitFor } from './support/agent';
import {
  addressesIn,
  askMany,
  askTcp,
  attr,
  Lab,
  msSince,
  type Net,
  type NetnsProcess,
  PEER_ADDRESS,
  type PortView,
  runPrefix,
  shutdownLab,
  STATUS_FIELDS,
  type StatusView,
  tally,
} from './support/plugin-e2e';

const describeRoot = process.getuid?.() === 0 ? describe : describe.skip;
jest.setTimeout(90_000);

/** This run's prefix: 'l' + 3 random [a-z0-9]. */
const P = runPrefix('l');
/** The agents report what they observe this often (their default is 2 s). */
const OBSERVE_MS = 500;
/** How old the counters an agent reports may be: the load balancer reads them behind its observes, at most once a second. */
const COUNTERS_MAX_AGE_MS = 1_000;
const VIP_PORT = 80;
const MEMBER_PORT = 8080;
/** A second listener whose members answer with the address they saw the connection come from. */
const PEER_VIP_PORT = 81;
const PEER_MEMBER_PORT = 8081;
const VIP = '10.92.1.100';
const MONITOR = { type: 'TCP', intervalMs: 500, timeoutMs: 300, rise: 2, fall: 2 };

const LB_FIELDS = `id name generation mode hostId subnetId vipAddress
  listeners { protocol port pool { algorithm affinityTimeout members { name portId address port weight adminUp } healthMonitor { type httpPath expectedCodes intervalMs timeoutMs rise fall } } }
  status { ${STATUS_FIELDS} }`;
/** What the tests read of the observed members (the lists of an observed state are not multiplied by the cost limit). */
const MEMBER_FIELDS = 'name address portId port weight operatingStatus lastCheck connections packets bytes';
const observedFields = (memberFields: string): string => `... on LoadBalancerObserved { operatingStatus listeners { protocol port members { ${memberFields} } } }`;

type MemberStatus = 'ONLINE' | 'OFFLINE' | 'DISABLED' | 'NO_MONITOR';

/** An observed member. */
interface MemberObserved {
  name: string | null;
  operatingStatus: MemberStatus;
  lastCheck: string | null;
  connections: number;
  address: string;
  portId: string | null;
  port: number;
  packets: number;
  bytes: number;
}

interface LbObserved {
  operatingStatus: 'ONLINE' | 'DEGRADED' | 'ERROR';
  listeners: { protocol: string; port: number; members: MemberObserved[] }[];
}

interface LbView {
  id: string;
  name: string;
  generation: number;
  mode: 'DISTRIBUTED' | 'APPLIANCE' | null;
  hostId: string | null;
  subnetId: string;
  vipAddress: string | null;
  listeners: { protocol: string; port: number; pool: { algorithm: string; affinityTimeout: number | null; members: { name: string | null; weight: number | null }[] } }[];
  status: StatusView[];
}

interface Member {
  name: string;
  weight: number;
  port: PortView;
  server?: NetnsProcess;
  peer?: NetnsProcess;
}

let lab: Lab | undefined;
const theLab = (): Lab => {
  if (!lab) throw new Error('no cluster');
  return lab;
};
const note = (line: string): void => void theLab().notes.push(line);

/** What the tests build, in order; a later test needs what an earlier one made. */
const world: { a?: Net; b?: Net; members?: Member[]; c1?: PortView; c2?: PortView; cb?: PortView; lb?: LbView } = {};

function need<K extends keyof typeof world>(key: K): NonNullable<(typeof world)[K]> {
  const value = world[key];
  if (!value) throw new Error(`${key} was not made: an earlier test failed`);
  return value;
}

const member = (name: string): Member => {
  const m = need('members').find((x) => x.name === name);
  if (!m) throw new Error(`no member ${name}`);
  return m;
};

/** The one listener of the test's load balancer: TCP 80 → the members' 8080, with `pool` on top of round robin. */
const listeners = (pool: Record<string, unknown> = {}): unknown[] => [
  {
    protocol: 'TCP',
    port: VIP_PORT,
    pool: { algorithm: 'ROUND_ROBIN', members: need('members').map((m) => ({ name: m.name, portId: m.port.id, port: MEMBER_PORT, weight: m.weight })), ...pool },
  },
];

/** The listener whose members answer with the client address they saw. */
const peerListener = (): unknown => ({
  protocol: 'TCP',
  port: PEER_VIP_PORT,
  pool: { algorithm: 'ROUND_ROBIN', members: need('members').map((m) => ({ name: m.name, portId: m.port.id, port: PEER_MEMBER_PORT })) },
});

/** The mode a load balancer runs in, as its hosts report it. */
const modeOf = (lb: LbView): string => attr(lb.status, 'mode');

/**
 * Checks a load balancer the API returned after wait: true. APPLIANCE: applied on exactly one
 * host, with a namespace. DISTRIBUTED: applied on every host, each with its responder namespace.
 */
function applied(lb: LbView): LbView {
  const hosts = theLab().cluster.hostIds;
  const distributed = modeOf(lb) === 'DISTRIBUTED';
  expect(lb.status).toHaveLength(distributed ? hosts.length : 1);
  for (const s of lb.status) {
    expect(s).toMatchObject({ state: 'APPLIED', reason: null, generation: lb.generation });
    expect(hosts).toContain(s.hostId);
    expect(attr([s], 'mode')).toBe(modeOf(lb));
    attr([s], 'netns');
  }
  if (lb.hostId !== null) expect(lb.status[0].hostId).toBe(lb.hostId);
  return lb;
}

/** The namespace holding the VIP: the appliance's, or the responder's on the first host. */
const lbNs = (lb: LbView): string => attr(lb.status, 'netns');
const createLb = async (input: Record<string, unknown>): Promise<LbView> => applied(await theLab().write<LbView>('LoadBalancer', 'create', input, LB_FIELDS));
const updateLb = async (input: Record<string, unknown>): Promise<LbView> => applied(await theLab().write<LbView>('LoadBalancer', 'update', input, LB_FIELDS));
const getLb = (id: string): Promise<LbView> => theLab().read<LbView>('LoadBalancer', id, LB_FIELDS);

/**
 * The load balancer's observed state (null until reported): its host's, or for a DISTRIBUTED one
 * the sum over its hosts (each counts what its own clients sent).
 */
async function observedOf(id: string): Promise<LbObserved | null> {
  const lb = await theLab().read<{ status: { observed: LbObserved | null }[] }>('LoadBalancer', id, `status { observed { ${observedFields(MEMBER_FIELDS)} } }`);
  const reports = lb.status.map((s) => s.observed);
  if (!reports.length || reports.some((o) => !o)) return null;
  const [first, ...others] = reports as LbObserved[];
  const sum: LbObserved = JSON.parse(JSON.stringify(first));
  for (const o of others) {
    for (const [i, l] of o.listeners.entries()) {
      for (const [j, m] of l.members.entries()) {
        const into = sum.listeners[i]?.members[j];
        if (!into) continue;
        into.connections += m.connections;
        into.packets += m.packets;
        into.bytes += m.bytes;
      }
    }
  }
  return sum;
}

/** The observed members of the first listener, by name. */
function membersOf(observed: LbObserved | null | undefined): Record<string, MemberObserved> {
  const out: Record<string, MemberObserved> = {};
  for (const m of observed?.listeners[0]?.members ?? []) out[m.name ?? m.address] = m;
  return out;
}

/** Polls the load balancer until `ok(observed)`; returns that observed state and how long it took. */
async function observedWhen(id: string, ok: (o: LbObserved) => boolean, timeoutMs: number, what: string): Promise<{ observed: LbObserved; ms: number }> {
  const start = process.hrtime.bigint();
  const observed = await theLab().withAgentLogs(
    waitFor(
      async () => {
        const o = await observedOf(id);
        return o && ok(o) ? o : undefined;
      },
      timeoutMs,
      50,
      what,
    ),
  );
  return { observed, ms: msSince(start) };
}

const statusesAre = (o: LbObserved, want: Record<string, MemberStatus>): boolean =>
  Object.entries(want).every(([name, status]) => membersOf(o)[name]?.operatingStatus === status);

/**
 * The members' connection counters once they hold still between two reads far enough apart that
 * a newer counters read landed between them (the agents read them behind their observes, at most
 * once per COUNTERS_MAX_AGE_MS).
 */
async function settledConnections(id: string): Promise<Record<string, number>> {
  const read = async (): Promise<string> => JSON.stringify(Object.entries(membersOf(await observedOf(id))).map(([n, m]) => [n, m.connections]));
  let last = await read();
  await waitFor(
    async () => {
      await sleep(COUNTERS_MAX_AGE_MS + 2 * OBSERVE_MS + 100);
      const now = await read();
      const still = now === last && now !== '[]';
      last = now;
      return still;
    },
    20_000,
    0,
    'the connection counters to settle',
  );
  return Object.fromEntries(JSON.parse(last) as [string, number][]);
}

/** `n` connections from `ns` to the VIP: what each said, tallied; fails the test on a failed connection. */
async function spread(ns: string, vip: string, n: number, port = VIP_PORT): Promise<Record<string, number>> {
  const answers = await askMany(ns, vip, port, n);
  const counts = tally(answers);
  expect(Object.keys(counts).filter((a) => a.startsWith('!'))).toEqual([]);
  return counts;
}

/** A subscription to resourceStatusChanges(kinds: ["LoadBalancer"]) over graphql-ws, recording each event with its arrival time. */
function subscribeLbStatus(client: Client): { events: { at: bigint; resourceId: string; observed: LbObserved | null }[]; errors: unknown[]; stop: () => void } {
  const events: { at: bigint; resourceId: string; observed: LbObserved | null }[] = [];
  const errors: unknown[] = [];
  const stop = client.subscribe<{ resourceStatusChanges: { resourceId: string; kind: string; observed: LbObserved | null } }>(
    { query: `subscription { resourceStatusChanges(kinds: ["LoadBalancer"]) { kind resourceId hostId state observed { ${observedFields(MEMBER_FIELDS)} } } }` },
    {
      next: (message) => {
        if (message.errors) errors.push(message.errors);
        const change = message.data?.resourceStatusChanges;
        if (change) events.push({ at: process.hrtime.bigint(), resourceId: change.resourceId, observed: change.observed });
      },
      error: (error) => errors.push(error),
      complete: () => undefined,
    },
  );
  return { events, errors, stop };
}

describeRoot(`the load balancer plugin end to end: 2 simulated hosts, real agents (prefix ${P})`, () => {
  beforeAll(async () => {
    lab = await Lab.start({ prefix: P, hosts: 2, resyncMs: 2_000, observeMs: OBSERVE_MS });
  }, 90_000);

  afterAll(async () => {
    expect(await shutdownLab(lab, P, 'load balancer e2e')).toEqual({ problems: [], left: [] });
  }, 60_000);

  it('agents run the load balancer plugin', async () => {
    const { hosts } = await theLab().api.ok<{ hosts: { edges: { node: { agent: { plugins: string[] } } }[] } }>('{ hosts { edges { node { agent { plugins } } } } }');
    expect(hosts.edges).toHaveLength(2);
    for (const edge of hosts.edges) expect(edge.node.agent.plugins).toContainEqual(expect.stringMatching(/^netloom\.load-balancer@/));
  });

  it('a. weighted round robin over 3 members on both hosts: 300 connections split 1:2:3, and the observed counters agree', async () => {
    const l = theLab();
    world.a = await l.makeNetwork('vipnet', '10.92.1.0/24');
    const a = world.a;
    // Members on both hosts; the clients too.
    world.members = [
      { name: 'm1', weight: 1, port: await l.makePort(a, 0) },
      { name: 'm2', weight: 2, port: await l.makePort(a, 1) },
      { name: 'm3', weight: 3, port: await l.makePort(a, 0) },
    ];
    world.c1 = await l.makePort(a, 1);
    world.c2 = await l.makePort(a, 0);
    for (const m of world.members) {
      m.server = await l.answerServer(m.port.ns, MEMBER_PORT, m.name);
      m.peer = await l.answerServer(m.port.ns, PEER_MEMBER_PORT, PEER_ADDRESS);
    }

    // No health monitor and no host: DISTRIBUTED, translated on every host.
    const lb = await createLb({ name: `${P}-lb`, subnetId: a.subnetId, vipAddress: VIP, listeners: [...listeners(), peerListener()] });
    world.lb = lb;
    note(`a: DISTRIBUTED, applied on hosts ${lb.status.map((s) => l.cluster.hostIds.indexOf(s.hostId)).join(', ')}; members m1, m3 on host 0, m2 on host 1; client c1 on host 1`);
    expect(lb).toMatchObject({ vipAddress: VIP, subnetId: a.subnetId, mode: null });
    expect(modeOf(lb)).toBe('DISTRIBUTED');
    expect(lb.listeners[0].pool.members.map((m) => [m.name, m.weight])).toEqual([
      ['m1', 1],
      ['m2', 2],
      ['m3', 3],
    ]);
    // No namespace of its own: each host's responder for the network holds the VIP (answering ARP to that host's clients).
    for (const s of lb.status) expect(await addressesIn(attr([s], 'netns'))).toContain(VIP);
    expect(new Set(lb.status.map((s) => attr([s], 'netns'))).size).toBe(lb.status.length);

    const c1 = need('c1');
    expect(['m1', 'm2', 'm3']).toContain(await l.answerFrom(c1.ns, VIP, VIP_PORT, 'the VIP from c1'));
    // Members see the client's own address (nothing is masqueraded), from either host.
    for (const client of [c1, need('c2')]) {
      const seen = new Set(Object.keys(await spread(client.ns, VIP, 9, PEER_VIP_PORT)));
      note(`a: members answering on the VIP's port ${PEER_VIP_PORT} saw the client ${client.ip} as ${[...seen].join(', ')}`);
      expect([...seen]).toEqual([client.ip]);
    }
    const before = await settledConnections(lb.id);

    const counts = await spread(c1.ns, VIP, 300);
    note(`a: 300 connections from c1 to the VIP, round robin, weights 1/2/3: m1 ${counts.m1 ?? 0}, m2 ${counts.m2 ?? 0}, m3 ${counts.m3 ?? 0}`);
    for (const m of need('members')) {
      const expected = (300 * m.weight) / 6;
      expect({ member: m.name, count: counts[m.name] ?? 0, within10pct: Math.abs((counts[m.name] ?? 0) - expected) <= expected * 0.1 }).toEqual({
        member: m.name,
        count: expect.any(Number),
        within10pct: true,
      });
    }
    expect(Object.keys(counts).sort()).toEqual(['m1', 'm2', 'm3']);

    // The observed counters move by what the client saw, member by member.
    const { observed, ms } = await observedWhen(
      lb.id,
      (o) => Object.values(membersOf(o)).reduce((sum, m) => sum + m.connections - (before[m.name ?? ''] ?? 0), 0) >= 300,
      10_000,
      'the observed connection counters to grow by 300',
    );
    const after = await settledConnections(lb.id);
    const deltas = Object.fromEntries(Object.entries(after).map(([name, n]) => [name, n - (before[name] ?? 0)]));
    note(`a: observed connection counters moved by ${JSON.stringify(deltas)} (seen ${ms.toFixed(0)} ms after the last connection)`);
    expect(deltas).toEqual({ m1: counts.m1, m2: counts.m2, m3: counts.m3 });
    // No monitor: every member NO_MONITOR, the load balancer ONLINE; traffic counted both ways.
    expect(observed.operatingStatus).toBe('ONLINE');
    expect(Object.values(membersOf(observed)).map((m) => [m.name, m.operatingStatus])).toEqual([
      ['m1', 'NO_MONITOR'],
      ['m2', 'NO_MONITOR'],
      ['m3', 'NO_MONITOR'],
    ]);
    const detail = membersOf(await observedOf(lb.id));
    expect(Object.values(detail).map((m) => [m.name, m.address, m.portId, m.port])).toEqual(need('members').map((m) => [m.name, m.port.ip, m.port.id, MEMBER_PORT]));
    for (const m of Object.values(detail)) {
      // Each connection is at least a SYN out and a SYN-ACK back; the answer carries bytes.
      expect({ name: m.name, enoughPackets: m.packets >= 2 * after[m.name ?? ''], bytes: m.bytes > 0 }).toEqual({ name: m.name, enoughPackets: true, bytes: true });
    }
  });

  it('b. a client on another network reaches the VIP through a router', async () => {
    const l = theLab();
    const a = need('a');
    world.b = await l.makeNetwork('clientnet', '10.92.2.0/24');
    const b = world.b;
    world.cb = await l.makePort(b, 1);
    const cb = world.cb;
    expect(await askTcp(cb.ns, VIP, VIP_PORT)).toBe('');
    const router = await l.write<{ id: string; status: StatusView[] }>(
      'Router',
      'create',
      { name: `${P}-router`, interfaces: [{ subnetId: a.subnetId }, { subnetId: b.subnetId }] },
      `id status { ${STATUS_FIELDS} }`,
    );
    expect(router.status).toEqual([expect.objectContaining({ state: 'APPLIED' })]);
    // The router took the gateways: the client's default route leads to the VIP's subnet.
    expect(await addressesIn(attr(router.status, 'netns'))).toEqual(expect.arrayContaining(['10.92.1.1', '10.92.2.1']));
    expect(['m1', 'm2', 'm3']).toContain(await l.answerFrom(cb.ns, VIP, VIP_PORT, 'the VIP from a client behind the router'));
    const counts = await spread(cb.ns, VIP, 30);
    note(`b: 30 connections from ${cb.ip} through the router: ${JSON.stringify(counts)}`);
    expect(Object.keys(counts).sort()).toEqual(['m1', 'm2', 'm3']);
    // Translated on the router's host (its leg is the client on the VIP's network); the members still see the client.
    expect(Object.keys(await spread(cb.ns, VIP, 6, PEER_VIP_PORT))).toEqual([cb.ip]);
  });

  it("b2. members on another network, reached through the VIP subnet's gateway: DISTRIBUTED (translated on each client's host, members see the client) and, with a health monitor, APPLIANCE checking them through it (members see the VIP)", async () => {
    const l = theLab();
    const [b, cb] = [need('b'), need('cb')];
    // The VIPs on the clients' network; the members (m1, m3 on host 0, m2 on host 1) on the other, behind the router made in b.
    const cb0 = await l.makePort(b, 0);
    const spreadVip = '10.92.2.100';
    const applianceVip = '10.92.2.101';
    const names = [`${P}-cross`, `${P}-cross-app`];
    try {
      const spreadLb = await createLb({ name: names[0], subnetId: b.subnetId, vipAddress: spreadVip, listeners: [...listeners(), peerListener()] });
      expect(modeOf(spreadLb)).toBe('DISTRIBUTED');
      for (const client of [cb, cb0]) {
        const counts = await spread(client.ns, spreadVip, 12);
        note(`b2: 12 connections from ${client.ip} (host ${l.cluster.hostIds.indexOf(client.hostId)}) to a DISTRIBUTED VIP on its own network, members behind the router: ${JSON.stringify(counts)}`);
        expect(Object.keys(counts).sort()).toEqual(['m1', 'm2', 'm3']);
        expect(Object.keys(await spread(client.ns, spreadVip, 6, PEER_VIP_PORT))).toEqual([client.ip]);
      }

      // No mode given: a health monitor on members behind the router makes it an APPLIANCE.
      const appliance = await createLb({ name: names[1], subnetId: b.subnetId, vipAddress: applianceVip, listeners: [...listeners({ healthMonitor: MONITOR }), peerListener()] });
      expect(modeOf(appliance)).toBe('APPLIANCE');
      // Each member checked from the appliance's namespace through the router, and found answering.
      const checked = await observedWhen(
        appliance.id,
        (o) => statusesAre(o, { m1: 'ONLINE', m2: 'ONLINE', m3: 'ONLINE' }) && Object.values(membersOf(o)).every((m) => m.lastCheck === 'connected'),
        10_000,
        "the appliance's members checked through the router and ONLINE",
      );
      note(`b2: the APPLIANCE's members checked through the router, all ONLINE ${checked.ms.toFixed(0)} ms after it was applied`);
      const counts = await spread(cb0.ns, applianceVip, 12);
      expect(Object.keys(counts).sort()).toEqual(['m1', 'm2', 'm3']);
      // Masqueraded, so the replies come back through it: the members see its VIP.
      expect(Object.keys(await spread(cb.ns, applianceVip, 6, PEER_VIP_PORT))).toEqual([applianceVip]);
      // So a client on the members' own network reaches them through the VIP too (a DISTRIBUTED
      // VIP cannot serve it: the members' replies to it would never pass the VIP's bridge).
      expect(Object.keys(await spread(need('c1').ns, applianceVip, 12)).sort()).toEqual(['m1', 'm2', 'm3']);
    } finally {
      // By name: one whose create failed after its commit goes too.
      for (const name of names) {
        const { loadBalancer } = await l.api.ok<{ loadBalancer: { id: string } | null }>('query($name: String) { loadBalancer(name: $name) { id } }', { name });
        if (loadBalancer) await l.remove('LoadBalancer', loadBalancer.id);
      }
      await l.remove('Port', cb0.id);
    }
  });

  it('c. hairpin: a member connects to the VIP and gets an answer (possibly from itself)', async () => {
    const m1 = member('m1');
    const counts = await spread(m1.port.ns, VIP, 12);
    note(`c: 12 connections from member m1 to the VIP: ${JSON.stringify(counts)}`);
    expect(Object.keys(counts).sort()).toEqual(['m1', 'm2', 'm3']);
    // The others see m1's address; m1, reaching itself, sees the VIP (its own address would be dropped as a martian).
    const seen = await spread(m1.port.ns, VIP, 12, PEER_VIP_PORT);
    note(`c: 12 connections from m1 to the VIP's port ${PEER_VIP_PORT}: seen as ${JSON.stringify(seen)}`);
    expect(Object.keys(seen).sort()).toEqual([m1.port.ip, VIP].sort());
  });

  it('d. a TCP health monitor takes a stopped member out (observed and on the subscription) and brings it back when it answers again', async () => {
    const l = theLab();
    const [lb, c1] = [need('lb'), need('c1')];
    const responders = lb.status.map((s) => attr([s], 'netns'));
    // Asked to become an APPLIANCE (a namespace of its own on one host), with a health monitor.
    world.lb = await updateLb({ id: lb.id, mode: 'APPLIANCE', listeners: listeners({ healthMonitor: MONITOR }) });
    expect(world.lb.listeners[0].pool).toMatchObject({ healthMonitor: { ...MONITOR, httpPath: null, expectedCodes: null } });
    expect(modeOf(world.lb)).toBe('APPLIANCE');
    expect(await addressesIn(lbNs(world.lb))).toContain(VIP);
    // No DISTRIBUTED load balancer is left on the network: its responders went with it.
    const left = new Set(await netnsList());
    expect(responders.filter((ns) => left.has(ns))).toEqual([]);
    // The VIP's MAC moved from each host's responder to the appliance's leg, which announced it (a
    // gratuitous ARP): the client on the appliance's host follows at once. The client on the other
    // host is not told: the VXLAN device (`proxy`) answers ARP itself and forwards none (a limit,
    // in DESIGN); it forgets its entry, as it would time out.
    const [near, far] = l.cluster.hostIds.indexOf(world.lb.status[0].hostId) === 0 ? [need('c2'), c1] : [c1, need('c2')];
    const links = JSON.parse((await netnsExec(lbNs(world.lb), ['ip', '-json', 'link', 'show'])).stdout) as { ifname: string; address: string }[];
    const legMac = links.find((x) => x.ifname !== 'lo')?.address;
    const cachedMac = async (): Promise<string | undefined> =>
      (JSON.parse((await netnsExec(near.ns, ['ip', '-json', 'neigh', 'show', 'to', VIP])).stdout || '[]') as { lladdr?: string }[])[0]?.lladdr;
    await waitFor(async () => legMac !== undefined && (await cachedMac()) === legMac, 2_000, 20, `the appliance's MAC for the VIP in the client on its host (${near.ip})`);
    await netnsExec(far.ns, ['ip', 'neigh', 'flush', 'to', VIP]);
    // Members start ONLINE; wait until each has been checked too.
    const checked = (o: LbObserved): boolean => Object.values(membersOf(o)).every((m) => m.lastCheck !== null);
    const online = await observedWhen(lb.id, (o) => statusesAre(o, { m1: 'ONLINE', m2: 'ONLINE', m3: 'ONLINE' }) && checked(o) && o.operatingStatus === 'ONLINE', 10_000, 'all members checked and ONLINE');
    note(`d: with the monitor, all members checked and ONLINE on the observed status ${online.ms.toFixed(0)} ms after the update returned; lastCheck ${JSON.stringify(membersOf(online.observed).m1?.lastCheck)}`);

    const client = l.api.ws();
    const sub = subscribeLbStatus(client);
    try {
      // The subscription starts asynchronously: make counters move until it has delivered an event.
      await waitFor(
        async () => {
          await askTcp(c1.ns, VIP, VIP_PORT);
          await sleep(OBSERVE_MS);
          return sub.events.some((e) => e.resourceId === lb.id);
        },
        15_000,
        0,
        'a first resourceStatusChanges event for the load balancer',
      );

      // Stop m2: fall (2) failed checks 500 ms apart take it OFFLINE.
      const m2 = member('m2');
      const since = sub.events.length;
      const stopped = process.hrtime.bigint();
      await m2.server?.stop();
      const offline = await observedWhen(lb.id, (o) => statusesAre(o, { m2: 'OFFLINE' }), 15_000, 'm2 OFFLINE on the observed status');
      const polledMs = msSince(stopped);
      const event = await waitFor(
        () => sub.events.slice(since).find((e) => e.resourceId === lb.id && membersOf(e.observed).m2?.operatingStatus === 'OFFLINE'),
        5_000,
        20,
        'm2 OFFLINE on resourceStatusChanges',
      );
      const eventMs = Number(event.at - stopped) / 1e6;
      note(
        `d: m2 stopped → OFFLINE on the observed status after ${polledMs.toFixed(0)} ms (polled), on the subscription after ${eventMs.toFixed(0)} ms; ` +
          `bound interval×fall + observe = ${MONITOR.intervalMs * MONITOR.fall + OBSERVE_MS} ms; lastCheck ${JSON.stringify(membersOf(offline.observed).m2?.lastCheck)}`,
      );
      expect(sub.errors).toEqual([]);
      expect(offline.observed.operatingStatus).toBe('DEGRADED');
      expect(membersOf(offline.observed)).toMatchObject({ m1: { operatingStatus: 'ONLINE' }, m3: { operatingStatus: 'ONLINE' } });

      // No new connection goes to m2: all answered by the others, none failed.
      const without = await spread(c1.ns, VIP, 60);
      note(`d: 60 connections with m2 OFFLINE: ${JSON.stringify(without)}`);
      expect(Object.keys(without).sort()).toEqual(['m1', 'm3']);

      // Start m2 again: rise (2) passes bring it back.
      const restarted = process.hrtime.bigint();
      m2.server = await l.answerServer(m2.port.ns, MEMBER_PORT, 'm2');
      const back = await observedWhen(lb.id, (o) => statusesAre(o, { m1: 'ONLINE', m2: 'ONLINE', m3: 'ONLINE' }) && o.operatingStatus === 'ONLINE', 15_000, 'm2 ONLINE again');
      note(`d: m2 started again → ONLINE on the observed status after ${msSince(restarted).toFixed(0)} ms (bound interval×rise + observe = ${MONITOR.intervalMs * MONITOR.rise + OBSERVE_MS} ms)`);
      expect(back.observed.operatingStatus).toBe('ONLINE');
      const withIt = await spread(c1.ns, VIP, 60);
      note(`d: 60 connections with m2 back: ${JSON.stringify(withIt)}`);
      expect(withIt.m2).toBeGreaterThan(0);
      expect(Object.keys(withIt).sort()).toEqual(['m1', 'm2', 'm3']);
    } finally {
      sub.stop();
      await client.dispose();
    }
  });

  it("d2. DISTRIBUTED with a TCP health monitor: each member checked on its port's host; one stopped leaves every host's map, and comes back", async () => {
    const l = theLab();
    const [a, c1, c2] = [need('a'), need('c1'), need('c2')];
    // No mode given: with every member given by port, DISTRIBUTED.
    const lb = await createLb({ name: `${P}-dhc`, subnetId: a.subnetId, vipAddress: '10.92.1.120', listeners: listeners({ healthMonitor: MONITOR }) });
    expect(modeOf(lb)).toBe('DISTRIBUTED');
    const hostOf = (m: string): string => member(m).port.hostId;
    /** Each host's observed members of the first listener, by host and name. */
    const perHost = async (): Promise<Record<string, Record<string, MemberObserved & { checked: boolean | null }>>> => {
      const read = await l.read<{ status: { hostId: string; observed: LbObserved | null }[] }>(
        'LoadBalancer',
        lb.id,
        `status { hostId observed { ${observedFields(`${MEMBER_FIELDS} checked`)} } }`,
      );
      return Object.fromEntries(read.status.map((s) => [s.hostId, membersOf(s.observed) as Record<string, MemberObserved & { checked: boolean | null }>]));
    };
    const everywhere = async (want: Record<string, MemberStatus>, checkedToo: boolean): Promise<boolean> => {
      const hosts = await perHost();
      return (
        Object.keys(hosts).length === l.cluster.hostIds.length &&
        Object.values(hosts).every((members) => Object.entries(want).every(([name, status]) => members[name]?.operatingStatus === status && (!checkedToo || members[name].checked !== null)))
      );
    };
    try {
      // Each member is checked on its own port's host only; the other host shows what that one found.
      const start = process.hrtime.bigint();
      await theLab().withAgentLogs(
        waitFor(async () => (await everywhere({ m1: 'ONLINE', m2: 'ONLINE', m3: 'ONLINE' }, true)) && Object.values(await perHost()).every((ms) => Object.values(ms).every((m) => m.checked !== null)), 10_000, 50, 'every member reported on both hosts'),
      );
      const hosts = await perHost();
      for (const [hostId, members] of Object.entries(hosts)) {
        for (const name of ['m1', 'm2', 'm3']) {
          expect({ hostId, name, checked: members[name].checked }).toEqual({ hostId, name, checked: hostOf(name) === hostId });
          // Only the checking host has a last check to show.
          if (hostOf(name) === hostId) await waitFor(async () => (await perHost())[hostId][name].lastCheck !== null, 5_000, 50, `${name} checked on its host`);
          else expect(members[name].lastCheck).toBeNull();
        }
      }
      note(`d2: DISTRIBUTED with a monitor, every member ONLINE on both hosts ${msSince(start).toFixed(0)} ms after create returned`);

      // Stop m2 (host 1): its host finds it OFFLINE, and the other host follows through the controller.
      const m2 = member('m2');
      const stopped = process.hrtime.bigint();
      await m2.server?.stop();
      await theLab().withAgentLogs(waitFor(() => everywhere({ m2: 'OFFLINE', m1: 'ONLINE', m3: 'ONLINE' }, false), 15_000, 50, 'm2 OFFLINE on both hosts'));
      note(`d2: m2 stopped → OFFLINE on both hosts after ${msSince(stopped).toFixed(0)} ms (interval×fall ${MONITOR.intervalMs * MONITOR.fall} ms + observe ${OBSERVE_MS} ms, then the controller's pass)`);
      // Clients on both hosts (each host translates its own) reach only m1 and m3, none failing.
      for (const c of [c1, c2]) expect(Object.keys(await spread(c.ns, '10.92.1.120', 30)).sort()).toEqual(['m1', 'm3']);

      // The controller crashes (kill -9) and starts again: what the hosts found is read back at
      // start (and reported again as the agents reconnect: either keeps it), so a change placed
      // after the restart, waited for on both hosts, still leaves m2 out everywhere.
      const crashed = process.hrtime.bigint();
      await l.cluster.crashController();
      await l.cluster.waitConnected(20_000);
      const renamed = await updateLb({ id: lb.id, name: `${P}-dhc-renamed` });
      expect(renamed.status.every((st) => st.generation === renamed.generation)).toBe(true);
      note(`d2: controller killed and started again, agents back and a rename applied on both hosts after ${msSince(crashed).toFixed(0)} ms`);
      for (const c of [c1, c2]) expect(Object.keys(await spread(c.ns, '10.92.1.120', 30)).sort()).toEqual(['m1', 'm3']);
      expect(await everywhere({ m2: 'OFFLINE' }, false)).toBe(true);

      // m2's host's agent is killed (-9) and starts again: its checks start from what it had
      // found (kept by the controller), so m2 is never reported ONLINE meanwhile — not even
      // before the new agent's first checks fail. The checks that reach m2 are counted there.
      const probes = `${P}probes`;
      for (const command of [
        ['add', 'table', 'inet', probes],
        ['add', 'chain', 'inet', probes, 'input', '{', 'type', 'filter', 'hook', 'input', 'priority', '0', ';', 'policy', 'accept', ';', '}'],
        ['add', 'rule', 'inet', probes, 'input', 'tcp', 'dport', String(MEMBER_PORT), 'tcp', 'flags', 'syn', 'counter'],
      ]) {
        expect(await netnsExec(m2.port.ns, ['nft', ...command])).toMatchObject({ code: 0 });
      }
      const client = l.api.ws();
      const sub = subscribeLbStatus(client);
      try {
        const synCount = async (): Promise<number> => Number(/packets (\d+)/.exec((await netnsExec(m2.port.ns, ['nft', 'list', 'table', 'inet', probes])).stdout)?.[1] ?? 0);
        const checker = l.cluster.hostIds.indexOf(m2.port.hostId);
        await l.cluster.restartAgent(checker);
        await l.cluster.waitConnected(20_000);
        const before = await synCount();
        // Until the new agent has checked m2 fall + 1 times (each a SYN refused).
        await l.withAgentLogs(waitFor(async () => (await synCount()) >= before + MONITOR.fall + 1, 15_000, 50, "the restarted agent's checks of m2"));
        await sleep(OBSERVE_MS * 2);
        const flipped = sub.events.filter((e) => e.resourceId === lb.id && membersOf(e.observed).m2?.operatingStatus === 'ONLINE');
        note(`d2: m2's agent killed and started again: ${(await synCount()) - before} checks of m2 since, ${sub.events.filter((e) => e.resourceId === lb.id).length} status events, m2 ONLINE in ${flipped.length}`);
        expect(sub.errors).toEqual([]);
        expect(flipped).toEqual([]);
        expect(await everywhere({ m2: 'OFFLINE' }, false)).toBe(true);
        for (const c of [c1, c2]) expect(Object.keys(await spread(c.ns, '10.92.1.120', 30)).sort()).toEqual(['m1', 'm3']);
      } finally {
        sub.stop();
        await client.dispose();
        await netnsExec(m2.port.ns, ['nft', 'delete', 'table', 'inet', probes]);
      }

      // Start it again: rise passes bring it back on both hosts.
      const restarted = process.hrtime.bigint();
      m2.server = await l.answerServer(m2.port.ns, MEMBER_PORT, 'm2');
      await theLab().withAgentLogs(waitFor(() => everywhere({ m1: 'ONLINE', m2: 'ONLINE', m3: 'ONLINE' }, false), 15_000, 50, 'm2 ONLINE on both hosts'));
      note(`d2: m2 started again → ONLINE on both hosts after ${msSince(restarted).toFixed(0)} ms`);
      for (const c of [c1, c2]) expect(Object.keys(await spread(c.ns, '10.92.1.120', 30)).sort()).toEqual(['m1', 'm2', 'm3']);
    } finally {
      expect(await l.remove('LoadBalancer', lb.id)).toEqual([lb.id]);
    }
  });

  it('e. SOURCE_IP, without and with affinityTimeout: each client sticks to one member', async () => {
    const [lb, c1, c2] = [need('lb'), need('c1'), need('c2')];
    for (const pool of [{ algorithm: 'SOURCE_IP' }, { algorithm: 'SOURCE_IP', affinityTimeout: 60 }]) {
      world.lb = await updateLb({ id: lb.id, listeners: listeners({ ...pool, healthMonitor: MONITOR }) });
      expect(world.lb.listeners[0].pool).toMatchObject({ algorithm: 'SOURCE_IP', affinityTimeout: pool.affinityTimeout ?? null });
      const fromC1 = await spread(c1.ns, VIP, 30);
      const fromC2 = await spread(c2.ns, VIP, 30);
      note(`e: ${JSON.stringify(pool)}: 30 from c1 (${c1.ip}) → ${JSON.stringify(fromC1)}; 30 from c2 (${c2.ip}) → ${JSON.stringify(fromC2)}`);
      expect(Object.values(fromC1)).toEqual([30]);
      expect(Object.values(fromC2)).toEqual([30]);
    }
    // Back to round robin for what follows.
    world.lb = await updateLb({ id: lb.id, listeners: listeners({ healthMonitor: MONITOR }) });
  });

  it('f. bad input is refused with a code and nothing written; without vipAddress IPAM picks one', async () => {
    const l = theLab();
    const [a, lb, cb] = [need('a'), need('lb'), need('cb')];
    const CREATE = 'mutation($input: CreateLoadBalancerInput!) { createLoadBalancer(input: $input, wait: true) { id } }';
    const UPDATE = 'mutation($input: UpdateLoadBalancerInput!) { updateLoadBalancer(input: $input, wait: true) { id } }';
    const before = await getLb(lb.id);
    const base = { name: `${P}-bad`, subnetId: a.subnetId, listeners: listeners() };
    const withMember = (m: Record<string, unknown>): unknown[] => [{ protocol: 'TCP', port: VIP_PORT, pool: { algorithm: 'ROUND_ROBIN', members: [{ port: MEMBER_PORT, ...m }] } }];
    const cases: [string, string, string, Record<string, unknown>][] = [
      ['VIP outside its subnet', 'BAD_USER_INPUT', CREATE, { ...base, vipAddress: '10.92.9.5' }],
      ['VIP held by a port (client c1)', 'CONFLICT', CREATE, { ...base, vipAddress: need('c1').ip }],
      ['VIP equal to a member', 'BAD_USER_INPUT', CREATE, { ...base, vipAddress: member('m1').port.ip }],
      ['VIP held by another load balancer', 'CONFLICT', CREATE, { ...base, vipAddress: VIP }],
      ['two listeners on TCP 80', 'BAD_USER_INPUT', CREATE, { ...base, vipAddress: '10.92.1.101', listeners: [...listeners(), ...listeners()] }],
      [
        'DISTRIBUTED with a health monitor and a member on another network (checked from the VIP network on its host: unreachable there)',
        'BAD_USER_INPUT',
        CREATE,
        { ...base, mode: 'DISTRIBUTED', vipAddress: '10.92.1.101', listeners: [{ protocol: 'TCP', port: VIP_PORT, pool: { algorithm: 'ROUND_ROBIN', members: [{ portId: cb.id, port: MEMBER_PORT }], healthMonitor: MONITOR } }] },
      ],
      ['an IPv6 member address', 'BAD_USER_INPUT', CREATE, { ...base, vipAddress: '10.92.1.101', listeners: withMember({ address: 'fd00::5' }) }],
      ['weight 0', 'BAD_USER_INPUT', CREATE, { ...base, vipAddress: '10.92.1.101', listeners: withMember({ portId: member('m1').port.id, weight: 0 }) }],
      ['weight 300', 'BAD_USER_INPUT', CREATE, { ...base, vipAddress: '10.92.1.101', listeners: withMember({ portId: member('m1').port.id, weight: 300 }) }],
      ['weight 0 on update', 'BAD_USER_INPUT', UPDATE, { id: lb.id, listeners: withMember({ portId: member('m1').port.id, weight: 0 }) }],
      [
        'DISTRIBUTED with a health monitor and a member given by address (checked on which host?)',
        'BAD_USER_INPUT',
        CREATE,
        { ...base, mode: 'DISTRIBUTED', vipAddress: '10.92.1.101', listeners: [{ protocol: 'TCP', port: VIP_PORT, pool: { algorithm: 'ROUND_ROBIN', members: [{ address: member('m1').port.ip, port: MEMBER_PORT }], healthMonitor: MONITOR } }] },
      ],
      ['DISTRIBUTED on a host', 'BAD_USER_INPUT', CREATE, { ...base, mode: 'DISTRIBUTED', vipAddress: '10.92.1.101', hostId: l.cluster.hostIds[0] }],
    ];
    const seen: string[] = [];
    for (const [what, code, query, input] of cases) {
      const r = await l.refusal('LoadBalancer', query, { input });
      seen.push(`${what} → ${r.code} (${r.field ?? 'no field'}: ${r.message})`);
      expect({ what, ...r }).toMatchObject({ what, code, message: expect.any(String), data: null, written: false });
    }
    note(`f: refused:\n    ${seen.join('\n    ')}`);
    // The load balancer is as it was.
    expect(await getLb(lb.id)).toEqual(before);

    // Without vipAddress, IPAM picks a free address of the subnet, and it answers.
    const auto = await createLb({ name: `${P}-auto`, subnetId: a.subnetId, listeners: listeners() });
    note(`f: created without vipAddress → ${auto.vipAddress} (${modeOf(auto)})`);
    expect(modeOf(auto)).toBe('DISTRIBUTED');
    expect(auto.vipAddress).toMatch(/^10\.92\.1\.\d+$/);
    const taken = [VIP, '10.92.1.1', ...need('members').map((m) => m.port.ip), need('c1').ip, need('c2').ip];
    expect(taken).not.toContain(auto.vipAddress);
    expect(await addressesIn(lbNs(auto))).toContain(auto.vipAddress);
    expect(['m1', 'm2', 'm3']).toContain(await l.answerFrom(need('c1').ns, auto.vipAddress!, VIP_PORT, 'the IPAM-picked VIP'));
    expect(await l.remove('LoadBalancer', auto.id)).toEqual([auto.id]);
    // The last DISTRIBUTED load balancer of the network took the responders along; its VIP answers no more.
    const left = new Set(await netnsList());
    expect(auto.status.map((s) => attr([s], 'netns')).filter((ns) => left.has(ns))).toEqual([]);
    expect(await askTcp(need('c1').ns, auto.vipAddress!, VIP_PORT)).toBe('');
  });

  it("f2. a firewall policy on the members sees a DISTRIBUTED VIP's clients by their own address: one client let in, the other dropped", async () => {
    const l = theLab();
    const [a, c1, c2] = [need('a'), need('c1'), need('c2')];
    const lb = await createLb({ name: `${P}-fw`, subnetId: a.subnetId, vipAddress: '10.92.1.110', listeners: listeners() });
    expect(modeOf(lb)).toBe('DISTRIBUTED');
    expect(['m1', 'm2', 'm3']).toContain(await l.answerFrom(c2.ns, '10.92.1.110', VIP_PORT, 'the VIP from c2 before the policy'));
    // The members take TCP 8080 from c1's address alone (an APPLIANCE would show them its VIP instead).
    const policy = await l.write<{ id: string; status: StatusView[] }>(
      'FirewallPolicy',
      'create',
      {
        name: `${P}-members`,
        selector: { portIds: need('members').map((m) => m.port.id) },
        ingressDefault: 'DROP',
        rules: [{ priority: 10, direction: 'INGRESS', protocol: 'TCP', ports: [{ from: MEMBER_PORT }], remoteCidrs: [`${c1.ip}/32`], action: 'ALLOW' }],
      },
      `id status { ${STATUS_FIELDS} }`,
    );
    expect(policy.status.every((s) => s.state === 'APPLIED')).toBe(true);
    try {
      const fromC1 = await spread(c1.ns, '10.92.1.110', 12);
      expect(Object.keys(fromC1).sort()).toEqual(['m1', 'm2', 'm3']);
      const fromC2 = await askMany(c2.ns, '10.92.1.110', VIP_PORT, 3, { timeoutMs: 1_500 });
      note(`f2: with the members' policy: 12 from c1 → ${JSON.stringify(fromC1)}; 3 from c2 → ${JSON.stringify(fromC2)}`);
      expect(fromC2).toEqual(['!timeout', '!timeout', '!timeout']);
    } finally {
      expect(await l.remove('FirewallPolicy', policy.id)).toEqual([policy.id]);
      expect(await l.remove('LoadBalancer', lb.id)).toEqual([lb.id]);
    }
  });

  it('g. deleting the load balancer removes its namespace from its host; the VIP stops answering', async () => {
    const l = theLab();
    const lb = need('lb');
    const ns = lbNs(lb);
    // A member's port cannot go while the load balancer names it (nor with its network or host).
    const m1 = need('members').find((m) => m.name === 'm1')!.port;
    const refusedPort = await l.refusal('Port', 'mutation($input: DeleteInput!) { deletePort(input: $input) { deletedIds } }', { input: { id: m1.id } });
    expect(refusedPort).toMatchObject({ code: 'CONFLICT', field: 'input.id', message: expect.stringMatching(/is used by LoadBalancer .*members\.\d+\.portId/), written: false });
    expect(await netnsList()).toContain(ns);
    expect(await l.remove('LoadBalancer', lb.id)).toEqual([lb.id]);
    expect(await netnsList()).not.toContain(ns);
    expect(await askTcp(need('c1').ns, VIP, VIP_PORT)).toBe('');
    expect((await l.counts('LoadBalancer')).count).toBe(0);
    // After resyncs on every agent it is still gone.
    await l.morePasses(2);
    expect(await netnsList()).not.toContain(ns);
  });
});
