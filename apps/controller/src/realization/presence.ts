import { HEARTBEAT_MS } from '@netloom/protocol';

/** What a replica reads of an agent from `host_agents`, whichever replica wrote it. */
export interface AgentPresence {
  hostId: string;
  connected: boolean;
  /** The replica that holds, or last held, the channel. */
  controllerId: string | null;
  lastSeen: Date | null;
  appliedRevision: number;
}

/**
 * An agent's heartbeats (every 5 s) move `lastSeen`; a channel row older than three of them is
 * stale: its replica died (kill -9, a crash, a partition) without writing it closed.
 */
export const STALE_AFTER_MS = 3 * HEARTBEAT_MS;

/** Connected to another replica, as far as the stored row says and is fresh. */
export function connectedElsewhere(row: AgentPresence | undefined, me: string, now: number): boolean {
  if (!row?.connected || row.controllerId === null || row.controllerId === me || !row.lastSeen) return false;
  return now - row.lastSeen.getTime() <= STALE_AFTER_MS;
}

/**
 * The host stays in the others' overlays as far as the store knows: connected to another replica,
 * or seen (by any) less than the grace period ago. This replica's own sessions are the
 * dispatcher's.
 */
export function inSpanElsewhere(row: AgentPresence | undefined, me: string, now: number, graceMs: number): boolean {
  if (connectedElsewhere(row, me, now)) return true;
  return !!row?.lastSeen && now - row.lastSeen.getTime() < graceMs;
}

/**
 * Ranges of status sequence numbers this process stored (taken before COMMIT, dropped again on a
 * rollback), so the replica sync does not publish them a second time. Ranges come in increasing
 * order (they are assigned under the write lock); what the reader has passed is pruned.
 */
export class OwnRanges {
  private ranges: [number, number][] = [];

  add(first: number, last: number): void {
    this.ranges.push([first, last]);
  }

  drop(first: number, last: number): void {
    this.ranges = this.ranges.filter(([a, b]) => a !== first || b !== last);
  }

  has(seq: number): boolean {
    return this.ranges.some(([a, b]) => seq >= a && seq <= b);
  }

  /** The reader is past `seq`: ranges ending at or below it are not needed any more. */
  pruneThrough(seq: number): void {
    this.ranges = this.ranges.filter(([, b]) => b > seq);
  }

  get size(): number {
    return this.ranges.length;
  }
}
