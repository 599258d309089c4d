import { IpBatch, LinkInfo } from '@netloom/linux';
import { DesiredResource, NetworkSpec, PortSpec, RemotePort, ResourceKind, VxlanSpec } from '@netloom/model';
import { Names } from './naming';
import { FLOOD_MAC, networksToInspect, Observed, OverlayEntries, plan, Plan, PlanInput, portsToInspect, specHash } from './plan';

// Fixtures: everything is derived from ids through one Names, as the agent does.
const names = new Names('nl', 'host-a');
const BR = names.bridge('net-1'); // nlb17d5a8f0
const V1 = names.veth('port-1');
const V2 = names.veth('port-2');
const NS1 = names.portNetns('port-1');
const NS2 = names.portNetns('port-2');

const network = (id = 'net-1', spec: Partial<NetworkSpec> = {}): DesiredResource<NetworkSpec> => ({
  kind: ResourceKind.Network,
  id,
  generation: 1,
  spec: { vni: 100, mtu: 1450, vxlan: null, ...spec },
});

const MAC: Record<string, string> = { 'port-1': '02:00:0a:00:00:02', 'port-2': '02:00:0a:00:00:03' };

const port = (id: string, spec: Partial<PortSpec> = {}): DesiredResource<PortSpec> => ({
  kind: ResourceKind.Port,
  id,
  generation: 1,
  spec: {
    networkId: 'net-1',
    mac: MAC[id] ?? '02:00:0a:00:00:ff',
    mtu: 1450,
    addresses: [{ cidr: id === 'port-2' ? '10.0.0.3/24' : '10.0.0.2/24', family: 4 }],
    routes: [{ dst: 'default', via: '10.0.0.1', family: 4 }],
    netns: null,
    ...spec,
  },
});

let ifindex = 10;
const bridgeLink = (ifname: string, over: Partial<LinkInfo> = {}): LinkInfo => ({ ifname, ifindex: ifindex++, kind: 'bridge', mtu: 1450, up: true, ...over });
const vethLink = (ifname: string, master: string | undefined, over: Partial<LinkInfo> = {}): LinkInfo => ({
  ifname,
  ifindex: ifindex++,
  kind: 'veth',
  mtu: 1450,
  up: true,
  ...(master === undefined ? {} : { master }),
  ...over,
});
const device = (ifname: string, kind?: string): LinkInfo => ({ ifname, ifindex: ifindex++, mtu: 1500, up: true, ...(kind ? { kind } : {}) });

const observedOf = ({
  links = [],
  netns = [],
  portAddresses = {},
  overlay = {},
}: { links?: LinkInfo[]; netns?: string[]; portAddresses?: Record<string, string[]>; overlay?: Record<string, OverlayEntries> } = {}): Observed => ({
  links: new Map(links.map((l) => [l.ifname, l])),
  netns: new Set(netns),
  portAddresses: new Map(Object.entries(portAddresses)),
  overlay: new Map(Object.entries(overlay)),
});

/** The kernel as the agent leaves it once `desired` is applied, and the hashes it then remembers. */
function converged(desired: DesiredResource[]): { observed: Observed; applied: Map<string, string> } {
  const links: LinkInfo[] = [];
  const netns: string[] = [];
  const applied = new Map<string, string>();
  for (const r of desired) {
    if (r.kind === ResourceKind.Network) links.push(bridgeLink(names.bridge(r.id), { mtu: (r.spec as NetworkSpec).mtu }));
    if (r.kind === ResourceKind.Port) {
      const spec = r.spec as PortSpec;
      links.push(vethLink(names.veth(r.id), names.bridge(spec.networkId), { mtu: spec.mtu }));
      netns.push(spec.netns ?? names.portNetns(r.id));
      applied.set(r.id, specHash(r));
    }
  }
  return { observed: observedOf({ links, netns }), applied };
}

const run = (desired: DesiredResource[], observed: Observed, rest: Partial<Omit<PlanInput, 'desired' | 'observed'>> = {}): Plan =>
  plan({ desired, observed, applied: new Map(), names, ...rest });

const texts = (b: IpBatch): string[] => b.lines.map((l) => l.text);
const root = (p: Plan): string[] => texts(p.root);
/** In-namespace batches as { netns: lines }, in plan order (the object keeps insertion order). */
const inNs = (p: Plan): Record<string, string[]> => Object.fromEntries(p.inNetns.map((b) => [b.netns!, texts(b)]));
const keysOf = (b: IpBatch): string[] => [...new Set(b.lines.map((l) => l.key))].map(String);

const bridgeCreate = [`link add name ${BR} type bridge mcast_snooping 0`, `link set dev ${BR} mtu 1450 alias netloom:network:net-1 addrgenmode none`, `link set dev ${BR} up`];
const vethCreate = (id: string, peer = 'eth0', ns = names.portNetns(id), mtu = 1450): string[] => [
  `link add name ${names.veth(id)} mtu ${mtu} master ${BR} type veth peer name ${peer} mtu ${mtu} netns ${ns}`,
  `link set dev ${names.veth(id)} alias netloom:port:${id} addrgenmode none`,
  `link set dev ${names.veth(id)} up`,
];
const configure = (id: string, { ifname = 'eth0', owned = true, cidr = port(id).spec.addresses[0].cidr, stale = [] as string[] } = {}): string[] => [
  ...stale.map((s) => `addr del ${s} dev ${ifname}`),
  ...(owned ? ['link set dev lo up'] : []),
  `link set dev ${ifname} addrgenmode none`,
  `link set dev ${ifname} mtu 1450 address ${MAC[id]}`,
  `link set dev ${ifname} up`,
  `addr replace ${cidr} dev ${ifname}`,
  `route replace default via 10.0.0.1 dev ${ifname}`,
];

/**
 * A small fake of the root namespace: applies root-batch lines to the observed links and
 * namespaces the way `ip` would, and throws where `ip` would fail (File exists, Cannot find device).
 */
function applyRoot(observed: Observed, batch: IpBatch): Observed {
  const links = new Map([...observed.links].map(([k, v]) => [k, { ...v }]));
  const netns = new Set(observed.netns);
  const need = (name: string): LinkInfo => {
    const l = links.get(name);
    if (!l) throw new Error(`Cannot find device "${name}"`);
    return l;
  };
  for (const { text } of batch.lines) {
    const w = text.split(' ');
    const opt = (word: string): string | undefined => (w.includes(word) ? w[w.indexOf(word) + 1] : undefined);
    if (w[0] === 'netns') {
      if (w[1] === 'add') {
        if (netns.has(w[2])) throw new Error(`Cannot create namespace "${w[2]}": File exists`);
        netns.add(w[2]);
      } else if (!netns.delete(w[2])) throw new Error(`Cannot remove namespace "${w[2]}"`);
    } else if (text.startsWith('link add name ')) {
      if (links.has(w[3])) throw new Error('RTNETLINK answers: File exists');
      const head = w.slice(0, w.indexOf('type'));
      const master = head.includes('master') ? head[head.indexOf('master') + 1] : undefined;
      if (master !== undefined) need(master);
      if (opt('netns') !== undefined && !netns.has(opt('netns')!)) throw new Error(`Invalid "netns" value "${opt('netns')}"`);
      const kind = w[w.indexOf('type') + 1];
      links.set(w[3], { ifname: w[3], ifindex: ifindex++, kind, mtu: Number(opt('mtu') ?? 1500), up: head.includes('up'), ...(master ? { master } : {}) });
    } else if (text.startsWith('link set dev ')) {
      const l = need(w[3]);
      if (w[4] === 'up') l.up = true;
      if (w.includes('down')) l.up = false;
      if (opt('mtu') !== undefined) l.mtu = Number(opt('mtu'));
      if (opt('master') !== undefined) l.master = need(opt('master')!).ifname;
      if (opt('alias') !== undefined) l.alias = opt('alias');
      if (opt('addrgenmode') !== undefined) l.addrGenMode = opt('addrgenmode');
    } else if (text.startsWith('link del dev ')) {
      need(w[3]);
      links.delete(w[3]);
      for (const l of links.values()) if (l.master === w[3]) delete l.master;
    } else throw new Error(`fake kernel: unexpected line ${text}`);
  }
  return { links, netns, portAddresses: new Map(), overlay: new Map() };
}

/** Plans, applies the root batch to the fake, records the changed hashes, and plans again. */
function replanAfterApply(desired: DesiredResource[], observed: Observed, applied: Map<string, string>, skip?: Set<string>): Plan {
  const first = run(desired, observed, { applied, skip });
  const after = applyRoot(observed, first.root);
  const nextApplied = new Map(applied);
  for (const [key, hash] of first.changed) if (key.startsWith('Port/')) nextApplied.set(key.slice('Port/'.length), hash);
  return run(desired, after, { applied: nextApplied, skip });
}

const desired3 = (): DesiredResource[] => [network(), port('port-1'), port('port-2')];

