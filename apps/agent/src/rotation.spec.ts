import { ControllerRotation } from './rotation';

describe('ControllerRotation', () => {
  it('dials round the list, the delay doubling with each failure in a row up to 5 s', () => {
    const r = new ControllerRotation(['a', 'b', 'c']);
    expect(r.current).toBe('a');
    const seen: [string, number][] = [];
    for (let i = 0; i < 8; i++) {
      const delay = r.failed();
      seen.push([r.current, delay]);
    }
    expect(seen).toEqual([
      ['b', 250],
      ['c', 500],
      ['a', 1000],
      ['b', 2000],
      ['c', 4000],
      ['a', 5000],
      ['b', 5000],
      ['c', 5000],
    ]);
  });

  it('stays on one that answers, moves on when it goes away, and starts the backoff over', () => {
    const r = new ControllerRotation(['a', 'b']);
    r.failed();
    r.failed();
    expect(r.current).toBe('a');
    r.worked();
    expect(r.current).toBe('a');
    expect(r.failed()).toBe(250);
    expect(r.current).toBe('b');
  });

  it('starts with the one that worked last, when it is still in the list', () => {
    expect(new ControllerRotation(['a', 'b', 'c'], 'c').current).toBe('c');
    expect(new ControllerRotation(['a', 'b'], 'gone').current).toBe('a');
  });

  it('with one address, dials it again with the same backoff as before', () => {
    const r = new ControllerRotation(['only']);
    expect([r.failed(), r.failed(), r.current]).toEqual([250, 500, 'only']);
  });

  it('refuses an empty list', () => {
    expect(() => new ControllerRotation([])).toThrow(/no controller/);
  });
});
