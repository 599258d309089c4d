import * as ipaddr from 'ipaddr.js';
import { ErrorCode, NetloomError } from '@netloom/model';
import {
  SubnetAllocator,
  contains,
  defaultGateway,
  defaultPools,
  formatIp,
  generateMac,
  normalizeMac,
  notHostRange,
  parseCidr,
  parseHost,
  parseHostIp,
  parseIp,
  parseSubnetCidr,
  subnetsOverlap,
  validateDnsServers,
  validateGateway,
  validatePools,
} from './ipam';

const BAD = { code: ErrorCode.BadUserInput };
const CONFLICT = { code: ErrorCode.Conflict };

/** Run `fn`, expecting a NetloomError; return it for assertions. */
function failure(fn: () => unknown): NetloomError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(NetloomError);
    return e as NetloomError;
  }
  throw new Error('expected a NetloomError, nothing was thrown');
}

const v4 = parseCidr('10.0.0.0/24');
const v6 = parseCidr('2001:db8::/64');

describe('parseCidr', () => {
  it('parses IPv4 and IPv6 into canonical form with bounds', () => {
    expect(v4).toEqual({ cidr: '10.0.0.0/24', version: 4, prefix: 24, first: 0x0a000000n, last: 0x0a0000ffn });
    expect(parseCidr('2001:DB8:0000::/64')).toEqual({
      cidr: '2001:db8::/64',
      version: 6,
      prefix: 64,
      first: 0x20010db8n << 96n,
      last: (0x20010db8n << 96n) | 0xffffffffffffffffn,
    });
  });

  it.each(['10.0.0.0', 'abc', '10.0.0.0/33', '::/129', '', '10.0.0.0/24 ', '10.0.0.0/-1'])(
    'rejects %j as not a CIDR',
    (cidr) => {
      expect(failure(() => parseCidr(cidr, 'input.cidr'))).toMatchObject({ ...BAD, field: 'input.cidr' });
    },
  );

  it('rejects non-decimal IPv4 forms', () => {
    expect(failure(() => parseCidr('010.0.0.0/24', 'input.cidr'))).toMatchObject({ ...BAD, field: 'input.cidr' });
    expect(failure(() => parseCidr('10.1/24', 'input.cidr'))).toMatchObject({ ...BAD, field: 'input.cidr' });
  });

  it('rejects host bits set and suggests the network', () => {
    const err = failure(() => parseCidr('10.0.0.1/24', 'input.cidr'));
    expect(err).toMatchObject({ ...BAD, field: 'input.cidr' });
    expect(err.message).toContain('10.0.0.0/24');
    expect(err.message).toContain('10.0.0.1/24');
    expect(failure(() => parseCidr('2001:db8::1/64')).message).toContain('2001:db8::/64');
  });

  it('rejects prefixes too long for a gateway and a port', () => {
    expect(failure(() => parseCidr('10.0.0.0/31', 'f'))).toMatchObject({ ...BAD, field: 'f' });
    expect(failure(() => parseCidr('10.0.0.0/32', 'f'))).toMatchObject({ ...BAD, field: 'f' });
    expect(failure(() => parseCidr('2001:db8::/127', 'f'))).toMatchObject({ ...BAD, field: 'f' });
    expect(parseCidr('10.0.0.0/30').prefix).toBe(30);
    expect(parseCidr('2001:db8::/126').prefix).toBe(126);
  });

  it('reads plain IPv4 networks as the full parser does (a fast path): same result, same refusals', () => {
    // The full parser's answer, by ipaddr.js alone: canonical network and bounds, or a refusal.
    const reference = (cidr: string, subnet: boolean): unknown => {
      if (!ipaddr.isValidCIDR(cidr) || !cidr.includes('.') || !ipaddr.IPv4.isValidCIDRFourPartDecimal(cidr)) return 'refused';
      const [addr, prefix] = ipaddr.parseCIDR(cidr);
      if (subnet && prefix > 30) return 'refused';
      const value = BigInt(ipaddr.IPv4.parse(addr.toString()).toByteArray().reduce((a, b) => a * 256 + b, 0));
      const mask = (1n << BigInt(32 - prefix)) - 1n;
      return (value & mask) !== 0n ? 'refused' : { cidr: `${addr.toString()}/${prefix}`, version: 4, prefix, first: value, last: value | mask };
    };
    const ours = (cidr: string, subnet: boolean): unknown => {
      try {
        return parseCidr(cidr, 'f', { subnet });
      } catch {
        return 'refused';
      }
    };
    const octet = (n: number): string => ['0', '1', '10', '99', '100', '255', '256', '00', '01', '999', '1000'][n % 11];
    const prefix = (n: number): string => ['0', '8', '16', '24', '30', '31', '32', '33', '08', '100'][n % 10];
    const inputs = [...Array(4000).keys()].map((i) => `${octet(i)}.${octet(i >> 2)}.${octet(i >> 4)}.${octet((i >> 6) + i)}/${prefix(i >> 3)}`);
    inputs.push('0.0.0.0/0', '255.255.255.255/32', '10.0.0.0/8', '172.16.0.0/12', '192.168.1.0/24', '1.2.3.4/32');
    for (const cidr of inputs) for (const subnet of [true, false]) expect([cidr, subnet, ours(cidr, subnet)]).toEqual([cidr, subnet, reference(cidr, subnet)]);
  });

  it('rejects IPv4-mapped IPv6 and zone ids', () => {
    for (const cidr of ['::ffff:10.0.0.0/120', '::ffff:a00:0/120', 'fe80::%eth0/64']) {
      const err = failure(() => parseCidr(cidr, 'input.cidr'));
      expect(err).toMatchObject({ ...BAD, field: 'input.cidr' });
      expect(err.message).toContain(cidr);
    }
  });
});

