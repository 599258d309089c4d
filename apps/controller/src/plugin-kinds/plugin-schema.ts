import {
  GraphQLBoolean,
  GraphQLEnumType,
  GraphQLFieldConfig,
  GraphQLFieldConfigMap,
  GraphQLFloat,
  GraphQLID,
  GraphQLInputFieldConfigMap,
  GraphQLInputObjectType,
  GraphQLInputType,
  GraphQLInt,
  GraphQLInterfaceType,
  GraphQLList,
  GraphQLNamedType,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLOutputType,
  GraphQLScalarType,
  GraphQLSchema,
  GraphQLString,
  GraphQLUnionType,
} from 'graphql';
import { appendObjectFields } from '@graphql-tools/utils';
import { FieldType } from '@netloom/plugin-sdk';
import { MAX_LABELS } from '@netloom/model';
import { connectionDescriptions } from '../common/pagination';
import { EMBEDDED, listBound } from '../common/query-limits';
import type { ResourceStatus } from '../realization/resource-status.entity';
import { LoadedKind } from './plugin-registry';
import { PluginResource } from './plugin-resource.entity';
import { WAIT_DESCRIPTION } from '../realization/wait.interceptor';

/** What the generated fields call; `kind` says which plugin kind, `context` is the request's. */
export interface PluginFieldHandlers {
  list(kind: string, args: Record<string, unknown>, context: unknown): unknown;
  get(kind: string, args: Record<string, unknown>, context: unknown): unknown;
  create(kind: string, args: Record<string, unknown>, context: unknown): unknown;
  update(kind: string, args: Record<string, unknown>, context: unknown): unknown;
  delete(kind: string, args: Record<string, unknown>, context: unknown): unknown;
  status(resource: PluginResource, context: unknown): unknown;
}

/** The API names of a kind: `Router` → `router`, `routers`, `createRouter`… */
export function kindNames(kind: string): { singular: string; plural: string } {
  const singular = kind[0].toLowerCase() + kind.slice(1);
  const plural = /(s|x|z|ch|sh)$/.test(singular)
    ? `${singular}es`
    : /[^aeiou]y$/.test(singular)
      ? `${singular.slice(0, -1)}ies`
      : `${singular}s`;
  return { singular, plural };
}

type RootField = GraphQLFieldConfig<unknown, unknown, Record<string, unknown>>;

type Scalar = Exclude<FieldType, { type: 'enum' | 'object' | 'list' }>;

const SCALARS: Record<Scalar['type'], GraphQLScalarType> = {
  string: GraphQLString,
  int: GraphQLInt,
  counter: GraphQLFloat, // up to 2^53: GraphQL's Int stops at 2^31
  boolean: GraphQLBoolean,
  ip: GraphQLString,
  cidr: GraphQLString,
  ref: GraphQLID,
};

/** Set on an observed value by `ResourceStatus.observed`, so the union knows its kind. */
const OBSERVED_KIND = Symbol('observedKind');
type TaggedObserved = Record<string, unknown> & { [OBSERVED_KIND]: string };

const nonNull = <T extends GraphQLOutputType | GraphQLInputType>(type: T) => new GraphQLNonNull(type);

/**
 * Adds every plugin kind to the schema Nest built from the core's classes: an object type with
 * the spec fields and status, create/update inputs, a filter, a Relay connection, two queries
 * and three mutations (each with `wait`). A kind declaring `observed` gets `<Kind>Observed`, a
 * member of the union `PluginObserved`, which the core `ResourceStatus` then shows as `observed`.
 * Built with graphql-js from the kind's declaration, so adding a plugin changes no controller
 * code; with no kinds the schema is returned as it was.
 */
