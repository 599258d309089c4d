/**
 * The schema language of plugin kinds: small on purpose, so the controller can generate GraphQL
 * types, input types and validation from it, and agents receive plain JSON.
 */
export type FieldType =
  | { type: 'string' | 'int' | 'boolean' | 'ip' | 'cidr' | 'counter'; required: boolean; description?: string }
  | { type: 'ref'; kind: string; required: boolean; description?: string; blocksDelete?: boolean }
  | { type: 'enum'; name: string; values: readonly string[]; required: boolean; description?: string }
  | { type: 'object'; name: string; fields: Record<string, FieldType>; required: boolean; description?: string }
  | { type: 'list'; of: FieldType; required: boolean; description?: string };

export interface FieldOptions {
  /** Default true; an optional field may be absent or null. */
  required?: boolean;
  description?: string;
}

const scalar =
  (type: 'string' | 'int' | 'boolean' | 'ip' | 'cidr' | 'counter') =>
  (opts: FieldOptions = {}): FieldType => ({ type, required: opts.required ?? true, description: opts.description });

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
  ref: (kind: string, opts: FieldOptions & { blocksDelete?: boolean } = {}): FieldType => ({
    type: 'ref',
    kind,
    required: opts.required ?? true,
    description: opts.description,
    ...(opts.blocksDelete ? { blocksDelete: true } : {}),
  }),
  enum: (name: string, values: readonly string[], opts: FieldOptions = {}): FieldType => ({
    type: 'enum',
    name,
    values,
    required: opts.required ?? true,
    description: opts.description,
  }),
  /** A nested record; `name` becomes its GraphQL type name (prefixed with the kind). */
  object: (name: string, fields: Record<string, FieldType>, opts: FieldOptions = {}): FieldType => ({
    type: 'object',
    name,
    fields,
    required: opts.required ?? true,
    description: opts.description,
  }),
  /** A list (never null; empty by default when omitted) of at most 1000 entries. */
  list: (of: FieldType, opts: Omit<FieldOptions, 'required'> = {}): FieldType => ({ type: 'list', of, required: false, description: opts.description }),
};
