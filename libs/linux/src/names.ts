import { isIP } from 'node:net';

/**
 * Validation of everything that becomes a token on a command line or in an `ip -batch` line.
 * These functions decide nothing: callers derive names from ids, these only reject what is unsafe
 * (a space, a quote or a newline would add tokens or lines; a leading `-` would read as an option).
 */

/** Input that must never reach the kernel: an unsafe name, address or value. */
export class LinuxInputError extends Error {
  constructor(
    message: string,
    /** Which kind of value was rejected, e.g. `ifname`, `cidr`. */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'LinuxInputError';
  }
}

const IFNAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;
const NETNS_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;
const ALIAS = /^[A-Za-z0-9_.:=/@+,-]{1,128}$/;
const SYSCTL_KEY = /^[a-z0-9][a-z0-9_.\-/]{0,255}$/;
const PREFIX_LEN = /^(?:0|[1-9][0-9]{0,2})$/;
const NFT_NAME = /^[A-Za-z][A-Za-z0-9_]{0,30}$/;

const show = (value: unknown): string => JSON.stringify(String(value).slice(0, 80));

function reject(field: string, value: unknown, rule: string): never {
  throw new LinuxInputError(`invalid ${field} ${show(value)}: ${rule}`, field);
}

/** A routing table id: an integer 1-4294967295, not one of the kernel's own (253 default, 254 main, 255 local). */
export function assertRouteTable(table: number): number {
  if (!Number.isInteger(table) || table < 1 || table > 0xffffffff || (table >= 253 && table <= 255)) {
    reject('route table', table, 'use an integer 1-4294967295, not 253-255 (default, main, local)');
  }
  return table;
}

/** A rule preference (`pref`): an integer 1-32765 (0 and 32766-32767 are the kernel's own rules). */
export function assertRulePref(pref: number): number {
  if (!Number.isInteger(pref) || pref < 1 || pref > 32765) reject('rule pref', pref, 'use an integer 1-32765');
  return pref;
}

/** An interface name: 1–15 bytes of `[A-Za-z0-9_.-]`, not starting with `-` or `.`. */
export function assertIfName(name: string): string {
  if (typeof name !== 'string' || !IFNAME.test(name)) {
    reject('ifname', name, "use 1-15 letters, digits, '_', '.' or '-', not starting with '-' or '.'");
  }
  return name;
}

/** A network namespace name (a file in /run/netns): 1–64 of `[A-Za-z0-9_.-]`, first alphanumeric. */
export function assertNetnsName(name: string): string {
  if (typeof name !== 'string' || !NETNS_NAME.test(name)) {
    reject('netns', name, "use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit");
  }
  return name;
}

/** An nftables identifier (table, chain, counter name): a letter, then up to 30 letters, digits or '_'. */
export function assertNftName(name: string): string {
  if (typeof name !== 'string' || !NFT_NAME.test(name)) reject('nft name', name, "use a letter, then at most 30 letters, digits or '_'");
  return name;
}

/** An IPv4 or IPv6 address without prefix or zone (`%eth0` is refused). */
export function assertIp(addr: string): string {
  if (typeof addr !== 'string' || addr.includes('%') || isIP(addr) === 0) {
    reject('ip', addr, 'expected an IPv4 or IPv6 address');
  }
  return addr;
}

/** The family (4 or 6) of a valid address; throws like {@link assertIp}. */
export function ipFamily(addr: string): 4 | 6 {
  assertIp(addr);
  return isIP(addr) === 6 ? 6 : 4;
}

/**
 * An address with its prefix length, `10.0.0.2/24` or `fd00::2/64`. Also used for route
 * destinations (`10.9.0.0/16`): whether host bits may be set is the kernel's call.
 */
export function assertCidrAddr(addr: string): string {
  if (typeof addr !== 'string') reject('cidr', addr, 'expected address/prefix');
  const parts = addr.split('/');
  if (parts.length !== 2) reject('cidr', addr, 'expected address/prefix');
  const [ip, len] = parts;
  const family = isIP(ip);
  if (family === 0 || ip.includes('%')) reject('cidr', addr, 'expected an IPv4 or IPv6 address before "/"');
  const max = family === 4 ? 32 : 128;
  if (!PREFIX_LEN.test(len) || Number(len) > max) reject('cidr', addr, `prefix length must be 0-${max}`);
  return addr;
}

/** The family of a valid `address/prefix`; throws like {@link assertCidrAddr}. */
export function cidrFamily(addr: string): 4 | 6 {
  assertCidrAddr(addr);
  return isIP(addr.split('/')[0]) === 6 ? 6 : 4;
}

/** A MAC address, lowercase `xx:xx:xx:xx:xx:xx`. */
export function assertMac(mac: string): string {
  if (typeof mac !== 'string' || !MAC.test(mac)) reject('mac', mac, 'expected lowercase xx:xx:xx:xx:xx:xx');
  return mac;
}

/** An MTU: an integer 68–65535. */
export function assertMtu(mtu: number): number {
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) reject('mtu', mtu, 'expected an integer 68-65535');
  return mtu;
}

/** A VXLAN network identifier: an integer 0–16777215. */
export function assertVni(vni: number): number {
  if (!Number.isInteger(vni) || vni < 0 || vni > 0xffffff) reject('vni', vni, 'expected an integer 0-16777215');
  return vni;
}

/** An 802.1Q VLAN id: an integer 1–4094. */
export function assertVlanId(id: number): number {
  if (!Number.isInteger(id) || id < 1 || id > 4094) reject('vlan', id, 'expected an integer 1-4094');
  return id;
}

/** A UDP port: an integer 1–65535. */
export function assertPort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) reject('port', port, 'expected an integer 1-65535');
  return port;
}

/**
 * An interface alias (ifalias) that stays one token in a batch line: 1–128 of
 * `[A-Za-z0-9_.:=/@+,-]` (no spaces, quotes, `#` or `\`, which the batch parser interprets).
 */
export function assertAlias(alias: string): string {
  if (typeof alias !== 'string' || !ALIAS.test(alias)) {
    reject('alias', alias, "use 1-128 letters, digits or '_.:=/@+,-'");
  }
  return alias;
}

/**
 * A sysctl key, dotted (`net.ipv4.ip_forward`) or slashed (`net/ipv4/conf/eth0.5/forwarding`):
 * `[a-z0-9_.-/]` starting with a letter or digit (never an option), no `..`.
 */
export function assertSysctlKey(key: string): string {
  if (typeof key !== 'string' || !SYSCTL_KEY.test(key) || key.includes('..')) {
    reject('sysctl key', key, "use lowercase letters, digits, '_', '-', '.' or '/', without '..'");
  }
  return key;
}

/** A sysctl value: printable ASCII (tabs allowed, as in `0\t2147483647`), at most 4096 bytes. */
export function assertSysctlValue(value: string): string {
  if (typeof value !== 'string' || value.length > 4096 || !/^[\x20-\x7e\t]*$/.test(value)) {
    reject('sysctl value', value, 'expected printable ASCII without newlines');
  }
  return value;
}

/** The path under /proc/sys for a valid key (dots become slashes unless the key already uses slashes). */
export function sysctlPath(key: string): string {
  assertSysctlKey(key);
  return `/proc/sys/${key.includes('/') ? key : key.replace(/\./g, '/')}`;
}
