/**
 * Load balancer figures (prints them; never fails on timing). Run as root: `npm run bench:lb`.
 * 1. 10 LoadBalancers × 3 members (ports made beforehand) created at once → time until every one
 *    is APPLIED on its hosts (DISTRIBUTED: every host; APPLIANCE: its one host): (a) 10 concurrent
 *    createLoadBalancer(wait: true); (b) 10 created back to back without waiting, then polled; (c)
 *    the 10 in one createLoadBalancers(wait: true), one transaction (as OVN's figure: ten lb-add in
 *    one ovn-nbctl call); DISTRIBUTED, (d) the same with one load balancer already on the network
 *    (its responders and routing in place, as for every VIP but a network's first). 3 rounds each
 *    (deleted in between), in each mode, with what the agents' passes took. For scale: one
 *    LoadBalancer alone with wait: true.
 * 2. One TCP stream (iperf3, 5 s, 3 runs) from a client through the VIP to a member, against the
 *    same client straight to the same member; with the client on the other host, and on the same;
 *    in each mode.
 * 3. One DISTRIBUTED LoadBalancer added with 9 present (10 runs) → APPLIED on both hosts, and
 *    where its time goes (trace lines of the controller and the agents, `NETLOOM_TRACE=1`).
 * Everything lives in namespaces with a per-run prefix and is removed at the end.
 */
import { parseTrace, traceNow } from '@netloom/protocol';
import { netnsExec } from '../test/support/agent';
import { breakdownLines, type TracedRun } from './breakdown';
import { Lab, msSince, type Net, type PortView, runPrefix, shutdownLab } from '../test/support/plugin-e2e';

const LBS = 10;
const MEMBERS = 3;
const ROUNDS = 3;
const IPERF_PORT = 5201;
const IPERF_SECONDS = 5;
const IPERF_RUNS = 3;
/** ovn-nbctl lb-add × 10 (3 backends each) in one call with --wait=hv, measured on this kind of machine: 23–40 ms. */
const OVN_MS = { from: 23, to: 40, measured: '2026-12-02' };
/** Goal (issue 14): 10 VIPs × 3 members APPLIED on each host within this many ms. */
const GOAL_MS = 30;
const MODES = ['DISTRIBUTED', 'APPLIANCE'] as const;
const TRACED_RUNS = 10;
type Mode = (typeof MODES)[number];

const prefix = runPrefix('b');
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const list = (values: number[], digits = 0): string => values.map((v) => v.toFixed(digits)).join(', ');

interface LbOut {
  id: string;
  generation: number;
  status: { state: string; generation: number; reason: string | null }[];
}
const LB_OUT = 'id generation status { state generation reason }';
/** Applied at its generation on every host it runs on (DISTRIBUTED: all `hosts`; APPLIANCE: one). */
const isApplied = (lb: LbOut, mode: Mode, hosts: number): boolean =>
  lb.status.length === (mode === 'DISTRIBUTED' ? hosts : 1) && lb.status.every((s) => s.state === 'APPLIED' && s.generation === lb.generation);

const lbInput = (net: Net, name: string, members: { id: string }[], port: number, mode: Mode, hostId?: string): Record<string, unknown> => ({
  name,
  subnetId: net.subnetId,
  mode,
  ...(hostId ? { hostId } : {}),
  listeners: [{ protocol: 'TCP', port, pool: { algorithm: 'ROUND_ROBIN', members: members.map((m, i) => ({ name: `m${i}`, portId: m.id, port })) } }],
});

async function deleteAll(lab: Lab, ids: string[]): Promise<void> {
  await Promise.all(ids.map((id) => lab.remove('LoadBalancer', id)));
}

/** The milliseconds of each agent's reconcile passes logged from line `marks[i]` on, per host. */
const passMs = (lab: Lab, marks: number[]): number[][] =>
  lab.cluster.agents.map((a, i) => a.lines.slice(marks[i]).flatMap((l) => /reconciled revision \d+ in (\d+) ms/.exec(l)?.[1] ?? []).map(Number));
const sum = (values: number[]): number => values.reduce((x, y) => x + y, 0);

/** The agents' reconcile passes logged from line `marks[i]` on: how many, and their milliseconds added up, per host. */
function passes(lab: Lab, marks: number[]): string {
  return passMs(lab, marks)
    .map((ms, i) => `host ${i} ${ms.length} passes, ${sum(ms)} ms`)
    .join('; ');
}

