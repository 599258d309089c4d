import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INestApplication } from '@nestjs/common';
import { BetterSqlite3QueryRunner } from 'typeorm/driver/better-sqlite3/BetterSqlite3QueryRunner';
import { bootstrapAdminToken, createController } from '../apps/controller/src/bootstrap';
import { loadConfig } from '../apps/controller/src/config';

// A controller starts in ~1 s on a quiet machine; a loaded one (CI, parallel work) needs more.
jest.setTimeout(60_000);

// In-process, so the SQL the nested resolvers run can be counted: it must not grow with the
// number of networks (dataloaders batch it).
describe('nested fields without N+1 queries', () => {
  let dataDir: string;
  let app: INestApplication;
  let url: string;
  let token: string;

  const gql = async (query: string, variables: Record<string, unknown> = {}) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as { data?: any; errors?: unknown[] };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data;
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'netloom-loader-'));
    app = await createController(loadConfig([], { NETLOOM_DATA_DIR: dataDir }));
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${((app.getHttpServer() as Server).address() as { port: number }).port}/graphql`;
    token = (await bootstrapAdminToken(app))!;
    const { createHost } = await gql('mutation { createHost(input: { name: "h", vtepAddress: "192.0.2.1" }) { host { id } } }');
    for (let i = 0; i < 20; i++) {
      const { createNetwork } = await gql(`mutation { createNetwork(input: { name: "n${i}" }) { id } }`);
      await gql(`mutation($n: ID!) { createSubnet(input: { name: "s", networkId: $n, cidr: "10.${i}.0.0/24" }) { id } }`, {
        n: createNetwork.id,
      });
      const ports = [0, 1, 2].map((p) => ({ name: `p${p}`, networkId: createNetwork.id, hostId: createHost.host.id }));
      await gql('mutation($p: [CreatePortInput!]!) { createPorts(inputs: $p) { id } }', { p: ports });
    }
  });

  afterAll(async () => {
    await app?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const NESTED = `query($first: Int) { networks(first: $first) { edges { node {
    name subnets { cidr network { name } }
    ports { name host { name ports { name } } fixedIps { ipAddress subnet { cidr } } }
  } } } }`;

  async function countQueries(first: number): Promise<number> {
    const spy = jest.spyOn(BetterSqlite3QueryRunner.prototype, 'query');
    try {
      const data = await gql(NESTED, { first });
      expect(data.networks.edges).toHaveLength(first);
      expect(data.networks.edges[0].node.ports[0].fixedIps[0].subnet.cidr).toMatch(/\/24$/);
      return spy.mock.calls.length;
    } finally {
      spy.mockRestore();
    }
  }

  it('runs as many queries for 20 networks as for 1', async () => {
    const one = await countQueries(1);
    const twenty = await countQueries(20);
    expect(one).toBeGreaterThan(3);
    expect(twenty).toBe(one);
    expect(twenty).toBeLessThan(15);
  });
});