describe('parseIp / formatIp', () => {
  it('canonicalizes', () => {
    expect(parseIp('10.0.0.1')).toEqual({ version: 4, value: 0x0a000001n, text: '10.0.0.1' });
    expect(parseIp('2001:0DB8:0:0:0:0:0:0001')).toEqual({ version: 6, value: (0x20010db8n << 96n) | 1n, text: '2001:db8::1' });
    expect(formatIp(4, 0xc0a80101n)).toBe('192.168.1.1');
    expect(formatIp(6, 1n)).toBe('::1');
    expect(formatIp(6, 0n)).toBe('::');
  });

  it('reads every plain IPv4 address as formatIp writes it (the parser-free path), and its value back', () => {
    for (let i = 0; i < 2_000; i++) {
      const value = BigInt(Math.floor(Math.random() * 2 ** 32));
      const text = formatIp(4, value);
      expect(parseIp(text)).toEqual({ version: 4, value, text });
    }
    for (const text of ['0.0.0.0', '255.255.255.255', '10.0.0.0', '1.10.100.200']) expect(formatIp(4, parseIp(text).value)).toBe(text);
  });

  it.each(['10.1', '010.0.0.1', '10.0.0.01', '256.0.0.1', '10.0.0.256', '1.2.3.4.5', '0x0a.0.0.1', '10.0.0.1/32', 'fe80::1%eth0', '::ffff:1.2.3.4', 'abc', '', ' 10.0.0.1', '10.0.0.1 '])(
    'rejects %j',
    (ip) => {
      const err = failure(() => parseIp(ip, 'input.ip'));
      expect(err).toMatchObject({ ...BAD, field: 'input.ip' });
    },
  );

  it('refuses to format out-of-range values', () => {
    expect(() => formatIp(4, 1n << 32n)).toThrow(RangeError);
    expect(() => formatIp(6, -1n)).toThrow(RangeError);
  });
});

describe('contains / subnetsOverlap', () => {
  it('checks membership', () => {
    expect(contains(v4, parseIp('10.0.0.255').value)).toBe(true);
    expect(contains(v4, parseIp('10.0.1.0').value)).toBe(false);
  });

  it('detects overlap', () => {
    expect(subnetsOverlap(v4, parseCidr('10.0.0.128/25'))).toBe(true);
    expect(subnetsOverlap(parseCidr('10.0.0.128/25'), v4)).toBe(true);
    expect(subnetsOverlap(v4, parseCidr('10.0.1.0/24'))).toBe(false);
    expect(subnetsOverlap(parseCidr('0.0.0.0/8'), parseCidr('::/8'))).toBe(false);
    expect(subnetsOverlap(v4, v6)).toBe(false);
  });
});

