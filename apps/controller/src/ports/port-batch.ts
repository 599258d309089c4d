import { EntityManager, In } from 'typeorm';
import { badInput, checkListSize, conflict } from '@netloom/model';
import { Tx } from '../changes/changes.service';
import { findOrFail, newResource } from '../common/resource-ops';
import { Host } from '../hosts/host.entity';
import { generateMac, normalizeMac, parseCidr, parseIp, contains, SubnetAllocator } from '../ipam/ipam';
import { Network } from '../networks/network.entity';
import { checkMtuFits } from '../networks/networks.service';
import { Subnet } from '../subnets/subnet.entity';
import { CreatePortInput, FixedIpInput } from './dto/port.inputs';
import { portSecuritySettings } from './address-pairs';
import { IpAllocation } from './ip-allocation.entity';
import { Port } from './port.entity';

/**
 * A network is one Linux bridge per host, and a bridge takes at most 1024 ports; room is left for
 * the VXLAN device and router legs.
 */
export const MAX_PORTS_PER_NETWORK_PER_HOST = 1020;

/** Addresses one port may hold (Neutron's old `max_fixed_ips_per_port` was 5); bounds `Port.fixedIps`. */
export const MAX_FIXED_IPS = 16;

/** Names of namespaces a user may place a port in. Never passed through a shell; still kept plain. */
const NETNS = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * Builds the ports of one transaction. Lookups, IPAM allocators and the set of MACs in use are
 * loaded once and shared, so creating 1000 ports costs a few queries, and two ports of the same
 * batch can never get one address or one MAC.
 */
export class PortBatch {
  private readonly networks = new Map<string, Network>();
  private readonly hosts = new Map<string, Host>();
  private readonly subnets = new Map<string, Subnet[]>();
  private readonly allocators = new Map<string, SubnetAllocator>();
  /** Names this batch gives, per network: the field each was asked for in. */
  private readonly names = new Map<string, Map<string, string>>();
  /** MACs this batch claimed: the port, and the field it was asked for in (generated: none). */
  private readonly macs = new Map<string, { port: Port; field: string | null }>();
  /** Ports per network and host (`networkId/hostId`), counting this batch. */
  private readonly perBridge = new Map<string, number>();
  readonly ports: Port[] = [];
  readonly allocations: IpAllocation[] = [];

  constructor(private readonly tx: Tx) {}

  async add(input: CreatePortInput, field: string): Promise<Port> {
    const port = this.tx.em.create(Port, newResource(input, field));
    const network = await this.cached(this.networks, input.networkId, () =>
      findOrFail(this.tx.em, Network, input.networkId, `${field}.networkId`),
    );
    const host = await this.cached(this.hosts, input.hostId, () => findOrFail(this.tx.em, Host, input.hostId, `${field}.hostId`));
    port.networkId = network.id;
    port.hostId = host.id;
    checkMtuFits(network, host, `${field}.hostId`);
    // Unique within the batch here; against the stored ports in checkStored (by the index, not by reading every name).
    const names = this.names.get(network.id) ?? new Map<string, string>();
    this.names.set(network.id, names);
    if (names.has(port.name)) throw conflict(`a port named ${port.name} already exists on network ${network.name}`, `${field}.name`);
    names.set(port.name, field);
    const bridgeKey = `${network.id}/${host.id}`;
    const onBridge = await this.cached(this.perBridge, bridgeKey, () => this.tx.em.countBy(Port, { networkId: network.id, hostId: host.id }));
    if (onBridge >= MAX_PORTS_PER_NETWORK_PER_HOST) {
      throw conflict(
        `network ${network.name} already has ${MAX_PORTS_PER_NETWORK_PER_HOST} ports on host ${host.name}, the most one Linux bridge can carry`,
        `${field}.hostId`,
      );
    }
    this.perBridge.set(bridgeKey, onBridge + 1);
    port.macAddress = this.claimMac(port, input.macAddress, `${field}.macAddress`);
    if (input.netns !== undefined && input.netns !== null && !NETNS.test(input.netns)) {
      throw badInput(`invalid namespace name ${JSON.stringify(input.netns.slice(0, 80))}`, `${field}.netns`);
    }
    port.netns = input.netns ?? null;
    if (input.fixedIps) checkListSize(input.fixedIps, `${field}.fixedIps`);
    Object.assign(port, portSecuritySettings({ portSecurity: true, allowedAddressPairs: [] }, input, field));
    const requests = input.fixedIps ?? (await this.defaultRequests(network.id));
    if (requests.length > MAX_FIXED_IPS) throw badInput(`a port holds at most ${MAX_FIXED_IPS} fixed IPs, got ${requests.length}`, `${field}.fixedIps`);
    for (const [i, request] of requests.entries()) {
      const subnet = await this.subnetFor(network, request, `${field}.fixedIps.${i}`);
      const allocator = await this.allocator(subnet);
      const ipAddress =
        request.ipAddress !== undefined && request.ipAddress !== null
          ? allocator.claim(request.ipAddress, `${field}.fixedIps.${i}.ipAddress`)
          : allocator.allocate(`${field}.fixedIps.${i}`);
      this.allocations.push(this.tx.em.create(IpAllocation, { subnetId: subnet.id, ipAddress, portId: port.id }));
    }
    this.ports.push(port);
    return port;
  }

