import { Args, Query, Resolver } from '@nestjs/graphql';
import { AdminOnly } from '../auth/roles.guard';
import { ConnectionArgs, ConnectionType } from '../common/pagination';
import { AuditEntry, AuditFilter } from './audit-entry.entity';
import { AuditService } from './audit.service';

export const AuditEntryConnection = ConnectionType(AuditEntry, 'AuditEntry');

@Resolver(() => AuditEntry)
export class AuditResolver {
  constructor(private readonly service: AuditService) {}

  @AdminOnly()
  @Query(() => AuditEntryConnection, { description: 'What mutations changed, newest first (admins only).' })
  auditEntries(@Args() args: ConnectionArgs, @Args('filter', { nullable: true }) filter?: AuditFilter) {
    return this.service.list(filter, args);
  }
}
