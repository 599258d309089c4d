import fc from 'fast-check';
import { DesiredResource, resourceKey } from '@netloom/model';
import { IntentView } from '@netloom/plugin-sdk';
import { compileHosts, Intent, PluginPlacement } from './compile';
import { IntentStore, PortRow, ResourceRow, RowChange } from './intent-store';
import { HostDelta, Placer, Realizer } from './realizer';

/*
 * Incremental realization against the full compiler, on random change sequences: after every
 * step, each host's desired state is what `compileHosts` makes of the whole intent, and what the
 * passes sent (deltas applied in order) is that desired state too.
 */

const HOSTS = ['h0', 'h1', 'h2', 'h3'];
const NETWORKS = ['n0', 'n1', 'n2'];
const SUBNETS = [
  { id: 's0', networkId: 'n0', cidr: '10.0.0.0/24', ipVersion: 4 as const },
  { id: 's1', networkId: 'n0', cidr: 'fd00::/64', ipVersion: 6 as const },
  { id: 's2', networkId: 'n1', cidr: '10.1.0.0/24', ipVersion: 4 as const },
  { id: 's3', networkId: 'n2', cidr: '10.2.0.0/24', ipVersion: 4 as const },
];
const PORTS = Array.from({ length: 10 }, (_, i) => `p${i}`);
const RESOURCES = ['r0', 'r1', 'r2', 'r3'];

/** A widget: placed on `host` (and `alsoOn`), where it reads ports by label, and maybe a network. */
interface WidgetSpec {
  host: string;
  alsoOn: string | null;
  twice: boolean;
  net: string | null;
  team: string;
  readHosts: boolean;
  /** Announces endpoints on `net` without making it present on its host. */
  announceOnly: boolean;
  explode: boolean;
}

/** A plugin that reads narrowly and places from what it read. */
const widgets: Placer = {
  pluginId: 'test.widgets',
  kinds: new Set(['Widget']),
  async place(resource: ResourceRow, view: IntentView): Promise<PluginPlacement[]> {
    const spec = resource.spec as unknown as WidgetSpec;
    const ports = await view.ports({ labels: { team: spec.team } });
    const networks = spec.net ? await view.networks({ ids: [spec.net] }) : [];
    const read = spec.readHosts ? await view.hosts() : [];
    const hosts = read.map((h) => h.id);
    const racks = read.map((h) => `${h.id}:${h.labels.rack ?? ''}`);
    if (spec.explode) throw new Error('boom');
    const base = { kind: resource.kind, id: resource.id, generation: resource.generation };
    const mac = `02:aa:00:00:00:0${resource.id.slice(1)}`;
    const on = (hostId: string, n: number): PluginPlacement => ({
      ...base,
      hostId,
      spec: { n, ports: ports.map((p) => [p.id, p.hostId, p.fixedIps.map((f) => f.ipAddress)]), mtus: networks.map((x) => x.mtu), racks },
      networks: spec.announceOnly ? [] : networks.map((x) => x.id),
      endpoints: networks.map((x) => ({ networkId: x.id, mac, ips: [`192.0.2.${resource.id.slice(1)}`] })),
      guards: ports.filter((p) => p.hostId === hostId).map((p) => p.id),
    });
    const out = [on(spec.host, 1)];
    if (spec.twice) out.push(on(spec.host, 2));
    if (spec.alsoOn) out.push(on(spec.alsoOn, 3));
    if (spec.readHosts && hosts.length) out.push(on(hosts[hosts.length - 1], 4));
    return out;
  },
};

type Op =
  | { op: 'host'; i: number; vtep: number; mtu: number | null; rack: number }
  | { op: 'deleteHost'; i: number }
  | { op: 'network'; i: number; mtu: number | null; vni: number; provider: { physnet: string; vlanId: number | null } | null }
  | { op: 'deleteNetwork'; i: number }
  | { op: 'subnet'; i: number; gateway: number }
  | { op: 'deleteSubnet'; i: number }
  | { op: 'port'; i: number; network: number; host: number; ips: number[]; team: string; security: boolean; pair: boolean }
  | { op: 'deletePort'; i: number }
  | { op: 'widget'; i: number; spec: WidgetSpec }
  | { op: 'deleteWidget'; i: number }
  | { op: 'span'; i: number };

