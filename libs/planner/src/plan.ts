import { createHash } from 'node:crypto';
import { BridgeBatch, IpBatch, LinkInfo, TcBatch, vlanProgramFile, type VlanProgram } from '@netloom/linux';
import { DesiredResource, NetworkSpec, PortSpec, ResourceKind, resourceKey, VXLAN_PORT, VxlanSpec } from '@netloom/model';
import { Names } from './naming';

/** What the kernel looks like, read cheaply (one process for links, a directory read for namespaces). */
export interface Observed {
  links: Map<string, LinkInfo>;
  /** Live namespaces in /run/netns. */
  netns: Set<string>;
  /** Files in /run/netns with no namespace mounted on them (e.g. made in another mount namespace, now gone). */
  deadNetns?: ReadonlySet<string>;
  /** Addresses found inside the namespaces of ports that were read closely, by port id. */
  portAddresses: Map<string, string[]>;
  /** The overlay entries of networks that were read closely, by network id. */
  overlay: Map<string, OverlayEntries>;
  /**
   * The VLAN programs found on trunk ends that were read (at a resync), by the end's name: the
   * object file of the bpf filter at priority 1 of each hook, null when there is none.
   */
  trunkPrograms?: Map<string, { ingress: string | null; egress: string | null }>;
}

/** What a VXLAN device holds: remote FDB entries (MAC → VTEP) and static neighbours (IP → MAC). */
export interface OverlayEntries {
  fdb: { mac: string; dst: string }[];
  neigh: { ip: string; mac: string }[];
}

/** The all-zero MAC: an FDB entry with it replicates broadcast and unknown traffic to a peer. */
export const FLOOD_MAC = '00:00:00:00:00:00';

/** Why a resource could not be planned: `terminal` failures wait for a new spec, others retry. */
export interface PlanFailure {
  key: string;
  reason: string;
  terminal: boolean;
}

export interface Plan {
  /** One batch in the agent's own namespace: namespaces, bridges, VXLAN devices, veths, neighbours, deletions. */
  root: IpBatch;
  /** VXLAN forwarding entries, applied after `root`. */
  fdb: BridgeBatch;
  /** Traffic control in the agent's own namespace (the VLAN programs on trunk ports), applied after `root`. */
  tc: TcBatch;
  /** One batch per port namespace that needs configuring. */
  inNetns: IpBatch[];
  /** Keys of resources that will be (re)applied, with the hash to remember once they succeed. */
  changed: Map<string, string>;
  failures: PlanFailure[];
  /** Attributes to report per resource key (names of what was realized). */
  attributes: Map<string, Record<string, string>>;
  /** Guarded ports (by id) whose host end this plan leaves down: created down, or held and found down. */
  heldDown: Set<string>;
  /** The entries each VXLAN device this plan programs holds once its lines applied, by network id. */
  overlay: Map<string, OverlayEntries>;
  /** Keys of the networks whose links (bridge, VXLAN device) this plan makes or sets: the others' links are as they were. */
  linksTouched: Set<string>;
  /** `fdb` names a VXLAN device `root` makes: it must wait for it (otherwise the two can run at once). */
  fdbAfterRoot: boolean;
}

export interface PlanInput {
  desired: DesiredResource[];
  observed: Observed;
  /** Spec hash of each port whose namespace side was applied and verified. */
  applied: ReadonlyMap<string, string>;
  names: Names;
  /** Resource keys not to touch this time (backing off after a failure). */
  skip?: ReadonlySet<string>;
  /** Guarded ports (by id) some of whose guards were not APPLIED in the last plugin pass: their host end is not brought up. */
  held?: ReadonlySet<string>;
  /**
   * Physical network → this host's interface for it (the agent's `--provider-mapping`). `observed`
   * must hold these interfaces too: a flat provider network's bridge enslaves one.
   */
  providerMappings?: ReadonlyMap<string, string>;
  /** Whether this kernel can tag VLANs in tc (eBPF classifiers on clsact; default true): without, VLAN provider networks fail. */
  vlanSupported?: boolean;
}

/**
 * How a provider network leaves the host. Flat, alone on its interface: the interface itself, on
 * the network's bridge. Once a VLAN rides on an interface: a trunk bridge holds it, and every
 * network on it has a veth pair from its bridge to the trunk whose trunk end tags and untags
 * (or, flat, passes only untagged frames), so one wire carries them all and keeps them apart.
 */
