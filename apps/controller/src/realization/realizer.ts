import { createHash } from 'node:crypto';
import { DesiredResource, ResourceKind, resourceKey } from '@netloom/model';
import { IntentView } from '@netloom/plugin-sdk';
import { networkMtu, networkResourceFrom, PluginPlacement, pluginResource, portAddresses, portResource, RemoteEntries, remoteEntries, spanRemotes } from './compile';
import { IntentStore, Read, ResourceRow, RowChange, RowKind, touches } from './intent-store';

/** Hashes and JSON sizes by resource object: a desired resource is not changed once made, and is hashed once. */
const hashes = new WeakMap<DesiredResource, { hash: string; bytes: number }>();

function hashed(r: DesiredResource): { hash: string; bytes: number } {
  let known = hashes.get(r);
  if (known === undefined) {
    const text = JSON.stringify([r.generation, r.spec]);
    known = { hash: createHash('sha1').update(text).digest('base64'), bytes: text.length };
    hashes.set(r, known);
  }
  return known;
}

/** The hash a desired resource is compared by (what an agent was sent against what it should have). */
export const hashOf = (r: DesiredResource): string => hashed(r).hash;

/** About how large a desired resource is as JSON (characters of its generation and spec). */
export const sizeOf = (r: DesiredResource): number => hashed(r).bytes;

/** The plugin that places resources of a kind. */
export interface Placer {
  pluginId: string;
  /** The plugin's kinds: the ones its controller half may read with `resources()`. */
  kinds: ReadonlySet<string>;
  /**
   * Its placements of one resource. A failure is the placer's to report (log), then to throw: the
   * resource is placed nowhere, and the error's message kept as the reason.
   */
  place(resource: ResourceRow, view: IntentView): Promise<PluginPlacement[]>;
  /** What of a host's observed state of a resource its placement reads (`observedForPlacement`); undefined: nothing, or the plugin keeps none. */
  observedForPlacement?(observed: Record<string, unknown>, kind: string): unknown;
}

/** What the last placement of a plugin resource came to: what its GraphQL `placement` shows. */
export interface PlacementOutcome {
  /** The generation of the resource that was placed. */
  generation: number;
  /** Hosts of the intent it was placed on (distinct). */
  hosts: number;
  /** Why it is on no host: its plugin placed it nowhere, or failed, or no loaded plugin places it; absent when placed. */
  reason?: string;
}

/** What one host's desired state gained and lost in a pass: resources to send, keys to delete. */
export interface HostDelta {
  upserts: DesiredResource[];
  deletes: string[];
}

interface Item {
  resource: DesiredResource;
  hash: string;
}

interface Placed {
  key: string;
  placements: PluginPlacement[];
  reads: Read[];
}

/** What a pass must recompute. */
interface Dirty {
  resources: Set<string>;
  networks: Set<string>;
  ports: Set<string>;
  /** host id → plugin resource id → its key: items on that host that may have changed. */
  items: Map<string, Map<string, string>>;
}

/** A placement's outcome: the hosts of the intent it names, or why there is none. */
function outcomeOf(generation: number, placements: PluginPlacement[], failure: string | undefined, hostExists: (id: string) => boolean): PlacementOutcome {
  if (failure !== undefined) return { generation, hosts: 0, reason: failure };
  const hosts = new Set(placements.map((p) => p.hostId).filter(hostExists)).size;
  if (hosts) return { generation, hosts };
  const reason = placements.length ? 'its plugin placed it only on hosts that do not exist' : 'its plugin placed it on no host';
  return { generation, hosts: 0, reason };
}

const push = <K, V>(map: Map<K, Set<V>>, key: K, value: V): void => void map.set(key, (map.get(key) ?? new Set<V>()).add(value));

/**
 * Incremental realization: every host's desired state, kept current change by change. From each
 * change it derives what the change touches — a port: its own resource and its network on every
 * host of the network's span; a network, subnet or host: the items that read it; a plugin
 * resource: its placement, and every placement that read a row the change touched — and
 * recomputes only those, with the same functions as the full compiler (`compileHosts`, the
 * reference it is tested against). A pass costs in proportion to what changed (and to the size
 * of the networks it touches), not to the size of the site.
 */
