import {
  type AddressReservation,
  badInput,
  conflict,
  deriveMac,
  type DesiredPluginResource,
  definePlugin,
  type ChangeSet,
  type HostContext,
  type IntentView,
  type PluginResource,
  type PluginStatus,
  RealizationState,
  subnetContaining,
  t,
} from '@netloom/plugin-sdk';

/** What the API stores for a Router (optional fields are null when absent). */
export interface RouterSpec {
  hostId?: string | null;
  interfaces: { subnetId: string; ipAddress?: string | null }[];
  routes: { destination: string; nexthop: string }[];
  externalNetworkId?: string | null;
  externalAddress?: string | null;
  snat?: boolean | null;
  floatingIps: { portId: string; address: string }[];
}

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

const prefixOf = (cidr: string): string => cidr.split('/')[1];
const familyOf = (ip: string): 4 | 6 => (ip.includes(':') ? 6 : 4);

/** The interface's address: the one given, or its subnet's gateway. */
const legAddress = (i: RouterSpec['interfaces'][number], subnet: Subnet | undefined): string | undefined => i.ipAddress ?? subnet?.gatewayIp;

/**
 * The host of every router, in creation (id) order: a pinned router counts on its host; an
 * unpinned one goes to the host with the fewest routers so far (ties: the lowest host id). A
 * router's choice depends only on the routers created before it, so creating more never moves it.
 */
function schedule(routers: PluginResource<RouterSpec>[], hostIds: string[]): Map<string, string> {
  const hosts = [...hostIds].sort();
  const count = new Map(hosts.map((h) => [h, 0]));
  const chosen = new Map<string, string>();
  for (const r of [...routers].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    let host = r.spec.hostId ?? undefined;
    if (!host) {
      for (const h of hosts) if (host === undefined || count.get(h)! < count.get(host)!) host = h;
    }
    if (!host) continue;
    chosen.set(r.id, host);
    count.set(host, (count.get(host) ?? 0) + 1);
  }
  return chosen;
}

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
  const ports = await intent.ports();
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
    const port = ports.find((p) => p.id === f.portId);
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
  const subnets = await intent.subnets();
  const mtus = new Map((await intent.networks()).map((n) => [n.id, n.mtu ?? DEFAULT_MTU]));
  let hostId = spec.hostId ?? undefined;
  if (!hostId) {
    const hosts = (await intent.hosts()).map((h) => h.id);
    hostId = schedule([...(await intent.resources<RouterSpec>('Router')).filter((r) => r.id !== router.id), router], hosts).get(router.id);
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
      ? subnets.find((s) => s.networkId === spec.externalNetworkId && subnetContaining(spec.externalAddress!, [s.cidr]))
      : undefined;
  if (externalSubnet && spec.externalAddress) {
    const ports = await intent.ports();
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
    'chain prerouting {',
    'type nat hook prerouting priority dstnat; policy accept;',
    ...pre,
    '}',
    'chain postrouting {',
    'type nat hook postrouting priority srcnat; policy accept;',
    ...post,
    '}',
  ].join('\n');
}

/** `10.0.0.5` → `10.0.0.5/32`, as `ip route` shows host routes without a prefix. */
const asCidr = (dst: string): string => (dst === 'default' || dst.includes('/') ? dst : `${dst}/${dst.includes(':') ? 128 : 32}`);
const isDefault = (dst: string): boolean => dst === 'default' || dst === '0.0.0.0/0' || dst === '::/0';

/** Namespaces whose forwarding this process has switched on (sysctls cannot be read through the host context). */
const forwarding = new Set<string>();

interface Interface {
  /** Inside the namespace. */
  name: string;
  /** The host end. */
  hostEnd: string;
  bridge: string;
  mac: string;
  mtu?: number;
  addresses: string[];
}

