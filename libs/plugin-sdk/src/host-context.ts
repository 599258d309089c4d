import type { TcCounters } from '@netloom/linux';

/**
 * What the agent half of a plugin gets to act on its host. Everything is batched (one `ip -batch`
 * per namespace, one `nft -f` per table) and scoped: names a plugin creates are derived from ids
 * and carry its mark, and the context refuses any change to a name the plugin does not own (a
 * core network's bridge may only be used as the master of a plugin's link).
 */
export interface HostContext {
  readonly hostId: string;
  readonly pluginId: string;
  /**
   * The names this plugin owns here, as the context derives them: its nftables table (the one
   * {@link nftTable} writes, in the families it uses), and the prefixes of its namespaces
   * ({@link netnsName}) and links ({@link linkName}). Read them; never build them yourself.
   */
  readonly names: { nftTable: string; netnsPrefix: string; linkPrefix: string };

  /** A namespace this plugin owns, derived from an id (stable, unique per host and plugin). */
  netnsName(id: string): string;
  /** A link this plugin owns in the host namespace (≤ 15 bytes), derived from an id and an optional short role. */
  linkName(id: string, role?: string): string;
  /** The bridge of a core network present on this host, to attach legs to; undefined when it is not here. */
  networkBridge(networkId: string): string | undefined;
  /**
   * A core port desired on this host: the namespace it lives in (one the agent made, or the one
   * its user named) and its interface there; undefined when it is not desired here. The plugin may
   * keep its own nftables table in that namespace ({@link nftTable}, {@link nftList},
   * {@link nftCounters} with `netns`), and do nothing else there. The namespace exists once the
   * core has applied the port, which happens before plugins run in the same pass.
   */
  port(portId: string): PortPlace | undefined;
  /** The ids of the core ports desired on this host (e.g. to clean up after ones a plugin no longer covers). */
  portIds(): string[];

  /** Namespaces this plugin owns on the host (live ones: a file in /run/netns with nothing mounted on it is none). */
  ownedNetns(): Promise<string[]>;
  /** Links of this plugin in the host namespace. */
  ownedLinks(): Promise<LinkView[]>;
  /** Every link in one of this plugin's namespaces. */
  links(netns: string): Promise<LinkView[]>;
  addresses(netns: string, dev?: string): Promise<{ ifname: string; addresses: { family: 4 | 6; local: string; prefixlen: number }[] }[]>;
  routes(netns: string, family?: 4 | 6): Promise<{ dst: string; gateway?: string; dev?: string }[]>;

  /**
   * Applies a set of changes: namespace additions first, then the host namespace's lines, then
   * each namespace's, one process each; deletions of namespaces last. `key` (a resource id) on
   * each change maps failures back to resources. Nothing is applied if any name is not owned.
   */
  apply(build: (changes: ChangeSet) => void): Promise<ApplyResult>;

  /**
   * Sets a sysctl inside one of this plugin's namespaces (e.g. `net.ipv4.ip_forward` = `1`), or,
   * with `netns` `''`, one of a link of its own in the host namespace (only
   * `net.ipv4.conf.<link>.*`, `net.ipv6.conf.<link>.*` and `net.ipv4.neigh.<link>.*`/`net.ipv6.neigh.<link>.*`).
   */
  sysctl(netns: string, key: string, value: string): Promise<void>;
  /**
   * Reads a sysctl (e.g. `net.bridge.bridge-nf-call-iptables`) in the host namespace (no `netns`),
   * one of this plugin's namespaces or a core port's: its value, or null where the kernel has no
   * such key (a module not loaded).
   */
  sysctlValue(key: string, netns?: string): Promise<string | null>;