describe('plan', () => {
  describe('empty kernel, one network and two ports in namespaces of their own', () => {
    const p = run(desired3(), observedOf());

    it('root batch: bridge first, then per port its namespace and veth', () => {
      expect(root(p)).toEqual([
        ...bridgeCreate,
        `netns add ${NS1}`,
        ...vethCreate('port-1'),
        `netns add ${NS2}`,
        ...vethCreate('port-2'),
      ]);
      expect(root(p)).toEqual([
        'link add name nlb17d5a8f0 type bridge mcast_snooping 0',
        'link set dev nlb17d5a8f0 mtu 1450 alias netloom:network:net-1 addrgenmode none',
        'link set dev nlb17d5a8f0 up',
        'netns add nl-c151e3-133c41404c',
        'link add name nlv133c4140 mtu 1450 master nlb17d5a8f0 type veth peer name eth0 mtu 1450 netns nl-c151e3-133c41404c',
        'link set dev nlv133c4140 alias netloom:port:port-1 addrgenmode none',
        'link set dev nlv133c4140 up',
        'netns add nl-c151e3-51490ed81d',
        'link add name nlv51490ed8 mtu 1450 master nlb17d5a8f0 type veth peer name eth0 mtu 1450 netns nl-c151e3-51490ed81d',
        'link set dev nlv51490ed8 alias netloom:port:port-2 addrgenmode none',
        'link set dev nlv51490ed8 up',
      ]);
      expect(p.root.netns).toBeUndefined();
    });

    it('every line carries the key of the resource it serves', () => {
      expect(p.root.lines.map((l) => l.key)).toEqual([
        ...Array<string>(3).fill('Network/net-1'),
        ...Array<string>(4).fill('Port/port-1'),
        ...Array<string>(4).fill('Port/port-2'),
      ]);
      for (const b of p.inNetns) expect(keysOf(b)).toEqual([b.netns === NS1 ? 'Port/port-1' : 'Port/port-2']);
    });

    it('one batch per namespace: lo up, addrgenmode none before up, address and mtu, up, address, default route', () => {
      expect(inNs(p)).toEqual({
        [NS1]: [
          'link set dev lo up',
          'link set dev eth0 addrgenmode none',
          'link set dev eth0 mtu 1450 address 02:00:0a:00:00:02',
          'link set dev eth0 up',
          'addr replace 10.0.0.2/24 dev eth0',
          'route replace default via 10.0.0.1 dev eth0',
        ],
        [NS2]: configure('port-2'),
      });
      expect(p.inNetns.map((b) => b.netns)).toEqual([NS1, NS2]);
    });

    it('changed holds all three keys with their spec hashes; no failures; attributes name what was made', () => {
      const [n, p1, p2] = desired3();
      expect(p.changed).toEqual(
        new Map([
          ['Network/net-1', specHash(n)],
          ['Port/port-1', specHash(p1)],
          ['Port/port-2', specHash(p2)],
        ]),
      );
      expect(p.failures).toEqual([]);
      expect(p.attributes).toEqual(
        new Map([
          ['Network/net-1', { bridge: BR }],
          ['Port/port-1', { netns: NS1, interface: 'eth0', hostInterface: V1, bridge: BR }],
          ['Port/port-2', { netns: NS2, interface: 'eth0', hostInterface: V2, bridge: BR }],
        ]),
      );
    });

    it('the fake kernel accepts the root batch and the next plan is empty', () => {
      const again = replanAfterApply(desired3(), observedOf(), new Map());
      expect(root(again)).toEqual([]);
      expect(again.inNetns).toEqual([]);
      expect(again.changed.size).toBe(0);
    });
  });

  describe('idempotence: applying the same state again runs no mutating command', () => {
    it('observed matching, applied hashes current → empty root and namespace batches, nothing changed', () => {
      const { observed, applied } = converged(desired3());
      const p = run(desired3(), observed, { applied });
      expect(root(p)).toEqual([]);
      expect(p.inNetns.every((b) => b.length === 0)).toBe(true);
      expect(p.inNetns).toEqual([]);
      expect(p.changed.size).toBe(0);
      expect(p.failures).toEqual([]);
      // Attributes are reported every time, changed or not.
      expect([...p.attributes.keys()]).toEqual(['Network/net-1', 'Port/port-1', 'Port/port-2']);
    });

    it('is a pure function: same input, same plan; inputs not mutated', () => {
      const { observed, applied } = converged(desired3());
      const before = JSON.stringify([[...observed.links], [...observed.netns], [...applied]]);
      const a = run(desired3(), observed, { applied });
      const b = run(desired3(), observed, { applied });
      expect(a).toEqual(b);
      expect(JSON.stringify([[...observed.links], [...observed.netns], [...applied]])).toBe(before);
    });

    it('ignores what it does not manage: alias, addrgenmode, ifindex, operstate of our links, and foreign links', () => {
      const { observed, applied } = converged(desired3());
      for (const l of observed.links.values()) Object.assign(l, { operstate: 'LOWER_LAYER_DOWN', addrGenMode: 'eui64', alias: 'x' });
      observed.links.set('eth0', device('eth0'));
      observed.links.set('lo', device('lo'));
      const p = run(desired3(), observed, { applied });
      expect(root(p)).toEqual([]);
      expect(p.inNetns).toEqual([]);
    });
  });

  describe('drift: the kernel changed behind our back', () => {
    it('veth of one port deleted by hand → only that veth is re-created and its namespace re-configured', () => {
      const { observed, applied } = converged(desired3());
      observed.links.delete(V2);
      const p = run(desired3(), observed, { applied });
      expect(root(p)).toEqual(vethCreate('port-2'));
      expect(inNs(p)).toEqual({ [NS2]: configure('port-2') });
      expect([...p.changed.keys()]).toEqual(['Port/port-2']);
      expect(p.failures).toEqual([]);
    });

    it.each([
      ['down', { up: false }],
      ['with the wrong MTU', { mtu: 1500 }],
      ['down and with the wrong MTU', { up: false, mtu: 9000 }],
    ])('bridge %s → one linkSet fixing it (mtu, then up)', (_what, drift) => {
      const { observed, applied } = converged(desired3());
      Object.assign(observed.links.get(BR)!, drift);
      const p = run(desired3(), observed, { applied });
      expect(root(p)).toEqual([`link set dev ${BR} mtu 1450`, `link set dev ${BR} up`]);
      expect(p.root.lines.map((l) => l.key)).toEqual(['Network/net-1', 'Network/net-1']);
      expect(p.inNetns).toEqual([]);
      expect([...p.changed.keys()]).toEqual(['Network/net-1']);
    });

    it.each([
      ['on the wrong master', { master: 'docker0' }],
      ['on no master (its bridge was re-created)', { master: undefined }],
      ['down', { up: false }],
      ['with the wrong MTU', { mtu: 1500 }],
    ])('veth %s → linkSet with master, mtu and up; nothing inside the namespace', (_what, drift) => {
      const { observed, applied } = converged(desired3());
      Object.assign(observed.links.get(V1)!, drift);
      const p = run(desired3(), observed, { applied });
      expect(root(p)).toEqual([`link set dev ${V1} mtu 1450 master ${BR}`, `link set dev ${V1} up`]);
      expect(keysOf(p.root)).toEqual(['Port/port-1']);
      expect(p.inNetns).toEqual([]);
      // Same spec: the remembered hash does not move.
      expect(p.changed).toEqual(new Map([['Port/port-1', applied.get('port-1')]]));
    });

    it('bridge deleted by hand (its veths left without master) → bridge re-created before the veths rejoin it', () => {
      const { observed, applied } = converged(desired3());
      observed.links.delete(BR);
      for (const v of [V1, V2]) delete observed.links.get(v)!.master;
      const p = run(desired3(), observed, { applied });
      expect(root(p)).toEqual([
        ...bridgeCreate,
        `link set dev ${V1} mtu 1450 master ${BR}`,
        `link set dev ${V1} up`,
        `link set dev ${V2} mtu 1450 master ${BR}`,
        `link set dev ${V2} up`,
      ]);
      expect(p.inNetns).toEqual([]);
    });

    it('a namespace of ours deleted with its port (veth gone with it) → both re-created, namespace configured', () => {
      const { observed, applied } = converged(desired3());
      observed.netns.delete(NS1);
      observed.links.delete(V1);
      const p = run(desired3(), observed, { applied });
      expect(root(p)).toEqual([`netns add ${NS1}`, ...vethCreate('port-1')]);
      expect(inNs(p)).toEqual({ [NS1]: configure('port-1') });
    });

    it('a namespace of ours is missing but its veth survived (namespace held open) → the pair is re-created into the new namespace', () => {
      // A fresh namespace cannot hold the old peer: configuring eth0 there alone would fail forever.
      const { observed, applied } = converged(desired3());
      observed.netns.delete(NS1);
      const p = run(desired3(), observed, { applied });
      expect(root(p)).toEqual([`netns add ${NS1}`, `link del dev ${V1}`, ...vethCreate('port-1')]);
      expect(inNs(p)).toEqual({ [NS1]: configure('port-1') });
    });

    it('a namespace file of ours with nothing mounted (its mount namespace is gone) → the file removed, the namespace and pair made again', () => {
      const { observed, applied } = converged(desired3());
      observed.netns.delete(NS1);
      observed.links.delete(V1);
      const p = run(desired3(), { ...observed, deadNetns: new Set([NS1]) }, { applied });
      expect(root(p)).toEqual([`netns del ${NS1}`, `netns add ${NS1}`, ...vethCreate('port-1')]);
      expect(inNs(p)).toEqual({ [NS1]: configure('port-1') });
      // Still held open by a process: its veth survived, and goes too.
      const held = converged(desired3());
      held.observed.netns.delete(NS1);
      expect(root(run(desired3(), { ...held.observed, deadNetns: new Set([NS1]) }, { applied: held.applied }))).toEqual([
        `netns del ${NS1}`,
        `netns add ${NS1}`,
        `link del dev ${V1}`,
        ...vethCreate('port-1'),
      ]);
    });

    it.each([
      ['veth deleted', (o: Observed) => o.links.delete(V2)],
      ['bridge down', (o: Observed) => (o.links.get(BR)!.up = false)],
      ['bridge MTU', (o: Observed) => (o.links.get(BR)!.mtu = 1500)],
      ['veth wrong master', (o: Observed) => (o.links.get(V1)!.master = 'docker0')],
      ['bridge deleted', (o: Observed) => o.links.delete(BR) && [V1, V2].forEach((v) => delete o.links.get(v)!.master)],
      ['namespace and veth gone', (o: Observed) => o.netns.delete(NS1) && o.links.delete(V1)],
      ['namespace gone, veth kept', (o: Observed) => o.netns.delete(NS2)],
    ])('converges: after applying the fix for "%s" the next plan is empty', (_what, drift) => {
      const { observed, applied } = converged(desired3());
      observed.links.set('docker0', bridgeLink('docker0', { mtu: 1500 }));
      drift(observed);
      const again = replanAfterApply(desired3(), observed, applied);
      expect(root(again)).toEqual([]);
      expect(again.inNetns).toEqual([]);
    });
  });

  describe('spec change', () => {
    const oldPort = port('port-1');
    const newPort = port('port-1', { addresses: [{ cidr: '10.0.0.9/24', family: 4 }] });
    const desired = [network(), newPort, port('port-2')];

    it('address changed: the stale address is deleted first, then the namespace re-configured', () => {
      const { observed, applied } = converged([network(), oldPort, port('port-2')]);
      observed.portAddresses.set('port-1', ['10.0.0.2/24']);
      const p = run(desired, observed, { applied });
      expect(root(p)).toEqual([]);
      expect(inNs(p)).toEqual({
        [NS1]: [
          'addr del 10.0.0.2/24 dev eth0',
          'link set dev lo up',
          'link set dev eth0 addrgenmode none',
          'link set dev eth0 mtu 1450 address 02:00:0a:00:00:02',
          'link set dev eth0 up',
          'addr replace 10.0.0.9/24 dev eth0',
          'route replace default via 10.0.0.1 dev eth0',
        ],
      });
      expect(p.changed).toEqual(new Map([['Port/port-1', specHash(newPort)]]));
      expect(specHash(newPort)).not.toBe(specHash(oldPort));
    });

    it('addresses still wanted are kept, only the stale ones go', () => {
      const both = port('port-1', {
        addresses: [
          { cidr: '10.0.0.2/24', family: 4 },
          { cidr: 'fd00::2/64', family: 6 },
        ],
      });
      const { observed, applied } = converged([network(), oldPort]);
      observed.portAddresses.set('port-1', ['10.0.0.2/24', '10.0.0.7/24', 'fd00::99/64']);
      const p = run([network(), both], observed, { applied });
      expect(inNs(p)[NS1].filter((l) => l.startsWith('addr '))).toEqual([
        'addr del 10.0.0.7/24 dev eth0',
        'addr del fd00::99/64 dev eth0',
        'addr replace 10.0.0.2/24 dev eth0',
        'addr replace fd00::2/64 dev eth0',
      ]);
    });

    it('portsToInspect: only ports applied before with another spec whose veth exists', () => {
      const { observed, applied } = converged([network(), oldPort, port('port-2')]);
      expect(portsToInspect({ desired, observed, applied, names })).toEqual(['port-1']);
      // Nothing changed → nothing to read.
      expect(portsToInspect({ desired: desired3(), observed, applied, names })).toEqual([]);
      // No veth: it will be re-created with a fresh peer, nothing stale to read.
      const noVeth = { links: new Map([...observed.links].filter(([k]) => k !== V1)) };
      expect(portsToInspect({ desired, observed: noVeth, applied, names })).toEqual([]);
      // Networks and unknown kinds are never inspected.
      const router = { kind: 'Router', id: 'port-1', generation: 1, spec: {} };
      expect(portsToInspect({ desired: [network(), router], observed, applied, names })).toEqual([]);
    });

    it('MTU changed: the veth gets the new MTU at the root, the peer inside its namespace', () => {
      const { observed, applied } = converged(desired3());
      const bigger = port('port-1', { mtu: 9000 });
      const p = run([network(), bigger, port('port-2')], observed, { applied });
      expect(root(p)).toEqual([`link set dev ${V1} mtu 9000 master ${BR}`, `link set dev ${V1} up`]);
      expect(inNs(p)[NS1]).toContain('link set dev eth0 mtu 9000 address 02:00:0a:00:00:02');
      expect(p.changed).toEqual(new Map([['Port/port-1', specHash(bigger)]]));
    });

    it('port moved from an existing namespace to one of its own: the pair is re-created into the new namespace', () => {
      const before = port('port-1', { netns: 'customer' });
      const { observed, applied } = converged([network(), before]);
      const p = run([network(), port('port-1')], observed, { applied });
      expect(root(p)).toEqual([`netns add ${NS1}`, `link del dev ${V1}`, ...vethCreate('port-1')]);
      expect(inNs(p)).toEqual({ [NS1]: configure('port-1') });
    });

    it('limitation: a port moved between two existing namespaces is only re-configured (observed cannot tell where the peer is)', () => {
      const { observed, applied } = converged([network(), port('port-1', { netns: 'customer' })]);
      observed.netns.add('other');
      const p = run([network(), port('port-1', { netns: 'other' })], observed, { applied });
      expect(root(p)).toEqual([]);
      expect(Object.keys(inNs(p))).toEqual(['other']);
    });

    it('port moved to another network: veth re-mastered; the old bridge (no longer desired) is collected first', () => {
      const { observed, applied } = converged(desired3());
      const moved = port('port-1', { networkId: 'net-2' });
      const p = run([network(), network('net-2'), moved, port('port-2')], observed, { applied });
      const br2 = names.bridge('net-2');
      expect(root(p)).toEqual([
        `link add name ${br2} type bridge mcast_snooping 0`,
        `link set dev ${br2} mtu 1450 alias netloom:network:net-2 addrgenmode none`,
        `link set dev ${br2} up`,
        `link set dev ${V1} mtu 1450 master ${br2}`,
        `link set dev ${V1} up`,
      ]);
      expect(p.attributes.get('Port/port-1')).toEqual({ netns: NS1, interface: 'eth0', hostInterface: V1, bridge: br2 });
    });
  });

  describe('garbage collection', () => {
    const otherHost = new Names('nl', 'host-b');

    it('deletes our orphan namespaces and links, veths before bridges; never touches what is not ours', () => {
      const observed = observedOf({
        links: [
          device('lo'),
          device('eth0', 'veth'),
          bridgeLink('docker0'),
          bridgeLink(names.bridge('gone-net-a')),
          bridgeLink(names.bridge('gone-net-b')),
          vethLink(names.veth('gone-port-a'), names.bridge('gone-net-a')),
          vethLink(names.veth('gone-port-b'), undefined),
          vethLink('nly12345678', 'docker0'),
          bridgeLink('nlb1234567'),
          bridgeLink('nlb123456789'),
          bridgeLink('nlbABCDEF12'),
          vethLink('nlp133c4140', undefined),
        ],
        netns: [
          names.portNetns('gone-port-a'),
          names.portNetns('gone-port-b'),
          otherHost.portNetns('gone-port-a'),
          otherHost.portNetns('port-1'),
          new Names('ab', 'host-a').portNetns('gone-port-a'),
          'customer',
          '133c41404c',
        ],
      });
      const p = run([], observed);
      const nsA = names.portNetns('gone-port-a');
      const nsB = names.portNetns('gone-port-b');
      const [vA, vB] = [names.veth('gone-port-a'), names.veth('gone-port-b')].sort();
      const [bA, bB] = [names.bridge('gone-net-a'), names.bridge('gone-net-b')].sort();
      expect(root(p)).toEqual([
        ...[`netns del ${nsA}`, `netns del ${nsB}`].sort(),
        `link del dev ${vA}`,
        `link del dev ${vB}`,
        `link del dev ${bA}`,
        `link del dev ${bB}`,
      ]);
      // Bridge names ('nlb…') sort before veth names ('nlv…'): the order is by kind, not by name.
      expect(bA < vA).toBe(true);
      expect(p.root.lines.map((l) => l.key)).toEqual(root(p).map((t) => `gc/${t.startsWith('netns') ? 'netns' : 'link'}/${t.split(' ').pop()}`));
      expect(p.inNetns).toEqual([]);
      expect(p.changed.size).toBe(0);
      expect(p.failures).toEqual([]);
      expect(p.attributes.size).toBe(0);
    });

    it('dead namespace files of ours no longer desired are removed; others\' are not', () => {
      const dead = new Set([names.portNetns('gone-port-a'), otherHost.portNetns('gone-port-a'), 'customer']);
      expect(root(run([], { ...observedOf(), deadNetns: dead }))).toEqual([`netns del ${names.portNetns('gone-port-a')}`]);
    });

    it("removes a plugin's dead namespace file (an agent killed while making it), never a plugin's live namespace", () => {
      const plugin = (tag: string) => `${names.netnsPrefix}p5b6-${tag}`;
      const observed = observedOf();
      const p = run([], { ...observed, netns: new Set([...observed.netns, plugin('0000000a')]), deadNetns: new Set([plugin('0000000b')]) });
      expect(root(p)).toEqual([`netns del ${plugin('0000000b')}`]);
    });

    it('garbage goes before creations, and desired objects are kept', () => {
      const { observed, applied } = converged(desired3());
      const gone = names.veth('gone-port');
      observed.links.set(gone, vethLink(gone, BR));
      observed.netns.add(names.portNetns('gone-port'));
      observed.links.delete(V2);
      const p = run(desired3(), observed, { applied });
      expect(root(p)).toEqual([`netns del ${names.portNetns('gone-port')}`, `link del dev ${gone}`, ...vethCreate('port-2')]);
    });

    it('a port that moves to an existing namespace leaves its own namespace to collect', () => {
      const { observed, applied } = converged(desired3());
      observed.netns.add('customer');
      const p = run([network(), port('port-1', { netns: 'customer' }), port('port-2')], observed, { applied });
      expect(root(p)[0]).toBe(`netns del ${NS1}`);
      expect(p.root.lines[0].key).toBe(`gc/netns/${NS1}`);
    });

    it('objects of skipped or failing resources are not collected', () => {
      const { observed, applied } = converged(desired3());
      const desired = [network(), port('port-1', { networkId: 'net-missing' }), port('port-2')];
      const p = run(desired, observed, { applied, skip: new Set(['Network/net-1', 'Port/port-2']) });
      expect(root(p)).toEqual([]);
      expect(p.inNetns).toEqual([]);
    });

    it('with another prefix nothing of ours is collected', () => {
      const { observed } = converged(desired3());
      expect(root(plan({ desired: [], observed, applied: new Map(), names: new Names('ab', 'host-a') }))).toEqual([]);
      expect(root(plan({ desired: [], observed, applied: new Map(), names: otherHost }))).toEqual([
        // Links carry no host tag (each agent has its own root namespace); namespaces do.
        `link del dev ${V1}`,
        `link del dev ${V2}`,
        `link del dev ${BR}`,
      ]);
    });
  });

  describe('ports in an existing (user) namespace', () => {
    const shared = port('port-1', { netns: 'customer' });
    const PEER = names.portInterface('port-1', true);

    it('a unique interface name, no netns add, no lo up', () => {
      const p = run([network(), shared], observedOf({ netns: ['customer'] }));
      expect(PEER).toBe('nlp133c4140');
      expect(root(p)).toEqual([...bridgeCreate, ...vethCreate('port-1', PEER, 'customer')]);
      expect(inNs(p)).toEqual({ customer: configure('port-1', { ifname: PEER, owned: false }) });
      expect(p.attributes.get('Port/port-1')).toEqual({ netns: 'customer', interface: PEER, hostInterface: V1, bridge: BR });
      expect(p.failures).toEqual([]);
    });

    it('two ports sharing one namespace share its batch', () => {
      const second = port('port-2', { netns: 'customer' });
      const p = run([network(), shared, second], observedOf({ netns: ['customer'] }));
      expect(p.inNetns.map((b) => b.netns)).toEqual(['customer']);
      expect(inNs(p).customer).toEqual([
        ...configure('port-1', { ifname: PEER, owned: false }),
        ...configure('port-2', { ifname: names.portInterface('port-2', true), owned: false }),
      ]);
    });

    it('the namespace is absent → non-terminal failure and no lines for the port (the bridge still goes ahead)', () => {
      const p = run([network(), shared], observedOf());
      expect(p.failures).toEqual([{ key: 'Port/port-1', reason: 'namespace customer does not exist', terminal: false }]);
      expect(root(p)).toEqual(bridgeCreate);
      expect(p.inNetns).toEqual([]);
      expect([...p.changed.keys()]).toEqual(['Network/net-1']);
      expect(p.attributes.get('Port/port-1')).toEqual({ netns: 'customer', interface: PEER, hostInterface: V1, bridge: BR });
    });

    it('idempotent too', () => {
      const { observed, applied } = converged([network(), shared]);
      expect(observed.netns).toEqual(new Set(['customer']));
      const p = run([network(), shared], observed, { applied });
      expect(root(p)).toEqual([]);
      expect(p.inNetns).toEqual([]);
    });

    it('is never collected, even when no port uses it', () => {
      const p = run([], observedOf({ netns: ['customer'] }));
      expect(root(p)).toEqual([]);
    });

    it('a dead namespace file → non-terminal failure saying so; never removed (not ours)', () => {
      const p = run([network(), shared], { ...observedOf(), deadNetns: new Set(['customer']) });
      expect(p.failures).toEqual([{ key: 'Port/port-1', reason: 'namespace customer does not exist (a file with no namespace mounted on it)', terminal: false }]);
      expect(root(p)).toEqual(bridgeCreate);
    });
  });

  describe('partial failure: resources backing off are skipped', () => {
    it('network skipped → its ports fail (non-terminal) with no lines; other networks go ahead', () => {
      const desired = [...desired3(), network('net-2'), port('port-3', { networkId: 'net-2' })];
      const p = run(desired, observedOf(), { skip: new Set(['Network/net-1']) });
      expect(p.failures).toEqual([
        { key: 'Port/port-1', reason: 'its network bridge failed; waiting for it', terminal: false },
        { key: 'Port/port-2', reason: 'its network bridge failed; waiting for it', terminal: false },
      ]);
      expect(keysOf(p.root)).toEqual(['Network/net-2', 'Port/port-3']);
      expect(p.inNetns.map((b) => b.netns)).toEqual([names.portNetns('port-3')]);
      expect([...p.changed.keys()]).toEqual(['Network/net-2', 'Port/port-3']);
      // Still reported with their names.
      expect(p.attributes.get('Network/net-1')).toEqual({ bridge: BR });
      expect(p.attributes.get('Port/port-1')).toEqual({ netns: NS1, interface: 'eth0', hostInterface: V1, bridge: BR });
    });

    it('port skipped → no lines for it, no failure (its reason is the reconciler\'s), attributes still reported', () => {
      const p = run(desired3(), observedOf(), { skip: new Set(['Port/port-1']) });
      expect(root(p)).toEqual([...bridgeCreate, `netns add ${NS2}`, ...vethCreate('port-2')]);
      expect(inNs(p)).toEqual({ [NS2]: configure('port-2') });
      expect(p.failures).toEqual([]);
      expect(p.changed.has('Port/port-1')).toBe(false);
      expect(p.attributes.get('Port/port-1')).toEqual({ netns: NS1, interface: 'eth0', hostInterface: V1, bridge: BR });
    });

    it('a skipped port with drift is left alone until its backoff ends', () => {
      const { observed, applied } = converged(desired3());
      observed.links.delete(V1);
      const p = run(desired3(), observed, { applied, skip: new Set(['Port/port-1']) });
      expect(root(p)).toEqual([]);
      expect(p.inNetns).toEqual([]);
    });

    it('a port never applied (its last apply failed) is configured again although its objects exist', () => {
      const { observed, applied } = converged(desired3());
      applied.delete('port-2');
      const p = run(desired3(), observed, { applied });
      expect(root(p)).toEqual([]);
      expect(inNs(p)).toEqual({ [NS2]: configure('port-2') });
      expect([...p.changed.keys()]).toEqual(['Port/port-2']);
    });
  });

  describe('guarded ports (held down until their guards are applied)', () => {
    const GUARD = 'FirewallPolicy/fw-1';
    const guarded = (): DesiredResource[] => [network(), port('port-1', { guardedBy: [GUARD] }), port('port-2')];
    const held = new Set(['port-1']);
    const downV1 = (): { observed: Observed; applied: Map<string, string> } => {
      const state = converged(guarded());
      state.observed.links.get(V1)!.up = false;
      return state;
    };

    it('a guarded port is created with its host end down (no up line), configured inside, and reported held down', () => {
      for (const heldNow of [held, new Set<string>()]) {
        // Even with its guards applied last pass: no plugin pass has seen this port yet.
        const p = run(guarded(), observedOf(), { held: heldNow });
        expect(root(p)).toEqual([...bridgeCreate, `netns add ${NS1}`, ...vethCreate('port-1').slice(0, 2), `netns add ${NS2}`, ...vethCreate('port-2')]);
        expect(inNs(p)).toEqual({ [NS1]: configure('port-1'), [NS2]: configure('port-2') });
        expect(p.heldDown).toEqual(new Set(['port-1']));
        expect([...p.changed.keys()]).toEqual(['Network/net-1', 'Port/port-1', 'Port/port-2']);
        expect(applyRoot(observedOf(), p.root).links.get(V1)!.up).toBe(false);
      }
    });

    it('a held port found down is not brought up: no line, nothing changed; a wrong MTU is fixed without up', () => {
      const { observed, applied } = downV1();
      const p = run(guarded(), observed, { applied, held });
      expect(root(p)).toEqual([]);
      expect(p.inNetns).toEqual([]);
      expect(p.changed.size).toBe(0);
      expect(p.heldDown).toEqual(new Set(['port-1']));
      observed.links.get(V1)!.mtu = 1500;
      expect(root(run(guarded(), observed, { applied, held }))).toEqual([`link set dev ${V1} mtu 1450 master ${BR}`]);
    });

    it('a cleared port (guards applied last pass) found down is brought up', () => {
      const { observed, applied } = downV1();
      const p = run(guarded(), observed, { applied, held: new Set() });
      expect(root(p)).toEqual([`link set dev ${V1} mtu 1450 master ${BR}`, `link set dev ${V1} up`]);
      expect(p.heldDown).toEqual(new Set());
    });

    it('a held port already up is never taken down, nor reported held', () => {
      const { observed, applied } = converged(guarded());
      const p = run(guarded(), observed, { applied, held });
      expect(root(p)).toEqual([]);
      expect(p.heldDown).toEqual(new Set());
    });

    it('guards stay out of the spec hash (a guard added or removed re-configures nothing); unguarded ports plan as before', () => {
      const [, p1] = guarded();
      expect(specHash(p1)).toBe(specHash(port('port-1')));
      const { observed, applied } = converged(desired3());
      const p = run(guarded(), observed, { applied, held });
      expect(root(p)).toEqual([]);
      expect(p.inNetns).toEqual([]);
      expect(p.changed.size).toBe(0);
      expect(portsToInspect({ desired: guarded(), observed, applied, names })).toEqual([]);
    });

    it('planning again after applying yields nothing while held, then only the up line once cleared', () => {
      const first = run(guarded(), observedOf(), { held });
      const after = applyRoot(observedOf(), first.root);
      const applied = new Map([...first.changed].filter(([k]) => k.startsWith('Port/')).map(([k, h]) => [k.slice('Port/'.length), h]));
      const again = run(guarded(), after, { applied, held });
      expect(root(again)).toEqual([]);
      expect(again.inNetns).toEqual([]);
      expect(again.changed.size).toBe(0);
      expect(root(run(guarded(), after, { applied, held: new Set() }))).toEqual([`link set dev ${V1} mtu 1450 master ${BR}`, `link set dev ${V1} up`]);
    });
  });

  describe('what cannot be planned', () => {
    it('unknown kind → terminal failure; the rest is planned', () => {
      const router = { kind: 'Router', id: 'r-1', generation: 1, spec: { anything: true } };
      const p = run([router, ...desired3()], observedOf());
      expect(p.failures).toEqual([{ key: 'Router/r-1', reason: 'this agent has no plugin for kind Router', terminal: true }]);
      expect(p.attributes.has('Router/r-1')).toBe(false);
      expect(keysOf(p.root)).toEqual(['Network/net-1', 'Port/port-1', 'Port/port-2']);
    });

    it('port whose network is not desired → terminal failure, no lines; an existing veth is kept', () => {
      const orphan = port('port-1', { networkId: 'net-x' });
      const { observed } = converged([network(), port('port-1')]);
      const p = run([orphan], observed);
      expect(p.failures).toEqual([{ key: 'Port/port-1', reason: "network net-x is not in this host's desired state", terminal: true }]);
      // The bridge of net-1 is no longer desired and goes; the port's veth is still wanted.
      expect(root(p)).toEqual([`link del dev ${BR}`]);
      expect(p.inNetns).toEqual([]);
      expect(p.attributes.get('Port/port-1')).toEqual({ netns: NS1, interface: 'eth0', hostInterface: V1, bridge: names.bridge('net-x') });
    });

    it('an unsafe value never becomes a line: the plan throws (the reconciler reports the whole state invalid)', () => {
      expect(() => run([network(), port('port-1', { mac: '02:00:00:00:00:01 up' })], observedOf())).toThrow(/invalid mac/);
      expect(() => run([network(), port('port-1', { netns: 'bad ns' })], observedOf({ netns: ['bad ns'] }))).toThrow(/invalid netns/);
    });
  });

  describe('IPv6', () => {
    it('v6 address and v6 default route: the default is written ::/0 (a batch line cannot carry -6)', () => {
      const v6 = port('port-1', {
        addresses: [{ cidr: 'fd00::2/64', family: 6 }],
        routes: [{ dst: 'default', via: 'fd00::1', family: 6 }],
      });
      const p = run([network(), v6], observedOf());
      expect(inNs(p)[NS1].slice(-2)).toEqual(['addr replace fd00::2/64 dev eth0', 'route replace ::/0 via fd00::1 dev eth0']);
    });

    it('dual stack: one default per family, in spec order', () => {
      const dual = port('port-1', {
        addresses: [
          { cidr: '10.0.0.2/24', family: 4 },
          { cidr: 'fd00::2/64', family: 6 },
        ],
        routes: [
          { dst: 'default', via: '10.0.0.1', family: 4 },
          { dst: 'default', via: 'fd00::1', family: 6 },
          { dst: 'fd10::/48', via: 'fd00::fe', family: 6 },
        ],
      });
      const p = run([network(), dual], observedOf());
      expect(inNs(p)[NS1].slice(-5)).toEqual([
        'addr replace 10.0.0.2/24 dev eth0',
        'addr replace fd00::2/64 dev eth0',
        'route replace default via 10.0.0.1 dev eth0',
        'route replace ::/0 via fd00::1 dev eth0',
        'route replace fd10::/48 via fd00::fe dev eth0',
      ]);
    });

    it('a route whose family contradicts its gateway is refused', () => {
      const mixed = port('port-1', { routes: [{ dst: 'default', via: '10.0.0.1', family: 6 }] });
      expect(() => run([network(), mixed], observedOf())).toThrow(/mixed address families/);
    });
  });
});

