import { RealizationState } from '@netloom/model';
import { reconcileAppliances, type Appliance } from './appliance';
import { agentTestHost, type AgentTestHost } from './testkit-agent';

// Appliances on the real kernel, as root: an address that moves into an appliance is announced
// (a gratuitous ARP from its leg), so a client that cached another MAC for it uses the new one at once.
const describeKernel = process.getuid?.() === 0 ? describe : describe.skip;

describeKernel('reconcileAppliances on the real kernel: announcing addresses', () => {
  jest.setTimeout(60_000);
  const OTHER = '02:00:00:00:00:99';
  const MAC = '02:00:00:77:00:10';
  let kit: AgentTestHost;
  let client: string;

  const appliance = (addresses: string[]): Appliance => ({ id: 'app1', legs: [{ name: 'x0', networkId: 'n1', mac: MAC, addresses }], routes: [] });
  /** The client believes `address` is at another MAC, as it would when the address was somewhere else before. */
  const cacheOther = async (address: string): Promise<void> => {
    expect((await kit.exec(client, ['ip', 'neigh', 'replace', address, 'lladdr', OTHER, 'dev', 'eth0', 'nud', 'reachable'])).code).toBe(0);
  };
  const cached = async (address: string): Promise<string | undefined> => {
    const { stdout } = await kit.exec(client, ['ip', '-json', 'neigh', 'show', 'to', address, 'dev', 'eth0']);
    return (JSON.parse(stdout || '[]') as { lladdr?: string }[])[0]?.lladdr;
  };
  /** The MAC the client has for `address` within a moment (the frame crosses a bridge; no timer of the kernel's involved). */
  const soonCached = async (address: string, mac: string): Promise<string | undefined> => {
    for (let i = 0; i < 25 && (await cached(address)) !== mac; i++) await new Promise((r) => setTimeout(r, 20));
    return cached(address);
  };
  const announced = () => kit.runner.log.filter((e) => e.command === 'nsenter' && e.args.includes('-c')).map((e) => e.args.slice(-2));

  beforeAll(async () => {
    kit = await agentTestHost({ pluginId: 'test.appliance' });
    await kit.addNetworkBridge('n1');
    client = await kit.addTestNamespace('c', 'n1', '10.77.0.1/24');
  });
  afterAll(async () => {
    await kit?.destroy();
  });

  it('announces the address of an appliance it makes: the client takes its MAC right away', async () => {
    await cacheOther('10.77.0.10');
    kit.runner.resetLog();
    const [outcome] = await reconcileAppliances(kit.host, [appliance(['10.77.0.10/24'])]);
    expect(outcome).toMatchObject({ state: RealizationState.APPLIED, fresh: true });
    expect(announced()).toEqual([['x0', '10.77.0.10']]);
    expect(await soonCached('10.77.0.10', MAC)).toBe(MAC);
    expect((await kit.exec(client, ['ping', '-n', '-c', '1', '-W', '2', '10.77.0.10'])).code).toBe(0);
  });

  it('announces a leg given an IPv4 address it did not have, and nothing when nothing was gained', async () => {
    await cacheOther('10.77.0.11');
    kit.runner.resetLog();
    const [outcome] = await reconcileAppliances(kit.host, [appliance(['10.77.0.10/24', '10.77.0.11/24'])]);
    expect(outcome).toMatchObject({ state: RealizationState.APPLIED, fresh: false });
    expect(announced()).toEqual([['10.77.0.10', '10.77.0.11']]);
    expect(await soonCached('10.77.0.11', MAC)).toBe(MAC);

    // An address removed (none gained), an IPv6 one gained: nothing to announce.
    kit.runner.resetLog();
    expect((await reconcileAppliances(kit.host, [appliance(['10.77.0.10/24', 'fd77::10/64'])]))[0].state).toBe(RealizationState.APPLIED);
    expect(announced()).toEqual([]);

    // With announce: false, an address gained is added and not announced.
    kit.runner.resetLog();
    expect((await reconcileAppliances(kit.host, [{ ...appliance(['10.77.0.10/24', '10.77.0.12/24']), announce: false }]))[0].state).toBe(RealizationState.APPLIED);
    expect(announced()).toEqual([]);
  });

  it('writes a change made a moment after it read the appliance back without reading it again', async () => {
    const spec = (addresses: string[]): Appliance => ({ ...appliance(addresses), announce: false });
    await reconcileAppliances(kit.host, [spec(['10.77.0.10/24'])]);
    // What a call with nothing changed reads (the plugin's namespaces and links, not the appliance's inside)...
    let [mutating, reads] = [kit.runner.mutatingCount, kit.runner.readCount];
    await reconcileAppliances(kit.host, [spec(['10.77.0.10/24'])]);
    const unchanged = kit.runner.readCount - reads;
    expect(kit.runner.mutatingCount).toBe(mutating);
    // ...is all an added address reads too; it writes once.
    [mutating, reads] = [kit.runner.mutatingCount, kit.runner.readCount];
    const [outcome] = await reconcileAppliances(kit.host, [spec(['10.77.0.10/24', '10.77.0.13/24'])]);
    expect(outcome.state).toBe(RealizationState.APPLIED);
    expect([kit.runner.mutatingCount - mutating, kit.runner.readCount - reads]).toEqual([1, unchanged]);
    const { stdout } = await kit.exec(outcome.netns, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'x0']);
    expect(stdout).toMatch(/10\.77\.0\.10\/24[\s\S]*10\.77\.0\.13\/24/);
  });

  it('reads the appliance and writes it again at once when a change written from what it assumed fails (the assumption was wrong)', async () => {
    const spec = (addresses: string[]): Appliance => ({ ...appliance(addresses), announce: false });
    const [made] = await reconcileAppliances(kit.host, [spec(['10.77.0.20/24', '10.77.0.21/24'])]);
    expect(made.state).toBe(RealizationState.APPLIED);
    // Gone behind its back (nothing watches an appliance's addresses): it still assumes both are there.
    expect((await kit.exec(made.netns, ['ip', 'addr', 'del', '10.77.0.21/24', 'dev', 'x0'])).code).toBe(0);
    // Dropping .21 from what it assumed fails ("Cannot assign requested address"); adding .22 must still happen.
    const [outcome] = await reconcileAppliances(kit.host, [spec(['10.77.0.20/24', '10.77.0.22/24'])]);
    expect(outcome).toMatchObject({ state: RealizationState.APPLIED });
    const { stdout } = await kit.exec(outcome.netns, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'x0']);
    expect(stdout.match(/10\.77\.0\.\d+\/24/g)).toEqual(['10.77.0.20/24', '10.77.0.22/24']);
  });

  it('reads an appliance again after a call writing it threw (part of its batch may have run)', async () => {
    const spec = (addresses: string[]): Appliance => ({ ...appliance(addresses), announce: false });
    await reconcileAppliances(kit.host, [spec(['10.77.0.30/24'])]);
    let reads = kit.runner.readCount;
    await reconcileAppliances(kit.host, [spec(['10.77.0.30/24'])]);
    const unchanged = kit.runner.readCount - reads;
    // The write of an added address runs, then the call throws.
    const apply = kit.host.apply.bind(kit.host);
    const spy = jest.spyOn(kit.host, 'apply').mockImplementationOnce(async (build) => {
      await apply(build);
      throw new Error('failed midway');
    });
    try {
      await expect(reconcileAppliances(kit.host, [spec(['10.77.0.30/24', '10.77.0.31/24'])])).rejects.toThrow('failed midway');
    } finally {
      spy.mockRestore();
    }
    // Another change a moment later: the appliance is read (links, addresses, routes), not assumed to hold what the throwing call wrote.
    reads = kit.runner.readCount;
    const [outcome] = await reconcileAppliances(kit.host, [spec(['10.77.0.30/24', '10.77.0.32/24'])]);
    expect(outcome.state).toBe(RealizationState.APPLIED);
    expect(kit.runner.readCount - reads).toBeGreaterThan(unchanged);
    const { stdout } = await kit.exec(outcome.netns, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'x0']);
    expect(stdout.match(/10\.77\.0\.\d+\/24/g)).toEqual(['10.77.0.30/24', '10.77.0.32/24']);
  });

  it("refuses to announce a link in a namespace that is not the plugin's", async () => {
    await expect(kit.host.announce(client, 'eth0')).rejects.toThrow(/announce in .* is not one of its namespaces/);
  });
});
