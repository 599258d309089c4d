import { hostTable, PORT_MARKS, RULES_PER_CHAIN } from './host-table';
import type { PlacedRule, PolicyPlacement } from './spec';
import { defaultCounter, type HeldPolicy, ruleCounter } from './table';

const placedRule = (r: Partial<PlacedRule>): PlacedRule => ({ priority: 10, direction: 'INGRESS', protocol: 'TCP', ports: [[80, 80]], remoteCidrs: [], remoteGroupIds: [], action: 'ALLOW', log: false, ...r });
const placed = (p: Partial<PolicyPlacement>): PolicyPlacement => ({ priority: 1000, ingressDefault: 'DROP', egressDefault: 'ALLOW', rules: [], ports: [], groups: {}, ...p });
const policy = (id: string, p: Partial<PolicyPlacement>): HeldPolicy => ({ id, spec: placed(p) });
const port = (portId: string, addresses: string[], policies: HeldPolicy[], bridge = 'br0') => ({ portId, bridge, addresses, policies });
const ruleLinesOf = (body: string): number => (body.match(/counter name "r_/g) ?? []).length;

describe('firewall: the host table', () => {
  const web = policy('web', { rules: [placedRule({ priority: 10 }), placedRule({ priority: 20, direction: 'EGRESS', protocol: 'UDP', ports: [[53, 53]] })] });
  const base = policy('base', { priority: 10, ingressDefault: 'ALLOW', rules: [placedRule({ priority: 1, action: 'DROP', remoteCidrs: ['10.9.0.0/16'] })] });

  it('holds each rule once, whatever the number of ports: ports are map elements', () => {
    const one = hostTable([port('p1', ['10.0.0.1'], [web])]);
    const many = hostTable(Array.from({ length: 50 }, (_, i) => port(`p${i}`, [`10.0.0.${i + 1}`], [web])));
    expect(many.body).toBe(one.body);
    expect(ruleLinesOf(many.body)).toBe(2);
    expect(many.maps.in4).toHaveLength(50);
    expect(many.maps.out4).toHaveLength(50);
    expect(many.counters).toEqual([defaultCounter('web', 'EGRESS'), defaultCounter('web', 'INGRESS'), ruleCounter('web', 10), ruleCounter('web', 20)].sort());
  });

  it('keys a port by (bridge . address) per family and direction, jumping to its combination of policies', () => {
    const { maps, body } = hostTable([port('p1', ['10.0.0.1', 'fd00::1'], [web, base], 'br1'), port('p2', ['10.0.0.1'], [web], 'br2')], new Map([['br1', 4], ['br2', 9]]));
    expect(maps.zones).toEqual([{ key: ['br1'], value: '4' }, { key: ['br2'], value: '9' }]);
    const [both] = maps.in4.filter((e) => e.key[0] === 'br1').map((e) => e.value);
    const [alone] = maps.in4.filter((e) => e.key[0] === 'br2').map((e) => e.value);
    expect(both).not.toBe(alone);
    expect(maps.in6).toEqual([{ key: ['br1', 'fd00::1'], value: both }]);
    expect(maps.out6[0].key).toEqual(['br1', 'fd00::1']);
    // The combination: the prologue, base's rules (priority 10) before web's, then the first non-ALLOW default (web's DROP).
    const chain = body.slice(body.indexOf(`chain ${both.replace('jump ', '')} {`)).split('\n}')[0].split('\n');
    expect(chain[1]).toBe('ct state established,related accept');
    expect(chain.filter((l) => l.startsWith('jump ')).length).toBe(2);
    expect(chain.at(-1)).toContain('comment "netloom fw web default-INGRESS DROP"');
    expect(body).toContain('chain egress {\ntype filter hook forward priority -1; policy accept;\niifname . ip saddr vmap @out4');
    expect(body).toContain('chain ingress {\ntype filter hook forward priority 0; policy accept;\noifname . ip daddr vmap @in4');
    expect(body).toContain('chain zone_in {\ntype filter hook prerouting priority raw; policy accept;\nct zone set iifname map @zones');
  });

  it(`splits a policy's rules into chains of ${RULES_PER_CHAIN}: one rule changed changes one chain`, () => {
    const rules = (changed: number) => Array.from({ length: 200 }, (_, i) => placedRule({ priority: i, ports: [[i === 7 ? changed : 1000 + i, i === 7 ? changed : 1000 + i]] }));
    const before = hostTable([port('p1', ['10.0.0.1'], [policy('big', { rules: rules(1007) })])]).body.split('\nchain ');
    const after = hostTable([port('p1', ['10.0.0.1'], [policy('big', { rules: rules(9) })])]).body.split('\nchain ');
    expect(before).toHaveLength(after.length);
    expect(before.filter((c, i) => c !== after[i])).toHaveLength(1);
    expect(ruleLinesOf(after.join('\nchain '))).toBe(200);
  });

  it("renders a chain again only when its rules changed, and always gives its groups' members as they are now", () => {
    const grouped = (members: string[], dport = 80) =>
      policy('grp', { rules: [placedRule({ priority: 1, remoteGroupIds: ['g1'], ports: [[dport, dport]] }), placedRule({ priority: 2 })], groups: { g1: members } });
    const first = hostTable([port('p1', ['10.0.0.1'], [grouped(['10.5.0.1', 'fd00::5'])])]);
    // The same rules in new objects (as every update brings them), the group's members changed: the same body, the new members.
    const again = hostTable([port('p1', ['10.0.0.1'], [grouped(['10.5.0.2'])])]);
    expect(again.body).toBe(first.body);
    expect(again.counters).toEqual(first.counters);
    expect(Object.values(first.sets).flat().sort()).toEqual(['10.5.0.1', 'fd00::5']);
    expect(Object.values(again.sets).flat()).toEqual(['10.5.0.2']);
    // A rule changed: its chain says so.
    const changed = hostTable([port('p1', ['10.0.0.1'], [grouped(['10.5.0.2'], 8080)])]);
    expect(changed.body).toContain('tcp dport 8080 ip saddr @g4_');
    expect(changed.body).not.toContain('tcp dport 80 ip saddr @g4_');
    expect(ruleLinesOf(changed.body)).toBe(ruleLinesOf(first.body));
  });

  it('is empty without ports', () => {
    expect(hostTable([])).toEqual({ body: '', counters: [], sets: {}, maps: {}, bridge: { body: '', maps: {} } });
  });

  it("sends a port's broadcast and multicast to its ingress by the mark of its copy: one element in each map", () => {
    const marked = (portId: string, mark: number, hostIfname: string) => ({ ...port(portId, [`10.0.0.${mark - PORT_MARKS.first}`], [web]), mark, hostIfname });
    const { maps, body, bridge } = hostTable([marked('p1', PORT_MARKS.first + 1, 'v1'), marked('p2', PORT_MARKS.first + 2, 'v2')]);
    expect(maps.inmark).toEqual([
      { key: [String(PORT_MARKS.first + 1)], value: maps.in4[0].value },
      { key: [String(PORT_MARKS.first + 2)], value: maps.in4[1].value },
    ]);
    expect(bridge.maps.omark).toEqual([
      { key: ['v1'], value: String(PORT_MARKS.first + 1) },
      { key: ['v2'], value: String(PORT_MARKS.first + 2) },
    ]);
    expect(body).toContain('meta pkttype { broadcast, multicast } meta mark vmap @inmark');
    expect(bridge.body).toContain('type filter hook forward priority -200; policy accept;\nmeta pkttype { broadcast, multicast } meta mark set oifname map @omark');
    // Without a mark (not known), nothing in the bridge table.
    expect(hostTable([port('p1', ['10.0.0.1'], [web])]).bridge).toEqual({ body: '', maps: {} });
  });
});
