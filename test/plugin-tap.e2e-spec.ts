import { execa } from 'execa';
import { Cluster } from '@netloom/simhosts';
import { createHost, createNetwork, createPort, createSubnet, uniqueName, useController } from './support/fixtures';

// The plugin pipeline end to end, with the SDK's example plugin (plugins/tap): a kind generated
// into the GraphQL API, placed by its controller half, realized by its agent half on a simulated
// host, reachable over the overlay from a port on another host.
const describeRoot = process.getuid?.() === 0 ? describe : describe.skip;

describeRoot('a plugin kind end to end (netloom.tap)', () => {
  let cluster: Cluster;
  jest.setTimeout(60_000);

  beforeAll(async () => {
    cluster = await Cluster.start({ prefix: `p${Math.random().toString(36).slice(2, 5)}`, hosts: 2, resyncMs: 2_000 });
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it('agents report the plugin they run', async () => {
    const { hosts } = await cluster.controller.ok('{ hosts { edges { node { agent { plugins } } } } }');
    for (const edge of hosts.edges) expect(edge.node.agent.plugins).toContain('netloom.tap@0.1.0');
  });

  it('creates a tap on one host through the generated API; a port on the other host reaches it', async () => {
    const c = cluster.controller;
    const [h0, h1] = cluster.hostIds;
    const { createNetwork } = await c.ok('mutation { createNetwork(input: { name: "probe" }) { id } }');
    const networkId = createNetwork.id;
    await c.ok('mutation($n: ID!) { createSubnet(input: { name: "s", networkId: $n, cidr: "10.81.0.0/24" }) { id } }', { n: networkId });
    const { createPort } = await c.ok(
      'mutation($n: ID!, $h: ID!) { createPort(wait: true, input: { name: "web", networkId: $n, hostId: $h }) { fixedIps { ipAddress } status { attributes { key value } } } }',
      { n: networkId, h: h0 },
    );
    const portNetns = createPort.status[0].attributes.find((a: { key: string }) => a.key === 'netns').value;

    // Bad input is refused with the plugin's own message and nothing is written.
    const refused = await c.gql('mutation($n: ID!, $h: ID!) { createTap(input: { name: "bad", hostId: $h, networkId: $n, address: "10.81.0.1" }) { id } }', {
      n: networkId,
      h: h1,
    });
    expect(refused.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.address' });
    expect((await c.ok('{ taps { totalCount } }')).taps.totalCount).toBe(0);

    const { createTap } = await c.ok(
      'mutation($n: ID!, $h: ID!) { createTap(wait: true, input: { name: "t1", hostId: $h, networkId: $n, address: "10.81.0.50" }) { id name address status { state hostId attributes { key value } } } }',
      { n: networkId, h: h1 },
    );
    expect(createTap.status).toEqual([expect.objectContaining({ state: 'APPLIED', hostId: h1 })]);
    const tapNetns = createTap.status[0].attributes.find((a: { key: string }) => a.key === 'netns').value;
    // Across hosts, both ways: the tap's MAC and address are programmed into the overlay.
    expect((await execa('ip', ['netns', 'exec', portNetns, 'ping', '-c1', '-W1', '10.81.0.50'], { reject: false })).exitCode).toBe(0);
    expect((await execa('ip', ['netns', 'exec', tapNetns, 'ping', '-c1', '-W1', createPort.fixedIps[0].ipAddress], { reject: false })).exitCode).toBe(0);

    // The change feed carries the plugin kind; deleting removes the tap's namespace on its host.
    const { changes } = await c.ok('{ changes(afterRevision: 0, first: 1000, kinds: ["Tap"]) { kind operation } }');
    expect(changes).toEqual([{ kind: 'Tap', operation: 'CREATE' }]);
    await c.ok('mutation($id: ID!) { deleteTap(wait: true, input: { id: $id }) { deletedIds } }', { id: createTap.id });
    const { stdout } = await execa('ip', ['netns', 'list']);
    expect(stdout).not.toContain(tapNetns);
    await c.ok('mutation($id: ID!) { deleteNetwork(wait: true, input: { id: $id, cascade: true }) { revision } }', { id: networkId });
  });
});

// IPAM knows the tap's address: no port is ever given it, and one a port holds is no tap's.
describe('a tap holds its address in IPAM (netloom.tap)', () => {
  const ctl = useController();
  const CREATE_TAP = 'mutation($i: CreateTapInput!) { createTap(input: $i) { id address } }';
  const CREATE_PORTS = 'mutation($inputs: [CreatePortInput!]!) { createPorts(inputs: $inputs) { fixedIps { ipAddress } } }';
  let hostId: string;
  let networkId: string;

  beforeAll(async () => {
    const c = ctl();
    hostId = (await createHost(c)).host.id;
    networkId = (await createNetwork(c)).id;
    // A /28: the gateway .1 and 13 addresses for ports, .2 to .14.
    await createSubnet(c, networkId, '10.83.0.0/28');
  });

  it('createPorts filling the subnet never hands out the address of a tap; it comes back when the tap goes', async () => {
    const c = ctl();
    const { createTap } = await c.ok(CREATE_TAP, { i: { name: uniqueName('tap'), hostId, networkId, address: '10.83.0.7' } });
    const ports = (n: number) => Array.from({ length: n }, () => ({ name: uniqueName('port'), networkId, hostId }));
    const { createPorts } = await c.ok(CREATE_PORTS, { inputs: ports(12) });
    const given = createPorts.map((p: { fixedIps: { ipAddress: string }[] }) => p.fixedIps[0].ipAddress);
    expect(given).toHaveLength(12);
    expect(given).not.toContain('10.83.0.7');
    expect(new Set(given).size).toBe(12);
    // The subnet is full: the tap's address is not the 13th.
    const full = await c.gql(CREATE_PORTS, { inputs: ports(1) });
    expect(full.errors?.[0].extensions).toMatchObject({ code: 'CONFLICT', field: 'inputs.0.fixedIps.0' });

    await c.ok('mutation($id: ID!) { deleteTap(input: { id: $id }) { deletedIds } }', { id: createTap.id });
    expect((await c.ok(CREATE_PORTS, { inputs: ports(1) })).createPorts[0].fixedIps).toEqual([{ ipAddress: '10.83.0.7' }]);
  });

  it("refuses a tap on a port's address with CONFLICT on input.address, writing nothing", async () => {
    const c = ctl();
    const net = (await createNetwork(c)).id;
    const sub = (await createSubnet(c, net, '10.84.0.0/24')).id;
    const port = await createPort(c, net, hostId, { fixedIps: [{ subnetId: sub, ipAddress: '10.84.0.20' }] });
    const before = await c.ok('{ revision taps { totalCount } }');
    const refused = await c.gql(CREATE_TAP, { i: { name: uniqueName('tap'), hostId, networkId: net, address: '10.84.0.20' } });
    expect(refused.errors).toHaveLength(1);
    expect(refused.errors![0].extensions).toMatchObject({ code: 'CONFLICT', field: 'input.address' });
    expect(refused.errors![0].message).toContain(port.id);
    expect(await c.ok('{ revision taps { totalCount } }')).toEqual(before);
    // Another tap's address likewise.
    await c.ok(CREATE_TAP, { i: { name: uniqueName('tap'), hostId, networkId: net, address: '10.84.0.21' } });
    const twice = await c.gql(CREATE_TAP, { i: { name: uniqueName('tap'), hostId, networkId: net, address: '10.84.0.21' } });
    expect(twice.errors?.[0].extensions).toMatchObject({ code: 'CONFLICT', field: 'input.address' });
    // And a port cannot take the tap's.
    const taken = await c.gql('mutation($i: CreatePortInput!) { createPort(input: $i) { id } }', {
      i: { name: uniqueName('port'), networkId: net, hostId, fixedIps: [{ ipAddress: '10.84.0.21' }] },
    });
    expect(taken.errors?.[0].extensions).toMatchObject({ code: 'CONFLICT', field: 'input.fixedIps.0.ipAddress' });
  });
});
