import { Extensions, Field, ID, Int, ObjectType } from '@nestjs/graphql';
import { Column, Entity } from 'typeorm';
import { jsonColumn } from '../common/columns';
import { EMBEDDED } from '../common/query-limits';
import { ResourceEntity } from '../common/resource.entity';
import { Node } from '../common/node';

// Part of the subnet's row: the cost limit counts a subnet's pools once.
@ObjectType({ description: 'A range of addresses IPAM allocates from, both ends included.' })
@Extensions({ [EMBEDDED]: true })
export class AllocationPool {
  @Field() start!: string;
  @Field() end!: string;
}

@ObjectType({ description: 'An IP range on a network, with its gateway and the pools IPAM allocates from.', implements: () => [Node] })
@Entity('subnets')
export class Subnet extends ResourceEntity {
  @Field(() => ID)
  @Column({ name: 'network_id', type: 'varchar', length: 36 })
  networkId!: string;

  @Field()
  @Column({ type: 'varchar', length: 49 })
  cidr!: string;

  @Field(() => Int)
  @Column({ name: 'ip_version', type: 'integer' })
  ipVersion!: number;

  @Field()
  @Column({ name: 'gateway_ip', type: 'varchar', length: 45 })
  gatewayIp!: string;

  @Field(() => [AllocationPool])
  @Column({ name: 'allocation_pools', type: 'text', transformer: jsonColumn })
  allocationPools!: AllocationPool[];

  @Field(() => [String])
  @Column({ name: 'dns_servers', type: 'text', transformer: jsonColumn })
  dnsServers!: string[];
}
