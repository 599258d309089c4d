import { Field, Int, ObjectType } from '@nestjs/graphql';
import { Column, Entity } from 'typeorm';
import { ResourceEntity } from '../common/resource.entity';

@ObjectType({ description: 'A machine running a NetLoom agent.' })
@Entity('hosts')
export class Host extends ResourceEntity {
  @Field({ description: 'Underlay address this host terminates VXLAN on.' })
  @Column({ name: 'vtep_address', type: 'varchar', length: 45 })
  vtepAddress!: string;

  @Field(() => Int, { description: 'MTU of the underlay; ports get it minus 50 (VXLAN) unless their network sets one.' })
  @Column({ name: 'underlay_mtu', type: 'integer', default: 1500 })
  underlayMtu!: number;

  /** SHA-256 of the one-time join token; null once used. */
  @Column({ name: 'join_token_hash', type: 'varchar', length: 64, nullable: true })
  joinTokenHash!: string | null;
}
