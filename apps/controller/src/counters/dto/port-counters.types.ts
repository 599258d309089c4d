import { Field, Float, ID, ObjectType } from '@nestjs/graphql';

const COUNT = 'a kernel counter since the port was made on its host (it restarts at 0 when its veth is made again)';

@ObjectType({
  description:
    "A port's traffic counters on the host that holds it, from the PORT's point of view: rx is what the port received " +
    '(what its veth peer on the bridge sent), tx what the port sent. Served by the controller replica holding the ' +
    "host agent's channel (see `Host.agent.controller`); refreshed every few seconds (the agent's --counters-ms).",
})
export class PortCounters {
  @Field(() => ID, { description: 'The host these were read on.' }) hostId!: string;
  @Field(() => Date, {
    description: 'When this replica last heard from the agent: every port of the host is counted as of then. Older than a few agent periods means stale.',
  })
  updatedAt!: Date;
  @Field(() => Float, { description: `Packets the port received: ${COUNT}.` }) rxPackets!: number;
  @Field(() => Float, { description: `Bytes the port received: ${COUNT}.` }) rxBytes!: number;
  @Field(() => Float, { description: `Packets dropped on their way into the port: ${COUNT}.` }) rxDropped!: number;
  @Field(() => Float, { description: `Receive errors of the port: ${COUNT}.` }) rxErrors!: number;
  @Field(() => Float, { description: `Packets the port sent: ${COUNT}.` }) txPackets!: number;
  @Field(() => Float, { description: `Bytes the port sent: ${COUNT}.` }) txBytes!: number;
  @Field(() => Float, { description: `Packets the port sent that were dropped before the bridge: ${COUNT}.` }) txDropped!: number;
  @Field(() => Float, { description: `Send errors of the port: ${COUNT}.` }) txErrors!: number;
  @Field(() => Float, {
    nullable: true,
    description: "Frames the port sent that port security dropped (a source MAC or address not the port's); null without port security (or until the agent first read its port-security table).",
  })
  droppedSpoofedPackets!: number | null;
}