export interface Uplink {
  /** The mapped interface. */
  parent: string;
  /** What sits on the network's bridge: the interface (flat, alone) or our veth end. */
  link: string;
  trunk?: { bridge: string; peer: string; ingress: VlanProgram; egress: VlanProgram };
}

const hashes = new WeakMap<DesiredResource, string>();
/** A digest of a resource's spec, computed once per resource object (they are replaced, not edited). */
export function specHash(r: DesiredResource): string {
  let hash = hashes.get(r);
  if (hash === undefined) {
    // A port's guards decide when its host end comes up, not what is configured: they stay out;
    // so does its port security (the host's nft table, which keeps its own digest per port).
    const spec =
      r.kind === ResourceKind.Port ? { ...(r.spec as PortSpec), guardedBy: undefined, portSecurity: undefined, allowedAddressPairs: undefined } : r.spec;
    hash = createHash('sha1').update(JSON.stringify(spec)).digest('base64');
    hashes.set(r, hash);
  }
  return hash;
}

type InspectInput = Omit<PlanInput, 'observed'> & { observed: Pick<Observed, 'links'> };

/**
 * Networks whose VXLAN entries must be known before planning: the device exists but the spec is
 * not known applied (`all`: every one with a device, to look for drift).
 */
export function networksToInspect(input: InspectInput, all = false): string[] {
  return input.desired
    .filter((r) => r.kind === ResourceKind.Network && (r.spec as NetworkSpec).vxlan && input.observed.links.has(input.names.vxlan(r.id)))
    .filter((r) => all || input.applied.get(r.id) !== specHash(r))
    .map((r) => r.id);
}

/** Ports whose namespace side must be read before planning: their veth exists but their spec is not known applied. */
export function portsToInspect(input: InspectInput): string[] {
  return input.desired
    .filter((r) => r.kind === ResourceKind.Port && input.observed.links.has(input.names.veth(r.id)))
    // Not applied as specified (changed, failed, or the record was lost): what is there must be read.
    .filter((r) => input.applied.get(r.id) !== specHash(r))
    .map((r) => r.id);
}

/**
 * The ordered plan that makes the kernel match the desired state (pure). Level-triggered: it
 * compares desired with observed, never "what happened". Nothing that already matches gets a
 * command, so planning the same state twice yields empty batches. A guarded port's host end is
 * created down (no plugin pass has seen the port yet) and is not brought up while `held`; one
 * already up is never taken down.
 */
