import type { PortCountersEntry, PortCountersMessage } from '@netloom/protocol';
import type { KeyStanding } from '../realization/status-screen';

/** The counts of an entry, each a safe non-negative integer. */
export const COUNT_FIELDS = ['rxPackets', 'rxBytes', 'rxDropped', 'rxErrors', 'txPackets', 'txBytes', 'txDropped', 'txErrors'] as const;

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** One entry of an agent's message as the controller keeps it, or null when it is not well formed. */
export function cleanEntry(value: unknown): PortCountersEntry | null {
  if (value === null || typeof value !== 'object') return null;
  const e = value as Record<string, unknown>;
  if (typeof e.portId !== 'string' || !COUNT_FIELDS.every((f) => isCount(e[f]))) return null;
  if (e.droppedSpoofedPackets !== undefined && !isCount(e.droppedSpoofedPackets)) return null;
  const out = { portId: e.portId } as PortCountersEntry;
  for (const f of COUNT_FIELDS) out[f] = e[f] as number;
  if (e.droppedSpoofedPackets !== undefined) out.droppedSpoofedPackets = e.droppedSpoofedPackets;
  return out;
}

/**
 * One host's port counters as its agent last sent them on this replica's channel, in memory only.
 * `updatedAt` is when the last message arrived: the agent sends one every few seconds, even when
 * nothing moved, so it dates every port's counters.
 */
export class HostCounters {
  updatedAt: Date | undefined;
  private readonly ports = new Map<string, PortCountersEntry>();

  /**
   * Takes a message: only well-formed entries of ports this host was sent (`standing` 'sent') are
   * kept, so what an agent can make the controller hold is bounded by its ports. A port deleted
   * from the host that the agent may not know of yet ('retired') is ignored; the rest is dropped,
   * and the count of those returned.
   */
  apply(message: PortCountersMessage, standing: (portId: string) => KeyStanding, now = new Date()): number {
    if (message.full) this.ports.clear();
    for (const id of message.removed) if (typeof id === 'string') this.ports.delete(id);
    let dropped = 0;
    for (const value of message.ports) {
      const entry = cleanEntry(value);
      const of = entry ? standing(entry.portId) : undefined;
      if (entry && of === 'sent') this.ports.set(entry.portId, entry);
      else if (of !== 'retired') dropped++;
    }
    this.updatedAt = now;
    return dropped;
  }

  get(portId: string): PortCountersEntry | undefined {
    return this.ports.get(portId);
  }

  get size(): number {
    return this.ports.size;
  }
}
