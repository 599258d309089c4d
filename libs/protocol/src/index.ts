/**
 * The agent ⇄ controller protocol, version 1. JSON messages over one websocket per host, which
 * the agent dials at {@link AGENT_PATH} with `Authorization: Bearer <host credential>`. The
 * credential is bound to the host at {@link JOIN_PATH} with the host's one-time join token (see
 * {@link JoinRequest}).
 *
 * Flow (modelled on Envoy's xDS and etcd revisions):
 * 1. agent → `hello` with the last revision it applied;
 * 2. controller → `snapshot` (all of the host's desired resources at a revision), or `update`
 *    with only the difference when it knows what this agent already has;
 * 3. controller → `update` on every committed change (possibly empty: it moves the revision);
 * 4. agent → `ack` once it has reconciled a revision, with per-resource status (FAILED entries
 *    are the NACKs); `ack.full` when the statuses list every resource it holds;
 * 5. both → `heartbeat` every {@link HEARTBEAT_MS}; a peer silent for 3 intervals is gone.
 * 6. controller → `probe` (only to an agent whose hello lists {@link PROBE_CAPABILITY}); the agent
 *    answers `probe-result` with the same id. A peer ignores (logs) a message type it does not know.
 * 7. controller → `counters-request` (only to an agent whose hello lists {@link COUNTERS_CAPABILITY});
 *    from then on that agent sends `port-counters` on this channel every few seconds.
 * 8. To an agent whose hello lists {@link SPEC_PATCH_CAPABILITY}, a large resource goes whole once
 *    per channel with a `hash`, then as {@link PatchedResource}s naming the hash they apply to; an
 *    agent that does not hold it closes the channel and says hello with revision 0 (a snapshot).
 */
import type { DesiredResource, ProviderMapping, ResourceRef, ResourceStatusReport } from '@netloom/model';
import type { SentResource } from './spec-patch';

export const PROTOCOL_VERSION = 1;
export const AGENT_PATH = '/agent';
export const JOIN_PATH = '/agent/join';
export const HEARTBEAT_MS = 5_000;
/**
 * The most one status's `observed` may take as JSON (UTF-8 bytes, after the controller kept only
 * what the kind's `observed` schema declares); a larger one is dropped, not stored.
 */
export const MAX_OBSERVED_BYTES = 64 * 1024;
/**
 * The most one status's `attributes` may hold: entries, and bytes as JSON. A status with more, or
 * with a value that is not a string, is dropped whole (and counted in the host's dropped statuses).
 */
export const MAX_STATUS_ATTRIBUTES = 32;
export const MAX_STATUS_ATTRIBUTE_BYTES = 4 * 1024;
/** A longer `reason` is cut to this many characters. */
export const MAX_STATUS_REASON_CHARS = 2_000;

/** Close codes of the agent websocket. */
export enum AgentCloseCode {
  /** The credential is missing, wrong, or was replaced. Do not retry with it. */
  Unauthorized = 4401,
  /**
   * The host was deleted. The controller sent it an empty desired state first and waited for
   * its ack (or gave up): the agent removes everything it made, forgets its credential and
   * desired state, and stops.
   */
  HostDeleted = 4410,
  /** A newer connection of the same host took over. */

  Replaced = 4409,
  /** The agent speaks a protocol version the controller does not. */
  UnsupportedProtocol = 4426,
}

export interface PluginVersion {
  id: string;
  version: string;
}

export interface HelloMessage {
  type: 'hello';
  protocol: number;
  agentVersion: string;
  /** The last revision this agent applied (0: none, send a snapshot). */
  lastRevision: number;
  /** Kernel features found, e.g. `vxlan`, `nftables`, `bridge`. */
  capabilities: string[];
  plugins: PluginVersion[];
  kernel: string;
  /**
   * The first letters of every Linux name the agent makes (its `--prefix`), so the controller can
   * name them in a plan. Added in protocol 1 without a version bump: older agents leave it out.
   */
  prefix?: string;
  /**
   * The physical networks this host carries provider networks on, each with its interface (the
   * agent's `--provider-mapping`), host-local as Neutron's bridge_mappings. Added in protocol 1
   * without a version bump: older agents leave it out (no mappings).
   */
  providerMappings?: ProviderMapping[];
}

