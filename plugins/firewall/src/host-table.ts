import type { NftMapElement } from '@netloom/plugin-sdk';
import type { Direction } from './spec';
import { ALWAYS, composeOrder, defaultCounter, digest, groupSetElements, type HeldPolicy, portDefault, ruleComment, usedRule, verdicts } from './table';

/** Rules per chain of a policy: one rule changed rewrites one chain of at most this many. */
export const RULES_PER_CHAIN = 16;

/** Rule chains as last rendered, by name: the rules' JSON, the chain's text, its counters and the groups it reads. */
const rendered = new Map<string, { rules: string; text: string; counters: string[]; groups: string[] }>();
/** Chains {@link rendered} keeps at most (those of deleted policies go when it is full). */
const RENDERED_MAX = 4_096;

/**
 * The text of one rule chain of a policy, recording its counters and its address groups' sets (with
 * their elements now). Rendered again only when its rules changed: one rule changed in a policy of
 * 500 renders one chain, not 500 rules (their JSON is written and compared in a fraction of that).
 */
function renderedChain(name: string, p: HeldPolicy, rules: HeldPolicy['spec']['rules'], counters: Set<string>, sets: Record<string, string[]>): string {
  const json = JSON.stringify([p.id, rules]);
  let chain = rendered.get(name);
  if (chain?.rules !== json) {
    const own = new Set<string>();
    const lines = rules.flatMap((rule) => usedRule(p, rule, own, {}));
    if (rendered.size >= RENDERED_MAX) rendered.clear();
    chain = { rules: json, text: [`chain ${name} {`, ...lines, '}'].join('\n'), counters: [...own], groups: [...new Set(rules.flatMap((r) => r.remoteGroupIds))] };
    rendered.set(name, chain);
  }
  for (const c of chain.counters) counters.add(c);
  for (const g of chain.groups) Object.assign(sets, groupSetElements(g, p.spec.groups[g] ?? []));
  return chain.text;
}

/** A port filtered in the host table: its bridge, its addresses (the keys of its traffic there) and its policies. */
export interface HostPort {
  portId: string;
  bridge: string;
  addresses: string[];
  policies: HeldPolicy[];
  /** The host end of its veth and its mark ({@link PORT_MARKS}): its broadcast and multicast ingress (absent: not known). */
  hostIfname?: string;
  mark?: number;
}

/**
 * The skb marks that tell flooded broadcast and multicast apart by port: the bridge table sets
 * `first + n` on a copy leaving by a filtered port's veth (n from 1, one per port, reused after),
 * the host table's ingress reads it. No other part of NetLoom marks packets, and a mark set on a
 * copy is gone once it crosses into the port's namespace.
 */
export const PORT_MARKS = { first: 0x4e4c0000, count: 0xffff } as const;

const isV6 = (address: string): boolean => address.includes(':');
const dirTag = (direction: Direction): string => (direction === 'INGRESS' ? 'i' : 'e');

/** The host table's maps: per direction and family, (bridge . the port's address) → its combination's chain. */
const MAPS = { INGRESS: { 4: 'in4', 6: 'in6' }, EGRESS: { 4: 'out4', 6: 'out6' } } as const;

/**
 * The firewall's table in the host namespace, where the bridges are: each policy's rules once (in
 * chains of {@link RULES_PER_CHAIN}), one chain per combination of policies (in composition order)
 * and direction that holds the stateful prologue, jumps to its policies' rule chains (first match
 * decides: every rule line ends in a verdict) and the default, and verdict maps from (bridge .
 * address) to those chains. Bridged traffic passes the inet `forward` hook here (br_netfilter):
 * the sender's egress in one base chain, then the receiver's ingress in another (an accept ends
 * only its own base chain), so two ports on one bridge are both filtered. A port's addresses tell
 * it apart (the hook sees the bridge, not the veth); port security makes them trustworthy.
 * Conntrack is kept apart per bridge (`zones`: bridge → zone, set before conntrack sees a
 * packet), so two networks with the same addresses, or a flow crossing the host twice on two
 * bridges, never share an entry.
 */
