import { Field, ID, InputType, Int, ObjectType } from '@nestjs/graphql';
import { Column, Entity, PrimaryColumn } from 'typeorm';
import { ChangeOperation } from '@netloom/model';
import { Role } from '../auth/api-token.entity';
import { isoDateColumn } from '../common/columns';
import { Node } from '../common/node';

/** One object changed by one mutation: who, when, what, and the object's stored row before and after. */
@ObjectType({ description: 'One object changed by a mutation. Read by admins only; kept for the controller\'s audit retention.', implements: () => [Node] })
@Entity('audit_entries')
export class AuditEntry {
  @Field(() => ID, { description: 'Time-ordered: newer entries have greater ids.' })
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Field({ description: 'When the change was made (its transaction).' })
  @Column({ name: 'created_at', type: 'varchar', length: 32, transformer: isoDateColumn })
  at!: Date;

  @Field(() => ID, { description: 'Shared by every entry of one GraphQL request (a createPorts gives one entry per port).' })
  @Column({ name: 'request_id', type: 'varchar', length: 36 })
  requestId!: string;

  @Field(() => ID)
  @Column({ name: 'token_id', type: 'varchar', length: 36 })
  tokenId!: string;

  @Field({ description: 'The name of the API token the request was made with.' })
  @Column({ name: 'token_name', type: 'varchar', length: 63 })
  tokenName!: string;

  @Field(() => Role)
  @Column({ name: 'token_role', type: 'varchar', length: 16 })
  tokenRole!: Role;

  @Field({ description: 'The mutation field, e.g. createPorts.' })
  @Column({ type: 'varchar', length: 128 })
  mutation!: string;

  @Field(() => ChangeOperation)
  @Column({ type: 'varchar', length: 8 })
  operation!: ChangeOperation;

  @Field({ description: 'Host, Network, Subnet, Port, ApiToken, or a plugin kind.' })
  @Column({ type: 'varchar', length: 64 })
  kind!: string;

  @Field(() => ID)
  @Column({ name: 'object_id', type: 'varchar', length: 36 })
  objectId!: string;

  @Field()
  @Column({ name: 'object_name', type: 'varchar', length: 63 })
  objectName!: string;

  @Field(() => Int, { nullable: true, description: 'The change-feed revision of this change; null for API tokens, which are not in the feed.' })
  @Column({ type: 'integer', nullable: true })
  revision!: number | null;

  @Field(() => String, { nullable: true, description: 'The stored object before, as a JSON object (secrets left out); null on create.' })
  @Column({ name: 'row_before', type: 'text', nullable: true })
  before!: string | null;

  @Field(() => String, { nullable: true, description: 'The stored object after, as a JSON object (secrets left out); null on delete.' })
  @Column({ name: 'row_after', type: 'text', nullable: true })
  after!: string | null;
}

@InputType({ description: 'Which audit entries to list: all of these must hold.' })
export class AuditFilter {
  @Field({ nullable: true }) kind?: string;
  @Field(() => ID, { nullable: true }) objectId?: string;
  @Field({ nullable: true }) tokenName?: string;
  @Field({ nullable: true, description: 'Only entries made at or after this time.' }) since?: Date;
}
