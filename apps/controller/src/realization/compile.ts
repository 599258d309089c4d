import { DEFAULT_UNDERLAY_MTU, DesiredResource, NetworkSpec, PortRoute, PortSpec, RemotePort, ResourceKind, resourceKey, VXLAN_OVERHEAD } from '@netloom/model';
import type { HostRow as StoredHost, NetworkRow as StoredNetwork, PortRow as StoredPort, SubnetRow as StoredSubnet } from './intent-store';

/** Where a plugin resource goes: what one host receives, and the core networks it needs there. */
export interface PluginPlacement {
  kind: string;
  id: string;
  generation: number;
  hostId: string;
  spec: unknown;
  networks?: string[];
  /** Interfaces it puts on those networks: the other hosts get them as remote entries. */
  endpoints?: { networkId: string; mac: string; ips: string[] }[];
  /** Ports on its host it filters: they stay down there until it is applied (others are ignored). */
  guards?: string[];
}

/** The intent compiling needs: every host, port, network, subnet and address (only used columns). */
export interface Intent {
  hosts: Pick<StoredHost, 'id' | 'vtepAddress' | 'underlayMtu'>[];
  ports: (Pick<StoredPort, 'id' | 'networkId' | 'hostId' | 'generation' | 'macAddress' | 'netns'> &
    Partial<Pick<StoredPort, 'portSecurity' | 'allowedAddressPairs'>>)[];
  networks: (Pick<StoredNetwork, 'id' | 'generation' | 'vni' | 'mtu'> & Partial<Pick<StoredNetwork, 'providerInterface' | 'vlanId'>>)[];
  subnets: Pick<StoredSubnet, 'id' | 'networkId' | 'ipVersion' | 'cidr' | 'gatewayIp'>[];
  allocations: { portId: string | null; subnetId: string; ipAddress: string }[];
  /** Plugin resources, as their plugins placed them. */
  placements?: PluginPlacement[];
}

type HostRow = Intent['hosts'][number];
type NetworkRow = Intent['networks'][number];
type PortRow = Intent['ports'][number];
type SubnetRow = Intent['subnets'][number];
/** One address of a port, with its subnet. */
export type PortAddress = { ip: string; subnet: SubnetRow };

/** One host's entries on a network as the other hosts see them: its ports' and its plugin endpoints'. */
export type RemoteEntries = Omit<RemotePort, 'vtep'>[];

/**
 * A network's MTU: its own, or the smallest underlay MTU of the hosts it spans minus the VXLAN
 * overhead; a provider network's default is Ethernet's 1500 (it does not cross the underlay).
 */
export function networkMtu(network: Pick<NetworkRow, 'mtu' | 'providerInterface'>, span: Iterable<Pick<HostRow, 'underlayMtu'> | undefined>): number {
  if (network.mtu !== null && network.mtu !== undefined) return network.mtu;
  if (network.providerInterface) return DEFAULT_UNDERLAY_MTU;
  let smallest = Infinity;
  for (const h of span) smallest = Math.min(smallest, h?.underlayMtu ?? DEFAULT_UNDERLAY_MTU);
  return smallest - VXLAN_OVERHEAD;
}

/** The key remote entries are ordered by (MAC, then VTEP, then addresses): the same whatever order they came in. */
const remoteOrder = (r: RemotePort): string => `${r.mac} ${r.vtep} ${r.ips.join(',')}`;

/** A span's hosts' entries as remote ports (each with its host's VTEP), in the order network resources list them. */
export function spanRemotes(members: { hostId: string; vtep: string; entries: RemoteEntries }[]): { hostId: string; remote: RemotePort }[] {
  const keyed = members.flatMap((m) => m.entries.map((e) => ({ hostId: m.hostId, remote: { mac: e.mac, ips: e.ips, vtep: m.vtep }, order: remoteOrder({ mac: e.mac, ips: e.ips, vtep: m.vtep }) })));
  keyed.sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0));
  return keyed.map(({ hostId, remote }) => ({ hostId, remote }));
}

/**
 * The network resource of one host: peers are the other hosts of its span that take part
 * (`others`, each with its VTEP and the entries it has there).
 */
export function networkResource(
  network: Pick<NetworkRow, 'id' | 'generation' | 'vni' | 'providerInterface' | 'vlanId'>,
  mtu: number,
  local: Pick<HostRow, 'vtepAddress'>,
  others: { vtep: string; entries: RemoteEntries }[],
): DesiredResource<NetworkSpec> {
  const remotes = spanRemotes(others.map((o) => ({ hostId: '', ...o }))).map((r) => r.remote);
  return networkResourceFrom(network, mtu, local, others.map((o) => o.vtep), remotes);
}

