import { join } from 'node:path';
import { Linux } from '@netloom/linux';
import { DesiredResource, RealizationState, resourceKey, ResourceStatusReport } from '@netloom/model';
import { createHostContext, type DesiredPluginResource, type HostContext, type HostContextOptions, type ManagedHostContext, type PluginDefinition } from '@netloom/plugin-sdk';
import type { Log } from './log';
import { parsedJson } from './sent-statuses';

/** How long one plugin's reconcile (or observe) may take before it counts as failed. */
export const PLUGIN_TIMEOUT_MS = 30_000;
/** How long a plugin's `stop()` may take when the agent stops. */
export const PLUGIN_STOP_TIMEOUT_MS = 5_000;

export interface PluginHostOptions {
  linux: Linux;
  agentPrefix: string;
  hostId: string;
  plugins: readonly PluginDefinition[];
  log: Log;
  timeoutMs?: number;
  /** A plugin asked for a pass (`host.requestReconcile`); the context has logged why. */
  requestReconcile?: (reason: string) => void;
  /** Called after each plugin's reconcile in a pass with how long it took (a timed-out one: its timeout). */
  onReconciled?: (pluginId: string, seconds: number) => void;
  /** Programs plugins may run as daemons (`--daemon-allow`), and the folder of their folders (one per plugin id). */
  daemons?: { allow: readonly string[]; dir: string };
}

interface Loaded {
  plugin: PluginDefinition;
  host: ManagedHostContext;
  /** What call outlived its timeout (`reconcile`, `observe`): the plugin is not called again until it ends. */
  running?: string;
  /** What its last reconcile was given, for observing between passes. */
  desired: DesiredPluginResource[];
}

const TIMEOUT = Symbol('timeout');

type HostLinks = NonNullable<HostContextOptions['hostLinks']>;

/** Where a core port lives on this host: its namespace and its interface there. */
type PortPlace = NonNullable<ReturnType<HostContext['port']>>;

/**
 * Runs the agent halves of the loaded plugins after the core apply of a pass: each gets the
 * desired resources of its kinds and its own host context, then is asked what it observes of
 * them. A plugin that throws or times out fails only its own resources (an observe that does
 * yields no observed state).
 */
export class PluginHost {
  private readonly byKind = new Map<string, Loaded>();
  private readonly loaded: Loaded[] = [];
  /** Network id → bridge, refreshed each pass; shared by reference with every context. */
  private readonly bridges = new Map<string, string>();
  /** Port id → its namespace and interface, refreshed each pass; shared like the bridges. */
  private readonly ports = new Map<string, PortPlace>();
  private readonly timeoutMs: number;
  /** The agent's link cache, once the reconciler gives it (see {@link useHostLinks}). */
  private hostLinks: HostLinks | undefined;
  /** The live namespaces the running pass read, while {@link reconcile} runs. */
  private netnsNow: readonly string[] | undefined;

  constructor(private readonly options: PluginHostOptions) {
    this.timeoutMs = options.timeoutMs ?? PLUGIN_TIMEOUT_MS;
    for (const plugin of options.plugins) {
      const host = createHostContext({
        linux: options.linux,
        pluginId: plugin.id,
        agentPrefix: options.agentPrefix,
        hostId: options.hostId,
        networkBridges: this.bridges,
        ports: this.ports,
        log: options.log,
        requestReconcile: (reason) => options.requestReconcile?.(reason),
        hostLinks: {
          read: () => (this.hostLinks ? this.hostLinks.read() : options.linux.links()),
          changed: (names) => this.hostLinks?.changed(names),
        },
        liveNetns: { read: () => (this.netnsNow ? Promise.resolve(this.netnsNow) : liveNetns(options.linux)) },
        ...(options.daemons ? { daemons: { allow: options.daemons.allow, runDir: join(options.daemons.dir, plugin.id) } } : {}),
      });
      const loaded: Loaded = { plugin, host, desired: [] };
      this.loaded.push(loaded);
      for (const kind of Object.keys(plugin.kinds)) {
        if (this.byKind.has(kind)) options.log(`plugin ${plugin.id}: kind ${kind} is already handled by ${this.byKind.get(kind)!.plugin.id}; ignored`);
        else this.byKind.set(kind, loaded);
      }
    }
  }

  /** Lets the contexts read the host's links from the agent's link cache instead of listing them. */
  useHostLinks(links: HostLinks): void {
    this.hostLinks = links;
  }

