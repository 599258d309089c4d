import { EntityManager, In } from 'typeorm';
import { ResourceKind } from '@netloom/model';
import { IntentFilter, IntentView, matchesFilter, PluginResource as ResourceRow } from '@netloom/plugin-sdk';
import { Label } from '../common/label';
import { Host } from '../hosts/host.entity';
import { Network } from '../networks/network.entity';
import { toSdkResource } from '../plugin-kinds/intent-view';
import { PluginResource } from '../plugin-kinds/plugin-resource.entity';
import { IpAllocation } from '../ports/ip-allocation.entity';
import { AllowedAddressPair, Port } from '../ports/port.entity';
import { Subnet } from '../subnets/subnet.entity';

export type { ResourceRow };

/** What realization keeps of each kind of intent row (the columns compiling and plugins read). */
export interface HostRow {
  id: string;
  name: string;
  vtepAddress: string;
  underlayMtu: number | null;
  labels: Record<string, string>;
}
export interface NetworkRow {
  id: string;
  name: string;
  generation: number;
  vni: number;
  mtu: number | null;
  /** The physical network of a provider network; null (or absent): an overlay. */
  providerInterface?: string | null;
  vlanId?: number | null;
}
export interface SubnetRow {
  id: string;
  networkId: string;
  name: string;
  ipVersion: 4 | 6;
  cidr: string;
  gatewayIp: string;
}
export interface PortRow {
  id: string;
  name: string;
  networkId: string;
  hostId: string;
  generation: number;
  macAddress: string;
  netns: string | null;
  portSecurity: boolean;
  allowedAddressPairs: AllowedAddressPair[];
  labels: Record<string, string>;
  /** Sorted by subnet id, then address. */
  fixedIps: { subnetId: string; ipAddress: string }[];
}

/**
 * What one host observed of a plugin resource, as its plugin's `observedForPlacement` keeps it
 * (not a table: what agents reported, kept here for placements to read).
 */
export interface ObservedRow {
  /** The resource's id. */
  id: string;
  kind: string;
  hostId: string;
  value: unknown;
}

/** The kinds of row; plugin resources are one table, told apart by `kind`. */
export type RowKind = 'Host' | 'Network' | 'Subnet' | 'Port' | 'Resource' | 'Observed';
type TableKind = Exclude<RowKind, 'Observed'>;

/** One row as it was before a change and is after it (absent: did not / does not exist). */
export type RowChange =
  | { kind: 'Host'; id: string; before?: HostRow; after?: HostRow }
  | { kind: 'Network'; id: string; before?: NetworkRow; after?: NetworkRow }
  | { kind: 'Subnet'; id: string; before?: SubnetRow; after?: SubnetRow }
  | { kind: 'Port'; id: string; before?: PortRow; after?: PortRow }
  | { kind: 'Resource'; id: string; before?: ResourceRow; after?: ResourceRow }
  | { kind: 'Observed'; id: string; hostId: string; before?: ObservedRow; after?: ObservedRow };

/** Which table a change-feed kind names. */
export const rowKindOf = (feedKind: string): TableKind =>
  feedKind === ResourceKind.Host || feedKind === ResourceKind.Network || feedKind === 'Subnet' || feedKind === ResourceKind.Port
    ? (feedKind)
    : 'Resource';

const labelRecord = (labels: Label[]): Record<string, string> => Object.fromEntries(labels.map((l) => [l.key, l.value]));
const byId = (a: { id: string }, b: { id: string }): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const CHUNK = 500;

/** One read of what a controller half asked for: realization re-places it when a matching row changes. */
export interface Read {
  kind: RowKind;
  /** For `Resource` and `Observed`: the plugin kind read. */
  resourceKind?: string;
  filter?: IntentFilter;
}

/** Whether a change touches a read (the row before or after it matches). */
export function touches(read: Read, change: RowChange): boolean {
  if (read.kind !== change.kind) return false;
  const rows = [change.before, change.after] as (({ id: string; kind?: string } & object) | undefined)[];
  return rows.some((row) => row !== undefined && (read.resourceKind === undefined || row.kind === read.resourceKind) && matchesFilter(row, read.filter));
}

/**
 * The intent realization works from, in memory and indexed: every host, network, subnet, port
 * (with its addresses) and plugin resource. Loaded once, then kept current from the change feed:
 * each change re-reads only the rows it names (`refresh`), so keeping it costs in proportion to
 * the change. Reads here never touch the database.
 */
