import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { assertNetnsName, assertNftName, IpBatch, type BatchResult, type LinkInfo, Linux, wholeBatchFailed } from '@netloom/linux';
import type { ApplyResult, ChangeSet, HostContext, LinkChanges, LinkView, NftMapElement, PortPlace } from './host-context';
import { elementKeyOf, type HeldParts, listedMapElement, mapElementText, type Part, partsDiff, splitBody } from './nft-parts';
import { NftWatch } from './nft-watch';
import { Daemons } from './daemons';
import { TrafficControl } from './tc';
import { BridgeRoutes } from './bridge-routing';
import { ProbeHelpers } from './probe-helper';
import { scopeFor, type PluginScope } from './scoping';
import { TRUST_MS } from './trust';

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
  /**
   * Core port id → its namespace and interface there, for the ports desired on this host (the
   * plugin may keep its nft table in those namespaces). Read on every call, so the owner may
   * refill it in place. Absent: no ports.
   */
  ports?: ReadonlyMap<string, PortPlace>;
  log?: (line: string) => void;
  /**
   * How long nftTable trusts what it last wrote or read of a table instead of listing the ruleset
   * again (listing a big table costs tens of milliseconds, and plugins call nftTable on every
   * pass), so drift made by hand is repaired within this time; default {@link TRUST_MS} (30 s).
   * `tc` trusts what it applied to a device as long, `bridgeRouting` what it applied to a bridge.
   * A namespace made again under the same name is another one, empty: the context knows when it makes one through
   * {@link HostContext.apply}, and the agent tells it ({@link ManagedHostContext.madeNow}) when it
   * makes a port's.
   */
  nftTrustMs?: number;
  /**
   * The agent's view of the host namespace's links (its link cache, kept current by kernel
   * events), read instead of listing every link on each pass; `changed` hears which of the
   * plugin's links an apply touched. Absent: `ip link` is asked (the test kit).
   */
  hostLinks?: { read(): Promise<LinkInfo[]>; changed(names: readonly string[]): void };
  /**
   * The live namespaces of the host (a file in /run/netns with a namespace mounted on it), as the
   * agent read them for the pass that is running, read instead of listing them again for each
   * plugin; what the plugin changes itself since is its own. Absent: read now (the test kit).
   */
  liveNetns?: { read(): Promise<readonly string[]> };
  /** Where {@link HostContext.requestReconcile} goes (the agent kicks a pass); absent: ignored. */
  requestReconcile?: (reason: string) => void;
  /**
   * The programs the operator allows plugins to run as daemons (`--daemon-allow`) and this
   * plugin's folder for them; absent: {@link HostContext.daemons} refuses every daemon.
   */
  daemons?: { allow: readonly string[]; runDir: string };
}



/** A context as its owner (the agent, the test kit) holds it: it ends the context's helpers. */
export interface ManagedHostContext extends HostContext {
  /** Ends what the context started (probe helpers); it can be used again afterwards. */
  close(): Promise<void>;
  /** Namespaces just made (a core port's, by the agent): they hold no table, whatever the context knew of one of that name. */
  madeNow(netns: readonly string[]): void;
  /** What the synchronous parts answer from, as of now (for a plugin whose agent half runs in a sandbox process). */
  snapshot(): { agentPrefix: string; hostId: string; ports: Record<string, PortPlace>; bridges: Record<string, string> };
}



/**
 * The implementation of {@link HostContext} over `libs/linux`, shared by the agent and the test
 * kit. Ownership is checked while the change set is built, so a refused name throws before
 * anything runs.
 */
