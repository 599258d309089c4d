import { ApolloServerPlugin } from '@apollo/server';
import {
  DocumentNode,
  FieldNode,
  FragmentDefinitionNode,
  getNamedType,
  getNullableType,
  GraphQLCompositeType,
  GraphQLError,
  GraphQLField,
  GraphQLNamedType,
  GraphQLObjectType,
  GraphQLSchema,
  InlineFragmentNode,
  isAbstractType,
  isCompositeType,
  isInterfaceType,
  isLeafType,
  isListType,
  isObjectType,
  Kind,
  NamedTypeNode,
  OperationDefinitionNode,
  SchemaMetaFieldDef,
  SelectionNode,
  SelectionSetNode,
  TypeMetaFieldDef,
  TypeNameMetaFieldDef,
  ValueNode,
} from 'graphql';
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
  const known = new Map<string, number>();
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
        if (!fragment || seen.has(name)) continue;
        // Once per fragment: fragments spread twice at each level would otherwise be walked 2^levels times.
        let depth = known.get(name);
        if (depth === undefined) known.set(name, (depth = depthOf(fragment.selectionSet, new Set(seen).add(name))));
        max = Math.max(max, depth);
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
 * What the cost reads of a field's arguments: a whole number (`first`, `last`) or a list's
 * length, from a literal or from the variable's value as sent, never coerced (coercing a
 * 500-rule input costs milliseconds, and execution coerces it anyway: a value that does not
 * coerce is refused there, with BAD_USER_INPUT, before any resolver runs).
 */
interface CostArgs {
  int(name: string): number | undefined;
  length(name: string): number;
}

/**
 * How many items a list field can return, or undefined for a field that is not a list of
 * objects or whose items were already counted (the edges of a connection, the parts of one
 * stored document); null when nothing bounds it.
 */
function listSize(field: GraphQLField<unknown, unknown>, parent: GraphQLNamedType, args: CostArgs, bounds: QueryBounds): number | null | undefined {
  if (field.args.some((arg) => arg.name === 'first' || arg.name === 'last')) return args.int('first') ?? args.int('last') ?? DEFAULT_PAGE;
  if (!isListType(getNullableType(field.type)) || isLeafType(getNamedType(field.type))) return undefined;
  if (/Connection$/.test(parent.name) || getNamedType(field.type).extensions?.[EMBEDDED]) return undefined;
  const bound = field.extensions?.[LIST_BOUND] as ListBound | undefined;
  if (!bound) return null;
  if ('document' in bound) return undefined;
  if ('items' in bound) return bound.items;
  if ('perHost' in bound) return bounds.hosts;
  return args.length(bound.argument);
}

const NO_ARGS: CostArgs = { int: () => undefined, length: () => 0 };

/** `Type.field` of every list of objects in the schema that nothing bounds (what the cost would have to guess). */
export function unboundedLists(schema: GraphQLSchema): string[] {
  const found: string[] = [];
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      if (listSize(field, type, NO_ARGS, { hosts: 0 }) === null) found.push(`${type.name}.${field.name}`);
    }
  }
  return found;
}

/** Fields a cost walk visits at most (fragments spread in fragments can multiply a small document). */
export const MAX_COST_NODES = 10_000;

// A client error: HTTP 400 (a plugin's error is otherwise a 500).
const refused = (message: string): GraphQLError =>
  new GraphQLError(message, { extensions: { code: 'GRAPHQL_VALIDATION_FAILED', http: { status: 400 } } });

/**
 * The cost of a (validated) operation: each field costs 1, a list multiplies what is below it by
 * the most items it can hold ({@link listSize}; one nothing bounds counts as a full page). Where
 * a selection may meet several object types (an interface, a union), the costliest counts.
 * Introspection is bounded by the schema, not by data: never multiplied. `@skip` and `@include`
 * are followed when their condition is a boolean.
 */