describe('gateway and pools', () => {
  it('defaults for a /24', () => {
    expect(defaultGateway(v4)).toBe('10.0.0.1');
    expect(defaultPools(v4, '10.0.0.1')).toEqual([{ start: '10.0.0.2', end: '10.0.0.254' }]);
  });

  it('defaults for a /30', () => {
    const s = parseCidr('192.168.0.4/30');
    expect(defaultGateway(s)).toBe('192.168.0.5');
    expect(defaultPools(s, '192.168.0.5')).toEqual([{ start: '192.168.0.6', end: '192.168.0.6' }]);
    expect(defaultPools(s, '192.168.0.6')).toEqual([{ start: '192.168.0.5', end: '192.168.0.5' }]);
  });

  it('defaults for an IPv6 /64', () => {
    expect(defaultGateway(v6)).toBe('2001:db8::1');
    expect(defaultPools(v6, '2001:db8::1')).toEqual([{ start: '2001:db8::2', end: '2001:db8::ffff:ffff:ffff:ffff' }]);
  });

  it('splits pools around a gateway in the middle', () => {
    expect(defaultPools(v4, '10.0.0.100')).toEqual([
      { start: '10.0.0.1', end: '10.0.0.99' },
      { start: '10.0.0.101', end: '10.0.0.254' },
    ]);
  });

  it('validates the gateway', () => {
    expect(validateGateway(v4, '10.0.0.254')).toBe('10.0.0.254');
    expect(validateGateway(v6, '2001:DB8::FFFF:FFFF:FFFF:FFFF')).toBe('2001:db8::ffff:ffff:ffff:ffff');
    for (const ip of ['2001:db8::1', '10.0.1.1', '10.0.0.0', '10.0.0.255', 'nope']) {
      const err = failure(() => validateGateway(v4, ip, 'input.gatewayIp'));
      expect(err).toMatchObject({ ...BAD, field: 'input.gatewayIp' });
      expect(err.message).toContain(ip);
    }
    expect(failure(() => validateGateway(v6, '2001:db8::', 'g'))).toMatchObject({ ...BAD, field: 'g' });
  });

  it('validates and canonicalizes pools', () => {
    expect(
      validatePools(v6, [{ start: '2001:DB8::10', end: '2001:db8:0:0::20' }], '2001:db8::1', 'input.pools'),
    ).toEqual([{ start: '2001:db8::10', end: '2001:db8::20' }]);
    const pools = [
      { start: '10.0.0.128', end: '10.0.0.254' },
      { start: '10.0.0.2', end: '10.0.0.127' },
    ];
    expect(validatePools(v4, pools, '10.0.0.1', 'input.pools')).toEqual(pools);
  });

  it.each([
    ['an invalid start', [{ start: 'x', end: '10.0.0.9' }], 'p.0.start'],
    ['an invalid end', [{ start: '10.0.0.2', end: '10.0.0' }], 'p.0.end'],
    ['a wrong-version end', [{ start: '10.0.0.2', end: '::9' }], 'p.0.end'],
    ['start after end', [{ start: '10.0.0.9', end: '10.0.0.2' }], 'p.0'],
    ['an end outside the subnet', [{ start: '10.0.0.2', end: '10.0.1.9' }], 'p.0.end'],
    ['a start outside the subnet', [{ start: '9.255.255.255', end: '10.0.0.9' }], 'p.0.start'],
    ['the network address', [{ start: '10.0.0.0', end: '10.0.0.9' }], 'p.0.start'],
    ['the broadcast address', [{ start: '10.0.0.200', end: '10.0.0.255' }], 'p.0.end'],
    ['the gateway', [{ start: '10.0.0.2', end: '10.0.0.9' }, { start: '10.0.0.10', end: '10.0.0.254' }], 'p.1'],
    [
      'overlapping pools',
      [
        { start: '10.0.0.50', end: '10.0.0.60' },
        { start: '10.0.0.2', end: '10.0.0.9' },
        { start: '10.0.0.20', end: '10.0.0.50' },
      ],
      'p.2',
    ],
    ['no pools', [], 'p'],
  ])('rejects %s', (_what, pools, field) => {
    expect(failure(() => validatePools(v4, pools, '10.0.0.100', 'p'))).toMatchObject({ ...BAD, field });
  });
});