/**
 * The same from the other hosts' VTEPs and remote ports already in order (a subset of one
 * `spanRemotes`: the realizer sorts a span once and leaves out each host's own entries). A
 * provider network gets no VXLAN (nor FDB entries): its hosts meet on the physical network.
 */
export function networkResourceFrom(
  network: Pick<NetworkRow, 'id' | 'generation' | 'vni' | 'providerInterface' | 'vlanId'>,
  mtu: number,
  local: Pick<HostRow, 'vtepAddress'>,
  peers: string[],
  remotes: RemotePort[],
): DesiredResource<NetworkSpec> {
  const spec: NetworkSpec = network.providerInterface
    ? {
        vni: network.vni,
        mtu,
        vxlan: null,
        provider: { physicalNetwork: network.providerInterface, ...(network.vlanId ? { vlanId: network.vlanId } : {}) },
      }
    : { vni: network.vni, mtu, vxlan: peers.length ? { local: local.vtepAddress, peers: [...new Set(peers)].sort(), remotes } : null };
  return { kind: ResourceKind.Network, id: network.id, generation: network.generation, spec };
}

/** A port's addresses with their subnets, ordered by family, subnet id and address (unknown subnets left out). */
export function portAddresses(fixedIps: readonly { subnetId: string; ipAddress: string }[], subnets: ReadonlyMap<string, SubnetRow>): PortAddress[] {
  const out: PortAddress[] = [];
  for (const a of fixedIps) {
    const subnet = subnets.get(a.subnetId);
    if (subnet) out.push({ ip: a.ipAddress, subnet });
  }
  return out.sort((x, y) => x.subnet.ipVersion - y.subnet.ipVersion || x.subnet.id.localeCompare(y.subnet.id) || x.ip.localeCompare(y.ip));
}

/**
 * Compiles the intent into every host's desired resources (pure): the reference that incremental
 * realization (`realizer.ts`) is tested against. A network is present on a host when one of its
 * ports is there; its span is the hosts where it is present. Hosts for which `inSpan` is false
 * (deleted, or disconnected past the grace period) still get their own state, but no other host
 * peers with them. MTU: see {@link networkMtu}. A plugin placement puts its resource on its host,
 * and makes each network it names present there, as a port would; each port of that host it
 * guards gets the resource's key in `guardedBy`.
 */
export function compileHosts(intent: Intent, inSpan: (hostId: string) => boolean = () => true): Map<string, DesiredResource[]> {
  const hosts = new Map(intent.hosts.map((h) => [h.id, h]));
  const subnets = new Map(intent.subnets.map((s) => [s.id, s]));
  const ipsOf = new Map<string, { subnetId: string; ipAddress: string }[]>();
  // Addresses plugin resources hold reach hosts through their placements, not here.
  for (const a of intent.allocations) if (a.portId) ipsOf.set(a.portId, [...(ipsOf.get(a.portId) ?? []), a]);
  const addressesOf = (portId: string): PortAddress[] => portAddresses(ipsOf.get(portId) ?? [], subnets);
  // network id → host id → its ports there
  const placement = new Map<string, Map<string, PortRow[]>>();
  for (const port of intent.ports) {
    if (!hosts.has(port.hostId)) continue;
    const byHost = placement.get(port.networkId) ?? new Map<string, PortRow[]>();
    byHost.set(port.hostId, [...(byHost.get(port.hostId) ?? []), port]);
    placement.set(port.networkId, byHost);
  }
  const placements = (intent.placements ?? []).filter((p) => hosts.has(p.hostId));
  const firstPlacements = firstPerHost(placements);
  const guardedBy = guards(intent.ports, firstPlacements);
  const networkIds = new Set(intent.networks.map((n) => n.id));
  // network id → host id → plugin endpoints there (a router's legs, a tap…)
  const endpoints = new Map<string, Map<string, RemoteEntries>>();
  for (const p of placements) {
    for (const networkId of p.networks ?? []) {
      if (!networkIds.has(networkId)) continue;
      const byHost = placement.get(networkId) ?? new Map<string, PortRow[]>();
      if (!byHost.has(p.hostId)) byHost.set(p.hostId, []);
      placement.set(networkId, byHost);
    }
    for (const e of p.endpoints ?? []) {
      const byHost = endpoints.get(e.networkId) ?? new Map<string, RemoteEntries>();
      byHost.set(p.hostId, [...(byHost.get(p.hostId) ?? []), { mac: e.mac, ips: e.ips }]);
      endpoints.set(e.networkId, byHost);
    }
  }

  const out = new Map<string, DesiredResource[]>(intent.hosts.map((h) => [h.id, []]));
  for (const network of intent.networks) {
    const byHost = placement.get(network.id);
    if (!byHost) continue;
    const span = [...byHost.keys()];
    const mtu = networkMtu(network, span.map((h) => hosts.get(h)));
    const entriesOf = (h: string): RemoteEntries => [
      ...byHost.get(h)!.flatMap((p) => remoteEntries(p, addressesOf(p.id).map((a) => a.ip))),
      ...(endpoints.get(network.id)?.get(h) ?? []),
    ];
    for (const [hostId, ports] of byHost) {
      const others = span.filter((h) => h !== hostId && inSpan(h)).sort();
      const resources = out.get(hostId)!;
      resources.push(networkResource(network, mtu, hosts.get(hostId)!, others.map((h) => ({ vtep: hosts.get(h)!.vtepAddress, entries: entriesOf(h) }))));
      for (const port of ports) resources.push(portResource(port, mtu, addressesOf(port.id), guardedBy.get(port.id)));
    }
  }
  for (const p of firstPlacements) out.get(p.hostId)!.push(pluginResource(p));
  for (const resources of out.values()) resources.sort((a, b) => resourceKey(a).localeCompare(resourceKey(b)));
  return out;
}

