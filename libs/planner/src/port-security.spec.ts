import { NftTableView } from '@netloom/linux';
import { DesiredResource, PortSpec, ResourceKind } from '@netloom/model';
import { Names } from './naming';
import { CHECK_RULES, droppedByPort, linkLocal, planPortSecurity as planFromState, portElements, portSecurityState } from './port-security';

const names = new Names('nl', 'host-1');
const T = 'bridge nl_portsec';
const A = names.veth('a');

const port = (id: string, extra: Partial<PortSpec> = {}): DesiredResource<PortSpec> => ({
  kind: ResourceKind.Port,
  id,
  generation: 1,
  spec: {
    networkId: 'net',
    mac: '02:00:00:00:00:01',
    mtu: 1450,
    addresses: [
      { cidr: '10.0.0.2/24', family: 4 },
      { cidr: 'fd00::2/64', family: 6 },
    ],
    routes: [],
    netns: null,
    ...extra,
  },
});

/**
 * What nft would list after `script` ran on `before` (a small model of the commands the planner
 * writes: tables, sets, counters, elements; a 128-bit value listed back as nft does, unpadded).
 */
function after(before: NftTableView | null, script: string): NftTableView | null {
  let view = before && structuredClone(before);
  for (const line of script.trim().split('\n').filter(Boolean)) {
    const [verb, what, , , name] = line.split(' ');
    const body = /\{ (.*) \}$/.exec(line)?.[1] ?? '';
    if (what === 'table') view = verb === 'add' ? { chains: [], rules: [], sets: [], counters: [] } : null;
    else if (!view) throw new Error(`no table for: ${line}`);
    else if (what === 'chain') view.chains.push({ name, ...(/hook (\w+)/.exec(line) ? { hook: /hook (\w+)/.exec(line)![1] } : {}) });
    else if (what === 'rule') view.rules.push({ chain: name, handle: view.rules.length + 1 });
    else if (what === 'set' || what === 'map') view.sets.push({ name, elements: [] });
    else if (what === 'counter' && verb === 'add') view.counters.push({ name, packets: 0, bytes: 0 });
    else if (what === 'counter') view.counters = view.counters.filter((c) => c.name !== name);
    else if (what === 'element') {
      const set = view.sets.find((s) => s.name === name)!;
      for (const text of body.split(', ')) {
        const [key, value] = text.split(' : ');
        const parts = key.split(' . ').map((p, i) => (i === 0 ? p.slice(1, -1) : p.replace(/0x0*([0-9a-f])/g, '0x$1')));
        const same = (e: { parts: string[] }) => e.parts.join('|') === parts.join('|') || (name === 'm_drop' && e.parts[0] === parts[0]);
        if (verb === 'add') set.elements.push({ parts, ...(value ? { value: value.slice(1, -1) } : {}) });
        else set.elements = set.elements.filter((e) => !same(e));
      }
    }
  }
  return view;
}

/** The planner on a table as nft lists it. */
const planPortSecurity = (desired: DesiredResource[], view: NftTableView | null, n: Names, skip?: ReadonlySet<string>) =>
  planFromState(desired, portSecurityState(view), n, skip);

const elementsOf = (view: NftTableView | null, set: string): string[] => view!.sets.find((s) => s.name === set)!.elements.map((e) => e.parts.join(' . '));