  /** What hello reports. */
  get versions(): { id: string; version: string }[] {
    return this.loaded.map(({ plugin }) => ({ id: plugin.id, version: plugin.version }));
  }

  /** Where a core port desired here lives, as of the last pass. */
  portPlace(portId: string): PortPlace | undefined {
    return this.ports.get(portId);
  }

  /** The namespace a loaded plugin would give its appliance `resourceId` (undefined: no such plugin here). */
  applianceNetns(pluginId: string, resourceId: string): string | undefined {
    return this.loaded.find((l) => l.plugin.id === pluginId)?.host.netnsName(resourceId);
  }

  /** Whether a loaded plugin declares this kind (its resources never reach the core planner). */
  handles(kind: string): boolean {
    return this.byKind.has(kind);
  }

  /** Whether some loaded plugin observes its resources. */
  get observes(): boolean {
    return this.loaded.some((l) => l.plugin.agent?.observe !== undefined);
  }

  /** Whether an {@link observe} now would ask anything: a plugin that observes has resources here. */
  get wantsObserve(): boolean {
    return this.loaded.some((l) => l.plugin.agent?.observe !== undefined && l.desired.length > 0);
  }

  /**
   * One status per desired resource of a plugin kind, with what the plugin observes of it.
   * `networkBridges` are the bridges of the networks desired on this host, the only links a
   * plugin may use as masters; `ports` where the core ports desired here live (a plugin may keep
   * its nft table in their namespaces); `madeAgain` the port namespaces this pass created (empty,
   * whatever a context knew of one of that name); `liveNetns` the live namespaces the pass read
   * (plugins look for theirs there instead of reading them again; absent: they read).
   */
  async reconcile(
    desired: readonly DesiredResource[],
    networkBridges: ReadonlyMap<string, string>,
    ports: ReadonlyMap<string, PortPlace> = new Map(),
    madeAgain: readonly string[] = [],
    liveNetns?: readonly string[],
  ): Promise<ResourceStatusReport[]> {
    this.netnsNow = liveNetns;
    try {
      return await this.reconcileAll(desired, networkBridges, ports, madeAgain);
    } finally {
      this.netnsNow = undefined;
    }
  }

  private async reconcileAll(
    desired: readonly DesiredResource[],
    networkBridges: ReadonlyMap<string, string>,
    ports: ReadonlyMap<string, PortPlace>,
    madeAgain: readonly string[],
  ): Promise<ResourceStatusReport[]> {
    refill(this.bridges, networkBridges);
    refill(this.ports, ports);
    for (const loaded of this.loaded) loaded.host.madeNow(madeAgain);
    const groups = new Map<Loaded, DesiredPluginResource[]>();
    for (const r of desired) {
      const loaded = this.byKind.get(r.kind);
      if (!loaded) continue;
      let group = groups.get(loaded);
      if (!group) groups.set(loaded, (group = []));
      group.push({ kind: r.kind, id: r.id, generation: r.generation, spec: r.spec });
    }
    // Every plugin is called, even with nothing desired: removing what it owns is its job too.
    const results = await Promise.all(
      this.loaded.map(async (loaded) => {
        loaded.desired = groups.get(loaded) ?? [];
        return this.withObserved(loaded, await this.run(loaded));
      }),
    );
    return results.flat();
  }

  /**
   * The statuses of the last pass with the plugins' resources observed again (their reconcile is
   * not called): each plugin that observes gets what its last reconcile got.
   */
  async observe(statuses: readonly ResourceStatusReport[]): Promise<ResourceStatusReport[]> {
    const updated = new Map<string, ResourceStatusReport>();
    await Promise.all(
      this.loaded.map(async (loaded) => {
        const mine = statuses.filter((s) => this.byKind.get(s.kind) === loaded);
        for (const s of await this.withObserved(loaded, mine)) updated.set(resourceKey(s), s);
      }),
    );
    return statuses.map((s) => updated.get(resourceKey(s)) ?? s);
  }

  /** Calls each plugin's `stop()` and ends what its context started (probe helpers). */
  async stop(): Promise<void> {
    await Promise.all(
      this.loaded.map(async (loaded) => {
        const agent = loaded.plugin.agent;
        if (agent?.stop) {
          // Stopping comes once, whatever still runs.
          loaded.running = undefined;
          await this.call(loaded, 'stop', () => agent.stop!(), PLUGIN_STOP_TIMEOUT_MS);
        }
        await loaded.host.close();
      }),
    );
  }

