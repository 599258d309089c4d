/**
 * What the plugin end-to-end tests (and the plugin benchmarks) do over a running cluster: make
 * networks and (labelled) ports through GraphQL, create and update plugin resources with
 * `wait: true`, read what the agents observe of them and watch their status changes, run servers
 * and probes inside port namespaces (socat, iperf3, tcpdump, ping: started here, killed by pid),
 * connect over TCP from a namespace, check that a refused mutation wrote nothing, and show the
 * agents' last lines when something fails. No jest in here: the benchmarks import it too.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Cluster, type ClusterOptions, type ControllerProcess, errorCode, MARKER } from '@netloom/simhosts';
import { kindNames } from '../../apps/controller/src/plugin-kinds/plugin-schema';
import { netnsExec, netnsList, ping, run, waitFor, waitForDist } from './agent';

export const STATUS_FIELDS = 'state hostId generation reason attributes { key value }';

export interface StatusView {
  state: 'APPLIED' | 'FAILED' | 'PENDING';
  hostId: string;
  generation: number;
  reason: string | null;
  attributes: { key: string; value: string }[];
}

export interface Net {
  networkId: string;
  subnetId: string;
  cidr: string;
  gatewayIp: string | null;
}

export interface PortView {
  id: string;
  name: string;
  hostId: string;
  ip: string;
  /** The namespace the agent built for it. */
  ns: string;
}

/** A process started inside a namespace by {@link Lab.spawnIn}. */
export interface NetnsProcess {
  readonly pid: number;
  readonly stdout: string[];
  readonly stderr: string[];
  readonly running: boolean;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  /** SIGTERM (SIGKILL after 3 s), by pid; resolves when it has exited. */
  stop(): Promise<void>;
}

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

/** The answer of {@link Lab.answerServer} that stands for "the peer's address, as the server saw it". */
export const PEER_ADDRESS = Symbol('peer address');

/** A reported attribute of a status (of host `host`, or the first): throws when it is missing. */
export function attr(status: StatusView[], key: string, host?: string): string {
  const s = host ? status.find((x) => x.hostId === host) : status[0];
  const value = s?.attributes.find((a) => a.key === key)?.value;
  if (!value) throw new Error(`no ${key} reported${host ? ` for host ${host}` : ''}: ${JSON.stringify(status)}`);
  return value;
}

// Runs inside a namespace (`node -e`): `count` TCP connections to ip:port one after another (or
// `parallel` at a time), each read to its end; prints a JSON list of what each server said, or
// `!<error>` for a connection that failed or timed out.
const ASK_SCRIPT = `
const net = require('node:net');
const [ip, port, count, parallel, timeoutMs] = process.argv.slice(1);
const one = () => new Promise((done) => {
  let data = '';
  const s = net.connect({ host: ip, port: Number(port) });
  const timer = setTimeout(() => { s.destroy(); done('!timeout'); }, Number(timeoutMs));
  s.setEncoding('utf8');
  s.on('data', (d) => { data += d; });
  s.on('error', (e) => { clearTimeout(timer); done('!' + (e.code || e.message)); });
  s.on('close', () => { clearTimeout(timer); done(data.trim()); });
});
(async () => {
  const out = new Array(Number(count));
  let next = 0;
  const worker = async () => { while (next < out.length) { const i = next++; out[i] = await one(); } };
  await Promise.all(Array.from({ length: Number(parallel) }, worker));
  process.stdout.write(JSON.stringify(out));
})();
`;

/**
 * `count` TCP connections from namespace `ns` to `ip`:`port`, each read until the server closes:
 * what each one answered, in order, or `!<error code>` (`!timeout` after `timeoutMs`).
 */