export function extendSchemaWithPlugins(schema: GraphQLSchema, kinds: LoadedKind[], handlers: PluginFieldHandlers): GraphQLSchema {
  if (!kinds.length) return schema;
  const existing = (name: string): GraphQLNamedType => {
    const type = schema.getType(name);
    if (!type) throw new Error(`the core schema lacks ${name}, which plugin kinds use`);
    return type;
  };
  const core = {
    dateTime: existing('DateTime') as GraphQLOutputType,
    label: existing('Label') as GraphQLObjectType,
    labelInput: existing('LabelInput') as GraphQLInputObjectType,
    pageInfo: existing('PageInfo') as GraphQLObjectType,
    status: existing('ResourceStatus') as GraphQLObjectType,
    deleteInput: existing('DeleteInput') as GraphQLInputObjectType,
    deletePayload: existing('DeletePayload') as GraphQLObjectType,
    node: existing('Node') as GraphQLInterfaceType,
  };
  const added = new Map<string, GraphQLNamedType>();
  const shapes = new Map<string, string>();
  // A type name is claimed once; the same nested declaration reused within a kind shares it.
  const claim = <T extends GraphQLNamedType>(name: string, shape: string, make: () => T): T => {
    if (schema.getType(name)) throw new Error(`plugin type ${name} clashes with a type of the core schema`);
    const known = added.get(name);
    if (known) {
      if (shapes.get(name) !== shape) throw new Error(`plugin type ${name} is declared twice, differently`);
      return known as T;
    }
    const type = make();
    added.set(name, type);
    shapes.set(name, shape);
    return type;
  };

  const scalarOf = (f: Scalar) => SCALARS[f.type];
  // A list's items: their type, if it is named, takes the list's description when it has none.
  const itemOf = (f: Extract<FieldType, { type: 'list' }>): FieldType => ({ ...f.of, required: false, description: f.of.description ?? f.description });

  const enumOf = (kind: string, f: Extract<FieldType, { type: 'enum' }>): GraphQLEnumType =>
    claim(`${kind}${f.name}`, JSON.stringify(f.values), () =>
      new GraphQLEnumType({
        name: `${kind}${f.name}`,
        description: f.description ?? `A value of a ${kind} field.`,
        values: Object.fromEntries(f.values.map((v) => [v, { value: v }])),
      }),
    );

  const outputOf = (kind: string, f: FieldType): GraphQLOutputType => {
    const base = (): GraphQLOutputType => {
      switch (f.type) {
        case 'enum':
          return enumOf(kind, f);
        case 'object':
          return claim(`${kind}${f.name}`, JSON.stringify(f.fields), () =>
            new GraphQLObjectType({
              name: `${kind}${f.name}`,
              description: f.description ?? `Part of a ${kind}.`,
              fields: () => outputFields(kind, f.fields),
              extensions: { [EMBEDDED]: true },
            }),
          );
        case 'list':
          return nonNull(new GraphQLList(nonNull(outputOf(kind, itemOf(f)))));
        default:
          return scalarOf(f);
      }
    };
    const type = base();
    return f.required && !(type instanceof GraphQLNonNull) ? nonNull(type) : type;
  };
  const outputFields = (kind: string, fields: Record<string, FieldType>): GraphQLFieldConfigMap<Record<string, unknown>, unknown> =>
    Object.fromEntries(
      Object.entries(fields).map(([name, f]) => [name, { type: outputOf(kind, f), description: f.description }]),
    );

  /** `strict`: required fields are non-null (create); otherwise everything may be left out (update). */
  const inputOf = (kind: string, f: FieldType, strict: boolean): GraphQLInputType => {
    const base = (): GraphQLInputType => {
      switch (f.type) {
        case 'enum':
          return enumOf(kind, f);
        case 'object':
          // Nested objects are always given whole, so their own required fields stay required.
          return claim(`${kind}${f.name}Input`, JSON.stringify(f.fields), () =>
            new GraphQLInputObjectType({
              name: `${kind}${f.name}Input`,
              description: f.description ?? `Part of a ${kind}.`,
              fields: () => inputFields(kind, f.fields, true),
            }),
          );
        case 'list':
          return new GraphQLList(nonNull(inputOf(kind, itemOf(f), true)));
        default:
          return scalarOf(f);
      }
    };
    const type = base();
    return strict && f.required && f.type !== 'list' ? nonNull(type) : type;
  };
  const inputFields = (kind: string, fields: Record<string, FieldType>, strict: boolean): GraphQLInputFieldConfigMap =>
    Object.fromEntries(
      Object.entries(fields).map(([name, f]) => [name, { type: inputOf(kind, f, strict), description: f.description }]),
    );

  const queryFields: Record<string, RootField> = {};
  const mutationFields: Record<string, RootField> = {};
  const observedTypes: GraphQLObjectType[] = [];
  const labelInputs = { type: new GraphQLList(nonNull(core.labelInput)) };
  const waitArg = { type: nonNull(GraphQLBoolean), defaultValue: false, description: WAIT_DESCRIPTION };

  for (const { name: kind, definition, plugin } of kinds) {
    const { singular, plural } = kindNames(kind);
    const node: GraphQLObjectType = claim(kind, kind, () =>
      new GraphQLObjectType<PluginResource>({
        name: kind,
        description: definition.description ?? `A ${kind} (plugin ${plugin.id}).`,
        interfaces: [core.node],
        fields: () => ({
          id: { type: nonNull(GraphQLID), description: core.node.getFields().id.description },
          name: { type: nonNull(GraphQLString) },
          labels: { type: nonNull(new GraphQLList(nonNull(core.label))), extensions: listBound({ items: MAX_LABELS }) },
          generation: { type: nonNull(GraphQLInt), description: 'Bumped on every change; pass it back to update or delete safely.' },
          createdAt: { type: nonNull(core.dateTime) },
          updatedAt: { type: nonNull(core.dateTime) },
          ...Object.fromEntries(
            Object.entries(definition.fields).map(([field, f]) => [
              field,
              { type: outputOf(kind, f), description: f.description, resolve: (r: PluginResource) => r.spec[field] },
            ]),
          ),
          status: {
            type: nonNull(new GraphQLList(nonNull(core.status))),
            description: 'Realization on each host it is placed on.',
            extensions: listBound({ perHost: true }),
            resolve: (r: PluginResource, _args: unknown, context: unknown) => handlers.status(r, context),
          },
        }),
      }),
    );
    const observed = definition.observed;
    if (observed) {
      observedTypes.push(
        claim(`${kind}Observed`, kind, () =>
          new GraphQLObjectType({
            name: `${kind}Observed`,
            description: `What an agent observes of a ${kind} on its host.`,
            fields: () => outputFields(kind, observed),
          }),
        ),
      );
    }
    const descriptions = connectionDescriptions(kind);
    const edge = claim(`${kind}Edge`, kind, () =>
      new GraphQLObjectType({ name: `${kind}Edge`, description: descriptions.edge, fields: { cursor: { type: nonNull(GraphQLString) }, node: { type: nonNull(node) } } }),
    );
    const connection = claim(`${kind}Connection`, kind, () =>
      new GraphQLObjectType({
        name: `${kind}Connection`,
        description: descriptions.connection,
        fields: {
          edges: { type: nonNull(new GraphQLList(nonNull(edge))) },
          pageInfo: { type: nonNull(core.pageInfo) },
          totalCount: { type: nonNull(GraphQLInt) },
        },
      }),
    );
    const filter = claim(`${kind}Filter`, kind, () =>
      new GraphQLInputObjectType({
        name: `${kind}Filter`,
        description: `Which ${kindNames(kind).plural} to list: all of these must hold.`,
        fields: {
          name: { type: GraphQLString, description: 'Exact name.' },
          labels: { ...labelInputs, description: 'Every one of these labels must match.' },
        },
      }),
    );
    const createInput = claim(`Create${kind}Input`, kind, () =>
      new GraphQLInputObjectType({
        name: `Create${kind}Input`,
        description: `A new ${kind}.`,
        fields: () => ({ name: { type: nonNull(GraphQLString) }, labels: labelInputs, ...inputFields(kind, definition.fields, true) }),
      }),
    );
    const updateInput = claim(`Update${kind}Input`, kind, () =>
      new GraphQLInputObjectType({
        name: `Update${kind}Input`,
        description: 'Fields left out keep their value; null clears an optional field.',
        fields: () => ({
          id: { type: nonNull(GraphQLID) },
          generation: { type: GraphQLInt, description: 'The generation you last saw; refused with CONFLICT if stale.' },
          name: { type: GraphQLString },
          labels: { ...labelInputs, description: 'Replaces all labels.' },
          ...inputFields(kind, definition.fields, false),
        }),
      }),
    );

    const addField = (
      target: Record<string, RootField>,
      name: string,
      config: RootField,
    ) => {
      const taken = target === queryFields ? schema.getQueryType()?.getFields() : schema.getMutationType()?.getFields();
      if (taken?.[name] || target[name]) throw new Error(`plugin kind ${kind}: the field ${name} is already taken`);
      target[name] = config;
    };
    addField(queryFields, plural, {
      type: nonNull(connection),
      description: `A page of ${plural}, filtered.`,
      args: {
        first: { type: GraphQLInt },
        after: { type: GraphQLString },
        last: { type: GraphQLInt },
        before: { type: GraphQLString },
        filter: { type: filter },
      },
      resolve: (_root, args, context) => handlers.list(kind, args, context),
    });
    addField(queryFields, singular, {
      type: node,
      description: `One ${kind} by id or name.`,
      args: { id: { type: GraphQLID }, name: { type: GraphQLString } },
      resolve: (_root, args, context) => handlers.get(kind, args, context),
    });
    addField(mutationFields, `create${kind}`, {
      type: nonNull(node),
      description: `Creates a ${kind}.`,
      args: { input: { type: nonNull(createInput) }, wait: waitArg },
      resolve: (_root, args, context) => handlers.create(kind, args, context),
    });
    addField(mutationFields, `update${kind}`, {
      type: nonNull(node),
      description: `Updates a ${kind}; fields left out keep their value.`,
      args: { input: { type: nonNull(updateInput) }, wait: waitArg },
      resolve: (_root, args, context) => handlers.update(kind, args, context),
    });
    addField(mutationFields, `delete${kind}`, {
      type: nonNull(core.deletePayload),
      description: `Deletes a ${kind}.`,
      args: { input: { type: nonNull(core.deleteInput) }, wait: waitArg },
      resolve: (_root, args, context) => handlers.delete(kind, args, context),
    });
  }

  const union = observedTypes.length
    ? claim('PluginObserved', 'PluginObserved', () =>
        new GraphQLUnionType({
          name: 'PluginObserved',
          description: "What an agent observes of a plugin resource beyond its realization state, by the resource's kind.",
          types: observedTypes,
          resolveType: (value: TaggedObserved) => `${value[OBSERVED_KIND]}Observed`,
        }),
      )
    : undefined;

  const config = schema.toConfig();
  const query = schema.getQueryType()!;
  const mutation = schema.getMutationType()!;
  const queryConfig = query.toConfig();
  const mutationConfig = mutation.toConfig();
  const extended = new GraphQLSchema({
    ...config,
    query: new GraphQLObjectType({ ...queryConfig, fields: { ...queryConfig.fields, ...queryFields } }),
    mutation: new GraphQLObjectType({ ...mutationConfig, fields: { ...mutationConfig.fields, ...mutationFields } }),
    types: [...config.types.filter((t) => t !== query && t !== mutation), ...added.values()],
  });
  if (!union) return extended;
  // ResourceStatus is used by core types and the subscription: appendObjectFields rebuilds them all around the new one.
  const withObserved = new Set(kinds.filter((k) => k.definition.observed).map((k) => k.name));
  return appendObjectFields(extended, core.status.name, {
    observed: {
      type: union,
      description: 'What the agent observes of a plugin resource (health, counters); null for kinds that declare none.',
      resolve: (status: ResourceStatus): TaggedObserved | null =>
        status.observed && withObserved.has(status.kind) ? { ...status.observed, [OBSERVED_KIND]: status.kind } : null,
    },
  });
}
