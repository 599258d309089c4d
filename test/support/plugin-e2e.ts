/**
 * What the plugin end-to-end tests (and the plugin benchmarks) do over a running cluster beyond
 * the simulation library's Lab (networks, ports and plugin resources through GraphQL, servers and
 * TCP probes in namespaces): the agents' plugins and reconcile passes, a continuous ping, status
 * changes over graphql-ws, checking that a refused mutation wrote nothing, and ending a run. No
 * jest in here: the benchmarks import it too.
 */
import { randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Cluster, type ClusterOptions, errorCode, Lab as SimLab, type NetnsProcess, STATUS_FIELDS, type StatusView } from '@netloom/simhosts';
import { kindNames } from '../../apps/controller/src/plugin-kinds/plugin-schema';
import { netnsExec, netnsList, run, waitForDist } from './agent';

export {
  askMany,
  askTcp,
  attr,
  type Net,
  type NetnsProcess,
  PEER_ADDRESS,
  type PortView,
  STATUS_FIELDS,
  type StatusView,
  tally,
} from '@netloom/simhosts';


/** One event of `resourceStatusChanges`, with its arrival time (`process.hrtime.bigint()`). */
export interface StatusEvent extends StatusView {
  at: bigint;
  kind: string;
  resourceId: string;
}

/** A live `resourceStatusChanges` subscription (see {@link Lab.watchStatus}). */
export interface StatusWatch {
  readonly events: StatusEvent[];
  readonly errors: unknown[];
  /** Resolves once the websocket is connected (the subscription goes out right after). */
  readonly connected: Promise<void>;
  stop(): Promise<void>;
}

/** What a mutation that should be refused did: its error, and whether anything was written. */
export interface Refusal {
  code: string | null;
  field: string | null;
  message: string | null;
  /** The mutation's result (null when refused). */
  data: unknown;
  /** The revision or the count of resources moved. */
  written: boolean;
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** A per-run prefix: `first` + 3 random [a-z0-9] (4 characters, as agent prefixes allow). */
export const runPrefix = (first: string): string => `${first}${Array.from({ length: 3 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('')}`;


/** GraphQL's name of a kind's collection query, as the controller makes it: `Router` → `routers`, `FirewallPolicy` → `firewallPolicies`. */
export const collectionOf = (kind: string): string => kindNames(kind).plural;

/** When (epoch ms) each echo reply a {@link Lab.pingFlood} has printed so far arrived. */
export const echoReplies = (ping: NetnsProcess): number[] =>
  [...ping.stdout.join('').matchAll(/^\[(\d+\.\d+)\] \d+ bytes from /gm)].map((m) => Number(m[1]) * 1_000);

/** The simulation library's Lab, with what only the tests and benchmarks ask of a cluster. */
export class Lab extends SimLab {
  /** Waits for a complete dist/, then starts the controller and the hosts (each agent serving its metrics on its host's loopback). */
  static async start(opts: ClusterOptions): Promise<Lab> {
    await waitForDist();
    return new Lab(await Cluster.start({ ...opts, agentArgs: [...(opts.agentArgs ?? []), '--metrics-address', '127.0.0.1:0'] }), opts.prefix);
  }

  /** Each agent's reconcile passes so far (applied or failed), from its metrics, read inside its host's namespace. */
  async passCounts(): Promise<number[]> {
    const hosts = this.cluster.sim.hosts;
    return Promise.all(
      this.cluster.agents.map(async (agent, i) => {
        // The last it said: an agent started again listens elsewhere.
        const url = agent.lines.map((l) => /probes and metrics on (http:\/\/\S+)/.exec(l)?.[1]).findLast((u) => u !== undefined);
        if (!url) throw new Error(`agent ${i} did not say where its metrics are`);
        const script = `fetch(${JSON.stringify(`${url}/metrics`)}).then((r) => r.text()).then((t) => process.stdout.write(t))`;
        const got = await netnsExec(hosts[i].name, [process.execPath, '-e', script]);
        if (got.code !== 0) throw new Error(`metrics of agent ${i}: ${got.stderr.trim()}`);
        const passes = [...got.stdout.matchAll(/^netloom_agent_reconcile_passes_total\{result="(?:applied|failed)"\} (\d+)$/gm)];
        return passes.reduce((sum, m) => sum + Number(m[1]), 0);
      }),
    );
  }

