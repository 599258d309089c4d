import WebSocket from 'ws';
import { AGENT_PATH, ControllerMessage, HelloMessage, JOIN_PATH, JoinResponse, parseControllerMessage, PROTOCOL_VERSION } from '@netloom/protocol';
import { waitFor } from './agent';
import type { ControllerProcess } from './controller';

/** An agent as far as the channel goes, speaking the protocol directly: it joins, says hello, takes the snapshot, and sends the acks a test writes. */
export interface FakeAgent {
  ws: WebSocket;
  hostId: string;
  /** Every message the controller sent it, oldest first. */
  messages: ControllerMessage[];
  /** Resolves when the controller (or the test) closed the channel. */
  closed: Promise<{ code: number; reason: string; at: number }>;
  /** The revision of the last message received. */
  revision(): number;
  /** Sends an ack of `statuses` (anything: a hostile agent's are not checked), for the last revision received unless told. */
  ack(statuses: unknown[], options?: { revision?: number; full?: boolean }): void;
}

/** Joins with `joinToken` at `baseUrl` (the controller URL without /graphql), says hello announcing `capabilities` (none by default), and waits for the snapshot. */
export async function fakeAgent(baseUrl: string, joinToken: string, capabilities: string[] = []): Promise<FakeAgent> {
  const joined = await fetch(`${baseUrl}${JOIN_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ joinToken }) });
  if (!joined.ok) throw new Error(`join refused: HTTP ${joined.status}`);
  const { credential, hostId } = (await joined.json()) as JoinResponse;
  const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}${AGENT_PATH}`, { headers: { authorization: `Bearer ${credential}` } });
  const messages: ControllerMessage[] = [];
  ws.on('message', (data: Buffer) => {
    const message = parseControllerMessage(data.toString('utf8'));
    if (typeof message !== 'string') messages.push(message);
  });
  const closed = new Promise<{ code: number; reason: string; at: number }>((done) =>
    ws.once('close', (code, reason) => done({ code, reason: reason.toString(), at: Date.now() })),
  );
  await new Promise((done, fail) => {
    ws.once('open', done);
    ws.once('error', fail);
  });
  const hello: HelloMessage = { type: 'hello', protocol: PROTOCOL_VERSION, agentVersion: 'fake', lastRevision: 0, capabilities, plugins: [], kernel: 'fake' };
  ws.send(JSON.stringify(hello));
  await waitFor(() => messages.some((m) => m.type === 'snapshot'), 5_000, 20, 'the snapshot');
  const revision = (): number => {
    const last = messages[messages.length - 1];
    return 'revision' in last ? last.revision : 0;
  };
  return {
    ws,
    hostId,
    messages,
    closed,
    revision,
    ack: (statuses, options = {}) =>
      ws.send(JSON.stringify({ type: 'ack', revision: options.revision ?? revision(), statuses, full: options.full ?? false })),
  };
}

/** Hosts a and b (join tokens not yet used, for fake agents) and a network with a subnet of `cidr`, made through the API of `ctl`. */
export async function twoHostSite(
  ctl: ControllerProcess,
  cidr: string,
): Promise<{ hostA: { host: { id: string }; joinToken: string }; hostB: { host: { id: string }; joinToken: string }; networkId: string; subnetId: string }> {
  const hostA = (await ctl.ok('mutation { createHost(input: { name: "a", vtepAddress: "192.0.2.1" }) { host { id } joinToken } }')).createHost;
  const hostB = (await ctl.ok('mutation { createHost(input: { name: "b", vtepAddress: "192.0.2.2" }) { host { id } joinToken } }')).createHost;
  const { createNetwork } = await ctl.ok('mutation { createNetwork(input: { name: "n" }) { id } }');
  const { createSubnet } = await ctl.ok('mutation($n: ID!, $c: String!) { createSubnet(input: { name: "s", networkId: $n, cidr: $c }) { id } }', { n: createNetwork.id, c: cidr });
  return { hostA, hostB, networkId: createNetwork.id, subnetId: createSubnet.id };
}
