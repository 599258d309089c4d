import { Module } from '@nestjs/common';
import { AgentProbesService } from './agent-probes.service';
import { AgentSocketService } from './agent-socket.service';
import { AgentGateway } from './agent.gateway';
import { AgentStateResolver, HostAgentResolver, ResourceStatusResolver } from './agents.resolver';
import { AgentsService } from './agents.service';
import { JoinController } from './join.controller';

/** The agents' side: joining, credentials, the agent channel and its GraphQL view. */
@Module({
  controllers: [JoinController],
  providers: [AgentsService, AgentGateway, AgentSocketService, AgentProbesService, HostAgentResolver, AgentStateResolver, ResourceStatusResolver],
  exports: [AgentProbesService],
})
export class AgentsModule {}
