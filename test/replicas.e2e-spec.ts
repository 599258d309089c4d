/**
 * Two controller replicas (real binaries from dist/) on one throwaway PostgreSQL, three simulated
 * hosts whose real agents are each given both replicas' agent sockets (SQLite stays one
 * controller's: test/store.e2e-spec.ts). Writes go through either
 * replica with wait: true and are realized whichever replica each agent is on; one replica is
 * killed -9 in the middle of a stream of writes: its agents move to the other within seconds,
 * every acknowledged write is there, a ping across hosts never stops, and a client subscribed on
 * the survivor sees every change made after it subscribed. Every name carries a per-run prefix;
 * everything is removed afterwards, even on failure.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'graphql-ws';
import { ControllerProcess, SimulatedHosts } from '@netloom/simhosts';
import { ping, sleep, waitFor, waitForDist } from './support/agent';
import { dist } from './support/paths';
import { PostgresCluster } from './support/postgres';

jest.setTimeout(240_000);

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** This run's prefix: 'r' + 3 random [a-z0-9]. */
const P = `r${Array.from({ length: 3 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('')}`;
const HOSTS = [0, 1, 2] as const;
/** Echo requests lost across the kill that the test accepts (at 10 per second: 0.2 s of traffic). */
const MAX_LOST_PINGS = 2;
/** How long the survivor may take to serve the dead replica's agents. */
const MOVE_WITHIN_MS = 10_000;

interface PortView {
  id: string;
  hostId: string;
  fixedIps: { ipAddress: string }[];
  status: { hostId: string; state: string; attributes: { key: string; value: string }[] }[];
}

interface AgentView {
  id: string;
  agent: { state: string; connected: boolean; controller: string | null } | null;
}

const dir = mkdtempSync(join(tmpdir(), `netloom-${P}-`));
let pg: PostgresCluster | undefined;
let sim: SimulatedHosts | undefined;
const replicas: ControllerProcess[] = [];
const sockets = [join(dir, 'a.sock'), join(dir, 'b.sock')];
const hostIds: string[] = [];
const clients: Client[] = [];
const notes: string[] = [];
let networkId = '';
let seq = 0;

const replicaId = (c: ControllerProcess): string => `${hostname()}:${c.pid}`;
const hosts = (): SimulatedHosts => {
  if (!sim) throw new Error('no simulated hosts');
  return sim;
};

function agentTails(n = 15): string {
  return HOSTS.map((i) => `--- agent in ${hosts().hosts[i].name}:\n${(hosts().agent(i)?.lines ?? []).slice(-n).join('\n')}`).join('\n');
}

