import { type AgentHalf, type DesiredPluginResource, type HostContext, inParallel, type PluginStatus, RealizationState, reconcileAppliances } from '@netloom/plugin-sdk';
import { HealthChecks, type MemberCheck } from './health';
import type { LbPlacement, LoadBalancerObserved, MemberOperatingStatus, PlacedListener, PlacedMember } from './spec';
import { counterNames, lbTable, memberKey, VIP_LEG } from './table';

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

/** A member's operating status on this host now. */
function memberStatus(host: HostContext, lbId: string, l: PlacedListener, m: PlacedMember): { status: MemberOperatingStatus; last?: string } {
  if (!m.adminUp) return { status: 'DISABLED' };
  if (!l.healthMonitor) return { status: 'NO_MONITOR' };
  const state = checksOf(host).state(healthKey(lbId, l, m));
  // Not checked yet: members start ONLINE.
  return { status: state?.online === false ? 'OFFLINE' : 'ONLINE', ...(state?.last ? { last: state.last } : {}) };
}

const takesConnections = (s: MemberOperatingStatus): boolean => s === 'ONLINE' || s === 'NO_MONITOR';

async function reconcile(desired: DesiredPluginResource<LbPlacement>[], host: HostContext): Promise<PluginStatus[]> {
  const outcomes = await reconcileAppliances(
    host,
    desired.map((r) => {
      const p = r.spec;
      return {
        id: r.id,
        legs: [{ name: VIP_LEG, networkId: p.networkId, mac: p.mac, mtu: p.mtu, addresses: [p.cidr] }],
        routes: p.gateway ? [{ dst: 'default', via: p.gateway, dev: VIP_LEG }] : [],
        forwarding: true,
      };
    }),
  );
  // Health checks for the members of the load balancers that are up here.
  const wanted: MemberCheck[] = [];
  for (const [i, outcome] of outcomes.entries()) {
    if (outcome.state !== RealizationState.APPLIED) continue;
    for (const l of desired[i].spec.listeners) {
      if (!l.healthMonitor) continue;
      for (const m of l.members) {
        if (m.adminUp) wanted.push({ key: healthKey(outcome.id, l, m), netns: outcome.netns, address: m.address, port: m.port, monitor: l.healthMonitor });
      }
    }
  }
  checksOf(host).sync(wanted);

  const statuses: PluginStatus[] = [];
  await inParallel(outcomes, async (outcome, i) => {
    let reason = outcome.reason;
    if (outcome.state === RealizationState.APPLIED) {
      const written = new Map<string, MemberOperatingStatus>();
      const { body, counters } = lbTable(desired[i].spec, (l, m) => {
        const { status } = memberStatus(host, outcome.id, l, m);
        written.set(healthKey(outcome.id, l, m), status);
        return takesConnections(status);
      });
      try {
        await host.nftTable(body, outcome.netns, { counters });
        let seen = applied.get(host);
        if (!seen) applied.set(host, (seen = new Map<string, MemberOperatingStatus>()));
        for (const key of [...seen.keys()]) if (key.startsWith(`${outcome.id}|`)) seen.delete(key);
        for (const [key, status] of written) seen.set(key, status);
      } catch (error) {
        reason = error instanceof Error ? error.message : String(error);
      }
    }
    statuses[i] = reason ? { id: outcome.id, state: RealizationState.FAILED, reason } : { id: outcome.id, state: RealizationState.APPLIED, attributes: { netns: outcome.netns } };
  });
  return statuses;
}

/** Members' operating status (from the health checks) and counters (from the table), per load balancer. */
async function observe(desired: DesiredPluginResource<LbPlacement>[], host: HostContext): Promise<Record<string, LoadBalancerObserved>> {
  const out: Record<string, LoadBalancerObserved> = {};
  for (const r of desired) {
    const p = r.spec;
    const values: Record<string, { packets: number; bytes: number }> = await host.nftCounters(host.netnsName(r.id)).catch(() => ({}));
    let down = 0;
    let deadListener = false;
    const listeners = p.listeners.map((l) => {
      const members = l.members.map((m) => {
        const live = memberStatus(host, r.id, l, m);
        const status = applied.get(host)?.get(healthKey(r.id, l, m)) ?? live.status;
        const last = live.last;
        if (status === 'OFFLINE') down += 1;
        const names = counterNames(memberKey(l, m));
        return {
          name: m.name,
          portId: m.portId,
          address: m.address,
          port: m.port,
          weight: m.weight,
          operatingStatus: status,
          lastCheck: last ?? null,
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
