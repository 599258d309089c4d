import { resourceKey, ResourceStatusReport } from '@netloom/model';

const sameRecord = (a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean => {
  if (a === b) return true;
  const ka = Object.keys(a ?? {});
  return ka.length === Object.keys(b ?? {}).length && ka.every((k) => a![k] === b?.[k]);
};

/** The JSON text of values made from one (an observed state copied through JSON), kept by object: compared again on every pass. */
const texts = new WeakMap<object, string>();

/** `JSON.parse(text)`, remembering `text` as the value's JSON. */
export function parsedJson<T>(text: string): T {
  const value = JSON.parse(text) as T;
  if (value !== null && typeof value === 'object') texts.set(value, text);
  return value;
}

const jsonOf = (value: unknown): string | undefined => (value !== null && typeof value === 'object' ? texts.get(value) : undefined) ?? JSON.stringify(value);

const sameObserved = (a: ResourceStatusReport, b: ResourceStatusReport): boolean => a.observed === b.observed || jsonOf(a.observed) === jsonOf(b.observed);

/** Two statuses that say the same (`observed` compared as JSON, the rest field by field). */
export const sameStatus = (a: ResourceStatusReport, b: ResourceStatusReport): boolean =>
  a.kind === b.kind &&
  a.id === b.id &&
  a.generation === b.generation &&
  a.state === b.state &&
  a.reason === b.reason &&
  sameRecord(a.attributes, b.attributes) &&
  sameObserved(a, b);

/**
 * What the agent last told the controller of each resource, so an ack carries only the statuses
 * that changed (all of them when it must be full). A pass reports every resource: comparing
 * field by field costs a fraction of serializing each of a thousand statuses every pass. A
 * status sent again for another reason leaves out an observed state the controller already has
 * (it keeps the stored one): a 500-rule policy's counters are not sent again with each change.
 */
export class SentStatuses {
  private sent = new Map<string, ResourceStatusReport>();

  /** The statuses to send; afterwards only the resources in `statuses` are remembered. */
  changes(statuses: readonly ResourceStatusReport[], full: boolean): ResourceStatusReport[] {
    const next = new Map<string, ResourceStatusReport>();
    const changed: ResourceStatusReport[] = [];
    for (const s of statuses) {
      const key = resourceKey(s);
      const before = this.sent.get(key);
      if (full || !before) changed.push(s);
      else if (!sameStatus(before, s)) {
        if (s.observed !== undefined && sameObserved(before, s)) {
          const rest = { ...s };
          delete rest.observed;
          changed.push(rest);
        } else changed.push(s);
      }
      next.set(key, s);
    }
    this.sent = next;
    return changed;
  }
}
