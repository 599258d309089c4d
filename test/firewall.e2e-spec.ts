/**
 * The firewall plugin (netloom.firewall, kinds FirewallPolicy and AddressGroup) end to end: one
 * real controller and two simulated hosts with real agents (libs/simhosts), policies created
 * through the generated GraphQL API, and assertions on real packets between the port namespaces
 * the agents build: a policy on a server port letting TCP 80 in from one subnet only (replies of
 * allowed connections pass, the port itself may go out), the observed per-rule counters, rules
 * reordered by priority, an address group that follows port labels without its policy changing,
 * no unfiltered window for a port created under a policy (a continuous probe never gets an answer;
 * the same probe reaches an unlabelled port), bad input refused with nothing written, and delete.
 *
 * World: networks A (10.93.1.0/24) and B (10.93.2.0/24) joined by a router on host 1; server S on
 * A (host 0) answering "S80" on TCP 80 and "S81" on 81; client CA on A (host 1), client CB on B
 * (host 0). The tests build on each other, in order. Every name carries a per-run prefix;
 * everything goes in afterAll, even on failure. Timings are measured and printed, never asserted.
 */
import { netnsExec, ping, run, runOk, sleep, waitFor } from './support/agent';
import {
  askMany,
  attr,
  echoReplies,
  Lab,
  msSince,
  type Net,
  type PortView,
  runPrefix,
  shutdownLab,
  STATUS_FIELDS,
  type StatusView,
  type StatusWatch,
} from './support/plugin-e2e';

const describeRoot = process.getuid?.() === 0 ? describe : describe.skip;
jest.setTimeout(90_000);

/** This run's prefix: 'f' + 3 random [a-z0-9]. */
const P = runPrefix('f');
/** The agents report what they observe this often (their default is 2 s). */
const OBSERVE_MS = 500;
const A_CIDR = '10.93.1.0/24';
const B_CIDR = '10.93.2.0/24';
const WEB = 80;
const OTHER = 81;
/** The no-window probe pings every 2 ms (iputils slows to ~10 ms while nothing answers). */
const PROBE_INTERVAL_S = 0.002;
/** How long a connection that should be dropped is given. */
const DROP_WAIT_MS = 1_500;

const POLICY_FIELDS = `id name generation priority selector { portIds networkIds labels { key value } } ingressDefault egressDefault
  rules { priority direction protocol ports { from to } remoteCidrs remoteGroupIds action log } status { ${STATUS_FIELDS} }`;
const OBSERVED_FIELDS = 'ports rules { priority direction action packets bytes } defaults { direction action packets bytes }';
const CREATE = 'mutation($input: CreateFirewallPolicyInput!) { createFirewallPolicy(input: $input, wait: true) { id } }';
const UPDATE = 'mutation($input: UpdateFirewallPolicyInput!) { updateFirewallPolicy(input: $input, wait: true) { id } }';
const CREATE_GROUP = 'mutation($input: CreateAddressGroupInput!) { createAddressGroup(input: $input, wait: true) { id } }';

type Action = 'ALLOW' | 'DROP' | 'REJECT';
type Direction = 'INGRESS' | 'EGRESS';

interface RuleView {
  priority: number;
  direction: Direction;
  protocol: string | null;
  ports: { from: number; to: number | null }[];
  remoteCidrs: string[];
  remoteGroupIds: string[];
  action: Action;
  log: boolean | null;
}

interface PolicyView {
  id: string;
  name: string;
  generation: number;
  priority: number | null;
  selector: { portIds: string[]; networkIds: string[]; labels: { key: string; value: string }[] };
  ingressDefault: Action | null;
  egressDefault: Action | null;
  rules: RuleView[];
  status: StatusView[];
}

interface Counted {
  packets: number;
  bytes: number;
}

interface PolicyObserved {
  ports: number;
  rules: (Counted & { priority: number; direction: Direction; action: Action })[];
  defaults: (Counted & { direction: Direction; action: Action })[];
}

let lab: Lab | undefined;
const theLab = (): Lab => {
  if (!lab) throw new Error('no cluster');
  return lab;
};
const note = (line: string): void => void theLab().notes.push(line);

/** What the tests build, in order; a later test needs what an earlier one made. */
const world: { a?: Net; b?: Net; s?: PortView; ca?: PortView; cb?: PortView; policy?: PolicyView; groupId?: string; guardId?: string; guarded?: PortView[] } = {};

