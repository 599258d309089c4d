import { type AgentHalf, type DesiredPluginResource, type HostContext, inParallel, type ObservedOf, type PluginStatus, RealizationState } from '@netloom/plugin-sdk';
import { type HostPort, hostTable, PORT_MARKS } from './host-table';
import type { firewallPolicyKind, PolicyPlacement } from './spec';
import { defaultCounter, type FilteredPort, firewallTable, type HeldPolicy, portDefault, ruleCounter } from './table';

/**
 * Port namespaces that may hold a table of ours, per host context: emptied when no policy covers
 * them any more. On the first pass, every port's namespace (a table may be left from before).
 */
const written = new WeakMap<HostContext, Set<string>>();

/** What a policy's agent half reports per host (its kind's `observed` schema). */
export type PolicyObserved = ObservedOf<typeof firewallPolicyKind>;

const held = (desired: DesiredPluginResource<PolicyPlacement>[]): HeldPolicy[] => desired.map((r) => ({ id: r.id, spec: r.spec }));

/**
 * A port needs its own table in its namespace when one of its policies may REJECT (the host
 * namespace cannot answer for a bridged port: see DESIGN.md), or when its addresses cannot tell
 * its traffic apart: none given (port security off, or the host does not say), a CIDR among them
 * (an allowed address pair), or one another port of its bridge has too (a shared VIP). Every
 * other port is filtered in the one table of the host.
 */
const ownTable = (policies: HeldPolicy[], place: { bridge?: string; addresses?: string[] }, shared: (key: string) => boolean): boolean =>
  !place.bridge || !place.addresses?.length || place.addresses.some((a) => a.includes('/') || shared(`${place.bridge} ${a}`)) || policies.some(mayReject);

/** Whether a policy may REJECT, once per placement received (asked for each port it covers, twice a pass). */
const rejecting = new WeakMap<PolicyPlacement, boolean>();
function mayReject({ spec }: HeldPolicy): boolean {
  let may = rejecting.get(spec);
  if (may === undefined) rejecting.set(spec, (may = spec.ingressDefault === 'REJECT' || spec.egressDefault === 'REJECT' || spec.rules.some((r) => r.action === 'REJECT')));
  return may;
}

/**
 * Whether bridged IPv4 and IPv6 traffic passes the inet hooks of the host namespace
 * (br_netfilter loaded, `bridge-nf-call-iptables` and `-ip6tables` 1), without which the host
 * table sees none of the ports' traffic. Logged when it changes.
 */
const bridgedSeen = new WeakMap<HostContext, boolean>();
async function bridgedTrafficFiltered(host: HostContext): Promise<boolean> {
  const values = await Promise.all(['net.bridge.bridge-nf-call-iptables', 'net.bridge.bridge-nf-call-ip6tables'].map((key) => host.sysctlValue(key)));
  const on = values.every((v) => v === '1');
  if (bridgedSeen.get(host) !== on) {
    if (!on || bridgedSeen.has(host)) {
      host.log(
        on
          ? 'bridged traffic passes the host namespace’s inet hooks again: ports go back to the host table'
          : `bridged traffic does not pass the host namespace’s inet hooks (bridge-nf-call-iptables ${values[0] ?? 'absent: br_netfilter not loaded'}, -ip6tables ${values[1] ?? 'absent'}): every port is filtered by a table in its own namespace`,
      );
    }
    bridgedSeen.set(host, on);
  }
  return on;
}

/**
 * The covered ports on this host: those filtered in the host table (only where `bridged`, see
 * {@link bridgedTrafficFiltered}), and the others by namespace; policies whose port is not here fail.
 */
function placed(policies: HeldPolicy[], host: HostContext, bridged: boolean, failed: Map<string, string>): { hosted: HostPort[]; namespaces: Map<string, FilteredPort[]> } {
  const byPort = new Map<string, HeldPolicy[]>();
  for (const p of policies) for (const portId of p.spec.ports) byPort.set(portId, [...(byPort.get(portId) ?? []), p]);
  const hosted: HostPort[] = [];
  const namespaces = new Map<string, FilteredPort[]>();
  // Nothing covered here: no port of the host need be looked at (a host of many ports and no policy).
  if (!byPort.size) return { hosted, namespaces };
  // (bridge, address) of every port of the host, covered or not: an address two ports have keys neither.
  const claims = new Map<string, number>();
  for (const portId of host.portIds()) {
    const place = host.port(portId);
    for (const a of new Set(place?.addresses ?? [])) claims.set(`${place!.bridge} ${a}`, (claims.get(`${place!.bridge} ${a}`) ?? 0) + 1);
  }
  const shared = (key: string): boolean => (claims.get(key) ?? 0) > 1;
  for (const [portId, covering] of byPort) {
    const port = host.port(portId);
    if (!port) {
      for (const p of covering) if (!failed.has(p.id)) failed.set(p.id, `port ${portId} is not on this host yet`);
      continue;
    }
    if (bridged && !ownTable(covering, port, shared)) hosted.push({ portId, bridge: port.bridge!, addresses: port.addresses!, policies: covering, ...(port.hostIfname ? { hostIfname: port.hostIfname } : {}) });
    else namespaces.set(port.netns, [...(namespaces.get(port.netns) ?? []), { portId, ifname: port.ifname, policies: covering }]);
  }
  return { hosted, namespaces };
}

