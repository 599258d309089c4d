/**
 * Issue 12 figures, the controller at scale (prints them; never fails on timing). No root needed:
 * `npm run bench:controller -- [--ports 10000,50000] [--runs 20] [--hosts 10] [--one-network 10000] [--database <url or file> | --postgres]`.
 * `--postgres` (root) starts a throwaway PostgreSQL cluster as the tests do (fsync off: optimistic)
 * and removes it after.
 *
 * A built controller on a fresh temporary data dir (SQLite unless `--database` says otherwise;
 * the value is passed to the controller as it is). 10 hosts (`--hosts`); networks of 100 ports each, one
 * subnet each, ports round-robin over the hosts, so the site grows by whole networks.
 * 1. The site is filled with `createPorts` of 1000 (no agents connected): the time of each.
 * 2. At each size of `--ports`, p50 / p95 over `--runs` runs of one mutation of each core kind:
 *    (a) the plain round trip, no agents connected; (b) "controller time": the same mutation with
 *    `wait: true` while every host has a fake agent (GraphQL and the agent protocol only: it acks
 *    every update at once, APPLIED), so commit, compile, dispatch and ack are all inside.
 * 3. The controller's RSS (VmRSS): idle right after start, and at each size.
 * 4. The `plan` query of one createPort on a full network (issue 15), no agents: it rebuilds the
 *    whole realized state inside a rolled-back transaction, so it grows with the site.
 * 5. With `--one-network N` (last, no agents): one more network of N ports on one /16 subnet, and
 *    p50 / p95 over `--runs` of one createPort on it and on a fresh network of one port (what a
 *    write costs that allocates in a subnet of N addresses).
 * The controller is let go idle (no CPU used for 100 ms) before each timed request, so one
 * request's background dispatch does not land in the next one's time.
 */
import { mkdtempSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseTrace, TRACE_ENABLED, traceNow } from '@netloom/protocol';
import { ControllerProcess, FakeAgent } from '@netloom/simhosts';
import { breakdownLines, TracedRun } from './breakdown';
import { PostgresCluster } from '../test/support/postgres';

const { values: flags } = parseArgs({
  options: {
    ports: { type: 'string', default: '10000,50000' },
    runs: { type: 'string', default: '20' },
    hosts: { type: 'string', default: '10' },
    'one-network': { type: 'string', default: '0' },
    database: { type: 'string' },
    postgres: { type: 'boolean', default: false },
  },
});
const SIZES = flags.ports
  .split(',')
  .map(Number)
  .sort((a, b) => a - b);
const RUNS = Number(flags.runs);
const HOSTS = Number(flags.hosts);
const PER_NETWORK = 100;
const ONE_NETWORK = Number(flags['one-network']);
const BATCH = 1000;
if (SIZES.some((s) => !Number.isInteger(s) || s < 0 || s % BATCH !== 0) || !Number.isInteger(RUNS) || RUNS < 1 || !Number.isInteger(HOSTS) || HOSTS < 1 || !Number.isInteger(ONE_NETWORK) || ONE_NETWORK < 0 || ONE_NETWORK > 60_000) {
  throw new Error(`--ports takes multiples of ${BATCH} (e.g. 10000,50000), --runs and --hosts whole numbers ≥ 1, --one-network 0-60000`);
}

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pct = (values: number[], p: number): number => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))];
const fmt = (ms: number): string => (ms < 100 ? ms.toFixed(1) : ms.toFixed(0));

/** VmRSS and RssAnon of a process, in MB. */
async function rss(pid: number): Promise<{ rss: number; anon: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, anon: kb('RssAnon') / 1024 };
}
const showRss = (m: { rss: number; anon: number }): string => `${m.rss.toFixed(0)} MB (anonymous ${m.anon.toFixed(0)} MB)`;

/** CPU ticks (user + system) a process has used. */
async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** Waits until the process used no CPU for `quietMs` (its background work after a commit is done). */
async function settle(pid: number, quietMs = 100, maxMs = 60_000): Promise<void> {
  const deadline = Date.now() + maxMs;
  let before = await cpuTicks(pid);
  while (Date.now() < deadline) {
    await sleep(quietMs);
    const now = await cpuTicks(pid);
    if (now === before) return;
    before = now;
  }
}

interface Ctx {
  c: ControllerProcess;
  pid: number;
  hosts: { id: string; joinToken: string }[];
  networks: string[];
  ports: number;
  /** Distinct numbers for names and subnets of what the runs create. */
  serial: number;
}

async function timed<T>(ctx: Ctx, query: string, variables: Record<string, unknown>): Promise<{ ms: number; data: T }> {
  const start = performance.now();
  const data = await ctx.c.ok<T>(query, variables);
  return { ms: performance.now() - start, data };
}

