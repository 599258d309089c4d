/**
 * End-to-end API tests: each describe block runs its own real controller process (built
 * `dist/`, temporary SQLite file, port 0) and talks to it over HTTP and graphql-ws.
 */
import type { Client } from 'graphql-ws';
import { ControllerProcess, errorCode } from './support/controller';
import { createHost, createNetwork, createPort, createSubnet, PORT_FIELDS, revision, uniqueName, useController } from './support/fixtures';

jest.setTimeout(60_000);

interface Change {
  revision: number;
  kind: string;
  id: string;
  operation: 'CREATE' | 'UPDATE' | 'DELETE';
  generation: number;
}

const CHANGE_FIELDS = 'revision kind id operation generation';
const MISSING_ID = '00000000-0000-7000-8000-000000000000';
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));


async function changesAfter(c: ControllerProcess, afterRevision: number, first = 1000): Promise<Change[]> {
  const data = await c.ok<{ changes: Change[] }>(
    `query($after: Int!, $first: Int!) { changes(afterRevision: $after, first: $first) { ${CHANGE_FIELDS} } }`,
    { after: afterRevision, first },
  );
  return data.changes;
}

async function getNetwork(c: ControllerProcess, id: string) {
  const data = await c.ok(`query($id: ID!) { network(id: $id) { id name mtu vni generation createdAt updatedAt labels { key value } } }`, {
    id,
  });
  return data.network;
}

