import { ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { NETNS_DIR } from '@netloom/linux';
import { markedEnv, signal } from './processes';
import type { SimHost } from './layout';
import { OutputLines } from './output-lines';

export interface StartAgentOptions {
  /**
   * What the agent dials: `unix:/path/to.sock` (the controller's `--agent-socket`) or an http(s)
   * URL; several for controller replicas (one `--controller` flag each).
   */
  controller: string | readonly string[];
  joinToken?: string;
  /** The agent's state folder (a temporary folder per agent). */
  stateDir: string;
  /** The built agent entry point (dist/apps/agent/src/main.js). */
  agentMain: string;
  /** The agent's Linux-name prefix; defaults to the simulation's prefix. */
  prefix?: string;
  resyncMs?: number;
  /** How often the agent asks its plugins what they observe (`--observe-ms`; the agent's default otherwise). */
  observeMs?: number;
  /** How often the agent reads and sends port counters (`--counters-ms`; the agent's default otherwise). */
  countersMs?: number;
  /** The agent's `--provider-mapping` values (`PHYSNET:IFACE`), one flag each. */
  providerMappings?: readonly string[];
  /** Extra agent flags (e.g. `--plugins`, `--plugin-dir`). */
  extraArgs?: readonly string[];
}

/** A real agent process running inside one simulated host. */
export interface AgentHandle {
  readonly host: SimHost;
  readonly pid: number;
  /** The agent's Linux-name prefix. */
  readonly prefix: string;
  /** Every output line so far (stderr, and stdout as `[stdout] …`), then `[exit] …`. */
  readonly lines: readonly string[];
  readonly running: boolean;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  /** Resolves with the first line (from index `since` on) matching `pattern`. */
  waitForLog(pattern: RegExp, timeoutMs?: number, since?: number): Promise<string>;
  /** Sends `signal` (default SIGTERM), SIGKILL after 5 s, and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** SIGKILL to the agent and its children (a host crash), and waits for the exit. */
  kill9(): Promise<void>;
}

const STOP_GRACE_MS = 5_000;

/**
 * Spawns the agent in `host`'s network namespace with `nsenter --net`, not `ip netns exec`: the
 * latter also gives the process a mount namespace of its own, where the port namespaces the agent
 * creates (bind mounts under /run/netns) stay invisible to everyone else and vanish with it.
 */
export function spawnAgent(simPrefix: string, host: SimHost, prefix: string, o: StartAgentOptions): AgentHandle {
  const controllers = typeof o.controller === 'string' ? [o.controller] : o.controller;
  const args = [...controllers.flatMap((c) => ['--controller', c]), '--state-dir', o.stateDir, '--prefix', prefix];
  // The join token in the environment, as operators are told to: never on a command line `ps` shows.
  const env = markedEnv(simPrefix);
  if (o.joinToken !== undefined) env.NETLOOM_JOIN_TOKEN = o.joinToken;
  if (o.resyncMs !== undefined) args.push('--resync-ms', String(o.resyncMs));
  if (o.observeMs !== undefined) args.push('--observe-ms', String(o.observeMs));
  if (o.countersMs !== undefined) args.push('--counters-ms', String(o.countersMs));
  for (const mapping of o.providerMappings ?? []) args.push('--provider-mapping', mapping);
  args.push(...(o.extraArgs ?? []));
  const child = spawn('nsenter', [`--net=${NETNS_DIR}/${host.name}`, '--', process.execPath, o.agentMain, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
    // Its own process group, so a crash can take the agent's children (`ip monitor`) with it.
    detached: true,
  });
  const { pid } = child;
  if (pid === undefined) throw new Error(`could not start an agent in ${host.name} (is nsenter installed?)`);
  return new Handle(child, pid, host, prefix);
}

class Handle implements AgentHandle {
  readonly exited: Promise<void>;
  private done = false;
  private readonly output = new OutputLines();

  constructor(
    child: ChildProcess,
    readonly pid: number,
    readonly host: SimHost,
    readonly prefix: string,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, sig) => {
        this.done = true;
        this.push(`[exit] pid ${pid} code ${code} signal ${sig}`);
        resolve();
      });
    });
    child.once('error', (error) => this.push(`[error] ${error.message}`));
    if (child.stderr) createInterface({ input: child.stderr }).on('line', (line) => this.push(line));
    if (child.stdout) createInterface({ input: child.stdout }).on('line', (line) => this.push(`[stdout] ${line}`));
  }

  get running(): boolean {
    return !this.done;
  }

  get lines(): string[] {
    return this.output.lines;
  }

  waitForLog(pattern: RegExp, timeoutMs = 15_000, since = 0): Promise<string> {
    return this.output.waitFor(pattern, timeoutMs, since, `the agent in ${this.host.name}`);
  }

  async stop(sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.done) return;
    signal([this.pid], sig);
    const timer = setTimeout(() => this.killGroup(), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }

  async kill9(): Promise<void> {
    this.killGroup();
    await this.exited;
  }

  // Only while the agent is not reaped: until then its pid, the group's id, cannot be reused.
  private killGroup(): void {
    if (!this.done) signal([-this.pid], 'SIGKILL');
  }

  private push(line: string): void {
    this.output.push(line);
  }
}
