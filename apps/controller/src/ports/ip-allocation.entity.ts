import { Field, ID, ObjectType } from '@nestjs/graphql';
import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * One address of a subnet, held by a port or by a plugin resource (a router's leg, a floating
 * IP). The primary key makes a double allocation impossible.
 */
@ObjectType('FixedIp', { description: 'An address of a port, allocated from one of its network\'s subnets.' })
@Entity('ip_allocations')
export class IpAllocation {
  @Field(() => ID)
  @PrimaryColumn({ name: 'subnet_id', type: 'varchar', length: 36 })
  subnetId!: string;

  @Field()
  @PrimaryColumn({ name: 'ip_address', type: 'varchar', length: 45 })
  ipAddress!: string;

  @Column({ name: 'port_id', type: 'varchar', length: 36, nullable: true })
  portId!: string | null;

  /** The plugin resource holding the address, when not a port. */
  @Column({ name: 'resource_id', type: 'varchar', length: 36, nullable: true })
  resourceId!: string | null;
}