/** 10 more networks with a subnet each, then one createPorts of 1000 over them; returns both times. */
async function grow(ctx: Ctx): Promise<{ networksMs: number; portsMs: number }> {
  let start = performance.now();
  const fresh: string[] = [];
  for (let i = 0; i < BATCH / PER_NETWORK; i++) {
    const n = ctx.networks.length;
    const { createNetwork } = await ctx.c.ok<{ createNetwork: { id: string } }>('mutation($name: String!) { createNetwork(input: { name: $name }) { id } }', {
      name: `net-${n}`,
    });
    await ctx.c.ok('mutation($n: ID!, $c: String!) { createSubnet(input: { name: "s", networkId: $n, cidr: $c }) { id } }', {
      n: createNetwork.id,
      c: `10.${n >> 8}.${n & 255}.0/24`,
    });
    ctx.networks.push(createNetwork.id);
    fresh.push(createNetwork.id);
  }
  const networksMs = performance.now() - start;
  const inputs = Array.from({ length: BATCH }, (_, i) => ({
    name: `p${ctx.ports + i}`,
    networkId: fresh[Math.floor(i / PER_NETWORK)],
    hostId: ctx.hosts[(ctx.ports + i) % HOSTS].id,
  }));
  await settle(ctx.pid);
  start = performance.now();
  await ctx.c.ok('mutation($p: [CreatePortInput!]!) { createPorts(inputs: $p) { id } }', { p: inputs });
  const portsMs = performance.now() - start;
  ctx.ports += BATCH;
  return { networksMs, portsMs };
}

const KINDS = ['createNetwork', 'createSubnet', 'createPort', 'updatePort', 'deletePort', 'createHost', 'updateHost', 'deleteNetwork'] as const;
type Kind = (typeof KINDS)[number];
const NOTES: Record<Kind, string> = {
  createNetwork: '',
  createSubnet: 'on the new network',
  createPort: 'on a full network, spanning all hosts (empty site: the new one)',
  updatePort: 'its labels',
  deletePort: '',
  createHost: '',
  updateHost: 'labels of a host with ports',
  deleteNetwork: 'empty (its subnet cascades)',
};

/**
 * One run of each kind, timed. With `agents`, mutations take `wait: true`; for createHost that
 * waits for nothing (no agent of the new host has joined yet), so its time there is createHost +
 * that host's fake agent joining and acking its snapshot.
 */
async function runOnce(ctx: Ctx, agents: boolean, times: Map<Kind, number[]>, traced: Map<Kind, TracedRun[]>): Promise<void> {
  const wait = agents ? 'wait: true, ' : '';
  const k = ctx.serial++;
  const step = async <T>(kind: Kind, query: string, variables: Record<string, unknown>): Promise<T> => {
    await settle(ctx.pid);
    const from = traceNow();
    const { ms, data } = await timed<T>(ctx, query, variables);
    times.get(kind)!.push(ms);
    traced.get(kind)!.push({ from, to: traceNow() });
    return data;
  };
  const { createNetwork } = await step<any>('createNetwork', `mutation($name: String!) { createNetwork(${wait}input: { name: $name }) { id } }`, { name: `run-${k}` });
  await step('createSubnet', `mutation($n: ID!, $c: String!) { createSubnet(${wait}input: { name: "s", networkId: $n, cidr: $c }) { id } }`, {
    n: createNetwork.id,
    c: `172.${16 + (k >> 8)}.${k & 255}.0/24`,
  });
  const host = ctx.hosts[k % HOSTS];
  const { createPort } = await step<any>('createPort', `mutation($p: CreatePortInput!) { createPort(${wait}input: $p) { id } }`, {
    p: { name: `run-${k}`, networkId: ctx.networks.length ? ctx.networks[k % ctx.networks.length] : createNetwork.id, hostId: host.id },
  });
  await step('updatePort', `mutation($i: UpdatePortInput!) { updatePort(${wait}input: $i) { id } }`, {
    i: { id: createPort.id, labels: [{ key: 'bench', value: `v${k}` }] },
  });
  await step('deletePort', `mutation($i: DeleteInput!) { deletePort(${wait}input: $i) { deletedIds } }`, { i: { id: createPort.id } });
  const hostQuery = 'mutation($name: String!, $vtep: String!) { createHost(input: { name: $name, vtepAddress: $vtep }) { host { id } joinToken } }';
  const hostVars = { name: `run-${k}`, vtep: `198.18.${k >> 8}.${k & 255}` };
  let newHost: string;
  if (agents) {
    await settle(ctx.pid);
    const start = performance.now();
    const { createHost } = await ctx.c.ok(hostQuery, hostVars);
    const agent = await FakeAgent.join(baseUrl(ctx.c), createHost.joinToken);
    await agent.connect();
    times.get('createHost')!.push(performance.now() - start);
    await agent.close();
    newHost = createHost.host.id;
  } else {
    newHost = (await step<any>('createHost', hostQuery, hostVars)).createHost.host.id;
  }
  await step('updateHost', `mutation($i: UpdateHostInput!) { updateHost(${wait}input: $i) { id } }`, {
    i: { id: host.id, labels: [{ key: 'bench', value: `v${k}` }] },
  });
  await step('deleteNetwork', `mutation($i: CascadeDeleteInput!) { deleteNetwork(${wait}input: $i) { deletedIds } }`, { i: { id: createNetwork.id, cascade: true } });
  await ctx.c.ok('mutation($id: ID!) { deleteHost(input: { id: $id }) { deletedIds } }', { id: newHost });
}

