import ipaddr from 'ipaddr.js';
import {
  type AddressReservation,
  badInput,
  conflict,
  type ControllerHalf,
  type FilterableRow,
  type IntentFilter,
  type IntentView,
  type Kinds,
  matchesFilter,
  type Placement,
  type PluginDefinition,
  type PluginResource,
  type SpecOf,
} from '@netloom/plugin-sdk';

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
  /**
   * What hosts observed of resources, as the controller half's `observedForPlacement` kept it
   * (call it on an agent's report to test both together): what `intent.observed()` returns.
   */
  observed?: { kind: string; id: string; hostId: string; value: unknown }[];
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
    labels: {},
    ...p,
  }));
  const resources: PluginResource[] = (intent.resources ?? []).map((r) => ({ name: r.id, generation: 1, labels: {}, ...r }));
  const read = <T extends FilterableRow>(rows: T[], filter?: IntentFilter): Promise<T[]> =>
    Promise.resolve(rows.filter((r) => matchesFilter(r, filter)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
  return {
    hosts: (filter) => read(hosts, filter),
    networks: (filter) => read(networks, filter),
    subnets: (filter) => read(subnets, filter),
    ports: (filter) => read(ports, filter),
    resources: <S>(kind: string, filter?: IntentFilter) => read(resources.filter((r) => r.kind === kind) as PluginResource<S>[], filter),
    observed: <V>(kind: string, filter?: IntentFilter) =>
      Promise.resolve(
        (intent.observed ?? [])
          .filter((o) => o.kind === kind && matchesFilter(o, filter))
          .map((o) => ({ id: o.id, hostId: o.hostId, value: o.value as V }))
          .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0)),
      ),
  };
}

/**
 * Runs a plugin's controller half on one resource as the controller would after the schema
 * checks: `validate` (its errors are thrown as they are), `reserve`, then `place`. The resource
 * itself is left out of `intent.resources()`. A reservation without `ipAddress` gets the lowest
 * free host address of its subnet, as the core's IPAM would (neither the network, gateway nor
 * broadcast address, nor one a port, this resource or another resource of the plugin holds or
 * announces as an endpoint),
 * written into the spec field `assignTo`: `reservations` are as `reserve` returned them, `spec`
 * is the spec with the picked addresses (the one `place` sees, and the API would show).
 */
export async function runController<K extends Kinds, D, N extends keyof K & string>(
  plugin: PluginDefinition<K, D>,
  kind: N,
  resource: Pick<PluginResource<SpecOf<K[N]>>, 'spec'> & Partial<PluginResource<SpecOf<K[N]>>>,
  intent: IntentView = inMemoryIntent(),
): Promise<{ placements: Placement<D>[]; reservations: AddressReservation[]; spec: SpecOf<K[N]> }> {
  if (!(kind in plugin.kinds)) throw new Error(`plugin ${plugin.id} has no kind ${kind}`);
  const controller = plugin.controller;
  if (!controller) throw new Error(`plugin ${plugin.id} has no controller half`);
  const full: PluginResource<SpecOf<K[N]>> = { id: 'r1', name: 'r1', generation: 1, labels: {}, ...resource, kind };
  const view: IntentView = {
    ...intent,
    resources: async <T>(k: string, filter?: IntentFilter) => (await intent.resources<T>(k, filter)).filter((r) => r.id !== full.id),
  };
  await controller.validate?.(full, view);
  const reservations = (await controller.reserve?.(full, view)) ?? [];
  let held: Set<string> | undefined;
  for (const r of reservations) {
    if (r.ipAddress !== undefined && r.ipAddress !== null) continue;
    const subnet = (await intent.subnets()).find((s) => s.id === r.subnetId);
    if (!subnet) throw badInput(`subnet ${r.subnetId} does not exist`, r.field);
    const what = `plugin ${plugin.id}: reserve() of ${kind} ${full.name} asked for an address in subnet ${r.subnetId}`;
    if (!r.assignTo) throw new Error(`${what} with neither ipAddress nor assignTo`);
    if (plugin.kinds[kind].fields[r.assignTo]?.type !== 'ip') throw new Error(`${what} for ${r.assignTo}, which is not a top-level ip field of ${kind}`);
    held ??= await heldAddresses(controller, plugin, view, reservations);
    const ipAddress = lowestFree(subnet.cidr, subnet.gatewayIp, held);
    if (!ipAddress) throw conflict(`no free address in subnet ${subnet.name}`, r.field);
    held.add(ipAddress);
    full.spec = { ...full.spec, [r.assignTo]: ipAddress };
  }
  return { placements: await controller.place(full, view), reservations, spec: full.spec };
}

const canonical = (ip: string): string => ipaddr.parse(ip).toString();

/**
 * Addresses IPAM must skip: ports' addresses, what this resource and the plugin's other resources
 * reserve by address, and what the other resources' placements announce as endpoints.
 */
async function heldAddresses<S, D>(
  controller: ControllerHalf<PluginResource<S>, D>,
  plugin: PluginDefinition,
  view: IntentView,
  own: AddressReservation[],
): Promise<Set<string>> {
  const addresses = [...(await view.ports()).flatMap((p) => p.fixedIps.map((f) => f.ipAddress)), ...own.flatMap((r) => (r.ipAddress ? [r.ipAddress] : []))];
  for (const kind of Object.keys(plugin.kinds)) {
    for (const other of await view.resources<S>(kind)) {
      addresses.push(...((await controller.reserve?.(other, view)) ?? []).flatMap((r) => (r.ipAddress ? [r.ipAddress] : [])));
      const placements = await Promise.resolve(controller.place(other, view)).catch(() => []);
      addresses.push(...placements.flatMap((p) => (p.endpoints ?? []).flatMap((e) => e.ips)));
    }
  }
  return new Set(addresses.map(canonical));
}

/** The lowest host address of `cidr` that is neither its gateway nor held (IPv4: nor the broadcast address). */
function lowestFree(cidr: string, gatewayIp: string, held: ReadonlySet<string>): string | undefined {
  const [network, prefix] = ipaddr.parseCIDR(cidr);
  const octets = network.toByteArray();
  const bytes = octets.length;
  const hostMask = (1n << BigInt(bytes * 8 - prefix)) - 1n;
  const first = octets.reduce((acc, byte) => (acc << 8n) | BigInt(byte), 0n) & ~hostMask;
  const last = first | hostMask;
  const gateway = canonical(gatewayIp);
  for (let value = first + 1n; value <= (bytes === 4 ? last - 1n : last); value++) {
    const text = ipaddr.fromByteArray(Array.from({ length: bytes }, (_, i) => Number((value >> BigInt(8 * (bytes - 1 - i))) & 0xffn))).toString();
    if (text !== gateway && !held.has(text)) return text;
  }
  return undefined;
}
