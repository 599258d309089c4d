import ipaddr from 'ipaddr.js';
import { assertCidrAddr, assertIp, assertMac, LinuxInputError, NftTableView } from '@netloom/linux';
import { DesiredResource, PortSpec, ResourceKind, resourceKey } from '@netloom/model';
import { Names } from './naming';

/**
 * Port security (anti-spoofing) for every port of the host in one bridge-family table, with the
 * same rules for all ports and the ports' addresses in named sets keyed by the host end's name:
 * a port's change is a few set elements, whatever the number of ports.
 */
const FAMILY = 'bridge';
/** Host ends of the ports with port security on. */
const PORTS = 's_ports';
/** The map from a host end to its counter of dropped frames. */
const DROPS = 'm_drop';

/** The sets of (host end, MAC, address) bindings, and what each holds. */
const SETS = {
  /** host end . MAC it may send from */
  s_mac: 'type ifname . ether_addr;',
  /** host end . MAC . ARP sender MAC (the same) . ARP sender address */
  s_arp: 'type ifname . ether_addr . ether_addr . ipv4_addr; flags interval;',
  s_ip4: 'type ifname . ether_addr . ipv4_addr; flags interval;',
  s_ip6: 'type ifname . ether_addr . ipv6_addr; flags interval;',
  /** host end . IPv6 ND target it may announce or probe (raw: this nft has no `icmpv6 taddr`) */
  s_nd: 'typeof iifname . @th,64,128; flags interval;',
} as const;
type SetName = keyof typeof SETS;

const DROP = `counter name iifname map @${DROPS} drop`;
/** The rules of the `check` chain, the same for every port (a frame from a secured port's host end). */
export const CHECK_RULES = [
  `iifname . ether saddr != @s_mac ${DROP}`,
  'arp htype 1 arp ptype ip arp hlen 6 arp plen 4 iifname . ether saddr . arp saddr ether . arp saddr ip @s_arp accept',
  'iifname . ether saddr . ip saddr @s_ip4 accept',
  // A DHCP client asks from 0.0.0.0 before it has an address (its MAC checked above).
  'ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept',
  `icmpv6 type { nd-router-advert, nd-redirect } ${DROP}`,
  // DAD and MLD go out from `::` before an address is usable.
  'ip6 saddr :: ip6 daddr ff02::/16 icmpv6 type nd-neighbor-solicit iifname . @th,64,128 @s_nd accept',
  'ip6 saddr :: ip6 daddr ff02::/16 icmpv6 type { mld-listener-report, mld2-listener-report } accept',
  `icmpv6 type nd-neighbor-advert iifname . @th,64,128 != @s_nd ${DROP}`,
  'iifname . ether saddr . ip6 saddr @s_ip6 accept',
  // Anything else: other ethertypes (VLAN tags included), wrong addresses.
  DROP,
];

/** An address or CIDR as an inclusive range, to drop elements another covers (interval sets refuse overlaps). */
interface Span {
  text: string;
  first: bigint;
  last: bigint;
}

function span(ipOrCidr: string): Span {
  const [ip, prefix] = ipOrCidr.split('/');
  const bytes = ipaddr.parse(ip).toByteArray();
  const bits = bytes.length * 8;
  const first = bytes.reduce((n, b) => (n << 8n) | BigInt(b), 0n);
  const len = prefix === undefined ? bits : Number(prefix);
  const hostMask = (1n << BigInt(bits - len)) - 1n;
  // As nft lists them: a single address plain, a network as address/length.
  const text = len === bits ? ipaddr.fromByteArray(bytes).toString() : `${ipaddr.fromByteArray(bytes).toString()}/${len}`;
  return { text, first: first & ~hostMask, last: first | hostMask };
}

/** The spans none of the others covers, in their given order. */
function outermost(spans: Span[]): Span[] {
  return spans.filter((s, i) => !spans.some((o, j) => (o.first < s.first || o.last > s.last || (o.first === s.first && o.last === s.last && j < i)) && o.first <= s.first && o.last >= s.last));
}

