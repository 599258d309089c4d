/**
 * Per-port counters end to end: a built controller and a real agent in a simulated host
 * (libs/simhosts), ports made through the GraphQL API, packets between the namespaces the agent
 * built, and `Port.counters` read back through GraphQL. N echo requests from A to B show as at
 * least N packets each way on both ports, from each port's point of view (A sent what B
 * received); a refresh is seen (`updatedAt` moves) before anything is said to have stayed the
 * same; frames A sends from an address it was not given show in its `droppedSpoofedPackets`, and
 * do not reach B.
 */
import type { PortCountersEntry } from '@netloom/protocol';
import { netnsExec, ping, waitFor } from './support/agent';
import { Lab, type PortView, runPrefix, shutdownLab } from './support/plugin-e2e';

const describeRoot = process.getuid?.() === 0 ? describe : describe.skip;
jest.setTimeout(90_000);

const P = runPrefix('c');
const COUNTERS_MS = 300;
const CIDR = '10.96.0.0/24';
const IP = { a: '10.96.0.10', b: '10.96.0.11' };
const SPOOFED = '10.96.0.50';
const N = 20;
/** An echo request or reply on the veth: 64 bytes of ICMP, 20 of IPv4, 14 of Ethernet. */
const ECHO_FRAME_BYTES = 98;

/** `PortCounters` as GraphQL shows it: the agent's counts, its host, when they were heard. */
type Counters = Omit<PortCountersEntry, 'portId' | 'droppedSpoofedPackets'> & { hostId: string; updatedAt: string; droppedSpoofedPackets: number | null };

const FIELDS = 'hostId updatedAt rxPackets rxBytes rxDropped rxErrors txPackets txBytes txDropped txErrors droppedSpoofedPackets';

let lab: Lab | undefined;
const theLab = (): Lab => {
  if (!lab) throw new Error('no lab');
  return lab;
};
let a: PortView;
let b: PortView;

async function countersOf(...ports: PortView[]): Promise<(Counters | null)[]> {
  const { ports: page } = await theLab().api.ok<{ ports: { edges: { node: { id: string; counters: Counters | null } }[] } }>(
    `query($host: ID) { ports(first: 10, filter: { hostId: $host }) { edges { node { id counters { ${FIELDS} } } } } }`,
    { host: theLab().cluster.hostIds[0] },
  );
  return ports.map((p) => page.edges.find((e) => e.node.id === p.id)?.node.counters ?? null);
}

/** Counters of both ports once both are there and the test's `ready` holds for them. */
async function countersWhen(ready: (a: Counters, b: Counters) => boolean, what: string): Promise<[Counters, Counters]> {
  return theLab().withAgentLogs(
    waitFor(
      async () => {
        const [ca, cb] = await countersOf(a, b);
        return ca && cb && ready(ca, cb) ? ([ca, cb] as [Counters, Counters]) : null;
      },
      15_000,
      100,
      what,
    ),
  );
}

