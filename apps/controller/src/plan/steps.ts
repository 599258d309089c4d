import { getNamedType, GraphQLObjectType, GraphQLSchema, isObjectType } from 'graphql';
import { badInput } from '@netloom/model';

/** A proposed change as the `plan` query takes it. */
export interface StepInput {
  name?: string | null;
  mutation: string;
  arguments: string;
}

/** A step checked: its arguments parsed, its references to earlier steps found. */
export interface Step {
  index: number;
  name?: string;
  mutation: string;
  args: Record<string, unknown>;
}

export const MAX_STEPS = 500;
/** Mutations of intent objects only: tokens are no intent, and revoking one closes sockets at once. */
const PLANNABLE = /^(create|update|delete)[A-Z]\w*$/;
const NOT_PLANNABLE = /ApiToken$/;
const isRef = (value: unknown): value is { $ref: unknown } =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 1 && '$ref' in value;

/** A label for messages: `step 2 (net)`. */
export const stepLabel = (step: Pick<Step, 'index' | 'name'>): string => `step ${step.index}${step.name ? ` (${step.name})` : ''}`;

/**
 * Checks the steps before any runs (pure): names unique, a mutation of an intent object that the
 * schema has, with arguments it takes (`wait` excluded), given as a JSON object; every
 * `{"$ref": "<name>"}` names an earlier step.
 */
export function parseSteps(inputs: readonly StepInput[], schema: GraphQLSchema): Step[] {
  if (!inputs.length) throw badInput('a plan needs at least one step', 'steps');
  if (inputs.length > MAX_STEPS) throw badInput(`at most ${MAX_STEPS} steps, got ${inputs.length}`, 'steps');
  const fields = schema.getMutationType()?.getFields() ?? {};
  const named = new Set<string>();
  return inputs.map((input, index) => {
    const at = `steps.${index}`;
    const name = input.name ?? undefined;
    if (name !== undefined && (!name || named.has(name))) throw badInput(`${at}: step names must be unique and not empty`, `${at}.name`);
    const field = fields[input.mutation];
    if (!field || !PLANNABLE.test(input.mutation) || NOT_PLANNABLE.test(input.mutation)) {
      throw badInput(`${at}: ${JSON.stringify(input.mutation.slice(0, 80))} is not a mutation of an intent object`, `${at}.mutation`);
    }
    let args: unknown;
    try {
      args = JSON.parse(input.arguments);
    } catch (error) {
      throw badInput(`${at}: arguments are not JSON (${(error as Error).message})`, `${at}.arguments`);
    }
    if (typeof args !== 'object' || args === null || Array.isArray(args)) throw badInput(`${at}: arguments must be a JSON object`, `${at}.arguments`);
    const takes = new Set(field.args.map((a) => a.name).filter((a) => a !== 'wait'));
    for (const key of Object.keys(args)) {
      if (!takes.has(key)) throw badInput(`${at}: ${input.mutation} takes no argument ${JSON.stringify(key)} here`, `${at}.arguments.${key}`);
    }
    checkRefs(args, named, `${at}.arguments`);
    if (name !== undefined) named.add(name);
    return { index, ...(name !== undefined ? { name } : {}), mutation: input.mutation, args: args as Record<string, unknown> };
  });
}

function checkRefs(value: unknown, earlier: ReadonlySet<string>, at: string): void {
  if (isRef(value)) {
    if (typeof value.$ref !== 'string' || !earlier.has(value.$ref)) throw badInput(`${at}: $ref ${JSON.stringify(value.$ref)} names no earlier step`, at);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  for (const [key, item] of Object.entries(value)) checkRefs(item, earlier, `${at}.${key}`);
}

/** The arguments with each `{"$ref": name}` replaced by the id that step made (it must have made exactly one). */
export function resolveRefs(value: unknown, made: ReadonlyMap<string, readonly string[]>, at: string): unknown {
  if (isRef(value)) {
    const ids = made.get(value.$ref as string) ?? [];
    if (ids.length !== 1) throw badInput(`${at}: step ${JSON.stringify(value.$ref)} made ${ids.length} objects, a $ref needs exactly one`, at);
    return ids[0];
  }
  if (Array.isArray(value)) return value.map((item, i) => resolveRefs(item, made, `${at}.${i}`));
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, resolveRefs(item, made, `${at}.${key}`)]));
}

/** The selection that reads what a mutation made or removed: `id`, `deletedIds`, or the ids of its object fields. */
function idSelection(type: GraphQLObjectType): string {
  const fields = type.getFields();
  if (fields.id) return '{ id }';
  if (fields.deletedIds) return '{ deletedIds }';
  const objects = Object.values(fields).filter((f) => {
    const t = getNamedType(f.type);
    return isObjectType(t) && 'id' in t.getFields();
  });
  return `{ __typename ${objects.map((f) => `${f.name} { id }`).join(' ')} }`;
}

/** One step as a GraphQL operation of its own (its arguments as variables), answering `result`. */
export function stepOperation(schema: GraphQLSchema, step: Step): string {
  const field = schema.getMutationType()!.getFields()[step.mutation];
  const args = field.args.filter((a) => a.name in step.args);
  const variables = args.map((a) => `$${a.name}: ${String(a.type)}`).join(', ');
  const passed = args.map((a) => `${a.name}: $${a.name}`).join(', ');
  const type = getNamedType(field.type);
  const selection = isObjectType(type) ? ` ${idSelection(type)}` : '';
  return `mutation PlanStep${variables ? `(${variables})` : ''} { result: ${step.mutation}${passed ? `(${passed})` : ''}${selection} }`;
}

/** The ids a step's answer names (its object's, or those it deleted), in order. */
export function idsIn(result: unknown): string[] {
  const out: string[] = [];
  const walk = (value: unknown, key?: string): void => {
    if (Array.isArray(value)) for (const item of value) walk(item, key);
    else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) walk(v, k);
    else if (typeof value === 'string' && (key === 'id' || key === 'deletedIds')) out.push(value);
  };
  walk(result);
  return out;
}
