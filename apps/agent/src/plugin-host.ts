import { Linux } from '@netloom/linux';
import { DesiredResource, RealizationState, ResourceStatusReport } from '@netloom/model';
import { createHostContext, type HostContext, type PluginDefinition } from '@netloom/plugin-sdk';

/** How long one plugin's reconcile may take before its resources are reported FAILED. */
export const PLUGIN_TIMEOUT_MS = 30_000;

export interface PluginHostOptions {
  linux: Linux;
  agentPrefix: string;
  hostId: string;
  plugins: readonly PluginDefinition<unknown>[];
  log: (line: string) => void;
  timeoutMs?: number;
}

interface Loaded {
  plugin: PluginDefinition<unknown>;
  host: HostContext;
  /** A reconcile that outlived its timeout: the plugin is not called again until it ends. */
  running?: Promise<unknown>;
}

/**
 * Runs the agent halves of the loaded plugins after the core apply of a pass: each gets the
 * desired resources of its kinds and its own {@link HostContext}. A plugin that throws or times
 * out fails only its own resources.
 */
export class PluginHost {
  private readonly byKind = new Map<string, Loaded>();
  private readonly loaded: Loaded[] = [];
  /** Network id → bridge, refreshed each pass; shared by reference with every context. */
  private readonly bridges = new Map<string, string>();
  private readonly timeoutMs: number;

  constructor(private readonly options: PluginHostOptions) {
    this.timeoutMs = options.timeoutMs ?? PLUGIN_TIMEOUT_MS;
    for (const plugin of options.plugins) {
      const host = createHostContext({
        linux: options.linux,
        pluginId: plugin.id,
        agentPrefix: options.agentPrefix,
        hostId: options.hostId,
        networkBridges: this.bridges,
        log: options.log,
      });
      const loaded: Loaded = { plugin, host };
      this.loaded.push(loaded);
      for (const kind of Object.keys(plugin.kinds)) {
        if (this.byKind.has(kind)) options.log(`plugin ${plugin.id}: kind ${kind} is already handled by ${this.byKind.get(kind)!.plugin.id}; ignored`);
        else this.byKind.set(kind, loaded);
      }
    }
  }

  /** What hello reports. */
  get versions(): { id: string; version: string }[] {
    return this.loaded.map(({ plugin }) => ({ id: plugin.id, version: plugin.version }));
  }

  /** Whether a loaded plugin declares this kind (its resources never reach the core planner). */
  handles(kind: string): boolean {
    return this.byKind.has(kind);
  }

  /**
   * One status per desired resource of a plugin kind. `networkBridges` are the bridges of the
   * networks desired on this host, the only links a plugin may use as masters.
   */
  async reconcile(desired: readonly DesiredResource[], networkBridges: ReadonlyMap<string, string>): Promise<ResourceStatusReport[]> {
    this.bridges.clear();
    for (const [id, bridge] of networkBridges) this.bridges.set(id, bridge);
    const groups = new Map<Loaded, DesiredResource[]>();
    for (const r of desired) {
      const loaded = this.byKind.get(r.kind);
      if (!loaded) continue;
      let group = groups.get(loaded);
      if (!group) groups.set(loaded, (group = []));
      group.push(r);
    }
    // Every plugin is called, even with nothing desired: removing what it owns is its job too.
    const results = await Promise.all(this.loaded.map((loaded) => this.run(loaded, groups.get(loaded) ?? [])));
    return results.flat();
  }

  private async run(loaded: Loaded, resources: DesiredResource[]): Promise<ResourceStatusReport[]> {
    const { plugin } = loaded;
    const failAll = (reason: string): ResourceStatusReport[] =>
      resources.map((r) => ({ kind: r.kind, id: r.id, generation: r.generation, state: RealizationState.FAILED, reason }));
    if (!plugin.agent) return failAll(`plugin ${plugin.id} has no agent half`);
    if (loaded.running) return failAll(`plugin ${plugin.id}: its previous reconcile is still running`);
    const agent = plugin.agent;
    // Through a promise, so a plugin that throws synchronously is caught like one that rejects.
    const call = Promise.resolve().then(() =>
      agent.reconcile(
        resources.map((r) => ({ kind: r.kind, id: r.id, generation: r.generation, spec: r.spec })),
        loaded.host,
      ),
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.timeoutMs);
    });
    try {
      const outcome = await Promise.race([call, timeout]);
      if (outcome === 'timeout') {
        loaded.running = call.catch(() => undefined).finally(() => (loaded.running = undefined));
        this.options.log(`plugin ${plugin.id}: reconcile took more than ${this.timeoutMs} ms`);
        return failAll(`plugin ${plugin.id} did not finish its reconcile within ${this.timeoutMs} ms`);
      }
      const byId = new Map(Array.isArray(outcome) ? outcome.map((s) => [s.id, s]) : []);
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
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.options.log(`plugin ${plugin.id}: reconcile threw: ${message}`);
      return failAll(`plugin ${plugin.id}: ${message}`.slice(0, 500));
    } finally {
      clearTimeout(timer);
    }
  }
}
