import { IpBatch } from '@netloom/linux';
import { DesiredResource, PortSpec, RealizationState, ResourceKind, resourceKey, ResourceStatusReport } from '@netloom/model';
import { Names } from '@netloom/planner';

const guardsOf = (r: DesiredResource): string[] => (r.kind === ResourceKind.Port ? ((r.spec as PortSpec).guardedBy ?? []) : []);

/** Guarded ports (ids) some of whose guards are not APPLIED in `statuses` (the last pass's): the plan does not bring them up. */
export function heldPorts(desired: readonly DesiredResource[], statuses: readonly ResourceStatusReport[]): Set<string> {
  const applied = new Set(statuses.filter((s) => s.state === RealizationState.APPLIED).map(resourceKey));
  return new Set(desired.filter((r) => guardsOf(r).some((g) => !applied.has(g))).map((r) => r.id));
}

/**
 * After the plugins' reconcile of a pass: one batch bringing up the host ends of the ports the
 * pass left down (`heldDown`) whose guards are all APPLIED in `reported`, and, for each other
 * one, why it stays down. Ports that failed otherwise (`failures`) are left alone; a guard's own
 * failure is taken from `reported`, else from `failures` (a kind no plugin here handles).
 */
export function release(
  desired: readonly DesiredResource[],
  heldDown: ReadonlySet<string>,
  reported: readonly ResourceStatusReport[],
  failures: ReadonlyMap<string, { reason: string }>,
  names: Names,
): { up: IpBatch; holds: Map<string, string> } {
  const byKey = new Map(reported.map((s) => [resourceKey(s), s]));
  const up = new IpBatch();
  const holds = new Map<string, string>();
  for (const r of desired) {
    const key = resourceKey(r);
    if (!heldDown.has(r.id) || failures.has(key)) continue;
    const pending = guardsOf(r).find((g) => byKey.get(g)?.state !== RealizationState.APPLIED);
    if (pending === undefined) {
      up.linkSet(names.veth(r.id), { up: true }, key);
      continue;
    }
    const why = byKey.get(pending)?.reason ?? failures.get(pending)?.reason;
    holds.set(key, `held down until ${pending} is applied on this host${why ? `: ${why}` : ''}`);
  }
  return { up, holds };
}
