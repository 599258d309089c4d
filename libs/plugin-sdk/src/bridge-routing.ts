import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { assertIfName, type BatchResult, IpBatch, type LinkInfo, Linux, type RouteInfo, wholeBatchFailed } from '@netloom/linux';
import type { ApplyResult, BridgeRouting, PortPlace } from './host-context';
import { TRUST_MS } from './trust';

/** The preference of the rule `iif BRIDGE lookup TABLE` that {@link HostContext.bridgeRouting} adds (before the main table's, 32766). */
export const BRIDGE_ROUTING_PREF = 1100;

/** The plugins' tables: 0x4e000000 ("N") plus 24 bits of a hash of the plugin id and the bridge. */
const TABLE_BASE = 0x4e000000;

/** The routing table of a plugin for a bridge: the same on every call and every agent. */
export function bridgeRoutingTable(pluginId: string, bridge: string): number {
  return TABLE_BASE + createHash('sha256').update(`${pluginId}\u0000${bridge}`).digest().readUIntBE(0, 3);
}

/** Where {@link BridgeRoutes} acts and what it may use. */
export interface BridgeRoutesOptions {
  linux: Linux;
  pluginId: string;
  /** The namespace playing the host's (undefined: the agent's own). */
  hostNetns: string | undefined;
  /** Core network id → its bridge on this host, read on every call. */
  networkBridges: ReadonlyMap<string, string>;
  /** Core port id → where it is on this host, read on every call. */
  ports: ReadonlyMap<string, PortPlace>;
  trustMs?: number;
}

/** One route in the plugin's table, as given (`dst` canonical: `default`, or a prefix with host bits clear). */
interface Route {
  dst: string;
  via?: string;
}

/** A bridge as last applied. */
interface Routed {
  bridge: string;
  table: number;
  /** What its failures are reported under (its network id). */
  key: string;
  hash: string;
  /** The host ends this context turned hairpin on for. */
  hairpin: string[];
  /** Whether this context turned forwarding on (or found the rule of an earlier agent): it is set back to 0 when the network goes. */
  forwarding: boolean;
  /** The routes of its table as applied (known only once applied and read). */
  routes?: Route[];
  /** When what it holds was last read from the kernel (0: read on the next call). */
  at: number;
}

/** A network as given this pass, checked. */
interface Wanted extends Omit<Routed, 'at' | 'forwarding' | 'routes'> {
  routes: Route[];
}

const routeKey = (r: Route): string => `${r.dst} ${r.via ?? ''}`;

const forwardingKey = (bridge: string): string => `net/ipv4/conf/${bridge}/forwarding`;
/** `ip -j route show` writes a host route without `/32` and `0.0.0.0/0` as `default`. */
const listedDst = (dst: string): string => (dst === 'default' || dst.includes('/') ? dst : `${dst}/32`);
/** Lines whose failure means what they undo is already gone. */
const UNDOING = /^(rule del|route del|route flush) |hairpin off$/;

/**
 * The bridges whose bridged traffic one plugin's nat table in the host namespace may translate
 * ({@link HostContext.bridgeRouting}), level-triggered like {@link TrafficControl}: {@link ensure}
 * is given the whole set every pass, writes what differs, and undoes what it did for the networks
 * no longer given.
 */
export class BridgeRoutes {
  /** By bridge. */
  private readonly routed = new Map<string, Routed>();
  /** Whether the rules an earlier agent left for this plugin were taken over (once, on the first call). */
  private adopted = false;

  constructor(private readonly opts: BridgeRoutesOptions) {}

  /** These host ends (a port's veth made again) may have lost hairpin mode: the next call reads them. */
  forget(hostIfnames: readonly string[]): void {
    const gone = new Set(hostIfnames);
    for (const r of this.routed.values()) if (r.hairpin.some((dev) => gone.has(dev))) r.at = 0;
  }

