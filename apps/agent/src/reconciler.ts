import { BatchResult, IpBatch, LinkInfo, Linux, LinuxInputError, TcBatch, wholeBatchFailed } from '@netloom/linux';
import { DesiredResource, NetworkSpec, PortSpec, RealizationState, ResourceKind, resourceKey, ResourceStatusReport } from '@netloom/model';
import { type PortCountersEntry, trace, TRACE_ENABLED } from '@netloom/protocol';
import { heldPorts, release } from './guards';
import { Names } from '@netloom/planner';
import type { PluginHost } from './plugin-host';
import type { PortPlace } from '@netloom/plugin-sdk';
import { LinkCache } from './link-cache';
import { NetnsView } from './netns-view';
import { FLOOD_MAC, networksToInspect, Observed, OverlayEntries, plan, PlanFailure, portsToInspect, providerLayout, specHash } from '@netloom/planner';
import { droppedByPort, linkLocal, planPortSecurity, PortSecurityState } from '@netloom/planner';
import { portCounters } from './port-counters';
import { PortSecurityCache } from './port-security-cache';
import { StateStore } from './state-store';
import type { Log } from './log';

export interface ReconcilerOptions {
  /** Periodic resync, catching what events missed. */
  resyncMs: number;
  /** Quiet time after a kernel event before reconciling. */
  debounceMs: number;
  log: Log;
  /** The loaded plugins: their kinds go to them, after the core apply, instead of the core planner. */
  plugins?: PluginHost;
  /** Called after every pass (not an observe) with how it ended and how long it took. */
  onPass?: (result: PassResult, seconds: number) => void;
  /** Physical network → this host's interface for it (`--provider-mapping`): provider networks' uplinks. */
  providerMappings?: ReadonlyMap<string, string>;
  /** Whether the kernel can make 802.1Q subinterfaces (the `vlan` capability; default true). */
  vlanSupported?: boolean;
}

/** How a pass ended: every resource applied, some failed, or the pass itself threw (logged). */
export type PassResult = 'applied' | 'failed' | 'error';

export interface ReconcileReport {
  revision: number;
  statuses: ResourceStatusReport[];
  /** Mutating commands this pass ran (0 when the kernel already matched). */
  mutatingCommands: number;
  ms: number;
  /** The last pass's statuses with the plugins' resources observed again, no reconcile run. */
  observeOnly: boolean;
}

interface Backoff {
  attempts: number;
  until: number;
  hash: string;
  reason: string;
  terminal: boolean;
  /** Only schedules a retry, never skips the resource (a port held down waits for its guards, not for a timer). */
  retryOnly?: boolean;
}

const MAX_BACKOFF_MS = 30_000;
const BASE_BACKOFF_MS = 250;
/** Quiet time after a plugin's request for a pass, so requests close together make one. */
const REQUEST_DEBOUNCE_MS = 20;

/**
 * The level-triggered loop: desired + observed → plan → batched apply → verify → report. Never
 * runs two passes at once; triggers during a pass coalesce into one more pass. A failing
 * resource backs off on its own key (exponentially, to 30 s); a terminal failure is reported
 * and left alone until its spec changes. A plugin resource that failed is retried the same way
 * (its next pass comes after its backoff), never skipped.
 */
export class Reconciler {
  private desired: DesiredResource[] | undefined;
  private revision = 0;
  private readonly applied: Map<string, string>;
  private readonly backoff = new Map<string, Backoff>();
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  /** Quiet time after kernel events, then a look at what they named (see {@link check}). */
  private checkTimer: NodeJS.Timeout | undefined;
  /** What events named is to be looked at once the running pass is done. */
  private checkPending = false;
  /** Namespaces of ours that /run/netns events named since the last look. */
  private readonly netnsNamed = new Set<string>();
  private resync: NodeJS.Timeout | undefined;
  private monitor: { stop(): void } | undefined;
  private nftMonitor: { stop(): void } | undefined;
  /** Pids of this agent's own nft writes not heard yet, and how many each (the netlink helper commits several). */
  private readonly ownNftWrites = new Map<number, number>();
  /** This agent's writes of the port-security table under way: their pids may be heard after the monitor's line. */
  private nftWritesInFlight = 0;
  /** Writers the monitor named while a write of ours was under way and its pid not known yet: judged once it is. */
  private unclaimedNft: { pid: number; comm: string }[] = [];
  private readonly portSecurity: PortSecurityCache;
  private readonly netnsView: NetnsView;
  /**
   * What each VXLAN device holds (by network id), as last read or programmed, with the device's
   * ifindex then: a spec change is diffed against it instead of reading the device's tables.
   */
  private readonly overlays = new Map<string, { ifindex: number; entries: OverlayEntries }>();
  /** The next pass reads every VXLAN device's tables (at start, and at each resync: drift is put back). */
  private lookAtOverlays = true;
  private netnsWatch: Promise<{ close(): void } | undefined> | undefined;
  private stopped = false;
  /** An observe waits for its turn or runs: a second one is not queued. */
  private observing = false;
  /** The last report of a pass, which an observe updates. */
  private last: ReconcileReport | undefined;
  private readonly linkCache: LinkCache;
  /** Called after every pass with every resource's status. */
  onReport: (report: ReconcileReport) => void = () => undefined;

