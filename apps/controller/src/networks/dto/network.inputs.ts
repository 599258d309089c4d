import { Field, InputType, Int } from '@nestjs/graphql';
import { CreateResourceInput, ResourceFilter, UpdateResourceInput } from '../../common/inputs';

@InputType({ description: 'A new network.' })
export class CreateNetworkInput extends CreateResourceInput {
  @Field(() => Int, { nullable: true, description: 'VXLAN network identifier (1-16777215); allocated when omitted.' })
  vni?: number;
  @Field(() => Int, { nullable: true, description: 'Port MTU (576-9000); by default the underlay MTU minus 50.' })
  mtu?: number;
}

@InputType({ description: 'Fields left out keep their value.' })
export class UpdateNetworkInput extends UpdateResourceInput {
  @Field(() => Int, { nullable: true }) mtu?: number;
}

@InputType({ description: 'Which networks to list: all of these must hold.' })
export class NetworkFilter extends ResourceFilter {
  @Field(() => Int, { nullable: true }) vni?: number;
}