describe('overlay', () => {
  // Fixtures: net-1 spans three hosts; this one is 100.64.0.1, one remote port on each other host.
  const VX = names.vxlan('net-1'); // nlx17d5a8f0
  const LOCAL = '100.64.0.1';
  const [PEER2, PEER3] = ['100.64.0.2', '100.64.0.3'];
  const R2: RemotePort = { mac: '02:00:0a:00:01:02', ips: ['10.0.0.12'], vtep: PEER2 };
  const R3: RemotePort = { mac: '02:00:0a:00:01:03', ips: ['10.0.0.13'], vtep: PEER3 };
  const vxlanSpec = (over: Partial<VxlanSpec> = {}): VxlanSpec => ({ local: LOCAL, peers: [PEER2, PEER3], remotes: [R2, R3], ...over });
  const overlayNet = (over: Partial<VxlanSpec> = {}, net: Partial<NetworkSpec> = {}): DesiredResource<NetworkSpec> =>
    network('net-1', { vni: 200, vxlan: vxlanSpec(over), ...net });
  const vxLink = (over: Partial<LinkInfo> = {}): LinkInfo => ({
    ifname: VX,
    ifindex: ifindex++,
    kind: 'vxlan',
    mtu: 1450,
    up: true,
    master: BR,
    vxlan: { id: 200, local: LOCAL, port: 4789, learning: false, proxy: true },
    ...over,
  });
  /** The entries the agent leaves on the device once `spec` is applied. */
  const entriesOf = (spec: VxlanSpec): OverlayEntries => ({
    fdb: [...spec.peers.map((dst) => ({ mac: FLOOD_MAC, dst })), ...spec.remotes.map((r) => ({ mac: r.mac, dst: r.vtep }))],
    neigh: spec.remotes.flatMap((r) => r.ips.map((ip) => ({ ip, mac: r.mac }))),
  });
  /** The kernel once `applied` (a network with an overlay) was realized, read closely, its hash remembered. */
  const overlayConverged = (net: DesiredResource<NetworkSpec>): { observed: Observed; applied: Map<string, string> } => ({
    observed: observedOf({ links: [bridgeLink(BR), vxLink({ mtu: net.spec.mtu })], overlay: { 'net-1': entriesOf(net.spec.vxlan!) } }),
    applied: new Map([['net-1', specHash(net)]]),
  });
  const fdbLines = (p: Plan): string[] => p.fdb.lines.map((l) => l.text);
  const inspect = (desired: DesiredResource[], observed: Observed, applied: ReadonlyMap<string, string> = new Map()): string[] =>
    networksToInspect({ desired, observed, applied, names });
  const flood = (dst: string): string => `fdb append ${FLOOD_MAC} dev ${VX} dst ${dst}`;
  const fdbReplace = (r: RemotePort, dst = r.vtep): string => `fdb replace ${r.mac} dev ${VX} dst ${dst}`;
  const neighReplace = (ip: string, mac: string): string => `neigh replace ${ip} lladdr ${mac} dev ${VX} nud permanent`;
  const vxCreate = [
    `link add name ${VX} mtu 1450 type vxlan id 200 local ${LOCAL} dstport 4789 nolearning proxy`,
    `link set dev ${VX} master ${BR} alias netloom:network:net-1 addrgenmode none`,
    `link set dev ${VX} up`,
  ];

  /**
   * A fake of the VXLAN device's tables: applies the `neigh` lines of the root batch and the fdb
   * batch as `ip`/`bridge` would, throwing where they would fail (deleting what is not there).
   */
  function applyOverlay(seen: OverlayEntries, p: Plan): OverlayEntries {
    let fdb = [...seen.fdb];
    const neigh = new Map(seen.neigh.map((n) => [n.ip, n.mac]));
    for (const { text } of p.fdb.lines) {
      const [, verb, mac, , dev, , dst] = text.split(' ');
      expect(dev).toBe(VX);
      const has = fdb.some((e) => e.mac === mac && e.dst === dst);
      if (verb === 'append') {
        if (!has) fdb.push({ mac, dst });
      } else if (verb === 'replace') {
        fdb = [...fdb.filter((e) => e.mac !== mac), { mac, dst }];
      } else if (verb === 'del') {
        if (!has) throw new Error('RTNETLINK answers: No such file or directory');
        fdb = fdb.filter((e) => !(e.mac === mac && e.dst === dst));
      } else throw new Error(`fake fdb: unexpected line ${text}`);
    }
    for (const { text } of p.root.lines.filter((l) => l.text.startsWith('neigh '))) {
      const w = text.split(' ');
      if (w[1] === 'replace') neigh.set(w[2], w[4]);
      else if (!neigh.delete(w[2])) throw new Error('RTNETLINK answers: No such file or directory');
    }
    return { fdb, neigh: [...neigh].map(([ip, mac]) => ({ ip, mac })) };
  }

  /** Applies a plan to both fakes; returns the next observation (overlay read closely) and the remembered hashes. */
  function applyAll(observed: Observed, applied: Map<string, string>, p: Plan): { observed: Observed; applied: Map<string, string> } {
    const linkLines = new IpBatch();
    linkLines.lines.push(...p.root.lines.filter((l) => !l.text.startsWith('neigh ')));
    const after = applyRoot(observed, linkLines);
    // A device created by this plan starts empty.
    const before = observed.links.has(VX) ? (observed.overlay.get('net-1') ?? { fdb: [], neigh: [] }) : { fdb: [], neigh: [] };
    after.overlay.set('net-1', applyOverlay(before, p));
    const nextApplied = new Map(applied);
    for (const [key, hash] of p.changed) nextApplied.set(key.slice(key.indexOf('/') + 1), hash);
    return { observed: after, applied: nextApplied };
  }

  describe('a network spanning hosts, on an empty kernel', () => {
    const net = overlayNet();
    const p = run([net], observedOf());

    it('root: bridge, then the VXLAN device (created, put on the bridge, up), then the static neighbours', () => {
      expect(VX).toBe('nlx17d5a8f0');
      expect(root(p)).toEqual([
        ...bridgeCreate,
        'link add name nlx17d5a8f0 mtu 1450 type vxlan id 200 local 100.64.0.1 dstport 4789 nolearning proxy',
        'link set dev nlx17d5a8f0 master nlb17d5a8f0 alias netloom:network:net-1 addrgenmode none',
        'link set dev nlx17d5a8f0 up',
        'neigh replace 10.0.0.12 lladdr 02:00:0a:00:01:02 dev nlx17d5a8f0 nud permanent',
        'neigh replace 10.0.0.13 lladdr 02:00:0a:00:01:03 dev nlx17d5a8f0 nud permanent',
      ]);
      expect(p.root.lines.every((l) => l.key === 'Network/net-1')).toBe(true);
    });

    it('fdb batch: a flood entry per peer VTEP (append), a static entry per remote MAC (replace)', () => {
      expect(fdbLines(p)).toEqual([
        'fdb append 00:00:00:00:00:00 dev nlx17d5a8f0 dst 100.64.0.2',
        'fdb append 00:00:00:00:00:00 dev nlx17d5a8f0 dst 100.64.0.3',
        'fdb replace 02:00:0a:00:01:02 dev nlx17d5a8f0 dst 100.64.0.2',
        'fdb replace 02:00:0a:00:01:03 dev nlx17d5a8f0 dst 100.64.0.3',
      ]);
      expect(p.fdb.netns).toBeUndefined();
      expect(p.fdb.lines.every((l) => l.key === 'Network/net-1')).toBe(true);
    });

    it('changed holds the network with its hash; attributes name the bridge and the VXLAN device; nothing in namespaces', () => {
      expect(p.changed).toEqual(new Map([['Network/net-1', specHash(net)]]));
      expect(p.attributes.get('Network/net-1')).toEqual({ bridge: BR, vxlan: VX });
      expect(p.inNetns).toEqual([]);
      expect(p.failures).toEqual([]);
    });

    it('with local ports: the neighbours come after every creation line (the veths too)', () => {
      const q = run([net, port('port-1'), port('port-2')], observedOf());
      expect(root(q)).toEqual([
        ...bridgeCreate,
        ...vxCreate,
        `netns add ${NS1}`,
        ...vethCreate('port-1'),
        `netns add ${NS2}`,
        ...vethCreate('port-2'),
        neighReplace('10.0.0.12', R2.mac),
        neighReplace('10.0.0.13', R3.mac),
      ]);
      expect(fdbLines(q)).toEqual(fdbLines(p));
    });

    it('nothing to inspect before the device exists', () => {
      expect(inspect([net], observedOf())).toEqual([]);
    });

    it('the fakes accept both batches; the next plan is empty, also when the overlay is read closely again', () => {
      const first = applyAll(observedOf(), new Map(), p);
      expect(first.observed.links.get(VX)).toMatchObject({ kind: 'vxlan', master: BR, mtu: 1450, up: true });
      expect(first.observed.overlay.get('net-1')).toEqual(entriesOf(net.spec.vxlan!));
      const again = run([net], first.observed, { applied: first.applied });
      expect([root(again), fdbLines(again), again.changed.size]).toEqual([[], [], 0]);
      // Record lost (applied forgotten): the device is read closely, and the diff finds nothing to do.
      expect(inspect([net], first.observed)).toEqual(['net-1']);
      const reread = run([net], first.observed);
      expect([root(reread), fdbLines(reread)]).toEqual([[], []]);
      expect([...reread.changed.keys()]).toEqual(['Network/net-1']);
    });
  });

  describe('converged', () => {
    it('device on its bridge, up, right MTU, hash applied → no line anywhere, nothing changed, nothing to inspect', () => {
      const net = overlayNet();
      const { observed, applied } = overlayConverged(net);
      observed.overlay.clear(); // not inspected: the hash is current
      const p = run([net], observed, { applied });
      expect(root(p)).toEqual([]);
      expect(fdbLines(p)).toEqual([]);
      expect(p.inNetns).toEqual([]);
      expect(p.changed.size).toBe(0);
      expect(p.attributes.get('Network/net-1')).toEqual({ bridge: BR, vxlan: VX });
      expect(inspect([net], observed, applied)).toEqual([]);
    });

    it('with ports as well: still empty', () => {
      const net = overlayNet();
      const { observed, applied } = converged([net, port('port-1')]);
      observed.links.set(VX, vxLink());
      applied.set('net-1', specHash(net));
      const p = run([net, port('port-1')], observed, { applied });
      expect([root(p), fdbLines(p), p.inNetns, p.changed.size]).toEqual([[], [], [], 0]);
    });
  });

  describe('what the device holds after a plan (the agent keeps it instead of reading the device again)', () => {
    it.each([
      ['created', overlayNet(), undefined],
      ['peer added', overlayNet({ peers: [PEER2, PEER3, '100.64.0.4'] }), overlayNet()],
      ['peer removed', overlayNet({ peers: [PEER2], remotes: [R2] }), overlayNet()],
      ['MAC changed', overlayNet({ remotes: [R2, { ...R3, mac: '02:00:0a:00:01:33' }] }), overlayNet()],
    ])('is what the device holds once the plan applied (%s)', (_what, net, before) => {
      const start = before ? overlayConverged(before) : { observed: observedOf(), applied: new Map<string, string>() };
      const p = run([net], start.observed, { applied: start.applied });
      const held = applyAll(start.observed, start.applied, p).observed.overlay.get('net-1')!;
      const sorted = (e: OverlayEntries) => ({ fdb: [...e.fdb].sort((a, b) => `${a.mac}${a.dst}`.localeCompare(`${b.mac}${b.dst}`)), neigh: [...e.neigh].sort((a, b) => a.ip.localeCompare(b.ip)) });
      expect(sorted(p.overlay.get('net-1')!)).toEqual(sorted(held));
    });

    it('a new device: the forwarding entries wait for the root batch that makes it, and its links are checked', () => {
      const p = run([overlayNet()], observedOf());
      expect([p.fdbAfterRoot, [...p.linksTouched]]).toEqual([true, ['Network/net-1']]);
    });

    it('a device that is there: its entries go beside the root batch, and links not touched are not checked', () => {
      const { observed, applied } = overlayConverged(overlayNet());
      const p = run([overlayNet({ peers: [PEER2], remotes: [R2] })], observed, { applied });
      expect(fdbLines(p).length).toBeGreaterThan(0);
      expect([p.fdbAfterRoot, [...p.linksTouched], [...p.changed.keys()]]).toEqual([false, [], ['Network/net-1']]);
    });

    it('a look at a converged device (the resync) changes nothing; one that finds an entry gone puts it back', () => {
      const net = overlayNet();
      const { observed, applied } = overlayConverged(net);
      const p = run([net], observed, { applied });
      expect([root(p), fdbLines(p), p.changed.size]).toEqual([[], [], 0]);
      expect(p.overlay.get('net-1')).toEqual(entriesOf(net.spec.vxlan!));
      // Removed by hand, found at the next look: only it is written again.
      observed.overlay.set('net-1', { fdb: entriesOf(net.spec.vxlan!).fdb.filter((e) => e.mac !== R3.mac), neigh: entriesOf(net.spec.vxlan!).neigh.filter((n) => n.ip !== '10.0.0.13') });
      const q = run([net], observed, { applied });
      expect(fdbLines(q)).toEqual([fdbReplace(R3)]);
      expect(root(q)).toEqual([neighReplace('10.0.0.13', R3.mac)]);
      expect([...q.changed.keys()]).toEqual(['Network/net-1']);
    });
  });

  describe('spec change: the entries are diffed against what the device holds', () => {
    it('a peer added: only its flood entry, its remote’s fdb entry and neighbour; nothing deleted', () => {
      const old = overlayNet({ peers: [PEER2], remotes: [R2] });
      const { observed, applied } = overlayConverged(old);
      const R4: RemotePort = { mac: '02:00:0a:00:01:04', ips: ['10.0.0.14'], vtep: '100.64.0.4' };
      const net = overlayNet({ peers: [PEER2, '100.64.0.4'], remotes: [R2, R4] });
      expect(inspect([net], observed, applied)).toEqual(['net-1']);
      const p = run([net], observed, { applied });
      expect(fdbLines(p)).toEqual([flood('100.64.0.4'), fdbReplace(R4)]);
      expect(root(p)).toEqual([neighReplace('10.0.0.14', R4.mac)]);
      expect(p.changed).toEqual(new Map([['Network/net-1', specHash(net)]]));
      expect(specHash(net)).not.toBe(applied.get('net-1'));
    });

    it('a peer removed: its flood entry, its remote’s fdb entry and neighbour are deleted', () => {
      const { observed, applied } = overlayConverged(overlayNet());
      const net = overlayNet({ peers: [PEER2], remotes: [R2] });
      const p = run([net], observed, { applied });
      expect(fdbLines(p)).toEqual([`fdb del 00:00:00:00:00:00 dev ${VX} dst ${PEER3}`, `fdb del ${R3.mac} dev ${VX} dst ${PEER3}`]);
      expect(root(p)).toEqual([`neigh del 10.0.0.13 dev ${VX}`]);
      expect(p.changed).toEqual(new Map([['Network/net-1', specHash(net)]]));
    });

    it('a remote MAC moved to another VTEP: the old pair deleted, then the MAC replaced toward the new one; neighbours kept', () => {
      const { observed, applied } = overlayConverged(overlayNet());
      const moved = { ...R3, vtep: PEER2 };
      const p = run([overlayNet({ remotes: [R2, moved] })], observed, { applied });
      expect(fdbLines(p)).toEqual([`fdb del ${R3.mac} dev ${VX} dst ${PEER3}`, fdbReplace(moved)]);
      expect(root(p)).toEqual([]);
    });

    it('a neighbour whose MAC changed (port re-created on the same IP): old fdb pair deleted; neigh del then neigh replace', () => {
      // The del is redundant (replace alone rewrites lladdr) but harmless: both lines are in one batch, in this order.
      const { observed, applied } = overlayConverged(overlayNet());
      const renewed = { ...R3, mac: '02:00:0a:00:01:33' };
      const p = run([overlayNet({ remotes: [R2, renewed] })], observed, { applied });
      expect(fdbLines(p)).toEqual([`fdb del ${R3.mac} dev ${VX} dst ${PEER3}`, fdbReplace(renewed)]);
      expect(root(p)).toEqual([`neigh del 10.0.0.13 dev ${VX}`, neighReplace('10.0.0.13', renewed.mac)]);
    });

    it('an IP moved from one remote port to another: one neigh del and one neigh replace for that IP', () => {
      const { observed, applied } = overlayConverged(overlayNet());
      const p = run([overlayNet({ remotes: [{ ...R2, ips: ['10.0.0.12', '10.0.0.13'] }, { ...R3, ips: [] }] })], observed, { applied });
      expect(fdbLines(p)).toEqual([]);
      expect(root(p)).toEqual([`neigh del 10.0.0.13 dev ${VX}`, neighReplace('10.0.0.13', R2.mac)]);
    });

    it.each([
      ['peer added', overlayNet({ peers: [PEER2, PEER3, '100.64.0.4'] })],
      ['peer removed', overlayNet({ peers: [PEER2], remotes: [R2] })],
      ['MAC moved', overlayNet({ remotes: [R2, { ...R3, vtep: PEER2 }] })],
      ['MAC changed', overlayNet({ remotes: [R2, { ...R3, mac: '02:00:0a:00:01:33' }] })],
      ['all gone', overlayNet({ peers: [], remotes: [] })],
    ])('converges: after applying "%s" the next plan is empty, read closely or not', (_what, net) => {
      const start = overlayConverged(overlayNet());
      const p = run([net], start.observed, { applied: start.applied });
      const next = applyAll(start.observed, start.applied, p);
      expect(next.observed.overlay.get('net-1')!.fdb).toEqual(expect.arrayContaining(entriesOf(net.spec.vxlan!).fdb));
      expect(next.observed.overlay.get('net-1')!.fdb).toHaveLength(entriesOf(net.spec.vxlan!).fdb.length);
      expect(new Map(next.observed.overlay.get('net-1')!.neigh.map((n) => [n.ip, n.mac]))).toEqual(
        new Map(entriesOf(net.spec.vxlan!).neigh.map((n) => [n.ip, n.mac])),
      );
      const again = run([net], next.observed, { applied: next.applied });
      expect([root(again), fdbLines(again), again.changed.size]).toEqual([[], [], 0]);
      const reread = run([net], next.observed);
      expect([root(reread), fdbLines(reread)]).toEqual([[], []]);
    });

    it('the overlay spec changed but the device was not read closely: everything is re-programmed idempotently, nothing deleted', () => {
      const { observed, applied } = overlayConverged(overlayNet());
      observed.overlay.clear();
      const net = overlayNet({ peers: [PEER2], remotes: [R2] });
      const p = run([net], observed, { applied });
      expect(fdbLines(p)).toEqual([flood(PEER2), fdbReplace(R2)]);
      expect(root(p)).toEqual([neighReplace('10.0.0.12', R2.mac)]);
    });

    it('re-creates the device when its VNI or local VTEP changed (both are fixed at creation)', () => {
      const { observed, applied } = overlayConverged(overlayNet());
      const moved = overlayNet({ local: '100.64.0.9' });
      const p = run([moved], observed, { applied });
      expect(root(p)[0]).toBe(`link del dev ${VX}`);
      expect(root(p)[1]).toBe(`link add name ${VX} mtu 1450 type vxlan id 200 local 100.64.0.9 dstport 4789 nolearning proxy`);
      // A new device holds no entries: all of them are programmed again.
      expect(fdbLines(p)).toHaveLength(moved.spec.vxlan!.peers.length + moved.spec.vxlan!.remotes.length);
      const renumbered = run([overlayNet({}, { vni: 201 })], observed, { applied });
      expect(root(renumbered)[0]).toBe(`link del dev ${VX}`);
      expect(root(renumbered)[1]).toContain('type vxlan id 201 ');
    });
  });

  describe('the overlay goes away', () => {
    it('vxlan becomes null (the last remote host left) → the device is collected, the bridge stays', () => {
      const { observed, applied } = overlayConverged(overlayNet());
      const alone = network('net-1', { vni: 200 });
      const p = run([alone], observed, { applied });
      expect(root(p)).toEqual([`link del dev ${VX}`]);
      expect(p.root.lines.map((l) => l.key)).toEqual([`gc/link/${VX}`]);
      expect(fdbLines(p)).toEqual([]);
      expect(p.attributes.get('Network/net-1')).toEqual({ bridge: BR });
      expect(inspect([alone], observed, applied)).toEqual([]);
      const after = applyRoot(observed, p.root);
      expect([...after.links.keys()]).toEqual([BR]);
      expect(root(run([alone], after, { applied }))).toEqual([]);
    });

    it('a network with vxlan null never creates a device, and never has one inspected', () => {
      const p = run([network('net-1', { vni: 200 })], observedOf());
      expect(root(p)).toEqual(bridgeCreate);
      expect(fdbLines(p)).toEqual([]);
      expect(p.attributes.get('Network/net-1')).toEqual({ bridge: BR });
      expect(inspect([network()], observedOf({ links: [bridgeLink(BR), vxLink()] }))).toEqual([]);
    });

    it('the network is no longer desired → the device is deleted before the bridge', () => {
      const { observed } = overlayConverged(overlayNet());
      const p = run([], observed);
      expect(root(p)).toEqual([`link del dev ${VX}`, `link del dev ${BR}`]);
      expect(fdbLines(p)).toEqual([]);
    });
  });

  describe('drift of the device', () => {
    it.each([
      ['down', { up: false }],
      ['on the wrong master', { master: 'docker0' }],
      ['on no master', { master: undefined }],
      ['with the wrong MTU', { mtu: 1500 }],
    ])('device %s → one linkSet (mtu, master, then up); entries untouched', (_what, drift) => {
      const net = overlayNet();
      const { observed, applied } = overlayConverged(net);
      Object.assign(observed.links.get(VX)!, drift);
      const p = run([net], observed, { applied });
      expect(root(p)).toEqual([`link set dev ${VX} mtu 1450 master ${BR}`, `link set dev ${VX} up`]);
      expect(keysOf(p.root)).toEqual(['Network/net-1']);
      expect(fdbLines(p)).toEqual([]);
      expect(p.changed).toEqual(new Map([['Network/net-1', applied.get('net-1')]]));
      const after = applyRoot(observed, p.root);
      expect(root(run([net], after, { applied }))).toEqual([]);
    });

    it('device deleted by hand → re-created and fully re-programmed although the hash is current', () => {
      const net = overlayNet();
      const { observed, applied } = overlayConverged(net);
      observed.links.delete(VX);
      const p = run([net], observed, { applied });
      expect(root(p)).toEqual([...vxCreate, neighReplace('10.0.0.12', R2.mac), neighReplace('10.0.0.13', R3.mac)]);
      expect(fdbLines(p)).toEqual([flood(PEER2), flood(PEER3), fdbReplace(R2), fdbReplace(R3)]);
    });

    it('bridge deleted by hand (device left without master) → bridge re-created, then the device rejoins it', () => {
      const net = overlayNet();
      const { observed, applied } = overlayConverged(net);
      observed.links.delete(BR);
      delete observed.links.get(VX)!.master;
      const p = run([net], observed, { applied });
      expect(root(p)).toEqual([...bridgeCreate, `link set dev ${VX} mtu 1450 master ${BR}`, `link set dev ${VX} up`]);
      expect(fdbLines(p)).toEqual([]);
    });

    it('network MTU changed → bridge and device both get it', () => {
      const { observed, applied } = overlayConverged(overlayNet());
      const jumbo = overlayNet({}, { mtu: 8950 });
      const p = run([jumbo], observed, { applied });
      expect(root(p)).toEqual([`link set dev ${BR} mtu 8950`, `link set dev ${BR} up`, `link set dev ${VX} mtu 8950 master ${BR}`, `link set dev ${VX} up`]);
      expect(fdbLines(p)).toEqual([]);
      expect(p.changed).toEqual(new Map([['Network/net-1', specHash(jumbo)]]));
    });

    it('a skipped network: no lines for it at all; its attributes still name the device', () => {
      const net = overlayNet();
      const p = run([net], observedOf(), { skip: new Set(['Network/net-1']) });
      expect([root(p), fdbLines(p), p.changed.size]).toEqual([[], [], 0]);
      expect(p.attributes.get('Network/net-1')).toEqual({ bridge: BR, vxlan: VX });
    });
  });

  describe('IPv6 and unsafe values', () => {
    it('IPv6 remote addresses become neighbours too (ND answered by the device)', () => {
      const dual: RemotePort = { ...R2, ips: ['10.0.0.12', 'fd00::12'] };
      const p = run([overlayNet({ remotes: [dual, R3] })], observedOf());
      expect(root(p).filter((l) => l.startsWith('neigh '))).toEqual([
        'neigh replace 10.0.0.12 lladdr 02:00:0a:00:01:02 dev nlx17d5a8f0 nud permanent',
        'neigh replace fd00::12 lladdr 02:00:0a:00:01:02 dev nlx17d5a8f0 nud permanent',
        'neigh replace 10.0.0.13 lladdr 02:00:0a:00:01:03 dev nlx17d5a8f0 nud permanent',
      ]);
      // And a dropped IPv6 address is deleted.
      const { observed, applied } = overlayConverged(overlayNet({ remotes: [dual, R3] }));
      const q = run([overlayNet()], observed, { applied });
      expect(root(q)).toEqual(['neigh del fd00::12 dev nlx17d5a8f0']);
      expect(fdbLines(q)).toEqual([]);
    });

    it('an unsafe VTEP, MAC or IP never becomes a line: the plan throws', () => {
      expect(() => run([overlayNet({ peers: ['100.64.0.2 self'] })], observedOf())).toThrow(/invalid/);
      expect(() => run([overlayNet({ remotes: [{ ...R2, mac: '02:00:0a:00:01:02 dev lo' }] })], observedOf())).toThrow(/invalid mac/);
      expect(() => run([overlayNet({ remotes: [{ ...R2, ips: ['10.0.0.12\nlink del dev eth0'] }] })], observedOf())).toThrow(/invalid/);
      expect(() => run([overlayNet({ local: 'any' })], observedOf())).toThrow(/invalid/);
    });
  });
});

