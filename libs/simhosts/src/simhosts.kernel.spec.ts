// Real kernel, as root: simulated hosts, the real controller (root namespace, Unix agent socket)
// and real agents inside the host namespaces. Every name carries a per-run prefix; traffic stays
// between namespaces this file made; everything is removed afterwards, even on failure.
import { randomInt } from 'node:crypto';
import { mkdtempSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Linux, NETNS_DIR } from '@netloom/linux';
import { ControllerProcess } from './controller-process';
import { createHost } from '../../../test/support/fixtures';
import { waitFor, waitForDist } from '../../../test/support/agent';
import { dist } from './paths';
import { alive, markedProcesses } from './processes';
import { AgentHandle, SimulatedHosts } from '.';

jest.setTimeout(60_000);

const describeKernel: jest.Describe = process.getuid?.() === 0 ? describe : describe.skip;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const runPrefix = (first: string): string => `${first}${Array.from({ length: 3 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('')}`;

/** What is left of a prefix: namespaces, root-namespace links, marked processes. */
async function leftovers(prefix: string): Promise<string[]> {
  const linux = new Linux();
  const netns = (await linux.netnsList()).filter((n) => n.startsWith(`${prefix}-`));
  const links = (await linux.links()).map((l) => l.ifname).filter((n) => n.startsWith(prefix));
  const processes = (await markedProcesses(prefix)).map((p) => `pid ${p.pid}`);
  return [...netns, ...links, ...processes];
}

const netnsOf = (pid: number): string => readlinkSync(`/proc/${pid}/ns/net`);
const netnsInode = (name: string): string => `net:[${statSync(`${NETNS_DIR}/${name}`).ino}]`;