  constructor(
    private readonly linux: Linux,
    private readonly names: Names,
    private readonly store: StateStore,
    private readonly options: ReconcilerOptions,
  ) {
    this.applied = new Map(Object.entries(store.readApplied().ports));
    this.portSecurity = new PortSecurityCache(() => linux.nftTable('bridge', names.portSecurityTable));
    this.netnsView = new NetnsView(linux);
    // The plugins' links too: their contexts read them here instead of listing every link.
    // And the mapped interfaces, which flat provider networks' bridges enslave (never made nor deleted here).
    const mapped = new Set(options.providerMappings?.values() ?? []);
    this.linkCache = new LinkCache(
      linux,
      (name) => names.ownsLink(name) || names.ownsPluginLink(name) || mapped.has(name),
      (name) => names.ownsPluginLink(name),
    );
    options.plugins?.useHostLinks({
      // Only the plugins' links: a core link an event named is no business of theirs.
      read: async () => [...(await this.linkCache.read((name) => names.ownsPluginLink(name))).values()],
      changed: (changed) => {
        for (const name of changed) this.linkCache.touched(name);
      },
    });
  }

  get appliedRevision(): number {
    return this.store.readApplied().revision;
  }

  /** Starts watching the kernel and the resync timer. Nothing is touched before a desired state is set. */
  start(): void {
    this.watch();
    this.watchNft();
    this.resync = setInterval(() => {
      this.invalidate();
      this.kick(0);
    }, this.options.resyncMs);
    this.resync.unref();
  }

  /** Kernel link events mark links to re-read and trigger a pass; a dead monitor is restarted. */
  private watch(): void {
    if (this.stopped) return;
    // A namespace of ours removed by hand may live on (held by a process inside), its veth too: no link event.
    if (!this.netnsWatch) {
      this.netnsWatch = this.linux
        .watchNetns((name) => {
          if (name === undefined) this.kick(this.options.debounceMs);
          else if (this.names.ownsNetns(name)) {
            this.netnsNamed.add(name);
            this.check();
          }
        })
        .catch((error: unknown) => {
          this.options.log(`cannot watch the namespaces directory (${error instanceof Error ? error.message : String(error)}); the resync catches what it misses`);
          return undefined;
        });
    }
    this.monitor = this.linux.monitorLinks(
      (event) => {
        if (this.linkCache.event(event)) this.check();
      },
      undefined,
      (error) => {
        this.options.log(`link monitor ended (${error.message}); restarting`);
        this.linkCache.invalidate();
        setTimeout(() => {
          this.watch();
          // What changed while nobody listened: a full read, and a pass if anything differs.
          this.check();
        }, 1_000).unref();
      },
    );
  }

  /**
   * Once kernel events are quiet (and no pass runs), a look at what they named: a pass runs only
   * if something is not as the last pass left it. A link is read again and compared (made, gone,
   * or changed as a pass cares); a namespace is a change when it went and is wanted, or came and
   * is not. The echoes of a pass's own changes (read back by its verify, or made and removed as
   * planned) and carrier changes run none.
   */
  private check(): void {
    clearTimeout(this.checkTimer);
    this.checkTimer = setTimeout(() => {
      if (this.running) {
        this.checkPending = true;
        return;
      }
      const named = [...this.netnsNamed];
      this.netnsNamed.clear();
      void Promise.all([this.linkCache.settle(), this.netnsChanged(named)]).then(
        ([links, netns]) => (links || netns) && this.kick(0),
        () => this.kick(0),
      );
    }, this.options.debounceMs);
  }

  /** Whether one of these namespaces of ours went while wanted, or is there unwanted. */
  private async netnsChanged(named: string[]): Promise<boolean> {
    if (!named.length) return false;
    // Ports' namespaces as desired; a plugin's (`…p…`) are its own business: any change is.
    const wanted = new Set((this.desired ?? []).filter((r) => r.kind === ResourceKind.Port && (r.spec as PortSpec).netns === null).map((r) => this.names.portNetns(r.id)));
    const pluginOwned = (ns: string): boolean => ns.startsWith(`${this.names.netnsPrefix}p`);
    const there = await Promise.all(named.map((ns) => this.linux.netnsExists(ns)));
    return named.some((ns, i) => pluginOwned(ns) || there[i] !== wanted.has(ns));
  }