export function plan({ desired, observed, applied, names, skip = new Set(), held = new Set(), providerMappings = new Map(), vlanSupported = true }: PlanInput): Plan {
  const root = new IpBatch();
  const creates = new IpBatch();
  const neighbours = new IpBatch();
  const fdb = new BridgeBatch();
  const tc = new TcBatch();
  const nsBatches = new Map<string, IpBatch>();
  const changed = new Map<string, string>();
  const failures: PlanFailure[] = [];
  const attributes = new Map<string, Record<string, string>>();
  const heldDown = new Set<string>();
  const overlay = new Map<string, OverlayEntries>();
  const linksTouched = new Set<string>();
  let fdbAfterRoot = false;
  const nsBatch = (ns: string): IpBatch => {
    let batch = nsBatches.get(ns);
    if (!batch) nsBatches.set(ns, (batch = new IpBatch(ns)));
    return batch;
  };

  const networks = new Map<string, DesiredResource<NetworkSpec>>();
  const ports: DesiredResource<PortSpec>[] = [];
  for (const r of desired) {
    if (r.kind === ResourceKind.Network) networks.set(r.id, r as DesiredResource<NetworkSpec>);
    else if (r.kind === ResourceKind.Port) ports.push(r as DesiredResource<PortSpec>);
    else failures.push({ key: resourceKey(r), reason: `this agent has no plugin for kind ${r.kind}`, terminal: true });
  }

  // Garbage first: marked objects no longer desired. A veth goes with its namespace.
  const wantedLinks = new Set<string>();
  const wantedNetns = new Set<string>();
  const { uplinks, masters } = providerLayout(networks.values(), providerMappings, names, vlanSupported);
  for (const n of networks.values()) {
    wantedLinks.add(names.bridge(n.id));
    if (n.spec.vxlan) wantedLinks.add(names.vxlan(n.id));
    const trunk = uplinks.get(n.id)?.trunk;
    if (trunk) for (const link of [trunk.bridge, trunk.peer, names.vlan(n.id)]) wantedLinks.add(link);
  }
  for (const p of ports) {
    wantedLinks.add(names.veth(p.id));
    if (!p.spec.netns) wantedNetns.add(names.portNetns(p.id));
  }
  // Plugins' namespaces share the prefix and host tag but go on with `p` (never hex): theirs to
  // collect, live. A dead file (nothing mounted: an agent killed while making it) is no plugin's
  // namespace (plugins see live ones only, and make one again over a dead file), so it goes here.
  const dead = observed.deadNetns ?? new Set<string>();
  const orphanNetns = [
    ...[...observed.netns].filter((ns) => !ns.startsWith(`${names.netnsPrefix}p`)),
    ...dead,
  ]
    .filter((ns) => names.ownsNetns(ns) && !wantedNetns.has(ns))
    .sort();
  for (const ns of orphanNetns) root.netnsDel(ns, `gc/netns/${ns}`);
  const orphaned = (name: string): boolean => names.ownsLink(name) && !wantedLinks.has(name) && observed.links.has(name);
  const orphanLinks = [...observed.links.values()]
    .filter((l) => orphaned(l.ifname))
    // A trunk end goes with its pair's other end (`u…` for `w…`), when that goes too.
    .filter((l) => !l.ifname.startsWith(`${names.prefix}w`) || !orphaned(`${names.prefix}u${l.ifname.slice(names.prefix.length + 1)}`));
  // Veths before bridges, so a bridge is empty when it goes.
  orphanLinks.sort((a, b) => Number(a.kind === 'bridge') - Number(b.kind === 'bridge') || a.ifname.localeCompare(b.ifname));
  for (const link of orphanLinks) root.linkDel(link.ifname, `gc/link/${link.ifname}`);
  // A mapped interface one of our bridges (or trunks) holds that no provider network wants there is let go.
  for (const iface of new Set(providerMappings.values())) {
    // Only mapped interfaces: plugins' links sit on our bridges too, and are theirs.
    const master = observed.links.get(iface)?.master;
    if (master === undefined || !names.ownsLink(master) || !/^[bt]/.test(master.slice(names.prefix.length))) continue;
    // A bridge being deleted lets go of its ports by itself.
    if (orphanLinks.some((l) => l.ifname === master)) continue;
    if (!masters.has(iface)) root.linkSet(iface, { nomaster: true }, `gc/uplink/${iface}`);
  }
  const trunksPlanned = new Set<string>();
  // Networks that cannot be realized on this host, and why: their ports fail with them.
  const unusable = new Map<string, PlanFailure>();

  for (const network of networks.values()) {
    const key = resourceKey(network);
    const bridge = names.bridge(network.id);
    const provider = network.spec.provider;
    // Reported even when skipped, as for ports: the VXLAN device (or the uplink) is named too.
    const uplink = uplinks.get(network.id);
    attributes.set(key, network.spec.vxlan ? { bridge, vxlan: names.vxlan(network.id) } : uplink ? { bridge, uplink: uplink.link } : { bridge });
    if (skip.has(key)) continue;
    const parent = provider && providerMappings.get(provider.physicalNetwork);
    const parentLink = parent ? observed.links.get(parent) : undefined;
    if (provider) {
      const failure = provider.vlanId !== undefined && !vlanSupported
        ? { reason: `this kernel cannot tag VLANs (no eBPF classifier in tc: cls_bpf, clsact): VLAN ${provider.vlanId} of physical network ${provider.physicalNetwork} cannot be realized here`, terminal: true }
        : !parent
        ? { reason: `physical network ${provider.physicalNetwork} is not mapped on this host (agent option --provider-mapping ${provider.physicalNetwork}:INTERFACE)`, terminal: true }
        : !parentLink
          ? { reason: `interface ${parent} of physical network ${provider.physicalNetwork} does not exist on this host`, terminal: false }
          : parentLink.master !== undefined && parentLink.master !== masters.get(parent) && !names.ownsLink(parentLink.master)
            ? { reason: `interface ${parent} of physical network ${provider.physicalNetwork} is already on ${parentLink.master}, which this agent does not own`, terminal: false }
            : undefined;
      if (failure) {
        failures.push({ key, ...failure });
        unusable.set(network.id, { key, ...failure });
        continue;
      }
    }
    const found = observed.links.get(bridge);
    const linkLines = creates.length;
    const tcLines = tc.length;
    if (!found) {
      creates.bridgeAdd(bridge, { mcastSnooping: false }, key);
      creates.linkSet(bridge, { addrgenmode: 'none', mtu: network.spec.mtu, alias: Names.alias('network', network.id) }, key);
      creates.linkSet(bridge, { up: true }, key);
      changed.set(key, specHash(network));
    } else if (found.mtu !== network.spec.mtu || !found.up) {
      creates.linkSet(bridge, { mtu: network.spec.mtu, up: true }, key);
      changed.set(key, specHash(network));
    }
    if (network.spec.vxlan) {
      const vxlan = names.vxlan(network.id);
      let device = observed.links.get(vxlan);
      const specChanged = applied.get(network.id) !== specHash(network);
      // Programmed when its spec is not known applied, or when what the device holds was looked at.
      let program = specChanged || observed.overlay.has(network.id);
      const { local } = network.spec.vxlan;
      if (device?.vxlan && (device.vxlan.id !== network.spec.vni || device.vxlan.local !== local || device.vxlan.port !== VXLAN_PORT || device.vxlan.proxy === false)) {
        // A VXLAN device's VNI, VTEP and port are fixed at creation: a changed one is re-made.
        creates.linkDel(vxlan, key);
        device = undefined;
      }
      if (!device) {
        creates.vxlanAdd(
          vxlan,
          { vni: network.spec.vni, dstport: VXLAN_PORT, local: network.spec.vxlan.local, learning: false, proxy: true, mtu: network.spec.mtu },
          key,
        );
        creates.linkSet(vxlan, { master: bridge, addrgenmode: 'none', alias: Names.alias('network', network.id) }, key);
        creates.linkSet(vxlan, { up: true }, key);
        program = true;
      } else if (device.master !== bridge || device.mtu !== network.spec.mtu || !device.up) {
        creates.linkSet(vxlan, { master: bridge, mtu: network.spec.mtu, up: true }, key);
        changed.set(key, specHash(network));
      }
      if (program) {
        const lines = fdb.length + neighbours.length;
        const fdbLines = fdb.length;
        overlay.set(network.id, programOverlay(network.spec.vxlan, vxlan, device ? observed.overlay.get(network.id) : undefined, { fdb, neighbours }, key));
        if (specChanged || fdb.length + neighbours.length > lines) changed.set(key, specHash(network));
        if (!device && fdb.length > fdbLines) fdbAfterRoot = true;
      }
    }
    if (provider && parentLink && uplink) {
      if (!uplink.trunk) {
        // Flat, alone on its interface: the bridge holds the interface itself.
        if (parentLink.master !== bridge || !parentLink.up) creates.linkSet(uplink.parent, { master: bridge, up: true }, key);
      } else {
        const { bridge: trunk, peer, ingress, egress } = uplink.trunk;
        if (!trunksPlanned.has(trunk)) {
          trunksPlanned.add(trunk);
          const found = observed.links.get(trunk);
          if (!found) {
            creates.bridgeAdd(trunk, { mcastSnooping: false }, key);
            creates.linkSet(trunk, { addrgenmode: 'none', alias: Names.alias('trunk', uplink.parent) }, key);
          }
          if (!found?.up) creates.linkSet(trunk, { up: true }, key);
          if (parentLink.master !== trunk || !parentLink.up) creates.linkSet(uplink.parent, { master: trunk, up: true }, key);
        }
        let device = observed.links.get(uplink.link);
        const peerLink = observed.links.get(peer);
        if (device && (device.kind !== 'veth' || !peerLink)) {
          // Not our pair (a former 802.1Q subinterface, or an end whose peer is gone): made again.
          creates.linkDel(uplink.link, key);
          device = undefined;
        }
        const mtu = network.spec.mtu;
        if (!device || !peerLink) {
          creates.vethAdd(uplink.link, { master: bridge, mtu, peer }, key);
          creates.linkSet(uplink.link, { addrgenmode: 'none', alias: Names.alias('network', network.id) }, key);
          creates.linkSet(peer, { master: trunk, addrgenmode: 'none', alias: Names.alias('network', network.id) }, key);
          creates.linkSet(uplink.link, { up: true }, key);
          creates.linkSet(peer, { up: true }, key);
        } else {
          if (device.master !== bridge || device.mtu !== mtu || !device.up) creates.linkSet(uplink.link, { master: bridge, mtu, up: true }, key);
          if (peerLink.master !== trunk || peerLink.mtu !== mtu || !peerLink.up) creates.linkSet(peer, { master: trunk, mtu, up: true }, key);
        }
        // The programs, on a new pair, a spec not known applied (its VLAN may have changed), or
        // other than these when they were read (a resync): replaced in place.
        const seen = observed.trunkPrograms?.get(peer);
        const drifted = seen !== undefined && (seen.ingress !== vlanProgramFile(ingress) || seen.egress !== vlanProgramFile(egress));
        if (!device || drifted || applied.get(network.id) !== specHash(network)) {
          tc.qdiscReplace({ dev: peer, qdisc: { kind: 'clsact' } }, key);
          tc.vlanFilter(peer, 'ingress', 1, ingress, key);
          tc.vlanFilter(peer, 'egress', 1, egress, key);
        }
      }
      if (creates.length > linkLines || tc.length > tcLines) changed.set(key, specHash(network));
    }
    if (creates.length > linkLines) linksTouched.add(key);
  }

  for (const port of ports) {
    const key = resourceKey(port);
    const network = networks.get(port.spec.networkId);
    const shared = port.spec.netns !== null;
    const { netns: ns, ifname } = names.portPlace(port.id, port.spec.netns);
    const veth = names.veth(port.id);
    attributes.set(key, { netns: ns, interface: ifname, hostInterface: veth, bridge: names.bridge(port.spec.networkId) });
    if (skip.has(key)) continue;
    if (!network) {
      failures.push({ key, reason: `network ${port.spec.networkId} is not in this host's desired state`, terminal: true });
      continue;
    }
    if (skip.has(resourceKey(network))) {
      failures.push({ key, reason: 'its network bridge failed; waiting for it', terminal: false });
      continue;
    }
    const cannot = unusable.get(network.id);
    if (cannot) {
      // Retried (a terminal failure waits for the port's own spec to change): the network may change under it.
      failures.push({ key, reason: `its network cannot be realized here: ${cannot.reason}`, terminal: false });
      continue;
    }
    if (shared && !observed.netns.has(ns)) {
      failures.push({ key, reason: `namespace ${ns} does not exist${dead.has(ns) ? ' (a file with no namespace mounted on it)' : ''}`, terminal: false });
      continue;
    }
    const hash = specHash(port);
    let configure = applied.get(port.id) !== hash;
    let found = observed.links.get(veth);
    if (!shared && !observed.netns.has(ns)) {
      // A dead file keeps the name: `netns add` fails until it is removed.
      if (dead.has(ns)) creates.netnsDel(ns, key);
      creates.netnsAdd(ns, key);
      configure = true;
      // The old peer is elsewhere (a namespace still held open, or a former spec.netns): re-create the pair.
      if (found) creates.linkDel(veth, key);
      found = undefined;
    }
    const bridge = names.bridge(network.id);
    const guarded = (port.spec.guardedBy?.length ?? 0) > 0;
    // Without carrier on the host end, nothing passes until the guards have seen the port.
    const down = guarded && (!found || (!found.up && held.has(port.id)));
    if (down) heldDown.add(port.id);
    if (!found) {
      creates.vethAdd(veth, { master: bridge, mtu: port.spec.mtu, peer: ifname, peerNetns: ns }, key);
      creates.linkSet(veth, { addrgenmode: 'none', alias: Names.alias('port', port.id) }, key);
      if (!down) creates.linkSet(veth, { up: true }, key);
      configure = true;
    } else if (found.master !== bridge || found.mtu !== port.spec.mtu || (!found.up && !down)) {
      creates.linkSet(veth, { master: bridge, mtu: port.spec.mtu, ...(down ? {} : { up: true }) }, key);
      changed.set(key, hash);
    }
    if (configure) {
      const batch = nsBatch(ns);
      const wanted = new Set(port.spec.addresses.map((a) => a.cidr));
      for (const stale of observed.portAddresses.get(port.id) ?? []) {
        if (!wanted.has(stale)) batch.addrDel(stale, ifname, key);
      }
      if (!shared) batch.linkSet('lo', { up: true }, key);
      batch.linkSet(ifname, { addrgenmode: 'none' }, key);
      batch.linkSet(ifname, { address: port.spec.mac, mtu: port.spec.mtu }, key);
      batch.linkSet(ifname, { up: true }, key);
      for (const a of port.spec.addresses) batch.addrReplace(a.cidr, ifname, key);
      for (const r of port.spec.routes) batch.routeReplace({ dst: r.dst, via: r.via, dev: ifname, family: r.family }, key);
      changed.set(key, hash);
    }
  }

  root.lines.push(...creates.lines, ...neighbours.lines);
  return { root, fdb, tc, inNetns: [...nsBatches.values()], changed, failures, attributes, heldDown, overlay, linksTouched, fdbAfterRoot };
}

