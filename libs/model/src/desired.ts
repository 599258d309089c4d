import { RealizationState } from './kinds';

/**
 * One resource of a host's desired state, as the controller compiles it. Core kinds have the
 * specs below; plugin kinds bring their own. `generation` is the intent's generation, reported
 * back in status.
 */
export interface DesiredResource<S = unknown> {
  kind: string;
  id: string;
  generation: number;
  spec: S;
}

export interface ResourceRef {
  kind: string;
  id: string;
}

export const resourceKey = (r: ResourceRef): string => `${r.kind}/${r.id}`;

/** A network present on the host: a bridge (and, across hosts, a VXLAN device). */
export interface NetworkSpec {
  vni: number;
  /** MTU of the bridge and its ports. */
  mtu: number;
  /** The overlay, when the network is present on other hosts too; null on one host only, and always for a provider network. */
  vxlan: VxlanSpec | null;
  /** A provider network: bound to a physical network instead of VXLAN. Absent for an overlay (whose spec is unchanged). */
  provider?: ProviderSpec;
}

/** Where a provider network leaves the host: the interface the host maps its physical network to, tagged or not. */
export interface ProviderSpec {
  /** The physical network's name; each agent maps it to an interface of its own (`--provider-mapping`). */
  physicalNetwork: string;
  /** 802.1Q tag; absent: flat (untagged). */
  vlanId?: number;
}

export interface VxlanSpec {
  /** This host's VTEP address. */
  local: string;
  /** VTEPs of the other hosts the network spans: head-end replication targets. */
  peers: string[];
  /** Ports of the network on other hosts: static FDB and ARP entries (as Neutron's l2population). */
  remotes: RemotePort[];
}

export interface RemotePort {
  mac: string;
  /** Plain addresses, no prefix. */
  ips: string[];
  vtep: string;
}

export interface PortAddress {
  /** `address/prefixLength`, e.g. 10.0.0.2/24. */
  cidr: string;
  family: 4 | 6;
}

export interface PortRoute {
  /** `default` or a CIDR. */
  dst: string;
  via: string;
  family: 4 | 6;
}

/** A port: a veth pair, host end on the network's bridge, peer in the port's namespace. */
export interface PortSpec {
  networkId: string;
  mac: string;
  mtu: number;
  addresses: PortAddress[];
  routes: PortRoute[];
  /** An existing namespace to place the port in; null: the agent creates and owns one. */
  netns: string | null;
  /**
   * Keys (`Kind/id`, sorted) of the plugin resources that filter this port on its host. Its host
   * end comes up only once a plugin pass that saw the port reported them all APPLIED (a port
   * already up is not taken down). Absent when none, so an unguarded port's spec is unchanged.
   */
  guardedBy?: string[];
  /** `false`: no anti-spoofing on this port. Absent when on (the default), so such a port's spec is unchanged. */
  portSecurity?: false;
  /**
   * What the port may send besides its own MAC and addresses (VRRP, appliances): each pair's
   * address or CIDR from its MAC (the port's own when none was given). Absent when none.
   */
  allowedAddressPairs?: AddressPair[];
}

/** One allowed address pair, as the agent enforces it. */
export interface AddressPair {
  /** An address or a CIDR (host bits clear). */
  ip: string;
  mac: string;
}

/** What an agent reports for one resource. */
export interface ResourceStatusReport extends ResourceRef {
  generation: number;
  state: RealizationState;
  reason?: string;
  /** Facts about what was realized, e.g. the namespace and interface names of a port. */
  attributes?: Record<string, string>;
  /** A plugin resource's observed state (health, counters), per its kind's `observed` schema. */
  observed?: Record<string, unknown>;
}
