import { CommandRunner, Linux } from '@netloom/linux';
import { BRIDGE_ROUTING_PREF, bridgeRoutingTable } from './bridge-routing';
import { createHostContext } from './host-context-impl';
import { agentTestHost, type AgentTestHost } from './testkit-agent';

// Bridged DNAT on the real kernel, as root: a client on a bridge reaches a VIP that the plugin's
// nat table in the host namespace translates to members on the same bridge, the translated packet
// routed out of the bridge again by the plugin's table (bridgeRouting), the members seeing the
// client's own address; a member reaching itself through the VIP needs hairpin mode on its port.
const describeKernel = process.getuid?.() === 0 ? describe : describe.skip;

const PLUGIN = 'test.bridge-routing';
const VIP = '10.79.0.100';
const M1 = '10.79.0.11';
const M2 = '10.79.0.12';
const CLIENT = '10.79.0.1';

/** A TCP server on port 80: answers each connection with its name and the address it came from, then closes. */
const SERVER = `
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', 80)); s.listen(16)
while True:
    c, peer = s.accept(); c.sendall(('%s %s\\n' % (sys.argv[1], peer[0])).encode()); c.close()
`;

/** The plugin's nat table: the VIP to the members (in turn), and a member reaching itself made to come from the VIP. */
const natBody = (members: string[]): string => `chain pre {
  type nat hook prerouting priority -100; policy accept;
  ip daddr ${VIP} tcp dport 80 dnat ip to numgen inc mod ${members.length} map { ${members.map((m, i) => `${i} : ${m}`).join(', ')} }
}
chain post {
  type nat hook postrouting priority 100; policy accept;
${members.map((m) => `  ip saddr ${m} ip daddr ${m} ct status dnat snat ip to ${VIP}`).join('\n')}
}`;

