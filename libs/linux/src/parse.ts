import type { AddrEntry, AddrInfo, FdbEntry, Family, LinkDirectionStats, LinkEvent, LinkInfo, LinkStats, NftCounter, NftMonitorLine, NftSetView, NftTableView, RouteInfo, RuleInfo, NeighEntry } from './types';

/**
 * Pure mappings from `ip -json` / `bridge -json` output and `ip -o monitor` lines to the typed
 * views. Unknown or missing fields are left out rather than guessed.
 */

type Json = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
const obj = (v: unknown): Json | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);

/** Drops keys whose value is undefined, so results compare cleanly with `toEqual`. */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** Parses a JSON array printed by `ip`/`bridge` (empty output counts as `[]`). */
export function parseJsonArray(stdout: string, what: string): Json[] {
  if (stdout.trim() === '') return [];
  const parsed: unknown = JSON.parse(stdout);
  if (!Array.isArray(parsed)) throw new Error(`${what}: expected a JSON array`);
  return parsed.filter((e): e is Json => obj(e) !== undefined);
}

/** One element of `ip -json -details link show`. */
/** The settings of a VXLAN device, from `linkinfo.info_data`. */
function vxlanInfo(linkinfo: Json | undefined): LinkInfo['vxlan'] {
  const data = obj(linkinfo?.info_data);
  if (str(linkinfo?.info_kind) !== 'vxlan' || !data) return undefined;
  const flag = (v: unknown): boolean | undefined => (typeof v === 'boolean' ? v : undefined);
  return compact<NonNullable<LinkInfo['vxlan']>>({
    id: num(data.id) ?? 0,
    local: str(data.local),
    port: num(data.port),
    learning: flag(data.learning),
    proxy: flag(data.proxy),
  });
}

/** The tag and parent of a VLAN subinterface. */
function vlanInfo(e: Json): LinkInfo['vlan'] {
  const linkinfo = obj(e.linkinfo);
  const data = obj(linkinfo?.info_data);
  if (str(linkinfo?.info_kind) !== 'vlan' || !data) return undefined;
  return compact<NonNullable<LinkInfo['vlan']>>({ id: num(data.id) ?? 0, link: str(e.link) });
}

/** A bridge port's hairpin mode (`linkinfo.info_slave_data.hairpin`). */
function hairpinOf(linkinfo: Json | undefined): boolean | undefined {
  const hairpin = obj(linkinfo?.info_slave_data)?.hairpin;
  return str(linkinfo?.info_slave_kind) === 'bridge' && typeof hairpin === 'boolean' ? hairpin : undefined;
}

export function toLinkInfo(e: Json): LinkInfo {
  const flags = Array.isArray(e.flags) ? e.flags : [];
  return compact<LinkInfo>({
    hairpin: hairpinOf(obj(e.linkinfo)),
    vxlan: vxlanInfo(obj(e.linkinfo)),
    vlan: vlanInfo(e),
    ifname: str(e.ifname) ?? '',
    ifindex: num(e.ifindex) ?? 0,
    kind: str(obj(e.linkinfo)?.info_kind),
    master: str(e.master),
    mtu: num(e.mtu) ?? 0,
    address: str(e.address),
    up: flags.includes('UP'),
    operstate: str(e.operstate),
    alias: str(e.ifalias),
    linkNetnsId: num(e.link_netnsid),
    linkIndex: num(e.link_index),
    addrGenMode: str(e.inet6_addr_gen_mode),
  });
}

/** One direction of `stats64` (or of the 32-bit `stats` an older `ip` prints); a missing count is 0. */
function directionStats(v: unknown): LinkDirectionStats {
  const d = obj(v);
  return { packets: num(d?.packets) ?? 0, bytes: num(d?.bytes) ?? 0, dropped: num(d?.dropped) ?? 0, errors: num(d?.errors) ?? 0 };
}

