import { ApolloServerPlugin } from '@apollo/server';
import {
  DocumentNode,
  FragmentDefinitionNode,
  getNamedType,
  getNullableType,
  GraphQLError,
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
  const page = (args.first ?? args.last) as number | undefined;
  if (typeof page === 'number') return 1 + childComplexity * Math.max(page, 1);
  if (/Connection$/.test(getNamedType(field.type).name)) return 1 + childComplexity * DEFAULT_PAGE;
  // Edges of a connection were already multiplied by the connection's page size.
  if (isListType(getNullableType(field.type)) && !/Connection$/.test(type.name)) {
    return 1 + childComplexity * UNBOUNDED_LIST;
  }
  return 1 + childComplexity;
};

/** Refuses over-deep or over-costly operations before anything runs. */
export function queryLimitsPlugin(limits: QueryLimits): ApolloServerPlugin {
  return {
    requestDidStart() {
      return Promise.resolve({
        didResolveOperation({ request, document, schema }) {
          const depth = queryDepth(document, request.operationName);
          if (depth > limits.maxDepth) {
            throw new GraphQLError(`query depth ${depth} exceeds the limit of ${limits.maxDepth}`, {
              extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
            });
          }
          const cost = getComplexity({
            schema,
            query: document,
            operationName: request.operationName ?? undefined,
            variables: request.variables ?? {},
            estimators: [listEstimator],
          });
          if (cost > limits.maxCost) {
            throw new GraphQLError(`query cost ${cost} exceeds the limit of ${limits.maxCost}; ask for smaller pages`, {
              extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
            });
          }
          return Promise.resolve();
        },
      });
    },
  };
}
