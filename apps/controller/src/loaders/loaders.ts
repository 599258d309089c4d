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
import { ApiToken } from '../auth/api-token.entity';
import { AuditEntry } from '../audit/audit-entry.entity';
import { PluginResource } from '../plugin-kinds/plugin-resource.entity';

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

/** The tables a global id can be in (UUIDv7s: unique across them); plugin kinds share plugin_resources. */
const NODE_TABLES = { Host, Network, Subnet, Port, ApiToken, AuditEntry } as const;

/** An object found by its global id, and the GraphQL type it is shown as (a plugin resource's kind). */
export interface FoundNode {
  type: string;
  object: Host | Network | Subnet | Port | ApiToken | AuditEntry | PluginResource;
}

/** Which kind each id is: one statement, a UNION ALL over the kinds' primary keys. */
async function kindsOf(ds: DataSource, ids: readonly string[]): Promise<Map<string, string>> {
  const parts = Object.entries(NODE_TABLES).map(
    ([kind, entity]) => `SELECT '${kind}' AS kind, id FROM ${ds.getMetadata(entity).tableName} WHERE id IN (:...ids)`,
  );
  parts.push(`SELECT kind, id FROM ${ds.getMetadata(PluginResource).tableName} WHERE id IN (:...ids)`);
  const [sql, params] = ds.driver.escapeQueryWithParameters(parts.join(' UNION ALL '), { ids: [...ids] });
  const rows = await ds.query<{ kind: string; id: string }[]>(sql, params);
  return new Map(rows.map((r) => [r.id, r.kind]));
}

/** Per-request batching of nested fields, so `networks { subnets ports }` costs a few queries, not N. */
export class Loaders {
  readonly host: DataLoader<string, Host | null>;
  readonly network: DataLoader<string, Network | null>;
  readonly subnet: DataLoader<string, Subnet | null>;
  readonly port: DataLoader<string, Port | null>;
  readonly apiToken: DataLoader<string, ApiToken | null>;
  readonly auditEntry: DataLoader<string, AuditEntry | null>;
  readonly pluginResource: DataLoader<string, PluginResource | null>;
  /** Any object by its global id: one statement finds the kinds, then one per kind loads the rows. */
  readonly node: DataLoader<string, FoundNode | null>;
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
    this.port = byId(ds, Port);
    this.apiToken = byId(ds, ApiToken);
    this.auditEntry = byId(ds, AuditEntry);
    this.pluginResource = byId(ds, PluginResource);
    this.node = new DataLoader(async (ids) => {
      const kinds = await kindsOf(ds, ids);
      return Promise.all(ids.map((id) => this.loadNode(id, kinds.get(id))));
    }, BATCH);
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

  private async loadNode(id: string, kind: string | undefined): Promise<FoundNode | null> {
    const byKind: Record<keyof typeof NODE_TABLES, DataLoader<string, FoundNode['object'] | null>> = {
      Host: this.host,
      Network: this.network,
      Subnet: this.subnet,
      Port: this.port,
      ApiToken: this.apiToken,
      AuditEntry: this.auditEntry,
    };
    if (kind === undefined) return null;
    const object = await (kind in byKind ? byKind[kind as keyof typeof NODE_TABLES] : this.pluginResource).load(id);
    return object && { type: kind, object };
  }
}
