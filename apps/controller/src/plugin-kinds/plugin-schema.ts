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
import { MAX_LABELS, MAX_LIST_ITEMS } from '@netloom/model';
import { connectionDescriptions } from '../common/pagination';
import { EMBEDDED, listBound } from '../common/query-limits';
import type { PlacementOutcome } from '../realization/realizer';
import type { ResourceStatus } from '../realization/resource-status.entity';
import { LoadedKind } from './plugin-registry';
import { PluginResource } from './plugin-resource.entity';
import { WAIT_DESCRIPTION } from '../realization/wait.interceptor';

/** What the generated fields call; `kind` says which plugin kind, `context` is the request's. */
export interface PluginFieldHandlers {
  list(kind: string, args: Record<string, unknown>, context: unknown): unknown;
  get(kind: string, args: Record<string, unknown>, context: unknown): unknown;
  create(kind: string, args: Record<string, unknown>, context: unknown): unknown;
  createMany(kind: string, args: Record<string, unknown>, context: unknown): unknown;
  update(kind: string, args: Record<string, unknown>, context: unknown): unknown;
  delete(kind: string, args: Record<string, unknown>, context: unknown): unknown;
  status(resource: PluginResource, context: unknown): unknown;
  /** Where the controller placed the resource (see {@link placementView}). */
  placement(resource: PluginResource, context: unknown): PlacementView;
  /** The resource of `kind` (a core kind or a plugin kind) with this id, or null when there is none (any more). */
  load(kind: string, id: string, context: unknown): Promise<unknown>;
}

/** A plugin resource's `placement`, as GraphQL shows it. */
export interface PlacementView {
  state: 'PENDING' | 'PLACED' | 'NONE';
  hosts: number;
  reason: string | null;
}

/**
 * The placement of a resource at `generation` from what the controller's realizer last made of
 * it: PENDING until it has placed this generation (its earlier hosts still counted), then PLACED
 * on its hosts or NONE with the reason.
 */
export function placementView(generation: number, outcome: PlacementOutcome | undefined): PlacementView {
  if (!outcome || outcome.generation < generation) {
    return { state: 'PENDING', hosts: outcome?.hosts ?? 0, reason: 'the controller has not placed this change yet' };
  }
  return outcome.hosts > 0 ? { state: 'PLACED', hosts: outcome.hosts, reason: null } : { state: 'NONE', hosts: 0, reason: outcome.reason ?? 'placed on no host' };
}