  /** Resolves once every agent has made `n` more passes than now: with nothing else asking for one, resyncs. */
  async morePasses(n = 2, timeoutMs = 15_000): Promise<void> {
    const before = await this.passCounts();
    const deadline = Date.now() + timeoutMs;
    while (!(await this.passCounts()).every((count, i) => count >= before[i] + n)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} more reconcile passes on every agent`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** What each agent logged of a change (a pass that changed something, a plugin, an error, a failure) while it made two more passes. */
  async changesOverResyncs(): Promise<string[][]> {
    const marks = this.agentMarks();
    await this.morePasses(2);
    return this.cluster.agents.map((a, i) => a.lines.slice(marks[i]).filter((l) => /reconciled revision|plugin|error|fail/i.test(l)));
  }

  /** The plugins (`id@version`) each host's agent reported, in the API's order of hosts. */
  async agentPlugins(): Promise<string[][]> {
    const { hosts } = await this.api.ok<{ hosts: { edges: { node: { agent: { plugins: string[] } | null } }[] } }>('{ hosts { edges { node { agent { plugins } } } } }');
    return hosts.edges.map((e) => e.node.agent?.plugins ?? []);
  }

  /** Where each agent's next output line will go: pass it to {@link passesSince}. */
  agentMarks(): number[] {
    return this.cluster.agents.map((a) => a.lines.length);
  }

  /** Per agent, the reconcile passes it logged since `marks`: how many, their milliseconds added up, and the longest. */
  passesSince(marks: number[]): { passes: number; totalMs: number; longestMs: number }[] {
    return this.cluster.agents.map((agent, i) => {
      const ms = agent.lines.slice(marks[i]).flatMap((line) => /reconciled revision \d+ in (\d+) ms/.exec(line)?.[1] ?? []).map(Number);
      return { passes: ms.length, totalMs: ms.reduce((x, y) => x + y, 0), longestMs: Math.max(0, ...ms) };
    });
  }

  /** The change feed's revision and how many resources of `kind` there are. */
  async counts(kind: string): Promise<{ revision: number; count: number }> {
    const collection = collectionOf(kind);
    const data = await this.api.ok<Record<string, unknown> & { revision: number }>(`{ revision ${collection} { totalCount } }`);
    return { revision: data.revision, count: (data[collection] as { totalCount: number }).totalCount };
  }

  /** Runs a mutation that should be refused; tells its error and whether the revision or the count of `kind` moved. */
  async refusal(kind: string, query: string, variables: Record<string, unknown>): Promise<Refusal> {
    const before = await this.counts(kind);
    const result = await this.api.gql<Record<string, unknown>>(query, variables);
    const after = await this.counts(kind);
    const error = result.errors?.[0];
    return {
      code: errorCode(result) ?? null,
      field: error?.extensions?.field ?? null,
      message: error?.message ?? null,
      data: result.data ? (Object.values(result.data)[0] ?? null) : null,
      written: after.revision !== before.revision || after.count !== before.count,
    };
  }

  /** A continuous probe from `ns`: `ping -n -D -i intervalS ip` until stopped; its answers are {@link echoReplies}. */
  pingFlood(ns: string, ip: string, intervalS = 0.01): NetnsProcess {
    return this.spawnIn(ns, ['ping', '-n', '-D', '-i', String(intervalS), ip]);
  }

  /** `resourceStatusChanges(kinds)` over graphql-ws: every event kept, with its arrival time, until `stop()`. */
  watchStatus(kinds: string[]): StatusWatch {
    const client = this.api.ws();
    const events: StatusEvent[] = [];
    const errors: unknown[] = [];
    const connected = new Promise<void>((done) => client.on('connected', () => done()));
    const unsubscribe = client.subscribe<{ resourceStatusChanges: Omit<StatusEvent, 'at'> }>(
      { query: `subscription($kinds: [String!]) { resourceStatusChanges(kinds: $kinds) { kind resourceId ${STATUS_FIELDS} } }`, variables: { kinds } },
      {
        next: (message) => {
          if (message.errors) errors.push(message.errors);
          const change = message.data?.resourceStatusChanges;
          if (change) events.push({ at: process.hrtime.bigint(), ...change });
        },
        error: (error) => errors.push(error),
        complete: () => undefined,
      },
    );
    return {
      events,
      errors,
      connected,
      async stop() {
        unsubscribe();
        await client.dispose();
      },
    };
  }

}

/**
 * The end of a run, also after a failure: prints the notes (under `label`), keeps the agents'
 * output when NETLOOM_E2E_AGENT_LOG names a file, kills the processes the run started, destroys
 * the cluster. Returns what went wrong and the namespaces of the prefix that are left (both
 * should be empty).
 */
export async function shutdownLab(lab: Lab | undefined, prefix: string, label: string): Promise<{ problems: string[]; left: string[] }> {
  const problems: string[] = [];
  if (lab) {
    if (lab.notes.length) process.stderr.write(`${label} (${prefix}):\n  ${lab.notes.join('\n  ')}\n`);
    if (process.env.NETLOOM_E2E_AGENT_LOG) writeFileSync(process.env.NETLOOM_E2E_AGENT_LOG, `${lab.agentTails(100_000)}\n`);
    problems.push(...lab.killChildren());
    await lab.cluster.destroy().catch((e: unknown) => problems.push(`cluster destroy: ${String(e)}`));
  }
  const left = (await netnsList()).filter((n) => n.startsWith(`${prefix}-`));
  return { problems, left };
}

/**
 * A benchmark's main: as root, starts a lab (`opts`), runs `work` in it, and always shuts the lab
 * down (printing what was left behind); a failure is printed and ends the process with exit 1.
 */
export function runBench(opts: ClusterOptions, label: string, work: (lab: Lab) => Promise<void>): void {
  const main = async (): Promise<void> => {
    if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark creates namespaces');
    let lab: Lab | undefined;
    try {
      lab = await Lab.start(opts);
      await work(lab);
    } finally {
      const { problems, left } = await shutdownLab(lab, opts.prefix, label);
      if (problems.length || left.length) process.stdout.write(`cleanup: ${JSON.stringify({ problems, left })}\n`);
    }
  };
  main().catch((error: unknown) => {
    process.stderr.write(`benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}

/** Every IPv4 address configured in namespace `ns` (`ip -n NS -j -4 addr`). */
export async function addressesIn(ns: string): Promise<string[]> {
  const result = await run('ip', ['-n', ns, '-j', '-4', 'addr', 'show']);
  if (result.code !== 0) throw new Error(`ip -n ${ns} addr: ${result.stderr.trim()}`);
  const links = JSON.parse(result.stdout.trim() || '[]') as { addr_info?: { local: string }[] }[];
  return links.flatMap((l) => (l.addr_info ?? []).map((a) => a.local));
}

/** Milliseconds since `start` (from `process.hrtime.bigint()`). */
export const msSince = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e6;
