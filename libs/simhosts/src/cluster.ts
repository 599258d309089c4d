import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentHandle, StartAgentOptions } from './agent-handle';
import { ControllerProcess } from './controller-process';
import { dist } from './paths';
import { SimulatedHosts } from './simulated-hosts';

export interface ClusterOptions {
  /** Per-run prefix of every name the simulation makes (see SimulatedHosts). */
  prefix: string;
  hosts: number;
  resyncMs?: number;
  /** The agents' `--observe-ms` (e.g. 500 for tests that wait for health or counters). */
  observeMs?: number;
  /** The agents' `--counters-ms`. */
  countersMs?: number;
  /** Extra controller flags (e.g. `--port 8080`). */
  controllerArgs?: string[];
  /** Where the controller keeps its database; a temporary folder by default. */
  dataDir?: string;
  /** A PostgreSQL URL for the controller (ControllerOptions.database); the SQLite file in dataDir by default. */
  database?: string;
  /** Every agent's `--provider-mapping` values (`PHYSNET:IFACE`). */
  providerMappings?: readonly string[];
  /** Extra flags of every agent (e.g. `--plugins`, `--plugin-dir`). */
  agentArgs?: readonly string[];
}

/** A running controller and K simulated hosts whose agents joined it: the whole product on one machine. */
export class Cluster {
  private constructor(
    readonly controller: ControllerProcess,
    readonly sim: SimulatedHosts,
    /** The controller's id of each simulated host, by index. */
    readonly hostIds: string[],
    readonly agents: AgentHandle[],
    private readonly tempDir: string,
    /** How each agent was started (its state dir above all), to start it again. */
    private readonly agentOptions: StartAgentOptions[],
    private readonly controllerArgs: string[],
  ) {}

  /** Starts the controller (with an agent socket), the hosts, one agent each, and waits until all are connected. */
  static async start(opts: ClusterOptions): Promise<Cluster> {
    const tempDir = mkdtempSync(join(tmpdir(), `netloom-cluster-${opts.prefix}-`));
    const controller = new ControllerProcess(opts.dataDir ?? join(tempDir, 'controller'), { database: opts.database });
    let sim: SimulatedHosts | undefined;
    const controllerArgs = ['--agent-socket', join(tempDir, 'agents.sock'), ...(opts.controllerArgs ?? [])];
    try {
      await controller.launch(controllerArgs);
      sim = await SimulatedHosts.create({ prefix: opts.prefix, count: opts.hosts });
      const hostIds: string[] = [];
      const agents: AgentHandle[] = [];
      const agentOptions: StartAgentOptions[] = [];
      for (const host of sim.hosts) {
        const { createHost } = await controller.ok<{ createHost: { host: { id: string }; joinToken: string } }>(
          'mutation($name: String!, $vtep: String!) { createHost(input: { name: $name, vtepAddress: $vtep }) { host { id } joinToken } }',
          { name: host.name, vtep: host.vtep },
        );
        hostIds.push(createHost.host.id);
        const options: StartAgentOptions = {
          controller: `unix:${controller.agentSocket}`,
          joinToken: createHost.joinToken,
          stateDir: mkdtempSync(join(tempDir, `agent-${host.index}-`)),
          agentMain: dist('apps/agent/src/main.js'),
          resyncMs: opts.resyncMs,
          observeMs: opts.observeMs,
          countersMs: opts.countersMs,
          providerMappings: opts.providerMappings,
          extraArgs: opts.agentArgs,
        };
        agentOptions.push(options);
        agents.push(sim.startAgent(host.index, options));
      }
      const cluster = new Cluster(controller, sim, hostIds, agents, tempDir, agentOptions, controllerArgs);
      await cluster.waitConnected(30_000);
      return cluster;
    } catch (error) {
      await sim?.destroy();
      await controller.destroy();
      rmSync(tempDir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Ends host `i`'s agent with SIGKILL (a crash) and starts it again on its state dir (its stored credential). */
  async restartAgent(i: number): Promise<AgentHandle> {
    await this.agents[i].kill9();
    this.agents[i] = this.sim.startAgent(i, { ...this.agentOptions[i], joinToken: undefined });
    return this.agents[i];
  }

  /** Ends the controller with SIGKILL (a crash) and starts it again on the same data dir and flags. */
  async crashController(downMs = 0): Promise<void> {
    await this.controller.kill('SIGKILL');
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.controller.launch(this.controllerArgs);
  }

  /** Resolves when every host's agent shows as connected. */
  async waitConnected(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { hosts } = await this.controller.ok<{ hosts: { edges: { node: { id: string; agent: { connected: boolean } | null } }[] } }>(
        '{ hosts(first: 1000) { edges { node { id agent { connected } } } } }',
      );
      const connected = new Set(hosts.edges.filter((e) => e.node.agent?.connected).map((e) => e.node.id));
      if (this.hostIds.every((id) => connected.has(id))) return;
      if (Date.now() > deadline) throw new Error(`agents not connected after ${timeoutMs} ms:\n${this.agents.map((a) => a.lines.slice(-5).join('\n')).join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stops the agents, removes every namespace the run made, stops the controller, removes temporary files. */
  async destroy(): Promise<void> {
    // Every step, even after one failed: a namespace that would not go must not leave the controller running.
    const errors: unknown[] = [];
    await this.sim.destroy().catch((error: unknown) => errors.push(error));
    await this.controller.destroy().catch((error: unknown) => errors.push(error));
    rmSync(this.tempDir, { recursive: true, force: true });
    if (errors.length) throw new AggregateError(errors, `cluster destroy: ${errors.map(String).join('; ')}`);
  }
}
