import { Field, ID, InputType } from '@nestjs/graphql';
import { CreateResourceInput, ResourceFilter, UpdateResourceInput } from '../../common/inputs';

@InputType({ description: 'An address request: a subnet (allocate from it), an address (find its subnet), or both.' })
export class FixedIpInput {
  @Field(() => ID, { nullable: true }) subnetId?: string;
  @Field({ nullable: true }) ipAddress?: string;
}

@InputType()
export class CreatePortInput extends CreateResourceInput {
  @Field(() => ID) networkId!: string;
  @Field(() => ID) hostId!: string;
  @Field({ nullable: true, description: 'Generated (locally administered) when omitted.' }) macAddress?: string;
  @Field(() => [FixedIpInput], {
    nullable: true,
    description: "Omitted: one address from the network's first IPv4 and first IPv6 subnet. []: no address.",
  })
  fixedIps?: FixedIpInput[];
  @Field({ nullable: true, description: 'Put the port in this existing namespace instead of one the agent creates.' })
  netns?: string;
}

@InputType()
export class UpdatePortInput extends UpdateResourceInput {}

@InputType()
export class PortFilter extends ResourceFilter {
  @Field(() => ID, { nullable: true }) networkId?: string;
  @Field(() => ID, { nullable: true }) hostId?: string;
}
