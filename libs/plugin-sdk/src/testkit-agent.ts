import { spawn as spawnChild } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { type BatchResult, CommandRunner, IpBatch, Linux } from '@netloom/linux';
import { linkLocal } from '@netloom/planner';
import { createHostContext, type ManagedHostContext, type PortPlace } from '@netloom/plugin-sdk';
import { hex, scopeFor } from './scoping';

// Connects to argv[1]:argv[2], prints what the server sends until it closes (nothing on failure), gives up after argv[3] ms.
const TCP_ANSWER = `const [address, port, ms] = process.argv.slice(1);
let out = '';
const socket = require('net').connect({ host: address, port: Number(port) });
const timer = setTimeout(() => socket.destroy(), Number(ms));
socket.on('data', (d) => (out += d));
socket.on('error', () => undefined);
socket.on('close', () => { clearTimeout(timer); process.stdout.write(out); });`;

/** A throwaway host for the agent half of a plugin: see {@link agentTestHost}. */
export interface AgentTestHost {
  /** The context the plugin's `agent.reconcile(desired, host)` receives (`close()` ends its probe helpers). */
  host: ManagedHostContext;
  /** The namespace playing the host's own. */
  hostNetns: string;
  /** The per-run agent prefix of every name made. */
  prefix: string;
  /** The runner of every command the context ran: count `mutatingCount` to prove a pass changed nothing. */
  runner: CommandRunner;
  /** The reasons given to `host.requestReconcile`, in order (the test decides whether to run the plugin again). */
  reconcileRequests: string[];
  /** The lines the plugin gave `host.log`, in order. */
  logs: string[];
  /** Creates (up) the bridge of a core network in the host namespace and makes it available to the plugin. */
  addNetworkBridge(networkId: string): Promise<string>;
  /**
   * A namespace of the test's own (not the plugin's), standing for a workload on a core network:
   * `eth0` with `cidr`, its other end (`<prefix>t<tag>`, up) on the network's bridge
   * ({@link addNetworkBridge} first). `tag` is 1-6 of [a-z0-9]. Returns the namespace's name.
   * With `portId`, it also stands for that core port: `host.port(portId)` gives this namespace
   * and `eth0` (the name the agent gives a port's interface in a namespace of its own), so the
   * plugin may keep its nft table there.
   */
  addTestNamespace(tag: string, networkId: string, cidr: string, opts?: { portId?: string }): Promise<string>;
  /** Runs a program inside a namespace (`ip netns exec NS ...args`), never throwing on a non-zero exit. */
  exec(netns: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Starts a program inside a namespace in the background (e.g. a server); `stop()` ends it and what it forked. */
  spawn(netns: string, args: string[]): { readonly pid: number; stop(): Promise<void> };
  /** Resolves once something listens on TCP `port` inside the namespace; throws after `timeoutMs` (default 5 s). */
  waitListening(netns: string, port: number, timeoutMs?: number): Promise<void>;
  /** Connects from inside `netns` and returns what the server sends before closing, trimmed ('' when nothing answers). */
  tcpAnswer(netns: string, address: string, port: number, timeoutMs?: number): Promise<string>;
  /** Ends what it started (background programs, probe helpers, the plugin's daemons), then removes the host namespace, the test's and the plugin's namespaces. */
  destroy(): Promise<void>;
}

/**
 * A host for testing a plugin's agent half against the real kernel (as root): everything lives
 * in a throwaway namespace standing for the host, and in the plugin's own namespaces, all named
 * with a per-run prefix. Call `destroy()` in `afterAll`, even when a test failed.
 */
export async function agentTestHost(opts: {
  pluginId: string;
  prefix?: string;
  /** Programs the plugin may run as daemons (as the agent's `--daemon-allow`); none by default. */
  daemonAllow?: readonly string[];
}): Promise<AgentTestHost> {
  const prefix = opts.prefix ?? `t${randomBytes(2).toString('hex').slice(0, 3)}`;
  const hostId = `test-host-${randomBytes(4).toString('hex')}`;
  const hostNetns = `${prefix}-testhost-${hex(hostId, 6)}`;
  const runner = new CommandRunner();
  const linux = new Linux(runner);
  const networkBridges = new Map<string, string>();
  const ports = new Map<string, PortPlace>();
  const daemonDir = mkdtempSync(join(tmpdir(), `netloom-daemons-${prefix}-`));
  await linux.applyIpBatch(new IpBatch().netnsAdd(hostNetns));
  await linux.applyIpBatch(new IpBatch(hostNetns).linkSet('lo', { up: true }));
  const reconcileRequests: string[] = [];
  const logs: string[] = [];
  const spawned = new Set<{ stop(): Promise<void> }>();
  const must = (result: BatchResult, what: string): void => {
    if (!result.ok) throw new Error(`could not create ${what}: ${result.failed.map((f) => f.error).join('; ')}`);
  };
  const exec = async (netns: string, args: string[]) => {
    const r = await execa('ip', ['netns', 'exec', netns, ...args], { reject: false, env: { LC_ALL: 'C' } });
    return { code: typeof r.exitCode === 'number' ? r.exitCode : -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  };
  const host = createHostContext({
    linux,
    pluginId: opts.pluginId,
    agentPrefix: prefix,
    hostId,
    hostNetns,
    networkBridges,
    ports,
    requestReconcile: (reason) => reconcileRequests.push(reason),
    log: (line) => logs.push(line),
    daemons: { allow: opts.daemonAllow ?? [], runDir: daemonDir },
  });
  const scope = scopeFor(prefix, hostId, opts.pluginId);
  return {
    host,
    hostNetns,
    prefix,
    runner,
    reconcileRequests,
    logs,
    async addNetworkBridge(networkId) {
      const bridge = `${prefix}b${hex(networkId, 8)}`;
      must(await linux.applyIpBatch(new IpBatch(hostNetns).bridgeAdd(bridge, { up: true, mcastSnooping: false })), `bridge ${bridge}`);
      networkBridges.set(networkId, bridge);
      return bridge;
    },
    async addTestNamespace(tag, networkId, cidr, nsOpts) {
      if (!/^[a-z0-9]{1,6}$/.test(tag)) throw new Error(`test namespace tag ${JSON.stringify(tag)}: 1-6 of [a-z0-9]`);
      const bridge = networkBridges.get(networkId);
      if (!bridge) throw new Error(`network ${networkId} has no bridge here: call addNetworkBridge first`);
      const netns = `${hostNetns}-${tag}`;
      must(await linux.applyIpBatch(new IpBatch().netnsAdd(netns)), `namespace ${netns}`);
      must(await linux.applyIpBatch(new IpBatch(hostNetns).vethAdd(`${prefix}t${tag}`, { peer: 'eth0', peerNetns: netns, master: bridge, up: true })), `a leg for ${netns}`);
      must(
        await linux.applyIpBatch(new IpBatch(netns).linkSet('lo', { up: true }).linkSet('eth0', { addrgenmode: 'none', up: true }).addrReplace(cidr, 'eth0')),
        `eth0 in ${netns}`,
      );
      if (nsOpts?.portId !== undefined) {
        // As the agent says it: the port's address and the link-local of its MAC (port security allows both).
        const mac = (await linux.links(netns)).find((l) => l.ifname === 'eth0')?.address;
        ports.set(nsOpts.portId, { netns, ifname: 'eth0', hostIfname: `${prefix}t${tag}`, bridge, addresses: [cidr.split('/')[0], ...(mac ? [linkLocal(mac)] : [])] });
      }
      return netns;
    },
    exec,
    spawn(netns, args) {
      // Its own process group (`ip netns exec` becomes the program): stopping it ends what it forked too.
      const child = spawnChild('ip', ['netns', 'exec', netns, ...args], { stdio: 'ignore', detached: true, env: { ...process.env, LC_ALL: 'C' } });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const pid = child.pid;
      if (pid === undefined) throw new Error(`could not start ${args.join(' ')} in ${netns}`);
      const handle = {
        pid,
        async stop() {
          spawned.delete(handle);
          try {
            if (child.exitCode === null && child.signalCode === null) process.kill(-pid, 'SIGTERM');
          } catch {
            // Already gone.
          }
          await exited;
        },
      };
      spawned.add(handle);
      return handle;
    },
    async waitListening(netns, port, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while ((await exec(netns, ['ss', '-Hltn', 'sport', '=', `:${port}`])).stdout.trim() === '') {
        if (Date.now() > deadline) throw new Error(`nothing listens on TCP ${port} in ${netns} after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async tcpAnswer(netns, address, port, timeoutMs = 2_000) {
      return (await exec(netns, [process.execPath, '-e', TCP_ANSWER, address, String(port), String(timeoutMs)])).stdout.trim();
    },
    async destroy() {
      await Promise.all([...spawned].map((p) => p.stop()));
      await host.close();
      rmSync(daemonDir, { recursive: true, force: true });
      const doomed = (await linux.netnsList()).filter((ns) => ns === hostNetns || ns.startsWith(`${hostNetns}-`) || ns.startsWith(scope.netnsPrefix));
      if (doomed.length === 0) return;
      const batch = new IpBatch();
      for (const ns of doomed) batch.netnsDel(ns);
      await linux.applyIpBatch(batch);
    },
  };
}
