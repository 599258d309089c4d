import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';

/** The subnet (CIDR) among `cidrs` that contains `ip`, or undefined; IPv4 and IPv6. */
export function subnetContaining(ip: string, cidrs: readonly string[]): string | undefined {
  let address: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    address = ipaddr.parse(ip);
  } catch {
    return undefined;
  }
  return cidrs.find((cidr) => {
    try {
      const range = ipaddr.parseCIDR(cidr);
      return range[0].kind() === address.kind() && address.match(range);
    } catch {
      return false;
    }
  });
}

/** A stable, locally administered unicast MAC derived from a seed (e.g. a resource id and a role). */
export function deriveMac(seed: string): string {
  const bytes = createHash('sha256').update(seed).digest().subarray(0, 6);
  bytes[0] = (bytes[0] & 0xfc) | 0x02;
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}
