import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { conflict } from '@netloom/model';
import { hashSecret, newSecret } from '../auth/secrets';
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
import { parseHostIp } from '../ipam/ipam';
import { checkMtuFits, validateUnderlayMtu } from '../networks/networks.service';
import { Network } from '../networks/network.entity';
import { Port } from '../ports/port.entity';
import { CreateHostInput, CreateHostPayload, HostFilter, UpdateHostInput } from './dto/host.inputs';
import { Host } from './host.entity';
import { PluginRefsService } from '../plugin-kinds/plugin-refs.service';

@Injectable()
export class HostsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly changes: ChangesService,
    private readonly plugins: PluginRefsService,
  ) {}

  list(filter: HostFilter | undefined, args: ConnectionArgs): Promise<Connection<Host>> {
    const qb = this.dataSource.getRepository(Host).createQueryBuilder('h');
    if (filter?.name) qb.andWhere('h.name = :name', { name: filter.name });
    whereLabels(qb, 'h', filter?.labels);
    return paginate(qb, 'h', args);
  }

  find(where: { id: string } | { name: string }): Promise<Host | null> {
    return this.dataSource.getRepository(Host).findOneBy(where);
  }

  create(input: CreateHostInput): Promise<CreateHostPayload> {
    return this.changes.transact(async (tx) => {
      const joinToken = newSecret('nlj');
      const host = tx.em.create(Host, {
        ...newResource(input),
        vtepAddress: parseHostIp(input.vtepAddress, 'input.vtepAddress', 'VTEP address').text,
        underlayMtu: validateUnderlayMtu(input.underlayMtu, 'input.underlayMtu') ?? 1500,
        joinTokenHash: hashSecret(joinToken),
        joinTokenUsedAt: null,
      });
      await ensureNameFree(tx.em, Host, host.name);
      await this.ensureVtepFree(tx, host.vtepAddress);
      await tx.em.insert(Host, host);
      await recordCreate(tx, Host.name, host);
      return { host, joinToken };
    });
  }

  update(input: UpdateHostInput): Promise<Host> {
    return this.changes.transact(async (tx) => {
      const host = await findOrFail(tx.em, Host, input.id);
      checkGeneration(host, input.generation);
      applyCommonUpdate(host, input);
      await ensureNameFree(tx.em, Host, host.name, {}, host.id);
      if (input.vtepAddress !== undefined && input.vtepAddress !== null) {
        host.vtepAddress = parseHostIp(input.vtepAddress, 'input.vtepAddress', 'VTEP address').text;
        await this.ensureVtepFree(tx, host.vtepAddress, host.id);
      }
      const underlayMtu = validateUnderlayMtu(input.underlayMtu, 'input.underlayMtu');
      if (underlayMtu !== undefined) {
        host.underlayMtu = underlayMtu;
        const networks = await tx.em
          .createQueryBuilder(Network, 'n')
          .innerJoin(Port, 'p', 'p.networkId = n.id AND p.hostId = :id', { id: host.id })
          .distinct(true)
          .getMany();
        for (const network of networks) checkMtuFits(network, host, 'input.underlayMtu');
      }
      return saveUpdate(tx, Host, host);
    });
  }

  /** A host with ports is kept unless `cascade`, which deletes its ports too. */
  delete(input: CascadeDeleteInput): Promise<DeletePayload> {
    return this.changes.transact(async (tx) => {
      const host = await findOrFail(tx.em, Host, input.id);
      checkGeneration(host, input.generation);
      const ports = await tx.em.findBy(Port, { hostId: host.id });
      if (ports.length && !input.cascade) {
        throw conflict(`host ${host.name} still has ${ports.length} port(s): delete them first or pass cascade: true`, 'input.cascade');
      }
      await this.plugins.assertPortsUnreferenced(tx.em, ports.map((p) => p.id));
      await deleteAll(tx, Port, ports);
      await deleteAll(tx, Host, [host]);
      return { deletedIds: [host.id, ...ports.map((p) => p.id)], revision: tx.changes[tx.changes.length - 1].revision };
    });
  }

  private async ensureVtepFree(tx: Tx, vtepAddress: string, exceptId?: string): Promise<void> {
    const other = await tx.em.findOneBy(Host, { vtepAddress });
    if (other && other.id !== exceptId) {
      throw conflict(`VTEP address ${vtepAddress} is already used by host ${other.name}`, 'input.vtepAddress');
    }
  }
}
