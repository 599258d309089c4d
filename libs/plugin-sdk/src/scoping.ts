import { createHash } from 'node:crypto';

const AGENT_PREFIX = /^[a-z][a-z0-9]{0,3}$/;
const IFNAME_MAX = 15;

/** The first `length` hex digits of sha256(text). */
export function hex(text: string, length: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/**
 * The names one plugin owns on one host, and the tests for them. Like the agent's own names
 * (libs/planner/src/naming.ts) they derive from ids only and carry the agent prefix and host tag;
 * a `p<tag>` (namespaces) or `q<tag>` (links) mark, where core names have hex, keeps plugin
 * objects apart from the core's and from other plugins'.
 */
export interface PluginScope {
  /** First 3 hex of sha256(plugin id). */
  readonly tag: string;
  readonly netnsPrefix: string;
  readonly linkPrefix: string;
  /** The plugin's nftables table name (a valid nft identifier). */
  readonly nftTable: string;
  netnsName(id: string): string;
  linkName(id: string, role?: string): string;
  ownsNetns(name: string): boolean;
  ownsLink(name: string): boolean;
}

export function scopeFor(agentPrefix: string, hostId: string, pluginId: string): PluginScope {
  if (!AGENT_PREFIX.test(agentPrefix)) throw new Error(`invalid agent prefix ${JSON.stringify(agentPrefix)}: 1-4 of [a-z0-9], starting with a letter`);
  const tag = hex(pluginId, 3);
  const netnsPrefix = `${agentPrefix}-${hex(hostId, 6)}-p${tag}-`;
  const linkPrefix = `${agentPrefix}q${tag}`;
  const linkHex = IFNAME_MAX - linkPrefix.length;
  const netnsRe = new RegExp(`^${netnsPrefix}[0-9a-f]{8}$`);
  const linkRe = new RegExp(`^${linkPrefix}[0-9a-f]{${linkHex}}$`);
  return {
    tag,
    netnsPrefix,
    linkPrefix,
    nftTable: `${agentPrefix}_${tag}`,
    netnsName: (id) => `${netnsPrefix}${hex(id, 8)}`,
    linkName: (id, role) => `${linkPrefix}${hex(role === undefined ? id : `${id}\u0000${role}`, linkHex)}`,
    ownsNetns: (name) => netnsRe.test(name),
    ownsLink: (name) => linkRe.test(name),
  };
}
