import { DesiredResource, NetworkSpec, PortRoute, PortSpec, ResourceKind, resourceKey } from '@netloom/model';
import { Network } from '../networks/network.entity';
import { IpAllocation } from '../ports/ip-allocation.entity';
import { Port } from '../ports/port.entity';
import { Subnet } from '../subnets/subnet.entity';

/** Underlay MTU 1500 minus the 50 bytes of VXLAN encapsulation. */
export const DEFAULT_PORT_MTU = 1450;

/** The slice of intent one host needs: its ports, and the networks, subnets and addresses they use. */
export interface HostIntent {
  ports: Port[];
  networks: Network[];
  subnets: Subnet[];
  allocations: IpAllocation[];
}

/**
 * Compiles a host's intent into its desired resources (pure). A network is present on a host
 * when one of its ports is there. Each port gets its addresses and one default route per IP
 * family, via the gateway of the first subnet of that family it has an address in.
 */
export function compileHost(intent: HostIntent): DesiredResource[] {
  const networks = new Map(intent.networks.map((n) => [n.id, n]));
  const subnets = new Map(intent.subnets.map((s) => [s.id, s]));
  const byPort = new Map<string, IpAllocation[]>();
  for (const a of intent.allocations) byPort.set(a.portId, [...(byPort.get(a.portId) ?? []), a]);
  const mtuOf = (network: Network): number => network.mtu ?? DEFAULT_PORT_MTU;

  const resources: DesiredResource[] = [];
  const present = new Set<string>();
  for (const port of intent.ports) {
    const network = networks.get(port.networkId);
    if (!network) continue;
    present.add(network.id);
    const allocations = (byPort.get(port.id) ?? [])
      .map((a) => ({ a, subnet: subnets.get(a.subnetId) }))
      .filter((x): x is { a: IpAllocation; subnet: Subnet } => x.subnet !== undefined)
      .sort((x, y) => x.subnet.ipVersion - y.subnet.ipVersion || x.subnet.id.localeCompare(y.subnet.id) || x.a.ipAddress.localeCompare(y.a.ipAddress));
    const routes: PortRoute[] = [];
    for (const family of [4, 6] as const) {
      const first = allocations.find((x) => x.subnet.ipVersion === family);
      if (first) routes.push({ dst: 'default', via: first.subnet.gatewayIp, family });
    }
    const spec: PortSpec = {
      networkId: network.id,
      mac: port.macAddress,
      mtu: mtuOf(network),
      addresses: allocations.map(({ a, subnet }) => ({
        cidr: `${a.ipAddress}/${subnet.cidr.split('/')[1]}`,
        family: subnet.ipVersion === 6 ? 6 : 4,
      })),
      routes,
      netns: port.netns,
    };
    resources.push({ kind: ResourceKind.Port, id: port.id, generation: port.generation, spec });
  }
  for (const id of present) {
    const network = networks.get(id)!;
    const spec: NetworkSpec = { vni: network.vni, mtu: mtuOf(network) };
    resources.push({ kind: ResourceKind.Network, id, generation: network.generation, spec });
  }
  return resources.sort((a, b) => resourceKey(a).localeCompare(resourceKey(b)));
}