describe('portElements', () => {
  it('binds each MAC to its addresses for IPv4, ARP, IPv6 and ND, with the link-local and pairs', () => {
    const elements = portElements(A, port('a', { allowedAddressPairs: [{ ip: '10.0.0.100', mac: '00:00:5e:00:01:07' }, { ip: 'fd00:1::/64', mac: '02:00:00:00:00:01' }] }).spec);
    const v = `"${A}"`;
    expect(elements).toEqual({
      s_mac: [`${v} . 02:00:00:00:00:01`, `${v} . 00:00:5e:00:01:07`],
      s_arp: [`${v} . 02:00:00:00:00:01 . 02:00:00:00:00:01 . 10.0.0.2`, `${v} . 00:00:5e:00:01:07 . 00:00:5e:00:01:07 . 10.0.0.100`],
      s_ip4: [`${v} . 02:00:00:00:00:01 . 10.0.0.2`, `${v} . 00:00:5e:00:01:07 . 10.0.0.100`],
      s_ip6: [`${v} . 02:00:00:00:00:01 . fd00::2`, `${v} . 02:00:00:00:00:01 . fe80::ff:fe00:1`, `${v} . 02:00:00:00:00:01 . fd00:1::/64`],
      s_nd: [
        `${v} . 0xfd000000000000000000000000000002`,
        `${v} . 0xfe80000000000000000000fffe000001`,
        `${v} . 0xfd000001000000000000000000000000-0xfd00000100000000ffffffffffffffff`,
      ],
    });
  });

  it('leaves out addresses a pair of the same MAC covers (interval sets refuse overlaps), and writes /32 plain', () => {
    const elements = portElements(A, port('a', { allowedAddressPairs: [{ ip: '10.0.0.0/24', mac: '02:00:00:00:00:01' }, { ip: '10.9.9.9/32', mac: '02:00:00:00:00:01' }] }).spec);
    expect(elements.s_ip4).toEqual([`"${A}" . 02:00:00:00:00:01 . 10.0.0.0/24`, `"${A}" . 02:00:00:00:00:01 . 10.9.9.9`]);
  });

  it('lets a port without IPv4 send no IPv4 and no ARP at all', () => {
    const elements = portElements(A, port('a', { addresses: [] }).spec);
    expect([elements.s_arp, elements.s_ip4]).toEqual([[], []]);
  });

  it('refuses a value that is no MAC or address before anything reaches nft', () => {
    expect(() => portElements(A, port('a', { allowedAddressPairs: [{ ip: '10.0.0.1 } ; flush ruleset', mac: '02:00:00:00:00:01' }] }).spec)).toThrow(/invalid/);
    expect(() => portElements(A, port('a', { mac: '02:00:00:00:00:01 } accept' }).spec)).toThrow(/invalid/);
  });

  it('derives the EUI-64 link-local address', () => {
    expect(linkLocal('52:54:00:12:34:56')).toBe('fe80::5054:ff:fe12:3456');
    expect(linkLocal('02:00:00:00:00:01')).toBe('fe80::ff:fe00:1');
  });
});

describe('planPortSecurity', () => {
  it('makes no table on a host without a secured port, and removes it with the last one', () => {
    expect(planPortSecurity([port('a', { portSecurity: false })], null, names)).toEqual({ script: '', written: [], invalid: [], after: null });
    const table = after(null, planPortSecurity([port('a')], null, names).script);
    expect(planPortSecurity([port('a', { portSecurity: false })], table, names).script).toBe(`delete table ${T}\n`);
    expect(planPortSecurity([], table, names).script).toBe(`delete table ${T}\n`);
  });

  it('builds the table once, its rules the same for every port, and each secured port in the sets, in one script', () => {
    const { script, written } = planPortSecurity([port('a'), port('b', { portSecurity: false }), port('c')], null, names);
    const lines = script.trim().split('\n');
    expect(lines[0]).toBe(`add table ${T}`);
    expect(lines.filter((l) => l.startsWith(`add rule ${T} check `))).toHaveLength(CHECK_RULES.length);
    expect(lines).toContain(`add rule ${T} pre iifname @s_ports jump check`);
    expect(lines).toContain(`add element ${T} s_ports { "${A}", "${names.veth('c')}" }`);
    expect(lines).toContain(`add element ${T} m_drop { "${A}" : "${names.portCounter('a')}", "${names.veth('c')}" : "${names.portCounter('c')}" }`);
    expect(script).not.toContain(names.veth('b'));
    expect(written).toEqual(['Port/a', 'Port/c']);
  });

  it('runs nothing when the table already matches (as nft lists it back)', () => {
    const desired = [port('a'), port('c', { allowedAddressPairs: [{ ip: 'fd00:9::/48', mac: '02:00:00:00:00:01' }, { ip: '10.0.0.9', mac: '02:00:00:00:00:09' }] })];
    const table = after(null, planPortSecurity(desired, null, names).script);
    expect(planPortSecurity(desired, table, names)).toMatchObject({ script: '', written: [], invalid: [] });
  });

  it('changes only the elements of the port whose pairs changed', () => {
    const table = after(null, planPortSecurity([port('a'), port('c')], null, names).script);
    const { script, written } = planPortSecurity([port('a'), port('c', { allowedAddressPairs: [{ ip: '10.0.0.9', mac: '02:00:00:00:00:01' }] })], table, names);
    expect(written).toEqual(['Port/c']);
    const c = `"${names.veth('c')}"`;
    expect(script.trim().split('\n')).toEqual([
      `add element ${T} s_arp { ${c} . 02:00:00:00:00:01 . 02:00:00:00:00:01 . 10.0.0.9 }`,
      `add element ${T} s_ip4 { ${c} . 02:00:00:00:00:01 . 10.0.0.9 }`,
    ]);
    // And back: the pair's elements go, nothing else.
    const withPair = after(table, script);
    const back = planPortSecurity([port('a'), port('c')], withPair, names);
    expect(back.script.trim().split('\n')).toEqual([
      `delete element ${T} s_arp { ${c} . 02:00:00:00:00:01 . 02:00:00:00:00:01 . 10.0.0.9 }`,
      `delete element ${T} s_ip4 { ${c} . 02:00:00:00:00:01 . 10.0.0.9 }`,
    ]);
    expect(planPortSecurity([port('a'), port('c')], after(withPair, back.script), names).script).toBe('');
  });

  it("removes a deleted port's elements and counter, and a port's whose security was turned off", () => {
    const table = after(null, planPortSecurity([port('a'), port('b'), port('c')], null, names).script);
    const { script, written } = planPortSecurity([port('a'), port('b', { portSecurity: false })], table, names);
    // b is still desired: if this fails, so does b.
    expect(written).toEqual(['Port/b']);
    const left = after(table, script);
    for (const set of ['s_ports', 's_mac', 's_arp', 's_ip4', 's_ip6', 's_nd', 'm_drop']) {
      expect(elementsOf(left, set).every((e) => e.startsWith(A))).toBe(true);
    }
    expect(left!.counters.map((c) => c.name)).toEqual([names.portCounter('a')]);
    // Elements before the counters they name.
    const lines = script.trim().split('\n');
    expect(lines.findIndex((l) => l.startsWith('delete counter'))).toBeGreaterThan(lines.findIndex((l) => l.includes('m_drop')));
  });

  it('keeps what a port backing off has', () => {
    const table = after(null, planPortSecurity([port('a')], null, names).script);
    expect(planPortSecurity([port('a', { allowedAddressPairs: [{ ip: '10.0.0.9', mac: '02:00:00:00:00:01' }] })], table, names, new Set(['Port/a'])).script).toBe('');
  });

  it('replaces a table whose chains or sets were changed by hand, whole, in the same transaction', () => {
    const table = after(null, planPortSecurity([port('a')], null, names).script)!;
    for (const broken of [
      { ...table, sets: table.sets.filter((s) => s.name !== 's_nd') },
      { ...table, rules: table.rules.slice(1) },
      { ...table, chains: table.chains.filter((c) => c.name !== 'check') },
    ]) {
      const { script, written } = planPortSecurity([port('a')], broken, names);
      expect(script.trim().split('\n').slice(0, 2)).toEqual([`delete table ${T}`, `add table ${T}`]);
      expect(written).toEqual(['Port/a']);
      expect(planPortSecurity([port('a')], after(broken, script), names).script).toBe('');
    }
  });

  it('lists a port with an invalid value as secured with nothing allowed, and reports it', () => {
    const { script, written, invalid } = planPortSecurity([port('a', { mac: 'zz' }), port('b')], null, names);
    expect(invalid).toEqual([{ key: 'Port/a', reason: expect.stringContaining('port security') as string }]);
    expect(written).toEqual(['Port/b']);
    const view = after(null, script);
    expect(elementsOf(view, 's_ports')).toContain(A);
    expect(elementsOf(view, 's_mac').some((e) => e.startsWith(A))).toBe(false);
  });
});

