import DataLoader from 'dataloader';
import { DataSource, In, ObjectLiteral } from 'typeorm';
import { Connection, ConnectionArgs, paginateByParent } from '../common/pagination';
import { HostAgent } from '../agents/host-agent.entity';
import { ResourceStatus } from '../realization/resource-status.entity';
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

/** One page of each parent's children; parents asking for the same page share two statements. */
export type PageLoader<T> = (parentId: string, args: ConnectionArgs) => Promise<Connection<T>>;

function pagedBy<T extends ObjectLiteral & { id: string }>(ds: DataSource, entity: new () => T, key: keyof T & string): PageLoader<T> {
  const bySignature = new Map<string, DataLoader<string, Connection<T>>>();
  return (parentId, args) => {
    const signature = JSON.stringify([args.first, args.after, args.last, args.before]);
    let loader = bySignature.get(signature);
    if (!loader) {
      loader = new DataLoader((ids) => paginateByParent(ds.getRepository(entity), key, ids, args), BATCH);
      bySignature.set(signature, loader);
    }
    return loader.load(parentId);
  };
}

/** Per-request batching of nested fields, so `networks { subnets ports }` costs a few queries, not N. */
export class Loaders {
  readonly host: DataLoader<string, Host | null>;
  readonly network: DataLoader<string, Network | null>;
  readonly subnet: DataLoader<string, Subnet | null>;
  readonly subnetsOfNetwork: PageLoader<Subnet>;
  readonly portsOfNetwork: PageLoader<Port>;
  readonly portsOfHost: PageLoader<Port>;
  readonly fixedIpsByPort: DataLoader<string, IpAllocation[]>;
  readonly hostAgent: DataLoader<string, HostAgent | null>;
  /** Statuses of one resource on every host, by resource id. */
  readonly statusesByResource: DataLoader<string, ResourceStatus[]>;

  constructor(ds: DataSource) {
    this.host = byId(ds, Host);
    this.network = byId(ds, Network);
    this.subnet = byId(ds, Subnet);
    this.subnetsOfNetwork = pagedBy(ds, Subnet, 'networkId');
    this.portsOfNetwork = pagedBy(ds, Port, 'networkId');
    this.portsOfHost = pagedBy(ds, Port, 'hostId');
    this.fixedIpsByPort = groupedBy(ds, IpAllocation, 'portId', 'subnetId');
    this.hostAgent = new DataLoader(async (ids) => {
      const rows = await ds.getRepository(HostAgent).findBy({ hostId: In([...ids]) });
      const found = new Map(rows.map((r) => [r.hostId, r]));
      return ids.map((id) => found.get(id) ?? null);
    }, BATCH);
    this.statusesByResource = groupedBy(ds, ResourceStatus, 'resourceId', 'hostId');
  }
}
