import { t } from '@netloom/plugin-sdk';
import { MAX_OBSERVED_BYTES } from '@netloom/protocol';
import { sanitizeObserved } from './observed';

const schema = {
  operatingStatus: t.enum('OperatingStatus', ['ONLINE', 'OFFLINE']),
  connections: t.counter({ required: false }),
  note: t.string({ required: false }),
  members: t.list(
    t.object('Member', {
      address: t.ip(),
      port: t.int(),
      operatingStatus: t.enum('OperatingStatus', ['ONLINE', 'OFFLINE']),
      packets: t.counter({ required: false }),
    }),
  ),
};

describe('sanitizeObserved', () => {
  it('keeps a well-formed value, canonical, with absent optional fields null', () => {
    const { observed, problems } = sanitizeObserved(schema, {
      operatingStatus: 'ONLINE',
      connections: 2 ** 40,
      members: [{ address: '2001:DB8::0:1', port: 80, operatingStatus: 'OFFLINE' }],
    });
    expect(observed).toEqual({
      operatingStatus: 'ONLINE',
      connections: 2 ** 40,
      note: null,
      members: [{ address: '2001:db8::1', port: 80, operatingStatus: 'OFFLINE', packets: null }],
    });
    expect(problems).toEqual([]);
  });

  it('leaves out undeclared fields and values of the wrong type, coercing numbers and text', () => {
    const { observed, problems } = sanitizeObserved(schema, {
      operatingStatus: 'ONLINE',
      connections: -3,
      note: 42,
      secret: 'x',
      members: [
        { address: '10.0.0.5', port: '8080', operatingStatus: 'ONLINE', packets: '17', extra: true },
        { address: 'nope', port: 80, operatingStatus: 'ONLINE' },
        { address: '10.0.0.6', port: 80, operatingStatus: 'DRAINING' },
        'junk',
        null,
      ],
    });
    expect(observed).toEqual({
      operatingStatus: 'ONLINE',
      connections: null,
      note: '42',
      members: [{ address: '10.0.0.5', port: 8080, operatingStatus: 'ONLINE', packets: 17 }],
    });
    expect(problems.join('\n')).toMatch(/observed\.connections must be a whole number/);
    expect(problems.join('\n')).toMatch(/observed: undeclared secret left out/);
    expect(problems.join('\n')).toMatch(/observed\.members\.1\.address is required: observed\.members\.1 dropped/);
    expect(problems.join('\n')).toMatch(/observed\.members\.0: undeclared extra left out/);
    expect(problems.join('\n')).toMatch(/observed\.members\.3 is not an object/);
  });

  it('drops it all when a required top-level field is missing, or when it is not an object', () => {
    expect(sanitizeObserved(schema, { connections: 1 })).toMatchObject({ observed: null, problems: [expect.stringMatching(/operatingStatus is required/)] });
    expect(sanitizeObserved(schema, [1, 2]).observed).toBeNull();
    expect(sanitizeObserved(schema, { operatingStatus: 'ONLINE', members: 'all' }).observed).toEqual({
      operatingStatus: 'ONLINE',
      connections: null,
      note: null,
      members: [],
    });
  });

  it('stores nothing for kinds without a schema, or when there is no value', () => {
    expect(sanitizeObserved(undefined, { operatingStatus: 'ONLINE' })).toEqual({ observed: null, problems: [] });
    expect(sanitizeObserved(schema, undefined)).toEqual({ observed: null, problems: [] });
  });

  it(`drops a value larger than ${MAX_OBSERVED_BYTES} bytes as JSON`, () => {
    const member = (i: number) => ({ address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 80, operatingStatus: 'ONLINE' });
    const small = sanitizeObserved(schema, { operatingStatus: 'ONLINE', members: Array.from({ length: 100 }, (_, i) => member(i)) });
    expect(small.observed?.members).toHaveLength(100);
    const large = sanitizeObserved(schema, { operatingStatus: 'ONLINE', members: Array.from({ length: 2000 }, (_, i) => member(i)) });
    expect(large.observed).toBeNull();
    expect(large.problems).toEqual([expect.stringMatching(/more than 65536: dropped/)]);
  });
});