export interface AckMessage {
  type: 'ack';
  /** The desired-state revision this reconcile covered (at most the last one sent: more is taken as that). */
  revision: number;
  /**
   * Per resource: state, attributes, and for plugin resources `observed` (per the kind's
   * `observed` schema; see {@link MAX_OBSERVED_BYTES}): left out, the stored one stays; null
   * clears it. A status whose only change is `observed` is a change too: the controller stores
   * and publishes it. Only resources the controller sent this host count, one status each (an
   * ack lists at most as many as the host holds); the controller drops, and counts, a status
   * for anything else, a repeated one, and one over {@link MAX_STATUS_ATTRIBUTES} or
   * {@link MAX_STATUS_ATTRIBUTE_BYTES}. A status for a resource deleted since `revision` is
   * ignored.
   */
  statuses: ResourceStatusReport[];
  /** True when `statuses` is complete: the controller drops statuses of resources not listed. */
  full: boolean;
}

export interface HeartbeatMessage {
  type: 'heartbeat';
  revision: number;
  /**
   * Why the agent cannot write its state dir (disk full, read-only, …), or null when it can. The
   * agent keeps applying meanwhile and retries the write. Left out by older agents: the
   * controller keeps what it had.
   */
  stateError?: string | null;
}

export interface SnapshotMessage {
  type: 'snapshot';
  revision: number;
  resources: (DesiredResource & { hash?: string })[];
}

export interface UpdateMessage {
  type: 'update';
  revision: number;
  upserts: SentResource[];
  deletes: ResourceRef[];
}

/** In `hello.capabilities`: the agent answers {@link ProbeMessage}. */
export const PROBE_CAPABILITY = 'probe';
/** A comment on an nft rule starting with this names what the rule's counter counts (see {@link ProbeResultMessage}). */
export const COUNTED_RULE_PREFIX = 'netloom ';

/** Where to read counters: a port's namespace, or the namespace of a plugin's appliance (its resource id). */
export type ProbeScope = { portId: string } | { pluginId: string; resourceId: string };

/** A probe sent from a port's namespace: an echo request (ICMP) or a TCP connection. */
export interface ProbeSend {
  portId: string;
  protocol: 'icmp' | 'tcp';
  /** An IPv4 or IPv6 address. */
  address: string;
  /** For TCP: 1-65535. */
  port?: number;
  /** 100-10000. */
  timeoutMs: number;
}

/** Controller → agent: read rule counters in `read`, then send `send` (if any). */
export interface ProbeMessage {
  type: 'probe';
  id: string;
  read: ProbeScope[];
  send?: ProbeSend;
}

/** Agent → controller: the answer to the {@link ProbeMessage} of the same id. */
export interface ProbeResultMessage {
  type: 'probe-result';
  id: string;
  /**
   * Per scope of `read`, in order: packets per rule comment starting with
   * {@link COUNTED_RULE_PREFIX} (summed over the rules carrying it, in every table of the
   * namespace), or why they could not be read.
   */
  counters: ({ packets: Record<string, number> } | { error: string })[];
  /** The probe's outcome, when one was asked: answered or not, what happened, how long it took. */
  sent?: { ok: boolean; detail: string; ms: number };
  /** The request as a whole was refused (an unknown port, a bad address). */
  error?: string;
}

/** In `hello.capabilities`: the agent sends {@link PortCountersMessage} once asked by {@link CountersRequestMessage}. */
export const COUNTERS_CAPABILITY = 'port-counters';

/**
 * Controller → agent: send port counters on this channel from now on, the first message full. Sent
 * only to an agent listing {@link COUNTERS_CAPABILITY}, so an agent or a controller from before
 * counters never sees a message it does not know.
 */
export interface CountersRequestMessage {
  type: 'counters-request';
}

/**
 * One port's counters, from the PORT's point of view: `rx` is what the port received (what its
 * host end on the bridge sent), `tx` what the port sent (what its host end received). Each a
 * kernel counter since the veth was made (it restarts at 0 when the veth is made again).
 */
export interface PortCountersEntry {
  portId: string;
  rxPackets: number;
  rxBytes: number;
  rxDropped: number;
  rxErrors: number;
  txPackets: number;
  txBytes: number;
  txDropped: number;
  txErrors: number;
  /** Frames port security dropped (a source MAC or address not the port's); absent for a port without port security, or not read yet. */
  droppedSpoofedPackets?: number;
}