/** One element of `ip -s -json link show`: its name and counters; null when it carries no counters. */
export function toLinkStats(e: Json): LinkStats | null {
  const stats = obj(e.stats64) ?? obj(e.stats);
  const ifname = str(e.ifname);
  if (!stats || !ifname) return null;
  return { ifname, rx: directionStats(stats.rx), tx: directionStats(stats.tx) };
}

/** One element of `ip -json addr show`; non-IP families are skipped. */
export function toAddrInfo(e: Json): AddrInfo {
  const list = Array.isArray(e.addr_info) ? e.addr_info : [];
  const addresses: AddrEntry[] = [];
  for (const item of list) {
    const a = obj(item);
    const family = a?.family === 'inet' ? 4 : a?.family === 'inet6' ? 6 : undefined;
    const local = str(a?.local);
    const prefixlen = num(a?.prefixlen);
    if (family === undefined || local === undefined || prefixlen === undefined) continue;
    addresses.push({ family, local, prefixlen, scope: str(a?.scope) ?? '' });
  }
  return { ifname: str(e.ifname) ?? '', addresses };
}

/** One element of `ip -json route show`; `family` is the one the command was asked for. */
export function toRouteInfo(e: Json, family: Family): RouteInfo {
  return compact<RouteInfo>({
    dst: str(e.dst) ?? '',
    gateway: str(e.gateway),
    dev: str(e.dev),
    protocol: str(e.protocol),
    scope: str(e.scope),
    metric: num(e.metric),
    family,
  });
}

/** One element of `ip -json rule show` (`table` is printed as text, a number too). */
export function toRuleInfo(e: Json): RuleInfo {
  const table = e.table;
  return compact<RuleInfo>({
    priority: num(e.priority) ?? 0,
    iif: str(e.iif),
    table: typeof table === 'number' ? String(table) : str(table),
    src: str(e.src),
  });
}

/** One element of `ip -json neigh show` (`dev` is missing when the command named one). */
export function toNeighEntry(e: Json, dev?: string): NeighEntry {
  const state = Array.isArray(e.state) ? e.state.filter((f): f is string => typeof f === 'string') : [];
  return compact<NeighEntry>({ dst: str(e.dst) ?? '', dev: str(e.dev) ?? dev ?? '', lladdr: str(e.lladdr), state });
}

/** One element of `bridge -json fdb show` (`ifname` is missing when the command named a `dev`). */
export function toFdbEntry(e: Json, dev?: string): FdbEntry {
  const flags = Array.isArray(e.flags) ? e.flags.filter((f): f is string => typeof f === 'string') : undefined;
  return compact<FdbEntry>({
    mac: str(e.mac) ?? '',
    dev: str(e.ifname) ?? dev ?? '',
    dst: str(e.dst),
    master: str(e.master),
    state: str(e.state),
    flags,
    vlan: num(e.vlan),
  });
}

/** The named counters of one table in `nft -j list counters ...` output. */
export function toNftCounters(stdout: string, family: string, table: string): NftCounter[] {
  const items = obj(JSON.parse(stdout))?.nftables;
  const counters: NftCounter[] = [];
  for (const item of Array.isArray(items) ? items : []) {
    const c = obj(obj(item)?.counter);
    const name = str(c?.name);
    if (!c || name === undefined || c.family !== family || c.table !== table) continue;
    counters.push({ name, packets: num(c.packets) ?? 0, bytes: num(c.bytes) ?? 0 });
  }
  return counters;
}

/** One table from `nft -j list table FAMILY NAME` output (other tables' items are ignored). */
export function toNftTable(stdout: string, family: string, table: string): NftTableView {
  const items = obj(JSON.parse(stdout))?.nftables;
  const view: NftTableView = { chains: [], rules: [], sets: [], counters: toNftCounters(stdout, family, table) };
  for (const item of Array.isArray(items) ? items : []) {
    const [type, body] = Object.entries(obj(item) ?? {})[0] ?? [];
    const b = obj(body);
    const name = str(b?.name);
    if (!b || b.family !== family || b.table !== table) continue;
    if (type === 'chain' && name !== undefined) view.chains.push(compact({ name, hook: str(b.hook) }));
    else if (type === 'rule' && str(b.chain) !== undefined) view.rules.push(compact({ chain: str(b.chain)!, handle: num(b.handle) ?? 0, comment: str(b.comment) }));
    else if ((type === 'set' || type === 'map') && name !== undefined) {
      view.sets.push({ name, elements: (Array.isArray(b.elem) ? b.elem : []).map(toNftElement) });
    }
  }
  return view;
}

