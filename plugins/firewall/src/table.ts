import { createHash } from 'node:crypto';
import { nftBaseChain, subnetContaining } from '@netloom/plugin-sdk';
import type { Action, Direction, PlacedRule, PolicyPlacement } from './spec';

/** Digests asked for again on every pass (each rule's counter name, each port's combination of policies): kept, up to a bound. */
const digests = new Map<string, string>();
export const digest = (text: string, length = 12): string => {
  const key = `${length}:${text}`;
  let hex = digests.get(key);
  if (hex === undefined) {
    if (digests.size >= 100_000) digests.clear();
    hex = createHash('sha256').update(text).digest('hex').slice(0, length);
    digests.set(key, hex);
  }
  return hex;
};

/**
 * A rule's named counter: it belongs to the rule's policy and priority (0-65535). One digest per
 * policy, the priority as it is: a 500-rule policy new on a host costs one hash, not 500.
 */
export const ruleCounter = (policyId: string, priority: number): string => `r_${digest(policyId)}_${priority}`;
/** The counter of a policy's default for a direction (counted where that default decides). */
export const defaultCounter = (policyId: string, direction: Direction): string => `d_${digest(`${policyId}/${direction}`)}`;
/**
 * The comment on each line of a rule (or of a default): names the policy, the rule's priority (or
 * `default-<direction>`) and the action, so a reader of the ruleset (the trace) can tell whose
 * counter moved without knowing this table's layout.
 */
export const ruleComment = (policyId: string, rule: number | Direction, action: Action): string =>
  `comment "netloom fw ${policyId} ${typeof rule === 'number' ? rule : `default-${rule}`} ${action}"`;

/** The named sets of an address group, one per family. */
export const groupSets = (groupId: string): { v4: string; v6: string } => {
  const h = digest(groupId);
  return { v4: `g4_${h}`, v6: `g6_${h}` };
};

/** One policy as the agent holds it. */
export interface HeldPolicy {
  id: string;
  spec: PolicyPlacement;
}

/** A port filtered in a namespace: its interface there and its policies. */
export interface FilteredPort {
  portId: string;
  ifname: string;
  policies: HeldPolicy[];
}

const isV6 = (address: string): boolean => address.includes(':');
/** `a` or `{ a, b }`: one value needs no (anonymous) set. */
const oneOrSet = (values: readonly string[]): string => (values.length === 1 ? values[0] : `{ ${values.join(', ')} }`);
const prefixOf = (e: string): number => (e.includes('/') ? Number(e.split('/')[1]) : isV6(e) ? 128 : 32);

/**
 * A set's elements without those inside another (an interval set refuses overlaps), host
 * addresses as plain IPs (`10.0.0.5/32` → `10.0.0.5`, as nft lists them), sorted.
 */
export function setElements(addresses: readonly string[]): string[] {
  const plain = [...new Set(addresses.map((a) => (prefixOf(a) === (isV6(a) ? 128 : 32) ? a.split('/')[0] : a)))];
  return plain
    .filter((e) => !plain.some((f) => f !== e && prefixOf(f) < prefixOf(e) && f.includes('/') && subnetContaining(e.split('/')[0], [f]) !== undefined))
    .sort();
}