const failAll = (ports: { policies: HeldPolicy[] }[], error: unknown, failed: Map<string, string>): void => {
  const reason = error instanceof Error ? error.message : String(error);
  for (const port of ports) for (const p of port.policies) if (!failed.has(p.id)) failed.set(p.id, reason);
};

/** The conntrack zone of each bridge in the host table, per host context: kept while the bridge is there (read back from the table after a restart). */
const zoneBook = new WeakMap<HostContext, Map<string, number>>();

/** Zones of the bridges `ports` are on: those already given keep theirs, a new bridge gets the lowest free (1-65535). */
async function bridgeZones(host: HostContext, ports: HostPort[]): Promise<Map<string, number>> {
  let zones = zoneBook.get(host);
  if (!zones) {
    zones = new Map();
    type Item = { map?: { name?: string; elem?: unknown[] } };
    const listed = ((await host.nftList().catch(() => null)) as { nftables?: Item[] } | null)?.nftables ?? [];
    for (const item of listed) {
      if (item.map?.name !== 'zones') continue;
      for (const e of item.map.elem ?? []) {
        const [bridge, zone] = e as [unknown, unknown];
        if (typeof bridge === 'string' && typeof zone === 'number') zones.set(bridge, zone);
      }
    }
    zoneBook.set(host, zones);
  }
  allot(zones, ports.map((p) => p.bridge), 65_535);
  return zones;
}

/** Numbers 1..`max` in `book` for `keys` only: those given keep theirs, a new key gets the lowest free (none once all are taken). */
function allot(book: Map<string, number>, keys: string[], max: number): void {
  const here = new Set(keys);
  for (const key of [...book.keys()]) if (!here.has(key)) book.delete(key);
  const used = new Set(book.values());
  let next = 1;
  for (const key of [...here].sort()) {
    if (book.has(key)) continue;
    while (used.has(next)) next++;
    if (next > max) return;
    book.set(key, next);
    used.add(next);
  }
}

/** The mark of each port in the host table, per host context: kept while the port is there, the lowest free for a new one. */
const markBook = new WeakMap<HostContext, Map<string, number>>();

/** `ports` with their marks ({@link PORT_MARKS}); ports beyond the range get none (their broadcast is not filtered). */
function portMarks(host: HostContext, ports: HostPort[]): HostPort[] {
  let marks = markBook.get(host);
  if (!marks) markBook.set(host, (marks = new Map<string, number>()));
  allot(marks, ports.map((p) => p.portId), PORT_MARKS.count);
  const book = marks;
  return ports.map((p) => (book.has(p.portId) ? { ...p, mark: PORT_MARKS.first + book.get(p.portId)! } : p));
}

async function reconcile(desired: DesiredPluginResource<PolicyPlacement>[], host: HostContext): Promise<PluginStatus[]> {
  const policies = held(desired);
  const failed = new Map<string, string>();
  const { hosted, namespaces } = placed(policies, host, await bridgedTrafficFiltered(host), failed);
  let mine = written.get(host);
  if (!mine) {
    // First pass of this process: a table in any port's namespace may be left from before.
    written.set(host, (mine = new Set()));
    for (const portId of host.portIds()) {
      const netns = host.port(portId)?.netns;
      if (netns && !namespaces.has(netns)) mine.add(netns);
    }
  }
  const mineNow = mine;
  await inParallel([...namespaces], async ([netns, ports]) => {
    const { body, counters, sets } = firewallTable(ports);
    try {
      await host.nftTable(body, netns, { counters, sets });
      mineNow.add(netns);
    } catch (error) {
      failAll(ports, error, failed);
    }
  });
  // Then the host's table (a port moving to its own table is filtered there first): each rule
  // once, a port joining or leaving is a few map elements.
  const { body, counters, sets, maps, bridge } = hostTable(portMarks(host, hosted), await bridgeZones(host, hosted));
  await host.nftTable(body, undefined, { counters, sets, maps, incremental: true }).catch((error: unknown) => failAll(hosted, error, failed));
  // Then the marks of the ports' broadcast and multicast copies, which the host table reads.
  await host.nftTable(bridge.body, undefined, { maps: bridge.maps, family: 'bridge' }).catch((error: unknown) => failAll(hosted, error, failed));
  // Ports no longer covered: their table goes (a namespace that went with its port needs nothing).
  const stale = [...mineNow].filter((netns) => !namespaces.has(netns));
  await inParallel(stale, async (netns) => {
    await host.nftTable('', netns).catch(() => undefined);
    mineNow.delete(netns);
  });
  return policies.map((p) => {
    const reason = failed.get(p.id);
    return reason ? { id: p.id, state: RealizationState.FAILED, reason } : { id: p.id, state: RealizationState.APPLIED, attributes: { ports: String(p.spec.ports.length) } };
  });
}