/** The API names of a kind: `Router` → `router`, `routers`, `createRouter`… */
export function kindNames(kind: string): { singular: string; plural: string; createMany: string } {
  const singular = kind[0].toLowerCase() + kind.slice(1);
  const plural = /(s|x|z|ch|sh)$/.test(singular)
    ? `${singular}es`
    : /[^aeiou]y$/.test(singular)
      ? `${singular.slice(0, -1)}ies`
      : `${singular}s`;
  return { singular, plural, createMany: `create${plural[0].toUpperCase()}${plural.slice(1)}` };
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

/** The core types plugin kinds use. */
interface CoreTypes {
  dateTime: GraphQLOutputType;
  label: GraphQLObjectType;
  labelInput: GraphQLInputObjectType;
  pageInfo: GraphQLObjectType;
  status: GraphQLObjectType;
  deleteInput: GraphQLInputObjectType;
  deletePayload: GraphQLObjectType;
  node: GraphQLInterfaceType;
}

function coreTypes(schema: GraphQLSchema): CoreTypes {
  const existing = (name: string): GraphQLNamedType => {
    const type = schema.getType(name);
    if (!type) throw new Error(`the core schema lacks ${name}, which plugin kinds use`);
    return type;
  };
  return {
    dateTime: existing('DateTime') as GraphQLOutputType,
    label: existing('Label') as GraphQLObjectType,
    labelInput: existing('LabelInput') as GraphQLInputObjectType,
    pageInfo: existing('PageInfo') as GraphQLObjectType,
    status: existing('ResourceStatus') as GraphQLObjectType,
    deleteInput: existing('DeleteInput') as GraphQLInputObjectType,
    deletePayload: existing('DeletePayload') as GraphQLObjectType,
    node: existing('Node') as GraphQLInterfaceType,
  };
}

/** What building the plugin types shares: the core schema and its types, the handlers, and the types added so far. */
interface Build {
  schema: GraphQLSchema;
  core: CoreTypes;
  handlers: PluginFieldHandlers;
  added: Map<string, GraphQLNamedType>;
  shapes: Map<string, string>;
}

/**
 * A type name is claimed once; the same nested declaration reused within a kind shares it. A
 * name of the core schema, or one declared twice differently (`shape`), is refused.
 */
function claim<T extends GraphQLNamedType>(b: Build, name: string, shape: string, make: () => T): T {
  if (b.schema.getType(name)) throw new Error(`plugin type ${name} clashes with a type of the core schema`);
  const known = b.added.get(name);
  if (known) {
    if (b.shapes.get(name) !== shape) throw new Error(`plugin type ${name} is declared twice, differently`);
    return known as T;
  }
  const type = make();
  b.added.set(name, type);
  b.shapes.set(name, shape);
  return type;
}

type ListField = Extract<FieldType, { type: 'list' }>;
type EnumField = Extract<FieldType, { type: 'enum' }>;
type ObjectField = Extract<FieldType, { type: 'object' }>;

// A list's items: the list's field holds them (its description is the field's, not the items' type's).
const itemOf = (f: ListField): FieldType => ({ ...f.of, required: false });

/**
 * What makes two declarations of a named type the same: the declaration without the description
 * of the field holding it (a field's description describes that field, not the shared type).
 */
const shapeOf = (f: EnumField | ObjectField): string =>
  JSON.stringify(f.type === 'enum' ? [f.values, f.typeDescription ?? null] : [f.fields, f.typeDescription ?? null]);

/** An object of exactly a required string `key` and a required string `value`: shown as the core Label. */
export function isLabelObject(f: FieldType): boolean {
  if (f.type !== 'object') return false;
  const fields: Record<string, FieldType> = f.fields;
  const names = Object.keys(f.fields).sort();
  return names.length === 2 && names[0] === 'key' && names[1] === 'value' && names.every((n) => fields[n].type === 'string' && fields[n].required);
}

function enumType(b: Build, kind: string, f: EnumField): GraphQLEnumType {
  return claim(b, `${kind}${f.name}`, shapeOf(f), () =>
    new GraphQLEnumType({
      name: `${kind}${f.name}`,
      description: f.typeDescription ?? `A value of a ${kind} field.`,
      values: Object.fromEntries(f.values.map((v) => [v, { value: v }])),
    }),
  );
}

function objectType(b: Build, kind: string, f: ObjectField): GraphQLObjectType {
  if (isLabelObject(f)) return b.core.label;
  return claim(b, `${kind}${f.name}`, shapeOf(f), () =>
    new GraphQLObjectType({
      name: `${kind}${f.name}`,
      description: f.typeDescription ?? `Part of a ${kind}.`,
      fields: () => outputFields(b, kind, f.fields),
      extensions: { [EMBEDDED]: true },
    }),
  );
}

/** The output type of a field: non-null when required; a list is never null, nor its items. */
function outputType(b: Build, kind: string, f: FieldType): GraphQLOutputType {
  const type = ((): GraphQLOutputType => {
    switch (f.type) {
      case 'enum':
        return enumType(b, kind, f);
      case 'object':
        return objectType(b, kind, f);
      case 'list':
        return nonNull(new GraphQLList(nonNull(outputType(b, kind, itemOf(f)))));
      default:
        return SCALARS[f.type];
    }
  })();
  return f.required && !(type instanceof GraphQLNonNull) ? nonNull(type) : type;
}

/** A list of core Labels in a spec is part of its stored row (its own types are EMBEDDED; Label is not). */
const extensionsOf = (f: FieldType) => (f.type === 'list' && isLabelObject(f.of) ? listBound({ document: true }) : undefined);

type OutputFields = GraphQLFieldConfigMap<Record<string, unknown>, unknown>;
type ValueOf = (parent: Record<string, unknown>, field: string) => unknown;

/** A nested object's fields (or an observed state's): its own, and the objects its refs name. */
function outputFields(b: Build, kind: string, fields: Record<string, FieldType>): OutputFields {
  const own = Object.fromEntries(
    Object.entries(fields).map(([name, f]) => [name, { type: outputType(b, kind, f), description: f.description, extensions: extensionsOf(f) }]),
  );
  return { ...own, ...refObjectFields(b, fields, (parent, field) => parent[field], new Set(Object.keys(fields))) };
}

/**
 * The object field next to a ref field: `portId` → `port`, `portIds` → `ports`; undefined for a
 * name with no `Id`/`Ids` to strip (only the id is shown then).
 */
export function refObjectName(field: string): string | undefined {
  const many = /^(.+)Ids$/.exec(field);
  if (many) return kindNames(many[1]).plural;
  return /^(.+)Id$/.exec(field)?.[1];
}

/** The GraphQL object type of a ref's kind: a core type, or a plugin kind's (known once every kind is claimed). */
function refTarget(b: Build, refKind: string): GraphQLObjectType | undefined {
  const type = b.schema.getType(refKind) ?? b.added.get(refKind);
  return type instanceof GraphQLObjectType ? type : undefined;
}

/**
 * For each ref field (or list of refs) whose name ends in `Id`/`Ids`, the object(s) it names,
 * loaded through the request's dataloaders: null (or left out of the list) when it no longer
 * exists. A name already `taken` by another field keeps only the id.
 */
function refObjectFields(b: Build, fields: Record<string, FieldType>, valueOf: ValueOf, taken: ReadonlySet<string>): OutputFields {
  const out: OutputFields = {};
  for (const [field, f] of Object.entries(fields)) {
    const ref = f.type === 'ref' ? f : f.type === 'list' && f.of.type === 'ref' ? f.of : undefined;
    const name = ref && refObjectName(field);
    if (!ref || !name || taken.has(name) || out[name] || fields[name]) continue;
    const target = refTarget(b, ref.kind);
    if (!target) continue;
    const load = (id: unknown, context: unknown): Promise<unknown> => (typeof id === 'string' ? b.handlers.load(ref.kind, id, context) : Promise.resolve(null));
    out[name] =
      f.type === 'list'
        ? {
            type: nonNull(new GraphQLList(nonNull(target))),
            description: `The ${ref.kind} objects of ${field} that still exist, in its order.`,
            extensions: listBound({ items: MAX_LIST_ITEMS }),
            resolve: async (parent, _args, context) => {
              const ids = valueOf(parent, field);
              const found = await Promise.all((Array.isArray(ids) ? ids : []).map((id) => load(id, context)));
              return found.filter((o) => o !== null && o !== undefined);
            },
          }
        : {
            type: target,
            description: `The ${ref.kind} ${field} names; null when unset or when it no longer exists.`,
            resolve: (parent, _args, context) => load(valueOf(parent, field), context),
          };
  }
  return out;
}

function inputObjectType(b: Build, kind: string, f: ObjectField): GraphQLInputObjectType {
  if (isLabelObject(f)) return b.core.labelInput;
  // Nested objects are always given whole, so their own required fields stay required.
  return claim(b, `${kind}${f.name}Input`, shapeOf(f), () =>
    new GraphQLInputObjectType({
      name: `${kind}${f.name}Input`,
      description: f.typeDescription ?? `Part of a ${kind}.`,
      fields: () => inputFields(b, kind, f.fields, true),
    }),
  );
}

/** `strict`: required fields are non-null (create); otherwise everything may be left out (update). */
function inputType(b: Build, kind: string, f: FieldType, strict: boolean): GraphQLInputType {
  const type = ((): GraphQLInputType => {
    switch (f.type) {
      case 'enum':
        return enumType(b, kind, f);
      case 'object':
        return inputObjectType(b, kind, f);
      case 'list':
        return new GraphQLList(nonNull(inputType(b, kind, itemOf(f), true)));
      default:
        return SCALARS[f.type];
    }
  })();
  return strict && f.required && f.type !== 'list' ? nonNull(type) : type;
}

function inputFields(b: Build, kind: string, fields: Record<string, FieldType>, strict: boolean): GraphQLInputFieldConfigMap {
  return Object.fromEntries(Object.entries(fields).map(([name, f]) => [name, { type: inputType(b, kind, f, strict), description: f.description }]));
}

/** The fields every plugin resource type has besides its spec: a ref's object field never takes one of these names. */
const COMMON_FIELDS: ReadonlySet<string> = new Set(['id', 'name', 'labels', 'generation', 'createdAt', 'updatedAt', 'status', 'placement', 'kind']);

const labelInputs = (b: Build) => ({ type: new GraphQLList(nonNull(b.core.labelInput)) });
const WAIT_ARG = { type: nonNull(GraphQLBoolean), defaultValue: false, description: WAIT_DESCRIPTION };

/** The object type of a kind: the common fields of every resource, its spec fields, its status. */
function resourceType(b: Build, { name: kind, definition, plugin }: LoadedKind): GraphQLObjectType {
  const { core, handlers } = b;
  return claim(b, kind, kind, () =>
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
            { type: outputType(b, kind, f), description: f.description, extensions: extensionsOf(f), resolve: (r: PluginResource) => r.spec[field] },
          ]),
        ),
        ...refObjectFields(b, definition.fields, (r, field) => (r as unknown as PluginResource).spec[field], COMMON_FIELDS),
        status: {
          type: nonNull(new GraphQLList(nonNull(core.status))),
          description: 'Realization on each host it is placed on: empty while placement is PENDING or NONE.',
          extensions: listBound({ perHost: true }),
          resolve: (r: PluginResource, _args: unknown, context: unknown) => handlers.status(r, context),
        },
        placement: {
          type: nonNull(placementType(b)),
          description: 'Where the controller placed it: on how many hosts, or why on none (an empty status means one of these).',
          resolve: (r: PluginResource, _args: unknown, context: unknown) => handlers.placement(r, context),
        },
      }),
    }),
  );
}

