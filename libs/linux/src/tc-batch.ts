import { Batch } from './batch';
import { vlanProgramFile, VLAN_PROGRAM_SECTION, type VlanProgram } from './bpf-vlan';
import { assertCidrAddr, assertIfName, cidrFamily, LinuxInputError } from './names';

/**
 * Validation of the values a `tc` line carries, and a builder of `tc -force -batch -` lines
 * (run by `Linux.applyTcBatch`, one process per namespace). Every token is checked: names like
 * {@link assertIfName}, rates, sizes and handles by the patterns below, so nothing a caller passes
 * adds a token or a line.
 */

const RATE = /^[1-9][0-9]{0,11}(?:bit|kbit|mbit|gbit)$/;
const SIZE = /^[1-9][0-9]{0,9}(?:b|k|kb|m|mb)?$/;
const HANDLE = /^[0-9a-f]{1,4}:[0-9a-f]{0,4}$/;

function reject(field: string, value: unknown, rule: string): never {
  throw new LinuxInputError(`invalid ${field} ${JSON.stringify(String(value).slice(0, 80))}: ${rule}`, field);
}

/** A rate: an integer and a unit, `bit`, `kbit`, `mbit` or `gbit` (e.g. `10mbit`). */
export function assertTcRate(rate: string): string {
  if (typeof rate !== 'string' || !RATE.test(rate)) reject('tc rate', rate, 'expected e.g. 800kbit or 10mbit (bit, kbit, mbit, gbit)');
  return rate;
}

/** A size in bytes (a burst, a limit): an integer, optionally `b`, `k`/`kb` or `m`/`mb` (e.g. `32k`). */
export function assertTcSize(size: string): string {
  if (typeof size !== 'string' || !SIZE.test(size)) reject('tc size', size, 'expected bytes, e.g. 1600, 32k or 1mb');
  return size;
}

/** A qdisc handle or class id, lowercase hex `MAJOR:` or `MAJOR:MINOR` (e.g. `1:`, `1:a`). */
export function assertTcHandle(handle: string): string {
  if (typeof handle !== 'string' || !HANDLE.test(handle) || /^0+:/.test(handle) || /^ffff:/.test(handle)) {
    reject('tc handle', handle, 'expected hex MAJOR:[MINOR], major 1-fffe');
  }
  return handle;
}

function assertInt(field: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) reject(field, value, `expected an integer ${min}-${max}`);
  return value;
}

/** Where a qdisc hangs: `root`, `ingress` or `clsact` (the device's hooks), or a class id (`1:a`). */
export type TcParent = string;

/** A qdisc's kind and options. */
export type TcQdiscKind =
  | { kind: 'htb'; /** Minor of the class unclassified traffic goes to (hex on the line); absent: none (it leaves unshaped). */ defaultClass?: number; r2q?: number }
  | { kind: 'tbf'; rate: string; burst: string; /** Queue by time (ms), default 50. */ latencyMs?: number }
  | { kind: 'fq_codel'; /** Packets. */ limit?: number }
  | { kind: 'pfifo'; /** Packets. */ limit?: number }
  | { kind: 'ingress' }
  | { kind: 'clsact' };

/** Options of {@link TcBatch.qdiscAdd}. */
export interface TcQdiscSpec {
  dev: string;
  /** `root`, or a class id; `ingress`/`clsact` qdiscs take no parent. */
  parent?: TcParent;
  handle?: string;
  qdisc: TcQdiscKind;
}

/** Options of {@link TcBatch.classAdd}: an HTB class. */
export interface TcClassSpec {
  dev: string;
  parent: string;
  classid: string;
  rate: string;
  ceil?: string;
  burst?: string;
  /** 0 (first) - 7. */
  prio?: number;
}

/** What a filter matches. */
export type TcMatch =
  | { kind: 'matchall' }
  /** u32 over IPv4/IPv6 headers; with no field set, every packet (`match u32 0 0`). */
  | { kind: 'u32'; src?: string; dst?: string; ipProto?: 'tcp' | 'udp' | 'icmp' }
  | { kind: 'flower'; src?: string; dst?: string; ipProto?: 'tcp' | 'udp' | 'icmp' };

/** An action of a filter. */
export type TcAction =
  /** `police rate R burst B conform-exceed drop` (`drop/pipe` when an action follows: conforming packets go on to it). */
  | { police: { rate: string; burst: string } }
  /** `mirred egress redirect dev IFB`: hands the packet to an ifb (to shape what a device receives). */
  | { redirect: string };

/** Options of {@link TcBatch.filterAdd}. */
export interface TcFilterSpec {
  dev: string;
  /** A qdisc handle (`1:`), or `ingress` (the ingress qdisc, `ffff:`), or `clsact-ingress`/`clsact-egress`. */
  parent: string;
  protocol: 'all' | 'ip' | 'ipv6';
  /** 1-65535: filters run in this order. */
  prio: number;
  match: TcMatch;
  /** The class matched packets go to. */
  classid?: string;
  actions?: readonly TcAction[];
}

