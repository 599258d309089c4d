import { ApolloServerPlugin } from '@apollo/server';
import {
  DocumentNode,
  FragmentDefinitionNode,
  getNamedType,
  getNullableType,
  getOperationAST,
  getVariableValues,
  GraphQLError,
  GraphQLSchema,
  isListType,
  Kind,
  SelectionSetNode,
} from 'graphql';
import { ComplexityEstimator, getComplexity } from 'graphql-query-complexity';
import { DEFAULT_PAGE } from './pagination';

export interface QueryLimits {
  maxDepth: number;
  maxCost: number;
}

/** A guess at the size of a list without a `first`/`last` argument (e.g. `network.subnets`). */
const UNBOUNDED_LIST = 20;

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

/** Each field costs 1; a list multiplies what is below it by its page size. */
const listEstimator: ComplexityEstimator = ({ args, childComplexity, field, type }) => {
  // Introspection is bounded by the schema, not by data: never multiplied (depth skips it too).
  if (type.name.startsWith('__') || field.name.startsWith('__')) return 1 + childComplexity;
  const page = (args.first ?? args.last) as number | undefined;
  if (typeof page === 'number') return 1 + childComplexity * Math.max(page, 1);
  if (/Connection$/.test(getNamedType(field.type).name)) return 1 + childComplexity * DEFAULT_PAGE;
  // Parts of one stored document (a plugin spec or observed state) are not more rows.
  if (getNamedType(field.type).extensions?.[EMBEDDED]) return 1 + childComplexity;
  // Edges of a connection were already multiplied by the connection's page size.
  if (isListType(getNullableType(field.type)) && !/Connection$/.test(type.name)) {
    return 1 + childComplexity * UNBOUNDED_LIST;
  }
  return 1 + childComplexity;
};

// A client error: HTTP 400 (a plugin's error is otherwise a 500).
const refused = (message: string): GraphQLError =>
  new GraphQLError(message, { extensions: { code: 'GRAPHQL_VALIDATION_FAILED', http: { status: 400 } } });

/** Throws when a (validated) operation is over-deep or over-costly. */
export function checkQueryLimits(
  limits: QueryLimits,
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName?: string | null,
  variables?: Record<string, unknown> | null,
): void {
  const depth = queryDepth(document, operationName);
  if (depth > limits.maxDepth) {
    throw refused(`query depth ${depth} exceeds the limit of ${limits.maxDepth}`);
  }
  // getComplexity coerces the variables and throws on a bad one; execution refuses those itself
  // (BAD_USER_INPUT) before any resolver runs.
  const operation = getOperationAST(document, operationName);
  if (operation && 'errors' in getVariableValues(schema, operation.variableDefinitions ?? [], variables ?? {})) return;
  const cost = getComplexity({
    schema,
    query: document,
    operationName: operationName ?? undefined,
    variables: variables ?? {},
    estimators: [listEstimator],
  });
  if (cost > limits.maxCost) {
    throw refused(`query cost ${cost} exceeds the limit of ${limits.maxCost}; ask for smaller pages`);
  }
}

/** Refuses over-deep or over-costly operations before anything runs. */
export function queryLimitsPlugin(limits: QueryLimits): ApolloServerPlugin {
  return {
    requestDidStart() {
      return Promise.resolve({
        didResolveOperation({ request, document, schema }) {
          checkQueryLimits(limits, schema, document, request.operationName, request.variables);
          return Promise.resolve();
        },
      });
    },
  };
}
