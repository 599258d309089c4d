import {
  assertAlias,
  assertCidrAddr,
  assertIfName,
  assertIp,
  assertMac,
  assertMtu,
  assertNetnsName,
  assertNftName,
  assertSysctlKey,
  assertSysctlValue,
  cidrFamily,
  ipFamily,
  LinuxInputError,
  sysctlPath,
} from './names';

// Values that would add a token, a line or an option if they reached a command line.
const HOSTILE = ['', ' ', 'a b', 'a;b', 'a\nb', 'a\tb', 'a"b', "a'b", 'a#b', 'a\\b', 'a$b', 'a/b', 'a:b', 'a\0b', 'é'];

describe('assertIfName', () => {
  it.each(['eth0', 'br-1', 'v_a.b', '_x', '0', 'abcdefghijklmno', 'h', 'help'])('accepts %j', (name) => {
    expect(assertIfName(name)).toBe(name);
  });

  it.each([...HOSTILE, '-x', '.x', '.', '..', 'abcdefghijklmnop'])('rejects %j', (name) => {
    expect(() => assertIfName(name)).toThrow(LinuxInputError);
  });

  it('rejects non-strings', () => {
    expect(() => assertIfName(undefined as unknown as string)).toThrow(LinuxInputError);
  });

  it('names the field in the error', () => {
    expect(() => assertIfName('a b')).toThrow(expect.objectContaining({ field: 'ifname', name: 'LinuxInputError' }));
  });
});

describe('assertNetnsName', () => {
  it.each(['n1', 'A', 'ns-1.a_b', 'x'.repeat(64)])('accepts %j', (name) => {
    expect(assertNetnsName(name)).toBe(name);
  });

  it.each([...HOSTILE, '-all', '_x', '.x', '..', 'x'.repeat(65)])('rejects %j', (name) => {
    expect(() => assertNetnsName(name)).toThrow(LinuxInputError);
  });
});

describe('assertIp / ipFamily', () => {
  it.each([
    ['10.0.0.1', 4],
    ['255.255.255.255', 4],
    ['fd00::1', 6],
    ['::', 6],
    ['::ffff:1.2.3.4', 6],
  ])('accepts %j as IPv%d', (addr, family) => {
    expect(assertIp(addr)).toBe(addr);
    expect(ipFamily(addr)).toBe(family);
  });

  it.each(['', '10.0.0', '10.0.0.256', '01.2.3.4', ' 1.2.3.4', '1.2.3.4 ', '10.0.0.1/24', 'fe80::1%eth0', 'fd00::1 via', 'x'])(
    'rejects %j',
    (addr) => {
      expect(() => assertIp(addr)).toThrow(LinuxInputError);
    },
  );
});

describe('assertCidrAddr / cidrFamily', () => {
  it.each([
    ['10.0.0.2/24', 4],
    ['0.0.0.0/0', 4],
    ['10.9.0.0/32', 4],
    ['fd00::2/64', 6],
    ['::/0', 6],
    ['fd00::/128', 6],
  ])('accepts %j', (addr, family) => {
    expect(assertCidrAddr(addr)).toBe(addr);
    expect(cidrFamily(addr)).toBe(family);
  });

  it.each([
    '10.0.0.2',
    '10.0.0.2/',
    '10.0.0.2/33',
    'fd00::2/129',
    '10.0.0.2/24/1',
    '10.0.0.2/-1',
    '10.0.0.2/024',
    '10.0.0.2/2 4',
    '10.0.0.2/24 dev x',
    '10.0.0.2/24\n',
    'default',
    'fe80::1%eth0/64',
    '/24',
  ])('rejects %j', (addr) => {
    expect(() => assertCidrAddr(addr)).toThrow(LinuxInputError);
  });
});

describe('assertMac', () => {
  it('accepts lowercase colon form', () => {
    expect(assertMac('02:00:0a:ff:00:01')).toBe('02:00:0a:ff:00:01');
  });

  it.each(['02:00:0A:FF:00:01', '02-00-0a-ff-00-01', '0200.0aff.0001', '02:00:0a:ff:00', '02:00:0a:ff:00:01:02', '02:00:0a:ff:00:0g', ''])(
    'rejects %j',
    (mac) => {
      expect(() => assertMac(mac)).toThrow(LinuxInputError);
    },
  );
});

describe('small validators', () => {
  it('mtu is an integer 68-65535', () => {
    expect(assertMtu(1500)).toBe(1500);
    for (const bad of [67, 65536, 1500.5, NaN, -1]) expect(() => assertMtu(bad)).toThrow(LinuxInputError);
  });

  it('alias stays one token', () => {
    expect(assertAlias('port=abc:1/2@x')).toBe('port=abc:1/2@x');
    for (const bad of [...HOSTILE.filter((h) => h !== 'a/b' && h !== 'a:b'), 'x'.repeat(129)]) {
      expect(() => assertAlias(bad)).toThrow(LinuxInputError);
    }
  });

  it('sysctl keys: dotted or slashed, never an option or a path escape', () => {
    expect(sysctlPath('net.ipv4.ip_forward')).toBe('/proc/sys/net/ipv4/ip_forward');
    expect(sysctlPath('net/ipv4/conf/eth0.5/forwarding')).toBe('/proc/sys/net/ipv4/conf/eth0.5/forwarding');
    for (const bad of ['', '-w', '/etc/x', 'net/../x', 'net..x', '.net', 'net.ipv4.ip_forward=1', 'Net.x', 'a b']) {
      expect(() => assertSysctlKey(bad)).toThrow(LinuxInputError);
    }
  });

  it('nft names are identifiers: a letter, then at most 30 letters, digits or _', () => {
    expect(assertNftName('nl_abc')).toBe('nl_abc');
    expect(assertNftName(`a${'b'.repeat(30)}`)).toHaveLength(31);
    for (const bad of [...HOSTILE, '1abc', '_a', 'a-b', `a${'b'.repeat(31)}`]) expect(() => assertNftName(bad)).toThrow(LinuxInputError);
  });

  it('sysctl values are one printable line', () => {
    expect(assertSysctlValue('0\t2147483647')).toBe('0\t2147483647');
    expect(() => assertSysctlValue('1\n')).toThrow(LinuxInputError);
    expect(() => assertSysctlValue('x'.repeat(4097))).toThrow(LinuxInputError);
  });
});
