import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { CommandRunner, Linux } from '@netloom/linux';
import { DesiredResource, NetworkSpec, RealizationState, ResourceKind } from '@netloom/model';
import { definePlugin, type DesiredPluginResource, type PluginDefinition, SDK_VERSION } from '@netloom/plugin-sdk';
import { Names } from '@netloom/planner';
import { PluginHost } from './plugin-host';
import { ReconcileReport, Reconciler } from './reconciler';
import { StateStore } from './state-store';

const describeKernel = process.getuid?.() === 0 ? describe : describe.skip;

const kind = (k: string, id: string, spec: unknown = {}): DesiredResource => ({ kind: k, id, generation: 1, spec });

const throwing = definePlugin({
  id: 'test.throwing',
  version: '1.2.3',
  sdk: SDK_VERSION,
  kinds: { Boom: { fields: {} } },
  agent: {
    reconcile: () => Promise.reject(new Error('kaboom in the plugin')),
  },
});

const silent = definePlugin({
  id: 'test.silent',
  version: '0.1.0',
  sdk: SDK_VERSION,
  kinds: { Quiet: { fields: {} } },
  agent: {
    reconcile: (desired) => Promise.resolve(desired.slice(1).map((r) => ({ id: r.id, state: RealizationState.APPLIED, attributes: { seen: r.kind } }))),
  },
});

const slow = definePlugin({
  id: 'test.slow',
  version: '0.1.0',
  sdk: SDK_VERSION,
  kinds: { Slow: { fields: {} } },
  agent: { reconcile: () => new Promise((resolve) => setTimeout(() => resolve([]), 300)) },
});

/** Applies everything; observes each resource's spec back, and a class instance for resource `odd`. */
const watching = (observe: (desired: DesiredPluginResource[]) => Promise<Record<string, Record<string, unknown>>>, stop?: () => void) =>
  definePlugin({
    id: 'test.watching',
    version: '0.1.0',
    sdk: SDK_VERSION,
    kinds: { Watched: { fields: {} } },
    agent: {
      reconcile: (desired) => Promise.resolve(desired.map((r) => ({ id: r.id, state: RealizationState.APPLIED }))),
      observe,
      stop,
    },
  });
const echo = (desired: DesiredPluginResource[]) =>
  Promise.resolve(Object.fromEntries(desired.map((r) => [r.id, r.id === 'odd' ? (new Date(0) as unknown as Record<string, unknown>) : { health: 'UP', spec: r.spec, gone: undefined }])));

