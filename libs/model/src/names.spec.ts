import { ErrorCode } from './errors';
import { labelsMatch, MAX_LABELS, validateLabels, validateName } from './names';

describe('validateName', () => {
  it.each(['a', 'web-1', 'Net_2.prod', 'x'.repeat(63), '0abc'])('accepts %j', (name) => {
    expect(validateName(name)).toBe(name);
  });

  it.each(['', 'x'.repeat(64), 'has space', 'a/b', '-lead', '.lead', '_lead', 'ünïcode', 'semi;colon', '$(reboot)', 'a\nb'])(
    'rejects %j with BAD_USER_INPUT on the named field',
    (name) => {
      expect(() => validateName(name, 'input.name')).toThrow(expect.objectContaining({ code: ErrorCode.BadUserInput, field: 'input.name' }));
    },
  );
});

describe('validateLabels', () => {
  it('turns a list into a map', () => {
    expect(validateLabels([{ key: 'env', value: 'prod' }, { key: 'netloom.io/tier', value: '' }])).toEqual({ env: 'prod', 'netloom.io/tier': '' });
  });

  it.each([
    [[{ key: '', value: 'x' }], 'labels.0.key'],
    [[{ key: 'bad key', value: 'x' }], 'labels.0.key'],
    [[{ key: 'UPPER.example/x', value: 'x' }], 'labels.0.key'],
    [[{ key: 'k', value: 'has space' }], 'labels.0.value'],
    [[{ key: 'k', value: 'v'.repeat(64) }], 'labels.0.value'],
    [[{ key: 'k', value: '-x' }], 'labels.0.value'],
    [[{ key: 'k', value: 'a' }, { key: 'k', value: 'b' }], 'labels.1.key'],
  ])('rejects %j at %s', (labels, field) => {
    expect(() => validateLabels(labels)).toThrow(expect.objectContaining({ code: ErrorCode.BadUserInput, field }));
  });

  it(`rejects more than ${MAX_LABELS} labels`, () => {
    const labels = Array.from({ length: MAX_LABELS + 1 }, (_, i) => ({ key: `k${i}`, value: 'v' }));
    expect(() => validateLabels(labels)).toThrow(expect.objectContaining({ code: ErrorCode.BadUserInput, field: 'labels' }));
  });

  it('takes keys named like Object.prototype members as plain keys', () => {
    const keys = ['constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf'];
    const labels = validateLabels(keys.map((key) => ({ key, value: key.length.toString() })));
    expect(Object.keys(labels)).toEqual(keys);
    expect(labels.constructor).toBe('11');
    expect(() => validateLabels([{ key: 'constructor', value: 'a' }, { key: 'constructor', value: 'b' }])).toThrow(
      expect.objectContaining({ code: ErrorCode.BadUserInput, field: 'labels.1.key' }),
    );
    expect(labelsMatch({}, { constructor: 'x' })).toBe(false);
    expect(labelsMatch(labels, { toString: '8' })).toBe(true);
  });

  it('matches selectors', () => {
    expect(labelsMatch({ a: '1', b: '2' }, { a: '1' })).toBe(true);
    expect(labelsMatch({ a: '1' }, { a: '2' })).toBe(false);
    expect(labelsMatch({ a: '1' }, {})).toBe(true);
  });
});
