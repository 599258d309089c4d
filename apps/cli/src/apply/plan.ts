import { getNamedType, isInputObjectType, isNonNullType, type GraphQLInputType } from 'graphql';
import { stringify } from 'yaml';
import { isKeyValueList, isList, nestedFields, type ApplyKind } from './kinds';
import type { FileObject, Topology } from './topology-file';
import { isRecord, itemType, toFileObject, type NameOf } from './values';

/** The label marking what a file's owner created; --prune deletes only objects carrying it. */
export const OWNER_LABEL = 'netloom.io/applied-by';

/** An object as the API lists it: its input fields as the API names them, ids for references. */
export interface LiveObject extends Record<string, unknown> {
  id: string;
  name: string;
  generation: number;
  labels: { key: string; value: string }[];
}

export interface FieldChange {
  key: string;
  old: unknown;
  new: unknown;
}

export type Change =
  | { op: 'create'; kind: ApplyKind; object: FileObject; fields: Record<string, unknown> }
  | { op: 'update'; kind: ApplyKind; object: FileObject; live: LiveObject; fields: Record<string, unknown>; changes: FieldChange[] }
  | { op: 'delete'; kind: ApplyKind; live: LiveObject };

export interface Plan {
  changes: Change[];
  /** What cannot be applied (a field update cannot change, an object another file owns…). */
  problems: string[];
}

/**
 * Whether the live value already is what the file asks: what the file leaves out is left as the
 * API has it; labels (key: value maps) must match exactly; lists item by item.
 */
export function covers(desired: unknown, live: unknown, type: GraphQLInputType, kinds: readonly string[]): boolean {
  if (desired === undefined) return true;
  if (desired === null) return live === null || live === undefined;
  if (isKeyValueList(type)) {
    const a = Object.entries(desired as Record<string, string>).sort();
    const b = Object.entries((live ?? {}) as Record<string, string>).sort();
    return JSON.stringify(a) === JSON.stringify(b);
  }
  if (isList(type)) {
    return Array.isArray(desired) && Array.isArray(live) && desired.length === live.length && desired.every((d, i) => covers(d, live[i], itemType(type), kinds));
  }
  const named = getNamedType(type);
  if (isInputObjectType(named)) {
    if (!isRecord(desired) || !isRecord(live)) return false;
    const fields = nestedFields(named, kinds);
    return Object.entries(desired).every(([k, v]) => covers(v, live[k], fields.get(k)!.type, kinds));
  }
  return desired === live;
}

/** The file object's fields with the owner label added to its labels (sorted by key, as the API lists them). */
export const withOwner = (o: FileObject, owner: string): Record<string, unknown> => ({
  ...o.fields,
  labels: Object.fromEntries(Object.entries({ ...(o.fields.labels ?? {}), [OWNER_LABEL]: owner }).sort(([a], [b]) => (a < b ? -1 : 1))),
});

const ownerOf = (live: LiveObject): string | undefined => live.labels.find((l) => l.key === OWNER_LABEL)?.value;

/**
 * What to do to make the API match the file, kind by kind in `kinds`' order (deletes in reverse):
 * create what is missing, update the fields that differ, and with `prune` delete what `owner`
 * created that the file no longer names.
 */
export function planChanges(kinds: readonly ApplyKind[], topology: Topology, live: ReadonlyMap<string, LiveObject[]>, owner: string, prune: boolean, nameOf: NameOf): Plan {
  const names = kinds.map((k) => k.typeName);
  const changes: Change[] = [];
  const deletes: Change[] = [];
  const problems: string[] = [];
  for (const kind of kinds) {
    const objects = topology.objects.filter((o) => o.kind === kind.typeName);
    const existing = live.get(kind.typeName) ?? [];
    for (const object of objects) {
      const fields = withOwner(object, owner);
      const found = existing.find((l) => l.name === object.name);
      const what = `${object.at}: ${kind.typeName} "${object.name}"`;
      if (!found) {
        const missing = [...kind.fields.values()].filter((f) => {
          const input = kind.createInput.getFields()[f.input];
          return input && isNonNullType(input.type) && input.defaultValue === undefined && !(f.key in fields);
        });
        if (missing.length) problems.push(`${what} does not exist yet: ${missing.map((f) => `"${f.key}"`).join(', ')} must be given to create it`);
        changes.push({ op: 'create', kind, object, fields });
        continue;
      }
      const by = ownerOf(found);
      if (by !== undefined && by !== owner) problems.push(`${what} belongs to "${by}" (label ${OWNER_LABEL}); apply it from that file or --owner ${by}`);
      const current = toFileObject(found, kind.fields, names, nameOf);
      const diffs: FieldChange[] = [];
      for (const [key, value] of Object.entries(fields)) {
        const field = kind.fields.get(key)!;
        if (covers(value, current[key], field.type, names)) continue;
        diffs.push({ key, old: current[key], new: value });
        if (!kind.updatable.has(field.input)) problems.push(`${what}: ${key} cannot be changed (${render(current[key])} → ${render(value)}); delete it and apply again`);
      }
      if (diffs.length) changes.push({ op: 'update', kind, object, live: found, fields, changes: diffs });
    }
    if (prune) {
      for (const l of existing) if (ownerOf(l) === owner && !objects.some((o) => o.name === l.name)) deletes.push({ op: 'delete', kind, live: l });
    }
  }
  return { changes: [...changes, ...deletes.reverse()], problems };
}

/** A value on one line: text as it is, the rest as YAML flow. */
export function render(value: unknown): string {
  if (value === undefined || value === null) return '<unset>';
  if (typeof value === 'string') return value;
  return stringify(value, { collectionStyle: 'flow', lineWidth: 0 }).trim();
}

/** The plan as `netloom diff` prints it: + create, ~ change (field: old → new), - delete. */
export function formatPlan(plan: Plan): string {
  const lines: string[] = [];
  for (const c of plan.changes) {
    switch (c.op) {
      case 'create':
        lines.push(`+ ${c.kind.typeName} ${c.object.name}`, ...Object.entries(c.fields).map(([k, v]) => `    ${k}: ${render(v)}`));
        break;
      case 'update':
        lines.push(`~ ${c.kind.typeName} ${c.object.name}`, ...c.changes.map((d) => `    ${d.key}: ${render(d.old)} → ${render(d.new)}`));
        break;
      case 'delete':
        lines.push(`- ${c.kind.typeName} ${c.live.name}`);
        break;
    }
  }
  lines.push(summary(plan));
  return lines.join('\n');
}

export function summary(plan: Plan): string {
  const count = (op: Change['op']): number => plan.changes.filter((c) => c.op === op).length;
  if (plan.changes.length === 0) return 'No changes: the API already matches the file.';
  return `${count('create')} to create, ${count('update')} to change, ${count('delete')} to delete.`;
}