  private async run(loaded: Loaded): Promise<ResourceStatusReport[]> {
    const { plugin, desired: resources } = loaded;
    const failAll = (reason: string): ResourceStatusReport[] =>
      resources.map((r) => ({ kind: r.kind, id: r.id, generation: r.generation, state: RealizationState.FAILED, reason }));
    const agent = plugin.agent;
    if (!agent) return failAll(`plugin ${plugin.id} has no agent half`);
    const started = performance.now();
    const outcome = await this.call(loaded, 'reconcile', () => agent.reconcile(resources, loaded.host));
    this.options.onReconciled?.(plugin.id, (performance.now() - started) / 1_000);
    if ('error' in outcome) return failAll(outcome.error);
    const byId = new Map(Array.isArray(outcome.value) ? outcome.value.map((s) => [s.id, s]) : []);
    return resources.map((r) => {
      const s = byId.get(r.id);
      if (!s) return { kind: r.kind, id: r.id, generation: r.generation, state: RealizationState.FAILED, reason: 'plugin returned no status' };
      const failed = s.state !== RealizationState.APPLIED;
      return {
        kind: r.kind,
        id: r.id,
        generation: r.generation,
        state: failed ? RealizationState.FAILED : RealizationState.APPLIED,
        ...(failed ? { reason: s.reason ?? 'failed (no reason given)' } : {}),
        attributes: { ...(s.attributes ?? {}) },
      };
    });
  }

  /** `statuses` (of this plugin's resources) with `observed` as the plugin's observe says now, or without. */
  private async withObserved(loaded: Loaded, statuses: ResourceStatusReport[]): Promise<ResourceStatusReport[]> {
    const agent = loaded.plugin.agent;
    let observed: unknown;
    if (agent?.observe && loaded.desired.length > 0 && statuses.length > 0) {
      const outcome = await this.call(loaded, 'observe', () => agent.observe!(loaded.desired, loaded.host));
      if ('value' in outcome) observed = outcome.value;
    }
    return statuses.map(({ observed: _old, ...status }) => {
      const value = plainJson(observed !== null && typeof observed === 'object' ? (observed as Record<string, unknown>)[status.id] : undefined);
      return value ? { ...status, observed: value } : status;
    });
  }

  /**
   * Calls into a plugin, contained: a throw (sync or async) or a call that outlives `timeoutMs`
   * becomes an error text and a log line; a timed-out call blocks further calls until it ends.
   */
  private async call<T>(loaded: Loaded, what: string, fn: () => Promise<T> | T, timeoutMs = this.timeoutMs): Promise<{ value: T } | { error: string }> {
    const { plugin } = loaded;
    if (loaded.running) return { error: `plugin ${plugin.id}: its previous ${loaded.running} is still running` };
    // Through a promise, so a plugin that throws synchronously is caught like one that rejects.
    const call = Promise.resolve().then(fn);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<typeof TIMEOUT>((resolve) => {
      timer = setTimeout(() => resolve(TIMEOUT), timeoutMs);
    });
    try {
      const outcome = await Promise.race([call, timeout]);
      if (outcome === TIMEOUT) {
        loaded.running = what;
        void call.catch(() => undefined).finally(() => (loaded.running = undefined));
        this.options.log(`plugin ${plugin.id}: ${what} took more than ${timeoutMs} ms`, { level: 'warn', plugin: plugin.id });
        return { error: `plugin ${plugin.id} did not finish its ${what} within ${timeoutMs} ms` };
      }
      return { value: outcome };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.options.log(`plugin ${plugin.id}: ${what} threw: ${message}`, { level: 'warn', plugin: plugin.id });
      return { error: `plugin ${plugin.id}: ${message}`.slice(0, 500) };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The live namespaces now: files in /run/netns with a namespace mounted. */
async function liveNetns(linux: Linux): Promise<string[]> {
  const [files, mounted] = await Promise.all([linux.netnsList(), linux.netnsMounted()]);
  return files.filter((ns) => mounted.has(ns));
}

/** Makes `target` hold exactly what `source` holds (it is shared by reference, so it is not replaced). */
function refill<V>(target: Map<string, V>, source: ReadonlyMap<string, V>): void {
  target.clear();
  for (const [k, v] of source) target.set(k, v);
}

/** A copy of a plain object that JSON carries unchanged in meaning, or undefined for anything else. */
function plainJson(value: unknown): Record<string, unknown> | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return undefined;
  try {
    // Its text is kept with it: the next pass's status compares by it.
    return parsedJson<Record<string, unknown>>(JSON.stringify(value));
  } catch {
    // Cycles, BigInts: not JSON.
    return undefined;
  }
}
