import type { ChangeSet, LinkChanges } from '@netloom/plugin-sdk';
import { replay, userIds } from './sandbox';

// What a sandboxed plugin sends as its change set is replayed on the agent's own, method by
// method; the process is not trusted, so anything but a change set's methods is refused.
describe('a sandboxed change set, replayed', () => {
  const record = () => {
    const calls: string[] = [];
    const links = (where: string): LinkChanges =>
      new Proxy({} as LinkChanges, { get: (_t, method) => (...args: unknown[]) => (calls.push(`${where} ${String(method)} ${JSON.stringify(args)}`), links(where)) });
    const changes: ChangeSet = {
      netnsAdd: (...args) => void calls.push(`set netnsAdd ${JSON.stringify(args)}`),
      netnsDel: (...args) => void calls.push(`set netnsDel ${JSON.stringify(args)}`),
      host: links('host'),
      in: (netns) => links(netns),
    };
    return { calls, changes };
  };

  it('calls the same methods with the same arguments, in order', () => {
    const { calls, changes } = record();
    replay(changes, [
      { netns: null, method: 'netnsAdd', args: ['ns1', 'k'] },
      { netns: '', method: 'vethAdd', args: ['v1', { peer: 'p' }, 'k'] },
      { netns: 'ns1', method: 'addrReplace', args: ['10.0.0.1/24', 'p', 'k'] },
      { netns: '', method: 'ifbAdd', args: ['i1', 'k'] },
    ]);
    expect(calls).toEqual(['set netnsAdd ["ns1","k"]', 'host vethAdd ["v1",{"peer":"p"},"k"]', 'ns1 addrReplace ["10.0.0.1/24","p","k"]', 'host ifbAdd ["i1","k"]']);
  });

  it.each([
    ['a method no change set has', [{ netns: '', method: 'constructor', args: [] }]],
    ['a set method on a namespace', [{ netns: 'ns1', method: 'netnsAdd', args: ['x'] }]],
    ['a link method on the set', [{ netns: null, method: 'linkDel', args: ['x'] }]],
    ['something not a list', { netns: null }],
  ])('refuses %s', (_what, ops) => {
    const { calls, changes } = record();
    expect(() => replay(changes, ops)).toThrow(/apply:/);
    expect(calls).toEqual([]);
  });

  it("knows the sandbox user's ids, and says so when there is no such user", () => {
    expect(userIds('root')).toEqual({ uid: 0, gid: 0 });
    expect(() => userIds('no-such-user-here')).toThrow(/no user no-such-user-here/);
  });
});
