import { Extensions, Field, ID, InputType, ObjectType, registerEnumType } from '@nestjs/graphql';
import { listBound } from '../../common/query-limits';

// The lists of a plan are parts of one answer computed at once (not fan-outs to more rows): counted once.
const PART = listBound({ document: true });

export enum PlanChange {
  CREATED = 'CREATED',
  CHANGED = 'CHANGED',
  DELETED = 'DELETED',
}
registerEnumType(PlanChange, { name: 'PlanChange', description: "What a change does to a resource of a host's desired state." });

@InputType({ description: 'One proposed change: a mutation and its arguments, run as the mutation itself would run.' })
export class PlanStepInput {
  @Field({ nullable: true, description: 'A name later steps refer to: `{"$ref": "<name>"}` in their arguments stands for the id this step made.' })
  name?: string;

  @Field({ description: 'The mutation field, e.g. `createPort` (intent objects only: create…, update…, delete…).' })
  mutation!: string;

  @Field({ description: 'Its arguments as a JSON object, e.g. `{"input": {"name": "web"}}` (no `wait`).' })
  arguments!: string;
}

@ObjectType({ description: 'What one step made or removed in the rolled-back run.' })
export class PlanStepResult {
  @Field({ nullable: true, description: 'The name the step was given.' }) name?: string;
  @Field({ description: 'The mutation it ran.' }) mutation!: string;
  @Extensions(PART)
  @Field(() => [ID], { description: 'The ids of the objects it created, changed or deleted (they exist only in the plan).' }) ids!: string[];
}

@ObjectType({ description: 'One command an agent would run.' })
export class PlanCommand {
  @Field({ description: '`ip` (a line of an `ip -batch`), `bridge` (of a `bridge -batch`), `tc` (of a `tc -batch`) or `nft` (of an `nft -f` script).' }) tool!: string;
  @Field(() => String, { nullable: true, description: 'The network namespace it runs in; null: the host\'s own.' }) netns!: string | null;
  @Field({ description: 'The line, as the agent would write it.' }) line!: string;
}

@ObjectType({ description: 'A top-level field of a resource\'s desired spec that the change sets.' })
export class PlanFieldChange {
  @Field({ description: 'The spec field.' }) field!: string;
  @Field(() => String, { nullable: true, description: 'Its value before, as JSON; null: absent.' }) before!: string | null;
  @Field(() => String, { nullable: true, description: 'Its value after, as JSON; null: absent.' }) after!: string | null;
}

@ObjectType({ description: "A resource of a host's desired state that the change creates, changes or deletes." })
export class PlanResource {
  @Field({ description: 'The resource kind: Network, Port, or a plugin kind.' }) kind!: string;
  @Field(() => ID, { description: 'The object it realizes.' }) id!: string;
  @Field(() => String, { nullable: true, description: 'The object\'s name.' }) name!: string | null;
  @Field(() => PlanChange, { description: 'Created, changed or deleted on this host.' }) change!: PlanChange;
  @Extensions(PART)
  @Field(() => [PlanCommand], { description: 'What the core agent would run for it, in order (empty for a plugin kind).' }) commands!: PlanCommand[];
  @Extensions(PART)
  @Field(() => [PlanFieldChange], { description: 'The spec fields that change.' }) fields!: PlanFieldChange[];
  @Field({ description: 'A plugin kind: its kernel lines are decided by the plugin\'s agent half on the host, not planned here.' }) byPlugin!: boolean;
  @Extensions(PART)
  @Field(() => [String], { description: 'Why the agent could not apply it as it stands.' }) problems!: string[];
}

@ObjectType({ description: 'What one host\'s agent would change.' })
export class HostPlan {
  @Field(() => ID, { description: 'The host.' }) hostId!: string;
  @Field({ description: 'Its name.' }) hostName!: string;
  @Field({ description: 'The prefix of the Linux names in the lines.' }) prefix!: string;
  @Field({ description: 'Whether the host\'s agent reported its prefix (connected to this controller); otherwise the default `nl` is assumed.' })
  prefixReported!: boolean;
  @Extensions(PART)
  @Field(() => [PlanResource], { description: 'The resources that change there.' }) resources!: PlanResource[];
  @Extensions(PART)
  @Field(() => [PlanCommand], { description: 'The change to the host\'s port-security nft table (one `nft -f` script; empty: none).' })
  portSecurity!: PlanCommand[];
}

@ObjectType({ description: 'What a set of changes would do, computed by running them in a transaction that was rolled back.' })
export class Plan {
  @Field({ description: 'What the host lines assume.' }) assumption!: string;
  @Extensions(PART)
  @Field(() => [PlanStepResult], { description: 'Each step, in order.' }) steps!: PlanStepResult[];
  @Extensions(PART)
  @Field(() => [HostPlan], { description: 'Each host whose desired state the change alters, by name.' }) hosts!: HostPlan[];
}
