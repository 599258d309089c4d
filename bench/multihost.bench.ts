/**
 * Issue 4 figures (prints them; never fails on timing). Run as root: `npm run bench:multihost`.
 * 1. 3 simulated hosts × 200 ports in one bulk mutation → time until all are APPLIED everywhere.
 * 2. One new port → APPLIED on its host, and → reachable from a port on another host: p50 / p99,
 *    and where the time goes (trace lines of the controller and the agents, `NETLOOM_TRACE=1`).
 * Everything lives in namespaces with a per-run prefix and is removed at the end.
 */
import { writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { parseTrace, traceNow } from '@netloom/protocol';
import { Cluster } from '@netloom/simhosts';
import { breakdownLines, TracedRun } from './breakdown';
import { kernelDoor, load } from './reference';

const HOSTS = 3;
const PER_HOST = 200;
const SINGLES = 30;
const prefix = `k${Math.random().toString(36).slice(2, 5)}`;
const ms = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e6;
const pct = (values: number[], p: number): number => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))];
const say = (line: string): void => void process.stdout.write(`${line}\n`);

interface PortOut {
  id: string;
  fixedIps: { ipAddress: string }[];
  status: { attributes: { key: string; value: string }[] }[];
}
const netnsOf = (p: PortOut): string => p.status[0].attributes.find((a) => a.key === 'netns')!.value;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark creates namespaces');
  // The controller and the agents inherit it: one stderr line per phase of each change.
  process.env.NETLOOM_TRACE = '1';
  const cluster = await Cluster.start({ prefix, hosts: HOSTS });
  const { controller, hostIds } = cluster;
  try {
    const { createNetwork } = await controller.ok<{ createNetwork: { id: string } }>('mutation { createNetwork(input: { name: "bench" }) { id } }');
    const networkId = createNetwork.id;
    await controller.ok('mutation($n: ID!) { createSubnet(input: { name: "s", networkId: $n, cidr: "10.242.0.0/21" }) { id } }', { n: networkId });
    const fields = 'id fixedIps { ipAddress } status { attributes { key value } }';

    say(`NetLoom multi-host benchmark (${HOSTS} simulated hosts, prefix ${prefix}, this machine, ${load()})`);
    say(`   agents' kernel batches: ${kernelDoor(cluster.agents[0].lines.join('\n'))}`);
    const inputs = hostIds.flatMap((hostId, h) => Array.from({ length: PER_HOST }, (_, i) => ({ name: `p${h}-${i}`, networkId, hostId })));
    let start = process.hrtime.bigint();
    const { createPorts } = await controller.ok<{ createPorts: PortOut[] }>(
      `mutation($p: [CreatePortInput!]!) { createPorts(wait: true, inputs: $p) { ${fields} } }`,
      { p: inputs },
    );
    say(`1. ${HOSTS} × ${PER_HOST} ports in one bulk mutation → all APPLIED on every host: ${ms(start).toFixed(0)} ms (goal < 2000 ms; ${load()})`);

    const applied: number[] = [];
    const reachable: number[] = [];
    const runs: TracedRun[] = [];
    const controllerFrom = controller.output.length;
    const agentsFrom = cluster.agents.map((a) => a.lines.length);
    for (let i = 0; i < SINGLES; i++) {
      const target = i % HOSTS;
      const from = createPorts[((target + 1) % HOSTS) * PER_HOST]; // a port on another host
      const tracedFrom = traceNow();
      start = process.hrtime.bigint();
      const { createPort } = await controller.ok<{ createPort: PortOut }>(
        `mutation($p: CreatePortInput!) { createPort(wait: true, input: $p) { ${fields} } }`,
        { p: { name: `single-${i}`, networkId, hostId: hostIds[target] } },
      );
      applied.push(ms(start));
      runs.push({ from: tracedFrom, to: traceNow() });
      const ip = createPort.fixedIps[0].ipAddress;
      for (let attempt = 0; ; attempt++) {
        const ping = await execa('ip', ['netns', 'exec', netnsOf(from), 'ping', '-c1', '-W1', ip], { reject: false });
        if (ping.exitCode === 0) break;
        if (attempt > 20) throw new Error(`port ${ip} never became reachable`);
      }
      reachable.push(ms(start));
    }
    say(`2. one new port (${SINGLES} runs, ${HOSTS * PER_HOST} present):`);
    say(`   → APPLIED on its host:            p50 ${pct(applied, 50).toFixed(1)} ms, p99 ${pct(applied, 99).toFixed(1)} ms`);
    say(`   → answering a ping from another host: p50 ${pct(reachable, 50).toFixed(1)} ms, p99 ${pct(reachable, 99).toFixed(1)} ms (includes one ping round; goal p50 < 100 ms; ${load()})`);
    say(`   the ping after APPLIED (a process in the other port's namespace, one round): p50 ${pct(reachable.map((r, i) => r - applied[i]), 50).toFixed(1)} ms`);
    const agentTraces = cluster.agents.map((a, i) => parseTrace(a.lines.slice(agentsFrom[i]).join('\n')));
    for (const line of breakdownLines(runs, parseTrace(controller.output.slice(controllerFrom).join('')), agentTraces)) say(line);
  } finally {
    // NETLOOM_BENCH_AGENT_LOG=PREFIX keeps each agent's log (PREFIX-h0.log, …) for a closer look.
    const agentLog = process.env.NETLOOM_BENCH_AGENT_LOG;
    if (agentLog) cluster.agents.forEach((a, i) => writeFileSync(`${agentLog}-h${i}.log`, `${a.lines.join('\n')}\n`));
    await cluster.destroy();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
