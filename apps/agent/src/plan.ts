import { createHash } from 'node:crypto';
import { IpBatch, LinkInfo } from '@netloom/linux';
import { DesiredResource, NetworkSpec, PortSpec, ResourceKind, resourceKey } from '@netloom/model';
import { Names } from './naming';

/** What the kernel looks like, read cheaply (one process for links, a directory read for namespaces). */
export interface Observed {
  links: Map<string, LinkInfo>;
  netns: Set<string>;
  /** Addresses found inside the namespaces of ports that were read closely, by port id. */
  portAddresses: Map<string, string[]>;
}

/** Why a resource could not be planned: `terminal` failures wait for a new spec, others retry. */
export interface PlanFailure {
  key: string;
  reason: string;
  terminal: boolean;
}

export interface Plan {
  /** One batch in the agent's own namespace: namespaces, bridges, veths, deletions. */
  root: IpBatch;
  /** One batch per port namespace that needs configuring. */
  inNetns: IpBatch[];
  /** Keys of resources that will be (re)applied, with the hash to remember once they succeed. */
  changed: Map<string, string>;
  failures: PlanFailure[];
  /** Attributes to report per resource key (names of what was realized). */
  attributes: Map<string, Record<string, string>>;
}

export interface PlanInput {
  desired: DesiredResource[];
  observed: Observed;
  /** Spec hash of each port whose namespace side was applied and verified. */
  applied: ReadonlyMap<string, string>;
  names: Names;
  /** Resource keys not to touch this time (backing off after a failure). */
  skip?: ReadonlySet<string>;
}

const hashes = new WeakMap<DesiredResource, string>();
/** A digest of a resource's spec, computed once per resource object (they are replaced, not edited). */
export function specHash(r: DesiredResource): string {
  let hash = hashes.get(r);
  if (hash === undefined) {
    hash = createHash('sha1').update(JSON.stringify(r.spec)).digest('base64');
    hashes.set(r, hash);
  }
  return hash;
}

/** Ports whose namespace side must be read before planning: their veth exists but their spec is not known applied. */
export function portsToInspect(input: Omit<PlanInput, 'observed'> & { observed: Pick<Observed, 'links'> }): string[] {
  return input.desired
    .filter((r) => r.kind === ResourceKind.Port && input.observed.links.has(input.names.veth(r.id)))
    // Not applied as specified (changed, failed, or the record was lost): what is there must be read.
    .filter((r) => input.applied.get(r.id) !== specHash(r))
    .map((r) => r.id);
}

/**
 * The ordered plan that makes the kernel match the desired state (pure). Level-triggered: it
 * compares desired with observed, never "what happened". Nothing that already matches gets a
 * command, so planning the same state twice yields empty batches.
 */
export function plan({ desired, observed, applied, names, skip = new Set() }: PlanInput): Plan {
  const root = new IpBatch();
  const creates = new IpBatch();
  const nsBatches = new Map<string, IpBatch>();
  const changed = new Map<string, string>();
  const failures: PlanFailure[] = [];
  const attributes = new Map<string, Record<string, string>>();
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
  for (const n of networks.values()) wantedLinks.add(names.bridge(n.id));
  for (const p of ports) {
    wantedLinks.add(names.veth(p.id));
    if (!p.spec.netns) wantedNetns.add(names.portNetns(p.id));
  }
  const orphanNetns = [...observed.netns].filter((ns) => names.ownsNetns(ns) && !wantedNetns.has(ns)).sort();
  for (const ns of orphanNetns) root.netnsDel(ns, `gc/netns/${ns}`);
  const orphanLinks = [...observed.links.values()].filter((l) => names.ownsLink(l.ifname) && !wantedLinks.has(l.ifname));
  // Veths before bridges, so a bridge is empty when it goes.
  orphanLinks.sort((a, b) => Number(a.kind === 'bridge') - Number(b.kind === 'bridge') || a.ifname.localeCompare(b.ifname));
  for (const link of orphanLinks) root.linkDel(link.ifname, `gc/link/${link.ifname}`);

  for (const network of networks.values()) {
    const key = resourceKey(network);
    const bridge = names.bridge(network.id);
    attributes.set(key, { bridge });
    if (skip.has(key)) continue;
    const found = observed.links.get(bridge);
    if (!found) {
      creates.bridgeAdd(bridge, {}, key);
      creates.linkSet(bridge, { addrgenmode: 'none', mtu: network.spec.mtu, alias: Names.alias('network', network.id) }, key);
      creates.linkSet(bridge, { up: true }, key);
      changed.set(key, specHash(network));
    } else if (found.mtu !== network.spec.mtu || !found.up) {
      creates.linkSet(bridge, { mtu: network.spec.mtu, up: true }, key);
      changed.set(key, specHash(network));
    }
  }

  for (const port of ports) {
    const key = resourceKey(port);
    const network = networks.get(port.spec.networkId);
    const shared = port.spec.netns !== null;
    const ns = port.spec.netns ?? names.portNetns(port.id);
    const veth = names.veth(port.id);
    const ifname = names.portInterface(port.id, shared);
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
    if (shared && !observed.netns.has(ns)) {
      failures.push({ key, reason: `namespace ${ns} does not exist`, terminal: false });
      continue;
    }
    const hash = specHash(port);
    let configure = applied.get(port.id) !== hash;
    let found = observed.links.get(veth);
    if (!shared && !observed.netns.has(ns)) {
      creates.netnsAdd(ns, key);
      configure = true;
      // The old peer is elsewhere (a namespace still held open, or a former spec.netns): re-create the pair.
      if (found) creates.linkDel(veth, key);
      found = undefined;
    }
    const bridge = names.bridge(network.id);
    if (!found) {
      creates.vethAdd(veth, { master: bridge, mtu: port.spec.mtu, peer: ifname, peerNetns: ns }, key);
      creates.linkSet(veth, { addrgenmode: 'none', alias: Names.alias('port', port.id) }, key);
      creates.linkSet(veth, { up: true }, key);
      configure = true;
    } else if (found.master !== bridge || found.mtu !== port.spec.mtu || !found.up) {
      creates.linkSet(veth, { master: bridge, mtu: port.spec.mtu, up: true }, key);
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

  root.lines.push(...creates.lines);
  return { root, inNetns: [...nsBatches.values()], changed, failures, attributes };
}
