import { BatchResult, IpBatch, LinkInfo, Linux, LinuxInputError, NftTableView, wholeBatchFailed } from '@netloom/linux';
import { DesiredResource, NetworkSpec, PortSpec, RealizationState, ResourceKind, resourceKey, ResourceStatusReport } from '@netloom/model';
import { heldPorts, release } from './guards';
import { Names } from './naming';
import type { PluginHost } from './plugin-host';
import { LinkCache } from './link-cache';
import { FLOOD_MAC, networksToInspect, Observed, plan, PlanFailure, portsToInspect, specHash } from './plan';
import { droppedByPort, planPortSecurity } from './port-security';
import { StateStore } from './state-store';

export interface ReconcilerOptions {
  /** Periodic resync, catching what events missed. */
  resyncMs: number;
  /** Quiet time after a kernel event before reconciling. */
  debounceMs: number;
  log: (line: string) => void;
  /** The loaded plugins: their kinds go to them, after the core apply, instead of the core planner. */
  plugins?: PluginHost;
}

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
 * and left alone until its spec changes.
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
  private resync: NodeJS.Timeout | undefined;
  private monitor: { stop(): void } | undefined;
  private nftMonitor: { stop(): void } | undefined;
  /** Pids of our own `nft -f` writes of the port-security table whose transaction is not heard yet. */
  private readonly ownNftWrites = new Set<number>();
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
    // The plugins' links too: their contexts read them here instead of listing every link.
    this.linkCache = new LinkCache(linux, (name) => names.ownsLink(name) || names.ownsPluginLink(name));
    options.plugins?.useHostLinks({
      read: async () => [...(await this.linkCache.read()).values()],
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
      this.linkCache.invalidate();
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
          if (name === undefined || this.names.ownsNetns(name)) this.kick(this.options.debounceMs);
        })
        .catch((error: unknown) => {
          this.options.log(`cannot watch the namespaces directory (${error instanceof Error ? error.message : String(error)}); the resync catches what it misses`);
          return undefined;
        });
    }
    this.monitor = this.linux.monitorLinks(
      (event) => {
        if (event.ifname !== undefined && !this.names.ownsLink(event.ifname) && !this.names.ownsPluginLink(event.ifname)) return;
        this.linkCache.touched(event.ifname);
        this.kick(this.options.debounceMs);
      },
      undefined,
      (error) => {
        this.options.log(`link monitor ended (${error.message}); restarting`);
        this.linkCache.invalidate();
        setTimeout(() => this.watch(), 1_000).unref();
      },
    );
  }

  private ownWrite(pid: number): void {
    // A write that failed is never heard: forget old pids rather than keep them all.
    if (this.ownNftWrites.size >= 64) this.ownNftWrites.clear();
    this.ownNftWrites.add(pid);
  }

  /**
   * The port-security table changed by anyone but this agent (a hand edit, a flush) triggers a
   * pass at once, which lists the table and puts back what differs: ports are not left unfiltered
   * until the next resync. One `nft monitor` in the host namespace; a dead one is restarted.
   */
  private watchNft(): void {
    if (this.stopped) return;
    this.nftMonitor = this.linux.monitorNft(
      (t) => {
        if (!t.tables.some((x) => x.family === 'bridge' && x.table === this.names.portSecurityTable)) return;
        if (this.ownNftWrites.delete(t.pid)) return;
        this.options.log(`port-security table changed by process ${t.pid} (${t.comm}): putting it back`);
        this.kick(0);
      },
      undefined,
      (error) => {
        if (this.stopped) return;
        this.options.log(`nft monitor ended (${error.message}); restarting`);
        setTimeout(() => this.watchNft(), 1_000).unref();
      },
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
  }

  setDesired(revision: number, resources: DesiredResource[]): void {
    this.desired = resources;
    this.revision = revision;
    this.kick(0);
  }

  /** A periodic resync's pass: everything re-read from the kernel, then reconciled. */
  async resyncNow(): Promise<void> {
    this.linkCache.invalidate();
    await this.reconcileNow();
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
      while (this.running) await this.running;
      const last = this.last;
      const secured = this.desired?.some(isSecuredPort) ?? false;
      if (this.stopped || !last || (!plugins?.wantsObserve && !secured)) return;
      await this.exclusive(async () => {
        const started = Date.now();
        let statuses = last.statuses;
        if (secured) statuses = withDrops(statuses, droppedByPort(this.desired ?? [], await this.readPortSecurity(), this.names));
        if (plugins?.wantsObserve) statuses = await plugins.observe(statuses);
        this.last = { ...last, statuses };
        this.onReport({ revision: last.revision, statuses, mutatingCommands: 0, ms: Date.now() - started, observeOnly: true });
      });
    } finally {
      this.observing = false;
    }
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
    void this.exclusive(() => this.pass());
  }

  /**
   * Runs `task` as the one thing running (a pass or an observe); a pass asked for meanwhile
   * follows it. Resolves when the task is done; never rejects (a failure is logged).
   */
  private exclusive(task: () => Promise<void>): Promise<void> {
    const running = task()
      .catch((error: unknown) => this.options.log(`reconcile failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick(0);
        }
      });
    this.running = running;
    return running;
  }

  /** This host's port-security table, as nft lists it (null: not there). */
  private readPortSecurity(): Promise<NftTableView | null> {
    return this.linux.nftTable('bridge', this.names.portSecurityTable);
  }

  /** What the kernel holds; `portSecurity` is an Error when the table could not be listed. */
  private async observe(desired: DesiredResource[]): Promise<Observed & { portSecurity: NftTableView | null | Error }> {
    const [links, files, mounted, portSecurity] = await Promise.all([
      this.linkCache.read(),
      this.linux.netnsList(),
      this.linux.netnsMounted(),
      this.readPortSecurity().catch((error: unknown) => (error instanceof Error ? error : new Error(String(error)))),
    ]);
    const netns = new Set(files.filter((ns) => mounted.has(ns)));
    const deadNetns = new Set(files.filter((ns) => !mounted.has(ns)));
    const observed = { links, netns, deadNetns, portAddresses: new Map(), overlay: new Map(), portSecurity };
    await Promise.all(
      networksToInspect({ desired, observed, applied: this.applied, names: this.names }).map(async (networkId) => {
        const device = this.names.vxlan(networkId);
        const [fdb, neigh] = await Promise.all([this.linux.bridgeFdb(undefined, device), this.linux.neighbours(undefined, device)]);
        observed.overlay.set(networkId, {
          fdb: fdb.filter((e) => e.dst !== undefined).map((e) => ({ mac: e.mac === FLOOD_MAC ? FLOOD_MAC : e.mac.toLowerCase(), dst: e.dst! })),
          neigh: neigh.filter((n) => n.lladdr && n.state.includes('PERMANENT')).map((n) => ({ ip: n.dst, mac: n.lladdr!.toLowerCase() })),
        });
      }),
    );
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
    const now = Date.now();
    const skip = new Set<string>();
    const byKey = new Map(desired.map((r) => [resourceKey(r), r]));
    for (const [key, b] of this.backoff) {
      const r = byKey.get(key);
      if (!r || specHashOf(r) !== b.hash) this.backoff.delete(key);
      else if (b.terminal || (b.until > now && !b.retryOnly)) skip.add(key);
    }

    const observed = await this.observe(desired);
    const p = (() => {
      try {
        return plan({ desired, observed, applied: this.applied, names: this.names, skip, held: heldPorts(desired, this.last?.statuses ?? []) });
      } catch (error) {
        // An unsafe name or value reached the kernel door: nothing runs, every resource waits.
        if (error instanceof LinuxInputError) {
          return undefined;
        }
        throw error;
      }
    })();
    const failures = new Map<string, PlanFailure>();
    if (!p) {
      for (const r of desired) failures.set(resourceKey(r), { key: resourceKey(r), reason: 'invalid desired state', terminal: true });
    } else {
      for (const f of p.failures) failures.set(f.key, f);
      // Port filters first: a port's host end never comes up before its elements are in place
      // (by name, so they can precede the link), and a port whose elements failed is not made
      // this time (nor is any secured port while the table cannot even be listed).
      const failSecured = (error: unknown, keys: string[]): void => {
        const reason = `port security: ${error instanceof Error ? error.message : String(error)}`.slice(0, 500);
        // Retried next pass (the table is listed again); its ports fail meanwhile.
        this.options.log(reason);
        for (const key of keys) failures.set(key, { key, reason, terminal: false });
      };
      if (observed.portSecurity instanceof Error) {
        failSecured(observed.portSecurity, desired.filter(isSecuredPort).map(resourceKey));
      } else {
        const security = planPortSecurity(desired, observed.portSecurity, this.names, skip);
        for (const { key, reason } of security.invalid) failures.set(key, { key, reason, terminal: true });
        if (security.script) {
          await this.linux
            .nftApply(security.script, undefined, (pid) => this.ownWrite(pid))
            .catch((error: unknown) => failSecured(error, security.written));
        }
      }
      collect(await this.apply([filterBatch(p.root, failures)]), failures);
      if (p.fdb.length) collect([await this.linux.applyBridgeBatch(p.fdb).catch((e: unknown) => wholeBatchFailed(p.fdb.lines, e))], failures);
      // A port whose root-side objects failed is not configured inside its namespace this time.
      const inNetns = p.inNetns
        .map((batch) => filterBatch(batch, failures))
        .filter((batch) => batch.length > 0);
      collect(await this.apply(inNetns), failures);
      await this.verify(desired.filter((r) => p.changed.has(resourceKey(r))), failures, p.heldDown);
      for (const [key, hash] of p.changed) {
        const id = key.slice(key.indexOf('/') + 1);
        if (failures.has(key)) this.applied.delete(id);
        else this.applied.set(id, hash);
      }
    }
    const desiredIds = new Set(desired.map((r) => r.id));
    for (const id of [...this.applied.keys()]) if (!desiredIds.has(id)) this.applied.delete(id);

    let pluginStatuses: ResourceStatusReport[] = [];
    if (plugins) {
      // After the core apply, so the bridges of this host's networks (and its ports) exist for the plugins.
      const bridges = new Map(desired.filter((r) => r.kind === ResourceKind.Network).map((r) => [r.id, this.names.bridge(r.id)]));
      const ports = new Map(desired.filter((r) => r.kind === ResourceKind.Port).map((r) => [r.id, this.names.portPlace(r.id, (r.spec as PortSpec).netns)]));
      // Port namespaces that were not there before this pass (made, or made again).
      const made = [...ports.values()].map((place) => place.netns).filter((ns) => !observed.netns.has(ns));
      pluginStatuses = await plugins.reconcile(all.filter((r) => plugins.handles(r.kind)), bridges, ports, made);
    }
    // Ports this pass left down whose guards are now in place come up, after them, in this same pass.
    const { up, holds } = release(desired, p?.heldDown ?? new Set(), pluginStatuses, failures, this.names);
    collect(await this.apply([up]), failures);

    const drops = droppedByPort(desired, observed.portSecurity instanceof Error ? null : observed.portSecurity, this.names);
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
    this.store.writeApplied({ revision, ports: Object.fromEntries(this.applied) });
    this.scheduleRetry();
    this.last = { revision, statuses, mutatingCommands: this.linux.runner.mutatingCount - mutatingBefore, ms: Date.now() - started, observeOnly: false };
    this.onReport(this.last);
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
  private async verify(touched: DesiredResource[], failures: Map<string, PlanFailure>, heldDown: ReadonlySet<string>): Promise<void> {
    if (!touched.length) return;
    const links = await this.readLinks(
      touched.flatMap((r) =>
        r.kind === ResourceKind.Network
          ? [this.names.bridge(r.id), ...((r.spec as NetworkSpec).vxlan ? [this.names.vxlan(r.id)] : [])]
          : [this.names.veth(r.id)],
      ),
    );
    for (const r of touched) {
      const key = resourceKey(r);
      if (failures.has(key)) continue;
      if (r.kind === ResourceKind.Network) {
        const bridge = links.get(this.names.bridge(r.id));
        const vxlan = (r.spec as NetworkSpec).vxlan ? links.get(this.names.vxlan(r.id)) : undefined;
        if (!bridge?.up) failures.set(key, { key, reason: 'bridge missing or down after apply', terminal: false });
        else if ((r.spec as NetworkSpec).vxlan && (!vxlan?.up || vxlan.master !== bridge.ifname)) {
          failures.set(key, { key, reason: 'VXLAN device missing, down or off its bridge after apply', terminal: false });
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
function filterBatch(batch: IpBatch, failures: Map<string, PlanFailure>): IpBatch {
  const out = new IpBatch(batch.netns);
  out.lines.push(...batch.lines.filter((l) => !l.key || !failures.has(l.key)));
  return out;
}
