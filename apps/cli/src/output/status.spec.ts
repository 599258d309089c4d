import { CliError } from '../errors';
import { parseSelector, statusLines, summarizeStatus, type HostStatus } from './status';

const on = (host: string, state: string, generation = 3, reason: string | null = null): HostStatus => ({ hostId: `id-${host}`, host: { name: host }, state, generation, reason });

describe('summarizeStatus', () => {
  it('counts the hosts that applied the current generation', () => {
    expect(summarizeStatus([on('h1', 'APPLIED'), on('h2', 'APPLIED'), on('h3', 'PENDING')], 3)).toBe('2/3 APPLIED');
    expect(summarizeStatus([on('h1', 'APPLIED'), on('h2', 'APPLIED')], 3)).toBe('2/2 APPLIED');
  });

  it('does not count a host that applied an older generation', () => {
    expect(summarizeStatus([on('h1', 'APPLIED', 2), on('h2', 'APPLIED', 3)], 3)).toBe('1/2 APPLIED');
  });

  it('names the hosts that failed, whatever the others did', () => {
    expect(summarizeStatus([on('h2', 'FAILED'), on('h1', 'APPLIED'), on('h0', 'FAILED')], 3)).toBe('FAILED on h0,h2');
  });

  it('names a host without a name by its id, and says <none> when no host reported', () => {
    expect(summarizeStatus([{ hostId: 'abc', host: null, state: 'FAILED', generation: 1 }], 1)).toBe('FAILED on abc');
    expect(summarizeStatus([], 1)).toBe('<none>');
  });

  it("counts the hosts a plugin resource is placed on, and says why it is on none", () => {
    expect(summarizeStatus([on('h1', 'APPLIED')], 3, { state: 'PLACED', hosts: 3 })).toBe('1/3 APPLIED');
    expect(summarizeStatus([], 3, { state: 'PLACED', hosts: 2 })).toBe('0/2 APPLIED');
    expect(summarizeStatus([], 3, { state: 'NONE', hosts: 0, reason: 'its plugin placed it on no host' })).toBe('NONE: its plugin placed it on no host');
    expect(summarizeStatus([], 3, { state: 'PENDING', hosts: 0 })).toBe('PENDING');
    expect(summarizeStatus([on('h1', 'FAILED')], 3, { state: 'PLACED', hosts: 2 })).toBe('FAILED on h1');
  });
});

describe('statusLines', () => {
  it('gives each host its state, the reason of a failure and a generation behind, sorted by host', () => {
    expect(statusLines([on('h2', 'FAILED', 3, 'nft: No such file'), on('h1', 'APPLIED', 2)], 3)).toEqual([
      'h1  APPLIED (generation 2, current 3)',
      'h2  FAILED: nft: No such file',
    ]);
  });
});

describe('parseSelector', () => {
  it('reads key=value terms joined by commas', () => {
    expect(parseSelector('env=dev, tier=web')).toEqual([
      { key: 'env', value: 'dev' },
      { key: 'tier', value: 'web' },
    ]);
    expect(parseSelector('app.kubernetes.io/name=x')).toEqual([{ key: 'app.kubernetes.io/name', value: 'x' }]);
    expect(parseSelector('empty=')).toEqual([{ key: 'empty', value: '' }]);
    expect(parseSelector(undefined)).toBeUndefined();
  });

  it.each(['env!=dev', 'env', 'env in (a,b)', '=dev', 'a==b'])('refuses %s with a clear message', (selector) => {
    expect(() => parseSelector(selector)).toThrow(CliError);
    expect(() => parseSelector(selector)).toThrow(/only key=value terms/);
  });
});
