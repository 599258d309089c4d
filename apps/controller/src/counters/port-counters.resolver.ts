import { Parent, ResolveField, Resolver } from '@nestjs/graphql';
import { Port } from '../ports/port.entity';
import { PortCounters } from './dto/port-counters.types';
import { PortCountersService } from './port-counters.service';

@Resolver(() => Port)
export class PortCountersResolver {
  constructor(private readonly service: PortCountersService) {}

  // In memory: a map lookup per port, so a list of ports costs no query (nothing to batch).
  @ResolveField(() => PortCounters, {
    nullable: true,
    description:
      "Traffic counters on the port's host, from the port's point of view. Null until its agent reported them, " +
      "when the agent is not on this controller replica (ask the one `Host.agent.controller` names), or when it predates counters.",
  })
  counters(@Parent() port: Port): PortCounters | null {
    return this.service.of(port.hostId, port.id);
  }
}