  /** Whether `pid` is one of this agent's writes (each heard once; a long-lived helper commits several). */
  private claimNftWrite(pid: number): boolean {
    const own = this.ownNftWrites.get(pid);
    if (own === undefined) return false;
    if (own <= 1) this.ownNftWrites.delete(pid);
    else this.ownNftWrites.set(pid, own - 1);
    return true;
  }

  private foreignNftWrite(pid: number, comm: string): void {
    this.options.log(`port-security table changed by process ${pid} (${comm}): putting it back`);
    this.portSecurity.forget();
    this.kick(0);
  }

  /** A write of ours is done (its pid heard by now): the writers heard meanwhile are judged. */
  private nftWriteDone(): void {
    this.nftWritesInFlight -= 1;
    if (this.nftWritesInFlight > 0) return;
    const heard = this.unclaimedNft;
    this.unclaimedNft = [];
    for (const { pid, comm } of heard) if (!this.claimNftWrite(pid)) this.foreignNftWrite(pid, comm);
  }

  private ownWrite(pid: number): void {
    // A write that failed is never heard: forget old pids rather than keep them all.
    if (this.ownNftWrites.size >= 64) this.ownNftWrites.clear();
    this.ownNftWrites.set(pid, (this.ownNftWrites.get(pid) ?? 0) + 1);
  }

  /**
   * The port-security table changed by anyone but this agent (a hand edit, a flush) triggers a
   * pass at once, which lists the table and puts back what differs: ports are not left unfiltered
   * until the next resync. One nftables event reader (not `nft monitor`: see monitorNft) in the host namespace; a dead one is restarted.
   */
  private watchNft(): void {
    if (this.stopped) return;
    this.portSecurity.watched = true;
    this.nftMonitor = this.linux.monitorNft(
      (t) => {
        if (!t.tables.some((x) => x.family === 'bridge' && x.table === this.names.portSecurityTable)) return;
        if (this.claimNftWrite(t.pid)) return;
        // The command helper says a pid over a pipe, which may come after the monitor's line:
        // while a write of ours is under way, its writer is judged once the write is done.
        if (this.nftWritesInFlight > 0) this.unclaimedNft.push({ pid: t.pid, comm: t.comm });
        else this.foreignNftWrite(t.pid, t.comm);
      },
      undefined,
      (error) => {
        // Nobody hears other writers now: what this agent wrote is no longer trusted.
        this.portSecurity.watched = false;
        this.portSecurity.forget();
        if (this.stopped) return;
        this.options.log(`nft monitor ended (${error.message}); restarting`);
        setTimeout(() => this.watchNft(), 1_000).unref();
      },
      // Port security's address sets are concatenations with intervals, whose elements kill nft 1.0.6's monitor.
      { reader: 'events' },
    );
  }

  stop(): void {
    this.stopped = true;
    this.monitor?.stop();
    this.nftMonitor?.stop();
    void this.netnsWatch?.then((w) => w?.close());
    clearInterval(this.resync);
    clearTimeout(this.timer);
    clearTimeout(this.debounce);
    clearTimeout(this.checkTimer);
  }

  setDesired(revision: number, resources: DesiredResource[]): void {
    this.desired = resources;
    this.revision = revision;
    this.kick(0);
  }

  /** A periodic resync's pass: everything re-read from the kernel, then reconciled. */
  async resyncNow(): Promise<void> {
    this.invalidate();
    await this.reconcileNow();
  }

  /** What is cached of the kernel is read again next pass. */
  private invalidate(): void {
    this.linkCache.invalidate();
    this.netnsView.invalidate();
    this.portSecurity.forget();
    this.lookAtOverlays = true;
  }

  /** A plugin asked for a pass: one runs soon (requests close together coalesce). */
  requestPass(): void {
    this.kick(REQUEST_DEBOUNCE_MS);
  }

