import { RealizationState, ResourceStatusReport, resourceKey } from '@netloom/model';
import { MAX_STATUS_ATTRIBUTE_BYTES, MAX_STATUS_ATTRIBUTES, MAX_STATUS_REASON_CHARS } from '@netloom/protocol';

/** What the controller holds about a resource key on a host: sent to it, deleted from it since, or neither. */
export type KeyStanding = 'sent' | 'retired' | undefined;

/** Why statuses of one ack were dropped, by reason. */
export interface DroppedStatuses {
  /** Resources this host was never sent (or that are long gone from it). */
  notSent: number;
  /** A second status for the same resource in one ack (after one that was kept). */
  repeated: number;
  /** Beyond the number of resources the host may report at all. */
  overCount: number;
  /** Attributes over the caps. */
  oversized: number;
  /** Not a status: no kind or id, a generation that is not a whole number, attributes that are not text. */
  malformed: number;
}

export interface ScreenedAck {
  /** Statuses to store: resources sent to this host, normalized (state, reason cut to size). */
  accepted: ResourceStatusReport[];
  /** Keys of resources the host holds that the ack names, stored or not: a full ack keeps their statuses. */
  listed: Set<string>;
  dropped: DroppedStatuses;
  /** How many were dropped in all. */
  droppedTotal: number;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Keeps of an agent's ack only statuses for resources the controller sent that host (pure).
 * `standing` says what a key is to this host; `limit` is the most statuses the host may
 * report (what it holds plus what was just deleted from it); statuses past it are not read.
 * Statuses of resources deleted since (`retired`) are ignored, neither stored nor counted: the
 * agent may report them before it has seen the delete.
 */
export function screenAck(statuses: readonly unknown[], standing: (key: string) => KeyStanding, limit: number): ScreenedAck {
  const dropped: DroppedStatuses = { notSent: 0, repeated: 0, overCount: Math.max(0, statuses.length - limit), oversized: 0, malformed: 0 };
  const accepted: ResourceStatusReport[] = [];
  const listed = new Set<string>();
  const seen = new Set<string>();
  for (const status of statuses.slice(0, limit)) {
    const report = isPlainObject(status) ? status : {};
    const { kind, id, generation } = report;
    if (typeof kind !== 'string' || typeof id !== 'string' || !Number.isSafeInteger(generation) || (generation as number) < 0) {
      dropped.malformed++;
      continue;
    }
    const key = resourceKey({ kind, id });
    const known = standing(key);
    if (known === 'retired') continue;
    if (known !== 'sent') {
      dropped.notSent++;
      continue;
    }
    listed.add(key);
    const attributes = report.attributes ?? {};
    if (!isPlainObject(attributes) || Object.values(attributes).some((value) => typeof value !== 'string')) {
      dropped.malformed++;
      continue;
    }
    if (Object.keys(attributes).length > MAX_STATUS_ATTRIBUTES || Buffer.byteLength(JSON.stringify(attributes)) > MAX_STATUS_ATTRIBUTE_BYTES) {
      dropped.oversized++;
      continue;
    }
    if (seen.has(key)) {
      dropped.repeated++;
      continue;
    }
    seen.add(key);
    const state = Object.values(RealizationState).includes(report.state as RealizationState) ? (report.state as RealizationState) : RealizationState.FAILED;
    accepted.push({
      kind,
      id,
      generation: generation as number,
      state,
      ...(report.reason ? { reason: (typeof report.reason === 'string' ? report.reason : JSON.stringify(report.reason)).slice(0, MAX_STATUS_REASON_CHARS) } : {}),
      attributes: attributes as Record<string, string>,
      ...('observed' in report ? { observed: report.observed as Record<string, unknown> } : {}),
    });
  }
  const droppedTotal = dropped.notSent + dropped.repeated + dropped.overCount + dropped.oversized + dropped.malformed;
  return { accepted, listed, dropped, droppedTotal };
}

/** One line for the log: `20001 of 20003 statuses dropped (20000 not sent to this host, 1 oversized)`. */
export function describeDropped(screened: ScreenedAck, of: number): string {
  const labels: Record<keyof DroppedStatuses, string> = {
    notSent: 'not sent to this host',
    repeated: 'repeated',
    overCount: 'beyond what the host holds',
    oversized: 'oversized',
    malformed: 'malformed',
  };
  const parts = (Object.keys(labels) as (keyof DroppedStatuses)[]).filter((k) => screened.dropped[k]).map((k) => `${screened.dropped[k]} ${labels[k]}`);
  return `${screened.droppedTotal} of ${of} statuses dropped (${parts.join(', ')})`;
}
