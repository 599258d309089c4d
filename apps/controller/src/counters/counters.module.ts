import { Global, Module } from '@nestjs/common';
import { PortCountersResolver } from './port-counters.resolver';
import { PortCountersService } from './port-counters.service';

/** Ports' traffic counters, kept in memory as the agents send them. Global: the agent channel feeds it. */
@Global()
@Module({ providers: [PortCountersService, PortCountersResolver], exports: [PortCountersService] })
export class CountersModule {}