describe('lookups, filters and nested fields', () => {
  const ctl = useController();

  it('answers the probes /healthz and /readyz without a token', async () => {
    const base = ctl().url.replace(/\/graphql$/, '');
    for (const [path, body] of [['/healthz', { status: 'ok' }], ['/readyz', { status: 'ready' }]] as const) {
      const response = await fetch(`${base}${path}`);
      expect({ path, status: response.status, body: await response.json() }).toEqual({ path, status: 200, body });
    }
  });

  it('creates and looks up a host by id and by name', async () => {
    const c = ctl();
    const name = uniqueName('host');
    const created = await c.ok(
      `mutation($input: CreateHostInput!) {
        createHost(input: $input) { joinToken host { id name vtepAddress generation labels { key value } createdAt updatedAt } }
      }`,
      { input: { name, vtepAddress: '198.51.100.7', labels: [{ key: 'zone', value: 'b' }, { key: 'rack', value: 'r1' }] } },
    );
    const host = created.createHost.host;
    expect(created.createHost.joinToken).toMatch(/\S{16,}/);
    expect(host).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name,
      vtepAddress: '198.51.100.7',
      generation: 1,
      // Labels come back sorted by key.
      labels: [
        { key: 'rack', value: 'r1' },
        { key: 'zone', value: 'b' },
      ],
      createdAt: host.createdAt,
      updatedAt: host.createdAt,
    });
    const FIELDS = 'id name vtepAddress generation';
    const byId = await c.ok(`query($id: ID) { host(id: $id) { ${FIELDS} } }`, { id: host.id });
    const byName = await c.ok(`query($name: String) { host(name: $name) { ${FIELDS} } }`, { name });
    const expected = { id: host.id, name, vtepAddress: '198.51.100.7', generation: 1 };
    expect(byId.host).toEqual(expected);
    expect(byName.host).toEqual(expected);
    expect((await c.ok(`{ host(name: "no-such-host") { id } }`)).host).toBeNull();
  });

  it('refuses a host lookup with neither or both of id and name', async () => {
    const c = ctl();
    const neither = await c.gql('{ host { id } }');
    expect(errorCode(neither)).toBe('BAD_USER_INPUT');
    const { host } = await createHost(c);
    const both = await c.gql(`query($id: ID, $name: String) { host(id: $id, name: $name) { id } }`, { id: host.id, name: host.name });
    expect(errorCode(both)).toBe('BAD_USER_INPUT');
    const networkNeither = await c.gql('{ network { id } }');
    expect(errorCode(networkNeither)).toBe('BAD_USER_INPUT');
  });

  it('creates and looks up a network, a subnet and a port', async () => {
    const c = ctl();
    const { host } = await createHost(c);
    const network = await createNetwork(c, { vni: 4242, mtu: 1400 });
    expect(network).toEqual({ id: expect.any(String), name: network.name, vni: 4242, mtu: 1400, generation: 1 });
    const byName = await c.ok(`query($name: String) { network(name: $name) { id name vni mtu generation } }`, { name: network.name });
    expect(byName.network).toEqual(network);
    const byId = await c.ok(`query($id: ID) { network(id: $id) { id name vni mtu generation } }`, { id: network.id });
    expect(byId.network).toEqual(network);

    const subnet = await createSubnet(c, network.id, '10.10.0.0/24', { dnsServers: ['10.10.0.53'] });
    const gotSubnet = await c.ok(
      `query($id: ID!) { subnet(id: $id) { id name networkId cidr ipVersion gatewayIp dnsServers allocationPools { start end } generation } }`,
      { id: subnet.id },
    );
    expect(gotSubnet.subnet).toEqual({
      id: subnet.id,
      name: expect.any(String),
      networkId: network.id,
      cidr: '10.10.0.0/24',
      ipVersion: 4,
      gatewayIp: '10.10.0.1',
      dnsServers: ['10.10.0.53'],
      allocationPools: [{ start: '10.10.0.2', end: '10.10.0.254' }],
      generation: 1,
    });

    const port = await createPort(c, network.id, host.id, { netns: 'ns-a' });
    const gotPort = await c.ok(`query($id: ID!) { port(id: $id) { ${PORT_FIELDS} } }`, { id: port.id });
    expect(gotPort.port).toEqual({
      id: port.id,
      name: port.name,
      macAddress: port.macAddress,
      generation: 1,
      netns: 'ns-a',
      networkId: network.id,
      hostId: host.id,
      fixedIps: [{ ipAddress: '10.10.0.2', subnetId: subnet.id }],
    });
    expect(port.macAddress).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    // Locally administered, unicast.
    expect(parseInt(port.macAddress.slice(0, 2), 16) & 0x03).toBe(0x02);
  });

  it('returns null for a missing port, subnet or network id', async () => {
    const c = ctl();
    const data = await c.ok(`query($id: ID!) { port(id: $id) { id } subnet(id: $id) { id } network(id: $id) { id } host(id: $id) { id } }`, {
      id: MISSING_ID,
    });
    expect(data).toEqual({ port: null, subnet: null, network: null, host: null });
  });

  it('filters networks by name and by labels (all must match)', async () => {
    const c = ctl();
    const run = uniqueName('run');
    const label = (env: string, tier: string) => [
      { key: 'run', value: run },
      { key: 'env', value: env },
      { key: 'tier', value: tier },
    ];
    const prodWeb = await createNetwork(c, { labels: label('prod', 'web') });
    const prodDb = await createNetwork(c, { labels: label('prod', 'db') });
    const devWeb = await createNetwork(c, { labels: label('dev', 'web') });
    const ids = (data: any) => data.networks.edges.map((e: any) => e.node.id);
    const Q = `query($filter: NetworkFilter) { networks(filter: $filter) { totalCount edges { node { id } } } }`;

    const byName = await c.ok(Q, { filter: { name: prodDb.name } });
    expect(ids(byName)).toEqual([prodDb.id]);
    expect(byName.networks.totalCount).toBe(1);

    const both = await c.ok(Q, {
      filter: {
        labels: [
          { key: 'env', value: 'prod' },
          { key: 'tier', value: 'web' },
          { key: 'run', value: run },
        ],
      },
    });
    expect(ids(both)).toEqual([prodWeb.id]);
    expect(both.networks.totalCount).toBe(1);

    const prod = await c.ok(Q, { filter: { labels: [{ key: 'run', value: run }, { key: 'env', value: 'prod' }] } });
    expect(ids(prod)).toEqual([prodWeb.id, prodDb.id]);
    const web = await c.ok(Q, { filter: { labels: [{ key: 'run', value: run }, { key: 'tier', value: 'web' }] } });
    expect(ids(web)).toEqual([prodWeb.id, devWeb.id]);
    const none = await c.ok(Q, { filter: { labels: [{ key: 'run', value: run }, { key: 'tier', value: 'cache' }] } });
    expect(none.networks).toEqual({ totalCount: 0, edges: [] });
    const nameAndLabel = await c.ok(Q, { filter: { name: devWeb.name, labels: [{ key: 'env', value: 'prod' }] } });
    expect(nameAndLabel.networks.totalCount).toBe(0);

    // Keys with a DNS prefix, dots and slashes are matched literally.
    const prefixed = await createNetwork(c, { labels: [{ key: 'app.netloom.io/role', value: run }] });
    const byPrefixed = await c.ok(Q, { filter: { labels: [{ key: 'app.netloom.io/role', value: run }] } });
    expect(ids(byPrefixed)).toEqual([prefixed.id]);
  });

  it('filters subnets by networkId and ports by networkId and hostId', async () => {
    const c = ctl();
    const { host: h1 } = await createHost(c);
    const { host: h2 } = await createHost(c);
    const n1 = await createNetwork(c);
    const n2 = await createNetwork(c);
    const s1a = await createSubnet(c, n1.id, '10.20.0.0/24');
    const s1b = await createSubnet(c, n1.id, 'fd00:20::/64');
    const s2 = await createSubnet(c, n2.id, '10.21.0.0/24');
    const p1 = await createPort(c, n1.id, h1.id);
    const p2 = await createPort(c, n1.id, h2.id);
    const p3 = await createPort(c, n2.id, h1.id);

    const subnets = async (networkId: string) =>
      (await c.ok(`query($f: SubnetFilter) { subnets(filter: $f) { totalCount edges { node { id } } } }`, { f: { networkId } })).subnets;
    expect(await subnets(n1.id)).toEqual({ totalCount: 2, edges: [{ node: { id: s1a.id } }, { node: { id: s1b.id } }] });
    expect(await subnets(n2.id)).toEqual({ totalCount: 1, edges: [{ node: { id: s2.id } }] });

    const ports = async (f: Record<string, string>) =>
      (await c.ok(`query($f: PortFilter) { ports(filter: $f) { totalCount edges { node { id } } } }`, { f })).ports;
    const edges = (...ids: string[]) => ids.map((id) => ({ node: { id } }));
    expect(await ports({ networkId: n1.id })).toEqual({ totalCount: 2, edges: edges(p1.id, p2.id) });
    expect(await ports({ networkId: n2.id })).toEqual({ totalCount: 1, edges: edges(p3.id) });
    expect(await ports({ hostId: h1.id })).toEqual({ totalCount: 2, edges: edges(p1.id, p3.id) });
    expect(await ports({ hostId: h2.id })).toEqual({ totalCount: 1, edges: edges(p2.id) });
    expect(await ports({ hostId: h1.id, networkId: n2.id })).toEqual({ totalCount: 1, edges: edges(p3.id) });
    expect(await ports({ hostId: h2.id, networkId: n2.id })).toEqual({ totalCount: 0, edges: [] });
  });

  it('resolves nested fields: network { subnets ports { fixedIps host } }, host { ports }, subnet { network }', async () => {
    const nodes = (connection: { edges: { node: any }[] }) => connection.edges.map((edge) => edge.node);
    const c = ctl();
    const { host } = await createHost(c);
    const network = await createNetwork(c);
    const v4 = await createSubnet(c, network.id, '10.30.0.0/24');
    const v6 = await createSubnet(c, network.id, 'fd00:30::/64');
    const p1 = await createPort(c, network.id, host.id);
    const p2 = await createPort(c, network.id, host.id, { fixedIps: [{ subnetId: v6.id }] });

    const data = await c.ok(
      `query($id: ID) { network(id: $id) {
        id
        subnets { totalCount edges { node { id cidr } } }
        ports { totalCount edges { node { id name fixedIps { ipAddress subnetId subnet { cidr } } host { name } network { id } } } }
      } }`,
      { id: network.id },
    );
    const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
    expect(data.network.id).toBe(network.id);
    expect(data.network.subnets.totalCount).toBe(2);
    expect(data.network.ports.totalCount).toBe(2);
    expect(nodes(data.network.subnets).sort(byId)).toEqual([
      { id: v4.id, cidr: '10.30.0.0/24' },
      { id: v6.id, cidr: 'fd00:30::/64' },
    ]);
    const ports = nodes(data.network.ports).sort(byId);
    const sortIps = (ips: { ipAddress: string }[]) => [...ips].sort((a, b) => a.ipAddress.localeCompare(b.ipAddress));
    expect(ports.map((p: any) => ({ ...p, fixedIps: sortIps(p.fixedIps) }))).toEqual([
      {
        id: p1.id,
        name: p1.name,
        fixedIps: [
          { ipAddress: '10.30.0.2', subnetId: v4.id, subnet: { cidr: '10.30.0.0/24' } },
          { ipAddress: 'fd00:30::2', subnetId: v6.id, subnet: { cidr: 'fd00:30::/64' } },
        ],
        host: { name: host.name },
        network: { id: network.id },
      },
      {
        id: p2.id,
        name: p2.name,
        fixedIps: [{ ipAddress: 'fd00:30::3', subnetId: v6.id, subnet: { cidr: 'fd00:30::/64' } }],
        host: { name: host.name },
        network: { id: network.id },
      },
    ]);

    const hostData = await c.ok(`query($id: ID) { host(id: $id) { name ports { edges { node { id network { name } } } } } }`, { id: host.id });
    expect(hostData.host.name).toBe(host.name);
    expect(nodes(hostData.host.ports).sort(byId)).toEqual([
      { id: p1.id, network: { name: network.name } },
      { id: p2.id, network: { name: network.name } },
    ]);

    const subnetData = await c.ok(`query($id: ID!) { subnet(id: $id) { cidr network { id name vni } } }`, { id: v6.id });
    expect(subnetData.subnet).toEqual({ cidr: 'fd00:30::/64', network: { id: network.id, name: network.name, vni: network.vni } });

    // The same nesting through a connection.
    const list = await c.ok(
      `query($f: NetworkFilter) { networks(filter: $f, first: 1) { edges { node { id subnets { edges { node { id } } } ports { edges { node { id host { id } } } } } } } }`,
      { f: { name: network.name } },
    );
    expect(list.networks.edges).toHaveLength(1);
    expect(list.networks.edges[0].node.subnets.edges).toHaveLength(2);
    expect(nodes(list.networks.edges[0].node.ports).map((p: any) => p.host.id)).toEqual([host.id, host.id]);
  });
});

