import { CommandRunner, Linux } from '@netloom/linux';
import { RealizationState } from '@netloom/model';
import type { HostContext } from './host-context';
import { createHostContext } from './host-context-impl';
import { definePlugin, type DesiredPluginResource, type PluginStatus, SDK_VERSION } from './plugin';
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
});
