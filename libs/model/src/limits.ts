import { badInput } from './errors';

/**
 * The most entries any list in an input may have (a plugin spec's lists, a port's fixed IPs, a
 * subnet's allocation pools), unless a tighter rule names its own (labels 64, DNS servers 8).
 * Bounds the work and the SQL one request can cause, and keeps it from failing inside the database.
 */
export const MAX_LIST_ITEMS = 1000;

/** Refuses a list longer than `max` with BAD_USER_INPUT on `field`. */
export function checkListSize(list: readonly unknown[], field: string, max = MAX_LIST_ITEMS): void {
  if (list.length > max) throw badInput(`${field} has ${list.length} entries (at most ${max})`, field);
}