describeKernel('HostContext.bridgeRouting on the real kernel', () => {
  jest.setTimeout(60_000);
  let kit: AgentTestHost;
  let bridge: string;
  let table: number;
  let client: string;
  let m1: string;
  /** Whether br_netfilter hands bridged IPv4 to the nat hooks in the test's host namespace. */
  let bridged = false;
  const skipped = (): boolean => {
    if (!bridged) console.warn('skipped: net.bridge.bridge-nf-call-iptables is not 1 in the test host namespace (br_netfilter not loaded?)');
    return !bridged;
  };
  const sh = async (netns: string, args: string[]): Promise<string> => (await kit.exec(netns, args)).stdout.trim();
  const ruleThere = async (): Promise<boolean> => (await sh(kit.hostNetns, ['ip', 'rule', 'show', 'pref', String(BRIDGE_ROUTING_PREF)])).includes(`iif ${bridge} lookup ${table}`);
  const tableRoutes = async (): Promise<string> => sh(kit.hostNetns, ['ip', 'route', 'show', 'table', String(table)]);
  const forwarding = async (): Promise<string> => sh(kit.hostNetns, ['sysctl', '-n', `net.ipv4.conf.${bridge}.forwarding`]);
  const hairpin = async (dev: string): Promise<boolean> => (await new Linux().links(kit.hostNetns)).find((l) => l.ifname === dev)?.hairpin === true;

  beforeAll(async () => {
    kit = await agentTestHost({ pluginId: PLUGIN });
    bridge = await kit.addNetworkBridge('n1');
    table = bridgeRoutingTable(PLUGIN, bridge);
    client = await kit.addTestNamespace('c', 'n1', `${CLIENT}/24`, { portId: 'port-c' });
    m1 = await kit.addTestNamespace('m1', 'n1', `${M1}/24`, { portId: 'port-m1' });
    const m2 = await kit.addTestNamespace('m2', 'n1', `${M2}/24`, { portId: 'port-m2' });
    // The VIP's holder: it answers ARP for the VIP, so frames to the VIP cross the bridge.
    await kit.addTestNamespace('r', 'n1', `${VIP}/24`);
    bridged = (await sh(kit.hostNetns, ['sysctl', '-n', 'net.bridge.bridge-nf-call-iptables'])) === '1';
    if (!bridged) return;
    kit.spawn(m1, ['python3', '-c', SERVER, 'm1']);
    kit.spawn(m2, ['python3', '-c', SERVER, 'm2']);
    await Promise.all([kit.waitListening(m1, 80), kit.waitListening(m2, 80)]);
  });
  afterAll(async () => {
    await kit?.destroy();
  });

  it('routes the translated traffic out of the bridge: a client reaches both members, which see its own address', async () => {
    if (skipped()) return;
    await kit.host.nftTable(natBody([M1, M2]));
    // Without the plugin's routing the translated packet has no way out: nothing answers.
    expect(await kit.tcpAnswer(client, VIP, 80, 1_000)).toBe('');
    expect(await kit.host.bridgeRouting([{ networkId: 'n1', routes: [{ dst: '10.79.0.0/24' }] }])).toEqual({ ok: true, failed: [] });
    expect(await ruleThere()).toBe(true);
    expect(await tableRoutes()).toMatch(new RegExp(`^10\\.79\\.0\\.0/24 dev ${bridge} `));
    expect(await forwarding()).toBe('1');
    const answers = new Set<string>();
    for (let i = 0; i < 4; i++) answers.add(await kit.tcpAnswer(client, VIP, 80));
    expect([...answers].sort()).toEqual([`m1 ${CLIENT}`, `m2 ${CLIENT}`]);
    // The host's main table is untouched.
    expect(await sh(kit.hostNetns, ['ip', 'route', 'show'])).toBe('');
  });

  it('runs nothing, not even a read, when given the same networks again', async () => {
    if (skipped()) return;
    const [mutating, reads] = [kit.runner.mutatingCount, kit.runner.readCount];
    expect(await kit.host.bridgeRouting([{ networkId: 'n1', routes: [{ dst: '10.79.0.0/24' }] }])).toEqual({ ok: true, failed: [] });
    expect([kit.runner.mutatingCount, kit.runner.readCount]).toEqual([mutating, reads]);
  });

  it('lets a member reach itself through the VIP once its port is in hairpin mode', async () => {
    if (skipped()) return;
    await kit.host.nftTable(natBody([M1]));
    const hostEnd = kit.host.port('port-m1')!.hostIfname!;
    // The bridge does not send a frame back out the port it came in by.
    expect(await kit.tcpAnswer(m1, VIP, 80, 1_000)).toBe('');
    // A route through a gateway given (and sorting) before the prefix that holds the gateway, on a
    // table emptied first: written after it (the kernel refuses a gateway it cannot reach yet).
    expect(await kit.host.bridgeRouting([])).toEqual({ ok: true, failed: [] });
    expect(await tableRoutes()).toBe('');
    const onLink = { dst: '10.79.0.0/24' };
    const routes = [{ dst: '10.0.80.0/24', via: '10.79.0.254' }, onLink];
    expect(await kit.host.bridgeRouting([{ networkId: 'n1', routes, hairpinPorts: ['port-m1'] }])).toEqual({ ok: true, failed: [] });
    expect(await hairpin(hostEnd)).toBe(true);
    expect(await tableRoutes()).toMatch(/10\.0\.80\.0\/24 via 10\.79\.0\.254/);
    expect(await kit.tcpAnswer(m1, VIP, 80)).toBe(`m1 ${VIP}`);
    // A route no longer given leaves the table; the hairpin stays. Read back a moment ago, it
    // writes only that difference, in one batch, and reads nothing.
    const [mutating, reads] = [kit.runner.mutatingCount, kit.runner.readCount];
    expect(await kit.host.bridgeRouting([{ networkId: 'n1', routes: [onLink], hairpinPorts: ['port-m1'] }])).toEqual({ ok: true, failed: [] });
    expect([kit.runner.mutatingCount - mutating, kit.runner.readCount - reads]).toEqual([1, 0]);
    expect(await tableRoutes()).not.toMatch(/10\.0\.80\.0/);
    expect(await hairpin(hostEnd)).toBe(true);
  });

  it('refuses what it cannot do before anything runs', async () => {
    const [mutating, reads] = [kit.runner.mutatingCount, kit.runner.readCount];
    const ok = { networkId: 'n1', routes: [{ dst: '10.79.0.0/24' }] };
    const refused = (wanted: unknown) => kit.host.bridgeRouting([ok, wanted] as never);
    await expect(refused({ networkId: 'n9', routes: [] })).rejects.toThrow(/plugin test\.bridge-routing: bridgeRouting: network "n9" has no bridge on this host/);
    await expect(refused({ networkId: 'n1', routes: [{ dst: 'fd00::/64' }] })).rejects.toThrow(/route dst "fd00::\/64" is not an IPv4 prefix/);
    await expect(refused({ networkId: 'n1', routes: [{ dst: '10.79.0.1/24' }] })).rejects.toThrow(/not an IPv4 prefix with its host bits clear/);
    await expect(refused({ networkId: 'n1', routes: [{ dst: '10.79.0.0/24 dev lo' }] })).rejects.toThrow(/not an IPv4 prefix/);
    await expect(refused({ networkId: 'n1', routes: [{ dst: 'default', via: 'fd00::1' }] })).rejects.toThrow(/route via "fd00::1" is not an IPv4 address/);
    await expect(refused({ networkId: 'n1', routes: [{ dst: 'default', via: '10.79.0.1 dev lo' }] })).rejects.toThrow(/is not an IPv4 address/);
    await expect(refused({ networkId: 'n1', routes: [], hairpinPorts: ['port-x'] })).rejects.toThrow(/port "port-x" is not on this host/);
    await expect(kit.host.bridgeRouting([ok, ok])).rejects.toThrow(/network n1 is given twice/);
    await expect(kit.host.bridgeRouting({ networkId: 'n1' } as never)).rejects.toThrow(/plugin test\.bridge-routing: bridgeRouting takes a list/);
    expect([kit.runner.mutatingCount, kit.runner.readCount]).toEqual([mutating, reads]);
  });

  it('undoes everything for a network no longer given: rule, routes, forwarding, hairpin', async () => {
    if (skipped()) return;
    expect(await kit.host.bridgeRouting([])).toEqual({ ok: true, failed: [] });
    expect(await ruleThere()).toBe(false);
    expect(await tableRoutes()).toBe('');
    expect(await forwarding()).toBe('0');
    expect(await hairpin(kit.host.port('port-m1')!.hostIfname!)).toBe(false);
    expect(await kit.tcpAnswer(client, VIP, 80, 1_000)).toBe('');
    const [mutating, reads] = [kit.runner.mutatingCount, kit.runner.readCount];
    expect(await kit.host.bridgeRouting([])).toEqual({ ok: true, failed: [] });
    expect([kit.runner.mutatingCount, kit.runner.readCount]).toEqual([mutating, reads]);
  });

  it('removes on its first call what an earlier agent left for the plugin', async () => {
    if (skipped()) return;
    expect(await kit.host.bridgeRouting([{ networkId: 'n1', routes: [{ dst: '10.79.0.0/24' }] }])).toEqual({ ok: true, failed: [] });
    expect(await ruleThere()).toBe(true);
    // Another plugin's rule on the same bridge is not this one's.
    await kit.exec(kit.hostNetns, ['ip', 'rule', 'add', 'iif', bridge, 'lookup', String(bridgeRoutingTable('other', bridge)), 'pref', String(BRIDGE_ROUTING_PREF)]);
    const next = createHostContext({ linux: new Linux(), pluginId: PLUGIN, agentPrefix: kit.prefix, hostId: 'next', hostNetns: kit.hostNetns, networkBridges: new Map([['n1', bridge]]) });
    try {
      expect(await next.bridgeRouting([])).toEqual({ ok: true, failed: [] });
    } finally {
      await next.close();
    }
    expect(await ruleThere()).toBe(false);
    expect(await tableRoutes()).toBe('');
    expect(await forwarding()).toBe('0');
    expect(await sh(kit.hostNetns, ['ip', 'rule', 'show', 'pref', String(BRIDGE_ROUTING_PREF)])).toContain(`lookup ${bridgeRoutingTable('other', bridge)}`);
  });

  it('routes a bridge it does not route yet without reading the rules, the table or the links: what was left in the table is flushed in the same batch', async () => {
    if (skipped()) return;
    const runner = new CommandRunner();
    const ctx = createHostContext({ linux: new Linux(runner), pluginId: PLUGIN, agentPrefix: kit.prefix, hostId: 'fresh', hostNetns: kit.hostNetns, networkBridges: new Map([['n1', bridge]]), ports: new Map([['port-m1', kit.host.port('port-m1')!]]) });
    const wanted = [{ networkId: 'n1', routes: [{ dst: '10.79.0.0/24' }], hairpinPorts: ['port-m1'] }];
    try {
      // Its first call takes over what an earlier agent left (it reads the rules once).
      expect(await ctx.bridgeRouting([])).toEqual({ ok: true, failed: [] });
      await kit.exec(kit.hostNetns, ['ip', 'route', 'add', '10.99.0.0/16', 'dev', bridge, 'table', String(table)]);
      runner.resetLog();
      expect(await ctx.bridgeRouting(wanted)).toEqual({ ok: true, failed: [] });
      const read = runner.log.filter((l) => !l.mutating).map((l) => `${l.command} ${l.args.join(' ')}`);
      expect(read.filter((line) => / (rule|route|link) /.test(line))).toEqual([]);
      expect(await ruleThere()).toBe(true);
      expect(await hairpin(kit.host.port('port-m1')!.hostIfname!)).toBe(true);
      expect(await tableRoutes()).toMatch(new RegExp(`^10\\.79\\.0\\.0/24 dev ${bridge} [^\\n]*$`));
      expect(await forwarding()).toBe('1');
      expect(await kit.tcpAnswer(client, VIP, 80)).toMatch(/^m[12] /);
      expect(await ctx.bridgeRouting([])).toEqual({ ok: true, failed: [] });
      expect(await ruleThere()).toBe(false);
    } finally {
      await ctx.close();
    }
  });

  it('reads back what it applied once its trust ran out, and repairs only what drifted', async () => {
    if (skipped()) return;
    const runner = new CommandRunner();
    const ctx = createHostContext({ linux: new Linux(runner), pluginId: PLUGIN, agentPrefix: kit.prefix, hostId: 'trust', hostNetns: kit.hostNetns, networkBridges: new Map([['n1', bridge]]), nftTrustMs: 0 });
    const wanted = [{ networkId: 'n1', routes: [{ dst: '10.79.0.0/24' }, { dst: 'default', via: '10.79.0.254' }] }];
    try {
      expect(await ctx.bridgeRouting(wanted)).toEqual({ ok: true, failed: [] });
      // Held as given: read, nothing written.
      let mutating = runner.mutatingCount;
      expect(await ctx.bridgeRouting(wanted)).toEqual({ ok: true, failed: [] });
      expect(runner.mutatingCount).toBe(mutating);
      // Drift by hand: a route gone, forwarding off.
      await kit.exec(kit.hostNetns, ['ip', 'route', 'del', 'default', 'table', String(table)]);
      await kit.exec(kit.hostNetns, ['sysctl', '-qw', `net.ipv4.conf.${bridge}.forwarding=0`]);
      mutating = runner.mutatingCount;
      expect(await ctx.bridgeRouting(wanted)).toEqual({ ok: true, failed: [] });
      // One ip batch (the route) and one sysctl.
      expect(runner.mutatingCount).toBe(mutating + 2);
      expect(await tableRoutes()).toMatch(/default via 10\.79\.0\.254/);
      expect(await forwarding()).toBe('1');
      expect(await ctx.bridgeRouting([])).toEqual({ ok: true, failed: [] });
      expect(await ruleThere()).toBe(false);
    } finally {
      await ctx.close();
    }
  });
});
