/**
 * `netloom trace` end to end: one real controller and two simulated hosts with real agents
 * (libs/simhosts), the topology made through GraphQL, every trace run through the built CLI. Each
 * verdict is checked against what really happened: an allowed TCP flow across the two hosts
 * (DELIVERED, the hosts and the overlay named, then the firewall rule that allowed it), a
 * firewall drop naming the policy and rule, a path through a router with SNAT (router hop and NAT
 * named; the server really sees the SNAT address), a VIP naming the member whose counter moved
 * (two traces under round robin name both members), and bad input refused with an exit code and
 * no probe sent (the rule counter stays, where a good trace moves it).
 *
 * World: network A (10.94.1.0/24) with server S (host 0) answering on TCP 80 and 81, client CA
 * (host 1); network E (10.94.9.0/24) with X (host 0); router R on host 1 (leg on A, external
 * network E, SNAT); a load balancer on A (VIP 10.94.1.100:80 → M1 on host 0, M2 on host 1, port
 * 8080). The tests build on each other, in order. Every name carries a per-run prefix;
 * everything goes in afterAll, even on failure.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { countedRules } from '../apps/agent/src/probe';
import { runOk, waitFor } from './support/agent';
import { runCli, type CliRun } from './support/cli';
import { Lab, type Net, PEER_ADDRESS, type PortView, runPrefix, shutdownLab } from './support/plugin-e2e';

const describeRoot = process.getuid?.() === 0 ? describe : describe.skip;
jest.setTimeout(90_000);

const P = runPrefix('t');
const VIP = '10.94.1.100';
const A_NAME = `${P}-a`;
const E_NAME = `${P}-e`;

interface TraceJson {
  verdict: 'DELIVERED' | 'DROPPED' | 'NO_ANSWER';
  summary: string;
  address: string;
  target: string;
  hops: { kind: string; name: string; host: string | null; detail: string }[];
  probe: { ok: boolean; detail: string };
  rules: { policyName: string; rule: number | null; direction: string | null; action: string; packets: number; portName: string | null }[];
  member: { name: string; address: string; port: number } | null;
  attribution: string;
}

let lab: Lab | undefined;
const theLab = (): Lab => {
  if (!lab) throw new Error('no cluster');
  return lab;
};
const dir = mkdtempSync(join(tmpdir(), 'netloom-trace-e2e-'));
const config = join(dir, 'config.yaml');
const cli = (args: string[]): Promise<CliRun> => runCli(config, args);

const world: { a?: Net; e?: Net; s?: PortView; ca?: PortView; x?: PortView; hostNames?: string[]; policyName?: string; m1?: PortView; m2?: PortView; lbName?: string; routerId?: string } = {};
function need<K extends keyof typeof world>(key: K): NonNullable<(typeof world)[K]> {
  const value = world[key];
  if (!value) throw new Error(`${key} was not made: an earlier test failed`);
  return value;
}

/** `netloom trace … -o json`, its exit code and the parsed trace. */
async function trace(args: string[]): Promise<{ code: number; trace: TraceJson }> {
  const started = Date.now();
  const run = await cli(['trace', ...args, '-o', 'json']);
  // Measured, not asserted: the CLI process, the API, three rounds to the agents and the probe.
  theLab().notes.push(`trace ${args.join(' ')}: exit ${run.code} in ${Date.now() - started} ms`);
  if (!run.stdout.trim()) throw new Error(`trace ${args.join(' ')}: exit ${run.code}, no output: ${run.stderr}`);
  return { code: run.code, trace: JSON.parse(run.stdout) as TraceJson };
}

/** The source address `server` sees when `client` connects to it on TCP 80 (what NAT really did). */
async function sourceSeen(server: PortView, client: PortView): Promise<string> {
  const seen = await theLab().answerServer(server.ns, 80, PEER_ADDRESS);
  try {
    return await theLab().answerFrom(client.ns, server.ip, 80, `${server.name} from ${client.name}`);
  } finally {
    await seen.stop();
  }
}

/** Packets of the counted rules in a port's namespace and in its host's (the firewall's table is there), as the agent reads them. */
async function counters(ns: string, host: number): Promise<Record<string, number>> {
  const read = async (where: string) => countedRules(JSON.parse(await runOk('ip', ['netns', 'exec', where, 'nft', '-j', 'list', 'ruleset'])));
  const out = await read(ns);
  for (const [comment, n] of Object.entries(await read(theLab().cluster.sim.hosts[host].name))) out[comment] = (out[comment] ?? 0) + n;
  return out;
}