/** A 128-bit value as nft lists it. */
const hex128 = (n: bigint): string => `0x${n.toString(16).padStart(32, '0')}`;

/** The EUI-64 link-local address of a MAC (what an IPv6 stack derives; Neutron allows it too). */
export function linkLocal(mac: string): string {
  let address = linkLocals.get(mac);
  if (address === undefined) {
    const b = mac.split(':').map((x) => parseInt(x, 16));
    address = ipaddr.fromByteArray([0xfe, 0x80, 0, 0, 0, 0, 0, 0, b[0] ^ 2, b[1], b[2], 0xff, 0xfe, b[3], b[4], b[5]]).toString();
    // Asked for every port on every pass: kept (bounded; a MAC's link-local never changes).
    if (linkLocals.size >= 100_000) linkLocals.clear();
    linkLocals.set(mac, address);
  }
  return address;
}
const linkLocals = new Map<string, string>();

/**
 * The set elements of one port (pure), as nft lists them: its MACs, and each MAC bound to its
 * addresses (fixed IPs, the link-local of its own MAC, allowed pairs), addresses another one of
 * the same MAC covers left out. Throws LinuxInputError on a value that is no MAC or address, so
 * nothing of it reaches nft.
 */
export function portElements(veth: string, spec: PortSpec): Record<SetName, string[]> {
  const own = assertMac(spec.mac);
  const bindings = [
    ...spec.addresses.map((a) => ({ mac: own, ip: assertCidrAddr(a.cidr).split('/')[0] })),
    { mac: own, ip: linkLocal(own) },
    ...(spec.allowedAddressPairs ?? []).map((p) => ({ mac: assertMac(p.mac), ip: p.ip.includes('/') ? assertCidrAddr(p.ip) : assertIp(p.ip) })),
  ];
  const key = `"${veth}"`;
  const out: Record<SetName, string[]> = { s_mac: [], s_arp: [], s_ip4: [], s_ip6: [], s_nd: [] };
  const macs = [...new Set(bindings.map((b) => b.mac))];
  out.s_mac = macs.map((mac) => `${key} . ${mac}`);
  for (const mac of macs) {
    const spans = outermost(bindings.filter((b) => b.mac === mac).map((b) => span(b.ip)));
    for (const s of spans) {
      if (s.text.includes(':')) {
        out.s_ip6.push(`${key} . ${mac} . ${s.text}`);
      } else {
        out.s_arp.push(`${key} . ${mac} . ${mac} . ${s.text}`);
        out.s_ip4.push(`${key} . ${mac} . ${s.text}`);
      }
    }
  }
  const targets = outermost(bindings.map((b) => span(b.ip)).filter((s) => s.text.includes(':')));
  out.s_nd = targets.map((t) => `${key} . ${t.first === t.last ? hex128(t.first) : `${hex128(t.first)}-${hex128(t.last)}`}`);
  return out;
}

/** The sets and maps of the table, in the order a script writes them. */
const SET_ORDER: readonly string[] = [PORTS, DROPS, ...Object.keys(SETS)];

/**
 * What this host's table holds, in the form the planner compares: from a listing
 * ({@link portSecurityState}), or what a script of the planner left ({@link PortSecurityPlan.after}),
 * so a pass need not list the table again while nobody else writes it.
 */
export interface PortSecurityState {
  /** Its chains, rules and sets are the ones this module builds (otherwise it is replaced whole). */
  intact: boolean;
  /** Each host end's elements, as `<set> <element as nft lists it>`. */
  byVeth: ReadonlyMap<string, ReadonlySet<string>>;
  /** The named counters in the table. */
  counters: ReadonlySet<string>;
}

