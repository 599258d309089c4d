// Real kernel, as root, only inside namespaces this file creates (never the root namespace).
import { execa } from 'execa';
import { IpBatch } from './ip-batch';
import { describeKernel, NetnsFixture } from './kernel-fixture';
import { Linux } from './linux';
import { TcBatch } from './tc-batch';
import type { VlanProgram } from './bpf-vlan';

jest.setTimeout(60_000);

/**
 * Two "switches" joined by a wire: in each, a bridge whose ports are the wire and access ports
 * (veths whose far end sits in an endpoint namespace), each access port tagging and untagging
 * one VLAN with the programs, or letting only untagged frames through. Endpoints all share one
 * subnet, so only the tags keep them apart.
 */
describeKernel('VLAN programs on a trunk bridge (kernel)', () => {
  const fx = new NetnsFixture('vl');
  const A = fx.name('a');
  const B = fx.name('b');
  const linux = new Linux();
  const endpoints = [
    { ns: fx.name('a100'), sw: A, vlan: 100, ip: '10.77.0.1' },
    { ns: fx.name('a200'), sw: A, vlan: 200, ip: '10.77.0.2' },
    { ns: fx.name('b100'), sw: B, vlan: 100, ip: '10.77.0.3' },
    { ns: fx.name('bu'), sw: B, vlan: undefined, ip: '10.77.0.4' },
    { ns: fx.name('au'), sw: A, vlan: undefined, ip: '10.77.0.5' },
  ];
  const ping = async (ns: string, ip: string): Promise<boolean> =>
    (await execa('ip', ['netns', 'exec', ns, 'ping', '-n', '-c', '1', '-W', '1', ip], { reject: false })).exitCode === 0;
  /** A first ping may go before the links have carrier (its ARP request lost): a few tries. */
  const reaches = async (ns: string, ip: string): Promise<boolean> => {
    for (let i = 0; i < 4; i++) if (await ping(ns, ip)) return true;
    return false;
  };

  beforeAll(async () => {
    await fx.cleanup();
    const root = new IpBatch();
    for (const ns of [A, B, ...endpoints.map((e) => e.ns)]) root.netnsAdd(ns);
    expect(await linux.applyIpBatch(root)).toEqual({ ok: true, failed: [] });
    for (const sw of [A, B]) {
      expect(await linux.applyIpBatch(new IpBatch(sw).bridgeAdd('t', { up: true, mcastSnooping: false }))).toEqual({ ok: true, failed: [] });
    }
    const wire = new IpBatch(A).vethAdd('wire', { peer: 'wire', peerNetns: B, master: 't' }).linkSet('wire', { up: true });
    expect(await linux.applyIpBatch(wire)).toEqual({ ok: true, failed: [] });
    expect(await linux.applyIpBatch(new IpBatch(B).linkSet('wire', { master: 't', up: true }))).toEqual({ ok: true, failed: [] });
    for (const [i, e] of endpoints.entries()) {
      const port = `w${i}`;
      const links = new IpBatch(e.sw).vethAdd(port, { peer: 'eth0', peerNetns: e.ns, master: 't' }).linkSet(port, { up: true });
      expect(await linux.applyIpBatch(links)).toEqual({ ok: true, failed: [] });
      const inside = new IpBatch(e.ns).linkSet('eth0', { up: true }).addrReplace(`${e.ip}/24`, 'eth0');
      expect(await linux.applyIpBatch(inside)).toEqual({ ok: true, failed: [] });
      const programs: [VlanProgram, VlanProgram] =
        e.vlan === undefined ? [{ kind: 'untagged' }, { kind: 'untagged' }] : [{ kind: 'tag', vlanId: e.vlan }, { kind: 'untag', vlanId: e.vlan }];
      const tc = new TcBatch(e.sw).qdiscAdd({ dev: port, qdisc: { kind: 'clsact' } }).vlanFilter(port, 'ingress', 1, programs[0]).vlanFilter(port, 'egress', 1, programs[1]);
      expect(await linux.applyTcBatch(tc)).toEqual({ ok: true, failed: [] });
    }
  });
  afterAll(async () => {
    await fx.cleanup();
    expect(await fx.leftovers()).toEqual([]);
  });

  it('carries a VLAN tagged on the wire between its access ports, and nothing across VLANs or to an untagged port', async () => {
    const dump = execa('ip', ['netns', 'exec', B, 'tcpdump', '-i', 'wire', '-e', '-nn', '-l', '-c', '1', 'vlan 100 and icmp'], { reject: false });
    let listening = false;
    dump.stderr?.on('data', (d: Buffer) => (listening ||= /listening on/.test(d.toString())));
    for (let i = 0; i < 250 && !listening; i++) await new Promise((r) => setTimeout(r, 20));
    expect(listening).toBe(true);

    expect(await reaches(endpoints[0].ns, '10.77.0.3')).toBe(true);
    const seen = await dump;
    expect(seen.stdout).toMatch(/ethertype 802\.1Q \(0x8100\).*vlan 100, p 0, ethertype IPv4/);

    expect(await ping(endpoints[1].ns, '10.77.0.3')).toBe(false); // VLAN 200 → VLAN 100
    expect(await ping(endpoints[1].ns, '10.77.0.1')).toBe(false); // across VLANs on one bridge
    expect(await ping(endpoints[3].ns, '10.77.0.3')).toBe(false); // untagged → VLAN 100
    expect(await ping(endpoints[3].ns, '10.77.0.1')).toBe(false);
    // The wire carries untagged frames too: what kept them apart above is the tags.
    expect(await reaches(endpoints[3].ns, '10.77.0.5')).toBe(true);
  });

  it('replaces a filter in place: the same batch again leaves one filter per hook', async () => {
    const again = new TcBatch(A).vlanFilter('w0', 'ingress', 1, { kind: 'tag', vlanId: 100 }).vlanFilter('w0', 'egress', 1, { kind: 'untag', vlanId: 100 });
    expect(await linux.applyTcBatch(again)).toEqual({ ok: true, failed: [] });
    for (const hook of ['ingress', 'egress']) {
      const { stdout } = await execa('ip', ['netns', 'exec', A, 'tc', 'filter', 'show', 'dev', 'w0', hook]);
      expect(stdout.match(/netloom-vlan-\w+-100\.o/g)).toHaveLength(1);
      expect(stdout).toMatch(/direct-action/);
    }
    expect(await reaches(endpoints[0].ns, '10.77.0.3')).toBe(true);
  });
});