describeRoot(`netloom trace end to end: 2 simulated hosts, real agents (prefix ${P})`, () => {
  beforeAll(async () => {
    lab = await Lab.start({ prefix: P, hosts: 2, resyncMs: 2_000 });
    const l = lab;
    const token = join(dir, 'token');
    writeFileSync(token, l.api.adminToken, { mode: 0o600 });
    const login = await cli(['login', '--url', l.api.url, '--token-file', token, '--context', 'e2e']);
    expect(login.code).toBe(0);
    const { hosts } = await l.api.ok<{ hosts: { edges: { node: { id: string; name: string } }[] } }>('{ hosts { edges { node { id name } } } }');
    world.hostNames = l.cluster.hostIds.map((id) => hosts.edges.find((e) => e.node.id === id)!.node.name);
    world.a = await l.makeNetwork('a', '10.94.1.0/24', A_NAME);
    world.s = await l.makePort(world.a, 0);
    world.ca = await l.makePort(world.a, 1);
    // Stopped with every process of the run in afterAll.
    await l.answerServer(world.s.ns, 80, 'S80');
  }, 90_000);

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    expect(await shutdownLab(lab, P, 'trace e2e')).toEqual({ problems: [], left: [] });
  }, 60_000);

  it('1. an allowed TCP flow across two hosts: DELIVERED, the hosts and the overlay named; under a policy, the rule that allowed it', async () => {
    const [s, ca, [h0, h1]] = [need('s'), need('ca'), need('hostNames')];
    await theLab().answerFrom(ca.ns, s.ip, 80, 'S from CA');
    const open = await trace([ca.name, s.name, '--proto', 'tcp', '--port', '80']);
    expect(open.code).toBe(0);
    expect(open.trace).toMatchObject({ verdict: 'DELIVERED', address: s.ip, target: `port ${s.name}`, probe: { ok: true }, rules: [] });
    expect(open.trace.hops.map((h) => [h.kind, h.name, h.host])).toEqual([
      ['PORT', ca.name, h1],
      ['OVERLAY', A_NAME, null],
      ['PORT', s.name, h0],
    ]);
    expect(open.trace.hops[1].detail).toMatch(new RegExp(`^VXLAN VNI \\d+ from host ${h1} to host ${h0}$`));
    expect(open.trace.attribution).toMatch(/counter deltas/);

    // S takes only TCP 80 from A, drops TCP 81 by rule, and drops the rest by default.
    world.policyName = theLab().name('web');
    await theLab().write(
      'FirewallPolicy',
      'create',
      {
        name: world.policyName,
        selector: { portIds: [s.id] },
        ingressDefault: 'DROP',
        rules: [
          { priority: 10, direction: 'INGRESS', protocol: 'TCP', ports: [{ from: 80 }], remoteCidrs: ['10.94.1.0/24'], action: 'ALLOW' },
          { priority: 20, direction: 'INGRESS', protocol: 'TCP', ports: [{ from: 81 }], action: 'DROP' },
        ],
      },
      'id',
    );
    const allowed = await trace([ca.name, s.name, '--proto', 'tcp', '--port', '80']);
    expect(allowed.code).toBe(0);
    expect(allowed.trace.verdict).toBe('DELIVERED');
    expect(allowed.trace.rules).toEqual([expect.objectContaining({ policyName: world.policyName, rule: 10, action: 'ALLOW', portName: s.name })]);
    expect(allowed.trace.summary).toContain(`allowed by policy ${world.policyName} rule 10 (ALLOW)`);
    // The human form says the same.
    const text = await cli(['trace', ca.name, s.name, '--proto', 'tcp', '--port', '80']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`OVERLAY       ${A_NAME}: VXLAN VNI`);
    expect(text.stdout).toContain(`firewall: policy ${world.policyName} rule 10 ALLOW`);
    expect(text.stdout).toContain('verdict: DELIVERED');
    theLab().notes.push(`netloom trace ${ca.name} ${s.name} --proto tcp --port 80:\n${text.stdout}`);
  });

  it('2. a firewall drop: DROPPED, naming the policy and the rule (exit 1); the default named for what no rule matches', async () => {
    const [s, ca] = [need('s'), need('ca')];
    const dropped = await trace([ca.name, s.name, '--proto', 'tcp', '--port', '81', '--timeout', '1000']);
    expect(dropped.code).toBe(1);
    expect(dropped.trace).toMatchObject({ verdict: 'DROPPED', probe: { ok: false, detail: 'timeout' } });
    expect(dropped.trace.rules[0]).toMatchObject({ policyName: world.policyName, rule: 20, action: 'DROP', portName: s.name });
    expect(dropped.trace.summary).toMatch(new RegExp(`^dropped by policy ${need('policyName')} rule 20 \\(DROP\\) at port ${s.name}`));
    const icmp = await trace([ca.name, s.ip]);
    expect(icmp.code).toBe(1);
    expect(icmp.trace.verdict).toBe('DROPPED');
    expect(icmp.trace.rules[0]).toMatchObject({ policyName: world.policyName, rule: null, direction: 'INGRESS', action: 'DROP' });
  });

  it('3. through a router with SNAT: the router hop and the SNAT address named, and the server really sees that address', async () => {
    const l = theLab();
    const [ca, a, [, h1]] = [need('ca'), need('a'), need('hostNames')];
    world.e = await l.makeNetwork('e', '10.94.9.0/24', E_NAME);
    world.x = await l.makePort(world.e, 0, '10.94.9.100');
    const x = world.x;
    const routerName = l.name('r');
    world.routerId = (await l.write<{ id: string }>('Router', 'create', { name: routerName, hostId: l.hostId(1), interfaces: [{ subnetId: a.subnetId }], externalNetworkId: world.e.networkId, externalAddress: '10.94.9.10' }, 'id')).id;
    expect(await sourceSeen(x, ca)).toBe('10.94.9.10');
    const routed = await trace([ca.name, x.name]);
    expect(routed.code).toBe(0);
    expect(routed.trace.verdict).toBe('DELIVERED');
    expect(routed.trace.hops.map((h) => h.kind)).toEqual(['PORT', 'BRIDGE', 'ROUTER', 'NAT', 'OVERLAY', 'PORT']);
    expect(routed.trace.hops[2]).toMatchObject({ name: routerName, host: h1, detail: `routes from network ${A_NAME} to network ${E_NAME} (its external network)` });
    expect(routed.trace.hops[3]).toMatchObject({ kind: 'NAT', detail: `SNAT: ${ca.ip} leaves as 10.94.9.10` });
    theLab().notes.push(`netloom trace ${ca.name} ${x.name}:\n${(await cli(['trace', ca.name, x.name])).stdout}`);
  });

  it('3b. a floating IP: leaving, the port is seen as it (named, and seen so by the server); towards it from outside, DNAT to the port', async () => {
    const l = theLab();
    const [ca, x, routerId] = [need('ca'), need('x'), need('routerId')];
    await l.write('Router', 'update', { id: routerId, floatingIps: [{ portId: ca.id, address: '10.94.9.50' }] }, 'id');
    expect(await sourceSeen(x, ca)).toBe('10.94.9.50');
    const out = await trace([ca.name, x.name]);
    expect(out.code).toBe(0);
    expect(out.trace.hops.find((h) => h.kind === 'NAT')?.detail).toBe(`floating IP: ${ca.ip} is seen as 10.94.9.50 (1:1 NAT)`);
    const inward = await trace([x.name, '10.94.9.50']);
    expect(inward.code).toBe(0);
    expect(inward.trace).toMatchObject({ verdict: 'DELIVERED', target: `floating IP of port ${ca.name}` });
    expect(inward.trace.hops.map((h) => h.kind)).toEqual(['PORT', 'OVERLAY', 'ROUTER', 'NAT', 'BRIDGE', 'PORT']);
    expect(inward.trace.hops[3].detail).toBe(`DNAT: floating IP 10.94.9.50 to ${ca.name} (${ca.ip})`);
  });

  it('4. through a VIP: the load balancer and the member chosen, named from its counter (round robin: two traces, both members)', async () => {
    const l = theLab();
    const [ca, a] = [need('ca'), need('a')];
    world.m1 = await l.makePort(a, 0);
    world.m2 = await l.makePort(a, 1);
    const servers = [await l.answerServer(world.m1.ns, 8080, 'm1'), await l.answerServer(world.m2.ns, 8080, 'm2')];
    world.lbName = l.name('lb');
    const members = [
      { name: 'm1', portId: world.m1.id, port: 8080 },
      { name: 'm2', portId: world.m2.id, port: 8080 },
    ];
    await l.write('LoadBalancer', 'create', { name: world.lbName, subnetId: a.subnetId, vipAddress: VIP, listeners: [{ protocol: 'TCP', port: 80, pool: { algorithm: 'ROUND_ROBIN', members } }] }, 'id');
    try {
      await l.answerFrom(ca.ns, VIP, 80, 'the VIP from CA');
      const first = await trace([ca.name, world.lbName, '--proto', 'tcp', '--port', '80']);
      const second = await trace([ca.name, VIP, '--proto', 'tcp', '--port', '80']);
      for (const t of [first, second]) {
        expect(t.code).toBe(0);
        expect(t.trace).toMatchObject({ verdict: 'DELIVERED', address: VIP, target: `load balancer ${world.lbName} (VIP)` });
        expect(t.trace.hops.find((h) => h.kind === 'LOAD_BALANCER')?.detail).toMatch(/DNAT to one of m1 \(.+\), m2 \(.+\)$/);
        expect(t.trace.summary).toContain(`load balancer ${world.lbName} chose member ${t.trace.member?.name}`);
      }
      expect([first.trace.member?.name, second.trace.member?.name].sort()).toEqual(['m1', 'm2']);
      expect(first.trace.member).toMatchObject({ address: first.trace.member?.name === 'm1' ? world.m1.ip : world.m2.ip, port: 8080 });
    } finally {
      for (const server of servers) await server.stop();
    }
  });

  it('5. bad input: exit 2 with the reason, a GraphQL code, and no probe sent, nor for a viewer (the rule counter moves only for a good trace)', async () => {
    const [s, ca] = [need('s'), need('ca')];
    const allowCounter = `netloom fw`;
    const allowed = async (): Promise<number> =>
      Object.entries(await counters(s.ns, 0))
        .filter(([comment]) => comment.startsWith(allowCounter) && comment.endsWith(' 10 ALLOW'))
        .reduce((sum, [, n]) => sum + n, 0);
    const before = await allowed();

    const unknown = await cli(['trace', ca.name, `${P}-nope`, '--proto', 'tcp', '--port', '80']);
    expect(unknown).toMatchObject({ code: 2, stdout: '' });
    expect(unknown.stderr).toContain(`"${P}-nope" is neither a port, an IP address nor a load balancer`);
    const badPort = await cli(['trace', ca.name, s.name, '--proto', 'tcp', '--port', '70000']);
    expect(badPort).toMatchObject({ code: 2, stdout: '' });
    expect(badPort.stderr).toContain('--port 70000: expected 1-65535');

    const gql = (input: Record<string, unknown>) => theLab().api.gql('mutation($input: TraceInput!) { trace(input: $input) { verdict } }', { input });
    const codes = await Promise.all([
      gql({ fromPortId: ca.id, toPortId: s.id, protocol: 'TCP' }),
      gql({ fromPortId: ca.id, toPortId: s.id, protocol: 'TCP', port: 80, timeoutMs: 50 }),
      gql({ fromPortId: ca.id, toPortId: '00000000-0000-0000-0000-000000000000', protocol: 'TCP', port: 80 }),
      gql({ fromPortId: ca.id, toPortId: s.id, toAddress: s.ip, protocol: 'TCP', port: 80 }),
    ]);
    expect(codes.map((r) => [r.errors?.[0]?.extensions?.code, r.errors?.[0]?.extensions?.field])).toEqual([
      ['BAD_USER_INPUT', 'input.port'],
      ['BAD_USER_INPUT', 'input.timeoutMs'],
      ['NOT_FOUND', 'input.toPortId'],
      ['BAD_USER_INPUT', 'input'],
    ]);
    // A viewer may not send probes.
    const viewer = (await theLab().api.ok<{ createApiToken: { secret: string } }>(`mutation { createApiToken(input: { name: "${P}-viewer", role: VIEWER }) { secret } }`)).createApiToken.secret;
    const asViewer = await theLab().api.gql('mutation($input: TraceInput!) { trace(input: $input) { verdict } }', { input: { fromPortId: ca.id, toPortId: s.id, protocol: 'TCP', port: 80 } }, viewer);
    expect(asViewer.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(await allowed()).toBe(before);
    // The same trace with good input does move it: the counter would have shown a probe.
    expect((await trace([ca.name, s.name, '--proto', 'tcp', '--port', '80'])).code).toBe(0);
    expect(await allowed()).toBeGreaterThan(before);
  });

  it('6. an agent killed (kill -9): a trace from its host is refused (exit 2); a trace to it still probes and says which counters were not read', async () => {
    const l = theLab();
    const [s, ca, [h0]] = [need('s'), need('ca'), need('hostNames')];
    await l.cluster.agents[0].kill9();
    await waitFor(
      async () => {
        const { host } = await l.api.ok<{ host: { agent: { state: string } | null } }>('query($id: ID) { host(id: $id) { agent { state } } }', { id: l.hostId(0) });
        return host.agent?.state !== 'CONNECTED';
      },
      15_000,
      100,
      "the controller to see host 0's agent gone",
    );
    const from = await cli(['trace', s.name, ca.name]);
    expect(from).toMatchObject({ code: 2, stdout: '' });
    expect(from.stderr).toContain(`the agent of host ${h0} is not connected (UNAVAILABLE)`);

    const to = await trace([ca.name, s.name, '--proto', 'tcp', '--port', '80']);
    expect(to.code).toBe(0);
    expect(to.trace.verdict).toBe('DELIVERED');
    expect(to.trace.rules).toEqual([]);
    expect(to.trace.summary).toContain(`counters not read: ${s.name} on host ${h0}: the agent of host ${h0} is not connected`);
  });
});