describe('validateDnsServers', () => {
  it('canonicalizes any version', () => {
    expect(validateDnsServers(['8.8.8.8', '2001:4860:4860:0:0:0:0:8888'], 'dns')).toEqual(['8.8.8.8', '2001:4860:4860::8888']);
  });

  it('rejects invalid, duplicate and too many servers', () => {
    expect(failure(() => validateDnsServers(['8.8.8.8', 'x'], 'dns'))).toMatchObject({ ...BAD, field: 'dns.1' });
    const dup = failure(() => validateDnsServers(['::1', '0::1'], 'dns'));
    expect(dup).toMatchObject({ ...BAD, field: 'dns.1' });
    expect(dup.message).toContain('::1');
    const many = Array.from({ length: 9 }, (_, i) => `10.0.0.${i + 1}`);
    expect(failure(() => validateDnsServers(many, 'dns'))).toMatchObject({ ...BAD, field: 'dns' });
    expect(validateDnsServers(many.slice(0, 8))).toHaveLength(8);
  });
});

describe('MAC addresses', () => {
  it('normalizes', () => {
    expect(normalizeMac('FA:16:3E:00:AB:01')).toBe('fa:16:3e:00:ab:01');
    expect(normalizeMac('fa-16-3e-00-ab-01')).toBe('fa:16:3e:00:ab:01');
  });

  it.each([
    'fa:16:3e:00:ab', 'fa:16:3e:00:ab:01:02', 'fa:16-3e:00:ab:01', 'fa163e00ab01', 'fa:16:3e:00:ab:0g', ' fa:16:3e:00:ab:01',
    '01:00:5e:00:00:01', 'ff:ff:ff:ff:ff:ff', '00:00:00:00:00:00',
  ])('rejects %j', (mac) => {
    const err = failure(() => normalizeMac(mac, 'input.macAddress'));
    expect(err).toMatchObject({ ...BAD, field: 'input.macAddress' });
    expect(err.message).toContain(mac.trim().slice(0, 5));
  });

  it('generates locally administered unicast addresses', () => {
    const stub = (n: number) => new Uint8Array(n).fill(0xff);
    const mac = generateMac(new Set(), stub);
    expect(mac).toBe('fe:ff:ff:ff:ff:ff');
    expect(generateMac(new Set(), (n) => new Uint8Array(n))).toBe('02:00:00:00:00:00');
    for (let i = 0; i < 50; i++) {
      const first = parseInt(generateMac(new Set()).slice(0, 2), 16);
      expect(first & 0x02).toBe(0x02);
      expect(first & 0x01).toBe(0);
    }
    expect(normalizeMac(generateMac(new Set()))).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
  });

  it('retries on collision', () => {
    let calls = 0;
    const stub = (n: number) => new Uint8Array(n).fill(calls++ < 3 ? 0 : 1);
    const mac = generateMac(new Set(['02:00:00:00:00:00']), stub);
    expect(mac).toBe('02:01:01:01:01:01');
    expect(calls).toBe(4);
  });

  it('gives up after 64 collisions', () => {
    let calls = 0;
    const stub = (n: number) => {
      calls++;
      return new Uint8Array(n);
    };
    const err = failure(() => generateMac(new Set(['02:00:00:00:00:00']), stub));
    expect(err).toMatchObject({ ...CONFLICT, message: 'could not generate a unique MAC' });
    expect(calls).toBe(64);
  });
});

