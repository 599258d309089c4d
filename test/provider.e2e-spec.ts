/**
 * Provider networks end to end: one real controller from dist/ and two simulated hosts with real
 * agents started with `--provider-mapping physnet1:eth1`. Each host namespace gets a second
 * interface, eth1, on a second bridge (the "physical" LAN, in a namespace of its own) where an
 * outside namespace sits at 203.0.113.1. Networks and routers go through the public GraphQL API;
 * the assertions are packets: ports on a flat provider network meet on the LAN with no VXLAN, a
 * port behind a router reaches the outside by SNAT (the outside sees the router's address), the
 * outside reaches a floating IP, a host without the mapping reports the port FAILED saying why.
 * VLANs (tagged by the agents in tc, no 8021q needed): tagged traffic shows its tag on the LAN
 * (tcpdump), an untagged outside host does not get it, and two VLANs are isolated. The LAN's
 * access ports to the outside hosts on VLANs 100 and 200 tag with the same eBPF programs (this
 * kernel has no 8021q to do it otherwise); what is on the wire is checked by tcpdump, not by them.
 * Last, a firewall policy on provider ports (flat on the trunk, and VLAN): the outside gets in on
 * the allowed TCP port only, the ports' own traffic out is answered.
 *
 * Tests build on each other, in order. Every name carries a per-run prefix; everything goes in
 * afterAll (the LAN and outside namespaces carry the prefix too), even on failure.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vlanProgramObject } from '@netloom/linux';
import { netnsExec, ping, run, waitFor } from './support/agent';
import { attr, Lab, type Net, PEER_ADDRESS, type PortView, runPrefix, shutdownLab, STATUS_FIELDS, type StatusView } from './support/plugin-e2e';

const describeRoot = process.getuid?.() === 0 ? describe : describe.skip;
jest.setTimeout(60_000);

const P = runPrefix('w');
const LAN = `${P}-lan`;
const OUT = `${P}-out`;
const OUT_UNTAGGED = `${P}-out2`;
/** Outside hosts on VLANs 100 and 200 of the LAN, on the same subnet as the untagged one. */
const OUT_VLANS = [
  { ns: `${P}-o100`, vlan: 100, address: '198.51.100.1/24' },
  { ns: `${P}-o200`, vlan: 200, address: '198.51.100.2/24' },
];
const ECHO_PORT = 7000;
/** Where the LAN's VLAN programs are written (removed in afterAll). */
const OBJECTS = mkdtempSync(join(tmpdir(), `${P}-`));
const ROUTER_FIELDS = `id generation externalAddress floatingIps { portId address } status { ${STATUS_FIELDS} }`;

let lab: Lab | undefined;
const theLab = (): Lab => {
  if (!lab) throw new Error('no cluster');
  return lab;
};

const world: { ext?: Net; inside?: Net; p0?: PortView; p1?: PortView; pa?: PortView; v100port?: PortView; routerId?: string } = {};
function need<K extends keyof typeof world>(key: K): NonNullable<(typeof world)[K]> {
  const value = world[key];
  if (value === undefined) throw new Error(`${key} was not made: an earlier test failed`);
  return value;
}

async function sh(args: string[]): Promise<void> {
  const result = await run('ip', args);
  if (result.code !== 0) throw new Error(`ip ${args.join(' ')}: ${result.stderr.trim()}`);
}