async function measure(ctx: Ctx, agents: boolean): Promise<{ times: Map<Kind, number[]>; traced: Map<Kind, TracedRun[]> }> {
  const times = new Map<Kind, number[]>(KINDS.map((kind) => [kind, []]));
  const traced = new Map<Kind, TracedRun[]>(KINDS.map((kind) => [kind, []]));
  for (let i = 0; i < RUNS; i++) await runOnce(ctx, agents, times, traced);
  return { times, traced };
}

const baseUrl = (c: ControllerProcess): string => c.url.replace(/\/graphql$/, '');

/** `--runs` plans of one port on the first network, timed (nothing is kept). */
async function planTimes(ctx: Ctx): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const input = { name: `planned-${++ctx.serial}`, networkId: ctx.networks[0], hostId: ctx.hosts[0].id };
    await settle(ctx.pid);
    const { ms } = await timed(ctx, 'query($s: [PlanStepInput!]!) { plan(steps: $s) { hosts { hostId resources { commands { line } } } } }', {
      s: [{ mutation: 'createPort', arguments: JSON.stringify({ input }) }],
    });
    times.push(ms);
  }
  return times;
}

async function main(): Promise<void> {
  if (flags.postgres) {
    const cluster = await PostgresCluster.create();
    try {
      flags.database = await cluster.createDatabase();
      return await bench();
    } finally {
      await cluster.destroy();
    }
  }
  return bench();
}

/** Section 5: one createPort on a network of `ONE_NETWORK` ports (one /16 subnet) and on a network of one, `RUNS` each. */
async function oneNetwork(ctx: Ctx): Promise<void> {
  const network = async (name: string, cidr: string): Promise<string> => {
    const { createNetwork } = await ctx.c.ok<{ createNetwork: { id: string } }>('mutation($name: String!) { createNetwork(input: { name: $name }) { id } }', { name });
    await ctx.c.ok('mutation($n: ID!, $c: String!) { createSubnet(input: { name: "s", networkId: $n, cidr: $c }) { id } }', { n: createNetwork.id, c: cidr });
    return createNetwork.id;
  };
  const big = await network('one-big', '10.250.0.0/16');
  const small = await network('one-small', '10.251.0.0/24');
  for (let done = 0; done < ONE_NETWORK; done += BATCH) {
    const inputs = Array.from({ length: Math.min(BATCH, ONE_NETWORK - done) }, (_, i) => ({ name: `b${done + i}`, networkId: big, hostId: ctx.hosts[(done + i) % HOSTS].id }));
    await ctx.c.ok('mutation($p: [CreatePortInput!]!) { createPorts(inputs: $p) { id } }', { p: inputs });
  }
  const times = { big: [] as number[], small: [] as number[] };
  for (let run = 0; run < RUNS; run++) {
    for (const [which, networkId] of [['big', big], ['small', small]] as const) {
      await settle(ctx.pid);
      const { ms } = await timed(ctx, 'mutation($i: CreatePortInput!) { createPort(input: $i) { id } }', { i: { name: `one-${which}-${run}`, networkId, hostId: ctx.hosts[run % HOSTS].id } });
      times[which].push(ms);
    }
  }
  say('');
  say(`One createPort (no agents, ${RUNS} runs each, ms): on a network of ${ONE_NETWORK} ports (one /16 subnet) p50 ${fmt(pct(times.big, 50))} p95 ${fmt(pct(times.big, 95))}; on a network of a few p50 ${fmt(pct(times.small, 50))} p95 ${fmt(pct(times.small, 95))}`);
}

