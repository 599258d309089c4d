import { Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { AgentSocketService } from './agent-socket.service';
import { AgentGateway } from './agent.gateway';
import { AgentStateResolver, HostAgentResolver, ResourceStatusResolver } from './agents.resolver';
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
    AgentSocketService,
    HostAgentResolver,
    AgentStateResolver,
    ResourceStatusResolver,
    { provide: APP_INTERCEPTOR, useClass: WaitInterceptor },
  ],
  exports: [DispatcherService],
})
export class AgentsModule {}
