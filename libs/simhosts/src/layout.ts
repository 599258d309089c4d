// The pure half of simulated hosts: names, underlay addresses and the batches that build them.
import { IpBatch } from '@netloom/linux';

/** A per-run prefix: 1–4 of [a-z0-9], starting with a letter. */
export const PREFIX = /^[a-z][a-z0-9]{0,3}$/;
/** The agent's default Linux-name prefix: a real agent on this machine may use it, so runs may not. */
export const RESERVED_PREFIX = 'nl';
export const DEFAULT_UNDERLAY_CIDR = '100.64.0.0/24';
export const DEFAULT_UNDERLAY_MTU = 1500;
/** The underlay bridge, inside the underlay namespace. */
export const UNDERLAY_BRIDGE = 'br0';
/** Each host's underlay interface, inside its namespace. */
export const UNDERLAY_IF = 'ul0';

export interface SimHost {
  index: number;
  /** `${prefix}-h${index}`: the host's network namespace. */
  name: string;
  /** The host's underlay address (its VTEP). */
  vtep: string;
  /** The underlay interface inside the host namespace. */
  underlayIf: string;
}

export interface SimLayout {
  prefix: string;
  /** `${prefix}-ul`: the namespace holding the underlay bridge. */
  underlayNetns: string;
  hosts: SimHost[];
  prefixlen: number;
  mtu: number;
}

/** Throws unless `prefix` is a usable per-run prefix (`what` names it in the message). */
export function assertPrefix(prefix: string, what = 'prefix'): string {
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
    throw new Error(`invalid ${what} ${JSON.stringify(prefix)}: 1-4 of [a-z0-9], starting with a letter`);
  }
  if (prefix === RESERVED_PREFIX) throw new Error(`${what} ${RESERVED_PREFIX} is the agent's default and may belong to a real agent: pick another`);
  return prefix;
}

/** Names and addresses of `count` hosts: host i gets the (i+1)-th address of `cidr` (IPv4). */
export function layout(prefix: string, count: number, cidr = DEFAULT_UNDERLAY_CIDR, mtu = DEFAULT_UNDERLAY_MTU): SimLayout {
  assertPrefix(prefix);
  if (!Number.isInteger(count) || count < 1) throw new Error(`count must be a whole number ≥ 1, got ${count}`);
  if (!Number.isInteger(mtu) || mtu < 1280 || mtu > 65535) throw new Error(`underlay MTU must be 1280-65535, got ${mtu}`);
  const { network, prefixlen } = parseIpv4Cidr(cidr);
  const usable = 2 ** (32 - prefixlen) - 2;
  if (count > usable) throw new Error(`underlay ${cidr} has room for ${Math.max(usable, 0)} hosts, not ${count}`);
  const hosts = Array.from({ length: count }, (_, index) => ({
    index,
    name: `${prefix}-h${index}`,
    vtep: formatIpv4(network + index + 1),
    underlayIf: UNDERLAY_IF,
  }));
  return { prefix, underlayNetns: `${prefix}-ul`, hosts, prefixlen, mtu };
}

/**
 * The batches that build a layout, in order: the namespaces (root batch); the underlay bridge and
 * one veth per host, its peer moved into the host (underlay batch); then each host's address and
 * links up (one batch per host). IPv6 address generation is off on every link we bring up.
 */
export function buildBatches(l: SimLayout): { root: IpBatch; underlay: IpBatch; hosts: IpBatch[] } {
  const root = new IpBatch().netnsAdd(l.underlayNetns, 'underlay');
  for (const h of l.hosts) root.netnsAdd(h.name, `host:${h.index}`);
  const underlay = new IpBatch(l.underlayNetns)
    .bridgeAdd(UNDERLAY_BRIDGE, { mtu: l.mtu }, 'underlay')
    .linkSet(UNDERLAY_BRIDGE, { addrgenmode: 'none', up: true }, 'underlay');
  for (const h of l.hosts) {
    const port = `h${h.index}`;
    underlay
      .vethAdd(port, { master: UNDERLAY_BRIDGE, mtu: l.mtu, peer: h.underlayIf, peerNetns: h.name }, `host:${h.index}`)
      .linkSet(port, { addrgenmode: 'none', up: true }, `host:${h.index}`);
  }
  const hosts = l.hosts.map((h) =>
    new IpBatch(h.name)
      .linkSet('lo', { up: true }, `host:${h.index}`)
      .linkSet(h.underlayIf, { addrgenmode: 'none', up: true }, `host:${h.index}`)
      .addrReplace(`${h.vtep}/${l.prefixlen}`, h.underlayIf, `host:${h.index}`),
  );
  return { root, underlay, hosts };
}

/** Namespaces that belong to a run: `${p}-…` for the run's prefix and its agents' prefixes. */
export function ownedNetns(all: readonly string[], prefixes: readonly string[]): string[] {
  return all.filter((name) => prefixes.some((p) => name.startsWith(`${p}-`)));
}

function parseIpv4Cidr(cidr: string): { network: number; prefixlen: number } {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  const octets = match?.slice(1, 5).map(Number) ?? [];
  const prefixlen = Number(match?.[5]);
  if (!match || octets.some((o) => o > 255) || prefixlen > 30) {
    throw new Error(`underlay CIDR must be IPv4 with a prefix of /30 or shorter, got ${JSON.stringify(cidr)}`);
  }
  const address = octets.reduce((a, o) => a * 256 + o, 0);
  const size = 2 ** (32 - prefixlen);
  if (address % size !== 0) throw new Error(`underlay CIDR ${cidr} has host bits set`);
  return { network: address, prefixlen };
}

function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}
