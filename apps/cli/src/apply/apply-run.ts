import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { getNamedType, isLeafType, isObjectType, type GraphQLSchema } from 'graphql';
import type { ApiClient } from '../api/client';
import { ApiError, CliError } from '../errors';
import { allPages, PAGE } from '../kinds/kind';
import { allKinds, fetchSchema } from '../kinds/registry';
import { statusLines, type HostStatus } from '../output/status';
import { applyKinds, liveSelection, type ApplyKind } from './kinds';
import { planChanges, type Change, type LiveObject, type Plan } from './plan';
import { parseTopology, TopologyError, type Topology } from './topology-file';
import { toInput, type IdOf } from './values';

const LABEL_VALUE = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const STATUS = 'status { hostId host { name } state reason generation }';

/** Ids and names of the objects of each kind, as listed and as created. */
class Names {
  private readonly byName = new Map<string, string>();
  private readonly byId = new Map<string, string>();
  add(kind: string, name: string, id: string): void {
    this.byName.set(`${kind}/${name}`, id);
    this.byId.set(`${kind}/${id}`, name);
  }
  id = (kind: string, name: string): string | undefined => this.byName.get(`${kind}/${name}`);
  name = (kind: string, id: string): string | undefined => this.byId.get(`${kind}/${id}`);
}

export interface Prepared {
  kinds: ApplyKind[];
  topology: Topology;
  owner: string;
  plan: Plan;
  names: Names;
  schema: GraphQLSchema;
}