/**
 * Agent → controller: port counters read in one dump just before it was sent (sent every few
 * seconds, even when nothing moved, so its arrival dates every port's counters). `full`: `ports`
 * lists every port of the host (the controller forgets the others); else only ports whose counters
 * changed since the last message on this channel, and `removed` the ports no longer on the host.
 */
export interface PortCountersMessage {
  type: 'port-counters';
  full: boolean;
  ports: PortCountersEntry[];
  removed: string[];
}

export type AgentMessage = HelloMessage | AckMessage | HeartbeatMessage | ProbeResultMessage | PortCountersMessage;
export type ControllerMessage = SnapshotMessage | UpdateMessage | HeartbeatMessage | ProbeMessage | CountersRequestMessage;

/** What a host credential looks like: `nlh_` and 256 random bits in base64url. */
export const HOST_CREDENTIAL = /^nlh_[A-Za-z0-9_-]{43}$/;

/**
 * `POST {@link JOIN_PATH}`: binds a host credential to the host of a one-time join token.
 * The agent generates the credential and stores it (mode 0600) before posting, so the answer
 * can be lost: the same join token with the same credential gets the same answer again within
 * the controller's join retry window (10 minutes by default); any other credential, or the same
 * one after the window, is refused (401). Without `credential` (agents before this field) the
 * controller makes one and returns it, and only the first answer counts.
 */
export interface JoinRequest {
  joinToken: string;
  /** The host credential the agent generated (see {@link HOST_CREDENTIAL}). */
  credential?: string;
}

export interface JoinResponse {
  hostId: string;
  hostName: string;
  /** The host's credential: the one the agent sent, or the one the controller made. */
  credential: string;
}

/** A JSON object, or an error text. */
function parseObject<T>(text: string): Partial<T> | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  return typeof value === 'object' && value !== null ? (value) : 'not an object';
}

/** Parses one agent message, or returns an error text; never throws on bad input. */
export function parseAgentMessage(text: string): AgentMessage | string {
  const message = parseObject<AgentMessage>(text);
  if (typeof message === 'string') return message;
  switch (message.type) {
    case 'hello':
      return typeof message.lastRevision === 'number' && typeof message.protocol === 'number' ? (message as HelloMessage) : 'bad hello';
    case 'ack':
      return typeof message.revision === 'number' && Array.isArray(message.statuses) ? (message as AckMessage) : 'bad ack';
    case 'heartbeat':
      return typeof message.revision === 'number' ? (message as HeartbeatMessage) : 'bad heartbeat';
    case 'probe-result':
      return typeof message.id === 'string' && Array.isArray(message.counters) ? (message as ProbeResultMessage) : 'bad probe-result';
    case 'port-counters':
      return typeof message.full === 'boolean' && Array.isArray(message.ports) && Array.isArray(message.removed)
        ? (message as PortCountersMessage)
        : 'bad port-counters';
    default:
      return `unknown message type ${String(message.type).slice(0, 40)}`;
  }
}

/** Parses one controller message, or returns an error text. */
export function parseControllerMessage(text: string): ControllerMessage | string {
  const message = parseObject<ControllerMessage>(text);
  if (typeof message === 'string') return message;
  switch (message.type) {
    case 'snapshot':
      return Array.isArray(message.resources) ? (message as SnapshotMessage) : 'bad snapshot';
    case 'update':
      return Array.isArray(message.upserts) && Array.isArray(message.deletes) ? (message as UpdateMessage) : 'bad update';
    case 'heartbeat':
      return message as HeartbeatMessage;
    case 'probe':
      return typeof message.id === 'string' && Array.isArray(message.read) ? (message as ProbeMessage) : 'bad probe';
    case 'counters-request':
      return message as CountersRequestMessage;
    default:
      return `unknown message type ${String(message.type).slice(0, 40)}`;
  }
}

export { applySpecPatch, isPatched, type PatchedResource, type SentResource, SPEC_PATCH_CAPABILITY, specChanges, type SpecPatch } from './spec-patch';
export { parseTrace, trace, TRACE_ENABLED, traceNow, type TracePoint } from './trace';
