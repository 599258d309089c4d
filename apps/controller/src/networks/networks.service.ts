import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, In, IsNull } from 'typeorm';
import { badInput, conflict, validatePhysicalNetwork, validateVlanId, VXLAN_OVERHEAD } from '@netloom/model';
import { ChangesService, Tx } from '../changes/changes.service';
import { CascadeDeleteInput, DeletePayload } from '../common/inputs';
import { whereLabels } from '../common/label';
import { Connection, ConnectionArgs, paginate } from '../common/pagination';
import {
  applyCommonUpdate,
  checkGeneration,
  deleteAll,
  ensureNameFree,
  findOrFail,
  newResource,
  recordCreate,
  saveUpdate,
} from '../common/resource-ops';
import { Host } from '../hosts/host.entity';
import { IpAllocation } from '../ports/ip-allocation.entity';
import { Port } from '../ports/port.entity';
import { Subnet } from '../subnets/subnet.entity';
import { CreateNetworkInput, NetworkFilter, UpdateNetworkInput } from './dto/network.inputs';
import { Network } from './network.entity';
import { PluginRefsService } from '../plugin-kinds/plugin-refs.service';

export const VNI_MAX = 0xffffff;
/** Automatic VNIs start here, leaving the low ones to operators who pick their own. */
export const VNI_AUTO_MIN = 100;
export const MTU_MIN = 576;
export const MTU_MAX = 9000;

export const UNDERLAY_MTU_MIN = 1280;
export const UNDERLAY_MTU_MAX = 9216;

export function validateUnderlayMtu(mtu: number | undefined | null, field: string): number | undefined {
  if (mtu === undefined || mtu === null) return undefined;
  if (!Number.isInteger(mtu) || mtu < UNDERLAY_MTU_MIN || mtu > UNDERLAY_MTU_MAX) {
    throw badInput(`underlay MTU ${mtu} is out of range (${UNDERLAY_MTU_MIN}-${UNDERLAY_MTU_MAX})`, field);
  }
  return mtu;
}

/**
 * Refuses a network MTU that a host's underlay cannot carry with the VXLAN header. A provider
 * network does not cross the underlay: its MTU is the physical network's business.
 */
export function checkMtuFits(network: Pick<Network, 'mtu' | 'providerInterface'>, host: { name: string; underlayMtu: number }, field: string): void {
  if (network.providerInterface) return;
  if (network.mtu !== null && network.mtu > host.underlayMtu - VXLAN_OVERHEAD) {
    throw badInput(
      `MTU ${network.mtu} does not fit host ${host.name}: its underlay MTU ${host.underlayMtu} leaves ${host.underlayMtu - VXLAN_OVERHEAD} after VXLAN`,
      field,
    );
  }
}

export function validateMtu(mtu: number | undefined | null): number | null {
  if (mtu === undefined || mtu === null) return null;
  if (!Number.isInteger(mtu) || mtu < MTU_MIN || mtu > MTU_MAX) {
    throw badInput(`MTU ${mtu} is out of range (${MTU_MIN}-${MTU_MAX})`, 'input.mtu');
  }
  return mtu;
}

