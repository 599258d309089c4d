// Real kernel, as root, only inside namespaces this file creates: the netlink helper must leave
// exactly what `ip -batch` leaves, and fail on the same lines.
import { LinuxBatchAbortedError } from './batch-result';
import { IpBatch } from './ip-batch';
import { describeKernel, NetnsFixture, waitFor } from './kernel-fixture';
import { Linux } from './linux';
import { NetlinkHelper } from './netlink';
import { CommandRunner, LinuxCommandError } from './runner';

jest.setTimeout(30_000);

describeKernel('NetlinkHelper (kernel)', () => {
  const fx = new NetnsFixture('n');
  const IP = fx.name('i');
  const NL = fx.name('n');
  const helper = new NetlinkHelper(2);
  const plain = new Linux();
  const linux = new Linux(new CommandRunner(), { netlink: helper });

  /** Links to configure, made by `ip` (a veth pair and a bridge: no op the helper sends). */
  const made = (ns: string) => new IpBatch(ns).bridgeAdd('br0', { up: true }).vethAdd('v0', { peer: 'v1' });
  /** Every kind of line the helper sends, as a port's namespace and a router's use them. */
  const configure = (ns: string) =>
    new IpBatch(ns)
      .linkSet('lo', { up: true })
      .linkSet('v1', { address: '02:aa:00:00:00:02', up: true })
      .linkSet('v0', { addrgenmode: 'none', mtu: 1400, address: '02:aa:00:00:00:01', alias: 'port-a', master: 'br0', up: true }, 'port:a')
      .addrReplace('10.1.0.2/24', 'v0', 'port:a')
      .addrReplace('fd00:1::2/64', 'v0', 'port:a')
      .routeReplace({ dst: 'default', via: '10.1.0.1', dev: 'v0' }, 'route:a')
      .routeReplace({ dst: '10.9.0.0/16', dev: 'v0' }, 'route:b')
      .routeReplace({ dst: 'default', via: 'fd00:1::1', dev: 'v0', family: 6 }, 'route:c')
      .neighReplace('10.1.0.7', '02:aa:00:00:00:07', 'v0', 'neigh:a')
      .neighReplace('fd00:1::7', '02:aa:00:00:00:07', 'v0', 'neigh:b');
  /** Half of it undone, then undone again (fails), and a device that is not there. */
  const undo = (ns: string) =>
    new IpBatch(ns)
      .routeDel({ dst: '10.9.0.0/16', dev: 'v0' }, 'route:b')
      .routeDel({ dst: '10.9.0.0/16', dev: 'v0' }, 'route:b')
      .addrDel('fd00:1::2/64', 'v0', 'port:a')
      .neighDel('10.1.0.7', 'v0', 'neigh:a')
      .linkSet('v0', { nomaster: true }, 'port:a')
      .linkSet('nosuch', { up: true }, 'port:x')
      .addrReplace('10.1.0.3/24', 'nosuch', 'port:x');

  /** What the kernel holds in a namespace, as the agent reads it (ifindexes and the bridge's own MAC left out). */
  const state = async (ns: string) => ({
    links: (await plain.links(ns)).filter((l) => l.ifname !== 'br0').map(({ ifindex: _i, linkIndex: _l, ...l }) => l),
    addresses: (await plain.addresses(ns)).filter((a) => a.ifname !== 'br0'),
    routes4: await plain.routes(ns, 4),
    routes6: (await plain.routes(ns, 6)).filter((r) => r.protocol !== 'kernel'),
    neighbours: (await plain.neighbours(ns)).filter((n) => n.state.includes('PERMANENT')),
  });

  beforeAll(async () => {
    await fx.cleanup();
    await plain.applyIpBatch(new IpBatch().netnsAdd(IP).netnsAdd(NL));
    await plain.applyIpBatches([made(IP), made(NL)]);
  });

  afterAll(async () => {
    await fx.cleanup();
    expect(await fx.leftovers()).toEqual([]);
  });

  it('starts where python3-pyroute2 is installed', async () => {
    expect(await helper.open()).toEqual({ version: expect.any(String), nft: true });
    expect(helper.nftReady).toBe(true);
  });

  it('runs nft scripts and lists tables through libnftables as the nft program does, no process, failing with its errors', async () => {
    const table = fx.name('t').replace(/-/g, '_');
    const script = (port: number) => `table inet ${table} {\ncounter hits {}\nchain input {\ntype filter hook input priority 0; policy accept;\ntcp dport ${port} counter name "hits" accept comment "x"\n}\n}\n`;
    linux.runner.resetLog();
    await linux.nftApply(script(80), NL);
    await plain.nftApply(script(80), IP);
    // The same table either way, read either way.
    expect(await linux.nftTable('inet', table, NL)).toEqual(await plain.nftTable('inet', table, IP));
    expect(await linux.nftCounters('inet', table, NL)).toEqual([{ name: 'hits', packets: 0, bytes: 0 }]);
    expect(await linux.nftTable('inet', 'nosuch', NL)).toBeNull();
    expect(JSON.stringify(await linux.nftRuleset(NL))).toContain(`"table":"${table}"`);
    // Logged as the program (a mutating nft write), run by no process.
    expect(linux.runner.log.map((l) => `${l.command} ${l.args.join(' ')} ${l.mutating} ${l.inProcess === true}`)[0]).toBe(`nft -n ${NL} -f - true true`);
    expect(linux.runner.mutatingCount).toBe(1);
    // A bad script: nothing of it applies, and the error is nft's.
    const bad = await linux.nftApply(`${script(81)}add rule inet ${table} nosuch tcp dport 22 drop\n`, NL).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(LinuxCommandError);
    expect((bad as LinuxCommandError).stderr).toMatch(/Error: (Could not process rule: )?No such file or directory/);
    expect(JSON.stringify(await linux.nftTable('inet', table, NL))).not.toContain('81');
    // Our own writes are named by the helper's pid (as nft monitor names the committer).
    const pids: number[] = [];
    await linux.nftApply(script(82), NL, (pid) => pids.push(pid));
    expect(helper.pids).toContain(pids[0]);
    await linux.nftApply(`delete table inet ${table}\n`, NL);
    await plain.nftApply(`delete table inet ${table}\n`, IP);
  });

  it('keeps one context in its own namespace: what another process or the other helper changed is seen, listings and errors do not leak into the next script', async () => {
    // The helpers' own namespace is this process's: a table of ours with no base chain (it sees no packet), removed at the end.
    const table = fx.name('home').replace(/-/g, '_');
    const other = new Linux(new CommandRunner(), { netlink: helper });
    try {
      await linux.nftApply(`table inet ${table} {\nchain c {\n}\n}\n`);
      // Changed behind the helpers' backs (the nft program), then used by both helper processes in turn.
      await plain.nftApply(`add chain inet ${table} d\nadd rule inet ${table} c tcp dport 7 accept\n`);
      await Promise.all([linux.nftApply(`add rule inet ${table} d tcp dport 8 accept\n`), other.nftApply(`add rule inet ${table} d tcp dport 9 accept\n`)]);
      for (let i = 0; i < 2; i++) await linux.nftApply(`flush chain inet ${table} c\nadd rule inet ${table} c tcp dport ${10 + i} accept\n`);
      expect(await linux.nftTable('inet', table)).toEqual(await plain.nftTable('inet', table));
      const listed = async (): Promise<string[]> =>
        (await plain.runner.run('nft', ['list', 'table', 'inet', table], { mutating: false })).stdout.split('\n').filter((l) => l.includes('dport')).map((l) => l.trim()).sort();
      expect(await listed()).toEqual(['tcp dport 11 accept', 'tcp dport 8 accept', 'tcp dport 9 accept']);
      // A failed script leaves nothing, and its error is not the next one's; a JSON listing, then a plain write.
      await expect(linux.nftApply(`add rule inet ${table} nosuch tcp dport 22 drop\n`)).rejects.toBeInstanceOf(LinuxCommandError);
      expect(JSON.stringify(await linux.nftRuleset())).toContain(`"table":"${table}"`);
      await linux.nftApply(`add rule inet ${table} c tcp dport 12 accept\n`);
      expect(await listed()).toEqual(['tcp dport 11 accept', 'tcp dport 12 accept', 'tcp dport 8 accept', 'tcp dport 9 accept']);
    } finally {
      await plain.nftApply(`table inet ${table} {}\ndelete table inet ${table}\n`);
    }
    // Gone for the helpers too.
    expect(await linux.nftTable('inet', table)).toBeNull();
  });

  it('resolves interface names in the namespace of each script, its sockets closed behind the answers', async () => {
    const table = fx.name('if');
    // dx0 has another index in each namespace.
    await plain.runner.run('ip', ['-n', NL, 'link', 'add', 'dx1', 'type', 'veth', 'peer', 'name', 'dy1'], { mutating: true });
    for (const ns of [NL, IP]) await plain.runner.run('ip', ['-n', ns, 'link', 'add', 'dx0', 'type', 'veth', 'peer', 'name', 'dy0'], { mutating: true });
    try {
      // Writes that delete what they replace (the close of their context waits for the kernel, so it
      // comes after the answer) between scripts that name dx0, alternating namespaces.
      for (let i = 0; i < 3; i++) {
        for (const ns of [NL, IP]) {
          await linux.nftApply(`table inet ${table} {\nchain c {\n}\n}\nflush chain inet ${table} c\nadd rule inet ${table} c tcp dport ${i} accept\n`, ns);
          await linux.nftApply(`add rule inet ${table} c iif "dx0" counter accept\nadd rule inet ${table} c oif "dx0" counter accept\n`, ns);
        }
      }
      for (const ns of [NL, IP]) {
        const listed = await linux.nftRuleset(ns);
        // Each namespace's dx0, by its own index: listed by name (a foreign index would list as a number or another link).
        expect(JSON.stringify(listed).match(/"key":"[io]if"\}\},"right":"dx0"/g)).toHaveLength(2);
        expect(listed).toEqual(await plain.nftRuleset(ns));
        await linux.nftApply(`delete table inet ${table}\n`, ns);
      }
    } finally {
      for (const [ns, links] of [[NL, ['dx0', 'dx1']], [IP, ['dx0']]] as const) for (const l of links) await plain.runner.run('ip', ['-n', ns, 'link', 'del', l], { mutating: true });
    }
  });

  it('leaves what ip -batch leaves, and fails on the same lines', async () => {
    linux.runner.resetLog();
    expect(await plain.applyIpBatch(configure(IP))).toEqual({ ok: true, failed: [] });
    expect(await linux.applyIpBatch(configure(NL))).toEqual({ ok: true, failed: [] });
    expect(linux.runner.log).toEqual([expect.objectContaining({ command: 'netlink', args: ['-n', NL, '-batch'], mutating: true, exitCode: 0 })]);
    const configured = await state(IP);
    expect(configured.links.find((l) => l.ifname === 'v0')).toMatchObject({ mtu: 1400, address: '02:aa:00:00:00:01', alias: 'port-a', master: 'br0', up: true, addrGenMode: 'none' });
    expect(configured.routes4.map((r) => r.dst)).toEqual(['default', '10.1.0.0/24', '10.9.0.0/16']);
    expect(await state(NL)).toEqual(configured);

    // Again: replace is idempotent either way.
    expect(await linux.applyIpBatch(configure(NL))).toEqual({ ok: true, failed: [] });
    expect(await state(NL)).toEqual(configured);

    const viaIp = await plain.applyIpBatch(undo(IP));
    const viaNetlink = await linux.applyIpBatch(undo(NL));
    const lines = (r: typeof viaIp) => r.failed.map(({ line, key }) => ({ line, key }));
    expect(lines(viaNetlink)).toEqual([
      { line: 2, key: 'route:b' },
      { line: 6, key: 'port:x' },
      { line: 7, key: 'port:x' },
    ]);
    expect(lines(viaIp)).toEqual(lines(viaNetlink));
    // A missing device reads as ip words it.
    expect(viaNetlink.failed[1].error).toBe('Cannot find device "nosuch"');
    expect(viaIp.failed[1].error).toBe('Cannot find device "nosuch"');
    expect(viaNetlink.failed[0].error).toMatch(/^RTNETLINK answers: /);
    expect(await state(NL)).toEqual(await state(IP));
  });

  it("sends policy rules, routes in another table (and its flush) and a bridge port's hairpin mode as ip does, failing on the same lines with the same words", async () => {
    // A table id as large as the agent derives them.
    const rule = { iif: 'br0', table: 1313603585, pref: 100 };
    const route = { dst: '10.8.0.0/16', dev: 'v0', table: 1313603585 };
    const routing = (ns: string) =>
      new IpBatch(ns)
        .linkSet('v0', { master: 'br0' }, 'port:a')
        .routeReplace({ ...route, dst: '10.7.0.0/16' }, 'route:t')
        .routeFlush(route.table, 'route:t')
        .routeReplace(route, 'route:t')
        .ruleAdd(rule, 'rule:a')
        .ruleAdd(rule, 'rule:a')
        .hairpinSet('v0', true, 'port:a')
        .hairpinSet('br0', true, 'port:y');
    const unrouting = (ns: string) =>
      new IpBatch(ns)
        .ruleDel(rule, 'rule:a')
        .ruleDel(rule, 'rule:a')
        .routeDel(route, 'route:t')
        .routeDel(route, 'route:t')
        .hairpinSet('v0', false, 'port:a')
        // An empty table's flush is no error.
        .routeFlush(route.table, 'route:t');
    const view = async (ns: string) => ({ rules: await plain.rules(ns), table: await plain.routes(ns, 4, rule.table), hairpin: (await plain.link('v0', ns))?.hairpin });
    const failures = (r: { failed: { line: number; key?: string; error: string }[] }) => r.failed.map(({ line, key, error }) => ({ line, key, error }));

    linux.runner.resetLog();
    const [viaIp, viaNetlink] = [await plain.applyIpBatch(routing(IP)), await linux.applyIpBatch(routing(NL))];
    // By the helper, as one batch.
    expect(linux.runner.log.map((l) => [l.command, l.args.join(' ')])).toEqual([['netlink', `-n ${NL} -batch`]]);
    expect(failures(viaNetlink)).toEqual([
      { line: 6, key: 'rule:a', error: 'RTNETLINK answers: File exists' },
      { line: 8, key: 'port:y', error: 'RTNETLINK answers: Operation not supported' },
    ]);
    expect(failures(viaIp)).toEqual(failures(viaNetlink));
    const routed = await view(IP);
    expect(routed.hairpin).toBe(true);
    expect(routed.table.map((r) => [r.dst, r.dev])).toEqual([['10.8.0.0/16', 'v0']]);
    expect(routed.rules.filter((r) => r.iif === 'br0').map((r) => [r.priority, r.table])).toEqual([[100, '1313603585']]);
    expect(await view(NL)).toEqual(routed);

    const [undoneIp, undoneNetlink] = [await plain.applyIpBatch(unrouting(IP)), await linux.applyIpBatch(unrouting(NL))];
    expect(failures(undoneNetlink).map((f) => f.line)).toEqual([2, 4]);
    expect(failures(undoneIp)).toEqual(failures(undoneNetlink));
    const unrouted = await view(IP);
    expect(unrouted).toMatchObject({ hairpin: false, table: [] });
    expect(unrouted.rules.some((r) => r.iif === 'br0')).toBe(false);
    expect(await view(NL)).toEqual(unrouted);
  });

  it('reads a link as ip -json -details does', async () => {
    await plain.applyIpBatch(new IpBatch(NL).linkSet('v1', { mtu: 1400 }).linkSet('v0', { master: 'br0' }));
    await plain.runner.run('ip', ['-n', NL, 'link', 'add', 'vx0', 'type', 'vxlan', 'id', '42', 'local', '10.1.0.2', 'dstport', '4789', 'nolearning', 'proxy'], { mutating: true });
    linux.runner.resetLog();
    for (const name of ['lo', 'br0', 'v0', 'v1', 'vx0', 'nosuch']) expect(await linux.link(name, NL)).toEqual(await plain.link(name, NL));
    // Each read by the helper (none left to ip).
    expect(linux.runner.log.map((l) => `${l.command} ${l.exitCode}`)).toEqual(Array(6).fill('netlink 0'));
    expect(await linux.link('v0', NL)).toMatchObject({ master: 'br0', addrGenMode: 'none', alias: 'port-a' });
    expect(await linux.link('vx0', NL)).toMatchObject({ vxlan: { id: 42, local: '10.1.0.2', port: 4789, learning: false, proxy: true } });
    // A bridge port's hairpin mode, off then on.
    expect(await linux.link('v0', NL)).toMatchObject({ hairpin: false });
    await plain.applyIpBatch(new IpBatch(NL).hairpinSet('v0', true));
    expect(await linux.link('v0', NL)).toEqual(await plain.link('v0', NL));
    expect(await linux.link('v0', NL)).toMatchObject({ hairpin: true });
    // A veth whose peer is in another namespace: the peer's namespace id and index.
    const [host] = (await plain.links()).filter((l) => l.linkNetnsId !== undefined && l.kind === 'veth').slice(0, 1);
    if (host) expect(await linux.link(host.ifname)).toEqual(await plain.link(host.ifname));
    expect(await linux.link('lo')).toEqual(await plain.link('lo'));
    expect(linux.runner.log.at(-1)).toMatchObject({ command: 'netlink', mutating: false, exitCode: 0 });
  });

  it('announces addresses with gratuitous ARP in a namespace: a neighbour with another MAC cached takes the new one; a missing device fails', async () => {
    const [A, B] = [fx.name('a'), fx.name('b')];
    await plain.applyIpBatch(new IpBatch().netnsAdd(A).netnsAdd(B));
    await plain.applyIpBatch(new IpBatch(A).vethAdd('a0', { peer: 'b0', peerNetns: B }).linkSet('a0', { address: '02:bb:00:00:00:01', up: true }).addrReplace('10.2.0.10/24', 'a0'));
    await plain.applyIpBatch(new IpBatch(B).linkSet('b0', { up: true }).addrReplace('10.2.0.1/24', 'b0'));
    await plain.runner.run('ip', ['-n', B, 'neigh', 'replace', '10.2.0.10', 'lladdr', '02:bb:00:00:00:99', 'dev', 'b0', 'nud', 'stale'], { mutating: true });
    const cached = async () => (await plain.neighbours(B)).find((n) => n.dst === '10.2.0.10')?.lladdr;
    expect(await cached()).toBe('02:bb:00:00:00:99');
    linux.runner.resetLog();
    await linux.announce(A, 'a0', ['10.2.0.10', 'fd00:2::10']);
    await waitFor(async () => (await cached()) === '02:bb:00:00:00:01', 2_000, 'the neighbour to take the announced MAC');
    // By the helper: no process.
    expect(linux.runner.log.map((l) => [l.command, l.args.join(' '), l.exitCode])).toEqual([['netlink', `-n ${A} announce a0 10.2.0.10`, 0]]);
    await expect(linux.announce(A, 'nosuch', ['10.2.0.10'])).rejects.toThrow(LinuxCommandError);
    await expect(linux.announce(A, 'nosuch', ['10.2.0.10'])).rejects.toThrow(/nosuch: No such device/);
  });

  it("sets and reads a sysctl in a namespace, that namespace's own, no process; a key that is not there fails or reads null", async () => {
    const ns = fx.name('s');
    await plain.applyIpBatch(new IpBatch().netnsAdd(ns));
    const key = 'net.ipv4.conf.all.forwarding';
    const root = await plain.readSysctl(key);
    linux.runner.resetLog();
    await linux.sysctl(key, '1', ns);
    expect(await plain.readSysctl(key, ns)).toBe('1');
    expect(await linux.readSysctl(key, ns)).toBe('1');
    await linux.sysctl(key, '0', ns);
    expect(await plain.readSysctl(key, ns)).toBe('0');
    expect(await plain.readSysctl(key)).toBe(root);
    expect(await linux.readSysctl('net.ipv4.conf.nosuch.forwarding', ns)).toBeNull();
    await expect(linux.sysctl('net.ipv4.conf.nosuch.forwarding', '1', ns)).rejects.toThrow(/nosuch\/forwarding: No such file or directory/);
    // By the helper: no process.
    expect(new Set(linux.runner.log.map((l) => l.command))).toEqual(new Set(['netlink']));
  });

  it('aborts a batch whose namespace is missing, as ip does', async () => {
    const error = await linux.applyIpBatch(new IpBatch(fx.name('none')).linkSet('lo', { up: true })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LinuxBatchAbortedError);
    expect(error).toMatchObject({ command: 'netlink', failed: [] });
    expect((error as LinuxBatchAbortedError).stderr).toMatch(/cannot open .*No such file or directory/);
  });

  it('spreads batches over its processes', async () => {
    linux.runner.resetLog();
    const served = helper.served;
    const results = await linux.applyIpBatches([IP, NL].flatMap((ns) => [new IpBatch(ns).linkSet('lo', { up: true }), new IpBatch(ns).linkSet('v1', { up: true })]));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(linux.runner.log.map((l) => l.command)).toEqual(['netlink', 'netlink', 'netlink', 'netlink']);
    // Sent at once (applyIpBatches runs 8 at a time): two to each.
    expect(helper.served.map((n, i) => n - served[i])).toEqual([2, 2]);
  });

  it('makes namespaces and veth pairs as ip does (netns add and del, a veth with its peer in a namespace), and fails on the same lines', async () => {
    const [viaHelper, viaIp] = [fx.name('x1'), fx.name('x2')];
    const pair = (ns: string, peerNetns: string) => new IpBatch(ns).vethAdd('hv0', { peer: 'eth0', peerNetns, mtu: 1400, master: 'br0', up: true }, 'port:v');
    linux.runner.resetLog();
    // Twice: the second add fails as ip's does.
    const helperAdd = await linux.applyIpBatch(new IpBatch().netnsAdd(viaHelper, 'ns').netnsAdd(viaHelper, 'ns'));
    const ipAdd = await plain.applyIpBatch(new IpBatch().netnsAdd(viaIp, 'ns').netnsAdd(viaIp, 'ns'));
    expect(helperAdd.failed.map((f) => f.line)).toEqual(ipAdd.failed.map((f) => f.line));
    expect(helperAdd.failed[0].error).toMatch(/Cannot create namespace file ".*": File exists/);
    expect(await linux.applyIpBatch(pair(NL, viaHelper))).toEqual({ ok: true, failed: [] });
    expect(await plain.applyIpBatch(pair(IP, viaIp))).toEqual({ ok: true, failed: [] });
    expect(linux.runner.log.map((l) => l.command)).toEqual(['netlink', 'netlink']);
    expect(await plain.netnsList()).toEqual(expect.arrayContaining([viaHelper, viaIp]));
    // What either door decides (indexes, MACs and the peer's namespace id are the kernel's).
    const seen = async (ns: string, name: string) => {
      const link: Record<string, unknown> = { ...(await plain.link(name, ns))! };
      for (const key of ['ifindex', 'linkIndex', 'address', 'linkNetnsId']) delete link[key];
      return link;
    };
    expect(await seen(NL, 'hv0')).toEqual(await seen(IP, 'hv0'));
    expect(await seen(NL, 'hv0')).toMatchObject({ kind: 'veth', mtu: 1400, master: 'br0', up: true });
    expect(await seen(viaHelper, 'eth0')).toEqual(await seen(viaIp, 'eth0'));
    expect(await seen(viaHelper, 'eth0')).toMatchObject({ mtu: 1400, up: false });
    // The same pair again: the same failure; into a namespace that is not there: the batch stops, as ip's does.
    const again = await linux.applyIpBatch(pair(NL, viaHelper));
    expect(again.failed.map((f) => f.error)).toEqual((await plain.applyIpBatch(pair(IP, viaIp))).failed.map((f) => f.error));
    expect(again.failed).toHaveLength(1);
    const nowhere = (ns: string) => new IpBatch(ns).vethAdd('hv1', { peer: 'eth0', peerNetns: fx.name('none') });
    for (const [door, ns] of [[linux, NL], [plain, IP]] as const) {
      const error = await door.applyIpBatch(nowhere(ns)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LinuxBatchAbortedError);
      expect((error as LinuxBatchAbortedError).stderr).toMatch(/Invalid "netns" value/);
    }
    // Deleted, then deleted again (fails as ip's does).
    const helperDel = await linux.applyIpBatch(new IpBatch().netnsDel(viaHelper).netnsDel(viaHelper));
    const ipDel = await plain.applyIpBatch(new IpBatch().netnsDel(viaIp).netnsDel(viaIp));
    expect(helperDel.failed.map((f) => f.line)).toEqual(ipDel.failed.map((f) => f.line));
    expect(helperDel.failed[0].error).toMatch(/Cannot remove namespace file ".*": No such file or directory/);
    expect(await plain.netnsList()).not.toContain(viaHelper);
    // The peer's namespace gone, the host end goes with it (the kernel cleans up asynchronously).
    await waitFor(async () => (await plain.link('hv0', NL)) === null, 5000, 'the host end to go with its peer');
  });

  it('leaves to ip a batch with a line it does not send (making bridges and other links)', async () => {
    linux.runner.resetLog();
    expect(await linux.applyIpBatch(new IpBatch(NL).bridgeAdd('br1', {}).linkSet('br1', { up: true }))).toEqual({ ok: true, failed: [] });
    expect(linux.runner.log.map((l) => l.command)).toEqual(['nsenter']);
  });

  it('starts again after it was killed', async () => {
    const before = helper.pids;
    expect(before).toHaveLength(2);
    // setpriv execs python3: the pids are the helpers'.
    for (const pid of before) process.kill(pid, 'SIGKILL');
    await waitFor(() => helper.pids.length === 0, 5000, 'the helpers to end');
    expect(await linux.applyIpBatch(new IpBatch(NL).linkSet('br1', { down: true }))).toEqual({ ok: true, failed: [] });
    expect((await plain.link('br1', NL))?.up).toBe(false);
    expect(linux.runner.log.at(-1)).toMatchObject({ command: 'netlink', exitCode: 0 });
    expect(helper.pids).toHaveLength(1);
    expect(before).not.toContain(helper.pids[0]);
  });
});
