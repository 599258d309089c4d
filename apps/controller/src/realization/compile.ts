import {
  DEFAULT_UNDERLAY_MTU,
  DesiredResource,
  NetworkSpec,
  PortRoute,
  PortSpec,
  RemotePort,
  ResourceKind,
  resourceKey,
  VXLAN_OVERHEAD,
} from '@netloom/model';
import { Host } from '../hosts/host.entity';
import { Network } from '../networks/network.entity';
import { IpAllocation } from '../ports/ip-allocation.entity';
import { Port } from '../ports/port.entity';
import { Subnet } from '../subnets/subnet.entity';

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
  hosts: Pick<Host, 'id' | 'vtepAddress' | 'underlayMtu'>[];
  ports: (Pick<Port, 'id' | 'networkId' | 'hostId' | 'generation' | 'macAddress' | 'netns'> &
    Partial<Pick<Port, 'portSecurity' | 'allowedAddressPairs'>>)[];
  networks: Pick<Network, 'id' | 'generation' | 'vni' | 'mtu'>[];
  subnets: Pick<Subnet, 'id' | 'networkId' | 'ipVersion' | 'cidr' | 'gatewayIp'>[];
  allocations: Pick<IpAllocation, 'portId' | 'subnetId' | 'ipAddress'>[];
  /** Plugin resources, as their plugins placed them. */
  placements?: PluginPlacement[];
}

type PortRow = Intent['ports'][number];
type SubnetRow = Intent['subnets'][number];

/**
 * Compiles the intent into every host's desired resources (pure). A network is present on a
 * host when one of its ports is there; its span is the hosts where it is present. Hosts for
 * which `inSpan` is false (deleted, or disconnected past the grace period) still get their own
 * state, but no other host peers with them. MTU: the network's, or the smallest underlay MTU of
 * its span minus the VXLAN overhead. A plugin placement puts its resource on its host, and makes
 * each network it names present there, as a port would; each port of that host it guards gets
 * the resource's key in `guardedBy`.
 */
