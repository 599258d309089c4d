import type { Linux, TcBatch, TcQdiscView } from '@netloom/linux';
import type { TcDevice } from './host-context';
import { TrafficControl } from './tc';

const view = (dev: string, kind: string, handle: string, parent: string): TcQdiscView => ({ dev, kind, handle, parent, bytes: 0, packets: 0, drops: 0, overlimits: 0, backlog: 0, qlen: 0 });

/** A TrafficControl over a kernel stand-in: `qdiscs` is what a listing shows, the batches run are kept. */
function setup(qdiscs: TcQdiscView[] = [view('v0', 'noqueue', '0:', 'root')], refuse: (line: string) => string | undefined = () => undefined) {
  const batches: TcBatch[] = [];
  const linux = {
    tcQdiscs: jest.fn(() => Promise.resolve(qdiscs)),
    applyTcBatch: jest.fn((b: TcBatch) => {
      batches.push(b);
      const failed = b.lines.flatMap((l, i) => {
        const error = refuse(l.text);
        return error === undefined ? [] : [{ line: i + 1, text: l.text, key: l.key, error }];
      });
      return Promise.resolve({ ok: failed.length === 0, failed });
    }),
  } as unknown as Linux;
  const tc = new TrafficControl({
    linux,
    pluginId: 'p',
    tag: 'abc',
    hostNetns: 'hostns',
    place: (dev, netns) => {
      if (netns === undefined && !dev.startsWith('v')) throw new Error(`refused ${dev}`);
      return netns ?? 'hostns';
    },
    ifb: (name) => {
      if (!name.startsWith('ifb')) throw new Error(`refused ifb ${name}`);
    },
  });
  return { tc, linux, batches, texts: () => batches.flatMap((b) => b.lines.map((l) => l.text)) };
}

