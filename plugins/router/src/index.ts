import {
  type AddressReservation,
  type Appliance,
  type ApplianceLeg,
  badInput,
  conflict,
  deriveMac,
  type DesiredPluginResource,
  definePlugin,
  type HostContext,
  inParallel,
  type IntentView,
  type KindDefinition,
  nftBaseChain,
  type PluginResource,
  type PluginStatus,
  RealizationState,
  reconcileAppliances,
  type SpecOf,
  spreadOverHosts,
  subnetContaining,
  t,
} from '@netloom/plugin-sdk';

const routerKind = {
  description: 'A router: a namespace on one host with a leg per attached subnet, static routes, and SNAT/floating IPs toward an external network.',
  fields: {
    hostId: t.ref('Host', { required: false, description: 'Where it runs; absent: the host with the fewest routers (ties: the lowest host id).' }),
    interfaces: t.list(
      t.object('Interface', {
        subnetId: t.ref('Subnet'),
        ipAddress: t.ip({ required: false, description: "The router's address on the subnet; default: the subnet's gateway." }),
      }),
    ),
    routes: t.list(t.object('Route', { destination: t.cidr(), nexthop: t.ip({ description: "In one of the router's interface subnets." }) })),
    externalNetworkId: t.ref('Network', { required: false, description: 'The network toward the outside: default route, SNAT, floating IPs.' }),
    externalAddress: t.ip({ required: false, description: "The router's address on the external network (required with it)." }),
    snat: t.boolean({ required: false, description: 'Source-NAT the inside subnets to externalAddress (default true with an external network).' }),
    floatingIps: t.list(
      t.object('FloatingIp', {
        portId: t.ref('Port', { blocksDelete: true, description: 'A port on a network attached to the router; it cannot be deleted while it has the floating IP.' }),
        address: t.ip({ description: 'An address of the external network, mapped one-to-one to the port.' }),
      }),
    ),
  },
} satisfies KindDefinition;

/** What the API stores for a Router: inferred from its schema (optional fields are null when absent). */
export type RouterSpec = SpecOf<typeof routerKind>;

/** One leg of a router on an inside network. */
export interface RouterLeg {
  networkId: string;
  /** `address/prefix`. */
  cidr: string;
  mac: string;
  /**
   * The network's MTU: its own, or 1450 (the default underlay's 1500 less VXLAN's 50) — the SDK
   * does not show hosts' underlay MTUs, so a network on a smaller underlay needs its MTU set.
   */
  mtu?: number;
}

/** What the router's host receives. */
export interface RouterPlacement {
  legs: RouterLeg[];
  external?: RouterLeg & { gateway: string; floating: string[] };
  routes: { destination: string; nexthop: string }[];
  /** Inside subnets source-NATed to the external address (empty without SNAT). */
  snatSources: string[];
  floatingIps: { address: string; internal: string }[];
}

type Subnet = Awaited<ReturnType<IntentView['subnets']>>[number];

/** Whether two CIDRs share any address. */
function overlaps(a: string, b: string): boolean {
  return subnetContaining(a.split('/')[0], [b]) !== undefined || subnetContaining(b.split('/')[0], [a]) !== undefined;
}

/** A network's MTU when it has none of its own: the default underlay MTU (1500) less VXLAN's 50. */
const DEFAULT_MTU = 1450;
const PROVIDER_MTU = 1500;

const prefixOf = (cidr: string): string => cidr.split('/')[1];
const familyOf = (ip: string): 4 | 6 => (ip.includes(':') ? 6 : 4);

/** The interface's address: the one given, or its subnet's gateway. */
const legAddress = (i: RouterSpec['interfaces'][number], subnet: Subnet | undefined): string | undefined => i.ipAddress ?? subnet?.gatewayIp;

