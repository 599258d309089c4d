import { createHash } from 'node:crypto';
import { assertNftName, IpBatch, type BatchResult, type LinkInfo, Linux, wholeBatchFailed } from '@netloom/linux';
import type { ApplyResult, ChangeSet, HostContext, LinkChanges, LinkView } from './host-context';
import { ProbeHelpers } from './probe-helper';
import { scopeFor, type PluginScope } from './scoping';

/** What {@link createHostContext} needs: the kernel door, who the plugin is, and where it acts. */
export interface HostContextOptions {
  linux: Linux;
  pluginId: string;
  /** The agent's ownership prefix (1-4 of [a-z0-9], starting with a letter). */
  agentPrefix: string;
  hostId: string;
  /** The namespace that plays the host's; undefined = the agent's own (the test kit passes a throwaway one). */
  hostNetns?: string;
  /** Core network id → its bridge on this host (a plugin may only use these as masters). */
  networkBridges: ReadonlyMap<string, string>;
  log?: (line: string) => void;
  /** Where {@link HostContext.requestReconcile} goes (the agent kicks a pass); absent: ignored. */
  requestReconcile?: (reason: string) => void;
}

/** A context as its owner (the agent, the test kit) holds it: it ends the context's helpers. */
export interface ManagedHostContext extends HostContext {
  /** Ends what the context started (probe helpers); it can be used again afterwards. */
  close(): Promise<void>;
}

/**
 * The implementation of {@link HostContext} over `libs/linux`, shared by the agent and the test
 * kit. Ownership is checked while the change set is built, so a refused name throws before
 * anything runs.
 */
export function createHostContext(opts: HostContextOptions): ManagedHostContext {
  const { linux, hostNetns, networkBridges } = opts;
  const scope = scopeFor(opts.agentPrefix, opts.hostId, opts.pluginId);
  const bridges = (): Set<string> => new Set(networkBridges.values());
  const log = (line: string): void => opts.log?.(`[${opts.pluginId}] ${line}`);
  const probes = new ProbeHelpers(linux, log);

  const ownedNs = (netns: string, what: string): string => {
    if (typeof netns !== 'string' || !scope.ownsNetns(netns)) {
      throw new Error(`plugin ${opts.pluginId}: ${what} ${JSON.stringify(netns)} is not one of its namespaces (${scope.netnsPrefix}…)`);
    }
    return netns;
  };
  // The namespace of the plugin's nft table: one of its own, or the host's.
  const nftNs = (netns: string | undefined): string | undefined => (netns === undefined ? hostNetns : ownedNs(netns, 'nft table in'));

  return {
    hostId: opts.hostId,
    pluginId: opts.pluginId,
    netnsName: (id) => scope.netnsName(id),
    linkName: (id, role) => scope.linkName(id, role),
    networkBridge: (networkId) => networkBridges.get(networkId),

    async ownedNetns() {
      return (await linux.netnsList()).filter((ns) => scope.ownsNetns(ns));
    },
    async ownedLinks() {
      return (await linux.links(hostNetns)).filter((l) => scope.ownsLink(l.ifname)).map(linkView);
    },
    async links(netns) {
      return (await linux.links(ownedNs(netns, 'links of'))).map(linkView);
    },
    async addresses(netns, dev) {
      const infos = await linux.addresses(ownedNs(netns, 'addresses of'), dev);
      return infos.map((i) => ({ ifname: i.ifname, addresses: i.addresses.map((a) => ({ family: a.family, local: a.local, prefixlen: a.prefixlen })) }));
    },
    async routes(netns, family) {
      const routes = await linux.routes(ownedNs(netns, 'routes of'), family);
      return routes.map((r) => ({ dst: r.dst, ...(r.gateway ? { gateway: r.gateway } : {}), ...(r.dev ? { dev: r.dev } : {}) }));
    },

    async apply(build) {
      const changes = new Changes(scope, opts.pluginId, hostNetns, bridges(), ownedNs);
      build(changes);
      // Nothing may keep a namespace on its way out alive.
      await probes.end(changes.deletedNetns);
      return changes.run(linux);
    },

    async sysctl(netns, key, value) {
      await linux.sysctl(key, value, ownedNs(netns, 'sysctl in'));
    },

    async nftTable(body, netns, nftOpts) {
      const ns = nftNs(netns);
      const counters = counterNames(nftOpts?.counters, opts.pluginId);
      const table = `inet ${scope.nftTable}`;
      // The mark covers the body and the counter names, never their values (a body alone hashes as it always did).
      const marked = counters.length ? `${body}\u0000${counters.join(',')}` : body;
      const mark = body.trim() === '' ? undefined : `netloom_${createHash('sha256').update(marked).digest('hex').slice(0, 16)}`;
      // Idempotent: a table already carrying the mark of this body is left as it is.
      const current = tableChains(await linux.nftRuleset(ns), scope.nftTable);
      if (mark === undefined ? current === null : current?.includes(mark)) return;
      // Declaring the table first makes the delete safe when it does not exist; one script, one transaction.
      let script = `table ${table} {}\ndelete table ${table}\n`;
      if (mark !== undefined) {
        const now = new Map(counters.length && current !== null ? ((await linux.nftCounters('inet', scope.nftTable, ns)) ?? []).map((c) => [c.name, c]) : []);
        const declared = counters.map((c) => `counter ${c} { packets ${now.get(c)?.packets ?? 0} bytes ${now.get(c)?.bytes ?? 0} }\n`).join('');
        script += `table ${table} {\n${declared}chain ${mark} {\n}\n${body}\n}\n`;
      }
      await linux.nftApply(script, ns);
    },

    async nftCounters(netns) {
      const counters = (await linux.nftCounters('inet', scope.nftTable, nftNs(netns))) ?? [];
      return Object.fromEntries(counters.map((c) => [c.name, { packets: c.packets, bytes: c.bytes }]));
    },

    async nftList(netns) {
      const ns = nftNs(netns);
      const ruleset = await linux.nftRuleset(ns);
      if (tableChains(ruleset, scope.nftTable) === null) return null;
      const items = (ruleset as { nftables?: Record<string, { table?: string; name?: string; family?: string }>[] }).nftables ?? [];
      return {
        nftables: items.filter((item) => {
          const [type, value] = Object.entries(item)[0] ?? [];
          if (type === 'metainfo') return true;
          if (type === 'table') return value?.family === 'inet' && value.name === scope.nftTable;
          return value?.family === 'inet' && value.table === scope.nftTable;
        }),
      };
    },

    async probe(netns, check) {
      return probes.probe(ownedNs(netns, 'probe in'), check);
    },

    requestReconcile(reason) {
      log(`asks for a reconcile: ${reason}`);
      opts.requestReconcile?.(reason);
    },

    log,

    close: () => probes.close(),
  };
}