/** Policies in the order they compose: priority, then id. */
export const composeOrder = (policies: HeldPolicy[]): HeldPolicy[] =>
  [...policies].sort((a, b) => a.spec.priority - b.spec.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

/** The default of a direction for a port: the first policy (in order) whose default is not ALLOW decides; otherwise ALLOW, counted on the first. */
export function portDefault(policies: HeldPolicy[], direction: Direction): { action: Action; policyId: string } {
  const ordered = composeOrder(policies);
  const pick = (p: HeldPolicy): Action => (direction === 'INGRESS' ? p.spec.ingressDefault : p.spec.egressDefault);
  const strict = ordered.find((p) => pick(p) !== 'ALLOW');
  return strict ? { action: pick(strict), policyId: strict.id } : { action: 'ALLOW', policyId: ordered[0].id };
}

/** The verdict lines of an action (REJECT of ANY: a TCP reset for TCP, ICMP admin-prohibited otherwise). */
export function verdicts(action: Action, protocol: PlacedRule['protocol']): { match: string; verdict: string }[] {
  if (action === 'ALLOW') return [{ match: '', verdict: 'accept' }];
  if (action === 'DROP') return [{ match: '', verdict: 'drop' }];
  if (protocol === 'TCP') return [{ match: '', verdict: 'reject with tcp reset' }];
  const other = { match: '', verdict: 'reject with icmpx type admin-prohibited' };
  return protocol === 'ANY' ? [{ match: 'meta l4proto tcp', verdict: 'reject with tcp reset' }, other] : [other];
}

/** The nft lines of one rule (several when it has remotes of both families or groups, all on its counter). */
export function ruleLines(policyId: string, rule: PlacedRule): string[] {
  const field = rule.direction === 'INGRESS' ? 'saddr' : 'daddr';
  const proto =
    rule.protocol === 'TCP' || rule.protocol === 'UDP'
      ? rule.ports.length
        ? `${rule.protocol.toLowerCase()} dport ${oneOrSet(rule.ports.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)))}`
        : `meta l4proto ${rule.protocol.toLowerCase()}`
      : rule.protocol === 'ICMP'
        ? 'meta l4proto icmp'
        : rule.protocol === 'ICMPV6'
          ? 'meta l4proto ipv6-icmp'
          : '';
  const families = rule.protocol === 'ICMP' ? [4] : rule.protocol === 'ICMPV6' ? [6] : [4, 6];
  const remotes: string[] = [];
  if (rule.remoteCidrs.length || rule.remoteGroupIds.length) {
    for (const family of families) {
      const key = family === 4 ? 'ip' : 'ip6';
      const cidrs = rule.remoteCidrs.filter((c) => isV6(c) === (family === 6));
      if (cidrs.length) remotes.push(`${key} ${field} ${oneOrSet(cidrs)}`);
      for (const g of rule.remoteGroupIds) remotes.push(`${key} ${field} @${family === 4 ? groupSets(g).v4 : groupSets(g).v6}`);
    }
    // Remotes given, none of this rule's family: it matches nothing.
    if (!remotes.length) return [];
  } else {
    remotes.push('');
  }
  const log = rule.log ? ` log prefix "nlfw ${policyId.slice(-8)} ${rule.priority} ${rule.action} "` : '';
  const counter = `counter name "${ruleCounter(policyId, rule.priority)}"`;
  const comment = ruleComment(policyId, rule.priority, rule.action);
  const lines: string[] = [];
  for (const remote of remotes) {
    for (const v of verdicts(rule.action, rule.protocol)) {
      lines.push([proto, remote, v.match, counter].filter(Boolean).join(' ') + `${log} ${v.verdict} ${comment}`);
    }
  }
  return lines;
}

/** The lines of one rule of a policy, recording the counter and the address-group sets (with their elements) they use. */
export function usedRule(p: HeldPolicy, rule: PlacedRule, counters: Set<string>, sets: Record<string, string[]>): string[] {
  counters.add(ruleCounter(p.id, rule.priority));
  for (const g of rule.remoteGroupIds) Object.assign(sets, groupSetElements(g, p.spec.groups[g] ?? []));
  return ruleLines(p.id, rule);
}

/** The two sets of an address group ({@link groupSets}) with their elements. */
export function groupSetElements(groupId: string, members: readonly string[]): Record<string, string[]> {
  const names = groupSets(groupId);
  return { [names.v4]: setElements(members.filter((m) => !isV6(m))), [names.v6]: setElements(members.filter(isV6)) };
}

/** ND and router discovery must pass both ways, or IPv6 stops working. */
export const ALWAYS = [
  'ct state established,related accept',
  'ct state invalid drop',
  'icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } accept',
];

/**
 * The body of the firewall's table in one namespace: a chain per port and direction (stateful
 * prologue, the rules of its policies in composition order — first match decides — then the
 * default), reached from the input, output and forward hooks by the port's interface. Also the
 * counters and address-group sets it uses, with the sets' elements now.
 */
export function firewallTable(ports: FilteredPort[]): { body: string; counters: string[]; sets: Record<string, string[]> } {
  const counters = new Set<string>();
  const sets: Record<string, string[]> = {};
  const chains: string[] = [];
  const input: string[] = [];
  const output: string[] = [];
  const forward: string[] = [];
  for (const [i, port] of [...ports].sort((a, b) => a.ifname.localeCompare(b.ifname)).entries()) {
    const ordered = composeOrder(port.policies);
    for (const direction of ['INGRESS', 'EGRESS'] as const) {
      const lines = [...ALWAYS];
      for (const p of ordered) {
        for (const rule of p.spec.rules.filter((r) => r.direction === direction).sort((a, b) => a.priority - b.priority)) {
          lines.push(...usedRule(p, rule, counters, sets));
        }
      }
      const fallback = portDefault(port.policies, direction);
      const counter = defaultCounter(fallback.policyId, direction);
      counters.add(counter);
      const comment = ruleComment(fallback.policyId, direction, fallback.action);
      lines.push(...verdicts(fallback.action, 'ANY').map((v) => [v.match, `counter name "${counter}"`, v.verdict, comment].filter(Boolean).join(' ')));
      chains.push([`chain ${direction === 'INGRESS' ? 'in' : 'out'}_${i} {`, ...lines, '}'].join('\n'));
    }
    input.push(`iifname "${port.ifname}" jump in_${i}`);
    output.push(`oifname "${port.ifname}" jump out_${i}`);
    forward.push(`iifname "${port.ifname}" jump in_${i}`, `oifname "${port.ifname}" jump out_${i}`);
  }
  if (!chains.length) return { body: '', counters: [], sets: {} };
  const setDecls = Object.keys(sets)
    .sort()
    .map((name) => `set ${name} {\ntype ${name.startsWith('g4_') ? 'ipv4_addr' : 'ipv6_addr'}; flags interval;\n}`);
  const body = [
    ...setDecls,
    ...chains,
    nftBaseChain('input', { type: 'filter', hook: 'input', priority: 'filter' }, input),
    nftBaseChain('output', { type: 'filter', hook: 'output', priority: 'filter' }, output),
    nftBaseChain('forward', { type: 'filter', hook: 'forward', priority: 'filter' }, forward),
  ].join('\n');
  return { body, counters: [...counters].sort(), sets };
}
