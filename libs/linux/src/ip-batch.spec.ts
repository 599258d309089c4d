import { BridgeBatch } from './bridge-batch';
import { IpBatch } from './ip-batch';
import { LinuxInputError } from './names';

const texts = (b: { lines: { text: string }[] }) => b.lines.map((l) => l.text);

describe('IpBatch', () => {
  it('writes namespace lines in a root batch, with keys', () => {
    const b = new IpBatch().netnsAdd('ns1', 'port:a').netnsDel('ns2');
    expect(b.lines).toEqual([{ text: 'netns add ns1', key: 'port:a' }, { text: 'netns del ns2' }]);
    expect(b.length).toBe(2);
    expect(b.toString()).toBe('netns add ns1\nnetns del ns2\n');
  });

  it('refuses netnsAdd / netnsDel in a namespace batch', () => {
    expect(() => new IpBatch('h1').netnsAdd('ns1')).toThrow(LinuxInputError);
    expect(() => new IpBatch('h1').netnsDel('ns1')).toThrow(LinuxInputError);
  });

  it('validates its own namespace', () => {
    expect(() => new IpBatch('-all')).toThrow(LinuxInputError);
  });

  it('bridgeAdd: one line, mtu and up before the type', () => {
    expect(texts(new IpBatch('h').bridgeAdd('br0', {}).bridgeAdd('br1', { mtu: 1450, up: true }))).toEqual([
      'link add name br0 type bridge',
      'link add name br1 mtu 1450 up type bridge',
    ]);
  });

  it('vethAdd: the order ip 6.1 accepts, peer never up', () => {
    const b = new IpBatch('h')
      .vethAdd('v1', { peer: 'eth0' })
      .vethAdd('v2', { peer: 'eth0', master: 'br0', mtu: 1450, up: true, peerNetns: 'p2' }, 'port:2');
    expect(b.lines).toEqual([
      { text: 'link add name v1 type veth peer name eth0' },
      { text: 'link add name v2 mtu 1450 master br0 up type veth peer name eth0 mtu 1450 netns p2', key: 'port:2' },
    ]);
  });

  it('ifbAdd: an ifb, up when asked', () => {
    expect(texts(new IpBatch().ifbAdd('ifb0').ifbAdd('ifb1', { up: true }, 'k'))).toEqual(['link add name ifb0 type ifb', 'link add name ifb1 up type ifb']);
    expect(() => new IpBatch().ifbAdd('ifb0 type veth')).toThrow(LinuxInputError);
  });

  it('vxlanAdd', () => {
    expect(texts(new IpBatch('h').vxlanAdd('vx42', { vni: 42, dstport: 4789, local: '10.0.0.1', dev: 'eth0', mtu: 1450, master: 'br0', up: true })))
      .toEqual(['link add name vx42 mtu 1450 master br0 up type vxlan id 42 local 10.0.0.1 dev eth0 dstport 4789 nolearning']);
    expect(texts(new IpBatch().vxlanAdd('vx1', { vni: 1, dstport: 4789, learning: true }))).toEqual([
      'link add name vx1 type vxlan id 1 dstport 4789 learning',
    ]);
  });

  it('linkSet: explicit dev, up on its own last line', () => {
    const b = new IpBatch('p')
      .linkSet('eth0', { addrgenmode: 'none', up: true }, 'k')
      .linkSet('lo', { up: true })
      .linkSet('v1', { down: true, mtu: 9000, address: '02:00:00:00:00:01', master: 'br0', alias: 'port=a', addrgenmode: 'eui64' })
      .linkSet('v2', { nomaster: true });
    expect(b.lines).toEqual([
      { text: 'link set dev eth0 addrgenmode none', key: 'k' },
      { text: 'link set dev eth0 up', key: 'k' },
      { text: 'link set dev lo up' },
      { text: 'link set dev v1 down mtu 9000 address 02:00:00:00:00:01 master br0 alias port=a addrgenmode eui64' },
      { text: 'link set dev v2 nomaster' },
    ]);
  });

  it('linkSet refuses contradictions and empty changes', () => {
    expect(() => new IpBatch().linkSet('a', { up: true, down: true })).toThrow(LinuxInputError);
    expect(() => new IpBatch().linkSet('a', { master: 'b', nomaster: true })).toThrow(LinuxInputError);
    expect(() => new IpBatch().linkSet('a', {})).toThrow(LinuxInputError);
    expect(() => new IpBatch().linkSet('a', { up: false })).toThrow(LinuxInputError);
    expect(() => new IpBatch().linkSet('a', { addrgenmode: 'random' as 'none' })).toThrow(LinuxInputError);
  });

  it('links, addresses and routes', () => {
    const b = new IpBatch('p')
      .linkDel('v1')
      .addrReplace('10.0.0.2/24', 'eth0')
      .addrDel('fd00::2/64', 'eth0')
      .routeReplace({ dst: 'default', via: '10.0.0.1', dev: 'eth0' })
      .routeReplace({ dst: 'default', via: 'fd00::1', dev: 'eth0' })
      .routeReplace({ dst: 'default', dev: 'eth0', family: 6 })
      .routeReplace({ dst: '10.9.0.0/16', via: '10.0.0.1', dev: 'eth0' })
      .routeDel({ dst: 'default' })
      .routeDel({ dst: 'default', family: 6, dev: 'eth0' })
      .routeDel({ dst: '10.9.0.0/16', via: '10.0.0.1' });
    expect(texts(b)).toEqual([
      'link del dev v1',
      'addr replace 10.0.0.2/24 dev eth0',
      'addr del fd00::2/64 dev eth0',
      'route replace default via 10.0.0.1 dev eth0',
      'route replace ::/0 via fd00::1 dev eth0',
      'route replace ::/0 dev eth0',
      'route replace 10.9.0.0/16 via 10.0.0.1 dev eth0',
      'route del default',
      'route del ::/0 dev eth0',
      'route del 10.9.0.0/16 via 10.0.0.1',
    ]);
  });

  it('routes in a table, policy-routing rules, hairpin on a bridge port', () => {
    const b = new IpBatch('h')
      .routeReplace({ dst: '10.9.0.0/24', dev: 'br0', table: 1313603585 }, 'net:a')
      .routeReplace({ dst: 'default', via: '10.9.0.1', dev: 'br0', table: 1313603585 })
      .routeDel({ dst: '10.8.0.0/16', dev: 'br0', table: 1313603585 })
      .routeFlush(1313603585)
      .ruleAdd({ iif: 'br0', table: 1313603585, pref: 1100 }, 'net:a')
      .ruleDel({ iif: 'br0', table: 1313603585, pref: 1100 })
      .hairpinSet('vp1', true)
      .hairpinSet('vp1', false);
    expect(texts(b)).toEqual([
      'route replace 10.9.0.0/24 dev br0 table 1313603585',
      'route replace default via 10.9.0.1 dev br0 table 1313603585',
      'route del 10.8.0.0/16 dev br0 table 1313603585',
      'route flush table 1313603585',
      'rule add iif br0 lookup 1313603585 pref 1100',
      'rule del iif br0 lookup 1313603585 pref 1100',
      'link set dev vp1 type bridge_slave hairpin on',
      'link set dev vp1 type bridge_slave hairpin off',
    ]);
    // Each as data for the netlink helper (the flush too: a dump, then a delete per route, there as in `ip`).
    expect(b.lines.map((l) => l.op?.op)).toEqual(['route', 'route', 'route', 'routeFlush', 'rule', 'rule', 'hairpin', 'hairpin']);
    expect(b.lines[3].op).toEqual({ op: 'routeFlush', table: 1313603585 });
    expect(b.lines[0].op).toMatchObject({ table: 1313603585, dst: '10.9.0.0', dstLen: 24 });
    expect(b.lines[4].op).toEqual({ op: 'rule', cmd: 'add', iif: 'br0', table: 1313603585, pref: 1100 });
    expect(b.lines[7].op).toEqual({ op: 'hairpin', dev: 'vp1', on: false });
    expect(new IpBatch().routeReplace({ dst: 'default', dev: 'br0' }).lines[0].op).not.toHaveProperty('table');
  });

  it('routes refuse mixed families', () => {
    expect(() => new IpBatch().routeReplace({ dst: '10.9.0.0/16', via: 'fd00::1', dev: 'e' })).toThrow(LinuxInputError);
    expect(() => new IpBatch().routeReplace({ dst: 'default', via: '10.0.0.1', dev: 'e', family: 6 })).toThrow(LinuxInputError);
    expect(() => new IpBatch().routeReplace({ dst: 'default', dev: 'e', family: 5 as 4 })).toThrow(LinuxInputError);
  });

  it.each([
    (b: IpBatch) => b.linkDel('eth0\nlink del dev lo'),
    (b: IpBatch) => b.linkDel('eth0 up'),
    (b: IpBatch) => b.addrReplace('10.0.0.2/24 dev lo', 'eth0'),
    (b: IpBatch) => b.addrReplace('10.0.0.2/24', 'eth0;x'),
    (b: IpBatch) => b.vethAdd('v1', { peer: 'eth0', peerNetns: 'p1 up' }),
    (b: IpBatch) => b.vethAdd('v1', { peer: 'eth0', mtu: 1e6 }),
    (b: IpBatch) => b.linkSet('v1', { alias: 'a b' }),
    (b: IpBatch) => b.linkSet('v1', { address: '02:00:00:00:00:01 up' }),
    (b: IpBatch) => b.routeReplace({ dst: 'default', via: '10.0.0.1 dev lo', dev: 'eth0' }),
    (b: IpBatch) => b.bridgeAdd('-br', {}),
    (b: IpBatch) => b.routeReplace({ dst: '10.0.0.0/24', dev: 'br0', table: 254 }),
    (b: IpBatch) => b.routeReplace({ dst: '10.0.0.0/24', dev: 'br0', table: 2 ** 32 }),
    (b: IpBatch) => b.routeFlush(0),
    (b: IpBatch) => b.routeFlush('7 dev lo' as unknown as number),
    (b: IpBatch) => b.ruleAdd({ iif: 'br0 lookup 1', table: 7, pref: 1100 }),
    (b: IpBatch) => b.ruleAdd({ iif: 'br0', table: 7, pref: 0 }),
    (b: IpBatch) => b.ruleDel({ iif: 'br0', table: 7.5, pref: 1100 }),
    (b: IpBatch) => b.ruleDel(null as unknown as { iif: string; table: number; pref: number }),
    (b: IpBatch) => b.hairpinSet('vp1 hairpin', true),
    (b: IpBatch) => b.hairpinSet('vp1', 'on' as unknown as boolean),
  ])('no value adds a token or a line (case %#)', (build) => {
    const b = new IpBatch('p');
    expect(() => build(b)).toThrow(LinuxInputError);
    expect(b.length).toBe(0);
  });
});

