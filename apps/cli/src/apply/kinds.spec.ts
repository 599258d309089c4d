import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSchema } from 'graphql';
import { allKinds } from '../kinds/registry';
import { toFileObject, toInput } from './values';
import { applyKinds, liveSelection, nestedFields, orderKinds, refKind } from './kinds';

const schema = buildSchema(readFileSync(join(__dirname, '../../../../schema.graphql'), 'utf8'));
const kinds = applyKinds(schema, allKinds(schema));
const kind = (name: string) => kinds.find((k) => k.typeName === name)!;

describe('the kinds a topology file may describe, read from the schema', () => {
  it('are every kind with a create mutation, core kinds first, then each plugin kind after those it refers to', () => {
    expect(kinds.map((k) => k.typeName)).toEqual(['Host', 'Network', 'Subnet', 'Port', 'AddressGroup', 'FirewallPolicy', 'LoadBalancer', 'Router', 'Tap']);
    expect([...kind('FirewallPolicy').refersTo].sort()).toEqual(['AddressGroup', 'Network', 'Port']);
  });

  it('write ids of other kinds as names, under the field name without Id (Name when that is taken)', () => {
    expect([...kind('Port').fields.keys()].sort()).toEqual(['allowedAddressPairs', 'fixedIps', 'host', 'labels', 'macAddress', 'netns', 'network', 'portSecurity']);
    expect(kind('Port').fields.get('network')).toMatchObject({ input: 'networkId', ref: 'Network' });
    expect(kind('Router').fields.get('externalNetwork')).toMatchObject({ input: 'externalNetworkId', ref: 'Network' });
    expect(refKind('remoteGroupIds', kinds.map((k) => k.typeName))).toBe('AddressGroup');
    expect(refKind('widgetId', kinds.map((k) => k.typeName))).toBeUndefined();
    // Create-only fields are known as such: update cannot change them.
    expect(kind('Port').updatable.has('networkId')).toBe(false);
    expect(kind('Port').updatable.has('portSecurity')).toBe(true);
  });

  it("name a load balancer member's port portName, beside its port number", () => {
    const member = nestedFields(schema.getType('LoadBalancerMemberInput') as never, kinds.map((k) => k.typeName));
    expect(member.get('portName')).toMatchObject({ input: 'portId', ref: 'Port' });
    expect(member.get('port')).toMatchObject({ input: 'port' });
  });

  it('turn file values into inputs (names to ids, label maps to lists) and live values back', () => {
    const names = kinds.map((k) => k.typeName);
    const ids: Record<string, string> = { 'Port/web': 'p1', 'AddressGroup/office': 'g1', 'Network/blue': 'n1' };
    const idOf = (kind: string, name: string) => ids[`${kind}/${name}`];
    const nameOf = (kind: string, id: string) => Object.keys(ids).find((k) => k.startsWith(`${kind}/`) && ids[k] === id)?.split('/')[1];
    const file = {
      selector: { ports: ['web'], networks: ['blue'], labels: { tier: 'web' } },
      rules: [{ priority: 1, direction: 'INGRESS', action: 'ALLOW', remoteGroups: ['office'] }],
      labels: { a: 'b' },
    };
    const input = toInput(file, kind('FirewallPolicy').fields, names, idOf);
    expect(input).toEqual({
      selector: { portIds: ['p1'], networkIds: ['n1'], labels: [{ key: 'tier', value: 'web' }] },
      rules: [{ priority: 1, direction: 'INGRESS', action: 'ALLOW', remoteGroupIds: ['g1'] }],
      labels: [{ key: 'a', value: 'b' }],
    });
    expect(toFileObject(input, kind('FirewallPolicy').fields, names, nameOf)).toEqual(file);
  });

  it('select of a live object what its inputs can set, nested objects alike', () => {
    const port = liveSelection(kind('Port').inputs, schema.getType('Port')!);
    expect(port).toContain('fixedIps { ipAddress subnetId }');
    expect(port).toContain('networkId');
    expect(port).toContain('labels { key value }');
    expect(port).not.toContain('status');
  });

  it('order plugin kinds by reference, whatever their names, and survive a cycle', () => {
    const k = (typeName: string, refersTo: string[] = []) => ({ typeName, refersTo: new Set(refersTo) });
    expect(orderKinds([k('Aaa', ['Zzz']), k('Zzz', ['Port']), k('Port', ['Host']), k('Host')]).map((x) => x.typeName)).toEqual(['Host', 'Port', 'Zzz', 'Aaa']);
    expect(orderKinds([k('B', ['A']), k('A', ['B'])]).map((x) => x.typeName)).toEqual(['A', 'B']);
  });
});
