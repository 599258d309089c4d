import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { CommandRunner, Linux } from '@netloom/linux';
import { RealizationState } from '@netloom/model';
import type { HostContext } from './host-context';
import { createHostContext } from './host-context-impl';
import { definePlugin, type DesiredPluginResource, type PluginStatus, SDK_VERSION } from './plugin';
import { PROBE_PROGRAM } from './probe-helper';
import { scopeFor } from './scoping';
import { agentTestHost, type AgentTestHost } from './testkit-agent';

const describeKernel = process.getuid?.() === 0 ? describe : describe.skip;

interface LegSpec {
  networkId: string;
  /** The leg's address inside the resource's namespace, e.g. 10.77.0.2/24. */
  cidr: string;
}

const COUNTING = 'chain input {\n  type filter hook input priority 0; policy accept;\n  counter\n}';

/**
 * An example plugin: a namespace per resource with a veth leg onto a network bridge, an address,
 * forwarding on, and an nft table counting the packets it receives. Level-triggered: it reads
 * what it owns and changes only what differs.
 */
const legs = definePlugin({
  id: 'example.legs',
  version: '1.0.0',
  sdk: SDK_VERSION,
  kinds: {},
  agent: {
    async reconcile(desired: DesiredPluginResource[], host: HostContext): Promise<PluginStatus[]> {
      const [ownedNs, ownedLinks] = await Promise.all([host.ownedNetns(), host.ownedLinks()]);
      const links = new Map(ownedLinks.map((l) => [l.ifname, l]));
      const failures = new Map<string, string>();
      const fresh: string[] = [];
      const wantedNs = new Set(desired.map((r) => host.netnsName(r.id)));
      const wantedLinks = new Set(desired.map((r) => host.linkName(r.id, 'leg')));
      const inside = new Map<string, { up: boolean; addrs: string[] }>();
      for (const r of desired) {
        const ns = host.netnsName(r.id);
        if (!ownedNs.includes(ns)) continue;
        const eth0 = (await host.links(ns)).find((l) => l.ifname === 'eth0');
        const addrs = eth0 ? (await host.addresses(ns, 'eth0')).flatMap((a) => a.addresses.filter((x) => x.family === 4).map((x) => `${x.local}/${x.prefixlen}`)) : [];
        inside.set(ns, { up: eth0?.up ?? false, addrs });
      }
      const result = await host.apply((c) => {
        for (const ns of ownedNs) if (!wantedNs.has(ns)) c.netnsDel(ns);
        for (const l of ownedLinks) if (!wantedLinks.has(l.ifname)) c.host.linkDel(l.ifname);
        for (const r of desired) {
          const spec = r.spec as LegSpec;
          const bridge = host.networkBridge(spec.networkId);
          if (!bridge) {
            failures.set(r.id, `network ${spec.networkId} is not on this host`);
            continue;
          }
          const ns = host.netnsName(r.id);
          const leg = host.linkName(r.id, 'leg');
          if (!ownedNs.includes(ns)) {
            c.netnsAdd(ns, r.id);
            fresh.push(r.id);
          }
          const found = links.get(leg);
          if (!found || !ownedNs.includes(ns)) {
            if (found) c.host.linkDel(leg, r.id);
            c.host.vethAdd(leg, { peer: 'eth0', peerNetns: ns, master: bridge }, r.id).linkSet(leg, { up: true }, r.id);
          } else if (found.master !== bridge || !found.up) {
            c.host.linkSet(leg, { master: bridge, up: true }, r.id);
          }
          const seen = inside.get(ns);
          if (!seen?.up) c.in(ns).linkSet('lo', { up: true }, r.id).linkSet('eth0', { up: true }, r.id);
          if (!seen?.addrs.includes(spec.cidr)) c.in(ns).addrReplace(spec.cidr, 'eth0', r.id);
          for (const stale of seen?.addrs ?? []) if (stale !== spec.cidr) c.in(ns).addrDel(stale, 'eth0', r.id);
        }
      });
      for (const f of result.failed) if (f.key) failures.set(f.key, `${f.line}: ${f.error}`);
      for (const r of desired) {
        if (failures.has(r.id)) continue;
        const ns = host.netnsName(r.id);
        try {
          if (fresh.includes(r.id)) await host.sysctl(ns, 'net.ipv4.ip_forward', '1');
          await host.nftTable(COUNTING, ns);
        } catch (error) {
          failures.set(r.id, error instanceof Error ? error.message : String(error));
        }
      }
      return desired.map((r) =>
        failures.has(r.id)
          ? { id: r.id, state: RealizationState.FAILED, reason: failures.get(r.id) }
          : { id: r.id, state: RealizationState.APPLIED, attributes: { netns: host.netnsName(r.id), leg: host.linkName(r.id, 'leg') } },
      );
    },
  },
});

describe('plugin names (scoping)', () => {
  const scope = scopeFor('abcd', 'host-1', 'example.legs');

  it('derives link names of at most 15 bytes, distinct per role, that it owns', () => {
    const a = scope.linkName('r1');
    const b = scope.linkName('r1', 'leg');
    expect(a).not.toBe(b);
    for (const name of [a, b]) {
      expect(name.length).toBe(15);
      expect(scope.ownsLink(name)).toBe(true);
    }
    expect(scope.ownsLink('abcdb12345678')).toBe(false);
    expect(scopeFor('abcd', 'host-1', 'other.plugin').ownsLink(a)).toBe(false);
  });

  it('derives namespace names under the agent prefix and host tag, apart from the core (hex) ones', () => {
    const ns = scope.netnsName('r1');
    expect(ns).toMatch(/^abcd-[0-9a-f]{6}-p[0-9a-f]{3}-[0-9a-f]{8}$/);
    expect(scope.ownsNetns(ns)).toBe(true);
    expect(scopeFor('abcd', 'host-2', 'example.legs').ownsNetns(ns)).toBe(false);
    expect(scope.nftTable).toMatch(/^abcd_[0-9a-f]{3}$/);
  });
});

