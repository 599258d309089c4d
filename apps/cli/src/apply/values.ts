import { getNamedType, isInputObjectType, isNonNullType, type GraphQLInputType } from 'graphql';
import { isKeyValueList, nestedFields, type FileField } from './kinds';

// Values between the file's form (names, label maps, file keys) and the API's (ids, label lists, input names).

export type NameOf = (kind: string, id: string) => string | undefined;
/** A reference by name as the API takes it: an id, or (in a plan's steps) a reference to the step creating it. */
export type IdOf = (kind: string, name: string) => string | { $ref: string };

export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const unwrap = (type: GraphQLInputType): GraphQLInputType => (isNonNullType(type) ? type.ofType : type);
export const itemType = (type: GraphQLInputType): GraphQLInputType => {
  const t = unwrap(type);
  return 'ofType' in t ? t.ofType : t;
};

/** A value the API gave, in the file's form: references by name (the id when unknown), labels as a map. */
export function toFileValue(value: unknown, field: FileField, kinds: readonly string[], nameOf: NameOf): unknown {
  if (value === null || value === undefined) return value;
  if (field.ref) return Array.isArray(value) ? value.map((id: string) => nameOf(field.ref!, id) ?? id) : (nameOf(field.ref, value as string) ?? value);
  if (isKeyValueList(field.type)) return Object.fromEntries((value as { key: string; value: string }[]).map((l) => [l.key, l.value]));
  if (Array.isArray(value)) return value.map((v) => toFileValue(v, { ...field, type: itemType(field.type) }, kinds, nameOf));
  const named = getNamedType(field.type);
  if (isInputObjectType(named) && isRecord(value)) return toFileObject(value, nestedFields(named, kinds), kinds, nameOf);
  return value;
}

export function toFileObject(live: Record<string, unknown>, fields: Map<string, FileField>, kinds: readonly string[], nameOf: NameOf): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields.values()) if (f.input in live) out[f.key] = toFileValue(live[f.input], f, kinds, nameOf);
  return out;
}

/** A file value as the API takes it: names resolved to ids, label maps as lists, file keys as input names. */
export function toInputValue(value: unknown, field: FileField, kinds: readonly string[], idOf: IdOf): unknown {
  if (value === null || value === undefined) return value;
  if (field.ref) return Array.isArray(value) ? value.map((n: string) => idOf(field.ref!, n)) : idOf(field.ref, value as string);
  if (isKeyValueList(field.type)) return Object.entries(value as Record<string, string>).map(([key, v]) => ({ key, value: v }));
  const named = getNamedType(field.type);
  if (Array.isArray(value)) return value.map((v) => toInputValue(v, field, kinds, idOf));
  if (isInputObjectType(named)) return toInput(value as Record<string, unknown>, nestedFields(named, kinds), kinds, idOf);
  return value;
}

export function toInput(
  values: Record<string, unknown>,
  fields: Map<string, FileField>,
  kinds: readonly string[],
  idOf: IdOf,
): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).map(([key, v]) => [fields.get(key)!.input, toInputValue(v, fields.get(key)!, kinds, idOf)]));
}

