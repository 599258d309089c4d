/** Typed views of what the kernel reports. Fields are copied from `ip -json`, never inferred. */

/** An address family. */
export type Family = 4 | 6;

/** One link from `ip -json -details link show`. */
export interface LinkInfo {
  ifname: string;
  ifindex: number;
  /** `linkinfo.info_kind`: `bridge`, `veth`, `vxlan`, …; absent for plain devices such as `lo`. */
  kind?: string;
  /** The bridge (or other master) this link is enslaved to. */
  master?: string;
  mtu: number;
  address?: string;
  /** Administratively up: `flags` include `UP`. */
  up: boolean;
  /** `UP`, `DOWN`, `LOWER_LAYER_DOWN`, `UNKNOWN`, … */
  operstate?: string;
  /** The interface alias (`ifalias`). */
  alias?: string;
  /** For a veth whose peer lives in another namespace: that namespace's id as seen from here. */
  linkNetnsId?: number;
  /** `link_index`: the peer's ifindex for a veth (in the peer's namespace). */
  linkIndex?: number;
  /** `inet6_addr_gen_mode`: `eui64`, `none`, … */
  addrGenMode?: string;
  /** For a VXLAN device: its settings (`linkinfo.info_data`). */
  vxlan?: { id: number; local?: string; port?: number; learning?: boolean; proxy?: boolean };
  /** For an 802.1Q subinterface: its tag (`linkinfo.info_data.id`) and parent (`link`). */
  vlan?: { id: number; link?: string };
  /** For a bridge port: whether hairpin mode is on (`linkinfo.info_slave_data.hairpin`). */
  hairpin?: boolean;
}

/** One direction of a link's traffic, as the kernel counts it (`stats64.rx` or `.tx`). */
export interface LinkDirectionStats {
  packets: number;
  bytes: number;
  /** Frames dropped (no buffer, a filter on the device, …). */
  dropped: number;
  errors: number;
}

/** A link's counters from `ip -s -json link show`, as seen from that link (its rx is what it received). */
export interface LinkStats {
  ifname: string;
  rx: LinkDirectionStats;
  tx: LinkDirectionStats;
}

/** One address of an interface. */
export interface AddrEntry {
  family: Family;
  local: string;
  prefixlen: number;
  scope: string;
}

/** The addresses of one interface, from `ip -json addr show`. */
export interface AddrInfo {
  ifname: string;
  addresses: AddrEntry[];
}

/** One route from `ip -json route show`. */
export interface RouteInfo {
  /** `default` or a prefix such as `10.9.0.0/16` (a host route has no `/`). */
  dst: string;
  gateway?: string;
  dev?: string;
  /** `kernel`, `boot`, `static`, …; absent for routes `ip` added with the default protocol. */
  protocol?: string;
  scope?: string;
  metric?: number;
  family: Family;
}

/** One policy-routing rule from `ip -json rule show` (IPv4). */
export interface RuleInfo {
  /** Its preference (`pref`), the order rules are tried in. */
  priority: number;
  /** The input interface it matches (`iif`), absent when it matches any. */
  iif?: string;
  /** The table it looks up: a number as text, or `main`, `local`, `default`. */
  table?: string;
  /** `all` or a prefix. */
  src?: string;
}

/** One line of a batch that the kernel (or `ip`) refused. */
export interface BatchFailure {
  /** 1-based line number in the batch. */
  line: number;
  text: string;
  /** The key the line was added with: the resource it serves. */
  key?: string;
  /** What `ip` printed for that line, e.g. `Cannot find device "x"`. */
  error: string;
}

/** The outcome of one `-force -batch`: every line ran; these failed. */
export interface BatchResult {
  ok: boolean;
  failed: BatchFailure[];
}

/** One entry of `ip -json neigh show`. */
export interface NeighEntry {
  dst: string;
  dev: string;
  lladdr?: string;
  /** e.g. `PERMANENT`, `REACHABLE`, `STALE`. */
  state: string[];
}

/** One entry of `bridge -json fdb show`. */
export interface FdbEntry {
  mac: string;
  dev: string;
  /** The remote VTEP of a VXLAN entry. */
  dst?: string;
  master?: string;
  /** `permanent`, `static`, or empty for learned entries. */
  state?: string;
  /** e.g. `self`, `extern_learn`. */
  flags?: string[];
  vlan?: number;
}

/** One line of `ip -o monitor link`. */
export interface LinkEvent {
  /** The interface name, when the line could be parsed. */
  ifname?: string;
  ifindex?: number;
  /** The line starts with `Deleted`. */
  deleted: boolean;
  /** What the line says of the link now, when it could be read (as {@link LinkInfo} has it). */
  state?: Pick<LinkInfo, 'up' | 'mtu' | 'master' | 'address'>;
  raw: string;
}

/** One line of `nft monitor` (text): an object of a table changed, or the end of a transaction. */
export type NftMonitorLine =
  | { type: 'object'; family: string; table: string }
  | { type: 'generation'; generation: number; pid: number; comm: string };

/** One committed nftables transaction, as `nft monitor` reports it. */
export interface NftTransaction {
  generation: number;
  /** The process that committed it, and its name (as the kernel reports them). */
  pid: number;
  comm: string;
  /** The tables it touched (each once). */
  tables: { family: string; table: string }[];
}

/** A named nftables counter, from `nft -j list counters`. */
export interface NftCounter {
  name: string;
  packets: number;
  bytes: number;
}

/** What one table holds, from `nft -j list table`: enough to diff it, plus its named counters. */
export interface NftTableView {
  /** Chains by name; `hook` for base chains. */
  chains: { name: string; hook?: string }[];
  /** Rules in order, per chain, with their comment. */
  rules: { chain: string; handle: number; comment?: string }[];
  /** Named sets and maps with their elements. */
  sets: NftSetView[];
  counters: NftCounter[];
}

/** A named set or map, from `nft -j list table`. */
export interface NftSetView {
  name: string;
  /** Each element's key parts as nft writes them (`addr/len` for a prefix, `a-b` for a range), its comment, and a map's value. */
  elements: { parts: string[]; comment?: string; value?: string }[];
}

/** An nftables address family. */
export type NftFamily = 'inet' | 'ip' | 'ip6' | 'arp' | 'bridge' | 'netdev';

/** The counters `tc -s` reports for a qdisc or a class. */
export interface TcCounters {
  bytes: number;
  packets: number;
  drops: number;
  overlimits: number;
  /** Bytes queued now. */
  backlog: number;
}

/** One qdisc from `tc -s -j qdisc show`. */
export interface TcQdiscView extends TcCounters {
  dev?: string;
  kind: string;
  /** `1:`, `ffff:` (ingress, clsact), `0:` for a default one. */
  handle: string;
  /** `root`, or the class or hook it hangs on (`1:a`, `ffff:fff1`). */
  parent: string;
  /** Packets queued now. */
  qlen: number;
}

/** One filter on a clsact hook, from `tc -j filter show dev D ingress|egress` (its entries with options). */
export interface TcFilterView {
  kind: string;
  /** Its priority (`pref`). */
  prio: number;
  handle?: string;
  /** A bpf filter's object and section as tc names it (`netloom-vlan-tag-100.o:[tc]`). */
  bpfName?: string;
}

/** One class from `tc -s class show`. */
export interface TcClassView extends TcCounters {
  kind: string;
  classid: string;
  /** `root`, or its parent class. */
  parent: string;
}