const idx = (n: number): fc.Arbitrary<number> => fc.integer({ min: 0, max: n - 1 });
const hostName = fc.constantFrom(...HOSTS, 'h9');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('host' as const), i: idx(HOSTS.length), vtep: idx(3), mtu: fc.constantFrom(null, 1500, 9000), rack: idx(2) }),
  fc.record({ op: fc.constant('deleteHost' as const), i: idx(HOSTS.length) }),
  fc.record({
    op: fc.constant('network' as const),
    i: idx(NETWORKS.length),
    mtu: fc.constantFrom(null, null, 1400),
    vni: idx(2),
    // Overlay or provider (flat or a VLAN): a network may turn from one into the other.
    provider: fc.constantFrom(null, null, { physnet: 'physnet1', vlanId: null }, { physnet: 'physnet1', vlanId: 100 }),
  }),
  fc.record({ op: fc.constant('deleteNetwork' as const), i: idx(NETWORKS.length) }),
  fc.record({ op: fc.constant('subnet' as const), i: idx(SUBNETS.length), gateway: idx(2) }),
  fc.record({ op: fc.constant('deleteSubnet' as const), i: idx(SUBNETS.length) }),
  {
    arbitrary: fc.record({
      op: fc.constant('port' as const),
      i: idx(PORTS.length),
      network: idx(NETWORKS.length),
      host: idx(HOSTS.length),
      ips: fc.subarray([0, 1, 2, 3]),
      team: fc.constantFrom('red', 'blue'),
      security: fc.boolean(),
      pair: fc.boolean(),
    }),
    weight: 4,
  },
  { arbitrary: fc.record({ op: fc.constant('deletePort' as const), i: idx(PORTS.length) }), weight: 2 },
  {
    arbitrary: fc.record({
      op: fc.constant('widget' as const),
      i: idx(RESOURCES.length),
      spec: fc.record({
        host: hostName,
        alsoOn: fc.option(hostName),
        twice: fc.boolean(),
        net: fc.option(fc.constantFrom(...NETWORKS, 'n9')),
        team: fc.constantFrom('red', 'blue'),
        readHosts: fc.boolean(),
        announceOnly: fc.boolean(),
        explode: fc.oneof({ arbitrary: fc.constant(false), weight: 9 }, { arbitrary: fc.constant(true), weight: 1 }),
      }),
    }),
    weight: 2,
  },
  fc.record({ op: fc.constant('deleteWidget' as const), i: idx(RESOURCES.length) }),
  fc.record({ op: fc.constant('span' as const), i: idx(HOSTS.length) }),
);

