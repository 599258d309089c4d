/**
 * IP address management: subnet and address validation, allocation pools, MAC addresses, and
 * an in-memory allocator for one subnet. Pure: no I/O; callers load and persist state.
 *
 * Addresses are `bigint`s for arithmetic and canonical text at the edges: IPv4 dotted quad,
 * IPv6 RFC 5952 compact form.
 */
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import * as ipaddr from 'ipaddr.js';
import { badInput, checkListSize, conflict } from '@netloom/model';

export type IpVersion = 4 | 6;

export interface ParsedSubnet {
  cidr: string;
  version: IpVersion;
  prefix: number;
  /** Network address. */
  first: bigint;
  /** Broadcast (IPv4) or last address (IPv6). */
  last: bigint;
}

export interface AllocationPool {
  start: string;
  end: string;
}

interface Range {
  start: bigint;
  end: bigint;
}

const BITS: Record<IpVersion, number> = { 4: 32, 6: 128 };
// Leave room for the gateway and at least one port (plus broadcast on IPv4).
const MAX_PREFIX: Record<IpVersion, number> = { 4: 30, 6: 126 };
const MAX_DNS_SERVERS = 8;
const MAC_ATTEMPTS = 64;
const MAC_PATTERN = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}$/i;

/** Quote user input for a message, capped so a huge value does not flood logs. */
const show = (value: string): string => JSON.stringify(value.slice(0, 80));

/** `field.part...` when the caller named a field, otherwise no field. */
const sub = (field: string | undefined, ...parts: (string | number)[]): string | undefined =>
  field === undefined ? undefined : [field, ...parts].join('.');

function toBigInt(addr: ipaddr.IPv4 | ipaddr.IPv6): bigint {
  return addr.toByteArray().reduce((acc, byte) => (acc << 8n) | BigInt(byte), 0n);
}

function versionOf(addr: ipaddr.IPv4 | ipaddr.IPv6): IpVersion {
  return addr.kind() === 'ipv4' ? 4 : 6;
}

function hostMask(version: IpVersion, prefix: number): bigint {
  return (1n << BigInt(BITS[version] - prefix)) - 1n;
}

