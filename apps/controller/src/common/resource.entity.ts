import { Extensions, Field, ID, Int, ObjectType } from '@nestjs/graphql';
import { MAX_LABELS } from '@netloom/model';
import { Column, PrimaryColumn } from 'typeorm';
import { isoDateColumn } from './columns';
import { Label, labelsColumn } from './label';
import { listBound } from './query-limits';

/** What every intent resource has: a time-ordered id, a name, labels, generation, timestamps. */
@ObjectType({ isAbstract: true })
export abstract class ResourceEntity {
  @Field(() => ID)
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Field()
  @Column({ type: 'varchar', length: 63 })
  name!: string;

  @Field(() => [Label])
  @Extensions(listBound({ items: MAX_LABELS }))
  @Column({ type: 'text', transformer: labelsColumn })
  labels!: Label[];

  @Field(() => Int, { description: 'Bumped on every change; pass it back to update or delete safely.' })
  @Column({ type: 'integer' })
  generation!: number;

  @Field()
  @Column({ name: 'created_at', type: 'varchar', length: 32, transformer: isoDateColumn })
  createdAt!: Date;

  @Field()
  @Column({ name: 'updated_at', type: 'varchar', length: 32, transformer: isoDateColumn })
  updatedAt!: Date;
}