/** Part 1: returns the times (ms) of each round, for both ways of creating, and of single load balancers. */
async function createMany(
  lab: Lab,
  net: Net,
  members: { id: string }[][],
  mode: Mode,
): Promise<{
  waited: number[];
  polled: number[];
  batched: number[];
  batchHosts: number[];
  warm: number[];
  warmHosts: number[];
  single: number[];
  agents: string;
  batchAgents: string;
  batchBreakdown: string[];
}> {
  const hosts = lab.cluster.agents.length;
  const batchRuns: TracedRun[] = [];
  const controllerFrom = lab.cluster.controller.output.length;
  const agentsFrom = lab.cluster.agents.map((a) => a.lines.length);
  let agents = '';
  let batchAgents = '';
  const waited: number[] = [];
  const polled: number[] = [];
  const batched: number[] = [];
  /** Per round of (c): the work of the busiest host (its passes added up). */
  const batchHosts: number[] = [];
  /** (d), DISTRIBUTED: end to end, and the busiest host's work. */
  const warm: number[] = [];
  const warmHosts: number[] = [];
  const single: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const start1 = process.hrtime.bigint();
    const one = await lab.write<LbOut>('LoadBalancer', 'create', lbInput(net, `s${round}`, members[round], 80, mode), LB_OUT);
    single.push(msSince(start1));
    if (!isApplied(one, mode, hosts)) throw new Error(`not APPLIED after wait: ${JSON.stringify(one.status)}`);
    await lab.remove('LoadBalancer', one.id);

    // (a) all at once, each with wait: true.
    const marks = lab.cluster.agents.map((a) => a.lines.length);
    let start = process.hrtime.bigint();
    const made = await Promise.all(members.map((m, i) => lab.write<LbOut>('LoadBalancer', 'create', lbInput(net, `w${round}-${i}`, m, 80, mode), LB_OUT)));
    waited.push(msSince(start));
    if (round === 0) agents = passes(lab, marks);
    if (!made.every((m) => isApplied(m, mode, hosts))) throw new Error(`not all APPLIED after wait: ${JSON.stringify(made.map((m) => m.status))}`);
    await deleteAll(lab, made.map((m) => m.id));

    // (b) back to back without waiting, then poll until every one is APPLIED at its generation.
    start = process.hrtime.bigint();
    const ids: string[] = [];
    for (const [i, m] of members.entries()) {
      const { createLoadBalancer } = await lab.api.ok<{ createLoadBalancer: { id: string } }>(
        'mutation($input: CreateLoadBalancerInput!) { createLoadBalancer(input: $input) { id } }',
        { input: lbInput(net, `p${round}-${i}`, m, 80, mode) },
      );
      ids.push(createLoadBalancer.id);
    }
    for (;;) {
      const { loadBalancers } = await lab.api.ok<{ loadBalancers: { edges: { node: LbOut }[] } }>(`{ loadBalancers(first: 100) { edges { node { ${LB_OUT} } } } }`);
      const nodes = loadBalancers.edges.map((e) => e.node).filter((n) => ids.includes(n.id));
      if (nodes.length === ids.length && nodes.every((n) => isApplied(n, mode, hosts))) break;
      const failed = nodes.flatMap((n) => n.status).find((s) => s.state === 'FAILED');
      if (failed) throw new Error(`a load balancer FAILED: ${failed.reason}`);
      if (msSince(start) > 60_000) throw new Error('not all APPLIED within 60 s');
      await new Promise((r) => setTimeout(r, 5));
    }
    polled.push(msSince(start));
    await deleteAll(lab, ids);

    // (c) in one transaction, on a network without a load balancer (its responders and routing made by this call).
    const c = await inOneCall(`c${round}`);
    batched.push(c.ms);
    batchRuns.push(c.run);
    if (round === 0) batchAgents = c.passes;
    batchHosts.push(c.busiest);
    // (d) DISTRIBUTED: the same with one load balancer already on the network (its responders and routing in place).
    if (mode === 'DISTRIBUTED') {
      const keeper = await lab.write<LbOut>('LoadBalancer', 'create', lbInput(net, `k${round}`, members[0], 81, mode), LB_OUT);
      const d = await inOneCall(`d${round}`);
      warm.push(d.ms);
      warmHosts.push(d.busiest);
      await lab.remove('LoadBalancer', keeper.id);
    }
  }
  /** The ten in one createLoadBalancers(wait: true), checked and deleted: its time, trace window, the agents' passes, and the busiest host's. */
  async function inOneCall(name: string): Promise<{ ms: number; run: TracedRun; passes: string; busiest: number }> {
    const marks = lab.cluster.agents.map((a) => a.lines.length);
    const from = traceNow();
    const start = process.hrtime.bigint();
    const { createLoadBalancers } = await lab.api.ok<{ createLoadBalancers: LbOut[] }>(
      `mutation($inputs: [CreateLoadBalancerInput!]!) { createLoadBalancers(inputs: $inputs, wait: true) { ${LB_OUT} } }`,
      { inputs: members.map((m, i) => lbInput(net, `${name}-${i}`, m, 80, mode)) },
    );
    const ms = msSince(start);
    const run = { from, to: traceNow() };
    // Read before the deletes add their passes.
    const busiest = Math.max(...passMs(lab, marks).map(sum));
    const made = passes(lab, marks);
    if (!createLoadBalancers.every((m) => isApplied(m, mode, hosts))) throw new Error(`not all APPLIED after wait: ${JSON.stringify(createLoadBalancers.map((m) => m.status))}`);
    await deleteAll(lab, createLoadBalancers.map((m) => m.id));
    return { ms, run, passes: made, busiest };
  }
  const agentTraces = lab.cluster.agents.map((a, i) => parseTrace(a.lines.slice(agentsFrom[i]).join('\n')));
  const batchBreakdown = breakdownLines(batchRuns, parseTrace(lab.cluster.controller.output.slice(controllerFrom).join('')), agentTraces);
  return { waited, polled, batched, batchHosts, warm, warmHosts, single, agents, batchAgents, batchBreakdown };
}

