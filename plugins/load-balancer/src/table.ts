import { createHash } from 'node:crypto';
import { nftBaseChain } from '@netloom/plugin-sdk';
import type { LbPlacement, PlacedListener, PlacedMember } from './spec';

/** The leg of a load balancer inside its namespace. */
export const VIP_LEG = 'vip0';

/** A member's identity within a load balancer: listener and target; its counters and health are kept under it. */
export const memberKey = (l: Pick<PlacedListener, 'protocol' | 'port'>, m: Pick<PlacedMember, 'address' | 'port'>): string =>
  `${l.protocol}/${l.port}>${m.address}:${m.port}`;

const digest = (text: string, length: number): string => createHash('sha256').update(text).digest('hex').slice(0, length);

/** Names of a member's named counters: new connections, and traffic both ways. */
export const counterNames = (key: string): { connections: string; traffic: string } => {
  const h = digest(key, 12);
  return { connections: `c_${h}`, traffic: `t_${h}` };
};

/** What one load balancer adds to a table: its DNAT rules, affinity maps, counting rules and counter names. */
interface Translation {
  pre: string[];
  sets: string[];
  forward: string[];
  counters: string[];
}

/**
 * The translation of one load balancer: DNAT of VIP:port to the members that take new
 * connections (weights as ranges of a numgen/jhash map), the affinity maps, and a counter pair
 * per member under names made from `scope` and the member (connections, traffic both ways). `takes(listener, member)` says whether a member takes
 * new connections now (admin up and healthy).
 */
function translation(p: LbPlacement, takes: (l: PlacedListener, m: PlacedMember) => boolean, scope = ''): Translation {
  const out: Translation = { pre: [], sets: [], forward: [], counters: [] };
  for (const l of p.listeners) {
    const proto = l.protocol.toLowerCase();
    const match = `ip daddr ${p.vip} ${proto} dport ${l.port}`;
    const original = `meta l4proto ${proto} ct original ip daddr ${p.vip} ct original proto-dst ${l.port}`;
    const live = l.members.filter((m) => takes(l, m));
    if (live.length) {
      let next = 0;
      const ranges = live.map((m) => {
        const from = next;
        next += m.weight;
        return `${from === next - 1 ? from : `${from}-${next - 1}`} : ${m.address} . ${m.port}`;
      });
      const pick =
        l.algorithm === 'ROUND_ROBIN' ? `numgen inc mod ${next}` : l.algorithm === 'RANDOM' ? `numgen random mod ${next}` : `jhash ip saddr mod ${next} seed 0x${digest(`${p.vip}/${l.protocol}/${l.port}`, 8)}`;
      if (l.algorithm === 'SOURCE_IP' && l.affinityTimeout) {
        const map = `a_${digest(`${scope}${memberKey(l, { address: p.vip, port: 0 })}`, 12)}`;
        out.sets.push(`map ${map} {\ntype ipv4_addr : ipv4_addr . inet_service; flags dynamic,timeout; timeout ${l.affinityTimeout}s;\n}`);
        out.pre.push(`${match} dnat ip to ip saddr map @${map}`);
        out.forward.push(`ct status dnat ct state new ${original} update @${map} { ip saddr timeout ${l.affinityTimeout}s : ip daddr . ${proto} dport }`);
      }
      out.pre.push(`${match} dnat ip to ${pick} map { ${ranges.join(', ')} }`);
    }
    // Counted for every member, taking connections or not: flows already set up go on.
    for (const m of l.members) {
      const names = counterNames(`${scope}${memberKey(l, m)}`);
      out.counters.push(names.connections, names.traffic);
      const member = `${original} ct reply ip saddr ${m.address} ct reply proto-src ${m.port}`;
      // The comment names the member for a reader of the ruleset (the trace).
      out.forward.push(`${member} ct state new counter name "${names.connections}" comment "netloom lb ${memberKey(l, m)}"`, `${member} counter name "${names.traffic}"`);
    }
  }
  return out;
}

/**
 * The body of a load balancer's own nftables table, in its namespace (APPLIANCE): its
 * {@link translation}, masquerade so replies come back through the translation (also when a
 * member calls its own VIP), and a forward filter that passes only translated flows. Returns the
 * body and the counter names it uses; an empty body when there is nothing to translate.
 */
export function lbTable(p: LbPlacement, takes: (l: PlacedListener, m: PlacedMember) => boolean): { body: string; counters: string[] } {
  const { pre, sets, forward, counters } = translation(p, takes);
  if (!pre.length && !counters.length) return { body: '', counters: [] };
  const body = [
    ...sets,
    nftBaseChain('prerouting', { type: 'nat', hook: 'prerouting', priority: 'dstnat' }, pre),
    nftBaseChain('postrouting', { type: 'nat', hook: 'postrouting', priority: 'srcnat' }, ['ct status dnat masquerade']),
    nftBaseChain('forward', { type: 'filter', hook: 'forward', priority: 'filter', policy: 'drop' }, [...forward, 'ct status dnat accept']),
    // A member on the VIP's own subnet is reached out of the leg the client came in by: no redirects.
    nftBaseChain('output', { type: 'filter', hook: 'output', priority: 'filter' }, ['icmp type redirect drop']),
  ].join('\n');
  return { body, counters };
}

