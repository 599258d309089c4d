import {
  getNamedType,
  isEnumType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  isUnionType,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLSchema,
} from 'graphql';
import type { ApiClient } from '../api/client';
import { CliError } from '../errors';
import { type HostStatus, type Placement, summarizeStatus } from '../output/status';
import { age, cell, labelsText } from '../output/table';
import { commonFields, fieldValue, statusSection } from './describe-helpers';
import { allPages, header, PAGE, type KindHandler, type KindObject } from './kind';

/** Fields every kind has, shown in their own columns. */
const COMMON = new Set(['id', 'name', 'generation', 'createdAt', 'updatedAt', 'labels', 'status']);
const MAX_DEPTH = 5;

/** A kind object's fields, read from the schema. */
type PluginObject = KindObject & { status: (HostStatus & { observed?: unknown })[] } & Record<string, unknown>;

/** An object type another kind refers to (it has an id and a name): selected as `{ id name }`. */
const isReference = (type: GraphQLNamedType): boolean => isObjectType(type) && 'id' in type.getFields() && 'name' in type.getFields();

/**
 * A selection of every field of `type` without arguments: leaves as they are, nested objects in
 * full (a reference to another object by id and name; a list of references not: ids are
 * selected beside it), unions by member. Read from the schema, so a
 * plugin's new fields show with no CLI change.
 */
export function selectionOf(type: GraphQLNamedType, depth = 0, path: string[] = []): string {
  if (isUnionType(type)) {
    const members = type.getTypes().map((member) => `... on ${member.name} { ${selectionOf(member, depth + 1, [...path, member.name])} }`);
    return ['__typename', ...members].join(' ');
  }
  if (!isObjectType(type)) return '';
  const parts: string[] = [];
  for (const field of Object.values(type.getFields())) {
    if (field.args.length) continue;
    const named = getNamedType(field.type);
    if (isLeafType(named)) {
      parts.push(field.name);
    } else if (isReference(named)) {
      // A list of references (a selector's ports) is left out: its ids are selected, and up to 1000
      // objects per resource would cost a page more than the API accepts.
      if (!listOf(field)) parts.push(`${field.name} { id name }`);
    } else if (depth < MAX_DEPTH && !path.includes(named.name)) {
      const inner = selectionOf(named, depth + 1, [...path, named.name]);
      if (inner) parts.push(`${field.name} { ${inner} }`);
    }
  }
  return parts.join(' ');
}

const listOf = (field: GraphQLField<unknown, unknown>): boolean => isListType(isNonNullType(field.type) ? field.type.ofType : field.type);

/** A kind the schema offers beyond the core ones: its list field, its type, its delete mutation. */
export class PluginKind implements KindHandler<PluginObject> {
  readonly typeName: string;
  readonly cascades: boolean;
  private readonly nodeType: GraphQLObjectType;
  private readonly deleteField: GraphQLField<unknown, unknown> | undefined;

  constructor(
    private readonly schema: GraphQLSchema,
    readonly listField: string,
    nodeType: GraphQLObjectType,
  ) {
    this.nodeType = nodeType;
    this.typeName = nodeType.name;
    this.deleteField = schema.getMutationType()?.getFields()[`delete${nodeType.name}`];
    const input = this.deleteField?.args.find((a) => a.name === 'input');
    const inputType = input && getNamedType(input.type);
    this.cascades = !!inputType && 'getFields' in inputType && 'cascade' in inputType.getFields();
  }

  /** The kinds of `schema` listed by a connection of nodes with a name and a per-host status, `core` left out. */
  static fromSchema(schema: GraphQLSchema, core: Set<string>): PluginKind[] {
    const kinds: PluginKind[] = [];
    for (const field of Object.values(schema.getQueryType()?.getFields() ?? {})) {
      const connection = getNamedType(field.type);
      if (!isObjectType(connection) || !/Connection$/.test(connection.name)) continue;
      const edges = connection.getFields().edges;
      const node = edges && getNamedType(edges.type);
      const nodeField = node && isObjectType(node) ? node.getFields().node : undefined;
      const nodeType = nodeField && getNamedType(nodeField.type);
      if (!nodeType || !isObjectType(nodeType) || core.has(nodeType.name)) continue;
      const fields = nodeType.getFields();
      if (!fields.name || !fields.status || !fields.id) continue;
      kinds.push(new PluginKind(schema, field.name, nodeType));
    }
    return kinds;
  }

  private get fields(): GraphQLField<unknown, unknown>[] {
    return Object.values(this.nodeType.getFields()).filter((f) => !COMMON.has(f.name) && !f.args.length);
  }