  /**
   * Observes the plugins' resources again without reconciling, after any running pass (never at
   * the same time as one), and reports the last pass's statuses with what they observe now.
   * Does nothing before a first pass, or when no plugin that observes has resources here.
   */
  async observeNow(): Promise<void> {
    const plugins = this.options.plugins;
    if (this.observing) return;
    this.observing = true;
    try {
      const started = Date.now();
      const secured = this.desired?.some(isSecuredPort) ?? false;
      // Beside a running pass, not after it: a read of counters (nft lists one generation whole) need not hold a pass up.
      if (secured && !this.stopped) {
        const counters = await this.linux.nftCounters('bridge', this.names.portSecurityTable).catch((error: unknown) => {
          this.options.log(`reading the port-security counters: ${error instanceof Error ? error.message : String(error)}`);
          return null;
        });
        if (counters) this.portSecurity.noteDrops(counters);
      }
      while (this.running) await this.running;
      const last = this.last;
      if (this.stopped || !last || (!plugins?.wantsObserve && !secured)) return;
      await this.exclusive(async () => {
        let statuses = last.statuses;
        if (secured) statuses = withDrops(statuses, droppedByPort(this.desired ?? [], this.portSecurity.drops, this.names));
        if (plugins?.wantsObserve) statuses = await plugins.observe(statuses);
        this.last = { ...last, statuses };
        this.onReport({ revision: last.revision, statuses, mutatingCommands: 0, ms: Date.now() - started, observeOnly: true });
      });
    } finally {
      this.observing = false;
    }
  }

  /**
   * Every desired port's counters from one dump of this namespace's links (the host ends of all
   * ports are here), with the spoofed frames as the last observe read them; undefined before a
   * desired state is known. Beside any pass: it only reads.
   */
  async readPortCounters(): Promise<PortCountersEntry[] | undefined> {
    const desired = this.desired;
    if (!desired) return undefined;
    const stats = await this.linux.linkStats();
    const ports = desired.filter((r) => r.kind === ResourceKind.Port).map((r) => r.id);
    return portCounters(ports, stats, (id) => this.names.veth(id), droppedByPort(desired, this.portSecurity.drops, this.names));
  }

  /** Runs a pass now (or right after the running one) and resolves when it is done. */
  async reconcileNow(): Promise<void> {
    this.kick(0);
    while (this.running) await this.running;
  }

