import type { RealizationState } from '@netloom/model';
import type { Fields, Infer } from './fields';
import type { HostContext } from './host-context';
import type { IntentFilter } from './intent-filter';

/**
 * This SDK's version (semver; the package's `version`). A plugin's package names the range it
 * needs in its `@netloom/plugin-sdk` peer dependency: another major, or a newer minor than the
 * host's, is refused at load with the version it needs.
 */
export const SDK_SEMVER = '1.1.0';

/** The SDK's major version. A plugin names the one it targets (`sdk`); a mismatch is refused at load. */
export const SDK_VERSION = 1;

/**
 * A plugin resource as stored: the common fields of every NetLoom resource, and its spec. In a
 * plugin's controller half, `S` is inferred from the kind's schema ({@link SpecOf}) and `K` is the
 * kind's name, so the resources of a plugin with several kinds are a union told apart by `kind`.
 */
export interface PluginResource<S = Record<string, unknown>, K extends string = string> {
  kind: K;
  id: string;
  name: string;
  generation: number;
  labels: Record<string, string>;
  /** Validated against the kind's schema: refs exist, IPs and CIDRs are canonical. */
  spec: S;
}

/**
 * One kind a plugin adds to the API: its schema, and what GraphQL calls it. Declare one apart from
 * `definePlugin` with `satisfies KindDefinition` (not `: KindDefinition`), so its field types, and
 * with them {@link SpecOf}, stay known.
 */
export interface KindDefinition<F extends Fields = Fields, O extends Fields = Fields> {
  description?: string;
  fields: F;
  /**
   * What agents observe about a resource beyond its realization state (operating status, health,
   * counters), as returned by {@link AgentHalf.observe}. The API shows it per host as
   * `ResourceStatus.observed` (GraphQL type `<Kind>Observed`), also on `resourceStatusChanges`.
   */
  observed?: O;
}

/** The kinds of a plugin, by name. */
export type Kinds = Record<string, KindDefinition>;

/** The spec of a resource of kind `K` as the controller stores it: `Infer<K['fields']>` (see `Infer` for null rules). */
export type SpecOf<K extends KindDefinition> = Infer<K['fields']>;

/** The value `observe` returns for a resource of kind `K` (its `observed` schema); never for a kind without one. */
export type ObservedOf<K extends KindDefinition> = K extends { observed?: infer O } ? (NonNullable<O> extends Fields ? Infer<NonNullable<O>> : never) : never;

/** The resources of a plugin's kinds: a union of {@link PluginResource}s told apart by `kind`. */
export type ResourceOf<K extends Kinds> = { [N in keyof K & string]: PluginResource<SpecOf<K[N]>, N> }[keyof K & string];

/** What `observe` returns per resource for a plugin's kinds: their `observed` values (any object when none declares one). */
export type ObservedOfKinds<K extends Kinds> = [{ [N in keyof K]: ObservedOf<K[N]> }[keyof K]] extends [never]
  ? Record<string, unknown>
  : { [N in keyof K]: ObservedOf<K[N]> }[keyof K];

/**
 * Read access to the core intent, for the controller half. Every read takes an optional
 * {@link IntentFilter}; rows come ordered by id. After a change, the controller calls `place()`
 * again only for resources that read a row the change touched (or that changed themselves): read
 * what you need, narrowly (`ports({ ids })` rather than `ports()` and a search), and a site of
 * 50 000 ports costs your plugin nothing when one unrelated port changes.
 */
export interface IntentView {
  hosts(filter?: IntentFilter): Promise<{ id: string; name: string; vtepAddress: string; labels: Record<string, string> }[]>;
  /**
   * `providerInterface`: the physical network of a provider network (no VXLAN; its MTU, when
   * null, is 1500), null for an overlay (MTU null: the underlay's minus 50); absent from hosts
   * of SDK 1 controllers before provider networks.
   */
  networks(filter?: IntentFilter): Promise<{ id: string; name: string; vni: number; mtu: number | null; providerInterface?: string | null }[]>;
  subnets(filter?: IntentFilter): Promise<{ id: string; networkId: string; name: string; cidr: string; gatewayIp: string; ipVersion: 4 | 6 }[]>;
  ports(filter?: IntentFilter): Promise<
    { id: string; name: string; networkId: string; hostId: string; macAddress: string; fixedIps: { subnetId: string; ipAddress: string }[]; labels: Record<string, string> }[]
  >;
  /** The stored resources of a kind of this plugin (the one being changed excluded). */
  resources<S = Record<string, unknown>>(kind: string, filter?: IntentFilter): Promise<PluginResource<S>[]>;
  /**
   * What hosts' agents observed of resources of a kind of this plugin, as the controller half's
   * {@link ControllerHalf.observedForPlacement} keeps it: one row per resource and host that
   * reported something it keeps (`filter.hostIds` narrows by the reporting host). Reading it
   * makes `place` run again when one of those values changes: e.g. a load balancer's members
   * checked on their own hosts, whose health every host's placement then carries. Empty inside
   * `validate` and `reserve` (a write never waits for an agent). Since SDK 1.1 (absent before).
   */
  observed?<V = unknown>(kind: string, filter?: IntentFilter): Promise<{ id: string; hostId: string; value: V }[]>;
}

