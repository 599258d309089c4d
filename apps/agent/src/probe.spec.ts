import { badSend, countedRules } from './probe';

describe('countedRules', () => {
  it('sums packets per netloom comment: named counters looked up in their table, anonymous ones read inline', () => {
    const ruleset = {
      nftables: [
        { metainfo: { json_schema_version: 1 } },
        { table: { family: 'inet', name: 'nl_abc' } },
        { counter: { family: 'inet', table: 'nl_abc', name: 'r_1', packets: 7, bytes: 700 } },
        { counter: { family: 'inet', table: 'other', name: 'r_1', packets: 99, bytes: 1 } },
        { rule: { family: 'inet', table: 'nl_abc', chain: 'in_0', comment: 'netloom fw p 10 ALLOW', expr: [{ match: {} }, { counter: 'r_1' }, { accept: null }] } },
        { rule: { family: 'inet', table: 'nl_abc', chain: 'in_0', comment: 'netloom fw p 10 ALLOW', expr: [{ counter: 'r_1' }, { accept: null }] } },
        { rule: { family: 'inet', table: 'nl_x', chain: 'f', comment: 'netloom lb TCP/80>10.0.0.5:80', expr: [{ counter: { packets: 3, bytes: 180 } }] } },
        { rule: { family: 'inet', table: 'nl_x', chain: 'f', comment: 'netloom lb none', expr: [{ accept: null }] } },
        { rule: { family: 'inet', table: 'nl_x', chain: 'f', comment: 'someone else', expr: [{ counter: { packets: 5, bytes: 1 } }] } },
        { rule: { family: 'inet', table: 'nl_x', chain: 'f', expr: [{ counter: { packets: 5, bytes: 1 } }] } },
      ],
    };
    expect(countedRules(ruleset)).toEqual({ 'netloom fw p 10 ALLOW': 14, 'netloom lb TCP/80>10.0.0.5:80': 3, 'netloom lb none': 0 });
  });

  it('reads nothing from what is not a ruleset', () => {
    expect(countedRules(null)).toEqual({});
    expect(countedRules({ nftables: [null, 3, { rule: null }] })).toEqual({});
  });
});

describe('badSend', () => {
  const send = { portId: 'p', protocol: 'tcp' as const, address: '10.0.0.1', port: 80, timeoutMs: 1000 };
  it.each([
    ['a good TCP probe', {}, undefined],
    ['an ICMP probe without port', { protocol: 'icmp' as const, port: undefined }, undefined],
    ['a name for an address', { address: 'example.com' }, 'the address is not an IP address'],
    ['an option for an address', { address: '-f' }, 'the address is not an IP address'],
    ['a scoped address', { address: 'fe80::1%eth0' }, 'the address is not an IP address'],
    ['port 0', { port: 0 }, 'the port is not 1-65535'],
    ['UDP', { protocol: 'udp' as unknown as 'tcp' }, 'protocol udp cannot be probed'],
    ['a long timeout', { timeoutMs: 60_000 }, 'the timeout is not 100-10000 ms'],
  ])('%s', (_what, change, expected) => {
    expect(badSend({ ...send, ...change })).toBe(expected);
  });
});