export function hostTable(
  ports: HostPort[],
  zones: ReadonlyMap<string, number> = new Map(),
): { body: string; counters: string[]; sets: Record<string, string[]>; maps: Record<string, NftMapElement[]>; bridge: { body: string; maps: Record<string, NftMapElement[]> } } {
  const counters = new Set<string>();
  const sets: Record<string, string[]> = {};
  const maps: Record<string, NftMapElement[]> = { in4: [], in6: [], out4: [], out6: [], zones: [], inmark: [] };
  const omark: NftMapElement[] = [];
  const ruleChains = new Map<string, string>();
  const combos = new Map<string, string>();
  /** The rule chains of a policy in a direction (made once), in order. */
  const policyChains = (p: HeldPolicy, direction: Direction): string[] => {
    const rules = p.spec.rules.filter((r) => r.direction === direction).sort((a, b) => a.priority - b.priority);
    const names: string[] = [];
    for (let i = 0; i * RULES_PER_CHAIN < rules.length; i++) {
      const name = `p_${digest(p.id)}_${dirTag(direction)}${i}`;
      names.push(name);
      if (ruleChains.has(name)) continue;
      ruleChains.set(name, renderedChain(name, p, rules.slice(i * RULES_PER_CHAIN, (i + 1) * RULES_PER_CHAIN), counters, sets));
    }
    return names;
  };
  for (const port of [...ports].sort((a, b) => (a.portId < b.portId ? -1 : 1))) {
    const ordered = composeOrder(port.policies);
    for (const direction of ['INGRESS', 'EGRESS'] as const) {
      const name = `k_${digest(ordered.map((p) => p.id).join(','))}_${dirTag(direction)}`;
      if (!combos.has(name)) {
        const jumps = ordered.flatMap((p) => policyChains(p, direction)).map((chain) => `jump ${chain}`);
        const fallback = portDefault(port.policies, direction);
        const counter = defaultCounter(fallback.policyId, direction);
        counters.add(counter);
        const comment = ruleComment(fallback.policyId, direction, fallback.action);
        const last = verdicts(fallback.action, 'ANY').map((v) => [v.match, `counter name "${counter}"`, v.verdict, comment].filter(Boolean).join(' '));
        combos.set(name, [`chain ${name} {`, ...ALWAYS, ...jumps, ...last, '}'].join('\n'));
      }
      for (const address of port.addresses) maps[MAPS[direction][isV6(address) ? 6 : 4]].push({ key: [port.bridge, address], value: `jump ${name}` });
      if (direction === 'INGRESS' && port.mark !== undefined && port.hostIfname) {
        maps.inmark.push({ key: [String(port.mark)], value: `jump ${name}` });
        omark.push({ key: [port.hostIfname], value: String(port.mark) });
      }
    }
  }
  if (!combos.size) return { body: '', counters: [], sets: {}, maps: {}, bridge: { body: '', maps: {} } };
  const setDecls = Object.keys(sets)
    .sort()
    .map((name) => `set ${name} {\ntype ${name.startsWith('g4_') ? 'ipv4_addr' : 'ipv6_addr'}; flags interval;\n}`);
  const mapDecls = Object.values(MAPS).flatMap((byFamily) =>
    Object.entries(byFamily).map(([family, name]) => `map ${name} {\ntype ifname . ${family === '4' ? 'ipv4_addr' : 'ipv6_addr'} : verdict;\n}`),
  );
  const base = (name: string, hook: string, priority: number | string, lines: string[]): string =>
    [`chain ${name} {`, `type filter hook ${hook} priority ${priority}; policy accept;`, ...lines, '}'].join('\n');
  for (const bridge of new Set(ports.map((p) => p.bridge))) {
    const zone = zones.get(bridge);
    if (zone !== undefined) maps.zones.push({ key: [bridge], value: String(zone) });
  }
  const egress = ['iifname . ip saddr vmap @out4', 'iifname . ip6 saddr vmap @out6'];
  const ingress = ['oifname . ip daddr vmap @in4', 'oifname . ip6 daddr vmap @in6'];
  // Broadcast and multicast are no port's address: the mark the bridge table set on the copy for a port.
  const flooded = 'meta pkttype { broadcast, multicast } meta mark vmap @inmark';
  const body = [
    ...setDecls,
    ...mapDecls,
    'map zones {\ntypeof iifname : ct zone;\n}',
    'map inmark {\ntype mark : verdict;\n}',
    base('zone_in', 'prerouting', 'raw', ['ct zone set iifname map @zones']),
    base('zone_out', 'output', 'raw', ['ct zone set oifname map @zones']),
    ...[...ruleChains.keys()].sort().map((k) => ruleChains.get(k)!),
    ...[...combos.keys()].sort().map((k) => combos.get(k)!),
    // The sender's egress first, then the receiver's ingress.
    base('egress', 'forward', -1, egress),
    base('ingress', 'forward', 0, [...ingress, flooded]),
    // Traffic between a port and the host namespace itself.
    base('from_ports', 'input', 0, egress),
    base('to_ports', 'output', 0, ingress),
  ].join('\n');
  // The bridge family sees the port a flooded copy leaves by (the inet hook only its bridge).
  const bridgeBody = omark.length
    ? ['map omark {\ntype ifname : mark;\n}', base('port_marks', 'forward', -200, ['meta pkttype { broadcast, multicast } meta mark set oifname map @omark'])].join('\n')
    : '';
  return { body, counters: [...counters].sort(), sets, maps, bridge: { body: bridgeBody, maps: omark.length ? { omark } : {} } };
}
