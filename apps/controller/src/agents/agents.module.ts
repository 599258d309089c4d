import { Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { AgentGateway } from './agent.gateway';
import { HostAgentResolver, ResourceStatusResolver } from './agents.resolver';
import { AgentsService } from './agents.service';
import { DispatcherService } from './dispatcher.service';
import { JoinController } from './join.controller';
import { WaitInterceptor } from './wait.interceptor';

@Module({
  controllers: [JoinController],
  providers: [
    AgentsService,
    DispatcherService,
    AgentGateway,
    HostAgentResolver,
    ResourceStatusResolver,
    { provide: APP_INTERCEPTOR, useClass: WaitInterceptor },
  ],
})
export class AgentsModule {}
