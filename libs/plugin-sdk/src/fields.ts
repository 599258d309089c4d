/**
 * The schema language of plugin kinds: small on purpose, so the controller can generate GraphQL
 * types, input types and validation from it, and agents receive plain JSON.
 *
 * Each builder's return type records what the field holds (`t.int()` a number, `t.enum('P',
 * ['TCP', 'UDP'])` `'TCP' | 'UDP'`, `{ required: false }` a value or null), so the TypeScript type
 * of a spec is inferred from its schema ({@link Infer}); the values themselves are plain JSON.
 */
export type FieldType = ScalarField | RefField | EnumField | ObjectField | ListField;

/** The fields of a kind, or of a nested object: name → type. */
export type Fields = Record<string, FieldType>;

/** The scalar field types and the TypeScript type of their values. */
interface ScalarValues {
  string: string;
  int: number;
  boolean: boolean;
  ip: string;
  cidr: string;
  counter: number;
}
export type ScalarKind = keyof ScalarValues;

/** `R`: whether the field is required (`true`), optional (`false`) or unknown (`boolean`, typed as optional). */
export interface ScalarField<K extends ScalarKind = ScalarKind, R extends boolean = boolean> {
  type: K;
  required: R;
  description?: string;
}
export interface RefField<R extends boolean = boolean> {
  type: 'ref';
  kind: string;
  required: R;
  description?: string;
  blocksDelete?: boolean;
}
export interface EnumField<V extends readonly string[] = readonly string[], R extends boolean = boolean> {
  type: 'enum';
  name: string;
  values: V;
  required: R;
  description?: string;
  typeDescription?: string;
}
export interface ObjectField<F extends Fields = Fields, R extends boolean = boolean> {
  type: 'object';
  name: string;
  fields: F;
  required: R;
  description?: string;
  typeDescription?: string;
}
/** A list is never null: absent, it is stored as `[]` (its `required` is always false). */
export interface ListField<O extends FieldType = FieldType> {
  type: 'list';
  of: O;
  required: boolean;
  description?: string;
}

/** The value of a present field (a list's elements are never null either). */
export type FieldValue<F extends FieldType> = F extends { type: 'list'; of: infer O extends FieldType }
  ? FieldValue<O>[]
  : F extends { type: 'object'; fields: infer O extends Fields }
    ? InferFields<O>
    : F extends { type: 'enum'; values: infer V extends readonly string[] }
      ? V[number]
      : F extends { type: 'ref' }
        ? string
        : F extends { type: infer K extends ScalarKind }
          ? ScalarValues[K]
          : never;

/**
 * The value of a field as the controller stores it and hands it to `validate`, `place` and
 * `reserve`: a required field its value; an optional one its value or `null` (an absent optional
 * field is stored as null, the key present); a list its elements, never null (absent: `[]`).
 */
export type InferField<F extends FieldType> = F extends { type: 'list' }
  ? FieldValue<F>
  : F extends { required: true }
    ? FieldValue<F>
    : FieldValue<F> | null;

/** The stored value of a record of fields: every key present (see {@link InferField}). */
export type InferFields<F extends Fields> = string extends keyof F ? Record<string, unknown> : { -readonly [K in keyof F]: InferField<F[K]> };

/**
 * The TypeScript type of a schema: of one field (`Infer<typeof field>`), or of a record of fields
 * (`Infer<typeof kind.fields>`, what a spec is).
 */
export type Infer<T extends FieldType | Fields> = T extends FieldType ? InferField<T> : T extends Fields ? InferFields<T> : never;

/** A field's options; `required` defaults to true. */
export interface FieldOptions<R extends boolean = boolean> {
  /** Default true; an optional field may be given as absent or null, and is stored as null then. */
  required?: R;
  /** Describes this field: the GraphQL field (and input field) that holds the value, never a type. */
  description?: string;
}

/** Options of `t.enum` and `t.object`, which also declare a named GraphQL type. */
export interface NamedTypeOptions<R extends boolean = boolean> extends FieldOptions<R> {
  /**
   * Describes the named type itself (`<Kind><name>`, `<Kind><name>Input`), wherever it is used; the
   * fields holding it keep their own `description`. A type without one gets a generic one ("Part
   * of a <Kind>."). Declarations reusing a name must agree on it, as on the rest of the declaration.
   */
  typeDescription?: string;
}