/** Addresses held by other routers: interfaces (by subnet), external addresses and floating IPs. */
function routerAddresses(others: PluginResource<RouterSpec>[], subnets: Subnet[]): Map<string, string> {
  const held = new Map<string, string>();
  for (const r of others) {
    for (const i of r.spec.interfaces ?? []) {
      const address = legAddress(i, subnets.find((s) => s.id === i.subnetId));
      if (address) held.set(address, r.name);
    }
    if (r.spec.externalAddress) held.set(r.spec.externalAddress, r.name);
    for (const f of r.spec.floatingIps ?? []) held.set(f.address, r.name);
  }
  return held;
}

async function validateRouter(router: PluginResource<RouterSpec>, intent: IntentView): Promise<void> {
  const spec = router.spec;
  const interfaces = spec.interfaces ?? [];
  const floatingIps = spec.floatingIps ?? [];
  const subnets = await intent.subnets();
  // Only the ports that can hold an address the router wants (on its networks), and those given a floating IP: not the site's.
  const networkIds = new Set(interfaces.flatMap((i) => subnets.find((s) => s.id === i.subnetId)?.networkId ?? []));
  if (spec.externalNetworkId) networkIds.add(spec.externalNetworkId);
  const ports = networkIds.size ? await intent.ports({ networkIds: [...networkIds] }) : [];
  const floatingPorts = floatingIps.length ? await intent.ports({ ids: floatingIps.map((f) => f.portId) }) : [];
  const others = await intent.resources<RouterSpec>('Router');
  const portIps = new Map<string, string>();
  for (const p of ports) for (const ip of p.fixedIps) portIps.set(ip.ipAddress, p.name);
  const held = routerAddresses(others, subnets);

  if (!spec.hostId && (await intent.hosts()).length === 0) throw badInput('there is no host to place the router on', 'input.hostId');

  // Inside interfaces.
  const attached: Subnet[] = [];
  for (const [n, i] of interfaces.entries()) {
    const path = `input.interfaces.${n}`;
    const subnet = subnets.find((s) => s.id === i.subnetId);
    if (!subnet) throw badInput(`subnet ${i.subnetId} does not exist`, `${path}.subnetId`);
    if (spec.externalNetworkId && subnet.networkId === spec.externalNetworkId) {
      throw badInput(`subnet ${subnet.name} is on the router's external network`, `${path}.subnetId`);
    }
    const clash = attached.find((a) => overlaps(a.cidr, subnet.cidr));
    if (clash) throw badInput(`subnet ${subnet.name} (${subnet.cidr}) overlaps ${clash.name} (${clash.cidr}), already an interface of this router`, `${path}.subnetId`);
    if (i.ipAddress && !subnetContaining(i.ipAddress, [subnet.cidr])) {
      throw badInput(`${i.ipAddress} is not in subnet ${subnet.name} (${subnet.cidr})`, `${path}.ipAddress`);
    }
    const address = legAddress(i, subnet)!;
    const owner = others.find((r) => (r.spec.interfaces ?? []).some((o) => o.subnetId === subnet.id && legAddress(o, subnet) === address));
    if (owner) throw conflict(`subnet ${subnet.name} is already attached to router ${owner.name} at ${address}`, `${path}.subnetId`);
    if (held.has(address)) throw conflict(`${address} is already used by router ${held.get(address)}`, `${path}.ipAddress`);
    if (portIps.has(address)) throw conflict(`${address} is already used by port ${portIps.get(address)}`, `${path}.ipAddress`);
    attached.push(subnet);
  }

  // External network, its address and floating IPs.
  const external = spec.externalNetworkId ? subnets.filter((s) => s.networkId === spec.externalNetworkId) : [];
  const checkExternal = (address: string, path: string, what: string): void => {
    const cidr = subnetContaining(address, external.map((s) => s.cidr));
    if (!cidr) throw badInput(`${what} ${address} is in no subnet of the external network`, path);
    if (external.some((s) => s.gatewayIp === address)) throw badInput(`${what} ${address} is the external subnet's gateway`, path);
    if (held.has(address)) throw conflict(`${what} ${address} is already used by router ${held.get(address)}`, path);
    if (portIps.has(address)) throw conflict(`${what} ${address} is already used by port ${portIps.get(address)}`, path);
  };
  if (spec.externalNetworkId) {
    if (!spec.externalAddress) throw badInput('externalAddress is required with externalNetworkId', 'input.externalAddress');
    checkExternal(spec.externalAddress, 'input.externalAddress', 'externalAddress');
  } else if (spec.externalAddress) {
    throw badInput('externalAddress needs externalNetworkId', 'input.externalAddress');
  }
  if (floatingIps.length && !spec.externalNetworkId) throw badInput('floating IPs need an external network (externalNetworkId)', 'input.floatingIps');
  const attachedNetworks = new Set(attached.map((s) => s.networkId));
  for (const [n, f] of floatingIps.entries()) {
    const path = `input.floatingIps.${n}`;
    checkExternal(f.address, `${path}.address`, 'floating IP');
    if (f.address === spec.externalAddress) throw badInput(`floating IP ${f.address} is the router's external address`, `${path}.address`);
    if (floatingIps.findIndex((o) => o.address === f.address) !== n) throw badInput(`floating IP ${f.address} is given twice`, `${path}.address`);
    if (floatingIps.findIndex((o) => o.portId === f.portId) !== n) throw badInput(`port ${f.portId} already has a floating IP on this router`, `${path}.portId`);
    const port = floatingPorts.find((p) => p.id === f.portId);
    if (!port) throw badInput(`port ${f.portId} does not exist`, `${path}.portId`);
    if (!attachedNetworks.has(port.networkId)) throw badInput(`port ${port.name} is on no network attached to the router`, `${path}.portId`);
    if (!port.fixedIps.some((ip) => attached.some((s) => s.id === ip.subnetId))) {
      throw badInput(`port ${port.name} has no address on a subnet attached to the router`, `${path}.portId`);
    }
  }

  // Static routes.
  for (const [n, r] of (spec.routes ?? []).entries()) {
    const path = `input.routes.${n}.nexthop`;
    if (familyOf(r.nexthop) !== familyOf(r.destination)) throw badInput(`nexthop ${r.nexthop} is not of the family of ${r.destination}`, path);
    if (!subnetContaining(r.nexthop, attached.map((s) => s.cidr))) throw badInput(`nexthop ${r.nexthop} is in none of the router's interface subnets`, path);
  }
}

