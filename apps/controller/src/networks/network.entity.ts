import { Field, Int, ObjectType } from '@nestjs/graphql';
import { Column, Entity } from 'typeorm';
import { ResourceEntity } from '../common/resource.entity';
import { Node } from '../common/node';

@ObjectType({ description: 'An L2 segment, carried between hosts as one VXLAN VNI.', implements: () => [Node] })
@Entity('networks')
export class Network extends ResourceEntity {
  @Field(() => Int)
  @Column({ type: 'integer' })
  vni!: number;

  @Field(() => Int, { nullable: true, description: 'Port MTU; null means underlay MTU minus the VXLAN overhead.' })
  @Column({ type: 'integer', nullable: true })
  mtu!: number | null;
}
