import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSchema } from 'graphql';
import { allKinds } from '../kinds/registry';
import { applyKinds } from './kinds';
import { formatPlan, OWNER_LABEL, planChanges, type LiveObject } from './plan';
import { parseTopology, TopologyError } from './topology-file';

// The served schema, as the CLI reads it by introspection at run time.
const schema = buildSchema(readFileSync(join(__dirname, '../../../../schema.graphql'), 'utf8'));
const kinds = applyKinds(schema, allKinds(schema));

const problems = (text: string): string[] => {
  try {
    parseTopology(text, 'topo.yaml', kinds);
  } catch (error) {
    if (error instanceof TopologyError) return error.problems;
    throw error;
  }
  throw new Error('no problem found');
};

const TOPOLOGY = `owner: lab
hosts:
  - name: h1
    vtepAddress: 192.0.2.1
networks:
  - name: blue
    mtu: 1400
    labels: { env: dev }
subnets:
  - name: blue-v4
    network: blue
    cidr: 10.0.0.0/24
ports:
  - name: web
    network: blue
    host: h1
    fixedIps: [{ subnet: blue-v4 }]
firewall-policies:
  - name: web-in
    selector: { ports: [web] }
    rules:
      - { priority: 10, direction: INGRESS, action: ALLOW, protocol: TCP, ports: [{ from: 80 }], remoteGroups: [office] }
`;

describe('parseTopology', () => {
  it('reads objects by kind, in the file form, and the names they refer to with their positions', () => {
    const t = parseTopology(TOPOLOGY, 'topo.yaml', kinds);
    expect(t.owner).toBe('lab');
    expect(t.objects.map((o) => `${o.kind}/${o.name}`)).toEqual(['Host/h1', 'Network/blue', 'Subnet/blue-v4', 'Port/web', 'FirewallPolicy/web-in']);
    expect(t.objects[1]).toMatchObject({ at: 'topo.yaml:6:5', fields: { mtu: 1400, labels: { env: 'dev' } } });
    expect(t.references).toContainEqual({ kind: 'AddressGroup', name: 'office', at: 'topo.yaml:22:113' });
    expect(t.references).toContainEqual({ kind: 'Subnet', name: 'blue-v4', at: 'topo.yaml:17:26' });
  });

  it('reports a YAML syntax error with its line and column', () => {
    expect(problems('networks:\n  - name: blue\n    mtu: [1400\n')).toEqual([expect.stringMatching(/^topo\.yaml:4:1: /)]);
    expect(problems('networks:\n  - name: a\n  name: b\n')[0]).toMatch(/^topo\.yaml:3:\d+: /);
  });

  it('names unknown kinds and fields with their line, and every bad value at once', () => {
    expect(
      problems(`widgets:
  - name: w
networks:
  - name: blue
    mtuu: 1400
    vni: ten
ports:
  - name: p
    fixedIps: [{ subnet: s, color: red }]
firewall-policies:
  - name: f
    selector: {}
    rules: [{ priority: 1, direction: UP, action: ALLOW }]
`),
    ).toEqual([
      'topo.yaml:1:1: unknown kind "widgets" (kinds: hosts, networks, subnets, ports, address-groups, firewall-policies, load-balancers, routers, taps)',
      'topo.yaml:5:5: unknown field "mtuu" in Network "blue" (fields: generation, labels, mtu, name, providerInterface, vlanId, vni)',
      'topo.yaml:6:10: Network "blue".vni: "ten" is not an integer',
      'topo.yaml:9:29: unknown field "color" in Port "p".fixedIps[0] (fields: ipAddress, subnet)',
      'topo.yaml:13:39: FirewallPolicy "f".rules[0].direction: "UP" is not one of EGRESS, INGRESS',
    ]);
  });

  it("reads the README's example file", () => {
    const readme = readFileSync(join(__dirname, '../../../../README.md'), 'utf8');
    const example = /```yaml\n(owner: lab[\s\S]*?)```/.exec(readme)![1];
    const t = parseTopology(example, 'README.md', kinds);
    expect(t.objects.map((o) => o.kind)).toEqual(['Host', 'Network', 'Subnet', 'Port', 'AddressGroup', 'FirewallPolicy']);
    expect(t.references.map((r) => `${r.kind}/${r.name}`).sort()).toEqual(['AddressGroup/office', 'Host/h1', 'Network/blue', 'Network/blue', 'Port/web', 'Subnet/blue-v4']);
  });

  it("reads the walk-through's file, examples/topology.yaml (applied by test/cli-walkthrough.e2e-spec.ts)", () => {
    const file = join(__dirname, '../../../../examples/topology.yaml');
    const t = parseTopology(readFileSync(file, 'utf8'), file, kinds);
    expect(t.owner).toBe('walkthrough');
    expect(t.objects.map((o) => `${o.kind}/${o.name}`)).toEqual([
      'Network/green',
      'Subnet/green-v4',
      'Port/app-0',
      'Port/app-1',
      'Port/client',
      'Router/green-gw',
      'LoadBalancer/app',
      'FirewallPolicy/app-in',
    ]);
    // The demo's hosts and its "outside" network are named, not described.
    expect(t.references.filter((r) => !t.objects.some((o) => o.kind === r.kind && o.name === r.name)).map((r) => `${r.kind}/${r.name}`).sort()).toEqual([
      'Host/dmo-h0',
      'Host/dmo-h0',
      'Host/dmo-h1',
      'Host/dmo-h2',
      'Network/outside',
    ]);
  });

  it('refuses objects without a name and names given twice', () => {
    expect(problems('networks:\n  - mtu: 1400\n')).toEqual(['topo.yaml:2:5: a Network needs a name']);
    expect(problems('networks:\n  - name: a\n  - name: a\n')).toEqual(['topo.yaml:3:5: Network "a" is already described at topo.yaml:2:5']);
  });
});

