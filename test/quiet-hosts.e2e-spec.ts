/**
 * A write costs the hosts it touches, not the site: a controller process from the build sends a
 * host nothing for a write that changes nothing of its desired state (no message, so no pass and
 * no ack there), and that host's `appliedRevision` still moves with the revision once it has
 * applied all it was sent — at once on the replica it is connected to, and in its row (what
 * other replicas read) with its next heartbeat. Agents here are fake (the public agent protocol,
 * no kernel), so what each was sent is counted exactly.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { baseUrl, waitFor } from './support/agent';
import { ControllerProcess } from './support/controller';
import { FakeAgent, fakeAgent, twoHostSite } from './support/fake-agent';

jest.setTimeout(60_000);

const deliveries = (agent: FakeAgent): number => agent.messages.filter((m) => m.type === 'snapshot' || m.type === 'update').length;

describe('writes send nothing to the hosts they do not touch', () => {
  let c: ControllerProcess | undefined;
  const agents: FakeAgent[] = [];

  afterAll(async () => {
    for (const agent of agents) agent.ws.terminate();
    await c?.destroy();
  });

  it("sends a write only to the host it touches; the other host's applied revision follows without a message", async () => {
    c = await ControllerProcess.start();
    const ctl = c;
    const { hostA, hostB, networkId } = await twoHostSite(ctl, '10.73.0.0/24');
    const a = await fakeAgent(baseUrl(ctl.url), hostA.joinToken);
    const b = await fakeAgent(baseUrl(ctl.url), hostB.joinToken);
    agents.push(a, b);
    const applied = async (): Promise<{ revision: number; a: number; b: number }> => {
      const data = await ctl.ok<{ revision: number; a: { agent: { appliedRevision: number } }; b: { agent: { appliedRevision: number } } }>(
        'query($a: ID!, $b: ID!) { revision a: host(id: $a) { agent { appliedRevision } } b: host(id: $b) { agent { appliedRevision } } }',
        { a: hostA.host.id, b: hostB.host.id },
      );
      return { revision: data.revision, a: data.a.agent.appliedRevision, b: data.b.agent.appliedRevision };
    };
    // Both apply their (empty) snapshots.
    a.ack([], { full: true });
    b.ack([], { full: true });
    await waitFor(async () => {
      const now = await applied();
      return now.a === now.revision && now.b === now.revision;
    }, 5_000, 20, 'both hosts applied their snapshots');
    const bBefore = deliveries(b);

    // Three ports on host a, one write each: a is sent each change; b, whose desired state none of them touches, nothing.
    const aBefore = deliveries(a);
    const ports: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { createPort } = await ctl.ok('mutation($i: CreatePortInput!) { createPort(input: $i) { id } }', { i: { name: `p${i}`, networkId: networkId, hostId: hostA.host.id } });
      ports.push(createPort.id);
    }
    const { revision } = await applied();
    await waitFor(() => a.revision() === revision, 5_000, 20, 'host a sent the last of the three writes');
    expect(deliveries(a) - aBefore).toBeGreaterThanOrEqual(1);
    expect(deliveries(b)).toBe(bBefore);

    // b applied everything it was sent: current through the last revision, with no message. a is behind until it acks.
    const before = await applied();
    expect(before.b).toBe(revision);
    expect(before.a).toBeLessThan(revision);
    a.ack(ports.map((id) => ({ kind: 'Port', id, generation: 1, state: 'APPLIED' })));
    await waitFor(async () => (await applied()).a === revision, 5_000, 20, 'host a applied the last revision');
    expect(deliveries(b)).toBe(bBefore);

    // b's row (what other replicas read) catches up with its next heartbeat.
    const stored = (): number => {
      const db = new Database(join(ctl.dataDir, 'netloom.sqlite'), { readonly: true, fileMustExist: true });
      try {
        return (db.prepare('SELECT applied_revision AS applied FROM host_agents WHERE host_id = ?').get(hostB.host.id) as { applied: number }).applied;
      } finally {
        db.close();
      }
    };
    expect(stored()).toBeLessThan(revision);
    b.ws.send(JSON.stringify({ type: 'heartbeat', revision: b.revision() }));
    await waitFor(() => stored() === revision, 5_000, 20, "host b's stored applied revision after its heartbeat");

    // A write that touches b reaches b.
    await ctl.ok('mutation($i: CreatePortInput!) { createPort(input: $i) { id } }', { i: { name: 'pb', networkId: networkId, hostId: hostB.host.id } });
    await waitFor(() => deliveries(b) > bBefore, 5_000, 20, 'host b sent the write that touches it');
  });
});