export function createHostContext(opts: HostContextOptions): ManagedHostContext {
  const { linux, hostNetns, networkBridges } = opts;
  const ports = opts.ports ?? new Map<string, PortPlace>();
  const scope = scopeFor(opts.agentPrefix, opts.hostId, opts.pluginId);
  const bridges = (): Set<string> => new Set(networkBridges.values());
  const log = (line: string): void => opts.log?.(`[${opts.pluginId}] ${line}`);
  const probes = new ProbeHelpers(linux, log);
  // Without the agent's allow-list and folder, every daemon is refused (nothing allowed).
  const daemons = new Daemons({
    allow: opts.daemons?.allow ?? [],
    runDir: opts.daemons?.runDir ?? '',
    log,
    exited: (name, how) => opts.requestReconcile?.(`daemon ${name} ${how}`),
  });
  /** The plugin's table per namespace ('' = the host's) as last written or read: see {@link HostContextOptions.nftTrustMs}. */
  const tables = new Map<string, KnownTable>();
  /** The key of {@link tables}: the namespace for the inet table, `bridge NS` for the bridge one. */
  const tableKey = (ns: string, family: TableFamily): string => (family === 'inet' ? ns : `bridge ${ns}`);
  /** When the host namespace's watch ends, its table gone (see nftTable). */
  let hostWatchEnd: NodeJS.Timeout | undefined;
  /** The last counters read per namespace ('' the host's), for reads that accept an age. */
  const counted = new Map<string, { values: Counts; at: number; refreshing?: Promise<void> }>();
  const forget = (ns: string): void => {
    tables.delete(ns);
    tables.delete(tableKey(ns, 'bridge'));
    counted.delete(ns);
  };
  /**
   * What a write tells of the counters' values, for `nftCounters(…, { maxAgeMs })`: a counter it
   * made counts from zero (a table made anew: all of them, so its first read need not wait), one
   * it deleted is gone; the others keep the values last read.
   */
  const noteCounters = (ns: string, before: KnownTable, after: KnownTable): void => {
    if (!after.exists) {
      counted.delete(ns);
      return;
    }
    const zero = { packets: 0, bytes: 0 };
    const last = counted.get(ns);
    if (!before.exists) {
      counted.set(ns, { values: Object.fromEntries(after.counters.map((name) => [name, { ...zero }])), at: Date.now() });
      return;
    }
    if (!last) return;
    const had = new Set(before.counters);
    for (const name of after.counters) if (!had.has(name)) last.values[name] = { ...zero };
    const kept = new Set(after.counters);
    for (const name of before.counters) if (!kept.has(name)) delete last.values[name];
  };
  // Someone else changed the table (or the watch ended): forget it, and have it looked at again now.
  const watch = new NftWatch(linux, scope.nftTable, (ns, why, changed) => {
    forget(ns);
    const where = ns === '' ? 'the host namespace' : ns;
    if (changed) {
      log(`nft table ${scope.nftTable} in ${where} ${why}; asking for a reconcile`);
      opts.requestReconcile?.(`nft table ${scope.nftTable} in ${where} ${why}`);
    } else log(`nft table ${scope.nftTable} in ${where}: ${why}`);
  });
  // Devices a plugin may shape: links in its namespaces, its links in the host namespace, a core port's host end.
  const tc = new TrafficControl({
    linux,
    pluginId: opts.pluginId,
    tag: scope.tag,
    hostNetns,
    trustMs: opts.nftTrustMs,
    place(dev, netns, what) {
      if (netns !== undefined) return ownedNs(netns, `${what} a device in`);
      if (typeof dev === 'string' && (scope.ownsLink(dev) || [...ports.values()].some((p) => p.hostIfname === dev))) return hostNetns;
      throw new Error(`plugin ${opts.pluginId}: ${what} ${JSON.stringify(dev)}: not one of its links (${scope.linkPrefix}…) nor the host end of a port on this host`);
    },
    ifb(name, netns) {
      if (netns === undefined && (typeof name !== 'string' || !scope.ownsLink(name))) {
        throw new Error(`plugin ${opts.pluginId}: redirectToIfb ${JSON.stringify(name)} is not one of its links (${scope.linkPrefix}…)`);
      }
    },
  });
  const bridgeRoutes = new BridgeRoutes({ linux, pluginId: opts.pluginId, hostNetns, networkBridges, ports, trustMs: opts.nftTrustMs });
  const made = (netns: readonly string[]): void => {
    for (const ns of netns) for (const family of TABLE_FAMILIES) tables.set(tableKey(ns, family), EMPTY_TABLE());
    // A watch there watched the namespace that had this name before.
    void watch.end(netns);
  };

  const ownedNs = (netns: string, what: string): string => {
    if (typeof netns !== 'string' || !scope.ownsNetns(netns)) {
      throw new Error(`plugin ${opts.pluginId}: ${what} ${JSON.stringify(netns)} is not one of its namespaces (${scope.netnsPrefix}…)`);
    }
    return netns;
  };
  // The namespace of the plugin's nft table: one of its own, a core port's, or the host's.
  const nftNs = (netns: string | undefined, what = 'nft table in'): string | undefined => {
    if (netns === undefined) return hostNetns;
    if (typeof netns === 'string' && (scope.ownsNetns(netns) || [...ports.values()].some((p) => p.netns === netns))) return netns;
    throw new Error(`plugin ${opts.pluginId}: ${what} ${JSON.stringify(netns)}: not one of its namespaces (${scope.netnsPrefix}…) nor a port's on this host`);
  };

  return {
    hostId: opts.hostId,
    pluginId: opts.pluginId,
    names: { nftTable: scope.nftTable, netnsPrefix: scope.netnsPrefix, linkPrefix: scope.linkPrefix },
    netnsName: (id) => scope.netnsName(id),
    linkName: (id, role) => scope.linkName(id, role),
    networkBridge: (networkId) => networkBridges.get(networkId),
    port(portId) {
      const place = ports.get(portId);
      return (
        place && {
          netns: place.netns,
          ifname: place.ifname,
          ...(place.hostIfname !== undefined ? { hostIfname: place.hostIfname } : {}),
          ...(place.bridge !== undefined ? { bridge: place.bridge } : {}),
          ...(place.addresses !== undefined ? { addresses: [...place.addresses] } : {}),
        }
      );
    },
    portIds: () => [...ports.keys()],

    async ownedNetns() {
      if (opts.liveNetns) return (await opts.liveNetns.read()).filter((ns) => scope.ownsNetns(ns));
      const [files, mounted] = await Promise.all([linux.netnsList(), linux.netnsMounted()]);
      return files.filter((ns) => scope.ownsNetns(ns) && mounted.has(ns));
    },
    async ownedLinks() {
      const all = opts.hostLinks ? await opts.hostLinks.read() : await linux.links(hostNetns);
      return all.filter((l) => scope.ownsLink(l.ifname)).map(linkView);
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
      await Promise.all([probes.end(changes.deletedNetns), watch.end(changes.deletedNetns), daemons.endIn(changes.deletedNetns)]);
      for (const ns of changes.deletedNetns) forget(ns);
      made(changes.addedNetns);
      // Links made, changed or deleted hold what the kernel says, not what tc last applied.
      tc.forget([...changes.deletedNetns, ...changes.addedNetns, ...changes.changedNetns], [...changes.hostLinks]);
      try {
        // A name held by a dead file (nothing mounted on it) is free only once the file goes.
        const dead = changes.addedNetns.length ? await deadNetns(linux) : new Set<string>();
        return await changes.run(linux, dead);
      } finally {
        opts.hostLinks?.changed([...changes.hostLinks]);
      }
    },

    async sysctl(netns, key, value) {
      if (netns !== '') return linux.sysctl(key, value, ownedNs(netns, 'sysctl in'));
      // The host namespace: a key of one of the plugin's own links only.
      const link = /^net\.ipv[46]\.(?:conf|neigh)\.([^./]+)\.[a-z0-9_]+$/.exec(key)?.[1];
      if (!link || !scope.ownsLink(link)) throw new Error(`plugin ${opts.pluginId}: sysctl ${key} in the host namespace: only a key of a link of its own`);
      await linux.sysctl(key, value, hostNetns);
    },

    async sysctlValue(key, netns) {
      return linux.readSysctl(key, nftNs(netns, 'sysctl in'));
    },

    async nftTable(body, netns, nftOpts) {
      const ns = nftNs(netns);
      const counters = nftNames(nftOpts?.counters, 'counter', opts.pluginId);
      const sets = setElements(nftOpts?.sets, opts.pluginId);
      const maps = mapElements(nftOpts?.maps, opts.pluginId);
      const family = nftOpts?.family ?? 'inet';
      if (!TABLE_FAMILIES.includes(family)) throw new Error(`plugin ${opts.pluginId}: nftTable family must be inet or bridge`);
      const key = tableKey(ns ?? '', family);
      const table = `${family} ${scope.nftTable}`;
      // The mark covers the body and the counter names, never their values nor set elements (a body alone hashes as it always did).
      const marked = counters.length ? `${body}\u0000${counters.join(',')}` : body;
      const mark = body.trim() === '' ? undefined : `netloom_${createHash('sha256').update(marked).digest('hex').slice(0, 16)}`;
      // What this context last wrote or read there, while recent (a namespace made again is known empty).
      const known = tables.get(key);
      let current: KnownTable;
      if (known && Date.now() - known.at < (opts.nftTrustMs ?? TRUST_MS)) current = known;
      else {
        current = readTable(await linux.nftRuleset(ns), scope.nftTable, family);
        // Still the table this context wrote: what it knows of its parts holds.
        if (known?.parts && current.mark === known.mark) current.parts = known.parts;
      }
      const fill = (name: string, elements: string[]): string => (elements.length ? `add element ${table} ${name} { ${elements.join(', ')} }\n` : '');
      const parts = nftOpts?.incremental && mark !== undefined ? splitBody(body) : undefined;
      const keyed = (m: Map<string, string[]>): Map<string, string[]> => new Map([...m].map(([n, e]) => [n, e.map(elementKey)]));
      let script: string | undefined;
      let next: KnownTable;
      if (mark !== undefined && current.mark === mark) {
        // The same body: only the sets and maps whose elements differ are rewritten, rules and counters stay.
        if (current.parts) {
          script = partsDiff(table, heldParts(current), { parts: current.parts, sets: keyed(sets), maps, counters, mark });
        } else {
          const stale = [...sets].filter(([name, elements]) => !sameElements(current.sets.get(name), elements));
          const staleMaps = [...maps].filter(([name, elements]) => current.mapElems.get(name)?.join('\n') !== elements.join('\n'));
          script = [...stale, ...staleMaps].map(([name, elements]) => `flush ${sets.has(name) ? 'set' : 'map'} ${table} ${name}\n${fill(name, elements)}`).join('');
        }
        next = { ...current, sets: new Map([...current.sets, ...sets]), mapElems: new Map([...current.mapElems, ...maps]) };
        // Still as of when it was last read or replaced.
      } else if (mark === undefined) {
        // Declaring the table first makes the delete safe when it does not exist.
        script = current.exists ? `table ${table} {}\ndelete table ${table}\n` : '';
        next = EMPTY_TABLE();
      } else {
        const declared = declaredNames(body);
        next = {
          exists: true,
          mark,
          chains: [mark, ...declared.chains],
          sets: new Map([...declared.sets].map((n) => [n, sets.get(n) ?? []])),
          maps: declared.maps,
          mapElems: new Map([...declared.maps].map((n) => [n, maps.get(n) ?? []])),
          counters: [...counters],
          ...(parts ? { parts } : {}),
          at: Date.now(),
        };
        // Incremental: only the declarations and elements that differ from what the table holds.
        if (parts && current.exists && current.mark && current.parts) {
          script = partsDiff(table, heldParts(current), { parts, sets: keyed(sets), maps, counters, mark });
        }
        if (script === undefined) {
          // Replaced in place, in one transaction: rules, chains and the body's own sets and maps go;
          // named counters stay (values kept: declaring one that exists changes nothing), and the
          // sets given are emptied and filled again.
          const lines = current.exists ? [`table ${table} {}`, `flush table ${table}`] : [];
          // Maps first: their elements may jump to the chains.
          for (const name of current.maps) lines.push(`delete map ${table} ${name}`);
          for (const chain of current.chains) lines.push(`delete chain ${table} ${chain}`);
          for (const name of current.sets.keys()) if (!sets.has(name)) lines.push(`delete set ${table} ${name}`);
          lines.push(`table ${table} {`, ...counters.map((c) => `counter ${c} {}`), `chain ${mark} {`, '}', body, '}');
          for (const name of current.counters) if (!counters.includes(name)) lines.push(`delete counter ${table} ${name}`);
          for (const [name, elements] of sets) {
            if (current.sets.has(name)) lines.push(`flush set ${table} ${name}`);
            if (elements.length) lines.push(fill(name, elements).trimEnd());
          }
          for (const [name, elements] of maps) if (elements.length) lines.push(fill(name, elements).trimEnd());
          script = `${lines.join('\n')}\n`;
        }
      }
      // Watched before writing, so our own write is told apart by its pid.
      if (next.exists) {
        if (ns === hostNetns) clearTimeout(hostWatchEnd);
        watch.watch(ns ?? '');
      }
      try {
        if (script) await linux.nftApply(script, ns, (pid) => watch.ours(ns ?? '', pid));
      } catch (error) {
        tables.delete(key);
        throw error;
      }
      tables.set(key, next);
      if (family === 'inet') noteCounters(ns ?? '', current, next);
      // The watch stays while the other family's table is there (the watch sees both).
      const other = tableKey(ns ?? '', family === 'inet' ? 'bridge' : 'inet');
      if (!next.exists && !tables.get(other)?.exists) {
        // A namespace's watch holds it alive: it ends with the table. The host namespace's stays a
        // while, for a table made again soon (a policy deleted and created: no new process).
        if (ns !== hostNetns) await watch.end([ns ?? '']);
        else {
          clearTimeout(hostWatchEnd);
          hostWatchEnd = setTimeout(() => void watch.end([ns ?? '']), opts.nftTrustMs ?? TRUST_MS);
          hostWatchEnd.unref();
        }
      }
    },

    async nftCounters(netns, countersOpts) {
      const ns = nftNs(netns);
      const read = async (): Promise<Counts> => {
        const counters = (await linux.nftCounters('inet', scope.nftTable, ns)) ?? [];
        return Object.fromEntries(counters.map((c) => [c.name, { packets: c.packets, bytes: c.bytes }]));
      };
      const maxAge = countersOpts?.maxAgeMs;
      if (maxAge === undefined) return read();
      const last = counted.get(ns ?? '');
      if (!last) {
        const values = await read();
        counted.set(ns ?? '', { values, at: Date.now() });
        return values;
      }
      if (Date.now() - last.at > maxAge && !last.refreshing) {
        last.refreshing = read().then(
          (values) => void (counted.get(ns ?? '') === last && counted.set(ns ?? '', { values, at: Date.now() })),
          () => void (last.refreshing = undefined),
        );
      }
      return last.values;
    },

    async nftList(netns) {
      const ns = nftNs(netns);
      const ruleset = await linux.nftRuleset(ns);
      if (!readTable(ruleset, scope.nftTable).exists) return null;
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

    async daemons(specs) {
      return daemons.ensure(specs, (netns) => scope.ownsNetns(netns));
    },

    daemonFile(name, file) {
      return Promise.resolve(daemons.read(name, file));
    },

    tc(devices) {
      return tc.ensure(devices);
    },

    tcStats(dev, netns) {
      return tc.stats(dev, netns);
    },

    bridgeRouting(wanted) {
      return bridgeRoutes.ensure(wanted);
    },

    async announce(netns, dev) {
      const ns = ownedNs(netns, 'announce in');
      const [link] = await linux.addresses(ns, dev);
      await linux.announce(ns, dev, (link?.addresses ?? []).filter((a) => a.family === 4).map((a) => a.local));
    },

    requestReconcile(reason) {
      log(`asks for a reconcile: ${reason}`);
      opts.requestReconcile?.(reason);
    },

    log,

    close: async () => {
      clearTimeout(hostWatchEnd);
      await Promise.all([probes.close(), watch.close(), daemons.close()]);
    },

    snapshot() {
      return { agentPrefix: opts.agentPrefix, hostId: opts.hostId, ports: Object.fromEntries(ports), bridges: Object.fromEntries(networkBridges) };
    },

    madeNow(netns) {
      made(netns);
      // A port's namespace made again: its veth too, host end included.
      const remade = new Set(netns);
      const hostEnds = [...ports.values()].filter((p) => remade.has(p.netns) && p.hostIfname !== undefined).map((p) => p.hostIfname!);
      tc.forget([], hostEnds);
      bridgeRoutes.forget(hostEnds);
      // Port namespaces no longer on this host: their watch would keep them alive.
      const portNs = new Set([...ports.values()].map((p) => p.netns));
      const gone = watch.namespaces.filter((ns) => ns !== '' && !scope.ownsNetns(ns) && !portNs.has(ns));
      for (const ns of gone) forget(ns);
      void watch.end(gone);
    },
  };
}

/** Files in /run/netns with no namespace mounted on them. */
async function deadNetns(linux: Linux): Promise<Set<string>> {
  const [files, mounted] = await Promise.all([linux.netnsList(), linux.netnsMounted()]);
  return new Set(files.filter((ns) => !mounted.has(ns)));
}

/** Names of counters or sets of an nft table, unique and sorted; each must be an nft identifier. */
function nftNames(names: readonly string[] | undefined, what: 'counter' | 'set' | 'map', pluginId: string): string[] {
  const list: unknown = names ?? [];
  if (!Array.isArray(list)) throw new Error(`plugin ${pluginId}: nftTable ${what}s must be a list of names`);
  for (const name of list as unknown[]) {
    try {
      assertNftName(name as string);
    } catch {
      throw new Error(`plugin ${pluginId}: ${what} name ${JSON.stringify(name)} is not an nft identifier ([a-zA-Z][a-zA-Z0-9_]{0,30})`);
    }
  }
  return [...new Set(list as string[])].sort();
}

/**
 * Name → its elements, for nftTable's `sets` or `maps`: names checked, each element turned into
 * `[key, text]` by `element` (which throws on a bad one), unique by key, sorted; anything else
 * throws before anything runs.
 */
function namedElements<E>(
  given: Readonly<Record<string, readonly E[]>> | undefined,
  kind: 'set' | 'map',
  listOf: string,
  pluginId: string,
  element: (value: unknown, name: string, byKey: ReadonlyMap<string, string>) => [key: string, text: string],
): Map<string, string[]> {
  if (given === undefined) return new Map();
  if (given === null || typeof given !== 'object' || Array.isArray(given)) throw new Error(`plugin ${pluginId}: nftTable ${kind}s must map ${kind} names to lists of elements`);
  const out = new Map<string, string[]>();
  for (const name of nftNames(Object.keys(given), kind, pluginId)) {
    const list: unknown = given[name];
    if (!Array.isArray(list)) throw new Error(`plugin ${pluginId}: ${kind} ${name}: elements must be a list of ${listOf}`);
    const byKey = new Map<string, string>();
    for (const value of list as unknown[]) {
      const [key, text] = element(value, name, byKey);
      byKey.set(key, text);
    }
    out.set(name, [...byKey.values()].sort());
  }
  return out;
}

/** Set name → its elements (canonical IPs or CIDRs, unique, sorted). */
function setElements(sets: Readonly<Record<string, readonly string[]>> | undefined, pluginId: string): Map<string, string[]> {
  return namedElements(sets, 'set', 'IP addresses or CIDRs', pluginId, (element, name) => {
    const canonical = canonicalElement(element);
    if (canonical === undefined || canonical !== element) {
      const hint = canonical === undefined ? '' : ` (did you mean ${canonical}?)`;
      throw new Error(`plugin ${pluginId}: set ${name}: element ${JSON.stringify(element)} is not a canonical IP address or CIDR${hint}`);
    }
    return [elementKey(canonical), canonical];
  });
}

/** The canonical text of an IP address or a CIDR with host bits clear (e.g. `10.0.0.0/24`), or undefined when it is neither. */
function canonicalElement(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    if (!value.includes('/')) return ipaddr.parse(value).toString();
    const [address, prefix] = ipaddr.parseCIDR(value);
    const network = address.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(value) : ipaddr.IPv6.networkAddressFromCIDR(value);
    return `${network.toString()}/${prefix}`;
  } catch {
    return undefined;
  }
}

