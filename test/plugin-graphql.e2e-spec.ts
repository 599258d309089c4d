/**
 * The generated GraphQL of the built-in plugin kinds, through a controller in this process (no
 * agents): a resource's refs resolve to the objects they name (null, or left out of a list, once
 * gone), the shared core types (Label) are used as such, and `placement` tells a resource placed
 * on no host from one not placed yet.
 */
import { BetterSqlite3QueryRunner } from 'typeorm/driver/better-sqlite3/BetterSqlite3QueryRunner';
import { PostgresQueryRunner } from 'typeorm/driver/postgres/PostgresQueryRunner';
import { testStore } from './support/fixtures';
import { InProcessController, inProcessController } from './support/in-process';

jest.setTimeout(60_000);

describe('plugin kinds in GraphQL', () => {
  let ctl: InProcessController;
  const gql = (query: string, variables: Record<string, unknown> = {}) => ctl.gql(query, variables);
  const world: { hostId?: string; networkId?: string; subnetId?: string; portIds?: string[] } = {};

  beforeAll(async () => {
    ctl = await inProcessController('plugin-graphql');
    const { createHost } = await gql('mutation { createHost(input: { name: "h1", vtepAddress: "192.0.2.1" }) { host { id } } }');
    const { createNetwork } = await gql('mutation { createNetwork(input: { name: "n1" }) { id } }');
    const { createSubnet } = await gql('mutation($n: ID!) { createSubnet(input: { name: "s1", networkId: $n, cidr: "10.70.0.0/24" }) { id } }', { n: createNetwork.id });
    const ports = ['a', 'b'].map((name) => ({ name, networkId: createNetwork.id, hostId: createHost.host.id }));
    const { createPorts } = await gql('mutation($p: [CreatePortInput!]!) { createPorts(inputs: $p) { id } }', { p: ports });
    Object.assign(world, { hostId: createHost.host.id, networkId: createNetwork.id, subnetId: createSubnet.id, portIds: createPorts.map((p: { id: string }) => p.id) });
  }, 30_000);

  afterAll(async () => {
    await ctl?.close();
  });

  it("resolves a firewall policy's selected ports and networks, and a load balancer's subnet and host, to their objects", async () => {
    const { createFirewallPolicy } = await gql(
      `mutation($input: CreateFirewallPolicyInput!) { createFirewallPolicy(input: $input) {
        selector { portIds ports { id name } networkIds networks { id name } labels { key value } }
      } }`,
      { input: { name: 'fw1', selector: { portIds: world.portIds, networkIds: [world.networkId], labels: [{ key: 'tier', value: 'web' }] } } },
    );
    expect(createFirewallPolicy.selector).toEqual({
      portIds: world.portIds,
      ports: [
        { id: world.portIds![0], name: 'a' },
        { id: world.portIds![1], name: 'b' },
      ],
      networkIds: [world.networkId],
      networks: [{ id: world.networkId, name: 'n1' }],
      labels: [{ key: 'tier', value: 'web' }],
    });
    const { createLoadBalancer } = await gql(
      `mutation($input: CreateLoadBalancerInput!) { createLoadBalancer(input: $input) {
        hostId host { id name } subnetId subnet { id cidr network { name } } vipAddress
      } }`,
      { input: { name: 'lb1', hostId: world.hostId, subnetId: world.subnetId } },
    );
    expect(createLoadBalancer).toMatchObject({ hostId: world.hostId, host: { id: world.hostId, name: 'h1' }, subnet: { id: world.subnetId, cidr: '10.70.0.0/24', network: { name: 'n1' } } });
  });

  it('leaves a deleted port out of the list, keeping its id', async () => {
    await gql('mutation($id: ID!) { deletePort(input: { id: $id }) { deletedIds } }', { id: world.portIds![1] });
    const { firewallPolicy } = await gql('{ firewallPolicy(name: "fw1") { selector { portIds ports { id } } } }');
    expect(firewallPolicy.selector).toEqual({ portIds: world.portIds, ports: [{ id: world.portIds![0] }] });
  });

  it('loads the ref objects of a page of resources in a few statements, not one per resource', async () => {
    // Each policy its own port, so the per-request cache alone would not hide one statement per row.
    const ports = Array.from({ length: 8 }, (_, i) => ({ name: `many-${i}`, networkId: world.networkId, hostId: world.hostId }));
    const { createPorts } = await gql('mutation($p: [CreatePortInput!]!) { createPorts(inputs: $p) { id } }', { p: ports });
    for (const [i, port] of (createPorts as { id: string }[]).entries()) {
      await gql('mutation($input: CreateFirewallPolicyInput!) { createFirewallPolicy(input: $input) { id } }', {
        input: { name: `fw-many-${i}`, labels: [{ key: 'batch', value: 'many' }], selector: { portIds: [port.id], networkIds: [world.networkId] } },
      });
    }
    const PAGE = `query($first: Int) { firewallPolicies(first: $first, filter: { labels: [{ key: "batch", value: "many" }] }) { edges { node {
      name selector { ports { id name network { name } } networks { name } }
    } } } }`;
    const countQueries = async (first: number): Promise<number> => {
      const runner = testStore() === 'postgres' ? PostgresQueryRunner : BetterSqlite3QueryRunner;
      const spy = jest.spyOn(runner.prototype, 'query');
      try {
        const data = await gql(PAGE, { first });
        expect(data.firewallPolicies.edges).toHaveLength(first);
        return spy.mock.calls.filter(([sql]) => !/FROM "(changes|host_agents|resource_statuses)"/.test(sql)).length;
      } finally {
        spy.mockRestore();
      }
    };
    const one = await countQueries(1);
    expect(one).toBeGreaterThan(1);
    expect(await countQueries(8)).toBe(one);
  });

  /** The placement once the controller has placed the resource's latest change (realization runs after the commit). */
  async function settledPlacement(field: string, name: string): Promise<{ state: string; hosts: number; reason: string | null; statuses: number }> {
    for (let i = 0; i < 100; i++) {
      const data = await gql(`query($name: String) { ${field}(name: $name) { placement { state hosts reason } status { hostId } } }`, { name });
      if (data[field].placement.state !== 'PENDING') return { ...data[field].placement, statuses: data[field].status.length };
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`${field} ${name} is still PENDING`);
  }

  it('says PLACED on how many hosts, or NONE with the reason, where status alone is an empty list either way', async () => {
    expect(await settledPlacement('firewallPolicy', 'fw1')).toEqual({ state: 'PLACED', hosts: 1, reason: null, statuses: 0 });
    expect(await settledPlacement('loadBalancer', 'lb1')).toEqual({ state: 'PLACED', hosts: 1, reason: null, statuses: 0 });
    await gql('mutation($input: CreateFirewallPolicyInput!) { createFirewallPolicy(input: $input) { id } }', {
      input: { name: 'fw-none', selector: { labels: [{ key: 'tier', value: 'nobody' }] } },
    });
    expect(await settledPlacement('firewallPolicy', 'fw-none')).toEqual({ state: 'NONE', hosts: 0, reason: 'its plugin placed it on no host', statuses: 0 });
  });

  it('creates many resources of a kind in one transaction (createFirewallPolicies): all, or none with the refused input named', async () => {
    const count = async (): Promise<number> => (await gql('{ firewallPolicies { totalCount } }')).firewallPolicies.totalCount;
    const errorOf = async (inputs: Record<string, unknown>[]): Promise<{ message: string; extensions?: { code?: string; field?: string } } | undefined> => {
      const response = await fetch(`${ctl.base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ctl.token}` },
        body: JSON.stringify({ query: 'mutation($i: [CreateFirewallPolicyInput!]!) { createFirewallPolicies(inputs: $i) { id } }', variables: { i: inputs } }),
      });
      return ((await response.json()) as { errors?: { message: string; extensions?: { code?: string; field?: string } }[] }).errors?.[0];
    };
    const policy = (name: string, rules: Record<string, unknown>[] = []) => ({ name, selector: { portIds: [world.portIds![0]] }, rules });
    const tcp = (priority: number) => ({ priority, direction: 'INGRESS', protocol: 'TCP', ports: [{ from: 80 }], remoteCidrs: [], remoteGroupIds: [], action: 'ALLOW' });
    const before = await count();
    // The second input's rule names an address group that does not exist; the third repeats the first's name.
    const missing = await errorOf([policy('batch-a'), policy('batch-b', [{ ...tcp(1), remoteGroupIds: [world.portIds![0]] }])]);
    expect(missing).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'inputs.1.rules.0.remoteGroupIds.0' } });
    expect(missing!.message).toMatch(/^inputs\.1\.rules\.0\.remoteGroupIds\.0: AddressGroup .* does not exist/);
    expect(await errorOf([policy('batch-a'), policy('batch-b'), policy('batch-a')])).toMatchObject({ extensions: { code: 'CONFLICT', field: 'inputs.2.name' } });
    expect(await count()).toBe(before);
    const { createFirewallPolicies } = await gql('mutation($i: [CreateFirewallPolicyInput!]!) { createFirewallPolicies(inputs: $i) { id name rules { priority } } }', {
      i: [policy('batch-a', [tcp(1), tcp(2)]), policy('batch-b')],
    });
    expect(createFirewallPolicies.map((p: { name: string }) => p.name)).toEqual(['batch-a', 'batch-b']);
    expect(createFirewallPolicies[0].rules).toEqual([{ priority: 1 }, { priority: 2 }]);
    expect(await count()).toBe(before + 2);
    // A name taken before the call, on a later input (the batch looks names up once: still refused, named).
    expect(await errorOf([policy('batch-c'), policy('batch-b')])).toMatchObject({ extensions: { code: 'CONFLICT', field: 'inputs.1.name' } });
    // The first refusal in input order wins, whatever its kind: a bad ref on input 1 before a taken name on input 2.
    const first = await errorOf([policy('batch-d'), policy('batch-e', [{ ...tcp(1), remoteGroupIds: [world.portIds![0]] }]), policy('batch-a')]);
    expect(first).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'inputs.1.rules.0.remoteGroupIds.0' } });
    expect(await count()).toBe(before + 2);
    // More than a call may make: refused as a whole.
    const tooMany = await errorOf(Array.from({ length: 1001 }, (_, i) => policy(`batch-many-${i}`)));
    expect(tooMany).toMatchObject({ message: 'at most 1000 per call, got 1001', extensions: { code: 'BAD_USER_INPUT', field: 'inputs' } });
    expect(await count()).toBe(before + 2);
    // None: nothing made, nothing waited for.
    expect(await gql('mutation { createFirewallPolicies(inputs: [], wait: true) { id } }')).toEqual({ createFirewallPolicies: [] });
    expect(await count()).toBe(before + 2);
  });

  it('picks the addresses of a batch around each other: a VIP given by one input is not picked for a later one', async () => {
    // A subnet of its own, empty: its gateway is .1, so the first free address is .2.
    const { createNetwork } = await gql('mutation { createNetwork(input: { name: "vips" }) { id } }');
    const { createSubnet } = await gql('mutation($n: ID!) { createSubnet(input: { name: "vips", networkId: $n, cidr: "10.71.0.0/24" }) { id } }', { n: createNetwork.id });
    const lb = (name: string, vipAddress?: string) => ({ name, subnetId: createSubnet.id, mode: 'DISTRIBUTED', ...(vipAddress ? { vipAddress } : {}), listeners: [] });
    const { createLoadBalancers } = await gql('mutation($i: [CreateLoadBalancerInput!]!) { createLoadBalancers(inputs: $i) { id name vipAddress } }', {
      i: [lb('vip-a'), lb('vip-b', '10.71.0.3'), lb('vip-c'), lb('vip-d')],
    });
    expect(createLoadBalancers.map((l: { name: string; vipAddress: string }) => [l.name, l.vipAddress])).toEqual([
      ['vip-a', '10.71.0.2'],
      ['vip-b', '10.71.0.3'],
      ['vip-c', '10.71.0.4'],
      ['vip-d', '10.71.0.5'],
    ]);
    for (const { id } of createLoadBalancers) await gql('mutation($id: ID!) { deleteLoadBalancer(input: { id: $id }) { deletedIds } }', { id });
    await gql('mutation($id: ID!) { deleteSubnet(input: { id: $id }) { deletedIds } }', { id: createSubnet.id });
    await gql('mutation($id: ID!) { deleteNetwork(input: { id: $id }) { deletedIds } }', { id: createNetwork.id });
  });

  it('refuses a label selector without a value with a coded error, nothing written', async () => {
    const before = (await gql('{ firewallPolicies { totalCount } }')).firewallPolicies.totalCount;
    const response = await fetch(`${ctl.base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ctl.token}` },
      body: JSON.stringify({ query: 'mutation { createFirewallPolicy(input: { name: "bad", selector: { labels: [{ key: "tier" }] } }) { id } }' }),
    });
    const body = (await response.json()) as { errors?: { extensions?: { code?: string } }[] };
    expect(body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect((await gql('{ firewallPolicies { totalCount } }')).firewallPolicies.totalCount).toBe(before);
  });
});
