import { Args, Context, Extensions, ID, Query, Resolver } from '@nestjs/graphql';
import { Node } from '../common/node';
import { listBound } from '../common/query-limits';
import type { GraphQLContext } from '../graphql.config';
import { NodesService } from './nodes.service';

@Resolver(() => Node)
export class NodesResolver {
  constructor(private readonly service: NodesService) {}

  @Query(() => Node, { nullable: true, description: 'Any object by its id; null when there is none (or the caller may not see it).' })
  node(@Args('id', { type: () => ID }) id: string, @Context() context: GraphQLContext) {
    return this.service.get(id, context);
  }

  @Query(() => [Node], { nullable: 'items', description: 'Objects of any kinds by their ids, in the order given; null for each there is none of.' })
  @Extensions(listBound({ argument: 'ids' }))
  nodes(@Args('ids', { type: () => [ID] }) ids: string[], @Context() context: GraphQLContext) {
    return this.service.getMany(ids, context);
  }
}