/**
 * Each provider network's {@link Uplink}, and the bridge each mapped interface belongs on (its
 * trunk once a VLAN network uses it; else its flat network's bridge; absent: on none). Networks
 * whose physical network is not mapped here have none; without VLAN support, VLAN networks neither.
 */
export function providerLayout(
  networks: Iterable<DesiredResource<NetworkSpec>>,
  mappings: ReadonlyMap<string, string>,
  names: Names,
  vlanSupported = true,
): { uplinks: Map<string, Uplink>; masters: Map<string, string> } {
  const on = [...networks].flatMap((n) => {
    const provider = n.spec.provider;
    const parent = provider && mappings.get(provider.physicalNetwork);
    return parent && (provider.vlanId === undefined || vlanSupported) ? [{ n, parent, vlanId: provider.vlanId }] : [];
  });
  const trunked = new Set(on.filter((u) => u.vlanId !== undefined).map((u) => u.parent));
  const uplinks = new Map<string, Uplink>();
  const masters = new Map<string, string>();
  for (const { n, parent, vlanId } of on) {
    if (!trunked.has(parent)) {
      uplinks.set(n.id, { parent, link: parent });
      masters.set(parent, names.bridge(n.id));
      continue;
    }
    const [ingress, egress]: VlanProgram[] =
      vlanId === undefined ? [{ kind: 'untagged' }, { kind: 'untagged' }] : [{ kind: 'tag', vlanId }, { kind: 'untag', vlanId }];
    uplinks.set(n.id, { parent, link: names.vlan(n.id), trunk: { bridge: names.trunk(parent), peer: names.vlanPeer(n.id), ingress, egress } });
    masters.set(parent, names.trunk(parent));
  }
  return { uplinks, masters };
}

