import type { ApiClient } from '../api/client';

export interface Label {
  key: string;
  value: string;
}

/** What `get` filters on: the API's name and label filters. */
export interface ListFilter {
  name?: string;
  labels?: Label[];
}

/** Every kind's objects carry these. */
export interface KindObject {
  id: string;
  name: string;
  generation: number;
  createdAt: string;
  labels: Label[];
}

export interface Table {
  headers: string[];
  rows: string[][];
}

/** `netloom describe`: aligned fields, then titled sections of lines. */
export interface Description {
  fields: [string, string][];
  sections: { title: string; lines: string[] }[];
}

export interface DeleteOptions {
  wait: boolean;
  cascade: boolean;
}

/** One kind of object the CLI reads and deletes through the API. */
export interface KindHandler<T extends KindObject = KindObject> {
  /** The schema's type name, e.g. Network (also the change feed's kind). */
  readonly typeName: string;
  /** The query field listing it, e.g. networks. */
  readonly listField: string;
  /** Whether delete takes `cascade`. */
  readonly cascades: boolean;
  list(client: ApiClient, filter: ListFilter): Promise<T[]>;
  table(objects: T[], wide: boolean): Table;
  describe(client: ApiClient, object: T): Promise<Description>;
  delete(client: ApiClient, object: T, options: DeleteOptions): Promise<{ deletedIds: string[]; revision: number }>;
}

interface Page<N> {
  edges: { node: N }[];
  pageInfo: { hasNextPage: boolean; endCursor?: string | null };
}

/** Every page of a connection, `after` the previous one's end. */
export async function allPages<N>(fetchPage: (after: string | undefined) => Promise<Page<N>>): Promise<N[]> {
  const nodes: N[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await fetchPage(after);
    nodes.push(...page.edges.map((e) => e.node));
    if (!page.pageInfo.hasNextPage || !page.pageInfo.endCursor) return nodes;
    after = page.pageInfo.endCursor;
  }
}

/** Page size of the CLI's lists: status lists grow with the hosts, so pages stay small. */
export const PAGE = 50;

/** `vipAddress` → `VIP ADDRESS`. */
export const header = (field: string): string => field.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toUpperCase();

/** The same word however it is spelt: Load-Balancers, load_balancers, loadbalancers. */
export const normalizeKind = (word: string): string => word.toLowerCase().replace(/[-_\s]/g, '');

/** loadBalancers → load-balancers, as a user types it. */
export const kebab = (word: string): string => word.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();

/** LoadBalancer → lb, FirewallPolicy → fp (kubectl-like short names); none for a one-word type. */
export const initials = (typeName: string): string | undefined => {
  const capitals = typeName.replace(/[^A-Z]/g, '').toLowerCase();
  return capitals.length > 1 ? capitals : undefined;
};
