import DataLoader from 'dataloader';
import { DataSource, In, ObjectLiteral } from 'typeorm';
import { HostAgent } from '../agents/host-agent.entity';
import { ResourceStatus } from '../agents/resource-status.entity';
import { Host } from '../hosts/host.entity';
import { Network } from '../networks/network.entity';
import { IpAllocation } from '../ports/ip-allocation.entity';
import { Port } from '../ports/port.entity';
import { Subnet } from '../subnets/subnet.entity';

const BATCH = { maxBatchSize: 500 };

function byId<T extends ObjectLiteral & { id: string }>(ds: DataSource, entity: new () => T): DataLoader<string, T | null> {
  return new DataLoader(async (ids) => {
    const rows = await ds.getRepository(entity).findBy({ id: In([...ids]) } as never);
    const found = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => found.get(id) ?? null);
  }, BATCH);
}

/** Rows grouped by a foreign key, each group in `order` (creation order for resources). */
function groupedBy<T extends ObjectLiteral>(
  ds: DataSource,
  entity: new () => T,
  key: keyof T & string,
  order: keyof T & string,
): DataLoader<string, T[]> {
  return new DataLoader(async (keys) => {
    const rows = await ds.getRepository(entity).find({ where: { [key]: In([...keys]) } as never, order: { [order]: 'ASC' } as never });
    const groups = new Map<string, T[]>(keys.map((k) => [k, []]));
    for (const row of rows) groups.get(row[key])?.push(row);
    return keys.map((k) => groups.get(k) ?? []);
  }, BATCH);
}

/** Per-request batching of nested fields, so `networks { subnets ports }` costs a few queries, not N. */
export class Loaders {
  readonly host: DataLoader<string, Host | null>;
  readonly network: DataLoader<string, Network | null>;
  readonly subnet: DataLoader<string, Subnet | null>;
  readonly subnetsByNetwork: DataLoader<string, Subnet[]>;
  readonly portsByNetwork: DataLoader<string, Port[]>;
  readonly portsByHost: DataLoader<string, Port[]>;
  readonly fixedIpsByPort: DataLoader<string, IpAllocation[]>;
  readonly hostAgent: DataLoader<string, HostAgent | null>;
  /** Statuses of one resource on every host, by resource id. */
  readonly statusesByResource: DataLoader<string, ResourceStatus[]>;

  constructor(ds: DataSource) {
    this.host = byId(ds, Host);
    this.network = byId(ds, Network);
    this.subnet = byId(ds, Subnet);
    this.subnetsByNetwork = groupedBy(ds, Subnet, 'networkId', 'id');
    this.portsByNetwork = groupedBy(ds, Port, 'networkId', 'id');
    this.portsByHost = groupedBy(ds, Port, 'hostId', 'id');
    this.fixedIpsByPort = groupedBy(ds, IpAllocation, 'portId', 'subnetId');
    this.hostAgent = new DataLoader(async (ids) => {
      const rows = await ds.getRepository(HostAgent).findBy({ hostId: In([...ids]) });
      const found = new Map(rows.map((r) => [r.hostId, r]));
      return ids.map((id) => found.get(id) ?? null);
    }, BATCH);
    this.statusesByResource = groupedBy(ds, ResourceStatus, 'resourceId', 'hostId');
  }
}
