import { Field, Int, ObjectType } from '@nestjs/graphql';
import { Column, Entity } from 'typeorm';
import { isoDateColumn } from '../common/columns';
import { ResourceEntity } from '../common/resource.entity';
import { Node } from '../common/node';

@ObjectType({ description: 'A machine running a NetLoom agent.', implements: () => [Node] })
@Entity('hosts')
export class Host extends ResourceEntity {
  @Field({ description: 'Underlay address this host terminates VXLAN on.' })
  @Column({ name: 'vtep_address', type: 'varchar', length: 45 })
  vtepAddress!: string;

  @Field(() => Int, { description: 'MTU of the underlay; ports get it minus 50 (VXLAN) unless their network sets one.' })
  @Column({ name: 'underlay_mtu', type: 'integer', default: 1500 })
  underlayMtu!: number;

  /** SHA-256 of the one-time join token; kept after use (a lost answer may be asked again), replaced by a reset. */
  @Column({ name: 'join_token_hash', type: 'varchar', length: 64, nullable: true })
  joinTokenHash!: string | null;

  /** When the join token was exchanged; null while unused. */
  @Column({ name: 'join_token_used_at', type: 'varchar', length: 32, nullable: true, transformer: isoDateColumn })
  joinTokenUsedAt!: Date | null;
}