describe('PluginHost', () => {
  // No plugin here touches the host: a runner that ran anything would show it.
  const runner = new CommandRunner();
  let log: string[] = [];
  const make = (plugins: PluginDefinition[], timeoutMs?: number, requestReconcile?: (reason: string) => void) =>
    new PluginHost({ linux: new Linux(runner), agentPrefix: 'zz', hostId: 'h1', plugins, log: (l) => log.push(l), timeoutMs, requestReconcile });
  beforeEach(() => (log = []));

  afterEach(() => expect(runner.log).toEqual([]));

  it('fails only the resources of a plugin that throws, with its message', async () => {
    const host = make([throwing, silent]);
    const statuses = await host.reconcile([kind('Boom', 'b1'), kind('Quiet', 'q1'), kind('Quiet', 'q2')], new Map());
    expect(statuses).toEqual([
      { kind: 'Boom', id: 'b1', generation: 1, state: RealizationState.FAILED, reason: expect.stringContaining('kaboom in the plugin') },
      { kind: 'Quiet', id: 'q1', generation: 1, state: RealizationState.FAILED, reason: 'plugin returned no status' },
      { kind: 'Quiet', id: 'q2', generation: 1, state: RealizationState.APPLIED, attributes: { seen: 'Quiet' } },
    ]);
  });

  it('fails the resources of a plugin that takes too long, and does not call it again while it runs', async () => {
    const host = make([slow], 50);
    expect((await host.reconcile([kind('Slow', 's1')], new Map()))[0].reason).toMatch(/did not finish its reconcile within 50 ms/);
    expect((await host.reconcile([kind('Slow', 's1')], new Map()))[0].reason).toMatch(/previous reconcile is still running/);
    await new Promise((r) => setTimeout(r, 350));
  });

  it("attaches what a plugin observes to its own resources' statuses, plain JSON objects only", async () => {
    // `silent` claims to observe a resource of another plugin: it is not attached there.
    const nosy = definePlugin({ ...silent, agent: { ...silent.agent!, observe: () => Promise.resolve({ w1: { stolen: true } }) } });
    const host = make([watching(echo), nosy]);
    const statuses = await host.reconcile([kind('Watched', 'w1', { n: 1 }), kind('Watched', 'odd'), kind('Quiet', 'q1'), kind('Quiet', 'q2')], new Map());
    expect(statuses).toEqual([
      { kind: 'Watched', id: 'w1', generation: 1, state: RealizationState.APPLIED, attributes: {}, observed: { health: 'UP', spec: { n: 1 } } },
      { kind: 'Watched', id: 'odd', generation: 1, state: RealizationState.APPLIED, attributes: {} },
      { kind: 'Quiet', id: 'q1', generation: 1, state: RealizationState.FAILED, reason: 'plugin returned no status' },
      { kind: 'Quiet', id: 'q2', generation: 1, state: RealizationState.APPLIED, attributes: { seen: 'Quiet' } },
    ]);
    expect(host.observes).toBe(true);
    expect(host.wantsObserve).toBe(true);
  });

  it('contains an observe that throws or hangs: no observed, a log line, the statuses stand', async () => {
    const throwing = make([watching(() => Promise.reject(new Error('observe exploded')))]);
    expect(await throwing.reconcile([kind('Watched', 'w1')], new Map())).toEqual([
      { kind: 'Watched', id: 'w1', generation: 1, state: RealizationState.APPLIED, attributes: {} },
    ]);
    expect(log).toEqual(['plugin test.watching: observe threw: observe exploded']);

    const hanging = make([watching(() => new Promise((resolve) => setTimeout(() => resolve({ w1: { late: true } }), 300)))], 50);
    expect(await hanging.reconcile([kind('Watched', 'w1')], new Map())).toEqual([
      { kind: 'Watched', id: 'w1', generation: 1, state: RealizationState.APPLIED, attributes: {} },
    ]);
    expect(log[1]).toBe('plugin test.watching: observe took more than 50 ms');
    // Not called again while it runs, not even its reconcile.
    expect((await hanging.reconcile([kind('Watched', 'w1')], new Map()))[0].reason).toMatch(/previous observe is still running/);
    await new Promise((r) => setTimeout(r, 350));
  });

  it('observes again between passes, with what the last reconcile got, replacing what was observed', async () => {
    let calls = 0;
    const host = make([watching((desired) => Promise.resolve(Object.fromEntries(desired.map((r) => [r.id, { calls: ++calls }]))))]);
    expect(host.wantsObserve).toBe(false);
    const statuses = await host.reconcile([kind('Watched', 'w1'), kind('Mystery', 'm1')], new Map());
    const core = { kind: 'Network', id: 'n1', generation: 1, state: RealizationState.APPLIED };
    const again = await host.observe([core, ...statuses, { kind: 'Mystery', id: 'm1', generation: 1, state: RealizationState.FAILED, reason: 'no plugin' }]);
    expect(again.map((s) => [s.id, s.observed])).toEqual([
      ['n1', undefined],
      ['w1', { calls: 2 }],
      ['m1', undefined],
    ]);
    expect(again[0]).toBe(core);
    await host.reconcile([], new Map());
    expect(host.wantsObserve).toBe(false);
  });

  it("passes a plugin's reconcile requests on, and stops its plugins", async () => {
    const requests: string[] = [];
    const stopped: string[] = [];
    const asking = definePlugin({
      ...silent,
      agent: {
        reconcile: (_desired, host) => {
          host.requestReconcile('health changed');
          return Promise.resolve([]);
        },
        stop: () => void stopped.push('asking'),
      },
    });
    const host = make([asking, watching(echo, () => stopped.push('watching'))], undefined, (reason) => requests.push(reason));
    await host.reconcile([], new Map());
    expect(requests).toEqual(['health changed']);
    expect(log).toEqual(['[test.silent] asks for a reconcile: health changed']);
    await host.stop();
    expect(stopped.sort()).toEqual(['asking', 'watching']);
  });

  it('declares the kinds of its plugins and reports their versions', () => {
    const host = make([throwing, silent]);
    expect(host.handles('Boom')).toBe(true);
    expect(host.handles('Network')).toBe(false);
    expect(host.versions).toEqual([
      { id: 'test.throwing', version: '1.2.3' },
      { id: 'test.silent', version: '0.1.0' },
    ]);
  });
});

