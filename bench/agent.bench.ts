/**
 * Issue 3 figures (prints them; never fails on timing). Run as root: `npm run bench:agent`.
 * 1. 500 ports in one bulk mutation → all APPLIED on one host, next to the same kernel objects
 *    made by plain `ip -batch` (one root batch + one per namespace, 8 at a time) in the same run.
 * 2. One port → APPLIED with 1000 ports present: p50 / p99 over 50 runs, and where the time goes
 *    (the controller's and the agent's trace lines, `NETLOOM_TRACE=1`, which this benchmark sets).
 * 3. A no-op resync with 1000 ports: time and count of mutating commands.
 * 4. One read of every port's counters with those ports present (issue 14): median and p99 of
 *    20 reads, the commands one read runs, and the size of a full `port-counters` message.
 * Everything is named with a per-run prefix and removed at the end, also on failure.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandRunner, IpBatch, Linux } from '@netloom/linux';
import { Names } from '@netloom/planner';
import { SentCounters } from '../apps/agent/src/port-counters';
import { Reconciler } from '../apps/agent/src/reconciler';
import { StateStore } from '../apps/agent/src/state-store';
import { parseTrace, traceNow } from '@netloom/protocol';
import { ControllerProcess, dist } from '@netloom/simhosts';
import { breakdownLines, TracedRun } from './breakdown';
import { kernelDoor, load, ovn500 } from './reference';

const AGENT = dist('apps/agent/src/main.js');
const rand = (): string => Math.random().toString(36).slice(2, 5);
const prefix = `b${rand()}`;
const basePrefix = `c${rand()}`;
const linux = new Linux();
const ms = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e6;
const pct = (values: number[], p: number): number => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))];
const say = (line: string): void => void process.stdout.write(`${line}\n`);

async function removeByPrefix(p: string): Promise<void> {
  const root = new IpBatch();
  for (const ns of await linux.netnsList()) if (ns.startsWith(`${p}-`)) root.netnsDel(ns);
  await linux.applyIpBatch(root);
  const links = new IpBatch();
  for (const l of await linux.links()) if (new RegExp(`^${p}[bv][0-9a-f]{8}$`).test(l.ifname)) links.linkDel(l.ifname);
  await linux.applyIpBatch(links);
  // The agent's port-security table, when it was stopped with ports still there.
  if (await linux.nftTable('bridge', `${p}_portsec`)) await linux.nftApply(`delete table bridge ${p}_portsec\n`);
}

/** The same objects as 500 ports, made directly: the floor the agent is compared to. */
async function baseline(count: number): Promise<number> {
  const start = process.hrtime.bigint();
  const root = new IpBatch();
  const bridge = `${basePrefix}b00000000`;
  root.bridgeAdd(bridge, { mtu: 1450 });
  root.linkSet(bridge, { addrgenmode: 'none' });
  root.linkSet(bridge, { up: true });
  const inside: IpBatch[] = [];
  for (let i = 0; i < count; i++) {
    const ns = `${basePrefix}-x-${i}`;
    const veth = `${basePrefix}v${i.toString(16).padStart(8, '0')}`;
    root.netnsAdd(ns);
    root.vethAdd(veth, { master: bridge, mtu: 1450, peer: 'eth0', peerNetns: ns });
    root.linkSet(veth, { addrgenmode: 'none' });
    root.linkSet(veth, { up: true });
    const b = new IpBatch(ns);
    b.linkSet('lo', { up: true });
    b.linkSet('eth0', { addrgenmode: 'none' });
    b.linkSet('eth0', { address: `02:bb:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, mtu: 1450 });
    b.linkSet('eth0', { up: true });
    b.addrReplace(`10.241.${(i + 1) >> 8}.${(i + 1) & 255}/16`, 'eth0');
    b.routeReplace({ dst: 'default', via: '10.241.255.254', dev: 'eth0' });
    inside.push(b);
  }
  const r = await linux.applyIpBatch(root);
  const results = await linux.applyIpBatches(inside, 8);
  const elapsed = ms(start);
  const failed = r.failed.length + results.reduce((n, x) => n + x.failed.length, 0);
  if (failed) say(`  (baseline: ${failed} failed lines)`);
  return elapsed;
}

/** A process and its descendants (by /proc's parent pids), each with its name and resident memory. */
function processTree(root: number): { pid: number; comm: string; rssKb: number }[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      // Gone meanwhile.
    }
  }
  const out: { pid: number; comm: string; rssKb: number }[] = [];
  const visit = (pid: number): void => {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      out.push({ pid, comm: /^Name:\s*(.*)$/m.exec(status)?.[1] ?? '?', rssKb: Number(/^VmRSS:\s*(\d+)/m.exec(status)?.[1] ?? 0) });
    } catch {
      return;
    }
    for (const child of parents.get(pid) ?? []) visit(child);
  };
  visit(root);
  return out;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark creates namespaces');
  // The controller and the agent inherit it: one stderr line per phase of each change.
  process.env.NETLOOM_TRACE = '1';
  const controller = await ControllerProcess.start();
  const stateDir = mkdtempSync(join(tmpdir(), 'netloom-bench-agent-'));
  let agent: ChildProcess | undefined;
  try {
    const { createHost } = await controller.ok('mutation { createHost(input: { name: "bench", vtepAddress: "192.0.2.1" }) { host { id } joinToken } }');
    const hostId: string = createHost.host.id;
    agent = spawn(process.execPath, [AGENT, '--controller', controller.url.replace(/\/graphql$/, ''), '--join-token', createHost.joinToken, '--state-dir', stateDir, '--prefix', prefix], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    // NETLOOM_BENCH_AGENT_LOG=FILE keeps the agent's log (its per-pass timings) for a closer look.
    const agentLog = process.env.NETLOOM_BENCH_AGENT_LOG;
    if (agentLog) agent.stderr!.pipe(createWriteStream(agentLog));
    const agentOutput: string[] = [];
    agent.stderr!.on('data', (chunk: Buffer) => agentOutput.push(chunk.toString()));
    for (let i = 0; ; i++) {
      const { host } = await controller.ok('query($id: ID!) { host(id: $id) { agent { connected } } }', { id: hostId });
      if (host.agent?.connected) break;
      if (i > 200) throw new Error('agent did not connect');
      await new Promise((r) => setTimeout(r, 50));
    }
    // Two networks: one Linux bridge carries at most 1024 ports.
    const networks: string[] = [];
    for (const [i, cidr] of ['10.240.0.0/20', '10.240.16.0/20'].entries()) {
      const { createNetwork } = await controller.ok('mutation($name: String!) { createNetwork(input: { name: $name }) { id } }', { name: `bench-${i}` });
      await controller.ok('mutation($n: ID!, $c: String!) { createSubnet(input: { name: "s", networkId: $n, cidr: $c }) { id } }', { n: createNetwork.id, c: cidr });
      networks.push(createNetwork.id);
    }
    const [networkId, second] = networks;
    const inputs = (from: number, n: number, net = networkId) => Array.from({ length: n }, (_, i) => ({ name: `p${from + i}`, networkId: net, hostId }));
    const bulk = 'mutation($p: [CreatePortInput!]!) { createPorts(wait: true, inputs: $p) { id } }';

    say(`NetLoom agent benchmark (prefix ${prefix}, one host, this machine, ${load()})`);
    say(`   agent's kernel batches: ${kernelDoor(agentOutput.join(''))}`);
    // The baseline first, on a machine without the agent's namespaces (ip slows as they multiply).
    const base500 = await baseline(500);
    await removeByPrefix(basePrefix);
    await new Promise((r) => setTimeout(r, 2_000)); // namespace teardown is asynchronous
    let start = process.hrtime.bigint();
    await controller.ok(bulk, { p: inputs(0, 500) });
    const agent500 = ms(start);
    const applied = await controller.ok(`query($n: ID!) { ports(first: 1000, filter: { networkId: $n }) { totalCount edges { node { status { state } } } } }`, { n: networkId });
    const ok = applied.ports.edges.filter((e: any) => e.node.status[0]?.state === 'APPLIED').length;
    say(`1. 500 ports, one bulk mutation → all APPLIED: ${agent500.toFixed(0)} ms (${ok}/500 APPLIED; goal: below OVN's figure; ${load()})`);
    say(`   ${ovn500}`);
    say(`   the same objects by plain ip -batch:      ${base500.toFixed(0)} ms   ratio ${(agent500 / base500).toFixed(2)}×`);

    await controller.ok(bulk, { p: inputs(500, 500, second) });
    const single = 'mutation($p: CreatePortInput!) { createPort(wait: true, input: $p) { id } }';
    const one: number[] = [];
    const runs: TracedRun[] = [];
    agentOutput.length = 0;
    const controllerFrom = controller.output.length;
    for (let i = 0; i < 50; i++) {
      const from = traceNow();
      start = process.hrtime.bigint();
      await controller.ok(single, { p: inputs(1000 + i, 1, second)[0] });
      one.push(ms(start));
      runs.push({ from, to: traceNow() });
    }
    say(`2. one port → APPLIED with 1000 present (50 runs): p50 ${pct(one, 50).toFixed(1)} ms, p99 ${pct(one, 99).toFixed(1)} ms (goal p50 < 40 ms; ${load()})`);
    // Lines may straddle chunks: parse each stream whole.
    for (const line of breakdownLines(runs, parseTrace(controller.output.slice(controllerFrom).join('')), [parseTrace(agentOutput.join(''))])) say(line);

    // Memory with 1000+ ports and the built-in plugins loaded: the agent and every process it started.
    const tree = processTree(agent.pid!);
    const agentKb = tree[0].rssKb;
    const others = tree.slice(1);
    const byName = new Map<string, { n: number; kb: number }>();
    for (const p of others) byName.set(p.comm, { n: (byName.get(p.comm)?.n ?? 0) + 1, kb: (byName.get(p.comm)?.kb ?? 0) + p.rssKb });
    const total = tree.reduce((sum, p) => sum + p.rssKb, 0);
    say(
      `5. memory with ${1050} ports, built-in plugins loaded: agent ${(agentKb / 1024).toFixed(0)} MB RSS + ${others.length} processes it started ` +
        `${((total - agentKb) / 1024).toFixed(0)} MB (${[...byName].map(([name, v]) => `${name} ×${v.n}: ${(v.kb / 1024).toFixed(0)} MB`).join(', ') || 'none'}) = ` +
        `${(total / 1024).toFixed(0)} MB (goal < 120 MB; ovn-controller 25 MB, measured 2026-11)`,
    );

    // 3. Stop the agent and run its reconciler here on its own state: a pure resync, counted.
    const exited = new Promise((r) => agent!.once('exit', r));
    agent.kill('SIGTERM');
    await exited;
    agent = undefined;
    const store = new StateStore(stateDir);
    const runner = new CommandRunner();
    const reconciler = new Reconciler(new Linux(runner), new Names(prefix, hostId), store, { resyncMs: 3_600_000, debounceMs: 0, log: () => undefined });
    const desired = store.readDesired()!;
    const times: number[] = [];
    let mutating = 0;
    reconciler.onReport = (r) => {
      times.push(r.ms);
      mutating += r.mutatingCommands;
    };
    for (let i = 0; i < 5; i++) {
      reconciler.setDesired(desired.revision, desired.resources);
      await reconciler.resyncNow();
    }
    const portCount = desired.resources.filter((r) => r.kind === 'Port').length;
    say(`3. no-op resync with ${portCount} ports: median ${pct(times, 50).toFixed(0)} ms over ${times.length} passes, ${mutating} mutating commands (target < 300 ms, 0; ${load()})`);

    const reads: number[] = [];
    let counted = 0;
    let full = '';
    runner.resetLog();
    for (let i = 0; i < 20; i++) {
      start = process.hrtime.bigint();
      const entries = (await reconciler.readPortCounters()) ?? [];
      reads.push(ms(start));
      counted = entries.length;
      full = JSON.stringify(new SentCounters().message(entries, true));
    }
    const perRead = runner.log.length / reads.length;
    reconciler.stop();
    say(
      `4. one read of every port's counters with ${portCount} ports: median ${pct(reads, 50).toFixed(1)} ms, p99 ${pct(reads, 99).toFixed(1)} ms over ${reads.length} reads ` +
        `(${counted} ports counted, ${perRead} command(s) per read; a full message ${(full.length / 1024).toFixed(0)} KiB)`,
    );
  } finally {
    if (agent) {
      const exited = new Promise((r) => agent!.once('exit', r));
      agent.kill('SIGTERM');
      await exited;
    }
    await removeByPrefix(prefix);
    await removeByPrefix(basePrefix);
    await controller.destroy();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