/** `ResourcePlacement` and its `PlacementState`, shared by every plugin kind. */
function placementType(b: Build): GraphQLObjectType {
  // Shapes no kind has (a kind's is its PascalCase name): a kind of the same name is refused, not taken for these.
  const state = claim(b, 'PlacementState', 'placement state', () =>
    new GraphQLEnumType({
      name: 'PlacementState',
      description: "Where a plugin resource stands in its plugin's placement.",
      values: {
        PENDING: { description: 'The controller has not placed its latest change yet.' },
        PLACED: { description: 'On at least one host: see status for each.' },
        NONE: { description: 'On no host, so nothing is realized anywhere: reason says why (e.g. it selects no port).' },
      },
    }),
  );
  return claim(b, 'ResourcePlacement', 'placement', () =>
    new GraphQLObjectType({
      name: 'ResourcePlacement',
      description: "Where the controller placed a plugin resource, from its plugin's place(): what tells an empty status apart.",
      fields: {
        state: { type: nonNull(state) },
        hosts: { type: nonNull(GraphQLInt), description: 'Hosts it is placed on (while PENDING: by the previous change).' },
        reason: { type: GraphQLString, description: 'Why it is on no host (NONE) or not placed yet (PENDING); null when PLACED.' },
      },
    }),
  );
}

