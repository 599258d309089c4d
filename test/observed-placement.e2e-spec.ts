/**
 * A placement that reads what hosts observed (the SDK's `observedForPlacement` and
 * `intent.observed`) survives a controller restart on its own: a controller process from the
 * build, killed (-9) and started again on its data dir, places a DISTRIBUTED load balancer with
 * what the member's host last reported (read back from the stored statuses at start) before that
 * host's agent is back. Agents here are fake (the public agent protocol, no kernel): the member's
 * host reports the member OFFLINE, then never comes back; a second host joins only after the
 * restart, and its first snapshot must already hold the member out.
 */
import type { DesiredResource } from '@netloom/model';
import { baseUrl, waitFor } from './support/agent';
import { ControllerProcess } from './support/controller';
import { FakeAgent, fakeAgent, twoHostSite } from './support/fake-agent';

jest.setTimeout(60_000);

const MONITOR = { type: 'TCP', intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 2 };

interface PlacedMember {
  address: string;
  online?: boolean;
  check?: boolean;
}

/** The load balancer's members as a host was last sent them. */
function placedMembers(agent: FakeAgent, id: string): PlacedMember[] | undefined {
  let held: DesiredResource | undefined;
  for (const m of agent.messages) {
    if (m.type === 'snapshot') held = m.resources.find((r) => r.id === id) ?? undefined;
    if (m.type === 'update') {
      if (m.deletes.some((r) => r.id === id)) held = undefined;
      // Whole: a fake agent announces no patches.
      held = (m.upserts.find((r) => r.id === id) as DesiredResource | undefined) ?? held;
    }
  }
  return (held?.spec as { listeners?: { members: PlacedMember[] }[] } | undefined)?.listeners?.[0]?.members;
}

describe('placements read what hosts observed, across a controller restart', () => {
  let c: ControllerProcess | undefined;
  const agents: FakeAgent[] = [];

  afterAll(async () => {
    for (const agent of agents) agent.ws.terminate();
    await c?.destroy();
  });

  it("places a DISTRIBUTED load balancer with its member's last reported health before that member's host is back", async () => {
    c = await ControllerProcess.start();
    const ctl = c;
    const { hostA, hostB, networkId, subnetId } = await twoHostSite(ctl, '10.72.0.0/24');
    const { createPort } = await ctl.ok('mutation($i: CreatePortInput!) { createPort(input: $i) { id fixedIps { ipAddress } } }', {
      i: { name: "m", networkId: networkId, hostId: hostA.host.id },
    });
    const member = createPort.fixedIps[0].ipAddress as string;
    const a = await fakeAgent(baseUrl(ctl.url), hostA.joinToken);
    agents.push(a);
    const { createLoadBalancer: lb } = await ctl.ok('mutation($i: CreateLoadBalancerInput!) { createLoadBalancer(input: $i) { id generation } }', {
      i: { name: 'lb', subnetId: subnetId, vipAddress: '10.72.0.100', listeners: [{ protocol: 'TCP', port: 80, pool: { algorithm: 'ROUND_ROBIN', members: [{ portId: createPort.id, port: 8080 }], healthMonitor: MONITOR } }] },
    });
    // Host a holds the member's port: it is the one to check it.
    await waitFor(() => placedMembers(a, lb.id)?.[0]?.check === true, 5_000, 20, 'the load balancer placed on host a, checking its member');
    expect(placedMembers(a, lb.id)).toEqual([expect.objectContaining({ address: member, online: true, check: true })]);

    // Host a reports the member OFFLINE (as its checks would find it).
    const observed = {
      operatingStatus: 'ERROR',
      listeners: [
        {
          protocol: 'TCP',
          port: 80,
          members: [{ name: null, portId: createPort.id, address: member, port: 8080, weight: 1, operatingStatus: 'OFFLINE', lastCheck: 'connect ECONNREFUSED', checked: true, connections: 0, packets: 0, bytes: 0 }],
        },
      ],
    };
    a.ack([{ kind: 'LoadBalancer', id: lb.id, generation: lb.generation, state: 'APPLIED', attributes: { mode: 'DISTRIBUTED' }, observed }]);
    await waitFor(() => placedMembers(a, lb.id)?.[0]?.online === false, 5_000, 20, "the member's health back in host a's placement");

    // The controller is killed and starts again; host a's agent does not come back.
    a.ws.terminate();
    await ctl.kill('SIGKILL');
    await ctl.launch();
    // Host b joins only now: its first snapshot holds the member out, from what was stored.
    const b = await fakeAgent(baseUrl(ctl.url), hostB.joinToken);
    agents.push(b);
    expect(placedMembers(b, lb.id)).toEqual([expect.objectContaining({ address: member, online: false, check: false })]);
  });
});