/** One resource per host: a plugin that places it twice on a host gets the first. */
export function firstPerHost(placements: readonly PluginPlacement[]): PluginPlacement[] {
  const placed = new Set<string>();
  return placements.filter((p) => {
    const key = `${p.hostId}/${resourceKey(p)}`;
    if (placed.has(key)) return false;
    placed.add(key);
    return true;
  });
}

/** The desired resource of a placement on its host. */
export const pluginResource = (p: PluginPlacement): DesiredResource => ({ kind: p.kind, id: p.id, generation: p.generation, spec: p.spec });

/** Port id → the sorted keys of the resources guarding it: only string ids of ports on the placement's own host count. */
function guards(ports: readonly PortRow[], placements: readonly PluginPlacement[]): Map<string, string[]> {
  const hostOf = new Map(ports.map((p) => [p.id, p.hostId]));
  const out = new Map<string, string[]>();
  for (const p of placements) {
    if (!Array.isArray(p.guards)) continue;
    for (const portId of new Set<unknown>(p.guards)) {
      if (typeof portId === 'string' && hostOf.get(portId) === p.hostId) out.set(portId, [...(out.get(portId) ?? []), resourceKey(p)]);
    }
  }
  for (const keys of out.values()) keys.sort();
  return out;
}

/**
 * A port as the other hosts of its network see it: its MAC and addresses, plus the single
 * addresses of its allowed pairs (a pair's CIDR is not announced), so their ARP/ND is answered
 * there too; a pair with another MAC is an entry of its own.
 */
export function remoteEntries(port: Pick<PortRow, 'macAddress' | 'portSecurity' | 'allowedAddressPairs'>, ips: string[]): RemoteEntries {
  const byMac = new Map<string, string[]>([[port.macAddress, [...ips]]]);
  for (const pair of port.portSecurity === false ? [] : (port.allowedAddressPairs ?? [])) {
    const [ip, prefix] = pair.ipAddress.split('/');
    if (prefix !== undefined && prefix !== (ip.includes(':') ? '128' : '32')) continue;
    const mac = pair.macAddress ?? port.macAddress;
    const list = byMac.get(mac) ?? [];
    if (!list.includes(ip)) list.push(ip);
    byMac.set(mac, list);
  }
  return [...byMac].map(([mac, list]) => ({ mac, ips: list }));
}

/** A port: its addresses, and one default route per IP family via its first subnet's gateway. */
export function portResource(port: PortRow, mtu: number, addresses: PortAddress[], guardedBy?: readonly string[]): DesiredResource<PortSpec> {
  const routes: PortRoute[] = [];
  for (const family of [4, 6] as const) {
    const first = addresses.find((x) => x.subnet.ipVersion === family);
    if (first) routes.push({ dst: 'default', via: first.subnet.gatewayIp, family });
  }
  return {
    kind: ResourceKind.Port,
    id: port.id,
    generation: port.generation,
    spec: {
      networkId: port.networkId,
      mac: port.macAddress,
      mtu,
      addresses: addresses.map(({ ip, subnet }) => ({ cidr: `${ip}/${subnet.cidr.split('/')[1]}`, family: subnet.ipVersion === 6 ? 6 : 4 })),
      routes,
      netns: port.netns,
      // Absent when unguarded: the spec (and its hash) of such a port stays what it always was.
      ...(guardedBy?.length ? { guardedBy: [...guardedBy] } : {}),
      // Likewise absent in the default case (security on, no pairs).
      ...(port.portSecurity === false ? { portSecurity: false as const } : {}),
      ...(port.portSecurity !== false && port.allowedAddressPairs?.length
        ? { allowedAddressPairs: port.allowedAddressPairs.map((p) => ({ ip: p.ipAddress, mac: p.macAddress ?? port.macAddress })) }
        : {}),
    },
  };
}
