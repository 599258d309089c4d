import { LinkInfo, Linux, parseLinkEvent } from '@netloom/linux';
import { LinkCache } from './link-cache';

/** A kernel of links the test edits, read through the two calls the cache makes (anything else fails). */
function fakeKernel() {
  const links = new Map<string, LinkInfo>();
  const reads: string[] = [];
  let hold: Promise<void> | undefined;
  const linux = {
    async links() {
      reads.push('*');
      await hold;
      return [...links.values()].map((l) => ({ ...l }));
    },
    async link(name: string) {
      reads.push(name);
      const snapshot = links.get(name);
      await hold;
      return snapshot ? { ...snapshot } : null;
    },
  } as unknown as Linux;
  return {
    linux,
    links,
    reads,
    /** Reads block until the returned function is called. */
    holdReads: () => {
      let release!: () => void;
      hold = new Promise((r) => (release = r));
      return () => {
        hold = undefined;
        release();
      };
    },
  };
}

const veth = (extra: Partial<LinkInfo> = {}): LinkInfo => ({ ifname: 'nlv00000001', ifindex: 7, kind: 'veth', master: 'nlb00000001', mtu: 1450, address: '02:00:00:00:00:07', up: true, ...extra });
/** An `ip -o monitor link` line for a link in state `l`. */
const line = (l: LinkInfo, flags = l.up ? 'BROADCAST,MULTICAST,UP,LOWER_UP' : 'BROADCAST,MULTICAST'): string =>
  `${l.ifindex}: ${l.ifname}@if2: <${flags}> mtu ${l.mtu} qdisc noqueue ${l.master ? `master ${l.master} ` : ''}state UP group default \\    link/ether ${l.address} brd ff:ff:ff:ff:ff:ff link-netnsid 0`;

describe('LinkCache', () => {
  const owns = (name: string) => name.startsWith('nl');
  const plugins = (name: string) => name.startsWith('nlq');

  it('reads everything first, then only what events named', async () => {
    const k = fakeKernel();
    k.links.set('nlv00000001', veth());
    const cache = new LinkCache(k.linux, owns, plugins);
    expect([...(await cache.read()).keys()]).toEqual(['nlv00000001']);
    await cache.read();
    expect(k.reads).toEqual(['*']);
    expect(cache.pending).toBe(false);
  });

  it('takes an event showing a link as read for no news (a carrier change), and one that differs for news', async () => {
    const k = fakeKernel();
    k.links.set('nlv00000001', veth());
    const cache = new LinkCache(k.linux, owns, plugins);
    await cache.read();
    expect(cache.event(parseLinkEvent(line(veth(), 'NO-CARRIER,BROADCAST,MULTICAST,UP')))).toBe(false);
    expect(cache.pending).toBe(false);
    // Its MAC does not matter for a core link (a bridge's follows its ports').
    expect(cache.event(parseLinkEvent(line(veth({ address: '02:00:00:00:00:99' }))))).toBe(false);
    for (const changed of [veth({ up: false }), veth({ mtu: 1400 }), veth({ master: undefined }), veth({ ifindex: 9 })]) {
      expect(cache.event(parseLinkEvent(line(changed)))).toBe(true);
      expect(cache.pending).toBe(true);
      // The latest event shows it as read again: settled, nothing to read.
      expect(cache.event(parseLinkEvent(line(veth())))).toBe(false);
      expect(cache.pending).toBe(false);
    }
    expect(cache.event(parseLinkEvent(`Deleted ${line(veth())}`))).toBe(true);
    expect(cache.event(parseLinkEvent('garbage'))).toBe(true);
    expect(cache.event(parseLinkEvent(line(veth({ ifname: 'other0' }))))).toBe(false);
  });

  it("minds a plugin link's MAC", async () => {
    const k = fakeKernel();
    const leg = veth({ ifname: 'nlq1a2b3c4d' });
    k.links.set(leg.ifname, leg);
    const cache = new LinkCache(k.linux, owns, plugins);
    await cache.read();
    expect(cache.event(parseLinkEvent(line({ ...leg, address: '02:00:00:00:00:99' })))).toBe(true);
  });

  it('settles what a read begun after the event saw, and what an event during the read showed as read', async () => {
    const k = fakeKernel();
    const cache = new LinkCache(k.linux, owns, plugins);
    await cache.read();
    // A veth being made: its first events come before it is read back.
    const made = veth();
    k.links.set(made.ifname, made);
    expect(cache.event(parseLinkEvent(line(veth({ up: false, master: undefined }))))).toBe(true);
    // Verified after: the read settles the earlier mark.
    await cache.refresh([made.ifname]);
    expect(cache.pending).toBe(false);
    // An event arriving while a read runs: if it shows what the read found, settled too.
    const release = k.holdReads();
    const reading = cache.refresh([made.ifname]);
    expect(cache.event(parseLinkEvent(line(veth({ mtu: 1400 }))))).toBe(true);
    expect(cache.event(parseLinkEvent(line(veth())))).toBe(false);
    release();
    await reading;
    expect(cache.pending).toBe(false);
    // One showing something else stays to be read.
    const again = k.holdReads();
    const second = cache.refresh([made.ifname]);
    expect(cache.event(parseLinkEvent(line(veth({ mtu: 1400 }))))).toBe(true);
    again();
    await second;
    expect(cache.pending).toBe(true);
  });

  it('settle() reads what is marked and says whether any of it changed as a pass cares', async () => {
    const k = fakeKernel();
    k.links.set('nlv00000001', veth());
    const cache = new LinkCache(k.linux, owns, plugins);
    await cache.read();
    expect(await cache.settle()).toBe(false);
    expect(k.reads).toEqual(['*']);
    // A step of a change seen late, the link as before: no pass.
    cache.event(parseLinkEvent(line(veth({ up: false }))));
    expect(await cache.settle()).toBe(false);
    // Taken down for real: a pass.
    k.links.set('nlv00000001', veth({ up: false }));
    cache.event(parseLinkEvent(line(veth({ up: false }))));
    expect(await cache.settle()).toBe(true);
    // Gone.
    k.links.delete('nlv00000001');
    cache.event(parseLinkEvent(`Deleted ${line(veth({ up: false }))}`));
    expect(await cache.settle()).toBe(true);
    expect((await cache.read()).size).toBe(0);
    expect(k.reads).toEqual(['*', 'nlv00000001', 'nlv00000001', 'nlv00000001']);
  });

  it('reads only the links a reader asks for', async () => {
    const k = fakeKernel();
    const leg = veth({ ifname: 'nlq1a2b3c4d', ifindex: 8 });
    k.links.set('nlv00000001', veth());
    k.links.set(leg.ifname, leg);
    const cache = new LinkCache(k.linux, owns, plugins);
    await cache.read();
    cache.touched('nlv00000001');
    cache.touched(leg.ifname);
    expect([...(await cache.read(plugins)).keys()]).toEqual([leg.ifname]);
    expect(k.reads).toEqual(['*', leg.ifname]);
    expect(cache.pending).toBe(true);
  });
});