async function withAgentLogs<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${agentTails()}`);
  }
}

/** Each host's agent as replica `c` sees it. */
async function agents(c: ControllerProcess): Promise<AgentView[]> {
  const data = await c.ok<{ hosts: { edges: { node: AgentView }[] } }>('{ hosts(first: 100) { edges { node { id agent { state connected controller } } } } }');
  return hostIds.map((id) => data.hosts.edges.find((e) => e.node.id === id)!.node);
}

/** Which replica serves each host's agent, as replica `c` sees it (the replica's id, or null). */
async function servedBy(c: ControllerProcess): Promise<(string | null)[]> {
  return (await agents(c)).map((a) => (a.agent?.state === 'CONNECTED' ? a.agent.controller : null));
}

const portInput = (host: number): Record<string, unknown> => ({ name: `${P}-port-${++seq}`, networkId, hostId: hostIds[host] });
const PORT_FIELDS = 'id hostId fixedIps { ipAddress } status { hostId state attributes { key value } }';

async function createPort(c: ControllerProcess, host: number): Promise<PortView> {
  const data = await c.ok<{ createPort: PortView }>(`mutation($input: CreatePortInput!) { createPort(input: $input, wait: true) { ${PORT_FIELDS} } }`, {
    input: portInput(host),
  });
  return data.createPort;
}

async function getPort(c: ControllerProcess, id: string): Promise<PortView | null> {
  return (await c.ok<{ port: PortView | null }>(`query($id: ID!) { port(id: $id) { ${PORT_FIELDS} } }`, { id })).port;
}

/** A port's traffic counters as replica `c` answers them (null: not held there). */
async function countersOf(c: ControllerProcess, id: string): Promise<{ txPackets: number; hostId: string } | null> {
  return (await c.ok<{ port: { counters: { txPackets: number; hostId: string } | null } }>('query($id: ID!) { port(id: $id) { counters { txPackets hostId } } }', { id })).port.counters;
}

const netnsOf = (p: PortView): string => p.status.find((s) => s.hostId === p.hostId)!.attributes.find((a) => a.key === 'netns')!.value;
const ipOf = (p: PortView): string => p.fixedIps[0].ipAddress;

/** Collects what a graphql-ws subscription delivers. */
function subscribe<T>(c: ControllerProcess, query: string, pick: (data: Record<string, unknown>) => T): { events: T[]; errors: unknown[] } {
  const client = c.ws();
  clients.push(client);
  const events: T[] = [];
  const errors: unknown[] = [];
  client.subscribe<Record<string, unknown>>(
    { query },
    {
      next: (message) => (message.data ? events.push(pick(message.data)) : errors.push(message.errors)),
      error: (error) => errors.push(error),
      complete: () => undefined,
    },
  );
  return { events, errors };
}

/** A ping every 100 ms from `ns` to `ip` until stopped; replies() counts the answers so far, stop() returns what it sent and what came back. */
function continuousPing(ns: string, ip: string): { replies: () => number; stop: () => Promise<{ sent: number; received: number; output: string }> } {
  const child: ChildProcess = spawn('ip', ['netns', 'exec', ns, 'ping', '-n', '-i', '0.1', '-W', '1', ip], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  return {
    replies: () => output.split('\n').filter((line) => /bytes from .* icmp_seq=/.test(line)).length,
    stop: async () => {
      child.kill('SIGINT');
      await exited;
      const summary = /(\d+) packets transmitted, (\d+) received/.exec(output);
      if (!summary) throw new Error(`no ping summary:\n${output.slice(-2000)}`);
      return { sent: Number(summary[1]), received: Number(summary[2]), output };
    },
  };
}

beforeAll(async () => {
  await waitForDist();
  pg = await PostgresCluster.create();
  const database = await pg.createDatabase();
  for (const [i, socket] of sockets.entries()) {
    const c = new ControllerProcess(join(dir, `replica-${i}`), { database });
    await c.launch(['--agent-socket', socket]);
    replicas.push(c);
  }
  // The bootstrap admin token is printed once, by the replica that created it.
  replicas[1].adminToken ||= replicas[0].adminToken;
  sim = await SimulatedHosts.create({ prefix: P, count: HOSTS.length });
  for (const i of HOSTS) {
    // Agents dial a first (hosts 0 and 2) or b first (host 1); each host is made, and so its join
    // token, through the other replica: the join exchange works on any.
    const via = replicas[(i + 1) % 2];
    const { createHost } = await via.ok<{ createHost: { host: { id: string }; joinToken: string } }>(
      'mutation($name: String!, $vtep: String!) { createHost(input: { name: $name, vtepAddress: $vtep }) { host { id } joinToken } }',
      { name: sim.hosts[i].name, vtep: sim.hosts[i].vtep },
    );
    hostIds.push(createHost.host.id);
    const order = i % 2 === 0 ? sockets : [...sockets].reverse();
    sim.startAgent(i, {
      controller: order.map((s) => `unix:${s}`),
      joinToken: createHost.joinToken,
      stateDir: mkdtempSync(join(dir, `agent-${i}-`)),
      agentMain: dist('apps/agent/src/main.js'),
      resyncMs: 2_000,
      countersMs: 500,
    });
  }
  const expected = [replicaId(replicas[0]), replicaId(replicas[1]), replicaId(replicas[0])];
  for (const c of replicas) {
    await withAgentLogs(waitFor(async () => JSON.stringify(await servedBy(c)) === JSON.stringify(expected), 30_000, 200, 'agents on their first replica'));
  }
  const net = await replicas[0].ok<{ createNetwork: { id: string } }>('mutation($input: CreateNetworkInput!) { createNetwork(input: $input, wait: true) { id } }', {
    input: { name: `${P}-net` },
  });
  networkId = net.createNetwork.id;
  await replicas[1].ok('mutation($input: CreateSubnetInput!) { createSubnet(input: $input, wait: true) { id } }', {
    input: { name: `${P}-subnet`, networkId, cidr: '10.77.0.0/24' },
  });
});

afterAll(async () => {
  for (const client of clients) await client.dispose();
  await sim?.destroy();
  for (const c of replicas) await c.destroy();
  await pg?.destroy();
  rmSync(dir, { recursive: true, force: true });
  if (notes.length) process.stdout.write(`replicas e2e:\n${notes.map((n) => `  ${n}`).join('\n')}\n`);
});

describe('two controller replicas on one PostgreSQL', () => {
  let ports: PortView[] = [];

  it('serves writes through either replica: each is realized by the replica the agent is on, wait: true answers once applied, statuses stream on both', async () => {
    const [a, b] = replicas;
    const statuses = subscribe(a, 'subscription { resourceStatusChanges(kinds: ["Port"]) { resourceId hostId state } }', (d) => d.resourceStatusChanges as { resourceId: string; hostId: string; state: string });
    // Each port is written through the replica that does NOT serve its host's agent (0, 2: a; 1: b).
    ports = [];
    for (const i of HOSTS) ports.push(await withAgentLogs(createPort(i === 1 ? a : b, i)));
    for (const [i, p] of ports.entries()) {
      // Answered after the agent applied it: the status is already there, through either replica.
      expect(p.status).toEqual([expect.objectContaining({ hostId: hostIds[i], state: 'APPLIED' })]);
      expect((await getPort(i === 1 ? b : a, p.id))?.status).toEqual([expect.objectContaining({ hostId: hostIds[i], state: 'APPLIED' })]);
    }
    // A subscriber on a hears host 1's statuses too, which b stored.
    await waitFor(() => ports.every((p) => statuses.events.some((e) => e.resourceId === p.id && e.hostId === p.hostId && e.state === 'APPLIED')), 10_000, 100, 'status events on a');
    expect(statuses.errors).toEqual([]);
    // Across hosts, over VXLAN, whichever replica configured each end.
    for (const i of HOSTS) {
      const to = ports[(i + 1) % HOSTS.length];
      await withAgentLogs(waitFor(() => ping(netnsOf(ports[i]), ipOf(to)), 5_000, 100, `ping from host ${i} to host ${(i + 1) % HOSTS.length}`));
    }
    // Port counters live in the memory of the replica holding the host's agent (a: hosts 0 and 2,
    // b: host 1): it shows the pings sent; the other replica has none for that host.
    for (const [i, p] of ports.entries()) {
      const [serving, other] = i === 1 ? [b, a] : [a, b];
      const shown = async (): Promise<{ txPackets: number; hostId: string } | null> => {
        const counters = await countersOf(serving, p.id);
        return counters && counters.txPackets > 0 ? counters : null;
      };
      const counters = await withAgentLogs(waitFor(shown, 10_000, 100, `counters of the port on host ${i}`));
      expect(counters).toMatchObject({ hostId: hostIds[i] });
      expect(await countersOf(other, p.id)).toBeNull();
    }
  });

  it('kill -9 of a replica mid-stream: its agents move to the other within seconds, nothing acknowledged is lost, pings do not stop, a subscriber on the survivor sees every change', async () => {
    const [a, b] = replicas;
    expect(ports).toHaveLength(3);
    // Subscribed on b from a known revision on: a marker write proves the subscription is live.
    const changes = subscribe(b, 'subscription { resourceChanges { revision kind id operation } }', (d) => d.resourceChanges as { revision: number; kind: string; id: string });
    let marker = '';
    await waitFor(
      async () => {
        marker = (await b.ok<{ createNetwork: { id: string } }>('mutation($input: CreateNetworkInput!) { createNetwork(input: $input) { id } }', { input: { name: `${P}-mark-${++seq}` } })).createNetwork.id;
        await sleep(300);
        return changes.events.some((e) => e.id === marker);
      },
      10_000,
      0,
      'the subscription on b to deliver',
    );
    const from = changes.events.find((e) => e.id === marker)!.revision;

    // Host 0 (served by a) pings host 1 (served by b), and host 2 (a) pings host 0 (a).
    const pings = [continuousPing(netnsOf(ports[0]), ipOf(ports[1])), continuousPing(netnsOf(ports[2]), ipOf(ports[0]))];
    await waitFor(() => pings.every((p) => p.replies() >= 5), 10_000, 100, 'pings answered before the kill');

    const acknowledged: string[] = [];
    const unanswered: number[] = [];
    let aDead = false;
    let k = 0;
    const write = async (): Promise<void> => {
      const via = aDead ? b : replicas[k % 2];
      const host = k % HOSTS.length;
      k++;
      try {
        acknowledged.push((await createPort(via, host)).id);
      } catch (error) {
        // Only what was sent to a as it died may go unanswered; either outcome is then accepted.
        if (via !== a) throw error;
        unanswered.push(k);
      }
    };
    for (let i = 0; i < 6; i++) await withAgentLogs(write());
    // The kill lands while a write through a is in flight.
    const inFlight = write();
    await a.kill('SIGKILL');
    aDead = true;
    const killedAt = Date.now();
    await inFlight;

    const bId = replicaId(b);
    await withAgentLogs(waitFor(async () => (await servedBy(b)).every((id) => id === bId), 30_000, 100, 'every agent served by b'));
    const movedMs = Date.now() - killedAt;
    notes.push(`agents of the killed replica served by the other after ${movedMs} ms`);
    expect(movedMs).toBeLessThan(MOVE_WITHIN_MS);

    // Writes go on through b with wait: true, now that every agent is there.
    for (let i = 0; i < 6; i++) await withAgentLogs(write());
    // The pings span the kill and the move: each is answered again 10 times after the writes.
    const afterWrites = pings.map((p) => p.replies());
    await waitFor(() => pings.every((p, i) => p.replies() >= afterWrites[i] + 10), 10_000, 100, 'pings answered after the move');
    // Host 0's agent, on b now, sends b its counters: the pinging port's show there.
    await waitFor(async () => ((await countersOf(b, ports[0].id))?.txPackets ?? 0) > 0, 10_000, 100, "host 0's port counters on b after the move");
    const results = await Promise.all(pings.map((p) => p.stop()));
    for (const [i, r] of results.entries()) {
      notes.push(`ping ${i}: ${r.sent} sent, ${r.received} received across the kill`);
      expect(r.sent - r.received).toBeLessThanOrEqual(MAX_LOST_PINGS);
    }

    // Every acknowledged write is there, realized on its host.
    notes.push(`${acknowledged.length} writes acknowledged, ${unanswered.length} unanswered at the kill`);
    expect(acknowledged.length).toBeGreaterThanOrEqual(12 - 1);
    for (const id of acknowledged) {
      const p = await getPort(b, id);
      expect(p?.status).toEqual([expect.objectContaining({ hostId: p?.hostId, state: 'APPLIED' })]);
    }

    // Every change committed after the marker reached the subscriber on b, once, in order.
    const last = (await b.ok<{ changes: { revision: number }[] }>('query($after: Int!) { changes(afterRevision: $after, first: 1000) { revision } }', { after: from })).changes;
    await waitFor(() => changes.events.filter((e) => e.revision > from).length >= last.length, 10_000, 100, 'every change on the subscription');
    expect(changes.events.filter((e) => e.revision > from).map((e) => e.revision)).toEqual(last.map((c) => c.revision));
    expect(changes.errors).toEqual([]);
  });

  it('a replica started again finds the agents on the other (not marked away); a join token reset through it closes the channel the other holds', async () => {
    const [a, b] = replicas;
    await a.launch(['--agent-socket', sockets[0]]);
    const bId = replicaId(b);
    // Rows the other replica keeps fresh are believed at once.
    expect(await servedBy(a)).toEqual([bId, bId, bId]);

    const agent = hosts().agent(1)!;
    const mark = agent.lines.length;
    const revokedAt = Date.now();
    await a.ok('mutation($id: ID!) { resetHostJoinToken(id: $id) { joinToken } }', { id: hostIds[1] });
    await withAgentLogs(agent.waitForLog(/controller: credential revoked/, 5_000, mark));
    notes.push(`a join token reset through one replica closed the channel on the other after ${Date.now() - revokedAt} ms`);
    // Neither replica takes the old credential any more.
    await withAgentLogs(agent.waitForLog(/refused the connection: HTTP 401/, 10_000, mark));
    await waitFor(async () => (await agents(a))[1].agent?.state === 'DISCONNECTED', 20_000, 200, 'host 1 disconnected, seen from the restarted replica');
    expect((await agents(b))[1].agent?.connected).toBe(false);
  });
});
