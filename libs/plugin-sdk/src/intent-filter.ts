/**
 * What a controller half reads of the intent, narrowed: every field given must match (a list
 * matches when the row's value is one of it; an empty list matches nothing), `labels` must all be
 * carried. No filter reads everything of that kind.
 *
 * The controller re-runs a resource's `place()` when a row it read changes (before or after the
 * change matching one of its reads), so the narrower the read, the less often it is re-placed.
 */
export interface IntentFilter {
  ids?: readonly string[];
  /** Subnets and ports: of these networks. */
  networkIds?: readonly string[];
  /** Ports: on these hosts. */
  hostIds?: readonly string[];
  /** Hosts, ports and resources: carrying every one of these labels. */
  labels?: Readonly<Record<string, string>>;
}

/** The fields of a row a filter looks at. */
export interface FilterableRow {
  id: string;
  networkId?: string;
  hostId?: string;
  labels?: Record<string, string>;
}

/** Whether `row` is one `filter` reads (see {@link IntentFilter}). */
export function matchesFilter(row: FilterableRow, filter: IntentFilter | undefined): boolean {
  if (!filter) return true;
  if (filter.ids && !filter.ids.includes(row.id)) return false;
  if (filter.networkIds && (row.networkId === undefined || !filter.networkIds.includes(row.networkId))) return false;
  if (filter.hostIds && (row.hostId === undefined || !filter.hostIds.includes(row.hostId))) return false;
  if (filter.labels) {
    const labels = row.labels ?? {};
    for (const [key, value] of Object.entries(filter.labels)) if (labels[key] !== value) return false;
  }
  return true;
}