/** Reads and checks the file, reads what the API has, and plans; every problem before anything is applied. */
export async function prepare(client: ApiClient, file: string, options: { owner?: string; prune: boolean }): Promise<Prepared> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${(error as Error).message}`);
  }
  const schema = await fetchSchema(client);
  const kinds = applyKinds(schema, allKinds(schema));
  const topology = parseTopology(text, file, kinds);
  const owner = options.owner ?? topology.owner ?? basename(file, extname(file));
  if (!LABEL_VALUE.test(owner)) throw new TopologyError([`owner "${owner}" is not a label value (1-63 letters, digits, '.', '_' or '-'): give owner: in the file or --owner`]);
  // The kinds the file names, those their fields refer to, and with --prune every kind.
  const needed = new Set(topology.objects.map((o) => o.kind));
  for (const k of kinds) if (needed.has(k.typeName)) k.refersTo.forEach((r) => needed.add(r));
  const live = new Map<string, LiveObject[]>();
  const names = new Names();
  for (const kind of kinds) {
    if (!options.prune && !needed.has(kind.typeName)) continue;
    const objects = await listLive(client, schema, kind);
    live.set(kind.typeName, objects);
    for (const o of objects) names.add(kind.typeName, o.name, o.id);
  }
  const problems = topology.references
    .filter((r) => !names.id(r.kind, r.name) && !topology.objects.some((o) => o.kind === r.kind && o.name === r.name))
    .map((r) => `${r.at}: no ${r.kind} named "${r.name}" in the file or the API`);
  const plan = planChanges(kinds, topology, live, owner, options.prune, names.name);
  problems.push(...plan.problems);
  if (problems.length) throw new TopologyError(problems);
  return { kinds, topology, owner, plan, names, schema };
}

async function listLive(client: ApiClient, schema: GraphQLSchema, kind: ApplyKind): Promise<LiveObject[]> {
  const query = `query ($first: Int, $after: String) {
    page: ${kind.listField}(first: $first, after: $after) {
      edges { node { id name generation labels { key value } ${liveSelection(kind.inputs, schema.getType(kind.typeName)!)} } }
      pageInfo { hasNextPage endCursor }
    }
  }`;
  type Page = { page: { edges: { node: LiveObject }[]; pageInfo: { hasNextPage: boolean; endCursor?: string | null } } };
  return allPages(async (after) => (await client.query<Page>(query, { first: PAGE, after })).page);
}

interface Applied {
  id: string;
  name: string;
  generation: number;
  status?: HostStatus[];
}

/** The selection of a create/update answer: the object (inside a payload such as createHost's) and the payload's other leaves. */
function resultSelection(schema: GraphQLSchema, mutation: string, kind: ApplyKind): { selection: string; objectField?: string } {
  const object = `id name generation${kind.hasStatus ? ` ${STATUS}` : ''}`;
  const type = getNamedType(schema.getMutationType()!.getFields()[mutation].type);
  if (type.name === kind.typeName || !isObjectType(type)) return { selection: object };
  const fields = Object.values(type.getFields());
  const objectField = fields.find((f) => getNamedType(f.type).name === kind.typeName)!.name;
  const leaves = fields.filter((f) => isLeafType(getNamedType(f.type))).map((f) => f.name);
  return { selection: `${objectField} { ${object} } ${leaves.join(' ')}`, objectField };
}

export interface ApplyOptions {
  wait: boolean;
  print: (line: string) => void;
}

/** Runs the plan's changes in order; a refused one stops the run with what was done before it. */
export async function applyPlan(client: ApiClient, prepared: Prepared, options: ApplyOptions): Promise<void> {
  const { plan, names, schema } = prepared;
  const kindNames = prepared.kinds.map((k) => k.typeName);
  const idOf = (kind: string, name: string): string => {
    const id = names.id(kind, name);
    if (!id) throw new CliError(`${kind} "${name}" is not known yet`);
    return id;
  };
  let done = 0;
  for (const change of plan.changes) {
    const name = change.op === 'delete' ? change.live.name : change.object.name;
    try {
      await applyOne(client, schema, change, kindNames, idOf, names, options);
    } catch (error) {
      const before = done ? ` (${done} change(s) were applied before it)` : '';
      if (error instanceof ApiError && error.code === 'CONFLICT') {
        throw new CliError(`${change.kind.typeName} "${name}" was changed by someone else since it was read: ${error.message}; run netloom diff and apply again${before}`);
      }
      if (error instanceof ApiError && error.code === 'REALIZATION_FAILED' && change.op !== 'delete') {
        const failed = await statusOf(client, schema, change.kind, name);
        for (const line of statusLines(failed.status, failed.generation)) options.print(`  ${line}`);
        const reasons = failed.status.filter((s) => s.state === 'FAILED').map((s) => `on ${s.host?.name ?? s.hostId}: ${s.reason ?? 'no reason given'}`);
        throw new CliError(`${change.kind.typeName} "${name}" FAILED ${reasons.join('; ') || error.message}${before}`);
      }
      if (error instanceof CliError) throw new CliError(`${change.kind.typeName} "${name}": ${error.message}${before}`);
      throw error;
    }
    done++;
  }
  const count = (op: Change['op']): number => plan.changes.filter((c) => c.op === op).length;
  options.print(
    done === 0 ? 'Nothing changed: the API already matches the file.' : `Applied: ${count('create')} created, ${count('update')} changed, ${count('delete')} deleted.`,
  );
}

/** The mutation a change runs and its input (references by `idOf`). */
export function changeCall(change: Change, kinds: readonly string[], idOf: IdOf): { mutation: string; input: Record<string, unknown> } {
  const kind = change.kind;
  switch (change.op) {
    case 'create':
      return { mutation: kind.create, input: { name: change.object.name, ...toInput(change.fields, kind.fields, kinds, idOf) } };
    case 'update': {
      if (!kind.update) throw new CliError(`the API has no update${kind.typeName} mutation`);
      const changed = Object.fromEntries(change.changes.map((c) => [c.key, change.fields[c.key]]));
      return { mutation: kind.update, input: { id: change.live.id, generation: change.object.generation ?? change.live.generation, ...toInput(changed, kind.fields, kinds, idOf) } };
    }
    case 'delete':
      if (!kind.delete) throw new CliError(`the API has no delete${kind.typeName} mutation`);
      return { mutation: kind.delete, input: { id: change.live.id, generation: change.live.generation } };
  }
}

async function applyOne(
  client: ApiClient,
  schema: GraphQLSchema,
  change: Change,
  kinds: readonly string[],
  idOf: (kind: string, name: string) => string,
  names: Names,
  options: ApplyOptions,
): Promise<void> {
  const kind = change.kind;
  const { mutation, input } = changeCall(change, kinds, idOf);
  const call = async (selection: string): Promise<Record<string, unknown>> => {
    const arg = schema.getMutationType()!.getFields()[mutation].args.find((a) => a.name === 'input')!;
    const result = await client.query<{ r: Record<string, unknown> }>(`mutation ($input: ${String(arg.type)}, $wait: Boolean!) { r: ${mutation}(input: $input, wait: $wait) { ${selection} } }`, {
      input,
      wait: options.wait,
    });
    return result.r;
  };
  const report = (verb: string, applied: Applied, extra = ''): void => {
    options.print(`${kind.typeName} ${applied.name} ${verb}${extra}`);
    if (options.wait && applied.status) for (const line of statusLines(applied.status, applied.generation)) options.print(`  ${line}`);
  };
  switch (change.op) {
    case 'create': {
      const { selection, objectField } = resultSelection(schema, mutation, kind);
      const r = await call(selection);
      const applied = (objectField ? r[objectField] : r) as Applied;
      names.add(kind.typeName, applied.name, applied.id);
      const extras = Object.entries(r).filter(([k]) => k !== objectField && objectField);
      report('created', applied, extras.map(([k, v]) => `; ${k}: ${String(v)}`).join(''));
      return;
    }
    case 'update': {
      const r = (await call(`id name generation${kind.hasStatus ? ` ${STATUS}` : ''}`)) as unknown as Applied;
      report('changed', r, ` (${change.changes.map((c) => c.key).join(', ')})`);
      return;
    }
    case 'delete':
      await call('deletedIds');
      options.print(`${kind.typeName} ${change.live.name} deleted`);
      return;
  }
}

/**
 * The plan's changes as the `plan` query's steps: a create is named `<Kind>/<name>`, and a
 * reference to an object the file creates is a `$ref` to that step.
 */
export function planSteps(prepared: Prepared): { name?: string; mutation: string; arguments: string }[] {
  const kinds = prepared.kinds.map((k) => k.typeName);
  const idOf: IdOf = (kind, name) => prepared.names.id(kind, name) ?? { $ref: `${kind}/${name}` };
  return prepared.plan.changes.map((change) => {
    const { mutation, input } = changeCall(change, kinds, idOf);
    return { ...(change.op === 'create' ? { name: `${change.kind.typeName}/${change.object.name}` } : {}), mutation, arguments: JSON.stringify({ input }) };
  });
}

/** An object's status per host, read by name. */
async function statusOf(client: ApiClient, schema: GraphQLSchema, kind: ApplyKind, name: string): Promise<{ generation: number; status: HostStatus[] }> {
  const filter = schema.getQueryType()!.getFields()[kind.listField].args.find((a) => a.name === 'filter');
  const found = await client.query<{ page: { edges: { node: { generation: number; status: HostStatus[] } }[] } }>(
    `query ($filter: ${String(filter?.type)}) { page: ${kind.listField}(filter: $filter, first: 1) { edges { node { generation ${STATUS} } } } }`,
    { filter: { name } },
  );
  return found.page.edges[0]?.node ?? { generation: 0, status: [] };
}
