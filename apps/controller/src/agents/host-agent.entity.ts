import { Field, Int, ObjectType } from '@nestjs/graphql';
import type { ProviderMapping } from '@netloom/model';
import { Column, Entity, PrimaryColumn } from 'typeorm';
import { isoDateColumn, jsonColumn } from '../common/columns';

@ObjectType('HostAgent', { description: "The agent of a host: liveness and what it runs. Null until it joins." })
@Entity('host_agents')
export class HostAgent {
  @PrimaryColumn({ name: 'host_id', type: 'varchar', length: 36 })
  hostId!: string;

  /** SHA-256 of the host credential the agent got in exchange for its join token. */
  @Column({ name: 'credential_hash', type: 'varchar', length: 64, nullable: true })
  credentialHash!: string | null;

  /** Written by the replica holding the channel; GraphQL shows it as that replica or a fresh row says (`AgentStateResolver`). */
  @Column({ type: 'boolean', default: false })
  connected!: boolean;

  /** The controller replica (`REPLICA_ID`) that holds, or last held, the agent's channel. */
  @Column({ name: 'controller_id', type: 'varchar', length: 80, nullable: true })
  controllerId!: string | null;

  @Field(() => Date, { nullable: true })
  @Column({ name: 'last_seen', type: 'varchar', length: 32, nullable: true, transformer: isoDateColumn })
  lastSeen!: Date | null;

  /** As stored by the replica serving the agent (with each ack, and each heartbeat); the API's field adds what that replica knows since (`AgentStateResolver`). */
  @Column({ name: 'applied_revision', type: 'integer', default: 0 })
  appliedRevision!: number;

  @Field(() => String, { nullable: true })
  @Column({ name: 'agent_version', type: 'varchar', length: 64, nullable: true })
  agentVersion!: string | null;

  @Field(() => String, { nullable: true })
  @Column({ type: 'varchar', length: 128, nullable: true })
  kernel!: string | null;

  @Field(() => [String], { description: 'Kernel features the agent found (bridge, veth, vxlan, nftables, …).' })
  @Column({ type: 'text', transformer: jsonColumn })
  capabilities!: string[];

  @Field(() => Int, {
    description:
      'Statuses this agent reported that the controller did not store: for resources not sent to this host, repeated, or over the size caps (counted since the host was created).',
  })
  @Column({ name: 'dropped_statuses', type: 'integer', default: 0 })
  droppedStatuses!: number;

  @Field(() => [String], { description: 'Plugins the agent runs, as id@version.' })
  @Column({ type: 'text', transformer: jsonColumn })
  plugins!: string[];

  /** The physical networks the agent maps to its interfaces, as its last hello said (shown as Host.providerMappings). */
  @Column({ name: 'provider_mappings', type: 'text', transformer: jsonColumn })
  providerMappings!: ProviderMapping[];

  @Field(() => String, {
    nullable: true,
    description: 'Why the agent cannot write its state dir (disk full, …), null when it can. It keeps applying meanwhile and retries the write.',
  })
  @Column({ name: 'state_error', type: 'varchar', length: 500, nullable: true })
  stateError!: string | null;
}
