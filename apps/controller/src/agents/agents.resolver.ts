import { Args, Context, Extensions, Field, ID, Int, Mutation, ObjectType, Parent, registerEnumType, ResolveField, Resolver, Subscription } from '@nestjs/graphql';
import { MAX_PROVIDER_MAPPINGS } from '@netloom/model';
import { Label } from '../common/label';
import { REPLICA_ID } from '../common/replica';
import { listBound } from '../common/query-limits';
import { CreateHostPayload } from '../hosts/dto/host.inputs';
import { Host } from '../hosts/host.entity';
import { Loaders } from '../loaders/loaders';
import { HostAgent } from './host-agent.entity';
import { AgentsService } from './agents.service';
import { RESOURCE_STATUS_CHANGES } from '../realization/status.service';
import { ChangesService } from '../changes/changes.service';
import { DispatcherService } from '../realization/dispatcher.service';
import { attributeList, ResourceStatus } from '../realization/resource-status.entity';

export enum AgentState {
  CONNECTED = 'CONNECTED',
  DISCONNECTED = 'DISCONNECTED',
  LOST = 'LOST',
}
registerEnumType(AgentState, {
  name: 'AgentState',
  description: 'LOST: away longer than the grace period; the other hosts no longer peer with it.',
});

@ObjectType('ProviderMapping', { description: 'A physical network and the interface that carries it on one host.' })
export class ProviderMappingType {
  @Field({ description: 'The physical network, e.g. physnet1 (what Network.providerInterface names).' })
  physicalNetwork!: string;
  @Field({ description: "The host's interface it is on, e.g. eth1." })
  interface!: string;
}

interface StatusFilter {
  kinds?: string[] | null;
}

@Resolver(() => Host)
export class HostAgentResolver {
  constructor(
    private readonly agents: AgentsService,
    private readonly changes: ChangesService,
  ) {}

  @ResolveField(() => HostAgent, { nullable: true, description: "The host's agent; null until it has joined." })
  agent(@Parent() host: Host, @Context('loaders') loaders: Loaders): Promise<HostAgent | null> {
    return loaders.hostAgent.load(host.id);
  }

  @ResolveField(() => [ProviderMappingType], {
    description: "Physical networks this host carries provider networks on, as its agent reported them (`--provider-mapping`); empty until it connects.",
  })
  @Extensions(listBound({ items: MAX_PROVIDER_MAPPINGS }))
  async providerMappings(@Parent() host: Host, @Context('loaders') loaders: Loaders): Promise<ProviderMappingType[]> {
    return (await loaders.hostAgent.load(host.id))?.providerMappings ?? [];
  }

  @Mutation(() => CreateHostPayload, {
    description: "A new one-time join token for a host whose agent lost its credential; the old credential stops working.",
  })
  resetHostJoinToken(@Args('id', { type: () => ID }) id: string): Promise<CreateHostPayload> {
    return this.agents.resetJoinToken(id);
  }

  @Subscription(() => ResourceStatus, {
    description: 'Realization status changes reported by agents, optionally only of some kinds.',
    filter: (payload: ResourceStatus, variables: StatusFilter) => !variables.kinds?.length || variables.kinds.includes(payload.kind),
    resolve: (payload: ResourceStatus) => payload,
  })
  resourceStatusChanges(@Args('kinds', { type: () => [String], nullable: true }) _kinds?: string[]): AsyncIterator<ResourceStatus> {
    return this.changes.pubSub.asyncIterableIterator<ResourceStatus>(RESOURCE_STATUS_CHANGES);
  }
}

@Resolver(() => ResourceStatus)
export class ResourceStatusResolver {
  @ResolveField(() => Host, { nullable: true })
  host(@Parent() status: ResourceStatus, @Context('loaders') loaders: Loaders): Promise<Host | null> {
    return loaders.host.load(status.hostId);
  }

  @ResolveField(() => [Label], { description: 'What the agent realized, e.g. the namespace and interface of a port.' })
  @Extensions(listBound({ document: true }))
  attributes(@Parent() status: ResourceStatus): Label[] {
    return attributeList(status);
  }
}

@Resolver(() => HostAgent)
export class AgentStateResolver {
  constructor(private readonly dispatcher: DispatcherService) {}

  @ResolveField(() => AgentState)
  state(@Parent() agent: HostAgent): AgentState {
    return AgentState[this.dispatcher.hostState(agent.hostId)];
  }

  @ResolveField(() => Boolean, { description: 'Whether the agent has a channel open to a controller replica (this one or another).' })
  connected(@Parent() agent: HostAgent): boolean {
    return this.dispatcher.hostState(agent.hostId) === 'CONNECTED';
  }

  @ResolveField(() => Int, { description: 'The newest change-feed revision this host has reconciled.' })
  appliedRevision(@Parent() agent: HostAgent): number {
    // Writes that touch nothing of the host send it nothing: the replica serving it knows it is current through them before its row does.
    return Math.max(agent.appliedRevision, this.dispatcher.appliedRevision(agent.hostId));
  }

  @ResolveField(() => String, {
    nullable: true,
    description: 'The controller replica (host:pid) serving the agent while it is connected; null otherwise.',
  })
  controller(@Parent() agent: HostAgent): string | null {
    if (this.dispatcher.isConnected(agent.hostId)) return REPLICA_ID;
    return this.dispatcher.hostState(agent.hostId) === 'CONNECTED' ? agent.controllerId : null;
  }
}
