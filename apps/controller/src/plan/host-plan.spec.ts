import { DesiredResource, NetworkSpec, PortSpec, ResourceKind } from '@netloom/model';
import { Names, plan, specHash } from '@netloom/planner';
import { fieldChanges, kernelAt, planHost } from './host-plan';

const names = new Names('nl', 'host-1');
const network = (mtu: number, vxlan: NetworkSpec['vxlan'] = null): DesiredResource<NetworkSpec> => ({ kind: ResourceKind.Network, id: 'net-1', generation: 1, spec: { vni: 100, mtu, vxlan } });
const port = (id: string, mtu: number, ip: string, extra: Partial<PortSpec> = {}): DesiredResource<PortSpec> => ({
  kind: ResourceKind.Port,
  id,
  generation: 1,
  spec: { networkId: 'net-1', mac: '02:00:00:00:00:01', mtu, addresses: [{ cidr: `${ip}/24`, family: 4 }], routes: [{ dst: 'default', via: '10.0.0.1', family: 4 }], netns: null, ...extra },
});
const router = (spec: unknown): DesiredResource => ({ kind: 'Router', id: 'r-1', generation: 1, spec });
const vxlan = { local: '192.0.2.1', peers: ['192.0.2.2'], remotes: [{ mac: '02:00:00:00:00:09', ips: ['10.0.0.9'], vtep: '192.0.2.2' }] };

describe('kernelAt', () => {
  it('is a kernel the planner finds nothing to do on for the state it stands for', () => {
    const before = [network(1400, vxlan), port('p-1', 1400, '10.0.0.2'), port('p-2', 1400, '10.0.0.3', { netns: 'user-ns' })];
    const applied = new Map(before.map((r) => [r.id, specHash(r)]));
    const p = plan({ desired: before, observed: kernelAt(before, before, names), applied, names });
    expect([p.root.lines, p.fdb.lines, p.inNetns, p.failures]).toEqual([[], [], [], []]);
  });
});