describe('SubnetAllocator', () => {
  const allocator = (cidr = '10.0.0.0/24', taken: string[] = []) => {
    const s = parseCidr(cidr);
    const gw = defaultGateway(s);
    return new SubnetAllocator(s, defaultPools(s, gw), gw, taken);
  };

  it('allocates sequentially after the gateway', () => {
    const a = allocator();
    expect([a.allocate(), a.allocate(), a.allocate()]).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.4']);
    expect([...a.taken]).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.4']);
  });

  it('skips taken addresses and canonicalizes them', () => {
    const a = allocator('2001:db8::/64', ['2001:DB8::2', '2001:db8:0::3', '2001:db8::5']);
    expect(a.taken.has('2001:db8::3')).toBe(true);
    expect([a.allocate(), a.allocate(), a.allocate()]).toEqual(['2001:db8::4', '2001:db8::6', '2001:db8::7']);
  });

  it('fills pools in address order and skips the gateway', () => {
    const s = parseCidr('10.0.0.0/29');
    const a = new SubnetAllocator(s, [{ start: '10.0.0.5', end: '10.0.0.6' }, { start: '10.0.0.1', end: '10.0.0.3' }], '10.0.0.2', []);
    expect([a.allocate(), a.allocate(), a.allocate(), a.allocate()]).toEqual(['10.0.0.1', '10.0.0.3', '10.0.0.5', '10.0.0.6']);
  });

  it('exhausts a /30', () => {
    const a = allocator('10.0.0.0/30');
    expect(a.allocate()).toBe('10.0.0.2');
    const err = failure(() => a.allocate('input.fixedIps.0'));
    expect(err).toMatchObject({ ...CONFLICT, field: 'input.fixedIps.0' });
    expect(err.message).toBe('no free address in subnet 10.0.0.0/30');
  });

  it('claims requested addresses, inside or outside the pools', () => {
    const s = parseCidr('10.0.0.0/24');
    const a = new SubnetAllocator(s, [{ start: '10.0.0.100', end: '10.0.0.110' }], '10.0.0.1', []);
    expect(a.claim('10.0.0.100')).toBe('10.0.0.100');
    expect(a.claim('10.0.0.50')).toBe('10.0.0.50');
    expect(a.allocate()).toBe('10.0.0.101');
  });

  it('rejects claims of taken addresses', () => {
    const a = allocator('10.0.0.0/24', ['10.0.0.7']);
    const err = failure(() => a.claim('10.0.0.7', 'input.fixedIps.0.ipAddress'));
    expect(err).toMatchObject({ ...CONFLICT, field: 'input.fixedIps.0.ipAddress' });
    expect(err.message).toContain('10.0.0.7');
    a.claim('10.0.0.8');
    expect(failure(() => a.claim('10.0.0.8'))).toMatchObject(CONFLICT);
  });

  it.each(['10.0.0.1', '10.0.0.0', '10.0.0.255', '10.0.1.5', '2001:db8::5', 'nope'])('rejects a claim of %s', (ip) => {
    const err = failure(() => allocator().claim(ip, 'ip'));
    expect(err).toMatchObject({ ...BAD, field: 'ip' });
    expect(err.message).toContain(ip);
  });

  it('re-allocates released addresses lowest first', () => {
    const a = allocator();
    for (let i = 0; i < 5; i++) a.allocate();
    a.release('10.0.0.4');
    a.release('10.0.0.3');
    a.release('10.0.0.99');
    expect(a.taken.has('10.0.0.4')).toBe(false);
    expect([a.allocate(), a.allocate(), a.allocate()]).toEqual(['10.0.0.3', '10.0.0.4', '10.0.0.7']);
  });

  it('allocates 1000 addresses from a /22', () => {
    const a = allocator('10.0.0.0/22', ['10.0.0.10', '10.0.1.0']);
    const got = Array.from({ length: 1000 }, () => a.allocate());
    expect(new Set(got).size).toBe(1000);
    expect(got[0]).toBe('10.0.0.2');
    expect(got).not.toContain('10.0.0.10');
    expect(got[999]).toBe('10.0.3.235');
    expect(a.taken.size).toBe(1002);
  });

  it('allocates IPv6 from a huge pool without enumerating it', () => {
    const s = parseCidr('2001:db8::/64');
    const a = new SubnetAllocator(s, [{ start: '2001:db8::ffff:ffff:ffff:fffe', end: '2001:db8::ffff:ffff:ffff:ffff' }], '2001:db8::1', []);
    expect(a.allocate()).toBe('2001:db8::ffff:ffff:ffff:fffe');
    expect(a.allocate()).toBe('2001:db8::ffff:ffff:ffff:ffff');
    expect(failure(() => a.allocate())).toMatchObject(CONFLICT);
    const b = allocator('2001:db8::/64');
    expect([b.allocate(), b.allocate()]).toEqual(['2001:db8::2', '2001:db8::3']);
    expect(b.claim('2001:db8::ffff:0:0:1')).toBe('2001:db8::ffff:0:0:1');
  });
});

