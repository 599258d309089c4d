import { EntityManager, In } from 'typeorm';
import { ErrorCode, NetloomError } from '@netloom/model';
import { IntentFilter, IntentView, matchesFilter, PluginDefinition, PluginResource as SdkResource } from '@netloom/plugin-sdk';
import { Host } from '../hosts/host.entity';
import { Network } from '../networks/network.entity';
import { IpAllocation } from '../ports/ip-allocation.entity';
import { Port } from '../ports/port.entity';
import { Subnet } from '../subnets/subnet.entity';
import { PluginResource } from './plugin-resource.entity';

/** A port as a plugin reads it. */
type SdkPort = Awaited<ReturnType<IntentView['ports']>>[number];

const labelRecord = (labels: { key: string; value: string }[]): Record<string, string> =>
  Object.fromEntries(labels.map((l) => [l.key, l.value]));

/** What a plugin sees of a stored resource. */
export const toSdkResource = (r: PluginResource): SdkResource => ({
  kind: r.kind,
  id: r.id,
  name: r.name,
  generation: r.generation,
  labels: labelRecord(r.labels),
  spec: r.spec,
});

/** The core tables as one write read them: shared by every view of that write (a plugin write changes none of them). */
export type CoreReads = Map<string, Promise<unknown>>;

/**
 * The intent as a plugin reads it, through one entity manager (the change's transaction, or the
 * dispatcher's reads). Each table is read at most once per view — the core's once per `core`,
 * which a write shares between its `validate`, `reserve` and `place` calls and the resources of
 * a batch — and filtered in memory: this view serves a write, where plugin resources change.
 */
export function databaseIntentView(em: EntityManager, plugin: PluginDefinition, exceptId?: string, core: CoreReads = new Map()): IntentView {
  const own = new Map<string, Promise<unknown>>();
  const once = async <T extends { id: string }>(key: string, filter: IntentFilter | undefined, load: () => Promise<T[]>): Promise<T[]> => {
    const cache = key.startsWith('resources:') ? own : core;
    if (!cache.has(key)) cache.set(key, load());
    return ((await cache.get(key)) as T[]).filter((row) => matchesFilter(row, filter));
  };
  return {
    hosts: (filter) =>
      once('hosts', filter, async () =>
        (await em.find(Host, { order: { id: 'ASC' } })).map((h) => ({ id: h.id, name: h.name, vtepAddress: h.vtepAddress, labels: labelRecord(h.labels) })),
      ),
    networks: (filter) =>
      once('networks', filter, async () => (await em.find(Network, { order: { id: 'ASC' } })).map((n) => ({ id: n.id, name: n.name, vni: n.vni, mtu: n.mtu, providerInterface: n.providerInterface }))),
    subnets: (filter) =>
      once('subnets', filter, async () =>
        (await em.find(Subnet, { order: { id: 'ASC' } })).map((s) => ({
          id: s.id,
          networkId: s.networkId,
          name: s.name,
          cidr: s.cidr,
          gatewayIp: s.gatewayIp,
          ipVersion: s.ipVersion === 6 ? (6 as const) : (4 as const),
        })),
      ),
    ports: (filter) => {
      // A read narrowed by ids, networks or hosts takes only the rows it can match from the store
      // (a firewall policy's ports, not the site's 10 000), unless the whole table is at hand.
      const where = filter?.ids ? { id: filter.ids } : filter?.networkIds ? { networkId: filter.networkIds } : filter?.hostIds ? { hostId: filter.hostIds } : undefined;
      if (!where || core.has('ports')) return once('ports', filter, () => portsOf(em));
      return once(`ports ${JSON.stringify(where)}`, filter, () => portsOf(em, where));
    },
    resources: <S>(kind: string, filter?: IntentFilter) => {
      if (!(kind in plugin.kinds)) throw new Error(`plugin ${plugin.id} asked for resources of ${kind}, not one of its kinds`);
      return once(`resources:${kind}`, filter, async () =>
        (await em.find(PluginResource, { where: { kind }, order: { id: 'ASC' } })).filter((r) => r.id !== exceptId).map(toSdkResource),
      ) as Promise<SdkResource<S>[]>;
    },
    // A write never waits for an agent: what hosts observed is for placements made after the commit.
    observed: () => Promise.resolve([]),
  };
}

/** Rows per `IN (…)`: well under every database's limit on bound parameters. */
const CHUNK = 500;

/** Ports as a plugin sees them (with their fixed IPs): all, or those whose one column is among some values. */
async function portsOf(em: EntityManager, where?: Partial<Record<'id' | 'networkId' | 'hostId', readonly string[]>>): Promise<SdkPort[]> {
  let ports: Port[];
  let allocations: IpAllocation[];
  if (!where) [ports, allocations] = await Promise.all([em.find(Port, { order: { id: 'ASC' } }), em.find(IpAllocation)]);
  else {
    const [column, values] = Object.entries(where)[0] as ['id' | 'networkId' | 'hostId', readonly string[]];
    ports = [];
    for (let i = 0; i < values.length; i += CHUNK) ports.push(...(await em.find(Port, { where: { [column]: In(values.slice(i, i + CHUNK)) } })));
    ports.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    allocations = [];
    for (let i = 0; i < ports.length; i += CHUNK) allocations.push(...(await em.find(IpAllocation, { where: { portId: In(ports.slice(i, i + CHUNK).map((p) => p.id)) } })));
  }
  const byPort = new Map<string, { subnetId: string; ipAddress: string }[]>();
  for (const a of allocations) {
    if (a.portId) byPort.set(a.portId, [...(byPort.get(a.portId) ?? []), { subnetId: a.subnetId, ipAddress: a.ipAddress }]);
  }
  return ports.map((p) => ({
    id: p.id,
    name: p.name,
    networkId: p.networkId,
    hostId: p.hostId,
    macAddress: p.macAddress,
    fixedIps: byPort.get(p.id) ?? [],
    labels: labelRecord(p.labels),
  }));
}

const CODES = new Set<string>(Object.values(ErrorCode));

/**
 * A plugin's error as the API reports it: the SDK's errors keep their code (even from a plugin
 * bundling its own copy of the SDK); anything else stays an internal error.
 */
export function fromPluginError(error: unknown): unknown {
  if (error instanceof NetloomError) return error;
  const e = error as { name?: unknown; code?: unknown; message?: unknown; field?: unknown } | null;
  if (e && e.name === 'NetloomError' && typeof e.code === 'string' && CODES.has(e.code)) {
    return new NetloomError(e.code as ErrorCode, String(e.message), typeof e.field === 'string' ? e.field : undefined);
  }
  return error;
}