/** An element as listed, in the form {@link portElements} writes (host end quoted, 128-bit values padded). */
function listed(parts: string[]): string {
  const pad = (v: string): string => (/^(0x[0-9a-f]+|\d+)$/.test(v) ? hex128(BigInt(v)) : v);
  return [`"${parts[0]}"`, ...parts.slice(1).map((p) => p.split('-').map(pad).join('-'))].join(' . ');
}

/** The table as listed by nft, in the planner's form; null when there is no table. */
export function portSecurityState(table: NftTableView | null): PortSecurityState | null {
  if (!table) return null;
  const byVeth = new Map<string, Set<string>>();
  for (const set of table.sets) {
    if (!SET_ORDER.includes(set.name)) continue;
    for (const e of set.elements) {
      const veth = e.parts[0];
      const text = set.name === DROPS ? `"${veth}" : "${e.value ?? ''}"` : listed(e.parts);
      let mine = byVeth.get(veth);
      if (!mine) byVeth.set(veth, (mine = new Set()));
      mine.add(`${set.name} ${text}`);
    }
  }
  return { intact: isIntact(table), byVeth, counters: new Set(table.counters.map((c) => c.name)) };
}

interface Wanted {
  veth: string;
  /** `<set> <element>` of the port, as {@link PortSecurityState.byVeth} holds them. */
  elements: ReadonlySet<string>;
  /** Why its addresses could not be written (it is then listed as secured, with nothing allowed). */
  invalid?: string;
}

const memo = new WeakMap<DesiredResource, Wanted>();
/**
 * The same by what they are made of, per port: a port sent again with only its guards changed (a
 * firewall policy made or deleted sends again every port it covers) computes nothing again.
 */
const byContent = new Map<string, { key: string; wanted: Wanted }>();
/** A secured port's elements, computed once per resource object (they are replaced, not edited) and once per content. */
function wantedOf(port: DesiredResource<PortSpec>, veth: string, counter: string): Wanted {
  let wanted = memo.get(port);
  if (wanted?.veth === veth) return wanted;
  const key = JSON.stringify([veth, counter, port.spec.mac, port.spec.addresses, port.spec.allowedAddressPairs ?? null]);
  const known = byContent.get(port.id);
  if (known?.key === key) {
    memo.set(port, known.wanted);
    return known.wanted;
  }
  wanted = computeWanted(port, veth, counter);
  memo.set(port, wanted);
  // Bounded: ports deleted long ago go when it is full.
  if (byContent.size >= 100_000) byContent.clear();
  byContent.set(port.id, { key, wanted });
  return wanted;
}

function computeWanted(port: DesiredResource<PortSpec>, veth: string, counter: string): Wanted {
  const elements = new Set<string>();
  let invalid: string | undefined;
  try {
    for (const [set, list] of Object.entries(portElements(veth, port.spec))) for (const e of list) elements.add(`${set} ${e}`);
  } catch (error) {
    if (!(error instanceof LinuxInputError)) throw error;
    invalid = `port security: ${error.message}`;
    // An invalid port sends nothing: it stays listed as secured, with no binding.
    elements.clear();
  }
  elements.add(`${PORTS} "${veth}"`);
  elements.add(`${DROPS} "${veth}" : "${counter}"`);
  return { veth, elements, ...(invalid ? { invalid } : {}) };
}

export interface PortSecurityPlan {
  /** One `nft -f` transaction for the host's table; empty when it already matches. */
  script: string;
  /** Keys of the ports whose elements this script adds or removes. */
  written: string[];
  /** Ports whose spec holds a value that is no address or MAC: nothing of theirs is written. */
  invalid: { key: string; reason: string }[];
  /** What the table holds once the script is applied (null: no table). */
  after: PortSecurityState | null;
}

const EMPTY: PortSecurityState = { intact: false, byVeth: new Map(), counters: new Set() };
const sameSet = (a: ReadonlySet<string>, b: ReadonlySet<string>): boolean => {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const x of b) if (!a.has(x)) return false;
  return true;
};
const NONE: ReadonlySet<string> = new Set();