/** The changes one operation makes, as the services would record them (cascades included). */
function changesOf(store: IntentStore, op: Op, generation: () => number): RowChange[] {
  switch (op.op) {
    case 'host': {
      const id = HOSTS[op.i];
      return [{ kind: 'Host', id, after: { id, name: id, vtepAddress: `192.0.2.${op.vtep + 1}`, underlayMtu: op.mtu, labels: { rack: String(op.rack) } } }];
    }
    case 'deleteHost': {
      const id = HOSTS[op.i];
      if (!store.hosts.has(id)) return [];
      const ports = [...store.ports.values()].filter((p) => p.hostId === id);
      return [...ports.map((p): RowChange => ({ kind: 'Port', id: p.id })), { kind: 'Host', id }];
    }
    case 'network': {
      const id = NETWORKS[op.i];
      const provider = { providerInterface: op.provider?.physnet ?? null, vlanId: op.provider?.vlanId ?? null };
      return [{ kind: 'Network', id, after: { id, name: id, generation: generation(), vni: 100 + op.i + op.vni * 10, mtu: op.mtu, ...provider } }];
    }
    case 'deleteNetwork': {
      const id = NETWORKS[op.i];
      if (!store.networks.has(id)) return [];
      const ports = [...store.ports.values()].filter((p) => p.networkId === id);
      const subnets = [...store.subnets.values()].filter((s) => s.networkId === id);
      return [
        ...ports.map((p): RowChange => ({ kind: 'Port', id: p.id })),
        ...subnets.map((s): RowChange => ({ kind: 'Subnet', id: s.id })),
        { kind: 'Network', id },
      ];
    }
    case 'subnet': {
      const s = SUBNETS[op.i];
      if (!store.networks.has(s.networkId)) return [];
      const base = s.cidr.split('/')[0];
      const gatewayIp = s.ipVersion === 6 ? `fd00::${op.gateway + 1}` : base.replace(/0$/, String(op.gateway + 1));
      return [{ kind: 'Subnet', id: s.id, after: { ...s, name: s.id, gatewayIp } }];
    }
    case 'deleteSubnet': {
      // Refused while an address of it is held, as the service does.
      const id = SUBNETS[op.i].id;
      return store.subnets.has(id) && !store.portsInSubnet(id).size ? [{ kind: 'Subnet', id }] : [];
    }
    case 'port': {
      const id = PORTS[op.i];
      const networkId = NETWORKS[op.network];
      const hostId = HOSTS[op.host];
      if (!store.networks.has(networkId) || !store.hosts.has(hostId)) return [];
      const n = Number(id.slice(1));
      const fixedIps = op.ips
        .map((i) => SUBNETS[i])
        .filter((s) => s.networkId === networkId && store.subnets.has(s.id))
        .map((s) => ({ subnetId: s.id, ipAddress: s.ipVersion === 6 ? `fd00::${n + 10}` : s.cidr.split('/')[0].replace(/0$/, String(n + 10)) }));
      const port: PortRow = {
        id,
        name: id,
        networkId,
        hostId,
        generation: generation(),
        macAddress: `02:00:00:00:00:${String(n).padStart(2, '0')}`,
        netns: null,
        portSecurity: op.security,
        allowedAddressPairs: op.pair ? [{ ipAddress: `10.9.9.${n}`, macAddress: n % 2 ? '02:bb:00:00:00:01' : null }] : [],
        labels: { team: op.team },
        fixedIps,
      };
      return [{ kind: 'Port', id, after: port }];
    }
    case 'deletePort':
      return store.ports.has(PORTS[op.i]) ? [{ kind: 'Port', id: PORTS[op.i] }] : [];
    case 'widget': {
      const id = RESOURCES[op.i];
      return [{ kind: 'Resource', id, after: { kind: 'Widget', id, name: id, generation: generation(), labels: {}, spec: op.spec as never } }];
    }
    case 'deleteWidget':
      return store.resources.has(RESOURCES[op.i]) ? [{ kind: 'Resource', id: RESOURCES[op.i] }] : [];
    case 'span':
      return [];
  }
}

/** The whole intent, placed from scratch: what the reference compiler takes. */
async function reference(store: IntentStore, inSpan: (h: string) => boolean): Promise<Map<string, DesiredResource[]>> {
  const placements: PluginPlacement[] = [];
  for (const r of [...store.resources.values()].sort((a, b) => a.id.localeCompare(b.id))) {
    try {
      placements.push(...(await widgets.place(r, store.view(widgets.kinds, widgets.pluginId, []))));
    } catch {
      // skipped, as the dispatcher does
    }
  }
  const ports = [...store.ports.values()];
  const intent: Intent = {
    hosts: [...store.hosts.values()],
    networks: [...store.networks.values()],
    subnets: [...store.subnets.values()],
    ports,
    allocations: ports.flatMap((p) => p.fixedIps.map((f) => ({ portId: p.id, ...f }))),
    placements,
  };
  return compileHosts(intent, inSpan);
}