export class IntentStore {
  readonly hosts = new Map<string, HostRow>();
  readonly networks = new Map<string, NetworkRow>();
  readonly subnets = new Map<string, SubnetRow>();
  readonly ports = new Map<string, PortRow>();
  readonly resources = new Map<string, ResourceRow>();
  /** network id → host id → ids of its ports there. */
  private readonly portsByNetwork = new Map<string, Map<string, Set<string>>>();
  /** subnet id → ids of ports with an address in it. */
  private readonly portsBySubnet = new Map<string, Set<string>>();
  /** resource id → host id → what that host observed of it (as its plugin keeps it). */
  private readonly observed = new Map<string, Map<string, ObservedRow>>();

  /** Reads everything (at start). */
  async loadAll(em: EntityManager): Promise<void> {
    const [hosts, networks, subnets, ports, allocations, resources] = await Promise.all([
      em.find(Host),
      em.find(Network),
      em.find(Subnet),
      em.find(Port),
      em.find(IpAllocation, { select: { portId: true, subnetId: true, ipAddress: true } }),
      em.find(PluginResource),
    ]);
    const ips = fixedIpsByPort(allocations);
    for (const h of hosts) this.put({ kind: 'Host', id: h.id, after: hostRow(h) });
    for (const n of networks) this.put({ kind: 'Network', id: n.id, after: networkRow(n) });
    for (const s of subnets) this.put({ kind: 'Subnet', id: s.id, after: subnetRow(s) });
    for (const p of ports) this.put({ kind: 'Port', id: p.id, after: portRow(p, ips.get(p.id) ?? []) });
    for (const r of resources) this.put({ kind: 'Resource', id: r.id, after: toSdkResource(r) });
  }

  /**
   * Re-reads the rows the change feed named (feed kind and id) and returns how each changed. A row
   * read after later commits is newer than its change: those commits name it again.
   */
  async refresh(em: EntityManager, named: Iterable<{ kind: string; id: string }>): Promise<RowChange[]> {
    const ids = new Map<TableKind, Set<string>>();
    for (const { kind, id } of named) {
      const k = rowKindOf(kind);
      ids.set(k, (ids.get(k) ?? new Set()).add(id));
    }
    const read = async <E extends { id: string }, R>(entity: new () => E, kind: TableKind, toRow: (e: E) => R): Promise<Map<string, R>> => {
      const wanted = [...(ids.get(kind) ?? [])];
      const out = new Map<string, R>();
      for (let i = 0; i < wanted.length; i += CHUNK) {
        for (const e of await em.find(entity, { where: { id: In(wanted.slice(i, i + CHUNK)) } as never })) out.set(e.id, toRow(e));
      }
      return out;
    };
    const portIds = [...(ids.get('Port') ?? [])];
    const allocations: IpAllocation[] = [];
    for (let i = 0; i < portIds.length; i += CHUNK) {
      allocations.push(...(await em.find(IpAllocation, { where: { portId: In(portIds.slice(i, i + CHUNK)) }, select: { portId: true, subnetId: true, ipAddress: true } })));
    }
    const ips = fixedIpsByPort(allocations);
    const rows = {
      Host: await read(Host, 'Host', hostRow),
      Network: await read(Network, 'Network', networkRow),
      Subnet: await read(Subnet, 'Subnet', subnetRow),
      Port: await read(Port, 'Port', (p) => portRow(p, ips.get(p.id) ?? [])),
      Resource: await read(PluginResource, 'Resource', toSdkResource),
    };
    const changes: RowChange[] = [];
    for (const [kind, set] of ids) {
      for (const id of set) changes.push(this.put({ kind, id, after: rows[kind].get(id) } as RowChange));
    }
    return changes;
  }

  /** Sets (or, without `after`, removes) one row; returns the change with the row it replaced. */
  put(change: RowChange): RowChange {
    switch (change.kind) {
      case 'Host':
        return { ...change, before: swap(this.hosts, change.id, change.after) };
      case 'Network':
        return { ...change, before: swap(this.networks, change.id, change.after) };
      case 'Subnet':
        return { ...change, before: swap(this.subnets, change.id, change.after) };
      case 'Resource':
        // What hosts observed of a resource goes with it.
        if (!change.after) this.observed.delete(change.id);
        return { ...change, before: swap(this.resources, change.id, change.after) };
      case 'Observed': {
        const byHost = this.observed.get(change.id) ?? new Map<string, ObservedRow>();
        const before = swap(byHost, change.hostId, change.after);
        if (byHost.size) this.observed.set(change.id, byHost);
        else this.observed.delete(change.id);
        return { ...change, before };
      }
      case 'Port': {
        const before = swap(this.ports, change.id, change.after);
        if (before) this.indexPort(before, false);
        if (change.after) this.indexPort(change.after, true);
        return { ...change, before };
      }
    }
  }