  /**
   * Replaces this plugin's own nftables table (`table inet <plugin mark>`) in one of its
   * namespaces, a core port's namespace ({@link port}), or the host namespace, in one atomic
   * transaction: `body` is what goes inside the table's braces. An empty body removes the table.
   * Nothing runs when the table already holds this body (and these set elements).
   *
   * `counters` names the named counters the body uses (`counter name "x"`); the context declares
   * them, carrying over the values they have in the table now, so replacing the table does not
   * reset them (what is counted between the read and the replacement, microseconds, is lost).
   *
   * `sets` gives the elements of named sets the body declares (e.g. `set allowed { type
   * ipv4_addr; flags interval; }`): canonical IP addresses or CIDRs (host bits clear), anything
   * else is refused before anything runs. Elements never decide whether the table is replaced:
   * with the same body, only the sets whose elements differ are rewritten (`flush set` + `add
   * element`, all in one transaction), so rules, counters and conntrack state stay as they are;
   * with a new body, the table is replaced and filled in the same transaction. Elements must not
   * overlap (an interval set refuses overlapping ones, or merges them with `auto-merge`, which
   * then makes every call rewrite the set).
   *
   * `maps` gives the elements of named maps the body declares (e.g. `map ports { type ifname .
   * ipv4_addr : verdict; }`), each a key and a value ({@link NftMapElement}), checked like set
   * elements; with the same body only the maps whose elements differ are rewritten.
   *
   * `incremental`: for a table that changes often and is large (one per host holding many
   * resources' rules). The body must then be only `chain`, `set` and `map` declarations. Once the
   * context has written the table, a new body touches only what differs, in one transaction:
   * chains whose text changed are flushed and filled again (a base chain whose hook changed, and
   * a chain no longer declared, are deleted), set and map elements are deleted and added one by
   * one, new counters declared and unused ones deleted; chains, sets and maps that did not change
   * keep their handles, and every counter its value. A set's or map's declaration that changed, a
   * table the context has not written since it started (or that someone else changed), or a body
   * with anything else at its top, is replaced whole as above.
   */
  nftTable(
    body: string,
    netns?: string,
    opts?: {
      counters?: readonly string[];
      sets?: Readonly<Record<string, readonly string[]>>;
      maps?: Readonly<Record<string, readonly NftMapElement[]>>;
      incremental?: boolean;
      /**
       * The table's family (default `inet`). A `bridge` table (same name, same rules as above)
       * holds what only the bridge family sees, such as the port a flooded frame leaves by
       * (`oifname` in its `forward` hook is the host end of the port's veth, {@link
       * PortPlace.hostIfname}); {@link nftList} and {@link nftCounters} read the inet table.
       */
      family?: 'inet' | 'bridge';
    },
  ): Promise<void>;
  /** This plugin's table as `nft -j` lists it (in one of its namespaces, a core port's, or the host's), or null when there is none. */
  nftList(netns?: string): Promise<unknown>;
  /**
   * The named counters of this plugin's table: name → packets and bytes ({} when there is no
   * table). With `maxAgeMs`, a read that old or younger is given again, and an older one too
   * while a new read runs behind it (the next call gets that one): only the first read in a
   * namespace is waited for, and not even that after this context made the table (its counters
   * start at zero; one a later write adds too). A pass need not wait for a list of hundreds of
   * counters.
   */
  nftCounters(netns?: string, opts?: { maxAgeMs?: number }): Promise<Record<string, { packets: number; bytes: number }>>;

  /**
   * Checks a service from inside one of this plugin's namespaces: a TCP connect, or an HTTP/1.0
   * GET whose status must fall in `expectStatus` (default 200-399). Never throws for a failed
   * check. Runs in one long-lived helper process per namespace, started on first use and ended
   * when the namespace is deleted through {@link apply} or the agent stops; nothing the plugin
   * passes reaches a command line.
   */
  probe(netns: string, check: ProbeCheck): Promise<ProbeResult>;

  /**
   * The long-lived programs this plugin runs on this host (a DHCP, DNS, VPN or routing daemon),
   * all of them, every pass (level-triggered, like {@link nftTable}): each runs inside one of the
   * plugin's namespaces with its config and files written by the agent into a folder of its own,
   * is started again with backoff when it exits (and the plugin asked to reconcile, so its status
   * can say so), restarted when its program, arguments or config change (sent `reloadSignal`
   * instead when only its files change and it names one), and stopped when no longer given, when
   * its namespace is deleted through {@link apply}, or when the agent stops. Only programs the
   * operator allows (the agent's `--daemon-allow`) run; others are refused with that reason.
   * Returns each one's state, in the order given.
   */
  daemons(specs: readonly DaemonSpec[]): Promise<DaemonState[]>;
  /** A file in a daemon's folder (e.g. the lease file a DHCP server writes there), or null when there is none. */
  daemonFile(name: string, file: string): Promise<string | null>;