function applyDeltas(agents: Map<string, Map<string, DesiredResource>>, deltas: Map<string, HostDelta | null>): void {
  for (const [hostId, delta] of deltas) {
    if (!delta) {
      agents.delete(hostId);
      continue;
    }
    const held = agents.get(hostId) ?? new Map<string, DesiredResource>();
    for (const r of delta.upserts) held.set(resourceKey(r), r);
    for (const key of delta.deletes) held.delete(key);
    agents.set(hostId, held);
  }
}

describe('Realizer (incremental) against compileHosts (full)', () => {
  it('gives every host the same desired state after every step of random change sequences', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(opArb, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 40 }), async (steps) => {
        const store = new IntentStore();
        const lost = new Set<string>();
        const inSpan = (h: string): boolean => !lost.has(h);
        const realizer = new Realizer(store, (kind) => (kind === 'Widget' ? widgets : undefined), inSpan);
        const agents = new Map<string, Map<string, DesiredResource>>();
        let gen = 0;
        const generation = (): number => ++gen;
        // Start from every host, network and subnet (later steps delete and remake them).
        const start: Op[] = [
          ...HOSTS.map((_, i): Op => ({ op: 'host', i, vtep: i % 3, mtu: null, rack: 0 })),
          ...NETWORKS.map((_, i): Op => ({ op: 'network', i, mtu: null, vni: 0, provider: null })),
          ...SUBNETS.map((_, i): Op => ({ op: 'subnet', i, gateway: 0 })),
        ];
        for (const op of start) for (const c of changesOf(store, op, generation)) store.put(c);
        applyDeltas(agents, await realizer.rebuild());
        for (const step of steps) {
          const changes: RowChange[] = [];
          for (const op of step) {
            if (op.op === 'span') {
              if (lost.has(HOSTS[op.i])) lost.delete(HOSTS[op.i]);
              else lost.add(HOSTS[op.i]);
            }
            for (const c of changesOf(store, op, generation)) changes.push(store.put(c));
          }
          applyDeltas(agents, await realizer.apply(changes));
          const full = await reference(store, inSpan);
          expect(new Set(realizer.hostIds())).toEqual(new Set(full.keys()));
          for (const [hostId, resources] of full) {
            expect(realizer.resourcesOf(hostId)).toEqual(resources);
            expect([...(agents.get(hostId)?.values() ?? [])].sort((a, b) => resourceKey(a).localeCompare(resourceKey(b)))).toEqual(resources);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('compiles a port again only when the resources guarding it change, not when one of them is placed again', async () => {
    const store = new IntentStore();
    const realizer = new Realizer(store, (kind) => (kind === 'Widget' ? widgets : undefined), () => true);
    let gen = 0;
    const put = (op: Op): RowChange[] => changesOf(store, op, () => ++gen).map((c) => store.put(c));
    put({ op: 'host', i: 0, vtep: 0, mtu: null, rack: 0 });
    put({ op: 'network', i: 0, mtu: null, vni: 0, provider: null });
    for (const i of [0, 1, 2]) put({ op: 'port', i, network: 0, host: 0, ips: [], team: 'blue', security: false, pair: false });
    const widget = (net: string | null): Op => ({ op: 'widget', i: 0, spec: { host: 'h0', alsoOn: null, twice: false, net, team: 'blue', readHosts: false, announceOnly: false, explode: false } });
    put(widget(null));
    await realizer.rebuild();
    const compiled = jest.spyOn(realizer as unknown as { port: (id: string) => void }, 'port');
    // Its spec changes, the ports it guards do not.
    const again = await realizer.apply(put(widget('n0')));
    expect(compiled).not.toHaveBeenCalled();
    expect(again.get('h0')!.upserts.map(resourceKey)).toContain('Widget/r0');
    // p1 leaves the team: p1 is compiled again (its own change, and its guard gone), the others are not.
    await realizer.apply(put({ op: 'port', i: 1, network: 0, host: 0, ips: [], team: 'red', security: false, pair: false }));
    expect(new Set(compiled.mock.calls.map(([id]) => id))).toEqual(new Set(['p1']));
    expect(realizer.resourcesOf('h0').find((r) => r.id === 'p1')!.spec).not.toHaveProperty('guardedBy');
    expect(realizer.resourcesOf('h0').find((r) => r.id === 'p0')!.spec).toMatchObject({ guardedBy: ['Widget/r0'] });
  });

  it('recomputes only what a change touches: one port costs its network, not the other networks', async () => {
    const store = new IntentStore();
    const realizer = new Realizer(store, () => undefined, () => true);
    for (const h of HOSTS) store.put({ kind: 'Host', id: h, after: { id: h, name: h, vtepAddress: `192.0.2.${h.slice(1)}`, underlayMtu: null, labels: {} } });
    for (const n of NETWORKS) store.put({ kind: 'Network', id: n, after: { id: n, name: n, generation: 1, vni: 100, mtu: null } });
    const port = (id: string, networkId: string, hostId: string): RowChange => ({
      kind: 'Port',
      id,
      after: { id, name: id, networkId, hostId, generation: 1, macAddress: `02:00:00:00:00:${id.slice(1).padStart(2, '0')}`, netns: null, portSecurity: true, allowedAddressPairs: [], labels: {}, fixedIps: [] },
    });
    for (const [i, n] of NETWORKS.entries()) for (const h of HOSTS) store.put(port(`p${i}${h.slice(1)}`, n, h));
    await realizer.rebuild();
    const deltas = await realizer.apply([store.put(port('p99', 'n0', 'h0'))]);
    // h0: the new port and n0 (its remotes do not change there, but nothing else); the others: n0's remotes.
    expect(deltas.get('h0')!.upserts.map(resourceKey)).toEqual(['Port/p99']);
    for (const h of ['h1', 'h2', 'h3']) expect(deltas.get(h)!.upserts.map(resourceKey)).toEqual(['Network/n0']);
    expect([...deltas.values()].every((d) => d!.deletes.length === 0)).toBe(true);
  });
});

describe('Realizer placement outcomes', () => {
  const host = (id: string): RowChange => ({ kind: 'Host', id, after: { id, name: id, vtepAddress: `192.0.2.${id.slice(1)}`, underlayMtu: null, labels: {} } });
  const resource = (id: string, kind: string, generation: number, spec: Record<string, unknown>): RowChange => ({
    kind: 'Resource',
    id,
    after: { kind, id, name: id, generation, labels: {}, spec },
  });
  /** Places a Thing on the hosts its spec lists; `fail` makes place() throw. */
  const things: Placer = {
    pluginId: 'test.things',
    kinds: new Set(['Thing']),
    place(row: ResourceRow): Promise<PluginPlacement[]> {
      const spec = row.spec as { hosts: string[]; fail?: string };
      if (spec.fail) return Promise.reject(new Error(spec.fail));
      return Promise.resolve(spec.hosts.map((hostId) => ({ kind: row.kind, id: row.id, generation: row.generation, hostId, spec: null })));
    },
  };

  it('keeps, per resource, the generation placed and its hosts, or why it is on none', async () => {
    const store = new IntentStore();
    const realizer = new Realizer(store, (kind) => (kind === 'Thing' ? things : undefined), () => true);
    for (const h of ['h1', 'h2']) store.put(host(h));
    store.put(resource('r1', 'Thing', 1, { hosts: ['h1', 'h2', 'h2'] }));
    store.put(resource('r2', 'Thing', 1, { hosts: [] }));
    store.put(resource('r3', 'Thing', 1, { hosts: ['h9'] }));
    store.put(resource('r4', 'Thing', 1, { hosts: ['h1'], fail: 'no subnet' }));
    store.put(resource('r5', 'Gadget', 1, {}));
    await realizer.rebuild();
    expect(realizer.placementOf('r1')).toEqual({ generation: 1, hosts: 2 });
    expect(realizer.placementOf('r2')).toEqual({ generation: 1, hosts: 0, reason: 'its plugin placed it on no host' });
    expect(realizer.placementOf('r3')).toEqual({ generation: 1, hosts: 0, reason: 'its plugin placed it only on hosts that do not exist' });
    expect(realizer.placementOf('r4')).toEqual({ generation: 1, hosts: 0, reason: 'its plugin failed to place it: no subnet' });
    expect(realizer.placementOf('r5')).toEqual({ generation: 1, hosts: 0, reason: 'no loaded plugin places Gadget' });
    expect(realizer.placementOf('nope')).toBeUndefined();

    await realizer.apply([store.put(resource('r2', 'Thing', 2, { hosts: ['h2'] })), store.put({ kind: 'Resource', id: 'r1' })]);
    expect(realizer.placementOf('r2')).toEqual({ generation: 2, hosts: 1 });
    expect(realizer.placementOf('r1')).toBeUndefined();
  });
});

describe('Realizer placements that read what hosts observed', () => {
  const host = (id: string): RowChange => ({ kind: 'Host', id, after: { id, name: id, vtepAddress: `192.0.2.${id.slice(1)}`, underlayMtu: null, labels: {} } });
  const resource = (id: string): RowChange => ({ kind: 'Resource', id, after: { kind: 'Probe', id, name: id, generation: 1, labels: {}, spec: {} } });
  let placed = 0;
  /** Places a Probe on h1 and h2, each with what every host observed of it. */
  const probes: Placer = {
    pluginId: 'test.probes',
    kinds: new Set(['Probe']),
    async place(row: ResourceRow, view): Promise<PluginPlacement[]> {
      placed += 1;
      const seen = await view.observed!(row.kind, { ids: [row.id] });
      return ['h1', 'h2'].map((hostId) => ({ kind: row.kind, id: row.id, generation: 1, hostId, spec: { seen } }));
    },
  };

  it('places again only the resource whose kept value changed, and sends every host its new placement', async () => {
    const store = new IntentStore();
    const realizer = new Realizer(store, (kind) => (kind === 'Probe' ? probes : undefined), () => true);
    for (const h of ['h1', 'h2']) store.put(host(h));
    store.put(resource('r1'));
    store.put(resource('r2'));
    await realizer.rebuild();
    placed = 0;

    const change = store.observe('Probe', 'r1', 'h2', { down: ['m1'] })!;
    const deltas = await realizer.apply([change]);
    expect(placed).toBe(1);
    for (const h of ['h1', 'h2']) {
      expect(deltas.get(h)!.upserts.map((r) => [resourceKey(r), r.spec])).toEqual([['Probe/r1', { seen: [{ id: 'r1', hostId: 'h2', value: { down: ['m1'] } }] }]]);
    }
    // What the dispatcher asks before it starts a pass for an ack: kept already, or not.
    expect([store.keeps('Probe', 'r1', 'h2', { down: ['m1'] }), store.keeps('Probe', 'r1', 'h2', { down: [] }), store.keeps('Probe', 'r1', 'h1', null)]).toEqual([true, false, true]);
    // The same value again is no change; nothing kept for a resource not in the intent.
    expect(store.observe('Probe', 'r1', 'h2', { down: ['m1'] })).toBeUndefined();
    expect(store.observe('Probe', 'r9', 'h2', { down: [] })).toBeUndefined();
    expect(store.observe('Widget', 'r7', 'h2', { down: [] })).toBeUndefined();
    // Nothing observed any more: placed again without it.
    const gone = await realizer.apply([store.observe('Probe', 'r1', 'h2', null)!]);
    expect(placed).toBe(2);
    expect(gone.get('h1')!.upserts.map((r) => r.spec)).toEqual([{ seen: [] }]);
    // Deleting the resource forgets what was observed of it.
    store.observe('Probe', 'r2', 'h1', { down: [] });
    store.put({ kind: 'Resource', id: 'r2' });
    store.put(resource('r2'));
    expect(await probes.place(store.resources.get('r2')!, store.view(new Set(['Probe']), 'test.probes', []))).toEqual(
      ['h1', 'h2'].map((hostId) => ({ kind: 'Probe', id: 'r2', generation: 1, hostId, spec: { seen: [] } })),
    );
  });
});