function operationCost(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, bounds: QueryBounds, variables: Record<string, unknown>): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const def of document.definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
  // A variable's value as sent, or its default's literal.
  const defaults = new Map((operation.variableDefinitions ?? []).map((d) => [d.variable.name.value, d.defaultValue]));
  const valueOf = (node: ValueNode | undefined): { raw: unknown } | { literal: ValueNode } | undefined => {
    if (!node) return undefined;
    if (node.kind !== Kind.VARIABLE) return { literal: node };
    const name = node.name.value;
    if (Object.prototype.hasOwnProperty.call(variables, name)) return { raw: variables[name] };
    const fallback = defaults.get(name);
    return fallback ? { literal: fallback } : undefined;
  };
  const argsOf = (node: FieldNode): CostArgs => {
    const arg = (name: string) => valueOf(node.arguments?.find((a) => a.name.value === name)?.value);
    return {
      int(name) {
        const v = arg(name);
        if (!v) return undefined;
        if ('raw' in v) return typeof v.raw === 'number' && Number.isInteger(v.raw) ? v.raw : undefined;
        return v.literal.kind === Kind.INT ? Number(v.literal.value) : undefined;
      },
      length(name) {
        const v = arg(name);
        if (!v) return 0;
        // A single value where a list is expected is a list of one.
        if ('raw' in v) return Array.isArray(v.raw) ? v.raw.length : v.raw === null || v.raw === undefined ? 0 : 1;
        return v.literal.kind === Kind.LIST ? v.literal.values.length : v.literal.kind === Kind.NULL ? 0 : 1;
      },
    };
  };
  const skipped = (node: SelectionNode): boolean =>
    (node.directives ?? []).some((d) => {
      const name = d.name.value;
      if (name !== 'skip' && name !== 'include') return false;
      const v = valueOf(d.arguments?.find((a) => a.name.value === 'if')?.value);
      const on = v && ('raw' in v ? v.raw : v.literal.kind === Kind.BOOLEAN ? v.literal.value : undefined);
      return typeof on === 'boolean' && on === (name === 'skip');
    });
  const objectTypes = (type: GraphQLCompositeType): readonly GraphQLObjectType[] => (isAbstractType(type) ? schema.getPossibleTypes(type) : [type]);
  let visited = 0;
  // Per object type the selection may meet: what it costs there.
  const selectionCost = (set: SelectionSetNode, type: GraphQLCompositeType, active: Set<string>): number => {
    const costs = new Map<string, number>(objectTypes(type).map((t) => [t.name, 0]));
    const add = (cost: number, on: readonly GraphQLObjectType[]): void => {
      for (const t of on) costs.set(t.name, (costs.get(t.name) ?? 0) + cost);
    };
    for (const sel of set.selections) {
      if (++visited > MAX_COST_NODES) throw refused(`the operation has more than ${MAX_COST_NODES} fields once its fragments are spread`);
      if (skipped(sel)) continue;
      if (sel.kind === Kind.FIELD) {
        const name = sel.name.value;
        const field =
          name === SchemaMetaFieldDef.name
            ? SchemaMetaFieldDef
            : name === TypeMetaFieldDef.name
              ? TypeMetaFieldDef
              : name === TypeNameMetaFieldDef.name
                ? TypeNameMetaFieldDef
                : isObjectType(type) || isInterfaceType(type)
                  ? type.getFields()[name]
                  : undefined;
        if (!field) continue;
        const named = getNamedType(field.type);
        const child = sel.selectionSet && isCompositeType(named) ? selectionCost(sel.selectionSet, named, active) : 0;
        const size = type.name.startsWith('__') || name.startsWith('__') ? undefined : listSize(field, type, argsOf(sel), bounds);
        add(1 + child * (size === undefined ? 1 : Math.max(size ?? MAX_PAGE, 1)), objectTypes(type));
      } else {
        const spread = sel.kind === Kind.FRAGMENT_SPREAD ? sel.name.value : undefined;
        const fragment: { selectionSet: SelectionSetNode; typeCondition?: NamedTypeNode } | undefined =
          spread === undefined ? (sel as InlineFragmentNode) : active.has(spread) ? undefined : fragments.get(spread);
        if (!fragment) continue;
        if (spread !== undefined) active.add(spread);
        const on = fragment.typeCondition ? schema.getType(fragment.typeCondition.name.value) : type;
        if (on && isCompositeType(on)) add(selectionCost(fragment.selectionSet, on, active), objectTypes(on));
        if (spread !== undefined) active.delete(spread);
      }
    }
    return Math.max(0, ...costs.values());
  };
  const root = operation.operation === 'query' ? schema.getQueryType() : operation.operation === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType();
  return root ? selectionCost(operation.selectionSet, root, new Set()) : 0;
}

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
  const operation = document.definitions.find(
    (def): def is OperationDefinitionNode => def.kind === Kind.OPERATION_DEFINITION && (!operationName || def.name?.value === operationName),
  );
  const cost = operation ? operationCost(schema, document, operation, bounds, variables ?? {}) : 0;
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