  /**
   * Traffic control: the whole set of devices this plugin shapes on this host, every pass
   * (level-triggered, like {@link daemons}). A device may be a link in one of the plugin's
   * namespaces (`netns` given), one of its links in the host namespace ({@link linkName}, e.g. an
   * ifb made with {@link LinkChanges.ifbAdd}), or the host end of a core port on this host
   * ({@link PortPlace.hostIfname} of a port in {@link portIds}): "ports the plugin's resources
   * select" is, for now, "ports on this host". Anything else is refused before anything runs.
   *
   * Each device gets what {@link TcDevice} describes and nothing else: a device whose description
   * is unchanged runs nothing (what was applied is remembered by content hash and trusted for 30
   * s, then checked with one read per namespace); a changed one has its root and ingress qdiscs
   * deleted and everything added again, in one `tc -batch` per namespace (for the microseconds
   * between the two, its traffic is not shaped); a device no longer given has its root and ingress
   * qdiscs deleted. The context only deletes on devices it shaped (the root qdisc carries the
   * plugin's mark as its handle); a core port's host end is meant to be shaped by one plugin.
   * Failures come back per device, keyed by its `key` (default: its `dev`), and are tried again
   * on the next call.
   */
  tc(devices: readonly TcDevice[]): Promise<ApplyResult>;
  /** The qdiscs and classes of a device this plugin may shape ({@link tc}), with their counters. */
  tcStats(dev: string, netns?: string): Promise<TcStats>;

  /**
   * The networks whose bridged IPv4 traffic this plugin's nat table in the host namespace may
   * translate (distributed load balancing: a `nat prerouting` rule rewriting a VIP to a member),
   * all of them, every pass (level-triggered, like {@link tc}). With br_netfilter
   * (`net.bridge.bridge-nf-call-iptables=1`) the kernel routes a bridged packet whose destination
   * was rewritten; when that route goes out of the same bridge, the frame continues bridged to the
   * new destination ("bridged DNAT"). For each network given, on its bridge B (see {@link
   * networkBridge}): IPv4 forwarding on B (`net.ipv4.conf.B.forwarding=1`), the rule `iif B lookup
   * T pref 1100` (`BRIDGE_ROUTING_PREF`) with T a table of this plugin's own (derived from its
   * id and B, so the host's main table is not touched), the {@link BridgeRouting.routes} in T out
   * of B (routes in T not given are deleted), and hairpin mode on the host ends of {@link
   * BridgeRouting.hairpinPorts} (a member reaching itself through a VIP leaves by the port it came
   * in by). A network no longer given has its rule deleted, its table flushed, forwarding on B set
   * back to 0 and hairpin turned off where this context turned it on; on its first call the
   * context also removes the rules an earlier agent left for this plugin (pref 1100, the plugin's
   * table for their `iif`) on bridges not given.
   *
   * What was applied is remembered by content and trusted for 30 s (then read back: the rules,
   * the table, the sysctl, the ports): a network whose description is unchanged runs nothing. A
   * network first given after the first call is written without reading (its table flushed
   * first, in the same batch).
   * Everything is checked before anything runs: an unknown network (no bridge here), an IPv6 or
   * malformed `dst` or `via`, a port not on this host (or on another bridge) are refused with an
   * error. Failures come back per network, keyed by its `networkId`, and are tried again on the
   * next call.
   */
  bridgeRouting(wanted: readonly BridgeRouting[]): Promise<ApplyResult>;

  /**
   * Tells a link's network that the IPv4 addresses the link holds now (read at the call) are at
   * its MAC: one gratuitous ARP request each, out of the link, so neighbours that cached another
   * MAC for an address (it was elsewhere before: a VIP taken over, an appliance made again) take
   * this one at once instead of when their entry times out. Only for a link inside one of this
   * plugin's namespaces; refused otherwise. IPv6 addresses are not announced (no unsolicited
   * neighbour advertisement is sent). `reconcileAppliances` calls it for a leg made, or
   * given an IPv4 address, in its pass.
   */
  announce(netns: string, dev: string): Promise<void>;

  /**
   * Asks the agent to run this plugin's reconcile (then observe) again soon, e.g. because a health
   * state it tracks changed. Calls close together coalesce into one pass.
   */
  requestReconcile(reason: string): void;

  log(line: string): void;
}

/**
 * One device shaped by a plugin ({@link HostContext.tc}). Rates are an integer and `bit`, `kbit`,
 * `mbit` or `gbit` (`10mbit`); sizes bytes, optionally `k` or `m` (`32k`). E.g. a port's egress
 * at 10 Mbit/s and what it sends policed to 2 Mbit/s:
 * `{ dev: place.hostIfname, root: { kind: 'tbf', rate: '10mbit' }, ingress: { police: { rate: '2mbit' } } }`
 * (the host end of a port sends what the port receives, and receives what it sends).
 */