  async ensure(networks: readonly BridgeRouting[]): Promise<ApplyResult> {
    const p = `plugin ${this.opts.pluginId}: bridgeRouting`;
    const given: unknown = networks;
    if (!Array.isArray(given)) throw new Error(`${p} takes a list of networks`);
    // Everything is checked before anything runs.
    const wanted = new Map<string, Wanted>();
    const tables = new Map<number, string>();
    const keys = new Set<string>();
    for (const network of networks) {
      const w = this.build(network);
      if (keys.has(w.key)) throw new Error(`${p}: network ${w.key} is given twice`);
      if (wanted.has(w.bridge)) throw new Error(`${p}: networks ${wanted.get(w.bridge)!.key} and ${w.key} share bridge ${w.bridge}`);
      const other = tables.get(w.table);
      if (other !== undefined) throw new Error(`${p}: bridges ${other} and ${w.bridge} get the same table ${w.table}; rename one`);
      keys.add(w.key);
      tables.set(w.table, w.bridge);
      wanted.set(w.bridge, w);
    }
    const { linux, hostNetns } = this.opts;
    const now = Date.now();
    const trust = this.opts.trustMs ?? TRUST_MS;
    // Each read once per call, and only when something must be checked or changed.
    const once = <T>(read: () => Promise<T>): (() => Promise<T | null>) => {
      let p: Promise<T | null> | undefined;
      return () => (p ??= read().catch(() => null));
    };
    const rules = once(() => linux.rules(hostNetns));
    const links = once(() => linux.links(hostNetns));
    if (!this.adopted) {
      // Rules an earlier agent left for this plugin: pref 1100, the plugin's table for their iif.
      const all = await rules();
      for (const r of all ?? []) {
        if (r.priority !== BRIDGE_ROUTING_PREF || r.iif === undefined || this.routed.has(r.iif)) continue;
        const table = bridgeRoutingTable(this.opts.pluginId, r.iif);
        if (r.table === String(table)) this.routed.set(r.iif, { bridge: r.iif, table, key: r.iif, hash: '', hairpin: [], forwarding: true, at: 0 });
      }
      this.adopted = all !== null;
    }

    const failed: ApplyResult['failed'] = [];
    const batch = new IpBatch(hostNetns);
    const sysctls: { key: string; bridge: string; value: '0' | '1' }[] = [];
    /** What each changed network will be once the batch ran. */
    const next = new Map<string, Routed>();
    await Promise.all(
      [...wanted.values()].map(async (w) => {
        const known = this.routed.get(w.bridge);
        const trusted = known !== undefined && known.routes !== undefined && now - known.at < trust;
        if (trusted && known.hash === w.hash) return;
        if (trusted) {
          // Read back recently: only what changed is written (routes, hairpin), nothing is read;
          // the trust clock keeps running from that read.
          const had = new Set(known.routes!.map(routeKey));
          const want = new Set(w.routes.map(routeKey));
          for (const r of known.routes!) if (!want.has(routeKey(r))) batch.routeDel({ dst: r.dst, table: w.table }, w.key);
          for (const r of w.routes) if (!had.has(routeKey(r))) batch.routeReplace({ dst: r.dst, ...(r.via !== undefined ? { via: r.via } : {}), dev: w.bridge, table: w.table }, w.key);
          for (const dev of w.hairpin) if (!known.hairpin.includes(dev)) batch.hairpinSet(dev, true, w.key);
          for (const dev of known.hairpin) if (!w.hairpin.includes(dev)) batch.hairpinSet(dev, false, w.key);
          next.set(w.bridge, { ...known, hash: w.hash, hairpin: [...w.hairpin], routes: w.routes });
          return;
        }
        // A bridge this context does not route yet, once it took over what an earlier agent left
        // (the rules of its pref and tables): its rule is known absent, its table is flushed
        // before the routes go in and its hairpin ports are set, all in the same batch, so
        // nothing is read (3 processes, ~20 ms; a missing port fails its line).
        const fresh = known === undefined && this.adopted;
        const [allRules, listed, forwarding, allLinks] = await Promise.all([
          fresh ? Promise.resolve([]) : rules(),
          fresh ? Promise.resolve(null) : linux.routes(hostNetns, 4, w.table).catch(() => null),
          linux.readSysctl(forwardingKey(w.bridge), hostNetns),
          !fresh && (w.hairpin.length || known?.hairpin.length) ? links() : Promise.resolve(null),
        ]);
        if (forwarding === null) {
          failed.push({ key: w.key, line: '', error: `no bridge ${w.bridge} in the host namespace` });
          return;
        }
        if (!allRules?.some((r) => r.priority === BRIDGE_ROUTING_PREF && r.iif === w.bridge && r.table === String(w.table))) {
          batch.ruleAdd({ iif: w.bridge, table: w.table, pref: BRIDGE_ROUTING_PREF }, w.key);
        }
        if (forwarding !== '1') sysctls.push({ key: w.key, bridge: w.bridge, value: '1' });
        if (fresh) batch.routeFlush(w.table, w.key);
        this.routes(batch, w, listed);
        const hairpin = this.hairpin(batch, w, known, allLinks, failed);
        next.set(w.bridge, {
          bridge: w.bridge,
          table: w.table,
          key: w.key,
          hash: w.hash,
          hairpin,
          forwarding: (known?.forwarding ?? false) || forwarding !== '1',
          routes: w.routes,
          at: Date.now(),
        });
      }),
    );
    // Networks no longer given: their rule, table, forwarding and hairpin go.
    for (const [bridge, r] of this.routed) {
      if (wanted.has(bridge)) continue;
      this.routed.delete(bridge);
      batch.ruleDel({ iif: bridge, table: r.table, pref: BRIDGE_ROUTING_PREF }, r.key);
      batch.routeFlush(r.table, r.key);
      for (const dev of r.hairpin) batch.hairpinSet(dev, false, r.key);
      if (r.forwarding) sysctls.push({ key: r.key, bridge, value: '0' });
    }

    const [result, sysctlFailures] = await Promise.all([
      linux.applyIpBatch(batch).catch((e: unknown): BatchResult => wholeBatchFailed(batch.lines, e)),
      Promise.all(
        sysctls.map(async (s) => {
          try {
            await linux.sysctl(forwardingKey(s.bridge), s.value, hostNetns);
            return null;
          } catch (e) {
            // Setting it back fails when the bridge went: nothing is left to undo.
            if (s.value === '0') return null;
            return { key: s.key, line: `sysctl -w ${forwardingKey(s.bridge)}=${s.value}`, error: e instanceof Error ? e.message : String(e) };
          }
        }),
      ),
    ]);
    for (const f of [...result.failed.map((x) => ({ key: x.key, line: x.text, error: x.error })), ...sysctlFailures.flatMap((x) => x ?? [])]) {
      if (UNDOING.test(f.line)) continue;
      failed.push({ ...(f.key !== undefined ? { key: f.key } : {}), line: f.line, error: f.error });
    }
    const failedKeys = new Set(failed.map((f) => f.key));
    for (const [bridge, r] of next) {
      // A failed network is tried again next call (what it turned on, before too, is still undone when it goes).
      const before = this.routed.get(bridge)?.hairpin ?? [];
      this.routed.set(bridge, failedKeys.has(r.key) ? { ...r, hairpin: [...new Set([...r.hairpin, ...before])], hash: '', at: 0 } : r);
    }
    return { ok: failed.length === 0, failed };
  }

