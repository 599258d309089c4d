import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { badInput } from '@netloom/model';
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
  recordCreate,
  saveUpdate,
} from '../common/resource-ops';
import { CreatePortInput, PortFilter, UpdatePortInput } from './dto/port.inputs';
import { portSecuritySettings } from './address-pairs';
import { IpAllocation } from './ip-allocation.entity';
import { PortBatch } from './port-batch';
import { Port } from './port.entity';
import { PluginRefsService } from '../plugin-kinds/plugin-refs.service';

/** The most ports one `createPorts` call may create. */
export const MAX_BULK_PORTS = 1000;

@Injectable()
export class PortsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly changes: ChangesService,
    private readonly plugins: PluginRefsService,
  ) {}

  list(filter: PortFilter | undefined, args: ConnectionArgs): Promise<Connection<Port>> {
    const qb = this.dataSource.getRepository(Port).createQueryBuilder('p');
    if (filter?.name) qb.andWhere('p.name = :name', { name: filter.name });
    if (filter?.networkId) qb.andWhere('p.networkId = :networkId', { networkId: filter.networkId });
    if (filter?.hostId) qb.andWhere('p.hostId = :hostId', { hostId: filter.hostId });
    whereLabels(qb, 'p', filter?.labels);
    return paginate(qb, 'p', args);
  }

  find(id: string): Promise<Port | null> {
    return this.dataSource.getRepository(Port).findOneBy({ id });
  }

  async create(input: CreatePortInput): Promise<Port> {
    const [port] = await this.createMany([input], 'input');
    return port;
  }

  /** All or nothing: one bad port refuses the whole batch, and nothing is written. */
  createMany(inputs: CreatePortInput[], field = 'inputs'): Promise<Port[]> {
    if (inputs.length > MAX_BULK_PORTS) {
      throw badInput(`at most ${MAX_BULK_PORTS} ports per call, got ${inputs.length}`, field);
    }
    return this.changes.transact(async (tx) => {
      const batch = new PortBatch(tx);
      for (const [i, input] of inputs.entries()) {
        await batch.add(input, inputs.length === 1 && field === 'input' ? field : `${field}.${i}`);
      }
      await batch.checkStored();
      await tx.insertMany(Port, batch.ports);
      await tx.insertMany(IpAllocation, batch.allocations);
      for (const port of batch.ports) await recordCreate(tx, Port.name, port);
      return batch.ports;
    });
  }

  update(input: UpdatePortInput): Promise<Port> {
    return this.changes.transact(async (tx) => {
      const port = await findOrFail(tx.em, Port, input.id);
      checkGeneration(port, input.generation);
      applyCommonUpdate(port, input);
      Object.assign(port, portSecuritySettings(port, input, 'input'));
      await ensureNameFree(tx.em, Port, port.name, { networkId: port.networkId }, port.id);
      return saveUpdate(tx, Port, port);
    });
  }

  delete(input: DeleteInput): Promise<DeletePayload> {
    return this.changes.transact(async (tx) => {
      const port = await findOrFail(tx.em, Port, input.id);
      checkGeneration(port, input.generation);
      await this.plugins.assertPortsUnreferenced(tx.em, [port.id]);
      await deleteAll(tx, Port, [port]);
      return { deletedIds: [port.id], revision: tx.changes[tx.changes.length - 1].revision };
    });
  }
}