describe('provider networks', () => {
  // net-1 on physnet1, which this host maps to eth1; its veth pair to eth1's trunk is named from its id.
  const UP = names.vlan('net-1');
  const WP = names.vlanPeer('net-1');
  const TR = names.trunk('eth1');
  const mappings = new Map([['physnet1', 'eth1']]);
  const flat = network('net-1', { provider: { physicalNetwork: 'physnet1' } });
  const tagged = (vlanId = 100, id = 'net-1') => network(id, { provider: { physicalNetwork: 'physnet1', vlanId } });
  const eth1 = (over: Partial<LinkInfo> = {}): LinkInfo => ({ ...device('eth1'), ...over });
  const trunkCreate = [
    `link add name ${TR} type bridge mcast_snooping 0`,
    `link set dev ${TR} alias netloom:trunk:eth1 addrgenmode none`,
    `link set dev ${TR} up`,
    `link set dev eth1 master ${TR}`,
    'link set dev eth1 up',
  ];
  const pairCreate = (id = 'net-1', bridge = BR) => [
    `link add name ${names.vlan(id)} mtu 1450 master ${bridge} type veth peer name ${names.vlanPeer(id)} mtu 1450`,
    `link set dev ${names.vlan(id)} alias netloom:network:${id} addrgenmode none`,
    `link set dev ${names.vlanPeer(id)} master ${TR} alias netloom:network:${id} addrgenmode none`,
    `link set dev ${names.vlan(id)} up`,
    `link set dev ${names.vlanPeer(id)} up`,
  ];
  const programs = (vlanId?: number, id = 'net-1') => {
    const [ingress, egress] = vlanId === undefined ? ['untagged', 'untagged'] : [`tag-${vlanId}`, `untag-${vlanId}`];
    const peer = names.vlanPeer(id);
    return [
      `qdisc replace dev ${peer} clsact`,
      `filter replace dev ${peer} ingress protocol all prio 1 handle 1 bpf da obj /run/netloom/bpf/netloom-vlan-${ingress}.o sec tc`,
      `filter replace dev ${peer} egress protocol all prio 1 handle 1 bpf da obj /run/netloom/bpf/netloom-vlan-${egress}.o sec tc`,
    ];
  };
  const trunkLinks = (): LinkInfo[] => [{ ...bridgeLink(TR), mtu: 1450 }, eth1({ master: TR })];
  const pairLinks = (id = 'net-1', bridge: string = BR): LinkInfo[] => [vethLink(names.vlan(id), bridge), vethLink(names.vlanPeer(id), TR)];
  const tcOf = (p: Plan): string[] => p.tc.lines.map((l) => l.text);
  const runMapped = (desired: DesiredResource[], observed: Observed, rest: Partial<Omit<PlanInput, 'desired' | 'observed'>> = {}) =>
    run(desired, observed, { providerMappings: mappings, ...rest });

  it('flat: the bridge enslaves the mapped interface; no VXLAN device; nothing the second time', () => {
    const p = runMapped([flat], observedOf({ links: [eth1()] }));
    expect(root(p)).toEqual([...bridgeCreate, `link set dev eth1 master ${BR}`, 'link set dev eth1 up']);
    expect(p.attributes.get('Network/net-1')).toEqual({ bridge: BR, uplink: 'eth1' });
    expect(p.failures).toEqual([]);
    expect(p.fdb.length).toBe(0);
    const again = runMapped([flat], observedOf({ links: [bridgeLink(BR), eth1({ master: BR })] }), { applied: new Map([['net-1', specHash(flat)]]) });
    expect(root(again)).toEqual([]);
    expect(again.changed.size).toBe(0);
  });

  it('VLAN: a trunk bridge holds the interface, the network a veth pair to it tagging in tc; programs again when the spec changes; nothing the second time', () => {
    const p = runMapped([tagged()], observedOf({ links: [eth1()] }));
    expect(root(p)).toEqual([...bridgeCreate, ...trunkCreate, ...pairCreate()]);
    expect(tcOf(p)).toEqual(programs(100));
    expect(p.tc.lines.every((l) => l.key === 'Network/net-1')).toBe(true);
    expect(p.attributes.get('Network/net-1')).toEqual({ bridge: BR, uplink: UP });
    expect([UP, WP, TR]).toEqual([expect.stringMatching(/^nlu[0-9a-f]{8}$/), expect.stringMatching(/^nlw[0-9a-f]{8}$/), expect.stringMatching(/^nlt[0-9a-f]{8}$/)]);
    const converged = observedOf({ links: [bridgeLink(BR), ...trunkLinks(), ...pairLinks()] });
    const again = runMapped([tagged()], converged, { applied: new Map([['net-1', specHash(tagged())]]) });
    expect([root(again), tcOf(again), again.changed.size]).toEqual([[], [], 0]);
    // Another tag: the programs are replaced in place, the links stay.
    const retagged = runMapped([tagged(200)], converged, { applied: new Map([['net-1', specHash(tagged())]]) });
    expect([root(retagged), tcOf(retagged)]).toEqual([[], programs(200)]);
    expect(retagged.changed.get('Network/net-1')).toBe(specHash(tagged(200)));
    // Read at a resync: programs as they should be change nothing; one removed or another put back.
    const read = (ingress: string | null, egress: string | null): Observed => ({ ...converged, trunkPrograms: new Map([[WP, { ingress, egress }]]) });
    const applied = { applied: new Map([['net-1', specHash(tagged())]]) };
    expect(tcOf(runMapped([tagged()], read('netloom-vlan-tag-100.o', 'netloom-vlan-untag-100.o'), applied))).toEqual([]);
    expect(tcOf(runMapped([tagged()], read('netloom-vlan-tag-100.o', null), applied))).toEqual(programs(100));
    expect(tcOf(runMapped([tagged()], read('netloom-vlan-tag-200.o', 'netloom-vlan-untag-100.o'), applied))).toEqual(programs(100));
    expect(runMapped([tagged()], read(null, null), applied).changed.get('Network/net-1')).toBe(specHash(tagged()));
    // The interface is brought up when it is down; an end off its bridge is put back.
    const astray = observedOf({ links: [bridgeLink(BR), { ...bridgeLink(TR), mtu: 1450 }, eth1({ master: TR, up: false }), vethLink(UP, undefined), vethLink(WP, TR)] });
    expect(root(runMapped([tagged()], astray, { applied: new Map([['net-1', specHash(tagged())]]) }))).toEqual([
      `link set dev eth1 master ${TR}`,
      'link set dev eth1 up',
      `link set dev ${UP} mtu 1450 master ${BR}`,
      `link set dev ${UP} up`,
    ]);
    // A former 802.1Q subinterface of that name is made again as a pair.
    const former = observedOf({ links: [bridgeLink(BR), ...trunkLinks(), { ...device(UP, 'vlan'), master: BR, vlan: { id: 100, link: 'eth1' } }] });
    expect(root(runMapped([tagged()], former))).toEqual([`link del dev ${UP}`, ...pairCreate()]);
  });

  it('two VLANs and a flat network share one trunk: the flat one passes only untagged frames; the last VLAN gone, the interface is its again', () => {
    const B2 = names.bridge('net-2');
    const B3 = names.bridge('net-3');
    const all = [flat, tagged(100, 'net-2'), tagged(200, 'net-3')];
    const p = runMapped(all, observedOf({ links: [eth1()] }));
    expect(root(p).filter((l) => l.startsWith(`link add name ${TR}`))).toHaveLength(1);
    expect(root(p)).toEqual(expect.arrayContaining([...trunkCreate, ...pairCreate('net-1'), ...pairCreate('net-2', B2), ...pairCreate('net-3', B3)]));
    expect(tcOf(p)).toEqual([...programs(undefined), ...programs(100, 'net-2'), ...programs(200, 'net-3')]);
    expect(p.attributes.get('Network/net-1')).toEqual({ bridge: BR, uplink: UP });
    const converged = [bridgeLink(BR), bridgeLink(B2), bridgeLink(B3), ...trunkLinks(), ...pairLinks('net-1'), ...pairLinks('net-2', B2), ...pairLinks('net-3', B3)];
    // One VLAN deleted: its bridge and pair go (the pair by its bridge's end); the trunk stays.
    const one = runMapped([flat, tagged(100, 'net-2')], observedOf({ links: converged }), { applied: new Map(all.map((n) => [n.id, specHash(n)])) });
    expect(root(one)).toEqual([`link del dev ${names.vlan('net-3')}`, `link del dev ${B3}`]);
    // The other too: the trunk goes (letting eth1 go), the flat network's pair goes, eth1 joins its bridge.
    const none = runMapped([flat], observedOf({ links: converged.filter((l) => ![B3, names.vlan('net-3'), names.vlanPeer('net-3')].includes(l.ifname)) }), {
      applied: new Map([['net-1', specHash(flat)]]),
    });
    expect(root(none)).toEqual([`link del dev ${UP}`, `link del dev ${names.vlan('net-2')}`, `link del dev ${B2}`, `link del dev ${TR}`, `link set dev eth1 master ${BR}`, 'link set dev eth1 up']);
    expect(tcOf(none)).toEqual([]);
  });

  it('moves between flat, VLAN and overlay: what the old form left is removed, the mapped interface let go, never deleted', () => {
    // Flat → VLAN: eth1 moves from the bridge to a trunk, the pair comes.
    const wasFlat = observedOf({ links: [bridgeLink(BR), eth1({ master: BR })] });
    expect(root(runMapped([tagged()], wasFlat))).toEqual([...trunkCreate, ...pairCreate()]);
    // VLAN → flat: the pair and the trunk are collected, eth1 joins.
    const wasTagged = observedOf({ links: [bridgeLink(BR), ...trunkLinks(), ...pairLinks()] });
    expect(root(runMapped([flat], wasTagged))).toEqual([`link del dev ${UP}`, `link del dev ${TR}`, `link set dev eth1 master ${BR}`, 'link set dev eth1 up']);
    // Flat → overlay (one host: no VXLAN device yet): eth1 let go.
    expect(root(runMapped([network()], wasFlat))).toEqual(['link set dev eth1 nomaster']);
    // Overlay → provider: the VXLAN device is collected.
    const VX = names.vxlan('net-1');
    const wasOverlay = observedOf({ links: [bridgeLink(BR), eth1(), { ...device(VX, 'vxlan'), master: BR }] });
    expect(root(runMapped([flat], wasOverlay))).toEqual([`link del dev ${VX}`, `link set dev eth1 master ${BR}`, 'link set dev eth1 up']);
    // The network deleted: its bridge goes (which lets eth1 go); eth1 itself is never deleted.
    expect(root(runMapped([], wasFlat))).toEqual([`link del dev ${BR}`]);
    expect(root(runMapped([], wasTagged))).toEqual([`link del dev ${UP}`, `link del dev ${BR}`, `link del dev ${TR}`]);
    // What else sits on our bridges (a plugin's leg, an unmapped interface) is not ours to let go.
    const others = observedOf({ links: [bridgeLink(BR), eth1(), vethLink('nlq1a2b3c4d', BR), { ...device('eth2'), master: BR }] });
    expect(root(runMapped([tagged()], others, { applied: new Map([['net-1', specHash(tagged())]]) }))).toEqual([...trunkCreate, ...pairCreate()]);
  });

  it('fails a network whose physical network this host does not map, and its ports with it, making nothing', () => {
    const p = run([tagged(), port('port-1')], observedOf({ links: [eth1()] }));
    expect(root(p)).toEqual([]);
    expect(p.inNetns).toEqual([]);
    const reason = 'physical network physnet1 is not mapped on this host (agent option --provider-mapping physnet1:INTERFACE)';
    expect(p.failures).toEqual([
      { key: 'Network/net-1', reason, terminal: true },
      { key: 'Port/port-1', reason: `its network cannot be realized here: ${reason}`, terminal: false },
    ]);
    expect(p.attributes.get('Network/net-1')).toEqual({ bridge: BR });
  });

  it('fails a VLAN network on a kernel that cannot tag in tc, saying so; a flat one there keeps its interface', () => {
    const p = runMapped([tagged(), port('port-1')], observedOf({ links: [eth1()] }), { vlanSupported: false });
    expect([root(p), tcOf(p)]).toEqual([[], []]);
    expect(p.failures.map((f) => [f.key, f.terminal])).toEqual([
      ['Network/net-1', true],
      ['Port/port-1', false],
    ]);
    expect(p.failures[0].reason).toBe('this kernel cannot tag VLANs (no eBPF classifier in tc: cls_bpf, clsact): VLAN 100 of physical network physnet1 cannot be realized here');
    const both = runMapped([flat, tagged(100, 'net-2')], observedOf({ links: [eth1()] }), { vlanSupported: false });
    expect(both.failures.map((f) => f.key)).toEqual(['Network/net-2']);
    expect(root(both)).toEqual(expect.arrayContaining([`link set dev eth1 master ${BR}`]));
  });

  it('retries a network whose mapped interface is missing, or held by a bridge that is not ours', () => {
    const missing = runMapped([flat, port('port-1')], observedOf({ links: [] }));
    expect(missing.failures).toEqual([
      { key: 'Network/net-1', reason: 'interface eth1 of physical network physnet1 does not exist on this host', terminal: false },
      { key: 'Port/port-1', reason: 'its network cannot be realized here: interface eth1 of physical network physnet1 does not exist on this host', terminal: false },
    ]);
    expect(root(missing)).toEqual([]);
    const taken = runMapped([flat], observedOf({ links: [eth1({ master: 'br-lan' })] }));
    expect(taken.failures).toEqual([
      { key: 'Network/net-1', reason: 'interface eth1 of physical network physnet1 is already on br-lan, which this agent does not own', terminal: false },
    ]);
    expect(root(taken)).toEqual([]);
    // A VLAN network too: its trunk would take the interface.
    expect(runMapped([tagged()], observedOf({ links: [eth1({ master: 'br-lan' })] })).failures.map((f) => f.reason)).toEqual([
      'interface eth1 of physical network physnet1 is already on br-lan, which this agent does not own',
    ]);
  });
});
