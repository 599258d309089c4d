import { Field, ID, InterfaceType } from '@nestjs/graphql';

/** Set on an object by the `node`/`nodes` queries: the GraphQL type it is shown as. */
export const NODE_TYPE = Symbol('nodeType');

/**
 * Relay's global object identification: every object kind has an `id` unique across all kinds
 * (a UUIDv7), so `node(id:)` finds any object by its id alone.
 */
@InterfaceType('Node', {
  description: 'An object with an id unique across every kind, which `node(id:)` and `nodes(ids:)` find.',
  resolveType: (value: { [NODE_TYPE]?: string }) => value[NODE_TYPE],
})
export abstract class Node {
  @Field(() => ID, { description: 'Unique across every kind of object (a UUIDv7).' })
  id!: string;
}