describe('planHost: provider networks', () => {
  const mappings = new Map([['physnet1', 'eth1']]);
  const provider = (vlanId?: number): DesiredResource<NetworkSpec> => ({
    ...network(1500),
    spec: { vni: 100, mtu: 1500, vxlan: null, provider: { physicalNetwork: 'physnet1', ...(vlanId ? { vlanId } : {}) } },
  });

  it('is a kernel the planner finds nothing to do on, flat or on a VLAN', () => {
    for (const net of [provider(), provider(100)]) {
      const state = [net, port('p-1', 1500, '10.0.0.2')];
      const applied = new Map(state.map((r) => [r.id, specHash(r)]));
      const p = plan({ desired: state, observed: kernelAt(state, state, names, mappings), applied, names, providerMappings: mappings });
      expect([p.root.lines, p.tc.lines, p.failures]).toEqual([[], [], []]);
    }
  });

  it("shows the uplink lines with the host's mappings, and the agent's refusal without them", () => {
    const overlay = [network(1500), port('p-1', 1500, '10.0.0.2')];
    const flat = [provider(), port('p-1', 1500, '10.0.0.2')];
    const [net] = planHost(overlay, flat, names, mappings).resources;
    expect(net.commands.map((c) => c.line)).toEqual([`link set dev eth1 master ${names.bridge('net-1')}`, 'link set dev eth1 up']);
    const tagged = planHost(flat, [provider(100), port('p-1', 1500, '10.0.0.2')], names, mappings).resources[0];
    const [u, w, trunk] = [names.vlan('net-1'), names.vlanPeer('net-1'), names.trunk('eth1')];
    expect(tagged.commands.map((c) => `${c.tool}: ${c.line}`)).toEqual([
      `ip: link add name ${trunk} type bridge mcast_snooping 0`,
      `ip: link set dev ${trunk} alias netloom:trunk:eth1 addrgenmode none`,
      `ip: link set dev ${trunk} up`,
      `ip: link set dev eth1 master ${trunk}`,
      'ip: link set dev eth1 up',
      `ip: link add name ${u} mtu 1500 master ${names.bridge('net-1')} type veth peer name ${w} mtu 1500`,
      `ip: link set dev ${u} alias netloom:network:net-1 addrgenmode none`,
      `ip: link set dev ${w} master ${trunk} alias netloom:network:net-1 addrgenmode none`,
      `ip: link set dev ${u} up`,
      `ip: link set dev ${w} up`,
      `tc: qdisc replace dev ${w} clsact`,
      `tc: filter replace dev ${w} ingress protocol all prio 1 handle 1 bpf da obj /run/netloom/bpf/netloom-vlan-tag-100.o sec tc`,
      `tc: filter replace dev ${w} egress protocol all prio 1 handle 1 bpf da obj /run/netloom/bpf/netloom-vlan-untag-100.o sec tc`,
    ]);
    // Back to flat: the pair and the trunk are charged to the network.
    const back = planHost([provider(100), port('p-1', 1500, '10.0.0.2')], flat, names, mappings).resources[0];
    expect(back.commands.map((c) => c.line)).toEqual([`link del dev ${u}`, `link del dev ${trunk}`, `link set dev eth1 master ${names.bridge('net-1')}`, 'link set dev eth1 up']);
    expect(planHost(overlay, flat, names).resources[0].problems).toEqual([expect.stringContaining('physical network physnet1 is not mapped on this host')]);
    // An agent without the `vlan` capability: the VLAN network's refusal, no trunk.
    const untagged = planHost(flat, [provider(100), port('p-1', 1500, '10.0.0.2')], names, mappings, false).resources[0];
    expect(untagged.problems).toEqual([expect.stringContaining('this kernel cannot tag VLANs')]);
    expect(untagged.commands.filter((c) => c.tool === 'tc' || c.line.includes(trunk))).toEqual([]);
  });
});

