import 'reflect-metadata';
import { INestApplication } from '@nestjs/common';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import { BetterSqlite3QueryRunner } from 'typeorm/driver/better-sqlite3/BetterSqlite3QueryRunner';
import { PostgresQueryRunner } from 'typeorm/driver/postgres/PostgresQueryRunner';
import { unboundedLists } from '../apps/controller/src/common/query-limits';
import { testStore } from './support/fixtures';
import { InProcessController, inProcessController } from './support/in-process';

// A controller starts in ~1 s on a quiet machine; a loaded one (CI, parallel work) needs more.
jest.setTimeout(60_000);

// In-process, so the SQL the nested resolvers run can be counted: it must not grow with the
// number of networks (dataloaders batch it).
describe('nested fields without N+1 queries', () => {
  let ctl: InProcessController;
  let app: INestApplication;
  const gql = (query: string, variables: Record<string, unknown> = {}) => ctl.gql(query, variables);

  beforeAll(async () => {
    ctl = await inProcessController('loader');
    app = ctl.app;
    const { createHost } = await gql('mutation { createHost(input: { name: "h", vtepAddress: "192.0.2.1" }) { host { id } } }');
    for (let i = 0; i < 20; i++) {
      const { createNetwork } = await gql(`mutation { createNetwork(input: { name: "n${i}" }) { id } }`);
      await gql(`mutation($n: ID!) { createSubnet(input: { name: "s", networkId: $n, cidr: "10.${i}.0.0/24" }) { id } }`, {
        n: createNetwork.id,
      });
      const ports = [0, 1, 2].map((p) => ({ name: `p${p}`, networkId: createNetwork.id, hostId: createHost.host.id }));
      await gql('mutation($p: [CreatePortInput!]!) { createPorts(inputs: $p) { id } }', { p: ports });
    }
  }, 30_000);

  afterAll(async () => {
    await ctl?.close();
  });

  const NESTED = `query($first: Int) { networks(first: $first) { edges { node {
    name subnets { totalCount edges { node { cidr network { name } } } }
    ports(first: 2) { totalCount pageInfo { hasNextPage endCursor } edges { node {
      name host { name ports(first: 5) { totalCount edges { node { name } } } } fixedIps { ipAddress subnet { cidr } }
    } } }
  } } } }`;

  async function countQueries(first: number): Promise<number> {
    const runner = testStore() === 'postgres' ? PostgresQueryRunner : BetterSqlite3QueryRunner;
    const spy = jest.spyOn(runner.prototype, 'query');
    try {
      const data = await gql(NESTED, { first });
      expect(data.networks.edges).toHaveLength(first);
      for (const { node } of data.networks.edges) {
        // Each network gets its own page of its own ports, counted whole.
        expect(node.ports.totalCount).toBe(3);
        expect(node.ports.edges.map((e: any) => e.node.name)).toEqual(['p0', 'p1']);
        expect(node.ports.pageInfo.hasNextPage).toBe(true);
        expect(node.subnets).toMatchObject({ totalCount: 1, edges: [{ node: { network: { name: node.name } } }] });
        expect(node.ports.edges[0].node.fixedIps[0].subnet.cidr).toBe(node.subnets.edges[0].node.cidr);
        expect(node.ports.edges[0].node.host.ports).toMatchObject({ totalCount: 60 });
        expect(node.ports.edges[0].node.host.ports.edges).toHaveLength(5);
      }
      // On PostgreSQL the change feed and the replica sync poll meanwhile for what other controllers
      // wrote (changes, agents, statuses): tables this query does not read, so not its SQL.
      return spy.mock.calls.filter(([sql]) => !/FROM "(changes|host_agents|resource_statuses)"/.test(sql)).length;
    } finally {
      spy.mockRestore();
    }
  }

  it('gives the next page of nested ports from a cursor, per parent', async () => {
    const first = await gql(NESTED, { first: 20 });
    const network = first.networks.edges[7].node;
    const next = await gql(`query($name: String, $after: String) { network(name: $name) { ports(first: 2, after: $after) {
      totalCount pageInfo { hasNextPage hasPreviousPage } edges { node { name } } } } }`, { name: network.name, after: network.ports.pageInfo.endCursor });
    expect(next.network.ports).toEqual({ totalCount: 3, pageInfo: { hasNextPage: false, hasPreviousPage: true }, edges: [{ node: { name: 'p2' } }] });
    const last = await gql(`query($name: String) { network(name: $name) { ports(last: 2) { edges { node { name } } } } }`, { name: network.name });
    expect(last.network.ports.edges.map((e: any) => e.node.name)).toEqual(['p1', 'p2']);
  });

  it('bounds every list of objects in the schema: a page, a cap, the hosts or one stored row', () => {
    const { schema } = app.get(GraphQLSchemaHost);
    // apiTokens: admin-only and not paged yet; counted as a full page.
    expect(unboundedLists(schema)).toEqual(['Query.apiTokens']);
  });

  it('runs as many queries for 20 networks as for 1', async () => {
    const one = await countQueries(1);
    const twenty = await countQueries(20);
    expect(one).toBeGreaterThan(3);
    expect(twenty).toBe(one);
    expect(twenty).toBeLessThan(15);
  });
});