  /**
   * Keeps what a host observed of a plugin resource (undefined or null: nothing); returns the
   * change when it differs from what was kept (compared as JSON), undefined otherwise. A
   * resource not in the intent keeps nothing.
   */
  observe(kind: string, id: string, hostId: string, value: unknown): RowChange | undefined {
    if (this.keeps(kind, id, hostId, value)) return undefined;
    const keep = value !== undefined && value !== null && this.resources.get(id)?.kind === kind;
    return this.put({ kind: 'Observed', id, hostId, after: keep ? { id, kind, hostId, value } : undefined });
  }

  /** Whether {@link observe} would change nothing: what is kept is this value already (nothing for nothing). */
  keeps(kind: string, id: string, hostId: string, value: unknown): boolean {
    const before = this.observed.get(id)?.get(hostId);
    const keep = value !== undefined && value !== null && this.resources.get(id)?.kind === kind;
    if (!keep) return before === undefined;
    return before !== undefined && JSON.stringify(before.value) === JSON.stringify(value);
  }

  /** Host id → ids of the network's ports there (hosts without any are absent). */
  portsOf(networkId: string): ReadonlyMap<string, ReadonlySet<string>> {
    return this.portsByNetwork.get(networkId) ?? new Map();
  }

  /** Ids of the ports with an address in the subnet. */
  portsInSubnet(subnetId: string): ReadonlySet<string> {
    return this.portsBySubnet.get(subnetId) ?? new Set();
  }

  /**
   * What a plugin's controller half reads (`IntentView`), answered from memory; every read is
   * appended to `reads`, so realization knows when to place the resource again.
   */
  view(pluginKinds: ReadonlySet<string>, pluginId: string, reads: Read[]): IntentView {
    const list = <T extends { id: string }>(kind: RowKind, rows: Iterable<T>, filter: IntentFilter | undefined, resourceKind?: string): Promise<T[]> => {
      reads.push({ kind, filter, ...(resourceKind ? { resourceKind } : {}) });
      return Promise.resolve(this.select(rows, filter));
    };
    return {
      hosts: (filter) => list('Host', [...this.hosts.values()].map(sdkHost), filter),
      networks: (filter) => list('Network', [...this.networks.values()].map(sdkNetwork), filter),
      subnets: (filter) => list('Subnet', this.subnetsFor(filter), filter),
      ports: (filter) => list('Port', [...this.portsFor(filter)].map(sdkPort), filter),
      resources: <S>(kind: string, filter?: IntentFilter) => {
        if (!pluginKinds.has(kind)) throw new Error(`plugin ${pluginId} asked for resources of ${kind}, not one of its kinds`);
        return list('Resource', [...this.resources.values()].filter((r) => r.kind === kind), filter, kind) as Promise<ResourceRow<S>[]>;
      },
      observed: <V>(kind: string, filter?: IntentFilter) => {
        if (!pluginKinds.has(kind)) throw new Error(`plugin ${pluginId} asked for what was observed of ${kind}, not one of its kinds`);
        const rows = filter?.ids ? filter.ids.flatMap((id) => [...(this.observed.get(id)?.values() ?? [])]) : [...this.observed.values()].flatMap((byHost) => [...byHost.values()]);
        reads.push({ kind: 'Observed', filter, resourceKind: kind });
        const out = rows.filter((r) => r.kind === kind && matchesFilter(r, filter));
        return Promise.resolve(out.sort((a, b) => byId(a, b) || (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0)).map((r) => ({ id: r.id, hostId: r.hostId, value: r.value as V })));
      },
    };
  }

  private select<T extends { id: string }>(rows: Iterable<T>, filter: IntentFilter | undefined): T[] {
    const out: T[] = [];
    for (const row of rows) if (matchesFilter(row, filter)) out.push(row);
    return out.sort(byId);
  }