export class Realizer {
  private readonly desired = new Map<string, Map<string, Item>>();
  private readonly placed = new Map<string, Placed>();
  /** resource id → what its last placement came to. */
  private readonly outcomes = new Map<string, PlacementOutcome>();
  /** row kind → ids of plugin resources whose placement read rows of that kind. */
  private readonly readers = new Map<RowKind, Set<string>>();
  /** host id → ids of plugin resources placed there. */
  private readonly placedOn = new Map<string, Set<string>>();
  /** network id → host id → how many placements name it there. */
  private readonly presence = new Map<string, Map<string, number>>();
  /** network id → host id → resource id → the endpoints its placements there announce. */
  private readonly endpoints = new Map<string, Map<string, Map<string, RemoteEntries>>>();
  /** host id → port id → keys of the resources guarding it (first placement per host only). */
  private readonly guards = new Map<string, Map<string, Set<string>>>();
  /** network id → the hosts it has an item on, and its MTU. */
  private readonly networks = new Map<string, { hosts: Set<string>; mtu: number }>();
  /** port id → the host its item is on. */
  private readonly portHost = new Map<string, string>();
  /** Whether each host took part in the others' spans at the last pass. */
  private readonly spanMember = new Map<string, boolean>();
  private changed = new Map<string, Set<string>>();

  constructor(
    private readonly store: IntentStore,
    private readonly placerOf: (kind: string) => Placer | undefined,
    private readonly inSpan: (hostId: string) => boolean,
  ) {}

  /** Every host with a desired state (each host of the intent). */
  hostIds(): string[] {
    return [...this.desired.keys()];
  }

