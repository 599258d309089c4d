// Real kernel, as root, only inside namespaces this file creates (never the root namespace).
import { LinuxBatchAbortedError } from './batch-result';
import { BridgeBatch } from './bridge-batch';
import { IpBatch } from './ip-batch';
import { describeKernel, NetnsFixture, waitFor } from './kernel-fixture';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Linux, NETNS_DIR } from './linux';
import { NFT_EVENTS_BOOT, NFT_EVENTS_PROGRAM } from './monitor';
import { NETLINK_PYTHON } from './netlink';
import { LinuxCommandError } from './runner';
import type { BatchResult, LinkEvent, NftTransaction } from './types';

jest.setTimeout(30_000);
const execFileAsync = promisify(execFile);

describeKernel('Linux (kernel)', () => {
  const fx = new NetnsFixture('k');
  const H = fx.name('h');
  const P1 = fx.name('p1');
  const P2 = fx.name('p2');
  const linux = new Linux();
  const setup: BatchResult[] = [];

  const portBatch = (ns: string, addr: string, via: string) =>
    new IpBatch(ns)
      .linkSet('lo', { up: true })
      .linkSet('eth0', { addrgenmode: 'none', up: true }, `port:${ns}`)
      .addrReplace(addr, 'eth0', `port:${ns}`)
      .routeReplace({ dst: '10.254.0.0/16', via, dev: 'eth0' }, `route:${ns}`);

  beforeAll(async () => {
    await fx.cleanup();
    setup.push(await linux.applyIpBatch(new IpBatch().netnsAdd(H, 'h').netnsAdd(P1, 'p1').netnsAdd(P2, 'p2')));
    setup.push(
      await linux.applyIpBatch(
        new IpBatch(H)
          .bridgeAdd('br0', { mtu: 1400, up: true }, 'net')
          .vethAdd('v1', { master: 'br0', mtu: 1400, up: true, peer: 'eth0', peerNetns: P1 }, 'port:1')
          // `help` would be read as a request for usage without the explicit `name`/`dev` keywords.
          .vethAdd('help', { master: 'br0', mtu: 1400, up: true, peer: 'eth0', peerNetns: P2 }, 'port:2'),
      ),
    );
    setup.push(...(await linux.applyIpBatches([portBatch(P1, '10.255.0.1/24', '10.255.0.2'), portBatch(P2, '10.255.0.2/24', '10.255.0.1')])));
  });

  afterAll(async () => {
    await fx.cleanup();
    expect(await fx.leftovers()).toEqual([]);
  });

  it('applies a root batch, a host batch and two namespace batches', () => {
    expect(setup).toEqual([
      { ok: true, failed: [] },
      { ok: true, failed: [] },
      { ok: true, failed: [] },
      { ok: true, failed: [] },
    ]);
  });

  it('lists namespaces without a process', async () => {
    linux.runner.resetLog();
    expect(await linux.netnsList()).toEqual(expect.arrayContaining([H, P1, P2]));
    expect(await linux.netnsExists(H)).toBe(true);
    expect(await linux.netnsExists(fx.prefix + 'none')).toBe(false);
    expect(linux.runner.log).toEqual([]);
  });

  it('tells a dead namespace file (nothing mounted) from a live namespace, without a process', async () => {
    const D = fx.name('dead');
    expect(await linux.applyIpBatch(new IpBatch().netnsAdd(D))).toEqual({ ok: true, failed: [] });
    expect([...(await linux.netnsMounted())]).toEqual(expect.arrayContaining([H, P1, P2, D]));
    // What a namespace made in another mount namespace leaves behind: the file alone.
    expect((await linux.runner.run('ip', ['netns', 'exec', D, 'true'], { mutating: false })).exitCode).toBe(0);
    await execFileAsync('umount', [`${NETNS_DIR}/${D}`]);
    linux.runner.resetLog();
    expect(await linux.netnsList()).toContain(D);
    const mounted = await linux.netnsMounted();
    expect(mounted.has(D)).toBe(false);
    expect([...mounted]).toEqual(expect.arrayContaining([H, P1, P2]));
    expect(linux.runner.log).toEqual([]);
    // `netns add` refuses the name until `netns del` removes the file; del then add makes it live again.
    expect((await linux.applyIpBatch(new IpBatch().netnsAdd(D, 'add'))).ok).toBe(false);
    expect(await linux.applyIpBatch(new IpBatch().netnsDel(D).netnsAdd(D))).toEqual({ ok: true, failed: [] });
    expect((await linux.netnsMounted()).has(D)).toBe(true);
  });

  it('hears namespaces made and removed in /run/netns, without a process', async () => {
    const W = fx.name('watched');
    const heard: (string | undefined)[] = [];
    linux.runner.resetLog();
    const watch = await linux.watchNetns((name) => heard.push(name));
    try {
      expect(linux.runner.log).toEqual([]);
      await linux.applyIpBatch(new IpBatch().netnsAdd(W));
      await waitFor(() => heard.includes(W), 5000, 'the namespace made');
      const made = heard.length;
      await linux.applyIpBatch(new IpBatch().netnsDel(W));
      await waitFor(() => heard.slice(made).includes(W), 5000, 'the namespace removed');
    } finally {
      watch.close();
    }
  });

  it('reads links, addresses and routes, one read-only process each', async () => {
    linux.runner.resetLog();
    const host = await linux.links(H);
    expect(host.find((l) => l.ifname === 'br0')).toMatchObject({ kind: 'bridge', mtu: 1400, up: true });
    for (const name of ['v1', 'help']) {
      expect(host.find((l) => l.ifname === name)).toMatchObject({ kind: 'veth', master: 'br0', mtu: 1400, up: true, linkNetnsId: expect.any(Number) });
    }
    const port = await linux.links(P1);
    expect(port.find((l) => l.ifname === 'eth0')).toMatchObject({ kind: 'veth', mtu: 1400, up: true, addrGenMode: 'none', operstate: 'UP' });
    expect(port.find((l) => l.ifname === 'lo')).toMatchObject({ up: true });

    // addrgenmode none: no link-local address.
    expect(await linux.addresses(P1, 'eth0')).toEqual([
      { ifname: 'eth0', addresses: [{ family: 4, local: '10.255.0.1', prefixlen: 24, scope: 'global' }] },
    ]);
    const routes = await linux.routes(P1);
    expect(routes).toEqual(
      expect.arrayContaining([
        { dst: '10.254.0.0/16', gateway: '10.255.0.2', dev: 'eth0', family: 4 },
        expect.objectContaining({ dst: '10.255.0.0/24', dev: 'eth0', protocol: 'kernel', family: 4 }),
      ]),
    );
    expect(await linux.routes(P1, 6)).toEqual([]);
    expect(linux.runner.mutatingCount).toBe(0);
    expect(linux.runner.readCount).toBe(5);
    expect(linux.runner.log.map((l) => [l.command, l.args.join(' '), l.mutating])).toEqual([
      ['ip', `-n ${H} -json -details link show`, false],
      ['ip', `-n ${P1} -json -details link show`, false],
      ['ip', `-n ${P1} -json addr show dev eth0`, false],
      ['ip', `-n ${P1} -json route show`, false],
      ['ip', `-n ${P1} -6 -json route show`, false],
    ]);
  });

  it('writes and reads a policy-routing rule, the routes of its table, and hairpin mode on a bridge port', async () => {
    const rule = { iif: 'br0', table: 1313603585, pref: 1100 };
    const write = new IpBatch(H)
      .ruleAdd(rule, 'net')
      .routeReplace({ dst: '10.255.0.0/24', dev: 'br0', table: rule.table }, 'net')
      .routeReplace({ dst: 'default', via: '10.255.0.9', dev: 'br0', table: rule.table }, 'net')
      .hairpinSet('v1', true, 'port:1');
    expect(await linux.applyIpBatch(write)).toEqual({ ok: true, failed: [] });
    linux.runner.resetLog();
    expect((await linux.rules(H)).filter((r) => r.priority === 1100)).toEqual([{ priority: 1100, src: 'all', iif: 'br0', table: '1313603585' }]);
    expect(await linux.routes(H, 4, rule.table)).toEqual([
      { dst: 'default', gateway: '10.255.0.9', dev: 'br0', family: 4 },
      expect.objectContaining({ dst: '10.255.0.0/24', dev: 'br0', scope: 'link', family: 4 }),
    ]);
    expect(linux.runner.log.map((l) => [l.command, l.args.join(' '), l.mutating])).toEqual([
      ['ip', `-n ${H} -4 -json rule show`, false],
      ['ip', `-n ${H} -4 -json route show table 1313603585`, false],
    ]);
    expect((await linux.links(H)).find((l) => l.ifname === 'v1')?.hairpin).toBe(true);
    // Deleting the rule twice: the second fails, the flush of a table emptied already does not.
    const undo = new IpBatch(H).ruleDel(rule, 'net').routeFlush(rule.table, 'net').ruleDel(rule, 'again').routeFlush(rule.table).hairpinSet('v1', false);
    expect(await linux.applyIpBatch(undo)).toEqual({ ok: false, failed: [expect.objectContaining({ line: 3, key: 'again' })] });
    expect((await linux.rules(H)).some((r) => r.priority === 1100)).toBe(false);
    expect(await linux.routes(H, 4, rule.table)).toEqual([]);
    expect((await linux.links(H)).find((l) => l.ifname === 'v1')?.hairpin).toBe(false);
  });

  it('pings from P1 to P2 across the bridge in H', async () => {
    const ping = await linux.runner.run('ip', ['netns', 'exec', P1, 'ping', '-c1', '-W1', '10.255.0.2'], { mutating: false, reject: false });
    expect(ping.exitCode).toBe(0);
  });

  it('announces an address: a neighbour that cached another MAC for it takes the device MAC at once', async () => {
    const other = '02:00:00:00:00:99';
    await linux.runner.run('ip', ['-n', P1, 'neigh', 'replace', '10.255.0.2', 'lladdr', other, 'dev', 'eth0', 'nud', 'reachable'], { mutating: true });
    const cached = async () => (await linux.neighbours(P1, 'eth0')).find((n) => n.dst === '10.255.0.2')?.lladdr;
    expect(await cached()).toBe(other);
    const mac = (await linux.link('eth0', P2))!.address;
    linux.runner.resetLog();
    // The IPv6 address is skipped (nothing sends an unsolicited neighbour advertisement).
    await linux.announce(P2, 'eth0', ['10.255.0.2', 'fd00::2']);
    expect(linux.runner.log.map((e) => [e.command, e.mutating, e.exitCode, e.args.slice(-2)])).toEqual([['nsenter', true, 0, ['eth0', '10.255.0.2']]]);
    await waitFor(async () => (await cached()) === mac, 2000, 'the announced MAC in P1');
    // A device that is not there: the command fails, saying why.
    await expect(linux.announce(P2, 'nosuch0', ['10.255.0.2'])).rejects.toThrow(/nosuch0: No such device/);
  });

  it('maps a failing middle line to its number and key; the other lines apply', async () => {
    const result = await linux.applyIpBatch(
      new IpBatch(H)
        .linkSet('br0', { alias: 'net=a' }, 'alias')
        .linkDel('nosuch0', 'gone')
        .vethAdd('v9', { peer: 'v9p' }, 'v9'),
    );
    expect(result).toEqual({
      ok: false,
      failed: [{ line: 2, text: 'link del dev nosuch0', key: 'gone', error: 'Cannot find device "nosuch0"' }],
    });
    const links = await linux.links(H);
    expect(links.find((l) => l.ifname === 'br0')?.alias).toBe('net=a');
    expect(links.map((l) => l.ifname)).toEqual(expect.arrayContaining(['v9', 'v9p']));
  });

  it('applies the same replace batch twice', async () => {
    const again = () =>
      new IpBatch(P1)
        .addrReplace('10.255.0.1/24', 'eth0')
        .addrReplace('10.255.3.1/24', 'eth0')
        .routeReplace({ dst: 'default', via: '10.255.0.2', dev: 'eth0' })
        .routeReplace({ dst: '10.254.0.0/16', via: '10.255.0.2', dev: 'eth0' });
    expect(await linux.applyIpBatch(again())).toEqual({ ok: true, failed: [] });
    expect(await linux.applyIpBatch(again())).toEqual({ ok: true, failed: [] });
    const [eth0] = await linux.addresses(P1, 'eth0');
    expect(eth0.addresses.map((a) => `${a.local}/${a.prefixlen}`)).toEqual(['10.255.0.1/24', '10.255.3.1/24']);
    expect((await linux.routes(P1)).filter((r) => r.dst === 'default')).toEqual([{ dst: 'default', gateway: '10.255.0.2', dev: 'eth0', family: 4 }]);
  });

  it('throws LinuxBatchAbortedError when ip cannot run the batch at all (its namespace is missing)', async () => {
    const error = await linux.applyIpBatch(new IpBatch(fx.name('none')).linkSet('lo', { up: true })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LinuxBatchAbortedError);
    expect(error).toMatchObject({ command: 'nsenter', exitCode: 1, failed: [] });
    expect((error as LinuxCommandError).stderr).toMatch(/cannot open .*No such file or directory/);
  });

  it('runs nothing for an empty batch', async () => {
    linux.runner.resetLog();
    expect(await linux.applyIpBatch(new IpBatch(H))).toEqual({ ok: true, failed: [] });
    expect(await linux.applyIpBatches([])).toEqual([]);
    expect(linux.runner.log).toEqual([]);
  });

  it('throws LinuxCommandError with args and stderr for a failed read', async () => {
    const error = await linux.addresses(P1, 'nosuch0').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LinuxCommandError);
    expect(error).toMatchObject({ command: 'ip', args: ['-n', P1, '-json', 'addr', 'show', 'dev', 'nosuch0'], exitCode: 1 });
    expect((error as LinuxCommandError).stderr).toContain('does not exist');
  });

  it('applies an nftables script atomically inside a namespace and reads it back', async () => {
    await linux.nftApply('table inet nl_test {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    counter\n  }\n}\n', P1);
    const tables = (ruleset: unknown) =>
      ((ruleset as { nftables: Record<string, { name?: string }>[] }).nftables ?? []).flatMap((o) => (o.table?.name ? [o.table.name] : []));
    expect(tables(await linux.nftRuleset(P1))).toEqual(['nl_test']);
    expect(tables(await linux.nftRuleset(P2))).toEqual([]);

    const error = await linux.nftApply('table inet nl_half {}\ntable inet nl_broken { chain c { bogus } }\n', P1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LinuxCommandError);
    expect((error as LinuxCommandError).stderr).toMatch(/Error/);
    expect((error as LinuxCommandError).args).toEqual(['netns', 'exec', P1, 'nft', '-f', '-']);
    expect(tables(await linux.nftRuleset(P1))).toEqual(['nl_test']);
  });

  it('reads the named counters of one table, null when the table is absent', async () => {
    await linux.nftApply('table inet nl_cnt {\n  counter hits { packets 7 bytes 420 }\n  counter misses {}\n}\n', P2);
    expect(await linux.nftCounters('inet', 'nl_cnt', P2)).toEqual([
      { name: 'hits', packets: 7, bytes: 420 },
      { name: 'misses', packets: 0, bytes: 0 },
    ]);
    expect(await linux.nftCounters('inet', 'nl_nosuch', P2)).toBeNull();
    await expect(linux.nftCounters('inet', 'nl_cnt', fx.name('none'))).rejects.toThrow(/Cannot open network namespace/);
    await expect(linux.nftCounters('inet', 'bad name', P2)).rejects.toThrow(/invalid nft name/);
  });

  it('runs a Node.js program inside a namespace, lines both ways, ending when its stdin closes', async () => {
    const lines: string[] = [];
    const program = "require('readline').createInterface({ input: process.stdin }).on('line', (l) => console.log(l.toUpperCase() + ' ' + require('os').networkInterfaces().eth0?.[0]?.address));";
    const helper = linux.nodeProgram(P1, program, (line) => lines.push(line));
    try {
      expect(helper.write('hello\n')).toBe(true);
      await waitFor(() => lines.length > 0, 5000, 'an answer');
      expect(lines).toEqual(['HELLO 10.255.0.1']);
    } finally {
      helper.stop();
    }
    await helper.exited;
    expect(isAlive(helper.pid!)).toBe(false);
    expect(helper.write('late\n')).toBe(false);
  });

  it('sets sysctls inside a namespace (dotted and slashed keys)', async () => {
    const read = async (ns: string, key: string) =>
      (await linux.runner.run('ip', ['netns', 'exec', ns, 'sysctl', '-n', key], { mutating: false })).stdout.trim();
    expect(await read(P1, 'net.ipv4.ip_forward')).toBe('0');
    await linux.sysctl('net.ipv4.ip_forward', '1', P1);
    await linux.sysctl('net/ipv6/conf/eth0/disable_ipv6', '1', P1);
    expect(await read(P1, 'net.ipv4.ip_forward')).toBe('1');
    expect(await read(P1, 'net.ipv6.conf.eth0.disable_ipv6')).toBe('1');
    expect(await read(P2, 'net.ipv4.ip_forward')).toBe('0');
  });

  it('reports a failed /proc/sys write as LinuxCommandError, logged (procfs cannot create the file)', async () => {
    linux.runner.resetLog();
    const error = await linux.sysctl('net.ipv4.netloom_no_such_key', '1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LinuxCommandError);
    expect(error).toMatchObject({ command: 'sysctl', args: ['-qw', 'net.ipv4.netloom_no_such_key=1'], exitCode: 1 });
    expect(linux.runner.log).toEqual([expect.objectContaining({ command: 'sysctl', inProcess: true, mutating: true, exitCode: 1 })]);
  });

  it('programs and reads a VXLAN forwarding database with bridge -batch', async () => {
    const made = await linux.applyIpBatch(new IpBatch(H).vxlanAdd('vx42', { vni: 42, dstport: 4789, local: '10.255.9.1', master: 'br0', up: true }, 'vx'));
    expect(made).toEqual({ ok: true, failed: [] });
    const result = await linux.applyBridgeBatch(
      new BridgeBatch(H)
        .fdbAppend('00:00:00:00:00:00', 'vx42', '10.255.9.2', 'vtep:2')
        .fdbAppend('00:00:00:00:00:00', 'nosuch0', '10.255.9.3', 'bad')
        .fdbAppend('00:00:00:00:00:00', 'vx42', '10.255.9.4', 'vtep:4'),
    );
    expect(result).toEqual({
      ok: false,
      failed: [{ line: 2, text: 'fdb append 00:00:00:00:00:00 dev nosuch0 dst 10.255.9.3', key: 'bad', error: 'Cannot find device "nosuch0"' }],
    });
    const remotes = (await linux.bridgeFdb(H, 'vx42')).filter((e) => e.dst !== undefined);
    expect(remotes.map((e) => [e.mac, e.dev, e.dst]).sort()).toEqual([
      ['00:00:00:00:00:00', 'vx42', '10.255.9.2'],
      ['00:00:00:00:00:00', 'vx42', '10.255.9.4'],
    ]);
    expect((await linux.bridgeFdb(H)).some((e) => e.dev === 'vx42' && e.dst === '10.255.9.2')).toBe(true);
  });

  it('streams link events from a namespace until stopped', async () => {
    const events: LinkEvent[] = [];
    let exited = false;
    const monitor = linux.monitorLinks((e) => events.push(e), H, () => (exited = true));
    try {
      // The child subscribes some time after spawning: poke an existing link until it reports.
      let n = 0;
      await waitFor(async () => {
        await linux.applyIpBatch(new IpBatch(H).linkSet('br0', { alias: `probe${n++}` }));
        return events.some((e) => e.ifname === 'br0');
      }, 10_000, 'the monitor to start');
      await linux.applyIpBatch(new IpBatch(H).vethAdd('mon0', { peer: 'mon0p' }));
      await waitFor(() => events.some((e) => e.ifname === 'mon0' && !e.deleted), 5000, 'mon0 added');
      await linux.applyIpBatch(new IpBatch(H).linkDel('mon0'));
      await waitFor(() => events.some((e) => e.ifname === 'mon0' && e.deleted), 5000, 'mon0 deleted');
      expect(events.find((e) => e.deleted)?.raw).toMatch(/^Deleted \d+: mon0/);
    } finally {
      monitor.stop();
    }
    expect(monitor.pid).toEqual(expect.any(Number));
    await waitFor(() => !isAlive(monitor.pid!), 5000, 'the monitor child to exit');
    expect(exited).toBe(false);
  });

  it('streams committed nft transactions of a namespace with the pid that made them, ours told by onSpawn', async () => {
    const seen: NftTransaction[] = [];
    const monitor = linux.monitorNft((t) => seen.push(t), P2);
    try {
      let ours = 0;
      // The child subscribes some time after spawning: write until a transaction is heard.
      await waitFor(async () => {
        await linux.nftApply('table inet nl_mon {\n  chain c {\n  }\n}\n', P2, (pid) => (ours = pid));
        return seen.some((t) => t.pid === ours);
      }, 10_000, 'the nft monitor to start');
      const mine = seen.find((t) => t.pid === ours)!;
      expect(mine).toMatchObject({ comm: 'nft', tables: [{ family: 'inet', table: 'nl_mon' }] });
      // Another process's change (not through this Linux): its own pid.
      await linux.runner.run('ip', ['netns', 'exec', P2, 'nft', 'delete', 'table', 'inet', 'nl_mon'], { mutating: true });
      await waitFor(() => seen.some((t) => t.generation > mine.generation && t.pid !== ours), 5000, 'the delete');
      expect(seen.at(-1)).toMatchObject({ comm: 'nft', tables: [{ family: 'inet', table: 'nl_mon' }] });
    } finally {
      monitor.stop();
    }
    await monitor.exited;
    expect(isAlive(monitor.pid!)).toBe(false);
  });

  it('hears elements of a set that is both a concatenation and an interval set (which kill nft 1.0.6’s own monitor), and stays up', async () => {
    const seen: NftTransaction[] = [];
    const monitor = linux.monitorNft((t) => seen.push(t), P2, undefined, { reader: 'events' });
    let ended = false;
    void monitor.exited.then(() => (ended = true));
    try {
      const table = 'table bridge nl_mon2 {\n  set s_ip4 {\n    type ifname . ether_addr . ipv4_addr; flags interval;\n  }\n}\n';
      await waitFor(async () => {
        await linux.nftApply(table, P2);
        return seen.some((t) => t.tables.some((x) => x.table === 'nl_mon2'));
      }, 10_000, 'the monitor to start');
      const from = seen.length;
      for (let i = 1; i <= 3; i++) {
        await linux.runner.run('ip', ['netns', 'exec', P2, 'nft', 'add', 'element', 'bridge', 'nl_mon2', 's_ip4', `{ "v${i}" . 02:00:00:00:00:0${i} . 10.0.0.${i} }`], { mutating: true });
      }
      await waitFor(() => seen.slice(from).filter((t) => t.tables.some((x) => x.family === 'bridge' && x.table === 'nl_mon2')).length >= 3, 5000, 'three element transactions');
      expect(ended).toBe(false);
      await linux.nftApply('delete table bridge nl_mon2\n', P2);
    } finally {
      monitor.stop();
    }
    await monitor.exited;
  });

  it('runs one events reader per namespace for all its watchers: each hears every transaction, the last to stop ends it', async () => {
    const heard: [NftTransaction[], NftTransaction[]] = [[], []];
    const first = linux.monitorNft((t) => heard[0].push(t), P2, undefined, { reader: 'events' });
    const second = linux.monitorNft((t) => heard[1].push(t), P2, undefined, { reader: 'events' });
    let secondEnded = false;
    void second.exited.then(() => (secondEnded = true));
    try {
      expect(second.pid).toBe(first.pid);
      await waitFor(async () => {
        await linux.nftApply('table inet nl_sh {}\ndelete table inet nl_sh\n', P2);
        return heard.every((h) => h.some((t) => t.tables.some((x) => x.table === 'nl_sh')));
      }, 10_000, 'both watchers to hear a transaction');
      // The first stops: the reader goes on for the second.
      first.stop();
      await first.exited;
      expect(isAlive(first.pid!)).toBe(true);
      const from = heard[1].length;
      await linux.nftApply('table inet nl_sh2 {}\ndelete table inet nl_sh2\n', P2);
      await waitFor(() => heard[1].slice(from).some((t) => t.tables.some((x) => x.table === 'nl_sh2')), 5000, 'the second to hear on');
      expect(heard[0].some((t) => t.tables.some((x) => x.table === 'nl_sh2'))).toBe(false);
      expect(secondEnded).toBe(false);
    } finally {
      first.stop();
      second.stop();
    }
    await second.exited;
    expect(isAlive(first.pid!)).toBe(false);
    // A new watcher starts a new reader.
    const third = linux.monitorNft(() => undefined, P2, undefined, { reader: 'events' });
    expect(third.pid).not.toBe(first.pid);
    third.stop();
    await third.exited;
  });

  it('the events reader prints each table a transaction touches once, however many objects it holds', async () => {
    const lines: string[] = [];
    const reader = linux.runner.stream('nsenter', [`--net=${NETNS_DIR}/${P2}`, '--', NETLINK_PYTHON, '-c', NFT_EVENTS_BOOT, 'nft-events'], (line) => lines.push(line), undefined, { stdin: true });
    reader.write(`${JSON.stringify(NFT_EVENTS_PROGRAM)}\n`);
    try {
      // 200 rules and 200 named counters in one table, a set in another, one transaction.
      const rules = Array.from({ length: 200 }, (_, i) => `counter r${i} {}\nchain c${i} {\ntcp dport ${i + 1} counter name "r${i}" accept\n}`).join('\n');
      const script = `table inet nl_ev1 {\n${rules}\n}\ntable bridge nl_ev2 {\nset s {\ntype ether_addr;\n}\n}\n`;
      let from = 0;
      await waitFor(async () => {
        from = lines.length;
        await linux.nftApply('table inet nl_ev0 {}\ndelete table inet nl_ev0\n', P2);
        return lines.slice(from).some((l) => l.startsWith('# new generation'));
      }, 10_000, 'the reader to start');
      from = lines.length;
      await linux.nftApply(script, P2);
      await waitFor(() => lines.slice(from).some((l) => l.startsWith('# new generation')), 5000, 'the transaction');
      const transaction = lines.slice(from, lines.findIndex((l, i) => i >= from && l.startsWith('# new generation')) + 1);
      expect(transaction).toEqual(['add table inet nl_ev1', 'add table bridge nl_ev2', expect.stringMatching(/^# new generation \d+ by process \d+ /)]);
      await linux.nftApply('delete table inet nl_ev1\ndelete table bridge nl_ev2\n', P2);
    } finally {
      reader.stop();
    }
    await reader.exited;
  });

  it('reports a monitor that ends by itself', async () => {
    const error = await new Promise<LinuxCommandError>((resolve) => {
      linux.monitorLinks(() => undefined, fx.name('none'), resolve);
    });
    expect(error).toBeInstanceOf(LinuxCommandError);
    expect(error.stderr).toContain('Cannot open network namespace');
  });

  it('logs mutating and read commands separately, without stdin', async () => {
    linux.runner.resetLog();
    await linux.links(P2);
    await linux.applyIpBatch(new IpBatch(P2).addrReplace('10.255.0.2/24', 'eth0'));
    await linux.nftRuleset(P2);
    await linux.sysctl('net.ipv4.ip_forward', '0', P2);
    expect(linux.runner.mutatingCount).toBe(2);
    expect(linux.runner.readCount).toBe(2);
    expect(linux.runner.log.map((l) => l.mutating)).toEqual([false, true, false, true]);
    // A batch in a namespace enters it with nsenter (no mount namespace of its own, unlike `ip -n`).
    expect(linux.runner.log[1]).toMatchObject({ command: 'nsenter', args: [`--net=/run/netns/${P2}`, '--', 'ip', '-force', '-batch', '-'], exitCode: 0 });
    expect(JSON.stringify(linux.runner.log)).not.toContain('10.255.0.2/24');
    expect(linux.runner.log.every((l) => l.ms >= 0)).toBe(true);
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
