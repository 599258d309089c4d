import { assertPrefix, buildBatches, layout, ownedNetns } from './layout';

describe('layout', () => {
  it('names hosts and gives host i the (i+1)-th underlay address', () => {
    const l = layout('sab', 3);
    expect(l).toMatchObject({ prefix: 'sab', underlayNetns: 'sab-ul', prefixlen: 24, mtu: 1500 });
    expect(l.hosts).toEqual([
      { index: 0, name: 'sab-h0', vtep: '100.64.0.1', underlayIf: 'ul0' },
      { index: 1, name: 'sab-h1', vtep: '100.64.0.2', underlayIf: 'ul0' },
      { index: 2, name: 'sab-h2', vtep: '100.64.0.3', underlayIf: 'ul0' },
    ]);
    expect(layout('s', 2, '10.9.255.252/30', 9000).hosts.map((h) => h.vtep)).toEqual(['10.9.255.253', '10.9.255.254']);
    expect(layout('s', 300, '10.8.0.0/16').hosts[299].vtep).toBe('10.8.1.44');
  });

  it.each([
    ['a prefix that is too long', () => layout('abcde', 1)],
    ['an upper-case prefix', () => layout('Ab', 1)],
    ['the agent default prefix', () => layout('nl', 1)],
    ['no hosts', () => layout('s', 0)],
    ['more hosts than addresses', () => layout('s', 3, '10.0.0.0/30')],
    ['host bits set', () => layout('s', 1, '10.0.0.1/24')],
    ['IPv6', () => layout('s', 1, 'fd00::/64')],
    ['a bad octet', () => layout('s', 1, '10.0.256.0/24')],
    ['a tiny MTU', () => layout('s', 1, undefined, 500)],
  ])('refuses %s', (_what, make) => {
    expect(make).toThrow();
  });

  it('refuses an agent prefix like the run prefix', () => {
    expect(() => assertPrefix('nl', 'agent prefix')).toThrow(/agent prefix nl/);
    expect(assertPrefix('t1')).toBe('t1');
  });

  it('builds everything in namespaces of the run, IPv6 autoconfiguration off before up', () => {
    const { root, underlay, hosts } = buildBatches(layout('sab', 2, '100.64.0.0/24', 1400));
    expect(root.netns).toBeUndefined();
    expect(root.toString()).toBe('netns add sab-ul\nnetns add sab-h0\nnetns add sab-h1\n');
    expect(underlay.netns).toBe('sab-ul');
    expect(underlay.toString()).toBe(
      [
        'link add name br0 mtu 1400 type bridge',
        'link set dev br0 addrgenmode none',
        'link set dev br0 up',
        'link add name h0 mtu 1400 master br0 type veth peer name ul0 mtu 1400 netns sab-h0',
        'link set dev h0 addrgenmode none',
        'link set dev h0 up',
        'link add name h1 mtu 1400 master br0 type veth peer name ul0 mtu 1400 netns sab-h1',
        'link set dev h1 addrgenmode none',
        'link set dev h1 up',
        '',
      ].join('\n'),
    );
    expect(hosts.map((b) => [b.netns, b.toString()])).toEqual([
      ['sab-h0', 'link set dev lo up\nlink set dev ul0 addrgenmode none\nlink set dev ul0 up\naddr replace 100.64.0.1/24 dev ul0\n'],
      ['sab-h1', 'link set dev lo up\nlink set dev ul0 addrgenmode none\nlink set dev ul0 up\naddr replace 100.64.0.2/24 dev ul0\n'],
    ]);
  });

  it('owns exactly the namespaces named <prefix>-…', () => {
    expect(ownedNetns(['sab-h0', 'sab-ul', 'sab1-h0', 'sabx', 'sa-h0', 'q-1234-ab', 'q'], ['sab', 'q'])).toEqual(['sab-h0', 'sab-ul', 'q-1234-ab']);
  });
});