/** The LAN: a bridge in its own namespace, eth1 of each host on it, and an outside namespace at 203.0.113.1. */
async function buildLan(l: Lab): Promise<void> {
  await sh(['netns', 'add', LAN]);
  await sh(['-n', LAN, 'link', 'add', 'lan0', 'type', 'bridge']);
  await sh(['-n', LAN, 'link', 'set', 'lan0', 'up']);
  const plug = async (ns: string, inside: string, side: string): Promise<void> => {
    await sh(['-n', LAN, 'link', 'add', side, 'master', 'lan0', 'type', 'veth', 'peer', 'name', inside, 'netns', ns]);
    await sh(['-n', LAN, 'link', 'set', side, 'up']);
    await sh(['-n', ns, 'link', 'set', inside, 'up']);
  };
  for (const host of l.cluster.sim.hosts) await plug(host.name, 'eth1', `h${host.index}`);
  for (const [ns, side, address] of [
    [OUT, 'o0', '203.0.113.1/24'],
    [OUT_UNTAGGED, 'o1', '198.51.100.99/24'],
    ...OUT_VLANS.map((o) => [o.ns, `v${o.vlan}`, o.address]),
  ]) {
    await sh(['netns', 'add', ns]);
    await sh(['-n', ns, 'link', 'set', 'lo', 'up']);
    await plug(ns, 'eth0', side);
    await sh(['-n', ns, 'addr', 'add', address, 'dev', 'eth0']);
  }
  // The LAN's access ports to the VLAN hosts: frames leave them tagged, and only their VLAN's come in, untagged.
  for (const { vlan } of OUT_VLANS) {
    const objects = (['tag', 'untag'] as const).map((kind) => {
      const file = join(OBJECTS, `vlan-${kind}-${vlan}.o`);
      writeFileSync(file, vlanProgramObject({ kind, vlanId: vlan }));
      return file;
    });
    await tc(['-n', LAN, 'qdisc', 'add', 'dev', `v${vlan}`, 'clsact']);
    await tc(['-n', LAN, 'filter', 'add', 'dev', `v${vlan}`, 'ingress', 'bpf', 'da', 'obj', objects[0], 'sec', 'tc']);
    await tc(['-n', LAN, 'filter', 'add', 'dev', `v${vlan}`, 'egress', 'bpf', 'da', 'obj', objects[1], 'sec', 'tc']);
  }
}

async function tc(args: string[]): Promise<void> {
  const result = await run('tc', args);
  if (result.code !== 0) throw new Error(`tc ${args.join(' ')}: ${result.stderr.trim()}`);
}

/** No answer from `ip` within 2 echo requests (1 s each). */
const unreachable = async (ns: string, ip: string): Promise<boolean> => (await netnsExec(ns, ['ping', '-c2', '-W1', '-i', '0.2', ip])).code !== 0;

/** `ip` answers from `ns` within 5 s. */
const reach = (ns: string, ip: string, what: string): Promise<true> => theLab().withAgentLogs(waitFor(() => ping(ns, ip), 5_000, 100, `ping ${what}`));

/** What tcpdump on the LAN side of `side` printed (with link-level headers) while `during` ran. */
async function lanCapture(side: string, filter: string[], during: () => Promise<unknown>): Promise<string> {
  const dump = theLab().spawnIn(LAN, ['tcpdump', '-i', side, '-e', '-nn', '-l', '-c1', ...filter]);
  try {
    await waitFor(() => /listening on/.test(dump.stderr.join('')) || !dump.running, 5_000, 20, `tcpdump listening on ${side}`);
    await during();
    await Promise.race([dump.exited, new Promise((r) => setTimeout(r, 3_000))]);
  } finally {
    await dump.stop();
  }
  return dump.stdout.join('');
}

/** Over two more passes of every agent (resyncs: nothing else asks for one), no agent logs a change, a plugin pass or a failure. */
async function resyncChangesNothing(): Promise<void> {
  expect(await theLab().changesOverResyncs()).toEqual(theLab().cluster.agents.map(() => []));
}

/** The network's status on each host where it is realized. */
async function networkStatus(id: string): Promise<StatusView[]> {
  const { network } = await theLab().api.ok<{ network: { status: StatusView[] } }>(`query($id: ID!) { network(id: $id) { status { ${STATUS_FIELDS} } } }`, { id });
  return network.status;
}

/** Creates a port without waiting and returns its status once its host reported it. */
async function portStatusAfterCreate(networkId: string, host: number, ip: string, subnetId: string): Promise<StatusView> {
  const { createPort } = await theLab().api.ok<{ createPort: { id: string } }>('mutation($input: CreatePortInput!) { createPort(input: $input) { id } }', {
    input: { name: `${P}-p-${ip.replace(/\./g, '-')}`, networkId, hostId: theLab().hostId(host), fixedIps: [{ subnetId, ipAddress: ip }] },
  });
  return waitFor(
    async () => {
      const { port } = await theLab().api.ok<{ port: { status: StatusView[] } }>(`query($id: ID!) { port(id: $id) { status { ${STATUS_FIELDS} } } }`, { id: createPort.id });
      return port.status.find((s) => s.state !== 'PENDING');
    },
    15_000,
    100,
    'the port reported',
  );
}