/** The core addresses a router holds: its legs', its external address and its floating IPs. */
async function reserveRouter(router: PluginResource<RouterSpec>, intent: IntentView): Promise<AddressReservation[]> {
  const spec = router.spec;
  const subnets = await intent.subnets();
  const out: AddressReservation[] = [];
  (spec.interfaces ?? []).forEach((i, n) => {
    const subnet = subnets.find((s) => s.id === i.subnetId);
    const address = legAddress(i, subnet);
    if (subnet && address) out.push({ subnetId: subnet.id, ipAddress: address, field: `input.interfaces.${n}.${i.ipAddress ? 'ipAddress' : 'subnetId'}` });
  });
  if (spec.externalNetworkId && spec.externalAddress) {
    const external = subnets.filter((s) => s.networkId === spec.externalNetworkId);
    const subnetOf = (ip: string): Subnet | undefined => {
      const cidr = subnetContaining(ip, external.map((s) => s.cidr));
      return external.find((s) => s.cidr === cidr);
    };
    const ext = subnetOf(spec.externalAddress);
    if (ext) out.push({ subnetId: ext.id, ipAddress: spec.externalAddress, field: 'input.externalAddress' });
    (spec.floatingIps ?? []).forEach((f, n) => {
      const subnet = subnetOf(f.address);
      if (subnet) out.push({ subnetId: subnet.id, ipAddress: f.address, field: `input.floatingIps.${n}.address` });
    });
  }
  return out;
}

