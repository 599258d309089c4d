import 'reflect-metadata';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INestApplication } from '@nestjs/common';
import { Client, createClient } from 'graphql-ws';
import { DataSource } from 'typeorm';
import WebSocket from 'ws';
import { RealizationState, ResourceStatusReport } from '@netloom/model';
import { JOIN_PATH } from '@netloom/protocol';
import { DispatcherService } from '../apps/controller/src/realization/dispatcher.service';
import { bootstrapAdminToken, createController } from '../apps/controller/src/bootstrap';
import { loadConfig } from '../apps/controller/src/config';
import { sleep, waitFor } from './support/agent';
import { fakeAgent } from './support/fake-agent';

// A plugin as a third party would ship it: a plain module, named by absolute path in NETLOOM_PLUGINS.
const PLUGIN = `
const { t, definePlugin, conflict } = require('@netloom/plugin-sdk');
module.exports.default = definePlugin({
  id: 'test.gateway',
  version: '1.0.0',
  sdk: 1,
  kinds: {
    Gateway: {
      description: 'A test gateway.',
      fields: {
        hostId: t.ref('Host'),
        networks: t.list(t.ref('Network')),
        address: t.ip({ required: false }),
        mode: t.enum('Mode', ['NAT', 'ROUTED']),
        routes: t.list(t.object('Route', { dst: t.cidr(), via: t.ip() })),
        enabled: t.boolean({ required: false }),
      },
    },
  },
  controller: {
    async validate(resource, intent) {
      const others = await intent.resources('Gateway');
      if (others.some((r) => r.spec.hostId === resource.spec.hostId)) throw conflict('that host already has a gateway', 'input.hostId');
    },
    // No reserve(): the address it announces on its first network is held by the core all the same.
    place(resource) {
      if (resource.name === 'explode') throw new Error('boom');
      const { address, networks } = resource.spec;
      const endpoints = address && networks.length ? [{ networkId: networks[0], mac: '02:00:00:00:00:99', ips: [address] }] : [];
      return [{ hostId: resource.spec.hostId, spec: { mode: resource.spec.mode, routes: resource.spec.routes }, networks, endpoints }];
    },
  },
});
`;

// A second one: a kind with observed state, whose address the core's IPAM picks when none is given.
const VIP_PLUGIN = `
const { t, definePlugin } = require('@netloom/plugin-sdk');
const status = () => t.enum('OperatingStatus', ['ONLINE', 'OFFLINE']);
module.exports.default = definePlugin({
  id: 'test.vip',
  version: '1.0.0',
  sdk: 1,
  kinds: {
    Vip: {
      fields: { hostId: t.ref('Host'), subnetId: t.ref('Subnet'), vipAddress: t.ip({ required: false }) },
      observed: {
        operatingStatus: status(),
        connections: t.counter(),
        members: t.list(t.object('MemberObserved', { address: t.ip(), operatingStatus: status() })),
      },
    },
  },
  controller: {
    place: (vip) => [{ hostId: vip.spec.hostId, spec: { vipAddress: vip.spec.vipAddress } }],
    reserve: (vip) => [
      vip.spec.vipAddress
        ? { subnetId: vip.spec.subnetId, ipAddress: vip.spec.vipAddress, field: 'input.vipAddress' }
        : { subnetId: vip.spec.subnetId, assignTo: 'vipAddress', field: 'input.vipAddress' },
    ],
  },
});
`;