describeKernel('HostContext on the real kernel (test kit)', () => {
  let kit: AgentTestHost;
  let bridge: string;
  const desired: DesiredPluginResource<LegSpec>[] = [
    { kind: 'Leg', id: 'leg-a', generation: 1, spec: { networkId: 'net-1', cidr: '10.77.0.2/24' } },
    { kind: 'Leg', id: 'leg-b', generation: 1, spec: { networkId: 'net-1', cidr: '10.77.0.3/24' } },
  ];

  beforeAll(async () => {
    kit = await agentTestHost({ pluginId: legs.id });
    bridge = await kit.addNetworkBridge('net-1');
  });

  afterAll(async () => {
    await kit?.destroy();
  });

  it("sets addrgenmode and per-link sysctls on its own links in the host namespace, and no one else's; tells its names", async () => {
    const [a, b] = [kit.host.linkName('gen', 'a'), kit.host.linkName('gen', 'b')];
    const result = await kit.host.apply((c) => c.host.vethAdd(a, { peer: b }).linkSet(a, { addrgenmode: 'none' }).linkSet(a, { up: true }).linkSet(b, { up: true }));
    expect(result.ok).toBe(true);
    try {
      const v6 = async (dev: string) => (await kit.exec(kit.hostNetns, ['ip', '-6', 'addr', 'show', 'dev', dev])).stdout;
      // The end left as the kernel makes it has a link-local address (the check can fail), the other none.
      expect(await v6(b)).toContain('fe80');
      expect(await v6(a)).not.toContain('fe80');
      await kit.host.sysctl('', `net.ipv6.conf.${b}.disable_ipv6`, '1');
      expect(await kit.host.sysctlValue(`net.ipv6.conf.${b}.disable_ipv6`)).toBe('1');
      expect(await v6(b)).not.toContain('fe80');
      await expect(kit.host.sysctl('', 'net.ipv6.conf.lo.disable_ipv6', '1')).rejects.toThrow(/only a key of a link of its own/);
      await expect(kit.host.sysctl('', 'net.ipv4.ip_forward', '1')).rejects.toThrow(/only a key of a link of its own/);
      expect(kit.host.names.nftTable).toMatch(new RegExp(`^${kit.prefix}_[0-9a-f]{3}$`));
      expect(a.startsWith(kit.host.names.linkPrefix) && kit.host.netnsName('x').startsWith(kit.host.names.netnsPrefix)).toBe(true);
    } finally {
      await kit.host.apply((c) => c.host.linkDel(a));
    }
  });

  it('realizes legs that talk, with forwarding on and packets counted', async () => {
    const statuses = await legs.agent!.reconcile(desired, kit.host);
    expect(statuses.map((s) => [s.id, s.state, s.reason])).toEqual([
      ['leg-a', RealizationState.APPLIED, undefined],
      ['leg-b', RealizationState.APPLIED, undefined],
    ]);
    const nsA = kit.host.netnsName('leg-a');
    expect((await kit.host.ownedNetns()).sort()).toEqual([nsA, kit.host.netnsName('leg-b')].sort());
    expect((await kit.host.ownedLinks()).map((l) => [l.master, l.up])).toEqual([
      [bridge, true],
      [bridge, true],
    ]);
    expect((await kit.exec(nsA, ['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim()).toBe('1');
    expect((await kit.exec(nsA, ['ping', '-c1', '-W2', '10.77.0.3'])).code).toBe(0);
    const table = JSON.stringify(await kit.host.nftList(kit.host.netnsName('leg-b')));
    const packets = /"counter":\{"packets":(\d+)/.exec(table);
    expect(Number(packets?.[1])).toBeGreaterThan(0);
    expect(await kit.host.nftList()).toBeNull();
  });

  it('changes nothing when reconciled again with the same desired state', async () => {
    const before = kit.runner.mutatingCount;
    const statuses = await legs.agent!.reconcile(desired, kit.host);
    expect(statuses.every((s) => s.state === RealizationState.APPLIED)).toBe(true);
    expect(kit.runner.mutatingCount).toBe(before);
  });

  it('refuses, before anything runs, changes to names it does not own', async () => {
    const before = kit.runner.mutatingCount;
    const doomed = kit.host.netnsName('never');
    const refuse = (build: Parameters<HostContext['apply']>[0], message: RegExp) => expect(kit.host.apply(build)).rejects.toThrow(message);
    await refuse((c) => c.host.linkDel('lo'), /"lo" is not one of its links/);
    await refuse((c) => c.host.linkDel(bridge), /is not one of its links/);
    await refuse((c) => c.netnsDel(kit.hostNetns), /is not one of its namespaces/);
    await refuse((c) => c.in(kit.hostNetns).linkDel('lo'), /is not one of its namespaces/);
    // Another plugin's namespace on the same host is not this one's either.
    const other = createHostContext({ linux: new Linux(new CommandRunner()), pluginId: 'other.plugin', agentPrefix: kit.prefix, hostId: kit.host.hostId, networkBridges: new Map() });
    await refuse((c) => c.netnsDel(other.netnsName('x')), /is not one of its namespaces/);
    await refuse(
      (c) => {
        c.netnsAdd(doomed);
        c.host.vethAdd(kit.host.linkName('x'), { peer: 'eth0', peerNetns: doomed, master: 'lo' });
      },
      /master "lo" is neither a network bridge/,
    );
    await refuse((c) => c.host.linkSet(kit.host.linkName('leg-a', 'leg'), { master: 'eth0' }), /master "eth0"/);
    await refuse((c) => c.host.routeDel({ dst: '10.0.0.0/8' }), /needs the plugin's dev/);
    await expect(kit.host.sysctl(kit.hostNetns, 'net.ipv4.ip_forward', '1')).rejects.toThrow(/not one of its namespaces/);
    expect(kit.runner.mutatingCount).toBe(before);
    expect(await kit.host.ownedNetns()).not.toContain(doomed);
  });

  it('maps a line the kernel refuses to its key', async () => {
    const result = await kit.host.apply((c) => c.in(kit.host.netnsName('leg-a')).linkDel('nosuch0', 'leg-a'));
    expect(result.ok).toBe(false);
    expect(result.failed).toEqual([{ key: 'leg-a', line: 'link del dev nosuch0', error: expect.stringMatching(/nosuch0/) }]);
  });

  it('removes everything it owns when nothing is desired', async () => {
    expect(await legs.agent!.reconcile([], kit.host)).toEqual([]);
    expect(await kit.host.ownedNetns()).toEqual([]);
    expect(await kit.host.ownedLinks()).toEqual([]);
    // The network bridge is not the plugin's: it stays.
    expect((await kit.exec(kit.hostNetns, ['ip', 'link', 'show', 'dev', bridge])).code).toBe(0);
  });

  it('takes a namespace file with nothing mounted on it for no namespace, and makes the namespace again over it', async () => {
    const ns = kit.host.netnsName('dead');
    expect(await kit.host.apply((c) => c.netnsAdd(ns))).toEqual({ ok: true, failed: [] });
    // What a namespace made in a mount namespace now gone leaves behind: the file alone.
    await promisify(execFile)('umount', [`/run/netns/${ns}`]);
    expect((await readdir('/run/netns')).includes(ns)).toBe(true);
    expect(await kit.host.ownedNetns()).not.toContain(ns);
    expect(await kit.host.apply((c) => c.netnsAdd(ns, 'again'))).toEqual({ ok: true, failed: [] });
    expect(await kit.host.ownedNetns()).toContain(ns);
    expect((await kit.exec(ns, ['ip', 'link', 'show', 'lo'])).code).toBe(0);
    await kit.host.apply((c) => c.netnsDel(ns));
  });

  it('replaces and removes its nft table atomically in the host namespace', async () => {
    await kit.host.nftTable('chain c {\n  counter\n}');
    expect(JSON.stringify(await kit.host.nftList())).toContain('"name":"c"');
    const before = kit.runner.mutatingCount;
    await kit.host.nftTable('chain c {\n  counter\n}');
    expect(kit.runner.mutatingCount).toBe(before);
    await kit.host.nftTable('chain d {\n}');
    const listed = JSON.stringify(await kit.host.nftList());
    expect(listed).toContain('"name":"d"');
    expect(listed).not.toContain('"name":"c"');
    await kit.host.nftTable('');
    expect(await kit.host.nftList()).toBeNull();
    await kit.host.nftTable('');
  });

  it('keeps watching the host namespace a while after its table goes: a table made again soon starts no new event reader', async () => {
    /** nftables event readers started so far (streams are logged as commands). */
    const monitors = () => kit.runner.log.filter((l) => l.args.at(-1) === 'nft-events' || [l.command, ...l.args].slice(-2).join(' ') === 'nft monitor').length;
    await kit.host.nftTable('chain w {\n}');
    const started = monitors();
    await kit.host.nftTable('');
    expect(await kit.host.nftList()).toBeNull();
    await kit.host.nftTable('chain w {\n}');
    expect(monitors()).toBe(started);
    // Still told apart from its own writes: a hand edit is heard.
    const asked = kit.reconcileRequests.length;
    const table = `${kit.prefix}_${scopeFor(kit.prefix, kit.host.hostId, legs.id).tag}`;
    await kit.exec(kit.hostNetns, ['nft', 'delete', 'table', 'inet', table]);
    await waitUntil(() => kit.reconcileRequests.length > asked, 2_000, 'the hand edit to be heard');
    await kit.host.nftTable('');
  });

  it('trusts what it wrote (no listing) until someone else changes it: then asks for a reconcile and repairs; never trusts a namespace made again', async () => {
    const body = 'chain t {\n  counter\n}';
    await kit.host.nftTable(body);
    const reads = kit.runner.readCount;
    await kit.host.nftTable(body);
    expect(kit.runner.readCount).toBe(reads);
    // Its own rewrites are not drift…
    const asked = kit.reconcileRequests.length;
    await kit.host.nftTable('chain u {\n  counter\n}');
    await kit.host.nftTable(body);
    // …a table removed by hand is: the watch hears it (after the rewrites, in order) and asks for a pass.
    const table = `${kit.prefix}_${scopeFor(kit.prefix, kit.host.hostId, legs.id).tag}`;
    await kit.exec(kit.hostNetns, ['nft', 'delete', 'table', 'inet', table]);
    await waitUntil(() => kit.reconcileRequests.length > asked, 2_000, 'a reconcile request');
    expect(kit.reconcileRequests.slice(asked)).toEqual([expect.stringMatching(new RegExp(`^nft table ${table} in ${kit.hostNetns} changed by process \\d+ \\(nft\\)$`))]);
    expect(await kit.host.nftList()).toBeNull();
    await kit.host.nftTable(body);
    expect(JSON.stringify(await kit.host.nftList())).toContain('"name":"t"');
    // A context that trusts nothing lists every time, and repairs too.
    await kit.exec(kit.hostNetns, ['nft', 'delete', 'table', 'inet', table]);
    const strict = createHostContext({ linux: new Linux(kit.runner), pluginId: legs.id, agentPrefix: kit.prefix, hostId: kit.host.hostId, hostNetns: kit.hostNetns, networkBridges: new Map(), nftTrustMs: 0 });
    await strict.nftTable(body);
    await strict.close();
    expect(JSON.stringify(await kit.host.nftList())).toContain('"name":"t"');
    await kit.host.nftTable('');
    // A namespace deleted and made again under its name is a new one: its table is written.
    const ns = kit.host.netnsName('again');
    await kit.host.apply((c) => c.netnsAdd(ns));
    await kit.host.nftTable(body, ns);
    await kit.exec(kit.hostNetns, ['ip', 'netns', 'del', ns]);
    await kit.host.apply((c) => c.netnsAdd(ns));
    await kit.host.nftTable(body, ns);
    expect(JSON.stringify(await kit.host.nftList(ns))).toContain('"name":"t"');
    await kit.host.apply((c) => c.netnsDel(ns));
  });
});

describe('probe helper program', () => {
  it('exits by itself when its stdin closes (an agent killed with -9 leaves no helper behind)', async () => {
    const child = spawn(process.execPath, ['-e', PROBE_PROGRAM], { stdio: ['pipe', 'ignore', 'ignore'] });
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.stdin.write('not json\n');
    child.stdin.end();
    expect(await exit).toBe(0);
  });
});

/** Resolves when `check()` holds, polling every 20 ms; throws after `timeoutMs`. */
async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Helper processes this test process started (children whose program is the probe helper) inside `netns`. */
async function helperPids(netns: string): Promise<number[]> {
  const target = `net:[${(await stat(`/run/netns/${netns}`)).ino}]`;
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const status = await readFile(`/proc/${entry}/status`, 'utf8').catch(() => '');
    if (!status.includes(`\nPPid:\t${process.pid}\n`)) continue;
    if (!(await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).includes('netloom-health')) continue;
    if ((await readlink(`/proc/${entry}/ns/net`).catch(() => '')) === target) pids.push(Number(entry));
  }
  return pids;
}

const running = (pid: number): Promise<boolean> =>
  readFile(`/proc/${pid}/stat`, 'utf8').then(
    (s) => !/^\S+ \(.*\) [ZX]/.test(s),
    () => false,
  );

describeKernel('HostContext counters, probes and reconcile requests on the real kernel (test kit)', () => {
  let kit: AgentTestHost;
  let ns: string;
  const PORT = 18080;
  // A tiny HTTP server: /ok answers 200, /down 503, /hang never answers.
  const SERVER = `require('http').createServer((q, s) => {
    if (q.url === '/hang') return;
    s.writeHead(q.url === '/ok' ? 200 : 503);
    s.end('x');
  }).listen(${PORT}, '::');`;

  beforeAll(async () => {
    kit = await agentTestHost({ pluginId: 'example.probes' });
    ns = kit.host.netnsName('svc');
    const made = await kit.host.apply((c) => {
      c.netnsAdd(ns);
      c.in(ns).linkSet('lo', { up: true });
    });
    expect(made).toEqual({ ok: true, failed: [] });
    kit.spawn(ns, [process.execPath, '-e', SERVER]);
    await kit.waitListening(ns, PORT);
  });

  afterAll(async () => {
    // Ends the server too.
    await kit?.destroy();
  });

  /** The table's name, as nftList shows it. */
  const tableOf = (listed: unknown): string => ((listed as { nftables: { table?: { name: string } }[] }).nftables.find((i) => i.table)?.table?.name ?? '');
  const ping = async (count: number) => expect((await kit.exec(ns, ['ping', '-c', String(count), '-i', '0.01', '-W', '1', '127.0.0.1'])).code).toBe(0);
  const ICMP = (rule: string) => `chain input {\n  type filter hook input priority 0; policy accept;\n  ${rule}\n}`;

  it('keeps named counters across a replacement with a different body; values do not make it replace', async () => {
    await kit.host.nftTable(ICMP('ip protocol icmp counter name "icmp_in"'), ns, { counters: ['icmp_in', 'spare'] });
    expect(await kit.host.nftCounters(ns)).toEqual({ icmp_in: { packets: 0, bytes: 0 }, spare: { packets: 0, bytes: 0 } });
    await ping(3);
    const counted = (await kit.host.nftCounters(ns)).icmp_in;
    // Each ping's request and reply both arrive on lo.
    expect(counted.packets).toBe(6);
    expect(counted.bytes).toBeGreaterThan(0);

    const before = kit.runner.mutatingCount;
    await kit.host.nftTable(ICMP('ip protocol icmp counter name "icmp_in"'), ns, { counters: ['spare', 'icmp_in'] });
    expect(kit.runner.mutatingCount).toBe(before);

    await kit.host.nftTable(`${ICMP('meta l4proto icmp counter name "icmp_in"')}\nchain output {\n  type filter hook output priority 0;\n  counter name "spare"\n}`, ns, {
      counters: ['icmp_in', 'spare'],
    });
    expect(kit.runner.mutatingCount).toBe(before + 1);
    expect(JSON.stringify(await kit.host.nftList(ns))).toContain('"name":"output"');
    expect((await kit.host.nftCounters(ns)).icmp_in).toEqual(counted);
    await ping(1);
    const after = await kit.host.nftCounters(ns);
    expect(after.icmp_in.packets).toBe(8);
    expect(after.spare.packets).toBeGreaterThanOrEqual(1);
  });

  it('gives counters of an age without waiting for a read: zeros for a table it made, then the last read while a newer one runs behind', async () => {
    await kit.host.nftTable('', ns);
    await kit.host.nftTable(ICMP('ip protocol icmp counter name "icmp_in"'), ns, { counters: ['icmp_in'] });
    // The age asked for decides, not how long a step took (a ping on a loaded machine can take 100 ms).
    const aged = async (maxAgeMs: number) => (await kit.host.nftCounters(ns, { maxAgeMs })).icmp_in?.packets;
    const reads = kit.runner.readCount;
    // Made by this context: its counters start at zero, known without a read.
    expect(await aged(60_000)).toBe(0);
    expect(kit.runner.readCount).toBe(reads);
    await ping(1);
    // Young enough: given again, nothing read.
    expect(await aged(60_000)).toBe(0);
    expect(kit.runner.readCount).toBe(reads);
    await new Promise((resolve) => setTimeout(resolve, 5));
    // Older than asked: given again at once while a read runs behind it; a later call has that read.
    expect(await aged(1)).toBe(0);
    await waitUntil(async () => (await aged(1)) === 2, 2_000, 'the read behind to land');
    expect(kit.runner.readCount).toBeGreaterThanOrEqual(reads + 1);
    // Without maxAgeMs: read every time.
    await ping(1);
    expect((await kit.host.nftCounters(ns)).icmp_in.packets).toBe(4);
    // A counter a later write adds starts at zero too, one it drops is gone: still nothing read.
    await kit.host.nftTable(ICMP('ip protocol icmp counter name "icmp_new"'), ns, { counters: ['icmp_new'] });
    const added = kit.runner.readCount;
    expect(await kit.host.nftCounters(ns, { maxAgeMs: 60_000 })).toEqual({ icmp_new: { packets: 0, bytes: 0 } });
    expect(kit.runner.readCount).toBe(added);
    // The table gone: nothing kept of it; the first read of a table this context did not make is waited for.
    await kit.host.nftTable('', ns);
    const gone = kit.runner.readCount;
    expect(await kit.host.nftCounters(ns, { maxAgeMs: 60_000 })).toEqual({});
    expect(kit.runner.readCount).toBe(gone + 1);
  });

  it('replaces in place without reading counters: chains, maps and counters no longer declared go, a map comes back empty', async () => {
    const withMap = `map m {\n  type ipv4_addr : ipv4_addr; flags dynamic,timeout; timeout 60s;\n}\n${ICMP('ip protocol icmp counter name "icmp_in"')}`;
    await kit.host.nftTable(withMap, ns, { counters: ['icmp_in', 'spare'] });
    const asked = kit.reconcileRequests.length;
    // An element added by hand is a change someone else made: heard, the table is no longer trusted.
    // (Added again until heard: the table was just made, and a watch that just started may not
    // have subscribed yet — what it misses waits for the trust to run out.)
    const table = tableOf(await kit.host.nftList(ns));
    for (let n = 1; kit.reconcileRequests.length === asked; n++) {
      if (n > 10) throw new Error('the elements added by hand were never heard');
      await kit.exec(ns, ['nft', 'add', 'element', 'inet', table, 'm', `{ 1.1.1.${n} : 2.2.2.2 }`]);
      await waitUntil(() => kit.reconcileRequests.length > asked, 300, 'the element added by hand to be heard').catch(() => undefined);
    }
    const counted = (await kit.host.nftCounters(ns)).icmp_in;
    const reads = kit.runner.readCount;
    await kit.host.nftTable(`${withMap}\nchain extra {\n}`, ns, { counters: ['icmp_in'] });
    // The ruleset is listed once to replace it; the counters are not read.
    expect(kit.runner.readCount).toBe(reads + 1);
    const listed = JSON.stringify(await kit.host.nftList(ns));
    expect(listed).toContain('"name":"extra"');
    expect(listed).not.toContain('"name":"spare"');
    expect(listed).not.toContain('1.1.1.1');
    expect((await kit.host.nftCounters(ns)).icmp_in).toEqual(counted);
    await kit.host.nftTable(ICMP('ip protocol icmp counter name "icmp_in"'), ns, { counters: ['icmp_in'] });
    expect(JSON.stringify(await kit.host.nftList(ns))).not.toMatch(/"name":"(extra|m)"/);
  });

  it('lists no counters where it has no table, and refuses counter names that are not nft identifiers', async () => {
    expect(await kit.host.nftCounters()).toEqual({});
    await expect(kit.host.nftCounters(kit.hostNetns)).rejects.toThrow(/not one of its namespaces/);
    const before = kit.runner.mutatingCount;
    for (const bad of ['bad-name', '1st', 'a b', 'x"; flush ruleset; "', 'c'.repeat(32), '']) {
      await expect(kit.host.nftTable(ICMP('counter'), ns, { counters: [bad] })).rejects.toThrow(/is not an nft identifier/);
    }
    expect(kit.runner.mutatingCount).toBe(before);
  });

  it('probes TCP from inside its namespace: connected, refused', async () => {
    expect(await kit.host.probe(ns, { type: 'tcp', address: '127.0.0.1', port: PORT, timeoutMs: 1000 })).toEqual({ ok: true, detail: 'connected', ms: expect.any(Number) });
    expect(await kit.host.probe(ns, { type: 'tcp', address: '::1', port: PORT, timeoutMs: 1000 })).toMatchObject({ ok: true });
    const refused = await kit.host.probe(ns, { type: 'tcp', address: '127.0.0.1', port: PORT + 1, timeoutMs: 1000 });
    expect(refused).toMatchObject({ ok: false, detail: 'connect ECONNREFUSED' });
    // The host namespace has no listener: the check really ran inside the plugin's namespace.
    expect(await kit.host.probe(ns, { type: 'tcp', address: '127.0.0.1', port: PORT, timeoutMs: 1000 })).toMatchObject({ ok: true });
    await expect(kit.host.probe(kit.hostNetns, { type: 'tcp', address: '127.0.0.1', port: PORT, timeoutMs: 1000 })).rejects.toThrow(/not one of its namespaces/);
  });

  it('probes HTTP: the status must fall in expectStatus; a hanging server times out', async () => {
    const http = (path: string, expectStatus?: { from: number; to: number }[], timeoutMs = 1000) =>
      kit.host.probe(ns, { type: 'http', address: '::1', port: PORT, timeoutMs, path, ...(expectStatus ? { expectStatus } : {}) });
    expect(await http('/ok')).toMatchObject({ ok: true, detail: 'status 200' });
    expect(await http('/down')).toMatchObject({ ok: false, detail: 'status 503' });
    expect(await http('/down', [{ from: 500, to: 503 }])).toMatchObject({ ok: true, detail: 'status 503' });
    expect(await http('/ok', [{ from: 300, to: 399 }])).toMatchObject({ ok: false, detail: 'status 200' });
    const hung = await http('/hang', undefined, 200);
    expect(hung).toMatchObject({ ok: false, detail: 'timeout' });
    expect(hung.ms).toBeGreaterThanOrEqual(190);
  });

  it('multiplexes concurrent probes by id', async () => {
    const ports = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? PORT : PORT + 1));
    const results = await Promise.all(ports.map((port) => kit.host.probe(ns, { type: 'tcp', address: '127.0.0.1', port, timeoutMs: 2000 })));
    expect(results.map((r) => r.ok)).toEqual(ports.map((p) => p === PORT));
    expect(await helperPids(ns)).toHaveLength(1);
  });

  it('fails a bad HTTP path without sending it, and refuses checks no plugin should make', async () => {
    for (const path of ['ok', '/a b', '/x\r\nHost: evil', `/${'a'.repeat(200)}`, '/é']) {
      expect(await kit.host.probe(ns, { type: 'http', address: '127.0.0.1', port: PORT, timeoutMs: 1000, path })).toMatchObject({ ok: false, detail: expect.stringMatching(/^invalid path/) });
    }
    const check = { type: 'tcp' as const, address: '127.0.0.1', port: PORT, timeoutMs: 1000 };
    await expect(kit.host.probe(ns, { ...check, address: 'localhost' })).rejects.toThrow(/invalid address/);
    await expect(kit.host.probe(ns, { ...check, port: 0 })).rejects.toThrow(/invalid port/);
    await expect(kit.host.probe(ns, { ...check, timeoutMs: 49 })).rejects.toThrow(/invalid timeoutMs/);
    await expect(kit.host.probe(ns, { ...check, type: 'udp' as 'tcp' })).rejects.toThrow(/invalid type/);
    await expect(kit.host.probe(ns, { ...check, expectStatus: [{ from: 300, to: 200 }] })).rejects.toThrow(/invalid expectStatus/);
  });

  it('fails the pending probes of a helper that dies, and starts a new one on the next probe', async () => {
    const [pid] = await helperPids(ns);
    expect(pid).toEqual(expect.any(Number));
    const pending = kit.host.probe(ns, { type: 'http', address: '127.0.0.1', port: PORT, timeoutMs: 5000, path: '/hang' });
    await new Promise((r) => setTimeout(r, 100));
    process.kill(pid, 'SIGKILL');
    expect(await pending).toMatchObject({ ok: false, detail: expect.stringMatching(/^probe helper ended/) });
    expect(await kit.host.probe(ns, { type: 'tcp', address: '127.0.0.1', port: PORT, timeoutMs: 1000 })).toMatchObject({ ok: true });
    const next = await helperPids(ns);
    expect(next).toHaveLength(1);
    expect(next[0]).not.toBe(pid);
  });

  it("ends its helpers on close() (and starts again after), and a namespace's helper when apply deletes it", async () => {
    const [first] = await helperPids(ns);
    await kit.host.close();
    expect(await running(first)).toBe(false);
    expect(await kit.host.probe(ns, { type: 'tcp', address: '127.0.0.1', port: PORT, timeoutMs: 1000 })).toMatchObject({ ok: true });
    const [second] = await helperPids(ns);
    expect(await running(second)).toBe(true);

    const other = kit.host.netnsName('other');
    await kit.host.apply((c) => c.netnsAdd(other));
    // Its lo is down: nothing there is reachable.
    expect(await kit.host.probe(other, { type: 'tcp', address: '127.0.0.1', port: PORT, timeoutMs: 1000 })).toMatchObject({ ok: false, detail: 'connect ENETUNREACH' });
    const [inOther] = await helperPids(other);
    expect(await kit.host.apply((c) => c.netnsDel(other))).toEqual({ ok: true, failed: [] });
    expect(await running(inOther)).toBe(false);
    expect(await running(second)).toBe(true);
  });

  it("gives tests workload namespaces on a network, background programs and a TCP client", async () => {
    await kit.addNetworkBridge('n1');
    const [server, client] = [await kit.addTestNamespace('w', 'n1', '10.78.0.2/24'), await kit.addTestNamespace('c', 'n1', '10.78.0.3/24')];
    const hello = kit.spawn(server, [process.execPath, '-e', "require('net').createServer((s) => s.end('hello from w\\n')).listen(7000)"]);
    await kit.waitListening(server, 7000);
    expect(await kit.tcpAnswer(client, '10.78.0.2', 7000)).toBe('hello from w');
    await hello.stop();
    expect(await running(hello.pid)).toBe(false);
    expect(await kit.tcpAnswer(client, '10.78.0.2', 7000)).toBe('');
  });

  it('records reconcile requests', () => {
    const before = kit.reconcileRequests.length;
    kit.host.requestReconcile('member 10.0.0.2 went down');
    expect(kit.reconcileRequests.slice(before)).toEqual(['member 10.0.0.2 went down']);
  });
});

describeKernel("HostContext nft tables in core ports' namespaces, with sets (test kit)", () => {
  let kit: AgentTestHost;
  let portNs: string;
  let client: string;
  const SET_BODY = [
    'set allowed { type ipv4_addr; flags interval; }',
    'chain input {',
    '  type filter hook input priority 0; policy accept;',
    '  ip saddr @allowed icmp type echo-request counter',
    '}',
  ].join('\n');
  type Item = Record<string, { handle?: number; name?: string; elem?: unknown[]; expr?: { counter?: { packets: number } }[] }>;
  const items = async (): Promise<Item[]> => ((await kit.host.nftList(portNs)) as { nftables: Item[] }).nftables.filter((i) => !('metainfo' in i));
  const handles = async () => (await items()).map((i) => Object.entries(i).map(([type, v]) => `${type}:${v.name ?? ''}:${v.handle}`)[0]);
  const counted = async () => (await items()).flatMap((i) => i.rule?.expr ?? []).find((e) => e.counter)!.counter!.packets;
  const elements = async (set = 'allowed') => (await items()).find((i) => i.set?.name === set)!.set.elem ?? [];
  const ping = async () => kit.exec(client, ['ping', '-c', '2', '-i', '0.01', '-W', '1', '10.79.0.2']);

  beforeAll(async () => {
    kit = await agentTestHost({ pluginId: 'example.guard' });
    await kit.addNetworkBridge('n1');
    portNs = await kit.addTestNamespace('port', 'n1', '10.79.0.2/24', { portId: 'port-1' });
    client = await kit.addTestNamespace('cli', 'n1', '10.79.0.3/24');
  });

  afterAll(async () => {
    await kit?.destroy();
  });

  it("gives a core port's namespace and interface, and keeps the plugin's table there, and only there", async () => {
    expect(kit.host.port('port-1')).toEqual({ netns: portNs, ifname: 'eth0', hostIfname: expect.any(String), bridge: expect.any(String), addresses: ['10.79.0.2', expect.stringMatching(/^fe80::/)] });
    expect(kit.host.port('nope')).toBeUndefined();
    await kit.host.nftTable(COUNTING, portNs);
    expect(JSON.stringify(await kit.host.nftList(portNs))).toContain('"name":"input"');
    expect(await kit.host.nftCounters(portNs)).toEqual({});
    // Not a port's, not the plugin's: refused, before anything runs.
    const before = kit.runner.mutatingCount;
    await expect(kit.host.nftTable(COUNTING, client)).rejects.toThrow(/not one of its namespaces .* nor a port's on this host/);
    await expect(kit.host.nftList(client)).rejects.toThrow(/nor a port's/);
    // Only its nft table: links, addresses, apply stay refused in a port's namespace.
    await expect(kit.host.links(portNs)).rejects.toThrow(/not one of its namespaces/);
    await expect(kit.host.apply((c) => c.in(portNs).linkDel('eth0'))).rejects.toThrow(/not one of its namespaces/);
    await expect(kit.host.sysctl(portNs, 'net.ipv4.ip_forward', '1')).rejects.toThrow(/not one of its namespaces/);
    expect(kit.runner.mutatingCount).toBe(before);
    await kit.host.nftTable('', portNs);
    expect(await kit.host.nftList(portNs)).toBeNull();
  });

  it("reads sysctls in the host namespace and a port's (null for a key the kernel lacks), no one else's", async () => {
    await kit.exec(kit.hostNetns, ['sysctl', '-qw', 'net.ipv4.conf.all.forwarding=1']);
    expect(await kit.host.sysctlValue('net.ipv4.conf.all.forwarding')).toBe('1');
    expect(await kit.host.sysctlValue('net.ipv4.conf.all.forwarding', portNs)).toBe('0');
    expect(await kit.host.sysctlValue('net.ipv4.no_such_key')).toBeNull();
    await expect(kit.host.sysctlValue('net.ipv4.conf.all.forwarding', client)).rejects.toThrow(/sysctl in .* nor a port's/);
    await expect(kit.host.sysctlValue('../../etc/passwd')).rejects.toThrow(/sysctl key/);
  });

  it('keeps a bridge-family table of the same name beside the inet one: written, left alone when the same, removed alone', async () => {
    const host = kit.hostNetns;
    const tables = async () => (await kit.exec(host, ['nft', 'list', 'tables'])).stdout.trim().split('\n').filter(Boolean).sort();
    const MARKS = 'map omark {\ntype ifname : mark;\n}\nchain marks {\ntype filter hook forward priority -200; policy accept;\nmeta mark set oifname map @omark\n}';
    await kit.host.nftTable(COUNTING);
    await kit.host.nftTable(MARKS, undefined, { family: 'bridge', maps: { omark: [{ key: [kit.host.port('port-1')!.hostIfname!], value: '7' }] } });
    expect((await tables()).map((t) => t.split(' ')[1])).toEqual(['bridge', 'inet']);
    expect((await kit.exec(host, ['nft', 'list', 'ruleset'])).stdout).toMatch(/"?\w+"? : 0x00000007/);
    const before = kit.runner.mutatingCount;
    await kit.host.nftTable(MARKS, undefined, { family: 'bridge', maps: { omark: [{ key: [kit.host.port('port-1')!.hostIfname!], value: '7' }] } });
    expect(kit.runner.mutatingCount).toBe(before);
    await kit.host.nftTable('', undefined, { family: 'bridge' });
    expect((await tables()).map((t) => t.split(' ')[1])).toEqual(['inet']);
    await kit.host.nftTable('');
    expect(await tables()).toEqual([]);
  });

  it('fills the sets with the table, in one transaction', async () => {
    const before = kit.runner.mutatingCount;
    await kit.host.nftTable(SET_BODY, portNs, { sets: { allowed: ['10.79.0.3'] } });
    expect(kit.runner.mutatingCount).toBe(before + 1);
    expect(await elements()).toEqual(['10.79.0.3']);
    expect((await ping()).code).toBe(0);
    expect(await counted()).toBe(2);
  });

  it('updates only the elements in place: same handles, the rule counter kept; the same elements again run nothing', async () => {
    const was = await handles();
    const before = kit.runner.mutatingCount;
    await kit.host.nftTable(SET_BODY, portNs, { sets: { allowed: ['10.80.0.0/16', '10.81.0.7'] } });
    expect(kit.runner.mutatingCount).toBe(before + 1);
    expect(await handles()).toEqual(was);
    expect(await elements()).toEqual([{ prefix: { addr: '10.80.0.0', len: 16 } }, '10.81.0.7']);
    expect(await counted()).toBe(2);
    // The client is no longer in the set: its pings pass uncounted.
    expect((await ping()).code).toBe(0);
    expect(await counted()).toBe(2);

    // Same elements in another order (a /32 written out): nothing runs.
    await kit.host.nftTable(SET_BODY, portNs, { sets: { allowed: ['10.81.0.7/32', '10.80.0.0/16'] } });
    expect(kit.runner.mutatingCount).toBe(before + 1);
    // And again, now that what the context holds came from a /32 written out.
    await kit.host.nftTable(SET_BODY, portNs, { sets: { allowed: ['10.81.0.7/32', '10.80.0.0/16'] } });
    expect(kit.runner.mutatingCount).toBe(before + 1);

    await kit.host.nftTable(SET_BODY, portNs, { sets: { allowed: ['10.79.0.3'] } });
    expect((await ping()).code).toBe(0);
    expect(await counted()).toBe(4);
    expect(await handles()).toEqual(was);
    // Emptied: flushed, nothing added.
    await kit.host.nftTable(SET_BODY, portNs, { sets: { allowed: [] } });
    expect(await elements()).toEqual([]);
    expect(kit.runner.mutatingCount).toBe(before + 3);
  });

  it('replaces the table and fills its sets in one transaction when the body changes', async () => {
    const before = kit.runner.mutatingCount;
    const body = `${SET_BODY}\nset others { type ipv6_addr; flags interval; }\nchain output {\n  type filter hook output priority 0; policy accept;\n}`;
    await kit.host.nftTable(body, portNs, { sets: { allowed: ['10.79.0.0/24'], others: ['fd00::/64', 'fd01::1'] } });
    expect(kit.runner.mutatingCount).toBe(before + 1);
    expect(await elements()).toEqual([{ prefix: { addr: '10.79.0.0', len: 24 } }]);
    expect(await elements('others')).toEqual([{ prefix: { addr: 'fd00::', len: 64 } }, 'fd01::1']);
    expect(JSON.stringify(await kit.host.nftList(portNs))).toContain('"name":"output"');
    await kit.host.nftTable(body, portNs, { sets: { others: ['fd01::1', 'fd00::/64'], allowed: ['10.79.0.0/24'] } });
    expect(kit.runner.mutatingCount).toBe(before + 1);
  });

  it('refuses set elements that are not canonical IPs or CIDRs, and bad set names, before anything runs', async () => {
    const before = kit.runner.mutatingCount;
    const refuse = (sets: unknown, message: RegExp) =>
      expect(kit.host.nftTable(SET_BODY, portNs, { sets: sets as Record<string, string[]> })).rejects.toThrow(message);
    await refuse({ allowed: ['10.79.0.1/24'] }, /element "10.79.0.1\/24" is not a canonical IP address or CIDR \(did you mean 10.79.0.0\/24\?\)/);
    await refuse({ allowed: ['10.79.0.3 }; flush ruleset; add element inet x y { 1.2.3.4'] }, /is not a canonical IP address or CIDR$/);
    await refuse({ allowed: ['fd00:0::1'] }, /did you mean fd00::1\?/);
    await refuse({ allowed: ['010.0.0.1'] }, /is not a canonical/);
    await refuse({ allowed: ['example.com'] }, /is not a canonical/);
    await refuse({ allowed: [42] }, /is not a canonical/);
    await refuse({ allowed: '10.79.0.3' }, /elements must be a list/);
    await refuse({ 'bad-name': [] }, /set name "bad-name" is not an nft identifier/);
    await refuse(['allowed'], /must map set names to lists/);
    expect(kit.runner.mutatingCount).toBe(before);
  });
});

describeKernel('HostContext incremental nft tables with maps in the host namespace (test kit)', () => {
  let kit: AgentTestHost;
  let bridge: string;
  let a: string;
  const chainA = (rule: string) => `chain c_a {\n  ${rule}\n}`;
  const BASE = 'chain fw {\n  type filter hook forward priority 0; policy accept;\n  iifname . ip saddr vmap @m\n}';
  const MAP = 'map m { type ifname . ipv4_addr : verdict; }';
  const body = (...chains: string[]) => [MAP, ...chains, BASE].join('\n');
  type Item = Record<string, { handle?: number; name?: string; elem?: unknown[]; packets?: number }>;
  const items = async (): Promise<Item[]> => ((await kit.host.nftList()) as { nftables: Item[] }).nftables.filter((i) => !('metainfo' in i));
  /** Handles of the chains, sets and maps (rules come and go). */
  const handles = async () =>
    (await items())
      .filter((i) => 'chain' in i || 'map' in i)
      .map((i) => Object.entries(i).map(([type, v]) => `${type}:${v.name ?? ''}:${v.handle}`)[0])
      .filter((h) => !h.includes(':netloom_'));
  const counters = async () => kit.host.nftCounters();
  const ping = async () => (await kit.exec(a, ['ping', '-c', '2', '-i', '0.01', '-W', '1', '10.82.0.3'])).code === 0;
  const elements = async () => JSON.stringify((await items()).find((i) => i.map?.name === 'm')?.map.elem ?? []);
  const opts = (elements: { key: string[]; value: string }[], extra: string[] = []) => ({ incremental: true, counters: ['n_a', ...extra], maps: { m: elements } });

  beforeAll(async () => {
    kit = await agentTestHost({ pluginId: 'example.fw' });
    bridge = await kit.addNetworkBridge('n1');
    a = await kit.addTestNamespace('a', 'n1', '10.82.0.2/24');
    await kit.addTestNamespace('b', 'n1', '10.82.0.3/24');
  });
  afterAll(async () => {
    await kit?.destroy();
  });

  it('writes the table with its map elements in one transaction; bridged traffic jumps by (bridge, address)', async () => {
    const before = kit.runner.mutatingCount;
    await kit.host.nftTable(body(chainA('counter name n_a accept')), undefined, opts([{ key: [bridge, '10.82.0.2'], value: 'jump c_a' }]));
    expect(kit.runner.mutatingCount).toBe(before + 1);
    expect(await ping()).toBe(true);
    expect((await counters()).n_a.packets).toBe(2);
    expect(await elements()).toContain('"target":"c_a"');
    // The same again: nothing runs.
    await kit.host.nftTable(body(chainA('counter name n_a accept')), undefined, opts([{ key: [bridge, '10.82.0.2'], value: 'jump c_a' }]));
    expect(kit.runner.mutatingCount).toBe(before + 1);
  });

  it('rewrites only the chain that changed: chains and map keep their handles, counters their values', async () => {
    const was = await handles();
    const before = kit.runner.mutatingCount;
    const b2 = 'chain c_b {\n  counter name n_b drop\n}';
    await kit.host.nftTable(body(chainA('counter name n_a drop'), b2), undefined, opts([{ key: [bridge, '10.82.0.2'], value: 'jump c_a' }], ['n_b']));
    expect(kit.runner.mutatingCount).toBe(before + 1);
    expect(await ping()).toBe(false);
    expect((await counters()).n_a.packets).toBe(4);
    const now = await handles();
    expect(now.filter((h) => !h.startsWith('chain:c_b:'))).toEqual(was);
    // A map element whose value changes, one added: elements only.
    await kit.host.nftTable(body(chainA('counter name n_a drop'), b2), undefined, opts([{ key: [bridge, '10.82.0.2'], value: 'accept' }, { key: [bridge, '10.82.0.3'], value: 'jump c_b' }], ['n_b']));
    expect(kit.runner.mutatingCount).toBe(before + 2);
    expect(await handles()).toEqual(now);
    expect(await ping()).toBe(false); // the reply from b is dropped by c_b
    expect((await counters()).n_b.packets).toBeGreaterThan(0);
    // The chain goes with the element jumping to it, and its counter.
    await kit.host.nftTable(body(chainA('counter name n_a drop')), undefined, opts([{ key: [bridge, '10.82.0.2'], value: 'jump c_a' }]));
    expect(kit.runner.mutatingCount).toBe(before + 3);
    expect(await handles()).toEqual(was);
    expect(Object.keys(await counters()).sort()).toEqual(['n_a']);
    expect(await elements()).not.toContain('10.82.0.3');
  });

  it('makes a base chain again when its hook changes, and replaces the table whole when a map is declared otherwise', async () => {
    const moved = body(chainA('counter name n_a accept')).replace('priority 0;', 'priority 10;');
    await kit.host.nftTable(moved, undefined, opts([{ key: [bridge, '10.82.0.2'], value: 'jump c_a' }]));
    expect(JSON.stringify(await kit.host.nftList())).toContain('"prio":10');
    expect(await ping()).toBe(true);
    const remapped = moved.replace(MAP, 'map m { type ifname . ipv4_addr : verdict; flags interval; }');
    await kit.host.nftTable(remapped, undefined, opts([{ key: [bridge, '10.82.0.0/24'], value: 'jump c_a' }]));
    expect(await elements()).toContain('"len":24');
    expect(await ping()).toBe(true);
  });

  it('refuses map elements that are not keys and verdicts, before anything runs', async () => {
    const before = kit.runner.mutatingCount;
    const refuse = (m: unknown, message: RegExp) =>
      expect(kit.host.nftTable(body(chainA('accept')), undefined, { incremental: true, maps: m as Record<string, { key: string[]; value: string }[]> })).rejects.toThrow(message);
    await refuse({ m: [{ key: [bridge, '10.82.0.2/24'], value: 'accept' }] }, /is not a canonical IP address or CIDR/);
    await refuse({ m: [{ key: ['br0 } ; flush ruleset'], value: 'accept' }] }, /neither an IP address/);
    await refuse({ m: [{ key: [bridge], value: 'jump x; flush ruleset' }] }, /is neither a verdict/);
    await refuse({ m: [{ key: [bridge], value: 'accept' }, { key: [bridge], value: 'drop' }] }, /given twice/);
    await refuse({ m: 'x' }, /elements must be a list/);
    expect(kit.runner.mutatingCount).toBe(before);
  });
});
