import { buildSchema, printSchema } from 'graphql';
import { definePlugin, FieldType, t } from '@netloom/plugin-sdk';
import { LoadedKind } from './plugin-registry';
import { extendSchemaWithPlugins, kindNames, PluginFieldHandlers } from './plugin-schema';

const CORE = buildSchema(`
  scalar DateTime
  type Label { key: String! value: String! }
  input LabelInput { key: String! value: String! }
  type PageInfo { hasNextPage: Boolean! }
  type ResourceStatus { hostId: ID! }
  input DeleteInput { id: ID! generation: Int }
  type DeletePayload { deletedIds: [ID!]! }
  type Query { networks: Int }
  type Mutation { createNetwork: Int }
`);

const handlers = new Proxy({} as PluginFieldHandlers, {
  get: () => () => {
    throw new Error('not called here');
  },
});

const kind = (name: string, fields: Record<string, FieldType>): LoadedKind => ({
  name,
  definition: { fields },
  plugin: definePlugin({ id: 'acme.x', version: '1.0.0', sdk: 1, kinds: { [name]: { fields } } }),
});

describe('extendSchemaWithPlugins', () => {
  it('returns the schema untouched without plugin kinds', () => {
    expect(extendSchemaWithPlugins(CORE, [], handlers)).toBe(CORE);
  });

  it('adds the object type, inputs, filter, connection, queries and mutations of a kind', () => {
    const schema = extendSchemaWithPlugins(
      CORE,
      [kind('Policy', { mode: t.enum('Mode', ['A', 'B']), rules: t.list(t.object('Rule', { cidr: t.cidr(), port: t.int({ required: false }) })), note: t.string({ required: false }) })],
      handlers,
    );
    const sdl = printSchema(schema);
    expect(sdl).toContain('enum PolicyMode {\n  A\n  B\n}');
    expect(sdl).toContain('type PolicyRule {\n  cidr: String!\n  port: Int\n}');
    expect(sdl).toContain('input PolicyRuleInput {\n  cidr: String!\n  port: Int\n}');
    expect(sdl).toMatch(/input CreatePolicyInput \{\n {2}name: String!\n {2}labels: \[LabelInput!\]\n {2}mode: PolicyMode!\n {2}rules: \[PolicyRuleInput!\]\n {2}note: String\n\}/);
    expect(sdl).toMatch(/input UpdatePolicyInput \{[^}]*mode: PolicyMode\n/);
    expect(sdl).toContain('policies(first: Int, after: String, last: Int, before: String, filter: PolicyFilter): PolicyConnection!');
    expect(sdl).toMatch(/createPolicy\(\n? *input: CreatePolicyInput!/);
    expect(sdl).toMatch(/deletePolicy\(\n? *input: DeleteInput!/);
    expect(schema.getQueryType()!.getFields().networks).toBeDefined();
  });

  it('refuses names that clash with the core schema', () => {
    expect(() => extendSchemaWithPlugins(CORE, [kind('Label', {})], handlers)).toThrow(/clashes/);
    expect(() => extendSchemaWithPlugins(CORE, [kind('Network', {})], handlers)).toThrow(/already taken/);
  });

  it('pluralizes like English, mostly', () => {
    expect(kindNames('Router')).toEqual({ singular: 'router', plural: 'routers' });
    expect(kindNames('QosPolicy').plural).toBe('qosPolicies');
    expect(kindNames('Address').plural).toBe('addresses');
  });
});
