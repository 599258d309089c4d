/**
 * A large resource changed goes to an agent that takes patches as what changed: a controller
 * process from the build sends a 200-rule firewall policy whole once, with its hash, then one
 * rule changed as a patch naming that hash (a few hundred bytes instead of ~30 KB), which makes
 * the spec the controller placed. An agent that does not say it takes patches gets it whole.
 * Agents here are fake (the public agent protocol, no kernel), so what each is sent is exact.
 */
import { DesiredResource } from '@netloom/model';
import { applySpecPatch, isPatched, SPEC_PATCH_CAPABILITY, type SentResource, type UpdateMessage } from '@netloom/protocol';
import { baseUrl, waitFor } from './support/agent';
import { ControllerProcess } from './support/controller';
import { FakeAgent, fakeAgent, twoHostSite } from './support/fake-agent';

jest.setTimeout(60_000);

type Rule = { priority: number; direction: string; protocol: string; ports: { from: number }[]; remoteCidrs: string[]; remoteGroupIds: string[]; action: string };
const rules = (changed: number): Rule[] =>
  Array.from({ length: 200 }, (_, i) => ({ priority: i, direction: 'INGRESS', protocol: 'TCP', ports: [{ from: i === 100 ? changed : 1000 + i }], remoteCidrs: [`172.16.${i}.0/24`], remoteGroupIds: [], action: 'ALLOW' }));

/** The policy's entries in the updates an agent was sent, with each message's size, oldest first. */
const sentOf = (agent: FakeAgent, id: string): { resource: SentResource; bytes: number }[] =>
  agent.messages
    .filter((m): m is UpdateMessage => m.type === 'update')
    .flatMap((m) => m.upserts.filter((r) => r.id === id).map((resource) => ({ resource, bytes: JSON.stringify(m).length })));

describe('large resources as patches', () => {
  let c: ControllerProcess | undefined;
  const agents: FakeAgent[] = [];

  afterAll(async () => {
    for (const agent of agents) agent.ws.terminate();
    await c?.destroy();
  });

  it('sends a 200-rule policy whole once, then one rule changed as a patch that makes the spec placed; whole to an agent that takes no patches', async () => {
    c = await ControllerProcess.start();
    const ctl = c;
    const { hostA, hostB, networkId } = await twoHostSite(ctl, '10.74.0.0/24');
    for (const host of [hostA, hostB]) {
      await ctl.ok('mutation($i: CreatePortInput!) { createPort(input: $i) { id } }', { i: { name: `p-${host.host.id}`, networkId: networkId, hostId: host.host.id, labels: [{ key: 'fw', value: 'on' }] } });
    }
    const a = await fakeAgent(baseUrl(ctl.url), hostA.joinToken, [SPEC_PATCH_CAPABILITY]);
    const b = await fakeAgent(baseUrl(ctl.url), hostB.joinToken);
    agents.push(a, b);

    const { createFirewallPolicy: policy } = await ctl.ok('mutation($i: CreateFirewallPolicyInput!) { createFirewallPolicy(input: $i) { id } }', {
      i: { name: 'big', selector: { labels: [{ key: 'fw', value: 'on' }] }, rules: rules(5000) },
    });
    await waitFor(() => sentOf(a, policy.id).length === 1 && sentOf(b, policy.id).length === 1, 5_000, 20, 'the policy sent to both hosts');
    const [first] = sentOf(a, policy.id);
    expect(isPatched(first.resource)).toBe(false);
    const whole = first.resource as DesiredResource & { hash?: string };
    expect(whole.hash).toEqual(expect.any(String));
    expect(first.bytes).toBeGreaterThan(20_000);
    // The agent that takes no patches gets no hash either.
    expect(sentOf(b, policy.id)[0].resource).not.toHaveProperty('hash');

    await ctl.ok('mutation($i: UpdateFirewallPolicyInput!) { updateFirewallPolicy(input: $i) { id } }', { i: { id: policy.id, rules: rules(6000) } });
    await waitFor(() => sentOf(a, policy.id).length === 2 && sentOf(b, policy.id).length === 2, 5_000, 20, 'the change sent to both hosts');
    const [, second] = sentOf(a, policy.id);
    expect(isPatched(second.resource)).toBe(true);
    if (!isPatched(second.resource)) return;
    expect(second.resource.patch.base).toBe(whole.hash);
    expect(second.resource.patch.set).toEqual({});
    expect(Object.keys(second.resource.patch.lists)).toEqual(['rules']);
    expect(Object.keys(second.resource.patch.lists.rules.items)).toEqual(['100']);
    expect(second.bytes).toBeLessThan(1_000);
    const patched = applySpecPatch(whole.spec, second.resource.patch) as { rules: { priority: number; ports: [number, number][] }[]; ports: string[] };
    expect(patched.rules).toHaveLength(200);
    expect(patched.rules[100]).toMatchObject({ priority: 100, ports: [[6000, 6000]] });
    expect(patched.rules[99]).toEqual((whole.spec as typeof patched).rules[99]);
    // What b got whole, but for its own port: the same rules.
    const onB = sentOf(b, policy.id)[1].resource as DesiredResource<typeof patched>;
    expect(isPatched(onB)).toBe(false);
    expect(patched.rules).toEqual(onB.spec.rules);
    expect(patched.ports).not.toEqual(onB.spec.ports);

    // The next change names the hash the patch made.
    await ctl.ok('mutation($i: UpdateFirewallPolicyInput!) { updateFirewallPolicy(input: $i) { id } }', { i: { id: policy.id, rules: rules(7000) } });
    await waitFor(() => sentOf(a, policy.id).length === 3, 5_000, 20, 'the second change');
    const third = sentOf(a, policy.id)[2].resource;
    expect(isPatched(third) && third.patch.base).toBe(second.resource.patch.hash);
  });
});
