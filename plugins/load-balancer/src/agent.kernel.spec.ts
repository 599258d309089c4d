import { deriveMac, RealizationState } from '@netloom/plugin-sdk';
import { agentTestHost, type AgentTestHost } from '@netloom/plugin-sdk/testing';
import { COUNTERS_MAX_AGE_MS } from './agent';
import { loadBalancer } from './index';
import type { LbPlacement, PlacedListener, PlacedMember } from './spec';

// The agent half against the kernel in a throwaway host: three member namespaces running TCP
// servers that answer their name, a client, and the load balancer's own namespace on one bridge.

const describeKernel = process.getuid?.() === 0 ? describe : describe.skip;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeKernel('load balancer: agent half on the real kernel', () => {
  jest.setTimeout(60_000);
  let kit: AgentTestHost;
  const ns: Record<'a' | 'b' | 'c' | 'client' | 'client2', string> = { a: '', b: '', c: '', client: '', client2: '' };
  const servers = new Map<string, { stop(): Promise<void> }>();
  const agent = loadBalancer.agent!;

  const member = (name: 'a' | 'b' | 'c', weight: number, extra: Partial<PlacedMember> = {}): PlacedMember => ({
    name,
    portId: null,
    address: { a: '10.94.0.11', b: '10.94.0.12', c: '10.94.0.13' }[name],
    port: 8080,
    weight,
    adminUp: true,
    ...extra,
  });
  const listener = (extra: Partial<PlacedListener> = {}): PlacedListener => ({
    protocol: 'TCP',
    port: 80,
    algorithm: 'ROUND_ROBIN',
    affinityTimeout: null,
    members: [member('a', 1), member('b', 2), member('c', 3)],
    healthMonitor: null,
    ...extra,
  });
  const placement = (listeners: PlacedListener[]): LbPlacement => ({
    mode: 'APPLIANCE',
    networkId: 'n1',
    subnets: ['10.94.0.0/24'],
    vip: '10.94.0.10',
    cidr: '10.94.0.10/24',
    gateway: null,
    mac: deriveMac('lb:L'),
    mtu: 1450,
    listeners,
  });
  const desired = (p: LbPlacement) => [{ kind: 'LoadBalancer', id: 'L', generation: 1, spec: p }];
  const serve = async (name: 'a' | 'b' | 'c'): Promise<void> => {
    servers.set(name, kit.spawn(ns[name], ['socat', 'TCP-LISTEN:8080,reuseaddr,fork', `SYSTEM:echo ${name}`]));
    await kit.waitListening(ns[name], 8080);
  };
  /** Who answers `n` connections to the VIP from `from`. */
  const tally = async (from: string, n: number): Promise<Record<string, number>> => {
    const seen: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const answer = (await kit.tcpAnswer(from, '10.94.0.10', 80)) || 'none';
      seen[answer] = (seen[answer] ?? 0) + 1;
    }
    return seen;
  };
  const observeWith = async (p: LbPlacement) =>
    (await agent.observe!(desired(p), kit.host)).L as {
      operatingStatus: string;
      listeners: { members: { name: string; operatingStatus: string; connections: number; bytes: number; lastCheck: string | null }[] }[];
    };
  /** Observes until the first listener's members show these connection counts (read behind the observes, at most once per COUNTERS_MAX_AGE_MS), then that observation. */
  const observeCounted = async (p: LbPlacement, connections: number[]) => {
    const deadline = Date.now() + 3 * COUNTERS_MAX_AGE_MS + 2_000;
    for (;;) {
      const o = await observeWith(p);
      const seen = o.listeners[0].members.map((m) => m.connections);
      if (JSON.stringify(seen) === JSON.stringify(connections)) return o;
      if (Date.now() > deadline) throw new Error(`the counters never showed ${JSON.stringify(connections)}: ${JSON.stringify(seen)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  beforeAll(async () => {
    kit = await agentTestHost({ pluginId: loadBalancer.id });
    await kit.addNetworkBridge('n1');
    ns.a = await kit.addTestNamespace('ta', 'n1', '10.94.0.11/24');
    ns.b = await kit.addTestNamespace('tb', 'n1', '10.94.0.12/24');
    ns.c = await kit.addTestNamespace('tc', 'n1', '10.94.0.13/24');
    ns.client = await kit.addTestNamespace('tk', 'n1', '10.94.0.20/24');
    ns.client2 = await kit.addTestNamespace('tl', 'n1', '10.94.0.21/24');
    await Promise.all((['a', 'b', 'c'] as const).map(serve));
  });
  afterAll(async () => {
    await agent.stop?.();
    await kit?.destroy();
  });

  it('spreads connections over the members by weight, round robin', async () => {
    const statuses = await agent.reconcile(desired(placement([listener()])), kit.host);
    expect(statuses).toEqual([{ id: 'L', state: RealizationState.APPLIED, attributes: { mode: 'APPLIANCE', netns: kit.host.netnsName('L') } }]);
    // numgen inc over 6 slots: exactly 1:2:3 over whole cycles.
    expect(await tally(ns.client, 60)).toEqual({ a: 10, b: 20, c: 30 });
    const o = await observeCounted(placement([listener()]), [10, 20, 30]);
    expect(o.operatingStatus).toBe('ONLINE');
    expect(o.listeners[0].members.map((m) => [m.name, m.operatingStatus, m.connections])).toEqual([
      ['a', 'NO_MONITOR', 10],
      ['b', 'NO_MONITOR', 20],
      ['c', 'NO_MONITOR', 30],
    ]);
    expect(o.listeners[0].members.every((m) => m.bytes > 0)).toBe(true);
  });

  it('changes nothing when reconciled again, and keeps counters across a rewrite', async () => {
    const before = kit.runner.mutatingCount;
    await agent.reconcile(desired(placement([listener()])), kit.host);
    expect(kit.runner.mutatingCount).toBe(before);
    // A disabled member leaves the map (the table is rewritten); counters carry over.
    const disabled = placement([listener({ members: [member('a', 1), member('b', 2, { adminUp: false }), member('c', 3)] })]);
    await agent.reconcile(desired(disabled), kit.host);
    expect(await tally(ns.client, 8)).toEqual({ a: 2, c: 6 });
    const o = await observeCounted(disabled, [12, 20, 36]);
    expect(o.listeners[0].members.map((m) => [m.name, m.operatingStatus, m.connections])).toEqual([
      ['a', 'NO_MONITOR', 12],
      ['b', 'DISABLED', 20],
      ['c', 'NO_MONITOR', 36],
    ]);
  });

  it('answers a member that calls its own VIP (hairpin)', async () => {
    await agent.reconcile(desired(placement([listener()])), kit.host);
    const answers = await tally(ns.a, 6);
    expect(answers.none).toBeUndefined();
    expect(Object.values(answers).reduce((x, y) => x + y, 0)).toBe(6);
  });

  it('takes a member that fails its checks out, and back when it passes again', async () => {
    const hm = { type: 'TCP' as const, path: '/', expect: [{ from: 200, to: 399 }], intervalMs: 200, timeoutMs: 150, rise: 2, fall: 2 };
    const monitored = placement([listener({ healthMonitor: hm })]);
    await agent.reconcile(desired(monitored), kit.host);
    await sleep(500);
    expect((await observeWith(monitored)).listeners[0].members.map((m) => m.operatingStatus)).toEqual(['ONLINE', 'ONLINE', 'ONLINE']);

    const asked = kit.reconcileRequests.length;
    await servers.get('b')!.stop();
    const started = Date.now();
    while (kit.reconcileRequests.length === asked && Date.now() - started < 5_000) await sleep(20);
    expect(kit.reconcileRequests.slice(asked).join('\n')).toMatch(/10\.94\.0\.12:8080 is OFFLINE/);
    // What the agent does on requestReconcile: reconcile again, which drops b from the map.
    await agent.reconcile(desired(monitored), kit.host);
    const o = await observeWith(monitored);
    expect(o.operatingStatus).toBe('DEGRADED');
    expect(o.listeners[0].members.find((m) => m.name === 'b')).toMatchObject({ operatingStatus: 'OFFLINE', lastCheck: expect.stringMatching(/ECONNREFUSED|refused/) });
    const without = await tally(ns.client, 20);
    expect(without.b ?? 0).toBe(0);
    expect(without.none ?? 0).toBe(0);

    await serve('b');
    const back = kit.reconcileRequests.length;
    const restarted = Date.now();
    while (kit.reconcileRequests.length === back && Date.now() - restarted < 5_000) await sleep(20);
    expect(kit.reconcileRequests.slice(back).join('\n')).toMatch(/10\.94\.0\.12:8080 is ONLINE/);
    await agent.reconcile(desired(monitored), kit.host);
    expect((await tally(ns.client, 12)).b).toBe(4);
  });

  it('keeps a client on one member with SOURCE_IP, with and without affinity', async () => {
    for (const affinityTimeout of [null, 60]) {
      const p = placement([listener({ algorithm: 'SOURCE_IP', affinityTimeout })]);
      await agent.reconcile(desired(p), kit.host);
      expect(Object.keys(await tally(ns.client, 15))).toHaveLength(1);
      expect(Object.keys(await tally(ns.client2, 15))).toHaveLength(1);
    }
  });

  /** `ADDRESS PORT SOURCE_PORT` (0: any): sends `q`, prints the answer, or nothing after 3 s. */
  const UDP_ASK = [
    'import socket, sys',
    's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
    's.bind(("", int(sys.argv[3])))',
    's.settimeout(3)',
    's.sendto(b"q\\n", (sys.argv[1], int(sys.argv[2])))',
    'try:',
    '    print(s.recv(100).decode().strip())',
    'except socket.timeout:',
    '    pass',
  ].join('\n');

  it('balances UDP too: each datagram is answered by a member, through the translation', async () => {
    for (const name of ['a', 'b', 'c'] as const) kit.spawn(ns[name], ['socat', 'UDP-RECVFROM:5353,fork', `SYSTEM:echo ${name}`]);
    // Each member answers straight first (UDP has no listen to wait for), so none is counted before it is up.
    // One datagram, and up to 3 s for its answer (a client `socat` gave up 0.5 s after its input
    // ended, less than a member's fork and `sh` take on two busy cores: an answer came too late).
    const ask = async (address: string, port: number, sourcePort = 0): Promise<string> =>
      (await kit.exec(ns.client, ['python3', '-c', UDP_ASK, address, String(port), String(sourcePort)])).stdout.trim();
    for (const name of ['a', 'b', 'c'] as const) {
      const address = member(name, 1).address;
      for (let tries = 0; (await ask(address, 5353)) !== name; tries++) if (tries > 20) throw new Error(`member ${name} never answered on UDP 5353`);
    }
    const p = placement([listener({ protocol: 'UDP', port: 53, members: [member('a', 1, { port: 5353 }), member('b', 1, { port: 5353 }), member('c', 1, { port: 5353 })] })]);
    await agent.reconcile(desired(p), kit.host);
    const answers: string[] = [];
    for (let i = 0; i < 6; i++) {
      // A new source port each time: a new flow, so round robin moves on. A datagram lost on the
      // way (UDP promises nothing) is asked again from the same port, as a resolver does: the same
      // flow, so conntrack sends it to the same member and the round robin is not disturbed.
      let answer = '';
      for (let tries = 0; answer === '' && tries < 3; tries++) answer = await ask('10.94.0.10', 53, 41_000 + i);
      answers.push(answer);
    }
    expect(answers.sort()).toEqual(['a', 'a', 'b', 'b', 'c', 'c']);
  });

  it('takes a member out whose HTTP check answers a status not expected', async () => {
    const http = (name: string, status: number) =>
      kit.spawn(ns[name as 'a'], [process.execPath, '-e', `require('http').createServer((q, s) => { s.writeHead(${status}); s.end('${name}'); }).listen(8081)`]);
    const servers = [http('a', 200), http('b', 503), http('c', 204)];
    for (const name of ['a', 'b', 'c'] as const) await kit.waitListening(ns[name], 8081);
    const hm = { type: 'HTTP' as const, path: '/healthz', expect: [{ from: 200, to: 204 }], intervalMs: 200, timeoutMs: 150, rise: 1, fall: 1 };
    const p = placement([listener({ port: 81, members: [member('a', 1, { port: 8081 }), member('b', 1, { port: 8081 }), member('c', 1, { port: 8081 })], healthMonitor: hm })]);
    await agent.reconcile(desired(p), kit.host);
    const started = Date.now();
    let o = await observeWith(p);
    while (o.listeners[0].members.find((m) => m.name === 'b')?.operatingStatus !== 'OFFLINE' && Date.now() - started < 5_000) {
      await sleep(100);
      await agent.reconcile(desired(p), kit.host);
      o = await observeWith(p);
    }
    expect(o.listeners[0].members.map((m) => [m.name, m.operatingStatus, m.lastCheck])).toEqual([
      ['a', 'ONLINE', 'status 200'],
      ['b', 'OFFLINE', 'status 503'],
      ['c', 'ONLINE', 'status 204'],
    ]);
    for (const server of servers) await server.stop();
  });

  it('refuses connections when no member takes them, and removes everything when not desired', async () => {
    await agent.reconcile(desired(placement([listener({ members: [member('a', 1, { adminUp: false })] })])), kit.host);
    expect(await kit.tcpAnswer(ns.client, '10.94.0.10', 80)).toBe('');
    await agent.reconcile([], kit.host);
    expect(await kit.host.ownedNetns()).toEqual([]);
  });

  describe('DISTRIBUTED: translated in the host namespace, as the client sends', () => {
    const spread = (listeners: PlacedListener[]): LbPlacement => ({ ...placement(listeners), mode: 'DISTRIBUTED' });
    const peers: { stop(): Promise<void> }[] = [];
    afterAll(async () => {
      for (const p of peers) await p.stop();
    });

    it('spreads by weight with no namespace of its own; members see the client; repeats run nothing', async () => {
      const statuses = await agent.reconcile(desired(spread([listener(), listener({ port: 81, members: [member('a', 1, { port: 8081 }), member('b', 1, { port: 8081 })] })])), kit.host);
      const responder = (await kit.host.ownedNetns())[0];
      expect(statuses).toEqual([{ id: 'L', state: RealizationState.APPLIED, attributes: { mode: 'DISTRIBUTED', netns: responder } }]);
      // One namespace: the network's responder (it holds the VIP and answers ARP for it); none of the load balancer's own.
      expect(await kit.host.ownedNetns()).toEqual([responder]);
      expect(responder).not.toBe(kit.host.netnsName('L'));
      expect(await tally(ns.client, 60)).toEqual({ a: 10, b: 20, c: 30 });
      for (const name of ['a', 'b'] as const) {
        peers.push(kit.spawn(ns[name], ['socat', 'TCP-LISTEN:8081,reuseaddr,fork', 'SYSTEM:echo $SOCAT_PEERADDR']));
        await kit.waitListening(ns[name], 8081);
      }
      for (let i = 0; i < 4; i++) expect(await kit.tcpAnswer(ns.client2, '10.94.0.10', 81)).toBe('10.94.0.21');
      // A port no listener has: the responder refuses it.
      expect(await kit.tcpAnswer(ns.client, '10.94.0.10', 82)).toBe('');
      const o = await observeCounted(spread([listener()]), [10, 20, 30]);
      expect(o.listeners[0].members.map((m) => [m.name, m.operatingStatus, m.connections])).toEqual([
        ['a', 'NO_MONITOR', 10],
        ['b', 'NO_MONITOR', 20],
        ['c', 'NO_MONITOR', 30],
      ]);
      const before = kit.runner.mutatingCount;
      await agent.reconcile(desired(spread([listener(), listener({ port: 81, members: [member('a', 1, { port: 8081 }), member('b', 1, { port: 8081 })] })])), kit.host);
      expect(kit.runner.mutatingCount).toBe(before);
    });

    it('turns back into an APPLIANCE and back, and removes everything when not desired', async () => {
      await agent.reconcile(desired(placement([listener()])), kit.host);
      expect(await kit.host.ownedNetns()).toEqual([kit.host.netnsName('L')]);
      // The VIP moved from the responder's MAC to the appliance's, which announced it (a gratuitous
      // ARP): the client's cached entry follows, nothing is flushed.
      expect(Object.keys(await tally(ns.client, 6)).sort()).toEqual(['a', 'b', 'c']);
      await agent.reconcile(desired(spread([listener()])), kit.host);
      expect(Object.keys(await tally(ns.client, 6)).sort()).toEqual(['a', 'b', 'c']);
      await agent.reconcile([], kit.host);
      expect(await kit.host.ownedNetns()).toEqual([]);
      expect(await kit.host.nftList()).toBeNull();
      expect(await kit.tcpAnswer(ns.client, '10.94.0.10', 80)).toBe('');
    });
  });
});
