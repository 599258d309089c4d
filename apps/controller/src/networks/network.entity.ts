import { Field, Int, ObjectType } from '@nestjs/graphql';
import { Column, Entity } from 'typeorm';
import { ResourceEntity } from '../common/resource.entity';
import { Node } from '../common/node';

@ObjectType({
  description: 'An L2 segment, carried between hosts as one VXLAN VNI, or, as a provider network, on a physical network (flat or VLAN-tagged).',
  implements: () => [Node],
})
@Entity('networks')
export class Network extends ResourceEntity {
  @Field(() => Int, { description: 'VXLAN network identifier; a provider network keeps one reserved, unused.' })
  @Column({ type: 'integer' })
  vni!: number;

  @Field(() => String, {
    nullable: true,
    description: 'The physical network (e.g. physnet1) this provider network is bound to; each host maps it to an interface (Host.providerMappings). Null: an overlay.',
  })
  @Column({ name: 'provider_interface', type: 'varchar', length: 32, nullable: true })
  providerInterface!: string | null;

  @Field(() => Int, { nullable: true, description: '802.1Q tag of a provider network (1-4094); null: flat (untagged), or an overlay.' })
  @Column({ name: 'vlan_id', type: 'integer', nullable: true })
  vlanId!: number | null;

  @Field(() => Int, { nullable: true, description: 'Port MTU; null means underlay MTU minus the VXLAN overhead (1500 on a provider network).' })
  @Column({ type: 'integer', nullable: true })
  mtu!: number | null;
}