export async function askMany(ns: string, ip: string, port: number, count: number, opts: { parallel?: number; timeoutMs?: number } = {}): Promise<string[]> {
  const timeoutMs = opts.timeoutMs ?? 2_000;
  const parallel = Math.max(1, Math.min(opts.parallel ?? 1, count));
  const budget = 10_000 + Math.ceil(count / parallel) * timeoutMs;
  const r = await netnsExec(ns, [process.execPath, '-e', ASK_SCRIPT, ip, String(port), String(count), String(parallel), String(timeoutMs)], budget);
  if (r.code !== 0) throw new Error(`connections from ${ns} to ${ip}:${port} did not run (exit ${r.code}): ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as string[];
}

/** One TCP connection from `ns` to `ip`:`port`: what the server said, or '' when it failed. */
export async function askTcp(ns: string, ip: string, port: number, timeoutMs = 2_000): Promise<string> {
  const [answer] = await askMany(ns, ip, port, 1, { timeoutMs });
  return answer.startsWith('!') ? '' : answer;
}

/** How many times each answer came, failures (`!…`) included. */
export function tally(answers: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const a of answers) counts[a] = (counts[a] ?? 0) + 1;
  return counts;
}

const capitalized = (s: string): string => s[0].toUpperCase() + s.slice(1);
const uncapitalized = (s: string): string => s[0].toLowerCase() + s.slice(1);
/** GraphQL's name of a kind's collection query, as the controller makes it: `Router` → `routers`, `FirewallPolicy` → `firewallPolicies`. */
export const collectionOf = (kind: string): string => kindNames(kind).plural;

/** When (epoch ms) each echo reply a {@link Lab.pingFlood} has printed so far arrived. */
export const echoReplies = (ping: NetnsProcess): number[] =>
  [...ping.stdout.join('').matchAll(/^\[(\d+\.\d+)\] \d+ bytes from /gm)].map((m) => Number(m[1]) * 1_000);

/**
 * A running cluster (controller + simulated hosts with agents) and what a test started in it:
 * names under the run's prefix, processes killed by pid at the end, notes for the report.
 */
export class Lab {
  /** Observations for the report, printed by {@link shutdownLab}. */
  readonly notes: string[] = [];
  private seq = 0;
  private readonly children = new Set<ChildProcess>();

  constructor(
    readonly cluster: Cluster,
    readonly prefix: string,
  ) {}

  /** Waits for a complete dist/, then starts the controller and the hosts. */
  static async start(opts: ClusterOptions): Promise<Lab> {
    await waitForDist();
    return new Lab(await Cluster.start(opts), opts.prefix);
  }

  get api(): ControllerProcess {
    return this.cluster.controller;
  }

  hostId(i: number): string {
    return this.cluster.hostIds[i];
  }

  /** `${prefix}-${label}-${n}`, unique within the run. */
  name(label: string): string {
    return `${this.prefix}-${label}-${++this.seq}`;
  }

  /** The agents' last output lines, for failure messages. */
  agentTails(n = 25): string {
    return this.cluster.agents.map((a, i) => `--- agent ${i}:\n${a.lines.slice(-n).join('\n')}`).join('\n');
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

  /** `work`, with the agents' last lines added to its error when it fails. */
  async withAgentLogs<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n${this.agentTails()}`);
    }
  }

  async makeNetwork(label: string, cidr: string): Promise<Net> {
    const { createNetwork } = await this.api.ok<{ createNetwork: { id: string } }>(
      'mutation($input: CreateNetworkInput!) { createNetwork(input: $input, wait: true) { id } }',
      { input: { name: this.name(label) } },
    );
    const { createSubnet } = await this.api.ok<{ createSubnet: { id: string; cidr: string; gatewayIp: string | null } }>(
      'mutation($input: CreateSubnetInput!) { createSubnet(input: $input, wait: true) { id cidr gatewayIp } }',
      { input: { name: this.name(`${label}-subnet`), networkId: createNetwork.id, cidr } },
    );
    return { networkId: createNetwork.id, subnetId: createSubnet.id, cidr: createSubnet.cidr, gatewayIp: createSubnet.gatewayIp };
  }

  /**
   * A port on host `host` (at `ip`, with `labels`, `macAddress` and other `input` fields when
   * given), created with wait: true; throws unless it is APPLIED there (and only there).
   */
  async makePort(net: Net, host: number, ip?: string, opts: { labels?: Record<string, string>; macAddress?: string; input?: Record<string, unknown> } = {}): Promise<PortView> {
    const labels = Object.entries(opts.labels ?? {}).map(([key, value]) => ({ key, value }));
    const name = this.name('port');
    const { createPort } = await this.withAgentLogs(
      this.api.ok<{ createPort: { id: string; hostId: string; fixedIps: { ipAddress: string }[]; status: StatusView[] } }>(
        `mutation($input: CreatePortInput!) { createPort(input: $input, wait: true) { id hostId fixedIps { ipAddress } status { ${STATUS_FIELDS} } } }`,
        {
          input: {
            name,
            networkId: net.networkId,
            hostId: this.hostId(host),
            ...(ip ? { fixedIps: [{ subnetId: net.subnetId, ipAddress: ip }] } : {}),
            ...(labels.length ? { labels } : {}),
            ...(opts.macAddress ? { macAddress: opts.macAddress } : {}),
            ...opts.input,
          },
        },
      ),
    );
    const { status } = createPort;
    if (status.length !== 1 || status[0].hostId !== this.hostId(host) || status[0].state !== 'APPLIED' || status[0].reason !== null) {
      throw new Error(`port ${name} is not APPLIED on host ${host} alone: ${JSON.stringify(status)}\n${this.agentTails()}`);
    }
    return { id: createPort.id, name, hostId: createPort.hostId, ip: createPort.fixedIps[0].ipAddress, ns: attr(status, 'netns', createPort.hostId) };
  }

  /** `create<Kind>` or `update<Kind>` with wait: true; returns the resource with `fields`. */
  async write<T>(kind: string, op: 'create' | 'update', input: Record<string, unknown>, fields: string): Promise<T> {
    const mutation = `${op}${kind}`;
    const data = await this.withAgentLogs(
      this.api.ok<Record<string, T>>(`mutation($input: ${capitalized(op)}${kind}Input!) { ${mutation}(input: $input, wait: true) { ${fields} } }`, { input }),
    );
    return data[mutation];
  }

  /** `<kind>(id)` with `fields`; throws when there is none. */
  async read<T>(kind: string, id: string, fields: string): Promise<T> {
    const query = uncapitalized(kind);
    const data = await this.api.ok<Record<string, T | null>>(`query($id: ID!) { ${query}(id: $id) { ${fields} } }`, { id });
    const found = data[query];
    if (!found) throw new Error(`${kind} ${id} not found`);
    return found;
  }

  /** `delete<Kind>` with wait: true; returns the deleted ids. */
  async remove(kind: string, id: string): Promise<string[]> {
    const mutation = `delete${kind}`;
    const data = await this.withAgentLogs(
      this.api.ok<Record<string, { deletedIds: string[] }>>(`mutation($input: DeleteInput!) { ${mutation}(input: $input, wait: true) { deletedIds } }`, {
        input: { id },
      }),
    );
    return data[mutation].deletedIds;
  }

  /** What the agents observe of plugin resource `id` (`fields` of `<Kind>Observed`), by host; null where nothing is reported yet. */
  async observed<T>(kind: string, id: string, fields: string): Promise<Record<string, T | null>> {
    const { status } = await this.read<{ status: { hostId: string; observed: T | null }[] }>(kind, id, `status { hostId observed { ... on ${kind}Observed { ${fields} } } }`);
    return Object.fromEntries(status.map((s) => [s.hostId, s.observed]));
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

  /**
   * Starts `ip netns exec NS ARGS…` (no shell), marked as the run's (a crashed run's leftovers are
   * found by the marker), kept until {@link shutdownLab} kills it by pid if it still runs.
   */
  spawnIn(ns: string, args: string[]): NetnsProcess {
    const child = spawn('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, [MARKER]: this.prefix } });
    const pid = child.pid;
    if (pid === undefined) throw new Error(`could not start ${args[0]} in ${ns}`);
    this.children.add(child);
    const stdout: string[] = [];
    const stderr: string[] = [];
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    const running = (): boolean => child.exitCode === null && child.signalCode === null;
    const children = this.children;
    return {
      pid,
      stdout,
      stderr,
      exited,
      get running() {
        return running();
      },
      async stop() {
        if (running()) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => running() && child.kill('SIGKILL'), 3_000);
          await exited;
          clearTimeout(timer);
        }
        children.delete(child);
      },
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

  /**
   * A TCP server in `ns` on `port` (`socat TCP-LISTEN:port,reuseaddr,fork`) that answers every
   * connection with `answer` ([A-Za-z0-9._-]) or, for {@link PEER_ADDRESS}, the client's address
   * as it saw it, and closes; resolves once it listens.
   */
  async answerServer(ns: string, port: number, answer: string | typeof PEER_ADDRESS): Promise<NetnsProcess> {
    if (typeof answer === 'string' && !/^[A-Za-z0-9._-]+$/.test(answer)) throw new Error(`answer ${JSON.stringify(answer)} is not [A-Za-z0-9._-]+`);
    const reply = answer === PEER_ADDRESS ? 'SYSTEM:echo $SOCAT_PEERADDR' : `SYSTEM:echo ${answer}`;
    const server = this.spawnIn(ns, ['socat', `TCP-LISTEN:${port},reuseaddr,fork`, reply]);
    await this.listening(server, ns, port, 'socat');
    return server;
  }

  /** Resolves once `ns` listens on TCP `port`; stops `server` and throws when it exits or takes longer than 5 s. */
  async listening(server: NetnsProcess, ns: string, port: number, what: string): Promise<void> {
    try {
      await waitFor(
        async () => {
          if (!server.running) throw new Error(`${what} exited: ${server.stderr.join('')}`);
          return (await netnsExec(ns, ['ss', '-Hltn', `sport = :${port}`])).stdout.includes(`:${port}`);
        },
        5_000,
        50,
        `${what} listening on ${port} in ${ns}`,
      );
    } catch (error) {
      await server.stop();
      throw error;
    }
  }

  /** {@link askTcp}, retried for up to 3 s until the server answers (a retry is noted for the report, with the first failure). */
  async answerFrom(ns: string, ip: string, port: number, what: string): Promise<string> {
    const [first] = await askMany(ns, ip, port, 1);
    if (!first.startsWith('!')) return first;
    const started = Date.now();
    const late = await this.withAgentLogs(waitFor(() => askTcp(ns, ip, port), 3_000, 100, `an answer from ${what}`));
    this.notes.push(`first connection failed (${first.slice(1)}), answered after a retry (${Date.now() - started} ms more): ${what}`);
    return late;
  }

  /** One echo from `ns` to `ip`, retried for up to 3 s until one is answered (a retry is noted for the report). */
  async pingFrom(ns: string, ip: string, what: string): Promise<void> {
    if (await ping(ns, ip)) return;
    const started = Date.now();
    await this.withAgentLogs(waitFor(() => ping(ns, ip), 3_000, 100, `an echo reply from ${what}`));
    this.notes.push(`first ping failed, answered after a retry (${Date.now() - started} ms more): ${what}`);
  }

  /** Kills (by pid) what {@link spawnIn} started and still runs; returns what went wrong. */
  killChildren(): string[] {
    const problems: string[] = [];
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch (error) {
          problems.push(`kill ${child.pid}: ${String(error)}`);
        }
      }
    }
    this.children.clear();
    return problems;
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
