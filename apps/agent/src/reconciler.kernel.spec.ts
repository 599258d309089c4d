import { execSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { CommandRunner, Linux, netlinkHelper, TcBatch } from '@netloom/linux';
import { DesiredResource, NetworkSpec, PortSpec, RealizationState, ResourceKind } from '@netloom/model';
import { definePlugin, type DesiredPluginResource, type PluginStatus, SDK_VERSION } from '@netloom/plugin-sdk';
import { Names } from '@netloom/planner';
import { PluginHost } from './plugin-host';
import { DROPPED, ReconcileReport, Reconciler } from './reconciler';
import { StateStore } from './state-store';
import { detectCapabilities } from './capabilities';

// The reconciler against the real kernel, in the agent's own (here: the root) namespace, with a
// per-run prefix: everything it makes is named `<prefix>…` and removed by exact name afterwards.
const describeKernel = process.getuid?.() === 0 ? describe : describe.skip;

/** Removes, by exact name, every namespace and link a run with this prefix made. */
async function removeOurs(linux: Linux, prefix: string): Promise<void> {
  const netns = (await linux.netnsList()).filter((n) => n.startsWith(`${prefix}-`));
  for (const ns of netns) await execa('ip', ['netns', 'del', ns], { reject: false });
  const links = (await linux.links()).filter((l) => l.ifname.startsWith(prefix)).map((l) => l.ifname);
  for (const link of links) await execa('ip', ['link', 'del', link], { reject: false });
  await execa('nft', ['delete', 'table', 'bridge', `${prefix}_portsec`], { reject: false });
}

/** Sets a desired state and waits for the passes it causes; their mutations summed, the last statuses. */
async function passOf(reconciler: Reconciler, reports: ReconcileReport[], desired: DesiredResource[], revision: number): Promise<ReconcileReport> {
  const first = reports.length;
  reconciler.setDesired(revision, desired);
  await reconciler.reconcileNow();
  const passes = reports.slice(first);
  return { ...passes[passes.length - 1], mutatingCommands: passes.reduce((sum, r) => sum + r.mutatingCommands, 0) };
}

const network: DesiredResource<NetworkSpec> = { kind: ResourceKind.Network, id: 'net-1', generation: 1, spec: { vni: 100, mtu: 1450, vxlan: null } };
const port = (id: string, ip: string, guardedBy?: string[]): DesiredResource<PortSpec> => ({
  kind: ResourceKind.Port,
  id,
  generation: 1,
  spec: {
    networkId: 'net-1',
    mac: `02:00:00:00:00:${ip.split('.')[3].padStart(2, '0')}`,
    mtu: 1450,
    addresses: [{ cidr: `${ip}/24`, family: 4 }],
    routes: [{ dst: 'default', via: '10.232.0.1', family: 4 }],
    netns: null,
    ...(guardedBy ? { guardedBy } : {}),
  },
});

// Both kernel doors: batches in namespaces by `ip -batch` (one process each) and by the netlink helper.
describeKernel.each([['ip -batch', false], ['the netlink helper', true]])('Reconciler on the real kernel (%s)', (_door, netlink) => {
  const prefix = `r${Math.random().toString(36).slice(2, 5)}`;
  const names = new Names(prefix, 'host-under-test');
  const stateDir = mkdtempSync(join(tmpdir(), 'netloom-reconciler-'));
  const store = new StateStore(stateDir);
  const runner = new CommandRunner();
  const linux = new Linux(runner, netlink ? { netlink: netlinkHelper } : {});
  let reconciler: Reconciler;
  const reports: ReconcileReport[] = [];
  const ports = [port('port-a', '10.232.0.2'), port('port-b', '10.232.0.3'), port('port-c', '10.232.0.4')];

  const pass = (desired: DesiredResource[], revision: number) => passOf(reconciler, reports, desired, revision);
  const ping = (from: string, ip: string) => execa('ip', ['netns', 'exec', names.portNetns(from), 'ping', '-c1', '-W1', ip], { reject: false });
  /** Waits (2 s at most) until `done` holds. */
  async function until(done: () => boolean | Promise<boolean>, what: string): Promise<void> {
    const deadline = Date.now() + 2_000;
    while (!(await done())) {
      if (Date.now() > deadline) throw new Error(`not within 2 s: ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  beforeAll(async () => {
    if (netlink) expect(await netlinkHelper.open()).toEqual({ version: expect.any(String), nft: true });
    reconciler = new Reconciler(linux, names, store, { resyncMs: 3_600_000, debounceMs: 10, log: () => undefined });
    reconciler.onReport = (r) => reports.push(r);
    // Watching kernel events, as the agent does (the resync timer is an hour: out of the way).
    reconciler.start();
  });

  afterAll(async () => {
    reconciler.stop();
    // Its waiting write goes now, not into a removed folder later.
    store.stop();
    await removeOurs(linux, prefix);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('builds a network with three ports that talk', async () => {
    const report = await pass([network, ...ports], 1);
    expect(report.statuses.map((s) => s.state)).toEqual([RealizationState.APPLIED, RealizationState.APPLIED, RealizationState.APPLIED, RealizationState.APPLIED]);
    expect(report.mutatingCommands).toBeGreaterThan(0);
    expect((await ping('port-a', '10.232.0.3')).exitCode).toBe(0);
    expect((await ping('port-c', '10.232.0.2')).exitCode).toBe(0);
  });

  it('runs no mutating command when the same state is applied again', async () => {
    const before = runner.mutatingCount;
    const report = await pass([network, ...ports], 2);
    expect(report.mutatingCommands).toBe(0);
    expect(runner.mutatingCount).toBe(before);
    expect(report.statuses.every((s) => s.state === RealizationState.APPLIED)).toBe(true);
  });

  it("filters a new port before its inside comes up, reads nothing of the whole host for it, and reports what each port dropped", async () => {
    const logged = runner.log.length;
    const added = port('port-d', '10.232.0.5');
    let report = await pass([network, ...ports, added], 3);
    const commands = runner.log.slice(logged).map((c) => `${c.command} ${c.args.join(' ')}`);
    // One nft transaction for the new port's elements beside the root batch that makes its veth,
    // both before the batch that brings its inside up; the table is not listed again (this agent
    // wrote it and nobody else did), nor every link: one read of the new veth, to verify it.
    expect(commands.slice(0, 2).sort()).toEqual([netlink ? 'netlink -batch' : 'ip -force -batch -', 'nft -f -']);
    const [inside, verify] = netlink
      ? [`netlink -n ${names.portNetns('port-d')} -batch`, `netlink link show dev ${names.veth('port-d')}`]
      : [`nsenter --net=/run/netns/${names.portNetns('port-d')} -- ip -force -batch -`, `ip -json -details link show dev ${names.veth('port-d')}`];
    expect(commands.slice(2).sort()).toEqual([verify, inside].sort());
    expect(report.statuses.find((s) => s.id === 'port-d')!.attributes).toMatchObject({ [DROPPED]: '0' });
    // port-d claims another MAC: nobody hears it, and its drops show on the next observe.
    await execa('ip', ['-n', names.portNetns('port-d'), 'link', 'set', 'eth0', 'address', '02:00:00:00:00:99']);
    expect((await ping('port-d', '10.232.0.2')).exitCode).not.toBe(0);
    await reconciler.observeNow();
    report = reports[reports.length - 1];
    expect(report.observeOnly).toBe(true);
    expect(Number(report.statuses.find((s) => s.id === 'port-d')!.attributes![DROPPED])).toBeGreaterThan(0);
    expect(report.statuses.find((s) => s.id === 'port-a')!.attributes).toMatchObject({ [DROPPED]: '0' });
    await pass([network, ...ports], 3);
  });

  it('repairs a veth deleted by hand on the kernel event alone (the resync is an hour away)', async () => {
    const first = reports.length;
    await execa('ip', ['link', 'del', names.veth('port-b')]);
    // Bounded well below the hour-long resync, loosely: a loaded machine is slow, not wrong.
    const deadline = Date.now() + 20_000;
    while (!(await linux.link(names.veth('port-b')))?.up) {
      if (Date.now() > deadline) throw new Error('veth not repaired within 20 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    await reconciler.reconcileNow();
    // One root batch (the veth) and one batch inside port-b's namespace, nothing else.
    expect(reports.slice(first).reduce((n, r) => n + r.mutatingCommands, 0)).toBe(2);
    expect((await ping('port-a', '10.232.0.3')).exitCode).toBe(0);
  });

  it('puts the port-security table back when it is deleted by hand, on the nft event alone (the resync is an hour away)', async () => {
    await execa('nft', ['delete', 'table', 'bridge', names.portSecurityTable]);
    const deadline = Date.now() + 20_000;
    while (!(await linux.nftTable('bridge', names.portSecurityTable))) {
      if (Date.now() > deadline) throw new Error('port-security table not back within 20 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    await reconciler.reconcileNow();
    // Whole again: nothing more to write, and port-c claiming another MAC reaches nobody.
    expect((await pass([network, ...ports], 3)).mutatingCommands).toBe(0);
    await execa('ip', ['-n', names.portNetns('port-c'), 'link', 'set', 'eth0', 'address', '02:00:00:00:00:98']);
    try {
      expect((await ping('port-c', '10.232.0.2')).exitCode).not.toBe(0);
    } finally {
      await execa('ip', ['-n', names.portNetns('port-c'), 'link', 'set', 'eth0', 'address', '02:00:00:00:00:04']);
    }
    expect((await ping('port-c', '10.232.0.2')).exitCode).toBe(0);
  });

  it("runs no pass for the kernel's echoes of its own changes, nor for a port's carrier going down and up", async () => {
    // Our own monitor, to prove the kernel did send the events the reconciler hears.
    const heard: string[] = [];
    const watcher = linux.monitorLinks((e) => e.ifname === names.veth('port-e') && heard.push(e.raw));
    try {
      await new Promise((r) => setTimeout(r, 100));
      await pass([network, ...ports, port('port-e', '10.232.0.6')], 7);
      const first = reports.length;
      await until(() => heard.length > 0, 'the events of the new veth');
      // The inside goes down and up: the host end loses and regains its carrier.
      const seen = heard.length;
      await execa('ip', ['-n', names.portNetns('port-e'), 'link', 'set', 'eth0', 'down']);
      await execa('ip', ['-n', names.portNetns('port-e'), 'link', 'set', 'eth0', 'up']);
      await until(() => heard.some((line, i) => i >= seen && line.includes('LOWER_UP')), 'the carrier events');
      // Quiet (the reconciler waits 10 ms after events here), and then some.
      await new Promise((r) => setTimeout(r, 500));
      expect(reports.length).toBe(first);
    } finally {
      watcher.stop();
    }
    // A change that matters still runs one: the host end taken down by hand comes back up.
    await execa('ip', ['link', 'set', names.veth('port-e'), 'down']);
    await until(async () => (await linux.link(names.veth('port-e')))?.up === true, 'the host end back up');
    await pass([network, ...ports], 8);
  });

  it('moves an address when the spec changes, dropping the old one', async () => {
    const moved = port('port-c', '10.232.0.4');
    moved.spec.addresses = [{ cidr: '10.232.0.40/24', family: 4 }];
    await pass([network, ports[0], ports[1], moved], 4);
    const { stdout } = await execa('ip', ['-n', names.portNetns('port-c'), '-j', 'addr', 'show', 'dev', 'eth0']);
    const addrs = (JSON.parse(stdout) as { addr_info: { local: string; scope: string }[] }[])[0].addr_info
      .filter((a) => a.scope === 'global')
      .map((a) => a.local);
    expect(addrs).toEqual(['10.232.0.40']);
    expect((await ping('port-a', '10.232.0.40')).exitCode).toBe(0);
  });

  it('garbage-collects what is no longer desired, and only that', async () => {
    const report = await pass([network, ports[0]], 5);
    expect(report.statuses).toHaveLength(2);
    const netns = await linux.netnsList();
    expect(netns).toContain(names.portNetns('port-a'));
    expect(netns).not.toContain(names.portNetns('port-b'));
    expect(netns).not.toContain(names.portNetns('port-c'));
    const links = (await linux.links()).map((l) => l.ifname);
    expect(links).toContain(names.veth('port-a'));
    expect(links).not.toContain(names.veth('port-b'));
    // Gone with the last port: the bridge.
    await pass([], 6);
    expect((await linux.links()).map((l) => l.ifname).filter((n) => n.startsWith(prefix))).toEqual([]);
    expect((await linux.netnsList()).filter((n) => n.startsWith(`${prefix}-`))).toEqual([]);
    expect(await linux.nftTable('bridge', names.portSecurityTable)).toBeNull();
  });

  it('reports a port in a missing user namespace as FAILED and retries it', async () => {
    const elsewhere = port('port-d', '10.232.0.5');
    elsewhere.spec.netns = `${prefix}-missing-user-ns`;
    const report = await pass([network, elsewhere], 7);
    const status = report.statuses.find((s) => s.id === 'port-d')!;
    expect(status.state).toBe(RealizationState.FAILED);
    expect(status.reason).toMatch(/does not exist/);
    expect(report.statuses.find((s) => s.id === 'net-1')!.state).toBe(RealizationState.APPLIED);
    await pass([], 8);
  });
});

describeKernel('Reconciler with guarded ports on the real kernel', () => {
  const prefix = `g${Math.random().toString(36).slice(2, 5)}`;
  const names = new Names(prefix, 'host-under-test');
  const stateDir = mkdtempSync(join(tmpdir(), 'netloom-guards-'));
  const linux = new Linux(new CommandRunner());
  const reports: ReconcileReport[] = [];
  /** What the guard plugin saw of each port's host end while its reconcile ran. */
  const seen: { guard: string; portId: string; up: boolean | undefined; netns: string | undefined }[] = [];
  /** Guards the plugin fails, with the reason it gives. */
  const failing = new Map<string, string>();
  const COUNTING = 'chain input {\n  type filter hook input priority 0; policy accept;\n  counter\n}';

  // A stand-in for a firewall: for each guarded port, an nft table in the port's namespace.
  const guards = definePlugin({
    id: 'test.guards',
    version: '0.1.0',
    sdk: SDK_VERSION,
    kinds: { Guard: { fields: {} } },
    agent: {
      async reconcile(desired: DesiredPluginResource[], host): Promise<PluginStatus[]> {
        const out: PluginStatus[] = [];
        for (const r of desired) {
          for (const portId of (r.spec as { ports: string[] }).ports) {
            seen.push({ guard: r.id, portId, up: (await linux.link(names.veth(portId)))?.up, netns: host.port(portId)?.netns });
            if (!failing.has(r.id)) await host.nftTable(COUNTING, host.port(portId)!.netns);
          }
          out.push(failing.has(r.id) ? { id: r.id, state: RealizationState.FAILED, reason: failing.get(r.id) } : { id: r.id, state: RealizationState.APPLIED });
        }
        return out;
      },
    },
  });
  const guard = (id: string, portIds: string[], generation = 1): DesiredResource => ({ kind: 'Guard', id, generation, spec: { ports: portIds } });
  const plugins = new PluginHost({ linux, agentPrefix: prefix, hostId: 'host-under-test', plugins: [guards], log: () => undefined });
  const store = new StateStore(stateDir);
  const reconciler = new Reconciler(linux, names, store, { resyncMs: 3_600_000, debounceMs: 10, log: () => undefined, plugins });
  reconciler.onReport = (r) => reports.push(r);

  const hostEndUp = async (portId: string) => (await linux.link(names.veth(portId)))?.up;
  const ping = (from: string, ip: string) => execa('ip', ['netns', 'exec', names.portNetns(from), 'ping', '-c1', '-W1', ip], { reject: false });
  const statusOf = (portId: string) => reports[reports.length - 1].statuses.find((s) => s.id === portId)!;
  async function pass(desired: DesiredResource[], revision: number): Promise<void> {
    seen.length = 0;
    reconciler.setDesired(revision, desired);
    await reconciler.reconcileNow();
  }

  beforeAll(() => reconciler.start());

  afterAll(async () => {
    reconciler.stop();
    store.stop();
    await plugins.stop();
    await removeOurs(linux, prefix);
    rmSync(stateDir, { recursive: true, force: true });
  });

  const plain = port('port-b', '10.232.0.3');
  const a = port('port-a', '10.232.0.2', ['Guard/g1']);
  const c = port('port-c', '10.232.0.4', ['Guard/g2']);

  it('creates a port guarded by a resource created with it down, and brings it up in the same pass once the plugin applied it', async () => {
    await pass([network, a, plain, guard('g1', ['port-a'])], 1);
    // The plugin ran with the pair there but its host end down, in the port's own namespace.
    expect(seen[0]).toEqual({ guard: 'g1', portId: 'port-a', up: false, netns: names.portNetns('port-a') });
    expect(await hostEndUp('port-a')).toBe(true);
    const first = reports.find((r) => r.statuses.some((s) => s.id === 'g1'))!;
    expect(first.statuses.map((s) => [s.id, s.state])).toEqual([
      ['net-1', RealizationState.APPLIED],
      ['port-a', RealizationState.APPLIED],
      ['port-b', RealizationState.APPLIED],
      ['g1', RealizationState.APPLIED],
    ]);
    expect((await ping('port-b', '10.232.0.2')).exitCode).toBe(0);
    const tables = await execa('ip', ['netns', 'exec', names.portNetns('port-a'), 'nft', 'list', 'tables']);
    expect(tables.stdout).toContain(`inet ${prefix}_`);
  });

  it('keeps a port whose guard fails down, reported FAILED with the reason, and does not take a port already up down', async () => {
    failing.set('g2', 'rules refused');
    failing.set('g1', 'g1 broke');
    await pass([network, a, plain, c, guard('g1', ['port-a'], 2), guard('g2', ['port-c'])], 2);
    expect(seen.find((s) => s.portId === 'port-c')?.up).toBe(false);
    expect(await hostEndUp('port-c')).toBe(false);
    expect(statusOf('port-c')).toMatchObject({ state: RealizationState.FAILED, reason: 'held down until Guard/g2 is applied on this host: rules refused' });
    expect((await ping('port-b', '10.232.0.4')).exitCode).not.toBe(0);
    // Already up when its guard failed: it stays up.
    expect(await hostEndUp('port-a')).toBe(true);
    expect(statusOf('port-a').state).toBe(RealizationState.APPLIED);
  });

  it('brings the port up on a retry once the plugin applies its guard, with no new desired state', async () => {
    failing.clear();
    const deadline = Date.now() + 10_000;
    while (!(await hostEndUp('port-c'))) {
      if (Date.now() > deadline) throw new Error('port-c not brought up within 10 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    await reconciler.reconcileNow();
    expect(statusOf('port-c').state).toBe(RealizationState.APPLIED);
    expect((await ping('port-b', '10.232.0.4')).exitCode).toBe(0);
  });

  it('retries a plugin resource that failed after its own backoff, with nothing else to retry and no new desired state', async () => {
    failing.set('g9', 'not yet');
    await pass([network, a, plain, c, guard('g1', ['port-a'], 2), guard('g2', ['port-c']), guard('g9', [])], 3);
    expect(statusOf('g9')).toMatchObject({ state: RealizationState.FAILED, reason: 'not yet' });
    const passes = reports.length;
    failing.delete('g9');
    // The resync is an hour away: the retry 250 ms after one failure applies it.
    const deadline = Date.now() + 5_000;
    while (statusOf('g9').state !== RealizationState.APPLIED) {
      if (Date.now() > deadline) throw new Error('g9 not retried within 5 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(reports.length).toBeGreaterThan(passes);
    // Applied: no more retries.
    const settled = reports.length;
    await new Promise((r) => setTimeout(r, 600));
    expect(reports.length).toBe(settled);
  });

  it("writes a plugin's table again in a port namespace the agent made again (never trusting what it knew)", async () => {
    const tablesIn = async () => (await execa('ip', ['netns', 'exec', names.portNetns('port-a'), 'nft', 'list', 'tables'])).stdout;
    await execa('ip', ['netns', 'del', names.portNetns('port-a')]);
    await pass([network, a, plain, c, guard('g1', ['port-a'], 3), guard('g2', ['port-c'])], 4);
    expect(await tablesIn()).toContain(`inet ${prefix}_`);
    // The kernel removes the old pair on its own time (namespace cleanup is deferred): the port
    // may take one more pass to come up.
    const deadline = Date.now() + 5_000;
    while (!(await hostEndUp('port-a')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await hostEndUp('port-a')).toBe(true);
    expect((await ping('port-b', '10.232.0.2')).exitCode).toBe(0);
  });
});

describeKernel('Reconciler when nft fails', () => {
  const prefix = `n${Math.random().toString(36).slice(2, 5)}`;
  const names = new Names(prefix, 'host-under-test');
  const stateDir = mkdtempSync(join(tmpdir(), 'netloom-nftfail-'));
  // An `nft` that always fails, first on PATH while the fault lasts (this worker's commands only);
  // and one that lists but cannot write.
  const fakeBin = mkdtempSync(join(tmpdir(), 'netloom-fake-nft-'));
  writeFileSync(join(fakeBin, 'nft'), '#!/bin/sh\necho "Error: injected failure" >&2\nexit 1\n', { mode: 0o755 });
  const readOnlyBin = mkdtempSync(join(tmpdir(), 'netloom-fake-nft-'));
  const realNft = execSync('command -v nft').toString().trim();
  writeFileSync(join(readOnlyBin, 'nft'), `#!/bin/sh\n[ "$1" = "-f" ] && { echo "Error: injected failure" >&2; exit 1; }\nexec ${realNft} "$@"\n`, { mode: 0o755 });
  const path = process.env.PATH;
  const linux = new Linux(new CommandRunner());
  const reports: ReconcileReport[] = [];
  const store = new StateStore(stateDir);
  const reconciler = new Reconciler(linux, names, store, { resyncMs: 3_600_000, debounceMs: 10, log: () => undefined });
  reconciler.onReport = (r) => reports.push(r);

  afterAll(async () => {
    process.env.PATH = path;
    reconciler.stop();
    store.stop();
    await removeOurs(linux, prefix);
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(fakeBin, { recursive: true, force: true });
    rmSync(readOnlyBin, { recursive: true, force: true });
  });

  it('makes no secured port while its filter cannot be listed or written, and makes it once nft works', async () => {
    process.env.PATH = `${fakeBin}:${path}`;
    reconciler.setDesired(1, [network, port('port-a', '10.232.0.2')]);
    await reconciler.reconcileNow();
    const status = reports[reports.length - 1].statuses.find((s) => s.id === 'port-a')!;
    expect(status).toMatchObject({ state: RealizationState.FAILED, reason: expect.stringContaining('port security') as string });
    expect(await linux.link(names.veth('port-a'))).toBeNull();
    // The fault ends: the retry after its backoff makes the port, filtered.
    process.env.PATH = path;
    const deadline = Date.now() + 5_000;
    while (reports[reports.length - 1].statuses.some((s) => s.state !== RealizationState.APPLIED)) {
      if (Date.now() > deadline) throw new Error(`not APPLIED after the fault: ${JSON.stringify(reports[reports.length - 1].statuses)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await linux.link(names.veth('port-a')))?.up).toBe(true);
    await linux.nftTable('bridge', names.portSecurityTable).then((t) => expect(t).not.toBeNull());
    reconciler.setDesired(3, []);
    await reconciler.reconcileNow();
  });

  it('leaves a secured port down inside while its filter cannot be written, and brings it up once nft works', async () => {
    const eth0Up = async (): Promise<boolean> => (await linux.link('eth0', names.portNetns('port-b')))?.up === true;
    process.env.PATH = `${readOnlyBin}:${path}`;
    reconciler.setDesired(4, [network, port('port-b', '10.232.0.3')]);
    await reconciler.reconcileNow();
    const status = reports[reports.length - 1].statuses.find((s) => s.id === 'port-b')!;
    expect(status).toMatchObject({ state: RealizationState.FAILED, reason: expect.stringContaining('injected failure') as string });
    // Its veth went in beside the failed write; the inside, which alone can send, did not come up.
    expect(await linux.link(names.veth('port-b'))).not.toBeNull();
    expect(await eth0Up()).toBe(false);
    process.env.PATH = path;
    const deadline = Date.now() + 5_000;
    while (reports[reports.length - 1].statuses.some((s) => s.state !== RealizationState.APPLIED)) {
      if (Date.now() > deadline) throw new Error(`not APPLIED after the fault: ${JSON.stringify(reports[reports.length - 1].statuses)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await eth0Up()).toBe(true);
    const table = await linux.nftTable('bridge', names.portSecurityTable);
    expect(table?.sets.find((set) => set.name === 's_ports')?.elements.map((e) => e.parts[0])).toEqual([names.veth('port-b')]);
    reconciler.setDesired(5, []);
    await reconciler.reconcileNow();
  });
});

describeKernel('Reconciler on the real kernel: a provider network', () => {
  // The "physical" interface is a veth whose peer sits on a switch (a bridge in an outside
  // namespace): the LAN, with an untagged host (10.233.0.100) and one on VLAN 100 (.101).
  const prefix = `q${Math.random().toString(36).slice(2, 5)}`;
  const names = new Names(prefix, 'host-under-test');
  const lan = `${prefix}lan`;
  const outside = `${prefix}-outside`;
  const hosts = [
    { ns: `${prefix}-out-u`, ip: '10.233.0.100', vlan: undefined },
    { ns: `${prefix}-out-100`, ip: '10.233.0.101', vlan: 100 },
  ];
  const stateDir = mkdtempSync(join(tmpdir(), 'netloom-reconciler-'));
  const store = new StateStore(stateDir);
  const runner = new CommandRunner();
  const linux = new Linux(runner);
  let reconciler: Reconciler;
  const reports: ReconcileReport[] = [];
  const net = (vlanId?: number): DesiredResource<NetworkSpec> => ({
    kind: ResourceKind.Network,
    id: 'net-p',
    generation: vlanId ?? 1,
    spec: { vni: 100, mtu: 1500, vxlan: null, provider: { physicalNetwork: 'physnet1', ...(vlanId ? { vlanId } : {}) } },
  });
  const lanPort: DesiredResource<PortSpec> = {
    kind: ResourceKind.Port,
    id: 'port-p',
    generation: 1,
    spec: { networkId: 'net-p', mac: '02:00:00:00:01:02', mtu: 1500, addresses: [{ cidr: '10.233.0.2/24', family: 4 }], routes: [], netns: null },
  };
  const pass = (desired: DesiredResource[], revision: number) => passOf(reconciler, reports, desired, revision);
  const ip = (...args: string[]) => execa('ip', args);

  beforeAll(async () => {
    await ip('link', 'add', lan, 'type', 'veth', 'peer', 'name', `${prefix}out`);
    await ip('netns', 'add', outside);
    await ip('link', 'set', `${prefix}out`, 'netns', outside);
    await ip('-n', outside, 'link', 'add', 'sw', 'up', 'type', 'bridge');
    await ip('-n', outside, 'link', 'set', `${prefix}out`, 'master', 'sw', 'up');
    for (const [i, h] of hosts.entries()) {
      await ip('netns', 'add', h.ns);
      await ip('-n', outside, 'link', 'add', `p${i}`, 'master', 'sw', 'up', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns);
      await ip('-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', 'eth0');
      await ip('-n', h.ns, 'link', 'set', 'eth0', 'up');
      // The switch's port to a host on a VLAN tags and untags for it (the same programs the agent uses, checked on the wire in libs/linux).
      if (h.vlan) {
        const port = new TcBatch(outside).qdiscAdd({ dev: `p${i}`, qdisc: { kind: 'clsact' } });
        port.vlanFilter(`p${i}`, 'ingress', 1, { kind: 'tag', vlanId: h.vlan }).vlanFilter(`p${i}`, 'egress', 1, { kind: 'untag', vlanId: h.vlan });
        expect(await linux.applyTcBatch(port)).toEqual({ ok: true, failed: [] });
      }
    }
    const vlanSupported = (await detectCapabilities()).includes('vlan');
    const options = { resyncMs: 3_600_000, debounceMs: 10, log: () => undefined, providerMappings: new Map([['physnet1', lan]]), vlanSupported };
    reconciler = Object.assign(new Reconciler(linux, names, store, options), { onReport: (r: ReconcileReport) => reports.push(r) });
    reconciler.start();
  });

  // The reconciler stops first, or it would put back what is removed.
  afterAll(() => Promise.resolve(reconciler.stop()).then(() => store.stop()).then(() => removeOurs(linux, prefix)).then(() => rmSync(stateDir, { recursive: true, force: true })));

  it('enslaves the mapped interface to the bridge (no VXLAN), and the port reaches the LAN through it', async () => {
    const report = await pass([net(), lanPort], 1);
    expect(report.statuses.map((s) => [s.id, s.state])).toEqual([
      ['net-p', RealizationState.APPLIED],
      ['port-p', RealizationState.APPLIED],
    ]);
    expect(report.statuses[0].attributes).toEqual({ bridge: names.bridge('net-p'), uplink: lan });
    expect((await linux.link(lan))?.master).toBe(names.bridge('net-p'));
    expect((await linux.links()).filter((l) => l.ifname.startsWith(prefix) && l.kind === 'vxlan')).toEqual([]);
    const ping = await execa('ip', ['netns', 'exec', names.portNetns('port-p'), 'ping', '-c1', '-W2', '10.233.0.100'], { reject: false });
    expect(ping.exitCode).toBe(0);
  });

  it('runs no mutating command the second time', async () => {
    const before = runner.mutatingCount;
    const report = await pass([net(), lanPort], 2);
    expect(report.mutatingCommands).toBe(0);
    expect(runner.mutatingCount).toBe(before);
  });

  it('moves to a VLAN: the interface goes on a trunk, the network on a tagging pair to it; the port reaches its VLAN only; nothing the second time', async () => {
    const report = await pass([net(100), lanPort], 3);
    expect(report.statuses.map((s) => [s.id, s.state, s.reason])).toEqual([
      ['net-p', RealizationState.APPLIED, undefined],
      ['port-p', RealizationState.APPLIED, undefined],
    ]);
    expect(report.statuses[0].attributes).toEqual({ bridge: names.bridge('net-p'), uplink: names.vlan('net-p') });
    expect((await linux.link(lan))?.master).toBe(names.trunk(lan));
    expect(await linux.link(names.vlan('net-p'))).toMatchObject({ kind: 'veth', master: names.bridge('net-p'), up: true });
    expect(await linux.link(names.vlanPeer('net-p'))).toMatchObject({ kind: 'veth', master: names.trunk(lan), up: true });
    const ping = (to: string) => execa('ip', ['netns', 'exec', names.portNetns('port-p'), 'ping', '-c1', '-W1', to], { reject: false });
    let reached = false;
    for (let i = 0; i < 4 && !reached; i++) reached = (await ping('10.233.0.101')).exitCode === 0;
    expect(reached).toBe(true);
    expect((await ping('10.233.0.100')).exitCode).not.toBe(0);
    const before = runner.mutatingCount;
    expect((await pass([net(100), lanPort], 4)).mutatingCommands).toBe(0);
    expect(runner.mutatingCount).toBe(before);
    // A resync reads the programs: as they are, nothing runs; one removed by hand is put back.
    await reconciler.resyncNow();
    expect(runner.mutatingCount).toBe(before);
    await execa('tc', ['filter', 'del', 'dev', names.vlanPeer('net-p'), 'egress', 'prio', '1']);
    expect((await ping('10.233.0.101')).exitCode).not.toBe(0);
    await reconciler.resyncNow();
    expect(runner.log.filter((c) => c.mutating).slice(-1)[0]).toMatchObject({ command: 'tc', args: ['-force', '-batch', '-'] });
    expect((await execa('tc', ['filter', 'show', 'dev', names.vlanPeer('net-p'), 'egress'])).stdout).toMatch(/netloom-vlan-untag-100\.o/);
    expect((await ping('10.233.0.101')).exitCode).toBe(0);
  });

  it('back to flat, then deleted: the bridge goes, the mapped interface stays, on no bridge', async () => {
    const report = await pass([net(), lanPort], 5);
    // A port that failed with its network is retried after its backoff (250 ms after one failure).
    const deadline = Date.now() + 5_000;
    while (!reports[reports.length - 1].statuses.every((s) => s.state === RealizationState.APPLIED) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(report.statuses.find((s) => s.id === 'net-p')?.state).toBe(RealizationState.APPLIED);
    expect(reports[reports.length - 1].statuses.map((s) => s.state)).toEqual([RealizationState.APPLIED, RealizationState.APPLIED]);
    expect((await linux.link(lan))?.master).toBe(names.bridge('net-p'));
    expect(await linux.link(names.trunk(lan))).toBeNull();
    expect(await linux.link(names.vlanPeer('net-p'))).toBeNull();
    await pass([], 6);
    expect(await linux.link(names.bridge('net-p'))).toBeNull();
    const kept = await linux.link(lan);
    expect(kept?.ifname).toBe(lan);
    expect(kept?.master).toBeUndefined();
  });
});
