import { deriveMac, RealizationState } from '@netloom/plugin-sdk';
import { agentTestHost, AgentTestHost, inMemoryIntent, runController } from '@netloom/plugin-sdk/testing';
import { tap, TapPlacement } from './index';

// The SDK's worked example, tested the way its README tells a plugin author to: the controller
// half against an in-memory intent, the agent half against the kernel in a throwaway host.

const intent = inMemoryIntent({
  hosts: [{ id: 'h1' }],
  networks: [{ id: 'n1' }, { id: 'n2' }],
  subnets: [
    { id: 's1', networkId: 'n1', cidr: '10.77.0.0/24', gatewayIp: '10.77.0.1' },
    { id: 's2', networkId: 'n2', cidr: '10.78.0.0/24', gatewayIp: '10.78.0.1' },
  ],
  ports: [{ id: 'p1', networkId: 'n1', hostId: 'h1', fixedIps: [{ subnetId: 's1', ipAddress: '10.77.0.2' }] }],
  resources: [{ id: 'other', kind: 'Tap', spec: { hostId: 'h1', networkId: 'n1', address: '10.77.0.9' } }],
});

describe('tap: controller half', () => {
  it('places a tap on its host with its network and a stable MAC', async () => {
    const { placements } = await runController(tap, 'Tap', { id: 't1', spec: { hostId: 'h1', networkId: 'n1', address: '10.77.0.50' } }, intent);
    const mac = deriveMac('tap:t1');
    expect(placements).toEqual([
      {
        hostId: 'h1',
        spec: { networkId: 'n1', cidr: '10.77.0.50/24', mac },
        networks: ['n1'],
        endpoints: [{ networkId: 'n1', mac, ips: ['10.77.0.50'] }],
      },
    ]);
  });

  it('reserves its address in its subnet, so the core refuses one a port or another resource holds', async () => {
    const { reservations } = await runController(tap, 'Tap', { id: 't1', spec: { hostId: 'h1', networkId: 'n1', address: '10.77.0.50' } }, intent);
    expect(reservations).toEqual([{ subnetId: 's1', ipAddress: '10.77.0.50', field: 'input.address' }]);
  });

  it.each([
    ['outside every subnet of the network', '10.78.0.5', /no subnet/],
    ["the subnet's gateway", '10.77.0.1', /gateway/],
  ])('refuses an address that is %s', async (_what, address, message) => {
    await expect(runController(tap, 'Tap', { id: 't1', spec: { hostId: 'h1', networkId: 'n1', address } }, intent)).rejects.toMatchObject({
      code: 'BAD_USER_INPUT',
      message: expect.stringMatching(message) as string,
    });
  });
});

const describeKernel = process.getuid?.() === 0 ? describe : describe.skip;

describeKernel('tap: agent half on the real kernel', () => {
  let kit: AgentTestHost;
  const placement = (id: string, cidr: string): { kind: string; id: string; generation: number; spec: TapPlacement } => ({
    kind: 'Tap',
    id,
    generation: 1,
    spec: { networkId: 'n1', cidr, mac: deriveMac(`tap:${id}`) },
  });

  beforeAll(async () => {
    kit = await agentTestHost({ pluginId: tap.id });
    await kit.addNetworkBridge('n1');
  });
  afterAll(async () => {
    await kit?.destroy();
  });

  it('makes two taps that reach each other over the network bridge', async () => {
    const statuses = await tap.agent!.reconcile([placement('a', '10.79.0.2/24'), placement('b', '10.79.0.3/24')], kit.host);
    expect(statuses.map((s) => s.state)).toEqual([RealizationState.APPLIED, RealizationState.APPLIED]);
    const netns = statuses[0].attributes!.netns;
    expect((await kit.exec(netns, ['ping', '-c1', '-W1', '10.79.0.3'])).code).toBe(0);
    const link = (await kit.host.links(netns)).find((l) => l.ifname === 'tap0');
    expect(link?.address).toBe(deriveMac('tap:a'));
  });

  it('changes nothing when reconciled again with the same state', async () => {
    const before = kit.runner.mutatingCount;
    await tap.agent!.reconcile([placement('a', '10.79.0.2/24'), placement('b', '10.79.0.3/24')], kit.host);
    expect(kit.runner.mutatingCount).toBe(before);
  });

  it('removes what is no longer desired, and everything with an empty desired set', async () => {
    await tap.agent!.reconcile([placement('a', '10.79.0.2/24')], kit.host);
    expect(await kit.host.ownedNetns()).toEqual([kit.host.netnsName('a')]);
    await tap.agent!.reconcile([], kit.host);
    expect(await kit.host.ownedNetns()).toEqual([]);
    // A namespace is destroyed asynchronously; the leg goes with it.
    for (let i = 0; (await kit.host.ownedLinks()).length && i < 100; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await kit.host.ownedLinks()).toEqual([]);
  });
});