/** One iperf3 run of IPERF_SECONDS from `client` to `target`: Gbit/s received. */
async function iperf(client: PortView, target: string): Promise<number> {
  const r = await netnsExec(
    client.ns,
    ['iperf3', '-c', target, '-p', String(IPERF_PORT), '-t', String(IPERF_SECONDS), '-J', '--connect-timeout', '3000'],
    (IPERF_SECONDS + 15) * 1_000,
  );
  if (r.code !== 0) throw new Error(`iperf3 to ${target} exited ${r.code}: ${r.stdout.slice(0, 400)} ${r.stderr.trim()}`);
  const report = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
  return report.end.sum_received.bits_per_second / 1e9;
}

/** Part 2 for one client: alternating runs through the VIP and straight to the member. */
async function throughput(client: PortView, vip: string, member: PortView): Promise<{ vip: number[]; direct: number[] }> {
  const out = { vip: [] as number[], direct: [] as number[] };
  for (let run = 0; run < IPERF_RUNS; run++) {
    out.vip.push(await iperf(client, vip));
    out.direct.push(await iperf(client, member.ip));
  }
  return out;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark creates namespaces');
  let lab: Lab | undefined;
  // The controller and the agents inherit it: one stderr line per phase of each change.
  process.env.NETLOOM_TRACE = '1';
  try {
    lab = await Lab.start({ prefix, hosts: 2 });
    say(`NetLoom load balancer benchmark (2 simulated hosts, prefix ${prefix}, this machine)`);
    const net = await lab.makeNetwork('bench', '10.93.0.0/22');
    const inputs = Array.from({ length: LBS * MEMBERS }, (_, i) => ({ name: `member-${i}`, networkId: net.networkId, hostId: lab!.hostId(i % 2) }));
    const { createPorts } = await lab.api.ok<{ createPorts: { id: string }[] }>(
      'mutation($p: [CreatePortInput!]!) { createPorts(wait: true, inputs: $p) { id } }',
      { p: inputs },
    );
    const members = Array.from({ length: LBS }, (_, i) => createPorts.slice(i * MEMBERS, (i + 1) * MEMBERS));

    say(`1. ${LBS} LoadBalancers × ${MEMBERS} members (ports made beforehand, on both hosts), created at once → all APPLIED:`);
    for (const mode of MODES) {
      const { waited, polled, batched, batchHosts, warm, warmHosts, single, agents, batchAgents, batchBreakdown } = await createMany(lab, net, members, mode);
      say(`   ${mode}${mode === 'DISTRIBUTED' ? ' (on both hosts)' : ' (one host each, spread)'}:`);
      say(`   a) ${LBS} concurrent createLoadBalancer(wait: true):          ${list(waited)} ms (median ${median(waited).toFixed(0)} ms)`);
      say(`   b) ${LBS} back to back without wait, then polled (5 ms):        ${list(polled)} ms (median ${median(polled).toFixed(0)} ms)`);
      say(`      the agents' passes meanwhile (first round of a): ${agents}`);
      const c = median(batched);
      const h = median(batchHosts);
      say(`   c) the ${LBS} in one createLoadBalancers(wait: true):            ${list(batched)} ms (median ${c.toFixed(0)} ms, end to end as OVN's figure)`);
      say(`      the agents' passes meanwhile (first round of c): ${batchAgents}; the busiest host's passes in each round: ${list(batchHosts)} ms`);
      say(`      goal ≤ ${GOAL_MS} ms on each host: each host's work (median ${h.toFixed(0)} ms) ${h <= GOAL_MS ? 'met' : 'NOT met'}; end to end (median ${c.toFixed(0)} ms) ${c <= GOAL_MS ? 'met' : 'NOT met'}`);
      for (const line of batchBreakdown) say(`   ${line}`);
      if (warm.length) {
        say(`   d) the same with one load balancer already on the network:   ${list(warm)} ms (median ${median(warm).toFixed(0)} ms end to end)`);
        say(`      the busiest host's passes in each round: ${list(warmHosts)} ms (median ${median(warmHosts).toFixed(0)} ms: goal ≤ ${GOAL_MS} ms on each host ${median(warmHosts) <= GOAL_MS ? 'met' : 'NOT met'})`);
      }
      say(`   for scale, one LoadBalancer alone with wait: true:            ${list(single)} ms (median ${median(single).toFixed(0)} ms)`);
      say(
        `   OVN, same shape, ovn-nbctl --wait=hv on this kind of machine (measured ${OVN_MS.measured}): ${OVN_MS.from}–${OVN_MS.to} ms → NetLoom (c) is ${(c / OVN_MS.to).toFixed(1)}–${(c / OVN_MS.from).toFixed(1)}× that`,
      );
    }

    // Part 2: one member (host 0) running iperf3, one load balancer beside it, a client on each host.
    const member = await lab.makePort(net, 0);
    const far = await lab.makePort(net, 1);
    const near = await lab.makePort(net, 0);
    const server = lab.spawnIn(member.ns, ['iperf3', '-s', '-p', String(IPERF_PORT)]);
    await lab.listening(server, member.ns, IPERF_PORT, 'iperf3 -s');
    say(`2. one TCP stream, iperf3 ${IPERF_SECONDS} s × ${IPERF_RUNS} (Gbit/s), the member on host 0 (an APPLIANCE there too):`);
    // APPLIANCE first: its VIP may be the address the other had, and its leg's gratuitous ARP
    // reaches the clients on its host only (the VXLAN device answers ARP itself and forwards
    // none), so the client on host 1 would lose a cached responder's MAC until its entry times out.
    for (const mode of [...MODES].reverse()) {
      const lb = await lab.write<LbOut & { vipAddress: string }>(
        'LoadBalancer',
        'create',
        lbInput(net, `iperf-${mode.toLowerCase()}`, [member], IPERF_PORT, mode, mode === 'APPLIANCE' ? lab.hostId(0) : undefined),
        `${LB_OUT} vipAddress`,
      );
      if (!isApplied(lb, mode, lab.cluster.agents.length)) throw new Error(`the iperf load balancer is not APPLIED: ${JSON.stringify(lb.status)}`);
      for (const [label, client] of [
        ['client on host 1 (VXLAN)', far],
        ['client on host 0        ', near],
      ] as const) {
        const r = await throughput(client, lb.vipAddress, member);
        say(`   ${mode.padEnd(11)} ${label}: through the VIP ${list(r.vip, 2)}; straight to the member ${list(r.direct, 2)}; ratio VIP/straight ${(median(r.vip) / median(r.direct)).toFixed(2)} (medians)`);
      }
      await lab.remove('LoadBalancer', lb.id);
    }
    await server.stop();

    // Part 3: one more with nine in place, traced.
    const present = await Promise.all(members.slice(0, LBS - 1).map((m, i) => lab!.write<LbOut>('LoadBalancer', 'create', lbInput(net, `present-${i}`, m, 80, 'DISTRIBUTED'), LB_OUT)));
    const hosts = lab.cluster.agents.length;
    const times: number[] = [];
    const runs: TracedRun[] = [];
    const controllerFrom = lab.cluster.controller.output.length;
    const agentsFrom = lab.cluster.agents.map((a) => a.lines.length);
    for (let i = 0; i < TRACED_RUNS; i++) {
      const from = traceNow();
      const start = process.hrtime.bigint();
      const one = await lab.write<LbOut>('LoadBalancer', 'create', lbInput(net, `traced-${i}`, members[LBS - 1], 80, 'DISTRIBUTED'), LB_OUT);
      times.push(msSince(start));
      runs.push({ from, to: traceNow() });
      if (!isApplied(one, 'DISTRIBUTED', hosts)) throw new Error(`not APPLIED after wait: ${JSON.stringify(one.status)}`);
      await lab.remove('LoadBalancer', one.id);
    }
    say(`3. one DISTRIBUTED LoadBalancer added with ${LBS - 1} present → APPLIED on both hosts (${TRACED_RUNS} runs): ${list(times)} ms (median ${median(times).toFixed(0)} ms); where the time goes:`);
    const agentTraces = lab.cluster.agents.map((a, i) => parseTrace(a.lines.slice(agentsFrom[i]).join('\n')));
    for (const line of breakdownLines(runs, parseTrace(lab.cluster.controller.output.slice(controllerFrom).join('')), agentTraces)) say(`   ${line}`);
    await deleteAll(lab, present.map((l) => l.id));
  } finally {
    const { problems, left } = await shutdownLab(lab, prefix, 'load balancer bench');
    if (problems.length || left.length) say(`cleanup: ${JSON.stringify({ problems, left })}`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
