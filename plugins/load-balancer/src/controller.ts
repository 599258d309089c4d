import {
  type AddressReservation,
  badInput,
  deriveMac,
  type IntentView,
  type Placement,
  type PluginResource,
  spreadOverHosts,
  subnetContaining,
} from '@netloom/plugin-sdk';
import {
  type CheckedHealth,
  type LbMode,
  type LbPlacement,
  LIMITS,
  type LoadBalancerObserved,
  type LoadBalancerSpec,
  type MemberSpec,
  type PlacedListener,
  type PlacedMember,
  type PoolSpec,
} from './spec';
import { memberKey } from './table';

type Subnet = Awaited<ReturnType<IntentView['subnets']>>[number];
type Port = Awaited<ReturnType<IntentView['ports']>>[number];

/** A network's MTU when it has none of its own: the default underlay MTU (1500) less VXLAN's 50. */
const DEFAULT_MTU = 1450;
const HTTP_PATH = /^\/[\x21-\x7e]{0,199}$/;

const inRange = (n: number, min: number, max: number): boolean => Number.isInteger(n) && n >= min && n <= max;

/** `200`, `200-299`, `200,204` → inclusive ranges; undefined when malformed. */
export function parseExpectedCodes(text: string): { from: number; to: number }[] | undefined {
  const ranges: { from: number; to: number }[] = [];
  for (const part of text.split(',')) {
    const m = /^\s*(\d{3})(?:\s*-\s*(\d{3}))?\s*$/.exec(part);
    if (!m) return undefined;
    const from = Number(m[1]);
    const to = Number(m[2] ?? m[1]);
    if (from < 100 || to > 599 || to < from) return undefined;
    ranges.push({ from, to });
  }
  return ranges;
}

/**
 * The member's address: its own; or its port's, on a subnet of the VIP network when it has one
 * there, else its first IPv4 address (a port on another network, reached through the VIP
 * subnet's gateway). Undefined when its port has no IPv4 address.
 */
function memberAddress(m: MemberSpec, vipSubnets: Subnet[], ports: Port[]): string | undefined {
  if (m.address) return m.address;
  const fixed = ports.find((p) => p.id === m.portId)?.fixedIps ?? [];
  const v4 = fixed.filter((ip) => !ip.ipAddress.includes(':'));
  return (v4.find((ip) => vipSubnets.some((s) => s.id === ip.subnetId)) ?? v4[0])?.ipAddress;
}

/**
 * Whether a member lies outside the VIP's network (reached through the VIP subnet's gateway): its
 * port is on another network, or its address in no subnet of the VIP's (`vipSubnets`: the VIP
 * network's, the VIP's among them).
 */
const offNetwork = (m: MemberSpec, address: string, vipSubnets: Subnet[], ports: Port[]): boolean =>
  m.portId ? ports.find((p) => p.id === m.portId)?.networkId !== vipSubnets[0]?.networkId : !subnetContaining(address, vipSubnets.map((s) => s.cidr));