async function bench(): Promise<void> {
  const began = Date.now();
  // The database URL goes in the environment (NETLOOM_DATABASE), never on a command line.
  const c = new ControllerProcess(mkdtempSync(join(tmpdir(), 'netloom-bench-controller-')), { database: flags.database });
  await c.launch([]);
  const agents: FakeAgent[] = [];
  try {
    const pid = c.pid!;
    await settle(pid, 500);
    const idle = await rss(pid);
    say(`NetLoom controller benchmark: ${HOSTS} hosts, networks of ${PER_NETWORK} ports (one subnet each, ports round-robin over hosts), database ${flags.database ? flags.database.replace(/\/\/[^@/]*@/, '//***@') : 'SQLite (embedded)'}`);
    say(`controller RSS idle after start, no data: ${showRss(idle)}`);
    const ctx: Ctx = { c, pid, hosts: [], networks: [], ports: 0, serial: 0 };
    for (let i = 0; i < HOSTS; i++) {
      const { createHost } = await c.ok('mutation($name: String!, $vtep: String!) { createHost(input: { name: $name, vtepAddress: $vtep }) { host { id } joinToken } }', {
        name: `host-${i}`,
        vtep: `192.0.2.${i + 1}`,
      });
      ctx.hosts.push({ id: createHost.host.id, joinToken: createHost.joinToken });
    }
    say('');
    say(`createPorts(${BATCH}) as the site grows (no agents; before each, 10 networks + subnets are made, timed apart):`);
    say('  ports before   createPorts(1000)   10 × (createNetwork + createSubnet)');
    const summary: string[] = [];
    for (const size of SIZES) {
      while (ctx.ports < size) {
        const before = ctx.ports;
        const { networksMs, portsMs } = await grow(ctx);
        say(`  ${String(before).padStart(12)}   ${fmt(portsMs).padStart(14)} ms   ${fmt(networksMs).padStart(12)} ms`);
      }
      await settle(pid, 500);
      const filled = await rss(pid);
      const plain = (await measure(ctx, false)).times;
      await settle(pid, 500);
      const afterPlain = await rss(pid);

      let start = performance.now();
      if (!agents.length) for (const h of ctx.hosts) agents.push(await FakeAgent.join(baseUrl(c), h.joinToken));
      await Promise.all(agents.map((a) => a.connect()));
      const connectMs = performance.now() - start;
      await settle(pid);
      start = performance.now();
      const { times: withAgents, traced } = await measure(ctx, true);
      const agentsMs = performance.now() - start;
      await settle(pid, 500);
      const afterAgents = await rss(pid);
      await Promise.all(agents.map((a) => a.close()));
      // Last, so its memory does not show in the figures above.
      const planned = await planTimes(ctx);
      await settle(pid, 500);
      const afterPlans = await rss(pid);

      say('');
      say(`At ${size} ports (${ctx.networks.length} networks), ${RUNS} runs each, ms:`);
      say('  mutation          plain p50    p95 │ wait, fake agents p50    p95   what');
      for (const kind of KINDS) {
        const a = plain.get(kind)!;
        const b = withAgents.get(kind)!;
        const note = kind === 'createHost' ? 'with wait: + its agent joined, snapshot acked' : NOTES[kind];
        say(
          `  ${kind.padEnd(16)} ${fmt(pct(a, 50)).padStart(9)} ${fmt(pct(a, 95)).padStart(6)} │ ${fmt(pct(b, 50)).padStart(20)} ${fmt(pct(b, 95)).padStart(6)}   ${note}`,
        );
      }
      say(`  plan(createPort) ${fmt(pct(planned, 50)).padStart(9)} ${fmt(pct(planned, 95)).padStart(6)} │ (run last, agents gone)   the lines of the hosts of a full network`);
      say(`  ${HOSTS} fake agents connected (snapshots of ${agents.reduce((n, a) => n + a.size, 0)} resources acked) in ${fmt(connectMs)} ms; the wait runs took ${(agentsMs / 1000).toFixed(1)} s`);
      say(`  controller RSS: filled ${showRss(filled)}; after the plain runs ${showRss(afterPlain)}; after the runs with agents ${showRss(afterAgents)}; after the plans ${showRss(afterPlans)}`);
      const drops = agents.flatMap((a) => a.drops.splice(0));
      if (drops.length) say(`  the controller dropped agent channels ${drops.length} times (they dialed again): ${[...new Set(drops)].join('; ')}`);
      if (TRACE_ENABLED) {
        // The controller's own trace points (the fake agents write none): along its first ack.
        const trace = parseTrace(c.output.join(''));
        for (const kind of ['createPort', 'updatePort', 'deletePort'] as const) {
          say(`  ${kind} with wait:`);
          for (const line of breakdownLines(traced.get(kind)!, trace, []).filter((l) => !l.includes('kernel commands'))) say(line);
        }
      }
      summary.push(`${size} ports: RSS ${afterPlain.rss.toFixed(0)} MB`);
    }
    if (ONE_NETWORK) await oneNetwork(ctx);
    say('');
    say(`RSS idle ${idle.rss.toFixed(0)} MB; ${summary.join('; ')} (targets: < 100 MB idle, < 200 MB at 10000)`);
    say(`benchmark took ${((Date.now() - began) / 1000).toFixed(0)} s`);
  } finally {
    await Promise.all(agents.map((a) => a.close()));
    await c.destroy();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
