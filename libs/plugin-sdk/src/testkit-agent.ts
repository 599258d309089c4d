import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { CommandRunner, IpBatch, Linux } from '@netloom/linux';
import type { HostContext } from './host-context';
import { createHostContext } from './host-context-impl';
import { hex, scopeFor } from './scoping';

/** A throwaway host for the agent half of a plugin: see {@link agentTestHost}. */
export interface AgentTestHost {
  /** The context the plugin's `agent.reconcile(desired, host)` receives. */
  host: HostContext;
  /** The namespace playing the host's own. */
  hostNetns: string;
  /** The per-run agent prefix of every name made. */
  prefix: string;
  /** The runner of every command the context ran: count `mutatingCount` to prove a pass changed nothing. */
  runner: CommandRunner;
  /** Creates (up) the bridge of a core network in the host namespace and makes it available to the plugin. */
  addNetworkBridge(networkId: string): Promise<string>;
  /** Runs a program inside a namespace (`ip netns exec NS ...args`), never throwing on a non-zero exit. */
  exec(netns: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Removes the host namespace and every namespace of the plugin. */
  destroy(): Promise<void>;
}

/**
 * A host for testing a plugin's agent half against the real kernel (as root): everything lives
 * in a throwaway namespace standing for the host, and in the plugin's own namespaces, all named
 * with a per-run prefix. Call `destroy()` in `afterAll`, even when a test failed.
 */
export async function agentTestHost(opts: { pluginId: string; prefix?: string }): Promise<AgentTestHost> {
  const prefix = opts.prefix ?? `t${randomBytes(2).toString('hex').slice(0, 3)}`;
  const hostId = `test-host-${randomBytes(4).toString('hex')}`;
  const hostNetns = `${prefix}-testhost-${hex(hostId, 6)}`;
  const runner = new CommandRunner();
  const linux = new Linux(runner);
  const networkBridges = new Map<string, string>();
  await linux.applyIpBatch(new IpBatch().netnsAdd(hostNetns));
  await linux.applyIpBatch(new IpBatch(hostNetns).linkSet('lo', { up: true }));
  const host = createHostContext({ linux, pluginId: opts.pluginId, agentPrefix: prefix, hostId, hostNetns, networkBridges });
  const scope = scopeFor(prefix, hostId, opts.pluginId);
  return {
    host,
    hostNetns,
    prefix,
    runner,
    async addNetworkBridge(networkId) {
      const bridge = `${prefix}b${hex(networkId, 8)}`;
      const result = await linux.applyIpBatch(new IpBatch(hostNetns).bridgeAdd(bridge, { up: true, mcastSnooping: false }));
      if (!result.ok) throw new Error(`could not create bridge ${bridge}: ${result.failed.map((f) => f.error).join('; ')}`);
      networkBridges.set(networkId, bridge);
      return bridge;
    },
    async exec(netns, args) {
      const r = await execa('ip', ['netns', 'exec', netns, ...args], { reject: false, env: { LC_ALL: 'C' } });
      return { code: typeof r.exitCode === 'number' ? r.exitCode : -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
    },
    async destroy() {
      const doomed = (await linux.netnsList()).filter((ns) => ns === hostNetns || ns.startsWith(scope.netnsPrefix));
      if (doomed.length === 0) return;
      const batch = new IpBatch();
      for (const ns of doomed) batch.netnsDel(ns);
      await linux.applyIpBatch(batch);
    },
  };
}
