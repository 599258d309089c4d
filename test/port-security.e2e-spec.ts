/**
 * Port security end to end: one real controller and two simulated hosts with real agents
 * (libs/simhosts), ports made through the GraphQL API, and packets between the namespaces the
 * agents built. A port that changes its MAC or sends from an address it was not given reaches
 * nobody, on its host or across VXLAN; one that answers ARP for another port's address is not
 * heard; its drops show on its status; a listed address pair works on both hosts; a port with
 * `portSecurity: false` spoofs freely until an update turns security on; bad input is refused
 * with nothing written.
 *
 * World: network N (10.94.0.0/24). Host 0: A (the spoofer), B (a victim), V (holds the pair
 * 10.94.0.200), O (port security off). Host 1: C (a victim across hosts). Receivers count what
 * reaches their interface in a netdev ingress table of their own, so "reaches nobody" is seen at
 * the receiver, not guessed from a failed ping. The tests build on each other, in order.
 */
import { netnsExec, ping, waitFor } from './support/agent';
import { attr, Lab, type Net, type PortView, runPrefix, shutdownLab, STATUS_FIELDS, type StatusView } from './support/plugin-e2e';

const describeRoot = process.getuid?.() === 0 ? describe : describe.skip;
jest.setTimeout(90_000);

const P = runPrefix('s');
const OBSERVE_MS = 500;
const CIDR = '10.94.0.0/24';
const IP = { a: '10.94.0.10', b: '10.94.0.11', c: '10.94.0.12', v: '10.94.0.13', o: '10.94.0.14' };
const PAIR = '10.94.0.200';
const SPOOFED = '10.94.0.50';
const OPEN_SPOOFED = '10.94.0.60';
const NEW_MAC = '02:94:00:00:00:99';
const MAC = { a: '02:94:00:00:00:0a', b: '02:94:00:00:00:0b', c: '02:94:00:00:00:0c', v: '02:94:00:00:00:0d', o: '02:94:00:00:00:0e' };

let lab: Lab | undefined;
const theLab = (): Lab => {
  if (!lab) throw new Error('no lab');
  return lab;
};
const ports: Record<string, PortView> = {};
let net: Net;

async function sh(ns: string, args: string[]): Promise<void> {
  const r = await netnsExec(ns, args);
  if (r.code !== 0) throw new Error(`${args.join(' ')} in ${ns}: ${r.stderr.trim()}`);
}

/** A table counting, at the receiver's interface, the frames the spoofers could send it. */
async function countAt(ns: string): Promise<void> {
  const rules = [
    'table netdev rx {',
    '  counter new_mac {}',
    '  counter spoofed_ip {}',
    '  counter arp_for_b_from_a {}',
    '  counter open_spoofed {}',
    '  chain in {',
    '    type filter hook ingress device eth0 priority 0; policy accept;',
    `    ether saddr ${NEW_MAC} counter name new_mac`,
    `    ip saddr ${SPOOFED} counter name spoofed_ip`,
    `    ether saddr ${MAC.a} arp saddr ip ${IP.b} counter name arp_for_b_from_a`,
    `    ip saddr ${OPEN_SPOOFED} counter name open_spoofed`,
    '  }',
    '}',
  ].join('\n');
  const r = await netnsExec(ns, ['sh', '-c', `printf '%s\\n' "$0" | nft -f -`, rules]);
  if (r.code !== 0) throw new Error(`rx table in ${ns}: ${r.stderr}`);
}

async function seen(ns: string, counter: string): Promise<number> {
  const r = await netnsExec(ns, ['nft', '-j', 'list', 'counter', 'netdev', 'rx', counter]);
  const items = (JSON.parse(r.stdout) as { nftables: { counter?: { packets: number } }[] }).nftables;
  return items.find((i) => i.counter)?.counter?.packets ?? -1;
}

/** Pings that must not be answered (2 requests, 1 s each); true when none was. */
async function noAnswer(ns: string, ip: string, extra: string[] = []): Promise<boolean> {
  return (await netnsExec(ns, ['ping', '-c2', '-i0.2', '-W1', ...extra, ip])).code !== 0;
}

async function dropsOf(portId: string): Promise<number> {
  const { port } = await theLab().api.ok<{ port: { status: StatusView[] } }>(`query($id: ID!) { port(id: $id) { status { ${STATUS_FIELDS} } } }`, { id: portId });
  return Number(attr(port.status, 'droppedSpoofedPackets'));
}

const UPDATE = 'mutation($input: UpdatePortInput!) { updatePort(input: $input, wait: true) { id portSecurity allowedAddressPairs { ipAddress macAddress } } }';
const CREATE = 'mutation($input: CreatePortInput!) { createPort(input: $input, wait: true) { id } }';