describe('planHost', () => {
  it('finds nothing when the desired state is the same', () => {
    const state = [network(1400), port('p-1', 1400, '10.0.0.2'), router({ a: 1 })];
    expect(planHost(state, state, names)).toEqual({ resources: [], portSecurity: [] });
  });

  it("charges each line to its resource: a new port, an MTU change, a deleted port's garbage", () => {
    const before = [network(1400), port('p-1', 1400, '10.0.0.2'), port('p-old', 1400, '10.0.0.3')];
    const after = [network(1300), port('p-1', 1300, '10.0.0.2'), port('p-new', 1300, '10.0.0.4')];
    const { resources, portSecurity } = planHost(before, after, names);
    const byId = new Map(resources.map((r) => [r.id, r]));
    expect(resources.map((r) => [r.kind, r.id, r.change])).toEqual([
      ['Network', 'net-1', 'CHANGED'],
      ['Port', 'p-1', 'CHANGED'],
      ['Port', 'p-new', 'CREATED'],
      ['Port', 'p-old', 'DELETED'],
    ]);
    const lines = (id: string): string[] => byId.get(id)!.commands.map((c) => `${c.tool}${c.netns ? ` [${c.netns}]` : ''} ${c.line}`);
    expect(lines('net-1')).toEqual([`ip link set dev ${names.bridge('net-1')} mtu 1300`, `ip link set dev ${names.bridge('net-1')} up`]);
    expect(byId.get('net-1')!.fields).toEqual([{ field: 'mtu', before: '1400', after: '1300' }]);
    expect(lines('p-1')[0]).toBe(`ip link set dev ${names.veth('p-1')} mtu 1300 master ${names.bridge('net-1')}`);
    expect(lines('p-new').slice(0, 2)).toEqual([
      `ip netns add ${names.portNetns('p-new')}`,
      `ip link add name ${names.veth('p-new')} mtu 1300 master ${names.bridge('net-1')} type veth peer name eth0 mtu 1300 netns ${names.portNetns('p-new')}`,
    ]);
    expect(lines('p-new')).toContain(`ip [${names.portNetns('p-new')}] addr replace 10.0.0.4/24 dev eth0`);
    expect(lines('p-old')).toEqual([`ip netns del ${names.portNetns('p-old')}`, `ip link del dev ${names.veth('p-old')}`]);
    // The host's port-security table: the old port's elements out, the new one's in; nothing about the unchanged one.
    const script = portSecurity.map((c) => c.line).join('\n');
    expect(script).toContain(`delete element bridge nl_portsec s_ports { "${names.veth('p-old')}" }`);
    expect(script).toContain(`add element bridge nl_portsec s_ports { "${names.veth('p-new')}" }`);
    expect(script).not.toContain(names.veth('p-1'));
    expect(portSecurity.every((c) => c.tool === 'nft' && c.netns === null)).toBe(true);
  });

  it('shows the overlay entries a new remote port brings, and a plugin kind by its fields only', () => {
    const before = [network(1400, vxlan), router({ routes: [], name: 'r' })];
    const moved = { ...vxlan, remotes: [...vxlan.remotes, { mac: '02:00:00:00:00:0a', ips: ['10.0.0.10'], vtep: '192.0.2.2' }] };
    const after = [network(1400, moved), router({ routes: [{ dst: '0.0.0.0/0' }], name: 'r' })];
    const { resources } = planHost(before, after, names);
    expect(resources.map((r) => r.commands.map((c) => `${c.tool} ${c.line}`))).toEqual([
      [`ip neigh replace 10.0.0.10 lladdr 02:00:00:00:00:0a dev ${names.vxlan('net-1')} nud permanent`, `bridge fdb replace 02:00:00:00:00:0a dev ${names.vxlan('net-1')} dst 192.0.2.2`],
      [],
    ]);
    expect(resources[1]).toMatchObject({ kind: 'Router', change: 'CHANGED', byPlugin: true, fields: [{ field: 'routes', before: '[]', after: '[{"dst":"0.0.0.0/0"}]' }] });
  });

  it('leaves out what did not change (the same objects), and keeps the port-security table of the ports left', () => {
    const net = network(1400);
    const kept = [port('p-1', 1400, '10.0.0.2'), port('p-2', 1400, '10.0.0.3')];
    const before = [net, ...kept, port('p-3', 1400, '10.0.0.4')];
    const after = [net, ...kept, port('p-3', 1400, '10.0.0.4', { portSecurity: false })];
    const { resources, portSecurity } = planHost(before, after, names);
    expect(resources.map((r) => [r.id, r.change, r.commands.length])).toEqual([['p-3', 'CHANGED', 0]]);
    const script = portSecurity.map((c) => c.line);
    expect(script).toContain(`delete element bridge nl_portsec s_ports { "${names.veth('p-3')}" }`);
    expect(script.filter((l) => !l.includes(names.veth('p-3')) && !l.includes(names.portCounter('p-3')))).toEqual([]);
  });

  it('deletes everything of a host that goes', () => {
    const { resources, portSecurity } = planHost([network(1400), port('p-1', 1400, '10.0.0.2')], [], names);
    expect(resources.map((r) => [r.id, r.change, r.commands.length > 0])).toEqual([
      ['net-1', 'DELETED', true],
      ['p-1', 'DELETED', true],
    ]);
    expect(portSecurity.map((c) => c.line)).toEqual(['delete table bridge nl_portsec']);
  });
});

describe('fieldChanges', () => {
  it('lists the top-level fields that differ, absent ones as null', () => {
    expect(fieldChanges(router({ a: 1, b: [1] }), router({ b: [1], c: 'x' }))).toEqual([
      { field: 'a', before: '1', after: null },
      { field: 'c', before: null, after: '"x"' },
    ]);
  });
});