describe('planChanges', () => {
  const topology = parseTopology(TOPOLOGY, 'topo.yaml', kinds);
  const ids: Record<string, string> = { 'Network/n1': 'blue', 'Host/hh': 'h1', 'Subnet/s1': 'blue-v4' };
  const nameOf = (kind: string, id: string) => ids[`${kind}/${id}`];
  const owned = [{ key: 'env', value: 'dev' }, { key: OWNER_LABEL, value: 'lab' }];
  const live = (typeName: string, objects: Partial<LiveObject>[]): [string, LiveObject[]] => [
    typeName,
    objects.map((o, i) => ({ id: `${typeName}-${i}`, name: 'x', generation: 3, labels: [], ...o })),
  ];

  it('creates what is missing in dependency order, labels it with its owner, and changes nothing that matches', () => {
    const state = new Map([
      live('Host', [{ name: 'h1', vtepAddress: '192.0.2.1', labels: [{ key: OWNER_LABEL, value: 'lab' }], underlayMtu: 1500 }]),
      live('Network', [{ name: 'blue', mtu: 1400, labels: owned, vni: 7 }]),
    ]);
    const plan = planChanges(kinds, topology, state, 'lab', false, nameOf);
    expect(plan.problems).toEqual([]);
    expect(plan.changes.map((c) => `${c.op} ${c.kind.typeName}`)).toEqual(['create Subnet', 'create Port', 'create FirewallPolicy']);
    expect(plan.changes[0]).toMatchObject({ fields: { network: 'blue', cidr: '10.0.0.0/24', labels: { [OWNER_LABEL]: 'lab' } } });
  });

  it('lists changed fields old → new, in names, and what update cannot change as a problem', () => {
    const state = new Map([
      live('Network', [{ name: 'blue', mtu: 1500, labels: [{ key: OWNER_LABEL, value: 'lab' }] }]),
      live('Subnet', [{ name: 'blue-v4', networkId: 'other', cidr: '10.0.0.0/24', labels: owned }]),
      live('Port', [{ name: 'web', networkId: 'n1', hostId: 'hh', fixedIps: [{ subnetId: 's1', ipAddress: '10.0.0.9' }], labels: [{ key: OWNER_LABEL, value: 'lab' }] }]),
    ]);
    const plan = planChanges(kinds, topology, state, 'lab', false, nameOf);
    const text = formatPlan(plan);
    expect(text).toContain(`~ Network blue\n    mtu: 1500 → 1400\n    labels: { ${OWNER_LABEL}: lab } → { env: dev, ${OWNER_LABEL}: lab }`);
    // The port matches: its address was left to IPAM, only its subnet is compared.
    expect(text).not.toContain('Port web');
    expect(plan.problems).toEqual(['topo.yaml:10:5: Subnet "blue-v4": network cannot be changed (other → blue); delete it and apply again']);
  });

  it('deletes with prune only what its owner made and the file no longer names, last and in reverse order', () => {
    const state = new Map([
      live('Host', [{ name: 'h1', vtepAddress: '192.0.2.1', labels: [{ key: OWNER_LABEL, value: 'lab' }] }]),
      live('Network', [
        { name: 'gone', labels: [{ key: OWNER_LABEL, value: 'lab' }] },
        { name: 'theirs', labels: [] },
        { name: 'others', labels: [{ key: OWNER_LABEL, value: 'else' }] },
      ]),
      live('Port', [{ name: 'old', labels: [{ key: OWNER_LABEL, value: 'lab' }] }]),
    ]);
    const plan = planChanges(kinds, topology, state, 'lab', true, nameOf);
    expect(plan.changes.filter((c) => c.op === 'delete').map((c) => (c.op === 'delete' ? `${c.kind.typeName} ${c.live.name}` : ''))).toEqual(['Port old', 'Network gone']);
    expect(planChanges(kinds, topology, state, 'lab', false, nameOf).changes.some((c) => c.op === 'delete')).toBe(false);
  });

  it('refuses to take over an object another owner made, and asks for what creation needs', () => {
    const t = parseTopology('networks: [{ name: blue }]\nsubnets: [{ name: s }]\n', 'topo.yaml', kinds);
    const plan = planChanges(kinds, t, new Map([live('Network', [{ name: 'blue', labels: [{ key: OWNER_LABEL, value: 'else' }] }])]), 'lab', false, nameOf);
    expect(plan.problems).toEqual([
      `topo.yaml:1:12: Network "blue" belongs to "else" (label ${OWNER_LABEL}); apply it from that file or --owner else`,
      'topo.yaml:2:11: Subnet "s" does not exist yet: "cidr", "network" must be given to create it',
    ]);
  });
});