function need<K extends keyof typeof world>(key: K): NonNullable<(typeof world)[K]> {
  const value = world[key];
  if (!value) throw new Error(`${key} was not made: an earlier test failed`);
  return value;
}

/** An INGRESS rule: `action` for `protocol` to `ports` (all when empty) from CIDRs or address groups. */
const ingress = (priority: number, action: Action, protocol: string, ports: number[], remote: { cidrs?: string[]; groups?: string[] }): Record<string, unknown> => ({
  priority,
  direction: 'INGRESS',
  protocol,
  ports: ports.map((from) => ({ from })),
  remoteCidrs: remote.cidrs ?? [],
  remoteGroupIds: remote.groups ?? [],
  action,
});

/** Checks a policy the API returned after wait: true: APPLIED at its generation on exactly `hosts`. */
function applied(policy: PolicyView, hosts: number[]): PolicyView {
  expect(policy.status.map((s) => s.hostId).sort()).toEqual(hosts.map((h) => theLab().hostId(h)).sort());
  for (const s of policy.status) expect(s).toMatchObject({ state: 'APPLIED', reason: null, generation: policy.generation });
  return policy;
}

const writePolicy = async (op: 'create' | 'update', input: Record<string, unknown>, hosts: number[]): Promise<PolicyView> =>
  applied(await theLab().write<PolicyView>('FirewallPolicy', op, input, POLICY_FIELDS), hosts);
const getPolicy = (id: string): Promise<PolicyView> => theLab().read<PolicyView>('FirewallPolicy', id, POLICY_FIELDS);

/** One connection that must get no answer at all (dropped, not refused): '!timeout'. */
const dropped = async (ns: string, ip: string, port: number): Promise<string> => (await askMany(ns, ip, port, 1, { timeoutMs: DROP_WAIT_MS }))[0];

/** No echo reply within 2 requests (1 s each). */
const noEcho = async (ns: string, ip: string): Promise<boolean> => (await netnsExec(ns, ['ping', '-c2', '-i', '0.2', '-W1', ip])).code !== 0;

/** The policy's observed state on host `host` (null until reported). */
async function observedOn(id: string, host: number): Promise<PolicyObserved | null> {
  return (await theLab().observed<PolicyObserved>('FirewallPolicy', id, OBSERVED_FIELDS))[theLab().hostId(host)] ?? null;
}

/** Polls the observed state on `host` until `ok(observed)`; returns it and how long it took. */
async function observedWhen(id: string, host: number, ok: (o: PolicyObserved) => boolean, what: string, timeoutMs = 10_000): Promise<{ observed: PolicyObserved; ms: number }> {
  const start = process.hrtime.bigint();
  const observed = await theLab().withAgentLogs(
    waitFor(
      async () => {
        const o = await observedOn(id, host);
        return o && ok(o) ? o : undefined;
      },
      timeoutMs,
      50,
      what,
    ),
  );
  return { observed, ms: msSince(start) };
}

function ruleOf(o: PolicyObserved, priority: number): PolicyObserved['rules'][number] {
  const rule = o.rules.find((r) => r.priority === priority);
  if (!rule) throw new Error(`no observed rule ${priority}: ${JSON.stringify(o.rules)}`);
  return rule;
}

function defaultOf(o: PolicyObserved, direction: Direction): PolicyObserved['defaults'][number] {
  const found = o.defaults.find((d) => d.direction === direction);
  if (!found) throw new Error(`no observed ${direction} default: ${JSON.stringify(o.defaults)}`);
  return found;
}

/** [priority, action] of each rule, by priority (the API keeps the order given; the observed list is by priority). */
const rulePairs = (rules: { priority: number; action: Action }[]): [number, Action][] => [...rules].sort((x, y) => x.priority - y.priority).map((r) => [r.priority, r.action]);

/** Packets sent so far by eth0 in `ns`. */
async function txPackets(ns: string): Promise<number> {
  const [link] = JSON.parse(await runOk('ip', ['-n', ns, '-j', '-s', 'link', 'show', 'eth0'])) as { stats64: { tx: { packets: number } } }[];
  return link.stats64.tx.packets;
}