export function compileHosts(intent: Intent, inSpan: (hostId: string) => boolean = () => true): Map<string, DesiredResource[]> {
  const hosts = new Map(intent.hosts.map((h) => [h.id, h]));
  const subnets = new Map(intent.subnets.map((s) => [s.id, s]));
  const addressesOf = new Map<string, { ip: string; subnet: SubnetRow }[]>();
  for (const a of intent.allocations) {
    const subnet = subnets.get(a.subnetId);
    // Addresses plugin resources hold reach hosts through their placements, not here.
    if (subnet && a.portId) addressesOf.set(a.portId, [...(addressesOf.get(a.portId) ?? []), { ip: a.ipAddress, subnet }]);
  }
  for (const list of addressesOf.values()) {
    list.sort((x, y) => x.subnet.ipVersion - y.subnet.ipVersion || x.subnet.id.localeCompare(y.subnet.id) || x.ip.localeCompare(y.ip));
  }
  // network id → host id → its ports there
  const placement = new Map<string, Map<string, PortRow[]>>();
  for (const port of intent.ports) {
    if (!hosts.has(port.hostId)) continue;
    const byHost = placement.get(port.networkId) ?? new Map<string, PortRow[]>();
    byHost.set(port.hostId, [...(byHost.get(port.hostId) ?? []), port]);
    placement.set(port.networkId, byHost);
  }
  const placements = (intent.placements ?? []).filter((p) => hosts.has(p.hostId));
  // One resource per host: a plugin that places it twice on a host gets the first.
  const placed = new Set<string>();
  const firstPlacements = placements.filter((p) => {
    const key = `${p.hostId}/${resourceKey(p)}`;
    if (placed.has(key)) return false;
    placed.add(key);
    return true;
  });
  const guardedBy = guards(intent.ports, firstPlacements);
  const networkIds = new Set(intent.networks.map((n) => n.id));
  // network id → host id → plugin endpoints there (a router's legs, a tap…)
  const endpoints = new Map<string, Map<string, { mac: string; ips: string[] }[]>>();
  for (const p of placements) {
    for (const networkId of p.networks ?? []) {
      if (!networkIds.has(networkId)) continue;
      const byHost = placement.get(networkId) ?? new Map<string, PortRow[]>();
      if (!byHost.has(p.hostId)) byHost.set(p.hostId, []);
      placement.set(networkId, byHost);
    }
    for (const e of p.endpoints ?? []) {
      const byHost = endpoints.get(e.networkId) ?? new Map<string, { mac: string; ips: string[] }[]>();
      byHost.set(p.hostId, [...(byHost.get(p.hostId) ?? []), { mac: e.mac, ips: e.ips }]);
      endpoints.set(e.networkId, byHost);
    }
  }

  const out = new Map<string, DesiredResource[]>(intent.hosts.map((h) => [h.id, []]));
  for (const network of intent.networks) {
    const byHost = placement.get(network.id);
    if (!byHost) continue;
    const span = [...byHost.keys()];
    const mtu = network.mtu ?? Math.min(...span.map((h) => hosts.get(h)!.underlayMtu ?? DEFAULT_UNDERLAY_MTU)) - VXLAN_OVERHEAD;
    for (const [hostId, ports] of byHost) {
      const host = hosts.get(hostId)!;
      const others = span.filter((h) => h !== hostId && inSpan(h)).sort();
      const remotes: RemotePort[] = others.flatMap((h) => [
        ...byHost.get(h)!.flatMap((p) => remoteEntries(p, (addressesOf.get(p.id) ?? []).map((a) => a.ip), hosts.get(h)!.vtepAddress)),
        ...(endpoints.get(network.id)?.get(h) ?? []).map((e) => ({ mac: e.mac, ips: e.ips, vtep: hosts.get(h)!.vtepAddress })),
      ]);
      remotes.sort((a, b) => a.mac.localeCompare(b.mac));
      const spec: NetworkSpec = {
        vni: network.vni,
        mtu,
        vxlan: others.length
          ? { local: host.vtepAddress, peers: [...new Set(others.map((h) => hosts.get(h)!.vtepAddress))].sort(), remotes }
          : null,
      };
      const resources = out.get(hostId)!;
      resources.push({ kind: ResourceKind.Network, id: network.id, generation: network.generation, spec });
      for (const port of ports) resources.push(portResource(port, mtu, addressesOf.get(port.id) ?? [], guardedBy.get(port.id)));
    }
  }
  for (const p of firstPlacements) out.get(p.hostId)!.push({ kind: p.kind, id: p.id, generation: p.generation, spec: p.spec });
  for (const resources of out.values()) resources.sort((a, b) => resourceKey(a).localeCompare(resourceKey(b)));
  return out;
}

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
function remoteEntries(port: PortRow, ips: string[], vtep: string): RemotePort[] {
  const byMac = new Map<string, string[]>([[port.macAddress, [...ips]]]);
  for (const pair of port.portSecurity === false ? [] : (port.allowedAddressPairs ?? [])) {
    const [ip, prefix] = pair.ipAddress.split('/');
    if (prefix !== undefined && prefix !== (ip.includes(':') ? '128' : '32')) continue;
    const mac = pair.macAddress ?? port.macAddress;
    const list = byMac.get(mac) ?? [];
    if (!list.includes(ip)) list.push(ip);
    byMac.set(mac, list);
  }
  return [...byMac].map(([mac, list]) => ({ mac, ips: list, vtep }));
}

/** A port: its addresses, and one default route per IP family via its first subnet's gateway. */
function portResource(port: PortRow, mtu: number, addresses: { ip: string; subnet: SubnetRow }[], guardedBy?: string[]): DesiredResource<PortSpec> {
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
      ...(guardedBy ? { guardedBy } : {}),
      // Likewise absent in the default case (security on, no pairs).
      ...(port.portSecurity === false ? { portSecurity: false as const } : {}),
      ...(port.portSecurity !== false && port.allowedAddressPairs?.length
        ? { allowedAddressPairs: port.allowedAddressPairs.map((p) => ({ ip: p.ipAddress, mac: p.macAddress ?? port.macAddress })) }
        : {}),
    },
  };
}
