import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  type GraphQLInputObjectType,
  type GraphQLInputType,
} from 'graphql';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { CliError } from '../errors';
import { kebab, normalizeKind } from '../kinds/kind';
import { isKeyValueList, nestedFields, type ApplyKind, type FileField } from './kinds';

/** One object the file describes, in the file's form (references by name, labels as a map). */
export interface FileObject {
  kind: string;
  name: string;
  /** Where it starts, `file:line:column`. */
  at: string;
  fields: Record<string, unknown>;
  /** Apply only while the object is at this generation (a stale one is a CONFLICT). */
  generation?: number;
}

/** A name the file refers to, to find in the file or the API. */
export interface Reference {
  kind: string;
  name: string;
  at: string;
}

export interface Topology {
  owner?: string;
  objects: FileObject[];
  references: Reference[];
}

/** Problems found in a file, each with its position; nothing was applied. */
export class TopologyError extends CliError {
  constructor(readonly problems: string[]) {
    super(`${problems.length} problem(s) in the file, nothing applied:\n  ${problems.join('\n  ')}`);
  }
}

type Value = unknown;

/** The kind a top-level key names: `networks`, `load-balancers`, `LoadBalancer`. */
export const kindOfKey = (kinds: readonly ApplyKind[], key: string): ApplyKind | undefined =>
  kinds.find((k) => [k.typeName, k.listField].some((w) => normalizeKind(w) === normalizeKind(key)));

/** Walks the YAML tree against the schema's input types, collecting problems with their positions. */
class Checker {
  readonly problems: string[] = [];
  readonly references: Reference[] = [];

  constructor(
    private readonly file: string,
    private readonly lines: LineCounter,
    private readonly kindNames: string[],
  ) {}

  at(node: YamlNode | null | undefined): string {
    const { line, col } = this.lines.linePos(node?.range?.[0] ?? 0);
    return `${this.file}:${line}:${col}`;
  }

  problem(node: YamlNode | null | undefined, message: string): undefined {
    this.problems.push(`${this.at(node)}: ${message}`);
    return undefined;
  }

  /** The fields of a map node, each checked; unknown keys named with the fields there are. */
  fields(node: YamlNode, fields: Map<string, FileField>, what: string, skip: Set<string> = new Set()): Record<string, Value> {
    const out: Record<string, Value> = {};
    if (!isMap(node)) return out;
    for (const pair of node.items) {
      const keyNode = pair.key as YamlNode;
      const key = isScalar(keyNode) ? String(keyNode.value) : undefined;
      if (key === undefined) {
        this.problem(keyNode, `${what}: keys are field names`);
        continue;
      }
      if (skip.has(key)) continue;
      const field = fields.get(key);
      if (!field) {
        this.problem(keyNode, `unknown field "${key}" in ${what} (fields: ${[...fields.keys(), ...skip].sort().join(', ')})`);
        continue;
      }
      out[key] = this.value(pair.value as YamlNode | null, field.type, field.ref, `${what}.${key}`);
    }
    return out;
  }

  value(node: YamlNode | null, type: GraphQLInputType, ref: string | undefined, what: string): Value {
    if (!node || (isScalar(node) && node.value === null)) {
      return isNonNullType(type) ? this.problem(node, `${what} must be given`) : null;
    }
    const t = isNonNullType(type) ? type.ofType : type;
    if (isKeyValueList(t)) {
      if (!isMap(node)) return this.problem(node, `${what}: expected a map of key: value`);
      const out: Record<string, string> = {};
      for (const pair of node.items) {
        const v = pair.value as YamlNode | null;
        const text = isScalar(v) && ['string', 'number', 'boolean'].includes(typeof v.value) ? String(v.value) : undefined;
        if (!isScalar(pair.key) || text === undefined) this.problem(v ?? (pair.key as YamlNode), `${what}: keys and values are text`);
        else out[String(pair.key.value)] = text;
      }
      return out;
    }
    if (isListType(t)) {
      if (!isSeq(node)) return this.problem(node, `${what}: expected a list`);
      return node.items.map((item, i) => this.value(item as YamlNode | null, t.ofType, ref, `${what}[${i}]`));
    }
    const named = getNamedType(t);
    if (isInputObjectType(named)) {
      if (!isMap(node)) return this.problem(node, `${what}: expected a map of ${named.name} fields`);
      const fields = nestedFields(named, this.kindNames);
      const out = this.fields(node, fields, what);
      this.required(node, named, fields, out, what);
      return out;
    }
    if (!isScalar(node)) return this.problem(node, `${what}: expected a ${ref ? `${ref} name` : named.name}`);
    const v = node.value;
    if (ref) {
      if (typeof v !== 'string') return this.problem(node, `${what}: expected a ${ref} name`);
      this.references.push({ kind: ref, name: v, at: this.at(node) });
      return v;
    }
    if (isEnumType(named)) {
      const values = named.getValues().map((e) => e.name);
      return typeof v === 'string' && values.includes(v) ? v : this.problem(node, `${what}: ${JSON.stringify(v)} is not one of ${values.join(', ')}`);
    }
    const ok =
      named.name === 'Int' ? Number.isInteger(v) : named.name === 'Float' ? typeof v === 'number' : named.name === 'Boolean' ? typeof v === 'boolean' : typeof v === 'string';
    return ok ? v : this.problem(node, `${what}: ${JSON.stringify(v)} is not ${named.name === 'Int' ? 'an integer' : `a ${named.name}`}`);
  }