/** What one host receives for one resource. */
export interface Placement<D = unknown> {
  hostId: string;
  /** The host's desired state for the resource: any JSON; the agent half reads it. */
  spec: D;
  /** Core networks that must be present on the host for it (e.g. a router's legs). */
  networks?: string[];
  /**
   * Interfaces the resource puts on those networks (MAC and addresses), so the other hosts of
   * each network can reach them: they are programmed into the overlay like a port's, and ARP
   * for them is answered without flooding. The agent half must give its interface exactly
   * this MAC (use {@link deriveMac} to choose it). Each address that lies in a subnet of the
   * endpoint's network is held for the resource in the core's IPAM, as if `reserve` named it.
   */
  endpoints?: { networkId: string; mac: string; ips: string[] }[];
  /**
   * Ids of core ports on this placement's host that the resource filters (a firewall policy's
   * ports): each such port's link stays down until the resource is APPLIED on that host; ports
   * already up are not taken down. Until then the port is reported FAILED ("held down until
   * Kind/id is applied on this host"). Ids of ports on other hosts, or unknown, are ignored.
   * The agent half reaches a port's namespace with {@link HostContext.port}.
   */
  guards?: string[];
}

/**
 * The controller half: decides, never touches a host. Every function is called inside the
 * transaction of the change (validate) or after it (place), and may throw the SDK's errors
 * (`badInput`, `conflict`, `notFound`), which reach the API user with their codes.
 */
export interface ControllerHalf<R extends PluginResource<unknown> = PluginResource, D = unknown, O = Record<string, unknown>> {
  /** Checks beyond the schema (overlaps, conflicts with other resources). Nothing is written when it throws. */
  validate?(resource: R, intent: IntentView): void | Promise<void>;
  /** Where the resource is realized and what each of those hosts receives (`D`: the agent half's desired spec). */
  place(resource: R, intent: IntentView): Placement<D>[] | Promise<Placement<D>[]>;
  /**
   * Addresses of core subnets the resource holds (a router's legs, floating IPs). The core's IPAM
   * then never gives them to a port, and an address a port (or another resource) already holds
   * is refused with CONFLICT, nothing written. Called after `validate`, in the same transaction;
   * `place` is then called there too, and the addresses its `endpoints` announce are held as well.
   */
  reserve?(resource: R, intent: IntentView): AddressReservation[] | Promise<AddressReservation[]>;
  /**
   * The part of what one host observed of a resource (its agent half's `observe`) that its
   * placement depends on, as JSON (null or undefined: nothing): e.g. the health of the members
   * that host checks, not their counters. `place` reads it with {@link IntentView.observed} and is
   * called again only when it changes, so a counter moving re-places nothing. Keep it small and
   * pure; it runs on the controller for every observed change of the kind. Since SDK 1.1.
   */
  observedForPlacement?(observed: O, kind: string): unknown;
}

/** One address of a core subnet held by a plugin resource. */
export interface AddressReservation {
  subnetId: string;
  /**
   * The address; absent: the core's IPAM picks a free one of the subnet (as for a port) and
   * writes it into the spec field named by `assignTo`, where `reserve` finds it from then on.
   */
  ipAddress?: string;
  /** A top-level `ip` field of the spec that receives the picked address; required without `ipAddress`. */
  assignTo?: string;
  /** The input field it comes from, named in a CONFLICT (e.g. `input.floatingIps.0.address`). */
  field?: string;
}

/** One desired resource of this plugin on this host: `spec` is what its placement for this host gave. */
export interface DesiredPluginResource<D = unknown> {
  kind: string;
  id: string;
  generation: number;
  spec: D;
}

/** The outcome for one resource on this host. */
export interface PluginStatus {
  id: string;
  state: RealizationState.APPLIED | RealizationState.FAILED;
  reason?: string;
  /** Facts about what was realized (names of namespaces, interfaces…). */
  attributes?: Record<string, string>;
}

