/**
 * Relay global object identification on a built controller: node(id:) finds an object of any
 * kind (core and plugin) by its id alone, nodes(ids:) many in the order given with null for the
 * unknown; a viewer sees what its own queries show (not others' tokens, not the audit log); a bad
 * id is BAD_USER_INPUT; and nodes of 20 ids costs a few statements, not one per id.
 */
import { BetterSqlite3QueryRunner } from 'typeorm/driver/better-sqlite3/BetterSqlite3QueryRunner';
import { PostgresQueryRunner } from 'typeorm/driver/postgres/PostgresQueryRunner';
import { newId } from '@netloom/model';
import { ControllerProcess, errorCode } from './support/controller';
import { testStore, uniqueName, useController } from './support/fixtures';
import { InProcessController, inProcessController } from './support/in-process';

jest.setTimeout(120_000);

const NODE = `query($id: ID!) { node(id: $id) { __typename id
  ... on Host { name } ... on Network { name vni } ... on Subnet { cidr network { id } } ... on Port { name fixedIps { ipAddress } }
  ... on AddressGroup { name cidrs } ... on ApiToken { name role } ... on AuditEntry { mutation objectId } } }`;
const NODES = 'query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }';

interface Objects {
  Host: string;
  Network: string;
  Subnet: string;
  Port: string;
  AddressGroup: string;
  ApiToken: string;
  AuditEntry: string;
}

/** One object of each kind the test reads: the core kinds, a plugin kind, a token and an audit entry. */
async function objectsOfEveryKind(c: { ok: ControllerProcess['ok'] }): Promise<{ ids: Objects; viewer: string }> {
  const host = (await c.ok(`mutation { createHost(input: { name: "${uniqueName('h')}", vtepAddress: "192.0.2.9" }) { host { id } } }`)).createHost.host
    .id as string;
  const network = (await c.ok(`mutation { createNetwork(input: { name: "${uniqueName('n')}" }) { id } }`)).createNetwork.id as string;
  const subnet = (await c.ok('mutation($n: ID!) { createSubnet(input: { name: "s", networkId: $n, cidr: "10.9.0.0/24" }) { id } }', { n: network }))
    .createSubnet.id as string;
  const port = (await c.ok('mutation($n: ID!, $h: ID!) { createPort(input: { name: "p", networkId: $n, hostId: $h }) { id } }', { n: network, h: host }))
    .createPort.id as string;
  const group = (await c.ok(`mutation { createAddressGroup(input: { name: "${uniqueName('g')}", cidrs: ["198.51.100.0/24"] }) { id } }`))
    .createAddressGroup.id as string;
  const token = (await c.ok(`mutation { createApiToken(input: { name: "${uniqueName('viewer')}", role: VIEWER }) { token { id } secret } }`))
    .createApiToken;
  const audit = (await c.ok('query($id: ID) { auditEntries(filter: { objectId: $id }) { edges { node { id } } } }', { id: network })).auditEntries
    .edges[0].node.id as string;
  return {
    ids: { Host: host, Network: network, Subnet: subnet, Port: port, AddressGroup: group, ApiToken: token.token.id, AuditEntry: audit },
    viewer: token.secret,
  };
}