  /** The routes of the table as given: what differs replaced, what is not given deleted. */
  private routes(batch: IpBatch, w: Wanted, listed: RouteInfo[] | null): void {
    const dsts = new Set(w.routes.map((r) => r.dst));
    for (const r of listed ?? []) {
      const dst = listedDst(r.dst);
      if (!dsts.has(dst)) batch.routeDel({ dst, table: w.table }, w.key);
    }
    for (const route of w.routes) {
      const held = listed?.some((r) => listedDst(r.dst) === route.dst && r.gateway === route.via && r.dev === w.bridge);
      if (!held) batch.routeReplace({ dst: route.dst, ...(route.via !== undefined ? { via: route.via } : {}), dev: w.bridge, table: w.table }, w.key);
    }
  }

  /** Hairpin on for the ports given, off for those this context turned on and no longer given; returns the ports it holds on. */
  private hairpin(batch: IpBatch, w: Wanted, known: Routed | undefined, links: LinkInfo[] | null, failed: ApplyResult['failed']): string[] {
    const on: string[] = [];
    for (const dev of w.hairpin) {
      const link = links?.find((l) => l.ifname === dev);
      if (links && !link) {
        failed.push({ key: w.key, line: '', error: `no port host end ${dev} in the host namespace` });
        continue;
      }
      on.push(dev);
      if (link?.hairpin !== true) batch.hairpinSet(dev, true, w.key);
    }
    for (const dev of known?.hairpin ?? []) {
      if (w.hairpin.includes(dev)) continue;
      if (links?.find((l) => l.ifname === dev)?.hairpin !== false) batch.hairpinSet(dev, false, w.key);
    }
    return on;
  }

