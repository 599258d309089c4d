import { Extensions, Field, ID, InputType, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { listBound } from '../../common/query-limits';

/** A trace's lists are parts of one computed answer (a path has a few hops; the rules are those whose counters moved). */
const PART = listBound({ document: true });

export enum TraceProtocol {
  ICMP = 'ICMP',
  TCP = 'TCP',
}
registerEnumType(TraceProtocol, { name: 'TraceProtocol', description: 'ICMP: one echo request; TCP: one connection attempt to `port`.' });

export enum TraceVerdict {
  DELIVERED = 'DELIVERED',
  DROPPED = 'DROPPED',
  NO_ANSWER = 'NO_ANSWER',
}
registerEnumType(TraceVerdict, {
  name: 'TraceVerdict',
  description: 'DELIVERED: answered; DROPPED: not answered and a DROP or REJECT rule counted it; NO_ANSWER: not answered, no counted rule dropped it.',
});

export enum TraceHopKind {
  PORT = 'PORT',
  BRIDGE = 'BRIDGE',
  OVERLAY = 'OVERLAY',
  PHYSICAL = 'PHYSICAL',
  ROUTER = 'ROUTER',
  NAT = 'NAT',
  LOAD_BALANCER = 'LOAD_BALANCER',
  EXTERNAL = 'EXTERNAL',
  NO_ROUTE = 'NO_ROUTE',
}
registerEnumType(TraceHopKind, {
  name: 'TraceHopKind',
  description: "What a hop of a trace crosses. OVERLAY: a network's VXLAN between two hosts; PHYSICAL: a provider network's physical network between two hosts.",
});

@InputType({ description: 'A probe from a port to one destination: a port, an IPv4 address, or a load balancer (its VIP).' })
export class TraceInput {
  @Field(() => ID, { description: 'The port the probe is sent from (in its namespace).' }) fromPortId!: string;
  @Field(() => ID, { nullable: true, description: 'To this port (its first IPv4 address).' }) toPortId?: string;
  @Field({ nullable: true, description: 'To this IPv4 address (a port, a VIP, a floating IP or outside).' }) toAddress?: string;
  @Field(() => ID, { nullable: true, description: "To this load balancer's VIP." }) toLoadBalancerId?: string;
  @Field(() => TraceProtocol, { nullable: true, description: 'ICMP unless given.' }) protocol?: TraceProtocol;
  @Field(() => Int, { nullable: true, description: 'The destination port (TCP: required, 1-65535).' }) port?: number;
  @Field(() => Int, { nullable: true, description: 'How long the probe waits for an answer, 100-10000 ms (default 2000).' }) timeoutMs?: number;
}

@ObjectType({ description: 'One step of the path, explained from the intent.' })
export class TraceHop {
  @Field(() => TraceHopKind) kind!: TraceHopKind;
  @Field({ description: 'The port, network, router or load balancer crossed.' }) name!: string;
  @Field(() => String, { nullable: true, description: 'The host it happens on.' }) host!: string | null;
  @Field() detail!: string;
}

@ObjectType({ description: 'A firewall rule (or a policy default) whose counter moved during the probe.' })
export class TraceRuleHit {
  @Field(() => ID) policyId!: string;
  @Field() policyName!: string;
  @Field(() => Int, { nullable: true, description: "The rule's priority; null for the policy's default." }) rule!: number | null;
  @Field(() => String, { nullable: true, description: "For a default: its direction." }) direction!: string | null;
  @Field() action!: string;
  @Field(() => Int, { description: 'Packets counted between the reads before and after the probe.' }) packets!: number;
  @Field(() => String, { nullable: true, description: 'The port whose namespace counted it.' }) portName!: string | null;
  @Field(() => String, { nullable: true }) host!: string | null;
}

@ObjectType({ description: 'The load-balancer member whose new-connection counter moved.' })
export class TraceMember {
  @Field() name!: string;
  @Field() address!: string;
  @Field(() => Int) port!: number;
  @Field(() => String, { nullable: true }) portName!: string | null;
  @Field(() => String, { nullable: true }) host!: string | null;
}

@ObjectType({ description: 'What the probe itself saw.' })
export class TraceProbe {
  @Field({ description: 'Answered (an echo reply, a connection accepted).' }) ok!: boolean;
  @Field() detail!: string;
  @Field({ description: 'Milliseconds.' }) ms!: number;
}

@ObjectType({ description: 'A real probe from a port, explained: the path, the verdict, the rules and member whose counters moved.' })
export class TracePayload {
  @Field(() => TraceVerdict) verdict!: TraceVerdict;
  @Field({ description: 'One sentence: the verdict, the rule that decided, the member chosen.' }) summary!: string;
  @Field() fromPort!: string;
  @Field({ description: 'The address probed.' }) address!: string;
  @Field({ description: 'What the address is.' }) target!: string;
  @Field(() => TraceProtocol) protocol!: TraceProtocol;
  @Field(() => Int, { nullable: true }) port!: number | null;
  @Extensions(PART)
  @Field(() => [TraceHop]) hops!: TraceHop[];
  @Field(() => TraceProbe) probe!: TraceProbe;
  @Extensions(PART)
  @Field(() => [TraceRuleHit]) rules!: TraceRuleHit[];
  @Field(() => TraceMember, { nullable: true }) member!: TraceMember | null;
  @Field({ description: 'How rules and members are attributed (counter deltas: concurrent traffic can move them too).' }) attribution!: string;
}