/**
 * Creates a port at `c.ip` on host `c.host` (labelled guarded=yes when `c.guarded`) while CA pings
 * that address every 2-10 ms, from before the port exists until 2 s after it is APPLIED (guarded) or
 * until it answers (control). CA is given the port's MAC beforehand (a permanent neighbour entry,
 * removed after), so the probe waits on no ARP: its requests are on the wire all along. A guarded
 * port must never answer, and its firewall must count the drops; a control must answer. The
 * port's status events end APPLIED; any before say it is held down by the guard policy.
 */
async function probeCreation(c: { what: string; host: number; ip: string; guarded: boolean }, guardId: string, watch: StatusWatch): Promise<void> {
  const l = theLab();
  const [a, ca, guarded] = [need('a'), need('ca'), need('guarded')];
  const mac = `02:93:00:00:01:${c.ip.split('.')[3]}`;
  const base = c.guarded ? await observedOn(guardId, c.host) : null;
  const dropsBefore = base ? defaultOf(base, 'INGRESS').packets : 0;
  await runOk('ip', ['-n', ca.ns, 'neigh', 'replace', c.ip, 'lladdr', mac, 'dev', 'eth0', 'nud', 'permanent']);
  const probe = l.pingFlood(ca.ns, c.ip, PROBE_INTERVAL_S);
  try {
    // It is on the wire before the port exists (ping slows to ~100/s while nothing answers), none answered.
    const sentBefore = await txPackets(ca.ns);
    await sleep(300);
    const sentWaiting = (await txPackets(ca.ns)) - sentBefore;
    expect({ what: c.what, running: probe.running, sending: sentWaiting >= 10, replies: echoReplies(probe).length }).toEqual({ what: c.what, running: true, sending: true, replies: 0 });
    const since = watch.events.length;
    const startEpoch = Date.now();
    const start = process.hrtime.bigint();
    const txAtStart = await txPackets(ca.ns);
    const port = await l.makePort(a, c.host, c.ip, { macAddress: mac, labels: c.guarded ? { guarded: 'yes' } : {} });
    const createdMs = msSince(start);
    const sentCreating = (await txPackets(ca.ns)) - txAtStart;
    if (c.guarded) {
      guarded.push(port);
      await sleep(2_000);
    } else {
      await waitFor(() => echoReplies(probe).length > 0, 5_000, 5, `a reply from the ${c.what} port`).catch(() => undefined);
    }
    const ranMs = msSince(start);
    await probe.stop();
    const replies = echoReplies(probe);
    const events = watch.events.slice(since).filter((e) => e.resourceId === port.id);
    const sinceStart = (at: bigint): string => `${(Number(at - start) / 1e6).toFixed(0)} ms`;
    const appliedEvent = events.find((e) => e.state === 'APPLIED');
    note(
      `d: ${c.what} ${c.ip}: createPort(wait: true) returned after ${createdMs.toFixed(0)} ms; its status events ` +
        `${JSON.stringify(events.map((e) => `${sinceStart(e.at)} ${e.state}${e.reason ? ` (${e.reason})` : ''}`))}; ` +
        `APPLIED shown ${appliedEvent ? sinceStart(appliedEvent.at) : '(no event seen)'} after the request; CA sent ${sentCreating} packets meanwhile; probe ran ` +
        `${(ranMs / 1000).toFixed(1)} s after the request: ${replies.length} replies${replies.length ? `, the first ${(replies[0] - startEpoch).toFixed(0)} ms after the request` : ''}`,
    );
    expect({ what: c.what, answered: replies.length > 0 }).toEqual({ what: c.what, answered: !c.guarded });
    expect(events.at(-1)).toMatchObject({ state: 'APPLIED', reason: null, generation: 1, hostId: l.hostId(c.host) });
    for (const e of events.filter((x) => x.state !== 'APPLIED')) {
      if (e.state === 'FAILED' && c.guarded) expect(e.reason).toMatch(new RegExp(`^held down until FirewallPolicy/${guardId} is applied on this host`));
      else expect(e).toMatchObject({ state: 'PENDING' });
    }
    if (c.guarded) {
      // The probe's requests reached the port once it was up, and its firewall dropped them.
      const hosts = [...new Set(guarded.map((p) => l.cluster.hostIds.indexOf(p.hostId)))];
      const policy = applied(await getPolicy(guardId), hosts);
      expect(attr(policy.status, 'ports', l.hostId(c.host))).toBe(String(guarded.filter((p) => p.hostId === l.hostId(c.host)).length));
      const { observed } = await observedWhen(guardId, c.host, (o) => defaultOf(o, 'INGRESS').packets > dropsBefore, `the ${c.what} port's drops counted`);
      note(`d: ${c.what}: the default INGRESS DROP on host ${c.host} counted +${defaultOf(observed, 'INGRESS').packets - dropsBefore} packets`);
    }
  } finally {
    await probe.stop();
    await run('ip', ['-n', ca.ns, 'neigh', 'del', c.ip, 'dev', 'eth0']);
  }
}