/** `<Kind>Observed`, for a kind that declares observed state. */
function observedType(b: Build, kind: string, observed: Record<string, FieldType>): GraphQLObjectType {
  return claim(b, `${kind}Observed`, kind, () =>
    new GraphQLObjectType({
      name: `${kind}Observed`,
      description: `What an agent observes of a ${kind} on its host.`,
      fields: () => outputFields(b, kind, observed),
    }),
  );
}

/** `<Kind>Connection` and its `<Kind>Edge`: a Relay page of the kind. */
function connectionType(b: Build, kind: string, node: GraphQLObjectType): GraphQLObjectType {
  const descriptions = connectionDescriptions(kind);
  const edge = claim(b, `${kind}Edge`, kind, () =>
    new GraphQLObjectType({ name: `${kind}Edge`, description: descriptions.edge, fields: { cursor: { type: nonNull(GraphQLString) }, node: { type: nonNull(node) } } }),
  );
  return claim(b, `${kind}Connection`, kind, () =>
    new GraphQLObjectType({
      name: `${kind}Connection`,
      description: descriptions.connection,
      fields: {
        edges: { type: nonNull(new GraphQLList(nonNull(edge))) },
        pageInfo: { type: nonNull(b.core.pageInfo) },
        totalCount: { type: nonNull(GraphQLInt) },
      },
    }),
  );
}

