import { LinuxInputError } from './names';
import { assertTcHandle, assertTcRate, assertTcSize, TcBatch } from './tc-batch';
import { parseTcClasses, parseTcQdiscs } from './tc-parse';

const texts = (b: TcBatch) => b.lines.map((l) => l.text);

describe('TcBatch', () => {
  it('qdiscs: root htb with default and r2q, leaves, tbf, ingress and clsact, with keys', () => {
    const b = new TcBatch('ns1')
      .qdiscAdd({ dev: 'veth0', parent: 'root', handle: '1a2b:', qdisc: { kind: 'htb', defaultClass: 10, r2q: 5 } }, 'r1')
      .qdiscAdd({ dev: 'veth0', parent: '1a2b:a', handle: 'a:', qdisc: { kind: 'fq_codel', limit: 1000 } })
      .qdiscReplace({ dev: 'veth1', handle: '1:', qdisc: { kind: 'tbf', rate: '10mbit', burst: '32k' } })
      .qdiscAdd({ dev: 'veth1', parent: '1:1', qdisc: { kind: 'pfifo' } })
      .qdiscAdd({ dev: 'veth0', qdisc: { kind: 'ingress' } })
      .qdiscAdd({ dev: 'veth2', qdisc: { kind: 'clsact' } })
      .qdiscDel('veth0', 'root')
      .qdiscDel('veth0', 'ingress')
      .qdiscDel('veth0', '1a2b:a');
    expect(b.lines[0]).toEqual({ text: 'qdisc add dev veth0 root handle 1a2b: htb default a r2q 5', key: 'r1' });
    expect(texts(b).slice(1)).toEqual([
      'qdisc add dev veth0 parent 1a2b:a handle a: fq_codel limit 1000',
      'qdisc replace dev veth1 root handle 1: tbf rate 10mbit burst 32k latency 50ms',
      'qdisc add dev veth1 parent 1:1 pfifo',
      'qdisc add dev veth0 ingress',
      'qdisc add dev veth2 clsact',
      'qdisc del dev veth0 root',
      'qdisc del dev veth0 ingress',
      'qdisc del dev veth0 parent 1a2b:a',
    ]);
    expect(b.netns).toBe('ns1');
  });

  it('htb classes: rate, ceil, burst, prio', () => {
    const b = new TcBatch()
      .classAdd({ dev: 'v', parent: '1:', classid: '1:10', rate: '1mbit', ceil: '2mbit', burst: '15k', prio: 1 })
      .classReplace({ dev: 'v', parent: '1:10', classid: '1:11', rate: '500kbit' })
      .classDel('v', '1:11');
    expect(texts(b)).toEqual([
      'class add dev v parent 1: classid 1:10 htb rate 1mbit ceil 2mbit burst 15k prio 1',
      'class replace dev v parent 1:10 classid 1:11 htb rate 500kbit',
      'class del dev v classid 1:11',
    ]);
  });

  it('filters: matchall, u32 and flower matches, classid, police and mirred', () => {
    const b = new TcBatch()
      .filterAdd({ dev: 'v', parent: 'ingress', protocol: 'all', prio: 1, match: { kind: 'matchall' }, actions: [{ police: { rate: '1mbit', burst: '10k' } }] })
      .filterAdd({ dev: 'v', parent: 'ingress', protocol: 'all', prio: 1, match: { kind: 'u32' }, actions: [{ police: { rate: '1mbit', burst: '10k' } }, { redirect: 'ifb0' }] })
      .filterAdd({ dev: 'v', parent: '1:', protocol: 'ip', prio: 2, match: { kind: 'u32', src: '10.0.0.0/24', dst: '10.0.1.5', ipProto: 'tcp' }, classid: '1:10' })
      .filterAdd({ dev: 'v', parent: '1:', protocol: 'ipv6', prio: 3, match: { kind: 'u32', dst: 'fd00::/64' }, classid: '1:11' })
      .filterAdd({ dev: 'v', parent: '1:', protocol: 'ip', prio: 4, match: { kind: 'flower', dst: '10.0.0.2', ipProto: 'udp' }, classid: '1:10' })
      .filterAdd({ dev: 'v', parent: 'clsact-ingress', protocol: 'all', prio: 1, match: { kind: 'matchall' }, actions: [{ redirect: 'ifb0' }] });
    expect(texts(b)).toEqual([
      'filter add dev v parent ffff: protocol all prio 1 matchall action police rate 1mbit burst 10k conform-exceed drop',
      'filter add dev v parent ffff: protocol all prio 1 u32 match u32 0 0 action police rate 1mbit burst 10k conform-exceed drop/pipe action mirred egress redirect dev ifb0',
      'filter add dev v parent 1: protocol ip prio 2 u32 match ip src 10.0.0.0/24 match ip dst 10.0.1.5/32 match ip protocol 6 0xff classid 1:10',
      'filter add dev v parent 1: protocol ipv6 prio 3 u32 match ip6 dst fd00::/64 classid 1:11',
      'filter add dev v parent 1: protocol ip prio 4 flower dst_ip 10.0.0.2/32 ip_proto udp classid 1:10',
      'filter add dev v ingress protocol all prio 1 matchall action mirred egress redirect dev ifb0',
    ]);
  });

  it('refuses anything that would add a token or a line', () => {
    const bad: (() => unknown)[] = [
      () => new TcBatch().qdiscAdd({ dev: 'v 0', qdisc: { kind: 'pfifo' } }),
      () => new TcBatch().qdiscAdd({ dev: 'v', handle: '1:\n', qdisc: { kind: 'pfifo' } }),
      () => new TcBatch().qdiscAdd({ dev: 'v', handle: '1:5', qdisc: { kind: 'pfifo' } }),
      () => new TcBatch().qdiscAdd({ dev: 'v', qdisc: { kind: 'tbf', rate: '10 mbit', burst: '1k' } }),
      () => new TcBatch().qdiscAdd({ dev: 'v', qdisc: { kind: 'tbf', rate: '10mbit', burst: '1k; reboot' } }),
      () => new TcBatch().qdiscAdd({ dev: 'v', qdisc: { kind: 'netem' } as never }),
      () => new TcBatch().qdiscAdd({ dev: 'v', parent: 'root', qdisc: { kind: 'ingress' } }),
      () => new TcBatch().qdiscAdd({ dev: 'v', handle: '1:', qdisc: { kind: 'htb', defaultClass: 0x10000 } }),
      () => new TcBatch().classAdd({ dev: 'v', parent: '1:', classid: '1:', rate: '1mbit' }),
      () => new TcBatch().classAdd({ dev: 'v', parent: '1:', classid: '1:1', rate: '1mbit', prio: 8 }),
      () => new TcBatch().filterAdd({ dev: 'v', parent: '1:', protocol: 'all', prio: 1, match: { kind: 'u32', dst: '10.0.0.1' }, classid: '1:1' }),
      () => new TcBatch().filterAdd({ dev: 'v', parent: '1:', protocol: 'ip', prio: 1, match: { kind: 'u32', dst: 'fd00::1' }, classid: '1:1' }),
      () => new TcBatch().filterAdd({ dev: 'v', parent: '1:', protocol: 'ip', prio: 1, match: { kind: 'u32' } }),
      () => new TcBatch().filterAdd({ dev: 'v', parent: '1:', protocol: 'ip', prio: 0, match: { kind: 'u32' }, classid: '1:1' }),
      () => new TcBatch().filterAdd({ dev: 'v', parent: 'ingress', protocol: 'all', prio: 1, match: { kind: 'u32' }, actions: [{ redirect: '-x' }] }),
      () => new TcBatch('bad ns'),
    ];
    for (const f of bad) expect(f).toThrow(LinuxInputError);
  });

  it('validates rates, sizes and handles', () => {
    for (const ok of ['1bit', '800kbit', '10mbit', '1gbit']) expect(assertTcRate(ok)).toBe(ok);
    for (const no of ['', '0mbit', '10', '10Mbit', '1.5mbit', '10mbps', '-1mbit']) expect(() => assertTcRate(no)).toThrow(LinuxInputError);
    for (const ok of ['1600', '32k', '1mb', '15kb']) expect(assertTcSize(ok)).toBe(ok);
    for (const no of ['', '0', '32 k', 'k']) expect(() => assertTcSize(no)).toThrow(LinuxInputError);
    for (const ok of ['1:', '1:a', 'abcd:ffff']) expect(assertTcHandle(ok)).toBe(ok);
    for (const no of ['0:', 'ffff:', '1', '12345:', '1:g', 'A:', ':1']) expect(() => assertTcHandle(no)).toThrow(LinuxInputError);
  });
});