export interface TcDevice {
  dev: string;
  /** One of the plugin's namespaces; absent: the host namespace. */
  netns?: string;
  /** What leaves the device: one rate for all ({@link TcTbf}) or HTB classes ({@link TcHtb}). */
  root?: TcTbf | TcHtb;
  /**
   * What the device receives: policed (dropped above the rate), and/or redirected to an ifb (to
   * shape it there, as that ifb's `root`): in the host namespace one of the plugin's links. Both:
   * policed first, what conforms redirected.
   */
  ingress?: { police?: { rate: string; burst?: string }; redirectToIfb?: string };
  /** Maps failures back to a resource (default: `dev`). */
  key?: string;
}

/** A token bucket: everything leaving the device at `rate` (`burst` default `32k`, queueing at most `latencyMs`, default 50). */
export interface TcTbf {
  kind: 'tbf';
  rate: string;
  burst?: string;
  latencyMs?: number;
}

/** HTB: classes sharing the device, traffic put into them by their `match`es. */
export interface TcHtb {
  kind: 'htb';
  classes: readonly TcHtbClass[];
  /** The class of traffic no match selects (absent: it leaves unshaped). */
  defaultClass?: number;
  r2q?: number;
}

/** One HTB class. */
export interface TcHtbClass {
  /** 1-4095, unique on the device; {@link TcStats} classes carry it. */
  id: number;
  /** A class listed before it that it borrows from (absent: under the root). */
  parent?: number;
  rate: string;
  /** What it may borrow up to (default: its rate). */
  ceil?: string;
  burst?: string;
  /** 0-7, lower first when borrowing. */
  prio?: number;
  /** Its queue: `fq_codel` or `pfifo` (absent: the kernel's default). Only for a class no other names as parent. */
  leaf?: { kind: 'fq_codel' | 'pfifo'; limit?: number };
  /**
   * What goes into it: each match one u32 filter on the root, in the order given (all the
   * devices' classes' matches, class by class). A match names addresses (an address or a CIDR,
   * one family) and/or an IP protocol; `family` says which when it names no address (default 4).
   */
  match?: readonly { src?: string; dst?: string; ipProto?: 'tcp' | 'udp' | 'icmp'; family?: 4 | 6 }[];
}

/** Counters of a device's qdiscs and classes ({@link HostContext.tcStats}). */
export interface TcStats {
  qdiscs: (TcCounters & { kind: string; handle: string; parent: string; qlen: number })[];
  /** `id` is the {@link TcHtbClass.id} for a class this plugin made. */
  classes: (TcCounters & { kind: string; classid: string; parent: string; id?: number })[];
}

/** One network whose bridged traffic the plugin's nat table may translate in the host namespace ({@link HostContext.bridgeRouting}). */
export interface BridgeRouting {
  /** A core network with a bridge on this host (`networkBridge(networkId)`); refused otherwise. */
  networkId: string;
  /**
   * Where translated packets go, out of the bridge: IPv4 `dst` prefixes (`10.0.0.0/24`, `default`),
   * `via` an IPv4 gateway (optional; one of the prefixes given without `via` must hold it: those are
   * written first).
   */
  routes: { dst: string; via?: string }[];
  /** Core ports on this host whose host end gets hairpin mode (a member that may reach itself through a VIP). */
  hairpinPorts?: string[];
}

/** What `tc -s` counts (bytes, packets, drops, overlimits, backlog): the kernel door's own type. */
export type { TcCounters };

/** One long-lived program of a plugin ({@link HostContext.daemons}). */
export interface DaemonSpec {
  /** Its name among this plugin's daemons on this host: 1-32 of [a-z0-9-], a letter first. */
  name: string;
  /** One of this plugin's namespaces, where it runs. */
  netns: string;
  /** The program's absolute path; the operator must allow it (`--daemon-allow`). */
  program: string;
  /**
   * Its arguments, passed as they are (no shell): `{config}` stands for the path of its config
   * file, `{dir}` for its folder (where it may write, e.g. a lease file).
   */
  args: readonly string[];
  /** The content of its config file (`{config}`, mode 0600); a change restarts it. */
  config?: string;
  /** More files in its folder, by name ([A-Za-z0-9._-], not `config` nor `pid`); a change restarts it, or sends `reloadSignal`. */
  files?: Readonly<Record<string, string>>;
  /** The signal that makes it read its files again (e.g. `SIGHUP` for dnsmasq's hosts files). */
  reloadSignal?: 'SIGHUP' | 'SIGUSR1' | 'SIGUSR2';
}

