import { Args, Context, Info, Query, Resolver } from '@nestjs/graphql';
import { GraphQLResolveInfo } from 'graphql';
import { AdminOnly } from '../auth/roles.guard';
import type { GraphQLContext } from '../graphql.config';
import { Plan, PlanStepInput } from './dto/plan.types';
import { PlanService } from './plan.service';

@Resolver(() => Plan)
export class PlanResolver {
  constructor(private readonly service: PlanService) {}

  @AdminOnly()
  @Query(() => Plan, {
    description:
      "What each affected host's agent would change if these mutations ran, in order: they run through their own resolvers in a transaction that is rolled back (nothing is kept, published or audited), and the agent's planner turns each host's desired state before and after into its lines (admins only, as the mutations).",
  })
  plan(
    @Args('steps', { type: () => [PlanStepInput] }) steps: PlanStepInput[],
    @Info() info: GraphQLResolveInfo,
    @Context() context: GraphQLContext,
  ): Promise<Plan> {
    return this.service.plan(steps, info.schema, context);
  }
}