describeKernel('SimulatedHosts (kernel)', () => {
  const P = runPrefix('s');
  const STALE = runPrefix('z');
  const dir = mkdtempSync(join(tmpdir(), `netloom-${P}-`));
  let sim: SimulatedHosts | undefined;
  let controller: ControllerProcess | undefined;
  const agents: AgentHandle[] = [];

  beforeAll(async () => {
    sim = await SimulatedHosts.create({ prefix: P, count: 3 });
  });

  afterAll(async () => {
    await controller?.destroy();
    await sim?.destroy();
    await SimulatedHosts.removeStale(P);
    await SimulatedHosts.removeStale(STALE);
    rmSync(dir, { recursive: true, force: true });
    expect([...(await leftovers(P)), ...(await leftovers(STALE))]).toEqual([]);
  });

  it('builds hosts on an underlay bridge in namespaces of their own', async () => {
    const linux = new Linux();
    expect(sim!.hosts).toEqual([0, 1, 2].map((i) => ({ index: i, name: `${P}-h${i}`, vtep: `100.64.0.${i + 1}`, underlayIf: 'ul0' })));
    expect((await linux.netnsList()).filter((n) => n.startsWith(`${P}-`))).toEqual([`${P}-h0`, `${P}-h1`, `${P}-h2`, `${P}-ul`]);
    const underlay = await linux.links(`${P}-ul`);
    expect(underlay.find((l) => l.ifname === 'br0')).toMatchObject({ kind: 'bridge', up: true, mtu: 1500, addrGenMode: 'none' });
    for (const i of [0, 1, 2]) {
      expect(underlay.find((l) => l.ifname === `h${i}`)).toMatchObject({ kind: 'veth', master: 'br0', up: true, addrGenMode: 'none' });
      const host = await linux.links(`${P}-h${i}`);
      expect(host.find((l) => l.ifname === 'ul0')).toMatchObject({ kind: 'veth', up: true, mtu: 1500, addrGenMode: 'none', operstate: 'UP' });
      expect(host.find((l) => l.ifname === 'lo')).toMatchObject({ up: true });
      // addrgenmode none: the VTEP and nothing else (no IPv6 link-local).
      expect(await linux.addresses(`${P}-h${i}`, 'ul0')).toEqual([
        { ifname: 'ul0', addresses: [{ family: 4, local: `100.64.0.${i + 1}`, prefixlen: 24, scope: 'global' }] },
      ]);
    }
  });

  it("pings every other host's VTEP over the underlay", async () => {
    const pairs = [0, 1, 2].flatMap((i) => [0, 1, 2].filter((j) => j !== i).map((j) => [i, j] as const));
    const results = await Promise.all(pairs.map(([i, j]) => sim!.exec(i, ['ping', '-c1', '-W2', sim!.hosts[j].vtep])));
    expect(results.map((r, k) => `${pairs[k].join('->')}: ${r.code}`)).toEqual(pairs.map((p) => `${p.join('->')}: 0`));
  });

  it('runs real agents in two hosts, joined to the real controller over its Unix socket', async () => {
    await waitForDist();
    controller = new ControllerProcess(mkdtempSync(join(dir, 'c-')));
    const socket = join(dir, 'agents.sock');
    await controller.launch(['--agent-socket', socket]);
    expect(controller.agentSocket).toBe(socket);

    const hostIds: string[] = [];
    for (const i of [0, 1]) {
      const { host, joinToken } = await createHost(controller, `${P}-h${i}-${process.pid}`, sim!.hosts[i].vtep);
      hostIds.push(host.id);
      agents.push(
        sim!.startAgent(i, {
          controller: `unix:${controller.agentSocket}`,
          joinToken,
          stateDir: mkdtempSync(join(dir, `a${i}-`)),
          agentMain: dist('apps/agent/src/main.js'),
          resyncMs: 2_000,
        }),
      );
    }
    const connected = async (id: string): Promise<boolean> =>
      (await controller!.ok<{ host: { agent: { connected: boolean } | null } }>('query($id: ID!) { host(id: $id) { agent { connected } } }', { id })).host.agent
        ?.connected === true;
    try {
      await waitFor(async () => (await connected(hostIds[0])) && (await connected(hostIds[1])), 20_000, 200, 'both agents connected');
    } catch (error) {
      throw new Error(`${String(error)}\n${agents.map((a) => `agent in ${a.host.name}:\n${a.lines.join('\n')}`).join('\n')}`);
    }
    await Promise.all(agents.map((a) => a.waitForLog(/joined as host/)));
    for (const [i, agent] of agents.entries()) {
      expect(agent.running).toBe(true);
      // In the host's network namespace, but in ours for mounts (so its port namespaces are global).
      expect(netnsOf(agent.pid)).toBe(netnsInode(`${P}-h${i}`));
      expect(readlinkSync(`/proc/${agent.pid}/ns/mnt`)).toBe(readlinkSync('/proc/self/ns/mnt'));
    }
  });

  it('destroy() stops the agents and leaves no namespace, link or process of the run', async () => {
    await sim!.destroy();
    expect(agents.map((a) => a.running)).toEqual([false, false]);
    // Asked to stop, not killed.
    for (const a of agents) expect(a.lines.some((l) => /SIGTERM: stopping/.test(l))).toBe(true);
    expect(await Promise.all(agents.map((a) => alive(a.pid)))).toEqual([false, false]);
    expect(await leftovers(P)).toEqual([]);
  });

  it('removeStale() removes an abandoned run: its agent processes and namespaces', async () => {
    // A run that crashed: the object is gone, its namespaces and its agent are not.
    const abandon = async (): Promise<AgentHandle> => {
      const run = await SimulatedHosts.create({ prefix: STALE, count: 2, underlayCidr: '10.99.0.0/29', underlayMtu: 1400 });
      expect(await run.exec(0, ['ping', '-c1', '-W2', '10.99.0.2'])).toMatchObject({ code: 0 });
      // An agent that never reaches a controller keeps retrying: a stale process to find.
      const agent = run.startAgent(1, {
        controller: `unix:${join(dir, 'nobody.sock')}`,
        joinToken: 'nlj_none',
        stateDir: mkdtempSync(join(dir, 'stale-')),
        agentMain: dist('apps/agent/src/main.js'),
      });
      await agent.waitForLog(/retrying/);
      return agent;
    };
    const stale = await abandon();

    const report = await SimulatedHosts.removeStale(STALE);
    expect(report.killed).toContain(stale.pid);
    expect(report.namespaces.sort()).toEqual([`${STALE}-h0`, `${STALE}-h1`, `${STALE}-ul`]);
    await stale.exited;
    expect(await leftovers(STALE)).toEqual([]);
    // Nothing left to do the second time.
    expect(await SimulatedHosts.removeStale(STALE)).toEqual({ killed: [], namespaces: [] });
  });

  it('refuses a prefix whose namespaces exist, and the agent default prefix', async () => {
    await expect(SimulatedHosts.create({ prefix: 'nl', count: 1 })).rejects.toThrow(/agent's default/);
    const again = await SimulatedHosts.create({ prefix: STALE, count: 1 });
    try {
      await expect(SimulatedHosts.create({ prefix: STALE, count: 1 })).rejects.toThrow(/removeStale/);
    } finally {
      await again.destroy();
    }
    expect(await leftovers(STALE)).toEqual([]);
  });
});