function validatePool(pool: PoolSpec, path: string, mode: LbMode, vip: string | null | undefined, vipSubnets: Subnet[], ports: Port[]): void {
  if (pool.affinityTimeout !== null && pool.affinityTimeout !== undefined) {
    if (pool.algorithm !== 'SOURCE_IP') throw badInput('affinityTimeout needs algorithm SOURCE_IP', `${path}.affinityTimeout`);
    const { min, max } = LIMITS.affinityTimeout;
    if (!inRange(pool.affinityTimeout, min, max)) throw badInput(`affinityTimeout must be ${min}-${max} seconds`, `${path}.affinityTimeout`);
  }
  const members = pool.members ?? [];
  if (members.length > LIMITS.membersPerPool) throw badInput(`a pool holds at most ${LIMITS.membersPerPool} members`, `${path}.members`);
  const seen = new Set<string>();
  for (const [n, m] of members.entries()) {
    const at = `${path}.members.${n}`;
    if (!!m.portId === !!m.address) throw badInput('give a member either portId or address', at);
    if (!inRange(m.port, 1, 65535)) throw badInput(`member port ${m.port} is not 1-65535`, `${at}.port`);
    const { min, max } = LIMITS.weight;
    if (m.weight !== null && m.weight !== undefined && !inRange(m.weight, min, max)) throw badInput(`weight ${m.weight} is not ${min}-${max}`, `${at}.weight`);
    if (m.address?.includes(':')) throw badInput('IPv6 members are not supported (the VIP is IPv4)', `${at}.address`);
    if (m.address && mode === 'DISTRIBUTED' && pool.healthMonitor) {
      throw badInput("a DISTRIBUTED load balancer checks each member from the host of its port: give the member's portId (or mode APPLIANCE)", `${at}.address`);
    }
    const port = m.portId ? ports.find((p) => p.id === m.portId)! : undefined;
    const address = memberAddress(m, vipSubnets, ports);
    if (!address) throw badInput(`port ${port!.name} has no IPv4 address`, `${at}.portId`);
    if (port && offNetwork(m, address, vipSubnets, ports)) {
      // On another network: reached through the VIP subnet's gateway (a router), as a client would go.
      const what = `port ${port.name} is on another network than the VIP`;
      if (subnetContaining(address, vipSubnets.map((s) => s.cidr))) {
        throw badInput(`${what}, but its address ${address} lies in a subnet of the VIP's network too: it cannot be told from an address there`, `${at}.portId`);
      }
      if (mode === 'DISTRIBUTED' && pool.healthMonitor) {
        throw badInput(
          `${what}: a DISTRIBUTED load balancer checks a member from the VIP network on its port's host, which cannot reach it there; give mode APPLIANCE or none (an appliance checks it through the gateway), or no health monitor`,
          `${at}.portId`,
        );
      }
    }
    if (address === vip) throw badInput('a member cannot be the VIP itself', at);
    if (seen.has(`${address}:${m.port}`)) throw badInput(`member ${address}:${m.port} is given twice`, at);
    seen.add(`${address}:${m.port}`);
  }
  const hm = pool.healthMonitor;
  if (!hm) return;
  const at = `${path}.healthMonitor`;
  if (!inRange(hm.intervalMs, LIMITS.intervalMs.min, LIMITS.intervalMs.max)) {
    throw badInput(`intervalMs must be ${LIMITS.intervalMs.min}-${LIMITS.intervalMs.max}`, `${at}.intervalMs`);
  }
  if (!inRange(hm.timeoutMs, LIMITS.timeoutMs.min, hm.intervalMs)) throw badInput(`timeoutMs must be ${LIMITS.timeoutMs.min} up to intervalMs`, `${at}.timeoutMs`);
  for (const key of ['rise', 'fall'] as const) {
    if (!inRange(hm[key], LIMITS.riseFall.min, LIMITS.riseFall.max)) throw badInput(`${key} must be ${LIMITS.riseFall.min}-${LIMITS.riseFall.max}`, `${at}.${key}`);
  }
  if (hm.type !== 'HTTP') {
    if (hm.httpPath || hm.expectedCodes) throw badInput('httpPath and expectedCodes need type HTTP', `${at}.${hm.httpPath ? 'httpPath' : 'expectedCodes'}`);
    return;
  }
  if (hm.httpPath && !HTTP_PATH.test(hm.httpPath)) throw badInput('httpPath must start with / and hold only visible ASCII, at most 200 characters', `${at}.httpPath`);
  if (hm.expectedCodes && !parseExpectedCodes(hm.expectedCodes)) {
    throw badInput('expectedCodes must be codes 100-599: 200, 200-299 or 200,204', `${at}.expectedCodes`);
  }
}

/** The ports its pools name as members, each once. */
const memberPortIds = (spec: Pick<LoadBalancerSpec, 'listeners'>): string[] => [
  ...new Set((spec.listeners ?? []).flatMap((l) => (l.pool.members ?? []).flatMap((m) => (m.portId ? [m.portId] : [])))),
];

/**
 * The mode a load balancer runs in: its own; or APPLIANCE when it is pinned to a host, or when a
 * health monitor must check a member no host of the VIP's network can check from where it is:
 * one given by address (no port, so no host of its own), or a port on another network (`away`:
 * the ids of its member ports off the VIP's network; checked through the gateway instead);
 * DISTRIBUTED otherwise.
 */
export function lbMode(spec: Pick<LoadBalancerSpec, 'mode' | 'hostId' | 'listeners'>, away: ReadonlySet<string> = new Set()): LbMode {
  if (spec.mode) return spec.mode;
  const unchecked = (spec.listeners ?? []).some((l) => l.pool.healthMonitor && (l.pool.members ?? []).some((m) => !m.portId || away.has(m.portId)));
  return spec.hostId || unchecked ? 'APPLIANCE' : 'DISTRIBUTED';
}

/** Of `ports`, the ids of those off the network `networkId` (members reached through the gateway). */
const awayFrom = (networkId: string, ports: Port[]): Set<string> => new Set(ports.filter((p) => p.networkId !== networkId).map((p) => p.id));

/** Whether a load balancer's mode may hang on its member ports' networks (no mode nor host given, a health monitor on a pool with ports). */
const modeHangsOnPorts = (spec: LoadBalancerSpec): boolean =>
  !spec.mode && !spec.hostId && (spec.listeners ?? []).some((l) => l.pool.healthMonitor && (l.pool.members ?? []).some((m) => m.portId));

