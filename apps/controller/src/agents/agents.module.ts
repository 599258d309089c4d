import { Module } from '@nestjs/common';
import { AgentSocketService } from './agent-socket.service';
import { AgentGateway } from './agent.gateway';
import { AgentStateResolver, HostAgentResolver, ResourceStatusResolver } from './agents.resolver';
import { AgentsService } from './agents.service';
import { JoinController } from './join.controller';

/** The agents' side: joining, credentials, the agent channel and its GraphQL view. */
@Module({
  controllers: [JoinController],
  providers: [AgentsService, AgentGateway, AgentSocketService, HostAgentResolver, AgentStateResolver, ResourceStatusResolver],
})
export class AgentsModule {}