describe('tc output', () => {
  it('reads qdiscs from tc -s -j', () => {
    const out = '[{"kind":"htb","handle":"1:","dev":"va","root":true,"refcnt":3,"options":{},"bytes":636,"packets":8,"drops":1,"overlimits":2,"requeues":0,"backlog":3,"qlen":4},{"kind":"ingress","handle":"ffff:","parent":"ffff:fff1","options":{}}]';
    expect(parseTcQdiscs(out)).toEqual([
      { dev: 'va', kind: 'htb', handle: '1:', parent: 'root', bytes: 636, packets: 8, drops: 1, overlimits: 2, backlog: 3, qlen: 4 },
      { kind: 'ingress', handle: 'ffff:', parent: 'ffff:fff1', bytes: 0, packets: 0, drops: 0, overlimits: 0, backlog: 0, qlen: 0 },
    ]);
    expect(parseTcQdiscs('')).toEqual([]);
  });

  it('reads classes as iproute2 6.1 prints them (text) and as JSON', () => {
    const text = [
      'class htb 1:10 root prio 0 rate 1Mbit ceil 1Mbit burst 15Kb cburst 1600b ',
      ' Sent 636 bytes 8 pkt (dropped 2, overlimits 5 requeues 0) ',
      ' backlog 3Kb 2p requeues 0',
      ' lended: 8 borrowed: 0 giants: 0',
      'class htb 1:11 parent 1:10 leaf 11: prio 0 rate 1Mbit ceil 1Mbit burst 15Kb cburst 1600b ',
      ' Sent 0 bytes 0 pkt (dropped 0, overlimits 0 requeues 0) ',
      ' backlog 0b 0p requeues 0',
    ].join('\n');
    expect(parseTcClasses(text)).toEqual([
      { kind: 'htb', classid: '1:10', parent: 'root', bytes: 636, packets: 8, drops: 2, overlimits: 5, backlog: 3072 },
      { kind: 'htb', classid: '1:11', parent: '1:10', bytes: 0, packets: 0, drops: 0, overlimits: 0, backlog: 0 },
    ]);
    expect(parseTcClasses('[{"class":"htb","handle":"1:a","parent":"1:","bytes":5,"packets":1,"drops":0,"overlimits":0,"backlog":0}]')).toEqual([
      { kind: 'htb', classid: '1:a', parent: '1:', bytes: 5, packets: 1, drops: 0, overlimits: 0, backlog: 0 },
    ]);
  });
});