/** How the kernel lists an element: a CIDR as long as its address is the address alone. */
function elementKey(element: string): string {
  const [address, prefix] = element.split('/');
  return prefix !== undefined && Number(prefix) === (address.includes(':') ? 128 : 32) ? address : element;
}

/** One element of an `nft -j` set listing (an address, `{prefix}`, `{range}`, or `{elem: {val}}` with extras), as {@link elementKey} has it. */
function listedElement(value: unknown): string {
  const v = value as { elem?: { val?: unknown }; prefix?: { addr?: unknown; len?: unknown }; range?: unknown[] } | string;
  if (typeof v === 'string') return elementKey(canonicalElement(v) ?? v);
  if (v?.elem) return listedElement(v.elem.val);
  if (v?.prefix) return elementKey(`${canonicalElement(v.prefix.addr) ?? String(v.prefix.addr)}/${String(v.prefix.len)}`);
  return JSON.stringify(v);
}

function sameElements(listed: string[] | undefined, wanted: string[]): boolean {
  if (listed === undefined) return false;
  // Both sides as the kernel lists them: what the context wrote itself holds `/32` and `/128` CIDRs.
  const want = new Set(wanted.map(elementKey));
  return listed.length === want.size && listed.every((e) => want.has(elementKey(e)));
}

