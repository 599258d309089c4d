import { RealizationState } from '@netloom/model';
import type { ChangeSet, HostContext, LinkView } from './host-context';
import { inParallel } from './parallel';
import { TRUST_MS } from './trust';

/** One leg of an appliance: a veth pair, its host end on a core network's bridge, its peer inside. */
export interface ApplianceLeg {
  /** The interface inside the namespace (e.g. `r0`, `ext0`: 1-15 of [a-z0-9]); it also names the host end. */
  name: string;
  networkId: string;
  /** The leg's MAC: the one announced for it in the placement's endpoints. */
  mac: string;
  mtu?: number;
  /** Every `address/prefix` of the leg; others found on it are removed (IPv6 link-local aside). */
  addresses: string[];
}

/** A namespace of the plugin's with legs on core networks: what a router or a load balancer is made of. */
export interface Appliance {
  /** The resource id: the namespace and the host ends derive from it, failures map back to it. */
  id: string;
  legs: ApplianceLeg[];
  /** Routes through a gateway (`default` or a CIDR), on a leg; other routes through a gateway are removed. */
  routes: { dst: string; via: string; dev: string }[];
  /** Turns IP forwarding on (IPv4, and IPv6 when a leg has an IPv6 address). */
  forwarding?: boolean;
  /**
   * Whether a leg made or given an IPv4 address in a pass announces its addresses (a gratuitous
   * ARP, one process): default true; false where no neighbour needs to hear it (it costs a
   * process per pass that adds an address).
   */
  announce?: boolean;
}

/** How one appliance went. */
export interface ApplianceOutcome {
  id: string;
  netns: string;
  state: RealizationState.APPLIED | RealizationState.FAILED;
  reason?: string;
  /** The namespace was made in this pass. */
  fresh: boolean;
}

const LEG_NAME = /^[a-z0-9]{1,15}$/;

/** `10.0.0.5` → `10.0.0.5/32`, as `ip route` shows host routes without a prefix. */
const asCidr = (dst: string): string => (dst === 'default' || dst.includes('/') ? dst : `${dst}/${dst.includes(':') ? 128 : 32}`);
const isDefault = (dst: string): boolean => dst === 'default' || dst === '0.0.0.0/0' || dst === '::/0';
const sameDst = (a: string, b: string): boolean => (isDefault(a) && isDefault(b)) || asCidr(a) === asCidr(b);

/** Namespaces (per host context) whose forwarding was switched on by this process: sysctls are set once per namespace. */
const forwardingOn = new WeakMap<HostContext, Set<string>>();

/**
 * Appliances applied and read back (per host context): the spec as JSON, and when. Within
 * {@link TRUST_MS}, one whose spec is the same and whose host ends look right is not read
 * inside again (three processes each per pass): drift inside is repaired within that time.
 */
const verified = new WeakMap<HostContext, Map<string, { spec: string; at: number }>>();

/**
 * Makes the host hold exactly `appliances`, level-triggered: each one's namespace, legs (re-made
 * when their bridge or MAC is wrong, fixed in place for MTU, state and addresses), routes and
 * forwarding; then removes every namespace and host-end link of the plugin that is not among
 * them. One {@link HostContext.apply} for all. A plugin that uses it makes all its namespaces
 * through it. An appliance whose network is not on the host fails, and what it had stays as it
 * is until the network is back. Once applied, each leg made or given an IPv4 address in the pass
 * is announced ({@link HostContext.announce}: a gratuitous ARP per address), so clients that
 * cached another MAC for an address that moved here use this one at once; a failed announcement
 * is logged and fails nothing.
 */
export function reconcileAppliances(host: HostContext, appliances: Appliance[]): Promise<ApplianceOutcome[]> {
  return reconcileOnce(host, appliances, true);
}

/**
 * One pass of {@link reconcileAppliances}. A change written from what an appliance was assumed to
 * hold (changed within the trust time, not read again) that fails shows the assumption wrong
 * (something removed an address behind its back, say): with `mayRetry`, those appliances are read
 * and written again at once instead of failing until the next pass.
 */
