import { createHash } from 'node:crypto';

const PREFIX = /^[a-z][a-z0-9]{0,3}$/;

/** Throws unless `prefix` can start every Linux name the agent makes: 1-4 of [a-z0-9], a letter first. */
export function checkPrefix(prefix: string): string {
  if (!PREFIX.test(prefix)) throw new Error(`invalid prefix ${JSON.stringify(prefix)}: 1-4 of [a-z0-9], starting with a letter`);
  return prefix;
}
const digests = new Map<string, string>();
/** The first `length` hex digits of sha256(id), memoized: a pass names every resource. */
function hex(id: string, length: number): string {
  let digest = digests.get(id);
  if (digest === undefined) {
    if (digests.size > 200_000) digests.clear();
    digest = createHash('sha256').update(id).digest('hex');
    digests.set(id, digest);
  }
  return digest.slice(0, length);
}

/**
 * Linux names, derived from ids only (never from user text), all ≤ 15 bytes, and the ownership
 * mark: everything this agent creates starts with its prefix, and its namespaces also carry a
 * tag of its host, so agents sharing a machine (and /run/netns) never touch each other's.
 */
export class Names {
  readonly hostTag: string;
  private readonly link: RegExp;
  private readonly pluginLink: RegExp;
  /** This agent's bridge-family table of port security (one per host namespace and prefix). */
  readonly portSecurityTable: string;

  constructor(
    readonly prefix: string,
    hostId: string,
  ) {
    checkPrefix(prefix);
    this.hostTag = hex(hostId, 6);
    this.link = new RegExp(`^${prefix}[bvxutw][0-9a-f]{8}$`);
    this.pluginLink = new RegExp(`^${prefix}q[0-9a-f]{3,}$`);
    this.portSecurityTable = `${prefix}_portsec`;
  }

  bridge(networkId: string): string {
    return `${this.prefix}b${hex(networkId, 8)}`;
  }

  /** A network's VXLAN device (on its bridge) when the network spans other hosts. */
  vxlan(networkId: string): string {
    return `${this.prefix}x${hex(networkId, 8)}`;
  }

  /**
   * A provider network's uplink on a trunk: the end of a veth pair on the network's bridge (the
   * other, {@link vlanPeer}, is a port of the trunk of the interface its physical network maps to).
   */
  vlan(networkId: string): string {
    return `${this.prefix}u${hex(networkId, 8)}`;
  }

  /** The trunk's end of a provider network's veth pair, where its frames are tagged and untagged. */
  vlanPeer(networkId: string): string {
    return `${this.prefix}w${hex(networkId, 8)}`;
  }

  /** The bridge that holds a mapped interface carrying VLANs (named from the interface, which the operator configured). */
  trunk(iface: string): string {
    return `${this.prefix}t${hex(`trunk:${iface}`, 8)}`;
  }

  /** The host end of a port's veth pair. */
  veth(portId: string): string {
    return `${this.prefix}v${hex(portId, 8)}`;
  }

  /** The port's interface inside its namespace: eth0 in one we own, a unique name in a shared one. */
  portInterface(portId: string, sharedNetns: boolean): string {
    return sharedNetns ? `${this.prefix}p${hex(portId, 8)}` : 'eth0';
  }

  /** A port's counter of dropped (spoofed) frames in the port-security table. */
  portCounter(portId: string): string {
    return `d_${hex(portId, 8)}`;
  }

  ownsPortCounter(name: string): boolean {
    return /^d_[0-9a-f]{8}$/.test(name);
  }

  portNetns(portId: string): string {
    return `${this.netnsPrefix}${hex(portId, 10)}`;
  }

  /** Where a port lives: its namespace (the user's, or one of ours) and its interface there. */
  portPlace(portId: string, userNetns: string | null): { netns: string; ifname: string } {
    return { netns: userNetns ?? this.portNetns(portId), ifname: this.portInterface(portId, userNetns !== null) };
  }

  get netnsPrefix(): string {
    return `${this.prefix}-${this.hostTag}-`;
  }

  /** A bridge, trunk, VXLAN device or veth this agent made (by name). */
  ownsLink(name: string): boolean {
    return this.link.test(name);
  }

  /** A link of one of this agent's plugins in the host namespace (`<prefix>q<plugin tag>…`, see the SDK's scoping). */
  ownsPluginLink(name: string): boolean {
    return this.pluginLink.test(name);
  }

  ownsNetns(name: string): boolean {
    return name.startsWith(this.netnsPrefix);
  }

  /** The alias written on links we create: what they serve, readable with `ip -json link`. */
  static alias(kind: string, id: string): string {
    return `netloom:${kind}:${id}`;
  }
}
