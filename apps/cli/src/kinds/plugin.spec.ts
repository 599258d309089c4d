import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSchema, parse, validate } from 'graphql';
import { coreKinds } from './core';
import { withoutNulls } from './describe-helpers';
import { initials, kebab } from './kind';
import { PluginKind, selectionOf } from './plugin';
import { findKind, kindList } from './registry';

// The served schema, as the CLI reads it by introspection at run time.
const schema = buildSchema(readFileSync(join(__dirname, '../../../../schema.graphql'), 'utf8'));
const plugins = PluginKind.fromSchema(schema, new Set(coreKinds.map((k) => k.typeName)));

describe('plugin kinds read from the schema', () => {
  it('are the list fields of nodes with a name and a status per host, the core kinds left out', () => {
    expect(plugins.map((k) => [k.listField, k.typeName, k.cascades]).sort()).toEqual([
      ['addressGroups', 'AddressGroup', false],
      ['firewallPolicies', 'FirewallPolicy', false],
      ['loadBalancers', 'LoadBalancer', false],
      ['routers', 'Router', false],
      ['taps', 'Tap', false],
    ]);
  });

  it('are named by type, list field, kebab case or initials', () => {
    const all = [...coreKinds, ...plugins];
    for (const word of ['load-balancers', 'LoadBalancer', 'loadbalancer', 'lb', 'load_balancers']) expect(findKind(all, word)?.typeName).toBe('LoadBalancer');
    expect(findKind(all, 'fp')?.typeName).toBe('FirewallPolicy');
    expect(findKind(all, 'net')?.typeName).toBe('Network');
    expect(findKind(all, 'widget')).toBeUndefined();
    expect(kindList(all)).toBe('hosts, networks, subnets, ports, address-groups, firewall-policies, load-balancers, routers, taps');
    expect([kebab('firewallPolicies'), initials('Router'), initials('AddressGroup')]).toEqual(['firewall-policies', undefined, 'ag']);
  });

  it('select every field without arguments, references by id and name, unions by member, and validate', () => {
    const lb = schema.getType('LoadBalancer')!;
    const selection = selectionOf(lb);
    expect(selection).toContain('listeners { pool { affinityTimeout algorithm healthMonitor {');
    expect(selection).toContain('members { address adminUp name port portId weight }');
    expect(selection).toContain('host { id name }');
    // The object a ref names, by id and name; a list of them is left out (the ids are there).
    expect(selectionOf(schema.getType('Router')!)).toMatch(/floatingIps \{ address port \{ id name \} portId \}/);
    expect(selectionOf(schema.getType('FirewallPolicy')!)).toMatch(/selector \{ labels \{ key value \} networkIds portIds \}/);
    expect(selection).toMatch(/observed \{ __typename \.\.\. on FirewallPolicyObserved \{ .* \} \.\.\. on LoadBalancerObserved \{ listeners \{ members \{ address bytes checked connections/);
    for (const kind of plugins) {
      const document = parse(`{ ${kind.listField}(first: 1) { edges { node { ${selectionOf(schema.getType(kind.typeName)!)} } } } }`);
      expect({ kind: kind.typeName, errors: validate(schema, document).map((e) => e.message) }).toEqual({ kind: kind.typeName, errors: [] });
    }
  });

  it('show in a table their scalar fields, the size of their lists, the status summary', () => {
    const router = plugins.find((k) => k.typeName === 'Router')!;
    const object = {
      id: 'r-1', name: 'edge', generation: 2, createdAt: new Date().toISOString(), labels: [],
      externalAddress: '203.0.113.5', externalNetworkId: 'n-1', hostId: 'h-1', snat: true,
      floatingIps: [], interfaces: [{ subnetId: 's' }, { subnetId: 't' }], routes: [],
      status: [{ hostId: 'h-1', host: { name: 'h1' }, state: 'APPLIED', generation: 2 }],
    };
    const table = router.table([object], false);
    expect(table.headers).toEqual(['NAME', 'EXTERNAL ADDRESS', 'SNAT', 'FLOATING IPS', 'INTERFACES', 'ROUTES', 'STATUS', 'AGE']);
    expect(table.rows).toEqual([['edge', '203.0.113.5', 'true', '0', '2', '0', '1/1 APPLIED', '0s']]);
    expect(router.table([object], true).headers).toEqual([
      ...table.headers.slice(0, -2),
      'EXTERNAL NETWORK ID',
      'HOST ID',
      'STATUS',
      'AGE',
      'ID',
      'LABELS',
    ]);
  });

  it('leave unset fields out of describe', () => {
    expect(withoutNulls({ a: null, b: [{ c: null, d: 1 }], e: { f: null } })).toEqual({ b: [{ d: 1 }], e: {} });
  });
});