async function placeRouter(router: PluginResource<RouterSpec>, intent: IntentView) {
  const spec = router.spec;
  const subnets = await intent.subnets({ ids: (spec.interfaces ?? []).map((i) => i.subnetId) });
  const externalSubnets = spec.externalNetworkId ? await intent.subnets({ networkIds: [spec.externalNetworkId] }) : [];
  const networkIds = [...new Set([...subnets, ...externalSubnets].map((s) => s.networkId))];
  // A network's own MTU, else what the core gives its ports: 1500 on a provider network, the overlay's default otherwise.
  const mtus = new Map((await intent.networks({ ids: networkIds })).map((n) => [n.id, n.mtu ?? (n.providerInterface ? PROVIDER_MTU : DEFAULT_MTU)]));
  let hostId = spec.hostId ?? undefined;
  if (!hostId) {
    const hosts = (await intent.hosts()).map((h) => h.id);
    const routers = [...(await intent.resources<RouterSpec>('Router')).filter((r) => r.id !== router.id), router];
    hostId = spreadOverHosts(routers.map((r) => ({ id: r.id, hostId: r.spec.hostId })), hosts).get(router.id);
  }
  if (!hostId) return [];

  // Placement follows the stored intent: a leg whose subnet went away is left out, not fatal.
  const inside: { subnet: Subnet; address: string; leg: RouterLeg }[] = [];
  for (const i of spec.interfaces ?? []) {
    const subnet = subnets.find((s) => s.id === i.subnetId);
    const address = legAddress(i, subnet);
    if (!subnet || !address) continue;
    const leg: RouterLeg = {
      networkId: subnet.networkId,
      cidr: `${address}/${prefixOf(subnet.cidr)}`,
      mac: deriveMac(`router:${router.id}:${subnet.id}`),
      mtu: mtus.get(subnet.networkId) ?? DEFAULT_MTU,
    };
    inside.push({ subnet, address, leg });
  }
  const placement: RouterPlacement = {
    legs: inside.map((l) => l.leg),
    routes: (spec.routes ?? []).map((r) => ({ destination: r.destination, nexthop: r.nexthop })),
    snatSources: [],
    floatingIps: [],
  };
  const endpoints = inside.map((l) => ({ networkId: l.leg.networkId, mac: l.leg.mac, ips: [l.address] }));

  const externalSubnet =
    spec.externalNetworkId && spec.externalAddress
      ? externalSubnets.find((s) => subnetContaining(spec.externalAddress!, [s.cidr]))
      : undefined;
  if (externalSubnet && spec.externalAddress) {
    const ports = await intent.ports({ ids: (spec.floatingIps ?? []).map((f) => f.portId) });
    const floatingIps: RouterPlacement['floatingIps'] = [];
    for (const f of spec.floatingIps ?? []) {
      const fixed = ports.find((p) => p.id === f.portId)?.fixedIps.find((ip) => inside.some((l) => l.subnet.id === ip.subnetId));
      if (fixed) floatingIps.push({ address: f.address, internal: fixed.ipAddress });
    }
    placement.external = {
      networkId: externalSubnet.networkId,
      cidr: `${spec.externalAddress}/${prefixOf(externalSubnet.cidr)}`,
      mac: deriveMac(`router:${router.id}:external`),
      mtu: mtus.get(externalSubnet.networkId) ?? DEFAULT_MTU,
      gateway: externalSubnet.gatewayIp,
      floating: floatingIps.map((f) => f.address),
    };
    placement.floatingIps = floatingIps;
    if (spec.snat ?? true) placement.snatSources = inside.filter((l) => l.subnet.ipVersion === 4).map((l) => l.subnet.cidr);
    endpoints.push({ networkId: externalSubnet.networkId, mac: placement.external.mac, ips: [spec.externalAddress, ...placement.external.floating] });
  }
  const networks = [...new Set([...placement.legs.map((l) => l.networkId), ...(placement.external ? [placement.external.networkId] : [])])];
  return [{ hostId, spec: placement, networks, endpoints }];
}