describe('BridgeBatch', () => {
  it('writes fdb lines', () => {
    const b = new BridgeBatch('h')
      .fdbAppend('00:00:00:00:00:00', 'vx42', '10.0.0.7', 'vtep:7')
      .fdbReplace('02:00:00:00:00:01', 'vx42', '10.0.0.7')
      .fdbDel('00:00:00:00:00:00', 'vx42', '10.0.0.7')
      .fdbDel('02:00:00:00:00:01', 'vx42');
    expect(b.lines).toEqual([
      { text: 'fdb append 00:00:00:00:00:00 dev vx42 dst 10.0.0.7', key: 'vtep:7' },
      { text: 'fdb replace 02:00:00:00:00:01 dev vx42 dst 10.0.0.7' },
      { text: 'fdb del 00:00:00:00:00:00 dev vx42 dst 10.0.0.7' },
      { text: 'fdb del 02:00:00:00:00:01 dev vx42' },
    ]);
    expect(b.netns).toBe('h');
  });

  it('validates', () => {
    expect(() => new BridgeBatch().fdbAppend('00:00:00:00:00:00', 'vx42', '10.0.0.7 self')).toThrow(LinuxInputError);
    expect(() => new BridgeBatch().fdbDel('00:00:00:00:00:0', 'vx42')).toThrow(LinuxInputError);
  });
});