/**
 * A reconciler with these plugins over the real kernel, made in `beforeAll` and stopped (its
 * state folder removed) in `afterAll`; plugins' reconcile requests reach it. Reports pile up.
 */
function kernelReconciler(prefix: string, hostId: string, plugins: () => PluginDefinition[]) {
  const stateDir = mkdtempSync(join(tmpdir(), 'netloom-plugin-host-'));
  const store = new StateStore(stateDir);
  const made = { linux: new Linux(new CommandRunner()), names: new Names(prefix, hostId), reports: [] as ReconcileReport[], reconciler: undefined as unknown as Reconciler };
  beforeAll(() => {
    const pluginHost = new PluginHost({
      linux: made.linux,
      agentPrefix: prefix,
      hostId,
      plugins: plugins(),
      log: () => undefined,
      requestReconcile: () => made.reconciler.requestPass(),
    });
    made.reconciler = new Reconciler(made.linux, made.names, store, { resyncMs: 3_600_000, debounceMs: 10, log: () => undefined, plugins: pluginHost });
    made.reconciler.onReport = (r) => made.reports.push(r);
  });
  afterAll(() => {
    made.reconciler.stop();
    // Its waiting write goes now, not into a removed folder later.
    store.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });
  return made;
}

describeKernel('Reconciler with plugins on the real kernel', () => {
  const prefix = `g${Math.random().toString(36).slice(2, 5)}`;
  const k = kernelReconciler(prefix, 'plugin-host-under-test', () => [throwing, legs] as PluginDefinition[]);
  const { linux, names, reports } = k;

  // A namespace per resource with a leg onto its network's bridge: only what is missing is made.
  const legs = definePlugin({
    id: 'test.legs',
    version: '2.0.0',
    sdk: SDK_VERSION,
    kinds: { Leg: { fields: {} } },
    agent: {
      async reconcile(desired, host) {
        const [ns, links] = await Promise.all([host.ownedNetns(), host.ownedLinks()]);
        const result = await host.apply((c) => {
          for (const r of desired) {
            const name = host.netnsName(r.id);
            const leg = host.linkName(r.id);
            if (!ns.includes(name)) c.netnsAdd(name, r.id);
            if (!links.some((l) => l.ifname === leg)) {
              const bridge = host.networkBridge((r.spec as { networkId: string }).networkId)!;
              c.host.vethAdd(leg, { peer: 'eth0', peerNetns: name, master: bridge }, r.id).linkSet(leg, { up: true }, r.id);
            }
          }
          for (const n of ns) if (!desired.some((r) => host.netnsName(r.id) === n)) c.netnsDel(n);
          for (const l of links) if (!desired.some((r) => host.linkName(r.id) === l.ifname)) c.host.linkDel(l.ifname);
        });
        return desired.map((r) => {
          const failed = result.failed.find((f) => f.key === r.id);
          return failed ? { id: r.id, state: RealizationState.FAILED, reason: failed.error } : { id: r.id, state: RealizationState.APPLIED, attributes: { netns: host.netnsName(r.id) } };
        });
      },
    },
  });
  const network: DesiredResource<NetworkSpec> = { kind: ResourceKind.Network, id: 'net-1', generation: 1, spec: { vni: 100, mtu: 1450, vxlan: null } };
  const desired = [network, kind('Boom', 'boom-1'), kind('Leg', 'leg-1', { networkId: 'net-1' }), kind('Mystery', 'm-1')];

  async function pass(resources: DesiredResource[], revision: number): Promise<ReconcileReport> {
    k.reconciler.setDesired(revision, resources);
    await k.reconciler.reconcileNow();
    return reports[reports.length - 1];
  }
  const state = (report: ReconcileReport) => Object.fromEntries(report.statuses.map((s) => [s.id, [s.state, s.reason]]));

  afterAll(async () => {
    for (const ns of (await linux.netnsList()).filter((n) => n.startsWith(`${prefix}-`))) await execa('ip', ['netns', 'del', ns], { reject: false });
    for (const link of (await linux.links()).filter((l) => l.ifname.startsWith(prefix))) await execa('ip', ['link', 'del', link.ifname], { reject: false });
  });

  it('applies the core network and a working plugin; a throwing plugin and an unknown kind fail alone', async () => {
    const report = await pass(desired, 1);
    expect(state(report)).toEqual({
      'net-1': [RealizationState.APPLIED, undefined],
      'boom-1': [RealizationState.FAILED, expect.stringContaining('kaboom in the plugin')],
      'leg-1': [RealizationState.APPLIED, undefined],
      'm-1': [RealizationState.FAILED, 'this agent has no plugin for kind Mystery'],
    });
    const leg = (await linux.links()).find((l) => l.ifname.startsWith(`${prefix}q`));
    expect(leg).toMatchObject({ master: names.bridge('net-1'), up: true });
  });

  it('leaves the plugin namespace alone on the next pass (the core does not collect it), changing nothing', async () => {
    const report = await pass(desired, 2);
    expect(report.mutatingCommands).toBe(0);
    expect(state(report)['leg-1']).toEqual([RealizationState.APPLIED, undefined]);
    expect((await linux.netnsList()).filter((n) => n.startsWith(`${names.netnsPrefix}p`))).toHaveLength(1);
  });

  it('lets the plugin remove what it owns when its resources go', async () => {
    const report = await pass([network], 3);
    expect(state(report)).toEqual({ 'net-1': [RealizationState.APPLIED, undefined] });
    expect((await linux.netnsList()).filter((n) => n.startsWith(`${prefix}-`))).toEqual([]);
    expect((await linux.links()).filter((l) => l.ifname.startsWith(`${prefix}q`))).toEqual([]);
  });
});