  /** One host's desired resources, ordered by key. */
  resourcesOf(hostId: string): DesiredResource[] {
    const items = this.desired.get(hostId);
    if (!items) return [];
    return [...items.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, i]) => i.resource);
  }

  /** One host's desired state as hashes by resource key. */
  hashesOf(hostId: string): Map<string, string> {
    return new Map([...(this.desired.get(hostId) ?? [])].map(([key, i]) => [key, i.hash]));
  }

  /** What the last placement of a plugin resource came to; undefined before its first (or once it is gone). */
  placementOf(id: string): PlacementOutcome | undefined {
    return this.outcomes.get(id);
  }

  /** Computes everything from the store (at start). */
  rebuild(): Promise<Map<string, HostDelta | null>> {
    return this.pass([...this.store.hosts.keys()].map((id) => ({ kind: 'Host', id, after: this.store.hosts.get(id) })), true);
  }

  /**
   * Brings the desired state up to date with changes already put into the store, and with hosts
   * that joined or left the spans. Returns each host whose desired state changed: what to send
   * it, or null when the host is gone.
   */
  apply(changes: RowChange[]): Promise<Map<string, HostDelta | null>> {
    return this.pass(changes, false);
  }

  private async pass(changes: RowChange[], everything: boolean): Promise<Map<string, HostDelta | null>> {
    this.changed = new Map();
    const dirty: Dirty = { resources: new Set(), networks: new Set(), ports: new Set(), items: new Map() };
    const removed: string[] = [];
    if (everything) {
      for (const id of this.store.resources.keys()) dirty.resources.add(id);
      for (const id of this.store.networks.keys()) dirty.networks.add(id);
      for (const id of this.store.ports.keys()) dirty.ports.add(id);
    }
    for (const change of changes) {
      this.derive(change, dirty);
      if (change.kind === 'Host' && !change.after) removed.push(change.id);
      if (change.kind === 'Host' && change.after && !this.desired.has(change.id)) this.desired.set(change.id, new Map());
    }
    for (const hostId of this.store.hosts.keys()) {
      const member = this.inSpan(hostId);
      if (this.spanMember.get(hostId) === member) continue;
      this.spanMember.set(hostId, member);
      for (const networkId of this.networksOn(hostId)) dirty.networks.add(networkId);
    }
    for (const id of dirty.resources) await this.place(id, dirty);
    for (const id of dirty.networks) this.network(id, dirty);
    for (const id of dirty.ports) this.port(id);
    for (const [hostId, ids] of dirty.items) for (const [id, key] of ids) this.pluginItem(hostId, id, key);
    const out = new Map<string, HostDelta | null>();
    for (const hostId of removed) {
      if (this.store.hosts.has(hostId)) continue;
      this.desired.delete(hostId);
      this.spanMember.delete(hostId);
      this.changed.delete(hostId);
      out.set(hostId, null);
    }
    for (const [hostId, keys] of this.changed) {
      const items = this.desired.get(hostId);
      if (!items) continue;
      const delta: HostDelta = { upserts: [], deletes: [] };
      for (const key of keys) {
        const item = items.get(key);
        if (item) delta.upserts.push(item.resource);
        else delta.deletes.push(key);
      }
      out.set(hostId, delta);
    }
    return out;
  }

  /** What one change makes dirty. */
  private derive(change: RowChange, dirty: Dirty): void {
    switch (change.kind) {
      case 'Host': {
        // Its VTEP and underlay MTU are in its networks' resources; its name and labels in none.
        const { before, after } = change;
        if (!before || !after || before.vtepAddress !== after.vtepAddress || before.underlayMtu !== after.underlayMtu) {
          for (const networkId of this.networksOn(change.id)) dirty.networks.add(networkId);
        }
        // Placements on a host that comes or goes count, or stop counting.
        if (!before || !after) for (const id of this.placedOn.get(change.id) ?? []) dirty.resources.add(id);
        break;
      }
      case 'Network':
        dirty.networks.add(change.id);
        break;
      case 'Subnet':
        // Its ports' routes and prefixes (a subnet holding addresses is never deleted).
        for (const portId of this.store.portsInSubnet(change.id)) dirty.ports.add(portId);
        break;
      case 'Port':
        dirty.ports.add(change.id);
        if (change.before) dirty.networks.add(change.before.networkId);
        if (change.after) dirty.networks.add(change.after.networkId);
        break;
      case 'Resource':
        dirty.resources.add(change.id);
        break;
      case 'Observed':
        // Only the placements that read it (below).
        break;
    }
    for (const id of this.readers.get(change.kind) ?? []) {
      if (this.placed.get(id)!.reads.some((read) => touches(read, change))) dirty.resources.add(id);
    }
  }

  private networksOn(hostId: string): string[] {
    return [...this.networks].filter(([, n]) => n.hosts.has(hostId)).map(([id]) => id);
  }

  /** Places one plugin resource again (or removes it), and marks what its placements touch. */
  private async place(id: string, dirty: Dirty): Promise<void> {
    const before = this.placed.get(id);
    // The ports it guards, before and after: only those whose guards change are compiled again
    // (a 500-rule policy's one rule changed re-placed it, and recompiled every port it covers).
    const guarded = new Map<string, number>();
    try {
      await this.placeAgain(id, before, dirty, guarded);
    } finally {
      for (const [at, change] of guarded) if (change !== 0) dirty.ports.add(at.slice(at.indexOf(' ') + 1));
    }
  }

  private async placeAgain(id: string, before: Placed | undefined, dirty: Dirty, guarded: Map<string, number>): Promise<void> {
    if (before) this.index(id, before, -1, dirty, guarded);
    const resource = this.store.resources.get(id);
    const placer = resource && this.placerOf(resource.kind);
    if (!resource || !placer) {
      this.placed.delete(id);
      if (resource) this.outcomes.set(id, { generation: resource.generation, hosts: 0, reason: `no loaded plugin places ${resource.kind}` });
      else this.outcomes.delete(id);
      return;
    }
    const reads: Read[] = [];
    let placements: PluginPlacement[] = [];
    let failure: string | undefined;
    try {
      placements = await placer.place(resource, this.store.view(placer.kinds, placer.pluginId, reads));
    } catch (error) {
      placements = [];
      failure = `its plugin failed to place it: ${error instanceof Error ? error.message : String(error)}`;
    }
    const after: Placed = { key: resourceKey(resource), placements, reads };
    this.placed.set(id, after);
    this.outcomes.set(id, outcomeOf(resource.generation, placements, failure, (hostId) => this.store.hosts.has(hostId)));
    this.index(id, after, 1, dirty, guarded);
  }

  /**
   * Adds (+1) or removes (-1) a resource's placements from the indexes; marks what they touch,
   * but the ports it guards: their guard changes are counted in `guarded` ("host port" → net change).
   */
  private index(id: string, placed: Placed, sign: 1 | -1, dirty: Dirty, guarded: Map<string, number>): void {
    for (const kind of new Set(placed.reads.map((r) => r.kind))) {
      if (sign > 0) push(this.readers, kind, id);
      else this.readers.get(kind)?.delete(id);
    }
    const first = new Set<string>();
    for (const p of placed.placements) {
      dirty.items.set(p.hostId, (dirty.items.get(p.hostId) ?? new Map<string, string>()).set(id, placed.key));
      if (sign > 0) push(this.placedOn, p.hostId, id);
      else this.placedOn.get(p.hostId)?.delete(id);
      for (const networkId of p.networks ?? []) {
        const byHost = this.presence.get(networkId) ?? new Map<string, number>();
        const count = (byHost.get(p.hostId) ?? 0) + sign;
        if (count > 0) byHost.set(p.hostId, count);
        else byHost.delete(p.hostId);
        this.presence.set(networkId, byHost);
        dirty.networks.add(networkId);
      }
      for (const e of p.endpoints ?? []) {
        const byHost = this.endpoints.get(e.networkId) ?? new Map<string, Map<string, RemoteEntries>>();
        const byResource = byHost.get(p.hostId) ?? new Map<string, RemoteEntries>();
        if (sign > 0) byResource.set(id, [...(byResource.get(id) ?? []), { mac: e.mac, ips: e.ips }]);
        else byResource.delete(id);
        byHost.set(p.hostId, byResource);
        this.endpoints.set(e.networkId, byHost);
        dirty.networks.add(e.networkId);
      }
      if (first.has(p.hostId)) continue;
      first.add(p.hostId);
      if (!Array.isArray(p.guards)) continue;
      for (const portId of new Set<unknown>(p.guards)) {
        if (typeof portId !== 'string') continue;
        const byPort = this.guards.get(p.hostId) ?? new Map<string, Set<string>>();
        const keys = byPort.get(portId) ?? new Set<string>();
        if (sign > 0) keys.add(placed.key);
        else keys.delete(placed.key);
        if (keys.size) byPort.set(portId, keys);
        else byPort.delete(portId);
        this.guards.set(p.hostId, byPort);
        const at = `${p.hostId} ${portId}`;
        guarded.set(at, (guarded.get(at) ?? 0) + sign);
      }
    }
  }

  /** A network on every host of its span (and off the hosts it left); all its ports when its MTU moved. */
  private network(id: string, dirty: Dirty): void {
    const network = this.store.networks.get(id);
    const before = this.networks.get(id);
    const key = `${ResourceKind.Network}/${id}`;
    const span = new Set<string>();
    if (network) {
      for (const hostId of this.store.portsOf(id).keys()) if (this.store.hosts.has(hostId)) span.add(hostId);
      for (const hostId of this.presence.get(id)?.keys() ?? []) if (this.store.hosts.has(hostId)) span.add(hostId);
    }
    for (const hostId of before?.hosts ?? []) if (!span.has(hostId)) this.deleteItem(hostId, key);
    if (!network || !span.size) {
      this.networks.delete(id);
      return;
    }
    const mtu = networkMtu(network, [...span].map((h) => this.store.hosts.get(h)));
    if (before?.mtu !== mtu) for (const ports of this.store.portsOf(id).values()) for (const portId of ports) dirty.ports.add(portId);
    this.networks.set(id, { hosts: span, mtu });
    const entries = new Map<string, RemoteEntries>();
    const entriesOf = (hostId: string): RemoteEntries => {
      let list = entries.get(hostId);
      if (!list) {
        list = [];
        for (const portId of this.store.portsOf(id).get(hostId) ?? []) {
          const port = this.store.ports.get(portId)!;
          list.push(...remoteEntries(port, portAddresses(port.fixedIps, this.store.subnets).map((a) => a.ip)));
        }
        for (const announced of this.endpoints.get(id)?.get(hostId)?.values() ?? []) list.push(...announced);
        entries.set(hostId, list);
      }
      return list;
    };
    const members = [...span].filter((h) => this.inSpan(h)).sort();
    // Sorted once for the span; each host's resource leaves out its own entries (shared objects).
    const remotes = spanRemotes(members.map((h) => ({ hostId: h, vtep: this.store.hosts.get(h)!.vtepAddress, entries: entriesOf(h) })));
    for (const hostId of span) {
      const peers = members.filter((h) => h !== hostId).map((h) => this.store.hosts.get(h)!.vtepAddress);
      const own = remotes.filter((r) => r.hostId !== hostId).map((r) => r.remote);
      this.setItem(hostId, networkResourceFrom(network, mtu, this.store.hosts.get(hostId)!, peers, own));
    }
  }

  /** A port's resource on its host (and off the host it was on). */
  private port(id: string): void {
    const port = this.store.ports.get(id);
    const before = this.portHost.get(id);
    const key = `${ResourceKind.Port}/${id}`;
    const network = port && this.networks.get(port.networkId);
    const hostId = port && network?.hosts.has(port.hostId) ? port.hostId : undefined;
    if (before !== undefined && before !== hostId) this.deleteItem(before, key);
    if (!port || hostId === undefined) {
      this.portHost.delete(id);
      return;
    }
    this.portHost.set(id, hostId);
    const guardedBy = [...(this.guards.get(hostId)?.get(id) ?? [])].sort();
    this.setItem(hostId, portResource(port, network!.mtu, portAddresses(port.fixedIps, this.store.subnets), guardedBy));
  }

  /** A plugin resource's item on one host: its first placement there, if any. */
  private pluginItem(hostId: string, id: string, key: string): void {
    const first = this.placed.get(id)?.placements.find((p) => p.hostId === hostId);
    if (first) this.setItem(hostId, pluginResource(first));
    else this.deleteItem(hostId, key);
  }

  private setItem(hostId: string, resource: DesiredResource): void {
    const items = this.desired.get(hostId);
    if (!items) return;
    const key = resourceKey(resource);
    const hash = hashOf(resource);
    if (items.get(key)?.hash === hash) return;
    items.set(key, { resource, hash });
    push(this.changed, hostId, key);
  }

  private deleteItem(hostId: string, key: string): void {
    if (this.desired.get(hostId)?.delete(key)) push(this.changed, hostId, key);
  }
}