describe('addresses that are no host\'s own', () => {
  const NOT_HOST = ['0.0.0.0', '0.1.2.3', '127.0.0.1', '127.255.255.254', '169.254.0.1', '169.254.169.254', '224.0.0.1', '239.255.255.255', '255.255.255.255', '::', '::1', 'fe80::1', 'febf::ffff', 'ff02::1', 'ff0e::101'];
  const HOST = ['1.0.0.1', '10.0.0.1', '100.64.0.1', '126.255.255.255', '128.0.0.1', '169.253.255.255', '169.255.0.1', '192.0.2.1', '198.18.0.1', '223.255.255.255', '240.0.0.1', '255.255.255.254', '2001:db8::1', 'fd00::1', '::2', 'fec0::1', 'fc00::1'];

  it.each(NOT_HOST)('refuses %s as a VTEP, naming the range and the field', (ip) => {
    const err = failure(() => parseHostIp(ip, 'input.vtepAddress', 'VTEP address'));
    expect(err).toMatchObject({ ...BAD, field: 'input.vtepAddress' });
    expect(err.message).toMatch(/^VTEP address \S+ is in the (unspecified|loopback|link-local|multicast|limited broadcast).* range \S+\/\d+: it must be a unicast address$/);
  });

  it.each(HOST)('accepts %s as a host address', (ip) => {
    expect(parseHostIp(ip).text).toBe(parseIp(ip).text);
  });

  it('agrees with ipaddr.js range() on every address it refuses or accepts', () => {
    for (const ip of NOT_HOST) {
      const { version, value } = parseIp(ip);
      expect([ip, notHostRange(version, value)?.category]).toEqual([ip, ipaddr.parse(ip).range()]);
    }
    for (const ip of HOST) {
      const { version, value } = parseIp(ip);
      expect([ip, notHostRange(version, value)]).toEqual([ip, undefined]);
      expect(['unspecified', 'loopback', 'linkLocal', 'multicast', 'broadcast']).not.toContain(ipaddr.parse(ip).range());
    }
  });

  it.each([
    '0.0.0.0/8', '0.0.0.0/24', '127.0.0.0/8', '127.1.0.0/16', '169.254.0.0/16', '169.254.10.0/24', '224.0.0.0/4', '239.1.0.0/24',
    '255.255.255.0/24', '240.0.0.0/4', '160.0.0.0/3', '128.0.0.0/1', '0.0.0.0/1', '0.0.0.0/0', '::/64', '::/0', 'fe80::/64', 'fe80::/10',
    'fe00::/8', 'ff00::/8', 'ff02::/64', '8000::/1',
  ])('refuses the subnet %s, which overlaps a range of no host address', (cidr) => {
    const err = failure(() => parseSubnetCidr(cidr, 'input.cidr'));
    expect(err).toMatchObject({ ...BAD, field: 'input.cidr' });
    expect(err.message).toMatch(/^subnet \S+ overlaps the .* range \S+, where no host address lies$/);
  });

  it.each(['10.0.0.0/8', '1.0.0.0/24', '126.0.0.0/8', '128.0.0.0/3', '170.0.0.0/7', '169.253.0.0/16', '169.255.0.0/16', '192.0.2.0/24', '223.255.255.0/24', '2001:db8::/64', 'fd00::/8', '::100:0/120', 'fec0::/10', '2000::/3'])(
    'accepts the subnet %s',
    (cidr) => {
      expect(parseSubnetCidr(cidr).cidr).toBe(cidr);
    },
  );

  it('refuses the network and the IPv4 broadcast address of a subnet as a host address of it, not the IPv6 last address', () => {
    expect(failure(() => parseHost(v4, '10.0.0.0', 'IP address', 'f'))).toMatchObject({ ...BAD, field: 'f' });
    expect(failure(() => parseHost(v4, '10.0.0.255', 'IP address', 'f')).message).toMatch(/broadcast address of subnet 10.0.0.0\/24/);
    expect(parseHost(v6, '2001:db8::ffff:ffff:ffff:ffff', 'IP address').text).toBe('2001:db8::ffff:ffff:ffff:ffff');
  });
});