describeKernel('Reconciler: plugin observe and reconcile requests (real kernel reads)', () => {
  const events: string[] = [];
  let reconciles = 0;
  let observes = 0;
  let busy = false;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /** Takes `ms`, noting when it overlaps another call of the plugin. */
  const alone = async (ms: number): Promise<void> => {
    if (busy) events.push('overlap');
    busy = true;
    await sleep(ms);
    busy = false;
  };

  // Slow on purpose, to show that observing never overlaps a reconcile; asks for one more pass once.
  const watcher = definePlugin({
    id: 'test.watcher',
    version: '0.1.0',
    sdk: SDK_VERSION,
    kinds: { Watch: { fields: {} } },
    agent: {
      async reconcile(desired, host) {
        await alone(50);
        if (++reconciles === 1) host.requestReconcile('first pass done');
        return desired.map((r) => ({ id: r.id, state: RealizationState.APPLIED }));
      },
      async observe(desired) {
        await alone(20);
        observes++;
        return Object.fromEntries(desired.map((r) => [r.id, { observes }]));
      },
    },
  });
  const k = kernelReconciler(`o${Math.random().toString(36).slice(2, 5)}`, 'observe-host', () => [watcher]);
  const { reports } = k;

  it('kicks a pass when a plugin asks, and attaches what it observes', async () => {
    k.reconciler.setDesired(1, [kind('Watch', 'w1')]);
    // The request comes in the first pass; the second follows by itself, and no third.
    for (let i = 0; i < 100 && reports.length < 2; i++) await sleep(10);
    await sleep(150);
    expect(reconciles).toBe(2);
    expect(reports.map((r) => [r.observeOnly, r.statuses[0].observed])).toEqual([
      [false, { observes: 1 }],
      [false, { observes: 2 }],
    ]);
  });

  it('observes between passes, never during one, reporting the last statuses with no command run', async () => {
    reports.length = 0;
    k.reconciler.setDesired(2, [kind('Watch', 'w1')]);
    // Asked while the pass runs: waits for it, then observes.
    await sleep(5);
    await Promise.all([k.reconciler.observeNow(), k.reconciler.observeNow()]);
    expect(events).toEqual([]);
    expect(reports.map((r) => [r.revision, r.observeOnly, r.mutatingCommands, r.statuses.map((s) => [s.id, s.state, s.observed])])).toEqual([
      [2, false, 0, [['w1', RealizationState.APPLIED, { observes: 3 }]]],
      [2, true, 0, [['w1', RealizationState.APPLIED, { observes: 4 }]]],
    ]);
    expect(reconciles).toBe(3);
  });
});