describe('plugin kinds in the API', () => {
  let dataDir: string;
  let app: INestApplication;
  let url: string;
  let admin: string;
  let viewer: string;
  let hosts: string[];
  let networkId: string;

  const call = async (token: string, query: string, variables: Record<string, unknown> = {}) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as { data?: any; errors?: { message: string; extensions: { code: string } }[] };
  };
  const gql = async (query: string, variables: Record<string, unknown> = {}) => {
    const body = await call(admin, query, variables);
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data;
  };
  const codeOf = async (query: string, variables: Record<string, unknown> = {}, token = admin) => {
    const body = await call(token, query, variables);
    return body.errors?.[0]?.extensions.code;
  };
  const count = async () => (await gql('{ gateways { totalCount } }')).gateways.totalCount as number;
  const CREATE = 'mutation($i: CreateGatewayInput!) { createGateway(input: $i) { id name generation hostId mode address routes { dst via } networks labels { key value } status { state } } }';

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'netloom-plugins-'));
    const pluginFile = join(dataDir, 'test-gateway.js');
    writeFileSync(pluginFile, PLUGIN);
    const vipFile = join(dataDir, 'test-vip.js');
    writeFileSync(vipFile, VIP_PLUGIN);
    app = await createController(
      loadConfig([], { NETLOOM_DATA_DIR: dataDir, NETLOOM_PLUGINS: `${pluginFile},${vipFile}`, NETLOOM_WAIT_TIMEOUT_MS: '300', NETLOOM_LOG_LEVEL: 'warn' }),
    );
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${((app.getHttpServer() as Server).address() as { port: number }).port}/graphql`;
    admin = (await bootstrapAdminToken(app))!;
    viewer = (await gql('mutation { createApiToken(input: { name: "v", role: VIEWER }) { secret } }')).createApiToken.secret;
    hosts = [];
    for (const i of [1, 2, 3]) {
      hosts.push((await gql(`mutation { createHost(input: { name: "h${i}", vtepAddress: "192.0.2.${i}" }) { host { id } } }`)).createHost.host.id);
    }
    networkId = (await gql('mutation { createNetwork(input: { name: "n" }) { id } }')).createNetwork.id;
  });

  afterAll(async () => {
    await app?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('generates typed types, inputs, queries and mutations from the declaration', async () => {
    const { gateway, mode, route, create, query, mutation } = await gql(`{
      gateway: __type(name: "Gateway") { description fields { name type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } }
      mode: __type(name: "GatewayMode") { kind enumValues { name } }
      route: __type(name: "GatewayRoute") { fields { name } }
      create: __type(name: "CreateGatewayInput") { inputFields { name type { kind } } }
      query: __type(name: "Query") { fields { name args { name } } }
      mutation: __type(name: "Mutation") { fields { name args { name } } }
    }`);
    expect(gateway.description).toBe('A test gateway.');
    const fields = Object.fromEntries(gateway.fields.map((f: any) => [f.name, f.type]));
    expect(Object.keys(fields).sort()).toEqual(
      ['address', 'createdAt', 'enabled', 'generation', 'host', 'hostId', 'id', 'labels', 'mode', 'name', 'networks', 'placement', 'routes', 'status', 'updatedAt'].sort(),
    );
    expect(fields.hostId).toMatchObject({ kind: 'NON_NULL', ofType: { name: 'ID' } });
    // The object a ref names, next to it (nullable: it may be gone); `networks` has no Ids to strip: ids only.
    expect(fields.host).toMatchObject({ kind: 'OBJECT', name: 'Host' });
    expect(fields.networks).toMatchObject({ kind: 'NON_NULL', ofType: { kind: 'LIST', ofType: { kind: 'NON_NULL', ofType: { name: 'ID' } } } });
    expect(fields.placement).toMatchObject({ kind: 'NON_NULL', ofType: { name: 'ResourcePlacement' } });
    expect(fields.address).toMatchObject({ kind: 'SCALAR', name: 'String' });
    expect(fields.routes).toMatchObject({ kind: 'NON_NULL', ofType: { kind: 'LIST', ofType: { kind: 'NON_NULL' } } });
    expect(fields.status.ofType.ofType.ofType.name).toBe('ResourceStatus');
    expect(mode).toEqual({ kind: 'ENUM', enumValues: [{ name: 'NAT' }, { name: 'ROUTED' }] });
    expect(route.fields.map((f: any) => f.name).sort()).toEqual(['dst', 'via']);
    expect(create.inputFields.find((f: any) => f.name === 'hostId').type.kind).toBe('NON_NULL');
    const gateways = query.fields.find((f: any) => f.name === 'gateways');
    expect(gateways.args.map((a: any) => a.name).sort()).toEqual(['after', 'before', 'filter', 'first', 'last']);
    expect(query.fields.some((f: any) => f.name === 'gateway')).toBe(true);
    for (const name of ['createGateway', 'updateGateway', 'deleteGateway']) {
      expect(mutation.fields.find((f: any) => f.name === name).args.map((a: any) => a.name).sort()).toEqual(['input', 'wait']);
    }
  });

  let r1: { id: string; generation: number };

  it('creates, reads, filters and pages resources, canonicalizing addresses', async () => {
    const { createGateway } = await gql(CREATE, {
      i: {
        name: 'r1',
        labels: [{ key: 'tier', value: 'edge' }],
        hostId: hosts[0],
        networks: [networkId],
        mode: 'NAT',
        address: '2001:DB8:0::1',
        routes: [{ dst: '10.0.0.0/8', via: '192.0.2.254' }],
      },
    });
    expect(createGateway).toMatchObject({ name: 'r1', generation: 1, hostId: hosts[0], mode: 'NAT', address: '2001:db8::1', networks: [networkId], status: [] });
    r1 = createGateway;
    await gql(CREATE, { i: { name: 'r2', hostId: hosts[1], mode: 'ROUTED' } });
    const page1 = await gql('{ gateways(first: 1) { totalCount edges { node { name } } pageInfo { hasNextPage endCursor } } }');
    expect(page1.gateways).toMatchObject({ totalCount: 2, edges: [{ node: { name: 'r1' } }], pageInfo: { hasNextPage: true } });
    const page2 = await gql('query($a: String) { gateways(first: 1, after: $a) { edges { node { name routes { dst } } } pageInfo { hasNextPage } } }', {
      a: page1.gateways.pageInfo.endCursor,
    });
    expect(page2.gateways).toEqual({ edges: [{ node: { name: 'r2', routes: [] } }], pageInfo: { hasNextPage: false } });
    const filtered = await gql('{ gateways(filter: { labels: [{ key: "tier", value: "edge" }] }) { edges { node { name } } } }');
    expect(filtered.gateways.edges).toEqual([{ node: { name: 'r1' } }]);
    expect((await gql('{ gateways(filter: { name: "r2" }) { totalCount } }')).gateways.totalCount).toBe(1);
    expect((await gql('query($id: ID) { gateway(id: $id) { name } }', { id: r1.id })).gateway).toEqual({ name: 'r1' });
    expect((await gql('{ gateway(name: "nope") { name } }')).gateway).toBeNull();
  });

  it('refuses what breaks the schema with BAD_USER_INPUT, writing nothing', async () => {
    const before = await count();
    const base = { name: 'bad', hostId: hosts[2], mode: 'NAT' };
    expect(await codeOf(CREATE, { i: { ...base, address: '10.0.0.300' } })).toBe('BAD_USER_INPUT');
    expect(await codeOf(CREATE, { i: { ...base, routes: [{ dst: '10.0.0.1/8', via: '10.0.0.1' }] } })).toBe('BAD_USER_INPUT');
    expect(await codeOf(CREATE, { i: { name: 'bad', mode: 'NAT' } })).toBe('BAD_USER_INPUT');
    expect(await codeOf(CREATE, { i: { ...base, routes: [{ dst: '10.0.0.0/8' }] } })).toBe('BAD_USER_INPUT');
    expect(await codeOf(CREATE, { i: { ...base, hostId: '01900000-0000-7000-8000-000000000000' } })).toBe('BAD_USER_INPUT');
    expect(await codeOf(CREATE, { i: { ...base, networks: ['missing'] } })).toBe('BAD_USER_INPUT');
    expect(await codeOf(CREATE, { i: { ...base, name: 'r1' } })).toBe('CONFLICT');
    // A t.ip() is a unicast address; a t.cidr() may be any network.
    for (const [address, via, field] of [['224.0.0.1', '10.0.0.1', 'input.address'], ['10.0.0.1', '127.0.0.1', 'input.routes.0.via'], ['fe80::1', '10.0.0.1', 'input.address']]) {
      const body = await call(admin, CREATE, { i: { ...base, address, routes: [{ dst: '224.0.0.0/4', via }] } });
      expect(body.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field }, message: expect.stringMatching(/range .*: it must be a unicast address$/) });
    }
    expect(await count()).toBe(before);
  });

  it("keeps the code of the plugin's own validation errors", async () => {
    const before = await count();
    const body = await call(admin, CREATE, { i: { name: 'r3', hostId: hosts[0], mode: 'ROUTED' } });
    expect(body.errors?.[0]).toMatchObject({ message: 'that host already has a gateway', extensions: { code: 'CONFLICT', field: 'input.hostId' } });
    expect(await count()).toBe(before);
  });

  it('lets viewers read but not write', async () => {
    expect((await call(viewer, '{ gateways { totalCount } }')).data.gateways.totalCount).toBe(await count());
    expect(await codeOf(CREATE, { i: { name: 'v', hostId: hosts[2], mode: 'NAT' } }, viewer)).toBe('FORBIDDEN');
    expect(await codeOf('mutation($id: ID!) { deleteGateway(input: { id: $id }) { deletedIds } }', { id: r1.id }, viewer)).toBe('FORBIDDEN');
    expect(await count()).toBe(2);
  });

  it('updates with optimistic generations and records every change in the feed with the plugin kind', async () => {
    const start = (await gql('{ revision }')).revision;
    const UPDATE = 'mutation($i: UpdateGatewayInput!) { updateGateway(input: $i) { generation mode address routes { dst } labels { key } } }';
    const { updateGateway } = await gql(UPDATE, { i: { id: r1.id, generation: 1, mode: 'ROUTED', address: null } });
    expect(updateGateway).toEqual({ generation: 2, mode: 'ROUTED', address: null, routes: [{ dst: '10.0.0.0/8' }], labels: [{ key: 'tier' }] });
    expect(await codeOf(UPDATE, { i: { id: r1.id, generation: 1, mode: 'NAT' } })).toBe('CONFLICT');
    expect(await codeOf(UPDATE, { i: { id: r1.id, address: 'nope' } })).toBe('BAD_USER_INPUT');
    const { createGateway } = await gql(CREATE, { i: { name: 'r3', hostId: hosts[2], mode: 'NAT' } });
    // Stored as answered: name, labels and spec read back.
    await gql(UPDATE, { i: { id: createGateway.id, generation: 1, name: 'r3-renamed', labels: [{ key: 'tier', value: 'edge' }], routes: [{ dst: '10.9.0.0/16', via: '192.0.2.254' }] } });
    const stored = (await gql('{ gateways { edges { node { id name generation mode routes { dst } labels { key value } } } } }')).gateways.edges.find((e: any) => e.node.id === createGateway.id).node;
    expect(stored).toEqual({ id: createGateway.id, name: 'r3-renamed', generation: 2, mode: 'NAT', routes: [{ dst: '10.9.0.0/16' }], labels: [{ key: 'tier', value: 'edge' }] });
    const { deleteGateway } = await gql('mutation($id: ID!) { deleteGateway(input: { id: $id, generation: 2 }) { deletedIds revision } }', { id: createGateway.id });
    expect(deleteGateway.deletedIds).toEqual([createGateway.id]);
    const { changes } = await gql('query($a: Int!) { changes(afterRevision: $a, kinds: ["Gateway"]) { kind id operation generation revision } }', { a: start });
    expect(changes.map((c: any) => [c.kind, c.id, c.operation, c.generation])).toEqual([
      ['Gateway', r1.id, 'UPDATE', 2],
      ['Gateway', createGateway.id, 'CREATE', 1],
      ['Gateway', createGateway.id, 'UPDATE', 2],
      ['Gateway', createGateway.id, 'DELETE', 3],
    ]);
    expect(changes[3].revision).toBe(deleteGateway.revision);
    expect(await codeOf('mutation($id: ID!) { deleteGateway(input: { id: $id }) { deletedIds } }', { id: createGateway.id })).toBe('NOT_FOUND');
  });

  it("compiles placed resources into their host's desired state, with the networks they need", async () => {
    await gql(CREATE, { i: { name: 'explode', hostId: hosts[2], mode: 'NAT' } });
    const dispatcher = app.get(DispatcherService);
    const compiled = new Map(await Promise.all(hosts.map(async (h) => [h, await dispatcher.desiredOf(h)] as const)));
    const onFirst = compiled.get(hosts[0])!;
    expect(onFirst.find((r) => r.kind === 'Gateway')).toEqual({
      kind: 'Gateway',
      id: r1.id,
      generation: 2,
      spec: { mode: 'ROUTED', routes: [{ dst: '10.0.0.0/8', via: '192.0.2.254' }] },
    });
    expect(onFirst.find((r) => r.kind === 'Network')).toMatchObject({ id: networkId, spec: { vni: 100, vxlan: null } });
    expect(compiled.get(hosts[1])!.map((r) => r.kind)).toEqual(['Gateway']);
    // place() threw for "explode": it is skipped, the others are not.
    expect(compiled.get(hosts[2])).toEqual([]);
    // Its placement says so, where its status is as empty as a pending one's.
    const placement = async (name: string) => (await gql(`{ gateway(name: "${name}") { placement { state hosts reason } status { hostId } } }`)).gateway;
    expect(await placement('explode')).toEqual({ placement: { state: 'NONE', hosts: 0, reason: 'its plugin failed to place it: boom' }, status: [] });
    expect((await placement('r1')).placement).toEqual({ state: 'PLACED', hosts: 1, reason: null });
  });

  it('holds the addresses a placement announces in IPAM, though the plugin has no reserve()', async () => {
    const h = (await gql('mutation { createHost(input: { name: "h-announce", vtepAddress: "192.0.2.60" }) { host { id } } }')).createHost.host.id;
    const other = (await gql('mutation { createHost(input: { name: "h-announce2", vtepAddress: "192.0.2.61" }) { host { id } } }')).createHost.host.id;
    const n = (await gql('mutation { createNetwork(input: { name: "announce" }) { id } }')).createNetwork.id;
    const s = (await gql('mutation($n: ID!) { createSubnet(input: { name: "s", networkId: $n, cidr: "10.90.0.0/29" }) { id } }', { n })).createSubnet.id;
    const held = (id: string) => app.get(DataSource).query('SELECT subnet_id, ip_address FROM ip_allocations WHERE resource_id = ?', [id]);
    const g = (await gql(CREATE, { i: { name: 'announcer', hostId: h, networks: [n], mode: 'NAT', address: '10.90.0.2' } })).createGateway;
    expect(await held(g.id)).toEqual([{ subnet_id: s, ip_address: '10.90.0.2' }]);
    // A /29 has .2 to .6 besides the gateway: ports get the four others, then none.
    const port = (name: string, fixedIps?: unknown[]) => call(admin, 'mutation($i: CreatePortInput!) { createPort(input: $i) { fixedIps { ipAddress } } }', { i: { name, networkId: n, hostId: h, fixedIps } });
    const given = [];
    for (const name of ['a1', 'a2', 'a3', 'a4']) given.push((await port(name)).data.createPort.fixedIps[0].ipAddress);
    expect(given).toEqual(['10.90.0.3', '10.90.0.4', '10.90.0.5', '10.90.0.6']);
    expect((await port('a5')).errors?.[0].extensions).toMatchObject({ code: 'CONFLICT', field: 'input.fixedIps.0' });
    expect((await port('a6', [{ ipAddress: '10.90.0.2' }])).errors?.[0].extensions).toMatchObject({ code: 'CONFLICT', field: 'input.fixedIps.0.ipAddress' });
    // An address a port holds is refused on the field that carries it, and nothing is written.
    const revision = (await gql('{ revision }')).revision;
    const body = await call(admin, CREATE, { i: { name: 'announcer2', hostId: other, networks: [n], mode: 'NAT', address: '10.90.0.3' } });
    expect(body.errors?.[0].extensions).toMatchObject({ code: 'CONFLICT', field: 'input.address' });
    expect((await gql('{ revision }')).revision).toBe(revision);
    // An update that moves the address moves what is held; an address outside the subnets holds nothing.
    await gql('mutation($i: UpdateGatewayInput!) { updateGateway(input: $i) { id } }', { i: { id: g.id, address: '10.91.0.2' } });
    expect(await held(g.id)).toEqual([]);
    expect((await port('a7')).data.createPort.fixedIps).toEqual([{ ipAddress: '10.90.0.2' }]);
  });

  it('waits with wait: true for the hosts whose agent joined', async () => {
    const { host, joinToken } = (await gql('mutation { createHost(input: { name: "h4", vtepAddress: "192.0.2.4" } , wait: true) { host { id } joinToken } }')).createHost;
    // No agent ever joined for the host: nothing to wait for (it gets the gateway when it joins).
    const unjoined = await call(admin, 'mutation($i: CreateGatewayInput!) { createGateway(input: $i, wait: true) { id status { state } } }', {
      i: { name: 'r4', hostId: host.id, mode: 'NAT' },
    });
    expect(unjoined.errors).toBeUndefined();
    expect(unjoined.data.createGateway.status).toEqual([]);
    // Joined, but no agent connected: the wait times out — after the commit.
    const joined = await fetch(new URL(JOIN_PATH, url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ joinToken }) });
    expect(joined.status).toBe(200);
    const body = await call(admin, 'mutation($i: UpdateGatewayInput!) { updateGateway(input: $i, wait: true) { id } }', {
      i: { id: unjoined.data.createGateway.id, routes: [{ dst: '10.99.0.0/16', via: '10.90.0.1' }] },
    });
    expect(body.errors?.[0]).toMatchObject({ extensions: { code: 'REALIZATION_TIMEOUT' }, message: expect.stringContaining(`${host.id} (not connected)`) });
    expect((await gql('{ gateways(filter: { name: "r4" }) { edges { node { routes { dst } } } } }')).gateways.edges[0].node.routes).toEqual([{ dst: '10.99.0.0/16' }]);
  });
  describe('observed state and addresses IPAM picks', () => {
    const VIP = 'id hostId subnetId vipAddress';
    const CREATE_VIP = `mutation($i: CreateVipInput!) { createVip(input: $i) { ${VIP} } }`;
    const OBSERVED = 'observed { __typename ... on VipObserved { operatingStatus connections members { address operatingStatus } } }';
    const CREATE_PORT = 'mutation($i: CreatePortInput!) { createPort(input: $i) { id fixedIps { ipAddress } } }';
    let host: { id: string; joinToken: string };
    let subnetId: string;
    let vip: { id: string; vipAddress: string };
    let subscriber: Client | undefined;
    let agent: Awaited<ReturnType<typeof fakeAgent>> | undefined;

    const allocations = (resourceId: string): Promise<{ ip_address: string }[]> =>
      app.get(DataSource).query('SELECT ip_address FROM ip_allocations WHERE resource_id = ? ORDER BY ip_address', [resourceId]);
    const subnet = async (cidr: string) => {
      const network = (await gql('mutation { createNetwork(input: { name: "vips-' + cidr.replace(/[./]/g, '-') + '" }) { id } }')).createNetwork.id;
      const input = { name: 's', networkId: network, cidr };
      return { networkId: network, subnetId: (await gql('mutation($i: CreateSubnetInput!) { createSubnet(input: $i) { id } }', { i: input })).createSubnet.id as string };
    };

    beforeAll(async () => {
      const created = await gql('mutation { createHost(input: { name: "vip-host", vtepAddress: "192.0.2.50" }) { host { id } joinToken } }');
      host = { id: created.createHost.host.id, joinToken: created.createHost.joinToken };
    });

    afterAll(async () => {
      agent?.ws.close();
      await subscriber?.dispose();
    });

    it('picks a free address for a reservation without one, shows it, and holds it in ip_allocations', async () => {
      const s = await subnet('10.80.0.0/24');
      subnetId = s.subnetId;
      const first = (await gql(CREATE_PORT, { i: { name: 'p0', networkId: s.networkId, hostId: host.id } })).createPort;
      expect(first.fixedIps).toEqual([{ ipAddress: '10.80.0.2' }]);
      const { createVip } = await gql(CREATE_VIP, { i: { name: 'v1', hostId: host.id, subnetId } });
      expect(createVip).toMatchObject({ subnetId, vipAddress: '10.80.0.3' });
      vip = createVip;
      expect(await allocations(vip.id)).toEqual([{ ip_address: '10.80.0.3' }]);
      expect((await gql('query($id: ID) { vip(id: $id) { vipAddress } }', { id: vip.id })).vip.vipAddress).toBe('10.80.0.3');

      // Ports skip it, and cannot take it.
      const next = (await gql(CREATE_PORT, { i: { name: 'p1', networkId: s.networkId, hostId: host.id } })).createPort;
      expect(next.fixedIps).toEqual([{ ipAddress: '10.80.0.4' }]);
      const taken = await call(admin, CREATE_PORT, { i: { name: 'p2', networkId: s.networkId, hostId: host.id, fixedIps: [{ subnetId, ipAddress: '10.80.0.3' }] } });
      expect(taken.errors?.[0].extensions.code).toBe('CONFLICT');

      // An update hands reserve() the stored address: it stays.
      const { updateVip } = await gql(`mutation($i: UpdateVipInput!) { updateVip(input: $i) { ${VIP} generation } }`, {
        i: { id: vip.id, labels: [{ key: 'k', value: 'v' }] },
      });
      expect(updateVip).toMatchObject({ vipAddress: '10.80.0.3', generation: 2 });
      expect(await allocations(vip.id)).toEqual([{ ip_address: '10.80.0.3' }]);
    });

    it('refuses with CONFLICT on the field when the subnet is full, writing nothing', async () => {
      // A /30 has one address for ports besides the gateway: the port takes it.
      const s = await subnet('10.81.0.0/30');
      await gql(CREATE_PORT, { i: { name: 'p0', networkId: s.networkId, hostId: host.id } });
      const revision = (await gql('{ revision }')).revision;
      const body = await call(admin, CREATE_VIP, { i: { name: 'v-full', hostId: host.id, subnetId: s.subnetId } });
      expect(body.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT', field: 'input.vipAddress' } });
      expect((await gql('{ vips(filter: { name: "v-full" }) { totalCount } }')).vips.totalCount).toBe(0);
      expect((await gql('{ revision }')).revision).toBe(revision);
      expect(await app.get(DataSource).query('SELECT ip_address FROM ip_allocations WHERE subnet_id = ?', [s.subnetId])).toHaveLength(1);
    });

    it('stores observed state an ack reports, sanitized, and publishes a change of observed alone', async () => {
      const base = url.replace(/\/graphql$/, '');
      agent = await fakeAgent(base, host.joinToken);
      const portId = (await gql(CREATE_PORT, { i: { name: 'p9', networkId: (await subnet('10.82.0.0/24')).networkId, hostId: host.id } })).createPort.id;

      subscriber = createClient({ url: `${base.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${admin}` }, retryAttempts: 0 });
      const events: any[] = [];
      const errors: unknown[] = [];
      subscriber.subscribe(
        { query: `subscription { resourceStatusChanges(kinds: ["Vip"]) { kind resourceId state generation ${OBSERVED} } }` },
        { next: (m) => (m.errors ? errors.push(m.errors) : events.push(m.data!.resourceStatusChanges)), error: (e) => errors.push(e), complete: () => undefined },
      );
      const status = (observed?: unknown): ResourceStatusReport => ({ kind: 'Vip', id: vip.id, generation: 2, state: RealizationState.APPLIED, observed: observed as Record<string, unknown> });
      // Subscriptions start asynchronously: report changing counters until one arrives.
      for (let i = 1; i <= 50 && !events.length; i++) {
        agent.ack([status({ operatingStatus: 'ONLINE', connections: i, members: [] })]);
        await sleep(100);
      }
      expect(errors).toEqual([]);
      expect(events[0]).toMatchObject({ kind: 'Vip', resourceId: vip.id, state: 'APPLIED', observed: { __typename: 'VipObserved', operatingStatus: 'ONLINE', members: [] } });
      await sleep(200);
      events.length = 0;

      // Only observed changes (state and generation as before); what the kind does not declare is left out.
      agent.ack([
        status({ operatingStatus: 'OFFLINE', connections: 2 ** 40, members: [{ address: '10.80.0.4', operatingStatus: 'OFFLINE', weight: 3 }], secret: 'x' }),
        { kind: 'Port', id: portId, generation: 1, state: RealizationState.APPLIED, observed: { operatingStatus: 'ONLINE' } },
      ]);
      const expected = { __typename: 'VipObserved', operatingStatus: 'OFFLINE', connections: 2 ** 40, members: [{ address: '10.80.0.4', operatingStatus: 'OFFLINE' }] };
      await waitFor(() => events.length, 5_000, 20, 'the observed change');
      expect(events).toEqual([{ kind: 'Vip', resourceId: vip.id, state: 'APPLIED', generation: 2, observed: expected }]);
      const read = async () => (await gql(`query($id: ID) { vip(id: $id) { status { hostId state ${OBSERVED} } } }`, { id: vip.id })).vip.status;
      expect(await read()).toEqual([{ hostId: host.id, state: 'APPLIED', observed: expected }]);
      const stored = await app.get(DataSource).query('SELECT observed FROM resource_statuses WHERE resource_id = ?', [vip.id]);
      expect(JSON.parse(stored[0].observed)).toEqual({ operatingStatus: 'OFFLINE', connections: 2 ** 40, members: [{ address: '10.80.0.4', operatingStatus: 'OFFLINE' }] });
      // A core kind stores none.
      expect((await gql(`query($id: ID!) { port(id: $id) { status { state ${OBSERVED} } } }`, { id: portId })).port.status).toEqual([{ state: 'APPLIED', observed: null }]);

      // The same report again, or one without observed, changes nothing and publishes nothing: the
      // next event is the one a later report causes (a channel's reports are taken in order).
      agent.ack([status({ members: [{ operatingStatus: 'OFFLINE', address: '10.80.0.4' }], connections: 2 ** 40, operatingStatus: 'OFFLINE' })]);
      agent.ack([status()]);
      // A new generation reported without observed: the row moves, its observed state stays (not written again).
      agent.ack([{ ...status(), generation: 3 }]);
      await waitFor(() => events.length >= 2, 5_000, 20, 'the generation change');
      expect(events.slice(1)).toEqual([{ kind: 'Vip', resourceId: vip.id, state: 'APPLIED', generation: 3, observed: expected }]);
      const row = await app.get(DataSource).query('SELECT generation, observed FROM resource_statuses WHERE resource_id = ?', [vip.id]);
      expect({ generation: row[0].generation, observed: JSON.parse(row[0].observed) }).toEqual({ generation: 3, observed: JSON.parse(stored[0].observed) });
    });
  });
});
