import { Field, InputType, Int, ObjectType } from '@nestjs/graphql';
import { CreateResourceInput, ResourceFilter, UpdateResourceInput } from '../../common/inputs';
import { Host } from '../host.entity';

@InputType({ description: 'A new host.' })
export class CreateHostInput extends CreateResourceInput {
  @Field({ description: 'Underlay (VTEP) address, IPv4 or IPv6.' }) vtepAddress!: string;
  @Field(() => Int, { nullable: true, description: 'Underlay MTU (1280-9216, default 1500).' }) underlayMtu?: number;
}

@InputType({ description: 'Fields left out keep their value.' })
export class UpdateHostInput extends UpdateResourceInput {
  @Field({ nullable: true }) vtepAddress?: string;
  @Field(() => Int, { nullable: true }) underlayMtu?: number;
}

@InputType({ description: 'Which hosts to list: all of these must hold.' })
export class HostFilter extends ResourceFilter {}

@ObjectType({ description: 'The new host, and the one-time token its agent joins with.' })
export class CreateHostPayload {
  @Field(() => Host) host!: Host;
  @Field({ description: "One-time token for this host's agent to join. Shown only here." }) joinToken!: string;
}