  /** Candidate ports for a filter, through the indexes when it names ids or networks. */
  private *portsFor(filter: IntentFilter | undefined): Iterable<PortRow> {
    if (filter?.ids) {
      for (const id of filter.ids) {
        const port = this.ports.get(id);
        if (port) yield port;
      }
    } else if (filter?.networkIds) {
      for (const networkId of new Set(filter.networkIds)) {
        for (const set of this.portsOf(networkId).values()) for (const id of set) yield this.ports.get(id)!;
      }
    } else {
      yield* this.ports.values();
    }
  }

  private subnetsFor(filter: IntentFilter | undefined): SubnetRow[] {
    if (!filter?.ids) return [...this.subnets.values()];
    return filter.ids.map((id) => this.subnets.get(id)).filter((s): s is SubnetRow => s !== undefined);
  }

  private indexPort(port: PortRow, add: boolean): void {
    const byHost = this.portsByNetwork.get(port.networkId) ?? new Map<string, Set<string>>();
    const set = byHost.get(port.hostId) ?? new Set<string>();
    if (add) set.add(port.id);
    else set.delete(port.id);
    if (set.size) byHost.set(port.hostId, set);
    else byHost.delete(port.hostId);
    if (byHost.size) this.portsByNetwork.set(port.networkId, byHost);
    else this.portsByNetwork.delete(port.networkId);
    for (const ip of port.fixedIps) {
      const ports = this.portsBySubnet.get(ip.subnetId) ?? new Set<string>();
      if (add) ports.add(port.id);
      else ports.delete(port.id);
      if (ports.size) this.portsBySubnet.set(ip.subnetId, ports);
      else this.portsBySubnet.delete(ip.subnetId);
    }
  }
}

function swap<T>(map: Map<string, T>, id: string, after: T | undefined): T | undefined {
  const before = map.get(id);
  if (after === undefined) map.delete(id);
  else map.set(id, after);
  return before;
}

function fixedIpsByPort(allocations: Pick<IpAllocation, 'portId' | 'subnetId' | 'ipAddress'>[]): Map<string, { subnetId: string; ipAddress: string }[]> {
  const out = new Map<string, { subnetId: string; ipAddress: string }[]>();
  for (const a of allocations) if (a.portId) out.set(a.portId, [...(out.get(a.portId) ?? []), { subnetId: a.subnetId, ipAddress: a.ipAddress }]);
  for (const list of out.values()) list.sort((x, y) => (x.subnetId < y.subnetId ? -1 : x.subnetId > y.subnetId ? 1 : x.ipAddress < y.ipAddress ? -1 : 1));
  return out;
}

const hostRow = (h: Host): HostRow => ({ id: h.id, name: h.name, vtepAddress: h.vtepAddress, underlayMtu: h.underlayMtu ?? null, labels: labelRecord(h.labels) });
const networkRow = (n: Network): NetworkRow => ({
  id: n.id,
  name: n.name,
  generation: n.generation,
  vni: n.vni,
  mtu: n.mtu ?? null,
  providerInterface: n.providerInterface ?? null,
  vlanId: n.vlanId ?? null,
});
const subnetRow = (s: Subnet): SubnetRow => ({
  id: s.id,
  networkId: s.networkId,
  name: s.name,
  ipVersion: s.ipVersion === 6 ? 6 : 4,
  cidr: s.cidr,
  gatewayIp: s.gatewayIp,
});
const portRow = (p: Port, fixedIps: { subnetId: string; ipAddress: string }[]): PortRow => ({
  id: p.id,
  name: p.name,
  networkId: p.networkId,
  hostId: p.hostId,
  generation: p.generation,
  macAddress: p.macAddress,
  netns: p.netns ?? null,
  portSecurity: p.portSecurity !== false,
  allowedAddressPairs: p.allowedAddressPairs ?? [],
  labels: labelRecord(p.labels),
  fixedIps,
});
const sdkHost = (h: HostRow) => ({ id: h.id, name: h.name, vtepAddress: h.vtepAddress, labels: h.labels });
const sdkNetwork = (n: NetworkRow) => ({ id: n.id, name: n.name, vni: n.vni, mtu: n.mtu, providerInterface: n.providerInterface ?? null });
const sdkPort = (p: PortRow) => ({
  id: p.id,
  name: p.name,
  networkId: p.networkId,
  hostId: p.hostId,
  macAddress: p.macAddress,
  fixedIps: p.fixedIps,
  labels: p.labels,
});