/** Where the door writes the eBPF objects `tc` loads (root's, and the same files for every agent of the machine). */
export const BPF_OBJECT_DIR = '/run/netloom/bpf';

const IP_PROTO: Record<string, number> = { icmp: 1, tcp: 6, udp: 17 };

/**
 * A builder of `tc -force -batch -` lines for one namespace (see `Linux.applyTcBatch`): qdiscs,
 * HTB classes and filters, each checked as it is added.
 */
export class TcBatch extends Batch {
  /** The eBPF objects the lines load (file name → program): `Linux.applyTcBatch` writes them to {@link BPF_OBJECT_DIR} first. */
  readonly programs = new Map<string, VlanProgram>();

  /**
   * `filter replace dev D ingress|egress protocol all prio N handle 1 bpf da obj FILE sec tc`: one
   * of the VLAN programs (see `bpf-vlan.ts`) on a clsact hook of the device, in place of what that
   * priority held. The device needs a clsact qdisc.
   */
  vlanFilter(dev: string, hook: 'ingress' | 'egress', prio: number, program: VlanProgram, key?: string): this {
    const file = vlanProgramFile(program);
    this.programs.set(file, program);
    const words = ['filter replace dev', assertIfName(dev), hook, 'protocol all prio', String(assertInt('tc prio', prio, 1, 65535))];
    words.push('handle 1 bpf da obj', `${BPF_OBJECT_DIR}/${file}`, 'sec', VLAN_PROGRAM_SECTION);
    return this.push(words.join(' '), key);
  }

  /** `qdisc add dev D (root|parent P|ingress|clsact) [handle H] KIND OPTIONS`. */
  qdiscAdd(spec: TcQdiscSpec, key?: string): this {
    return this.push(`qdisc add ${qdiscWords(spec)}`, key);
  }

  /** `qdisc replace …`, as {@link qdiscAdd}: adds it, or changes the one at that place. */
  qdiscReplace(spec: TcQdiscSpec, key?: string): this {
    return this.push(`qdisc replace ${qdiscWords(spec)}`, key);
  }

  /** `qdisc del dev D root|ingress|clsact|parent P`: removes it and everything under it (classes, filters). */
  qdiscDel(dev: string, parent: TcParent, key?: string): this {
    return this.push(`qdisc del dev ${assertIfName(dev)} ${parentWords(parent)}`, key);
  }

  /** `class add dev D parent P classid C htb rate R [ceil C] [burst B] [prio N]`. */
  classAdd(spec: TcClassSpec, key?: string): this {
    return this.push(`class add ${classWords(spec)}`, key);
  }

  /** `class replace …`, as {@link classAdd}. */
  classReplace(spec: TcClassSpec, key?: string): this {
    return this.push(`class replace ${classWords(spec)}`, key);
  }

  /** `class del dev D classid C`. */
  classDel(dev: string, classid: string, key?: string): this {
    return this.push(`class del dev ${assertIfName(dev)} classid ${assertTcHandle(classid)}`, key);
  }

  /** `filter add dev D parent P protocol PR prio N MATCH [classid C] [action …]…`. */
  filterAdd(spec: TcFilterSpec, key?: string): this {
    const words = ['filter add dev', assertIfName(spec.dev), filterParent(spec.parent)];
    if (!['all', 'ip', 'ipv6'].includes(spec.protocol)) reject('tc protocol', spec.protocol, 'expected all, ip or ipv6');
    words.push('protocol', spec.protocol, 'prio', String(assertInt('tc prio', spec.prio, 1, 65535)));
    words.push(...matchWords(spec.match, spec.protocol));
    if (spec.classid !== undefined) words.push('classid', assertTcHandle(spec.classid));
    const actions = spec.actions ?? [];
    if (spec.classid === undefined && actions.length === 0) throw new LinuxInputError('filterAdd: neither a classid nor an action', 'tc filter');
    actions.forEach((action, i) => words.push(...actionWords(action, i < actions.length - 1)));
    return this.push(words.join(' '), key);
  }
}

function parentWords(parent: TcParent | undefined): string {
  if (parent === undefined || parent === 'root') return 'root';
  if (parent === 'ingress' || parent === 'clsact') return parent;
  return `parent ${assertTcHandle(parent)}`;
}

function filterParent(parent: string): string {
  if (parent === 'ingress') return 'parent ffff:';
  if (parent === 'clsact-ingress') return 'ingress';
  if (parent === 'clsact-egress') return 'egress';
  return `parent ${assertTcHandle(parent)}`;
}