  private async cached<V>(map: Map<string, V>, key: string, load: () => Promise<V>): Promise<V> {
    let value = map.get(key);
    if (value === undefined) {
      value = await load();
      map.set(key, value);
    }
    return value;
  }

  /** A MAC unique within the batch; {@link checkStored} checks it against the stored ports. */
  private claimMac(port: Port, requested: string | undefined | null, field: string): string {
    const given = requested !== undefined && requested !== null;
    const mac = given ? normalizeMac(requested, field) : generateMac(this.macs);
    if (this.macs.has(mac)) throw conflict(`MAC address ${mac} is already in use`, field);
    this.macs.set(mac, { port, field: given ? field : null });
    return mac;
  }

  /**
   * Checks the batch against the stored ports by their unique indexes, reading only the rows that
   * clash: a name taken on its network is a CONFLICT; a requested MAC in use is a CONFLICT, a
   * generated one is drawn again.
   */
  async checkStored(): Promise<void> {
    for (const [networkId, names] of this.names) {
      const given = [...names.keys()];
      for (let i = 0; i < given.length; i += 500) {
        const taken = await this.tx.em.find(Port, { where: { networkId, name: In(given.slice(i, i + 500)) }, select: { name: true } });
        if (taken.length) {
          const name = taken[0].name;
          throw conflict(`a port named ${name} already exists on network ${this.networks.get(networkId)!.name}`, `${names.get(name)!}.name`);
        }
      }
    }
    await this.checkMacs();
  }

  private async checkMacs(): Promise<void> {
    let pending = [...this.macs.keys()];
    while (pending.length) {
      const used: string[] = [];
      for (let i = 0; i < pending.length; i += 500) {
        used.push(...(await this.tx.em.find(Port, { where: { macAddress: In(pending.slice(i, i + 500)) }, select: { macAddress: true } })).map((p) => p.macAddress));
      }
      pending = [];
      for (const mac of used) {
        const claim = this.macs.get(mac)!;
        if (claim.field !== null) throw conflict(`MAC address ${mac} is already in use`, claim.field);
        this.macs.delete(mac);
        const taken = new Set([...this.macs.keys(), ...used]);
        claim.port.macAddress = generateMac(taken);
        this.macs.set(claim.port.macAddress, claim);
        pending.push(claim.port.macAddress);
      }
    }
  }

  private subnetsOf(networkId: string): Promise<Subnet[]> {
    return this.cached(this.subnets, networkId, () => this.tx.em.find(Subnet, { where: { networkId }, order: { id: 'ASC' } }));
  }

  /** By default a port gets one address from the first IPv4 and the first IPv6 subnet. */
  private async defaultRequests(networkId: string): Promise<FixedIpInput[]> {
    const subnets = await this.subnetsOf(networkId);
    return [4, 6].flatMap((version) => {
      const subnet = subnets.find((s) => s.ipVersion === version);
      return subnet ? [{ subnetId: subnet.id }] : [];
    });
  }

  private async subnetFor(network: Network, request: FixedIpInput, field: string): Promise<Subnet> {
    const subnets = await this.subnetsOf(network.id);
    if (request.subnetId) {
      const subnet = subnets.find((s) => s.id === request.subnetId);
      if (!subnet) throw badInput(`subnet ${request.subnetId} is not a subnet of network ${network.name}`, `${field}.subnetId`);
      return subnet;
    }
    if (!request.ipAddress) throw badInput('give a subnetId, an ipAddress, or both', field);
    const ip = parseIp(request.ipAddress, `${field}.ipAddress`);
    const subnet = subnets.find((s) => {
      const parsed = parseCidr(s.cidr);
      return parsed.version === ip.version && contains(parsed, ip.value);
    });
    if (!subnet) throw badInput(`${ip.text} is in no subnet of network ${network.name}`, `${field}.ipAddress`);
    return subnet;
  }

  private allocator(subnet: Subnet): Promise<SubnetAllocator> {
    return this.cached(this.allocators, subnet.id, () => subnetAllocator(this.tx.em, subnet));
  }
}

/** IPAM over one subnet as stored: every address held (by a port or a plugin resource) is taken. */
export async function subnetAllocator(em: EntityManager, subnet: Subnet): Promise<SubnetAllocator> {
  const taken = await columnOf(em, IpAllocation, 'ipAddress', { subnetId: subnet.id });
  return new SubnetAllocator(parseCidr(subnet.cidr), subnet.allocationPools, subnet.gatewayIp, taken);
}

/** One column of the matching rows, read raw: no entities built for thousands of rows. */
async function columnOf<T extends object>(
  em: EntityManager,
  entity: new () => T,
  property: keyof T & string,
  where: Partial<Record<keyof T, string>> = {},
): Promise<string[]> {
  const qb = em.createQueryBuilder(entity, 'r').select(`r.${property}`, 'v');
  for (const [key, value] of Object.entries(where)) qb.andWhere(`r.${key} = :${key}`, { [key]: value });
  return (await qb.getRawMany<{ v: string }>()).map((row) => row.v);
}