describe('TrafficControl lines', () => {
  it('HTB classes with leaves and matches, policed and redirected ingress: marked handles, one batch, keyed', async () => {
    const { tc, batches, texts } = setup();
    const device: TcDevice = {
      dev: 'v0',
      key: 'r1',
      root: {
        kind: 'htb',
        defaultClass: 20,
        classes: [
          { id: 1, rate: '10mbit' },
          { id: 10, parent: 1, rate: '2mbit', ceil: '10mbit', prio: 0, leaf: { kind: 'fq_codel' }, match: [{ dst: '10.0.0.0/24', ipProto: 'udp' }, { src: 'fd00::1' }] },
          { id: 20, parent: 1, rate: '1mbit', leaf: { kind: 'pfifo', limit: 50 } },
        ],
      },
      ingress: { police: { rate: '5mbit' }, redirectToIfb: 'ifb0' },
    };
    expect(await tc.ensure([device])).toEqual({ ok: true, failed: [] });
    expect(batches).toHaveLength(1);
    expect(batches[0].netns).toBe('hostns');
    expect(batches[0].lines.every((l) => l.key === 'r1')).toBe(true);
    expect(texts()).toEqual([
      'qdisc add dev v0 root handle 1abc: htb default 14',
      'class add dev v0 parent 1abc: classid 1abc:1 htb rate 10mbit ceil 10mbit',
      'class add dev v0 parent 1abc:1 classid 1abc:a htb rate 2mbit ceil 10mbit prio 0',
      'qdisc add dev v0 parent 1abc:a handle a: fq_codel',
      'class add dev v0 parent 1abc:1 classid 1abc:14 htb rate 1mbit ceil 1mbit',
      'qdisc add dev v0 parent 1abc:14 handle 14: pfifo limit 50',
      'filter add dev v0 parent 1abc: protocol ip prio 1 u32 match ip dst 10.0.0.0/24 match ip protocol 17 0xff classid 1abc:a',
      'filter add dev v0 parent 1abc: protocol ipv6 prio 2 u32 match ip6 src fd00::1/128 classid 1abc:a',
      'qdisc add dev v0 ingress',
      'filter add dev v0 parent ffff: protocol all prio 1 u32 match u32 0 0 action police rate 5mbit burst 32k conform-exceed drop/pipe action mirred egress redirect dev ifb0',
    ]);
  });

  it('a changed device: what is there deleted first, in the same batch; GC deletes only a root with the mark', async () => {
    const listed = [view('v0', 'htb', '1abc:', 'root'), view('v0', 'ingress', 'ffff:', 'ffff:fff1'), view('v1', 'htb', '1abc:', 'root'), view('v2', 'htb', '5:', 'root')];
    const { tc, texts } = setup(listed);
    // First call: the host namespace's marked roots (v0, v1) are taken over; v1 is not given: its root goes, v2 is not the plugin's.
    await tc.ensure([{ dev: 'v0', root: { kind: 'tbf', rate: '1mbit' } }]);
    expect(texts()).toEqual([
      'qdisc del dev v0 root',
      'qdisc del dev v0 ingress',
      'qdisc add dev v0 root handle 1abc: tbf rate 1mbit burst 32k latency 50ms',
      'qdisc del dev v1 root',
    ]);
  });

  it('a delete that fails (what it deleted went) is no failure; an add that fails is, keyed, and tried again next call', async () => {
    const listed = [view('v0', 'htb', '1abc:', 'root'), view('v1', 'noqueue', '0:', 'root')];
    const { tc, batches } = setup(listed, (line) => (line.startsWith('qdisc del') ? 'Cannot find device "v0"' : line.includes('dev v1') ? 'Error: Specified qdisc kind is unknown.' : undefined));
    const result = await tc.ensure([{ dev: 'v1', key: 'r1', root: { kind: 'tbf', rate: '1mbit' } }]);
    expect(result).toEqual({ ok: false, failed: [{ key: 'r1', line: 'qdisc add dev v1 root handle 1abc: tbf rate 1mbit burst 32k latency 50ms', error: 'Error: Specified qdisc kind is unknown.' }] });
    expect(batches.flatMap((b) => b.lines.map((l) => l.text))).toContain('qdisc del dev v0 root');
    await tc.ensure([{ dev: 'v1', key: 'r1', root: { kind: 'tbf', rate: '1mbit' } }]);
    expect(batches).toHaveLength(2);
    expect(batches[1].lines.map((l) => l.text)).toEqual(['qdisc add dev v1 root handle 1abc: tbf rate 1mbit burst 32k latency 50ms']);
  });

  it('refuses a device or ifb out of scope, a device given twice, and bad HTB trees, before anything is read or run', async () => {
    const { tc, linux } = setup();
    const htb = (classes: unknown, defaultClass?: number): TcDevice => ({ dev: 'v0', root: { kind: 'htb', classes: classes as never, defaultClass } });
    const cases: [TcDevice[], RegExp][] = [
      [[{ dev: 'eth0' }], /refused eth0/],
      [[{ dev: 'v0', ingress: { redirectToIfb: 'x' } }], /refused ifb x/],
      [[{ dev: 'v0' }, { dev: 'v0' }], /given twice/],
      [[htb([{ id: 0, rate: '1mbit' }])], /class id is an integer 1-4095/],
      [[htb([{ id: 4096, rate: '1mbit' }])], /class id is an integer 1-4095/],
      [[htb([{ id: 2, rate: '1mbit' }, { id: 2, rate: '1mbit' }])], /given twice/],
      [[htb([{ id: 3, parent: 4, rate: '1mbit' }, { id: 4, rate: '1mbit' }])], /must be listed before it/],
      [[htb([{ id: 3, rate: '1mbit', leaf: { kind: 'pfifo' } }, { id: 4, parent: 3, rate: '1mbit' }])], /takes no leaf/],
      [[htb([{ id: 3, rate: '1mbit' }], 9)], /default class 9/],
      [[htb([{ id: 3, rate: '1mbit', match: [{}] }])], /a match names src, dst or ipProto/],
      [[htb([{ id: 3, rate: '1mbit', match: [{ dst: '10.0.0.1', family: 6 }] }])], /IPv6/],
      [[htb([{ id: 3, rate: 'fast' }])], /invalid tc rate/],
      [[{ dev: 'v0', root: { kind: 'netem' } as never }], /expected tbf or htb/],
      [[{ dev: 'v0', ingress: { police: { rate: '1mbit', burst: '1k\nqdisc del dev eth0 root' } } }], /invalid tc size/],
    ];
    for (const [devices, error] of cases) await expect(tc.ensure(devices)).rejects.toThrow(error);
    expect(linux.tcQdiscs).not.toHaveBeenCalled();
    expect(linux.applyTcBatch).not.toHaveBeenCalled();
  });
});
