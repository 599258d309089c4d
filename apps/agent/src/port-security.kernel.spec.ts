import { execa } from 'execa';
import { CommandRunner, Linux } from '@netloom/linux';
import { DesiredResource, PortSpec, ResourceKind } from '@netloom/model';
import { Names } from '@netloom/planner';
import { planPortSecurity, portSecurityState } from '@netloom/planner';

// The port-security table on the real kernel: a "host" namespace with a bridge, three port
// namespaces on it, and packets that must or must not arrive. Receivers count what reaches
// them in a netdev ingress table of their own (ARP included). Every namespace carries this
// run's prefix and is deleted afterwards.
const describeKernel = process.getuid?.() === 0 ? describe : describe.skip;

const MAC = { a: '02:00:00:00:0a:01', b: '02:00:00:00:0b:01', c: '02:00:00:00:0c:01' };
const IP = { a: '10.77.0.2', b: '10.77.0.3', c: '10.77.0.4' };
const IP6 = { a: 'fd77::2', b: 'fd77::3', c: 'fd77::4' };
const PAIR = '10.77.0.100';

const port = (id: 'a' | 'b' | 'c', extra: Partial<PortSpec> = {}): DesiredResource<PortSpec> => ({
  kind: ResourceKind.Port,
  id: `port-${id}`,
  generation: 1,
  spec: {
    networkId: 'net',
    mac: MAC[id],
    mtu: 1500,
    addresses: [
      { cidr: `${IP[id]}/24`, family: 4 },
      { cidr: `${IP6[id]}/64`, family: 6 },
    ],
    routes: [],
    netns: null,
    ...extra,
  },
});