/** Table `inet NAME` in an `nft -j list ruleset`: its chain names and its sets' elements (as {@link listedElement} has them), or null when absent. */
/** The plugin's table in a namespace as the context knows it: its mark and the names it holds. */
interface KnownTable {
  exists: boolean;
  /** The mark chain of the body it holds (undefined: no table, or not one of ours). */
  mark: string | undefined;
  chains: string[];
  /** Sets with their elements. */
  sets: Map<string, string[]>;
  maps: string[];
  /** Maps with their elements (as {@link listedMapElement} writes them). */
  mapElems: Map<string, string[]>;
  counters: string[];
  /** The body's declarations as last written by an incremental call (unknown after a read from the kernel). */
  parts?: Map<string, Part>;
  /** When it was last read or replaced. */
  at: number;
}

const EMPTY_TABLE = (): KnownTable => ({ exists: false, mark: undefined, chains: [], sets: new Map(), maps: [], mapElems: new Map(), counters: [], at: Date.now() });

/** A known table with its parts, as {@link partsDiff} compares it. */
const heldParts = (t: KnownTable): HeldParts => ({
  parts: t.parts ?? new Map<string, Part>(),
  sets: new Map([...t.sets].map(([n, e]) => [n, e.map(elementKey)])),
  maps: t.mapElems,
  counters: t.counters,
  mark: t.mark ?? '',
});

