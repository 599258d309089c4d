import { Batch, type NetlinkOp } from './batch';
export type { BatchLine, NetlinkOp } from './batch';
import {
  assertAlias,
  assertCidrAddr,
  assertIfName,
  assertIp,
  assertMac,
  assertMtu,
  assertNetnsName,
  assertPort,
  assertRouteTable,
  assertRulePref,
  assertVni,
  cidrFamily,
  ipFamily,
  LinuxInputError,
} from './names';
import type { Family } from './types';

/** Options of {@link IpBatch.vethAdd}. */
export interface VethAddOptions {
  /** The bridge the host end joins. */
  master?: string;
  /** MTU of both ends. */
  mtu?: number;
  /** The peer's name (in `peerNetns` when given). */
  peer: string;
  /** Move the peer into this namespace (it stays down: bring it up from inside). */
  peerNetns?: string;
  /** Bring the host end up. */
  up?: boolean;
}

/** Options of {@link IpBatch.linkSet}. */
export interface LinkSetOptions {
  up?: boolean;
  down?: boolean;
  mtu?: number;
  master?: string;
  nomaster?: boolean;
  address?: string;
  alias?: string;
  addrgenmode?: 'none' | 'eui64';
}

/** Options of {@link IpBatch.vxlanAdd}. */
export interface VxlanAddOptions {
  vni: number;
  /** UDP port; give 4789 (the kernel's default is 8472). */
  dstport: number;
  /** Local VTEP address. */
  local?: string;
  /** Underlay device. */
  dev?: string;
  /** MAC learning on the VXLAN device (default off: the controller programs the fdb). */
  learning?: boolean;
  /** Answer ARP/ND from the device's neighbour table instead of flooding it over the overlay. */
  proxy?: boolean;
  mtu?: number;
  master?: string;
  up?: boolean;
}

/** A route for {@link IpBatch.routeReplace}. */
export interface RouteSpec {
  /** `default` or a prefix such as `10.9.0.0/16`. */
  dst: string;
  via?: string;
  dev: string;
  /** Needed only for an IPv6 default route without `via`. */
  family?: Family;
  /** A routing table id other than main (1-4294967295, not 253-255). */
  table?: number;
}

/** A policy-routing rule for {@link IpBatch.ruleAdd} and {@link IpBatch.ruleDel}: packets received on `iif` look up `table`. */
export interface RuleSpec {
  iif: string;
  table: number;
  /** Its preference: rules are tried in increasing order (1-32765). */
  pref: number;
}

/** A route for {@link IpBatch.routeDel}: `dev` optional. */
export type RouteDelSpec = Omit<RouteSpec, 'dev'> & { dev?: string };

/**
 * A builder of `ip -batch` lines, run by `Linux.applyIpBatch` as one `ip [-n NS] -force -batch -`.
 * Every argument is validated before it becomes text, and names always follow an explicit keyword
 * (`name`, `dev`), so no value can add a token, a line, or be read as a keyword (`ip` treats any
 * prefix of `help` as a request for usage and exits).
 */
export class IpBatch extends Batch {

  /** `netns add NAME`. Root batches only (a namespace batch refuses it). */
  netnsAdd(name: string, key?: string): this {
    this.rootOnly('netnsAdd');
    return this.push(`netns add ${assertNetnsName(name)}`, key, { op: 'netnsAdd', name });
  }

  /** `netns del NAME` (the kernel removes it asynchronously). Root batches only. */
  netnsDel(name: string, key?: string): this {
    this.rootOnly('netnsDel');
    return this.push(`netns del ${assertNetnsName(name)}`, key, { op: 'netnsDel', name });
  }

