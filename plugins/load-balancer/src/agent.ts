import {
  type AgentHalf,
  type Appliance,
  type BridgeRouting,
  deriveMac,
  type DesiredPluginResource,
  type HostContext,
  inParallel,
  type PluginStatus,
  RealizationState,
  reconcileAppliances,
} from '@netloom/plugin-sdk';
import { HealthChecks, type MemberCheck } from './health';
import type { LbPlacement, LoadBalancerObserved, MemberOperatingStatus, PlacedListener, PlacedMember } from './spec';
import { counterNames, type HostedLb, hostScope, hostTable, lbTable, memberKey, VIP_LEG } from './table';

/** The health checks of each host context (one per agent; the test kit makes more). */
const checks = new Map<HostContext, HealthChecks>();
const checksOf = (host: HostContext): HealthChecks => {
  let c = checks.get(host);
  if (!c) checks.set(host, (c = new HealthChecks(host)));
  return c;
};

const healthKey = (lbId: string, l: PlacedListener, m: PlacedMember): string => `${lbId}|${memberKey(l, m)}`;

/**
 * The status each member had when its load balancer's table was last written, per host context:
 * what observe reports, so OFFLINE is never shown before the member is out of the map.
 */
const applied = new WeakMap<HostContext, Map<string, MemberOperatingStatus>>();

/** Replaces what a load balancer's members were written with (`written`: health key → status) once its table is written. */
function noteWritten(host: HostContext, lbId: string, written: Map<string, MemberOperatingStatus>): void {
  let seen = applied.get(host);
  if (!seen) applied.set(host, (seen = new Map<string, MemberOperatingStatus>()));
  for (const key of [...seen.keys()]) if (key.startsWith(`${lbId}|`)) seen.delete(key);
  for (const [key, status] of written) seen.set(key, status);
}

/** A member's operating status on this host now (DISTRIBUTED, one checked elsewhere: what that host found). */
function memberStatus(host: HostContext, lbId: string, l: PlacedListener, m: PlacedMember, spread: boolean): { status: MemberOperatingStatus; last?: string } {
  if (!m.adminUp) return { status: 'DISABLED' };
  if (!l.healthMonitor) return { status: 'NO_MONITOR' };
  if (spread && !m.check) return { status: m.online === false ? 'OFFLINE' : 'ONLINE' };
  const state = checksOf(host).state(healthKey(lbId, l, m));
  // Not checked here (yet): what the controller last heard of it from here, ONLINE when nothing.
  const online = state ? state.online : m.online !== false;
  return { status: online ? 'ONLINE' : 'OFFLINE', ...(state?.last ? { last: state.last } : {}) };
}

const takesConnections = (s: MemberOperatingStatus): boolean => s === 'ONLINE' || s === 'NO_MONITOR';

/** A placement made before modes existed is an appliance's. */
const distributed = (r: DesiredPluginResource<LbPlacement>): boolean => r.spec.mode === 'DISTRIBUTED';

/** The responder of a network on this host (DISTRIBUTED): a namespace holding the network's VIPs. */
const responderId = (networkId: string): string => `responder:${networkId}`;

const failure = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** The key that says bridged traffic passes the host namespace's inet hooks, where DISTRIBUTED load balancers translate. */
export const BR_NETFILTER_KEY = 'net.bridge.bridge-nf-call-iptables';