function filterInput(b: Build, kind: string): GraphQLInputObjectType {
  return claim(b, `${kind}Filter`, kind, () =>
    new GraphQLInputObjectType({
      name: `${kind}Filter`,
      description: `Which ${kindNames(kind).plural} to list: all of these must hold.`,
      fields: {
        name: { type: GraphQLString, description: 'Exact name.' },
        labels: { ...labelInputs(b), description: 'Every one of these labels must match.' },
      },
    }),
  );
}

function createInput(b: Build, { name: kind, definition }: LoadedKind): GraphQLInputObjectType {
  return claim(b, `Create${kind}Input`, kind, () =>
    new GraphQLInputObjectType({
      name: `Create${kind}Input`,
      description: `A new ${kind}.`,
      fields: () => ({ name: { type: nonNull(GraphQLString) }, labels: labelInputs(b), ...inputFields(b, kind, definition.fields, true) }),
    }),
  );
}

function updateInput(b: Build, { name: kind, definition }: LoadedKind): GraphQLInputObjectType {
  return claim(b, `Update${kind}Input`, kind, () =>
    new GraphQLInputObjectType({
      name: `Update${kind}Input`,
      description: 'Fields left out keep their value; null clears an optional field.',
      fields: () => ({
        id: { type: nonNull(GraphQLID) },
        generation: { type: GraphQLInt, description: 'The generation you last saw; refused with CONFLICT if stale.' },
        name: { type: GraphQLString },
        labels: { ...labelInputs(b), description: 'Replaces all labels.' },
        ...inputFields(b, kind, definition.fields, false),
      }),
    }),
  );
}

/** The root fields generated so far; a name taken by the core or another kind is refused. */
class RootFields {
  readonly fields: Record<string, RootField> = {};

  constructor(private readonly taken: Record<string, unknown> | undefined) {}

  add(kind: string, name: string, config: RootField): void {
    if (this.taken?.[name] || this.fields[name]) throw new Error(`plugin kind ${kind}: the field ${name} is already taken`);
    this.fields[name] = config;
  }
}

/** A kind's two queries (a page, one by id or name) and four mutations (create, create many, update, delete). */
function addRootFields(b: Build, loaded: LoadedKind, node: GraphQLObjectType, query: RootFields, mutation: RootFields): void {
  const { name: kind } = loaded;
  const { handlers } = b;
  const { singular, plural, createMany } = kindNames(kind);
  query.add(kind, plural, {
    type: nonNull(connectionType(b, kind, node)),
    description: `A page of ${plural}, filtered.`,
    args: {
      first: { type: GraphQLInt },
      after: { type: GraphQLString },
      last: { type: GraphQLInt },
      before: { type: GraphQLString },
      filter: { type: filterInput(b, kind) },
    },
    resolve: (_root, args, context) => handlers.list(kind, args, context),
  });
  query.add(kind, singular, {
    type: node,
    description: `One ${kind} by id or name.`,
    args: { id: { type: GraphQLID }, name: { type: GraphQLString } },
    resolve: (_root, args, context) => handlers.get(kind, args, context),
  });
  mutation.add(kind, `create${kind}`, {
    type: nonNull(node),
    description: `Creates a ${kind}.`,
    args: { input: { type: nonNull(createInput(b, loaded)) }, wait: WAIT_ARG },
    resolve: (_root, args, context) => handlers.create(kind, args, context),
  });
  mutation.add(kind, createMany, {
    type: nonNull(new GraphQLList(nonNull(node))),
    description: `Creates many ${plural} in one transaction: all of them, or none.`,
    args: { inputs: { type: nonNull(new GraphQLList(nonNull(createInput(b, loaded)))) }, wait: WAIT_ARG },
    extensions: listBound({ argument: 'inputs' }),
    resolve: (_root, args, context) => handlers.createMany(kind, args, context),
  });
  mutation.add(kind, `update${kind}`, {
    type: nonNull(node),
    description: `Updates a ${kind}; fields left out keep their value.`,
    args: { input: { type: nonNull(updateInput(b, loaded)) }, wait: WAIT_ARG },
    resolve: (_root, args, context) => handlers.update(kind, args, context),
  });
  mutation.add(kind, `delete${kind}`, {
    type: nonNull(b.core.deletePayload),
    description: `Deletes a ${kind}.`,
    args: { input: { type: nonNull(b.core.deleteInput) }, wait: WAIT_ARG },
    resolve: (_root, args, context) => handlers.delete(kind, args, context),
  });
}

