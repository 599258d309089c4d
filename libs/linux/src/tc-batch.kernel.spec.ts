// Real kernel, as root, only inside a namespace this file creates (never the root namespace).
import { IpBatch } from './ip-batch';
import { describeKernel, NetnsFixture } from './kernel-fixture';
import { Linux } from './linux';
import { TcBatch } from './tc-batch';

jest.setTimeout(30_000);

describeKernel('Linux tc (kernel)', () => {
  const fx = new NetnsFixture('tc');
  const NS = fx.name('a');
  const linux = new Linux();

  beforeAll(async () => {
    await fx.cleanup();
    expect(await linux.applyIpBatch(new IpBatch().netnsAdd(NS))).toEqual({ ok: true, failed: [] });
    // No IPv6 link-local addresses: the kernel then sends nothing of its own (MLD, DAD) that the counters below would see.
    const links = new IpBatch(NS)
      .vethAdd('v0', { peer: 'v1' })
      .linkSet('v0', { addrgenmode: 'none' })
      .linkSet('v1', { addrgenmode: 'none' })
      .linkSet('v0', { up: true })
      .linkSet('v1', { up: true })
      .ifbAdd('ifb0', { up: true });
    expect(await linux.applyIpBatch(links)).toEqual({ ok: true, failed: [] });
  });
  afterAll(async () => {
    await fx.cleanup();
    expect(await fx.leftovers()).toEqual([]);
  });

  it('runs a batch as one logged mutating tc process, maps a failed line to its key, and reads qdiscs and classes back', async () => {
    const batch = new TcBatch(NS)
      .qdiscAdd({ dev: 'v0', parent: 'root', handle: '1:', qdisc: { kind: 'htb', defaultClass: 10 } }, 'shape')
      .classAdd({ dev: 'v0', parent: '1:', classid: '1:a', rate: '1mbit', ceil: '2mbit' }, 'shape')
      .qdiscAdd({ dev: 'v0', parent: '1:a', handle: 'a:', qdisc: { kind: 'pfifo', limit: 10 } }, 'shape')
      .qdiscAdd({ dev: 'nosuch', parent: 'root', handle: '1:', qdisc: { kind: 'pfifo' } }, 'missing')
      .qdiscAdd({ dev: 'v1', qdisc: { kind: 'ingress' } }, 'redirect')
      .filterAdd({ dev: 'v1', parent: 'ingress', protocol: 'all', prio: 1, match: { kind: 'u32' }, actions: [{ redirect: 'ifb0' }] }, 'redirect')
      .qdiscAdd({ dev: 'ifb0', parent: 'root', handle: '2:', qdisc: { kind: 'tbf', rate: '1mbit', burst: '10k' } }, 'redirect');
    const mutating = linux.runner.mutatingCount;
    const result = await linux.applyTcBatch(batch);
    expect(result.ok).toBe(false);
    expect(result.failed).toEqual([{ line: 4, text: 'qdisc add dev nosuch root handle 1: pfifo', key: 'missing', error: expect.stringMatching(/nosuch/) as string }]);
    expect(linux.runner.mutatingCount).toBe(mutating + 1);
    expect(linux.runner.log.at(-1)).toMatchObject({ command: 'nsenter', args: [`--net=/run/netns/${NS}`, '--', 'tc', '-force', '-batch', '-'], mutating: true });

    const { qdiscs, classes } = await linux.tcShow(NS, 'v0');
    expect(qdiscs.map((q) => [q.kind, q.handle, q.parent])).toEqual([
      ['htb', '1:', 'root'],
      ['pfifo', 'a:', '1:a'],
    ]);
    expect(classes).toEqual([{ kind: 'htb', classid: '1:a', parent: 'root', bytes: 0, packets: 0, drops: 0, overlimits: 0, backlog: 0 }]);
    const all = await linux.tcQdiscs(NS);
    expect(all.filter((q) => q.dev === 'v1').map((q) => q.kind)).toContain('ingress');
    expect(all.find((q) => q.dev === 'ifb0' && q.parent === 'root')).toMatchObject({ kind: 'tbf', handle: '2:' });
    const filters = (await linux.runner.run('ip', ['netns', 'exec', NS, 'tc', 'filter', 'show', 'dev', 'v1', 'parent', 'ffff:'], { mutating: false })).stdout;
    expect(filters).toMatch(/Egress Redirect to device ifb0/);

    // Deleting the root takes its classes and leaves with it.
    expect(await linux.applyTcBatch(new TcBatch(NS).qdiscDel('v0', 'root').qdiscDel('v1', 'ingress'))).toEqual({ ok: true, failed: [] });
    expect((await linux.tcShow(NS, 'v0')).classes).toEqual([]);
    expect((await linux.tcQdiscs(NS, 'v1')).map((q) => q.kind)).toEqual(['noqueue']);
  });

  it('runs nothing for an empty batch', async () => {
    const before = linux.runner.log.length;
    expect(await linux.applyTcBatch(new TcBatch(NS))).toEqual({ ok: true, failed: [] });
    expect(linux.runner.log.length).toBe(before);
  });
});
