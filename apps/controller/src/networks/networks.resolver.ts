import { Args, Context, Extensions, ID, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { WAIT_ARG } from '../realization/wait.interceptor';
import { CascadeDeleteInput, DeletePayload } from '../common/inputs';
import { Connection, ConnectionArgs, ConnectionType } from '../common/pagination';
import { listBound } from '../common/query-limits';
import { lookup } from '../common/resource-ops';
import { ResourceStatus } from '../realization/resource-status.entity';
import { Loaders } from '../loaders/loaders';
import { Port } from '../ports/port.entity';
import { PortConnection } from '../ports/ports.resolver';
import { Subnet } from '../subnets/subnet.entity';
import { SubnetConnection } from '../subnets/subnets.resolver';
import { CreateNetworkInput, NetworkFilter, UpdateNetworkInput } from './dto/network.inputs';
import { Network } from './network.entity';
import { NetworksService } from './networks.service';

const NetworkConnection = ConnectionType(Network, 'Network');

@Resolver(() => Network)
export class NetworksResolver {
  constructor(private readonly service: NetworksService) {}

  @Query(() => NetworkConnection, { description: 'A page of networks, filtered.' })
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

  @Mutation(() => Network, { description: 'Creates a network; its VNI is allocated.' })
  createNetwork(@Args('input') input: CreateNetworkInput, @Args('wait', WAIT_ARG) _wait: boolean): Promise<Network> {
    return this.service.create(input);
  }

  @Mutation(() => Network, { description: 'Updates a network; fields left out keep their value.' })
  updateNetwork(@Args('input') input: UpdateNetworkInput, @Args('wait', WAIT_ARG) _wait: boolean): Promise<Network> {
    return this.service.update(input);
  }

  @Mutation(() => DeletePayload, { description: 'Deletes a network; cascade: true deletes what depends on it too.' })
  deleteNetwork(@Args('input') input: CascadeDeleteInput, @Args('wait', WAIT_ARG) _wait: boolean): Promise<DeletePayload> {
    return this.service.delete(input);
  }

  @ResolveField(() => [ResourceStatus], { description: 'Realization on each host it is placed on.' })
  @Extensions(listBound({ perHost: true }))
  status(@Parent() network: Network, @Context('loaders') loaders: Loaders): Promise<ResourceStatus[]> {
    return loaders.statusesByResource.load(network.id);
  }

  @ResolveField(() => SubnetConnection, { description: 'The subnets of this network, a page at a time.' })
  subnets(@Parent() network: Network, @Args() args: ConnectionArgs, @Context('loaders') loaders: Loaders): Promise<Connection<Subnet>> {
    return loaders.subnetsOfNetwork(network.id, args);
  }

  @ResolveField(() => PortConnection, { description: 'The ports on this network, a page at a time.' })
  ports(@Parent() network: Network, @Args() args: ConnectionArgs, @Context('loaders') loaders: Loaders): Promise<Connection<Port>> {
    return loaders.portsOfNetwork(network.id, args);
  }
}