/** The schema with the generated root fields and types added. */
function withRootFields(schema: GraphQLSchema, query: RootFields, mutation: RootFields, added: Iterable<GraphQLNamedType>): GraphQLSchema {
  const config = schema.toConfig();
  const queryType = schema.getQueryType()!;
  const mutationType = schema.getMutationType()!;
  const queryConfig = queryType.toConfig();
  const mutationConfig = mutationType.toConfig();
  return new GraphQLSchema({
    ...config,
    query: new GraphQLObjectType({ ...queryConfig, fields: { ...queryConfig.fields, ...query.fields } }),
    mutation: new GraphQLObjectType({ ...mutationConfig, fields: { ...mutationConfig.fields, ...mutation.fields } }),
    types: [...config.types.filter((t) => t !== queryType && t !== mutationType), ...added],
  });
}

/** The union `PluginObserved` of the kinds' observed types. */
function observedUnion(b: Build, observedTypes: GraphQLObjectType[]): GraphQLUnionType {
  return claim(b, 'PluginObserved', 'PluginObserved', () =>
    new GraphQLUnionType({
      name: 'PluginObserved',
      description: "What an agent observes of a plugin resource beyond its realization state, by the resource's kind.",
      types: observedTypes,
      resolveType: (value: TaggedObserved) => `${value[OBSERVED_KIND]}Observed`,
    }),
  );
}

/** `ResourceStatus.observed`: what the agent observed, shown as the kind's observed type. */
function withObservedStatus(b: Build, schema: GraphQLSchema, kinds: LoadedKind[], union: GraphQLUnionType): GraphQLSchema {
  // ResourceStatus is used by core types and the subscription: appendObjectFields rebuilds them all around the new one.
  const withObserved = new Set(kinds.filter((k) => k.definition.observed).map((k) => k.name));
  return appendObjectFields(schema, b.core.status.name, {
    observed: {
      type: union,
      description: 'What the agent observes of a plugin resource (health, counters); null for kinds that declare none.',
      resolve: (status: ResourceStatus): TaggedObserved | null =>
        status.observed && withObserved.has(status.kind) ? { ...status.observed, [OBSERVED_KIND]: status.kind } : null,
    },
  });
}

/**
 * Adds every plugin kind to the schema Nest built from the core's classes: an object type with
 * the spec fields and status, create/update inputs, a filter, a Relay connection, two queries
 * and four mutations (create one or many, update, delete; each with `wait`). A kind declaring `observed` gets `<Kind>Observed`, a
 * member of the union `PluginObserved`, which the core `ResourceStatus` then shows as `observed`.
 * Built with graphql-js from the kind's declaration, so adding a plugin changes no controller
 * code; with no kinds the schema is returned as it was.
 */
export function extendSchemaWithPlugins(schema: GraphQLSchema, kinds: LoadedKind[], handlers: PluginFieldHandlers): GraphQLSchema {
  if (!kinds.length) return schema;
  const b: Build = { schema, core: coreTypes(schema), handlers, added: new Map(), shapes: new Map() };
  const query = new RootFields(schema.getQueryType()?.getFields());
  const mutation = new RootFields(schema.getMutationType()?.getFields());
  const observedTypes: GraphQLObjectType[] = [];
  for (const loaded of kinds) {
    const node = resourceType(b, loaded);
    if (loaded.definition.observed) observedTypes.push(observedType(b, loaded.name, loaded.definition.observed));
    addRootFields(b, loaded, node, query, mutation);
  }
  const union = observedTypes.length ? observedUnion(b, observedTypes) : undefined;
  const extended = withRootFields(schema, query, mutation, b.added.values());
  return union ? withObservedStatus(b, extended, kinds, union) : extended;
}