/** The counter names of an nft table, unique and sorted; each must be an nft identifier. */
function counterNames(names: readonly string[] | undefined, pluginId: string): string[] {
  const list: unknown = names ?? [];
  if (!Array.isArray(list)) throw new Error(`plugin ${pluginId}: nftTable counters must be a list of names`);
  for (const name of list as unknown[]) {
    try {
      assertNftName(name as string);
    } catch {
      throw new Error(`plugin ${pluginId}: counter name ${JSON.stringify(name)} is not an nft identifier ([a-zA-Z][a-zA-Z0-9_]{0,30})`);
    }
  }
  return [...new Set(list as string[])].sort();
}

/** The chain names of table `inet NAME` in an `nft -j list ruleset`, or null when the table is absent. */
function tableChains(ruleset: unknown, name: string): string[] | null {
  const items = (ruleset as { nftables?: Record<string, { family?: string; name?: string; table?: string }>[] } | null)?.nftables ?? [];
  let found = false;
  const chains: string[] = [];
  for (const item of items) {
    if (item.table?.family === 'inet' && item.table.name === name) found = true;
    if (item.chain?.family === 'inet' && item.chain.table === name && item.chain.name) chains.push(item.chain.name);
  }
  return found ? chains : null;
}

function linkView(l: LinkInfo): LinkView {
  return {
    ifname: l.ifname,
    ...(l.kind !== undefined ? { kind: l.kind } : {}),
    ...(l.master !== undefined ? { master: l.master } : {}),
    mtu: l.mtu,
    ...(l.address !== undefined ? { address: l.address } : {}),
    up: l.up,
  };
}

/** A {@link ChangeSet} that checks ownership as it records, and runs as ordered batches. */
class Changes implements ChangeSet {
  private readonly adds = new IpBatch();
  private readonly dels = new IpBatch();
  private readonly hostBatch: IpBatch;
  private readonly nsBatches = new Map<string, IpBatch>();
  readonly host: LinkChanges;
  /** The namespaces this change set deletes. */
  readonly deletedNetns: string[] = [];

  constructor(
    private readonly scope: PluginScope,
    private readonly pluginId: string,
    hostNetns: string | undefined,
    private readonly bridges: ReadonlySet<string>,
    private readonly ownedNs: (netns: string, what: string) => string,
  ) {
    this.hostBatch = new IpBatch(hostNetns);
    this.host = new BatchChanges(this.hostBatch, (name, what) => this.ownedHostLink(name, what), ownedNs, (name) => this.hostMaster(name), true);
  }

  netnsAdd(name: string, key?: string): void {
    this.adds.netnsAdd(this.ownedNs(name, 'netnsAdd'), key);
  }

  netnsDel(name: string, key?: string): void {
    this.dels.netnsDel(this.ownedNs(name, 'netnsDel'), key);
    this.deletedNetns.push(name);
  }

