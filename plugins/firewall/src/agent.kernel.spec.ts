import { RealizationState } from '@netloom/plugin-sdk';
import { agentTestHost, type AgentTestHost } from '@netloom/plugin-sdk/testing';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HOST_COUNTERS_MS } from './agent';
import { firewall } from './index';
import type { PlacedRule, PolicyPlacement } from './spec';
import { groupSets, ruleCounter } from './table';

/** Polls `check` until it holds (counters come from a read behind the observe: a later one has them), failing after three read periods. */
async function until(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 3 * HOST_COUNTERS_MS + 2_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('the counters never showed it');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// The agent half against the kernel in a throwaway host: a "web" port namespace (registered as a
// core port, so the plugin may put its table there) running a TCP server, and two clients on
// other /24s of the same network.

const describeKernel = process.getuid?.() === 0 ? describe : describe.skip;

describeKernel('firewall: agent half on the real kernel', () => {
  jest.setTimeout(60_000);
  let kit: AgentTestHost;
  const ns = { web: '', a: '', b: '' };
  const agent = firewall.agent!;
  const rule = (r: Partial<PlacedRule>): PlacedRule => ({ priority: 10, direction: 'INGRESS', protocol: 'TCP', ports: [[80, 80]], remoteCidrs: [], remoteGroupIds: [], action: 'ALLOW', log: false, ...r });
  const policy = (p: Partial<PolicyPlacement>): PolicyPlacement => ({ priority: 1000, ingressDefault: 'DROP', egressDefault: 'ALLOW', rules: [], ports: ['web'], groups: {}, ...p });
  const desired = (...specs: PolicyPlacement[]) => specs.map((spec, i) => ({ kind: 'FirewallPolicy', id: `fw${i}`, generation: 1, spec }));
  const web = (from: string) => kit.tcpAnswer(from, '10.95.0.10', 80, 1_000);
  const ping = async (from: string) => (await kit.exec(from, ['ping', '-c1', '-W1', '10.95.0.10'])).code === 0;
  const observed = async (specs: PolicyPlacement[]) =>
    (await agent.observe!(desired(...specs), kit.host)) as Record<string, { ports: number; rules: { priority: number; packets: number }[]; defaults: { direction: string; packets: number }[] }>;

  beforeAll(async () => {
    kit = await agentTestHost({ pluginId: firewall.id });
    await kit.addNetworkBridge('n1');
    ns.web = await kit.addTestNamespace('tw', 'n1', '10.95.0.10/16', { portId: 'web' });
    ns.a = await kit.addTestNamespace('ta', 'n1', '10.95.1.20/16');
    ns.b = await kit.addTestNamespace('tb', 'n1', '10.95.2.20/16');
    kit.spawn(ns.web, ['socat', 'TCP-LISTEN:80,reuseaddr,fork', 'SYSTEM:echo web']);
    await kit.waitListening(ns.web, 80);
  });
  afterAll(async () => {
    await kit?.destroy();
  });

  it('drops by default and allows TCP 80 from one /24; replies pass; counters count the rule that matched', async () => {
    expect(await web(ns.b)).toBe('web');
    const allowA = policy({ rules: [rule({ remoteCidrs: ['10.95.1.0/24'] })] });
    const statuses = await agent.reconcile(desired(allowA), kit.host);
    expect(statuses).toEqual([{ id: 'fw0', state: RealizationState.APPLIED, attributes: { ports: '1' } }]);
    expect(await web(ns.a)).toBe('web');
    expect(await web(ns.b)).toBe('');
    expect(await ping(ns.a)).toBe(false);
    // Egress default ALLOW: the web port reaches out, and the reply comes back (stateful).
    expect((await kit.exec(ns.web, ['ping', '-c1', '-W1', '10.95.1.20'])).code).toBe(0);
    expect((await observed([allowA])).fw0.ports).toBe(1);
    // A table just made counts from zero until the read behind the observes lands.
    await until(async () => {
      const o = (await observed([allowA])).fw0;
      return o.rules[0].packets > 0 && o.defaults.find((d) => d.direction === 'INGRESS')!.packets > 0;
    });
  });

  it('changes nothing when reconciled again', async () => {
    const before = kit.runner.mutatingCount;
    await agent.reconcile(desired(policy({ rules: [rule({ remoteCidrs: ['10.95.1.0/24'] })] })), kit.host);
    expect(kit.runner.mutatingCount).toBe(before);
  });

  it('decides by order: the first matching rule wins', async () => {
    const deny = rule({ priority: 10, action: 'DROP', remoteCidrs: ['10.95.1.0/24'] });
    const allow = rule({ priority: 20, action: 'ALLOW', remoteCidrs: ['10.95.0.0/16'] });
    await agent.reconcile(desired(policy({ rules: [deny, allow] })), kit.host);
    expect(await web(ns.a)).toBe('');
    expect(await web(ns.b)).toBe('web');
    await agent.reconcile(desired(policy({ rules: [{ ...deny, priority: 30 }, allow] })), kit.host);
    expect(await web(ns.a)).toBe('web');
  });

  it('rejects at once when told to', async () => {
    await agent.reconcile(desired(policy({ ingressDefault: 'REJECT' })), kit.host);
    const started = Date.now();
    expect(await web(ns.a)).toBe('');
    // A TCP reset, not a 1 s timeout.
    expect(Date.now() - started).toBeLessThan(900);
    // Rejected from the port's own table (the host namespace cannot answer for a bridged port)...
    const tablesIn = async (where: string) => (await kit.exec(where, ['nft', 'list', 'tables'])).stdout.trim();
    expect(await tablesIn(ns.web)).not.toBe('');
    // ...and back in the host's table when no policy of the port may reject: still filtered.
    await agent.reconcile(desired(policy({})), kit.host);
    expect(await tablesIn(ns.web)).toBe('');
    expect(await tablesIn(kit.hostNetns)).not.toBe('');
    expect(await web(ns.a)).toBe('');
  });

  it('follows an address group by updating its set only', async () => {
    const grouped = (members: string[]) => policy({ rules: [rule({ remoteGroupIds: ['g'] })], groups: { g: members } });
    await agent.reconcile(desired(grouped(['10.95.1.20'])), kit.host);
    expect(await web(ns.a)).toBe('web');
    expect(await web(ns.b)).toBe('');
    const before = kit.runner.mutatingCount;
    await agent.reconcile(desired(grouped(['10.95.1.20', '10.95.2.20'])), kit.host);
    // One nft transaction that rewrote the set, not the table.
    expect(kit.runner.mutatingCount - before).toBe(1);
    const listed = (await kit.exec(kit.hostNetns, ['nft', 'list', 'ruleset'])).stdout;
    expect(listed).toMatch(new RegExp(`set ${groupSets('g').v4} \\{[^}]*10\\.95\\.2\\.20`));
    expect(await web(ns.b)).toBe('web');
  });

  it('composes two policies in order and counts each rule apart', async () => {
    const first = policy({ priority: 10, rules: [rule({ priority: 1, action: 'DROP', remoteCidrs: ['10.95.2.0/24'] })] });
    const second = policy({ priority: 20, rules: [rule({ priority: 1, remoteCidrs: ['10.95.0.0/16'] })] });
    await agent.reconcile(desired(first, second), kit.host);
    expect(await web(ns.a)).toBe('web');
    expect(await web(ns.b)).toBe('');
    await until(async () => {
      const o = await observed([first, second]);
      return o.fw0.rules[0].packets > 0 && o.fw1.rules[0].packets > 0;
    });
    expect(ruleCounter('fw0', 1)).not.toBe(ruleCounter('fw1', 1));
  });

  it('filters in the host table: the sender\u2019s egress and the receiver\u2019s ingress on one bridge; a port joining is one transaction, the rules stay once', async () => {
    const hostRules = async () => {
      const listed = (await kit.exec(kit.hostNetns, ['nft', 'list', 'ruleset'])).stdout;
      return { rules: (listed.match(/counter name "r_/g) ?? []).length, listed };
    };
    const cli = await kit.addTestNamespace('tc', 'n1', '10.95.3.30/16', { portId: 'cli' });
    const server = policy({ rules: [rule({ remoteCidrs: ['10.95.3.0/24'] })] });
    await agent.reconcile(desired(server), kit.host);
    expect(await web(cli)).toBe('web');
    expect(await web(ns.a)).toBe('');
    // The table is the host's; the port's namespace holds none.
    expect((await hostRules()).listed).toContain('comment "netloom fw fw0 10 ALLOW"');
    expect((await kit.exec(ns.web, ['nft', 'list', 'tables'])).stdout.trim()).toBe('');
    // The client's own egress now refuses TCP 80: the server's ingress would let it in.
    const client = policy({ ports: ['cli'], ingressDefault: 'ALLOW', rules: [rule({ priority: 5, direction: 'EGRESS', action: 'DROP', remoteCidrs: ['10.95.0.10/32'] })] });
    await agent.reconcile(desired(server, client), kit.host);
    expect(await web(cli)).toBe('');
    await until(async () => (await observed([server, client])).fw1.rules[0].packets > 0);
    // The server's policy on a second port: one transaction (map elements), no rule line more.
    const before = { runs: kit.runner.mutatingCount, rules: (await hostRules()).rules };
    await agent.reconcile(desired({ ...server, ports: ['web', 'cli'] }, client), kit.host);
    expect(kit.runner.mutatingCount - before.runs).toBe(1);
    expect((await hostRules()).rules).toBe(before.rules);
    expect((await observed([{ ...server, ports: ['web', 'cli'] }, client])).fw0.ports).toBe(2);
  });

  it('filters each port in its own namespace where bridged traffic skips the host\u2019s inet hooks (bridge-nf-call-iptables 0), and goes back to the host table when it passes them again', async () => {
    const bridgeNf = (value: string) => kit.exec(kit.hostNetns, ['sysctl', '-qw', `net.bridge.bridge-nf-call-iptables=${value}`, `net.bridge.bridge-nf-call-ip6tables=${value}`]);
    const portTables = async () => (await kit.exec(ns.web, ['nft', 'list', 'tables'])).stdout.trim();
    const allowA = policy({ rules: [rule({ remoteCidrs: ['10.95.1.0/24'] })] });
    try {
      expect((await bridgeNf('0')).code).toBe(0);
      const statuses = await agent.reconcile(desired(allowA), kit.host);
      expect(statuses[0].state).toBe(RealizationState.APPLIED);
      expect(kit.logs.join('\n')).toMatch(/bridge-nf-call-iptables 0.*every port is filtered by a table in its own namespace/);
      expect(await portTables()).toMatch(/^table inet /);
      expect(await web(ns.a)).toBe('web');
      expect(await web(ns.b)).toBe('');
    } finally {
      await bridgeNf('1');
    }
    await agent.reconcile(desired(allowA), kit.host);
    expect(kit.logs.at(-1)).toMatch(/ports go back to the host table/);
    expect(await portTables()).toBe('');
    expect(await web(ns.a)).toBe('web');
    expect(await web(ns.b)).toBe('');
  });

  it('keeps two networks with the same addresses apart: (bridge . address) keys, a conntrack zone per bridge', async () => {
    await kit.addNetworkBridge('n2');
    const twin = await kit.addTestNamespace('tt', 'n2', '10.95.0.10/16', { portId: 'twin' });
    const twinClient = await kit.addTestNamespace('tu', 'n2', '10.95.1.20/16');
    const server = kit.spawn(twin, ['socat', 'TCP-LISTEN:80,reuseaddr,fork', 'SYSTEM:echo twin']);
    try {
      await kit.waitListening(twin, 80);
      // web (n1) drops everything; twin (n2, same address) is let in from 10.95.1.0/24 only.
      const twinPolicy = policy({ ports: ['twin'], rules: [rule({ remoteCidrs: ['10.95.1.0/24'] })] });
      await agent.reconcile(desired(policy({}), twinPolicy), kit.host);
      expect(await web(ns.a)).toBe('');
      expect(await kit.tcpAnswer(twinClient, '10.95.0.10', 80, 1_000)).toBe('twin');
      const tracked = (await kit.exec(kit.hostNetns, ['conntrack', '-L'])).stdout;
      expect(tracked).toMatch(/dst=10\.95\.0\.10 .*dport=80 .*zone=\d+/);
    } finally {
      await server.stop();
    }
  });

  it('filters IPv6 link-local traffic to and from a port in the host table (its EUI-64 link-local is one of its keys)', async () => {
    // The web port's link-local, as port security allows it (the kit gives it among its addresses).
    const ll = kit.host.port('web')!.addresses!.find((a) => a.startsWith('fe80:'))!;
    await kit.exec(ns.web, ['ip', 'addr', 'add', `${ll}/64`, 'dev', 'eth0', 'nodad']);
    await kit.exec(ns.a, ['ip', 'addr', 'add', 'fe80::a:1/64', 'dev', 'eth0', 'nodad']);
    const ping6 = async (from: string, to: string) => (await kit.exec(from, ['ping', '-6', '-c1', '-W1', `${to}%eth0`])).code === 0;
    await agent.reconcile([], kit.host);
    expect(await ping6(ns.a, ll)).toBe(true);
    // Ingress DROP: link-local in is dropped (ND still passes), and counted on the default.
    await agent.reconcile(desired(policy({})), kit.host);
    expect(await ping6(ns.a, ll)).toBe(false);
    await until(async () => (await observed([policy({})])).fw0.defaults.find((d) => d.direction === 'INGRESS')!.packets > 0);
    // A rule lets it in, and names itself in the counters.
    const allowLl = policy({ rules: [rule({ protocol: 'ICMPV6', ports: [], remoteCidrs: ['fe80::/10'] })] });
    await agent.reconcile(desired(allowLl), kit.host);
    expect(await ping6(ns.a, ll)).toBe(true);
    // The host's counters are read behind the observes, at most once per HOST_COUNTERS_MS.
    await until(async () => (await observed([allowLl])).fw0.rules[0].packets > 0);
    // Egress: the port's own link-local traffic out is its egress's to decide.
    await agent.reconcile(desired(policy({ ingressDefault: 'ALLOW', rules: [rule({ direction: 'EGRESS', protocol: 'ICMPV6', ports: [], action: 'DROP', remoteCidrs: ['fe80::/10'] })] })), kit.host);
    expect(await ping6(ns.web, 'fe80::a:1')).toBe(false);
    expect(await ping6(ns.a, ll)).toBe(true);
  });

  it('filters broadcast and multicast to a port by its ingress (the mark of its copy), ND passing; a rule lets them in and counts them', async () => {
    await agent.reconcile([], kit.host);
    const dir = mkdtempSync(join(tmpdir(), `${kit.prefix}-fw-`));
    const got = { v4: join(dir, 'v4'), v6: join(dir, 'v6') };
    const receivers = [
      kit.spawn(ns.web, ['socat', '-u', 'UDP4-RECV:9999', `OPEN:${got.v4},creat,append`]),
      kit.spawn(ns.web, ['socat', '-u', 'UDP6-RECV:9998', `OPEN:${got.v6},creat,append`]),
    ];
    try {
      await kit.exec(ns.a, ['ip', 'addr', 'replace', 'fe80::a:1/64', 'dev', 'eth0', 'nodad']);
      const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : '');
      /** Sends a broadcast and an all-nodes multicast datagram from a, tagged; which of them web got. */
      const flood = async (tag: string) => {
        const send = (to: string) => kit.exec(ns.a, ['sh', '-c', `echo ${tag} | socat -u - ${to}`]);
        await send('UDP4-DATAGRAM:10.95.255.255:9999,broadcast');
        await send('UDP6-DATAGRAM:[ff02::1%eth0]:9998');
        await new Promise((resolve) => setTimeout(resolve, 300));
        return { v4: read(got.v4).includes(tag), v6: read(got.v6).includes(tag) };
      };
      // Unfiltered, both arrive (once the receivers listen).
      let open = { v4: false, v6: false };
      for (let i = 0; i < 20 && !(open.v4 && open.v6); i++) open = await flood(`open${i}`);
      expect(open).toEqual({ v4: true, v6: true });
      // Ingress DROP: neither gets in.
      await agent.reconcile(desired(policy({})), kit.host);
      expect(await flood('closed')).toEqual({ v4: false, v6: false });
      // A rule for UDP 9998-9999 lets both in, and its counter counts them.
      const allowUdp = policy({ rules: [rule({ protocol: 'UDP', ports: [[9998, 9999]] })] });
      await agent.reconcile(desired(allowUdp), kit.host);
      expect(await flood('allowed')).toEqual({ v4: true, v6: true });
      await until(async () => (await observed([allowUdp])).fw0.rules[0].packets >= 2);
    } finally {
      await Promise.all(receivers.map((r) => r.stop()));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails a policy whose port is not on this host, and removes its table when nothing covers the port', async () => {
    const statuses = await agent.reconcile(desired(policy({ ports: ['elsewhere'] })), kit.host);
    expect(statuses[0]).toEqual({ id: 'fw0', state: RealizationState.FAILED, reason: 'port elsewhere is not on this host yet' });
    await agent.reconcile([], kit.host);
    expect(await web(ns.b)).toBe('web');
    expect(await ping(ns.a)).toBe(true);
  });

});
