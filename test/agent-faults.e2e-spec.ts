/**
 * Faults injected for real into a running agent's host (issue "Trust", agent and data-plane
 * faults): one real controller and one simulated host with a real agent (libs/simhosts), driven
 * through the public GraphQL API; every assertion is about processes or packets.
 *
 * The tests run in order; the last one kills the agent. Every name carries a per-run prefix;
 * everything goes in afterAll, even on failure.
 */
import { readdir, readFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { netnsExec, ping, run, waitFor } from './support/agent';
import { attr, Lab, runPrefix, shutdownLab, STATUS_FIELDS, type StatusView } from './support/plugin-e2e';

const describeRoot = process.getuid?.() === 0 ? describe : describe.skip;
jest.setTimeout(90_000);

/** This run's prefix: 'j' + 3 random [a-z0-9]. */
const P = runPrefix('j');

let lab: Lab | undefined;
const theLab = (): Lab => {
  if (!lab) throw new Error('no cluster');
  return lab;
};

interface Proc {
  pid: number;
  ppid: number;
  cmdline: string;
}

/** Every live process (zombies left out) with its parent and command line, from /proc. */
async function processes(): Promise<Proc[]> {
  const out: Proc[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    // A process may end between the listing and the reads.
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    if (!stat) continue;
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (state === 'Z' || state === 'X') continue;
    const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ').trim();
    out.push({ pid: Number(entry), ppid: Number(ppid), cmdline });
  }
  return out;
}

/** The processes descending from `pid` (its children, theirs, …). */
async function descendants(pid: number): Promise<Proc[]> {
  const all = await processes();
  const found: Proc[] = [];
  const parents = new Set([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of all) {
      if (parents.has(p.ppid) && !parents.has(p.pid)) {
        parents.add(p.pid);
        found.push(p);
        grew = true;
      }
    }
  }
  return found;
}

describeRoot(`agent and data-plane faults: 1 simulated host, a real agent (prefix ${P})`, () => {
  beforeAll(async () => {
    lab = await Lab.start({ prefix: P, hosts: 1, observeMs: 500 });
  }, 90_000);

  afterAll(async () => {
    expect(await shutdownLab(lab, P, 'agent faults e2e')).toEqual({ problems: [], left: [] });
  }, 60_000);

  it('a port whose namespace file is left with nothing mounted on it (as after an agent in another mount namespace) is made again and talks', async () => {
    const l = theLab();
    const net = await l.makeNetwork('deadnet', '10.94.2.0/24');
    const a = await l.makePort(net, 0);
    const b = await l.makePort(net, 0);
    await l.pingFrom(a.ns, b.ip, 'port b, before');
    // A mark inside the namespace tells the old one from a new one (namespace inode numbers are reused).
    expect(await run('ip', ['-n', a.ns, 'link', 'add', 'mark0', 'type', 'veth', 'peer', 'name', 'mark1'])).toMatchObject({ code: 0 });

    // The namespace's mount goes, its file stays: nothing holds the namespace, so it dies with its veth.
    const umount = await run('umount', [`/run/netns/${a.ns}`]);
    expect(umount).toMatchObject({ code: 0 });
    const started = Date.now();
    expect((await readdir('/run/netns')).includes(a.ns)).toBe(true);

    const status = await l.withAgentLogs(
      waitFor(
        async () => {
          const mounted = (await readFile('/proc/self/mountinfo', 'utf8')).includes(` /run/netns/${a.ns} `);
          const again = mounted && (await run('ip', ['-n', a.ns, 'link', 'show', 'eth0'])).code === 0 && (await run('ip', ['-n', a.ns, 'link', 'show', 'mark0'])).code !== 0;
          const port = await l.read<{ status: StatusView[] }>('Port', a.id, `status { ${STATUS_FIELDS} }`);
          return again && port.status[0]?.state === 'APPLIED' ? port.status : undefined;
        },
        15_000,
        100,
        `port a APPLIED again in a new namespace ${a.ns}`,
      ),
    );
    expect(status).toEqual([expect.objectContaining({ state: 'APPLIED', reason: null })]);
    l.notes.push(`dead namespace file: port APPLIED in a new namespace ${Date.now() - started} ms after the umount`);
    await l.pingFrom(a.ns, b.ip, 'port b, after');
    await l.pingFrom(b.ns, a.ip, 'port a, after');
  });

  it('a firewall table deleted by hand in the host namespace is back within 2 s, and drops again', async () => {
    const l = theLab();
    const net = await l.makeNetwork('fwnet', '10.94.3.0/24');
    const a = await l.makePort(net, 0);
    const b = await l.makePort(net, 0);
    await l.pingFrom(b.ns, a.ip, 'port a, before the policy');
    const policy = await l.write<{ id: string; status: StatusView[] }>(
      'FirewallPolicy',
      'create',
      // Ingress to a: ICMP dropped, the rest by the default (DROP too).
      { name: l.name('fw'), selector: { portIds: [a.id] }, ingressDefault: 'DROP', rules: [{ priority: 10, direction: 'INGRESS', protocol: 'ICMP', ports: [], remoteCidrs: [], remoteGroupIds: [], action: 'DROP' }] },
      `id status { ${STATUS_FIELDS} }`,
    );
    expect(policy.status).toEqual([expect.objectContaining({ state: 'APPLIED' })]);
    expect(await ping(b.ns, a.ip)).toBe(false);
    // The firewall's table is the host's (one per host), in the namespace where the bridges are.
    const hostNs = l.cluster.sim.hosts[0].name;
    const tables = async (): Promise<string[]> => {
      const listed = JSON.parse((await netnsExec(hostNs, ['nft', '-j', 'list', 'tables'])).stdout || '{}') as { nftables?: { table?: { family: string; name: string } }[] };
      return (listed.nftables ?? []).flatMap((i) => (i.table?.family === 'inet' ? [i.table.name] : []));
    };
    const [table] = await tables();
    expect(table).toMatch(new RegExp(`^${P}_[0-9a-f]{3}$`));

    // Deleted by hand, by a process whose pid we know (`ip netns exec` becomes nft).
    const mark = l.cluster.agents[0].lines.length;
    const started = Date.now();
    const deleter = spawn('ip', ['netns', 'exec', hostNs, 'nft', 'delete', 'table', 'inet', table], { stdio: 'ignore' });
    const code = await new Promise<number | null>((done) => deleter.once('exit', done));
    expect(code).toBe(0);
    // The agent heard exactly that process, and put the table back.
    await l.cluster.agents[0].waitForLog(new RegExp(`nft table ${table} in the host namespace changed by process ${deleter.pid} \\(nft\\)`), 2_000, mark);
    await l.withAgentLogs(waitFor(async () => (await tables()).includes(table), 2_000 - (Date.now() - started), 20, `table ${table} back in ${hostNs}`));
    const repairedMs = Date.now() - started;
    l.notes.push(`nft table deleted by hand: back ${repairedMs} ms later`);
    expect(repairedMs).toBeLessThanOrEqual(2_000);
    expect(await ping(b.ns, a.ip)).toBe(false);
    const after = await l.read<{ status: StatusView[] }>('FirewallPolicy', policy.id, `status { ${STATUS_FIELDS} }`);
    expect(after.status).toEqual([expect.objectContaining({ state: 'APPLIED', reason: null })]);

    // The namespace itself deleted by hand: the agent makes it again, filtered (the host's table
    // keys the port by address), within 2 s.
    const mounted = async (): Promise<boolean> => (await readFile('/proc/self/mountinfo', 'utf8')).includes(` /run/netns/${a.ns} `);
    const deleted = Date.now();
    expect(await run('ip', ['netns', 'del', a.ns])).toMatchObject({ code: 0 });
    await l.withAgentLogs(
      waitFor(
        async () => (await mounted()) && (await tables()).includes(table) && (await run('ip', ['-n', a.ns, 'link', 'show', 'eth0'])).code === 0,
        2_000,
        20,
        `namespace ${a.ns} made again, the table in place`,
      ),
    );
    l.notes.push(`port namespace deleted by hand: made again, filtered, ${Date.now() - deleted} ms later`);
    expect(await ping(b.ns, a.ip)).toBe(false);
    await l.withAgentLogs(waitFor(async () => (await l.read<{ status: StatusView[] }>('Port', a.id, `status { ${STATUS_FIELDS} }`)).status[0]?.state === 'APPLIED', 5_000, 100, 'port a APPLIED'));

    // What the watch costs: one nftables event reader per namespace holding a table of the agent's (here the host's).
    const monitors = (await descendants(l.cluster.agents[0].pid)).filter((p) => p.cmdline.endsWith('nft-events') || p.cmdline.endsWith('nft monitor'));
    const kb = async (pid: number, field: string): Promise<number> =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(await readFile(`/proc/${pid}/${field === 'Pss' ? 'smaps_rollup' : 'status'}`, 'utf8').catch(() => ''))?.[1] ?? 0);
    const rss = await Promise.all(monitors.map((m) => kb(m.pid, 'VmRSS')));
    const pss = await Promise.all(monitors.map((m) => kb(m.pid, 'Pss')));
    l.notes.push(`nft watch: ${monitors.length} event reader process(es); RSS ${rss.join(', ')} kB; PSS ${pss.join(', ')} kB`);
    expect(monitors.length).toBeGreaterThanOrEqual(1);
  });

  it('kill -9 of the agent takes every process it started with it (ip monitor, health probe helpers)', async () => {
    const l = theLab();
    const net = await l.makeNetwork('lbnet', '10.94.1.0/24');
    const member = await l.makePort(net, 0);
    const lb = await l.write<{ id: string; status: StatusView[] }>(
      'LoadBalancer',
      'create',
      {
        name: l.name('lb'),
        // In a namespace of its own (its probe helper there).
        mode: 'APPLIANCE',
        subnetId: net.subnetId,
        listeners: [
          {
            protocol: 'TCP',
            port: 80,
            pool: { algorithm: 'ROUND_ROBIN', members: [{ portId: member.id, port: 8080 }], healthMonitor: { type: 'TCP', intervalMs: 200, timeoutMs: 150, rise: 1, fall: 1 } },
          },
        ],
      },
      `id status { ${STATUS_FIELDS} }`,
    );
    expect(lb.status[0]).toMatchObject({ state: 'APPLIED' });
    const lbNs = attr(lb.status, 'netns');
    const agent = l.cluster.agents[0];

    // Before the kill: the agent's helpers are up (the link monitor, a probe helper in the load balancer's namespace).
    const before = await l.withAgentLogs(
      waitFor(
        async () => {
          const found = await descendants(agent.pid);
          const monitor = found.some((p) => / monitor link$/.test(p.cmdline));
          const probe = found.some((p) => p.cmdline.includes('netloom-health'));
          return monitor && probe ? found : undefined;
        },
        10_000,
        100,
        `an ip monitor and a probe helper (in ${lbNs}) under the agent`,
      ),
    );
    l.notes.push(`kill -9: the agent (pid ${agent.pid}) had ${before.length} descendant process(es): ${before.map((p) => p.cmdline.split('\n')[0].slice(0, 60)).join(' | ')}`);

    // kill -9 of exactly the agent (not its process group), as a crash or the OOM killer would.
    process.kill(agent.pid, 'SIGKILL');
    await agent.exited;
    const started = Date.now();
    const pids = new Set(before.map((p) => p.pid));
    const left = await waitFor(
      async () => {
        const alive = (await processes()).filter((p) => pids.has(p.pid));
        return alive.length === 0 ? 'none' : undefined;
      },
      2_000,
      50,
      'every process the agent started to end',
    ).catch(async (error: unknown) => {
      const alive = (await processes()).filter((p) => pids.has(p.pid));
      // Not ours to keep: the run's cleanup kills them by their marker anyway.
      throw new Error(`${String(error)}\nstill running: ${alive.map((p) => `${p.pid} ${p.cmdline.slice(0, 80)}`).join('; ')}`);
    });
    expect(left).toBe('none');
    l.notes.push(`kill -9: all gone ${Date.now() - started} ms after the agent was reaped`);
  });
});
