import { ApolloServerPlugin } from '@apollo/server';
import {
  DocumentNode,
  FragmentDefinitionNode,
  getNamedType,
  getNullableType,
  GraphQLError,
  GraphQLField,
  GraphQLNamedType,
  GraphQLSchema,
  isLeafType,
  isListType,
  isObjectType,
  Kind,
  SelectionSetNode,
} from 'graphql';
import { ComplexityEstimator, getComplexity } from 'graphql-query-complexity';
import { DEFAULT_PAGE, MAX_PAGE } from './pagination';

export interface QueryLimits {
  maxDepth: number;
  maxCost: number;
}

/** What the cost of some lists depends on at the time of the request. */
export interface QueryBounds {
  /** Hosts in the store: a resource has at most one status per host. */
  hosts: number;
}

/**
 * The field extension saying how long a list that is not a page can get, so its cost is counted
 * from a real bound: `items` (a cap enforced when written), `perHost` (one item per host at most),
 * `argument` (as many items as that list argument of the field, e.g. `createPorts(inputs)`), or
 * `document` (parts of one stored row, like {@link EMBEDDED} types: counted once).
 */
export const LIST_BOUND = 'netloomListBound';
export type ListBound = { items: number } | { perHost: true } | { argument: string } | { document: true };

/** `@Extensions(listBound({ items: 64 }))` on a list field. */
export const listBound = (bound: ListBound): Record<string, ListBound> => ({ [LIST_BOUND]: bound });

/**
 * The extension marking object types whose values are parts of one stored document (a plugin's
 * spec or observed state): their lists are bounded by what was validated when written, not
 * fan-outs to more rows, so the cost limit does not multiply them.
 */
export const EMBEDDED = 'netloomEmbedded';

/** Depth of the deepest field path, introspection excluded, fragments followed. */
export function queryDepth(document: DocumentNode, operationName?: string | null): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const def of document.definitions) {
    if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
  }
  const depthOf = (set: SelectionSetNode | undefined, seen: Set<string>): number => {
    if (!set) return 0;
    let max = 0;
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) {
        if (sel.name.value.startsWith('__')) continue;
        max = Math.max(max, 1 + depthOf(sel.selectionSet, seen));
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        max = Math.max(max, depthOf(sel.selectionSet, seen));
      } else {
        const name = sel.name.value;
        const fragment = fragments.get(name);
        if (fragment && !seen.has(name)) max = Math.max(max, depthOf(fragment.selectionSet, new Set(seen).add(name)));
      }
    }
    return max;
  };
  let depth = 0;
  for (const def of document.definitions) {
    if (def.kind === Kind.OPERATION_DEFINITION && (!operationName || def.name?.value === operationName)) {
      depth = Math.max(depth, depthOf(def.selectionSet, new Set()));
    }
  }
  return depth;
}

/**
 * How many items a list field can return, or undefined for a field that is not a list of
 * objects or whose items were already counted (the edges of a connection, the parts of one
 * stored document); null when nothing bounds it.
 */
function listSize(field: GraphQLField<unknown, unknown>, parent: GraphQLNamedType, args: Record<string, unknown>, bounds: QueryBounds): number | null | undefined {
  if (field.args.some((arg) => arg.name === 'first' || arg.name === 'last')) return (args.first ?? args.last ?? DEFAULT_PAGE) as number;
  if (!isListType(getNullableType(field.type)) || isLeafType(getNamedType(field.type))) return undefined;
  if (/Connection$/.test(parent.name) || getNamedType(field.type).extensions?.[EMBEDDED]) return undefined;
  const bound = field.extensions?.[LIST_BOUND] as ListBound | undefined;
  if (!bound) return null;
  if ('document' in bound) return undefined;
  if ('items' in bound) return bound.items;
  if ('perHost' in bound) return bounds.hosts;
  const given = args[bound.argument];
  return Array.isArray(given) ? given.length : 0;
}

/** `Type.field` of every list of objects in the schema that nothing bounds (what the cost would have to guess). */
export function unboundedLists(schema: GraphQLSchema): string[] {
  const found: string[] = [];
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      if (listSize(field, type, {}, { hosts: 0 }) === null) found.push(`${type.name}.${field.name}`);
    }
  }
  return found;
}

/** Each field costs 1; a list multiplies what is below it by the most items it can hold. */
const listEstimator =
  (bounds: QueryBounds): ComplexityEstimator =>
  ({ args, childComplexity, field, type }) => {
    // Introspection is bounded by the schema, not by data: never multiplied (depth skips it too).
    if (type.name.startsWith('__') || field.name.startsWith('__')) return 1 + childComplexity;
    // A list nothing bounds counts as a full page: never less than what it may return.
    const size = listSize(field, type, args, bounds);
    return 1 + childComplexity * (size === undefined ? 1 : Math.max(size ?? MAX_PAGE, 1));
  };

// A client error: HTTP 400 (a plugin's error is otherwise a 500).
const refused = (message: string): GraphQLError =>
  new GraphQLError(message, { extensions: { code: 'GRAPHQL_VALIDATION_FAILED', http: { status: 400 } } });

/** Throws when a (validated) operation is over-deep or over-costly; returns its cost. */
export function checkQueryLimits(
  limits: QueryLimits,
  bounds: QueryBounds,
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName?: string | null,
  variables?: Record<string, unknown> | null,
): number {
  const depth = queryDepth(document, operationName);
  if (depth > limits.maxDepth) {
    throw refused(`query depth ${depth} exceeds the limit of ${limits.maxDepth}`);
  }
  let cost: number;
  try {
    cost = getComplexity({ schema, query: document, operationName: operationName ?? undefined, variables: variables ?? {}, estimators: [listEstimator(bounds)] });
  } catch (error) {
    // It coerces the variables (a 500-rule input costs milliseconds each time, so once here) and
    // throws a GraphQLError on a bad one: execution refuses those itself (BAD_USER_INPUT) before
    // any resolver runs.
    if (error instanceof GraphQLError) return 0;
    throw error;
  }
  if (cost > limits.maxCost) {
    throw refused(`query cost ${cost} exceeds the limit of ${limits.maxCost}; ask for smaller pages`);
  }
  return cost;
}

/** Refuses over-deep or over-costly operations before anything runs. */
export function queryLimitsPlugin(limits: QueryLimits, bounds: () => Promise<QueryBounds>): ApolloServerPlugin {
  return {
    requestDidStart() {
      return Promise.resolve({
        async didResolveOperation({ request, document, schema }) {
          checkQueryLimits(limits, await bounds(), schema, document, request.operationName, request.variables);
        },
      });
    },
  };
}
