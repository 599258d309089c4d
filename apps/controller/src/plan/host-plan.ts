import type { BatchLine, LinkInfo } from '@netloom/linux';
import { DesiredResource, NetworkSpec, PortSpec, ResourceKind, resourceKey, VXLAN_PORT } from '@netloom/model';
import { FLOOD_MAC, Names, Observed, plan, planPortSecurity, providerLayout, specHash } from '@netloom/planner';

/** One command an agent would run: a line of an `ip`/`bridge` batch (in a namespace, or the host's) or of the `nft` script. */
export interface PlannedCommand {
  tool: 'ip' | 'bridge' | 'tc' | 'nft';
  /** The namespace an `ip` batch runs in; null: the host's own. */
  netns: string | null;
  line: string;
}

export type ResourceChange = 'CREATED' | 'CHANGED' | 'DELETED';

/** A top-level field of a resource's spec that differs, as JSON text (null: absent). */
export interface FieldChange {
  field: string;
  before: string | null;
  after: string | null;
}

export interface PlannedResource {
  kind: string;
  id: string;
  change: ResourceChange;
  /** What the core agent would run for it (none for a plugin kind: its agent half decides). */
  commands: PlannedCommand[];
  fields: FieldChange[];
  /** Whether the kernel side is decided by the plugin of the kind on the host (not planned here). */
  byPlugin: boolean;
  /** Why the agent could not plan it (e.g. its network is not on the host). */
  problems: string[];
}

export interface HostPlan {
  resources: PlannedResource[];
  /** The `nft -f` script of the host's port-security table (empty: unchanged). */
  portSecurity: PlannedCommand[];
}

const CORE = new Set<string>([ResourceKind.Network, ResourceKind.Port]);
const isCore = (r: DesiredResource): boolean => CORE.has(r.kind);

/**
 * The kernel of a host that applied `before` and nothing else, as the agent would observe it:
 * every bridge, VXLAN device and veth up with its spec's MTU, every namespace there (the user's
 * namespaces `after` names too), every address and overlay entry in place.
 */
export function kernelAt(
  before: readonly DesiredResource[],
  after: readonly DesiredResource[],
  names: Names,
  mappings: ReadonlyMap<string, string> = new Map(),
  vlanSupported = true,
): Observed {
  const observed: Observed = { links: new Map(), netns: new Set(), portAddresses: new Map(), overlay: new Map() };
  const link = (info: Omit<LinkInfo, 'ifindex' | 'up'>): void => void observed.links.set(info.ifname, { ifindex: observed.links.size + 1, up: true, ...info });
  // The mapped interfaces are there (the agent checks that; the plan assumes it), on no bridge unless `before` puts them on one.
  for (const iface of new Set(mappings.values())) link({ ifname: iface, mtu: 1500 });
  const { uplinks, masters } = providerLayout(before.filter((r): r is DesiredResource<NetworkSpec> => r.kind === ResourceKind.Network), mappings, names, vlanSupported);
  for (const [iface, master] of masters) {
    link({ ifname: iface, mtu: 1500, master });
    if (master !== names.trunk(iface)) continue;
    link({ ifname: master, kind: 'bridge', mtu: 1500 });
  }
  for (const r of before) {
    if (r.kind === ResourceKind.Network) {
      const spec = r.spec as NetworkSpec;
      const bridge = names.bridge(r.id);
      link({ ifname: bridge, kind: 'bridge', mtu: spec.mtu });
      const trunk = uplinks.get(r.id)?.trunk;
      if (trunk) {
        link({ ifname: names.vlan(r.id), kind: 'veth', master: bridge, mtu: spec.mtu });
        link({ ifname: trunk.peer, kind: 'veth', master: trunk.bridge, mtu: spec.mtu });
      }
      if (!spec.vxlan) continue;
      link({ ifname: names.vxlan(r.id), kind: 'vxlan', master: bridge, mtu: spec.mtu, vxlan: { id: spec.vni, local: spec.vxlan.local, port: VXLAN_PORT, learning: false, proxy: true } });
      observed.overlay.set(r.id, {
        fdb: [...spec.vxlan.peers.map((dst) => ({ mac: FLOOD_MAC, dst })), ...spec.vxlan.remotes.map((x) => ({ mac: x.mac, dst: x.vtep }))],
        neigh: spec.vxlan.remotes.flatMap((x) => x.ips.map((ip) => ({ ip, mac: x.mac }))),
      });
    } else if (r.kind === ResourceKind.Port) {
      const spec = r.spec as PortSpec;
      link({ ifname: names.veth(r.id), kind: 'veth', master: names.bridge(spec.networkId), mtu: spec.mtu });
      observed.netns.add(names.portPlace(r.id, spec.netns).netns);
      observed.portAddresses.set(r.id, spec.addresses.map((a) => a.cidr));
    }
  }
  for (const r of after) if (r.kind === ResourceKind.Port && (r.spec as PortSpec).netns) observed.netns.add((r.spec as PortSpec).netns!);
  return observed;
}

/** The top-level spec fields that differ between two resources (absent ones count as null). */
export function fieldChanges(before: DesiredResource | undefined, after: DesiredResource | undefined): FieldChange[] {
  const b = (before?.spec ?? {}) as Record<string, unknown>;
  const a = (after?.spec ?? {}) as Record<string, unknown>;
  const json = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));
  return [...new Set([...Object.keys(b), ...Object.keys(a)])]
    .sort()
    .map((field) => ({ field, before: json(b[field]), after: json(a[field]) }))
    .filter((f) => f.before !== f.after);
}

