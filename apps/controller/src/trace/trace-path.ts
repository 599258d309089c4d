import { subnetContaining } from '@netloom/plugin-sdk';

/** What the explainer reads of the intent (plain rows: no database, no agents). */
export interface TraceWorld {
  hosts: { id: string; name: string }[];
  networks: { id: string; name: string; vni: number; providerInterface?: string | null; vlanId?: number | null }[];
  subnets: { id: string; networkId: string; cidr: string; gatewayIp: string }[];
  ports: { id: string; name: string; networkId: string; hostId: string; ips: string[] }[];
  routers: {
    id: string;
    name: string;
    /** Where it is realized (its statuses' hosts). */
    hostIds: string[];
    legs: { subnetId: string; address: string | null }[];
    externalNetworkId: string | null;
    externalAddress: string | null;
    snat: boolean;
    floatingIps: { portId: string; address: string }[];
  }[];
  loadBalancers: {
    id: string;
    name: string;
    hostIds: string[];
    /** Translated on every host, in the host namespace (its counters are read with the client port's), not by an appliance on one. */
    distributed?: boolean;
    subnetId: string;
    vip: string | null;
    listeners: { protocol: string; port: number; members: { name: string | null; portId: string | null; address: string | null; port: number }[] }[];
  }[];
}

export type TraceHopKind = 'PORT' | 'BRIDGE' | 'OVERLAY' | 'PHYSICAL' | 'ROUTER' | 'NAT' | 'LOAD_BALANCER' | 'EXTERNAL' | 'NO_ROUTE';

export interface TraceHop {
  kind: TraceHopKind;
  /** The object crossed: a port, network, router or load balancer name. */
  name: string;
  /** The host it happens on, when one. */
  host: string | null;
  detail: string;
}

/** Where a trace goes, as the caller named it. */
export type TraceTarget = { portId: string } | { address: string } | { loadBalancerId: string };

/** Where counters are read: a port's namespace or an appliance's, on a host. */
export type CounterScope = { hostId: string; portId: string } | { hostId: string; pluginId: string; resourceId: string };

export interface TracePlan {
  /** The address probed. */
  address: string;
  /** What that address is (a port, a VIP, a floating IP, outside). */
  target: string;
  hops: TraceHop[];
  /** Namespaces whose counted rules are read before and after the probe. */
  scopes: CounterScope[];
  /** For a VIP: the load balancer and the listener probed (members named by their key in counters). */
  loadBalancer?: { id: string; name: string; listener: { protocol: string; port: number }; members: TraceMember[] };
}

/** A member of the listener probed: the load balancer counts it under `protocol/port>address:port`. */
export interface TraceMember {
  name: string;
  address: string;
  port: number;
  portName: string | null;
  host: string | null;
}

