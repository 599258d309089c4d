import { Args, Context, Extensions, ID, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { WAIT_ARG } from '../realization/wait.interceptor';
import { DeleteInput, DeletePayload } from '../common/inputs';
import { ConnectionArgs, ConnectionType } from '../common/pagination';
import { listBound } from '../common/query-limits';
import { Host } from '../hosts/host.entity';
import { ResourceStatus } from '../realization/resource-status.entity';
import { Loaders } from '../loaders/loaders';
import { Network } from '../networks/network.entity';
import { Subnet } from '../subnets/subnet.entity';
import { CreatePortInput, PortFilter, UpdatePortInput } from './dto/port.inputs';
import { IpAllocation } from './ip-allocation.entity';
import { Port } from './port.entity';
import { MAX_FIXED_IPS } from './port-batch';
import { PortsService } from './ports.service';

export const PortConnection = ConnectionType(Port, 'Port');

@Resolver(() => Port)
export class PortsResolver {
  constructor(private readonly service: PortsService) {}

  @Query(() => PortConnection, { description: 'A page of ports, filtered.' })
  ports(@Args() args: ConnectionArgs, @Args('filter', { nullable: true }) filter?: PortFilter) {
    return this.service.list(filter, args);
  }

  @Query(() => Port, { nullable: true, description: 'One port by id.' })
  port(@Args('id', { type: () => ID }) id: string): Promise<Port | null> {
    return this.service.find(id);
  }

  @Mutation(() => Port, { description: 'Creates a port; IPAM picks its addresses unless given.' })
  createPort(@Args('input') input: CreatePortInput, @Args('wait', WAIT_ARG) _wait: boolean): Promise<Port> {
    return this.service.create(input);
  }

  @Mutation(() => [Port], { description: 'Creates many ports in one transaction: all of them, or none.' })
  @Extensions(listBound({ argument: 'inputs' }))
  createPorts(@Args('inputs', { type: () => [CreatePortInput] }) inputs: CreatePortInput[], @Args('wait', WAIT_ARG) _wait: boolean): Promise<Port[]> {
    return this.service.createMany(inputs);
  }

  @Mutation(() => Port, { description: 'Updates a port; fields left out keep their value.' })
  updatePort(@Args('input') input: UpdatePortInput, @Args('wait', WAIT_ARG) _wait: boolean): Promise<Port> {
    return this.service.update(input);
  }

  @Mutation(() => DeletePayload, { description: 'Deletes a port.' })
  deletePort(@Args('input') input: DeleteInput, @Args('wait', WAIT_ARG) _wait: boolean): Promise<DeletePayload> {
    return this.service.delete(input);
  }

  @ResolveField(() => [ResourceStatus], { description: 'Realization on each host it is placed on.' })
  @Extensions(listBound({ perHost: true }))
  status(@Parent() port: Port, @Context('loaders') loaders: Loaders): Promise<ResourceStatus[]> {
    return loaders.statusesByResource.load(port.id);
  }

  @ResolveField(() => Network)
  network(@Parent() port: Port, @Context('loaders') loaders: Loaders): Promise<Network | null> {
    return loaders.network.load(port.networkId);
  }

  @ResolveField(() => Host)
  host(@Parent() port: Port, @Context('loaders') loaders: Loaders): Promise<Host | null> {
    return loaders.host.load(port.hostId);
  }

  @ResolveField(() => [IpAllocation])
  @Extensions(listBound({ items: MAX_FIXED_IPS }))
  fixedIps(@Parent() port: Port, @Context('loaders') loaders: Loaders): Promise<IpAllocation[]> {
    return loaders.fixedIpsByPort.load(port.id);
  }
}

@Resolver(() => IpAllocation)
export class FixedIpResolver {
  @ResolveField(() => Subnet)
  subnet(@Parent() fixedIp: IpAllocation, @Context('loaders') loaders: Loaders): Promise<Subnet | null> {
    return loaders.subnet.load(fixedIp.subnetId);
  }
}
