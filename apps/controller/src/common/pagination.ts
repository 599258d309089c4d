import { Type } from '@nestjs/common';
import { ArgsType, Field, Int, ObjectType } from '@nestjs/graphql';
import { SelectQueryBuilder } from 'typeorm';
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

@ObjectType()
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

/** Builds the `<Name>Connection` and `<Name>Edge` GraphQL types for a node type. */
export function ConnectionType<T>(node: Type<T>, name: string): Type<Connection<T>> {
  @ObjectType(`${name}Edge`)
  class Edge {
    @Field() cursor!: string;
    @Field(() => node) node!: T;
  }
  @ObjectType(`${name}Connection`)
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

/** Relay cursor pagination over any query whose alias has an `id` column. */
export async function paginate<T extends { id: string }>(
  qb: SelectQueryBuilder<T>,
  alias: string,
  args: ConnectionArgs,
): Promise<Connection<T>> {
  const first = pageSize(args.first, 'first');
  const last = pageSize(args.last, 'last');
  if (first !== undefined && last !== undefined) throw badInput('give either first or last, not both', 'last');
  const totalCount = await qb.clone().getCount();
  const page = qb.clone();
  if (args.after) page.andWhere(`${alias}.id > :after`, { after: decodeCursor(args.after, 'after') });
  if (args.before) page.andWhere(`${alias}.id < :before`, { before: decodeCursor(args.before, 'before') });
  const backwards = last !== undefined;
  const size = backwards ? last : (first ?? DEFAULT_PAGE);
  const rows = await page
    .orderBy(`${alias}.id`, backwards ? 'DESC' : 'ASC')
    .limit(size + 1)
    .getMany();
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
