import type { ControllerMessage, ProbeMessage } from '@netloom/protocol';
import type { DispatcherService } from '../realization/dispatcher.service';
import { AgentProbesService } from './agent-probes.service';
import type { AgentSession } from './agent-session';

/** A dispatcher with one host's session (or none): only what the service may call; anything else throws. */
function dispatcher(session: { capabilities: string[] } | null, elsewhere = false): { dispatcher: DispatcherService; sent: ControllerMessage[] } {
  const sent: ControllerMessage[] = [];
  const fake = {
    sessionOf: (hostId: string) =>
      session && hostId === 'h1' ? ({ hello: { capabilities: session.capabilities }, send: (m: ControllerMessage) => sent.push(m) } as unknown as AgentSession) : undefined,
    connectedElsewhere: () => elsewhere,
  };
  const strict = new Proxy(fake, {
    get: (target, key) => {
      if (!(key in target)) throw new Error(`unexpected call: dispatcher.${String(key)}`);
      return target[key as keyof typeof target];
    },
  });
  return { dispatcher: strict as unknown as DispatcherService, sent };
}

describe('AgentProbesService', () => {
  it('sends a probe and resolves with the answer of that id from that host only', async () => {
    const { dispatcher: d, sent } = dispatcher({ capabilities: ['vxlan', 'probe'] });
    const probes = new AgentProbesService(d);
    const answer = probes.ask('h1', 'one', { read: [{ portId: 'p' }] }, 5_000);
    expect(sent).toHaveLength(1);
    const id = (sent[0] as ProbeMessage).id;
    expect(sent[0]).toEqual({ type: 'probe', id, read: [{ portId: 'p' }] });
    // Another host cannot answer for it; an unknown id is ignored.
    probes.answered('h2', { type: 'probe-result', id, counters: [{ error: 'forged' }] });
    probes.answered('h1', { type: 'probe-result', id: 'other', counters: [] });
    probes.answered('h1', { type: 'probe-result', id, counters: [{ packets: { 'netloom x': 1 } }] });
    await expect(answer).resolves.toEqual({ type: 'probe-result', id, counters: [{ packets: { 'netloom x': 1 } }] });
  });

  it('refuses, sending nothing, when the agent is away, elsewhere or too old; fails when it does not answer in time', async () => {
    await expect(new AgentProbesService(dispatcher(null).dispatcher).ask('h1', 'one', { read: [] }, 1_000)).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: 'the agent of host one is not connected',
    });
    expect(() => new AgentProbesService(dispatcher(null, true).dispatcher).check('h1', 'one')).toThrow('is connected to another controller replica');
    const old = dispatcher({ capabilities: ['vxlan'] });
    await expect(new AgentProbesService(old.dispatcher).ask('h1', 'one', { read: [] }, 1_000)).rejects.toMatchObject({ message: 'the agent of host one is too old to probe' });
    expect(old.sent).toEqual([]);
    const silent = new AgentProbesService(dispatcher({ capabilities: ['probe'] }).dispatcher);
    await expect(silent.ask('h1', 'one', { read: [] }, 50)).rejects.toMatchObject({ code: 'UNAVAILABLE', message: 'the agent of host one did not answer the probe in 50 ms' });
  });
});