describeRoot(`the firewall plugin end to end: 2 simulated hosts, real agents (prefix ${P})`, () => {
  beforeAll(async () => {
    lab = await Lab.start({ prefix: P, hosts: 2, resyncMs: 2_000, observeMs: OBSERVE_MS });
  }, 90_000);

  afterAll(async () => {
    expect(await shutdownLab(lab, P, 'firewall e2e')).toEqual({ problems: [], left: [] });
  }, 60_000);

  it('agents run the firewall plugin', async () => {
    const plugins = await theLab().agentPlugins();
    expect(plugins).toHaveLength(2);
    for (const list of plugins) expect(list).toContainEqual(expect.stringMatching(/^netloom\.firewall@/));
  });

  it('a. S lets TCP 80 in from A only (default DROP): CA answered, CB, port 81 and ping are not; replies pass; the rule counts, a rule that never matches stays 0', async () => {
    const l = theLab();
    world.a = await l.makeNetwork('a', A_CIDR);
    world.b = await l.makeNetwork('b', B_CIDR);
    const [a, b] = [world.a, world.b];
    const router = await l.write<{ status: StatusView[] }>(
      'Router',
      'create',
      { name: l.name('router'), hostId: l.hostId(1), interfaces: [{ subnetId: a.subnetId }, { subnetId: b.subnetId }] },
      `status { ${STATUS_FIELDS} }`,
    );
    expect(router.status).toEqual([expect.objectContaining({ state: 'APPLIED', hostId: l.hostId(1) })]);
    world.s = await l.makePort(a, 0, undefined, { labels: { app: 'web' } });
    world.ca = await l.makePort(a, 1);
    world.cb = await l.makePort(b, 0);
    const [s, ca, cb] = [world.s, world.ca, world.cb];
    await l.answerServer(s.ns, WEB, 'S80');
    await l.answerServer(s.ns, OTHER, 'S81');

    // Before any policy, everything reaches S.
    expect(await l.answerFrom(ca.ns, s.ip, WEB, 'S:80 from CA, no policy')).toBe('S80');
    expect(await l.answerFrom(cb.ns, s.ip, WEB, 'S:80 from CB through the router, no policy')).toBe('S80');
    expect(await l.answerFrom(ca.ns, s.ip, OTHER, 'S:81 from CA, no policy')).toBe('S81');
    await l.pingFrom(ca.ns, s.ip, 'S from CA, no policy');

    const policy = await writePolicy(
      'create',
      {
        name: `${P}-web`,
        selector: { labels: [{ key: 'app', value: 'web' }] },
        ingressDefault: 'DROP',
        rules: [ingress(10, 'ALLOW', 'TCP', [WEB], { cidrs: [A_CIDR] }), ingress(20, 'ALLOW', 'UDP', [53], { cidrs: [B_CIDR] })],
      },
      [0],
    );
    world.policy = policy;
    expect(policy).toMatchObject({ ingressDefault: 'DROP', selector: { portIds: [], networkIds: [], labels: [{ key: 'app', value: 'web' }] } });
    expect([null, 'ALLOW']).toContain(policy.egressDefault);
    expect(rulePairs(policy.rules)).toEqual([
      [10, 'ALLOW'],
      [20, 'ALLOW'],
    ]);
    expect(attr(policy.status, 'ports', l.hostId(0))).toBe('1');
    const { observed: before } = await observedWhen(policy.id, 0, (o) => o.ports === 1 && o.rules.length === 2, 'the policy observed on host 0');

    // CA (on A) is let in: five connections, five answers.
    expect(await askMany(ca.ns, s.ip, WEB, 5)).toEqual(Array(5).fill('S80'));
    // CB (on B, through the router) is not; nor CA on 81; nor a ping. Dropped: no answer at all.
    expect(await dropped(cb.ns, s.ip, WEB)).toBe('!timeout');
    expect(await dropped(ca.ns, s.ip, OTHER)).toBe('!timeout');
    expect(await noEcho(ca.ns, s.ip)).toBe(true);
    // S may go out (egress default ALLOW); the echo replies come back in as established traffic.
    expect(await ping(s.ns, ca.ip)).toBe(true);
    expect(await ping(s.ns, cb.ip)).toBe(true);

    // Each allowed connection's SYN is decided by rule 10 (the rest of it is established); rule 20 never matches.
    // Waited for in full (the egress default's count included): a reading between observations may have only part of it.
    const grown = (o: PolicyObserved): boolean =>
      ruleOf(o, 10).packets - ruleOf(before, 10).packets >= 5 &&
      defaultOf(o, 'INGRESS').packets - defaultOf(before, 'INGRESS').packets >= 4 &&
      defaultOf(o, 'EGRESS').packets - defaultOf(before, 'EGRESS').packets >= 2;
    const { observed: after, ms } = await observedWhen(policy.id, 0, grown, 'rule 10 to count 5 SYNs, the default 4 drops and the egress default 2 echo requests');
    await sleep(2 * OBSERVE_MS + 100);
    const settled = (await observedOn(policy.id, 0)) ?? after;
    const delta = (pick: (o: PolicyObserved) => Counted): string => `${pick(settled).packets - pick(before).packets} packets / ${pick(settled).bytes - pick(before).bytes} bytes`;
    note(
      `a: observed on host 0 (seen ${ms.toFixed(0)} ms after the traffic): rule 10 ALLOW TCP 80 from A +${delta((o) => ruleOf(o, 10))}; ` +
        `rule 20 ALLOW UDP 53 from B ${ruleOf(settled, 20).packets} packets; default INGRESS DROP +${delta((o) => defaultOf(o, 'INGRESS'))}; ` +
        `default EGRESS ALLOW +${delta((o) => defaultOf(o, 'EGRESS'))}`,
    );
    expect(settled.ports).toBe(1);
    expect(ruleOf(settled, 10)).toMatchObject({ direction: 'INGRESS', action: 'ALLOW' });
    expect(ruleOf(settled, 10).bytes).toBeGreaterThan(ruleOf(before, 10).bytes);
    expect(ruleOf(settled, 20)).toMatchObject({ direction: 'INGRESS', action: 'ALLOW', packets: 0, bytes: 0 });
    expect(defaultOf(settled, 'INGRESS').action).toBe('DROP');
    // S's two echo requests went out by the egress default.
    expect(defaultOf(settled, 'EGRESS')).toMatchObject({ action: 'ALLOW' });
    expect(defaultOf(settled, 'EGRESS').packets - defaultOf(before, 'EGRESS').packets).toBeGreaterThanOrEqual(2);
  });

  it('b. rules decide by priority: DROP A (10) before ALLOW 10.93.0.0/16 (20) blocks CA and lets CB in; swapping the priorities lets CA in', async () => {
    const [s, ca, cb, policy] = [need('s'), need('ca'), need('cb'), need('policy')];
    const dropA = (priority: number) => ingress(priority, 'DROP', 'TCP', [WEB], { cidrs: [A_CIDR] });
    const allowAll = (priority: number) => ingress(priority, 'ALLOW', 'TCP', [WEB], { cidrs: ['10.93.0.0/16'] });

    const first = await writePolicy('update', { id: policy.id, rules: [dropA(10), allowAll(20)] }, [0]);
    expect(first.generation).toBe(policy.generation + 1);
    expect(rulePairs(first.rules)).toEqual([
      [10, 'DROP'],
      [20, 'ALLOW'],
    ]);
    expect(await dropped(ca.ns, s.ip, WEB)).toBe('!timeout');
    expect(await askMany(cb.ns, s.ip, WEB, 1)).toEqual(['S80']);

    // The same two rules, priorities swapped.
    const swapped = await writePolicy('update', { id: policy.id, generation: first.generation, rules: [dropA(20), allowAll(10)] }, [0]);
    expect(rulePairs(swapped.rules)).toEqual([
      [10, 'ALLOW'],
      [20, 'DROP'],
    ]);
    expect(await askMany(ca.ns, s.ip, WEB, 1)).toEqual(['S80']);
    expect(await askMany(cb.ns, s.ip, WEB, 1)).toEqual(['S80']);
    // The observed rules follow the new order.
    const { observed, ms } = await observedWhen(policy.id, 0, (o) => JSON.stringify(rulePairs(o.rules)) === JSON.stringify([[10, 'ALLOW'], [20, 'DROP']]), 'the swapped rules observed');
    note(`b: after the swap, observed rules ${JSON.stringify(observed.rules)} (${ms.toFixed(0)} ms after the update returned)`);
    world.policy = swapped;
  });

  it('c. an address group by label: a new team=blue port (on B, and on A) gets in without the policy changing; CA (no label) does not', async () => {
    const l = theLab();
    const [a, b, s, ca, cb, policy] = [need('a'), need('b'), need('s'), need('ca'), need('cb'), need('policy')];
    const group = await l.write<{ id: string; generation: number; cidrs: string[]; status: StatusView[] }>(
      'AddressGroup',
      'create',
      { name: `${P}-blue`, cidrs: [], selector: { labels: [{ key: 'team', value: 'blue' }] } },
      `id generation cidrs status { ${STATUS_FIELDS} }`,
    );
    world.groupId = group.id;
    expect(group.cidrs).toEqual([]);
    const withGroup = await writePolicy('update', { id: policy.id, rules: [ingress(10, 'ALLOW', 'TCP', [WEB], { groups: [group.id] })] }, [0]);
    expect(withGroup.rules[0].remoteGroupIds).toEqual([group.id]);
    world.policy = withGroup;
    // The group holds no port yet: nobody gets in.
    expect(await dropped(ca.ns, s.ip, WEB)).toBe('!timeout');
    expect(await dropped(cb.ns, s.ip, WEB)).toBe('!timeout');

    const blueB = await l.makePort(b, 1, undefined, { labels: { team: 'blue' } });
    expect(await l.answerFrom(blueB.ns, s.ip, WEB, 'S:80 from a new team=blue port on B (host 1)')).toBe('S80');
    const blueA = await l.makePort(a, 0, undefined, { labels: { team: 'blue' } });
    expect(await l.answerFrom(blueA.ns, s.ip, WEB, 'S:80 from a new team=blue port on A (host 0, beside S)')).toBe('S80');
    // The policy was not touched; CA and CB, without the label, are still out.
    const now = await getPolicy(policy.id);
    expect(now.generation).toBe(withGroup.generation);
    expect(now.rules).toEqual(withGroup.rules);
    expect(await dropped(ca.ns, s.ip, WEB)).toBe('!timeout');
    expect(await dropped(cb.ns, s.ip, WEB)).toBe('!timeout');
    note(`c: team=blue ports ${blueB.ip} (B, host 1) and ${blueA.ip} (A, host 0) let in by the group; policy generation stayed ${now.generation}`);
  });

  it('d. no unfiltered window: a port created under a DROP policy never answers a continuous ping, from before it exists to 2 s after it is APPLIED; an unlabelled one does at once', async () => {
    const l = theLab();
    const guard = await writePolicy(
      'create',
      { name: `${P}-guard`, selector: { labels: [{ key: 'guarded', value: 'yes' }] }, ingressDefault: 'DROP', rules: [ingress(10, 'ALLOW', 'TCP', [22], { cidrs: [A_CIDR] })] },
      [],
    );
    world.guardId = guard.id;
    world.guarded = [];
    const watch = l.watchStatus(['Port']);
    try {
      await watch.connected;
      await sleep(200);
      for (const c of [
        { what: 'control (no label), host 1 (the prober’s)', host: 1, ip: '10.93.1.61', guarded: false },
        { what: 'guarded, host 1 (the prober’s)', host: 1, ip: '10.93.1.51', guarded: true },
        { what: 'guarded, host 0 (across the overlay)', host: 0, ip: '10.93.1.50', guarded: true },
        { what: 'control (no label), host 0', host: 0, ip: '10.93.1.60', guarded: false },
      ]) {
        await probeCreation(c, guard.id, watch);
      }
      expect(watch.errors).toEqual([]);
    } finally {
      await watch.stop();
    }
  });

  it('e. bad input is refused with a code and nothing written', async () => {
    const l = theLab();
    const policy = need('policy');
    const before = await getPolicy(policy.id);
    const base = { name: `${P}-bad`, selector: { labels: [{ key: 'app', value: 'web' }] } };
    const withRule = (rule: Record<string, unknown>): Record<string, unknown> => ({ ...base, rules: [{ ...ingress(10, 'ALLOW', 'TCP', [WEB], { cidrs: [A_CIDR] }), ...rule }] });
    const cases: [string, string, string, string, Record<string, unknown>][] = [
      ['a CIDR with host bits (10.0.0.1/24)', 'FirewallPolicy', CREATE, 'BAD_USER_INPUT', withRule({ remoteCidrs: ['10.0.0.1/24'] })],
      ['a CIDR that is no address (300.1.1.1/8)', 'FirewallPolicy', CREATE, 'BAD_USER_INPUT', withRule({ remoteCidrs: ['300.1.1.1/8'] })],
      ['a port range out of order (90-80)', 'FirewallPolicy', CREATE, 'BAD_USER_INPUT', withRule({ ports: [{ from: 90, to: 80 }] })],
      ['a port out of bounds (70000)', 'FirewallPolicy', CREATE, 'BAD_USER_INPUT', withRule({ ports: [{ from: 70000 }] })],
      ['port 0', 'FirewallPolicy', CREATE, 'BAD_USER_INPUT', withRule({ ports: [{ from: 0 }] })],
      ['an unknown protocol (SCTP)', 'FirewallPolicy', CREATE, 'BAD_USER_INPUT', withRule({ protocol: 'SCTP' })],
      ['an unknown action (ACCEPT)', 'FirewallPolicy', CREATE, 'BAD_USER_INPUT', withRule({ action: 'ACCEPT' })],
      ['ports with protocol ANY', 'FirewallPolicy', CREATE, 'BAD_USER_INPUT', withRule({ protocol: 'ANY' })],
      ['ICMP from an IPv6 CIDR', 'FirewallPolicy', CREATE, 'BAD_USER_INPUT', withRule({ protocol: 'ICMP', ports: [], remoteCidrs: ['2001:db8::/64'] })],
      ['a rule priority of 70000', 'FirewallPolicy', CREATE, 'BAD_USER_INPUT', withRule({ priority: 70000 })],
      ['a policy priority of -1', 'FirewallPolicy', CREATE, 'BAD_USER_INPUT', { ...withRule({}), priority: -1 }],
      [
        'two rules with priority 10',
        'FirewallPolicy',
        CREATE,
        'BAD_USER_INPUT',
        { ...base, rules: [ingress(10, 'ALLOW', 'TCP', [WEB], { cidrs: [A_CIDR] }), ingress(10, 'DROP', 'UDP', [53], {})] },
      ],
      ['an empty selector ({})', 'FirewallPolicy', CREATE, 'BAD_USER_INPUT', { ...withRule({}), selector: {} }],
      ['a selector of empty lists', 'FirewallPolicy', CREATE, 'BAD_USER_INPUT', { ...withRule({}), selector: { portIds: [], networkIds: [], labels: [] } }],
      ['an address group that does not exist', 'FirewallPolicy', CREATE, 'BAD_USER_INPUT', withRule({ remoteCidrs: [], remoteGroupIds: [need('s').id] })],
      ['update: a CIDR with host bits', 'FirewallPolicy', UPDATE, 'BAD_USER_INPUT', { id: policy.id, rules: [ingress(10, 'ALLOW', 'TCP', [WEB], { cidrs: ['10.93.1.7/24'] })] }],
      [
        'update: two rules with priority 5',
        'FirewallPolicy',
        UPDATE,
        'BAD_USER_INPUT',
        { id: policy.id, rules: [ingress(5, 'ALLOW', 'TCP', [WEB], {}), ingress(5, 'DROP', 'TCP', [OTHER], {})] },
      ],
      ['update: an empty selector', 'FirewallPolicy', UPDATE, 'BAD_USER_INPUT', { id: policy.id, selector: {} }],
      ['update: a stale generation', 'FirewallPolicy', UPDATE, 'CONFLICT', { id: policy.id, generation: policy.generation - 1, ingressDefault: 'ALLOW' }],
      ['an address group with a bad CIDR', 'AddressGroup', CREATE_GROUP, 'BAD_USER_INPUT', { name: `${P}-badgroup`, cidrs: ['10.93.1.0/33'] }],
      ['an address group with an empty selector', 'AddressGroup', CREATE_GROUP, 'BAD_USER_INPUT', { name: `${P}-badgroup`, cidrs: [], selector: {} }],
    ];
    const seen: string[] = [];
    for (const [what, kind, query, code, input] of cases) {
      const r = await l.refusal(kind, query, { input });
      seen.push(`${what} → ${r.code} (${r.field ?? 'no field'}: ${r.message})`);
      expect({ what, ...r }).toMatchObject({ what, code, message: expect.any(String), data: null, written: false });
    }
    note(`e: refused:\n    ${seen.join('\n    ')}`);
    // The policy is as it was.
    expect(await getPolicy(policy.id)).toEqual(before);
  });

  it('e2. the same input, valid, is accepted: a port range, REJECT, IPv4 and IPv6 remotes', async () => {
    const valid = await writePolicy(
      'create',
      {
        name: `${P}-valid`,
        selector: { portIds: [need('cb').id] },
        rules: [
          ingress(10, 'ALLOW', 'TCP', [], { cidrs: [A_CIDR, '2001:db8::/64'] }),
          { ...ingress(20, 'REJECT', 'UDP', [], { cidrs: ['10.93.1.0/25'] }), ports: [{ from: 8000, to: 8080 }] },
        ],
      },
      [0],
    );
    expect(valid.rules.map((r) => [r.remoteCidrs, r.ports])).toEqual([
      [[A_CIDR, '2001:db8::/64'], []],
      [['10.93.1.0/25'], [{ from: 8000, to: 8080 }]],
    ]);
    expect(await theLab().remove('FirewallPolicy', valid.id)).toEqual([valid.id]);
  });

  it('e3. a single remote host (10.93.1.5/32) is accepted, as in a security group rule', async () => {
    const l = theLab();
    const r = await l.refusal('FirewallPolicy', CREATE, {
      input: { name: `${P}-host`, selector: { portIds: [need('cb').id] }, rules: [ingress(10, 'ALLOW', 'TCP', [WEB], { cidrs: ['10.93.1.5/32'] })] },
    });
    if (r.data) await l.remove('FirewallPolicy', (r.data as { id: string }).id);
    expect({ code: r.code, message: r.message, written: r.written }).toEqual({ code: null, message: null, written: true });
  });

  it('f. deleting the policy lets CB reach S:80 and ping again; S keeps no table; the guard policy and group go too', async () => {
    const l = theLab();
    const [s, ca, cb, policy] = [need('s'), need('ca'), need('cb'), need('policy')];
    expect(await dropped(cb.ns, s.ip, OTHER)).toBe('!timeout');
    expect(await l.remove('FirewallPolicy', policy.id)).toEqual([policy.id]);
    expect(await l.answerFrom(cb.ns, s.ip, WEB, 'S:80 from CB after the delete')).toBe('S80');
    expect(await l.answerFrom(ca.ns, s.ip, OTHER, 'S:81 from CA after the delete')).toBe('S81');
    await l.pingFrom(cb.ns, s.ip, 'S from CB after the delete');
    await l.pingFrom(ca.ns, s.ip, 'S from CA after the delete');
    const tables = await netnsExec(s.ns, ['nft', 'list', 'tables']);
    expect({ code: tables.code, tables: tables.stdout.trim() }).toEqual({ code: 0, tables: '' });

    // The guarded ports, up all along behind their DROP, answer once their policy goes.
    const guardId = need('guardId');
    expect(await l.remove('FirewallPolicy', guardId)).toEqual([guardId]);
    for (const p of need('guarded')) await l.pingFrom(ca.ns, p.ip, `guarded port ${p.ip} after its policy was deleted`);
    expect(await l.remove('AddressGroup', need('groupId'))).toEqual([need('groupId')]);
    expect((await l.counts('FirewallPolicy')).count).toBe(0);
    expect((await l.counts('AddressGroup')).count).toBe(0);
  });
});
