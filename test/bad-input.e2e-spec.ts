/**
 * Bad input end to end: every refused request gets its error code (and `extensions.field` where
 * the service names one) AND writes nothing: the change-feed revision and every list's
 * totalCount are the same before and after. Each describe block runs its own real controller,
 * and ends by checking that the controller is still serving and logged no stack trace.
 */
import { ControllerProcess, GqlResult } from './support/controller';
import { createHost, createNetwork, createPort, createSubnet, uniqueName, useController } from './support/fixtures';

jest.setTimeout(120_000);

const MISSING_ID = '00000000-0000-7000-8000-000000000000';

const CREATE_HOST = 'mutation($input: CreateHostInput!) { createHost(input: $input) { host { id vtepAddress } } }';
const CREATE_NETWORK = 'mutation($input: CreateNetworkInput!) { createNetwork(input: $input) { id vni mtu } }';
const CREATE_SUBNET = 'mutation($input: CreateSubnetInput!) { createSubnet(input: $input) { id cidr gatewayIp allocationPools { start end } } }';
const CREATE_PORT = 'mutation($input: CreatePortInput!) { createPort(input: $input) { id name macAddress fixedIps { ipAddress subnetId } } }';
const CREATE_PORTS = 'mutation($inputs: [CreatePortInput!]!) { createPorts(inputs: $inputs) { id name fixedIps { ipAddress } } }';


let vtepSequence = 0;
/** A host with a VTEP address no other host of the run has. */
async function newHost(c: ControllerProcess) {
  vtepSequence += 1;
  const { host } = await createHost(c, uniqueName('host'), `198.18.${vtepSequence >> 8}.${vtepSequence & 255}`);
  return host;
}

interface Snapshot {
  revision: number;
  hosts: number;
  networks: number;
  subnets: number;
  ports: number;
}

async function snapshot(c: ControllerProcess): Promise<Snapshot> {
  const data = await c.ok(`{
    revision
    hosts { totalCount } networks { totalCount } subnets { totalCount } ports { totalCount }
  }`);
  return {
    revision: data.revision,
    hosts: data.hosts.totalCount,
    networks: data.networks.totalCount,
    subnets: data.subnets.totalCount,
    ports: data.ports.totalCount,
  };
}

/**
 * Sends a request that must be refused with one error of `code` naming `field` (null: no
 * field), and checks that nothing was written.
 */
async function expectRefused(
  c: ControllerProcess,
  query: string,
  variables: Record<string, unknown>,
  code: string,
  field: string | RegExp | null,
): Promise<GqlResult> {
  const before = await snapshot(c);
  const result = await c.gql(query, variables);
  expect(result.errors).toHaveLength(1);
  const [error] = result.errors!;
  expect({ code: error.extensions?.code, field: error.extensions?.field ?? null, message: error.message }).toEqual({
    code,
    field: field instanceof RegExp ? expect.stringMatching(field) : field,
    message: expect.any(String),
  });
  expect(error.message).not.toBe('internal error');
  for (const value of Object.values(result.data ?? {})) expect(value).toBeNull();
  expect(await snapshot(c)).toEqual(before);
  return result;
}