  /** Checks a network and what it asks for. */
  private build(network: BridgeRouting): Wanted {
    const p = `plugin ${this.opts.pluginId}: bridgeRouting`;
    if (network === null || typeof network !== 'object') throw new Error(`${p}: a network must be { networkId, routes, hairpinPorts? }`);
    const { networkId } = network;
    const bridge = typeof networkId === 'string' ? this.opts.networkBridges.get(networkId) : undefined;
    if (bridge === undefined) throw new Error(`${p}: network ${JSON.stringify(networkId)} has no bridge on this host`);
    assertIfName(bridge);
    const given: unknown = network.routes;
    if (!Array.isArray(given)) throw new Error(`${p} ${networkId}: routes must be a list of { dst, via? }`);
    const routes: Route[] = [];
    for (const route of given as unknown[]) {
      if (route === null || typeof route !== 'object') throw new Error(`${p} ${networkId}: a route is { dst, via? }`);
      const { dst, via } = route as { dst?: unknown; via?: unknown };
      const canonical = ipv4Prefix(dst);
      if (canonical === null) throw new Error(`${p} ${networkId}: route dst ${JSON.stringify(dst)} is not an IPv4 prefix with its host bits clear (10.0.0.0/24) nor default`);
      if (via !== undefined && !(typeof via === 'string' && ipaddr.IPv4.isValidFourPartDecimal(via))) {
        throw new Error(`${p} ${networkId}: route via ${JSON.stringify(via)} is not an IPv4 address`);
      }
      if (routes.some((r) => r.dst === canonical)) throw new Error(`${p} ${networkId}: route ${canonical} is given twice`);
      routes.push({ dst: canonical, ...(via !== undefined ? { via } : {}) });
    }
    const ports: unknown = network.hairpinPorts ?? [];
    if (!Array.isArray(ports)) throw new Error(`${p} ${networkId}: hairpinPorts must be a list of port ids`);
    const hairpin = new Set<string>();
    for (const portId of ports as unknown[]) {
      const place = typeof portId === 'string' ? this.opts.ports.get(portId) : undefined;
      if (place?.hostIfname === undefined) throw new Error(`${p} ${networkId}: port ${JSON.stringify(portId)} is not on this host`);
      if (place.bridge !== undefined && place.bridge !== bridge) throw new Error(`${p} ${networkId}: port ${String(portId)} is on bridge ${place.bridge}, not ${bridge}`);
      hairpin.add(assertIfName(place.hostIfname));
    }
    const table = bridgeRoutingTable(this.opts.pluginId, bridge);
    // Routes on the link first: a gateway is reachable only once the prefix holding it is routed.
    const sortedRoutes = [...routes].sort((a, b) => (!!a.via !== !!b.via ? (a.via ? 1 : -1) : a.dst < b.dst ? -1 : 1));
    const sortedHairpin = [...hairpin].sort();
    const hash = createHash('sha256').update(JSON.stringify([bridge, table, sortedRoutes, sortedHairpin])).digest('hex').slice(0, 16);
    return { bridge, table, key: networkId, hash, routes: sortedRoutes, hairpin: sortedHairpin };
  }
}

/** `default`, or an IPv4 prefix with its host bits clear (`0.0.0.0/0` is `default`); null for anything else. */
function ipv4Prefix(dst: unknown): string | null {
  if (dst === 'default') return dst;
  if (typeof dst !== 'string') return null;
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(dst);
  if (!m || !ipaddr.IPv4.isValidFourPartDecimal(m[1]) || Number(m[2]) > 32) return null;
  if (ipaddr.IPv4.networkAddressFromCIDR(dst).toString() !== m[1]) return null;
  return Number(m[2]) === 0 ? 'default' : dst;
}
