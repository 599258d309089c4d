// Performance sanity print (not an assertion on time): 100 veth ports the way the agent will
// build them — one root batch, one batch in the host namespace, one batch per port namespace.
import { IpBatch } from './ip-batch';
import { describeKernel, NetnsFixture } from './kernel-fixture';
import { Linux } from './linux';

jest.setTimeout(120_000);

const PORTS = 100;

describeKernel('Linux (kernel) performance', () => {
  const fx = new NetnsFixture('b');
  const linux = new Linux();

  afterAll(async () => {
    await fx.cleanup();
    expect(await fx.leftovers()).toEqual([]);
  });

  it(`creates ${PORTS} veth ports and prints the time`, async () => {
    const H = fx.name('h');
    const ports = Array.from({ length: PORTS }, (_, i) => ({ ns: fx.name(`q${i}`), host: `q${i}`, addr: `10.255.1.${i + 1}/24` }));

    const t0 = performance.now();
    const root = new IpBatch().netnsAdd(H);
    for (const p of ports) root.netnsAdd(p.ns, p.host);
    expect(await linux.applyIpBatch(root)).toEqual({ ok: true, failed: [] });
    const t1 = performance.now();

    const host = new IpBatch(H).bridgeAdd('br0', { up: true });
    for (const p of ports) host.vethAdd(p.host, { master: 'br0', up: true, peer: 'eth0', peerNetns: p.ns }, p.host);
    expect(await linux.applyIpBatch(host)).toEqual({ ok: true, failed: [] });
    const t2 = performance.now();

    const inside = ports.map((p) => new IpBatch(p.ns).linkSet('eth0', { addrgenmode: 'none', up: true }, p.host).addrReplace(p.addr, 'eth0', p.host));
    const results = await linux.applyIpBatches(inside, 8);
    const t3 = performance.now();
    expect(results.every((r) => r.ok)).toBe(true);

    const bridged = (await linux.links(H)).filter((l) => l.master === 'br0' && l.up);
    expect(bridged).toHaveLength(PORTS);
    const t4 = performance.now();

    await fx.cleanup();
    const t5 = performance.now();

    const row = (label: string, a: number, b: number) => `  ${label.padEnd(44)}${(b - a).toFixed(0).padStart(6)} ms`;
    console.log(
      [
        `${PORTS} veth ports (netns + veth + bridge + addrgenmode none + address + up):`,
        row(`root batch, ${PORTS + 1} x netns add`, t0, t1),
        row(`host batch, bridge + ${PORTS} veth`, t1, t2),
        row(`${PORTS} namespace batches, concurrency 8`, t2, t3),
        row('total create', t0, t3),
        row('one ip -json -details link read in H', t3, t4),
        row('delete: one root batch of netns del', t4, t5),
      ].join('\n'),
    );
  });
});
