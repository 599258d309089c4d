import { badInput } from './errors';

/**
 * A physical network's name (Neutron's `physical_network`, OVN's localnet `network_name`): 1-32
 * letters, digits, `_`, `.` or `-`, a letter first. Hosts map it to one of their interfaces.
 */
export const PHYSICAL_NETWORK_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,31}$/;
export const VLAN_ID_MIN = 1;
export const VLAN_ID_MAX = 4094;
/** The most provider mappings one agent may report. */
export const MAX_PROVIDER_MAPPINGS = 64;

export function isPhysicalNetwork(name: unknown): name is string {
  return typeof name === 'string' && PHYSICAL_NETWORK_PATTERN.test(name);
}

/** Refuses a physical network name that does not match {@link PHYSICAL_NETWORK_PATTERN} (BAD_USER_INPUT on `field`). */
export function validatePhysicalNetwork(name: string, field: string): string {
  if (!isPhysicalNetwork(name)) {
    throw badInput(
      `invalid physical network ${JSON.stringify(String(name).slice(0, 80))}: use 1-32 letters, digits, '_', '.' or '-', starting with a letter`,
      field,
    );
  }
  return name;
}

/** Refuses a VLAN id outside 1-4094 (BAD_USER_INPUT on `field`). */
export function validateVlanId(vlanId: number, field: string): number {
  if (!Number.isInteger(vlanId) || vlanId < VLAN_ID_MIN || vlanId > VLAN_ID_MAX) {
    throw badInput(`VLAN id ${vlanId} is out of range (${VLAN_ID_MIN}-${VLAN_ID_MAX})`, field);
  }
  return vlanId;
}

/** An interface name as libs/linux takes it: 1-15 of `[A-Za-z0-9_.-]`, not starting with `-` or `.`. */
export function isInterfaceName(name: unknown): name is string {
  return typeof name === 'string' && /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/.test(name);
}

/** One mapping of a host: a physical network and the interface that carries it there. */
export interface ProviderMapping {
  physicalNetwork: string;
  interface: string;
}

/** The well-formed mappings among what an agent sent (an older agent sends none), each physical network once, sorted. */
export function providerMappingsOf(mappings: unknown): ProviderMapping[] {
  if (!Array.isArray(mappings)) return [];
  const out = new Map<string, ProviderMapping>();
  for (const m of mappings.slice(0, MAX_PROVIDER_MAPPINGS) as (Partial<ProviderMapping> | null)[]) {
    if (isPhysicalNetwork(m?.physicalNetwork) && isInterfaceName(m?.interface) && !out.has(m.physicalNetwork)) {
      out.set(m.physicalNetwork, { physicalNetwork: m.physicalNetwork, interface: m.interface });
    }
  }
  return [...out.values()].sort((a, b) => a.physicalNetwork.localeCompare(b.physicalNetwork));
}

/**
 * An agent's `--provider-mapping` values, `PHYSNET:IFACE` each (as Neutron's bridge_mappings).
 * Throws on a malformed entry, a physical network given twice, or one interface for two
 * physical networks (a bridge can hold an interface once).
 */
export function parseProviderMappings(list: readonly string[]): ProviderMapping[] {
  const out: ProviderMapping[] = [];
  for (const entry of list) {
    const [physicalNetwork, iface, ...rest] = entry.split(':');
    if (rest.length || !isPhysicalNetwork(physicalNetwork) || !isInterfaceName(iface)) {
      throw new Error(
        `${JSON.stringify(entry.slice(0, 80))} is not PHYSNET:INTERFACE (a physical network of 1-32 letters, digits, '_', '.' or '-', a letter first; an interface name of 1-15 letters, digits, '_', '.' or '-')`,
      );
    }
    if (out.some((m) => m.physicalNetwork === physicalNetwork)) throw new Error(`physical network ${physicalNetwork} is mapped twice`);
    if (out.some((m) => m.interface === iface)) throw new Error(`interface ${iface} is mapped to two physical networks`);
    if (out.length >= MAX_PROVIDER_MAPPINGS) throw new Error(`more than ${MAX_PROVIDER_MAPPINGS} mappings`);
    out.push({ physicalNetwork, interface: iface });
  }
  return out.sort((a, b) => a.physicalNetwork.localeCompare(b.physicalNetwork));
}