  /** Non-null fields without a default that the map leaves out. */
  required(node: YamlNode, type: GraphQLInputObjectType, fields: Map<string, FileField>, given: Record<string, Value>, what: string): void {
    for (const f of fields.values()) {
      const input = type.getFields()[f.input];
      if (input && isNonNullType(input.type) && input.defaultValue === undefined && !(f.key in given)) this.problem(node, `${what}: "${f.key}" must be given`);
    }
  }
}

/**
 * Parses a topology file: `owner:` and one key per kind (`hosts:`, `networks:`, `load-balancers:`…),
 * each a list of objects by name. Every problem is reported with its line and column; none: the
 * objects in the file's form and the names they refer to.
 */
export function parseTopology(text: string, file: string, kinds: readonly ApplyKind[]): Topology {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const checker = new Checker(file, lines, kinds.map((k) => k.typeName));
  if (doc.errors.length) {
    throw new TopologyError(
      doc.errors.map((e) => {
        const { line, col } = lines.linePos(e.pos[0]);
        return `${file}:${line}:${col}: ${e.message.split('\n')[0]}`;
      }),
    );
  }
  const root = doc.contents as YamlNode | null;
  if (!isMap(root)) throw new TopologyError([`${checker.at(root)}: expected a map: owner, then a list per kind (${kinds.map((k) => kebab(k.listField)).join(', ')})`]);
  const topology: Topology = { objects: [], references: checker.references };
  for (const pair of root.items) {
    const keyNode = pair.key as YamlNode;
    const key = isScalar(keyNode) ? String(keyNode.value) : '';
    const value = pair.value as YamlNode | null;
    if (key === 'owner') {
      if (isScalar(value) && typeof value.value === 'string') topology.owner = value.value;
      else checker.problem(value, 'owner: expected a text');
      continue;
    }
    const kind = kindOfKey(kinds, key);
    if (!kind) {
      checker.problem(keyNode, `unknown kind "${key}" (kinds: ${kinds.map((k) => kebab(k.listField)).join(', ')})`);
      continue;
    }
    if (!isSeq(value)) {
      checker.problem(value ?? keyNode, `${key}: expected a list of ${kind.typeName} objects`);
      continue;
    }
    for (const item of value.items as (YamlNode | null)[]) topology.objects.push(...objectOf(checker, kind, item));
  }
  const seen = new Map<string, string>();
  for (const o of topology.objects) {
    const key = `${o.kind}/${o.name}`;
    if (seen.has(key)) checker.problems.push(`${o.at}: ${o.kind} "${o.name}" is already described at ${seen.get(key)}`);
    else seen.set(key, o.at);
  }
  if (checker.problems.length) throw new TopologyError(checker.problems);
  return topology;
}

function objectOf(checker: Checker, kind: ApplyKind, node: YamlNode | null): FileObject[] {
  if (!isMap(node)) return checker.problem(node, `expected a ${kind.typeName}: a map with a name`) ?? [];
  const name = node.get('name', true);
  const generation = node.get('generation', true);
  if (!isScalar(name) || typeof name.value !== 'string' || !name.value) return checker.problem(node, `a ${kind.typeName} needs a name`) ?? [];
  if (generation !== undefined && (!isScalar(generation) || !Number.isInteger(generation.value))) checker.problem(generation, 'generation: expected an integer');
  const fields = checker.fields(node, kind.fields, `${kind.typeName} "${name.value}"`, new Set(['name', 'generation']));
  return [
    {
      kind: kind.typeName,
      name: name.value,
      at: checker.at(node),
      fields,
      ...(isScalar(generation) && Number.isInteger(generation.value) ? { generation: generation.value as number } : {}),
    },
  ];
}