/** A DISTRIBUTED load balancer on this host: its id, placement and the bridge of its VIP's network here. */
export interface HostedLb {
  id: string;
  p: LbPlacement;
  bridge: string;
}

/** The first conntrack zone of the host table's bridges: above the ones the firewall hands out (from 1, one per bridge it filters). */
export const ZONE_BASE = 0x8000;

/**
 * A conntrack zone for each bridge (sorted), from a hash of its name into [ZONE_BASE, 0xffff]
 * (the next free on a clash): a bridge keeps its zone while others come and go.
 */
export function bridgeZones(bridges: readonly string[]): Map<string, number> {
  const zones = new Map<string, number>();
  const taken = new Set<number>();
  const span = 0x10000 - ZONE_BASE;
  for (const bridge of [...new Set(bridges)].sort()) {
    let zone = ZONE_BASE + (parseInt(digest(bridge, 8), 16) % span);
    while (taken.has(zone)) zone = ZONE_BASE + ((zone - ZONE_BASE + 1) % span);
    taken.add(zone);
    zones.set(bridge, zone);
  }
  return zones;
}

/** The scope of a DISTRIBUTED load balancer's counter and map names in the host table (VIPs may repeat on other networks). */
export const hostScope = (lb: Pick<HostedLb, 'id'>): string => `${lb.id}|`;

/**
 * The plugin's table in the host namespace (DISTRIBUTED), where bridged traffic passes the inet
 * hooks (br_netfilter): each load balancer's {@link translation} of what comes in by its
 * network's bridge, so a client's connection is translated on the client's own host and the
 * reply, which passes the same bridge, is translated back there (members see the client's
 * address; nothing is masqueraded). A member that picks itself through its VIP gets the VIP as
 * the source (a packet from its own address would be dropped by it), and its port has hairpin
 * mode (the frame goes back out of the port it came by). The forward chain only counts.
 * Each such bridge has a conntrack zone of its own: a flow that crossed the host already on
 * another bridge (a client behind a router on this host) is tracked again, so its first packet on
 * the VIP's bridge is translated (one entry would hold the first crossing's null binding).
 * Written incrementally: each load balancer's rules are chains of its own (`d_` DNAT, `h_`
 * hairpin, `c_` counting), the base chains only jump to them, so adding or changing one rewrites
 * its chains and one line in each base chain.
 */
export function hostTable(lbs: readonly HostedLb[], takes: (lb: HostedLb, l: PlacedListener, m: PlacedMember) => boolean): { body: string; counters: string[] } {
  const sets: string[] = [];
  const counters: string[] = [];
  const chains: string[] = [];
  const pre: string[] = [];
  const post: string[] = [];
  const forward: string[] = [];
  const chain = (name: string, rules: readonly string[]): string => [`chain ${name} {`, ...rules, '}'].join('\n');
  for (const lb of [...lbs].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    const t = translation(lb.p, (l, m) => takes(lb, l, m), hostScope(lb));
    const tag = digest(lb.id, 12);
    const original = `ct status dnat ct original ip daddr ${lb.p.vip}`;
    sets.push(...t.sets);
    counters.push(...t.counters);
    if (t.pre.length) {
      chains.push(chain(`d_${tag}`, t.pre));
      pre.push(`iifname "${lb.bridge}" ip daddr ${lb.p.vip} jump d_${tag}`);
    }
    const selves = [...new Set(lb.p.listeners.flatMap((l) => l.members.map((m) => m.address)))].sort();
    if (selves.length) {
      chains.push(chain(`h_${tag}`, selves.map((m) => `ip saddr ${m} ip daddr ${m} snat ip to ${lb.p.vip}`)));
      post.push(`oifname "${lb.bridge}" ${original} jump h_${tag}`);
    }
    if (t.forward.length) {
      chains.push(chain(`c_${tag}`, t.forward));
      forward.push(`${original} jump c_${tag}`);
    }
  }
  if (!pre.length && !counters.length) return { body: '', counters: [] };
  const zones = bridgeZones(lbs.map((lb) => lb.bridge));
  const body = [
    nftBaseChain(
      'zone',
      { type: 'filter', hook: 'prerouting', priority: 'raw' },
      [...zones].map(([bridge, zone]) => `iifname "${bridge}" ct zone set ${zone}`),
    ),
    ...sets,
    ...chains,
    nftBaseChain('prerouting', { type: 'nat', hook: 'prerouting', priority: 'dstnat' }, pre),
    nftBaseChain('postrouting', { type: 'nat', hook: 'postrouting', priority: 'srcnat' }, post),
    nftBaseChain('forward', { type: 'filter', hook: 'forward', priority: 'filter' }, forward),
  ].join('\n');
  return { body, counters };
}