/** Why a trace cannot be planned: the field at fault and what is wrong. */
export class TraceInputError extends Error {
  constructor(
    readonly reason: 'NOT_FOUND' | 'BAD_INPUT',
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

export const ROUTER_PLUGIN = 'netloom.router';
export const LB_PLUGIN = 'netloom.load-balancer';

type Port = TraceWorld['ports'][number];
type Router = TraceWorld['routers'][number];

const v4 = (ip: string): boolean => !ip.includes(':');

/**
 * The path a probe from `fromPortId` to `target` takes, from the intent: the hosts and how the
 * networks join them (one host's bridge, the network's VXLAN overlay or physical network between two hosts), the
 * router that joins two networks (with SNAT or a floating IP when it leaves by its external
 * network, DNAT when the address is a floating IP), the load balancer of a VIP and its members'
 * hosts; and where the counters that can tell the verdict are (the ports' namespaces and the
 * load balancer's). IPv4 only. Throws {@link TraceInputError} for what does not exist or fit.
 */
export function explainPath(world: TraceWorld, fromPortId: string, target: TraceTarget, probe: { protocol: 'ICMP' | 'TCP'; port: number | null }): TracePlan {
  const host = (id: string): string => world.hosts.find((h) => h.id === id)?.name ?? id;
  const network = (id: string): TraceWorld['networks'][number] | undefined => world.networks.find((n) => n.id === id);
  const networkName = (id: string): string => network(id)?.name ?? id;
  const from = world.ports.find((p) => p.id === fromPortId);
  if (!from) throw new TraceInputError('NOT_FOUND', `port ${fromPortId} not found`, 'input.fromPortId');
  const source = from.ips.find(v4);
  if (!source) throw new TraceInputError('BAD_INPUT', `port ${from.name} has no IPv4 address to probe from`, 'input.fromPortId');

  const hops: TraceHop[] = [{ kind: 'PORT', name: from.name, host: host(from.hostId), detail: `from ${source}, network ${networkName(from.networkId)}` }];
  const scopes: CounterScope[] = [{ hostId: from.hostId, portId: from.id }];
  const cross = (networkId: string, fromHost: string, toHost: string): void => {
    const n = network(networkId);
    hops.push(
      fromHost === toHost
        ? { kind: 'BRIDGE', name: networkName(networkId), host: host(fromHost), detail: `the network's bridge on host ${host(fromHost)}` }
        : n?.providerInterface
          ? {
              kind: 'PHYSICAL',
              name: networkName(networkId),
              host: null,
              detail: `physical network ${n.providerInterface}${n.vlanId ? ` VLAN ${n.vlanId}` : ' (flat)'} from host ${host(fromHost)} to host ${host(toHost)}`,
            }
          : { kind: 'OVERLAY', name: networkName(networkId), host: null, detail: `VXLAN VNI ${n?.vni ?? '?'} from host ${host(fromHost)} to host ${host(toHost)}` },
    );
  };
  const networkOf = (address: string): string | undefined => world.subnets.find((s) => subnetContaining(address, [s.cidr]) !== undefined)?.networkId;
  const routerLegOn = (r: Router, networkId: string): boolean => r.legs.some((l) => world.subnets.find((s) => s.id === l.subnetId)?.networkId === networkId);
  const routerHost = (r: Router): string => r.hostIds[0] ?? from.hostId;

  // From the source's network to `networkId` (where `address` is), arriving on `hostId`.
  const reach = (networkId: string | undefined, hostId: string | null, address: string, dnat?: { router: Router; internal: Port }): void => {
    if (networkId === from.networkId && !dnat) {
      cross(from.networkId, from.hostId, hostId ?? from.hostId);
      return;
    }
    // A router with a leg on the source's network, and on the destination's (a leg or its external network).
    const joins = (r: Router): boolean =>
      routerLegOn(r, from.networkId) && (networkId === undefined ? r.externalNetworkId !== null : routerLegOn(r, networkId) || r.externalNetworkId === networkId);
    const router = dnat?.router && routerLegOn(dnat.router, from.networkId) ? dnat.router : world.routers.find(joins);
    if (!router && !dnat) {
      hops.push({ kind: 'NO_ROUTE', name: networkName(from.networkId), host: null, detail: `no router joins network ${networkName(from.networkId)} to ${networkId ? `network ${networkName(networkId)}` : address}` });
      return;
    }
    if (dnat && !router) {
      // From the external network itself, to the floating IP on the router's external leg.
      cross(from.networkId, from.hostId, routerHost(dnat.router));
    } else if (router) {
      cross(from.networkId, from.hostId, routerHost(router));
    }
    const r = router ?? dnat!.router;
    const outward = r.externalNetworkId !== null && (networkId === r.externalNetworkId || networkId === undefined) && from.networkId !== r.externalNetworkId;
    const towards = dnat ? dnat.internal.networkId : networkId;
    hops.push({
      kind: 'ROUTER',
      name: r.name,
      host: host(routerHost(r)),
      detail: `routes from network ${networkName(from.networkId)} to ${towards ? `network ${networkName(towards)}` : address}${outward ? ' (its external network)' : ''}`,
    });
    if (outward) {
      const floating = r.floatingIps.find((f) => f.portId === from.id);
      if (floating) hops.push({ kind: 'NAT', name: r.name, host: host(routerHost(r)), detail: `floating IP: ${source} is seen as ${floating.address} (1:1 NAT)` });
      else if (r.snat && r.externalAddress) hops.push({ kind: 'NAT', name: r.name, host: host(routerHost(r)), detail: `SNAT: ${source} leaves as ${r.externalAddress}` });
      else hops.push({ kind: 'NAT', name: r.name, host: host(routerHost(r)), detail: `no NAT: ${source} leaves as itself (snat off)` });
    }
    if (dnat) {
      const internal = dnat.internal.ips.find(v4) ?? '?';
      hops.push({ kind: 'NAT', name: r.name, host: host(routerHost(r)), detail: `DNAT: floating IP ${address} to ${dnat.internal.name} (${internal})` });
      cross(dnat.internal.networkId, routerHost(r), dnat.internal.hostId);
      return;
    }
    if (networkId === undefined) {
      hops.push({ kind: 'EXTERNAL', name: networkName(r.externalNetworkId!), host: null, detail: `${address} is outside every subnet: out by the external network ${networkName(r.externalNetworkId!)}` });
      return;
    }
    cross(networkId, routerHost(r), hostId ?? routerHost(r));
  };

  const toPort = (port: Port, address: string): TracePlan => {
    reach(port.networkId, port.hostId, address);
    hops.push({ kind: 'PORT', name: port.name, host: host(port.hostId), detail: `to ${address}` });
    if (port.id !== from.id) scopes.push({ hostId: port.hostId, portId: port.id });
    return { address, target: `port ${port.name}`, hops, scopes };
  };

  if ('portId' in target) {
    const port = world.ports.find((p) => p.id === target.portId);
    if (!port) throw new TraceInputError('NOT_FOUND', `port ${target.portId} not found`, 'input.toPortId');
    const address = port.ips.find(v4);
    if (!address) throw new TraceInputError('BAD_INPUT', `port ${port.name} has no IPv4 address`, 'input.toPortId');
    return toPort(port, address);
  }

  const lbById = 'loadBalancerId' in target ? world.loadBalancers.find((l) => l.id === target.loadBalancerId) : undefined;
  if ('loadBalancerId' in target && !lbById) throw new TraceInputError('NOT_FOUND', `load balancer ${target.loadBalancerId} not found`, 'input.toLoadBalancerId');
  const address = lbById ? lbById.vip : (target as { address: string }).address;
  if (!address) throw new TraceInputError('BAD_INPUT', `load balancer ${lbById!.name} has no VIP yet`, 'input.toLoadBalancerId');
  const lb = lbById ?? world.loadBalancers.find((l) => l.vip === address);
  if (lb) {
    const listener = lb.listeners.find((l) => l.protocol === probe.protocol && l.port === probe.port);
    if (!listener) {
      const ports = lb.listeners.map((l) => `${l.protocol} ${l.port}`).join(', ') || 'none';
      throw new TraceInputError('BAD_INPUT', `load balancer ${lb.name} listens on ${ports}, not ${probe.protocol}${probe.port ? ` ${probe.port}` : ''}`, 'input.protocol');
    }
    const lbHost = lb.distributed ? from.hostId : (lb.hostIds[0] ?? from.hostId);
    const lbNetwork = world.subnets.find((s) => s.id === lb.subnetId)?.networkId;
    reach(lbNetwork, lbHost, address);
    /** Members reached through the VIP subnet's gateway (on another network). */
    const routed = new Set<TraceMember>();
    const members: TraceMember[] = listener.members.map((m) => {
      const port = m.portId ? world.ports.find((p) => p.id === m.portId) : world.ports.find((p) => m.address !== null && p.ips.includes(m.address));
      if (port && port.id !== from.id) scopes.push({ hostId: port.hostId, portId: port.id });
      // As the plugin places it: the port's address on the VIP's network, else its first (a member behind the router).
      const onVipNetwork = (ip: string): boolean => world.subnets.some((s) => s.networkId === lbNetwork && subnetContaining(ip, [s.cidr]) !== undefined);
      const memberAddress = m.address ?? port?.ips.find((ip) => v4(ip) && onVipNetwork(ip)) ?? port?.ips.find(v4) ?? '?';
      const member = { name: m.name ?? port?.name ?? memberAddress, address: memberAddress, port: m.port, portName: port?.name ?? null, host: port ? host(port.hostId) : null };
      if (memberAddress !== '?' && (port ? port.networkId !== lbNetwork : !onVipNetwork(memberAddress))) routed.add(member);
      return member;
    });
    const listed = members.map((m) => `${m.name} (${m.address}:${m.port}${m.host ? ` on host ${m.host}` : ''}${routed.has(m) ? ', through the gateway' : ''})`).join(', ');
    const where = lb.distributed ? ' translated on the client\'s host,' : '';
    hops.push({ kind: 'LOAD_BALANCER', name: lb.name, host: host(lbHost), detail: `VIP ${address} ${probe.protocol} ${probe.port}:${where} DNAT to one of ${listed || 'no member'}` });
    // An appliance counts in its namespace; a DISTRIBUTED one in the host table, read with the client's port.
    if (!lb.distributed) scopes.splice(1, 0, { hostId: lbHost, pluginId: LB_PLUGIN, resourceId: lb.id });
    const planned = { id: lb.id, name: lb.name, listener: { protocol: listener.protocol, port: listener.port }, members };
    return { address, target: `load balancer ${lb.name} (VIP)`, hops, scopes, loadBalancer: planned };
  }
  if (!v4(address)) throw new TraceInputError('BAD_INPUT', `${address}: only IPv4 is traced`, 'input.toAddress');
  const port = world.ports.find((p) => p.ips.includes(address));
  if (port) return toPort(port, address);
  for (const r of world.routers) {
    const floating = r.floatingIps.find((f) => f.address === address);
    const internal = floating && world.ports.find((p) => p.id === floating.portId);
    if (internal) {
      reach(r.externalNetworkId ?? undefined, routerHost(r), address, { router: r, internal });
      hops.push({ kind: 'PORT', name: internal.name, host: host(internal.hostId), detail: `to ${internal.ips.find(v4) ?? '?'} (floating IP ${address})` });
      if (internal.id !== from.id) scopes.push({ hostId: internal.hostId, portId: internal.id });
      return { address, target: `floating IP of port ${internal.name}`, hops, scopes };
    }
  }
  const networkId = networkOf(address);
  reach(networkId, null, address);
  return { address, target: networkId ? `an address of network ${networkName(networkId)} held by no port` : 'an address outside every subnet', hops, scopes };
}