/** The ids of the load balancers among `lbs` that run as APPLIANCE (the member ports of those whose mode hangs on them read in one go). */
async function appliancesOf(lbs: PluginResource<LoadBalancerSpec>[], intent: IntentView): Promise<Set<string>> {
  const hanging = lbs.filter((r) => modeHangsOnPorts(r.spec));
  const ids = [...new Set(hanging.flatMap((r) => memberPortIds(r.spec)))];
  const [ports, subnets] = ids.length ? await Promise.all([intent.ports({ ids }), intent.subnets()]) : [[], []];
  const networkOf = new Map(subnets.map((s) => [s.id, s.networkId]));
  return new Set(lbs.filter((r) => lbMode(r.spec, awayFrom(networkOf.get(r.spec.subnetId) ?? '', ports)) === 'APPLIANCE').map((r) => r.id));
}

export async function validateLoadBalancer(lb: PluginResource<LoadBalancerSpec>, intent: IntentView): Promise<void> {
  const spec = lb.spec;
  if (spec.mode === 'DISTRIBUTED' && spec.hostId) throw badInput('a DISTRIBUTED load balancer runs on every host: hostId places an APPLIANCE', 'input.hostId');
  const subnets = await intent.subnets();
  const subnet = subnets.find((s) => s.id === spec.subnetId)!;
  if (subnet.ipVersion !== 4) throw badInput('IPv6 VIPs are not supported yet: give an IPv4 subnet', 'input.subnetId');
  if (spec.vipAddress) {
    if (!subnetContaining(spec.vipAddress, [subnet.cidr])) throw badInput(`${spec.vipAddress} is not in subnet ${subnet.name} (${subnet.cidr})`, 'input.vipAddress');
    if (spec.vipAddress === subnet.gatewayIp) throw badInput(`${spec.vipAddress} is the gateway of subnet ${subnet.name}`, 'input.vipAddress');
  }
  const listeners = spec.listeners ?? [];
  if (listeners.length > LIMITS.listeners) throw badInput(`a load balancer has at most ${LIMITS.listeners} listeners`, 'input.listeners');
  const vipSubnets = subnets.filter((s) => s.networkId === subnet.networkId);
  // The member ports only (not the site's).
  const memberIds = memberPortIds(spec);
  const ports = memberIds.length ? await intent.ports({ ids: memberIds }) : [];
  const mode = lbMode(spec, awayFrom(subnet.networkId, ports));
  if (mode === 'APPLIANCE' && !spec.hostId && (await intent.hosts()).length === 0) throw badInput('there is no host to place the load balancer on', 'input.hostId');
  for (const [n, l] of listeners.entries()) {
    const path = `input.listeners.${n}`;
    if (!inRange(l.port, 1, 65535)) throw badInput(`listener port ${l.port} is not 1-65535`, `${path}.port`);
    if (listeners.findIndex((o) => o.protocol === l.protocol && o.port === l.port) !== n) {
      throw badInput(`there is already a listener on ${l.protocol} port ${l.port}`, `${path}.port`);
    }
    validatePool(l.pool, `${path}.pool`, mode, spec.vipAddress, vipSubnets, ports);
  }
}

/**
 * What the controller keeps of a host's report for placements: the health of the members that
 * host checks (DISTRIBUTED: those whose port is there), not their counters, so only a member
 * going OFFLINE or back places the load balancer again.
 */
export function checkedHealth(observed: LoadBalancerObserved): CheckedHealth | undefined {
  const health: CheckedHealth = {};
  for (const l of observed.listeners ?? []) {
    for (const m of l.members ?? []) {
      if (m.checked && (m.operatingStatus === 'ONLINE' || m.operatingStatus === 'OFFLINE')) health[memberKey(l, m)] = m.operatingStatus === 'ONLINE';
    }
  }
  return Object.keys(health).length ? health : undefined;
}

/** The VIP, held in the core's IPAM (picked there when the user gave none). */
export function reserveLoadBalancer(lb: PluginResource<LoadBalancerSpec>): AddressReservation[] {
  const { subnetId, vipAddress } = lb.spec;
  return [vipAddress ? { subnetId, ipAddress: vipAddress, field: 'input.vipAddress' } : { subnetId, assignTo: 'vipAddress', field: 'input.vipAddress' }];
}