describeRoot('port security (two simulated hosts)', () => {
  beforeAll(async () => {
    lab = await Lab.start({ prefix: P, hosts: 2, resyncMs: 2_000, observeMs: OBSERVE_MS });
  }, 90_000);

  afterAll(async () => {
    expect(await shutdownLab(lab, P, 'port security e2e')).toEqual({ problems: [], left: [] });
  }, 60_000);

  it('ports reach each other from their own addresses, here and across hosts, and show no drops', async () => {
    const l = theLab();
    net = await l.makeNetwork('n', CIDR);
    ports.a = await l.makePort(net, 0, IP.a, { macAddress: MAC.a });
    ports.b = await l.makePort(net, 0, IP.b, { macAddress: MAC.b });
    ports.c = await l.makePort(net, 1, IP.c, { macAddress: MAC.c });
    ports.v = await l.makePort(net, 0, IP.v, { macAddress: MAC.v, input: { allowedAddressPairs: [{ ipAddress: PAIR }] } });
    ports.o = await l.makePort(net, 0, IP.o, { macAddress: MAC.o, input: { portSecurity: false } });
    for (const p of [ports.b, ports.c, ports.v]) await countAt(p.ns);
    await l.withAgentLogs(waitFor(() => ping(ports.a.ns, IP.b), 5_000, 100, 'A → B'));
    await l.withAgentLogs(waitFor(() => ping(ports.a.ns, IP.c), 5_000, 100, 'A → C across hosts'));
    expect(await ping(ports.o.ns, IP.c)).toBe(true);
    expect(await dropsOf(ports.a.id)).toBe(0);
    const { port } = await l.api.ok<{ port: { portSecurity: boolean; allowedAddressPairs: unknown[] } }>(
      'query($id: ID!) { port(id: $id) { portSecurity allowedAddressPairs { ipAddress macAddress } } }',
      { id: ports.v.id },
    );
    expect(port).toEqual({ portSecurity: true, allowedAddressPairs: [{ ipAddress: PAIR, macAddress: null }] });
  });

  it('a port that changes its MAC reaches nobody, here or across hosts, and its drops show on its status', async () => {
    await sh(ports.a.ns, ['ip', 'link', 'set', 'eth0', 'address', NEW_MAC]);
    await sh(ports.a.ns, ['ip', 'neigh', 'flush', 'all']);
    try {
      expect(await noAnswer(ports.a.ns, IP.b)).toBe(true);
      expect(await noAnswer(ports.a.ns, IP.c)).toBe(true);
      expect(await seen(ports.b.ns, 'new_mac')).toBe(0);
      expect(await seen(ports.c.ns, 'new_mac')).toBe(0);
      await theLab().withAgentLogs(waitFor(async () => (await dropsOf(ports.a.id)) > 0, 10_000, 200, "A's drops on its status"));
    } finally {
      await sh(ports.a.ns, ['ip', 'link', 'set', 'eth0', 'address', MAC.a]);
    }
    expect(await ping(ports.a.ns, IP.b)).toBe(true);
  });

  it('a port that sends from an address it was not given reaches nobody, even knowing where the victims are', async () => {
    const before = await dropsOf(ports.a.id);
    await sh(ports.a.ns, ['ip', 'addr', 'add', `${SPOOFED}/24`, 'dev', 'eth0']);
    await sh(ports.a.ns, ['ip', 'neigh', 'replace', IP.b, 'lladdr', MAC.b, 'dev', 'eth0']);
    await sh(ports.a.ns, ['ip', 'neigh', 'replace', IP.c, 'lladdr', MAC.c, 'dev', 'eth0']);
    try {
      expect(await noAnswer(ports.a.ns, IP.b, ['-I', SPOOFED])).toBe(true);
      expect(await noAnswer(ports.a.ns, IP.c, ['-I', SPOOFED])).toBe(true);
      expect(await seen(ports.b.ns, 'spoofed_ip')).toBe(0);
      expect(await seen(ports.c.ns, 'spoofed_ip')).toBe(0);
      await waitFor(async () => (await dropsOf(ports.a.id)) >= before + 4, 10_000, 200, "A's new drops on its status");
    } finally {
      await sh(ports.a.ns, ['ip', 'addr', 'del', `${SPOOFED}/24`, 'dev', 'eth0']);
    }
  });

  it("a port that answers ARP for another port's address is not heard: the asker learns the real one", async () => {
    await sh(ports.a.ns, ['ip', 'addr', 'add', `${IP.b}/32`, 'dev', 'eth0']);
    try {
      await sh(ports.v.ns, ['ip', 'neigh', 'flush', 'all']);
      // Both A and B answer V's question; only B's answer reaches V.
      expect(await ping(ports.v.ns, IP.b)).toBe(true);
      expect(await seen(ports.v.ns, 'arp_for_b_from_a')).toBe(0);
      const neigh = JSON.parse((await netnsExec(ports.v.ns, ['ip', '-j', 'neigh', 'show', IP.b])).stdout) as { lladdr?: string }[];
      expect(neigh.map((n) => n.lladdr)).toEqual([MAC.b]);
      // Across hosts ARP never leaves a host (the VXLAN device answers it from the controller's
      // entries), so C's question about B is answered with B's MAC too.
      await sh(ports.c.ns, ['ip', 'neigh', 'flush', 'all']);
      expect(await ping(ports.c.ns, IP.b)).toBe(true);
      expect(await seen(ports.c.ns, 'arp_for_b_from_a')).toBe(0);
    } finally {
      await sh(ports.a.ns, ['ip', 'addr', 'del', `${IP.b}/32`, 'dev', 'eth0']);
    }
  });

  it('a listed address pair works, here and across hosts; the same address from another port does not', async () => {
    await sh(ports.v.ns, ['ip', 'addr', 'add', `${PAIR}/24`, 'dev', 'eth0']);
    expect(await ping(ports.b.ns, PAIR)).toBe(true);
    expect(await ping(ports.c.ns, PAIR)).toBe(true);
    await sh(ports.v.ns, ['ip', 'addr', 'del', `${PAIR}/24`, 'dev', 'eth0']);
    await sh(ports.a.ns, ['ip', 'addr', 'add', `${PAIR}/24`, 'dev', 'eth0']);
    try {
      await sh(ports.b.ns, ['ip', 'neigh', 'flush', 'all']);
      expect(await noAnswer(ports.b.ns, PAIR)).toBe(true);
    } finally {
      await sh(ports.a.ns, ['ip', 'addr', 'del', `${PAIR}/24`, 'dev', 'eth0']);
    }
  });

  it('a port without port security spoofs freely, here and across hosts, until an update turns it on', async () => {
    await sh(ports.o.ns, ['ip', 'addr', 'add', `${OPEN_SPOOFED}/24`, 'dev', 'eth0']);
    await sh(ports.o.ns, ['ip', 'neigh', 'replace', IP.b, 'lladdr', MAC.b, 'dev', 'eth0']);
    await sh(ports.o.ns, ['ip', 'neigh', 'replace', IP.c, 'lladdr', MAC.c, 'dev', 'eth0']);
    await netnsExec(ports.o.ns, ['ping', '-c2', '-i0.2', '-W1', '-I', OPEN_SPOOFED, IP.b]);
    await netnsExec(ports.o.ns, ['ping', '-c2', '-i0.2', '-W1', '-I', OPEN_SPOOFED, IP.c]);
    const b = await seen(ports.b.ns, 'open_spoofed');
    const c = await seen(ports.c.ns, 'open_spoofed');
    expect(b).toBeGreaterThan(0);
    expect(c).toBeGreaterThan(0);
    const { updatePort } = await theLab().withAgentLogs(theLab().api.ok<{ updatePort: { portSecurity: boolean } }>(UPDATE, { input: { id: ports.o.id, portSecurity: true } }));
    expect(updatePort.portSecurity).toBe(true);
    expect(await noAnswer(ports.o.ns, IP.b, ['-I', OPEN_SPOOFED])).toBe(true);
    expect(await noAnswer(ports.o.ns, IP.c, ['-I', OPEN_SPOOFED])).toBe(true);
    expect([await seen(ports.b.ns, 'open_spoofed'), await seen(ports.c.ns, 'open_spoofed')]).toEqual([b, c]);
    // Its own address still works.
    expect(await ping(ports.o.ns, IP.c)).toBe(true);
  });

  it('refuses bad pairs, and pairs without port security, with the field at fault and nothing written', async () => {
    const l = theLab();
    const create = (input: Record<string, unknown>) => l.refusal('Port', CREATE, { input: { name: l.name('bad'), networkId: net.networkId, hostId: l.hostId(0), ...input } });
    for (const [input, field] of [
      [{ allowedAddressPairs: [{ ipAddress: '10.94.0.1/24' }] }, 'input.allowedAddressPairs.0.ipAddress'],
      [{ allowedAddressPairs: [{ ipAddress: '10.94.0.9', macAddress: '01:00:5e:00:00:01' }] }, 'input.allowedAddressPairs.0.macAddress'],
      [{ allowedAddressPairs: [{ ipAddress: 'not an address' }] }, 'input.allowedAddressPairs.0.ipAddress'],
      [{ portSecurity: false, allowedAddressPairs: [{ ipAddress: '10.94.0.9' }] }, 'input.allowedAddressPairs'],
    ] as const) {
      expect(await create(input)).toMatchObject({ code: 'BAD_USER_INPUT', field, written: false });
    }
    expect(await l.refusal('Port', UPDATE, { input: { id: ports.v.id, portSecurity: false } })).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'input.portSecurity',
      written: false,
    });
  });
});