/**
 * The agent half, level-triggered like the core reconciler: given every resource of the plugin's
 * kinds desired on this host, make the host match (create, fix, and remove what it owns but is no
 * longer desired) and say how each went. It is called again on every change and periodically;
 * running it twice on the same input must change nothing. It works only through `host`.
 */
export interface AgentHalf<D = unknown, O = Record<string, unknown>> {
  reconcile(desired: DesiredPluginResource<D>[], host: HostContext): Promise<PluginStatus[]>;
  /**
   * What the plugin observes of each resource (resource id → a value of the kind's `observed`
   * schema): health, counters. Called after every reconcile and every few seconds (the agent's
   * `NETLOOM_OBSERVE_MS`), never at the same time as `reconcile`; keep it cheap (read counters,
   * return health already known). Only changes reach the controller.
   */
  observe?(desired: DesiredPluginResource<D>[], host: HostContext): Promise<Record<string, O>>;
  /** Called once when the agent stops: end the plugin's own timers (what `host` started, it ends itself). */
  stop?(): void | Promise<void>;
}

/**
 * A plugin: one object, imported by the controller and by agents. `K`: its kinds, whose schemas
 * type the controller half's resources; `D`: the spec its placements give hosts, which the agent
 * half receives. Both are inferred by {@link definePlugin}; `PluginDefinition` alone is any plugin.
 * (`R` and `O` follow from `K`, {@link ResourceOf} and {@link ObservedOfKinds}; they are parameters
 * of their own so that any plugin is a `PluginDefinition`.)
 */
export interface PluginDefinition<K extends Kinds = Kinds, D = unknown, R extends PluginResource<unknown> = ResourceOf<K>, O = ObservedOfKinds<K>> {
  /** Lowercase, dot-separated, e.g. `netloom.router` or `acme.qos`. */
  id: string;
  /** The plugin's own semver version, reported by agents. */
  version: string;
  /** The SDK major version it is written for ({@link SDK_VERSION}). */
  sdk: number;
  /** Kinds it adds, by PascalCase name (unique across all plugins), e.g. `Router`. */
  kinds: K;
  controller?: ControllerHalf<R, D, O>;
  agent?: AgentHalf<D, O>;
}

/**
 * Declares a plugin (an identity function that checks the shape at compile time). The types come
 * from the plugin itself: `place` receives `ResourceOf<kinds>` (each kind's spec inferred from its
 * schema), and what its placements' `spec` is becomes the agent half's `DesiredPluginResource<D>`
 * (write an agent half declared apart as `AgentHalf<D>`, and a mismatch with `place` is a
 * compile error).
 */
export function definePlugin<K extends Kinds, D = unknown>(plugin: PluginDefinition<K, D> & { agent?: CheckedAgentHalf<D, ObservedOfKinds<K>> }): PluginDefinition<K, D> {
  return plugin;
}

/**
 * The agent half as {@link definePlugin} checks it: as function properties, whose parameters are
 * compared strictly (an {@link AgentHalf}'s methods are compared both ways), so an agent half that
 * expects more than `place` gives is refused too, not only one that expects something else.
 */
export interface CheckedAgentHalf<D, O> {
  reconcile: (desired: DesiredPluginResource<D>[], host: HostContext) => Promise<PluginStatus[]>;
  observe?: (desired: DesiredPluginResource<D>[], host: HostContext) => Promise<Record<string, O>>;
}

const PLUGIN_ID = /^[a-z][a-z0-9]*(\.[a-z][a-z0-9-]*)+$/;
const KIND = /^[A-Z][A-Za-z0-9]{1,40}$/;
const CORE_KINDS = new Set(['Host', 'Network', 'Subnet', 'Port']);

/** Why a plugin cannot be loaded, or null. Used by the controller and the agent alike. */
export function checkPlugin(plugin: PluginDefinition): string | null {
  if (!PLUGIN_ID.test(plugin.id)) return `plugin id ${JSON.stringify(plugin.id)} is not lowercase dotted (e.g. acme.qos)`;
  if (plugin.sdk !== SDK_VERSION) return `plugin ${plugin.id} targets SDK ${plugin.sdk}; this build speaks SDK ${SDK_VERSION}`;
  if (!/^\d+\.\d+\.\d+/.test(plugin.version)) return `plugin ${plugin.id} has no semver version`;
  for (const kind of Object.keys(plugin.kinds)) {
    if (!KIND.test(kind) || CORE_KINDS.has(kind)) return `plugin ${plugin.id}: ${kind} is not a valid kind name`;
  }
  return null;
}