/** Map name → its elements' texts (checked, unique by key, sorted). */
function mapElements(maps: Readonly<Record<string, readonly NftMapElement[]>> | undefined, pluginId: string): Map<string, string[]> {
  return namedElements(maps, 'map', '{ key, value }', pluginId, (element, name, byKey) => {
    const checked = mapElementText(element);
    if ('error' in checked) throw new Error(`plugin ${pluginId}: map ${name}: ${checked.error}`);
    const key = elementKeyOf(checked.text);
    if (byKey.has(key) && byKey.get(key) !== checked.text) throw new Error(`plugin ${pluginId}: map ${name}: key ${key} is given twice`);
    return [key, checked.text];
  });
}

/** The names of the chains, sets and maps a table body declares. */
function declaredNames(body: string): { chains: string[]; sets: string[]; maps: string[] } {
  const names = (word: string): string[] => [...body.matchAll(new RegExp(`^\\s*${word}\\s+([A-Za-z_][A-Za-z0-9_]*)\\s*\\{`, 'gm'))].map((m) => m[1]);
  return { chains: names('chain'), sets: names('set'), maps: names('map') };
}

/** The families a plugin's table may have: inet, and bridge for what only bridged frames show (the port a flooded frame leaves by). */
/** Named counters as a plugin reads them. */
type Counts = Record<string, { packets: number; bytes: number }>;

