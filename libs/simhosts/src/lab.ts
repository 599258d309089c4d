/**
 * A running cluster (controller + simulated hosts with agents) and what a run does in it, for the
 * plugin end-to-end tests, their benchmarks and the demo: make networks and (labelled) ports
 * through GraphQL, create, read and delete plugin resources with `wait: true`, run servers inside
 * port namespaces (socat, tcpdump, ping: started here, killed by pid), ask them over TCP, and show
 * the agents' last lines when something fails.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { netnsExec, ping, waitFor } from './commands';
import type { Cluster } from './cluster';
import type { ControllerProcess } from './controller-process';
import { MARKER } from './processes';
import { askMany, askTcp } from './tcp-probe';

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

/** A port to make: on network `net`, host `host` (by index), at `ip` when given. */
export interface PortSpec {
  net: Net;
  host: number;
  ip?: string;
  /** `${prefix}-port-${n}` when not given. */
  name?: string;
  labels?: Record<string, string>;
  macAddress?: string;
  /** More CreatePortInput fields. */
  input?: Record<string, unknown>;
}

const PORT_FIELDS = `id hostId fixedIps { ipAddress } status { ${STATUS_FIELDS} }`;

interface PortResult {
  id: string;
  hostId: string;
  fixedIps: { ipAddress: string }[];
  status: StatusView[];
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

/** The answer of {@link Lab.answerServer} that stands for "the peer's address, as the server saw it". */
export const PEER_ADDRESS = Symbol('peer address');

/** A reported attribute of a status (of host `host`, or the first): throws when it is missing. */
export function attr(status: StatusView[], key: string, host?: string): string {
  const s = host ? status.find((x) => x.hostId === host) : status[0];
  const value = s?.attributes.find((a) => a.key === key)?.value;
  if (!value) throw new Error(`no ${key} reported${host ? ` for host ${host}` : ''}: ${JSON.stringify(status)}`);
  return value;
}

const capitalized = (s: string): string => s[0].toUpperCase() + s.slice(1);
const uncapitalized = (s: string): string => s[0].toLowerCase() + s.slice(1);

/**
 * A running cluster and what a run started in it: names under the run's prefix, processes killed
 * by pid at the end ({@link killChildren}), notes for the report.
 */
export class Lab {
  /** Observations for the report (a retry that was needed, a measured time). */
  readonly notes: string[] = [];
  private seq = 0;
  private readonly children = new Set<ChildProcess>();

  constructor(
    readonly cluster: Cluster,
    readonly prefix: string,
  ) {}

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

  /** `work`, with the agents' last lines added to its error when it fails. */
  async withAgentLogs<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n${this.agentTails()}`);
    }
  }

  /** A network named `name` with one subnet `cidr` (named `${name}-subnet`), both created with wait: true; `network`: more of its input (e.g. providerInterface). */
  async makeNetwork(label: string, cidr: string, name = this.name(label), network: Record<string, unknown> = {}): Promise<Net> {
    const { createNetwork } = await this.api.ok<{ createNetwork: { id: string } }>(
      'mutation($input: CreateNetworkInput!) { createNetwork(input: $input, wait: true) { id } }',
      { input: { ...network, name } },
    );
    const { createSubnet } = await this.api.ok<{ createSubnet: { id: string; cidr: string; gatewayIp: string | null } }>(
      'mutation($input: CreateSubnetInput!) { createSubnet(input: $input, wait: true) { id cidr gatewayIp } }',
      { input: { name: `${name}-subnet`, networkId: createNetwork.id, cidr } },
    );
    return { networkId: createNetwork.id, subnetId: createSubnet.id, cidr: createSubnet.cidr, gatewayIp: createSubnet.gatewayIp };
  }

  /**
   * A port on host `host` (at `ip`, with `labels`, `macAddress` and other `input` fields when
   * given), created with wait: true; throws unless it is APPLIED there (and only there).
   */
  async makePort(net: Net, host: number, ip?: string, opts: Omit<PortSpec, 'net' | 'host' | 'ip'> = {}): Promise<PortView> {
    const spec = { net, host, ip, ...opts, name: opts.name ?? this.name('port') };
    const { createPort } = await this.withAgentLogs(
      this.api.ok<{ createPort: PortResult }>(`mutation($input: CreatePortInput!) { createPort(input: $input, wait: true) { ${PORT_FIELDS} } }`, {
        input: this.portInput(spec),
      }),
    );
    return this.appliedPort(spec, createPort);
  }

  /** Ports made in one `createPorts(wait: true)`, in order; throws unless each is APPLIED on its host alone. */
  async makePorts(specs: PortSpec[]): Promise<PortView[]> {
    const named = specs.map((spec) => ({ ...spec, name: spec.name ?? this.name('port') }));
    const { createPorts } = await this.withAgentLogs(
      this.api.ok<{ createPorts: PortResult[] }>(`mutation($inputs: [CreatePortInput!]!) { createPorts(inputs: $inputs, wait: true) { ${PORT_FIELDS} } }`, {
        inputs: named.map((spec) => this.portInput(spec)),
      }),
    );
    return createPorts.map((port, i) => this.appliedPort(named[i], port));
  }

  private portInput(spec: PortSpec & { name: string }): Record<string, unknown> {
    const labels = Object.entries(spec.labels ?? {}).map(([key, value]) => ({ key, value }));
    return {
      name: spec.name,
      networkId: spec.net.networkId,
      hostId: this.hostId(spec.host),
      ...(spec.ip ? { fixedIps: [{ subnetId: spec.net.subnetId, ipAddress: spec.ip }] } : {}),
      ...(labels.length ? { labels } : {}),
      ...(spec.macAddress ? { macAddress: spec.macAddress } : {}),
      ...spec.input,
    };
  }

  private appliedPort(spec: PortSpec & { name: string }, port: PortResult): PortView {
    const { status } = port;
    if (status.length !== 1 || status[0].hostId !== this.hostId(spec.host) || status[0].state !== 'APPLIED' || status[0].reason !== null) {
      throw new Error(`port ${spec.name} is not APPLIED on host ${spec.host} alone: ${JSON.stringify(status)}\n${this.agentTails()}`);
    }
    return { id: port.id, name: spec.name, hostId: port.hostId, ip: port.fixedIps[0].ipAddress, ns: attr(status, 'netns', port.hostId) };
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
