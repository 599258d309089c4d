import 'reflect-metadata';
import { INestApplication } from '@nestjs/common';
import WebSocket from 'ws';
import { ChangesService } from '../apps/controller/src/changes/changes.service';
import { StatusService } from '../apps/controller/src/realization/status.service';
import { waitFor } from './support/agent';
import { FakeAgent, fakeAgent } from './support/fake-agent';
import { InProcessController, inProcessController } from './support/in-process';

jest.setTimeout(60_000);

// In-process, so the write queue can be held while acks arrive: acks that wait for their turn
// share one transaction (group commit), and one that cannot be stored fails alone.
describe('acks committed in groups', () => {
  let ctl: InProcessController;
  let app: INestApplication;
  const agents: FakeAgent[] = [];
  const ports: string[] = [];
  const gql = (query: string, variables: Record<string, unknown> = {}) => ctl.gql(query, variables);
  const states = async (): Promise<(string | undefined)[]> =>
    Promise.all(ports.map(async (id) => (await gql('query($id: ID!) { port(id: $id) { status { state reason } } }', { id })).port.status[0]?.reason));
  const status = (id: string, reason: string) => ({ kind: 'Port', id, generation: 1, state: 'APPLIED', reason, attributes: {} });

  /** Holds the write queue until the returned function is called (once a write holds it). */
  async function holdWrites(): Promise<() => Promise<void>> {
    let release!: () => void;
    const gate = new Promise<void>((done) => (release = done));
    let holding!: () => void;
    const held = new Promise<void>((done) => (holding = done));
    const write = app.get(ChangesService).transact(async () => {
      holding();
      await gate;
    });
    await held;
    return async () => {
      release();
      await write;
    };
  }

  beforeAll(async () => {
    ctl = await inProcessController('acks');
    app = ctl.app;
    const { createNetwork } = await gql('mutation { createNetwork(input: { name: "n" }) { id } }');
    await gql('mutation($n: ID!) { createSubnet(input: { name: "s", networkId: $n, cidr: "10.7.0.0/24" }) { id } }', { n: createNetwork.id });
    for (let i = 0; i < 3; i++) {
      const { createHost } = await gql(`mutation { createHost(input: { name: "h${i}", vtepAddress: "192.0.2.${i + 1}" }) { host { id } joinToken } }`);
      const { createPort } = await gql('mutation($i: CreatePortInput!) { createPort(input: $i) { id } }', {
        i: { name: `p${i}`, networkId: createNetwork.id, hostId: createHost.host.id },
      });
      ports.push(createPort.id);
      agents.push(await fakeAgent(ctl.base, createHost.joinToken));
    }
  });

  afterAll(async () => {
    for (const agent of agents) agent.ws.terminate();
    await ctl?.close();
  });

  it('stores the acks that arrived while a write held the queue in one transaction', async () => {
    const status_ = app.get(StatusService);
    const recorded = jest.spyOn(status_, 'recordAck');
    const release = await holdWrites();
    const transact = jest.spyOn(app.get(ChangesService), 'transact');
    try {
      agents.forEach((agent, i) => agent.ack([status(ports[i], 'first')]));
      await waitFor(() => recorded.mock.calls.length === 3, 5_000, 10, 'the three acks to reach the status store');
      await release();
      await waitFor(async () => (await states()).every((r) => r === 'first'), 5_000, 20, 'the three statuses');
      // One write for the three acks (the hold itself was started before the spy).
      expect(transact).toHaveBeenCalledTimes(1);
    } finally {
      recorded.mockRestore();
      transact.mockRestore();
    }
  });

  it('tries each ack of a failed group alone: one that cannot be stored fails only itself (its channel)', async () => {
    const status_ = app.get(StatusService);
    const recorded = jest.spyOn(status_, 'recordAck');
    // The ack of host 0 cannot be stored: it fails the group's transaction, then its own.
    type Private = { storeGroup: (em: unknown, acks: { hostId: string }[], ...rest: unknown[]) => Promise<unknown> };
    const bad = agents[0].hostId;
    const original = (status_ as unknown as Private).storeGroup;
    const patched = jest.spyOn(status_ as unknown as Private, 'storeGroup').mockImplementation((em, acks, ...rest) => {
      if (acks.some((ack) => ack.hostId === bad)) return Promise.reject(new Error('refused by the test'));
      return original.call(status_, em, acks, ...rest);
    });
    const release = await holdWrites();
    try {
      agents.forEach((agent, i) => agent.ack([status(ports[i], 'second')]));
      await waitFor(() => recorded.mock.calls.length === 3, 5_000, 10, 'the three acks to reach the status store');
      await release();
      await waitFor(async () => (await states()).slice(1).every((r) => r === 'second'), 5_000, 20, 'the two good statuses');
      // Host 0's was tried in the group and alone, and not stored.
      expect(patched.mock.calls.map(([, acks]) => acks.length)).toEqual([3, 1, 1, 1]);
      expect((await states())[0]).toBe('first');
    } finally {
      patched.mockRestore();
      recorded.mockRestore();
    }
    // Host 0's channel is closed (its agent dials again and reports again); the others' stay open.
    expect(await agents[0].closed).toMatchObject({ code: 1011 });
    expect(agents.slice(1).map((a) => a.ws.readyState)).toEqual([WebSocket.OPEN, WebSocket.OPEN]);
  });
});
