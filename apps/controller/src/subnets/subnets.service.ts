import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { badInput, conflict, NetloomError } from '@netloom/model';
import { ChangesService } from '../changes/changes.service';
import { DeleteInput, DeletePayload } from '../common/inputs';
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
import {
  defaultGateway,
  defaultPools,
  parseCidr,
  parseSubnetCidr,
  subnetsOverlap,
  validateDnsServers,
  validateGateway,
  validatePools,
} from '../ipam/ipam';
import { Network } from '../networks/network.entity';
import { IpAllocation } from '../ports/ip-allocation.entity';
import { CreateSubnetInput, SubnetFilter, UpdateSubnetInput } from './dto/subnet.inputs';
import { Subnet } from './subnet.entity';

@Injectable()
export class SubnetsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly changes: ChangesService,
  ) {}

  list(filter: SubnetFilter | undefined, args: ConnectionArgs): Promise<Connection<Subnet>> {
    const qb = this.dataSource.getRepository(Subnet).createQueryBuilder('s');
    if (filter?.name) qb.andWhere('s.name = :name', { name: filter.name });
    if (filter?.networkId) qb.andWhere('s.networkId = :networkId', { networkId: filter.networkId });
    whereLabels(qb, 's', filter?.labels);
    return paginate(qb, 's', args);
  }

  find(id: string): Promise<Subnet | null> {
    return this.dataSource.getRepository(Subnet).findOneBy({ id });
  }

  create(input: CreateSubnetInput): Promise<Subnet> {
    return this.changes.transact(async (tx) => {
      const common = newResource(input);
      const network = await findOrFail(tx.em, Network, input.networkId, 'input.networkId');
      const parsed = parseSubnetCidr(input.cidr, 'input.cidr');
      const gatewayIp =
        input.gatewayIp !== undefined && input.gatewayIp !== null
          ? validateGateway(parsed, input.gatewayIp, 'input.gatewayIp')
          : defaultGateway(parsed);
      const subnet = tx.em.create(Subnet, {
        ...common,
        networkId: network.id,
        cidr: parsed.cidr,
        ipVersion: parsed.version,
        gatewayIp,
        allocationPools: input.allocationPools
          ? validatePools(parsed, input.allocationPools, gatewayIp, 'input.allocationPools')
          : defaultPools(parsed, gatewayIp),
        dnsServers: validateDnsServers(input.dnsServers ?? [], 'input.dnsServers'),
      });
      await ensureNameFree(tx.em, Subnet, subnet.name, { networkId: network.id });
      for (const other of await tx.em.findBy(Subnet, { networkId: network.id })) {
        if (subnetsOverlap(parsed, parseCidr(other.cidr))) {
          throw conflict(`${parsed.cidr} overlaps subnet ${other.name} (${other.cidr}) on network ${network.name}`, 'input.cidr');
        }
      }
      await tx.em.insert(Subnet, subnet);
      await recordCreate(tx, Subnet.name, subnet);
      return subnet;
    });
  }

  update(input: UpdateSubnetInput): Promise<Subnet> {
    return this.changes.transact(async (tx) => {
      const subnet = await findOrFail(tx.em, Subnet, input.id);
      checkGeneration(subnet, input.generation);
      applyCommonUpdate(subnet, input);
      await ensureNameFree(tx.em, Subnet, subnet.name, { networkId: subnet.networkId }, subnet.id);
      const parsed = parseCidr(subnet.cidr);
      if (input.gatewayIp !== undefined && input.gatewayIp !== null) {
        const gatewayIp = validateGateway(parsed, input.gatewayIp, 'input.gatewayIp');
        const holder = await tx.em.findOneBy(IpAllocation, { subnetId: subnet.id, ipAddress: gatewayIp });
        if (holder) throw conflict(`${gatewayIp} is held by ${holder.portId ? `port ${holder.portId}` : `resource ${holder.resourceId}`}`, 'input.gatewayIp');
        subnet.gatewayIp = gatewayIp;
      }
      if (input.allocationPools !== undefined && input.allocationPools !== null) {
        subnet.allocationPools = validatePools(parsed, input.allocationPools, subnet.gatewayIp, 'input.allocationPools');
      } else {
        // A new gateway must not fall inside the pools that stay: the gateway is at fault.
        try {
          validatePools(parsed, subnet.allocationPools, subnet.gatewayIp);
        } catch (error) {
          throw error instanceof NetloomError ? badInput(error.message, 'input.gatewayIp') : error;
        }
      }
      if (input.dnsServers !== undefined && input.dnsServers !== null) {
        subnet.dnsServers = validateDnsServers(input.dnsServers, 'input.dnsServers');
      }
      return saveUpdate(tx, Subnet, subnet);
    });
  }

  /** Refused while any port holds an address of the subnet. */
  delete(input: DeleteInput): Promise<DeletePayload> {
    return this.changes.transact(async (tx) => {
      const subnet = await findOrFail(tx.em, Subnet, input.id);
      checkGeneration(subnet, input.generation);
      const inUse = await tx.em.countBy(IpAllocation, { subnetId: subnet.id });
      if (inUse) {
        throw conflict(`subnet ${subnet.name} still has ${inUse} address(es) held by ports or plugin resources: delete those first`, 'input.id');
      }
      await deleteAll(tx, Subnet, [subnet]);
      return { deletedIds: [subnet.id], revision: tx.changes[tx.changes.length - 1].revision };
    });
  }
}
