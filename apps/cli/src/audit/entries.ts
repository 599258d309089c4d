import { isDeepStrictEqual } from 'node:util';
import { render, type FieldChange } from '../apply/plan';
import type { AuditEntryFieldsFragment } from '../generated/graphql';
import type { Table } from '../kinds/kind';
import { CliError } from '../errors';

export type Entry = AuditEntryFieldsFragment;

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--since`: a duration back from `now` (90s, 15m, 1h, 2d) or a time (2026-12-03T10:00:00Z), as ISO 8601. */
export function parseSince(text: string, now: Date = new Date()): string {
  const duration = /^(\d+)([smhd])$/.exec(text.trim());
  if (duration) return new Date(now.getTime() - Number(duration[1]) * UNITS[duration[2]]).toISOString();
  const time = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(time)) throw new CliError(`--since takes a duration (90s, 15m, 1h, 2d) or a time (2026-12-03T10:00:00Z), not "${text}"`);
  return new Date(time).toISOString();
}

const parsed = (row: string | null): Record<string, unknown> | null => (row === null ? null : (JSON.parse(row) as Record<string, unknown>));

/** An entry as `-o json|yaml` prints it: the stored rows as objects, not JSON text. */
export const entryData = (e: Entry): Record<string, unknown> => ({ ...e, before: parsed(e.before), after: parsed(e.after) });

/** The fields an entry changed, in the stored row's order: all of them on create (old unset) and delete (new unset). */
export function entryChanges(e: Entry): FieldChange[] {
  const before = parsed(e.before) ?? {};
  const after = parsed(e.after) ?? {};
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  return keys.filter((key) => !isDeepStrictEqual(before[key], after[key])).map((key) => ({ key, old: before[key], new: after[key] }));
}

/** TIME TOKEN ROLE OPERATION KIND NAME; wide adds the mutation and the object's id. */
export function entryTable(entries: readonly Entry[], wide: boolean): Table {
  const headers = ['TIME', 'TOKEN', 'ROLE', 'OPERATION', 'KIND', 'NAME', ...(wide ? ['MUTATION', 'OBJECT ID'] : [])];
  const rows = entries.map((e) => [e.at, e.tokenName, e.tokenRole, e.operation, e.kind, e.objectName, ...(wide ? [e.mutation, e.objectId] : [])]);
  return { headers, rows };
}

/** `--diff`: per entry a title line, then each field it changed, `field: before → after`. */
export function formatEntryDiffs(entries: readonly Entry[]): string {
  return entries
    .map((e) => {
      const title = `${e.at}  ${e.tokenName} (${e.tokenRole})  ${e.operation} ${e.kind} ${e.objectName}  by ${e.mutation}`;
      const fields = entryChanges(e).map((c) => {
        if (e.operation === 'CREATE') return `    + ${c.key}: ${render(c.new)}`;
        if (e.operation === 'DELETE') return `    - ${c.key}: ${render(c.old)}`;
        return `    ~ ${c.key}: ${render(c.old)} → ${render(c.new)}`;
      });
      return [title, ...fields].join('\n');
    })
    .join('\n\n');
}
