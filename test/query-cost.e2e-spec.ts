import type { Client } from 'graphql-ws';
import { ControllerProcess, errorCode } from './support/controller';
import { createNetwork, uniqueName, useController } from './support/fixtures';

jest.setTimeout(60_000);

const HOSTS = 10;
const PORTS = 1000;

/** Counts `"id"` keys in a result: the objects a client got. */
const idsIn = (value: unknown): number => (JSON.stringify(value).match(/"id":/g) ?? []).length;

// A store big enough that unpaged nesting is expensive: 10 hosts, one network of 1000 ports
// (100 per host), made with one createPorts call. `hosts { ports { network { ports } } }`
// reached 10 × 100 × 1000 = 1 M objects when nested lists were unpaged.
describe('query cost counted from real bounds', () => {
  const ctl = useController();
  let viewer: string;

  beforeAll(async () => {
    const c = ctl();
    viewer = (await c.ok('mutation { createApiToken(input: { name: "viewer", role: VIEWER }) { secret } }')).createApiToken.secret;
    const network = await createNetwork(c);
    const hosts: string[] = [];
    for (let h = 0; h < HOSTS; h++) {
      const made = await c.ok(`mutation($name: String!, $vtep: String!) { createHost(input: { name: $name, vtepAddress: $vtep }) { host { id } } }`, {
        name: uniqueName('host'),
        vtep: `198.51.100.${h + 1}`,
      });
      hosts.push(made.createHost.host.id);
    }
    const inputs = Array.from({ length: PORTS }, (_, i) => ({ name: `p${i}`, networkId: network.id, hostId: hosts[i % HOSTS], fixedIps: [] }));
    await c.ok('mutation($p: [CreatePortInput!]!) { createPorts(inputs: $p) { id } }', { p: inputs });
  }, 60_000);

  it('refuses the hostile nested query before it runs, with a clear code', async () => {
    const c = ctl();
    // The 67-byte shape: nested lists are pages now, so it no longer even names a list of ports.
    const old = await c.gql('{ hosts { edges { node { ports { network { ports { id } } } } } } }', {}, viewer);
    expect([old.status, errorCode(old), old.data]).toEqual([400, 'GRAPHQL_VALIDATION_FAILED', undefined]);
    // The same shape with default pages: 100 × 100 × 100 objects, refused by its cost.
    const hostile = await c.gql('{ hosts { edges { node { ports { edges { node { network { ports { edges { node { id } } } } } } } } } } }', {}, viewer);
    expect(hostile.status).toBe(400);
    expect(errorCode(hostile)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(hostile.errors![0].message).toMatch(/^query cost \d{7,} exceeds the limit of 50000/);
    expect(hostile.data).toBeUndefined();
  });

  it('serves the same shape with pages that fit: as many objects as the pages say, and the real totals', async () => {
    const c = ctl();
    const data = await c.ok(
      `{ hosts(first: 10) { totalCount edges { node { ports(first: 10) { totalCount edges { node {
        network { ports(first: 50) { totalCount pageInfo { hasNextPage } edges { node { id } } } } } } } } } } }`,
      {},
      viewer,
    );
    expect(data.hosts.totalCount).toBe(HOSTS);
    for (const { node: host } of data.hosts.edges) {
      expect(host.ports.totalCount).toBe(PORTS / HOSTS);
      expect(host.ports.edges).toHaveLength(10);
      for (const { node: port } of host.ports.edges) {
        expect(port.network.ports.totalCount).toBe(PORTS);
        expect(port.network.ports.pageInfo.hasNextPage).toBe(true);
      }
    }
    expect(idsIn(data)).toBe(10 * 10 * 50);
  });

  it('counts statuses by the number of hosts, not by a guess', async () => {
    const c = ctl();
    // 1000 ports × (2 + 10 hosts × 3 fields) = 32 000: served (a guess of 20 statuses made it 62 000).
    const ok = await c.gql('{ ports(first: 1000) { edges { node { status { state reason generation } } } } }', {}, viewer);
    expect(ok.errors).toBeUndefined();
    expect(ok.data.ports.edges).toHaveLength(PORTS);
    const fields = Array.from({ length: 2 }, (_, i) => `s${i}: status { state reason generation hostId updatedAt host { id name } }`).join(' ');
    const refused = await c.gql(`{ ports(first: 1000) { edges { node { ${fields} } } } }`, {}, viewer);
    expect(refused.errors![0].message).toMatch(/^query cost \d+ exceeds/);
  });

  it('holds a port to 16 fixed IPs, the bound its fixedIps list is counted by', async () => {
    const c = ctl();
    const network = await createNetwork(c);
    await c.ok('mutation($n: ID!) { createSubnet(input: { name: "s", networkId: $n, cidr: "10.77.0.0/24" }) { id } }', { n: network.id });
    const host = (await c.ok('{ hosts(first: 1) { edges { node { id } } } }')).hosts.edges[0].node.id;
    const port = (count: number) =>
      c.gql('mutation($p: CreatePortInput!) { createPort(input: $p) { fixedIps { ipAddress } } }', {
        p: { name: uniqueName('port'), networkId: network.id, hostId: host, fixedIps: Array.from({ length: count }, (_, i) => ({ ipAddress: `10.77.0.${count * 10 + i}` })) },
      });
    const refused = await port(17);
    expect([errorCode(refused), refused.errors![0].extensions?.field]).toEqual(['BAD_USER_INPUT', 'input.fixedIps']);
    expect((await port(16)).data.createPort.fixedIps).toHaveLength(16);
  });

  describe('subscriptions per socket', () => {
    const sockets: Client[] = [];
    afterAll(async () => {
      for (const ws of sockets) await ws.dispose();
    });

    /** Subscribes and records what comes back; `refused` settles when the server answers with an error. */
    function subscribe(ws: Client, query: string) {
      const events: unknown[] = [];
      let stop = (): void => undefined;
      const refused = new Promise<{ message: string; extensions?: { code?: string } }[]>((done) => {
        stop = ws.subscribe({ query }, { next: (value) => events.push(value), error: (error) => done(error as never), complete: () => undefined });
      });
      return { events, refused, stop: () => stop() };
    }

    /** graphql-ws does not acknowledge a subscribe: create networks until each subscription has seen one. */
    async function untilSeen(c: ControllerProcess, subscriptions: { events: unknown[] }[]): Promise<void> {
      const seen = () => subscriptions.every((s) => s.events.length > 0);
      for (let i = 0; i < 50 && !seen(); i++) {
        await createNetwork(c);
        await new Promise((done) => setTimeout(done, 200));
      }
      expect(subscriptions.map((s) => s.events.length > 0)).toEqual(subscriptions.map(() => true));
    }

    it('holds at most 20 subscriptions on one socket; a finished one frees its place', async () => {
      const c = ctl();
      const ws = c.ws(viewer);
      sockets.push(ws);
      const query = 'subscription { resourceChanges(kinds: ["Network"]) { id } }';
      const live = Array.from({ length: 20 }, () => subscribe(ws, query));
      const extra = subscribe(ws, query);
      const [error] = await extra.refused;
      expect(error.extensions?.code).toBe('SUBSCRIPTION_LIMIT');
      expect(error.message).toMatch(/already runs 20 operations/);
      // The 20 are live: each sees changes.
      await untilSeen(c, live);
      // One ends: a new one fits again.
      live[0].stop();
      const again = subscribe(ws, query);
      await untilSeen(c, [again]);
      // Another socket has its own 20.
      const other = c.ws(viewer);
      sockets.push(other);
      await untilSeen(c, [subscribe(other, query)]);
    });

    it('keeps the cost of one socket’s subscriptions within the query cost limit', async () => {
      const c = ctl();
      const ws = c.ws(viewer);
      sockets.push(ws);
      // About 1000 × 41 each (16 fixed IPs at most per port): one fits, two do not.
      const heavy = `subscription { resourceStatusChanges { host { ports(first: 1000) { edges { node {
        id name macAddress netns networkId hostId generation createdAt updatedAt
        network { id name vni mtu generation createdAt updatedAt } host { id name vtepAddress generation createdAt updatedAt } fixedIps { ipAddress }
      } } } } } }`;
      const first = subscribe(ws, heavy);
      const second = subscribe(ws, heavy);
      const [error] = await second.refused;
      expect(error.extensions?.code).toBe('SUBSCRIPTION_LIMIT');
      expect(error.message).toMatch(/would cost \d+, over the limit of 50000/);
      // The first one was taken: a cheap one still fits beside it, a second heavy one does not.
      const cheap = subscribe(ws, 'subscription { resourceChanges(kinds: ["Network"]) { id } }');
      await untilSeen(c, [cheap]);
      expect(await Promise.race([first.refused, new Promise((done) => setTimeout(() => done('live'), 200))])).toBe('live');
    });
  });

  it('answers a query that runs past --query-timeout-ms with QUERY_TIMEOUT, and never cuts a mutation short', async () => {
    const c: ControllerProcess = ctl();
    const query = '{ ports(first: 1000) { edges { node { id name macAddress network { id name } host { id name } fixedIps { ipAddress } } } } }';
    // Served in full without a tight bound…
    const full = await c.gql(query, {}, viewer);
    expect(full.errors).toBeUndefined();
    expect(full.data.ports.edges).toHaveLength(PORTS);
    await c.stop();
    await c.launch(['--query-timeout-ms', '5']);
    // …stopped with one clear error under it.
    const cut = await c.gql(query, {}, viewer);
    expect(cut.errors).toEqual([{ message: expect.stringMatching(/longer than 5 ms/), extensions: { code: 'QUERY_TIMEOUT' } }]);
    expect(cut.data).toBeUndefined();
    // A mutation's change is committed before its fields run: its answer is never cut.
    const name = uniqueName('net');
    const made = await c.ok(`mutation($name: String!) { createNetwork(input: { name: $name }) { id name ports(first: 1000) { totalCount edges { node { id } } } } }`, { name });
    expect(made.createNetwork).toMatchObject({ name, ports: { totalCount: 0 } });
  });
});
