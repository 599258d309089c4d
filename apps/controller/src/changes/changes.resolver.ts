import { Args, Int, Query, Resolver, Subscription } from '@nestjs/graphql';
import { badInput } from '@netloom/model';
import { MAX_PAGE } from '../common/pagination';
import { Change } from './change.entity';
import { ChangesService, RESOURCE_CHANGES } from './changes.service';

interface ChangeFilter {
  kinds?: string[] | null;
}

@Resolver(() => Change)
export class ChangesResolver {
  constructor(private readonly service: ChangesService) {}

  @Query(() => Int, { description: 'The newest revision of the change feed (0 when empty).' })
  revision(): Promise<number> {
    return this.service.currentRevision();
  }

  @Query(() => [Change], { description: 'The change feed after a revision, oldest first.' })
  changes(
    @Args('afterRevision', { type: () => Int, defaultValue: 0 }) afterRevision: number,
    @Args('first', { type: () => Int, defaultValue: 100 }) first: number,
    @Args('kinds', { type: () => [String], nullable: true }) kinds?: string[],
  ): Promise<Change[]> {
    if (first < 0 || first > MAX_PAGE) throw badInput(`first must be between 0 and ${MAX_PAGE}`, 'first');
    return this.service.list(afterRevision, first, kinds);
  }

  @Subscription(() => Change, {
    description: 'Every committed change to a resource, optionally only of some kinds.',
    filter: (payload: Change, variables: ChangeFilter) => !variables.kinds?.length || variables.kinds.includes(payload.kind),
    resolve: (payload: Change) => payload,
  })
  resourceChanges(@Args('kinds', { type: () => [String], nullable: true }) _kinds?: string[]): AsyncIterator<Change> {
    return this.service.pubSub.asyncIterableIterator<Change>(RESOURCE_CHANGES);
  }
}
