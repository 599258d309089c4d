import { badInput, type IntentView, type Placement, type PluginResource } from '@netloom/plugin-sdk';
import { type AddressGroupSpec, DEFAULTS, type FirewallPolicySpec, type PlacedRule, type PolicyPlacement, type SelectorSpec } from './spec';

type Port = Awaited<ReturnType<IntentView['ports']>>[number];

const inRange = (n: number, min: number, max: number): boolean => Number.isInteger(n) && n >= min && n <= max;
const isV6 = (cidr: string): boolean => cidr.includes(':');
const selectsSomething = (s: SelectorSpec | null | undefined): boolean => !!s && (s.portIds.length > 0 || s.networkIds.length > 0 || s.labels.length > 0);

/** Ports a selector picks: those listed, plus those on its networks (if any) carrying its labels (if any). */
export function selectPorts(s: SelectorSpec | null | undefined, ports: Port[]): Port[] {
  if (!selectsSomething(s)) return [];
  const listed = new Set(s!.portIds);
  const byRule = s!.networkIds.length > 0 || s!.labels.length > 0;
  return ports.filter(
    (p) =>
      listed.has(p.id) ||
      (byRule && (!s!.networkIds.length || s!.networkIds.includes(p.networkId)) && s!.labels.every((l) => (p.labels ?? {})[l.key] === l.value)),
  );
}

export function validatePolicy(policy: PluginResource<FirewallPolicySpec>): void {
  const spec = policy.spec;
  if (spec.priority !== null && spec.priority !== undefined && !inRange(spec.priority, 0, 65535)) throw badInput('priority must be 0-65535', 'input.priority');
  if (!selectsSomething(spec.selector)) throw badInput('the selector picks no port: give portIds, networkIds or labels', 'input.selector');
  const seen = new Set<number>();
  for (const [n, r] of (spec.rules ?? []).entries()) {
    const at = `input.rules.${n}`;
    if (!inRange(r.priority, 0, 65535)) throw badInput(`rule priority ${r.priority} is not 0-65535`, `${at}.priority`);
    if (seen.has(r.priority)) throw badInput(`two rules have priority ${r.priority}: priorities are unique within a policy`, `${at}.priority`);
    seen.add(r.priority);
    const protocol = r.protocol ?? 'ANY';
    if (r.ports.length && protocol !== 'TCP' && protocol !== 'UDP') throw badInput('ports need protocol TCP or UDP', `${at}.ports`);
    for (const [i, range] of r.ports.entries()) {
      const to = range.to ?? range.from;
      if (!inRange(range.from, 1, 65535)) throw badInput(`port ${range.from} is not 1-65535`, `${at}.ports.${i}.from`);
      if (!inRange(to, 1, 65535)) throw badInput(`port ${to} is not 1-65535`, `${at}.ports.${i}.to`);
      if (to < range.from) throw badInput(`port range ${range.from}-${to} is out of order`, `${at}.ports.${i}.to`);
    }
    const wrongFamily = protocol === 'ICMP' ? r.remoteCidrs.findIndex(isV6) : protocol === 'ICMPV6' ? r.remoteCidrs.findIndex((c) => !isV6(c)) : -1;
    if (wrongFamily >= 0) throw badInput(`${r.remoteCidrs[wrongFamily]} is not of the family of ${protocol}`, `${at}.remoteCidrs.${wrongFamily}`);
  }
}

export function validateGroup(group: PluginResource<AddressGroupSpec>): void {
  const s = group.spec.selector;
  if (s && !selectsSomething(s)) throw badInput('an empty selector picks no port: leave it out, or give portIds, networkIds or labels', 'input.selector');
}

/** The addresses in a group now: its CIDRs and the fixed IPs of the ports its selector picks. */
export function groupAddresses(group: AddressGroupSpec, ports: Port[]): string[] {
  const addresses = new Set(group.cidrs);
  for (const p of selectPorts(group.selector, ports)) for (const ip of p.fixedIps) addresses.add(ip.ipAddress);
  return [...addresses].sort();
}

/**
 * The ports a selector picks, read narrowly (the ports it lists, and those on its networks or
 * with its labels), so the policy is placed again only when one of those changes.
 */
export async function readSelected(s: SelectorSpec | null | undefined, intent: IntentView): Promise<Port[]> {
  if (!selectsSomething(s)) return [];
  const listed = s!.portIds.length ? await intent.ports({ ids: s!.portIds }) : [];
  const byRule =
    s!.networkIds.length || s!.labels.length
      ? await intent.ports({
          ...(s!.networkIds.length ? { networkIds: s!.networkIds } : {}),
          ...(s!.labels.length ? { labels: Object.fromEntries(s!.labels.map((l) => [l.key, l.value])) } : {}),
        })
      : [];
  const seen = new Set<string>();
  const candidates = [...listed, ...byRule].filter((p) => !seen.has(p.id) && seen.add(p.id)).sort((a, b) => (a.id < b.id ? -1 : 1));
  return selectPorts(s, candidates);
}

/** One placement per host with covered ports: the rules, those ports (guarded: they stay down until it applies), and its groups. */
export async function placePolicy(policy: PluginResource<FirewallPolicySpec>, intent: IntentView): Promise<Placement<PolicyPlacement>[]> {
  const spec = policy.spec;
  const covered = await readSelected(spec.selector, intent);
  if (!covered.length) return [];
  const groupIds = new Set((spec.rules ?? []).flatMap((r) => r.remoteGroupIds));
  const groups: Record<string, string[]> = {};
  if (groupIds.size) {
    for (const g of await intent.resources<AddressGroupSpec>('AddressGroup', { ids: [...groupIds] })) {
      groups[g.id] = groupAddresses(g.spec, await readSelected(g.spec.selector, intent));
    }
  }
  // A group deleted since: it holds nothing, so its rules match nothing.
  for (const id of groupIds) groups[id] ??= [];
  const rules: PlacedRule[] = [...(spec.rules ?? [])]
    .sort((a, b) => a.priority - b.priority)
    .map((r) => ({
      priority: r.priority,
      direction: r.direction,
      protocol: r.protocol ?? 'ANY',
      ports: r.ports.map((p): [number, number] => [p.from, p.to ?? p.from]),
      remoteCidrs: r.remoteCidrs,
      remoteGroupIds: r.remoteGroupIds,
      action: r.action,
      log: r.log ?? false,
    }));
  const byHost = new Map<string, string[]>();
  for (const p of covered) byHost.set(p.hostId, [...(byHost.get(p.hostId) ?? []), p.id]);
  return [...byHost.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([hostId, portIds]) => ({
      hostId,
      guards: portIds,
      spec: {
        priority: spec.priority ?? DEFAULTS.policyPriority,
        ingressDefault: spec.ingressDefault ?? DEFAULTS.ingress,
        egressDefault: spec.egressDefault ?? DEFAULTS.egress,
        rules,
        ports: portIds,
        groups,
      },
    }));
}