describe('the state a plan leaves', () => {
  it('is what nft lists after its script, step after step, so a pass need not list the table again', () => {
    const steps: DesiredResource<PortSpec>[][] = [
      [port('a'), port('b')],
      [port('a'), port('b'), port('c', { allowedAddressPairs: [{ ip: 'fd00:9::/48', mac: '02:00:00:00:00:01' }, { ip: '10.0.0.9', mac: '02:00:00:00:00:09' }] })],
      [port('a'), port('c', { allowedAddressPairs: [{ ip: '10.0.0.0/24', mac: '02:00:00:00:00:01' }] })],
      [port('a', { portSecurity: false }), port('c'), port('d', { mac: 'zz' })],
      [port('c', { addresses: [] }), port('e')],
      [port('e', { portSecurity: false })],
      [port('f')],
    ];
    let view: NftTableView | null = null;
    let state = portSecurityState(view);
    for (const desired of steps) {
      const plan = planFromState(desired, state, names);
      view = after(view, plan.script);
      // What the plan says the table holds is what nft would list.
      expect(plan.after).toEqual(portSecurityState(view));
      // And from there (listed or not) nothing is left to do.
      expect(planFromState(desired, plan.after, names).script).toBe('');
      state = plan.after;
    }
  });

  it('keeps what a port backing off has, in the state too', () => {
    const first = planFromState([port('a'), port('b')], null, names);
    const kept = planFromState([port('a', { allowedAddressPairs: [{ ip: '10.0.0.9', mac: '02:00:00:00:00:01' }] })], first.after, names, new Set(['Port/a']));
    expect(kept.after?.byVeth.get(A)).toEqual(first.after?.byVeth.get(A));
    expect(kept.after).toEqual(portSecurityState(after(after(null, first.script), kept.script)));
  });
});

describe('droppedByPort', () => {
  it("reads each secured port's counter", () => {
    const counters = new Map([[names.portCounter('a'), 7], [names.portCounter('c'), 3]]);
    expect(droppedByPort([port('a'), port('b'), port('c', { portSecurity: false })], counters, names)).toEqual(new Map([['a', 7]]));
  });
});
