import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  type GraphQLInputField,
  type GraphQLInputObjectType,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLSchema,
} from 'graphql';
import type { KindHandler } from '../kinds/kind';

/** A field of a topology object (or of a nested input), as written in the file. */
export interface FileField {
  /** The key in the file: `network` for the input's `networkId`. */
  key: string;
  /** The input field it fills. */
  input: string;
  type: GraphQLInputType;
  /** A reference by name to another kind's object (the input takes its id, or a list of ids). */
  ref?: string;
}

/** A kind the file may describe: it has create and update mutations. */
export interface ApplyKind {
  typeName: string;
  listField: string;
  create: string;
  update: string | undefined;
  delete: string | undefined;
  createInput: GraphQLInputObjectType;
  /** Create's input, then update's. */
  inputs: GraphQLInputObjectType[];
  /** Fields of the file's objects (create's and update's inputs but id, name and generation). */
  fields: Map<string, FileField>;
  /** Input fields update takes: the others can only be given at creation. */
  updatable: Set<string>;
  /** The kinds its fields refer to. */
  refersTo: Set<string>;
  hasStatus: boolean;
}

const CORE_ORDER = ['Host', 'Network', 'Subnet', 'Port'];
const NOT_FIELDS = new Set(['id', 'name', 'generation']);

/** `[LabelInput!]`-like: a list of `{key, value}` inputs, written in the file as a map. */
export function isKeyValueList(type: GraphQLInputType): boolean {
  const t = isNonNullType(type) ? type.ofType : type;
  if (!isListType(t)) return false;
  const item = getNamedType(t);
  return isInputObjectType(item) && Object.keys(item.getFields()).sort().join() === 'key,value';
}

export const isList = (type: GraphQLInputType): boolean => isListType(isNonNullType(type) ? type.ofType : type);

/** The kind an id field names: `externalNetworkId` → Network, `remoteGroupIds` → AddressGroup. */
export function refKind(inputName: string, kinds: readonly string[]): string | undefined {
  const stem = inputName.replace(/Ids?$/, '');
  const words = stem.replace(/^./, (c) => c.toUpperCase()).split(/(?=[A-Z])/);
  const suffixes = words.map((_, i) => words.slice(i).join(''));
  const exact = suffixes.find((s) => kinds.includes(s));
  if (exact) return exact;
  for (const s of suffixes) {
    const ending = kinds.filter((k) => k.endsWith(s));
    if (ending.length === 1) return ending[0];
  }
  return undefined;
}

/** The file's fields of input types (a kind's: without id, name and generation): ids of other kinds' objects become references by name. */
export function fileFields(types: GraphQLInputObjectType[], kinds: readonly string[], top = false): Map<string, FileField> {
  const inputs = new Map<string, GraphQLInputField>();
  for (const f of types.flatMap((t) => Object.values(t.getFields()))) if (!inputs.has(f.name)) inputs.set(f.name, f);
  const fields = new Map<string, FileField>();
  for (const f of inputs.values()) {
    if (top && NOT_FIELDS.has(f.name)) continue;
    const ref = getNamedType(f.type).name === 'ID' && /Ids?$/.test(f.name) ? refKind(f.name, kinds) : undefined;
    let key = f.name;
    if (ref) {
      const stem = f.name.replace(/Ids?$/, '');
      const plural = f.name.endsWith('Ids');
      key = plural ? `${stem}s` : stem;
      // A member's `portId` beside its `port` number: `portName`.
      if (inputs.has(key)) key = plural ? `${stem}Names` : `${stem}Name`;
    }
    fields.set(key, { key, input: f.name, type: f.type, ref });
  }
  return fields;
}

/** The file's fields of a nested input object type. */
export const nestedFields = (type: GraphQLInputObjectType, kinds: readonly string[]): Map<string, FileField> => fileFields([type], kinds);

const inputOf = (schema: GraphQLSchema, mutation: string | undefined): GraphQLInputObjectType | undefined => {
  const field = mutation ? schema.getMutationType()?.getFields()[mutation] : undefined;
  const arg = field?.args.find((a) => a.name === 'input');
  const type = arg && getNamedType(arg.type);
  return type && isInputObjectType(type) ? type : undefined;
};

