import { age, cell, formatTable, labelsText } from './table';

describe('formatTable', () => {
  it('pads each column to its widest cell, three spaces apart, with no trailing blanks', () => {
    expect(formatTable(['NAME', 'VNI', 'STATUS'], [['blue', '100', '2/2 APPLIED'], ['a-much-longer-name', '7', '']])).toBe(
      ['NAME                 VNI   STATUS', 'blue                 100   2/2 APPLIED', 'a-much-longer-name   7'].join('\n'),
    );
  });

  it('prints the headers alone for no rows', () => {
    expect(formatTable(['NAME', 'AGE'], [])).toBe('NAME   AGE');
  });
});

describe('age', () => {
  const now = new Date('2026-12-03T12:00:00Z');
  it.each([
    ['2026-12-03T11:59:15Z', '45s'],
    ['2026-12-03T11:58:01Z', '119s'],
    ['2026-12-03T11:58:00Z', '2m'],
    ['2026-12-03T10:01:00Z', '119m'],
    ['2026-12-03T10:00:00Z', '2h'],
    ['2026-12-01T12:00:01Z', '47h'],
    ['2026-11-20T12:00:00Z', '13d'],
    ['2026-12-03T12:00:05Z', '0s'],
  ])('%s is %s before', (createdAt, expected) => {
    expect(age(createdAt, now)).toBe(expected);
  });
});

describe('cells', () => {
  it('shows missing values and labels as <none>, objects as JSON', () => {
    expect([cell(null), cell(undefined), cell(''), cell(0), cell(false), cell({ a: 1 })]).toEqual(['<none>', '<none>', '<none>', '0', 'false', '{"a":1}']);
    expect(labelsText([])).toBe('<none>');
    expect(labelsText([{ key: 'env', value: 'dev' }, { key: 'tier', value: 'web' }])).toBe('env=dev,tier=web');
  });
});
