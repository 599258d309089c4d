import { BatchResult, IpBatch, Linux, LinuxInputError, assertNetnsName } from '@netloom/linux';
import { AgentHandle, spawnAgent, StartAgentOptions } from './agent-handle';
import { ExecResult, run } from './commands';
import { assertPrefix, buildBatches, layout, ownedNetns, SimHost, SimLayout } from './layout';
import { markedEnv, markedProcesses, signal, waitGone } from './processes';

export interface SimHostsOptions {
  /** Per run, 1–4 of [a-z0-9] starting with a letter (not `nl`): every name of the run starts with `${prefix}-`. */
  prefix: string;
  count: number;
  /** IPv4; default 100.64.0.0/24. Host i gets its (i+1)-th address; the underlay bridge none. */
  underlayCidr?: string;
  /** Default 1500. */
  underlayMtu?: number;
}

/** What {@link SimulatedHosts.removeStale} removed. */
export interface StaleReport {
  killed: number[];
  namespaces: string[];
}

const EXEC_TIMEOUT_MS = 30_000;

/**
 * K "hosts" on this machine: each a network namespace with one underlay interface, all joined by
 * a bridge in an underlay namespace of their own, and a real agent process per host on demand.
 * Nothing of it touches the root namespace: the controller stays there and agents reach it over
 * its Unix socket (`--agent-socket`), which works across network namespaces.
 */
export class SimulatedHosts {
  private readonly agents = new Map<number, AgentHandle>();
  private readonly agentPrefixes = new Set<string>();

  private constructor(private readonly l: SimLayout) {
    this.agentPrefixes.add(l.prefix);
  }

  get prefix(): string {
    return this.l.prefix;
  }

  get hosts(): readonly SimHost[] {
    return this.l.hosts;
  }

  /** The namespace holding the underlay bridge. */
  get underlayNetns(): string {
    return this.l.underlayNetns;
  }

  /**
   * Builds the hosts with `ip -batch` runs: the namespaces; the underlay bridge and veths; one per
   * host (8 at a time). Refuses a prefix that already has namespaces (see {@link removeStale});
   * removes what it made if a step fails.
   */
  static async create(opts: SimHostsOptions): Promise<SimulatedHosts> {
    const l = layout(opts.prefix, opts.count, opts.underlayCidr, opts.underlayMtu);
    const linux = new Linux();
    const existing = ownedNetns(await linux.netnsList(), [l.prefix]);
    if (existing.length) {
      throw new Error(`namespaces with prefix ${l.prefix} exist (${existing.slice(0, 5).join(', ')}…): run removeStale('${l.prefix}') first`);
    }
    const sim = new SimulatedHosts(l);
    try {
      const { root, underlay, hosts } = buildBatches(l);
      expectOk('create namespaces', await linux.applyIpBatch(root));
      expectOk('build the underlay', await linux.applyIpBatch(underlay));
      (await linux.applyIpBatches(hosts)).forEach((r, i) => expectOk(`configure ${l.hosts[i].name}`, r));
    } catch (error) {
      await sim.destroy().catch(() => undefined);
      throw error;
    }
    return sim;
  }

  /**
   * Starts a real agent process inside host `i`'s network namespace (see {@link spawnAgent} for
   * why with `nsenter --net` rather than `ip netns exec`). One agent per host at a time.
   */
  startAgent(i: number, opts: StartAgentOptions): AgentHandle {
    const host = this.host(i);
    if (this.agents.get(i)?.running) throw new Error(`host ${host.name} already runs an agent (pid ${this.agents.get(i)?.pid})`);
    const prefix = assertPrefix(opts.prefix ?? this.l.prefix, 'agent prefix');
    this.agentPrefixes.add(prefix);
    const agent = spawnAgent(this.l.prefix, host, prefix, opts);
    this.agents.set(i, agent);
    return agent;
  }

  /** The agent last started in host `i`, if any. */
  agent(i: number): AgentHandle | undefined {
    return this.agents.get(i);
  }

  /**
   * Runs `ip netns exec <host i> ...args` (no shell); never throws on a non-zero exit. Meant for
   * commands such as ping or tcpdump: like any `ip netns exec`, it gets a mount namespace of its
   * own, so a namespace it adds is not seen outside it.
   */
  exec(i: number, args: string[], timeoutMs = EXEC_TIMEOUT_MS): Promise<ExecResult> {
    return run('ip', ['netns', 'exec', this.host(i).name, ...args], timeoutMs, markedEnv(this.l.prefix));
  }

  /**
   * Stops the agents it started (SIGTERM, then SIGKILL), then removes everything of the run: every
   * process still carrying its marker and every namespace named `${prefix}-…` or `${agent prefix}-…`
   * (host namespaces with their bridges, veths and VXLAN devices, the agents' port namespaces,
   * the underlay). Safe to call twice.
   */
  async destroy(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.stop()));
    await SimulatedHosts.removeLeftovers(this.l.prefix, [...this.agentPrefixes]);
  }

  /**
   * Removes what an earlier run with `prefix` left behind (a crash, a killed test): kills the
   * processes carrying its marker — the agents it started, their children, commands run with
   * `exec` — and no other, then deletes the namespaces named `${prefix}-…` and `${agentPrefix}-…`
   * (agentPrefix defaults to `prefix`; prefixes found on the killed agents' command lines count too).
   */
  static async removeStale(prefix: string, agentPrefix?: string): Promise<StaleReport> {
    return SimulatedHosts.removeLeftovers(prefix, agentPrefix === undefined ? [] : [agentPrefix]);
  }

  private static async removeLeftovers(prefix: string, agentPrefixes: string[]): Promise<StaleReport> {
    assertPrefix(prefix);
    const prefixes = new Set([prefix, ...agentPrefixes.map((p) => assertPrefix(p, 'agent prefix'))]);
    const processes = await markedProcesses(prefix);
    for (const p of processes) {
      // A prefix found on a stale agent's command line: only when it is a valid one of ours.
      if (p.agentPrefix !== undefined && safePrefix(p.agentPrefix)) prefixes.add(p.agentPrefix);
    }
    const killed = processes.map((p) => p.pid);
    signal(killed, 'SIGKILL');
    await waitGone(killed);

    const linux = new Linux();
    const namespaces = ownedNetns(await linux.netnsList(), [...prefixes]).filter(validNetnsName);
    const batch = new IpBatch();
    for (const name of namespaces) batch.netnsDel(name);
    await linux.applyIpBatch(batch);
    const left = ownedNetns(await linux.netnsList(), [...prefixes]);
    if (left.length) throw new Error(`could not remove namespaces ${left.join(', ')}`);
    return { killed, namespaces };
  }

  private host(i: number): SimHost {
    const host = this.l.hosts[i];
    if (!host) throw new Error(`no simulated host ${i} (there are ${this.l.hosts.length})`);
    return host;
  }
}

function expectOk(step: string, result: BatchResult): void {
  if (!result.ok) throw new Error(`${step}: ${result.failed.map((f) => `${f.text}: ${f.error}`).join('; ')}`);
}

function safePrefix(prefix: string): boolean {
  try {
    assertPrefix(prefix);
    return true;
  } catch {
    return false;
  }
}

function validNetnsName(name: string): boolean {
  try {
    assertNetnsName(name);
    return true;
  } catch (error) {
    if (error instanceof LinuxInputError) return false;
    throw error;
  }
}
