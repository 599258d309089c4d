import { Logger } from '@nestjs/common';
import type WebSocket from 'ws';
import { AgentSession } from './agent-session';

function session(): AgentSession {
  const s = new AgentSession('h1', { readyState: 1 } as unknown as WebSocket, new Logger('test'), () => undefined);
  s.stopTimers();
  return s;
}

describe('AgentSession: what a key of an ack is to its host', () => {
  it('knows what it sent, what it deleted until the agent acks the deleting revision, and nothing else', () => {
    const s = session();
    s.sent = new Map([
      ['Port/a', 'h'],
      ['Port/b', 'h'],
    ]);
    s.retire([], 5);
    expect(s.standing('Port/a')).toBe('sent');
    expect(s.standing('Port/x')).toBeUndefined();

    // Revision 6 deletes b, revision 7 deletes a.
    s.sent = new Map([['Port/a', 'h']]);
    s.retire(['Port/b'], 6);
    s.sent = new Map();
    s.retire(['Port/a'], 7);
    expect([s.standing('Port/a'), s.standing('Port/b')]).toEqual(['retired', 'retired']);
    s.acked(6);
    expect([s.standing('Port/a'), s.standing('Port/b')]).toEqual(['retired', undefined]);
    s.acked(7);
    expect(s.standing('Port/a')).toBeUndefined();
  });

  it('forgets a deletion when the resource is sent again', () => {
    const s = session();
    s.retire(['Port/a'], 3);
    s.sent = new Map([['Port/a', 'h']]);
    s.retire([], 4);
    s.acked(10);
    expect(s.standing('Port/a')).toBe('sent');
    expect(s.retired.size).toBe(0);
  });
});