function qdiscWords(spec: TcQdiscSpec): string {
  const words = ['dev', assertIfName(spec.dev)];
  const q = spec.qdisc;
  if (q === null || typeof q !== 'object') reject('tc qdisc', q, 'expected { kind, … }');
  if (q.kind === 'ingress' || q.kind === 'clsact') {
    if (spec.parent !== undefined && spec.parent !== q.kind) throw new LinuxInputError(`qdisc ${q.kind} takes no parent`, 'tc parent');
    if (spec.handle !== undefined) throw new LinuxInputError(`qdisc ${q.kind} takes no handle (it is ffff:)`, 'tc handle');
    words.push(q.kind);
    return words.join(' ');
  }
  if (spec.parent === 'ingress' || spec.parent === 'clsact') throw new LinuxInputError(`qdisc ${q.kind} cannot hang on ${spec.parent}`, 'tc parent');
  words.push(parentWords(spec.parent));
  if (spec.handle !== undefined) {
    if (!/:$/.test(assertTcHandle(spec.handle))) reject('tc handle', spec.handle, 'a qdisc handle is MAJOR: (no minor)');
    words.push('handle', spec.handle);
  }
  switch (q.kind) {
    case 'htb':
      words.push('htb');
      if (q.defaultClass !== undefined) words.push('default', assertInt('htb default', q.defaultClass, 1, 0xffff).toString(16));
      if (q.r2q !== undefined) words.push('r2q', String(assertInt('htb r2q', q.r2q, 1, 1_000_000)));
      break;
    case 'tbf':
      words.push('tbf rate', assertTcRate(q.rate), 'burst', assertTcSize(q.burst), 'latency', `${assertInt('tbf latency', q.latencyMs ?? 50, 1, 60_000)}ms`);
      break;
    case 'fq_codel':
    case 'pfifo':
      words.push(q.kind);
      if (q.limit !== undefined) words.push('limit', String(assertInt(`${q.kind} limit`, q.limit, 1, 1_000_000)));
      break;
    default:
      reject('tc qdisc kind', (q as { kind?: unknown }).kind, 'expected htb, tbf, fq_codel, pfifo, ingress or clsact');
  }
  return words.join(' ');
}

function classWords(spec: TcClassSpec): string {
  const words = ['dev', assertIfName(spec.dev), 'parent', assertTcHandle(spec.parent), 'classid', assertTcHandle(spec.classid)];
  if (!/:[0-9a-f]+$/.test(spec.classid)) reject('tc classid', spec.classid, 'a class id is MAJOR:MINOR');
  words.push('htb rate', assertTcRate(spec.rate));
  if (spec.ceil !== undefined) words.push('ceil', assertTcRate(spec.ceil));
  if (spec.burst !== undefined) words.push('burst', assertTcSize(spec.burst));
  if (spec.prio !== undefined) words.push('prio', String(assertInt('htb prio', spec.prio, 0, 7)));
  return words.join(' ');
}

function matchWords(match: TcMatch, protocol: TcFilterSpec['protocol']): string[] {
  if (match === null || typeof match !== 'object') reject('tc match', match, 'expected { kind, … }');
  if (match.kind === 'matchall') return ['matchall'];
  if (match.kind !== 'u32' && match.kind !== 'flower') reject('tc match kind', (match as { kind?: unknown }).kind, 'expected matchall, u32 or flower');
  const family = [match.src, match.dst].filter((a): a is string => a !== undefined).map((a) => cidrFamily(cidr(a)));
  const wanted = protocol === 'ipv6' ? 6 : 4;
  if ((family.length || match.ipProto !== undefined) && protocol === 'all') {
    throw new LinuxInputError('a filter on addresses or an IP protocol needs protocol ip or ipv6', 'tc protocol');
  }
  if (family.some((f) => f !== wanted)) throw new LinuxInputError(`filter addresses must be IPv${wanted} for protocol ${protocol}`, 'tc match');
  if (match.ipProto !== undefined && !(match.ipProto in IP_PROTO)) reject('tc ip proto', match.ipProto, 'expected tcp, udp or icmp');
  if (match.kind === 'flower') {
    const words = ['flower'];
    if (match.src !== undefined) words.push('src_ip', cidr(match.src));
    if (match.dst !== undefined) words.push('dst_ip', cidr(match.dst));
    if (match.ipProto !== undefined) words.push('ip_proto', match.ipProto);
    return words;
  }
  const ip = wanted === 6 ? 'ip6' : 'ip';
  const words = ['u32'];
  if (match.src !== undefined) words.push('match', ip, 'src', cidr(match.src));
  if (match.dst !== undefined) words.push('match', ip, 'dst', cidr(match.dst));
  if (match.ipProto !== undefined) words.push('match', ip, 'protocol', String(IP_PROTO[match.ipProto]), '0xff');
  if (words.length === 1) words.push('match u32 0 0');
  return words;
}

/** An address or CIDR, written as a CIDR. */
function cidr(address: string): string {
  if (typeof address !== 'string') reject('cidr', address, 'expected an address or address/prefix');
  const withLen = address.includes('/') ? address : `${address}/${address.includes(':') ? 128 : 32}`;
  return assertCidrAddr(withLen);
}

function actionWords(action: TcAction, more: boolean): string[] {
  if (action !== null && typeof action === 'object' && 'police' in action) {
    const p = action.police;
    return ['action police rate', assertTcRate(p.rate), 'burst', assertTcSize(p.burst), 'conform-exceed', more ? 'drop/pipe' : 'drop'];
  }
  if (action !== null && typeof action === 'object' && 'redirect' in action) return ['action mirred egress redirect dev', assertIfName(action.redirect)];
  return reject('tc action', JSON.stringify(action), 'expected { police } or { redirect }');
}