export function formatIp(version: IpVersion, value: bigint): string {
  const bytes = BITS[version] / 8;
  if (value < 0n || value >> BigInt(BITS[version]) !== 0n) {
    throw new RangeError(`${value} is not an IPv${version} address value`);
  }
  const out = new Array<number>(bytes);
  let rest = value;
  for (let i = bytes - 1; i >= 0; i--) {
    out[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return ipaddr.fromByteArray(out).toString();
}

const PLAIN_IPV4_CIDR = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\/(0|[1-9]\d?)$/;
const PLAIN_IPV4 = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;

/** The value of four decimal octets matched by one of the plain IPv4 patterns; undefined when one is over 255. */
function octetsValue(m: RegExpExecArray): bigint | undefined {
  const octets = [m[1], m[2], m[3], m[4]].map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  return BigInt(((octets[0] << 24) >>> 0) + (octets[1] << 16) + (octets[2] << 8) + octets[3]);
}

/**
 * {@link parseCidr} of the common case without the parser (which tries IPv6 first and throws, a
 * few microseconds each: a 500-rule firewall policy holds 500 CIDRs): four decimal octets, a
 * prefix in range, host bits clear. Anything else (undefined) takes the full path and its errors.
 */
function plainIpv4Network(cidr: string, subnet: boolean): ParsedSubnet | undefined {
  const m = PLAIN_IPV4_CIDR.exec(cidr);
  if (!m) return undefined;
  const value = octetsValue(m);
  const prefix = Number(m[5]);
  if (value === undefined || prefix > (subnet ? MAX_PREFIX[4] : 32)) return undefined;
  const mask = hostMask(4, prefix);
  if ((value & mask) !== 0n) return undefined;
  return { cidr, version: 4, prefix, first: value, last: value | mask };
}

/**
 * A network in CIDR notation, canonical (host bits clear). `subnet` (the default) also refuses
 * prefixes too long to hold ports (/31, /32; /127, /128); plugins' `cidr` fields (a firewall's
 * remote `10.0.0.5/32`) take any length.
 */
export function parseCidr(cidr: string, field?: string, opts: { subnet?: boolean } = {}): ParsedSubnet {
  const plain = plainIpv4Network(cidr, opts.subnet ?? true);
  if (plain) return plain;
  if (!ipaddr.isValidCIDR(cidr)) {
    throw badInput(`invalid CIDR ${show(cidr)}: expected a network like 10.0.0.0/24 or 2001:db8::/64`, field);
  }
  const [addr, prefix] = ipaddr.parseCIDR(cidr);
  if (addr.kind() === 'ipv4') {
    if (!ipaddr.IPv4.isValidCIDRFourPartDecimal(cidr)) {
      throw badInput(`invalid CIDR ${show(cidr)}: write IPv4 as four decimal octets, like 10.0.0.0/24`, field);
    }
  } else {
    const v6 = addr as ipaddr.IPv6;
    if (v6.zoneId !== undefined) {
      throw badInput(`invalid CIDR ${show(cidr)}: a zone id is not allowed`, field);
    }
    if (v6.isIPv4MappedAddress()) {
      throw badInput(`invalid CIDR ${show(cidr)}: IPv4-mapped IPv6 networks are not allowed; use the IPv4 form`, field);
    }
  }
  const version = versionOf(addr);
  if ((opts.subnet ?? true) && prefix > MAX_PREFIX[version]) {
    throw badInput(
      `CIDR ${show(cidr)} is too small: IPv${version} prefix length must be at most ${MAX_PREFIX[version]}`,
      field,
    );
  }
  const value = toBigInt(addr);
  const mask = hostMask(version, prefix);
  const first = value & ~mask;
  const canonical = `${formatIp(version, first)}/${prefix}`;
  if (first !== value) {
    throw badInput(`CIDR ${show(cidr)} has host bits set; did you mean ${canonical}?`, field);
  }
  return { cidr: canonical, version, prefix, first, last: first | mask };
}

export function parseIp(ip: string, field?: string): { version: IpVersion; value: bigint; text: string } {
  // Four decimal octets without leading zeros (every stored IPv4 address): already canonical, no
  // parser (a subnet of 10 000 ports read its addresses through it in 17 ms on every write).
  const plain = PLAIN_IPV4.exec(ip);
  const plainValue = plain ? octetsValue(plain) : undefined;
  if (plainValue !== undefined) return { version: 4, value: plainValue, text: ip };
  if (!ipaddr.isValid(ip)) {
    throw badInput(`invalid IP address ${show(ip)}`, field);
  }
  const addr = ipaddr.parse(ip);
  if (addr.kind() === 'ipv4') {
    if (!ipaddr.IPv4.isValidFourPartDecimal(ip)) {
      throw badInput(`invalid IP address ${show(ip)}: write IPv4 as four decimal octets, like 10.0.0.1`, field);
    }
  } else {
    const v6 = addr as ipaddr.IPv6;
    if (v6.zoneId !== undefined) {
      throw badInput(`invalid IP address ${show(ip)}: a zone id is not allowed`, field);
    }
    if (v6.isIPv4MappedAddress()) {
      throw badInput(`invalid IP address ${show(ip)}: IPv4-mapped IPv6 addresses are not allowed; use the IPv4 form`, field);
    }
  }
  const version = versionOf(addr);
  const value = toBigInt(addr);
  return { version, value, text: formatIp(version, value) };
}

/**
 * Ranges whose addresses are never a host's own, named as ipaddr.js `range()` names them: no
 * subnet may overlap them, and no VTEP or plugin `ip` field may lie in them. The other special
 * ranges (private, shared 100.64/10, documentation, benchmarking, unique local) are ordinary
 * addresses here, as in Neutron and OVN.
 */
const NOT_HOST_RANGES: { category: string; name: string; range: ParsedSubnet }[] = [
  ['unspecified', 'unspecified ("this network")', '0.0.0.0/8'],
  ['loopback', 'loopback', '127.0.0.0/8'],
  ['linkLocal', 'link-local', '169.254.0.0/16'],
  ['multicast', 'multicast', '224.0.0.0/4'],
  ['broadcast', 'limited broadcast', '255.255.255.255/32'],
  ['unspecified', 'unspecified', '::/128'],
  ['loopback', 'loopback', '::1/128'],
  ['linkLocal', 'link-local', 'fe80::/10'],
  ['multicast', 'multicast', 'ff00::/8'],
].map(([category, name, cidr]) => ({ category, name, range: parseCidr(cidr, undefined, { subnet: false }) }));

/** The range of {@link NOT_HOST_RANGES} an address (or the network first..last) overlaps, as `the multicast range 224.0.0.0/4`. */
export function notHostRange(version: IpVersion, first: bigint, last = first): { category: string; text: string } | undefined {
  const hit = NOT_HOST_RANGES.find((r) => r.range.version === version && r.range.first <= last && first <= r.range.last);
  return hit && { category: hit.category, text: `the ${hit.name} range ${hit.range.cidr}` };
}

/**
 * An address a host may hold as its own (a VTEP, a plugin's `ip` field): canonical, and in none
 * of the unspecified, loopback, link-local, multicast or broadcast ranges. `what` names it.
 */
export function parseHostIp(ip: string, field?: string, what = 'address'): { version: IpVersion; value: bigint; text: string } {
  const parsed = parseIp(ip, field);
  const hit = notHostRange(parsed.version, parsed.value);
  if (hit) throw badInput(`${what} ${parsed.text} is in ${hit.text}: it must be a unicast address`, field);
  return parsed;
}

/** A subnet as a user creates it: {@link parseCidr}, overlapping none of the ranges where no host address lies. */
export function parseSubnetCidr(cidr: string, field?: string): ParsedSubnet {
  const subnet = parseCidr(cidr, field);
  const hit = notHostRange(subnet.version, subnet.first, subnet.last);
  if (hit) throw badInput(`subnet ${subnet.cidr} overlaps ${hit.text}, where no host address lies`, field);
  return subnet;
}

/** Whether `value` (an address of the subnet's version) lies in the subnet. */
export function contains(subnet: ParsedSubnet, value: bigint): boolean {
  return value >= subnet.first && value <= subnet.last;
}

export function subnetsOverlap(a: ParsedSubnet, b: ParsedSubnet): boolean {
  return a.version === b.version && a.first <= b.last && b.first <= a.last;
}

export function defaultGateway(subnet: ParsedSubnet): string {
  return formatIp(subnet.version, subnet.first + 1n);
}

/** Highest address a port may hold: IPv4 reserves the broadcast address. */
function lastUsable(subnet: ParsedSubnet): bigint {
  return subnet.version === 4 ? subnet.last - 1n : subnet.last;
}

/** Parse an address that must be a host address of `subnet`; `what` names it in messages. */
export function parseHost(subnet: ParsedSubnet, ip: string, what: string, field?: string): { value: bigint; text: string } {
  const { version, value, text } = parseIp(ip, field);
  if (version !== subnet.version) {
    throw badInput(`${what} ${text} is IPv${version} but subnet ${subnet.cidr} is IPv${subnet.version}`, field);
  }
  if (!contains(subnet, value)) {
    throw badInput(`${what} ${text} is outside subnet ${subnet.cidr}`, field);
  }
  if (value === subnet.first) {
    throw badInput(`${what} ${text} is the network address of subnet ${subnet.cidr}`, field);
  }
  if (subnet.version === 4 && value === subnet.last) {
    throw badInput(`${what} ${text} is the broadcast address of subnet ${subnet.cidr}`, field);
  }
  return { value, text };
}

export function validateGateway(subnet: ParsedSubnet, ip: string, field?: string): string {
  return parseHost(subnet, ip, 'gateway', field).text;
}

export function defaultPools(subnet: ParsedSubnet, gateway: string): AllocationPool[] {
  const gw = parseIp(gateway).value;
  const lo = subnet.first + 1n;
  const hi = lastUsable(subnet);
  const ranges: Range[] =
    gw >= lo && gw <= hi
      ? [
          { start: lo, end: gw - 1n },
          { start: gw + 1n, end: hi },
        ]
      : [{ start: lo, end: hi }];
  return ranges
    .filter((r) => r.start <= r.end)
    .map((r) => ({ start: formatIp(subnet.version, r.start), end: formatIp(subnet.version, r.end) }));
}

export function validatePools(
  subnet: ParsedSubnet,
  pools: AllocationPool[],
  gateway: string,
  field?: string,
): AllocationPool[] {
  if (pools.length === 0) {
    throw badInput(`subnet ${subnet.cidr} needs at least one allocation pool`, field);
  }
  checkListSize(pools, field ?? 'allocationPools');
  const gw = parseIp(gateway).value;
  const ranges = pools.map((pool, i) => {
    const start = parseHost(subnet, pool.start, `allocation pool ${i} start`, sub(field, i, 'start'));
    const end = parseHost(subnet, pool.end, `allocation pool ${i} end`, sub(field, i, 'end'));
    if (start.value > end.value) {
      throw badInput(`allocation pool ${i} starts at ${start.text}, after its end ${end.text}`, sub(field, i));
    }
    if (gw >= start.value && gw <= end.value) {
      throw badInput(
        `allocation pool ${i} (${start.text} - ${end.text}) includes the gateway ${formatIp(subnet.version, gw)}`,
        sub(field, i),
      );
    }
    return { index: i, start: start.value, end: end.value, text: { start: start.text, end: end.text } };
  });
  const sorted = [...ranges].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  for (let k = 1; k < sorted.length; k++) {
    const [prev, cur] = [sorted[k - 1], sorted[k]];
    if (cur.start <= prev.end) {
      const [a, b] = prev.index < cur.index ? [prev, cur] : [cur, prev];
      throw badInput(
        `allocation pools ${a.index} (${a.text.start} - ${a.text.end}) and ${b.index} ` +
          `(${b.text.start} - ${b.text.end}) overlap`,
        sub(field, b.index),
      );
    }
  }
  return ranges.map((r) => r.text);
}

export function validateDnsServers(servers: string[], field?: string): string[] {
  if (servers.length > MAX_DNS_SERVERS) {
    throw badInput(`too many DNS servers: ${servers.length} (at most ${MAX_DNS_SERVERS})`, field);
  }
  const out: string[] = [];
  servers.forEach((server, i) => {
    const { text } = parseIp(server, sub(field, i));
    if (out.includes(text)) {
      throw badInput(`duplicate DNS server ${text}`, sub(field, i));
    }
    out.push(text);
  });
  return out;
}

export function normalizeMac(mac: string, field?: string): string {
  if (!MAC_PATTERN.test(mac)) {
    throw badInput(`invalid MAC address ${show(mac)}: expected six hex octets like aa:bb:cc:dd:ee:ff`, field);
  }
  const text = mac.toLowerCase().replaceAll('-', ':');
  const octets = text.split(':').map((o) => parseInt(o, 16));
  if ((octets[0] & 0x01) !== 0) {
    throw badInput(`MAC address ${text} is a multicast address`, field);
  }
  if (octets.every((o) => o === 0)) {
    throw badInput(`MAC address ${text} is all zeros`, field);
  }
  return text;
}

/** A random locally administered unicast MAC not in `taken` (normalized, lowercase colon form). */
export function generateMac(
  taken: { has(mac: string): boolean },
  randomBytes: (n: number) => Uint8Array = (n) => cryptoRandomBytes(n),
): string {
  for (let attempt = 0; attempt < MAC_ATTEMPTS; attempt++) {
    const bytes = Array.from(randomBytes(6).subarray(0, 6));
    bytes[0] = (bytes[0] | 0x02) & ~0x01;
    const mac = bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
    if (!taken.has(mac)) {
      return mac;
    }
  }
  throw conflict('could not generate a unique MAC');
}

/**
 * Addresses of one subnet: claims requested addresses and hands out the lowest free one from
 * the allocation pools. Requested addresses may lie outside the pools (pools only bound
 * automatic allocation), but never on the network, broadcast or gateway address.
 */
export class SubnetAllocator {
  private readonly pools: Range[];
  /** Per pool, the lowest address that may be free: everything below it is taken. */
  private readonly cursors: bigint[];
  private readonly gateway: bigint;
  private readonly takenText = new Set<string>();
  private readonly takenValues = new Set<bigint>();

  constructor(
    private readonly subnet: ParsedSubnet,
    pools: AllocationPool[],
    gateway: string,
    taken: Iterable<string>,
  ) {
    this.pools = pools
      .map((p) => ({ start: parseIp(p.start).value, end: parseIp(p.end).value }))
      .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    this.cursors = this.pools.map((p) => p.start);
    this.gateway = parseIp(gateway).value;
    for (const ip of taken) {
      this.mark(parseIp(ip));
    }
  }

  get taken(): ReadonlySet<string> {
    return this.takenText;
  }

  /** Claim a requested address; returns canonical text. */
  claim(ip: string, field?: string): string {
    const { value, text } = parseHost(this.subnet, ip, 'IP address', field);
    if (value === this.gateway) {
      throw badInput(`IP address ${text} is the gateway of subnet ${this.subnet.cidr}`, field);
    }
    if (this.takenValues.has(value)) {
      throw conflict(`IP address ${text} is already in use in subnet ${this.subnet.cidr}`, field);
    }
    this.mark({ version: this.subnet.version, value, text });
    return text;
  }

  /** Allocate the lowest free address in the pools; returns canonical text. */
  allocate(field?: string): string {
    const hi = lastUsable(this.subnet);
    for (let i = 0; i < this.pools.length; i++) {
      const end = this.pools[i].end < hi ? this.pools[i].end : hi;
      let cursor = this.cursors[i];
      if (cursor <= this.subnet.first) {
        cursor = this.subnet.first + 1n;
      }
      while (cursor <= end && (this.takenValues.has(cursor) || cursor === this.gateway)) {
        cursor++;
      }
      this.cursors[i] = cursor;
      if (cursor <= end) {
        const text = formatIp(this.subnet.version, cursor);
        this.mark({ version: this.subnet.version, value: cursor, text });
        this.cursors[i] = cursor + 1n;
        return text;
      }
    }
    throw conflict(`no free address in subnet ${this.subnet.cidr}`, field);
  }

  /** Release an address (e.g. a port deleted in the same transaction). */
  release(ip: string): void {
    const { version, value, text } = parseIp(ip);
    this.takenText.delete(text);
    if (version !== this.subnet.version || !this.takenValues.delete(value)) {
      return;
    }
    this.pools.forEach((pool, i) => {
      if (value >= pool.start && value <= pool.end && value < this.cursors[i]) {
        this.cursors[i] = value;
      }
    });
  }

  private mark({ version, value, text }: { version: IpVersion; value: bigint; text: string }): void {
    this.takenText.add(text);
    // Values of the other family would alias this family's numbers; keep them as text only.
    if (version === this.subnet.version) {
      this.takenValues.add(value);
    }
  }
}
