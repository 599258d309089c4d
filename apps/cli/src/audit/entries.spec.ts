import { CliError } from '../errors';
import { entryChanges, entryData, entryTable, formatEntryDiffs, parseSince, type Entry } from './entries';

const entry = (o: Partial<Entry>): Entry => ({
  id: '019aa2b0-0000-7000-8000-000000000001',
  at: '2026-12-03T10:00:00.000Z',
  requestId: '019aa2b0-0000-7000-8000-000000000002',
  tokenName: 'ops',
  tokenRole: 'ADMIN',
  mutation: 'updateNetwork',
  operation: 'UPDATE',
  kind: 'Network',
  objectId: '019aa2b0-0000-7000-8000-000000000003',
  objectName: 'blue',
  revision: 7,
  before: null,
  after: null,
  ...o,
});

describe('audit entries', () => {
  it('reads --since as a duration back from now or as a time, and refuses anything else', () => {
    const now = new Date('2026-12-03T12:00:00.000Z');
    expect(parseSince('90s', now)).toBe('2026-12-03T11:58:30.000Z');
    expect(parseSince('15m', now)).toBe('2026-12-03T11:45:00.000Z');
    expect(parseSince('1h', now)).toBe('2026-12-03T11:00:00.000Z');
    expect(parseSince('2d', now)).toBe('2026-12-01T12:00:00.000Z');
    expect(parseSince('2026-12-03T10:00:00+01:00', now)).toBe('2026-12-03T09:00:00.000Z');
    expect(parseSince('2026-12-02', now)).toBe('2026-12-02T00:00:00.000Z');
    for (const bad of ['yesterday', '1w', '-1h', '12', '2026-13-45']) expect(() => parseSince(bad, now)).toThrow(CliError);
    expect(() => parseSince('1w', now)).toThrow('--since takes a duration (90s, 15m, 1h, 2d) or a time (2026-12-03T10:00:00Z), not "1w"');
  });

  it('lists the fields an update changed, and every field of a create or delete', () => {
    const before = JSON.stringify({ id: 'n1', name: 'blue', mtu: 1400, labels: [{ key: 'env', value: 'dev' }], generation: 1 });
    const after = JSON.stringify({ id: 'n1', name: 'blue', mtu: 1450, labels: [{ key: 'env', value: 'dev' }], generation: 2 });
    expect(entryChanges(entry({ before, after }))).toEqual([
      { key: 'mtu', old: 1400, new: 1450 },
      { key: 'generation', old: 1, new: 2 },
    ]);
    expect(entryChanges(entry({ operation: 'CREATE', after })).map((c) => [c.key, c.old])).toEqual([
      ['id', undefined],
      ['name', undefined],
      ['mtu', undefined],
      ['labels', undefined],
      ['generation', undefined],
    ]);
    expect(entryChanges(entry({ operation: 'DELETE', before })).every((c) => c.new === undefined)).toBe(true);
  });

  it('prints --diff as a title per entry and its fields, before → after', () => {
    const before = JSON.stringify({ name: 'blue', mtu: 1400, labels: [] });
    const after = JSON.stringify({ name: 'blue', mtu: null, labels: [{ key: 'env', value: 'dev' }] });
    const text = formatEntryDiffs([entry({ before, after }), entry({ operation: 'DELETE', mutation: 'deleteNetwork', before: after })]);
    expect(text.split('\n')).toEqual([
      '2026-12-03T10:00:00.000Z  ops (ADMIN)  UPDATE Network blue  by updateNetwork',
      '    ~ mtu: 1400 → <unset>',
      '    ~ labels: [] → [ { key: env, value: dev } ]',
      '',
      '2026-12-03T10:00:00.000Z  ops (ADMIN)  DELETE Network blue  by deleteNetwork',
      '    - name: blue',
      '    - mtu: <unset>',
      '    - labels: [ { key: env, value: dev } ]',
    ]);
  });

  it('tables time, token, role, operation, kind and name (wide: mutation and object id), and prints rows as objects', () => {
    const e = entry({ after: '{"mtu":1400}' });
    expect(entryTable([e], false)).toEqual({ headers: ['TIME', 'TOKEN', 'ROLE', 'OPERATION', 'KIND', 'NAME'], rows: [[e.at, 'ops', 'ADMIN', 'UPDATE', 'Network', 'blue']] });
    expect(entryTable([e], true).rows[0].slice(6)).toEqual(['updateNetwork', e.objectId]);
    expect(entryData(e)).toMatchObject({ before: null, after: { mtu: 1400 } });
  });
});