describeRoot('per-port counters (a simulated host, a real agent)', () => {
  beforeAll(async () => {
    lab = await Lab.start({ prefix: P, hosts: 1, resyncMs: 5_000, observeMs: COUNTERS_MS, countersMs: COUNTERS_MS });
  }, 90_000);

  afterAll(async () => {
    expect(await shutdownLab(lab, P, 'port counters e2e')).toEqual({ problems: [], left: [] });
  }, 60_000);

  it('N echo requests show as at least N packets each way on both ports, from each port’s point of view', async () => {
    const l = theLab();
    const net = await l.makeNetwork('n', CIDR);
    a = await l.makePort(net, 0, IP.a);
    b = await l.makePort(net, 0, IP.b);
    await l.withAgentLogs(waitFor(() => ping(a.ns, IP.b), 5_000, 100, 'A → B'));
    // Spoofed drops come from the agent's last read of the port-security table (every --observe-ms).
    const [a0, b0] = await countersWhen((ca, cb) => ca.droppedSpoofedPackets !== null && cb.droppedSpoofedPackets !== null, 'counters of A and B');
    expect([a0.hostId, b0.hostId]).toEqual([l.cluster.hostIds[0], l.cluster.hostIds[0]]);
    expect(a0.droppedSpoofedPackets).toBe(0);

    const pinged = await netnsExec(a.ns, ['ping', '-c', String(N), '-i', '0.01', '-W', '1', IP.b]);
    expect(pinged.stdout).toContain(`${N} packets transmitted, ${N} received`);

    const moved = (now: Counters, then: Counters, field: keyof Counters): number => (now[field] as number) - (then[field] as number);
    const [a1, b1] = await countersWhen(
      (ca, cb) =>
        moved(ca, a0, 'txPackets') >= N && moved(ca, a0, 'rxPackets') >= N && moved(cb, b0, 'rxPackets') >= N && moved(cb, b0, 'txPackets') >= N,
      `${N} echo requests and replies counted on A and B`,
    );
    // A sent the requests B received; B sent the replies A received (bytes too: each frame on the veth counts whole).
    for (const [port, then] of [
      [a1, a0],
      [b1, b0],
    ] as const) {
      expect(moved(port, then, 'txBytes')).toBeGreaterThanOrEqual(N * ECHO_FRAME_BYTES);
      expect(moved(port, then, 'rxBytes')).toBeGreaterThanOrEqual(N * ECHO_FRAME_BYTES);
      expect([port.rxErrors, port.txErrors]).toEqual([0, 0]);
    }
    expect(Date.parse(a1.updatedAt)).toBeGreaterThan(Date.parse(a0.updatedAt));

    // One way only (B ignores echo requests): A's tx and B's rx move by N, A's rx and B's tx do not.
    const ignoring = await netnsExec(b.ns, ['sysctl', '-w', 'net.ipv4.icmp_echo_ignore_all=1']);
    expect(ignoring.code).toBe(0);
    const unanswered = await netnsExec(a.ns, ['ping', '-c', String(N), '-i', '0.01', '-W', '1', IP.b]);
    expect(unanswered.stdout).toContain(`${N} packets transmitted, 0 received`);
    const [a2, b2] = await countersWhen((ca, cb) => moved(ca, a1, 'txPackets') >= N && moved(cb, b1, 'rxPackets') >= N, `${N} unanswered requests counted`);
    expect(moved(a2, a1, 'rxPackets')).toBeLessThan(N);
    expect(moved(b2, b1, 'txPackets')).toBeLessThan(N);
    expect(moved(a2, a1, 'txBytes')).toBeGreaterThanOrEqual(N * ECHO_FRAME_BYTES);
  });

  it('frames from an address the port was not given are dropped, counted as spoofed on that port, and reach nobody', async () => {
    const [a0, b0] = await countersWhen(() => true, 'counters of A and B');
    expect(a0.droppedSpoofedPackets).toBe(0);
    const added = await netnsExec(a.ns, ['ip', 'addr', 'add', `${SPOOFED}/32`, 'dev', 'eth0']);
    expect(added.stderr).toBe('');
    const spoofed = await netnsExec(a.ns, ['ping', '-c', '5', '-i', '0.05', '-W', '1', '-I', SPOOFED, IP.b]);
    expect(spoofed.code).not.toBe(0);

    const [a1, b1] = await countersWhen((ca) => (ca.droppedSpoofedPackets ?? 0) >= 5, 'five spoofed frames counted on A');
    // The frames left A (its host end received them) and were dropped on the bridge: not one reached B.
    expect(a1.txPackets - a0.txPackets).toBeGreaterThanOrEqual(5);
    expect(b1.rxPackets - b0.rxPackets).toBeLessThan(5);
    expect(b1.droppedSpoofedPackets).toBe(0);

    // A refresh after the drops were seen (updatedAt moved), then they are still there, and B still has none.
    const [a2, b2] = await countersWhen((ca) => Date.parse(ca.updatedAt) > Date.parse(a1.updatedAt), 'a refresh after the drops');
    expect(a2.droppedSpoofedPackets).toBeGreaterThanOrEqual(a1.droppedSpoofedPackets ?? 0);
    expect(b2.droppedSpoofedPackets).toBe(0);
    expect([a2.rxErrors, a2.txErrors, b2.rxErrors, b2.txErrors]).toEqual([0, 0, 0, 0]);
  });
});
