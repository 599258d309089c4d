import { Args, Context, ID, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { WAIT_ARG } from '../realization/wait.interceptor';
import { CascadeDeleteInput, DeletePayload } from '../common/inputs';
import { lookup } from '../common/resource-ops';
import { Connection, ConnectionArgs, ConnectionType } from '../common/pagination';
import { Loaders } from '../loaders/loaders';
import { Port } from '../ports/port.entity';
import { PortConnection } from '../ports/ports.resolver';
import { CreateHostInput, CreateHostPayload, HostFilter, UpdateHostInput } from './dto/host.inputs';
import { Host } from './host.entity';
import { HostsService } from './hosts.service';

const HostConnection = ConnectionType(Host, 'Host');

@Resolver(() => Host)
export class HostsResolver {
  constructor(private readonly service: HostsService) {}

  @Query(() => HostConnection, { description: 'A page of hosts, filtered.' })
  hosts(@Args() args: ConnectionArgs, @Args('filter', { nullable: true }) filter?: HostFilter) {
    return this.service.list(filter, args);
  }

  @Query(() => Host, { nullable: true, description: 'One host by id or name.' })
  host(
    @Args('id', { type: () => ID, nullable: true }) id?: string,
    @Args('name', { nullable: true }) name?: string,
  ): Promise<Host | null> {
    return this.service.find(lookup(id, name));
  }

  @Mutation(() => CreateHostPayload, { description: 'Creates a host, with the one-time token its agent joins with.' })
  createHost(@Args('input') input: CreateHostInput, @Args('wait', WAIT_ARG) _wait: boolean): Promise<CreateHostPayload> {
    return this.service.create(input);
  }

  @Mutation(() => Host, { description: 'Updates a host; fields left out keep their value.' })
  updateHost(@Args('input') input: UpdateHostInput, @Args('wait', WAIT_ARG) _wait: boolean): Promise<Host> {
    return this.service.update(input);
  }

  @Mutation(() => DeletePayload, { description: 'Deletes a host; cascade: true deletes what depends on it too.' })
  deleteHost(@Args('input') input: CascadeDeleteInput, @Args('wait', WAIT_ARG) _wait: boolean): Promise<DeletePayload> {
    return this.service.delete(input);
  }

  @ResolveField(() => PortConnection, { description: 'The ports placed on this host, a page at a time.' })
  ports(@Parent() host: Host, @Args() args: ConnectionArgs, @Context('loaders') loaders: Loaders): Promise<Connection<Port>> {
    return loaders.portsOfHost(host.id, args);
  }
}
