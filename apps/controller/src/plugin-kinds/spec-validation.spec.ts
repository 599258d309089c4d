import { ErrorCode, MAX_LIST_ITEMS, NetloomError } from '@netloom/model';
import { t } from '@netloom/plugin-sdk';
import { specFieldHolding, validateSpec } from './spec-validation';

const fields = {
  hostId: t.ref('Host'),
  address: t.ip({ required: false }),
  prefix: t.cidr({ required: false }),
  mode: t.enum('Mode', ['NAT', 'ROUTED']),
  count: t.int({ required: false }),
  on: t.boolean({ required: false }),
  packets: t.counter({ required: false }),
  routes: t.list(t.object('Route', { dst: t.cidr(), via: t.ip(), peer: t.ref('Router', { required: false }) })),
};

const refused = (value: unknown, field: string): void => {
  try {
    validateSpec(fields, value);
  } catch (error) {
    expect(error).toBeInstanceOf(NetloomError);
    expect(error).toMatchObject({ code: ErrorCode.BadUserInput, field });
    return;
  }
  throw new Error(`accepted ${JSON.stringify(value)}`);
};

describe('validateSpec', () => {
  it('stores t.labels() as given, a list of { key, value }; anything else is BAD_USER_INPUT on its field', () => {
    const labelled = { labels: t.labels() };
    expect(validateSpec(labelled, { labels: [{ key: 'tier', value: 'web' }] }).spec).toEqual({ labels: [{ key: 'tier', value: 'web' }] });
    expect(validateSpec(labelled, {}).spec).toEqual({ labels: [] });
    for (const [value, field] of [
      [{ labels: [{ key: 'tier' }] }, 'input.labels.0.value'],
      [{ labels: [{ key: 'tier', value: 3 }] }, 'input.labels.0.value'],
      [{ labels: [{ key: 'tier', value: 'web', extra: 'x' }] }, 'input.labels.0.extra'],
      [{ labels: ['tier=web'] }, 'input.labels.0'],
    ] as const) {
      expect(() => validateSpec(labelled, value)).toThrow(expect.objectContaining({ code: ErrorCode.BadUserInput, field }));
    }
  });

  it('canonicalizes addresses, fills optional fields and lists, and collects refs', () => {
    const { spec, refs } = validateSpec(fields, {
      hostId: 'h1',
      address: '2001:DB8::0:1',
      mode: 'NAT',
      routes: [{ dst: '2001:db8:0::/64', via: '10.0.0.1', peer: 'r2' }],
    });
    expect(spec).toEqual({
      hostId: 'h1',
      address: '2001:db8::1',
      prefix: null,
      mode: 'NAT',
      count: null,
      on: null,
      packets: null,
      routes: [{ dst: '2001:db8::/64', via: '10.0.0.1', peer: 'r2' }],
    });
    expect(refs).toEqual([
      { kind: 'Host', id: 'h1', field: 'input.hostId' },
      { kind: 'Router', id: 'r2', field: 'input.routes.0.peer' },
    ]);
  });

  it('takes CIDRs of any length, unlike a subnet (a single host, a default route)', () => {
    const base = { hostId: 'h1', mode: 'NAT' };
    expect(validateSpec(fields, { ...base, prefix: '10.0.0.5/32' }).spec.prefix).toBe('10.0.0.5/32');
    expect(validateSpec(fields, { ...base, prefix: '2001:DB8::5/128' }).spec.prefix).toBe('2001:db8::5/128');
    expect(validateSpec(fields, { ...base, prefix: '0.0.0.0/0' }).spec.prefix).toBe('0.0.0.0/0');
  });

  it('marks the refs that block deleting what they name', () => {
    const schema = { member: t.ref('Port', { blocksDelete: true }), other: t.ref('Port', { required: false }) };
    expect(validateSpec(schema, { member: 'p1', other: 'p2' }).refs).toEqual([
      { kind: 'Port', id: 'p1', field: 'input.member', blocksDelete: true },
      { kind: 'Port', id: 'p2', field: 'input.other' },
    ]);
  });

  it('takes counters up to 2^53-1', () => {
    expect(validateSpec(fields, { hostId: 'h1', mode: 'NAT', packets: 2 ** 53 - 1 }).spec.packets).toBe(2 ** 53 - 1);
    expect(validateSpec(fields, { hostId: 'h1', mode: 'NAT', packets: 0 }).spec.packets).toBe(0);
  });

  it('refuses missing required fields, wrong types, bad addresses and unknown fields, naming the field', () => {
    const ok = { hostId: 'h1', mode: 'NAT' };
    refused({ mode: 'NAT' }, 'input.hostId');
    refused({ ...ok, mode: 'BRIDGED' }, 'input.mode');
    refused({ ...ok, address: '10.0.0.256' }, 'input.address');
    refused({ ...ok, prefix: '10.0.0.1/24' }, 'input.prefix');
    refused({ ...ok, count: 1.5 }, 'input.count');
    refused({ ...ok, count: 2 ** 31 }, 'input.count');
    refused({ ...ok, on: 'yes' }, 'input.on');
    refused({ ...ok, packets: -1 }, 'input.packets');
    refused({ ...ok, packets: 0.5 }, 'input.packets');
    refused({ ...ok, packets: 2 ** 53 }, 'input.packets');
    refused({ ...ok, packets: '12' }, 'input.packets');
    refused({ ...ok, routes: [{ dst: '10.0.0.0/8' }] }, 'input.routes.0.via');
    refused({ ...ok, routes: {} }, 'input.routes');
    refused({ ...ok, routes: [null] }, 'input.routes.0');
    refused({ ...ok, color: 'red' }, 'input.color');
    refused({ ...ok, hostId: '' }, 'input.hostId');
  });

  it('says in its message where the value sits, as deep as it is', () => {
    const ok = { hostId: 'h1', mode: 'NAT' };
    const message = (value: unknown): string => {
      try {
        validateSpec(fields, value);
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error(`accepted ${JSON.stringify(value)}`);
    };
    expect(message({ ...ok, routes: [{ dst: '10.0.0.0/8', via: '10.0.0.1' }, { dst: '10.0.0.0/8' }] })).toBe('input.routes.1.via is required');
    expect(message({ ...ok, routes: [{ dst: '10.0.0.0/8', via: '127.0.0.1' }] })).toMatch(/^input\.routes\.0\.via 127\.0\.0\.1 is in /);
    expect(message({ ...ok, routes: [{ dst: '10.0.0.0/33', via: '10.0.0.1' }] })).toMatch(/^invalid CIDR/);
    expect(message({ ...ok, routes: [{ dst: '10.0.0.0/8', via: '10.0.0.1', color: 1 }] })).toBe('input.routes.0.color is not a field of this kind');
    expect(message({ ...ok, count: 'x' })).toBe('input.count must be a 32-bit integer');
  });

  it('refuses addresses no host holds in ip fields, not in cidr fields', () => {
    const ok = { hostId: 'h1', mode: 'NAT' };
    for (const address of ['0.0.0.0', '127.0.0.1', '169.254.169.254', '224.0.0.5', '255.255.255.255', '::', '::1', 'fe80::1', 'ff02::2']) {
      refused({ ...ok, address }, 'input.address');
    }
    refused({ ...ok, routes: [{ dst: '10.0.0.0/8', via: '10.0.0.1' }, { dst: '10.0.0.0/8', via: '127.0.0.1' }] }, 'input.routes.1.via');
    expect(validateSpec(fields, { ...ok, prefix: '224.0.0.0/4' }).spec.prefix).toBe('224.0.0.0/4');
    expect(validateSpec(fields, { ...ok, address: '100.64.0.1' }).spec.address).toBe('100.64.0.1');
  });

  it(`refuses a list of more than ${MAX_LIST_ITEMS} entries before looking at them`, () => {
    const route = { dst: '10.0.0.0/8', via: '10.0.0.1' };
    const ok = { hostId: 'h1', mode: 'NAT' };
    expect(validateSpec(fields, { ...ok, routes: Array(MAX_LIST_ITEMS).fill(route) }).spec.routes).toHaveLength(MAX_LIST_ITEMS);
    refused({ ...ok, routes: Array(MAX_LIST_ITEMS + 1).fill(null) }, 'input.routes');
    const nested = { peers: t.list(t.object('Peer', { ids: t.list(t.ref('Port')) })) };
    expect(() => validateSpec(nested, { peers: [{ ids: [] }, { ids: Array(40_000).fill('p') }] })).toThrow(
      expect.objectContaining({ code: ErrorCode.BadUserInput, field: 'input.peers.1.ids' }),
    );
  });
});

describe('specFieldHolding', () => {
  it('names the input field of the first value equal to the address, nested or not', () => {
    const spec = { hostId: 'h1', address: '10.0.0.5', routes: [{ dst: '10.0.0.0/8', via: '10.0.0.9' }], mode: null };
    expect(specFieldHolding(spec, '10.0.0.5')).toBe('input.address');
    expect(specFieldHolding(spec, '10.0.0.9')).toBe('input.routes.0.via');
    expect(specFieldHolding(spec, '10.0.0.7')).toBeUndefined();
  });
});
