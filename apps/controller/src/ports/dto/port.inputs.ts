import { Field, ID, InputType } from '@nestjs/graphql';
import { CreateResourceInput, ResourceFilter, UpdateResourceInput } from '../../common/inputs';

@InputType({ description: 'An address request: a subnet (allocate from it), an address (find its subnet), or both.' })
export class FixedIpInput {
  @Field(() => ID, { nullable: true }) subnetId?: string;
  @Field({ nullable: true }) ipAddress?: string;
}

@InputType({ description: 'An address (or CIDR) the port may also send from, from its own MAC unless another is given.' })
export class AllowedAddressPairInput {
  @Field({ description: 'An address, or a CIDR with host bits clear (any, as in Neutron).' }) ipAddress!: string;
  @Field(() => String, { nullable: true, description: "A unicast MAC; omitted: the port's own." }) macAddress?: string | null;
}

@InputType({ description: 'A new port on a network and a host.' })
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
  @Field(() => Boolean, { nullable: true, description: 'Anti-spoofing (default true): false lets the port send from any MAC and address.' })
  portSecurity?: boolean | null;
  @Field(() => [AllowedAddressPairInput], { nullable: true, description: 'At most 10; needs portSecurity.' })
  allowedAddressPairs?: AllowedAddressPairInput[] | null;
}

@InputType({ description: 'Fields left out keep their value.' })
export class UpdatePortInput extends UpdateResourceInput {
  @Field(() => Boolean, { nullable: true }) portSecurity?: boolean | null;
  @Field(() => [AllowedAddressPairInput], { nullable: true, description: 'Replaces them all.' })
  allowedAddressPairs?: AllowedAddressPairInput[] | null;
}

@InputType({ description: 'Which ports to list: all of these must hold.' })
export class PortFilter extends ResourceFilter {
  @Field(() => ID, { nullable: true }) networkId?: string;
  @Field(() => ID, { nullable: true }) hostId?: string;
}