@Injectable()
export class NetworksService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly changes: ChangesService,
    private readonly plugins: PluginRefsService,
  ) {}

  list(filter: NetworkFilter | undefined, args: ConnectionArgs): Promise<Connection<Network>> {
    const qb = this.dataSource.getRepository(Network).createQueryBuilder('n');
    if (filter?.name) qb.andWhere('n.name = :name', { name: filter.name });
    if (filter?.vni !== undefined && filter.vni !== null) qb.andWhere('n.vni = :vni', { vni: filter.vni });
    whereLabels(qb, 'n', filter?.labels);
    return paginate(qb, 'n', args);
  }

  find(where: { id: string } | { name: string }): Promise<Network | null> {
    return this.dataSource.getRepository(Network).findOneBy(where);
  }

  create(input: CreateNetworkInput): Promise<Network> {
    return this.changes.transact(async (tx) => {
      const network = tx.em.create(Network, { ...newResource(input), mtu: validateMtu(input.mtu), providerInterface: null, vlanId: null });
      await ensureNameFree(tx.em, Network, network.name);
      await this.bindProvider(tx, network, input);
      network.vni = await this.chooseVni(tx, input.vni);
      await tx.em.insert(Network, network);
      await recordCreate(tx, Network.name, network);
      return network;
    });
  }

  update(input: UpdateNetworkInput): Promise<Network> {
    return this.changes.transact(async (tx) => {
      const network = await findOrFail(tx.em, Network, input.id);
      checkGeneration(network, input.generation);
      applyCommonUpdate(network, input);
      await ensureNameFree(tx.em, Network, network.name, {}, network.id);
      const wasOverlay = !network.providerInterface;
      await this.bindProvider(tx, network, input);
      if (input.mtu !== undefined && input.mtu !== null) network.mtu = validateMtu(input.mtu);
      // A new MTU, or a provider network becoming an overlay again: its ports' hosts must carry it over VXLAN.
      if ((input.mtu !== undefined && input.mtu !== null) || (!wasOverlay && !network.providerInterface)) {
        const hosts = await tx.em
          .createQueryBuilder(Host, 'h')
          .innerJoin(Port, 'p', 'p.hostId = h.id AND p.networkId = :id', { id: network.id })
          .distinct(true)
          .getMany();
        for (const host of hosts) checkMtuFits(network, host, input.mtu !== undefined && input.mtu !== null ? 'input.mtu' : 'input.providerInterface');
      }
      return saveUpdate(tx, Network, network);
    });
  }

  /** Refused while the network has subnets or ports, unless `cascade` deletes them too. */
  delete(input: CascadeDeleteInput): Promise<DeletePayload> {
    return this.changes.transact(async (tx) => {
      const network = await findOrFail(tx.em, Network, input.id);
      checkGeneration(network, input.generation);
      const ports = await tx.em.findBy(Port, { networkId: network.id });
      const subnets = await tx.em.findBy(Subnet, { networkId: network.id });
      if ((ports.length || subnets.length) && !input.cascade) {
        throw conflict(
          `network ${network.name} still has ${subnets.length} subnet(s) and ${ports.length} port(s): delete them first or pass cascade: true`,
          'input.cascade',
        );
      }
      // Cascade takes the network's own subnets and ports, not what others attached to them.
      const held = subnets.length
        ? await tx.em.findOne(IpAllocation, { where: { subnetId: In(subnets.map((s) => s.id)), portId: IsNull() } })
        : null;
      if (held) {
        throw conflict(
          `network ${network.name} has addresses held by plugin resources (${held.ipAddress}, held by resource ${held.resourceId}, e.g. a router's interface): detach them first`,
          'input.id',
        );
      }
      await this.plugins.assertPortsUnreferenced(tx.em, ports.map((p) => p.id));
      await deleteAll(tx, Port, ports);
      await deleteAll(tx, Subnet, subnets);
      await deleteAll(tx, Network, [network]);
      return {
        deletedIds: [network.id, ...subnets.map((s) => s.id), ...ports.map((p) => p.id)],
        revision: tx.changes[tx.changes.length - 1].revision,
      };
    });
  }

  /**
   * Applies `providerInterface` / `vlanId` of an input (absent: kept; null: cleared) and refuses
   * what would share a wire: one flat network per physical network, one network per VLAN of it
   * (as Neutron: CONFLICT). A VLAN needs a physical network.
   */
  private async bindProvider(tx: Tx, network: Network, input: { providerInterface?: string | null; vlanId?: number | null }): Promise<void> {
    if (input.providerInterface === null) {
      network.providerInterface = null;
      network.vlanId = null;
    } else if (input.providerInterface !== undefined) {
      network.providerInterface = validatePhysicalNetwork(input.providerInterface, 'input.providerInterface');
    }
    if (input.vlanId !== undefined) network.vlanId = input.vlanId === null ? null : validateVlanId(input.vlanId, 'input.vlanId');
    if (network.vlanId !== null && !network.providerInterface) {
      throw badInput('a VLAN id needs a physical network: give providerInterface too', 'input.vlanId');
    }
    if (!network.providerInterface) return;
    const other = await tx.em.findOneBy(Network, { providerInterface: network.providerInterface, vlanId: network.vlanId ?? IsNull() });
    if (other && other.id !== network.id) {
      const what = network.vlanId === null ? 'flat network' : `network on VLAN ${network.vlanId}`;
      throw conflict(
        `physical network ${network.providerInterface} already has a ${what}: ${other.name} (two networks on one wire would be one segment)`,
        network.vlanId === null ? 'input.providerInterface' : 'input.vlanId',
      );
    }
  }

  private async chooseVni(tx: Tx, requested: number | undefined | null): Promise<number> {
    if (requested !== undefined && requested !== null) {
      if (!Number.isInteger(requested) || requested < 1 || requested > VNI_MAX) {
        throw badInput(`VNI ${requested} is out of range (1-${VNI_MAX})`, 'input.vni');
      }
      const other = await tx.em.findOneBy(Network, { vni: requested });
      if (other) throw conflict(`VNI ${requested} is already used by network ${other.name}`, 'input.vni');
      return requested;
    }
    const used = await tx.em
      .createQueryBuilder(Network, 'n')
      .select('n.vni', 'vni')
      .where('n.vni >= :min', { min: VNI_AUTO_MIN })
      .orderBy('n.vni', 'ASC')
      .getRawMany<{ vni: number }>();
    let candidate = VNI_AUTO_MIN;
    for (const { vni } of used) {
      if (vni !== candidate) break;
      candidate += 1;
    }
    if (candidate > VNI_MAX) throw conflict('no free VNI left', 'input.vni');
    return candidate;
  }
}
