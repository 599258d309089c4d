import { Args, Context, ID, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { WAIT_ARG } from '../agents/wait.interceptor';
import { CascadeDeleteInput, DeletePayload } from '../common/inputs';
import { ConnectionArgs, ConnectionType } from '../common/pagination';
import { lookup } from '../common/resource-ops';
import { ResourceStatus } from '../agents/resource-status.entity';
import { Loaders } from '../loaders/loaders';
import { Port } from '../ports/port.entity';
import { Subnet } from '../subnets/subnet.entity';
import { CreateNetworkInput, NetworkFilter, UpdateNetworkInput } from './dto/network.inputs';
import { Network } from './network.entity';
import { NetworksService } from './networks.service';

const NetworkConnection = ConnectionType(Network, 'Network');

@Resolver(() => Network)
export class NetworksResolver {
  constructor(private readonly service: NetworksService) {}

  @Query(() => NetworkConnection)
  networks(@Args() args: ConnectionArgs, @Args('filter', { nullable: true }) filter?: NetworkFilter) {
    return this.service.list(filter, args);
  }

  @Query(() => Network, { nullable: true, description: 'One network by id or name.' })
  network(
    @Args('id', { type: () => ID, nullable: true }) id?: string,
    @Args('name', { nullable: true }) name?: string,
  ): Promise<Network | null> {
    return this.service.find(lookup(id, name));
  }

  @Mutation(() => Network)
  createNetwork(@Args('input') input: CreateNetworkInput, @Args('wait', WAIT_ARG) _wait: boolean): Promise<Network> {
    return this.service.create(input);
  }

  @Mutation(() => Network)
  updateNetwork(@Args('input') input: UpdateNetworkInput, @Args('wait', WAIT_ARG) _wait: boolean): Promise<Network> {
    return this.service.update(input);
  }

  @Mutation(() => DeletePayload)
  deleteNetwork(@Args('input') input: CascadeDeleteInput, @Args('wait', WAIT_ARG) _wait: boolean): Promise<DeletePayload> {
    return this.service.delete(input);
  }

  @ResolveField(() => [ResourceStatus], { description: 'Realization on each host it is placed on.' })
  status(@Parent() network: Network, @Context('loaders') loaders: Loaders): Promise<ResourceStatus[]> {
    return loaders.statusesByResource.load(network.id);
  }

  @ResolveField(() => [Subnet])
  subnets(@Parent() network: Network, @Context('loaders') loaders: Loaders): Promise<Subnet[]> {
    return loaders.subnetsByNetwork.load(network.id);
  }

  @ResolveField(() => [Port])
  ports(@Parent() network: Network, @Context('loaders') loaders: Loaders): Promise<Port[]> {
    return loaders.portsByNetwork.load(network.id);
  }
}
