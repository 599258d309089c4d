import type { DesiredPluginResource, PortPlace } from '@netloom/plugin-sdk';

/**
 * The messages between the agent and a plugin's sandbox process (`sandbox-child.ts`), over the
 * IPC channel of `child_process.fork` (structured clone). The agent calls the plugin's agent half;
 * the plugin reaches the host only by asking the agent, which runs each request through the
 * plugin's own host context (scope checks included).
 */

/** What the context's synchronous parts need, as of the call: names derive from these, ports and bridges are the agent's. */
export interface HostSnapshot {
  agentPrefix: string;
  hostId: string;
  ports: Record<string, PortPlace>;
  bridges: Record<string, string>;
}

/** The host context's asynchronous methods a sandboxed plugin may ask for (apply's change set travels as recorded operations). */
export const REMOTE_METHODS = [
  'ownedNetns',
  'ownedLinks',
  'links',
  'addresses',
  'routes',
  'apply',
  'sysctl',
  'sysctlValue',
  'nftTable',
  'nftList',
  'nftCounters',
  'probe',
  'daemons',
  'daemonFile',
  'tc',
  'tcStats',
  'bridgeRouting',
  'announce',
] as const;
export type RemoteMethod = (typeof REMOTE_METHODS)[number];

/** One call recorded on a change set: where (`''` the host namespace, `null` the set itself), which method, its arguments. */
export interface ChangeOp {
  netns: string | null;
  method: string;
  args: unknown[];
}

/** An error as it crosses the channel: its message, and the SDK error's code and field when it has them. */
export interface WireError {
  message: string;
  code?: string;
  field?: string;
}

export type ToChild =
  | { t: 'init'; pluginPath: string }
  | { t: 'call'; id: number; what: 'reconcile' | 'observe' | 'stop'; desired: DesiredPluginResource[]; snapshot: HostSnapshot }
  | { t: 'reply'; id: number; ok: true; value: unknown }
  | { t: 'reply'; id: number; ok: false; error: WireError };

/** What the sandbox tells of the plugin it loaded. */
export interface PluginMeta {
  id: string;
  version: string;
  sdk: number;
  kinds: string[];
  observes: boolean;
  stops: boolean;
}

export type FromChild =
  | { t: 'ready'; meta: PluginMeta }
  | { t: 'result'; id: number; ok: true; value: unknown }
  | { t: 'result'; id: number; ok: false; error: WireError }
  | { t: 'req'; id: number; method: RemoteMethod; args: unknown[] }
  | { t: 'log'; line: string }
  | { t: 'requestReconcile'; reason: string };

export function toWire(error: unknown): WireError {
  const e = error as { message?: unknown; code?: unknown; field?: unknown } | null;
  return {
    message: typeof e?.message === 'string' ? e.message : String(error),
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
    ...(typeof e?.field === 'string' ? { field: e.field } : {}),
  };
}

export function fromWire(wire: WireError): Error {
  return Object.assign(new Error(wire.message), wire.code ? { code: wire.code } : {}, wire.field ? { field: wire.field } : {});
}