async function reconcileOnce(host: HostContext, appliances: Appliance[], mayRetry: boolean): Promise<ApplianceOutcome[]> {
  const [netnsNow, linksNow] = await Promise.all([host.ownedNetns(), host.ownedLinks()]);
  const existing = new Set(netnsNow);
  const hostLinks = new Map(linksNow.map((l) => [l.ifname, l]));
  const wantedNetns = new Set<string>();
  const wantedLinks = new Set<string>();
  const outcomes = new Map<string, ApplianceOutcome>();
  const work: ((changes: ChangeSet) => void)[] = [];
  // Legs made, or given an IPv4 address, in this pass: announced once applied.
  const announce: { id: string; netns: string; leg: string }[] = [];
  const v4 = (address: string): boolean => !address.includes(':');
  let forwarding = forwardingOn.get(host);
  if (!forwarding) forwardingOn.set(host, (forwarding = new Set()));
  let seen = verified.get(host);
  if (!seen) verified.set(host, (seen = new Map<string, { spec: string; at: number }>()));
  const known = seen;
  const specs = new Map(appliances.map((a) => [a.id, JSON.stringify(a)]));
  /** Read back within TRUST_MS, its namespace there and the host ends of these legs right. */
  const recent = (a: Appliance): boolean => {
    const v = known.get(a.id);
    if (!v || Date.now() - v.at >= TRUST_MS || !existing.has(host.netnsName(a.id))) return false;
    return a.legs.every((leg) => {
      const hostEnd = hostLinks.get(host.linkName(a.id, leg.name));
      return hostEnd?.up && hostEnd.master === host.networkBridge(leg.networkId) && (leg.mtu === undefined || hostEnd.mtu === leg.mtu);
    });
  };
  const trusted = new Set(appliances.filter((a) => known.get(a.id)?.spec === specs.get(a.id) && recent(a)).map((a) => a.id));
  /**
   * Changed since it was read back a moment ago (an address added, say): what it holds is taken
   * to be what was applied then, not read again (three processes); the read comes when the trust
   * it was read with runs out.
   */
  const assumed = new Map(
    appliances.filter((a) => !trusted.has(a.id) && recent(a)).map((a) => [a.id, { before: JSON.parse(known.get(a.id)!.spec) as Appliance, at: known.get(a.id)!.at }]),
  );

  // What each appliance's namespace holds, read for all at once (three reads each, when it exists).
  type Inside = { links: LinkView[]; addrs: Awaited<ReturnType<HostContext['addresses']>>; routes: Awaited<ReturnType<HostContext['routes']>> };
  const insides = new Map<string, Inside>();
  for (const [id, { before }] of assumed) {
    insides.set(id, {
      links: [{ ifname: 'lo', up: true, mtu: 65536 }, ...before.legs.map((l) => ({ ifname: l.name, up: true, address: l.mac, mtu: l.mtu ?? hostLinks.get(host.linkName(id, l.name))!.mtu }))],
      addrs: before.legs.map((l) => ({
        ifname: l.name,
        addresses: l.addresses.map((x) => ({ family: x.includes(':') ? (6 as const) : (4 as const), local: x.split('/')[0], prefixlen: Number(x.split('/')[1]) })),
      })),
      routes: before.routes.map((r) => ({ dst: r.dst, gateway: r.via, dev: r.dev })),
    });
  }
  await inParallel(appliances, async (a) => {
    const netns = host.netnsName(a.id);
    if (trusted.has(a.id) || assumed.has(a.id) || !existing.has(netns) || a.legs.some((l) => !host.networkBridge(l.networkId))) return;
    const v6 = a.legs.some((l) => l.addresses.some((x) => x.includes(':')));
    const [links, addrs, routes4, routes6] = await Promise.all([
      host.links(netns).catch(() => []),
      host.addresses(netns).catch(() => []),
      host.routes(netns, 4).catch(() => []),
      v6 ? host.routes(netns, 6).catch(() => []) : Promise.resolve([]),
    ]);
    insides.set(a.id, { links, addrs, routes: [...routes4, ...routes6] });
  });

  for (const a of appliances) {
    const netns = host.netnsName(a.id);
    wantedNetns.add(netns);
    for (const leg of a.legs) {
      if (!LEG_NAME.test(leg.name)) throw new Error(`appliance ${a.id}: leg name ${JSON.stringify(leg.name)} is not 1-15 of [a-z0-9]`);
      wantedLinks.add(host.linkName(a.id, leg.name));
    }
    const missing = a.legs.find((l) => !host.networkBridge(l.networkId));
    const fresh = !existing.has(netns);
    outcomes.set(a.id, { id: a.id, netns, state: RealizationState.APPLIED, fresh });
    if (missing) {
      outcomes.set(a.id, { id: a.id, netns, state: RealizationState.FAILED, reason: `network ${missing.networkId} is not on this host`, fresh });
      continue;
    }
    if (trusted.has(a.id)) continue;
    const { links: inside, addrs: insideAddrs, routes } = insides.get(a.id) ?? { links: [], addrs: [], routes: [] };
    if (fresh) forwarding.delete(netns);

    work.push((changes) => {
      if (fresh) changes.netnsAdd(netns, a.id);
      const ns = changes.in(netns);
      if (!inside.find((l) => l.ifname === 'lo')?.up) ns.linkSet('lo', { up: true }, a.id);
      for (const leg of a.legs) {
        const hostEndName = host.linkName(a.id, leg.name);
        const bridge = host.networkBridge(leg.networkId)!;
        const hostEnd = hostLinks.get(hostEndName);
        const peer = inside.find((l) => l.ifname === leg.name);
        if (!hostEnd || hostEnd.master !== bridge || !peer || peer.address !== leg.mac) {
          if (!hostEnd && peer) {
            // A peer without its host end (should not happen): remove it now, re-made next pass.
            ns.linkDel(leg.name, a.id);
            continue;
          }
          if (hostEnd) changes.host.linkDel(hostEndName, a.id);
          changes.host.vethAdd(hostEndName, { peer: leg.name, peerNetns: netns, master: bridge, mtu: leg.mtu }, a.id);
          changes.host.linkSet(hostEndName, { up: true }, a.id);
          ns.linkSet(leg.name, { address: leg.mac }, a.id).linkSet(leg.name, { up: true }, a.id);
          for (const address of leg.addresses) ns.addrReplace(address, leg.name, a.id);
          if (a.announce !== false && leg.addresses.some(v4)) announce.push({ id: a.id, netns, leg: leg.name });
          continue;
        }
        if (leg.mtu !== undefined && hostEnd.mtu !== leg.mtu) changes.host.linkSet(hostEndName, { mtu: leg.mtu }, a.id);
        if (leg.mtu !== undefined && peer.mtu !== leg.mtu) ns.linkSet(leg.name, { mtu: leg.mtu }, a.id);
        if (!hostEnd.up) changes.host.linkSet(hostEndName, { up: true }, a.id);
        if (!peer.up) ns.linkSet(leg.name, { up: true }, a.id);
        const have = (insideAddrs.find((x) => x.ifname === leg.name)?.addresses ?? [])
          .filter((x) => !(x.family === 6 && x.local.toLowerCase().startsWith('fe80:')))
          .map((x) => `${x.local}/${x.prefixlen}`);
        const gained = leg.addresses.filter((address) => !have.includes(address));
        for (const address of gained) ns.addrReplace(address, leg.name, a.id);
        if (a.announce !== false && gained.some(v4)) announce.push({ id: a.id, netns, leg: leg.name });
        for (const address of have) if (!leg.addresses.includes(address)) ns.addrDel(address, leg.name, a.id);
      }
      // Legs no longer wanted: their host ends are collected below (the peers go with them); a
      // peer whose host end is already gone is removed here.
      const names = new Set(a.legs.map((l) => l.name));
      for (const l of inside) {
        if (l.ifname !== 'lo' && !names.has(l.ifname) && !hostLinks.has(host.linkName(a.id, l.ifname))) ns.linkDel(l.ifname, a.id);
      }
      for (const w of a.routes) {
        const current = routes.find((x) => sameDst(x.dst, w.dst));
        if (!current || current.gateway !== w.via || current.dev !== w.dev) ns.routeReplace(w, a.id);
      }
      for (const x of routes) {
        if (x.gateway && !a.routes.some((w) => sameDst(x.dst, w.dst))) ns.routeDel({ dst: isDefault(x.dst) ? 'default' : asCidr(x.dst), via: x.gateway }, a.id);
      }
    });
  }

  let result: Awaited<ReturnType<HostContext['apply']>>;
  try {
    result = await host.apply((changes) => {
      for (const w of work) w(changes);
      for (const netns of existing) {
        if (!wantedNetns.has(netns)) {
          changes.netnsDel(netns);
          forwarding.delete(netns);
        }
      }
      for (const name of hostLinks.keys()) if (!wantedLinks.has(name)) changes.host.linkDel(name);
    });
  } catch (error) {
    // Part of it may have run: what the appliances written here hold is not known, and is read next time.
    for (const a of appliances) if (!trusted.has(a.id)) known.delete(a.id);
    throw error;
  }
  for (const f of result.failed) {
    const outcome = f.key === undefined ? undefined : outcomes.get(f.key);
    if (outcome && outcome.state === RealizationState.APPLIED) Object.assign(outcome, { state: RealizationState.FAILED, reason: f.error });
  }

  await inParallel(appliances, async (a) => {
    const outcome = outcomes.get(a.id)!;
    if (outcome.state !== RealizationState.APPLIED || !a.forwarding || forwarding.has(outcome.netns)) return;
    try {
      await host.sysctl(outcome.netns, 'net.ipv4.ip_forward', '1');
      if (a.legs.some((l) => l.addresses.some((x) => x.includes(':')))) await host.sysctl(outcome.netns, 'net.ipv6.conf.all.forwarding', '1');
      forwarding.add(outcome.netns);
    } catch (error) {
      Object.assign(outcome, { state: RealizationState.FAILED, reason: error instanceof Error ? error.message : String(error) });
    }
  });
  // Neighbours that cached another MAC for an address (it was elsewhere before) learn this one now.
  await inParallel(announce, async ({ id, netns, leg }) => {
    if (outcomes.get(id)!.state !== RealizationState.APPLIED) return;
    await host.announce(netns, leg).catch((error: unknown) => host.log(`appliance ${id}: announcing the addresses of ${leg}: ${error instanceof Error ? error.message : String(error)}`));
  });
  for (const id of [...known.keys()]) if (!specs.has(id)) known.delete(id);
  for (const a of appliances) {
    if (outcomes.get(a.id)!.state !== RealizationState.APPLIED) known.delete(a.id);
    else if (!trusted.has(a.id)) known.set(a.id, { spec: specs.get(a.id)!, at: assumed.get(a.id)?.at ?? Date.now() });
  }
  // Failed appliances are no longer known: the second pass reads them.
  if (mayRetry && appliances.some((a) => assumed.has(a.id) && outcomes.get(a.id)!.state !== RealizationState.APPLIED)) return reconcileOnce(host, appliances, false);
  return appliances.map((a) => outcomes.get(a.id)!);
}