export async function placeLoadBalancer(lb: PluginResource<LoadBalancerSpec>, intent: IntentView): Promise<Placement<LbPlacement>[]> {
  const spec = lb.spec;
  const [subnet] = await intent.subnets({ ids: [spec.subnetId] });
  if (!subnet || !spec.vipAddress) return [];
  const memberPorts = memberPortIds(spec);
  const ports = memberPorts.length ? await intent.ports({ ids: memberPorts }) : [];
  const mode = lbMode(spec, awayFrom(subnet.networkId, ports));
  let hostIds: string[];
  if (mode === 'DISTRIBUTED') {
    // Every host: each translates what its clients send (where the VIP's network has no bridge, there is nothing to do).
    hostIds = (await intent.hosts()).map((h) => h.id);
  } else {
    let hostId = spec.hostId ?? undefined;
    if (!hostId) {
      const others = (await intent.resources<LoadBalancerSpec>('LoadBalancer')).filter((r) => r.id !== lb.id);
      const running = await appliancesOf(others, intent);
      const appliances = others.filter((r) => running.has(r.id));
      hostId = spreadOverHosts([...appliances, lb].map((r) => ({ id: r.id, hostId: r.spec.hostId })), (await intent.hosts()).map((h) => h.id)).get(lb.id);
    }
    hostIds = hostId ? [hostId] : [];
  }
  if (!hostIds.length) return [];
  const [network] = await intent.networks({ ids: [subnet.networkId] });
  const vipSubnets = await intent.subnets({ networkIds: [subnet.networkId] });
  // Health: each member is checked on one host (DISTRIBUTED: its port's, whose finding every host
  // follows; APPLIANCE: the appliance's), and what that host last reported is where its checks start.
  const monitored = (spec.listeners ?? []).some((l) => l.pool.healthMonitor);
  const found = monitored && intent.observed ? await intent.observed<CheckedHealth>('LoadBalancer', { ids: [lb.id] }) : [];
  const hostOfPort = new Map(ports.map((p) => [p.id, p.hostId]));
  const gateway = subnet.gatewayIp && subnet.gatewayIp !== spec.vipAddress ? subnet.gatewayIp : null;
  const checkerOf = (m: Pick<PlacedMember, 'portId'>): string | undefined => (mode === 'DISTRIBUTED' ? (m.portId ? hostOfPort.get(m.portId) : undefined) : hostIds[0]);
  const listeners: PlacedListener[] = (spec.listeners ?? []).map((l) => {
    const hm = l.pool.healthMonitor;
    // Placement follows the stored intent: a member whose port went away is left out.
    const members: PlacedMember[] = [];
    for (const m of l.pool.members ?? []) {
      const address = memberAddress(m, vipSubnets, ports);
      if (!address) continue;
      const member: PlacedMember = { name: m.name ?? null, portId: m.portId ?? null, address, port: m.port, weight: m.weight ?? 1, adminUp: m.adminUp ?? true };
      if (offNetwork(m, address, vipSubnets, ports)) {
        // Reached through the gateway; without one (taken away since), not at all.
        if (!gateway) continue;
        member.viaGateway = true;
      }
      if (hm) {
        member.online = found.find((f) => f.hostId === checkerOf(member))?.value[memberKey(l, member)] !== false;
      }
      members.push(member);
    }
    return {
      protocol: l.protocol,
      port: l.port,
      algorithm: l.pool.algorithm,
      affinityTimeout: l.pool.affinityTimeout ?? null,
      members,
      healthMonitor: hm
        ? {
            type: hm.type,
            path: hm.httpPath ?? '/',
            expect: parseExpectedCodes(hm.expectedCodes ?? '200') ?? [{ from: 200, to: 200 }],
            intervalMs: hm.intervalMs,
            timeoutMs: hm.timeoutMs,
            rise: hm.rise,
            fall: hm.fall,
          }
        : null,
    };
  });
  const mac = deriveMac(`lb:${lb.id}`);
  const placement: LbPlacement = {
    mode,
    networkId: subnet.networkId,
    subnets: vipSubnets.filter((s) => s.ipVersion === 4).map((s) => s.cidr),
    vip: spec.vipAddress,
    cidr: `${spec.vipAddress}/${subnet.cidr.split('/')[1]}`,
    gateway,
    mac,
    mtu: network?.mtu ?? DEFAULT_MTU,
    listeners,
  };
  if (mode === 'DISTRIBUTED') {
    // No bridge is asked for and no endpoint announced: a host's responder answers for the VIP to its own clients only.
    if (!monitored) return hostIds.map((hostId) => ({ hostId, spec: placement }));
    // Each host checks the members whose port it holds.
    return hostIds.map((hostId) => ({
      hostId,
      spec: { ...placement, listeners: listeners.map((l) => (l.healthMonitor ? { ...l, members: l.members.map((m) => ({ ...m, check: checkerOf(m) === hostId })) } : l)) },
    }));
  }
  return [{ hostId: hostIds[0], spec: placement, networks: [subnet.networkId], endpoints: [{ networkId: subnet.networkId, mac, ips: [spec.vipAddress] }] }];
}