type Counts = Record<string, { packets: number; bytes: number }>;

/** The last counters read per namespace, per host context. */
const counted = new WeakMap<HostContext, Map<string, { values: Counts; at: number }>>();

/**
 * Namespaces whose counters one observe reads: those never read first, then the longest unread.
 * With many filtered ports the figures lag (100 namespaces: each read every ~6 observes), but an
 * observe never costs more than this many nft processes.
 */
export const OBSERVE_BUDGET = 16;

/**
 * The host table's counters are read at most this often, behind the pass (listing hundreds of
 * them costs milliseconds, and an observe follows every reconcile pass before its statuses are
 * reported): a pass reports the last read, the agent's periodic observe the newer one.
 */
export const HOST_COUNTERS_MS = 1_000;

/** Per policy on this host: ports filtered, and each rule's packets and bytes summed over their namespaces. */
async function observe(desired: DesiredPluginResource<PolicyPlacement>[], host: HostContext): Promise<Record<string, PolicyObserved>> {
  const policies = held(desired);
  // Where the last pass put the ports (observe follows a pass).
  const { hosted, namespaces } = placed(policies, host, bridgedSeen.get(host) ?? true, new Map());
  const hostCounts: Counts = hosted.length ? await host.nftCounters(undefined, { maxAgeMs: HOST_COUNTERS_MS }).catch(() => ({})) : {};
  let cache = counted.get(host);
  if (!cache) counted.set(host, (cache = new Map<string, { values: Counts; at: number }>()));
  for (const netns of [...cache.keys()]) if (!namespaces.has(netns)) cache.delete(netns);
  const cached = cache;
  const due = [...namespaces.keys()].sort((a, b) => (cached.get(a)?.at ?? -1) - (cached.get(b)?.at ?? -1)).slice(0, OBSERVE_BUDGET);
  await inParallel(due, async (netns) => {
    const values: Counts = await host.nftCounters(netns).catch(() => ({}));
    cached.set(netns, { values, at: Date.now() });
  });
  const totals = new Map<string, { packets: number; bytes: number }>();
  for (const { values } of [...cached.values(), { values: hostCounts }]) {
    for (const [name, v] of Object.entries(values)) {
      const t = totals.get(name) ?? { packets: 0, bytes: 0 };
      totals.set(name, { packets: t.packets + v.packets, bytes: t.bytes + v.bytes });
    }
  }
  const out: Record<string, PolicyObserved> = {};
  for (const p of policies) {
    const count = (name: string) => totals.get(name) ?? { packets: 0, bytes: 0 };
    const ports = [...hosted, ...[...namespaces.values()].flat()].filter((f) => f.policies.includes(p));
    out[p.id] = {
      ports: ports.length,
      rules: p.spec.rules.map((r) => ({ priority: r.priority, direction: r.direction, action: r.action, ...count(ruleCounter(p.id, r.priority)) })),
      defaults: (['INGRESS', 'EGRESS'] as const).map((direction) => {
        // Counted on this policy where its default decided for a port (see portDefault).
        const decides = ports.some((f) => portDefault(f.policies, direction).policyId === p.id);
        return { direction, action: direction === 'INGRESS' ? p.spec.ingressDefault : p.spec.egressDefault, ...(decides ? count(defaultCounter(p.id, direction)) : { packets: 0, bytes: 0 }) };
      }),
    };
  }
  return out;
}

export const firewallAgent: AgentHalf<PolicyPlacement, PolicyObserved> = { reconcile, observe };
