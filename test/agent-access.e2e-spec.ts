/**
 * Who may use the agent channel, end to end against a real controller process: an agent speaks
 * only for the resources it was sent (a hostile one, speaking the protocol directly, writes
 * nothing else, and what it sent is counted), and a channel ends as soon as its host credential
 * is voided or its host deleted (a real agent, in the root namespace with a per-run prefix).
 */
import { randomInt, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Client } from 'graphql-ws';
import { readStoredDesired } from '../apps/agent/src/state-store';
import { AgentProcess, baseUrl, cleanupKernel, leftovers, sleep, waitFor } from './support/agent';
import { FakeAgent, fakeAgent } from './support/fake-agent';
import { createHost, createNetwork, createPort, revision, uniqueName, useController } from './support/fixtures';

jest.setTimeout(90_000);

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** This run's agent prefix: 'k' + 3 random [a-z0-9]. */
const P = `k${Array.from({ length: 3 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('')}`;

interface StatusView {
  hostId: string;
  kind?: string;
  resourceId?: string;
  state: string;
  reason: string | null;
  generation?: number;
}

describe(`agent channel access (prefix ${P})`, () => {
  const ctl = useController();
  const fakes: FakeAgent[] = [];
  const clients: Client[] = [];
  let agent: AgentProcess | undefined;
  let stateDir = '';

  afterAll(async () => {
    for (const fake of fakes) fake.ws.terminate();
    for (const client of clients) await client.dispose();
    if (agent) await agent.kill9().catch(() => undefined);
    const removed = await cleanupKernel(P).catch((error: unknown) => [`cleanup failed: ${String(error)}`]);
    if (removed.length) process.stderr.write(`agent-access e2e cleanup (${P}) removed: ${removed.join(' ')}\n`);
    const left = await leftovers(P).catch(() => []);
    if (left.length) process.stderr.write(`agent-access e2e cleanup (${P}) LEFT: ${left.join(' ')}\n`);
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  const joinHost = async (joinToken: string): Promise<FakeAgent> => {
    const fake = await fakeAgent(baseUrl(ctl().url), joinToken);
    fakes.push(fake);
    return fake;
  };

  const portStatus = async (id: string): Promise<StatusView[]> =>
    (await ctl().ok<{ port: { status: StatusView[] } }>('query($id: ID!) { port(id: $id) { status { hostId state reason generation } } }', { id })).port.status;

  const hostAgent = async (id: string, fields = 'state connected appliedRevision') =>
    (
      await ctl().ok<{ host: { agent: { state: string; connected: boolean; appliedRevision: number; droppedStatuses?: number } | null } }>(
        `query($id: ID!) { host(id: $id) { agent { ${fields} } } }`,
        { id },
      )
    ).host.agent;

  it("a hostile agent writes no status for another host's port, unknown ids or oversized attributes; the drops are counted", async () => {
    const c = ctl();
    const hostA = await createHost(c);
    const hostB = await createHost(c);
    const network = await createNetwork(c);
    const pa = await createPort(c, network.id, hostA.host.id);
    const pb = await createPort(c, network.id, hostB.host.id);
    const a = await joinHost(hostA.joinToken);
    const b = await joinHost(hostB.joinToken);
    const status = (id: string, over: Record<string, unknown> = {}) => ({ kind: 'Port', id, generation: 1, state: 'APPLIED', attributes: { netns: 'fake' }, ...over });
    b.ack([status(pb.id)]);
    a.ack([status(pa.id)]);
    await waitFor(async () => (await portStatus(pa.id)).length === 1 && (await portStatus(pb.id)).length === 1, 5_000, 50, 'both ports APPLIED');
    const bBefore = await portStatus(pb.id);
    expect(bBefore).toEqual([{ hostId: hostB.host.id, state: 'APPLIED', reason: null, generation: 1 }]);

    // Every status change the controller stores is published: watch them all.
    const ws = c.ws();
    clients.push(ws);
    const events: StatusView[] = [];
    ws.subscribe(
      { query: 'subscription { resourceStatusChanges { hostId kind resourceId state reason } }' },
      { next: (m) => events.push((m.data as { resourceStatusChanges: StatusView }).resourceStatusChanges), error: () => undefined, complete: () => undefined },
    );
    // Subscriptions start asynchronously: report changes of A's own port until one arrives, then drain.
    for (let i = 0; i < 50 && !events.length; i++) {
      a.ack([status(pa.id, { state: 'FAILED', reason: `warm-up ${i}` })]);
      await sleep(100);
    }
    a.ack([status(pa.id, { state: 'FAILED', reason: 'ready' })]);
    await waitFor(() => events.some((e) => e.reason === 'ready'), 5_000, 20, 'the subscription');
    events.length = 0;

    const logMark = c.output.length;
    const revisionBefore = await revision(c);
    // B's port, FAILED, claiming a revision far ahead.
    a.ack([status(pb.id, { state: 'FAILED', reason: 'spoofed by A' })], { revision: 1e9 });
    // 20 000 ids never sent to anyone.
    a.ack(Array.from({ length: 20_000 }, () => status(randomUUID(), { state: 'FAILED', reason: 'bogus' })));
    // Its own port, with 3 MiB of attributes.
    a.ack([status(pa.id, { state: 'FAILED', reason: 'oversized', attributes: { big: 'x'.repeat(3 * 1024 * 1024) } })]);
    // Acks are handled in order: once this one is visible, the others were handled.
    const started = Date.now();
    a.ack([status(pa.id, { state: 'APPLIED', reason: null })]);
    await waitFor(() => events.length > 0, 10_000, 20, 'the last ack');
    process.stderr.write(`agent-access e2e: hostile acks handled in ${Date.now() - started} ms\n`);

    expect(events).toEqual([{ hostId: hostA.host.id, kind: 'Port', resourceId: pa.id, state: 'APPLIED', reason: null }]);
    expect(await portStatus(pb.id)).toEqual(bBefore);
    expect(await portStatus(pa.id)).toEqual([{ hostId: hostA.host.id, state: 'APPLIED', reason: null, generation: 1 }]);
    // Nothing else was written: one status row per port, and A's attributes are the small ones.
    const db = new Database(join(c.dataDir, 'netloom.sqlite'), { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare('SELECT host_id AS hostId, resource_id AS resourceId, length(attributes) AS size FROM resource_statuses ORDER BY host_id').all();
      expect(rows).toHaveLength(2);
      expect(rows).toEqual(
        expect.arrayContaining([
          { hostId: hostA.host.id, resourceId: pa.id, size: expect.any(Number) },
          { hostId: hostB.host.id, resourceId: pb.id, size: expect.any(Number) },
        ]),
      );
      for (const row of rows as { size: number }[]) expect(row.size).toBeLessThan(100);
    } finally {
      db.close();
    }

    // Counted, and visible to an operator; the claimed revision was not taken.
    const agentA = await hostAgent(hostA.host.id, 'state appliedRevision droppedStatuses');
    expect(agentA).toMatchObject({ state: 'CONNECTED', droppedStatuses: 20_002 });
    expect(agentA!.appliedRevision).toBeLessThanOrEqual(revisionBefore);
    expect((await hostAgent(hostB.host.id, 'droppedStatuses'))!.droppedStatuses).toBe(0);
    // One log line per ack, with a summary.
    const log = c.output.slice(logMark).join('\n');
    const lines = log.split('\n').filter((line) => line.includes('statuses dropped'));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/1 of 1 statuses dropped \(1 not sent to this host\)/);
    expect(lines[1]).toMatch(/20000 of 20000 statuses dropped/);
    expect(lines[2]).toMatch(/1 of 1 statuses dropped \(1 oversized\)/);

    // The controller still serves, and B still reports.
    const askedAt = Date.now();
    expect(await revision(c)).toBe(revisionBefore);
    expect(Date.now() - askedAt).toBeLessThan(1_000);
    b.ack([status(pb.id, { state: 'FAILED', reason: 'B speaks' })]);
    await waitFor(async () => (await portStatus(pb.id))[0]?.reason === 'B speaks', 5_000, 50, "B's own report");
  });

  it('deleting a host drains its agent first (an empty desired state), then closes the channel within 1 s of its ack', async () => {
    const c = ctl();
    const host = await createHost(c);
    const fake = await joinHost(host.joinToken);
    const before = fake.revision();
    await c.ok('mutation($input: CascadeDeleteInput!) { deleteHost(input: $input) { deletedIds } }', { input: { id: host.host.id } });
    await waitFor(() => fake.revision() > before, 5_000, 20, 'the update that empties the host');
    expect(await Promise.race([fake.closed, sleep(300).then(() => 'open')])).toBe('open'); // kept open until it confirms
    const ackedAt = Date.now();
    fake.ack([]);
    const closed = await Promise.race([fake.closed, sleep(5_000).then(() => null)]);
    expect(closed).toEqual({ code: 4410, reason: 'host deleted', at: expect.any(Number) });
    expect(closed!.at - ackedAt).toBeLessThan(1_000);
  });

  it('resetHostJoinToken closes a real agent’s channel within 1 s, and it receives no update after', async () => {
    const c = ctl();
    const created = await createHost(c, uniqueName(`${P}-host`));
    const hostId = created.host.id;
    stateDir = mkdtempSync(join(tmpdir(), `netloom-agent-${P}-`));
    agent = await AgentProcess.start({ controllerUrl: baseUrl(c.url), joinToken: created.joinToken, prefix: P, stateDir, resyncMs: 2_000 });
    await agent.waitForLog(/joined as host/, 15_000);
    await waitFor(async () => (await hostAgent(hostId))?.state === 'CONNECTED', 15_000, 100, 'agent connected');
    const network = await createNetwork(c, { name: uniqueName(`${P}-net`) });
    const first = await c.ok<{ createPort: { id: string; status: { state: string }[] } }>(
      'mutation($input: CreatePortInput!) { createPort(input: $input, wait: true) { id status { state } } }',
      { input: { name: uniqueName(`${P}-port`), networkId: network.id, hostId } },
    );
    expect(first.createPort.status).toEqual([{ state: 'APPLIED' }]);
    // A port made and deleted: a real agent's statuses are all taken (none counted as dropped).
    const passing = await c.ok<{ createPort: { id: string } }>('mutation($input: CreatePortInput!) { createPort(input: $input, wait: true) { id } }', {
      input: { name: uniqueName(`${P}-port`), networkId: network.id, hostId },
    });
    await c.ok('mutation($input: DeleteInput!) { deletePort(input: $input, wait: true) { deletedIds } }', { input: { id: passing.createPort.id } });
    expect(await hostAgent(hostId, 'state droppedStatuses')).toEqual({ state: 'CONNECTED', droppedStatuses: 0 });

    const mark = agent.mark();
    const resetAt = Date.now();
    await c.ok('mutation($id: ID!) { resetHostJoinToken(id: $id) { joinToken } }', { id: hostId });
    const disconnectedAt = await waitFor(async () => (await hostAgent(hostId))?.state === 'DISCONNECTED' && Date.now(), 5_000, 20, 'agent disconnected');
    process.stderr.write(`agent-access e2e: agent channel closed ${disconnectedAt - resetAt} ms after the reset was sent\n`);
    expect(disconnectedAt - resetAt).toBeLessThan(1_000);
    await agent.waitForLog(/controller: credential revoked/, 2_000, mark);

    // An update for this host is committed; the agent tries again after it and is refused.
    const second = await createPort(c, network.id, hostId, { name: uniqueName(`${P}-port`) });
    const afterUpdate = agent.mark();
    await agent.waitForLog(/refused the connection: HTTP 401/, 15_000, afterUpdate);
    expect(agent.running).toBe(true);
    // What the agent stored (its snapshot and the changes logged since).
    const ids = readStoredDesired(stateDir)!.value.resources.map((r) => r.id);
    expect(ids).toContain(first.createPort.id);
    expect(ids).not.toContain(second.id);
    expect(await portStatus(second.id)).toEqual([]);
    expect((await hostAgent(hostId))?.connected).toBe(false);
  });
});
