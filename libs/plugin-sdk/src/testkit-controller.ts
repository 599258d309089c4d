import type { AddressReservation, IntentView, Placement, PluginDefinition, PluginResource } from './plugin';

type HostRow = Awaited<ReturnType<IntentView['hosts']>>[number];
type NetworkRow = Awaited<ReturnType<IntentView['networks']>>[number];
type SubnetRow = Awaited<ReturnType<IntentView['subnets']>>[number];
type PortRow = Awaited<ReturnType<IntentView['ports']>>[number];

/** The core intent and plugin resources a controller-half test starts from; omitted fields get defaults. */
export interface InMemoryIntent {
  hosts?: (Pick<HostRow, 'id'> & Partial<HostRow>)[];
  networks?: (Pick<NetworkRow, 'id'> & Partial<NetworkRow>)[];
  subnets?: (Pick<SubnetRow, 'id' | 'networkId' | 'cidr'> & Partial<SubnetRow>)[];
  ports?: (Pick<PortRow, 'id' | 'networkId' | 'hostId'> & Partial<PortRow>)[];
  resources?: (Pick<PluginResource, 'kind' | 'id' | 'spec'> & Partial<PluginResource>)[];
}

/**
 * An {@link IntentView} over plain arrays, for unit tests of a plugin's controller half without a
 * database. Names default to ids, labels to `{}`, generations to 1.
 */
export function inMemoryIntent(intent: InMemoryIntent = {}): IntentView {
  const hosts = (intent.hosts ?? []).map((h, i) => ({ name: h.id, vtepAddress: `192.0.2.${i + 1}`, labels: {}, ...h }));
  const networks = (intent.networks ?? []).map((n, i) => ({ name: n.id, vni: 100 + i, mtu: null, ...n }));
  const subnets = (intent.subnets ?? []).map((s) => ({
    name: s.id,
    gatewayIp: s.cidr.split('/')[0],
    ipVersion: s.cidr.includes(':') ? (6 as const) : (4 as const),
    ...s,
  }));
  const ports = (intent.ports ?? []).map((p, i) => ({
    name: p.id,
    macAddress: `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`,
    fixedIps: [],
    ...p,
  }));
  const resources: PluginResource[] = (intent.resources ?? []).map((r) => ({ name: r.id, generation: 1, labels: {}, ...r }));
  return {
    hosts: () => Promise.resolve(hosts),
    networks: () => Promise.resolve(networks),
    subnets: () => Promise.resolve(subnets),
    ports: () => Promise.resolve(ports),
    resources: <S>(kind: string) => Promise.resolve(resources.filter((r) => r.kind === kind) as PluginResource<S>[]),
  };
}

/**
 * Runs a plugin's controller half on one resource as the controller would after the schema
 * checks: `validate` (its errors are thrown as they are), then `place`. The resource itself is left
 * out of `intent.resources()`.
 */
export async function runController<S>(
  plugin: PluginDefinition<S>,
  kind: string,
  resource: Pick<PluginResource<S>, 'spec'> & Partial<PluginResource<S>>,
  intent: IntentView = inMemoryIntent(),
): Promise<{ placements: Placement[]; reservations: AddressReservation[] }> {
  if (!(kind in plugin.kinds)) throw new Error(`plugin ${plugin.id} has no kind ${kind}`);
  if (!plugin.controller) throw new Error(`plugin ${plugin.id} has no controller half`);
  const full: PluginResource<S> = { id: 'r1', name: 'r1', generation: 1, labels: {}, ...resource, kind };
  const view: IntentView = {
    ...intent,
    resources: async <T>(k: string) => (await intent.resources<T>(k)).filter((r) => r.id !== full.id),
  };
  await plugin.controller.validate?.(full, view);
  return { placements: await plugin.controller.place(full, view), reservations: (await plugin.controller.reserve?.(full, view)) ?? [] };
}