async function reconcile(desired: DesiredPluginResource<LbPlacement>[], host: HostContext): Promise<PluginStatus[]> {
  const appliances = desired.filter((r) => !distributed(r));
  const spread = desired.filter(distributed);
  // DISTRIBUTED ones act where their network has a bridge here (clients, or a router's leg); elsewhere there is nothing to do.
  const hosted: HostedLb[] = [];
  for (const r of spread) {
    const bridge = host.networkBridge(r.spec.networkId);
    if (bridge) hosted.push({ id: r.id, p: r.spec, bridge });
  }
  const refusal = hosted.length ? await brNetfilterRefusal(host) : undefined;
  const byNetwork = new Map<string, HostedLb[]>();
  if (!refusal) {
    for (const lb of hosted) {
      const list = byNetwork.get(lb.p.networkId) ?? [];
      byNetwork.set(lb.p.networkId, [...list, lb]);
    }
  }
  // A responder per network answers ARP for its VIPs to this host's clients (the overlay's ARP
  // proxy keeps the question on the host) and refuses what no listener translates.
  const responders: Appliance[] = [...byNetwork].map(([networkId, lbs]) => {
    const gateway = lbs.map((lb) => lb.p.gateway).find((g) => g);
    return {
      id: responderId(networkId),
      legs: [{ name: VIP_LEG, networkId, mac: deriveMac(`lb-responder:${host.hostId}:${networkId}`), mtu: lbs[0].p.mtu, addresses: [...new Set(lbs.map((lb) => lb.p.cidr))].sort() }],
      routes: gateway ? [{ dst: 'default', via: gateway, dev: VIP_LEG }] : [],
      // Nothing to tell: a client is translated on its own host whatever MAC it sends the VIP to.
      announce: false,
    };
  });
  const outcomes = await reconcileAppliances(host, [
    ...appliances.map((r) => {
      const p = r.spec;
      return {
        id: r.id,
        legs: [{ name: VIP_LEG, networkId: p.networkId, mac: p.mac, mtu: p.mtu, addresses: [p.cidr] }],
        routes: p.gateway ? [{ dst: 'default', via: p.gateway, dev: VIP_LEG }] : [],
        forwarding: true,
      };
    }),
    ...responders,
  ]);
  const byId = new Map(outcomes.map((o) => [o.id, o]));
  checksOf(host).sync(memberChecks(appliances, byNetwork, byId));
  // What load balancers no longer here were written with is forgotten.
  const ids = new Set(desired.map((r) => r.id));
  const seen = applied.get(host);
  for (const key of [...(seen?.keys() ?? [])]) if (!ids.has(key.slice(0, key.indexOf('|')))) seen!.delete(key);
  const statuses = new Map<string, PluginStatus>();
  await Promise.all([reconcileAppliancesTables(appliances, byId, host, statuses), reconcileDistributed(spread, hosted, byNetwork, byId, refusal, host, statuses)]);
  return desired.map((r) => statuses.get(r.id) ?? { id: r.id, state: RealizationState.FAILED, reason: 'no outcome' });
}

/**
 * The members this host checks: an appliance's, from its namespace; a DISTRIBUTED load
 * balancer's whose port is here (`check`), from the network's responder (a member answers its
 * own host's responder for a VIP, so the check's reply comes back to it).
 */
function memberChecks(
  appliances: DesiredPluginResource<LbPlacement>[],
  byNetwork: Map<string, HostedLb[]>,
  outcomes: Map<string, { state: RealizationState; netns: string }>,
): MemberCheck[] {
  const from = [
    ...appliances.map((r) => ({ id: r.id, p: r.spec, outcome: outcomes.get(r.id), distributed: false })),
    ...[...byNetwork].flatMap(([networkId, lbs]) => lbs.map((lb) => ({ id: lb.id, p: lb.p, outcome: outcomes.get(responderId(networkId)), distributed: true }))),
  ];
  const wanted: MemberCheck[] = [];
  for (const { id, p, outcome, distributed } of from) {
    if (outcome?.state !== RealizationState.APPLIED) continue;
    for (const l of p.listeners) {
      if (!l.healthMonitor) continue;
      for (const m of l.members) {
        if (!m.adminUp || (distributed && !m.check)) continue;
        // It starts as the controller last heard of it from here (an agent restarted keeps a dead member out).
        wanted.push({ key: healthKey(id, l, m), netns: outcome.netns, address: m.address, port: m.port, monitor: l.healthMonitor, initiallyOnline: m.online !== false });
      }
    }
  }
  return wanted;
}

/** The br_netfilter refusal, when bridged traffic does not pass the host's inet hooks. */
async function brNetfilterRefusal(host: HostContext): Promise<string | undefined> {
  const value = await host.sysctlValue(BR_NETFILTER_KEY);
  if (value === '1') return undefined;
  return `a DISTRIBUTED load balancer translates bridged traffic in the host namespace, which needs ${BR_NETFILTER_KEY}=1 there (it is ${value ?? 'absent: br_netfilter is not loaded'}); give mode APPLIANCE on such hosts`;
}