  private kick(delayMs: number): void {
    if (this.stopped || !this.desired) return;
    if (delayMs > 0) {
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => this.kick(0), delayMs);
      return;
    }
    if (this.running) {
      this.again = true;
      return;
    }
    void this.exclusive(() => this.timedPass());
  }

  /** A pass, told to `onPass` however it ends. */
  private async timedPass(): Promise<void> {
    const started = performance.now();
    let result: PassResult = 'error';
    try {
      await this.pass();
      result = this.last?.statuses.every((s) => s.state === RealizationState.APPLIED) ? 'applied' : 'failed';
    } finally {
      this.options.onPass?.(result, (performance.now() - started) / 1_000);
    }
  }

  /**
   * Runs `task` as the one thing running (a pass or an observe); a pass asked for meanwhile
   * follows it. Resolves when the task is done; never rejects (a failure is logged).
   */
  private exclusive(task: () => Promise<void>): Promise<void> {
    const running = task()
      .catch((error: unknown) => this.options.log(`reconcile failed: ${error instanceof Error ? error.message : String(error)}`, { level: 'error', err: error }))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick(0);
        } else if (this.checkPending) {
          this.checkPending = false;
          this.check();
        }
      });
    this.running = running;
    return running;
  }

  /** What the kernel holds; `portSecurity` is an Error when the table could not be listed. */
  private async observe(desired: DesiredResource[]): Promise<Observed & { portSecurity: PortSecurityState | null | Error }> {
    const [links, { files, mounted }, portSecurity] = await Promise.all([
      this.linkCache.read(),
      this.netnsView.read(),
      this.portSecurity.read().catch((error: unknown) => (error instanceof Error ? error : new Error(String(error)))),
    ]);
    const netns = new Set(files.filter((ns) => mounted.has(ns)));
    const deadNetns = new Set(files.filter((ns) => !mounted.has(ns)));
    const observed: Observed & { portSecurity: PortSecurityState | null | Error } = { links, netns, deadNetns, portAddresses: new Map(), overlay: new Map(), portSecurity };
    const look = this.lookAtOverlays;
    this.lookAtOverlays = false;
    await Promise.all(
      networksToInspect({ desired, observed, applied: this.applied, names: this.names }, look).map(async (networkId) => {
        const device = this.names.vxlan(networkId);
        const ifindex = links.get(device)!.ifindex;
        const known = this.overlays.get(networkId);
        if (!look && known?.ifindex === ifindex) {
          observed.overlay.set(networkId, known.entries);
          return;
        }
        const [fdb, neigh] = await Promise.all([this.linux.bridgeFdb(undefined, device), this.linux.neighbours(undefined, device)]);
        const entries = {
          fdb: fdb.filter((e) => e.dst !== undefined).map((e) => ({ mac: e.mac === FLOOD_MAC ? FLOOD_MAC : e.mac.toLowerCase(), dst: e.dst! })),
          neigh: neigh.filter((n) => n.lladdr && n.state.includes('PERMANENT')).map((n) => ({ ip: n.dst, mac: n.lladdr!.toLowerCase() })),
        };
        observed.overlay.set(networkId, entries);
        this.overlays.set(networkId, { ifindex, entries });
      }),
    );
    // At a resync, the VLAN programs on the trunk ends are read too: ones removed or changed by hand are put back.
    if (look) {
      const networks = desired.filter((r): r is DesiredResource<NetworkSpec> => r.kind === ResourceKind.Network);
      const { uplinks } = providerLayout(networks, this.options.providerMappings ?? new Map(), this.names, this.options.vlanSupported);
      const peers = [...uplinks.values()].flatMap((u) => (u.trunk && links.has(u.trunk.peer) ? [u.trunk.peer] : []));
      const programAt = async (hook: 'ingress' | 'egress', peer: string): Promise<string | null> =>
        (await this.linux.tcFilters(undefined, peer, hook)).find((f) => f.kind === 'bpf' && f.prio === 1)?.bpfName?.replace(/:\[[^\]]*\]$/, '') ?? null;
      // One that cannot be read (gone meanwhile) is left out: not known, so not taken for drift.
      const read = await Promise.all(
        peers.map((peer) => Promise.all([programAt('ingress', peer), programAt('egress', peer)]).then(([ingress, egress]) => [[peer, { ingress, egress }] as const], () => [])),
      );
      observed.trunkPrograms = new Map(read.flat());
    }
    const inspect = portsToInspect({ desired, observed, applied: this.applied, names: this.names });
    await Promise.all(
      inspect.map(async (portId) => {
        const port = desired.find((r) => r.id === portId)!;
        const { netns: ns, ifname } = this.names.portPlace(portId, (port.spec as PortSpec).netns);
        const addrs = await this.linux.addresses(ns, ifname).catch(() => []);
        const global = addrs.flatMap((a) => a.addresses.filter((x) => x.scope !== 'link').map((x) => `${x.local}/${x.prefixlen}`));
        observed.portAddresses.set(portId, global);
      }),
    );
    return observed;
  }

  private async pass(): Promise<void> {
    const started = Date.now();
    const all = this.desired!;
    const plugins = this.options.plugins;
    const desired = plugins ? all.filter((r) => !plugins.handles(r.kind)) : all;
    const revision = this.revision;
    const mutatingBefore = this.linux.runner.mutatingCount;
    const commandsBefore = mutatingBefore + this.linux.runner.readCount;
    trace('agent.pass.start', revision);
    const now = Date.now();
    const skip = new Set<string>();
    const byKey = new Map(all.map((r) => [resourceKey(r), r]));
    for (const [key, b] of this.backoff) {
      const r = byKey.get(key);
      if (!r || specHashOf(r) !== b.hash) this.backoff.delete(key);
      else if (b.terminal || (b.until > now && !b.retryOnly)) skip.add(key);
    }

    const observed = await this.observe(desired);
    trace('agent.pass.observed', revision);
    const p = (() => {
      try {
        return plan({
          desired,
          observed,
          applied: this.applied,
          names: this.names,
          skip,
          held: heldPorts(desired, this.last?.statuses ?? []),
          providerMappings: this.options.providerMappings,
          vlanSupported: this.options.vlanSupported,
        });
      } catch (error) {
        // An unsafe name or value reached the kernel door: nothing runs, every resource waits.
        if (error instanceof LinuxInputError) {
          return undefined;
        }
        throw error;
      }
    })();
    trace('agent.pass.planned', revision);
    const failures = new Map<string, PlanFailure>();
    if (!p) {
      for (const r of desired) failures.set(resourceKey(r), { key: resourceKey(r), reason: 'invalid desired state', terminal: true });
    } else {
      for (const f of p.failures) failures.set(f.key, f);
      const failSecured = (error: unknown, keys: string[]): void => {
        const reason = `port security: ${error instanceof Error ? error.message : String(error)}`.slice(0, 500);
        // Retried next pass (the table is listed again); its ports fail meanwhile.
        this.options.log(reason, { level: 'warn', revision, resources: keys });
        for (const key of keys) failures.set(key, { key, reason, terminal: false });
      };
      // Port filters go in beside the root batch: only a port's inside can send, and it comes up
      // in the namespace batch, after both; a port whose elements failed is not configured inside
      // this time (nor is any secured port while the table cannot even be listed). A port going
      // into a user's namespace, where someone may already be, waits for its filter.
      let filtered: Promise<void> = Promise.resolve();
      if (observed.portSecurity instanceof Error) {
        failSecured(observed.portSecurity, desired.filter(isSecuredPort).map(resourceKey));
      } else {
        const security = planPortSecurity(desired, observed.portSecurity, this.names, skip);
        for (const { key, reason } of security.invalid) failures.set(key, { key, reason, terminal: true });
        if (security.script) {
          const written = this.portSecurity.writing();
          this.nftWritesInFlight += 1;
          filtered = this.linux
            .nftApply(security.script, undefined, (pid) => this.ownWrite(pid))
            .then(
              // What the script left is what the table holds, unless someone else wrote it meanwhile.
              () => written(security.after),
              (error: unknown) => {
                this.portSecurity.forget();
                failSecured(error, security.written);
              },
            )
            .finally(() => this.nftWriteDone());
          if (intoUserNetns(desired, p.root)) await filtered;
        }
      }
      trace('agent.pass.portsec', revision);
      const failedBefore = failures.size;
      // The overlay's forwarding entries: beside the root batch unless it makes their device.
      const forwarding = (): Promise<BatchResult | undefined> =>
        p.fdb.length ? this.linux.applyBridgeBatch(p.fdb).catch((e: unknown) => wholeBatchFailed(p.fdb.lines, e)) : Promise.resolve(undefined);
      const early = p.fdbAfterRoot ? undefined : forwarding();
      const root = filterBatch(p.root, failures);
      const [rooted] = await Promise.all([this.apply([root]), filtered]);
      if (rooted[0]) this.netnsView.ran(root, rooted[0]);
      collect(rooted, failures);
      // What the collector removed is not read back: everything is, next pass (a veth goes with its namespace, unnamed).
      if (root.lines.some((l) => l.key?.startsWith('gc/'))) this.linkCache.invalidate();
      trace('agent.pass.root', revision);
      // A port whose root-side objects failed is not configured inside its namespace this time.
      const inNetns = p.inNetns
        .map((batch) => filterBatch(batch, failures))
        .filter((batch) => batch.length > 0);
      // The overlay's entries, the insides and the check of the links touch different things: at once.
      // A network whose links were not touched (only its overlay's entries) needs no check.
      const touched = desired.filter((r) => p.changed.has(resourceKey(r)) && (r.kind !== ResourceKind.Network || p.linksTouched.has(resourceKey(r))));
      // The VLAN programs go on trunk ends the root batch made.
      const tc = filterBatch(p.tc, failures);
      const programs = tc.length ? this.linux.applyTcBatch(tc).catch((e: unknown) => wholeBatchFailed(tc.lines, e)) : undefined;
      const [fdb, inside, tagged] = await Promise.all([early ?? forwarding(), this.apply(inNetns), programs, this.verify(touched, failures, p.heldDown, p.attributes)]);
      collect([...(fdb ? [fdb] : []), ...(tagged ? [tagged] : []), ...inside], failures);
      // Something the kernel refused: the next pass reads the namespaces whole (one may have died unseen).
      if (failures.size > failedBefore) this.netnsView.invalidate();
      trace('agent.pass.netns', revision);
      for (const [key, hash] of p.changed) {
        const id = key.slice(key.indexOf('/') + 1);
        if (failures.has(key)) this.applied.delete(id);
        else this.applied.set(id, hash);
      }
      // What the devices hold now, as programmed (read again after a failure, or when made again).
      for (const [networkId, entries] of p.overlay) {
        const device = this.linkCache.get(this.names.vxlan(networkId));
        if (failures.has(resourceKey({ kind: ResourceKind.Network, id: networkId })) || !device) this.overlays.delete(networkId);
        else this.overlays.set(networkId, { ifindex: device.ifindex, entries });
      }
    }
    const desiredIds = new Set(desired.map((r) => r.id));
    for (const id of [...this.applied.keys()]) if (!desiredIds.has(id)) this.applied.delete(id);
    for (const id of [...this.overlays.keys()]) if (!desiredIds.has(id)) this.overlays.delete(id);

    let pluginStatuses: ResourceStatusReport[] = [];
    if (plugins) {
      // After the core apply, so the bridges of this host's networks (and its ports) exist for the plugins.
      const bridges = new Map(desired.filter((r) => r.kind === ResourceKind.Network).map((r) => [r.id, this.names.bridge(r.id)]));
      const ports = new Map(desired.filter((r) => r.kind === ResourceKind.Port).map((r) => [r.id, this.portPlace(r)] as const));
      // Port namespaces that were not there before this pass (made, or made again).
      const made = [...ports.values()].map((place) => place.netns).filter((ns) => !observed.netns.has(ns));
      pluginStatuses = await plugins.reconcile(all.filter((r) => plugins.handles(r.kind)), bridges, ports, made, [...observed.netns]);
    }
    trace('agent.pass.plugins', revision);
    // A plugin resource that failed is retried after its own backoff, as a core one (never
    // skipped: a plugin's reconcile takes every resource of its kinds, and removes what it is not given).
    for (const s of pluginStatuses) {
      const key = resourceKey(s);
      const r = byKey.get(key);
      if (!r) continue;
      if (s.state === RealizationState.FAILED) this.fail(key, r, { key, reason: s.reason ?? 'failed', terminal: false }, true);
      else this.backoff.delete(key);
    }
    // Ports this pass left down whose guards are now in place come up, after them, in this same pass.
    const { up, holds } = release(desired, p?.heldDown ?? new Set(), pluginStatuses, failures, this.names);
    collect(await this.apply([up]), failures);

    const drops = droppedByPort(desired, this.portSecurity.drops, this.names);
    const statuses: ResourceStatusReport[] = desired.map((r) => {
      const key = resourceKey(r);
      const failure = failures.get(key);
      const hold = holds.get(key);
      const backingOff = this.backoff.get(key);
      if (failure) this.fail(key, r, failure);
      else if (hold) this.fail(key, r, { key, reason: hold, terminal: false }, true);
      else if (!skip.has(key)) this.backoff.delete(key);
      const reason = failure?.reason ?? hold ?? (skip.has(key) ? backingOff?.reason : undefined);
      return {
        kind: r.kind,
        id: r.id,
        generation: r.generation,
        state: reason ? RealizationState.FAILED : RealizationState.APPLIED,
        ...(reason ? { reason } : {}),
        attributes: { ...(p?.attributes.get(key) ?? {}), ...(isSecuredPort(r) ? { [DROPPED]: String(drops.get(r.id) ?? 0) } : {}) },
      };
    });
    statuses.push(...pluginStatuses);
    trace('agent.pass.statuses', revision);
    this.scheduleRetry();
    this.last = { revision, statuses, mutatingCommands: this.linux.runner.mutatingCount - mutatingBefore, ms: Date.now() - started, observeOnly: false };
    // The ack first: what is applied is written after it (a crash in between costs a pass that
    // changes nothing). The desired state it was made from is written before the pass began.
    this.onReport(this.last);
    const writing = performance.now();
    this.store.writeApplied({ revision, ports: Object.fromEntries(this.applied) });
    trace('agent.pass.stored', revision, (performance.now() - writing).toFixed(2));
    if (TRACE_ENABLED) this.traceCommands(revision, this.linux.runner.mutatingCount + this.linux.runner.readCount - commandsBefore);
  }

  /** The pass's last `count` commands, one trace line each: wall time, then the command (no stdin). */
  private traceCommands(revision: number, count: number): void {
    const log = this.linux.runner.log;
    for (const c of log.slice(Math.max(0, log.length - count))) trace('agent.command', revision, `${c.ms.toFixed(2)} ${c.mutating ? 'w' : 'r'} ${c.command} ${c.args.join(' ')}`);
  }

  private async apply(batches: IpBatch[]): Promise<BatchResult[]> {
    const nonEmpty = batches.filter((b) => b.length > 0);
    if (!nonEmpty.length) return [];
    return this.linux.applyIpBatches(nonEmpty);
  }

  /**
   * Re-reads the links: every bridge and veth this pass touched must exist, be up and sit where
   * it should (a port held down by its guards: down).
   */
  private async verify(
    touched: DesiredResource[],
    failures: Map<string, PlanFailure>,
    heldDown: ReadonlySet<string>,
    attributes: ReadonlyMap<string, Record<string, string>>,
  ): Promise<void> {
    if (!touched.length) return;
    const uplinkOf = (r: DesiredResource): string | undefined => attributes.get(resourceKey(r))?.uplink;
    const links = await this.readLinks(
      touched.flatMap((r) =>
        r.kind === ResourceKind.Network
          ? [this.names.bridge(r.id), ...((r.spec as NetworkSpec).vxlan ? [this.names.vxlan(r.id)] : []), ...(uplinkOf(r) ? [uplinkOf(r)!] : [])]
          : [this.names.veth(r.id)],
      ),
    );
    for (const r of touched) {
      const key = resourceKey(r);
      if (failures.has(key)) continue;
      if (r.kind === ResourceKind.Network) {
        const bridge = links.get(this.names.bridge(r.id));
        const vxlan = (r.spec as NetworkSpec).vxlan ? links.get(this.names.vxlan(r.id)) : undefined;
        const uplink = uplinkOf(r);
        if (!bridge?.up) failures.set(key, { key, reason: 'bridge missing or down after apply', terminal: false });
        else if ((r.spec as NetworkSpec).vxlan && (!vxlan?.up || vxlan.master !== bridge.ifname)) {
          failures.set(key, { key, reason: 'VXLAN device missing, down or off its bridge after apply', terminal: false });
        } else if (uplink && (!links.get(uplink)?.up || links.get(uplink)?.master !== bridge.ifname)) {
          failures.set(key, { key, reason: `uplink ${uplink} missing, down or off its bridge after apply`, terminal: false });
        }
      } else if (r.kind === ResourceKind.Port) {
        const veth = links.get(this.names.veth(r.id));
        const bridge = this.names.bridge((r.spec as { networkId: string }).networkId);
        if (!veth || veth.master !== bridge || (!veth.up && !heldDown.has(r.id))) {
          failures.set(key, { key, reason: 'veth missing, down or off its bridge after apply', terminal: false });
        }
      }
    }
  }

  /** The named links: one read each when few, else one read of all (cheaper past a handful). */
  private async readLinks(names: string[]): Promise<Map<string, LinkInfo>> {
    if (names.length <= 16) return this.linkCache.refresh(names);
    this.linkCache.invalidate();
    return this.linkCache.read();
  }

  /** Where a port lives, as plugins see it: made again only when its spec changed (a pass with 1000 ports made 1000 of them). */
  private readonly places = new WeakMap<object, PortPlace>();
  private portPlace(r: DesiredResource): PortPlace {
    const spec = r.spec as PortSpec;
    let place = this.places.get(spec);
    if (!place) {
      // Addresses only where port security enforces them: they then tell the port's traffic
      // apart. The link-local of its own MAC is one (port security allows it on every port).
      const own = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(spec.mac) ? [linkLocal(spec.mac)] : [];
      const addresses = [...spec.addresses.map((a) => a.cidr.split('/')[0]), ...own, ...(spec.allowedAddressPairs ?? []).map((p) => p.ip)];
      place = { ...this.names.portPlace(r.id, spec.netns), hostIfname: this.names.veth(r.id), bridge: this.names.bridge(spec.networkId), ...(spec.portSecurity === false ? {} : { addresses }) };
      this.places.set(spec, place);
    }
    return place;
  }

  private fail(key: string, r: DesiredResource, failure: PlanFailure, retryOnly = false): void {
    const attempts = (this.backoff.get(key)?.attempts ?? 0) + 1;
    const delay = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** (attempts - 1));
    this.backoff.set(key, { attempts, until: Date.now() + delay, hash: specHashOf(r), reason: failure.reason, terminal: failure.terminal, retryOnly });
  }

  private scheduleRetry(): void {
    clearTimeout(this.timer);
    const next = Math.min(...[...this.backoff.values()].filter((b) => !b.terminal).map((b) => b.until));
    if (Number.isFinite(next)) {
      this.timer = setTimeout(() => this.kick(0), Math.max(0, next - Date.now()));
      this.timer.unref();
    }
  }
}

