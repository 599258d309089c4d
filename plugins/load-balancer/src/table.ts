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

/**
 * The body of a load balancer's own nftables table, in its namespace: DNAT of VIP:port to the
 * members that take new connections (weights as ranges of a numgen/jhash map), masquerade so
 * replies come back through the translation (also when a member calls its own VIP), per-member
 * counters, and a forward filter that passes only translated flows. `takes(listener, member)`
 * says whether a member takes new connections now (admin up and healthy). Returns the body and
 * the counter names it uses; an empty body when there is nothing to translate.
 */
export function lbTable(p: LbPlacement, takes: (l: PlacedListener, m: PlacedMember) => boolean): { body: string; counters: string[] } {
  const pre: string[] = [];
  const forward: string[] = [];
  const sets: string[] = [];
  const counters: string[] = [];
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
        const map = `a_${digest(memberKey(l, { address: p.vip, port: 0 }), 12)}`;
        sets.push(`map ${map} {\ntype ipv4_addr : ipv4_addr . inet_service; flags dynamic,timeout; timeout ${l.affinityTimeout}s;\n}`);
        pre.push(`${match} dnat ip to ip saddr map @${map}`);
        forward.push(`ct status dnat ct state new ${original} update @${map} { ip saddr timeout ${l.affinityTimeout}s : ip daddr . ${proto} dport }`);
      }
      pre.push(`${match} dnat ip to ${pick} map { ${ranges.join(', ')} }`);
    }
    // Counted for every member, taking connections or not: flows already set up go on.
    for (const m of l.members) {
      const names = counterNames(memberKey(l, m));
      counters.push(names.connections, names.traffic);
      const member = `${original} ct reply ip saddr ${m.address} ct reply proto-src ${m.port}`;
      // The comment names the member for a reader of the ruleset (the trace).
      forward.push(`${member} ct state new counter name "${names.connections}" comment "netloom lb ${memberKey(l, m)}"`, `${member} counter name "${names.traffic}"`);
    }
  }
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