describeRoot(`provider networks end to end: 2 simulated hosts on a LAN, real agents (prefix ${P})`, () => {
  beforeAll(async () => {
    lab = await Lab.start({ prefix: P, hosts: 2, resyncMs: 2_000, providerMappings: ['physnet1:eth1'] });
    await buildLan(lab);
  }, 90_000);

  afterAll(async () => {
    rmSync(OBJECTS, { recursive: true, force: true });
    expect(await shutdownLab(lab, P, 'provider e2e')).toEqual({ problems: [], left: [] });
  }, 60_000);

  it('shows each host its agent’s mapping', async () => {
    const { hosts } = await theLab().api.ok<{ hosts: { edges: { node: { providerMappings: unknown[]; agent: { capabilities: string[] } } }[] } }>(
      '{ hosts { edges { node { providerMappings { physicalNetwork interface } agent { capabilities } } } } }',
    );
    expect(hosts.edges).toHaveLength(2);
    for (const { node } of hosts.edges) {
      expect(node.providerMappings).toEqual([{ physicalNetwork: 'physnet1', interface: 'eth1' }]);
      expect(node.agent.capabilities).toContain('vlan');
    }
  });

  it('1. a flat provider network: ports on both hosts meet the outside and each other over the LAN, with no VXLAN', async () => {
    world.ext = await theLab().makeNetwork('ext', '203.0.113.0/24', `${P}-ext`, { providerInterface: 'physnet1' });
    const ext = world.ext;
    const [p0, p1] = [await theLab().makePort(ext, 0, '203.0.113.10'), await theLab().makePort(ext, 1, '203.0.113.11')];
    Object.assign(world, { p0, p1 });
    for (const status of await networkStatus(ext.networkId)) {
      expect(status.state).toBe('APPLIED');
      expect(attr([status], 'uplink')).toBe('eth1');
    }
    await reach(p0.ns, '203.0.113.1', 'host 0 → the outside');
    await reach(p1.ns, '203.0.113.1', 'host 1 → the outside');
    // Host to host over the LAN: seen on host 1's wire, and no VXLAN device anywhere.
    const seen = await lanCapture('h1', ['icmp', 'and', 'src', 'host', '203.0.113.10'], () => reach(p0.ns, p1.ip, 'host 0 → host 1'));
    expect(seen).toContain('203.0.113.10 > 203.0.113.11');
    // `trace` explains the way as the physical network, and the probe it sends is answered.
    const { trace } = await theLab().api.ok<{ trace: { verdict: string; hops: { kind: string; detail: string }[] } }>(
      'mutation($input: TraceInput!) { trace(input: $input) { verdict hops { kind detail } } }',
      { input: { fromPortId: p0.id, toPortId: p1.id, protocol: 'ICMP' } },
    );
    expect(trace.verdict).toBe('DELIVERED');
    expect(trace.hops.map((h) => h.kind)).toEqual(['PORT', 'PHYSICAL', 'PORT']);
    expect(trace.hops[1].detail).toMatch(/^physical network physnet1 \(flat\) from host /);
    for (const host of theLab().cluster.sim.hosts) {
      const links = JSON.parse((await run('ip', ['-n', host.name, '-j', '-d', 'link', 'show'])).stdout) as { linkinfo?: { info_kind?: string } }[];
      expect(links.filter((l) => l.linkinfo?.info_kind === 'vxlan')).toEqual([]);
    }
  });

  it('1b. turned into an overlay its ports meet over VXLAN and the LAN is gone; turned back, the LAN is there again', async () => {
    const [ext, p0, p1] = [need('ext'), need('p0'), need('p1')];
    const update = async (generation: number, providerInterface: string | null): Promise<number> => {
      const { updateNetwork } = await theLab().withAgentLogs(
        theLab().api.ok<{ updateNetwork: { generation: number; providerInterface: string | null; status: StatusView[] } }>(
          `mutation($input: UpdateNetworkInput!) { updateNetwork(input: $input, wait: true) { generation providerInterface status { ${STATUS_FIELDS} } } }`,
          { input: { id: ext.networkId, generation, providerInterface } },
        ),
      );
      expect(updateNetwork.providerInterface).toBe(providerInterface);
      expect(updateNetwork.status.map((st) => st.state)).toEqual(['APPLIED', 'APPLIED']);
      return updateNetwork.generation;
    };
    const { network } = await theLab().api.ok<{ network: { generation: number } }>('query($id: ID!) { network(id: $id) { generation } }', { id: ext.networkId });
    const overlay = await update(network.generation, null);
    await reach(p0.ns, p1.ip, 'host 0 → host 1 over VXLAN');
    expect(await unreachable(p0.ns, '203.0.113.1')).toBe(true);
    const eth1 = JSON.parse((await run('ip', ['-n', theLab().cluster.sim.hosts[0].name, '-j', 'link', 'show', 'eth1'])).stdout) as { master?: string }[];
    expect(eth1[0].master).toBeUndefined();
    await update(overlay, 'physnet1');
    await reach(p0.ns, '203.0.113.1', 'host 0 → the outside, flat again');
    await reach(p0.ns, p1.ip, 'host 0 → host 1 over the LAN again');
  });

  it('2. SNAT: a port on an overlay behind a router reaches the outside, which sees the router’s external address', async () => {
    world.inside = await theLab().makeNetwork('in', '10.92.1.0/24');
    const inside = world.inside;
    // The port on the other host than the router: the inside crosses VXLAN, the outside the LAN.
    world.pa = await theLab().makePort(inside, 1);
    const pa = world.pa;
    expect(await unreachable(pa.ns, '203.0.113.1')).toBe(true);
    const router = await theLab().write<{ id: string; generation: number; status: StatusView[] }>(
      'Router',
      'create',
      { name: `${P}-r`, hostId: theLab().hostId(0), interfaces: [{ subnetId: inside.subnetId }], externalNetworkId: need('ext').networkId, externalAddress: '203.0.113.5' },
      ROUTER_FIELDS,
    );
    expect(router.status).toMatchObject([{ state: 'APPLIED' }]);
    world.routerId = router.id;
    // Its external leg has the LAN's 1500: a full-size frame from the outside reaches it unfragmented.
    const ext0 = JSON.parse((await run('ip', ['-n', attr(router.status, 'netns'), '-j', 'link', 'show', 'ext0'])).stdout) as { mtu: number }[];
    expect(ext0[0].mtu).toBe(1500);
    expect((await netnsExec(OUT, ['ping', '-c1', '-W2', '-M', 'do', '-s', '1472', '203.0.113.5'])).code).toBe(0);
    await reach(pa.ns, '203.0.113.1', 'inside → outside through the router');
    const server = await theLab().answerServer(OUT, ECHO_PORT, PEER_ADDRESS);
    try {
      expect(await theLab().answerFrom(pa.ns, '203.0.113.1', ECHO_PORT, 'the outside, from inside')).toBe('203.0.113.5');
    } finally {
      await server.stop();
    }
  });

  it('3. a floating IP: the outside reaches the inside port at its floating address', async () => {
    const pa = need('pa');
    const router = await theLab().write<{ floatingIps: { address: string }[]; status: StatusView[] }>(
      'Router',
      'update',
      { id: need('routerId'), floatingIps: [{ portId: pa.id, address: '203.0.113.20' }] },
      ROUTER_FIELDS,
    );
    expect(router.floatingIps).toEqual([{ portId: pa.id, address: '203.0.113.20' }]);
    await reach(OUT, '203.0.113.20', 'outside → the floating IP');
    const server = await theLab().answerServer(pa.ns, ECHO_PORT, PEER_ADDRESS);
    try {
      expect(await theLab().answerFrom(OUT, '203.0.113.20', ECHO_PORT, 'the inside port, from outside')).toBe('203.0.113.1');
    } finally {
      await server.stop();
    }
  });

  it('3b. with a provider network, a router, SNAT and a floating IP in place, a resync pass changes nothing', async () => {
    await resyncChangesNothing();
    await reach(OUT, '203.0.113.20', 'outside → the floating IP after a resync');
  });

  it('4. a port on a physical network its host does not map is FAILED, saying which and how to map it', async () => {
    const other = await theLab().makeNetwork('unmapped', '192.0.2.0/24', `${P}-unmapped`, { providerInterface: 'physnet2' });
    const status = await portStatusAfterCreate(other.networkId, 0, '192.0.2.10', other.subnetId);
    expect(status.state).toBe('FAILED');
    expect(status.reason).toContain('physical network physnet2 is not mapped on this host');
    expect(status.reason).toContain('--provider-mapping physnet2:INTERFACE');
  });

  it('5. VLAN 100: the port reaches the outside on VLAN 100, tagged on the wire; an untagged host on the same subnet gets nothing', async () => {
    const v100 = await theLab().makeNetwork('v100', '198.51.100.0/24', `${P}-v100`, { providerInterface: 'physnet1', vlanId: 100 });
    const port = await theLab().makePort(v100, 0, '198.51.100.10');
    world.v100port = port;
    const seen = await lanCapture('h0', ['vlan', '100', 'and', 'icmp'], () => reach(port.ns, '198.51.100.1', 'VLAN 100 → the outside'));
    expect(seen).toMatch(/vlan 100/);
    expect(seen).toContain('198.51.100.10 > 198.51.100.1');
    expect(await unreachable(port.ns, '198.51.100.99')).toBe(true);
    for (const status of await networkStatus(v100.networkId)) expect(attr([status], 'uplink')).toMatch(/^[a-z0-9]+u[0-9a-f]{8}$/);
  });

  it('6. two provider networks on VLANs 100 and 200 are isolated, each reaching its own VLAN only', async () => {
    const v200 = await theLab().makeNetwork('v200', '198.51.100.0/24', `${P}-v200`, { providerInterface: 'physnet1', vlanId: 200 });
    const on200 = await theLab().makePort(v200, 1, '198.51.100.20');
    await reach(on200.ns, '198.51.100.2', 'VLAN 200 → its outside address');
    expect(await unreachable(on200.ns, '198.51.100.10')).toBe(true);
    expect(await unreachable(on200.ns, '198.51.100.1')).toBe(true);
    // On the same host as VLAN 100's port (the same trunk): still apart.
    const beside = await theLab().makePort(v200, 0, '198.51.100.21');
    await reach(beside.ns, '198.51.100.2', 'VLAN 200 on host 0 → its outside address');
    expect(await unreachable(beside.ns, '198.51.100.10')).toBe(true);
  });

  it('7. the flat network shares eth1 with the VLANs (a trunk now): its ports still reach the outside, untagged', async () => {
    const [p0, ext] = [need('p0'), need('ext')];
    for (const status of await networkStatus(ext.networkId)) expect(attr([status], 'uplink')).toMatch(/^[a-z0-9]+u[0-9a-f]{8}$/);
    const seen = await lanCapture('h0', ['icmp', 'and', 'src', 'host', '203.0.113.10'], () => reach(p0.ns, '203.0.113.1', 'flat, on the trunk → the outside'));
    expect(seen).not.toMatch(/vlan/);
    expect(seen).toContain('203.0.113.10 > 203.0.113.1');
    // The router's leg on it too: the floating IP answers from the outside.
    await reach(OUT, '203.0.113.20', 'outside → the floating IP over the trunk');
  });

  it('7b. with the trunk and its programs in place, a resync pass changes nothing', async () => {
    await resyncChangesNothing();
  });

  it('8. a firewall policy on provider ports (the flat one, now on the trunk, and one on VLAN 100): the outside gets in on the allowed TCP port only; the ports still reach out, their replies let in', async () => {
    const l = theLab();
    // Their traffic crosses two bridges on its host (the network's, then the trunk): filtered once, where the port is.
    const cases = [
      { port: need('p0'), outside: OUT, outsideIp: '203.0.113.1', what: 'flat' },
      { port: need('v100port'), outside: OUT_VLANS[0].ns, outsideIp: '198.51.100.1', what: 'VLAN 100' },
    ];
    const servers = await Promise.all(cases.map(({ port }) => l.answerServer(port.ns, ECHO_PORT, PEER_ADDRESS)));
    let policyId: string | undefined;
    try {
      for (const c of cases) await reach(c.outside, c.port.ip, `the outside → the ${c.what} port, before the policy`);
      const policy = await l.write<{ id: string; status: StatusView[] }>(
        'FirewallPolicy',
        'create',
        {
          name: `${P}-fw`,
          selector: { portIds: cases.map((c) => c.port.id) },
          ingressDefault: 'DROP',
          rules: [{ priority: 10, direction: 'INGRESS', protocol: 'TCP', ports: [{ from: ECHO_PORT }], action: 'ALLOW' }],
        },
        `id status { ${STATUS_FIELDS} }`,
      );
      policyId = policy.id;
      expect(policy.status.map((s) => s.state)).toEqual(policy.status.map(() => 'APPLIED'));
      for (const c of cases) {
        expect(await l.answerFrom(c.outside, c.port.ip, ECHO_PORT, `the ${c.what} port's allowed TCP port, from the outside`)).toBe(c.outsideIp);
        expect(await unreachable(c.outside, c.port.ip)).toBe(true);
        await reach(c.port.ns, c.outsideIp, `the ${c.what} port → the outside, with the policy`);
      }
    } finally {
      if (policyId) await l.remove('FirewallPolicy', policyId);
      await Promise.all(servers.map((s) => s.stop()));
    }
  });
});