  /** `link add name NAME [mtu M] [up] type bridge`: one line, so the bridge exists up or not at all. */
  bridgeAdd(name: string, opts: { mtu?: number; up?: boolean; mcastSnooping?: boolean } = {}, key?: string): this {
    const words = ['link add name', assertIfName(name)];
    if (opts.mtu !== undefined) words.push('mtu', String(assertMtu(opts.mtu)));
    if (opts.up) words.push('up');
    words.push('type bridge');
    // Snooping makes the bridge send IGMP/MLD reports of its own, flooded to every VXLAN peer.
    if (opts.mcastSnooping === false) words.push('mcast_snooping 0');
    return this.push(words.join(' '), key);
  }

  /**
   * `link add name NAME [up] type ifb`: an intermediate functional block, the device a `tc`
   * redirect hands a link's received packets to so they can be shaped on its egress.
   */
  ifbAdd(name: string, opts: { up?: boolean } = {}, key?: string): this {
    return this.push(`link add name ${assertIfName(name)}${opts.up ? ' up' : ''} type ifb`, key);
  }

  /**
   * `link add name HOST [mtu M] [master BR] [up] type veth peer name PEER [mtu M] [netns NS]`,
   * the order `ip` 6.1 accepts. The peer is never brought up here (`peer ... netns NS up` fails with
   * ENOTCONN on this kernel): bring it up with a batch inside `NS`.
   */
  vethAdd(hostEnd: string, opts: VethAddOptions, key?: string): this {
    const words = ['link add name', assertIfName(hostEnd)];
    const mtu = opts.mtu === undefined ? undefined : String(assertMtu(opts.mtu));
    if (mtu) words.push('mtu', mtu);
    if (opts.master !== undefined) words.push('master', assertIfName(opts.master));
    if (opts.up) words.push('up');
    words.push('type veth peer name', assertIfName(opts.peer));
    if (mtu) words.push('mtu', mtu);
    if (opts.peerNetns !== undefined) words.push('netns', assertNetnsName(opts.peerNetns));
    const op: NetlinkOp = { op: 'vethAdd', dev: hostEnd, peer: opts.peer };
    if (opts.peerNetns !== undefined) op.peerNetns = opts.peerNetns;
    if (opts.master !== undefined) op.master = opts.master;
    if (opts.mtu !== undefined) op.mtu = opts.mtu;
    if (opts.up) op.up = true;
    return this.push(words.join(' '), key, op);
  }

  /**
   * `link add name NAME [mtu M] [master BR] [up] type vxlan id VNI [local IP] [dev DEV] dstport P
   * nolearning|learning`.
   */
  vxlanAdd(name: string, opts: VxlanAddOptions, key?: string): this {
    const words = ['link add name', assertIfName(name)];
    if (opts.mtu !== undefined) words.push('mtu', String(assertMtu(opts.mtu)));
    if (opts.master !== undefined) words.push('master', assertIfName(opts.master));
    if (opts.up) words.push('up');
    words.push('type vxlan id', String(assertVni(opts.vni)));
    if (opts.local !== undefined) words.push('local', assertIp(opts.local));
    if (opts.dev !== undefined) words.push('dev', assertIfName(opts.dev));
    words.push('dstport', String(assertPort(opts.dstport)), opts.learning ? 'learning' : 'nolearning');
    if (opts.proxy) words.push('proxy');
    return this.push(words.join(' '), key);
  }