describe('node(id:) and nodes(ids:)', () => {
  const controller = useController();
  let ids: Objects;
  let viewer: string;

  beforeAll(async () => {
    ({ ids, viewer } = await objectsOfEveryKind(controller()));
  });

  it('finds an object of every kind by its id alone, as its own type', async () => {
    const c = controller();
    for (const [kind, id] of Object.entries(ids)) {
      const { node } = await c.ok(NODE, { id });
      expect(node).toMatchObject({ __typename: kind, id });
    }
    expect((await c.ok(NODE, { id: ids.Subnet })).node).toMatchObject({ cidr: '10.9.0.0/24', network: { id: ids.Network } });
    expect((await c.ok(NODE, { id: ids.AddressGroup })).node).toMatchObject({ cidrs: ['198.51.100.0/24'] });
    expect((await c.ok(NODE, { id: ids.AuditEntry })).node).toMatchObject({ mutation: 'createNetwork', objectId: ids.Network });
    // The same object as the kind's own query shows.
    const { port } = await c.ok('query($id: ID!) { port(id: $id) { name fixedIps { ipAddress } } }', { id: ids.Port });
    expect((await c.ok(NODE, { id: ids.Port })).node).toMatchObject(port);
  });

  it('gives nodes of mixed kinds in the order asked, null for an unknown id', async () => {
    const unknown = newId();
    const order = [ids.Port, unknown, ids.AddressGroup, ids.Host, ids.Port, ids.AuditEntry, ids.Network];
    const { nodes } = await controller().ok(NODES, { ids: order });
    expect(nodes).toEqual([
      { __typename: 'Port', id: ids.Port },
      null,
      { __typename: 'AddressGroup', id: ids.AddressGroup },
      { __typename: 'Host', id: ids.Host },
      { __typename: 'Port', id: ids.Port },
      { __typename: 'AuditEntry', id: ids.AuditEntry },
      { __typename: 'Network', id: ids.Network },
    ]);
    expect(await controller().ok(NODE, { id: unknown })).toEqual({ node: null });
    // A deleted object is gone from node() as from its own query.
    const group = (await controller().ok(`mutation { createAddressGroup(input: { name: "${uniqueName('g')}", cidrs: [] }) { id } }`)).createAddressGroup.id;
    expect((await controller().ok(NODE, { id: group })).node).toMatchObject({ __typename: 'AddressGroup' });
    await controller().ok('mutation($id: ID!) { deleteAddressGroup(input: { id: $id }) { deletedIds } }', { id: group });
    expect(await controller().ok(NODE, { id: group })).toEqual({ node: null });
  });

  it('shows a viewer what its own queries show: resources and its own token, not other tokens nor the audit log', async () => {
    const c = controller();
    // The rules of the kinds' own queries, proved first: a viewer may not list tokens nor read the audit log.
    expect(errorCode(await c.gql('{ apiTokens { id } }', {}, viewer))).toBe('FORBIDDEN');
    expect(errorCode(await c.gql('{ auditEntries { totalCount } }', {}, viewer))).toBe('FORBIDDEN');
    const admin = (await c.ok('{ me { id } }')).me.id as string;
    const { nodes } = await c.ok(NODES, { ids: [ids.Host, ids.AddressGroup, ids.ApiToken, admin, ids.AuditEntry, ids.Port] }, viewer);
    expect(nodes).toEqual([
      { __typename: 'Host', id: ids.Host },
      { __typename: 'AddressGroup', id: ids.AddressGroup },
      { __typename: 'ApiToken', id: ids.ApiToken }, // its own, as `me` shows it
      null, // the admin's token
      null,
      { __typename: 'Port', id: ids.Port },
    ]);
    expect((await c.ok(NODES, { ids: [admin, ids.AuditEntry] })).nodes).toEqual([
      { __typename: 'ApiToken', id: admin },
      { __typename: 'AuditEntry', id: ids.AuditEntry },
    ]);
  });

  it('refuses an id that is not one with BAD_USER_INPUT, naming it', async () => {
    const c = controller();
    const one = await c.gql(NODE, { id: 'host-1' });
    expect(errorCode(one)).toBe('BAD_USER_INPUT');
    expect(one.errors![0].extensions!.field).toBe('id');
    expect(one.data).toEqual({ node: null });
    const many = await c.gql(NODES, { ids: [ids.Host, "x' OR 1=1 --"] });
    expect(errorCode(many)).toBe('BAD_USER_INPUT');
    expect(many.errors![0]).toMatchObject({ message: expect.stringContaining('is not an id'), extensions: { field: 'ids.1' } });
    const tooMany = await c.gql(NODES, { ids: Array.from({ length: 1001 }, () => newId()) });
    expect(errorCode(tooMany)).toBe('BAD_USER_INPUT');
  });
});

// In-process, so the SQL can be counted: one statement finds the kinds, then one per kind.
describe('nodes(ids:) batched', () => {
  let ctl: InProcessController;
  let ids: Objects;

  beforeAll(async () => {
    ctl = await inProcessController('nodes');
    const ok = (query: string, variables?: Record<string, unknown>) => ctl.gql(query, variables);
    ({ ids } = await objectsOfEveryKind({ ok: ok as ControllerProcess['ok'] }));
  }, 60_000);

  afterAll(async () => {
    await ctl?.close();
  });

  async function statementsOf(query: string, variables: Record<string, unknown>): Promise<{ data: any; count: number }> {
    const runner = testStore() === 'postgres' ? PostgresQueryRunner : BetterSqlite3QueryRunner;
    const spy = jest.spyOn(runner.prototype, 'query');
    try {
      const data = await ctl.gql(query, variables);
      // The change feed and replica sync poll meanwhile on PostgreSQL: not this query's SQL.
      return { data, count: spy.mock.calls.filter(([sql]) => !/FROM "(changes|host_agents|resource_statuses)"/.test(String(sql))).length };
    } finally {
      spy.mockRestore();
    }
  }

  it('loads 20 ids of seven kinds in one statement for the kinds and one per kind', async () => {
    const kinds = Object.values(ids);
    const twenty = Array.from({ length: 20 }, (_, i) => (i % 9 === 8 ? newId() : kinds[i % kinds.length]));
    const baseline = await statementsOf('{ __typename }', {});
    const many = await statementsOf(NODES, { ids: twenty });
    expect(many.data.nodes).toHaveLength(20);
    expect(many.data.nodes.filter((n: unknown) => n === null)).toHaveLength(2);
    expect(new Set(many.data.nodes.filter(Boolean).map((n: { __typename: string }) => n.__typename)).size).toBe(7);
    expect(many.count - baseline.count).toBeLessThanOrEqual(1 + 7);
    process.stdout.write(`nodes(20 ids): ${many.count - baseline.count} statements beyond the request's own\n`);
    // The same for one id of each kind: the count does not grow with the ids.
    const seven = await statementsOf(NODES, { ids: kinds });
    expect(many.count).toBe(seven.count);
  });
});