// Each builder's `R` comes from its options alone (`NoInfer` in the return type): inside a
// `KindDefinition`, the context would otherwise make every field's `required` a plain boolean.
const scalar =
  <K extends ScalarKind>(type: K) =>
  <R extends boolean = true>(opts: FieldOptions<R> = {}): ScalarField<K, NoInfer<R>> => ({ type, required: (opts.required ?? true) as R, description: opts.description });

/** Builders for kind schemas: `fields: { hostId: t.ref('Host'), routes: t.list(t.object('Route', {...})) }`. */
export const t = {
  string: scalar('string'),
  int: scalar('int'),
  boolean: scalar('boolean'),
  /** An IPv4 or IPv6 unicast address, canonicalized; unspecified, loopback, link-local, multicast and broadcast ones are refused. */
  ip: scalar('ip'),
  /** A network in CIDR notation with host bits clear, canonicalized. */
  cidr: scalar('cidr'),
  /** A non-negative whole number up to 2^53 (packets, bytes): GraphQL `Float`, as `Int` stops at 2^31. */
  counter: scalar('counter'),
  /**
   * The id of a core resource (`Host`, `Network`, `Subnet`, `Port`) or of a kind of the same plugin; it must exist.
   * With `blocksDelete`, deleting a core port it names is refused (CONFLICT) while this resource names it (a load
   * balancer's member, a floating IP's port); otherwise the resource keeps the id and its placement leaves it out.
   */
  ref: <R extends boolean = true>(kind: string, opts: FieldOptions<R> & { blocksDelete?: boolean } = {}): RefField<NoInfer<R>> => ({
    type: 'ref',
    kind,
    required: (opts.required ?? true) as R,
    description: opts.description,
    ...(opts.blocksDelete ? { blocksDelete: true } : {}),
  }),
  /** One of `values` (inferred as literals: `t.enum('Proto', ['TCP', 'UDP'])` holds `'TCP' | 'UDP'`); `name` becomes its GraphQL enum's name (prefixed with the kind). */
  enum: <const V extends readonly string[], R extends boolean = true>(name: string, values: V, opts: NamedTypeOptions<R> = {}): EnumField<V, NoInfer<R>> => ({
    type: 'enum',
    name,
    values,
    required: (opts.required ?? true) as R,
    description: opts.description,
    ...(opts.typeDescription ? { typeDescription: opts.typeDescription } : {}),
  }),
  /**
   * A nested record; `name` becomes its GraphQL type name (prefixed with the kind). A record of
   * exactly a required string `key` and a required string `value` is shown as the core `Label`
   * (`LabelInput` in inputs) instead: see `t.labels`.
   */
  object: <F extends Fields, R extends boolean = true>(name: string, fields: F, opts: NamedTypeOptions<R> = {}): ObjectField<F, NoInfer<R>> => ({
    type: 'object',
    name,
    fields,
    required: (opts.required ?? true) as R,
    description: opts.description,
    ...(opts.typeDescription ? { typeDescription: opts.typeDescription } : {}),
  }),
  /**
   * A list of labels, e.g. a selector's "ports carrying these labels": in GraphQL the core
   * `[Label!]!` (`[LabelInput!]` in inputs), stored as a list of `{ key, value }`.
   */
  labels: (opts: Omit<FieldOptions, 'required'> = {}): ListField<ObjectField<{ key: ScalarField<'string', true>; value: ScalarField<'string', true> }, true>> => ({
    type: 'list',
    of: { type: 'object', name: 'Label', fields: { key: scalar('string')(), value: scalar('string')() }, required: true },
    required: false,
    description: opts.description,
  }),
  /** A list (never null; empty by default when omitted) of at most 1000 entries. */
  list: <O extends FieldType>(of: O, opts: Omit<FieldOptions, 'required'> = {}): ListField<O> => ({ type: 'list', of, required: false, description: opts.description }),
};