describeKernel('port security on the real kernel', () => {
  const prefix = `t${process.pid.toString(36)}ps`;
  const host = `${prefix}-host`;
  const ns = { a: `${prefix}-a`, b: `${prefix}-b`, c: `${prefix}-c` };
  const names = new Names('tps', 'host-under-test');
  const runner = new CommandRunner();
  const linux = new Linux(runner);
  const desired = [port('a', { allowedAddressPairs: [{ ip: PAIR, mac: MAC.a }] }), port('b'), port('c', { portSecurity: false })];
  // Listed back by nft exactly as written: networks, ranges, a CIDR covering a fixed IP, another MAC.
  const wide = [port('a', { allowedAddressPairs: [{ ip: '10.77.0.0/28', mac: MAC.a }, { ip: 'fd77:1::/64', mac: MAC.a }, { ip: '0.0.0.0/0', mac: '00:00:5e:00:01:07' }, { ip: '::/0', mac: '00:00:5e:00:01:07' }] }), port('b')];

  const sh = (args: string[]) => execa('ip', args, { reject: false });
  const inNs = (n: string, cmd: string[]) => execa('ip', ['netns', 'exec', n, ...cmd], { reject: false });
  const ping = (from: keyof typeof ns, to: string, extra: string[] = []) =>
    inNs(ns[from], ['ping', ...(to.includes(':') ? ['-6'] : []), '-c2', '-i0.2', '-W1', ...extra, to]).then((r) => r.exitCode === 0);
  const dropped = async (id: string): Promise<number> => {
    const counters = (await linux.nftCounters('bridge', names.portSecurityTable, host)) ?? [];
    return counters.find((c) => c.name === names.portCounter(id))?.packets ?? 0;
  };
  const listed = async () => portSecurityState(await linux.nftTable('bridge', names.portSecurityTable, host));
  /**
   * Apply what the planner says for the table as nft lists it now; what the plan says the table
   * then holds must be what nft lists (the agent trusts it instead of listing every pass).
   */
  const reconcile = async (resources: DesiredResource[]): Promise<string> => {
    const { script, after } = planPortSecurity(resources, await listed(), names);
    if (script) await linux.nftApply(script, host);
    expect(after).toEqual(await listed());
    return script;
  };
  /** What reached a receiver, counted at its interface's ingress (ARP and ND included). */
  const seen = async (at: keyof typeof ns, counter: string): Promise<number> =>
    ((await linux.nftCounters('netdev', 'rx', ns[at])) ?? []).find((c) => c.name === counter)?.packets ?? 0;

  beforeAll(async () => {
    await sh(['netns', 'add', host]);
    await sh(['-n', host, 'link', 'add', 'br0', 'type', 'bridge']);
    await sh(['-n', host, 'link', 'set', 'br0', 'up']);
    for (const id of ['a', 'b', 'c'] as const) {
      const veth = names.veth(`port-${id}`);
      await sh(['netns', 'add', ns[id]]);
      await sh(['-n', host, 'link', 'add', veth, 'master', 'br0', 'up', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns[id]]);
      await sh(['-n', ns[id], 'link', 'set', 'eth0', 'address', MAC[id], 'up']);
      await sh(['-n', ns[id], 'addr', 'add', `${IP[id]}/24`, 'dev', 'eth0']);
      await sh(['-n', ns[id], 'addr', 'add', `${IP6[id]}/64`, 'dev', 'eth0', 'nodad']);
      const rx = [
        'table netdev rx {',
        '  counter spoofed_ip {}', '  counter from_a {}', '  counter arp_reply_from_a {}', '  counter na_from_a {}', '  counter from_c_spoofed {}',
        '  counter spoofed_ip6 {}', '  counter dhcp_ask {}',
        '  chain in {',
        '    type filter hook ingress device eth0 priority 0; policy accept;',
        '    ip saddr 10.77.0.50 counter name spoofed_ip',
        '    ether saddr 02:00:00:00:0a:99 counter name from_a',
        // Answers from a about b's addresses (fd77::3 is the ND target, at offset 8 of ICMPv6).
        `    ether saddr ${MAC.a} arp operation reply arp saddr ip ${IP.b} counter name arp_reply_from_a`,
        `    ether saddr ${MAC.a} icmpv6 type nd-neighbor-advert @th,64,128 0xfd770000000000000000000000000003 counter name na_from_a`,
        '    ip saddr 10.77.0.60 counter name from_c_spoofed',
        '    ip6 saddr fd77::50 counter name spoofed_ip6',
        '    ip saddr 0.0.0.0 ip daddr 255.255.255.255 counter name dhcp_ask',
        '  }',
        '}',
      ].join('\n');
      await execa('ip', ['netns', 'exec', ns[id], 'nft', '-f', '-'], { input: rx });
    }
  });

  afterAll(async () => {
    for (const n of [host, ...Object.values(ns)]) await sh(['netns', 'del', n]);
  });

  it('lets ports talk from their own MAC and addresses (IPv4, ARP, IPv6, ND), and a repeated state writes nothing', async () => {
    expect(await reconcile(desired)).not.toBe('');
    expect(await ping('a', IP.b)).toBe(true);
    expect(await ping('b', IP6.a)).toBe(true);
    expect(await ping('c', IP.a)).toBe(true);
    // What nft lists back is what was planned: nothing to write.
    expect(await reconcile(desired)).toBe('');
    expect(await reconcile(wide)).not.toBe('');
    expect(await reconcile(wide)).toBe('');
    expect(await reconcile(desired)).not.toBe('');
    expect(await reconcile(desired)).toBe('');
    expect(await dropped('port-a')).toBe(0);
  });

  it('drops and counts frames from a changed MAC', async () => {
    await sh(['-n', ns.a, 'link', 'set', 'eth0', 'address', '02:00:00:00:0a:99']);
    await sh(['-n', ns.a, 'neigh', 'flush', 'dev', 'eth0']);
    try {
      expect(await ping('a', IP.b)).toBe(false);
      expect(await ping('a', IP.c)).toBe(false);
      expect(await seen('b', 'from_a')).toBe(0);
      expect(await seen('c', 'from_a')).toBe(0);
      expect(await dropped('port-a')).toBeGreaterThan(0);
    } finally {
      await sh(['-n', ns.a, 'link', 'set', 'eth0', 'address', MAC.a]);
    }
  });

  it('drops packets from an address the port does not own, even with the right MAC', async () => {
    const before = await dropped('port-a');
    await sh(['-n', ns.a, 'addr', 'add', '10.77.0.50/24', 'dev', 'eth0']);
    // No ARP needed: the spoofer knows where the victim is.
    await sh(['-n', ns.a, 'neigh', 'replace', IP.b, 'lladdr', MAC.b, 'dev', 'eth0']);
    try {
      expect(await ping('a', IP.b, ['-I', '10.77.0.50'])).toBe(false);
      expect(await seen('b', 'spoofed_ip')).toBe(0);
      expect(await dropped('port-a')).toBeGreaterThan(before);
      // The same port, from its own address: fine.
      expect(await ping('a', IP.b)).toBe(true);
    } finally {
      await sh(['-n', ns.a, 'addr', 'del', '10.77.0.50/24', 'dev', 'eth0']);
    }
  });

  it("delivers nothing a secured port sends to the host namespace's own addresses; an unsecured one still reaches them", async () => {
    // The host namespace with an address on the bridge: without the rule, it answers ARP and pings through it.
    await sh(['-n', host, 'addr', 'add', '10.77.0.254/24', 'dev', 'br0']);
    try {
      expect(await ping('a', '10.77.0.254')).toBe(false);
      // c has no port security (the previous test's state): the check can fail.
      expect(await reconcile([port('a'), port('b'), port('c', { portSecurity: false })])).not.toBe('');
      expect(await ping('c', '10.77.0.254')).toBe(true);
      // Ports still reach each other.
      expect(await ping('a', IP.b)).toBe(true);
    } finally {
      await sh(['-n', host, 'addr', 'del', '10.77.0.254/24', 'dev', 'br0']);
      await reconcile(desired);
    }
  });

  it("answers the host namespace's own ARP question (a bridged DNAT asks a member's MAC), and only that", async () => {
    // An address elsewhere in the host namespace is the question's sender (as a host's underlay address is).
    await sh(['-n', host, 'addr', 'add', '10.99.0.1/32', 'dev', 'lo']);
    await sh(['-n', host, 'route', 'add', `${IP.a}/32`, 'dev', 'br0']);
    try {
      await inNs(host, ['ping', '-c1', '-W1', IP.a]);
      const entry = (await inNs(host, ['ip', 'neigh', 'show', IP.a, 'dev', 'br0'])).stdout;
      expect(entry).toMatch(new RegExp(`lladdr ${MAC.a}`));
      // Still nothing else: a's own question about an address of the host's goes unanswered.
      await sh(['-n', host, 'addr', 'add', '10.77.0.254/24', 'dev', 'br0']);
      expect(await ping('a', '10.77.0.254')).toBe(false);
    } finally {
      await sh(['-n', host, 'addr', 'del', '10.77.0.254/24', 'dev', 'br0']);
      await sh(['-n', host, 'route', 'del', `${IP.a}/32`, 'dev', 'br0']);
      await sh(['-n', host, 'addr', 'del', '10.99.0.1/32', 'dev', 'lo']);
      await sh(['-n', host, 'neigh', 'flush', 'dev', 'br0']);
    }
  });

  it('lets a DHCP client ask from 0.0.0.0 (client port to server port only), with its own MAC', async () => {
    // A broadcast from 0.0.0.0:SPORT to 255.255.255.255:DPORT, as a DHCP client sends it before it has an address (a raw frame from eth0).
    const ask = (sport: number, dport: number) =>
      execa('ip', ['netns', 'exec', ns.a, '/usr/bin/python3', '-c', RAW_UDP, MAC.a, String(sport), String(dport)]);
    const before = await dropped('port-a');
    await ask(68, 67);
    expect(await seen('b', 'dhcp_ask')).toBe(1);
    expect(await dropped('port-a')).toBe(before);
    await ask(1068, 67);
    await ask(68, 53);
    expect(await seen('b', 'dhcp_ask')).toBe(1);
    expect(await dropped('port-a')).toBe(before + 2);
  });

  // (VLAN-tagged frames are dropped too, by the last rule; this kernel cannot make VLAN devices to show it.)
  it('drops IPv6 from an address the port does not own', async () => {
    await sh(['-n', ns.a, 'addr', 'add', 'fd77::50/64', 'dev', 'eth0', 'nodad']);
    await sh(['-n', ns.a, 'neigh', 'replace', IP6.b, 'lladdr', MAC.b, 'dev', 'eth0']);
    try {
      expect(await ping('a', IP6.b, ['-I', 'fd77::50'])).toBe(false);
      expect(await seen('b', 'spoofed_ip6')).toBe(0);
    } finally {
      await sh(['-n', ns.a, 'addr', 'del', 'fd77::50/64', 'dev', 'eth0']);
    }
  });

  it("drops ARP and ND answers for another port's address", async () => {
    await sh(['-n', ns.a, 'addr', 'add', `${IP.b}/32`, 'dev', 'eth0']);
    await sh(['-n', ns.a, 'addr', 'add', `${IP6.b}/128`, 'dev', 'eth0', 'nodad']);
    try {
      // Both a and b answer c's question; only b's answer arrives.
      await sh(['-n', ns.c, 'neigh', 'flush', 'dev', 'eth0']);
      expect(await ping('c', IP.b)).toBe(true);
      expect(await ping('c', IP6.b)).toBe(true);
      expect(await seen('c', 'arp_reply_from_a')).toBe(0);
      expect(await seen('c', 'na_from_a')).toBe(0);
      const neigh = JSON.parse((await execa('ip', ['-n', ns.c, '-json', 'neigh', 'show', 'dev', 'eth0'])).stdout) as { dst: string; lladdr?: string }[];
      expect(neigh.filter((n) => n.dst === IP.b || n.dst === IP6.b).map((n) => n.lladdr)).toEqual([MAC.b, MAC.b]);
    } finally {
      await sh(['-n', ns.a, 'addr', 'del', `${IP.b}/32`, 'dev', 'eth0']);
      await sh(['-n', ns.a, 'addr', 'del', `${IP6.b}/128`, 'dev', 'eth0']);
    }
  });

  it('lets a port use a listed address pair, and a port without port security anything', async () => {
    await sh(['-n', ns.a, 'addr', 'add', `${PAIR}/24`, 'dev', 'eth0']);
    expect(await ping('b', PAIR)).toBe(true);
    await sh(['-n', ns.c, 'addr', 'add', '10.77.0.60/24', 'dev', 'eth0']);
    await sh(['-n', ns.c, 'neigh', 'replace', IP.b, 'lladdr', MAC.b, 'dev', 'eth0']);
    await ping('c', IP.b, ['-I', '10.77.0.60']);
    expect(await seen('b', 'from_c_spoofed')).toBeGreaterThan(0);
  });

  it('follows changes port by port and removes what is no longer wanted', async () => {
    // The pair goes: its address stops working (two elements out, nothing else).
    expect((await reconcile([port('a'), port('b'), port('c', { portSecurity: false })])).trim().split('\n')).toEqual([
      expect.stringMatching(/^delete element bridge tps_portsec s_arp /),
      expect.stringMatching(/^delete element bridge tps_portsec s_ip4 /),
    ]);
    expect(await ping('b', PAIR)).toBe(false);
    // Security on for c: its spoof stops.
    const before = await seen('b', 'from_c_spoofed');
    await reconcile([port('a'), port('b'), port('c')]);
    await ping('c', IP.b, ['-I', '10.77.0.60']);
    expect(await seen('b', 'from_c_spoofed')).toBe(before);
    // One port left: the others' elements and counters go.
    await reconcile([port('b')]);
    const table = await linux.nftTable('bridge', names.portSecurityTable, host);
    expect(table?.sets.every((set) => set.elements.every((e) => e.parts[0] === names.veth('port-b')))).toBe(true);
    expect(table?.counters.map((c) => c.name)).toEqual([names.portCounter('port-b')]);
    // None: the table goes, and nothing is left to do.
    await reconcile([]);
    expect(await linux.nftTable('bridge', names.portSecurityTable, host)).toBeNull();
    expect(await reconcile([])).toBe('');
  });
});

/** python3 -c RAW_UDP MAC SPORT DPORT: one UDP broadcast frame from 0.0.0.0 out of eth0 (the kernel would put an address in an IP socket's). */
const RAW_UDP = `
import socket, struct, sys
mac, sport, dport = bytes.fromhex(sys.argv[1].replace(':', '')), int(sys.argv[2]), int(sys.argv[3])
payload = b'netloom'
udp = struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload
header = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes(4), b'\\xff' * 4)
total = sum(struct.unpack('!10H', header))
while total > 0xffff: total = (total & 0xffff) + (total >> 16)
header = header[:10] + struct.pack('!H', ~total & 0xffff) + header[12:]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('eth0', 0))
s.send(b'\\xff' * 6 + mac + b'\\x08\\x00' + header + udp)
`;
