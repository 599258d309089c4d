import { Args, Context, ID, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { WAIT_ARG } from '../realization/wait.interceptor';
import { DeleteInput, DeletePayload } from '../common/inputs';
import { ConnectionArgs, ConnectionType } from '../common/pagination';
import { Loaders } from '../loaders/loaders';
import { Network } from '../networks/network.entity';
import { CreateSubnetInput, SubnetFilter, UpdateSubnetInput } from './dto/subnet.inputs';
import { Subnet } from './subnet.entity';
import { SubnetsService } from './subnets.service';

export const SubnetConnection = ConnectionType(Subnet, 'Subnet');

@Resolver(() => Subnet)
export class SubnetsResolver {
  constructor(private readonly service: SubnetsService) {}

  @Query(() => SubnetConnection, { description: 'A page of subnets, filtered.' })
  subnets(@Args() args: ConnectionArgs, @Args('filter', { nullable: true }) filter?: SubnetFilter) {
    return this.service.list(filter, args);
  }

  @Query(() => Subnet, { nullable: true, description: 'One subnet by id.' })
  subnet(@Args('id', { type: () => ID }) id: string): Promise<Subnet | null> {
    return this.service.find(id);
  }

  @Mutation(() => Subnet, { description: 'Creates a subnet on a network.' })
  createSubnet(@Args('input') input: CreateSubnetInput, @Args('wait', WAIT_ARG) _wait: boolean): Promise<Subnet> {
    return this.service.create(input);
  }

  @Mutation(() => Subnet, { description: 'Updates a subnet; fields left out keep their value.' })
  updateSubnet(@Args('input') input: UpdateSubnetInput, @Args('wait', WAIT_ARG) _wait: boolean): Promise<Subnet> {
    return this.service.update(input);
  }

  @Mutation(() => DeletePayload, { description: 'Deletes a subnet.' })
  deleteSubnet(@Args('input') input: DeleteInput, @Args('wait', WAIT_ARG) _wait: boolean): Promise<DeletePayload> {
    return this.service.delete(input);
  }

  @ResolveField(() => Network)
  async network(@Parent() subnet: Subnet, @Context('loaders') loaders: Loaders): Promise<Network | null> {
    return loaders.network.load(subnet.networkId);
  }
}