  /**
   * `link set dev NAME [down] [mtu M] [address MAC] [master BR|nomaster] [alias A] [addrgenmode G]`,
   * then `link set dev NAME up` as its own line when `up`: the link comes up only after everything
   * else (notably `addrgenmode none`, which must precede up to avoid IPv6 autoconfiguration).
   */
  linkSet(name: string, opts: LinkSetOptions, key?: string): this {
    assertIfName(name);
    if (!opts.up && !opts.down && Object.values(opts).every((v) => v === undefined || v === false)) {
      throw new LinuxInputError('linkSet: nothing to set', 'linkSet');
    }
    if (opts.up && opts.down) throw new LinuxInputError('linkSet: both up and down', 'linkSet');
    if (opts.master !== undefined && opts.nomaster) throw new LinuxInputError('linkSet: both master and nomaster', 'linkSet');
    const words: string[] = [];
    if (opts.down) words.push('down');
    if (opts.mtu !== undefined) words.push('mtu', String(assertMtu(opts.mtu)));
    if (opts.address !== undefined) words.push('address', assertMac(opts.address));
    if (opts.master !== undefined) words.push('master', assertIfName(opts.master));
    if (opts.nomaster) words.push('nomaster');
    if (opts.alias !== undefined) words.push('alias', assertAlias(opts.alias));
    if (opts.addrgenmode !== undefined) {
      if (opts.addrgenmode !== 'none' && opts.addrgenmode !== 'eui64') {
        throw new LinuxInputError(`linkSet: invalid addrgenmode ${JSON.stringify(opts.addrgenmode)}`, 'addrgenmode');
      }
      words.push('addrgenmode', opts.addrgenmode);
    }
    // `up` is a line of its own (undefined leaves the request).
    if (words.length > 0) this.push(`link set dev ${name} ${words.join(' ')}`, key, { op: 'link', dev: name, ...opts, up: undefined });
    if (opts.up) this.push(`link set dev ${name} up`, key, { op: 'link', dev: name, up: true });
    return this;
  }

  /** `link del dev NAME` (deleting one end of a veth removes both). */
  linkDel(name: string, key?: string): this {
    return this.push(`link del dev ${assertIfName(name)}`, key, { op: 'linkDel', dev: name });
  }

  /** `addr replace ADDR/LEN dev DEV` (idempotent). */
  addrReplace(cidrAddr: string, dev: string, key?: string): this {
    return this.push(`addr replace ${assertCidrAddr(cidrAddr)} dev ${assertIfName(dev)}`, key, addrOp('replace', cidrAddr, dev));
  }

  /** `addr del ADDR/LEN dev DEV`. */
  addrDel(cidrAddr: string, dev: string, key?: string): this {
    return this.push(`addr del ${assertCidrAddr(cidrAddr)} dev ${assertIfName(dev)}`, key, addrOp('del', cidrAddr, dev));
  }

  /**
   * `route replace DST [via GW] dev DEV [table T]` (idempotent). An IPv6 default route is written `::/0`
   * (a batch line cannot carry `-6`, and `default` alone means IPv4 without a `via`).
   */
  routeReplace(opts: RouteSpec, key?: string): this {
    return this.push(`route replace ${routeWords({ ...opts, dev: assertIfName(opts.dev) })}`, key, routeOp('replace', opts));
  }

  /** `route del DST [via GW] [dev DEV] [table T]`, written like {@link routeReplace}. */
  routeDel(opts: RouteDelSpec, key?: string): this {
    return this.push(`route del ${routeWords(opts)}`, key, routeOp('del', opts));
  }

  /** `route flush table T`: every route of a table other than main (an empty table is no error). */
  routeFlush(table: number, key?: string): this {
    return this.push(`route flush table ${assertRouteTable(table)}`, key, { op: 'routeFlush', table });
  }

  /** `rule add iif IIF lookup T pref P` (IPv4). */
  ruleAdd(rule: RuleSpec, key?: string): this {
    return this.push(`rule add ${ruleWords(rule)}`, key, { op: 'rule', cmd: 'add', iif: rule.iif, table: rule.table, pref: rule.pref });
  }

  /** `rule del iif IIF lookup T pref P`: the rule exactly so (fails when there is none). */
  ruleDel(rule: RuleSpec, key?: string): this {
    return this.push(`rule del ${ruleWords(rule)}`, key, { op: 'rule', cmd: 'del', iif: rule.iif, table: rule.table, pref: rule.pref });
  }

  /**
   * `link set dev PORT type bridge_slave hairpin on|off`: whether a bridge port may send a frame
   * back out the port it came in by (e.g. to a workload reaching itself through a translated address).
   */
  hairpinSet(port: string, on: boolean, key?: string): this {
    if (typeof on !== 'boolean') throw new LinuxInputError(`hairpinSet: on must be a boolean, not ${JSON.stringify(on)}`, 'hairpin');
    return this.push(`link set dev ${assertIfName(port)} type bridge_slave hairpin ${on ? 'on' : 'off'}`, key, { op: 'hairpin', dev: port, on });
  }