  in(netns: string): LinkChanges {
    this.ownedNs(netns, 'changes in');
    let batch = this.nsBatches.get(netns);
    if (!batch) this.nsBatches.set(netns, (batch = new IpBatch(netns)));
    // Inside its own namespace a plugin names interfaces freely (libs/linux validates them).
    return new BatchChanges(batch, (name) => name, this.ownedNs, (name) => name, false);
  }

  /** Runs the batches in order: namespace additions, the host's, each namespace's (in parallel), deletions. */
  async run(linux: Linux): Promise<ApplyResult> {
    const failed: ApplyResult['failed'] = [];
    const failedKeys = new Set<string>();
    const record = (results: BatchResult[]): void => {
      for (const result of results) {
        for (const f of result.failed) {
          failed.push({ ...(f.key !== undefined ? { key: f.key } : {}), line: f.text, error: f.error });
          if (f.key !== undefined) failedKeys.add(f.key);
        }
      }
    };
    const one = async (batch: IpBatch): Promise<BatchResult[]> =>
      batch.length === 0 ? [] : [await linux.applyIpBatch(batch).catch((e: unknown) => wholeBatchFailed(batch.lines, e))];
    // A resource whose earlier lines failed gets no further lines this time (its keys say which).
    const without = (batch: IpBatch): IpBatch => {
      const out = new IpBatch(batch.netns);
      out.lines.push(...batch.lines.filter((l) => l.key === undefined || !failedKeys.has(l.key)));
      return out;
    };
    record(await one(this.adds));
    record(await one(without(this.hostBatch)));
    const inNs = [...this.nsBatches.values()].map(without).filter((b) => b.length > 0);
    if (inNs.length) record(await linux.applyIpBatches(inNs));
    record(await one(this.dels));
    return { ok: failed.length === 0, failed };
  }

  private ownedHostLink(name: string, what: string): string {
    if (typeof name !== 'string' || !this.scope.ownsLink(name)) {
      throw new Error(`plugin ${this.pluginId}: ${what} ${JSON.stringify(name)} is not one of its links (${this.scope.linkPrefix}…)`);
    }
    return name;
  }

  private hostMaster(name: string): string {
    if (this.bridges.has(name) || this.scope.ownsLink(name)) return name;
    throw new Error(`plugin ${this.pluginId}: master ${JSON.stringify(name)} is neither a network bridge on this host nor one of its links`);
  }
}

/** Records {@link LinkChanges} into one batch, passing every name through the namespace's checks. */
class BatchChanges implements LinkChanges {
  constructor(
    private readonly batch: IpBatch,
    private readonly link: (name: string, what: string) => string,
    private readonly ownedNs: (netns: string, what: string) => string,
    private readonly master: (name: string) => string,
    private readonly hostSide: boolean,
  ) {}

  vethAdd(name: string, opts: { peer: string; peerNetns?: string; master?: string; mtu?: number }, key?: string): this {
    this.link(name, 'vethAdd');
    if (opts.peerNetns !== undefined) this.ownedNs(opts.peerNetns, 'vethAdd peer namespace');
    else this.link(opts.peer, 'vethAdd peer');
    if (opts.master !== undefined) this.master(opts.master);
    this.batch.vethAdd(name, { peer: opts.peer, peerNetns: opts.peerNetns, master: opts.master, mtu: opts.mtu }, key);
    return this;
  }

  linkSet(name: string, opts: { up?: boolean; down?: boolean; mtu?: number; master?: string; nomaster?: boolean; address?: string }, key?: string): this {
    this.link(name, 'linkSet');
    if (opts.master !== undefined) this.master(opts.master);
    this.batch.linkSet(name, { up: opts.up, down: opts.down, mtu: opts.mtu, master: opts.master, nomaster: opts.nomaster, address: opts.address }, key);
    return this;
  }

  linkDel(name: string, key?: string): this {
    this.batch.linkDel(this.link(name, 'linkDel'), key);
    return this;
  }

  addrReplace(cidrAddr: string, dev: string, key?: string): this {
    this.batch.addrReplace(cidrAddr, this.link(dev, 'addrReplace dev'), key);
    return this;
  }

  addrDel(cidrAddr: string, dev: string, key?: string): this {
    this.batch.addrDel(cidrAddr, this.link(dev, 'addrDel dev'), key);
    return this;
  }

  routeReplace(route: { dst: string; via?: string; dev: string }, key?: string): this {
    this.batch.routeReplace({ dst: route.dst, via: route.via, dev: this.link(route.dev, 'routeReplace dev') }, key);
    return this;
  }

  routeDel(route: { dst: string; via?: string; dev?: string }, key?: string): this {
    // In the host namespace a route is only ours through its device, so one must be named.
    if (route.dev !== undefined) this.link(route.dev, 'routeDel dev');
    else if (this.hostSide) throw new Error(`routeDel ${JSON.stringify(route.dst)} in the host namespace needs the plugin's dev`);
    this.batch.routeDel({ dst: route.dst, via: route.via, dev: route.dev }, key);
    return this;
  }
}
