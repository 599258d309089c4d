import type { HelloMessage, PortCountersEntry } from '@netloom/protocol';
import { COUNTERS_CAPABILITY, PROTOCOL_VERSION } from '@netloom/protocol';
import type { AgentSession } from '../agents/agent-session';
import { COUNT_FIELDS } from './host-counters';
import { PortCountersService } from './port-counters.service';

const hello = (capabilities: string[]): HelloMessage => ({ type: 'hello', protocol: PROTOCOL_VERSION, agentVersion: 't', lastRevision: 0, capabilities, plugins: [], kernel: 't' });

/** The few things the service asks of a session; anything else fails the test. */
function session(hostId: string, capabilities: string[], ports: string[]): AgentSession & { send: jest.Mock } {
  const fake = { hostId, hello: hello(capabilities), send: jest.fn(), standing: (key: string) => (ports.map((p) => `Port/${p}`).includes(key) ? 'sent' : undefined) };
  return new Proxy(fake, {
    get(target, name) {
      if (!(name in target)) throw new Error(`unexpected use of session.${String(name)}`);
      return target[name as keyof typeof target];
    },
  }) as unknown as AgentSession & { send: jest.Mock };
}

/** Every count of the port at `n`. */
const entry = (portId: string, n: number): PortCountersEntry => ({ portId, ...Object.fromEntries(COUNT_FIELDS.map((f) => [f, n])) }) as PortCountersEntry;

describe('PortCountersService', () => {
  it('asks only an agent that can send counters, and keeps nothing from one it did not ask', () => {
    const service = new PortCountersService();
    const old = session('h1', ['netns'], ['a']);
    service.attached(old);
    expect(old.send).not.toHaveBeenCalled();
    service.received(old, { type: 'port-counters', full: true, ports: [entry('a', 1)], removed: [] });
    expect(service.of('h1', 'a')).toBeNull();

    const agent = session('h1', ['netns', COUNTERS_CAPABILITY], ['a']);
    service.attached(agent);
    expect(agent.send.mock.calls).toEqual([[{ type: 'counters-request' }]]);
    service.received(agent, { type: 'port-counters', full: true, ports: [entry('a', 7)], removed: [] });
    expect(service.of('h1', 'a')).toMatchObject({ hostId: 'h1', rxPackets: 7, txPackets: 7, droppedSpoofedPackets: null });
    // Another host's ports answer nothing; the channel closing takes the host's counters along.
    expect(service.of('h2', 'a')).toBeNull();
    service.closed(agent);
    expect(service.of('h1', 'a')).toBeNull();
  });

  it("a closing older channel does not take the host's newer one along", () => {
    const service = new PortCountersService();
    const first = session('h1', [COUNTERS_CAPABILITY], ['a']);
    const second = session('h1', [COUNTERS_CAPABILITY], ['a']);
    service.attached(first);
    service.attached(second);
    service.received(second, { type: 'port-counters', full: true, ports: [entry('a', 3)], removed: [] });
    service.closed(first);
    expect(service.of('h1', 'a')).toMatchObject({ rxPackets: 3 });
  });
});