type TableFamily = 'inet' | 'bridge';
const TABLE_FAMILIES: readonly TableFamily[] = ['inet', 'bridge'];

/** Table `FAMILY NAME` in an `nft -j list ruleset`, as a {@link KnownTable}. */
function readTable(ruleset: unknown, name: string, family: TableFamily = 'inet'): KnownTable {
  type Item = { family?: string; name?: string; table?: string; elem?: unknown[] };
  const items = (ruleset as { nftables?: Record<string, Item>[] } | null)?.nftables ?? [];
  const known = EMPTY_TABLE();
  const mine = (x: Item | undefined): x is Item => x?.family === family && x.table === name && typeof x.name === 'string';
  for (const item of items) {
    if (item.table?.family === family && item.table.name === name) known.exists = true;
    if (mine(item.chain)) {
      known.chains.push(item.chain.name!);
      if (item.chain.name!.startsWith('netloom_')) known.mark = item.chain.name;
    }
    if (mine(item.set)) known.sets.set(item.set.name!, (item.set.elem ?? []).map(listedElement));
    if (mine(item.map)) {
      known.maps.push(item.map.name!);
      known.mapElems.set(item.map.name!, (item.map.elem ?? []).map(listedMapElement).sort());
    }
    if (mine(item.counter)) known.counters.push(item.counter.name!);
  }
  return known;
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
  private readonly adds: { name: string; key?: string }[] = [];
  private readonly dels = new IpBatch();
  private readonly hostBatch: IpBatch;
  private readonly nsBatches = new Map<string, IpBatch>();
  readonly host: LinkChanges;
  /** The plugin's links in the host namespace this change set touches. */
  readonly hostLinks = new Set<string>();
  /** The namespaces this change set adds and deletes. */
  readonly addedNetns: string[] = [];
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
    // Checked now, batched at run (when dead files are known).
    this.adds.push({ name: assertNetnsName(this.ownedNs(name, 'netnsAdd')), key });
    this.addedNetns.push(name);
  }

  netnsDel(name: string, key?: string): void {
    this.dels.netnsDel(this.ownedNs(name, 'netnsDel'), key);
    this.deletedNetns.push(name);
  }

  /** The plugin's namespaces this change set changes links in. */
  get changedNetns(): string[] {
    return [...this.nsBatches.keys()];
  }

  in(netns: string): LinkChanges {
    this.ownedNs(netns, 'changes in');
    let batch = this.nsBatches.get(netns);
    if (!batch) this.nsBatches.set(netns, (batch = new IpBatch(netns)));
    // Inside its own namespace a plugin names interfaces freely (libs/linux validates them).
    return new BatchChanges(batch, (name) => name, this.ownedNs, (name) => name, false);
  }

  /**
   * Runs the batches in order: namespace additions (each after removing a dead file of its name),
   * the host's, each namespace's (in parallel), deletions.
   */
  async run(linux: Linux, deadNetns: ReadonlySet<string>): Promise<ApplyResult> {
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
    const adds = new IpBatch();
    for (const { name, key } of this.adds) {
      if (deadNetns.has(name)) adds.netnsDel(name, key);
      adds.netnsAdd(name, key);
    }
    record(await one(adds));
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
    this.hostLinks.add(name);
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

  linkSet(
    name: string,
    opts: { up?: boolean; down?: boolean; mtu?: number; master?: string; nomaster?: boolean; address?: string; addrgenmode?: 'none' | 'eui64' },
    key?: string,
  ): this {
    this.link(name, 'linkSet');
    if (opts.master !== undefined) this.master(opts.master);
    this.batch.linkSet(name, { up: opts.up, down: opts.down, mtu: opts.mtu, master: opts.master, nomaster: opts.nomaster, address: opts.address, addrgenmode: opts.addrgenmode }, key);
    return this;
  }

  linkDel(name: string, key?: string): this {
    this.batch.linkDel(this.link(name, 'linkDel'), key);
    return this;
  }

  ifbAdd(name: string, key?: string): this {
    this.batch.ifbAdd(this.link(name, 'ifbAdd'), {}, key);
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