async function reconcileRouters(desired: DesiredPluginResource[], host: HostContext): Promise<PluginStatus[]> {
  const existing = new Set(await host.ownedNetns());
  const hostLinks = new Map((await host.ownedLinks()).map((l) => [l.ifname, l]));
  const statuses: PluginStatus[] = [];
  const wantedNetns = new Set<string>();
  const wantedLinks = new Set<string>();
  const plans: { id: string; netns: string; spec: RouterPlacement; fresh: boolean }[] = [];
  const failedEarly = new Map<string, string>();

  const work: ((changes: ChangeSet) => void)[] = [];
  for (const r of desired) {
    const spec = r.spec as RouterPlacement;
    const netns = host.netnsName(r.id);
    wantedNetns.add(netns);
    const interfaces: Interface[] = spec.legs.map((leg, i) => ({
      name: `r${i}`,
      hostEnd: host.linkName(r.id, String(i)),
      bridge: host.networkBridge(leg.networkId) ?? '',
      mac: leg.mac,
      mtu: leg.mtu,
      addresses: [leg.cidr],
    }));
    if (spec.external) {
      const prefix = spec.external.cidr.split('/')[1];
      interfaces.push({
        name: 'ext0',
        hostEnd: host.linkName(r.id, 'ext'),
        bridge: host.networkBridge(spec.external.networkId) ?? '',
        mac: spec.external.mac,
        mtu: spec.external.mtu,
        addresses: [spec.external.cidr, ...spec.external.floating.map((f) => `${f}/${prefix}`)],
      });
    }
    const legNetworks = [...spec.legs.map((l) => l.networkId), ...(spec.external ? [spec.external.networkId] : [])];
    const missing = legNetworks.find((n) => !host.networkBridge(n));
    // Its namespace and legs stay as they are (never collected) until the network is back.
    for (const i of interfaces) wantedLinks.add(i.hostEnd);
    if (missing) {
      failedEarly.set(r.id, `network ${missing} is not on this host`);
      continue;
    }
    const fresh = !existing.has(netns);
    plans.push({ id: r.id, netns, spec, fresh });
    // Read inside only when the namespace is there already.
    const inside = fresh ? [] : await host.links(netns).catch(() => []);
    const insideAddrs = fresh ? [] : await host.addresses(netns).catch(() => []);
    const v6 = interfaces.some((i) => i.addresses.some((a) => a.includes(':')));
    const routes = fresh ? [] : [...(await host.routes(netns, 4).catch(() => [])), ...(v6 ? await host.routes(netns, 6).catch(() => []) : [])];

    work.push((changes) => {
      if (fresh) changes.netnsAdd(netns, r.id);
      const ns = changes.in(netns);
      const lo = inside.find((l) => l.ifname === 'lo');
      if (!lo?.up) ns.linkSet('lo', { up: true }, r.id);
      for (const i of interfaces) {
        const hostEnd = hostLinks.get(i.hostEnd);
        const peer = inside.find((l) => l.ifname === i.name);
        const rebuild = !hostEnd || hostEnd.master !== i.bridge || !peer || peer.address !== i.mac;
        if (rebuild) {
          if (!hostEnd && peer) {
            // A peer without its host end (should not happen): remove it now, re-create next pass.
            ns.linkDel(i.name, r.id);
            continue;
          }
          if (hostEnd) changes.host.linkDel(i.hostEnd, r.id);
          changes.host.vethAdd(i.hostEnd, { peer: i.name, peerNetns: netns, master: i.bridge, mtu: i.mtu }, r.id);
          changes.host.linkSet(i.hostEnd, { up: true }, r.id);
          ns.linkSet(i.name, { address: i.mac }, r.id).linkSet(i.name, { up: true }, r.id);
          for (const a of i.addresses) ns.addrReplace(a, i.name, r.id);
          continue;
        }
        if (i.mtu !== undefined && hostEnd.mtu !== i.mtu) changes.host.linkSet(i.hostEnd, { mtu: i.mtu }, r.id);
        if (i.mtu !== undefined && peer.mtu !== i.mtu) ns.linkSet(i.name, { mtu: i.mtu }, r.id);
        if (!hostEnd.up) changes.host.linkSet(i.hostEnd, { up: true }, r.id);
        if (!peer.up) ns.linkSet(i.name, { up: true }, r.id);
        const have = (insideAddrs.find((a) => a.ifname === i.name)?.addresses ?? [])
          .filter((a) => !(a.family === 6 && a.local.toLowerCase().startsWith('fe80:')))
          .map((a) => `${a.local}/${a.prefixlen}`);
        for (const a of i.addresses) if (!have.includes(a)) ns.addrReplace(a, i.name, r.id);
        for (const a of have) if (!i.addresses.includes(a)) ns.addrDel(a, i.name, r.id);
      }
      // Legs no longer in the spec: their host ends are collected below (the peers go with
      // them); a peer whose host end is already gone is removed here.
      const names = new Set(interfaces.map((i) => i.name));
      for (const l of inside) {
        if (l.ifname === 'lo' || names.has(l.ifname)) continue;
        const hostEnd = l.ifname === 'ext0' ? host.linkName(r.id, 'ext') : /^r\d+$/.test(l.ifname) ? host.linkName(r.id, l.ifname.slice(1)) : undefined;
        if (!hostEnd || !hostLinks.has(hostEnd)) ns.linkDel(l.ifname, r.id);
      }
      // Routes: the static ones and the default via the external gateway; others with a gateway go.
      const want: { dst: string; via: string; dev: string }[] = [];
      for (const route of spec.routes) {
        const leg = interfaces.find((i) => i.name !== 'ext0' && subnetContaining(route.nexthop, i.addresses) !== undefined);
        if (leg) want.push({ dst: route.destination, via: route.nexthop, dev: leg.name });
      }
      if (spec.external) want.push({ dst: 'default', via: spec.external.gateway, dev: 'ext0' });
      const same = (a: string, b: string): boolean => (isDefault(a) && isDefault(b)) || asCidr(a) === asCidr(b);
      for (const w of want) {
        const current = routes.find((x) => same(x.dst, w.dst));
        if (!current || current.gateway !== w.via || current.dev !== w.dev) ns.routeReplace(w, r.id);
      }
      for (const x of routes) {
        if (x.gateway && !want.some((w) => same(x.dst, w.dst))) ns.routeDel({ dst: isDefault(x.dst) ? 'default' : asCidr(x.dst), via: x.gateway }, r.id);
      }
    });
  }
  const result = await host.apply((changes) => {
    for (const w of work) w(changes);
    // Garbage collection: routers no longer desired (their legs go with their namespaces), and stray host ends.
    for (const netns of existing) {
      if (!wantedNetns.has(netns)) {
        changes.netnsDel(netns);
        forwarding.delete(netns);
      }
    }
    for (const name of hostLinks.keys()) if (!wantedLinks.has(name)) changes.host.linkDel(name);
  });

  const failed = new Map<string, string>();
  for (const f of result.failed) if (f.key !== undefined && !failed.has(f.key)) failed.set(f.key, f.error);
  for (const r of desired) {
    const early = failedEarly.get(r.id);
    if (early) {
      statuses.push({ id: r.id, state: RealizationState.FAILED, reason: early });
      continue;
    }
    const plan = plans.find((p) => p.id === r.id)!;
    let reason = failed.get(r.id);
    if (!reason) {
      try {
        if (plan.fresh) forwarding.delete(plan.netns);
        if (!forwarding.has(plan.netns)) {
          await host.sysctl(plan.netns, 'net.ipv4.ip_forward', '1');
          const v6 = [...plan.spec.legs, ...(plan.spec.external ? [plan.spec.external] : [])].some((l) => l.cidr.includes(':'));
          if (v6) await host.sysctl(plan.netns, 'net.ipv6.conf.all.forwarding', '1');
          forwarding.add(plan.netns);
        }
        await host.nftTable(natTable(plan.spec), plan.netns);
      } catch (error) {
        reason = error instanceof Error ? error.message : String(error);
      }
    }
    statuses.push(reason ? { id: r.id, state: RealizationState.FAILED, reason } : { id: r.id, state: RealizationState.APPLIED, attributes: { netns: plan.netns } });
  }
  return statuses;
}

/**
 * `netloom.router`: a namespace per router with one leg per attached subnet (holding its gateway
 * address by default), forwarding on, static routes, and toward an optional external network a
 * default route, SNAT of the inside subnets and floating IPs (DNAT/SNAT) in its own nftables table.
 */
export const router = definePlugin<RouterSpec>({
  id: 'netloom.router',
  version: '0.1.0',
  sdk: 1,
  kinds: {
    Router: {
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
            portId: t.ref('Port', { description: 'A port on a network attached to the router.' }),
            address: t.ip({ description: 'An address of the external network, mapped one-to-one to the port.' }),
          }),
        ),
      },
    },
  },

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