/** The last test of a block: the controller still answers and logged no stack trace or error. */
function itSurvives(ctl: () => ControllerProcess): void {
  it('still serves, and logged no stack trace', async () => {
    const c = ctl();
    expect(await c.ok('{ revision }')).toEqual({ revision: expect.any(Number) });
    const log = c.output.join('\n').replace(/\x1b\[[0-9;]*m/g, '');
    expect(log).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    expect(log).not.toMatch(/\bERROR\b/);
    // The JSON log: no line at error level, no stack inside a line.
    expect(log).not.toMatch(/"level":"(error|fatal)"/);
    expect(log).not.toMatch(/\\n\s+at /);
    expect(log).not.toMatch(/Unhandled|uncaught/i);
  });
}

const BAD_NAMES: [string, string][] = [
  ['empty', ''],
  ['64 characters', 'n'.repeat(64)],
  ['a space', 'has space'],
  ['a slash', 'a/b'],
  ['unicode letters', 'réseau'],
  ['CJK', '名前'],
  ['an emoji', 'net-🚀'],
  ['a leading -', '-leading'],
  ['a leading .', '.leading'],
  ['a leading _', '_leading'],
  ['a newline', 'new\nline'],
  ['a trailing space', 'trailing '],
];

describe('names and labels', () => {
  const ctl = useController();
  let hostId: string;
  let networkId: string;

  beforeAll(async () => {
    const c = ctl();
    hostId = (await newHost(c)).id;
    networkId = (await createNetwork(c)).id;
  });

  const creates: Record<string, [string, (name: string) => Record<string, unknown>]> = {
    host: [CREATE_HOST, (name) => ({ name, vtepAddress: '203.0.113.200' })],
    network: [CREATE_NETWORK, (name) => ({ name })],
    subnet: [CREATE_SUBNET, (name) => ({ name, networkId, cidr: '10.1.0.0/24' })],
    port: [CREATE_PORT, (name) => ({ name, networkId, hostId })],
  };

  describe.each(Object.keys(creates))('a %s name', (kind) => {
    it.each(BAD_NAMES)('with %s is BAD_USER_INPUT on input.name', async (_what, name) => {
      const [query, input] = creates[kind];
      await expectRefused(ctl(), query, { input: input(name) }, 'BAD_USER_INPUT', 'input.name');
    });
  });

  it('accepts the edges of the name rules (63 characters, digits first, . _ -)', async () => {
    const c = ctl();
    for (const name of ['n'.repeat(63), '0start', 'a.b_c-d', 'X']) {
      expect((await c.ok(CREATE_NETWORK, { input: { name } })).createNetwork.id).toEqual(expect.any(String));
    }
  });

  it('keeps a huge name out of the error message', async () => {
    const c = ctl();
    const result = await expectRefused(c, CREATE_NETWORK, { input: { name: 'x'.repeat(200_000) } }, 'BAD_USER_INPUT', 'input.name');
    expect(result.errors![0].message.length).toBeLessThan(300);
  });

  const label = (key: string, value = 'v') => [{ key, value }];
  const BAD_LABELS: [string, { key: string; value: string }[], string][] = [
    ['an empty key', label(''), 'input.labels.0.key'],
    ['a key with a space', label('has space'), 'input.labels.0.key'],
    ['a key starting with -', label('-key'), 'input.labels.0.key'],
    ['a key ending with .', label('key.'), 'input.labels.0.key'],
    ['a 64-character key name', label('k'.repeat(64)), 'input.labels.0.key'],
    ['an upper-case key prefix', label('Example.com/zone'), 'input.labels.0.key'],
    ['a key with two slashes', label('a/b/c'), 'input.labels.0.key'],
    ['a key with an empty name after the prefix', label('example.com/'), 'input.labels.0.key'],
    ['a unicode key', label('zöne'), 'input.labels.0.key'],
    ['a value with a space', label('zone', 'a b'), 'input.labels.0.value'],
    ['a 64-character value', label('zone', 'v'.repeat(64)), 'input.labels.0.value'],
    ['a value starting with -', label('zone', '-v'), 'input.labels.0.value'],
    ['a unicode value', label('zone', 'zürich'), 'input.labels.0.value'],
    ['a bad second label', [{ key: 'ok', value: 'ok' }, { key: 'bad key', value: 'v' }], 'input.labels.1.key'],
    ['duplicate keys', [{ key: 'zone', value: 'a' }, { key: 'zone', value: 'b' }], 'input.labels.1.key'],
    ['65 labels', Array.from({ length: 65 }, (_, i) => ({ key: `k${i}`, value: 'v' })), 'input.labels'],
  ];

  it.each(BAD_LABELS)('refuses %s with BAD_USER_INPUT', async (_what, labels, field) => {
    await expectRefused(ctl(), CREATE_NETWORK, { input: { name: uniqueName('net'), labels } }, 'BAD_USER_INPUT', field);
  });

  it('refuses bad labels on every kind', async () => {
    const c = ctl();
    const labels = [{ key: 'a', value: '1' }, { key: 'a', value: '1' }];
    await expectRefused(c, CREATE_HOST, { input: { name: uniqueName('h'), vtepAddress: '203.0.113.201', labels } }, 'BAD_USER_INPUT', 'input.labels.1.key');
    await expectRefused(c, CREATE_SUBNET, { input: { name: 's', networkId, cidr: '10.2.0.0/24', labels } }, 'BAD_USER_INPUT', 'input.labels.1.key');
    await expectRefused(c, CREATE_PORT, { input: { name: 'p', networkId, hostId, labels } }, 'BAD_USER_INPUT', 'input.labels.1.key');
  });

  it('accepts the edges of the label rules', async () => {
    const c = ctl();
    const labels = [
      { key: 'netloom.io/zone', value: '' },
      { key: 'k'.repeat(63), value: 'v'.repeat(63) },
      ...Array.from({ length: 62 }, (_, i) => ({ key: `k${i}`, value: `V.${i}_x-y` })),
    ];
    expect(labels).toHaveLength(64);
    const { createNetwork: created } = await c.ok(`mutation($input: CreateNetworkInput!) { createNetwork(input: $input) { labels { key } } }`, {
      input: { name: uniqueName('labels'), labels },
    });
    expect(created.labels).toHaveLength(64);
  });

  it('takes label keys named like Object.prototype members as plain keys, in labels and in filters', async () => {
    const c = ctl();
    const labels = ['constructor', 'toString', 'hasOwnProperty', 'valueOf'].map((key) => ({ key, value: `v-${key}` }));
    const { createNetwork: created } = await c.ok(`mutation($input: CreateNetworkInput!) { createNetwork(input: $input) { id labels { key value } } }`, {
      input: { name: uniqueName('proto'), labels },
    });
    expect(created.labels).toEqual([...labels].sort((a, b) => a.key.localeCompare(b.key)));
    const found = await c.ok(`query($labels: [LabelInput!]) { networks(filter: { labels: $labels }) { edges { node { id } } } }`, { labels: labels.slice(0, 2) });
    expect(found.networks.edges).toEqual([{ node: { id: created.id } }]);
    const none = await c.ok(`{ networks(filter: { labels: [{ key: "constructor", value: "Object" }] }) { totalCount } }`);
    expect(none.networks.totalCount).toBe(0);
    await expectRefused(c, CREATE_NETWORK, { input: { name: uniqueName('net'), labels: [labels[0], labels[0]] } }, 'BAD_USER_INPUT', 'input.labels.1.key');
  });

  it('refuses bad labels in a filter', async () => {
    const c = ctl();
    for (const kind of ['hosts', 'networks', 'subnets', 'ports']) {
      await expectRefused(
        c,
        `query($labels: [LabelInput!]) { ${kind}(filter: { labels: $labels }) { totalCount } }`,
        { labels: label('bad key') },
        'BAD_USER_INPUT',
        'filter.labels.0.key',
      );
    }
  });

  itSurvives(ctl);
});

describe('hosts and networks', () => {
  const ctl = useController();

  it.each([
    '300.1.1.1',
    'abc',
    '10.0.0.0/24',
    '',
    '1.2.3',
    '010.0.0.1',
    '1.2.3.4.5',
    ' 10.0.0.1',
    '0x0a.0.0.1',
    '2001:db8::g',
    'fe80::1%eth0',
    '::ffff:10.0.0.1',
  ])('refuses the VTEP address %j with BAD_USER_INPUT', async (vtepAddress) => {
    await expectRefused(ctl(), CREATE_HOST, { input: { name: uniqueName('host'), vtepAddress } }, 'BAD_USER_INPUT', 'input.vtepAddress');
  });

  it('refuses a VTEP address already used, however it is written, with CONFLICT', async () => {
    const c = ctl();
    await createHost(c, uniqueName('host'), '198.51.100.1');
    await createHost(c, uniqueName('host'), '2001:db8::1');
    for (const vtepAddress of ['198.51.100.1', '2001:DB8:0:0::1', '2001:db8:0:0:0:0:0:1']) {
      await expectRefused(c, CREATE_HOST, { input: { name: uniqueName('host'), vtepAddress } }, 'CONFLICT', 'input.vtepAddress');
    }
  });

  it('refuses a host name already used with CONFLICT', async () => {
    const c = ctl();
    const name = uniqueName('host');
    await createHost(c, name, '198.51.100.2');
    await expectRefused(c, CREATE_HOST, { input: { name, vtepAddress: '198.51.100.3' } }, 'CONFLICT', 'input.name');
  });

  it.each([0, -1, 16_777_216, 2_000_000_000])('refuses VNI %d with BAD_USER_INPUT', async (vni) => {
    await expectRefused(ctl(), CREATE_NETWORK, { input: { name: uniqueName('net'), vni } }, 'BAD_USER_INPUT', 'input.vni');
  });

  it('refuses a VNI that is not a GraphQL Int with BAD_USER_INPUT', async () => {
    const c = ctl();
    for (const vni of [2 ** 31, 1.5, '7']) {
      const result = await expectRefused(c, CREATE_NETWORK, { input: { name: uniqueName('net'), vni } }, 'BAD_USER_INPUT', null);
      expect(result.status).toBe(400);
    }
  });

  it('accepts the edges of the VNI range, and refuses a VNI already used with CONFLICT', async () => {
    const c = ctl();
    for (const vni of [1, 16_777_215]) {
      expect((await c.ok(CREATE_NETWORK, { input: { name: uniqueName('net'), vni } })).createNetwork.vni).toBe(vni);
      await expectRefused(c, CREATE_NETWORK, { input: { name: uniqueName('net'), vni } }, 'CONFLICT', 'input.vni');
    }
    const auto = await createNetwork(c);
    await expectRefused(c, CREATE_NETWORK, { input: { name: uniqueName('net'), vni: auto.vni } }, 'CONFLICT', 'input.vni');
  });

  it('refuses a network name already used with CONFLICT', async () => {
    const c = ctl();
    const { name } = await createNetwork(c);
    await expectRefused(c, CREATE_NETWORK, { input: { name } }, 'CONFLICT', 'input.name');
  });

  it.each([100, 0, -1, 575, 9001, 10_000])('refuses MTU %d with BAD_USER_INPUT', async (mtu) => {
    await expectRefused(ctl(), CREATE_NETWORK, { input: { name: uniqueName('net'), mtu } }, 'BAD_USER_INPUT', 'input.mtu');
  });

  it('accepts the edges of the MTU range', async () => {
    const c = ctl();
    for (const mtu of [576, 9000]) {
      expect((await c.ok(CREATE_NETWORK, { input: { name: uniqueName('net'), mtu } })).createNetwork.mtu).toBe(mtu);
    }
  });

  itSurvives(ctl);
});

describe('provider networks', () => {
  const ctl = useController();
  const CREATE_PROVIDER = 'mutation($input: CreateNetworkInput!) { createNetwork(input: $input) { id generation providerInterface vlanId mtu } }';
  const UPDATE_PROVIDER = 'mutation($input: UpdateNetworkInput!) { updateNetwork(input: $input) { id generation providerInterface vlanId } }';

  it.each([
    ['empty', ''],
    ['a space', 'phys net'],
    ['a shell word', '$(reboot)'],
    ['a semicolon', 'eth1;reboot'],
    ['a leading digit', '1physnet'],
    ['a leading -', '-physnet'],
    ['33 characters', 'p'.repeat(33)],
    ['a newline', 'phys\nnet'],
  ])('refuses a physical network with %s with BAD_USER_INPUT', async (_what, providerInterface) => {
    await expectRefused(ctl(), CREATE_PROVIDER, { input: { name: uniqueName('net'), providerInterface } }, 'BAD_USER_INPUT', 'input.providerInterface');
  });

  it.each([0, -1, 4095, 65_536])('refuses VLAN id %d with BAD_USER_INPUT', async (vlanId) => {
    await expectRefused(ctl(), CREATE_PROVIDER, { input: { name: uniqueName('net'), providerInterface: uniqueName('pn'), vlanId } }, 'BAD_USER_INPUT', 'input.vlanId');
  });

  it('refuses a VLAN id without a physical network, on create and on an overlay update', async () => {
    const c = ctl();
    await expectRefused(c, CREATE_PROVIDER, { input: { name: uniqueName('net'), vlanId: 10 } }, 'BAD_USER_INPUT', 'input.vlanId');
    const overlay = await createNetwork(c);
    await expectRefused(c, UPDATE_PROVIDER, { input: { id: overlay.id, generation: 1, vlanId: 10 } }, 'BAD_USER_INPUT', 'input.vlanId');
  });

  it('accepts the edges of the VLAN range, and refuses a second network on one VLAN or one flat physical network with CONFLICT', async () => {
    const c = ctl();
    const physnet = uniqueName('pn');
    for (const vlanId of [1, 4094]) {
      expect((await c.ok(CREATE_PROVIDER, { input: { name: uniqueName('net'), providerInterface: physnet, vlanId } })).createNetwork).toMatchObject({
        providerInterface: physnet,
        vlanId,
        mtu: null,
      });
      await expectRefused(c, CREATE_PROVIDER, { input: { name: uniqueName('net'), providerInterface: physnet, vlanId } }, 'CONFLICT', 'input.vlanId');
    }
    expect((await c.ok(CREATE_PROVIDER, { input: { name: uniqueName('net'), providerInterface: physnet } })).createNetwork.vlanId).toBeNull();
    await expectRefused(c, CREATE_PROVIDER, { input: { name: uniqueName('net'), providerInterface: physnet } }, 'CONFLICT', 'input.providerInterface');
    // The same VLAN on another physical network is another wire.
    expect((await c.ok(CREATE_PROVIDER, { input: { name: uniqueName('net'), providerInterface: uniqueName('pn'), vlanId: 1 } })).createNetwork.vlanId).toBe(1);
  });

  it('turns an overlay into a provider network, moves its VLAN, and back; refuses a move onto a VLAN in use with CONFLICT', async () => {
    const c = ctl();
    const physnet = uniqueName('pn');
    const taken = (await c.ok(CREATE_PROVIDER, { input: { name: uniqueName('net'), providerInterface: physnet, vlanId: 300 } })).createNetwork;
    const net = await createNetwork(c);
    let updated = (await c.ok(UPDATE_PROVIDER, { input: { id: net.id, generation: 1, providerInterface: physnet, vlanId: 200 } })).updateNetwork;
    expect(updated).toMatchObject({ generation: 2, providerInterface: physnet, vlanId: 200 });
    await expectRefused(c, UPDATE_PROVIDER, { input: { id: net.id, generation: 2, vlanId: 300 } }, 'CONFLICT', 'input.vlanId');
    updated = (await c.ok(UPDATE_PROVIDER, { input: { id: net.id, generation: 2, vlanId: 201 } })).updateNetwork;
    expect(updated).toMatchObject({ generation: 3, providerInterface: physnet, vlanId: 201 });
    updated = (await c.ok(UPDATE_PROVIDER, { input: { id: net.id, generation: 3, vlanId: null } })).updateNetwork;
    expect(updated).toMatchObject({ generation: 4, providerInterface: physnet, vlanId: null });
    updated = (await c.ok(UPDATE_PROVIDER, { input: { id: net.id, generation: 4, providerInterface: null } })).updateNetwork;
    expect(updated).toMatchObject({ generation: 5, providerInterface: null, vlanId: null });
    expect(taken.vlanId).toBe(300);
  });

  it('lets a provider network take an MTU the hosts underlay could not carry over VXLAN, and refuses turning it back into an overlay then', async () => {
    const c = ctl();
    const host = await createHost(c);
    const net = (await c.ok(CREATE_PROVIDER, { input: { name: uniqueName('net'), providerInterface: uniqueName('pn'), mtu: 1500 } })).createNetwork;
    await createPort(c, net.id, host.host.id);
    await expectRefused(c, UPDATE_PROVIDER, { input: { id: net.id, generation: 1, providerInterface: null } }, 'BAD_USER_INPUT', 'input.providerInterface');
  });

  itSurvives(ctl);
});

describe('subnets', () => {
  const ctl = useController();
  let a: string;
  let b: string;

  beforeAll(async () => {
    const c = ctl();
    a = (await createNetwork(c)).id;
    b = (await createNetwork(c)).id;
    await createSubnet(c, a, '10.20.0.0/16');
    await createSubnet(c, a, 'fd00:20::/64');
  });

  const subnet = (input: Record<string, unknown>) => ({ input: { name: uniqueName('subnet'), networkId: a, ...input } });

  it.each([
    '10.0.0.0',
    '10.0.0.0/33',
    'banana',
    '10.0.0.1/24',
    '',
    '10.0.0.0/',
    '10.0.0.0/-1',
    '10.0.0.0/24/1',
    '256.0.0.0/8',
    '10.0.0/24',
    '10.0.0.0/31',
    '10.0.0.0/32',
    'fd00::1/64',
    'fd00::/127',
    'fd00::/129',
    'fe80::%eth0/64',
    '::ffff:10.0.0.0/120',
  ])('refuses the CIDR %j with BAD_USER_INPUT', async (cidr) => {
    await expectRefused(ctl(), CREATE_SUBNET, subnet({ cidr, networkId: b }), 'BAD_USER_INPUT', 'input.cidr');
  });

  it.each(['10.20.5.0/24', '10.0.0.0/8', '10.20.0.0/16', '10.20.255.252/30', 'fd00:20::/48', 'fd00:20::8/126'])(
    'refuses %s, overlapping a subnet of the same network, with CONFLICT',
    async (cidr) => {
      await expectRefused(ctl(), CREATE_SUBNET, subnet({ cidr }), 'CONFLICT', 'input.cidr');
    },
  );

  it('accepts the same CIDR on another network', async () => {
    const c = ctl();
    expect((await c.ok(CREATE_SUBNET, subnet({ networkId: b, cidr: '10.20.0.0/16' }))).createSubnet.cidr).toBe('10.20.0.0/16');
    expect((await c.ok(CREATE_SUBNET, subnet({ networkId: b, cidr: 'fd00:20::/64' }))).createSubnet.cidr).toBe('fd00:20::/64');
  });

  it('refuses a subnet name already used on the network with CONFLICT, not on another network', async () => {
    const c = ctl();
    const name = uniqueName('subnet');
    await createSubnet(c, a, '10.21.0.0/24', { name });
    await expectRefused(c, CREATE_SUBNET, { input: { name, networkId: a, cidr: '10.22.0.0/24' } }, 'CONFLICT', 'input.name');
    expect((await c.ok(CREATE_SUBNET, { input: { name, networkId: b, cidr: '10.22.0.0/24' } })).createSubnet.id).toEqual(expect.any(String));
  });

  it.each([MISSING_ID, 'nope'])('refuses the unknown network %s with NOT_FOUND', async (networkId) => {
    await expectRefused(ctl(), CREATE_SUBNET, subnet({ networkId, cidr: '10.30.0.0/24' }), 'NOT_FOUND', 'input.networkId');
  });

  it.each([
    ['outside the subnet', '10.31.1.1'],
    ['the network address', '10.31.0.0'],
    ['the broadcast address', '10.31.0.255'],
    ['not an address', 'abc'],
    ['of the other IP version', 'fd00::1'],
    ['empty', ''],
  ])('refuses a gateway %s with BAD_USER_INPUT', async (_what, gatewayIp) => {
    await expectRefused(ctl(), CREATE_SUBNET, subnet({ cidr: '10.31.0.0/24', gatewayIp }), 'BAD_USER_INPUT', 'input.gatewayIp');
  });

  it('refuses an IPv6 gateway outside its subnet, or on the network address', async () => {
    const c = ctl();
    for (const gatewayIp of ['fd00:32:0:1::1', 'fd00:32::']) {
      await expectRefused(c, CREATE_SUBNET, subnet({ cidr: 'fd00:32::/64', gatewayIp }), 'BAD_USER_INPUT', 'input.gatewayIp');
    }
  });

  const pool = (start: string, end: string) => ({ start, end });
  it.each([
    ['starting outside the subnet', [pool('10.33.1.10', '10.33.0.20')], 'input.allocationPools.0.start'],
    ['ending outside the subnet', [pool('10.33.0.10', '10.33.1.20')], 'input.allocationPools.0.end'],
    ['starting on the network address', [pool('10.33.0.0', '10.33.0.20')], 'input.allocationPools.0.start'],
    ['ending on the broadcast address', [pool('10.33.0.10', '10.33.0.255')], 'input.allocationPools.0.end'],
    ['that overlap each other', [pool('10.33.0.10', '10.33.0.20'), pool('10.33.0.15', '10.33.0.30')], 'input.allocationPools.1'],
    ['that overlap, listed the other way', [pool('10.33.0.15', '10.33.0.30'), pool('10.33.0.10', '10.33.0.20')], 'input.allocationPools.1'],
    ['containing the gateway', [pool('10.33.0.1', '10.33.0.20')], 'input.allocationPools.0'],
    ['that start after they end', [pool('10.33.0.20', '10.33.0.10')], 'input.allocationPools.0'],
    ['of the other IP version', [pool('fd00::10', 'fd00::20')], 'input.allocationPools.0.start'],
    ['that are not addresses', [pool('x', '10.33.0.20')], 'input.allocationPools.0.start'],
    ['that are empty', [], 'input.allocationPools'],
  ])('refuses allocation pools %s with BAD_USER_INPUT', async (_what, allocationPools, field) => {
    await expectRefused(ctl(), CREATE_SUBNET, subnet({ cidr: '10.33.0.0/24', allocationPools }), 'BAD_USER_INPUT', field);
  });

  it('refuses a pool containing a non-default gateway', async () => {
    await expectRefused(
      ctl(),
      CREATE_SUBNET,
      subnet({ cidr: '10.34.0.0/24', gatewayIp: '10.34.0.254', allocationPools: [pool('10.34.0.2', '10.34.0.254')] }),
      'BAD_USER_INPUT',
      'input.allocationPools.0',
    );
  });

  it.each([
    ['not an address', ['abc'], 'input.dnsServers.0'],
    ['duplicates', ['10.0.0.53', '10.0.0.53'], 'input.dnsServers.1'],
    ['more than 8', Array.from({ length: 9 }, (_, i) => `10.0.0.${i + 1}`), 'input.dnsServers'],
  ])('refuses DNS servers that are %s with BAD_USER_INPUT', async (_what, dnsServers, field) => {
    await expectRefused(ctl(), CREATE_SUBNET, subnet({ cidr: '10.35.0.0/24', dnsServers }), 'BAD_USER_INPUT', field);
  });

  itSurvives(ctl);
});

describe('ports', () => {
  const ctl = useController();
  let hostId: string;
  let n: string;
  let m: string;
  let s4: { id: string };
  let s6: { id: string };
  let sm: { id: string };
  let existing: { name: string; macAddress: string };

  beforeAll(async () => {
    const c = ctl();
    hostId = (await newHost(c)).id;
    n = (await createNetwork(c)).id;
    m = (await createNetwork(c)).id;
    s4 = await createSubnet(c, n, '10.40.0.0/24');
    s6 = await createSubnet(c, n, 'fd00:40::/64');
    sm = await createSubnet(c, m, '10.41.0.0/24');
    existing = await createPort(c, n, hostId, { macAddress: '02:ab:cd:00:00:01', fixedIps: [{ ipAddress: '10.40.0.10' }] });
  });

  const port = (input: Record<string, unknown>) => ({ input: { name: uniqueName('port'), networkId: n, hostId, ...input } });

  it('refuses an unknown network or host with NOT_FOUND', async () => {
    const c = ctl();
    await expectRefused(c, CREATE_PORT, port({ networkId: MISSING_ID }), 'NOT_FOUND', 'input.networkId');
    await expectRefused(c, CREATE_PORT, port({ networkId: 'nope' }), 'NOT_FOUND', 'input.networkId');
    await expectRefused(c, CREATE_PORT, port({ hostId: MISSING_ID }), 'NOT_FOUND', 'input.hostId');
    await expectRefused(c, CREATE_PORT, port({ hostId: 'nope' }), 'NOT_FOUND', 'input.hostId');
  });

  it.each([
    ['outside every subnet', '10.99.0.5'],
    ['the gateway', '10.40.0.1'],
    ['the network address', '10.40.0.0'],
    ['the broadcast address', '10.40.0.255'],
    ['not an address', 'abc'],
    ['a CIDR', '10.40.0.5/24'],
    ['the IPv6 gateway', 'fd00:40::1'],
    ['the IPv6 network address', 'fd00:40::'],
    ['outside every IPv6 subnet', 'fd00:99::5'],
  ])('refuses a requested address %s with BAD_USER_INPUT', async (_what, ipAddress) => {
    await expectRefused(ctl(), CREATE_PORT, port({ fixedIps: [{ ipAddress }] }), 'BAD_USER_INPUT', 'input.fixedIps.0.ipAddress');
  });

  it('refuses a port name already used on the network with CONFLICT, not on another network', async () => {
    const c = ctl();
    const { name } = (await c.ok(CREATE_PORT, port({}))).createPort;
    await expectRefused(c, CREATE_PORT, port({ name }), 'CONFLICT', 'input.name');
    expect((await c.ok(CREATE_PORT, { input: { name, networkId: m, hostId } })).createPort.name).toBe(name);
  });

  it('refuses an address already taken with CONFLICT', async () => {
    const c = ctl();
    await expectRefused(c, CREATE_PORT, port({ fixedIps: [{ ipAddress: '10.40.0.10' }] }), 'CONFLICT', 'input.fixedIps.0.ipAddress');
    await expectRefused(c, CREATE_PORT, port({ fixedIps: [{ subnetId: s4.id, ipAddress: '10.40.0.10' }] }), 'CONFLICT', 'input.fixedIps.0.ipAddress');
    await expectRefused(
      c,
      CREATE_PORT,
      port({ fixedIps: [{ ipAddress: '10.40.0.20' }, { ipAddress: '10.40.0.20' }] }),
      'CONFLICT',
      'input.fixedIps.1.ipAddress',
    );
  });

  it('refuses address requests that do not fit the network', async () => {
    const c = ctl();
    const refused = (fixedIps: unknown[], field: string) => expectRefused(c, CREATE_PORT, port({ fixedIps }), 'BAD_USER_INPUT', field);
    await refused([{ subnetId: sm.id }], 'input.fixedIps.0.subnetId');
    await refused([{ subnetId: sm.id, ipAddress: '10.41.0.5' }], 'input.fixedIps.0.subnetId');
    await refused([{ subnetId: MISSING_ID }], 'input.fixedIps.0.subnetId');
    await refused([{ subnetId: s4.id, ipAddress: '10.41.0.5' }], 'input.fixedIps.0.ipAddress');
    await refused([{ subnetId: s6.id, ipAddress: '10.40.0.5' }], 'input.fixedIps.0.ipAddress');
    await refused([{ subnetId: s4.id, ipAddress: '' }], 'input.fixedIps.0.ipAddress');
    await refused([{}], 'input.fixedIps.0');
    await refused([{ subnetId: s4.id }, { ipAddress: '10.41.0.5' }], 'input.fixedIps.1.ipAddress');
  });

  it.each([
    ['not hex', 'zz:zz:zz:zz:zz:zz'],
    ['five octets', '02:00:00:00:00'],
    ['seven octets', '02:00:00:00:00:01:02'],
    ['dotted', '0200.0000.0001'],
    ['mixed separators', '02-00:00:00:00:01'],
    ['without separators', '020000000001'],
    ['empty', ''],
    ['multicast', '01:00:5e:00:00:01'],
    ['multicast, locally administered', '03:00:00:00:00:01'],
    ['broadcast', 'ff:ff:ff:ff:ff:ff'],
    ['all zeros', '00:00:00:00:00:00'],
  ])('refuses a MAC address that is %s with BAD_USER_INPUT', async (_what, macAddress) => {
    await expectRefused(ctl(), CREATE_PORT, port({ macAddress }), 'BAD_USER_INPUT', 'input.macAddress');
  });

  it('refuses a MAC address already used, however it is written and on any network, with CONFLICT', async () => {
    const c = ctl();
    for (const macAddress of ['02:ab:cd:00:00:01', '02:AB:CD:00:00:01', '02-ab-cd-00-00-01']) {
      await expectRefused(c, CREATE_PORT, port({ macAddress }), 'CONFLICT', 'input.macAddress');
      await expectRefused(c, CREATE_PORT, port({ macAddress, networkId: m, fixedIps: [] }), 'CONFLICT', 'input.macAddress');
    }
    expect(existing.macAddress).toBe('02:ab:cd:00:00:01');
  });

  it.each([
    ['a space', 'a b'],
    ['a path', '../x'],
    ['an absolute path', '/var/run/netns/x'],
    ['a slash', 'a/b'],
    ['empty', ''],
    ['65 characters', 'n'.repeat(65)],
    ['a leading -', '-x'],
    ['a leading .', '.hidden'],
    ['a shell metacharacter', 'x;reboot'],
  ])('refuses a namespace name with %s with BAD_USER_INPUT', async (_what, netns) => {
    await expectRefused(ctl(), CREATE_PORT, port({ netns }), 'BAD_USER_INPUT', 'input.netns');
  });

  it('refuses a port name already used on the network with CONFLICT, not on another network', async () => {
    const c = ctl();
    await expectRefused(c, CREATE_PORT, port({ name: existing.name }), 'CONFLICT', 'input.name');
    const other = await c.ok(CREATE_PORT, port({ name: existing.name, networkId: m }));
    expect(other.createPort.name).toBe(existing.name);
  });

  it('refuses a port once the allocation pool is exhausted (a /29 with a 2-address pool)', async () => {
    const c = ctl();
    const network = await createNetwork(c);
    const small = await createSubnet(c, network.id, '10.42.0.0/29', { allocationPools: [{ start: '10.42.0.2', end: '10.42.0.3' }] });
    const first = await createPort(c, network.id, hostId);
    const second = await createPort(c, network.id, hostId);
    expect([first.fixedIps, second.fixedIps]).toEqual([
      [{ ipAddress: '10.42.0.2', subnetId: small.id }],
      [{ ipAddress: '10.42.0.3', subnetId: small.id }],
    ]);
    await expectRefused(c, CREATE_PORT, port({ networkId: network.id }), 'CONFLICT', 'input.fixedIps.0');
    await expectRefused(c, CREATE_PORT, port({ networkId: network.id, fixedIps: [{ subnetId: small.id }] }), 'CONFLICT', 'input.fixedIps.0');
    // Pools only bound automatic allocation: an address outside them is still available on request.
    const requested = await createPort(c, network.id, hostId, { fixedIps: [{ ipAddress: '10.42.0.6' }] });
    expect(requested.fixedIps).toEqual([{ ipAddress: '10.42.0.6', subnetId: small.id }]);
  });

  itSurvives(ctl);
});

describe('bulk createPorts', () => {
  const ctl = useController();
  let hostId: string;
  let networkId: string;
  let taken: { name: string };

  beforeAll(async () => {
    const c = ctl();
    hostId = (await newHost(c)).id;
    networkId = (await createNetwork(c)).id;
    await createSubnet(c, networkId, '10.50.0.0/24');
    taken = await createPort(c, networkId, hostId, { fixedIps: [{ ipAddress: '10.50.0.100' }] });
  });

  const valid = (i: number) => ({ name: `bulk-${i}`, networkId, hostId });
  const portNamed = async (c: ControllerProcess, name: string) =>
    (await c.ok(`query($name: String!) { ports(filter: { name: $name }) { totalCount } }`, { name })).ports.totalCount;

  it.each<[string, () => Record<string, unknown>, string, string]>([
    ['a bad name', () => ({ name: 'bad name' }), 'BAD_USER_INPUT', 'inputs.3.name'],
    ['a name already used', () => ({ name: taken.name }), 'CONFLICT', 'inputs.3.name'],
    ['a bad MAC', () => ({ macAddress: 'nope' }), 'BAD_USER_INPUT', 'inputs.3.macAddress'],
    ['a bad namespace', () => ({ netns: '../x' }), 'BAD_USER_INPUT', 'inputs.3.netns'],
    ['an unknown host', () => ({ hostId: MISSING_ID }), 'NOT_FOUND', 'inputs.3.hostId'],
    ['an unknown network', () => ({ networkId: MISSING_ID }), 'NOT_FOUND', 'inputs.3.networkId'],
    ['an address outside the subnets', () => ({ fixedIps: [{ ipAddress: '10.51.0.1' }] }), 'BAD_USER_INPUT', 'inputs.3.fixedIps.0.ipAddress'],
    ['an address already taken', () => ({ fixedIps: [{ ipAddress: '10.50.0.100' }] }), 'CONFLICT', 'inputs.3.fixedIps.0.ipAddress'],
  ])('refuses 5 valid ports and one with %s (4th) and creates none', async (_what, bad, code, field) => {
    const c = ctl();
    const inputs = [valid(0), valid(1), valid(2), { ...valid(3), ...bad() }, valid(4), valid(5)];
    await expectRefused(c, CREATE_PORTS, { inputs }, code, field);
    for (const i of [0, 1, 2, 4, 5]) expect(await portNamed(c, `bulk-${i}`)).toBe(0);
  });

  it('refuses two ports of one batch asking for the same address with CONFLICT', async () => {
    const c = ctl();
    const fixedIps = [{ ipAddress: '10.50.0.77' }];
    await expectRefused(c, CREATE_PORTS, { inputs: [{ ...valid(0), fixedIps }, { ...valid(1), fixedIps }] }, 'CONFLICT', 'inputs.1.fixedIps.0.ipAddress');
    // An explicit request for the address the batch allocated automatically to an earlier port.
    await expectRefused(
      c,
      CREATE_PORTS,
      { inputs: [valid(0), { ...valid(1), fixedIps: [{ ipAddress: '10.50.0.2' }] }] },
      'CONFLICT',
      'inputs.1.fixedIps.0.ipAddress',
    );
  });

  it('refuses two ports of one batch with the same MAC or the same name with CONFLICT', async () => {
    const c = ctl();
    const macAddress = '02:00:00:00:50:01';
    await expectRefused(c, CREATE_PORTS, { inputs: [{ ...valid(0), macAddress }, { ...valid(1), macAddress: macAddress.toUpperCase() }] }, 'CONFLICT', 'inputs.1.macAddress');
    await expectRefused(c, CREATE_PORTS, { inputs: [valid(0), valid(1), valid(0)] }, 'CONFLICT', 'inputs.2.name');
  });

  it('refuses a batch that exhausts the pool, and creates none of it', async () => {
    const c = ctl();
    const network = await createNetwork(c);
    await createSubnet(c, network.id, '10.52.0.0/29', { allocationPools: [{ start: '10.52.0.2', end: '10.52.0.3' }] });
    const inputs = [0, 1, 2].map((i) => ({ ...valid(i), networkId: network.id }));
    await expectRefused(c, CREATE_PORTS, { inputs }, 'CONFLICT', 'inputs.2.fixedIps.0');
    const created = await c.ok(CREATE_PORTS, { inputs: inputs.slice(0, 2) });
    expect(created.createPorts.map((p: { fixedIps: unknown[] }) => p.fixedIps)).toEqual([[{ ipAddress: '10.52.0.2' }], [{ ipAddress: '10.52.0.3' }]]);
  });

  it('refuses more than 1000 ports with BAD_USER_INPUT', async () => {
    const c = ctl();
    const inputs = Array.from({ length: 1001 }, (_, i) => valid(i));
    await expectRefused(c, CREATE_PORTS, { inputs }, 'BAD_USER_INPUT', 'inputs');
  });

  it('creates a valid batch whole, and an empty one is a no-op', async () => {
    const c = ctl();
    const before = await c.ok('{ revision ports { totalCount } }');
    expect((await c.ok(CREATE_PORTS, { inputs: [] })).createPorts).toEqual([]);
    expect(await c.ok('{ revision ports { totalCount } }')).toEqual(before);
    const created = await c.ok(CREATE_PORTS, { inputs: [0, 1, 2, 3, 4, 5].map(valid) });
    expect(created.createPorts.map((p: { name: string }) => p.name)).toEqual([0, 1, 2, 3, 4, 5].map((i) => `bulk-${i}`));
    const after = await c.ok('{ revision ports { totalCount } }');
    expect(after).toEqual({ revision: before.revision + 6, ports: { totalCount: before.ports.totalCount + 6 } });
  });

  itSurvives(ctl);
});

describe('updates and deletes', () => {
  const ctl = useController();
  const ids: Record<'host' | 'network' | 'subnet' | 'port', string> = { host: '', network: '', subnet: '', port: '' };
  let other: { host: { name: string; vtepAddress: string }; network: { name: string }; portName: string; portIp: string };

  beforeAll(async () => {
    const c = ctl();
    const host = await newHost(c);
    const otherHost = await createHost(c, uniqueName('host'), '198.51.100.60');
    const network = await createNetwork(c);
    const otherNetwork = await createNetwork(c);
    const subnet = await createSubnet(c, network.id, '10.60.0.0/24');
    const port = await createPort(c, network.id, host.id);
    const otherPort = await createPort(c, network.id, host.id);
    Object.assign(ids, { host: host.id, network: network.id, subnet: subnet.id, port: port.id });
    other = {
      host: { name: otherHost.host.name, vtepAddress: '198.51.100.60' },
      network: { name: otherNetwork.name },
      portName: otherPort.name,
      portIp: port.fixedIps[0].ipAddress,
    };
  });

  const UPDATE: Record<keyof typeof ids, string> = {
    host: 'mutation($input: UpdateHostInput!) { updateHost(input: $input) { id generation } }',
    network: 'mutation($input: UpdateNetworkInput!) { updateNetwork(input: $input) { id generation } }',
    subnet: 'mutation($input: UpdateSubnetInput!) { updateSubnet(input: $input) { id generation } }',
    port: 'mutation($input: UpdatePortInput!) { updatePort(input: $input) { id generation } }',
  };
  const DELETE: Record<keyof typeof ids, string> = {
    host: 'mutation($input: CascadeDeleteInput!) { deleteHost(input: $input) { deletedIds } }',
    network: 'mutation($input: CascadeDeleteInput!) { deleteNetwork(input: $input) { deletedIds } }',
    subnet: 'mutation($input: DeleteInput!) { deleteSubnet(input: $input) { deletedIds } }',
    port: 'mutation($input: DeleteInput!) { deletePort(input: $input) { deletedIds } }',
  };
  const KINDS = ['host', 'network', 'subnet', 'port'] as const;

  const generations = async (c: ControllerProcess) => {
    const data = await c.ok(
      `query($h: ID!, $n: ID!, $s: ID!, $p: ID!) {
        host(id: $h) { generation name vtepAddress labels { key } }
        network(id: $n) { generation name mtu labels { key } }
        subnet(id: $s) { generation name gatewayIp allocationPools { start end } dnsServers }
        port(id: $p) { generation name labels { key } }
      }`,
      { h: ids.host, n: ids.network, s: ids.subnet, p: ids.port },
    );
    return data;
  };

  it.each(KINDS)('refuses to update or delete a missing %s with NOT_FOUND', async (kind) => {
    const c = ctl();
    for (const id of [MISSING_ID, 'nope']) {
      await expectRefused(c, UPDATE[kind], { input: { id, labels: [] } }, 'NOT_FOUND', 'input.id');
      await expectRefused(c, DELETE[kind], { input: { id } }, 'NOT_FOUND', 'input.id');
    }
  });

  it.each(KINDS)('refuses to update or delete a %s at a stale generation with CONFLICT', async (kind) => {
    const c = ctl();
    const before = await generations(c);
    for (const generation of [0, 2, 99]) {
      await expectRefused(c, UPDATE[kind], { input: { id: ids[kind], generation, labels: [] } }, 'CONFLICT', 'input.generation');
      await expectRefused(c, DELETE[kind], { input: { id: ids[kind], generation } }, 'CONFLICT', 'input.generation');
    }
    expect(await generations(c)).toEqual(before);
  });

  it('refuses bad updates and changes nothing', async () => {
    const c = ctl();
    const before = await generations(c);
    const refused = (kind: keyof typeof ids, input: Record<string, unknown>, code: string, field: string) =>
      expectRefused(c, UPDATE[kind], { input: { id: ids[kind], generation: 1, ...input } }, code, field);
    await refused('host', { name: 'bad name' }, 'BAD_USER_INPUT', 'input.name');
    await refused('host', { name: other.host.name }, 'CONFLICT', 'input.name');
    await refused('host', { vtepAddress: '300.1.1.1' }, 'BAD_USER_INPUT', 'input.vtepAddress');
    await refused('host', { vtepAddress: other.host.vtepAddress }, 'CONFLICT', 'input.vtepAddress');
    await refused('host', { labels: [{ key: '-', value: 'x' }] }, 'BAD_USER_INPUT', 'input.labels.0.key');
    await refused('network', { name: '' }, 'BAD_USER_INPUT', 'input.name');
    await refused('network', { name: other.network.name }, 'CONFLICT', 'input.name');
    await refused('network', { mtu: 100 }, 'BAD_USER_INPUT', 'input.mtu');
    await refused('network', { mtu: 10_000 }, 'BAD_USER_INPUT', 'input.mtu');
    await refused('network', { labels: [{ key: 'a', value: '1' }, { key: 'a', value: '2' }] }, 'BAD_USER_INPUT', 'input.labels.1.key');
    await refused('subnet', { name: 'a/b' }, 'BAD_USER_INPUT', 'input.name');
    await refused('subnet', { gatewayIp: '10.61.0.1' }, 'BAD_USER_INPUT', 'input.gatewayIp');
    await refused('subnet', { gatewayIp: '10.60.0.255' }, 'BAD_USER_INPUT', 'input.gatewayIp');
    await refused('subnet', { gatewayIp: '' }, 'BAD_USER_INPUT', 'input.gatewayIp');
    await refused('subnet', { gatewayIp: other.portIp }, 'CONFLICT', 'input.gatewayIp');
    // A new gateway inside the pools that stay.
    await refused('subnet', { gatewayIp: '10.60.0.200' }, 'BAD_USER_INPUT', 'input.gatewayIp');
    await refused('subnet', { allocationPools: [{ start: '10.61.0.2', end: '10.60.0.9' }] }, 'BAD_USER_INPUT', 'input.allocationPools.0.start');
    await refused('subnet', { allocationPools: [{ start: '10.60.0.1', end: '10.60.0.9' }] }, 'BAD_USER_INPUT', 'input.allocationPools.0');
    await refused('subnet', { allocationPools: [] }, 'BAD_USER_INPUT', 'input.allocationPools');
    await refused('subnet', { dnsServers: ['nope'] }, 'BAD_USER_INPUT', 'input.dnsServers.0');
    await refused('port', { name: '-x' }, 'BAD_USER_INPUT', 'input.name');
    await refused('port', { name: other.portName }, 'CONFLICT', 'input.name');
    await refused('port', { labels: Array.from({ length: 65 }, (_, i) => ({ key: `k${i}`, value: 'v' })) }, 'BAD_USER_INPUT', 'input.labels');
    expect(await generations(c)).toEqual(before);
  });

  it('refuses to delete what others still use with CONFLICT', async () => {
    const c = ctl();
    await expectRefused(c, DELETE.network, { input: { id: ids.network } }, 'CONFLICT', 'input.cascade');
    await expectRefused(c, DELETE.host, { input: { id: ids.host, cascade: false } }, 'CONFLICT', 'input.cascade');
    await expectRefused(c, DELETE.subnet, { input: { id: ids.subnet } }, 'CONFLICT', 'input.id');
  });

  it('still applies an update at the current generation', async () => {
    const c = ctl();
    const updated = await c.ok(UPDATE.network, { input: { id: ids.network, generation: 1, mtu: 1400 } });
    expect(updated.updateNetwork.generation).toBe(2);
    await expectRefused(c, UPDATE.network, { input: { id: ids.network, generation: 1, mtu: 1300 } }, 'CONFLICT', 'input.generation');
  });

  itSurvives(ctl);
});

describe('address ranges and list sizes', () => {
  const ctl = useController();
  let hostId: string;
  let networkId: string;
  let subnetId: string;

  beforeAll(async () => {
    const c = ctl();
    hostId = (await newHost(c)).id;
    networkId = (await createNetwork(c)).id;
    subnetId = (await createSubnet(c, networkId, '10.60.0.0/24')).id;
  });

  // A VTEP is a host's own unicast address: never "this network", loopback, link-local, multicast or broadcast.
  const NOT_UNICAST = ['0.0.0.0', '0.1.2.3', '127.0.0.1', '169.254.1.1', '224.0.0.1', '239.1.2.3', '255.255.255.255', '::', '::1', 'fe80::1', 'ff02::1'];

  it.each(NOT_UNICAST)('refuses the VTEP address %s with BAD_USER_INPUT, on create and on update', async (vtepAddress) => {
    const c = ctl();
    await expectRefused(c, CREATE_HOST, { input: { name: uniqueName('host'), vtepAddress } }, 'BAD_USER_INPUT', 'input.vtepAddress');
    const UPDATE = 'mutation($input: UpdateHostInput!) { updateHost(input: $input) { id } }';
    await expectRefused(c, UPDATE, { input: { id: hostId, vtepAddress } }, 'BAD_USER_INPUT', 'input.vtepAddress');
  });

  it('accepts private, shared and global unicast VTEPs', async () => {
    const c = ctl();
    for (const vtepAddress of ['10.255.0.1', '100.64.9.9', '172.31.0.1', '8.8.4.4', 'fd00:60::1', '2a00:1450::1']) {
      expect((await c.ok(CREATE_HOST, { input: { name: uniqueName('host'), vtepAddress } })).createHost.host.vtepAddress).toBe(vtepAddress);
    }
  });

  it.each(['127.0.0.0/8', '127.0.0.0/24', '224.0.0.0/4', '224.0.1.0/24', '169.254.0.0/16', '169.254.7.0/24', '0.0.0.0/8', '0.0.0.0/24', '255.255.255.0/24', '160.0.0.0/3', 'fe80::/10', 'fe80::/64', 'ff00::/8', 'ff02::/64', '::/64'])(
    'refuses the subnet %s, overlapping a range with no host address, with BAD_USER_INPUT',
    async (cidr) => {
      await expectRefused(ctl(), CREATE_SUBNET, { input: { name: uniqueName('subnet'), networkId, cidr } }, 'BAD_USER_INPUT', 'input.cidr');
    },
  );

  it('refuses the IPv4 broadcast and network address of a subnet as a plugin address, naming the field', async () => {
    const c = ctl();
    const CREATE_LB = 'mutation($input: CreateLoadBalancerInput!) { createLoadBalancer(input: $input) { id } }';
    for (const vipAddress of ['10.60.0.255', '10.60.0.0']) {
      await expectRefused(c, CREATE_LB, { input: { name: uniqueName('lb'), subnetId, vipAddress } }, 'BAD_USER_INPUT', 'input.vipAddress');
    }
  });

  it.each(['224.0.0.1', '127.0.0.1', '169.254.0.1', '0.0.0.0', '255.255.255.255'])(
    'refuses %s in the SDK\'s ip fields (a VIP, a router\'s address) with BAD_USER_INPUT',
    async (address) => {
      const c = ctl();
      // The schema refuses it, before the plugin's own checks (is it in the subnet?) run.
      const unicast = /: it must be a unicast address$/;
      const vip = await expectRefused(
        c,
        'mutation($input: CreateLoadBalancerInput!) { createLoadBalancer(input: $input) { id } }',
        { input: { name: uniqueName('lb'), subnetId, vipAddress: address } },
        'BAD_USER_INPUT',
        'input.vipAddress',
      );
      const router = await expectRefused(
        c,
        'mutation($input: CreateRouterInput!) { createRouter(input: $input) { id } }',
        { input: { name: uniqueName('r'), interfaces: [{ subnetId, ipAddress: address }] } },
        'BAD_USER_INPUT',
        'input.interfaces.0.ipAddress',
      );
      expect([vip.errors![0].message, router.errors![0].message]).toEqual([expect.stringMatching(unicast), expect.stringMatching(unicast)]);
    },
  );

  it('refuses input lists longer than 1000 with BAD_USER_INPUT naming the list, before any lookup', async () => {
    const c = ctl();
    const ids = Array.from({ length: 40_000 }, (_, i) => `00000000-0000-7000-8000-${i.toString(16).padStart(12, '0')}`);
    const CREATE_POLICY = 'mutation($input: CreateFirewallPolicyInput!) { createFirewallPolicy(input: $input) { id } }';
    await expectRefused(c, CREATE_POLICY, { input: { name: uniqueName('fw'), selector: { portIds: ids } } }, 'BAD_USER_INPUT', 'input.selector.portIds');
    await expectRefused(c, CREATE_POLICY, { input: { name: uniqueName('fw'), selector: { networkIds: ids.slice(0, 1001) } } }, 'BAD_USER_INPUT', 'input.selector.networkIds');
    const labels = Array.from({ length: 10_000 }, (_, i) => ({ key: `k${i}`, value: 'v' }));
    await expectRefused(c, CREATE_POLICY, { input: { name: uniqueName('fw'), selector: { labels } } }, 'BAD_USER_INPUT', 'input.selector.labels');
    const fixedIps = Array.from({ length: 1001 }, () => ({ subnetId }));
    await expectRefused(c, CREATE_PORT, { input: { name: uniqueName('port'), networkId, hostId, fixedIps } }, 'BAD_USER_INPUT', 'input.fixedIps');
    const allocationPools = Array.from({ length: 1001 }, (_, i) => ({ start: `10.61.${i >> 6}.${(i & 63) * 4 + 2}`, end: `10.61.${i >> 6}.${(i & 63) * 4 + 3}` }));
    await expectRefused(c, CREATE_SUBNET, { input: { name: uniqueName('subnet'), networkId, cidr: '10.61.0.0/16', allocationPools } }, 'BAD_USER_INPUT', 'input.allocationPools');
    // A filter takes at most 64 labels, on core and plugin kinds alike.
    for (const kind of ['hosts', 'ports', 'firewallPolicies', 'taps']) {
      await expectRefused(c, `query($labels: [LabelInput!]) { ${kind}(filter: { labels: $labels }) { totalCount } }`, { labels }, 'BAD_USER_INPUT', 'filter.labels');
    }
    // 1000 are taken: the cap is a bound, not a lookup that fails.
    expect((await c.gql(CREATE_POLICY, { input: { name: uniqueName('fw'), selector: { portIds: ids.slice(0, 1000) } } })).errors?.[0].extensions?.field).toBe('input.selector.portIds.0');
  });

  itSurvives(ctl);
});

describe('query limits and malformed requests', () => {
  const ctl = useController();

  /** `network(id) { ports { edges { node { network { … } } } } }` nested to `depth` fields. */
  function deepQuery(depth: number, root = 'network(name: "none")'): string {
    const cycle = ['ports', 'edges', 'node', 'network'];
    const leaf: Record<string, string> = { ports: 'totalCount', edges: 'cursor', node: 'id', network: 'id' };
    let body = leaf[cycle[(depth - 3) % 4]];
    for (let level = depth - 1; level > 1; level--) body = `${cycle[(level - 2) % 4]} { ${body} }`;
    return `{ ${root} { ${body} } }`;
  }

  const post = async (c: ControllerProcess, body: string) => {
    const response = await fetch(c.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${c.adminToken}` },
      body,
    });
    return { status: response.status, text: await response.text() };
  };

  it('refuses a query nested deeper than 12 with GRAPHQL_VALIDATION_FAILED (400)', async () => {
    const c = ctl();
    for (const depth of [13, 14, 40]) {
      const result = await expectRefused(c, deepQuery(depth), {}, 'GRAPHQL_VALIDATION_FAILED', null);
      expect(result.errors![0].message).toContain(`depth ${depth}`);
      expect(result.status).toBe(400);
    }
  });

  it('refuses a deep query hidden in fragments', async () => {
    const c = ctl();
    const query = `
      query { networks { edges { node { ...A } } } }
      fragment A on Network { ports { edges { ...B } } }
      fragment B on PortEdge { node { network { ports { edges { node { ... on Port { network { ports { edges { node { id } } } } } } } } } } }`;
    const result = await expectRefused(c, query, {}, 'GRAPHQL_VALIDATION_FAILED', null);
    expect(result.errors![0].message).toMatch(/depth 1[3-9]/);
  });

  it('refuses a too-deep mutation before it runs', async () => {
    const c = ctl();
    const name = uniqueName('deep');
    let selection = 'id';
    for (let i = 0; i < 3; i++) selection = `ports { edges { node { network { ${selection} } } } }`;
    const result = await expectRefused(c, `mutation { createNetwork(input: { name: "${name}" }) { ${selection} } }`, {}, 'GRAPHQL_VALIDATION_FAILED', null);
    expect(result.errors![0].message).toContain('depth 14');
    expect((await c.ok(`query($name: String!) { network(name: $name) { id } }`, { name })).network).toBeNull();
  });

  it('refuses a query over the cost limit with GRAPHQL_VALIDATION_FAILED (400)', async () => {
    const c = ctl();
    const costly = '{ networks(first: 1000) { edges { node { ports { edges { node { fixedIps { subnet { network { id } } } } } } } } } }';
    const result = await expectRefused(c, costly, {}, 'GRAPHQL_VALIDATION_FAILED', null);
    expect(result.errors![0].message).toMatch(/cost \d+ exceeds the limit of 50000/);
    expect(result.status).toBe(400);
    // The page size may come from a variable, and many cheap aliases add up too.
    await expectRefused(
      c,
      'query($n: Int) { networks(first: $n) { edges { node { ports(first: 5) { edges { node { fixedIps { subnet { id } } } } } } } } }',
      { n: 1000 },
      'GRAPHQL_VALIDATION_FAILED',
      null,
    );
    const aliases = Array.from({ length: 60 }, (_, i) => `a${i}: networks(first: 1000) { edges { node { id name vni } } }`).join(' ');
    await expectRefused(c, `{ ${aliases} }`, {}, 'GRAPHQL_VALIDATION_FAILED', null);
    // A large page of a flat list is fine.
    expect((await c.ok('{ networks(first: 1000) { totalCount edges { node { id name } } } }')).networks.totalCount).toBe(0);
  });

  it('refuses a too-costly mutation before it runs', async () => {
    const c = ctl();
    const name = uniqueName('costly');
    await expectRefused(
      c,
      `mutation { createNetwork(input: { name: "${name}" }) { ports(first: 1000) { edges { node { network { ports(first: 1000) { edges { node { id } } } } } } } } }`,
      {},
      'GRAPHQL_VALIDATION_FAILED',
      null,
    );
    expect((await c.ok(`query($name: String!) { network(name: $name) { id } }`, { name })).network).toBeNull();
  });

  it('answers a body over 2 MiB with 413, writes nothing, and keeps serving', async () => {
    const c = ctl();
    const before = await snapshot(c);
    const padding = 'x'.repeat(2 * 1024 * 1024);
    const big = await post(c, JSON.stringify({ query: 'mutation($p: String) { createNetwork(input: { name: "big" }) { id } }', variables: { p: padding } }));
    expect(big.status).toBe(413);
    expect(big.text).not.toMatch(/\bat \S+:\d+/);
    expect(await snapshot(c)).toEqual(before);
    // Just under the limit is served.
    const fits = await post(c, JSON.stringify({ query: '{ revision }', variables: { p: 'x'.repeat(2 * 1024 * 1024 - 100) } }));
    expect(fits.status).toBe(200);
    expect(JSON.parse(fits.text)).toEqual({ data: { revision: before.revision } });
    for (let i = 0; i < 5; i++) expect((await post(c, JSON.stringify({ query: '{ revision }', variables: { p: padding } }))).status).toBe(413);
    expect(await c.ok('{ revision }')).toEqual({ revision: before.revision });
  });

  it('answers malformed bodies with 400 and keeps serving', async () => {
    const c = ctl();
    for (const body of ['{not json', '', '[]', '"a string"', '{"query": 42}', '{"variables": {}}']) {
      const result = await post(c, body);
      expect([body, result.status]).toEqual([body, 400]);
    }
    expect(await c.ok('{ revision }')).toEqual({ revision: expect.any(Number) });
  });

  it('refuses malformed GraphQL with its protocol code', async () => {
    const c = ctl();
    const parse = await expectRefused(c, '{ networks { ', {}, 'GRAPHQL_PARSE_FAILED', null);
    expect(parse.status).toBe(400);
    const unknownField = await expectRefused(c, '{ networks { totalCount secret } }', {}, 'GRAPHQL_VALIDATION_FAILED', null);
    expect(unknownField.status).toBe(400);
    await expectRefused(c, 'mutation { createNetwork(input: { vni: 5 }) { id } }', {}, 'GRAPHQL_VALIDATION_FAILED', null);
    await expectRefused(c, CREATE_NETWORK, { input: { name: uniqueName('net'), surprise: true } }, 'BAD_USER_INPUT', null);
    await expectRefused(c, CREATE_NETWORK, { input: { vni: 5 } }, 'BAD_USER_INPUT', null);
    await expectRefused(c, CREATE_NETWORK, {}, 'BAD_USER_INPUT', null);
  });

  it.each([
    ['networks(first: -1)', 'first'],
    ['networks(first: 1001)', 'first'],
    ['networks(last: 1001)', 'last'],
    ['networks(first: 1, last: 1)', 'last'],
    ['networks(after: "garbage")', 'after'],
    ['networks(before: "djE6bm90LWFuLWlk")', 'before'],
    ['hosts(first: -5)', 'first'],
    ['subnets(last: -1)', 'last'],
  ])('refuses the page arguments %s with BAD_USER_INPUT', async (args, field) => {
    await expectRefused(ctl(), `{ ${args} { totalCount } }`, {}, 'BAD_USER_INPUT', field);
  });

  it('refuses a change-feed page out of range and a lookup without exactly one key', async () => {
    const c = ctl();
    await expectRefused(c, '{ changes(first: 1001) { revision } }', {}, 'BAD_USER_INPUT', 'first');
    await expectRefused(c, '{ changes(first: -1) { revision } }', {}, 'BAD_USER_INPUT', 'first');
    await expectRefused(c, '{ network { id } }', {}, 'BAD_USER_INPUT', 'id');
    await expectRefused(c, `{ host(id: "${MISSING_ID}", name: "x") { id } }`, {}, 'BAD_USER_INPUT', 'name');
  });

  itSurvives(ctl);
});
