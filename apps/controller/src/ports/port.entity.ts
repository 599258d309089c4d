import { Extensions, Field, ID, ObjectType } from '@nestjs/graphql';
import { Column, Entity } from 'typeorm';
import { jsonColumn } from '../common/columns';
import { listBound } from '../common/query-limits';
import { ResourceEntity } from '../common/resource.entity';
import { Node } from '../common/node';

/** As Neutron's default `max_allowed_address_pair`. */
export const MAX_ADDRESS_PAIRS = 10;

@ObjectType({ description: 'An address a port may send from besides its own (VRRP, appliances).' })
export class AllowedAddressPair {
  @Field({ description: 'An address, or a CIDR with host bits clear.' }) ipAddress!: string;
  @Field(() => String, { nullable: true, description: "The MAC it is sent from; null: the port's own." }) macAddress!: string | null;
}

@ObjectType({ description: 'An endpoint on a host: a veth into a network namespace, with a MAC and fixed IPs.', implements: () => [Node] })
@Entity('ports')
export class Port extends ResourceEntity {
  @Field(() => ID)
  @Column({ name: 'network_id', type: 'varchar', length: 36 })
  networkId!: string;

  @Field(() => ID)
  @Column({ name: 'host_id', type: 'varchar', length: 36 })
  hostId!: string;

  @Field()
  @Column({ name: 'mac_address', type: 'varchar', length: 17 })
  macAddress!: string;

  @Field(() => String, {
    nullable: true,
    description: 'An existing namespace the port is placed in; null when the agent creates and owns one.',
  })
  @Column({ type: 'varchar', length: 64, nullable: true })
  netns!: string | null;

  @Field({ description: 'Anti-spoofing: the port may send only from its MAC, its fixed IPs and its allowed address pairs.' })
  @Column({ name: 'port_security', type: 'boolean', default: true })
  portSecurity!: boolean;

  @Field(() => [AllowedAddressPair])
  @Extensions(listBound({ items: MAX_ADDRESS_PAIRS }))
  @Column({ name: 'allowed_address_pairs', type: 'text', default: '[]', transformer: jsonColumn })
  allowedAddressPairs!: AllowedAddressPair[];
}
