import { LiveSessions } from './live-sessions';

describe('LiveSessions', () => {
  it('ends every open connection of a key, and only those', () => {
    const live = new LiveSessions();
    const ended: string[] = [];
    live.track('a', live.ticket(), (code, reason) => ended.push(`a1 ${code} ${reason}`));
    live.track('a', live.ticket(), (code, reason) => ended.push(`a2 ${code} ${reason}`));
    live.track('b', live.ticket(), () => ended.push('b'));
    expect(live.end('a', 4403, 'token revoked')).toBe(2);
    expect(ended).toEqual(['a1 4403 token revoked', 'a2 4403 token revoked']);
    expect(live.end('a', 4403, 'again')).toBe(0);
    expect(ended).toHaveLength(2);
  });

  it('forgets a connection that closed', () => {
    const live = new LiveSessions();
    const end = jest.fn();
    const forget = live.track('a', live.ticket(), end);
    forget();
    expect(live.end('a', 4403, 'x')).toBe(0);
    expect(end).not.toHaveBeenCalled();
  });

  it('ends a connection that authenticated before the key was ended but is tracked after', () => {
    const live = new LiveSessions();
    const ticket = live.ticket();
    live.end('a', 4401, 'credential revoked');
    const end = jest.fn();
    live.track('a', ticket, end);
    expect(end).toHaveBeenCalledWith(4401, 'credential revoked');
    expect(live.end('a', 4401, 'x')).toBe(0);
  });

  it('keeps a connection that authenticated after the key was ended', () => {
    const live = new LiveSessions();
    live.end('a', 4401, 'credential revoked');
    const end = jest.fn();
    live.track('a', live.ticket(), end);
    expect(end).not.toHaveBeenCalled();
    expect(live.end('a', 4401, 'host deleted')).toBe(1);
    expect(end).toHaveBeenCalledWith(4401, 'host deleted');
  });
});