/**
 * The difference between a VXLAN device's entries and its spec (as Neutron's l2population): a
 * flood entry per peer VTEP (head-end replication), a static FDB entry per remote MAC, a static
 * neighbour per remote IP so the device answers ARP/ND itself (`proxy`) and nothing floods.
 * Returns the entries the device holds once the lines applied.
 */
function programOverlay(
  spec: VxlanSpec,
  device: string,
  seen: OverlayEntries | undefined,
  out: { fdb: BridgeBatch; neighbours: IpBatch },
  key: string,
): OverlayEntries {
  const fdbKey = (mac: string, dst: string): string => `${mac}|${dst}`;
  const wantFdb = new Map<string, { mac: string; dst: string }>();
  for (const peer of spec.peers) wantFdb.set(fdbKey(FLOOD_MAC, peer), { mac: FLOOD_MAC, dst: peer });
  for (const r of spec.remotes) wantFdb.set(fdbKey(r.mac, r.vtep), { mac: r.mac, dst: r.vtep });
  const haveFdb = new Set((seen?.fdb ?? []).map((e) => fdbKey(e.mac, e.dst)));
  for (const e of seen?.fdb ?? []) if (!wantFdb.has(fdbKey(e.mac, e.dst))) out.fdb.fdbDel(e.mac, device, e.dst, key);
  for (const [k, e] of wantFdb) {
    if (haveFdb.has(k)) continue;
    if (e.mac === FLOOD_MAC) out.fdb.fdbAppend(e.mac, device, e.dst, key);
    else out.fdb.fdbReplace(e.mac, device, e.dst, key);
  }
  const wantNeigh = new Map(spec.remotes.flatMap((r) => r.ips.map((ip) => [ip, r.mac] as const)));
  const haveNeigh = new Map((seen?.neigh ?? []).map((n) => [n.ip, n.mac]));
  for (const [ip, mac] of haveNeigh) if (wantNeigh.get(ip) !== mac) out.neighbours.neighDel(ip, device, key);
  for (const [ip, mac] of wantNeigh) if (haveNeigh.get(ip) !== mac) out.neighbours.neighReplace(ip, mac, device, key);
  return { fdb: [...wantFdb.values()], neigh: [...wantNeigh].map(([ip, mac]) => ({ ip, mac })) };
}