describe('relay pagination over networks', () => {
  const ctl = useController();
  const created: { id: string; name: string }[] = [];
  const PAGE = `query($first: Int, $after: String, $last: Int, $before: String, $filter: NetworkFilter) {
    networks(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
      totalCount
      edges { cursor node { id name } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }`;

  beforeAll(async () => {
    const c = ctl();
    for (let i = 0; i < 7; i++) {
      const labels = [{ key: 'parity', value: i % 2 === 0 ? 'even' : 'odd' }];
      created.push(await createNetwork(c, { labels }));
    }
  });

  it('pages forward with first/after, every network exactly once, in creation order', async () => {
    const c = ctl();
    const seen: string[] = [];
    const pages: any[] = [];
    let after: string | null = null;
    for (let guard = 0; guard < 10; guard++) {
      const { networks }: any = await c.ok(PAGE, { first: 3, after });
      pages.push(networks);
      expect(networks.totalCount).toBe(7);
      seen.push(...networks.edges.map((e: any) => e.node.id));
      expect(networks.pageInfo.startCursor).toBe(networks.edges[0]?.cursor ?? null);
      expect(networks.pageInfo.endCursor).toBe(networks.edges[networks.edges.length - 1]?.cursor ?? null);
      expect(networks.pageInfo.hasPreviousPage).toBe(after !== null);
      if (!networks.pageInfo.hasNextPage) break;
      after = networks.pageInfo.endCursor;
    }
    expect(pages.map((p) => p.edges.length)).toEqual([3, 3, 1]);
    expect(pages.map((p) => p.pageInfo.hasNextPage)).toEqual([true, true, false]);
    expect(seen).toEqual(created.map((n) => n.id));
  });

  it('pages backwards with last/before', async () => {
    const c = ctl();
    const pages: any[] = [];
    let before: string | null = null;
    for (let guard = 0; guard < 10; guard++) {
      const { networks }: any = await c.ok(PAGE, { last: 3, before });
      pages.push(networks);
      expect(networks.totalCount).toBe(7);
      expect(networks.pageInfo.hasNextPage).toBe(before !== null);
      if (!networks.pageInfo.hasPreviousPage) break;
      before = networks.pageInfo.startCursor;
    }
    const ids = (p: any) => p.edges.map((e: any) => e.node.id);
    const all = created.map((n) => n.id);
    // Each page is in forward order; pages come newest first.
    expect(pages.map(ids)).toEqual([all.slice(4, 7), all.slice(1, 4), all.slice(0, 1)]);
    expect(pages.map((p) => p.pageInfo.hasPreviousPage)).toEqual([true, true, false]);
  });

  it('counts with and without filters, independent of the page', async () => {
    const c = ctl();
    const even = await c.ok(PAGE, { first: 2, filter: { labels: [{ key: 'parity', value: 'even' }] } });
    expect(even.networks.totalCount).toBe(4);
    expect(even.networks.edges.map((e: any) => e.node.id)).toEqual([created[0].id, created[2].id]);
    expect(even.networks.pageInfo.hasNextPage).toBe(true);
    const evenRest = await c.ok(PAGE, {
      first: 10,
      after: even.networks.pageInfo.endCursor,
      filter: { labels: [{ key: 'parity', value: 'even' }] },
    });
    expect(evenRest.networks.edges.map((e: any) => e.node.id)).toEqual([created[4].id, created[6].id]);
    expect(evenRest.networks.pageInfo.hasNextPage).toBe(false);
    expect(evenRest.networks.totalCount).toBe(4);

    const odd = await c.ok(PAGE, { filter: { labels: [{ key: 'parity', value: 'odd' }] } });
    expect(odd.networks.totalCount).toBe(3);
    expect(odd.networks.edges.map((e: any) => e.node.id)).toEqual([created[1].id, created[3].id, created[5].id]);

    const one = await c.ok(PAGE, { filter: { name: created[3].name } });
    expect(one.networks.totalCount).toBe(1);
    const all = await c.ok(PAGE, {});
    expect(all.networks.totalCount).toBe(7);
    expect(all.networks.edges).toHaveLength(7);
    expect(all.networks.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: false });
    const empty = await c.ok(PAGE, { first: 0 });
    expect(empty.networks).toEqual({
      totalCount: 7,
      edges: [],
      pageInfo: { hasNextPage: true, hasPreviousPage: false, startCursor: null, endCursor: null },
    });
  });

  it('refuses a garbage cursor and a page over 1000 with BAD_USER_INPUT', async () => {
    const c = ctl();
    expect(errorCode(await c.gql(PAGE, { first: 3, after: 'garbage' }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await c.gql(PAGE, { last: 3, before: 'bm90LWEtY3Vyc29y' }))).toBe('BAD_USER_INPUT');
    // A well-formed but foreign cursor prefix.
    expect(errorCode(await c.gql(PAGE, { first: 3, after: Buffer.from(`v2:${created[0].id}`).toString('base64url') }))).toBe(
      'BAD_USER_INPUT',
    );
    const small = `query($first: Int) { networks(first: $first) { totalCount } }`;
    expect(errorCode(await c.gql(small, { first: 5000 }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await c.gql(small, { first: -1 }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await c.gql(PAGE, { first: 1, last: 1 }))).toBe('BAD_USER_INPUT');
    expect((await c.ok(small, { first: 1000 })).networks.totalCount).toBe(7);
  });
});

describe('IPAM through the API', () => {
  const ctl = useController();

  it('defaults the gateway to .1 and gives the first port .2, then the lowest free address', async () => {
    const c = ctl();
    const { host } = await createHost(c);
    const network = await createNetwork(c);
    const subnet = await createSubnet(c, network.id, '10.40.0.0/24');
    expect(subnet).toMatchObject({ cidr: '10.40.0.0/24', gatewayIp: '10.40.0.1' });
    const v6 = await createSubnet(c, (await createNetwork(c)).id, 'fd00:40::/64');
    expect(v6.gatewayIp).toBe('fd00:40::1');
    const p1 = await createPort(c, network.id, host.id);
    const p2 = await createPort(c, network.id, host.id);
    expect(p1.fixedIps).toEqual([{ ipAddress: '10.40.0.2', subnetId: subnet.id }]);
    expect(p2.fixedIps).toEqual([{ ipAddress: '10.40.0.3', subnetId: subnet.id }]);
  });

  it('honours requested fixedIps: address only, subnet only, both', async () => {
    const c = ctl();
    const { host } = await createHost(c);
    const network = await createNetwork(c);
    const a = await createSubnet(c, network.id, '10.41.0.0/24');
    const b = await createSubnet(c, network.id, '10.41.1.0/24');

    const byAddress = await createPort(c, network.id, host.id, { fixedIps: [{ ipAddress: '10.41.1.77' }] });
    expect(byAddress.fixedIps).toEqual([{ ipAddress: '10.41.1.77', subnetId: b.id }]);
    const bySubnet = await createPort(c, network.id, host.id, { fixedIps: [{ subnetId: b.id }] });
    expect(bySubnet.fixedIps).toEqual([{ ipAddress: '10.41.1.2', subnetId: b.id }]);
    const both = await createPort(c, network.id, host.id, { fixedIps: [{ subnetId: a.id, ipAddress: '10.41.0.200' }] });
    expect(both.fixedIps).toEqual([{ ipAddress: '10.41.0.200', subnetId: a.id }]);
    // Default: the first IPv4 subnet only (there is no IPv6 one).
    const dflt = await createPort(c, network.id, host.id);
    expect(dflt.fixedIps).toEqual([{ ipAddress: '10.41.0.2', subnetId: a.id }]);
    const twoInOne = await createPort(c, network.id, host.id, { fixedIps: [{ subnetId: a.id }, { subnetId: a.id }] });
    expect(twoInOne.fixedIps.map((f) => f.ipAddress).sort()).toEqual(['10.41.0.3', '10.41.0.4']);

    // Refusals write nothing.
    const before = await revision(c);
    const taken = await c.gql(`mutation($i: CreatePortInput!) { createPort(input: $i) { id } }`, {
      i: { name: uniqueName('port'), networkId: network.id, hostId: host.id, fixedIps: [{ ipAddress: '10.41.1.77' }] },
    });
    expect(errorCode(taken)).toBe('CONFLICT');
    const outside = await c.gql(`mutation($i: CreatePortInput!) { createPort(input: $i) { id } }`, {
      i: { name: uniqueName('port'), networkId: network.id, hostId: host.id, fixedIps: [{ ipAddress: '10.99.0.5' }] },
    });
    expect(errorCode(outside)).toBe('BAD_USER_INPUT');
    const mismatch = await c.gql(`mutation($i: CreatePortInput!) { createPort(input: $i) { id } }`, {
      i: { name: uniqueName('port'), networkId: network.id, hostId: host.id, fixedIps: [{ subnetId: a.id, ipAddress: '10.41.1.9' }] },
    });
    expect(errorCode(mismatch)).toBe('BAD_USER_INPUT');
    const gateway = await c.gql(`mutation($i: CreatePortInput!) { createPort(input: $i) { id } }`, {
      i: { name: uniqueName('port'), networkId: network.id, hostId: host.id, fixedIps: [{ ipAddress: '10.41.0.1' }] },
    });
    expect(errorCode(gateway)).toBe('BAD_USER_INPUT');
    expect(await revision(c)).toBe(before);
  });

  it('gives a port on a dual-stack network one IPv4 and one IPv6 address; fixedIps [] gives none', async () => {
    const c = ctl();
    const { host } = await createHost(c);
    const network = await createNetwork(c);
    const v6 = await createSubnet(c, network.id, 'fd00:42::/64');
    const v4 = await createSubnet(c, network.id, '10.42.0.0/24');
    const port = await createPort(c, network.id, host.id);
    expect([...port.fixedIps].sort((x, y) => x.ipAddress.localeCompare(y.ipAddress))).toEqual([
      { ipAddress: '10.42.0.2', subnetId: v4.id },
      { ipAddress: 'fd00:42::2', subnetId: v6.id },
    ]);
    const bare = await createPort(c, network.id, host.id, { fixedIps: [] });
    expect(bare.fixedIps).toEqual([]);
    const read = await c.ok(`query($id: ID!) { port(id: $id) { fixedIps { ipAddress } } }`, { id: bare.id });
    expect(read.port.fixedIps).toEqual([]);
    // The next default port continues in both families.
    const next = await createPort(c, network.id, host.id);
    expect(next.fixedIps.map((f) => f.ipAddress).sort()).toEqual(['10.42.0.3', 'fd00:42::3']);
  });

  it('allocates IPv6 requests in canonical form', async () => {
    const c = ctl();
    const { host } = await createHost(c);
    const network = await createNetwork(c);
    const v6 = await createSubnet(c, network.id, 'fd00:43::/64');
    const port = await createPort(c, network.id, host.id, { fixedIps: [{ ipAddress: 'FD00:0043:0000::00AB' }] });
    expect(port.fixedIps).toEqual([{ ipAddress: 'fd00:43::ab', subnetId: v6.id }]);
  });

  it('normalizes a requested MAC (upper-case dashed in, lower-case colon out) and refuses a duplicate', async () => {
    const c = ctl();
    const { host } = await createHost(c);
    const network = await createNetwork(c);
    const port = await createPort(c, network.id, host.id, { macAddress: 'AA-BB-CC-0D-0E-0F', fixedIps: [] });
    expect(port.macAddress).toBe('aa:bb:cc:0d:0e:0f');
    const read = await c.ok(`query($id: ID!) { port(id: $id) { macAddress } }`, { id: port.id });
    expect(read.port.macAddress).toBe('aa:bb:cc:0d:0e:0f');
    const dup = await c.gql(`mutation($i: CreatePortInput!) { createPort(input: $i) { id } }`, {
      i: { name: uniqueName('port'), networkId: network.id, hostId: host.id, macAddress: 'aa:bb:cc:0d:0e:0f', fixedIps: [] },
    });
    expect(errorCode(dup)).toBe('CONFLICT');
    const multicast = await c.gql(`mutation($i: CreatePortInput!) { createPort(input: $i) { id } }`, {
      i: { name: uniqueName('port'), networkId: network.id, hostId: host.id, macAddress: '01:00:5e:00:00:01', fixedIps: [] },
    });
    expect(errorCode(multicast)).toBe('BAD_USER_INPUT');
  });
});

describe('bulk createPorts', () => {
  const ctl = useController();

  it('creates 300 ports in one call with distinct addresses and MACs, and 300 consecutive CREATE changes', async () => {
    const c = ctl();
    const { host } = await createHost(c);
    const network = await createNetwork(c);
    const subnet = await createSubnet(c, network.id, '10.50.0.0/22');
    const r = await revision(c);
    const inputs = Array.from({ length: 300 }, (_, i) => ({ name: `bulk-${i}`, networkId: network.id, hostId: host.id }));
    const data = await c.ok(`mutation($inputs: [CreatePortInput!]!) { createPorts(inputs: $inputs) { ${PORT_FIELDS} } }`, { inputs });
    const ports: { id: string; name: string; macAddress: string; fixedIps: { ipAddress: string; subnetId: string }[] }[] =
      data.createPorts;

    expect(ports).toHaveLength(300);
    expect(ports.map((p) => p.name)).toEqual(inputs.map((i) => i.name));
    expect(new Set(ports.map((p) => p.id)).size).toBe(300);
    expect(new Set(ports.map((p) => p.macAddress)).size).toBe(300);
    for (const p of ports) {
      expect(p.macAddress).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
      expect(p.fixedIps).toHaveLength(1);
      expect(p.fixedIps[0].subnetId).toBe(subnet.id);
    }
    // The 300 lowest addresses after the gateway, in order: 10.50.0.2 ... 10.50.1.45.
    const expected = Array.from({ length: 300 }, (_, i) => `10.50.${Math.floor((i + 2) / 256)}.${(i + 2) % 256}`);
    expect(ports.map((p) => p.fixedIps[0].ipAddress)).toEqual(expected);

    const count = await c.ok(`query($f: PortFilter) { ports(filter: $f, first: 1) { totalCount } }`, { f: { networkId: network.id } });
    expect(count.ports.totalCount).toBe(300);

    const changes = await changesAfter(c, r, 1000);
    expect(changes).toHaveLength(300);
    expect(changes.map((ch) => ch.revision)).toEqual(Array.from({ length: 300 }, (_, i) => r + 1 + i));
    expect(changes.every((ch) => ch.kind === 'Port' && ch.operation === 'CREATE' && ch.generation === 1)).toBe(true);
    expect(changes.map((ch) => ch.id)).toEqual(ports.map((p) => p.id));
    expect(await revision(c)).toBe(r + 300);
  });

  it('is all or nothing: one bad port refuses the batch and writes nothing', async () => {
    const c = ctl();
    const { host } = await createHost(c);
    const network = await createNetwork(c);
    await createSubnet(c, network.id, '10.51.0.0/24');
    const r = await revision(c);
    const inputs = [
      { name: uniqueName('p'), networkId: network.id, hostId: host.id },
      { name: uniqueName('p'), networkId: network.id, hostId: host.id, fixedIps: [{ ipAddress: '10.51.0.2' }] },
    ];
    const result = await c.gql(`mutation($inputs: [CreatePortInput!]!) { createPorts(inputs: $inputs) { id } }`, { inputs });
    expect(errorCode(result)).toBe('CONFLICT');
    expect(result.errors?.[0].extensions?.field).toBe('inputs.1.fixedIps.0.ipAddress');
    expect(await revision(c)).toBe(r);
    const count = await c.ok(`query($f: PortFilter) { ports(filter: $f) { totalCount } }`, { f: { networkId: network.id } });
    expect(count.ports.totalCount).toBe(0);
  });

  it('cascade-deletes a network with 600 ports (more than one delete chunk) and records every deletion', async () => {
    const c = ctl();
    const { host } = await createHost(c);
    const network = await createNetwork(c);
    const subnet = await createSubnet(c, network.id, '10.52.0.0/22');
    const inputs = Array.from({ length: 600 }, (_, i) => ({ name: `big-${i}`, networkId: network.id, hostId: host.id }));
    const created = await c.ok(`mutation($inputs: [CreatePortInput!]!) { createPorts(inputs: $inputs) { id } }`, { inputs });
    const portIds: string[] = created.createPorts.map((p: { id: string }) => p.id);
    expect(portIds).toHaveLength(600);
    const r = await revision(c);
    const data = await c.ok(`mutation($i: CascadeDeleteInput!) { deleteNetwork(input: $i) { deletedIds revision } }`, {
      i: { id: network.id, cascade: true },
    });
    // Only the first id's place is promised: the network asked for.
    expect(data.deleteNetwork.deletedIds[0]).toBe(network.id);
    expect([...data.deleteNetwork.deletedIds].sort()).toEqual([network.id, subnet.id, ...portIds].sort());
    expect(data.deleteNetwork.revision).toBe(r + 602);
    const changes = await changesAfter(c, r, 1000);
    expect(changes).toHaveLength(602);
    expect(changes.every((ch) => ch.operation === 'DELETE')).toBe(true);
    expect(new Set(changes.map((ch) => ch.id))).toEqual(new Set([network.id, subnet.id, ...portIds]));
    const left = await c.ok(`query($f: PortFilter) { ports(filter: $f) { totalCount } }`, { f: { hostId: host.id } });
    expect(left.ports.totalCount).toBe(0);
    // The change feed can be read by kind.
    const byKind = await c.ok(`query($r: Int!) { changes(afterRevision: $r, first: 10, kinds: ["Network", "Subnet"]) { kind id } }`, { r });
    expect(byKind.changes).toEqual(
      expect.arrayContaining([
        { kind: 'Network', id: network.id },
        { kind: 'Subnet', id: subnet.id },
      ]),
    );
    expect(byKind.changes).toHaveLength(2);
  });

  it('refuses duplicate names within one batch and more than 1000 ports per call', async () => {
    const c = ctl();
    const { host } = await createHost(c);
    const network = await createNetwork(c);
    const r = await revision(c);
    const name = uniqueName('dup');
    const dup = await c.gql(`mutation($inputs: [CreatePortInput!]!) { createPorts(inputs: $inputs) { id } }`, {
      inputs: [
        { name, networkId: network.id, hostId: host.id, fixedIps: [] },
        { name, networkId: network.id, hostId: host.id, fixedIps: [] },
      ],
    });
    expect(errorCode(dup)).toBe('CONFLICT');
    expect(dup.errors?.[0].extensions?.field).toBe('inputs.1.name');
    const tooMany = Array.from({ length: 1001 }, (_, i) => ({ name: `many-${i}`, networkId: network.id, hostId: host.id, fixedIps: [] }));
    const big = await c.gql(`mutation($inputs: [CreatePortInput!]!) { createPorts(inputs: $inputs) { id } }`, { inputs: tooMany });
    expect(errorCode(big)).toBe('BAD_USER_INPUT');
    expect(await revision(c)).toBe(r);
  });
});

describe('concurrent writes', () => {
  const ctl = useController();

  it('parallel createPort calls get distinct addresses, MACs and consecutive revisions', async () => {
    const c = ctl();
    const { host } = await createHost(c);
    const network = await createNetwork(c);
    await createSubnet(c, network.id, '10.55.0.0/24');
    const r = await revision(c);
    const ports = await Promise.all(Array.from({ length: 20 }, () => createPort(c, network.id, host.id)));
    const ips = ports.map((p) => p.fixedIps[0].ipAddress);
    expect(new Set(ips).size).toBe(20);
    expect([...ips].sort((a, b) => Number(a.split('.')[3]) - Number(b.split('.')[3]))).toEqual(
      Array.from({ length: 20 }, (_, i) => `10.55.0.${i + 2}`),
    );
    expect(new Set(ports.map((p) => p.macAddress)).size).toBe(20);
    const changes = await changesAfter(c, r);
    expect(changes.map((ch) => ch.revision)).toEqual(Array.from({ length: 20 }, (_, i) => r + 1 + i));
    expect(new Set(changes.map((ch) => ch.id))).toEqual(new Set(ports.map((p) => p.id)));
  });

  it('of four parallel updates with the same generation exactly one wins', async () => {
    const c = ctl();
    const network = await createNetwork(c);
    const r = await revision(c);
    const results = await Promise.all(
      [1300, 1301, 1302, 1303].map((mtu) =>
        c.gql(`mutation($i: UpdateNetworkInput!) { updateNetwork(input: $i) { mtu generation } }`, {
          i: { id: network.id, generation: 1, mtu },
        }),
      ),
    );
    const winners = results.filter((res) => !res.errors);
    expect(winners).toHaveLength(1);
    expect(results.filter((res) => errorCode(res) === 'CONFLICT')).toHaveLength(3);
    const read = await getNetwork(c, network.id);
    expect(read.generation).toBe(2);
    expect(read.mtu).toBe(winners[0].data.updateNetwork.mtu);
    expect(await revision(c)).toBe(r + 1);
  });
});

describe('updates and optimistic concurrency', () => {
  const ctl = useController();
  const UPDATE_NETWORK = `mutation($input: UpdateNetworkInput!) {
    updateNetwork(input: $input) { id name mtu vni generation createdAt updatedAt labels { key value } }
  }`;

  it('updateNetwork changes name, mtu and labels, bumps generation by 1 and updatedAt', async () => {
    const c = ctl();
    const network = await createNetwork(c, { labels: [{ key: 'a', value: '1' }] });
    const before = await getNetwork(c, network.id);
    const r = await revision(c);
    await sleep(5);
    const name = uniqueName('renamed');
    const data = await c.ok(UPDATE_NETWORK, {
      input: { id: network.id, generation: 1, name, mtu: 1450, labels: [{ key: 'z', value: 'last' }, { key: 'b', value: 'two' }] },
    });
    const updated = data.updateNetwork;
    expect(updated).toEqual({
      id: network.id,
      name,
      mtu: 1450,
      vni: network.vni,
      generation: 2,
      createdAt: before.createdAt,
      updatedAt: expect.any(String),
      labels: [
        { key: 'b', value: 'two' },
        { key: 'z', value: 'last' },
      ],
    });
    expect(Date.parse(updated.updatedAt)).toBeGreaterThan(Date.parse(before.updatedAt));
    expect(await getNetwork(c, network.id)).toEqual(updated);
    expect(await changesAfter(c, r)).toEqual([{ revision: r + 1, kind: 'Network', id: network.id, operation: 'UPDATE', generation: 2 }]);

    // Without a generation the update is unconditional; fields not given stay as they are.
    const again = await c.ok(UPDATE_NETWORK, { input: { id: network.id, mtu: 9000 } });
    expect(again.updateNetwork).toMatchObject({ name, mtu: 9000, generation: 3, labels: updated.labels });
  });

  it('refuses an update or delete with a stale generation (CONFLICT) and changes nothing', async () => {
    const c = ctl();
    const network = await createNetwork(c, { mtu: 1400 });
    const ok = await c.ok(UPDATE_NETWORK, { input: { id: network.id, generation: 1, mtu: 1300 } });
    expect(ok.updateNetwork.generation).toBe(2);
    const snapshot = await getNetwork(c, network.id);
    const r = await revision(c);

    const stale = await c.gql(UPDATE_NETWORK, { input: { id: network.id, generation: 1, name: uniqueName('never'), mtu: 1200 } });
    expect(errorCode(stale)).toBe('CONFLICT');
    expect(stale.errors?.[0].extensions?.field).toBe('input.generation');
    expect(stale.data).toBeNull();
    const future = await c.gql(UPDATE_NETWORK, { input: { id: network.id, generation: 3, mtu: 1200 } });
    expect(errorCode(future)).toBe('CONFLICT');
    const staleDelete = await c.gql(`mutation($input: CascadeDeleteInput!) { deleteNetwork(input: $input) { deletedIds } }`, {
      input: { id: network.id, generation: 1 },
    });
    expect(errorCode(staleDelete)).toBe('CONFLICT');
    expect(await revision(c)).toBe(r);
    expect(await getNetwork(c, network.id)).toEqual(snapshot);

    const del = await c.ok(`mutation($input: CascadeDeleteInput!) { deleteNetwork(input: $input) { deletedIds revision } }`, {
      input: { id: network.id, generation: 2 },
    });
    expect(del.deleteNetwork).toEqual({ deletedIds: [network.id], revision: r + 1 });
    expect(await getNetwork(c, network.id)).toBeNull();
  });

  it('refuses stale deletes of subnets, ports and hosts', async () => {
    const c = ctl();
    const { host } = await createHost(c);
    const network = await createNetwork(c);
    const subnet = await createSubnet(c, network.id, '10.60.0.0/24');
    const port = await createPort(c, network.id, host.id, { fixedIps: [] });
    await c.ok(`mutation($i: UpdatePortInput!) { updatePort(input: $i) { id } }`, { i: { id: port.id, generation: 1 } });
    await c.ok(`mutation($i: UpdateSubnetInput!) { updateSubnet(input: $i) { id } }`, { i: { id: subnet.id, generation: 1 } });
    await c.ok(`mutation($i: UpdateHostInput!) { updateHost(input: $i) { id } }`, { i: { id: host.id, generation: 1 } });
    const r = await revision(c);
    const attempt = async (mutation: string, type: string, id: string) =>
      errorCode(await c.gql(`mutation($i: ${type}!) { ${mutation}(input: $i) { deletedIds } }`, { i: { id, generation: 1 } }));
    expect(await attempt('deletePort', 'DeleteInput', port.id)).toBe('CONFLICT');
    expect(await attempt('deleteSubnet', 'DeleteInput', subnet.id)).toBe('CONFLICT');
    expect(await attempt('deleteHost', 'CascadeDeleteInput', host.id)).toBe('CONFLICT');
    expect(await revision(c)).toBe(r);
    const ok = await c.ok(`mutation($i: DeleteInput!) { deletePort(input: $i) { deletedIds revision } }`, { i: { id: port.id, generation: 2 } });
    expect(ok.deletePort).toEqual({ deletedIds: [port.id], revision: r + 1 });
  });

  it('updateSubnet changes gatewayIp, dnsServers and allocationPools; IPAM follows', async () => {
    const c = ctl();
    const { host } = await createHost(c);
    const network = await createNetwork(c);
    const subnet = await createSubnet(c, network.id, '10.61.0.0/24');
    const data = await c.ok(
      `mutation($i: UpdateSubnetInput!) { updateSubnet(input: $i) { id cidr gatewayIp dnsServers allocationPools { start end } generation } }`,
      {
        i: {
          id: subnet.id,
          generation: 1,
          gatewayIp: '10.61.0.254',
          dnsServers: ['10.61.0.53', '2001:DB8:0::53'],
          allocationPools: [
            { start: '10.61.0.100', end: '10.61.0.110' },
            { start: '10.61.0.10', end: '10.61.0.20' },
          ],
        },
      },
    );
    expect(data.updateSubnet).toEqual({
      id: subnet.id,
      cidr: '10.61.0.0/24',
      gatewayIp: '10.61.0.254',
      dnsServers: ['10.61.0.53', '2001:db8::53'],
      allocationPools: [
        { start: '10.61.0.100', end: '10.61.0.110' },
        { start: '10.61.0.10', end: '10.61.0.20' },
      ],
      generation: 2,
    });
    const port = await createPort(c, network.id, host.id);
    expect(port.fixedIps).toEqual([{ ipAddress: '10.61.0.10', subnetId: subnet.id }]);
    // The old gateway is an ordinary address now and may be requested.
    const oldGw = await createPort(c, network.id, host.id, { fixedIps: [{ ipAddress: '10.61.0.1' }] });
    expect(oldGw.fixedIps[0].ipAddress).toBe('10.61.0.1');

    // A gateway inside the pools that stay is refused; so is one held by a port.
    const inPool = await c.gql(`mutation($i: UpdateSubnetInput!) { updateSubnet(input: $i) { id } }`, {
      i: { id: subnet.id, gatewayIp: '10.61.0.15' },
    });
    expect(errorCode(inPool)).toBe('BAD_USER_INPUT');
    const held = await c.gql(`mutation($i: UpdateSubnetInput!) { updateSubnet(input: $i) { id } }`, {
      i: { id: subnet.id, gatewayIp: '10.61.0.1' },
    });
    expect(errorCode(held)).toBe('CONFLICT');
    const read = await c.ok(`query($id: ID!) { subnet(id: $id) { gatewayIp generation } }`, { id: subnet.id });
    expect(read.subnet).toEqual({ gatewayIp: '10.61.0.254', generation: 2 });
  });

  it('updatePort renames a port; updateHost changes the VTEP address', async () => {
    const c = ctl();
    const { host } = await createHost(c);
    const network = await createNetwork(c);
    const port = await createPort(c, network.id, host.id, { fixedIps: [] });
    const name = uniqueName('renamed-port');
    const p = await c.ok(`mutation($i: UpdatePortInput!) { updatePort(input: $i) { id name generation macAddress } }`, {
      i: { id: port.id, generation: 1, name },
    });
    expect(p.updatePort).toEqual({ id: port.id, name, generation: 2, macAddress: port.macAddress });
    const stalePort = await c.gql(`mutation($i: UpdatePortInput!) { updatePort(input: $i) { id } }`, {
      i: { id: port.id, generation: 1, name: uniqueName('x') },
    });
    expect(errorCode(stalePort)).toBe('CONFLICT');

    const h = await c.ok(`mutation($i: UpdateHostInput!) { updateHost(input: $i) { id name vtepAddress generation } }`, {
      i: { id: host.id, generation: 1, vtepAddress: '2001:DB8:0:0::7' },
    });
    expect(h.updateHost).toEqual({ id: host.id, name: host.name, vtepAddress: '2001:db8::7', generation: 2 });
    const read = await c.ok(`query($id: ID) { host(id: $id) { vtepAddress generation } }`, { id: host.id });
    expect(read.host).toEqual({ vtepAddress: '2001:db8::7', generation: 2 });
    const staleHost = await c.gql(`mutation($i: UpdateHostInput!) { updateHost(input: $i) { id } }`, {
      i: { id: host.id, generation: 1, vtepAddress: '192.0.2.200' },
    });
    expect(errorCode(staleHost)).toBe('CONFLICT');
    const missing = await c.gql(`mutation($i: UpdateHostInput!) { updateHost(input: $i) { id } }`, { i: { id: MISSING_ID, name: 'x' } });
    expect(errorCode(missing)).toBe('NOT_FOUND');
  });
});

describe('deletes', () => {
  const ctl = useController();
  const DELETE_PORT = `mutation($i: DeleteInput!) { deletePort(input: $i) { deletedIds revision } }`;
  const DELETE_SUBNET = `mutation($i: DeleteInput!) { deleteSubnet(input: $i) { deletedIds revision } }`;
  const DELETE_NETWORK = `mutation($i: CascadeDeleteInput!) { deleteNetwork(input: $i) { deletedIds revision } }`;
  const DELETE_HOST = `mutation($i: CascadeDeleteInput!) { deleteHost(input: $i) { deletedIds revision } }`;

  it('deletePort frees its address: the next port gets the same lowest address', async () => {
    const c = ctl();
    const { host } = await createHost(c);
    const network = await createNetwork(c);
    await createSubnet(c, network.id, '10.70.0.0/24');
    const p1 = await createPort(c, network.id, host.id);
    const p2 = await createPort(c, network.id, host.id);
    expect([p1.fixedIps[0].ipAddress, p2.fixedIps[0].ipAddress]).toEqual(['10.70.0.2', '10.70.0.3']);
    const r = await revision(c);
    const del = await c.ok(DELETE_PORT, { i: { id: p1.id } });
    expect(del.deletePort).toEqual({ deletedIds: [p1.id], revision: r + 1 });
    expect(await changesAfter(c, r)).toEqual([{ revision: r + 1, kind: 'Port', id: p1.id, operation: 'DELETE', generation: 2 }]);
    expect((await c.ok(`query($id: ID!) { port(id: $id) { id } }`, { id: p1.id })).port).toBeNull();
    const p3 = await createPort(c, network.id, host.id);
    expect(p3.fixedIps[0].ipAddress).toBe('10.70.0.2');
    // A requested address is freed too.
    const p4 = await createPort(c, network.id, host.id, { fixedIps: [{ ipAddress: '10.70.0.99' }] });
    await c.ok(DELETE_PORT, { i: { id: p4.id, generation: 1 } });
    const p5 = await createPort(c, network.id, host.id, { fixedIps: [{ ipAddress: '10.70.0.99' }] });
    expect(p5.fixedIps[0].ipAddress).toBe('10.70.0.99');
    expect(errorCode(await c.gql(DELETE_PORT, { i: { id: p1.id } }))).toBe('NOT_FOUND');
  });

  it('deleteSubnet is refused while a port holds an address, and works after', async () => {
    const c = ctl();
    const { host } = await createHost(c);
    const network = await createNetwork(c);
    const subnet = await createSubnet(c, network.id, '10.71.0.0/24');
    const port = await createPort(c, network.id, host.id);
    const r = await revision(c);
    const refused = await c.gql(DELETE_SUBNET, { i: { id: subnet.id } });
    expect(errorCode(refused)).toBe('CONFLICT');
    expect(await revision(c)).toBe(r);
    await c.ok(DELETE_PORT, { i: { id: port.id } });
    const ok = await c.ok(DELETE_SUBNET, { i: { id: subnet.id, generation: 1 } });
    expect(ok.deleteSubnet).toEqual({ deletedIds: [subnet.id], revision: r + 2 });
    expect((await c.ok(`query($id: ID!) { subnet(id: $id) { id } }`, { id: subnet.id })).subnet).toBeNull();
    // The network is empty now and deletes without cascade.
    const net = await c.ok(DELETE_NETWORK, { i: { id: network.id } });
    expect(net.deleteNetwork).toEqual({ deletedIds: [network.id], revision: r + 3 });
  });

  it('deleteNetwork with subnets and ports needs cascade, which deletes everything and records each deletion', async () => {
    const c = ctl();
    const { host } = await createHost(c);
    const network = await createNetwork(c);
    const v4 = await createSubnet(c, network.id, '10.72.0.0/24');
    const v6 = await createSubnet(c, network.id, 'fd00:72::/64');
    const p1 = await createPort(c, network.id, host.id);
    const p2 = await createPort(c, network.id, host.id);
    const r = await revision(c);

    const refused = await c.gql(DELETE_NETWORK, { i: { id: network.id } });
    expect(errorCode(refused)).toBe('CONFLICT');
    expect(refused.errors?.[0].extensions?.field).toBe('input.cascade');
    const onlySubnets = await createNetwork(c);
    await createSubnet(c, onlySubnets.id, '10.73.0.0/24');
    expect(errorCode(await c.gql(DELETE_NETWORK, { i: { id: onlySubnets.id, cascade: false } }))).toBe('CONFLICT');
    const r2 = await revision(c);
    expect(r2).toBe(r + 2);

    const data = await c.ok(DELETE_NETWORK, { i: { id: network.id, cascade: true, generation: 1 } });
    const { deletedIds, revision: rev } = data.deleteNetwork;
    expect(deletedIds[0]).toBe(network.id);
    expect([...deletedIds].sort()).toEqual([network.id, v4.id, v6.id, p1.id, p2.id].sort());
    expect(rev).toBe(r2 + 5);
    const changes = await changesAfter(c, r2);
    expect(changes.map((ch) => ch.revision)).toEqual([1, 2, 3, 4, 5].map((i) => r2 + i));
    expect(changes.every((ch) => ch.operation === 'DELETE' && ch.generation === 2)).toBe(true);
    const kinds = Object.fromEntries(changes.map((ch) => [ch.id, ch.kind]));
    expect(kinds).toEqual({ [network.id]: 'Network', [v4.id]: 'Subnet', [v6.id]: 'Subnet', [p1.id]: 'Port', [p2.id]: 'Port' });

    const gone = await c.ok(
      `query($n: ID, $s: ID!, $p: ID!) { network(id: $n) { id } subnet(id: $s) { id } port(id: $p) { id } }`,
      { n: network.id, s: v4.id, p: p1.id },
    );
    expect(gone).toEqual({ network: null, subnet: null, port: null });
    const ports = await c.ok(`query($f: PortFilter) { ports(filter: $f) { totalCount } }`, { f: { hostId: host.id } });
    expect(ports.ports.totalCount).toBe(0);
    // The VNI and the CIDRs are free again.
    const again = await createNetwork(c, { vni: network.vni, name: network.name });
    await createSubnet(c, again.id, '10.72.0.0/24');
    const port = await createPort(c, again.id, host.id);
    expect(port.fixedIps[0].ipAddress).toBe('10.72.0.2');
  });

  it('deleteHost with ports needs cascade, which deletes its ports and frees their addresses', async () => {
    const c = ctl();
    const { host } = await createHost(c);
    const { host: other } = await createHost(c);
    const network = await createNetwork(c);
    await createSubnet(c, network.id, '10.74.0.0/24');
    const p1 = await createPort(c, network.id, host.id);
    const keep = await createPort(c, network.id, other.id);
    const p2 = await createPort(c, network.id, host.id);
    const r = await revision(c);

    const refused = await c.gql(DELETE_HOST, { i: { id: host.id } });
    expect(errorCode(refused)).toBe('CONFLICT');
    expect(await revision(c)).toBe(r);

    const data = await c.ok(DELETE_HOST, { i: { id: host.id, cascade: true } });
    expect(data.deleteHost.deletedIds[0]).toBe(host.id);
    expect([...data.deleteHost.deletedIds].sort()).toEqual([host.id, p1.id, p2.id].sort());
    expect(data.deleteHost.revision).toBe(r + 3);
    const changes = await changesAfter(c, r);
    expect(changes.map((ch) => [ch.kind, ch.id, ch.operation]).sort()).toEqual(
      [
        ['Host', host.id, 'DELETE'],
        ['Port', p1.id, 'DELETE'],
        ['Port', p2.id, 'DELETE'],
      ].sort(),
    );
    expect((await c.ok(`query($id: ID) { host(id: $id) { id } }`, { id: host.id })).host).toBeNull();
    expect((await c.ok(`query($id: ID!) { port(id: $id) { id } }`, { id: keep.id })).port.id).toBe(keep.id);
    const next = await createPort(c, network.id, other.id);
    expect(next.fixedIps[0].ipAddress).toBe('10.74.0.2');

    // A host without ports deletes without cascade.
    const { host: empty } = await createHost(c);
    const plain = await c.ok(DELETE_HOST, { i: { id: empty.id, generation: 1 } });
    expect(plain.deleteHost.deletedIds).toEqual([empty.id]);
  });
});

describe('subscriptions over graphql-ws', () => {
  const ctl = useController();
  const clients: Client[] = [];
  afterAll(async () => {
    for (const client of clients) await client.dispose();
  });

  const waitFor = async (what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(20);
    }
  };

  function subscribe(client: Client, kinds?: string[]) {
    const events: Change[] = [];
    const errors: unknown[] = [];
    const query = `subscription($kinds: [String!]) { resourceChanges(kinds: $kinds) { ${CHANGE_FIELDS} } }`;
    const unsubscribe = client.subscribe<{ resourceChanges: Change }>(
      { query, variables: kinds ? { kinds } : {} },
      {
        next: (message) => {
          if (message.errors) errors.push(message.errors);
          if (message.data) events.push(message.data.resourceChanges);
        },
        error: (error) => errors.push(error),
        complete: () => undefined,
      },
    );
    return { events, errors, unsubscribe };
  }

  it('delivers committed changes: filtered by kind, and all of them in revision order', async () => {
    const c = ctl();
    const filteredClient = c.ws();
    const allClient = c.ws();
    clients.push(filteredClient, allClient);
    const filtered = subscribe(filteredClient, ['Network']);
    const all = subscribe(allClient);

    // Subscriptions start asynchronously: write probe networks until both subscribers see one.
    const seenBy = (id: string) => filtered.events.some((e) => e.id === id) && all.events.some((e) => e.id === id);
    let started = false;
    for (let attempt = 0; attempt < 50 && !started; attempt++) {
      const probeId = (await createNetwork(c)).id;
      started = await waitFor('probe', () => seenBy(probeId), 300).then(
        () => true,
        () => false,
      );
    }
    expect(started).toBe(true);
    filtered.events.length = 0;
    all.events.length = 0;

    const r = await revision(c);
    const { host } = await createHost(c);
    const network = await createNetwork(c);
    await waitFor('both events', () => all.events.length >= 2 && filtered.events.length >= 1);
    await sleep(200);

    expect(filtered.errors).toEqual([]);
    expect(all.errors).toEqual([]);
    expect(filtered.events).toEqual([{ kind: 'Network', id: network.id, operation: 'CREATE', revision: r + 2, generation: 1 }]);
    expect(all.events).toEqual([
      { kind: 'Host', id: host.id, operation: 'CREATE', revision: r + 1, generation: 1 },
      { kind: 'Network', id: network.id, operation: 'CREATE', revision: r + 2, generation: 1 },
    ]);

    // Updates and deletes are delivered too, and a failed write publishes nothing.
    const upd = await c.ok(`mutation($i: UpdateNetworkInput!) { updateNetwork(input: $i) { generation } }`, {
      i: { id: network.id, mtu: 1400 },
    });
    expect(upd.updateNetwork.generation).toBe(2);
    expect(errorCode(await c.gql(`mutation($i: UpdateNetworkInput!) { updateNetwork(input: $i) { id } }`, { i: { id: network.id, generation: 1 } }))).toBe(
      'CONFLICT',
    );
    await c.ok(`mutation($i: CascadeDeleteInput!) { deleteNetwork(input: $i) { revision } }`, { i: { id: network.id } });
    await waitFor('update and delete', () => filtered.events.length >= 3);
    await sleep(100);
    expect(filtered.events.slice(1)).toEqual([
      { kind: 'Network', id: network.id, operation: 'UPDATE', revision: r + 3, generation: 2 },
      { kind: 'Network', id: network.id, operation: 'DELETE', revision: r + 4, generation: 3 },
    ]);
    expect(all.events.map((e) => e.revision)).toEqual([r + 1, r + 2, r + 3, r + 4]);

    filtered.unsubscribe();
    all.unsubscribe();
  });

  it('refuses a websocket subscription without a valid token', async () => {
    const c = ctl();
    const anonymous = c.ws(null);
    clients.push(anonymous);
    const outcome = await new Promise<string>((done) => {
      anonymous.subscribe(
        { query: `subscription { resourceChanges { revision } }` },
        { next: () => done('next'), error: () => done('error'), complete: () => done('complete') },
      );
    });
    expect(outcome).toBe('error');
  });
});

describe('restart on the same data folder', () => {
  const ctl = useController();

  it('keeps all data and the admin token, and continues the revision sequence', async () => {
    const c = ctl();
    const token = c.adminToken;
    expect(token).not.toBe('');
    const { host } = await createHost(c);
    const network = await createNetwork(c, { labels: [{ key: 'keep', value: 'yes' }], mtu: 1400 });
    const subnet = await createSubnet(c, network.id, '10.80.0.0/24', { dnsServers: ['10.80.0.53'] });
    const port = await createPort(c, network.id, host.id);
    const QUERY = `query($n: ID) { network(id: $n) {
      id name vni mtu generation labels { key value } createdAt updatedAt
      subnets { edges { node { id cidr gatewayIp dnsServers allocationPools { start end } } } }
      ports { edges { node { id name macAddress generation host { id name vtepAddress } fixedIps { ipAddress subnetId } } } }
    } }`;
    const before = await c.ok(QUERY, { n: network.id });
    const lastRevision = await revision(c);
    expect(lastRevision).toBeGreaterThanOrEqual(4);

    await c.stop();
    await c.launch();

    expect(c.output.filter((line) => line.startsWith('NETLOOM_ADMIN_TOKEN=')).length).toBe(1);
    expect(c.adminToken).toBe(token);
    const me = await c.ok('{ me { name role revokedAt } }');
    expect(me.me).toEqual({ name: 'bootstrap-admin', role: 'ADMIN', revokedAt: null });
    expect(await c.ok(QUERY, { n: network.id })).toEqual(before);
    expect(before.network.ports.edges.map((e: any) => e.node)).toEqual([
      {
        id: port.id,
        name: port.name,
        macAddress: port.macAddress,
        generation: 1,
        host: { id: host.id, name: host.name, vtepAddress: expect.any(String) },
        fixedIps: [{ ipAddress: '10.80.0.2', subnetId: subnet.id }],
      },
    ]);
    expect(await revision(c)).toBe(lastRevision);

    const next = await createPort(c, network.id, host.id);
    expect(next.fixedIps[0].ipAddress).toBe('10.80.0.3');
    expect(await changesAfter(c, lastRevision)).toEqual([
      { revision: lastRevision + 1, kind: 'Port', id: next.id, operation: 'CREATE', generation: 1 },
    ]);
    // Ids made after the restart still sort after the old ones (pagination order = creation order).
    const all = await c.ok(`query($f: PortFilter) { ports(filter: $f) { edges { node { id } } } }`, { f: { networkId: network.id } });
    expect(all.ports.edges.map((e: any) => e.node.id)).toEqual([port.id, next.id]);
  });
});
