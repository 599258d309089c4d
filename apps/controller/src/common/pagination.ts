import { Type } from '@nestjs/common';
import { ArgsType, Field, Int, ObjectType } from '@nestjs/graphql';
import { ObjectLiteral, Repository, SelectQueryBuilder } from 'typeorm';
import { badInput, isId } from '@netloom/model';

export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;

@ArgsType()
export class ConnectionArgs {
  @Field(() => Int, { nullable: true, description: `Items after \`after\` (default ${DEFAULT_PAGE}, at most ${MAX_PAGE}).` })
  first?: number;
  @Field({ nullable: true })
  after?: string;
  @Field(() => Int, { nullable: true, description: 'Items before `before`, counted from the end.' })
  last?: number;
  @Field({ nullable: true })
  before?: string;
}

@ObjectType({ description: 'Where a page lies in the whole list: the cursors to ask for the pages around it.' })
export class PageInfo {
  @Field() hasNextPage!: boolean;
  @Field() hasPreviousPage!: boolean;
  @Field(() => String, { nullable: true }) startCursor!: string | null;
  @Field(() => String, { nullable: true }) endCursor!: string | null;
}

export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: PageInfo;
  totalCount: number;
}

/** The descriptions of a `<Name>Connection` and its `<Name>Edge`, core and plugin kinds alike. */
export const connectionDescriptions = (name: string) => ({
  connection: `A page of ${name} objects (a Relay connection).`,
  edge: `One ${name} in a page, with its cursor.`,
});

/** Builds the `<Name>Connection` and `<Name>Edge` GraphQL types for a node type. */
export function ConnectionType<T>(node: Type<T>, name: string): Type<Connection<T>> {
  const descriptions = connectionDescriptions(name);
  @ObjectType(`${name}Edge`, { description: descriptions.edge })
  class Edge {
    @Field() cursor!: string;
    @Field(() => node) node!: T;
  }
  @ObjectType(`${name}Connection`, { description: descriptions.connection })
  class ConnectionClass {
    @Field(() => [Edge]) edges!: Edge[];
    @Field(() => PageInfo) pageInfo!: PageInfo;
    @Field(() => Int) totalCount!: number;
  }
  return ConnectionClass;
}

// Ids are UUIDv7, so id order is creation order and the id itself is a stable cursor.
const encodeCursor = (id: string): string => Buffer.from(`v1:${id}`).toString('base64url');

function decodeCursor(cursor: string, field: string): string {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const id = text.startsWith('v1:') ? text.slice(3) : '';
  if (!isId(id)) throw badInput(`invalid cursor ${JSON.stringify(cursor.slice(0, 80))}`, field);
  return id;
}

function pageSize(value: number | undefined, field: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (value < 0 || value > MAX_PAGE) throw badInput(`${field} must be between 0 and ${MAX_PAGE}`, field);
  return value;
}

/** What a page asks for, checked: ids after/before, how many, which way. */
interface PageWindow {
  args: ConnectionArgs;
  after?: string;
  before?: string;
  size: number;
  backwards: boolean;
  /** The connection lists newest first (greatest id first), as a log does. */
  newestFirst: boolean;
}

function pageWindow(args: ConnectionArgs, newestFirst = false): PageWindow {
  const first = pageSize(args.first, 'first');
  const last = pageSize(args.last, 'last');
  if (first !== undefined && last !== undefined) throw badInput('give either first or last, not both', 'last');
  const backwards = last !== undefined;
  return {
    args,
    after: args.after ? decodeCursor(args.after, 'after') : undefined,
    before: args.before ? decodeCursor(args.before, 'before') : undefined,
    size: backwards ? last : (first ?? DEFAULT_PAGE),
    backwards,
    newestFirst,
  };
}

/** The order rows are fetched in: the connection's, or its reverse when paging backwards. */
const fetchOrder = (window: PageWindow): 'ASC' | 'DESC' => (window.backwards === window.newestFirst ? 'ASC' : 'DESC');

/** Restricts a query to a window's ids, in its order (the caller limits it to `size + 1` rows). */
function applyWindow<T extends ObjectLiteral>(qb: SelectQueryBuilder<T>, alias: string, window: PageWindow): SelectQueryBuilder<T> {
  const [afterIt, beforeIt] = window.newestFirst ? ['<', '>'] : ['>', '<'];
  if (window.after) qb.andWhere(`${alias}.id ${afterIt} :after`, { after: window.after });
  if (window.before) qb.andWhere(`${alias}.id ${beforeIt} :before`, { before: window.before });
  return qb;
}

/** A connection from up to `size + 1` rows fetched in the window's order. */
function toConnection<T extends { id: string }>(rows: T[], window: PageWindow, totalCount: number): Connection<T> {
  const { args, size, backwards } = window;
  const more = rows.length > size;
  const nodes = rows.slice(0, size);
  if (backwards) nodes.reverse();
  const edges = nodes.map((node) => ({ cursor: encodeCursor(node.id), node }));
  return {
    edges,
    totalCount,
    pageInfo: {
      hasNextPage: backwards ? Boolean(args.before) : more,
      hasPreviousPage: backwards ? more : Boolean(args.after),
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges[edges.length - 1]?.cursor ?? null,
    },
  };
}

/** Relay cursor pagination over any query whose alias has an `id` column, oldest first unless `newestFirst`. */
export async function paginate<T extends { id: string }>(
  qb: SelectQueryBuilder<T>,
  alias: string,
  args: ConnectionArgs,
  newestFirst = false,
): Promise<Connection<T>> {
  const window = pageWindow(args, newestFirst);
  const totalCount = await qb.clone().getCount();
  const rows = await applyWindow(qb.clone(), alias, window)
    .orderBy(`${alias}.id`, fetchOrder(window))
    .limit(window.size + 1)
    .getMany();
  return toConnection(rows, window, totalCount);
}

/**
 * The same page of the children of many parents (`key` is the child's parent column), in two
 * statements whatever the number of parents: the rows, ranked per parent with a window function
 * (SQLite 3.25+, PostgreSQL), and the counts.
 */
export async function paginateByParent<T extends ObjectLiteral & { id: string }>(
  repository: Repository<T>,
  key: keyof T & string,
  parentIds: readonly string[],
  args: ConnectionArgs,
): Promise<Connection<T>[]> {
  const window = pageWindow(args);
  const direction = fetchOrder(window);
  const parents = [...parentIds];
  const rows = await repository
    .createQueryBuilder('c')
    .innerJoin(
      (sub) =>
        applyWindow(
          sub
            .select('r.id', 'id')
            .addSelect(`ROW_NUMBER() OVER (PARTITION BY r.${key} ORDER BY r.id ${direction})`, 'rn')
            .from(repository.target, 'r')
            .where(`r.${key} IN (:...parents)`, { parents }),
          'r',
          window,
        ),
      'ranked',
      'ranked.id = c.id',
    )
    .where('ranked.rn <= :take', { take: window.size + 1 })
    .orderBy('c.id', direction)
    .getMany();
  const counts = await repository
    .createQueryBuilder('c')
    .select(`c.${key}`, 'parent')
    .addSelect('COUNT(*)', 'count')
    .where(`c.${key} IN (:...parents)`, { parents })
    .groupBy(`c.${key}`)
    .getRawMany<{ parent: string; count: number | string }>();
  const totals = new Map(counts.map((c) => [c.parent, Number(c.count)]));
  const groups = new Map<string, T[]>(parents.map((id) => [id, []]));
  for (const row of rows) groups.get(row[key])?.push(row);
  return parents.map((id) => toConnection(groups.get(id) ?? [], window, totals.get(id) ?? 0));
}