  async list(client: ApiClient, filter: { name?: string; labels?: { key: string; value: string }[] }): Promise<PluginObject[]> {
    const field = this.schema.getQueryType()!.getFields()[this.listField];
    const filterArg = field.args.find((a) => a.name === 'filter');
    if (!filterArg) throw new CliError(`${this.listField} cannot be filtered by name or labels in this API`);
    const query = `query ($filter: ${String(filterArg.type)}, $first: Int, $after: String) {
      page: ${this.listField}(filter: $filter, first: $first, after: $after) {
        edges { node { ${selectionOf(this.nodeType)} } }
        pageInfo { hasNextPage endCursor }
      }
    }`;
    type Page = { page: { edges: { node: PluginObject }[]; pageInfo: { hasNextPage: boolean; endCursor?: string | null } } };
    return allPages(async (after) => (await client.query<Page>(query, { filter, first: PAGE, after })).page);
  }

  table(objects: PluginObject[], wide: boolean): { headers: string[]; rows: string[][] } {
    const scalars = this.fields.filter((f) => isLeafType(getNamedType(f.type)) && !listOf(f));
    // Ids say little to a reader: in the wide form only. Lists of things: their count.
    const shown = scalars.filter((f) => !/Ids?$/.test(f.name) && f.name !== 'id');
    const ids = scalars.filter((f) => /Ids?$/.test(f.name));
    const lists = this.fields.filter((f) => listOf(f) && !isLeafType(getNamedType(f.type)) && !isEnumType(getNamedType(f.type)));
    const columns = [...shown, ...lists, ...(wide ? ids : [])];
    return {
      headers: ['NAME', ...columns.map((f) => header(f.name)), 'STATUS', 'AGE', ...(wide ? ['ID', 'LABELS'] : [])],
      rows: objects.map((o) => [
        o.name,
        ...columns.map((f) => (lists.includes(f) ? String((o[f.name] as unknown[]).length) : cell(o[f.name]))),
        summarizeStatus(o.status, o.generation, o.placement as Placement | null | undefined),
        age(o.createdAt),
        ...(wide ? [o.id, labelsText(o.labels)] : []),
      ]),
    };
  }

  async describe(client: ApiClient, o: PluginObject): Promise<{ fields: [string, string][]; sections: { title: string; lines: string[] }[] }> {
    return {
      fields: [...commonFields(this.typeName, o), ...this.fields.map((f): [string, string] => [f.name, fieldValue(o[f.name])])],
      sections: [statusSection(o.status, o.generation), { title: 'Related', lines: await this.related(client, o) }],
    };
  }

  /** The objects its `<kind>Id` fields name, found through the query field of that kind by id. */
  private async related(client: ApiClient, o: PluginObject): Promise<string[]> {
    const query = this.schema.getQueryType()!.getFields();
    const lines: string[] = [];
    for (const f of this.fields) {
      const value = o[f.name];
      if (!f.name.endsWith('Id') || typeof value !== 'string') continue;
      // externalNetworkId: externalNetwork, else network (the longest query field that takes an id).
      const words = f.name.slice(0, -2).split(/(?=[A-Z])/);
      const kind = words
        .map((_, i) => words.slice(i).join(''))
        .map((w) => w[0].toLowerCase() + w.slice(1))
        .find((w) => query[w]?.args.some((a) => a.name === 'id') && isReference(getNamedType(query[w].type)));
      if (!kind) continue;
      const found = await client.query<{ found: { name: string } | null }>(`query ($id: ID!) { found: ${kind}(id: $id) { name } }`, { id: value });
      lines.push(`${f.name.slice(0, -2)}: ${found.found?.name ?? `${value} (gone)`}`);
    }
    return lines.length ? lines : ['<none>'];
  }

  async delete(client: ApiClient, o: PluginObject, options: { wait: boolean; cascade: boolean }): Promise<{ deletedIds: string[]; revision: number }> {
    const field = this.deleteField;
    const input = field?.args.find((a) => a.name === 'input');
    if (!field || !input) throw new CliError(`the API has no delete${this.typeName} mutation`);
    const result = await client.query<{ deleted: { deletedIds: string[]; revision: number } }>(
      `mutation ($input: ${String(input.type)}, $wait: Boolean!) { deleted: ${field.name}(input: $input, wait: $wait) { deletedIds revision } }`,
      { input: { id: o.id, generation: o.generation, ...(this.cascades ? { cascade: options.cascade } : {}) }, wait: options.wait },
    );
    return result.deleted;
  }
}
