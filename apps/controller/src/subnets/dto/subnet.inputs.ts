import { Field, ID, InputType } from '@nestjs/graphql';
import { CreateResourceInput, ResourceFilter, UpdateResourceInput } from '../../common/inputs';

@InputType({ description: 'A range of addresses IPAM allocates from, both ends included.' })
export class AllocationPoolInput {
  @Field() start!: string;
  @Field() end!: string;
}

@InputType({ description: 'A new subnet on a network.' })
export class CreateSubnetInput extends CreateResourceInput {
  @Field(() => ID) networkId!: string;
  @Field({ description: 'The network address and prefix, e.g. 10.0.0.0/24 or fd00::/64.' }) cidr!: string;
  @Field({ nullable: true, description: 'Defaults to the first address after the network address.' })
  gatewayIp?: string;
  @Field(() => [AllocationPoolInput], { nullable: true, description: 'Defaults to every usable address but the gateway.' })
  allocationPools?: AllocationPoolInput[];
  @Field(() => [String], { nullable: true }) dnsServers?: string[];
}

@InputType({ description: 'Fields left out keep their value.' })
export class UpdateSubnetInput extends UpdateResourceInput {
  @Field({ nullable: true }) gatewayIp?: string;
  @Field(() => [AllocationPoolInput], { nullable: true }) allocationPools?: AllocationPoolInput[];
  @Field(() => [String], { nullable: true }) dnsServers?: string[];
}

@InputType({ description: 'Which subnets to list: all of these must hold.' })
export class SubnetFilter extends ResourceFilter {
  @Field(() => ID, { nullable: true }) networkId?: string;
}
