import { Field, ID, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { Column, Entity, PrimaryColumn } from 'typeorm';
import { ChangeOperation } from '@netloom/model';
import { isoDateColumn } from '../common/columns';

registerEnumType(ChangeOperation, { name: 'ChangeOperation', description: 'What a change did to its object.' });

/** One entry of the global change feed. `revision` only grows, across restarts too. */
@ObjectType('ResourceChange', { description: 'One entry of the change feed: an object created, updated or deleted at a revision.' })
@Entity('changes')
export class Change {
  @Field(() => Int)
  @PrimaryColumn({ type: 'integer' })
  revision!: number;

  @Field({ description: 'Resource kind: Host, Network, Subnet, Port, or a plugin kind.' })
  @Column({ type: 'varchar', length: 64 })
  kind!: string;

  @Field(() => ID)
  @Column({ name: 'resource_id', type: 'varchar', length: 36 })
  id!: string;

  @Field(() => ChangeOperation)
  @Column({ type: 'varchar', length: 8 })
  operation!: ChangeOperation;

  @Field(() => Int)
  @Column({ type: 'integer' })
  generation!: number;

  @Field()
  @Column({ name: 'created_at', type: 'varchar', length: 32, transformer: isoDateColumn })
  createdAt!: Date;
}