const specHashOf = (r: DesiredResource): string => `${r.generation}:${specHash(r)}`;

/** The status attribute with a port's dropped (spoofed) frames, as counted on its host end. */
export const DROPPED = 'droppedSpoofedPackets';

const isSecuredPort = (r: DesiredResource): boolean => r.kind === ResourceKind.Port && (r.spec as PortSpec).portSecurity !== false;

/** Whether the root batch makes (or moves) the veth of a secured port whose namespace is a user's. */
function intoUserNetns(desired: readonly DesiredResource[], root: IpBatch): boolean {
  const keys = new Set(root.lines.map((l) => l.key));
  return desired.some((r) => isSecuredPort(r) && (r.spec as PortSpec).netns !== null && keys.has(resourceKey(r)));
}

/** The statuses with each secured port's dropped count as read now. */
function withDrops(statuses: ResourceStatusReport[], drops: ReadonlyMap<string, number>): ResourceStatusReport[] {
  return statuses.map((s) => {
    const packets = s.kind === ResourceKind.Port ? drops.get(s.id) : undefined;
    return packets === undefined ? s : { ...s, attributes: { ...s.attributes, [DROPPED]: String(packets) } };
  });
}

function collect(results: BatchResult[], failures: Map<string, PlanFailure>): void {
  for (const result of results) {
    for (const f of result.failed) {
      const key = f.key ?? 'unknown';
      if (!failures.has(key)) failures.set(key, { key, reason: `${f.text}: ${f.error}`.slice(0, 500), terminal: false });
    }
  }
}

/** The same batch without the lines of resources that already failed. */
function filterBatch<B extends IpBatch | TcBatch>(batch: B, failures: Map<string, PlanFailure>): B {
  const out = (batch instanceof TcBatch ? new TcBatch(batch.netns) : new IpBatch(batch.netns)) as B;
  if (batch instanceof TcBatch && out instanceof TcBatch) for (const [file, program] of batch.programs) out.programs.set(file, program);
  out.lines.push(...batch.lines.filter((l) => !l.key || !failures.has(l.key)));
  return out;
}