/**
 * The changes that make this host's port-security table match the desired ports (pure),
 * level-triggered per set element: what the table holds but is not desired goes, what is desired
 * but not there is added. `table` is what the table holds (a listing through
 * {@link portSecurityState}, or the last plan's `after`). Ports in `skip` keep what they have. A
 * table whose chains or sets are not as built is replaced whole, in the same transaction. A host
 * without a secured port has no table. Nothing that matches gets a line; a port whose elements
 * are all there costs a comparison of its few elements, so a pass of one changed port among many
 * is cheap.
 */
export function planPortSecurity(
  desired: readonly DesiredResource[],
  table: PortSecurityState | null,
  names: Names,
  skip: ReadonlySet<string> = new Set(),
): PortSecurityPlan {
  const ports = desired.filter((r): r is DesiredResource<PortSpec> => r.kind === ResourceKind.Port);
  const secured = ports.filter((p) => p.spec.portSecurity !== false);
  const t = `${FAMILY} ${names.portSecurityTable}`;
  // A host without a secured port has no table (the last one takes it along).
  if (!secured.length && !ports.some((p) => skip.has(resourceKey(p)))) {
    return { script: table ? `delete table ${t}\n` : '', written: [], invalid: [], after: null };
  }
  const lines: string[] = [];
  const intact = !!table?.intact;
  if (!intact) {
    if (table) lines.push(`delete table ${t}`);
    lines.push(`add table ${t}`, `add set ${t} ${PORTS} { type ifname; }`, `add map ${t} ${DROPS} { type ifname : counter; }`);
    for (const [name, type] of Object.entries(SETS)) lines.push(`add set ${t} ${name} { ${type} }`);
    lines.push(
      `add chain ${t} pre { type filter hook prerouting priority -200; policy accept; }`,
      `add chain ${t} check`,
      `add rule ${t} pre iifname @${PORTS} jump check`,
      // The host itself is no port's peer: nothing a port sends is delivered to the host namespace
      // (its addresses would otherwise answer ARP and take packets through the bridge). Not counted
      // as the port's drops: broadcasts and multicasts reach this hook as well as the other ports.
      // But ARP replies: the host asks a port's MAC when it forwards to it (a load balancer's
      // bridged DNAT), and a reply only completes what the host asked (its sender address is the
      // port's own, checked above).
      `add chain ${t} in { type filter hook input priority -200; policy accept; }`,
      `add rule ${t} in iifname @${PORTS} arp operation reply accept`,
      `add rule ${t} in iifname @${PORTS} drop`,
      ...CHECK_RULES.map((rule) => `add rule ${t} check ${rule}`),
    );
  }
  const have = intact ? table : EMPTY;

  // Skipped ports keep whatever they have. (A pass compares every port: no copy of the table is
  // made unless something differs.)
  const kept = skip.size ? new Set(ports.filter((p) => skip.has(resourceKey(p))).map((p) => names.veth(p.id))) : NONE;
  const invalid: PortSecurityPlan['invalid'] = [];
  let after: Map<string, ReadonlySet<string>> | undefined;
  const dels = new Map<string, string[]>(SET_ORDER.map((set) => [set, []]));
  const adds = new Map<string, string[]>(SET_ORDER.map((set) => [set, []]));
  const touched = new Set<string>();
  /** Files the difference between what a host end has and what it should have. */
  const diff = (veth: string, want: ReadonlySet<string>): void => {
    const has = have.byVeth.get(veth) ?? NONE;
    if (sameSet(has, want)) return;
    for (const e of has) if (!want.has(e)) dels.get(e.slice(0, e.indexOf(' ')))?.push(e.slice(e.indexOf(' ') + 1));
    for (const e of want) if (!has.has(e)) adds.get(e.slice(0, e.indexOf(' ')))?.push(e.slice(e.indexOf(' ') + 1));
    after ??= new Map(have.byVeth);
    if (want.size) after.set(veth, want);
    else after.delete(veth);
    touched.add(veth);
  };
  const wanted = new Set<string>();
  const wantCounters = new Set<string>();
  /** Host ends the table holds that are wanted or kept: when all it holds, none is left to remove. */
  let held = 0;
  for (const port of ports) {
    const veth = names.veth(port.id);
    const secure = port.spec.portSecurity !== false;
    if (secure || kept.has(veth)) wantCounters.add(names.portCounter(port.id));
    if ((secure || kept.has(veth)) && have.byVeth.has(veth)) held++;
    if (!secure || kept.has(veth)) continue;
    const w = wantedOf(port, veth, names.portCounter(port.id));
    if (w.invalid) invalid.push({ key: resourceKey(port), reason: w.invalid });
    wanted.add(veth);
    diff(veth, w.elements);
  }
  if (have.byVeth.size > held) {
    for (const veth of have.byVeth.keys()) if (!wanted.has(veth) && !kept.has(veth)) diff(veth, NONE);
  }

  const counterAdds = [...wantCounters].filter((c) => !have.counters.has(c)).sort();
  // Some to remove only when the table holds more than the wanted ones it has.
  const counterDels = have.counters.size > wantCounters.size - counterAdds.length ? [...have.counters].filter((c) => names.ownsPortCounter(c) && !wantCounters.has(c)).sort() : [];
  // A map element goes by its key.
  const byKey = (set: string, e: string): string => (set === DROPS ? e.slice(0, e.indexOf(' : ')) : e);
  // Elements out, then counters nothing refers to any more; new counters before the map names them.
  for (const [set, list] of dels) for (const e of list) lines.push(`delete element ${t} ${set} { ${byKey(set, e)} }`);
  lines.push(...counterDels.map((c) => `delete counter ${t} ${c}`), ...counterAdds.map((c) => `add counter ${t} ${c}`));
  for (const [set, list] of adds) if (list.length) lines.push(`add element ${t} ${set} { ${list.join(', ')} }`);
  if (!lines.length) return { script: '', written: [], invalid, after: table };
  const invalidKeys = new Set(invalid.map((i) => i.key));
  // Host end → port key, for the ports whose elements change.
  const portOf = new Map(ports.filter((p) => touched.has(names.veth(p.id))).map((p) => [names.veth(p.id), resourceKey(p)]));
  const written = [...touched].map((veth) => portOf.get(veth)).filter((k): k is string => k !== undefined && !invalidKeys.has(k));
  const counters = new Set(have.counters);
  for (const c of counterDels) counters.delete(c);
  for (const c of counterAdds) counters.add(c);
  return { script: `${lines.join('\n')}\n`, written: [...new Set(written)].sort(), invalid, after: { intact: true, byVeth: after ?? have.byVeth, counters } };
}

/** Whether the table has the chains, rules and sets this module builds (drift by hand: it is replaced). */
function isIntact(table: NftTableView): boolean {
  const rules = (chain: string): number => table.rules.filter((r) => r.chain === chain).length;
  const sets = new Set(table.sets.map((s) => s.name));
  return (
    table.chains.find((c) => c.name === 'pre')?.hook === 'prerouting' &&
    table.chains.some((c) => c.name === 'check') &&
    rules('pre') === 1 &&
    table.chains.find((c) => c.name === 'in')?.hook === 'input' &&
    rules('in') === 2 &&
    rules('check') === CHECK_RULES.length &&
    [PORTS, DROPS, ...Object.keys(SETS)].every((s) => sets.has(s))
  );
}

/** Packets dropped from each secured port, by port id, from the table's named counters (by name). */
export function droppedByPort(desired: readonly DesiredResource[], counters: ReadonlyMap<string, number>, names: Names): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of desired) {
    if (r.kind !== ResourceKind.Port || (r.spec as PortSpec).portSecurity === false) continue;
    const packets = counters.get(names.portCounter(r.id));
    if (packets !== undefined) out.set(r.id, packets);
  }
  return out;
}