/** DISTRIBUTED: routing out of the bridges, then the host table; a status for each. */
async function reconcileDistributed(
  spread: DesiredPluginResource<LbPlacement>[],
  hosted: HostedLb[],
  byNetwork: Map<string, HostedLb[]>,
  outcomes: Map<string, { state: RealizationState; reason?: string; netns: string }>,
  refusal: string | undefined,
  host: HostContext,
  statuses: Map<string, PluginStatus>,
): Promise<void> {
  const failed = new Map<string, string>();
  if (refusal) for (const lb of hosted) failed.set(lb.id, refusal);
  const ready: HostedLb[] = [];
  const routing: BridgeRouting[] = [];
  for (const [networkId, lbs] of byNetwork) {
    const outcome = outcomes.get(responderId(networkId));
    if (outcome?.state !== RealizationState.APPLIED) {
      for (const lb of lbs) failed.set(lb.id, `its responder: ${outcome?.reason ?? 'not made'}`);
      continue;
    }
    ready.push(...lbs);
    routing.push(routingOf(networkId, lbs, host));
  }
  try {
    // Routing first: a packet translated before its route is there would be dropped.
    const routed = await host.bridgeRouting(routing);
    // Failures come back keyed by network (a line without a key fails them all).
    for (const f of routed.failed) {
      for (const lb of f.key !== undefined ? (byNetwork.get(f.key) ?? []) : ready) failed.set(lb.id, `${f.error} (${f.line})`);
    }
    // A member is out of every host's map once the host that checks it found it OFFLINE (that host's at once).
    const written = new Map<string, Map<string, MemberOperatingStatus>>();
    const writing = ready.filter((lb) => !failed.has(lb.id));
    const { body, counters } = hostTable(writing, (lb, l, m) => {
      const { status } = memberStatus(host, lb.id, l, m, true);
      const of = written.get(lb.id) ?? new Map<string, MemberOperatingStatus>();
      written.set(lb.id, of.set(healthKey(lb.id, l, m), status));
      return takesConnections(status);
    });
    await host.nftTable(body, undefined, { counters, incremental: true });
    for (const lb of writing) noteWritten(host, lb.id, written.get(lb.id) ?? new Map<string, MemberOperatingStatus>());
  } catch (error) {
    for (const lb of ready) if (!failed.has(lb.id)) failed.set(lb.id, failure(error));
  }
  const responderNs = new Map([...byNetwork.keys()].map((n) => [n, outcomes.get(responderId(n))?.netns ?? '']));
  for (const r of spread) {
    const reason = failed.get(r.id);
    if (reason) statuses.set(r.id, { id: r.id, state: RealizationState.FAILED, reason });
    else {
      const netns = responderNs.get(r.spec.networkId);
      statuses.set(r.id, { id: r.id, state: RealizationState.APPLIED, attributes: netns ? { mode: 'DISTRIBUTED', netns } : { mode: 'DISTRIBUTED', network: 'absent' } });
    }
  }
}

/**
 * Where a network's translated traffic goes out of its bridge: straight to the network's subnets,
 * through the VIP subnet's gateway to members on other networks (a route each, the first load
 * balancer's gateway when two differ), with hairpin on the ports of its members here on this
 * bridge (a member picked by a client on its own port gets the frame back by it).
 */
export function routingOf(networkId: string, lbs: readonly HostedLb[], host: Pick<HostContext, 'port'>): BridgeRouting {
  const routes = new Map<string, { dst: string; via?: string }>();
  for (const dst of lbs.flatMap((lb) => lb.p.subnets)) routes.set(dst, { dst });
  const hairpin = new Set<string>();
  for (const lb of lbs) {
    for (const m of lb.p.listeners.flatMap((l) => l.members)) {
      if (m.viaGateway) {
        if (lb.p.gateway && !routes.has(`${m.address}/32`)) routes.set(`${m.address}/32`, { dst: `${m.address}/32`, via: lb.p.gateway });
        continue;
      }
      const place = m.portId ? host.port(m.portId) : undefined;
      if (place && (place.bridge === undefined || place.bridge === lb.bridge)) hairpin.add(m.portId!);
    }
  }
  return { networkId, routes: [...routes.values()], hairpinPorts: [...hairpin].sort() };
}

