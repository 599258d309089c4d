import { Field, ID, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { Column, Entity, PrimaryColumn } from 'typeorm';
import { RealizationState } from '@netloom/model';
import { bigintColumn, isoDateColumn, jsonColumn } from '../common/columns';
import { Label } from '../common/label';

registerEnumType(RealizationState, {
  name: 'RealizationState',
  description: 'PENDING: not yet applied on the host; APPLIED: as asked; FAILED: the host could not apply it (see error).',
});

@ObjectType('ResourceStatus', { description: 'How far one host got in realizing one resource.' })
@Entity('resource_statuses')
export class ResourceStatus {
  @Field(() => ID)
  @PrimaryColumn({ name: 'host_id', type: 'varchar', length: 36 })
  hostId!: string;

  @Field()
  @PrimaryColumn({ type: 'varchar', length: 64 })
  kind!: string;

  @Field(() => ID)
  @PrimaryColumn({ name: 'resource_id', type: 'varchar', length: 36 })
  resourceId!: string;

  @Field(() => RealizationState)
  @Column({ type: 'varchar', length: 16 })
  state!: RealizationState;

  @Field(() => Int, { description: 'The generation of the resource this state is for.' })
  @Column({ type: 'integer' })
  generation!: number;

  @Field(() => String, { nullable: true })
  @Column({ type: 'text', nullable: true })
  reason!: string | null;

  /** Facts the agent reported, e.g. the namespace a port lives in. */
  @Column({ type: 'text', transformer: jsonColumn })
  attributes!: Record<string, string>;

  /** A plugin resource's observed state, sanitized against its kind's `observed` schema; GraphQL adds the field when a kind declares one. */
  @Column({ type: 'text', nullable: true, transformer: jsonColumn })
  observed!: Record<string, unknown> | null;

  @Field()
  @Column({ name: 'updated_at', type: 'varchar', length: 32, transformer: isoDateColumn })
  updatedAt!: Date;

  /** Store order: consecutive numbers assigned under the write lock, so other replicas read statuses in commit order. */
  @Column({ type: 'bigint', default: 0, transformer: bigintColumn })
  seq!: number;
}

/** For GraphQL: attributes as a sorted key/value list. */
export const attributeList = (status: ResourceStatus): Label[] =>
  Object.keys(status.attributes ?? {})
    .sort()
    .map((key) => ({ key, value: status.attributes[key] }));
