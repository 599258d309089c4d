import { parseJsonArray, parseLinkEvent, parseNftMonitorLine, toAddrInfo, toFdbEntry, toLinkInfo, toLinkStats, toNftCounters, toRouteInfo, toRuleInfo } from './parse';

describe('parse', () => {
  it('links: kind, master, flags, alias, peer namespace', () => {
    // Trimmed from `ip -json -details link show` on iproute2 6.1.
    const out = JSON.stringify([
      { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK'], mtu: 65536, operstate: 'DOWN', address: '00:00:00:00:00:00', inet6_addr_gen_mode: 'eui64' },
      {
        ifindex: 3, link_index: 2, ifname: 'v1', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1400, master: 'br0',
        operstate: 'UP', address: 'ce:47:42:97:30:7f', link_netnsid: 0, ifalias: 'hello',
        linkinfo: { info_kind: 'veth', info_slave_kind: 'bridge' },
      },
    ]);
    expect(parseJsonArray(out, 'x').map(toLinkInfo)).toEqual([
      { ifname: 'lo', ifindex: 1, mtu: 65536, up: false, operstate: 'DOWN', address: '00:00:00:00:00:00', addrGenMode: 'eui64' },
      {
        ifname: 'v1', ifindex: 3, kind: 'veth', master: 'br0', mtu: 1400, address: 'ce:47:42:97:30:7f', up: true,
        operstate: 'UP', alias: 'hello', linkNetnsId: 0, linkIndex: 2,
      },
    ]);
  });

  it('link counters: stats64 (or the 32-bit stats), a missing count 0, a link without counters left out', () => {
    // Trimmed from `ip -s -json link show` on iproute2 6.1.
    const out = JSON.stringify([
      {
        ifindex: 7, ifname: 'nlv0a1b2c3d', flags: ['UP'], mtu: 1450,
        stats64: {
          rx: { bytes: 9_007_199_254_740_000, packets: 12, errors: 1, dropped: 2, over_errors: 0, multicast: 0 },
          tx: { bytes: 2048, packets: 30, errors: 0, dropped: 4, carrier_errors: 0, collisions: 0 },
        },
      },
      { ifindex: 8, ifname: 'old', stats: { rx: { bytes: 5, packets: 1 }, tx: {} } },
      { ifindex: 9, ifname: 'none' },
    ]);
    expect(parseJsonArray(out, 'x').map(toLinkStats)).toEqual([
      { ifname: 'nlv0a1b2c3d', rx: { packets: 12, bytes: 9_007_199_254_740_000, dropped: 2, errors: 1 }, tx: { packets: 30, bytes: 2048, dropped: 4, errors: 0 } },
      { ifname: 'old', rx: { packets: 1, bytes: 5, dropped: 0, errors: 0 }, tx: { packets: 0, bytes: 0, dropped: 0, errors: 0 } },
      null,
    ]);
  });

  it('links: a VLAN subinterface with its tag and parent (as iproute2 6.1 writes it)', () => {
    const e = {
      ifindex: 7, link: 'eth1', ifname: 'nlu01234567', flags: ['BROADCAST', 'MULTICAST', 'UP'], mtu: 1500, master: 'nlb01234567',
      linkinfo: { info_kind: 'vlan', info_data: { protocol: '802.1Q', id: 100, flags: ['REORDER_HDR'] }, info_slave_kind: 'bridge' },
    };
    expect(toLinkInfo(e)).toEqual({ ifname: 'nlu01234567', ifindex: 7, kind: 'vlan', master: 'nlb01234567', mtu: 1500, up: true, vlan: { id: 100, link: 'eth1' } });
  });

  it('addresses: inet and inet6 only', () => {
    const e = {
      ifname: 'eth0',
      addr_info: [
        { family: 'inet', local: '10.255.0.2', prefixlen: 24, scope: 'global' },
        { family: 'inet6', local: 'fd00::2', prefixlen: 64, scope: 'global', tentative: true },
        { family: 'packet' },
      ],
    };
    expect(toAddrInfo(e)).toEqual({
      ifname: 'eth0',
      addresses: [
        { family: 4, local: '10.255.0.2', prefixlen: 24, scope: 'global' },
        { family: 6, local: 'fd00::2', prefixlen: 64, scope: 'global' },
      ],
    });
  });

  it('routes', () => {
    expect(toRouteInfo({ dst: 'default', gateway: '10.255.0.1', dev: 'eth0', flags: [] }, 4)).toEqual({
      dst: 'default', gateway: '10.255.0.1', dev: 'eth0', family: 4,
    });
    expect(toRouteInfo({ dst: 'fd00::/64', dev: 'eth0', protocol: 'kernel', metric: 256, flags: [] }, 6)).toEqual({
      dst: 'fd00::/64', dev: 'eth0', protocol: 'kernel', metric: 256, family: 6,
    });
  });

  it('rules, as iproute2 6.1 writes them (the table as text)', () => {
    const out = '[{"priority":0,"src":"all","table":"local"},{"priority":1100,"src":"all","iif":"br0","table":"1313603585"},{"priority":32766,"src":"all","table":"main"}]';
    expect(parseJsonArray(out, 'ip rule').map(toRuleInfo)).toEqual([
      { priority: 0, src: 'all', table: 'local' },
      { priority: 1100, src: 'all', iif: 'br0', table: '1313603585' },
      { priority: 32766, src: 'all', table: 'main' },
    ]);
    expect(toRuleInfo({ priority: 7, table: 100 })).toEqual({ priority: 7, table: '100' });
  });

  it('links: a bridge port says whether hairpin mode is on', () => {
    const port = { ifname: 'vp1', ifindex: 5, mtu: 1500, flags: ['UP'], master: 'br0', linkinfo: { info_kind: 'veth', info_slave_kind: 'bridge', info_slave_data: { hairpin: true, learning: true } } };
    expect(toLinkInfo(port)).toMatchObject({ ifname: 'vp1', master: 'br0', hairpin: true });
    expect(toLinkInfo({ ...port, linkinfo: { info_kind: 'veth' } }).hairpin).toBeUndefined();
  });

  it('fdb entries, with and without ifname', () => {
    expect(toFdbEntry({ mac: '00:00:00:00:00:00', ifname: 'vx0', dst: '10.0.0.7', flags: ['self'], state: 'permanent' })).toEqual({
      mac: '00:00:00:00:00:00', dev: 'vx0', dst: '10.0.0.7', flags: ['self'], state: 'permanent',
    });
    expect(toFdbEntry({ mac: '0e:ea:72:95:c6:16', flags: [], master: 'br0', state: 'permanent' }, 'vx0')).toEqual({
      mac: '0e:ea:72:95:c6:16', dev: 'vx0', master: 'br0', flags: [], state: 'permanent',
    });
  });

  it('named counters of one table', () => {
    // Trimmed from `nft -j list counters table inet tt` on nftables 1.0.6.
    const out = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6', json_schema_version: 1 } },
        { counter: { family: 'inet', name: 'a', table: 'tt', handle: 2, packets: 5, bytes: 300 } },
        { counter: { family: 'inet', name: 'b', table: 'other', handle: 3, packets: 1, bytes: 1 } },
        { counter: { family: 'ip', name: 'c', table: 'tt', handle: 3, packets: 1, bytes: 1 } },
      ],
    });
    expect(toNftCounters(out, 'inet', 'tt')).toEqual([{ name: 'a', packets: 5, bytes: 300 }]);
  });

  it('empty output is an empty list; a non-array is an error', () => {
    expect(parseJsonArray('', 'x')).toEqual([]);
    expect(() => parseJsonArray('{}', 'x')).toThrow('expected a JSON array');
  });

  it('monitor lines', () => {
    // Captured from `ip -o monitor link` on iproute2 6.1.
    expect(parseLinkEvent('4: dm0: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN group default \\    link/ether 66:5b:3c:67:5a:5f brd ff:ff:ff:ff:ff:ff'))
      .toMatchObject({ ifname: 'dm0', ifindex: 4, deleted: false });
    expect(parseLinkEvent('6: dm1@dm1p: <BROADCAST,MULTICAST,M-DOWN> mtu 1500 master dm0 state DOWN \\    link/ether ee:78:8a:26:4b:14'))
      .toMatchObject({ ifname: 'dm1', ifindex: 6, deleted: false });
    expect(parseLinkEvent('Deleted 5: dm1p@NONE: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN group default'))
      .toMatchObject({ ifname: 'dm1p', ifindex: 5, deleted: true });
    expect(parseLinkEvent('garbage')).toEqual({ deleted: false, raw: 'garbage' });
  });

  it('monitor lines: the state a link is in (admin up, MTU, master, MAC), as the line prints it', () => {
    // From `ip -o monitor link` on iproute2 6.1: a veth with its peer elsewhere, its bridge-port echo, a bridge.
    const veth = '4690: hzsdv12577821@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue master hzsdbafd1ef81 state UP group default \\    link/ether a2:ba:f0:ed:de:eb brd ff:ff:ff:ff:ff:ff link-netnsid 0';
    expect(parseLinkEvent(veth)).toMatchObject({ ifname: 'hzsdv12577821', ifindex: 4690, state: { up: true, mtu: 1450, master: 'hzsdbafd1ef81', address: 'a2:ba:f0:ed:de:eb' } });
    const port = '4690: hzsdv12577821@ifb0: <NO-CARRIER,BROADCAST,MULTICAST,UP,M-DOWN> mtu 1450 master hzsdbafd1ef81 state DOWN \\    link/ether a2:ba:f0:ed:de:eb';
    expect(parseLinkEvent(port).state).toEqual({ up: true, mtu: 1450, master: 'hzsdbafd1ef81', address: 'a2:ba:f0:ed:de:eb' });
    const bridge = '4688: hzsdbafd1ef81: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN group default \\    link/ether 56:50:64:2f:77:e7 brd ff:ff:ff:ff:ff:ff';
    expect(parseLinkEvent(bridge).state).toEqual({ up: false, mtu: 1500, address: '56:50:64:2f:77:e7' });
    // A line cut short says nothing of the state.
    expect(parseLinkEvent('7: x1: <BROADCAST').state).toBeUndefined();
  });

  it('nft monitor lines: the table an object line changes, a transaction end with its process', () => {
    // As nftables 1.0.6 prints them (text: its JSON output has no transaction ends).
    expect(parseNftMonitorLine('add table inet t1')).toEqual({ type: 'object', family: 'inet', table: 't1' });
    expect(parseNftMonitorLine('add chain inet nl_a1 c { type filter hook input priority filter; policy accept; }')).toEqual({ type: 'object', family: 'inet', table: 'nl_a1' });
    expect(parseNftMonitorLine('delete rule inet t1 c handle 4')).toEqual({ type: 'object', family: 'inet', table: 't1' });
    expect(parseNftMonitorLine('add element ip6 t2 s { 10.0.0.0/24 }')).toEqual({ type: 'object', family: 'ip6', table: 't2' });
    expect(parseNftMonitorLine('# new generation 5 by process 6543 (nft)')).toEqual({ type: 'generation', generation: 5, pid: 6543, comm: 'nft' });
    expect(parseNftMonitorLine('# new generation 6 by process 12 (my tool)')).toEqual({ type: 'generation', generation: 6, pid: 12, comm: 'my tool' });
    for (const line of ['', 'garbage', 'add table foo t1', '# something else']) expect(parseNftMonitorLine(line)).toBeUndefined();
  });
});
