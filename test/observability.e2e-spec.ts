import { baseUrl, waitFor } from './support/agent';
import { FakeAgent, fakeAgent } from './support/fake-agent';
import { createHost, createNetwork, createPort, uniqueName, useController } from './support/fixtures';
import { scrapeMetrics, valueOf, type Sample } from './support/prometheus';

jest.setTimeout(60_000);

describe('the controller’s /metrics, scraped as Prometheus does', () => {
  const ctl = useController();
  const agents: FakeAgent[] = [];

  afterAll(() => {
    for (const agent of agents) agent.ws.terminate();
  });

  const scrape = (): Promise<Sample[]> => scrapeMetrics(baseUrl(ctl().url));

  it('counts operations by root field and outcome, times commits and dispatches, and shows the revision', async () => {
    const c = ctl();
    const before = await scrape();
    await createNetwork(c);
    const refused = await c.gql('mutation { createNetwork(input: { name: "bad name!" }) { id } }');
    expect(refused.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    await c.ok('{ networks(first: 1) { totalCount } }');
    const after = await scrape();

    const ok = { type: 'mutation', field: 'createNetwork', code: 'OK' };
    expect(valueOf(after, 'netloom_graphql_requests_total', ok) - valueOf(before, 'netloom_graphql_requests_total', ok)).toBe(1);
    const bad = { type: 'mutation', field: 'createNetwork', code: 'BAD_USER_INPUT' };
    expect(valueOf(after, 'netloom_graphql_requests_total', bad) - valueOf(before, 'netloom_graphql_requests_total', bad)).toBe(1);
    expect(valueOf(after, 'netloom_graphql_requests_total', { type: 'query', field: 'networks', code: 'OK' })).toBeGreaterThanOrEqual(1);
    const timed = { type: 'mutation', field: 'createNetwork' };
    expect(valueOf(after, 'netloom_graphql_request_duration_seconds_count', timed) - valueOf(before, 'netloom_graphql_request_duration_seconds_count', timed)).toBe(2);
    // One write committed (the refused one never reached a transaction); the revision moved with it.
    expect(valueOf(after, 'netloom_commit_duration_seconds_count') - valueOf(before, 'netloom_commit_duration_seconds_count')).toBe(1);
    expect(valueOf(after, 'netloom_revision') - valueOf(before, 'netloom_revision')).toBe(1);
    expect(valueOf(after, 'netloom_dispatch_duration_seconds_count')).toBeGreaterThan(0);
    // Node's own, from the client library's defaults.
    expect(valueOf(after, 'process_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024);
  });

  /** A host's lag sample, undefined when there is none. */
  const lagOf = async (hostId: string): Promise<number | undefined> =>
    (await scrape()).find((s) => s.name === 'netloom_host_applied_revision_lag' && s.labels.host_id === hostId)?.value;

  it('shows agents by state and how far each host is behind', async () => {
    const c = ctl();
    const a = await createHost(c);
    const b = await createHost(c, uniqueName('host'), '192.0.2.201');
    const network = await createNetwork(c);
    const port = await createPort(c, network.id, a.host.id);
    const before = await scrape();
    const agent = await fakeAgent(baseUrl(c.url), a.joinToken);
    agents.push(agent);
    // Connected, and once it acks the revision it was sent, 0 behind; the host without an agent has no lag sample.
    agent.ack([{ kind: 'Port', id: port.id, generation: 1, state: 'APPLIED' }]);
    await waitFor(async () => (await lagOf(a.host.id)) === 0, 10_000, 100, 'host a at lag 0');
    const after = await scrape();
    expect(valueOf(after, 'netloom_agents', { state: 'CONNECTED' }) - valueOf(before, 'netloom_agents', { state: 'CONNECTED' })).toBe(1);
    expect(await lagOf(b.host.id)).toBeUndefined();
    // A change on host a it has not acked: 1 behind, then 0 once it acks.
    await createPort(c, network.id, a.host.id);
    await waitFor(async () => (await lagOf(a.host.id)) === 1, 10_000, 100, 'host a 1 behind');
    await waitFor(() => agent.revision() === valueOf(after, 'netloom_revision') + 1, 10_000, 50, 'the update');
    agent.ack([]);
    await waitFor(async () => (await lagOf(a.host.id)) === 0, 10_000, 100, 'host a caught up');
  });
});