/** How a daemon is doing. */
export interface DaemonState {
  name: string;
  running: boolean;
  pid?: number;
  /** How many times it was started again (after an exit, or a change). */
  restarts: number;
  /** How it last ended by itself, e.g. `exited with 2: <its last lines>` or `killed by SIGSEGV`. */
  lastExit?: string;
  /** Its folder (`{dir}`). */
  dir: string;
}

/** Where a core port is on this host ({@link HostContext.port}). */
export interface PortPlace {
  /** The namespace it lives in. */
  netns: string;
  /** Its interface there. */
  ifname: string;
  /** The host end of its veth pair, on {@link bridge} in the host namespace (absent when the host does not say). */
  hostIfname?: string;
  /**
   * The bridge its host end is attached to, in the host namespace (absent when the host does not
   * say). A table of the plugin in the host namespace sees the port's bridged traffic in the inet
   * `forward` hook with this bridge as `iifname`/`oifname`.
   */
  bridge?: string;
  /**
   * The addresses it may send from, as port security enforces them: its own (without prefix
   * length), the IPv6 link-local of its MAC (EUI-64), and those of its allowed address pairs (an
   * address or a CIDR). Absent when the host
   * does not say, or when port security is off on the port (its traffic may then carry any).
   */
  addresses?: string[];
}

/** One element of a map given to {@link HostContext.nftTable}. */
export interface NftMapElement {
  /**
   * The key's parts, in the order of the map's type (`ifname . ipv4_addr`): each a canonical IP
   * address or CIDR, a non-negative integer, or an interface name.
   */
  key: readonly string[];
  /** A verdict (`accept`, `drop`, `continue`, `return`, `jump <chain>`, `goto <chain>`) or a non-negative integer. */
  value: string;
}

/** One check of {@link HostContext.probe}. */
export interface ProbeCheck {
  type: 'tcp' | 'http';
  address: string;
  port: number;
  /** Gives up after this long (connect and, for HTTP, the status line). */
  timeoutMs: number;
  /** HTTP: the path to GET (default `/`), sent as data, never on a command line. */
  path?: string;
  /** HTTP: accepted status codes as inclusive ranges (default 200-399). */
  expectStatus?: { from: number; to: number }[];
}

export interface ProbeResult {
  ok: boolean;
  /** Why not (e.g. `connect ECONNREFUSED`, `status 503`, `timeout`), or what was seen (`status 200`). */
  detail: string;
  ms: number;
}

export interface LinkView {
  ifname: string;
  kind?: string;
  master?: string;
  mtu: number;
  address?: string;
  up: boolean;
}

/** Changes inside one namespace (or the host's). */
export interface LinkChanges {
  /** A veth pair; the peer may be moved into one of this plugin's namespaces (bring it up from there). */
  vethAdd(name: string, opts: { peer: string; peerNetns?: string; master?: string; mtu?: number }, key?: string): this;
  /** `addrgenmode`: `none` keeps the kernel from giving the link an IPv6 link-local address (`eui64`, its default, does). */
  linkSet(
    name: string,
    opts: { up?: boolean; down?: boolean; mtu?: number; master?: string; nomaster?: boolean; address?: string; addrgenmode?: 'none' | 'eui64' },
    key?: string,
  ): this;
  linkDel(name: string, key?: string): this;
  /** An ifb (intermediate functional block): what a {@link TcDevice.ingress} redirects to it can be shaped as its egress. In the host namespace, one of the plugin's links. */
  ifbAdd(name: string, key?: string): this;
  addrReplace(cidrAddr: string, dev: string, key?: string): this;
  addrDel(cidrAddr: string, dev: string, key?: string): this;
  routeReplace(route: { dst: string; via?: string; dev: string }, key?: string): this;
  routeDel(route: { dst: string; via?: string; dev?: string }, key?: string): this;
}

export interface ChangeSet {
  netnsAdd(name: string, key?: string): void;
  netnsDel(name: string, key?: string): void;
  /** Changes in the host namespace (the agent's own). */
  readonly host: LinkChanges;
  /** Changes inside one of this plugin's namespaces. */
  in(netns: string): LinkChanges;
}

export interface ApplyResult {
  ok: boolean;
  /** Lines the kernel refused, with the key they were given. */
  failed: { key?: string; line: string; error: string }[];
}