/** The kinds a topology file may describe, in the order to create them: core ones, then plugin kinds after what they refer to. */
export function applyKinds(schema: GraphQLSchema, handlers: readonly KindHandler[]): ApplyKind[] {
  const mutations = schema.getMutationType()?.getFields() ?? {};
  const names = handlers.map((h) => h.typeName);
  const kinds: ApplyKind[] = [];
  for (const h of handlers) {
    const create = `create${h.typeName}`;
    const update = mutations[`update${h.typeName}`] ? `update${h.typeName}` : undefined;
    const createInput = inputOf(schema, create);
    if (!createInput) continue;
    const updateInput = inputOf(schema, update);
    const fields = fileFields(updateInput ? [createInput, updateInput] : [createInput], names, true);
    const type = schema.getType(h.typeName) as GraphQLObjectType;
    kinds.push({
      typeName: h.typeName,
      listField: h.listField,
      create,
      update,
      delete: mutations[`delete${h.typeName}`] ? `delete${h.typeName}` : undefined,
      createInput,
      inputs: updateInput ? [createInput, updateInput] : [createInput],
      fields,
      updatable: new Set(updateInput ? Object.keys(updateInput.getFields()) : []),
      refersTo: referencedKinds(fields, names),
      hasStatus: 'status' in type.getFields(),
    });
  }
  return orderKinds(kinds);
}

/** Every kind referred to by the fields, nested inputs included. */
function referencedKinds(fields: Map<string, FileField>, kinds: readonly string[], seen = new Set<string>()): Set<string> {
  const out = new Set<string>();
  for (const f of fields.values()) {
    if (f.ref) out.add(f.ref);
    const named = getNamedType(f.type);
    if (isInputObjectType(named) && !seen.has(named.name)) {
      seen.add(named.name);
      for (const k of referencedKinds(nestedFields(named, kinds), kinds, seen)) out.add(k);
    }
  }
  return out;
}

/** Hosts, networks, subnets, ports, then each plugin kind after the kinds it refers to (ties by name). */
export function orderKinds<K extends Pick<ApplyKind, 'typeName' | 'refersTo'>>(kinds: K[]): K[] {
  const rank = (k: K): number => (CORE_ORDER.includes(k.typeName) ? CORE_ORDER.indexOf(k.typeName) : CORE_ORDER.length);
  const left = [...kinds].sort((a, b) => rank(a) - rank(b) || a.typeName.localeCompare(b.typeName));
  const out: K[] = [];
  while (left.length) {
    // The first whose references are all placed (a cycle: the first left).
    const i = Math.max(
      0,
      left.findIndex((k) => [...k.refersTo].every((r) => r === k.typeName || out.some((o) => o.typeName === r) || !left.some((l) => l.typeName === r))),
    );
    out.push(...left.splice(i, 1));
  }
  return out;
}

/**
 * What to select of a live object to compare it with the file: for each input field, the output
 * field of the same name (nested objects the same way).
 */
export function liveSelection(inputs: GraphQLInputObjectType[], output: GraphQLNamedType): string {
  if (!isObjectType(output)) return '';
  const outFields = output.getFields();
  const parts: string[] = [];
  const seen = new Set<string>();
  for (const input of inputs) {
    for (const f of Object.values(input.getFields())) {
      const out = outFields[f.name];
      if (!out || seen.has(f.name) || out.args.some((a) => isNonNullType(a.type))) continue;
      seen.add(f.name);
      const named = getNamedType(f.type);
      const outNamed = getNamedType(out.type);
      if (isLeafType(named) || isEnumType(named)) {
        if (isLeafType(outNamed)) parts.push(f.name);
      } else if (isInputObjectType(named) && isObjectType(outNamed)) {
        const inner = liveSelection([named], outNamed);
        if (inner) parts.push(`${f.name} { ${inner} }`);
      }
    }
  }
  return parts.join(' ');
}