  /** `neigh replace IP lladdr MAC dev DEV nud permanent`: a static neighbour (ARP/ND) entry. */
  neighReplace(ip: string, mac: string, dev: string, key?: string): this {
    return this.push(`neigh replace ${assertIp(ip)} lladdr ${assertMac(mac)} dev ${assertIfName(dev)} nud permanent`, key, { op: 'neigh', cmd: 'replace', ip, mac, family: ipFamily(ip), dev });
  }

  /** `neigh del IP dev DEV`. */
  neighDel(ip: string, dev: string, key?: string): this {
    return this.push(`neigh del ${assertIp(ip)} dev ${assertIfName(dev)}`, key, { op: 'neigh', cmd: 'del', ip, family: ipFamily(ip), dev });
  }

  private rootOnly(method: string): void {
    if (this.netns !== undefined) {
      throw new LinuxInputError(`${method} belongs in a root batch, not in a batch for netns ${this.netns}`, 'netns');
    }
  }

}

/** An address line as data (already validated by the line's text). */
function addrOp(cmd: 'replace' | 'del', cidrAddr: string, dev: string): NetlinkOp {
  const [address, len] = cidrAddr.split('/');
  return { op: 'addr', cmd, address, prefixlen: Number(len), family: ipFamily(address), dev };
}

function ruleWords(rule: RuleSpec): string {
  if (rule === null || typeof rule !== 'object') throw new LinuxInputError('rule: expected { iif, table, pref }', 'rule');
  return `iif ${assertIfName(rule.iif)} lookup ${assertRouteTable(rule.table)} pref ${assertRulePref(rule.pref)}`;
}

/** A route line as data, the same family rules as {@link routeWords} (which validated it). */
function routeOp(cmd: 'replace' | 'del', opts: RouteDelSpec): NetlinkOp {
  const family = routeFamily(opts);
  const [dst, len] = opts.dst === 'default' ? [null, 0] : [opts.dst.split('/')[0], Number(opts.dst.split('/')[1])];
  // `::/0` and `0.0.0.0/0` are the default route: no destination attribute, as `ip` sends it.
  return {
    op: 'route',
    cmd,
    dst: len === 0 ? null : dst,
    dstLen: len,
    family,
    ...(opts.via !== undefined ? { via: opts.via } : {}),
    ...(opts.dev !== undefined ? { dev: opts.dev } : {}),
    ...(opts.table !== undefined ? { table: opts.table } : {}),
  };
}

function routeFamily(opts: RouteDelSpec): Family {
  const dstFamily = opts.dst === 'default' ? undefined : cidrFamily(opts.dst);
  const viaFamily = opts.via === undefined ? undefined : ipFamily(opts.via);
  const families = [opts.family, dstFamily, viaFamily].filter((f): f is Family => f !== undefined);
  if (opts.family !== undefined && opts.family !== 4 && opts.family !== 6) {
    throw new LinuxInputError(`route: invalid family ${JSON.stringify(opts.family)}`, 'family');
  }
  if (families.some((f) => f !== families[0])) {
    throw new LinuxInputError(`route: mixed address families in ${JSON.stringify(opts)}`, 'route');
  }
  return families[0] ?? 4;
}

function routeWords(opts: RouteDelSpec): string {
  const family = routeFamily(opts);
  const words = [opts.dst === 'default' ? (family === 6 ? '::/0' : 'default') : opts.dst];
  if (opts.via !== undefined) words.push('via', opts.via);
  if (opts.dev !== undefined) words.push('dev', assertIfName(opts.dev));
  if (opts.table !== undefined) words.push('table', String(assertRouteTable(opts.table)));
  return words.join(' ');
}