/** APPLIANCE: each one's table in its namespace, written with its members' health. */
async function reconcileAppliancesTables(
  desired: DesiredPluginResource<LbPlacement>[],
  outcomes: Map<string, { id: string; state: RealizationState; reason?: string; netns: string }>,
  host: HostContext,
  statuses: Map<string, PluginStatus>,
): Promise<void> {
  await inParallel(desired, async (r) => {
    const outcome = outcomes.get(r.id)!;
    let reason = outcome.reason;
    if (outcome.state === RealizationState.APPLIED) {
      const written = new Map<string, MemberOperatingStatus>();
      const { body, counters } = lbTable(r.spec, (l, m) => {
        const { status } = memberStatus(host, r.id, l, m, false);
        written.set(healthKey(r.id, l, m), status);
        return takesConnections(status);
      });
      try {
        await host.nftTable(body, outcome.netns, { counters });
        noteWritten(host, r.id, written);
      } catch (error) {
        reason = failure(error);
      }
    }
    statuses.set(
      r.id,
      reason ? { id: r.id, state: RealizationState.FAILED, reason } : { id: r.id, state: RealizationState.APPLIED, attributes: { mode: 'APPLIANCE', netns: outcome.netns } },
    );
  });
}

/**
 * The tables' counters are read at most this often, behind the pass (an observe follows every
 * pass before its statuses are reported): a pass reports the last read, a later observe the newer.
 */
export const COUNTERS_MAX_AGE_MS = 1_000;

/** Members' operating status (from the health checks) and counters (from the table), per load balancer. */
async function observe(desired: DesiredPluginResource<LbPlacement>[], host: HostContext): Promise<Record<string, LoadBalancerObserved>> {
  const out: Record<string, LoadBalancerObserved> = {};
  const aged = { maxAgeMs: COUNTERS_MAX_AGE_MS };
  // DISTRIBUTED ones share the host table: read once.
  const hostValues = desired.some(distributed) ? await host.nftCounters(undefined, aged).catch(() => ({})) : {};
  for (const r of desired) {
    const p = r.spec;
    const spread = distributed(r);
    const values: Record<string, { packets: number; bytes: number }> = spread ? hostValues : await host.nftCounters(host.netnsName(r.id), aged).catch(() => ({}));
    let down = 0;
    let deadListener = false;
    const listeners = p.listeners.map((l) => {
      const members = l.members.map((m) => {
        const live = memberStatus(host, r.id, l, m, spread);
        // What its table was written with: OFFLINE is never shown before the member is out of the map.
        const status = applied.get(host)?.get(healthKey(r.id, l, m)) ?? live.status;
        const checked = !!l.healthMonitor && m.adminUp && (!spread || !!m.check);
        const last = live.last;
        if (status === 'OFFLINE') down += 1;
        const names = counterNames(`${spread ? hostScope(r) : ''}${memberKey(l, m)}`);
        return {
          name: m.name,
          portId: m.portId,
          address: m.address,
          port: m.port,
          weight: m.weight,
          operatingStatus: status,
          lastCheck: last ?? null,
          checked,
          connections: values[names.connections]?.packets ?? 0,
          packets: values[names.traffic]?.packets ?? 0,
          bytes: values[names.traffic]?.bytes ?? 0,
        };
      });
      const enabled = members.filter((m) => m.operatingStatus !== 'DISABLED');
      if (enabled.length && !enabled.some((m) => takesConnections(m.operatingStatus))) deadListener = true;
      return { protocol: l.protocol, port: l.port, members };
    });
    out[r.id] = { operatingStatus: deadListener ? 'ERROR' : down ? 'DEGRADED' : 'ONLINE', listeners };
  }
  return out;
}

export const loadBalancerAgent: AgentHalf<LbPlacement, LoadBalancerObserved> = {
  reconcile,
  observe,
  stop() {
    for (const c of checks.values()) c.stop();
    checks.clear();
  },
};
