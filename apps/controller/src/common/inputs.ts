import { Field, ID, InputType, Int, ObjectType } from '@nestjs/graphql';
import { LabelInput } from './label';

@InputType({ description: 'Deletes one resource; `generation`, when given, must be the current one.' })
export class DeleteInput {
  @Field(() => ID) id!: string;
  @Field(() => Int, { nullable: true }) generation?: number;
}

@InputType({ description: 'Deletes a resource that others depend on; `cascade` deletes those too.' })
export class CascadeDeleteInput extends DeleteInput {
  @Field({ defaultValue: false }) cascade!: boolean;
}

@InputType({ isAbstract: true })
export abstract class UpdateResourceInput {
  @Field(() => ID) id!: string;
  @Field(() => Int, { nullable: true, description: 'The generation you last saw; refused with CONFLICT if stale.' })
  generation?: number;
  @Field({ nullable: true }) name?: string;
  @Field(() => [LabelInput], { nullable: true, description: 'Replaces all labels.' }) labels?: LabelInput[];
}

@InputType({ isAbstract: true })
export abstract class CreateResourceInput {
  @Field() name!: string;
  @Field(() => [LabelInput], { nullable: true }) labels?: LabelInput[];
}

@InputType({ isAbstract: true })
export abstract class ResourceFilter {
  @Field({ nullable: true, description: 'Exact name.' }) name?: string;
  @Field(() => [LabelInput], { nullable: true, description: 'Every one of these labels must match.' })
  labels?: LabelInput[];
}

@ObjectType({ description: 'What a delete removed.' })
export class DeletePayload {
  @Field(() => [ID], { description: 'Every resource deleted, the one asked for first.' }) deletedIds!: string[];
  @Field(() => Int, { description: 'The change-feed revision of the deletion.' }) revision!: number;
}