/**
 * What one host's agent would change to go from the desired state `before` to `after` (pure):
 * the core planner (`plan`, `planPortSecurity`) run with `before` standing in for the kernel, so
 * each line is one the agent would run on a host at its applied revision. Garbage lines are
 * charged to the deleted resource whose link or namespace they remove. Plugin kinds are shown by
 * their spec fields: their agent halves decide the kernel lines on the host.
 */
export function planHost(
  before: readonly DesiredResource[],
  after: readonly DesiredResource[],
  names: Names,
  /** The host's provider mappings as its agent reported them (physical network → interface). */
  providerMappings: ReadonlyMap<string, string> = new Map(),
  /** Whether its agent can tag VLANs (its `vlan` capability). */
  vlanSupported = true,
): HostPlan {
  const was = new Map(before.map((r) => [resourceKey(r), r]));
  const will = new Map(after.map((r) => [resourceKey(r), r]));
  // The realizer keeps the object of a resource that did not change: such a port gets no line and
  // is left out of the planning (a host of 1000 ports costs ~200 ms planned whole). Networks stay
  // (ports need theirs), their overlay unread when they did not change; one unchanged secured
  // port stays on both sides so that the port-security table is not taken for empty.
  const same = (r: DesiredResource): boolean => was.get(resourceKey(r)) === r;
  const anchor = after.find((r) => r.kind === ResourceKind.Port && same(r) && (r.spec as PortSpec).portSecurity !== false);
  const toPlan = (list: readonly DesiredResource[]): DesiredResource[] => list.filter((r) => r.kind === ResourceKind.Network || (isCore(r) && (!will.has(resourceKey(r)) || !same(will.get(resourceKey(r))!) || r === anchor)));
  const core = toPlan(after);
  const coreBefore = toPlan(before);
  const applied = new Map(coreBefore.map((r) => [r.id, specHash(r)]));
  const observed = kernelAt(coreBefore, core, names, providerMappings, vlanSupported);
  for (const r of core) if (r.kind === ResourceKind.Network && same(r)) observed.overlay.delete(r.id);
  const result = plan({ desired: core, observed, applied, names, providerMappings, vlanSupported });

  // What garbage collection names (a link, a namespace) → the resource that had it.
  const owner = new Map<string, string>();
  for (const r of coreBefore) {
    const key = resourceKey(r);
    if (r.kind === ResourceKind.Network) {
      owner.set(`gc/link/${names.bridge(r.id)}`, key);
      owner.set(`gc/link/${names.vxlan(r.id)}`, key);
      owner.set(`gc/link/${names.vlan(r.id)}`, key);
      const provider = (r.spec as NetworkSpec).provider;
      const parent = provider && providerMappings.get(provider.physicalNetwork);
      if (parent) {
        // The interface and its trunk are charged to a network that used them (the last one goes with them).
        owner.set(`gc/uplink/${parent}`, key);
        owner.set(`gc/link/${names.trunk(parent)}`, key);
      }
    } else if (r.kind === ResourceKind.Port) {
      owner.set(`gc/link/${names.veth(r.id)}`, key);
      owner.set(`gc/netns/${names.portNetns(r.id)}`, key);
    }
  }
  const commands = new Map<string, PlannedCommand[]>();
  const charge = (tool: PlannedCommand['tool'], netns: string | null, lines: readonly BatchLine[]): void => {
    for (const { text, key } of lines) {
      const k = key === undefined ? '' : (owner.get(key) ?? key);
      commands.set(k, [...(commands.get(k) ?? []), { tool, netns, line: text }]);
    }
  };
  charge('ip', null, result.root.lines);
  charge('bridge', null, result.fdb.lines);
  charge('tc', null, result.tc.lines);
  for (const batch of result.inNetns) charge('ip', batch.netns ?? null, batch.lines);

  const problems = new Map<string, string[]>();
  for (const f of result.failures) problems.set(f.key, [...(problems.get(f.key) ?? []), f.reason]);
  const secured = planPortSecurity(core, planPortSecurity(coreBefore, null, names).after, names);
  const portSecurity = secured.script
    .split('\n')
    .filter((line) => line)
    .map((line): PlannedCommand => ({ tool: 'nft', netns: null, line }));

  const keys = [...new Set([...was.keys(), ...will.keys(), ...commands.keys()])].filter((k) => k !== '').sort();
  const resources: PlannedResource[] = [];
  for (const key of keys) {
    const b = was.get(key);
    const a = will.get(key);
    if (b && b === a && !commands.has(key) && !problems.has(key)) continue;
    const fields = fieldChanges(b, a);
    const lines = commands.get(key) ?? [];
    if (b && a && !fields.length && !lines.length && !problems.has(key)) continue;
    // A garbage line of something no resource had (left over): not this change's.
    const r = a ?? b;
    if (!r) continue;
    resources.push({
      kind: r.kind,
      id: r.id,
      change: !b ? 'CREATED' : !a ? 'DELETED' : 'CHANGED',
      commands: lines,
      fields,
      byPlugin: !isCore(r),
      problems: problems.get(key) ?? [],
    });
  }
  return { resources, portSecurity };
}
