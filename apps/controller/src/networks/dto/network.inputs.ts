import { Field, InputType, Int } from '@nestjs/graphql';
import { CreateResourceInput, ResourceFilter, UpdateResourceInput } from '../../common/inputs';

@InputType({ description: 'A new network.' })
export class CreateNetworkInput extends CreateResourceInput {
  @Field(() => Int, { nullable: true, description: 'VXLAN network identifier (1-16777215); allocated when omitted.' })
  vni?: number;
  @Field(() => Int, { nullable: true, description: 'Port MTU (576-9000); by default the underlay MTU minus 50 (1500 on a provider network).' })
  mtu?: number;
  @Field(() => String, { nullable: true, description: 'Makes it a provider network on this physical network (e.g. physnet1), with no VXLAN.' })
  providerInterface?: string;
  @Field(() => Int, { nullable: true, description: 'VLAN id (1-4094) on the physical network; omitted: flat.' })
  vlanId?: number;
}

@InputType({ description: 'Fields left out keep their value.' })
export class UpdateNetworkInput extends UpdateResourceInput {
  @Field(() => Int, { nullable: true }) mtu?: number;
  @Field(() => String, { nullable: true, description: 'A physical network: the network becomes (or stays) a provider network there; null: an overlay again.' })
  providerInterface?: string | null;
  @Field(() => Int, { nullable: true, description: 'VLAN id (1-4094) of a provider network; null: flat.' })
  vlanId?: number | null;
}

@InputType({ description: 'Which networks to list: all of these must hold.' })
export class NetworkFilter extends ResourceFilter {
  @Field(() => Int, { nullable: true }) vni?: number;
}
