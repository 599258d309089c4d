import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { CommandRunner, Linux } from '@netloom/linux';
import type { TcDevice, TcStats } from './host-context';
import { createHostContext, type ManagedHostContext } from './host-context-impl';
import { agentTestHost, type AgentTestHost } from './testkit-agent';

// Traffic control of a plugin on the real kernel, as root: a port's host end shaped and its
// ingress redirected to an ifb of the plugin, proved with traffic between two namespaces of the test.
const describeKernel = process.getuid?.() === 0 ? describe : describe.skip;

/** Whether the running kernel has a feature built in or as a module (unknown: assumed present). */
function kernelHas(option: string): boolean {
  if (!existsSync('/proc/config.gz')) return true;
  const config = gunzipSync(readFileSync('/proc/config.gz')).toString('utf8');
  return new RegExp(`^${option}=[ym]$`, 'm').test(config);
}
// Kernels built without them (as the one these tests were written on) get pfifo leaves, and no police test.
const LEAF = kernelHas('CONFIG_NET_SCH_FQ_CODEL') ? 'fq_codel' : 'pfifo';
const itPolice = kernelHas('CONFIG_NET_ACT_POLICE') ? it : it.skip;

describeKernel('HostContext.tc on the real kernel', () => {
  jest.setTimeout(60_000);
  let kit: AgentTestHost;
  let a: string;
  let b: string;
  let hostEnd: string;
  let ifb: string;

  const shaped = (rate: string, extra: Partial<TcDevice> = {}): TcDevice => ({
    dev: hostEnd,
    key: 'port-a',
    root: { kind: 'htb', defaultClass: 10, classes: [{ id: 10, rate, leaf: { kind: LEAF, limit: 10 } }] },
    ...extra,
  });
  const qdisc = (stats: TcStats, pred: (q: TcStats['qdiscs'][number]) => boolean) => stats.qdiscs.find(pred);
  /**
   * 1000 UDP datagrams of 1200 bytes from `from` to `to` (port 9) as fast as a socket takes them:
   * far above a 1 Mbit/s shaping, and not clocked by replies (ping slows down to what gets through).
   */
  const burst = async (from: string, to: string): Promise<void> => {
    const program = `const s = require('dgram').createSocket('udp4'); const b = Buffer.alloc(1200); let n = 0;
const go = () => (n++ < 1000 ? s.send(b, 9, ${JSON.stringify(to)}, go) : s.close()); go();`;
    const r = await kit.exec(from, [process.execPath, '-e', program]);
    expect(r.code).toBe(0);
  };

  beforeAll(async () => {
    kit = await agentTestHost({ pluginId: 'test.tc' });
    await kit.addNetworkBridge('n1');
    a = await kit.addTestNamespace('a', 'n1', '10.78.0.1/24', { portId: 'port-a' });
    b = await kit.addTestNamespace('b', 'n1', '10.78.0.2/24');
    hostEnd = kit.host.port('port-a')!.hostIfname!;
    ifb = kit.host.linkName('port-a', 'ifb');
    // Neighbours known before any shaping.
    expect((await kit.exec(b, ['ping', '-n', '-c', '1', '-W', '2', '10.78.0.1'])).code).toBe(0);
  });
  afterAll(async () => {
    await kit?.destroy();
  });

  it('shapes a port host end with an HTB class and a leaf queue: the traffic towards the port fills and overflows it', async () => {
    const result = await kit.host.tc([shaped('1mbit')]);
    expect(result).toEqual({ ok: true, failed: [] });
    const before = await kit.host.tcStats(hostEnd);
    const root = qdisc(before, (q) => q.parent === 'root')!;
    // The plugin's mark: 1 and its 3-hex tag.
    expect(root.kind).toBe('htb');
    expect(root.handle).toMatch(/^1[0-9a-f]{3}:$/);
    expect(before.classes).toEqual([expect.objectContaining({ kind: 'htb', id: 10, parent: 'root' })]);
    await burst(b, '10.78.0.1');
    const after = await kit.host.tcStats(hostEnd);
    const cls = after.classes.find((c) => c.id === 10)!;
    expect(cls.packets).toBeGreaterThan(before.classes[0].packets);
    expect(cls.overlimits).toBeGreaterThan(0);
    // The leaf holds 10 packets: what the class cannot send at 1 Mbit/s is dropped there.
    expect(qdisc(after, (q) => q.kind === LEAF)!.drops).toBeGreaterThan(0);
  });

  it('runs nothing, not even a read, when given the same set again', async () => {
    const [mutating, reads] = [kit.runner.mutatingCount, kit.runner.readCount];
    expect(await kit.host.tc([shaped('1mbit')])).toEqual({ ok: true, failed: [] });
    expect([kit.runner.mutatingCount, kit.runner.readCount]).toEqual([mutating, reads]);
  });

  it('rewrites a device whose description changed, in one tc batch', async () => {
    const mutating = kit.runner.mutatingCount;
    expect(await kit.host.tc([shaped('2mbit')])).toEqual({ ok: true, failed: [] });
    expect(kit.runner.mutatingCount).toBe(mutating + 1);
    // `tc -force -batch -`, through `nsenter --net` in the namespace playing the host's.
    const last = kit.runner.log.at(-1)!;
    expect(last).toMatchObject({ mutating: true, exitCode: 0 });
    expect([last.command, ...last.args].join(' ')).toMatch(/(^|-- )tc -force -batch -$/);
    const classes = (await kit.exec(kit.hostNetns, ['tc', 'class', 'show', 'dev', hostEnd])).stdout;
    expect(classes).toMatch(/rate 2Mbit/);
    expect(classes).not.toMatch(/rate 1Mbit/);
  });

  it('refuses a device it may not shape before anything runs', async () => {
    const [mutating, reads] = [kit.runner.mutatingCount, kit.runner.readCount];
    // The test's own namespace end (no port), a namespace not the plugin's, an ifb not the plugin's.
    await expect(kit.host.tc([shaped('3mbit'), { dev: `${kit.prefix}tb`, root: { kind: 'tbf', rate: '1mbit' } }])).rejects.toThrow(/not one of its links .* nor the host end of a port/);
    await expect(kit.host.tc([{ dev: 'eth0', netns: a, root: { kind: 'tbf', rate: '1mbit' } }])).rejects.toThrow(/is not one of its namespaces/);
    await expect(kit.host.tc([shaped('1mbit', { ingress: { redirectToIfb: 'ifb0' } })])).rejects.toThrow(/redirectToIfb "ifb0" is not one of its links/);
    await expect(kit.host.tcStats('lo')).rejects.toThrow(/not one of its links/);
    // And what would add a token: refused by libs/linux's checks.
    await expect(kit.host.tc([shaped('1 mbit')])).rejects.toThrow(/invalid tc rate/);
    expect([kit.runner.mutatingCount, kit.runner.readCount]).toEqual([mutating, reads]);
  });

  it('redirects what the port sends to an ifb of the plugin, shaped there', async () => {
    const made = await kit.host.apply((c) => c.host.ifbAdd(ifb, 'port-a').linkSet(ifb, { up: true }, 'port-a'));
    expect(made).toEqual({ ok: true, failed: [] });
    const result = await kit.host.tc([
      shaped('2mbit', { ingress: { redirectToIfb: ifb } }),
      { dev: ifb, root: { kind: 'tbf', rate: '1mbit', burst: '4k', latencyMs: 5 } },
    ]);
    expect(result).toEqual({ ok: true, failed: [] });
    const before = qdisc(await kit.host.tcStats(ifb), (q) => q.parent === 'root')!;
    expect(before.kind).toBe('tbf');
    await burst(a, '10.78.0.2');
    const after = qdisc(await kit.host.tcStats(ifb), (q) => q.parent === 'root')!;
    // Every datagram reached the ifb (sent on, or dropped above 1 Mbit/s); most were dropped.
    expect(after.packets + after.drops + after.qlen - before.packets - before.drops).toBeGreaterThanOrEqual(990);
    expect(after.drops - before.drops).toBeGreaterThan(500);
    const ingress = qdisc(await kit.host.tcStats(hostEnd), (q) => q.kind === 'ingress')!;
    expect(ingress.packets).toBeGreaterThanOrEqual(1000);
  });

  itPolice('polices what the port sends', async () => {
    expect(await kit.host.tc([shaped('2mbit', { ingress: { police: { rate: '1mbit', burst: '10k' } } })])).toEqual({ ok: true, failed: [] });
    await burst(a, '10.78.0.2');
    const filters = (await kit.exec(kit.hostNetns, ['tc', '-s', 'filter', 'show', 'dev', hostEnd, 'ingress'])).stdout;
    expect(Number(/dropped (\d+)/.exec(filters)?.[1] ?? 0)).toBeGreaterThan(0);
  });

  it('deletes the qdiscs of the devices no longer given, and only those', async () => {
    expect(await kit.host.tc([shaped('2mbit', { ingress: { redirectToIfb: ifb } })])).toEqual({ ok: true, failed: [] });
    expect(qdisc(await kit.host.tcStats(ifb), (q) => q.parent === 'root')!.kind).not.toBe('tbf');
    expect(qdisc(await kit.host.tcStats(hostEnd), (q) => q.parent === 'root')!.kind).toBe('htb');
    expect(await kit.host.tc([])).toEqual({ ok: true, failed: [] });
    const left = await kit.host.tcStats(hostEnd);
    expect(left.qdiscs.map((q) => [q.kind, q.handle])).toEqual([['noqueue', '0:']]);
    expect(left.classes).toEqual([]);
    // Traffic flows unshaped again, and an empty set again runs nothing.
    expect((await kit.exec(b, ['ping', '-n', '-c', '1', '-W', '2', '10.78.0.1'])).code).toBe(0);
    const [mutating, reads] = [kit.runner.mutatingCount, kit.runner.readCount];
    await kit.host.tc([]);
    expect([kit.runner.mutatingCount, kit.runner.readCount]).toEqual([mutating, reads]);
  });

  it('puts traffic into HTB classes by address and reports a device that is not there', async () => {
    const result = await kit.host.tc([
      {
        dev: hostEnd,
        root: {
          kind: 'htb',
          defaultClass: 20,
          classes: [
            { id: 10, rate: '1mbit', leaf: { kind: LEAF, limit: 10 }, match: [{ src: '10.78.0.2', ipProto: 'udp' }] },
            { id: 20, rate: '100mbit' },
          ],
        },
      },
      { dev: kit.host.linkName('nosuch'), key: 'gone', root: { kind: 'tbf', rate: '1mbit' } },
    ]);
    expect(result.ok).toBe(false);
    expect(result.failed).toEqual([{ key: 'gone', line: '', error: expect.stringMatching(/^no device/) }]);
    await burst(b, '10.78.0.1');
    const stats = await kit.host.tcStats(hostEnd);
    const byId = new Map(stats.classes.map((c) => [c.id, c]));
    // The datagrams from b went to class 10 (most dropped there, at 1 Mbit/s); class 20 saw next to nothing.
    expect(byId.get(10)!.packets + byId.get(10)!.drops).toBeGreaterThanOrEqual(990);
    expect(byId.get(10)!.drops).toBeGreaterThan(500);
    expect(byId.get(20)!.packets).toBeLessThan(20);
  });

  it('after a restart takes over what it shaped; with no trust it checks every call and puts back what was deleted by hand', async () => {
    expect(await kit.host.tc([shaped('1mbit')])).toEqual({ ok: true, failed: [] });
    // Another context of the same plugin on the same host, as an agent started again has.
    const restarted = (runner: CommandRunner): ManagedHostContext =>
      createHostContext({
        linux: new Linux(runner),
        pluginId: 'test.tc',
        agentPrefix: kit.prefix,
        hostId: kit.host.hostId,
        hostNetns: kit.hostNetns,
        networkBridges: new Map(),
        ports: new Map([['port-a', kit.host.port('port-a')!]]),
        nftTrustMs: 0,
      });
    const runner = new CommandRunner();
    const again = restarted(runner);
    try {
      // It knows no hash: the device is written once, then only read.
      expect(await again.tc([shaped('1mbit')])).toEqual({ ok: true, failed: [] });
      expect(runner.mutatingCount).toBe(1);
      const reads = runner.readCount;
      expect(await again.tc([shaped('1mbit')])).toEqual({ ok: true, failed: [] });
      expect([runner.mutatingCount, runner.readCount]).toEqual([1, reads + 1]);
      // Deleted by hand: put back on the next call.
      expect((await kit.exec(kit.hostNetns, ['tc', 'qdisc', 'del', 'dev', hostEnd, 'root'])).code).toBe(0);
      expect(qdisc(await again.tcStats(hostEnd), (q) => q.parent === 'root')!.kind).toBe('noqueue');
      expect(await again.tc([shaped('1mbit')])).toEqual({ ok: true, failed: [] });
      expect(runner.mutatingCount).toBe(2);
      expect(qdisc(await again.tcStats(hostEnd), (q) => q.parent === 'root')!.kind).toBe('htb');
    } finally {
      await again.close();
    }
    // Started again and given nothing: what carries its mark goes.
    const third = restarted(new CommandRunner());
    try {
      expect(await third.tc([])).toEqual({ ok: true, failed: [] });
      expect((await third.tcStats(hostEnd)).qdiscs.map((q) => q.kind)).toEqual(['noqueue']);
    } finally {
      await third.close();
    }
  });

  it('shapes a link in a namespace of its own, and forgets it once the namespace is deleted', async () => {
    const ns = kit.host.netnsName('shaper');
    const made = await kit.host.apply((c) => {
      c.netnsAdd(ns);
      c.in(ns).vethAdd('x0', { peer: 'x1' }).linkSet('x0', { up: true }).linkSet('x1', { up: true });
    });
    expect(made).toEqual({ ok: true, failed: [] });
    const device: TcDevice = { dev: 'x0', netns: ns, root: { kind: 'tbf', rate: '5mbit' }, ingress: { police: { rate: '1mbit' } } };
    // Police is the kernel's to refuse (built without act_police): then the device's line fails, keyed.
    const result = await kit.host.tc([{ ...device, ingress: undefined }]);
    expect(result).toEqual({ ok: true, failed: [] });
    expect(qdisc(await kit.host.tcStats('x0', ns), (q) => q.parent === 'root')).toMatchObject({ kind: 'tbf' });
    const policed = await kit.host.tc([device]);
    if (kernelHas('CONFIG_NET_ACT_POLICE')) expect(policed).toEqual({ ok: true, failed: [] });
    else expect(policed.failed).toEqual([expect.objectContaining({ key: 'x0', line: expect.stringMatching(/action police rate 1mbit burst 32k conform-exceed drop$/) as string })]);
    expect(await kit.host.apply((c) => c.netnsDel(ns))).toEqual({ ok: true, failed: [] });
    expect(await kit.host.tc([])).toEqual({ ok: true, failed: [] });
    const mutating = kit.runner.mutatingCount;
    expect(await kit.host.tc([])).toEqual({ ok: true, failed: [] });
    expect(kit.runner.mutatingCount).toBe(mutating);
  });
});
