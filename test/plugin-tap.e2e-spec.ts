import { execa } from 'execa';
import { Cluster } from '@netloom/simhosts';

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