/** The nftables body of a router's own table: floating IPs (DNAT and SNAT), then SNAT of the inside (IPv4 NAT only). */
export function natTable(p: RouterPlacement): string {
  if (!p.external) return '';
  const floating = p.floatingIps.filter((f) => familyOf(f.address) === 4 && familyOf(f.internal) === 4);
  const pre = floating.map((f) => `ip daddr ${f.address} dnat ip to ${f.internal}`);
  const post = floating.map((f) => `oifname "ext0" ip saddr ${f.internal} snat ip to ${f.address}`);
  const external = p.external.cidr.split('/')[0];
  if (p.snatSources.length && familyOf(external) === 4) post.push(`oifname "ext0" ip saddr { ${p.snatSources.join(', ')} } snat ip to ${external}`);
  if (!pre.length && !post.length) return '';
  return [
    nftBaseChain('prerouting', { type: 'nat', hook: 'prerouting', priority: 'dstnat' }, pre),
    nftBaseChain('postrouting', { type: 'nat', hook: 'postrouting', priority: 'srcnat' }, post),
  ].join('\n');
}

async function reconcileRouters(desired: DesiredPluginResource<RouterPlacement>[], host: HostContext): Promise<PluginStatus[]> {
  const appliances: Appliance[] = desired.map((r) => {
    const spec = r.spec;
    const legs: ApplianceLeg[] = spec.legs.map((leg, i) => ({ name: `r${i}`, networkId: leg.networkId, mac: leg.mac, mtu: leg.mtu, addresses: [leg.cidr] }));
    if (spec.external) {
      const prefix = spec.external.cidr.split('/')[1];
      const { networkId, mac, mtu, cidr, floating } = spec.external;
      legs.push({ name: 'ext0', networkId, mac, mtu, addresses: [cidr, ...floating.map((f) => `${f}/${prefix}`)] });
    }
    // Routes: the static ones (on the leg of their nexthop) and the default via the external gateway.
    const routes: Appliance['routes'] = [];
    for (const route of spec.routes) {
      const leg = legs.find((l) => l.name !== 'ext0' && subnetContaining(route.nexthop, l.addresses) !== undefined);
      if (leg) routes.push({ dst: route.destination, via: route.nexthop, dev: leg.name });
    }
    if (spec.external) routes.push({ dst: 'default', via: spec.external.gateway, dev: 'ext0' });
    return { id: r.id, legs, routes, forwarding: true };
  });
  const outcomes = await reconcileAppliances(host, appliances);
  const statuses: PluginStatus[] = [];
  await inParallel(outcomes, async (outcome, i) => {
    let reason = outcome.reason;
    if (outcome.state === RealizationState.APPLIED) {
      try {
        await host.nftTable(natTable(desired[i].spec), outcome.netns);
      } catch (error) {
        reason = error instanceof Error ? error.message : String(error);
      }
    }
    statuses[i] = reason ? { id: outcome.id, state: RealizationState.FAILED, reason } : { id: outcome.id, state: RealizationState.APPLIED, attributes: { netns: outcome.netns } };
  });
  return statuses;
}

/**
 * `netloom.router`: a namespace per router with one leg per attached subnet (holding its gateway
 * address by default), forwarding on, static routes, and toward an optional external network a
 * default route, SNAT of the inside subnets and floating IPs (DNAT/SNAT) in its own nftables table.
 */
export const router = definePlugin({
  id: 'netloom.router',
  version: '0.1.0',
  sdk: 1,
  kinds: { Router: routerKind },

  controller: {
    validate: validateRouter,
    place: placeRouter,
    reserve: reserveRouter,
  },

  agent: {
    reconcile: reconcileRouters,
  },
});

export default router;
