import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSchema } from 'graphql';
import { allKinds } from '../kinds/registry';
import { applyKinds, liveSelection, orderKinds, refKind } from './kinds';

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