/** One element of a set or map: `key`, `{concat: [...]}`, `{elem: {val, comment}}`, or `[key, value]` in a map. */
function toNftElement(e: unknown): NftSetView['elements'][number] {
  if (Array.isArray(e)) return compact({ ...toNftElement(e[0]), value: nftPart(e[1]) });
  const elem = obj(obj(e)?.elem);
  if (elem) return compact({ ...toNftElement(elem.val), comment: str(elem.comment) });
  const concat = obj(e)?.concat;
  return { parts: (Array.isArray(concat) ? concat : [e]).map(nftPart) };
}

/** One part of an element as nft writes it: a value, `addr/len` (prefix) or `a-b` (range). */
function nftPart(p: unknown): string {
  const prefix = obj(obj(p)?.prefix);
  if (prefix) return `${nftPart(prefix.addr)}/${nftPart(prefix.len)}`;
  const range = obj(p)?.range;
  if (Array.isArray(range)) return `${nftPart(range[0])}-${nftPart(range[1])}`;
  return typeof p === 'string' || typeof p === 'number' ? String(p) : JSON.stringify(p);
}

// `6: dm1@dm1p: <BROADCAST,...> mtu 1500 ...`, optionally preceded by `Deleted `.
const MONITOR_LINE = /^(Deleted )?(\d+): ([^\s:@]+)(?:@[^\s:]*)?:/;

/** Parses one line of `ip -o monitor link`, best effort: unparsed lines keep only `raw`. */
export function parseLinkEvent(raw: string): LinkEvent {
  const m = MONITOR_LINE.exec(raw);
  if (!m) return { deleted: raw.startsWith('Deleted '), raw };
  const event: LinkEvent = { ifname: m[3], ifindex: Number(m[2]), deleted: m[1] !== undefined, raw };
  // `<FLAGS> mtu N … [master M] … link/ether MAC`: what the link is now (flags as in `ip link`).
  const flags = /: <([A-Z0-9_,-]*)> mtu (\d+) /.exec(raw.slice(m[0].length - 1));
  if (flags) {
    const master = / master (\S+) /.exec(raw)?.[1];
    const address = / link\/ether ([0-9a-f]{2}(?::[0-9a-f]{2}){5})(?: |$)/.exec(raw)?.[1];
    event.state = compact({ up: flags[1].split(',').includes('UP'), mtu: Number(flags[2]), master, address });
  }
  return event;
}

// `add rule inet t c …`, `delete table inet t`: verb, object, family, table.
const NFT_OBJECT_LINE = /^[a-z]+ [a-z]+ (ip|ip6|inet|arp|bridge|netdev) ([A-Za-z0-9_.-]+)(?:\s|$)/;
const NFT_GENERATION_LINE = /^# new generation (\d+) by process (\d+) \((.*)\)$/;

/**
 * Parses one line of `nft monitor` (text: JSON output has no transaction ends): the table an
 * object line changes, or a transaction's end with the process that committed it; undefined for
 * anything else.
 */
export function parseNftMonitorLine(line: string): NftMonitorLine | undefined {
  const generation = NFT_GENERATION_LINE.exec(line);
  if (generation) return { type: 'generation', generation: Number(generation[1]), pid: Number(generation[2]), comm: generation[3] };
  const object = NFT_OBJECT_LINE.exec(line);
  return object ? { type: 'object', family: object[1], table: object[2] } : undefined;
}
