import { Args, Mutation, Resolver } from '@nestjs/graphql';
import { TraceInput, TracePayload } from './dto/trace.types';
import { TraceService } from './trace.service';

@Resolver()
export class TraceResolver {
  constructor(private readonly service: TraceService) {}

  @Mutation(() => TracePayload, {
    description:
      "Sends a real probe (ICMP echo or TCP connection) from a port's namespace through its agent and explains it: hosts, overlay, router hops and NAT, the load-balancer member chosen and the firewall rule that allowed or dropped it (from rule counters read before and after), with the verdict. A mutation: it sends traffic (admin only); it changes no state.",
  })
  trace(@Args('input') input: TraceInput): Promise<TracePayload> {
    return this.service.trace(input);
  }
}
