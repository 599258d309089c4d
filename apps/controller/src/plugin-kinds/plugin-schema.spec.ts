import { buildSchema, graphql, GraphQLInputObjectType, GraphQLObjectType, GraphQLSchema, printSchema } from 'graphql';
import { definePlugin, FieldType, t } from '@netloom/plugin-sdk';
import { unboundedLists } from '../common/query-limits';
import { LoadedKind } from './plugin-registry';
import { extendSchemaWithPlugins, kindNames, placementView, PluginFieldHandlers, refObjectName } from './plugin-schema';

const CORE = buildSchema(`
  scalar DateTime
  type Label { key: String! value: String! }
  input LabelInput { key: String! value: String! }
  type PageInfo { hasNextPage: Boolean! }
  type ResourceStatus { hostId: ID! kind: String! }
  interface Node { id: ID! }
  type Port implements Node { id: ID! status: [ResourceStatus!]! }
  input DeleteInput { id: ID! generation: Int }
  type DeletePayload { deletedIds: [ID!]! }
  type Query { networks: Int ports: [Port!]! }
  type Mutation { createNetwork: Int }
  type Subscription { resourceStatusChanges: ResourceStatus! }
`);

const handlers = new Proxy({} as PluginFieldHandlers, {
  get: () => () => {
    throw new Error('not called here');
  },
});

const kind = (name: string, fields: Record<string, FieldType>, observed?: Record<string, FieldType>): LoadedKind => ({
  name,
  definition: { fields, observed },
  plugin: definePlugin({ id: 'acme.x', version: '1.0.0', sdk: 1, kinds: { [name]: { fields, observed } } }),
});

const LB_OBSERVED = {
  operatingStatus: t.enum('OperatingStatus', ['ONLINE', 'OFFLINE']),
  connections: t.counter(),
  members: t.list(t.object('MemberObserved', { address: t.ip(), packets: t.counter({ required: false }) })),
};

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
    expect(sdl).toMatch(/createPolicies\(\n? *inputs: \[CreatePolicyInput!\]!/);
    expect(schema.getMutationType()!.getFields().createPolicies.type.toString()).toBe('[Policy!]!');
    expect(sdl).toMatch(/deletePolicy\(\n? *input: DeleteInput!/);
    expect(schema.getQueryType()!.getFields().networks).toBeDefined();
  });

  it('maps counters to Float, in types and inputs', () => {
    const sdl = printSchema(extendSchemaWithPlugins(CORE, [kind('Meter', { limit: t.counter(), burst: t.counter({ required: false }) })], handlers));
    expect(sdl).toMatch(/type Meter implements Node \{[^}]*limit: Float!\n {2}burst: Float\n/);
    expect(sdl).toMatch(/input CreateMeterInput \{[^}]*limit: Float!\n/);
  });

  it('leaves ResourceStatus alone when no kind declares observed state', () => {
    const schema = extendSchemaWithPlugins(CORE, [kind('Policy', { note: t.string() })], handlers);
    expect(schema.getType('ResourceStatus')).toBe(CORE.getType('ResourceStatus'));
    const sdl = printSchema(schema);
    expect(sdl).toContain('type ResourceStatus {\n  hostId: ID!\n  kind: String!\n}');
    expect(sdl).not.toMatch(/Observed/);
  });

  describe('observed state', () => {
    const kinds = [kind('LoadBalancer', { vip: t.ip() }, LB_OBSERVED), kind('Meter', { rate: t.int() }, { packets: t.counter() }), kind('Policy', { note: t.string() })];
    const statuses = [
      { hostId: 'h1', kind: 'LoadBalancer', observed: { operatingStatus: 'ONLINE', connections: 2 ** 40, members: [{ address: '10.0.0.5', packets: null }] } },
      { hostId: 'h2', kind: 'Meter', observed: { packets: 7 } },
      { hostId: 'h3', kind: 'Policy', observed: { stale: true } },
      { hostId: 'h4', kind: 'LoadBalancer', observed: null },
      { hostId: 'h5', kind: 'Port' },
    ];
    let schema: GraphQLSchema;
    beforeAll(() => {
      schema = extendSchemaWithPlugins(CORE, kinds, handlers);
    });

    it('adds <Kind>Observed types, their union, and ResourceStatus.observed', () => {
      const sdl = printSchema(schema);
      expect(sdl).toContain('type LoadBalancerObserved {\n  operatingStatus: LoadBalancerOperatingStatus!\n  connections: Float!\n  members: [LoadBalancerMemberObserved!]!\n}');
      expect(sdl).toContain('type LoadBalancerMemberObserved {\n  address: String!\n  packets: Float\n}');
      expect(sdl).toContain('type MeterObserved {\n  packets: Float!\n}');
      expect(sdl).toContain('union PluginObserved = LoadBalancerObserved | MeterObserved');
      expect(sdl).toMatch(/type ResourceStatus \{\n {2}hostId: ID!\n {2}kind: String!\n(.*\n)* {2}observed: PluginObserved\n\}/);
      expect(sdl).not.toContain('PolicyObserved');
    });

    it('uses the new ResourceStatus everywhere: core types, plugin types and the subscription', () => {
      const status = schema.getType('ResourceStatus') as GraphQLObjectType;
      const port = schema.getType('Port') as GraphQLObjectType;
      const lb = schema.getType('LoadBalancer') as GraphQLObjectType;
      const named = (t: unknown): unknown => ((t as { ofType?: unknown }).ofType ? named((t as { ofType: unknown }).ofType) : t);
      expect(named(port.getFields().status.type)).toBe(status);
      expect(named(lb.getFields().status.type)).toBe(status);
      expect(named(schema.getSubscriptionType()!.getFields().resourceStatusChanges.type)).toBe(status);
    });

    it('resolves observed by the status kind; null without a value or a schema for the kind', async () => {
      const result = await graphql({
        schema,
        source: `{ ports { status { hostId observed {
          __typename
          ... on LoadBalancerObserved { operatingStatus connections members { address packets } }
          ... on MeterObserved { packets }
        } } } }`,
        rootValue: { ports: [{ id: 'p', status: statuses }] },
      });
      expect(result.errors).toBeUndefined();
      expect((result.data as any).ports[0].status).toEqual([
        {
          hostId: 'h1',
          observed: { __typename: 'LoadBalancerObserved', operatingStatus: 'ONLINE', connections: 2 ** 40, members: [{ address: '10.0.0.5', packets: null }] },
        },
        { hostId: 'h2', observed: { __typename: 'MeterObserved', packets: 7 } },
        { hostId: 'h3', observed: null },
        { hostId: 'h4', observed: null },
        { hostId: 'h5', observed: null },
      ]);
    });
  });

  describe('descriptions', () => {
    const shared = () => t.object('Match', { cidr: t.cidr() }, { required: false, description: 'Where it comes from.', typeDescription: 'A set of addresses.' });
    const kinds = [
      kind('Policy', {
        from: shared(),
        to: { ...shared(), description: 'Where it goes.' },
        rules: t.list(t.object('Rule', { note: t.string() }), { description: 'In order.' }),
        mode: t.enum('Mode', ['A', 'B'], { description: 'How it runs.' }),
      }),
    ];
    let schema: GraphQLSchema;
    beforeAll(() => {
      schema = extendSchemaWithPlugins(CORE, kinds, handlers);
    });
    const fieldsOf = (name: string) => (schema.getType(name) as GraphQLObjectType).getFields();

    it("puts a field's description on the field, never on the type it holds", () => {
      expect(fieldsOf('Policy').from.description).toBe('Where it comes from.');
      expect(fieldsOf('Policy').to.description).toBe('Where it goes.');
      expect(fieldsOf('Policy').rules.description).toBe('In order.');
      expect(fieldsOf('Policy').mode.description).toBe('How it runs.');
      expect(schema.getType('PolicyRule')!.description).toBe('Part of a Policy.');
      expect(schema.getType('PolicyRuleInput')!.description).toBe('Part of a Policy.');
      expect(schema.getType('PolicyMode')!.description).toBe('A value of a Policy field.');
    });

    it('describes a shared type by its own typeDescription, in output and input', () => {
      expect(schema.getType('PolicyMatch')!.description).toBe('A set of addresses.');
      expect(schema.getType('PolicyMatchInput')!.description).toBe('A set of addresses.');
      const input = (schema.getType('CreatePolicyInput') as GraphQLInputObjectType).getFields();
      expect(input.from.description).toBe('Where it comes from.');
      expect(input.to.description).toBe('Where it goes.');
    });

    it('refuses one type name declared with two type descriptions', () => {
      const other = t.object('Match', { cidr: t.cidr() }, { typeDescription: 'Something else.' });
      expect(() => extendSchemaWithPlugins(CORE, [kind('Policy', { from: shared(), to: other })], handlers)).toThrow(/declared twice, differently/);
    });
  });

  describe('labels', () => {
    const kinds = [
      kind('Policy', {
        selector: t.object('Selector', {
          labels: t.labels({ description: 'Ports carrying these.' }),
          tags: t.list(t.object('Tag', { key: t.string(), value: t.string() })),
        }),
        pairs: t.list(t.object('Pair', { key: t.string(), value: t.string({ required: false }) })),
      }),
    ];
    let schema: GraphQLSchema;
    beforeAll(() => {
      schema = extendSchemaWithPlugins(CORE, kinds, handlers);
    });

    it('shows t.labels() and any object of exactly key and value as the core Label and LabelInput', () => {
      const selector = (schema.getType('PolicySelector') as GraphQLObjectType).getFields();
      expect(String(selector.labels.type)).toBe('[Label!]!');
      expect(selector.labels.description).toBe('Ports carrying these.');
      expect(String(selector.tags.type)).toBe('[Label!]!');
      const input = (schema.getType('PolicySelectorInput') as GraphQLInputObjectType).getFields();
      expect(String(input.labels.type)).toBe('[LabelInput!]');
      expect(String(input.tags.type)).toBe('[LabelInput!]');
      expect(printSchema(schema)).not.toMatch(/PolicyLabel|PolicyTag/);
    });

    it('counts a list of labels as part of the stored row, like the kind\'s own nested types', () => {
      expect(unboundedLists(schema).filter((f) => f.startsWith('Policy'))).toEqual([]);
    });

    it('keeps its own type for an object that only looks alike (an optional value)', () => {
      expect(printSchema(schema)).toContain('type PolicyPair {\n  key: String!\n  value: String\n}');
    });

    it('stores labels as a list of { key, value }, checked like any object', () => {
      expect(t.labels()).toEqual(t.list(t.object('Label', { key: t.string(), value: t.string() })));
    });
  });

  describe('refs', () => {
    const kinds = [
      kind('Policy', {
        portId: t.ref('Port', { required: false }),
        portIds: t.list(t.ref('Port')),
        peerId: t.ref('Peer', { required: false }),
        hostId: t.ref('Host'),
        gateway: t.ref('Port', { required: false }),
        members: t.list(t.object('Member', { portId: t.ref('Port'), port: t.int() })),
        hops: t.list(t.object('Hop', { portId: t.ref('Port') })),
      }),
      kind('Peer', { note: t.string() }),
    ];
    const rows: Record<string, { kind: string; row: Record<string, unknown> }> = {
      p1: { kind: 'Port', row: { id: 'p1', status: [] } },
      p2: { kind: 'Port', row: { id: 'p2', status: [] } },
      r1: { kind: 'Peer', row: { id: 'r1', name: 'peer-1', spec: { note: 'hi' } } },
    };
    const loads: string[] = [];
    const refHandlers: PluginFieldHandlers = {
      ...handlers,
      get: () => ({
        id: 'x',
        name: 'x',
        spec: { portId: 'gone', portIds: ['p2', 'gone', 'p1'], peerId: 'r1', hostId: 'h1', gateway: 'p1', members: [{ portId: 'p1', port: 80 }], hops: [{ portId: 'p2' }] },
      }),
      load: (refKind, id) => {
        loads.push(`${refKind}/${id}`);
        return Promise.resolve(rows[id]?.kind === refKind ? rows[id].row : null);
      },
    };
    let schema: GraphQLSchema;
    beforeAll(() => {
      schema = extendSchemaWithPlugins(CORE, kinds, refHandlers);
    });

    it('adds the object next to a ref field, named without Id/Ids; only the id when that name is taken or cannot be made', () => {
      const policy = (schema.getType('Policy') as GraphQLObjectType).getFields();
      expect(String(policy.port.type)).toBe('Port');
      expect(String(policy.ports.type)).toBe('[Port!]!');
      expect(String(policy.peer.type)).toBe('Peer');
      // No Id suffix to strip: the id only.
      expect(String(policy.gateway.type)).toBe('ID');
      // Host is not in this core schema: the id only.
      expect(policy.host).toBeUndefined();
      const member = (schema.getType('PolicyMember') as GraphQLObjectType).getFields();
      expect(String(member.port.type)).toBe('Int!');
      expect(String((schema.getType('PolicyHop') as GraphQLObjectType).getFields().port.type)).toBe('Port');
      // Inputs take ids only.
      expect(Object.keys((schema.getType('CreatePolicyInput') as GraphQLInputObjectType).getFields())).not.toContain('ports');
    });

    it('resolves the objects through the handler: null or left out when gone', async () => {
      loads.length = 0;
      const result = await graphql({
        schema,
        source: '{ policy(id: "x") { portId port { id } portIds ports { id } peer { id name note } members { portId port } hops { port { id } } } }',
        contextValue: {},
      });
      expect(result.errors).toBeUndefined();
      expect(result.data).toEqual({
        policy: {
          portId: 'gone',
          port: null,
          portIds: ['p2', 'gone', 'p1'],
          ports: [{ id: 'p2' }, { id: 'p1' }],
          peer: { id: 'r1', name: 'peer-1', note: 'hi' },
          members: [{ portId: 'p1', port: 80 }],
          hops: [{ port: { id: 'p2' } }],
        },
      });
      expect(loads.sort()).toEqual(['Peer/r1', 'Port/gone', 'Port/gone', 'Port/p1', 'Port/p2', 'Port/p2']);
    });

    it('names lists of refs in the plural', () => {
      expect(refObjectName('portIds')).toBe('ports');
      expect(refObjectName('policyIds')).toBe('policies');
      expect(refObjectName('externalNetworkId')).toBe('externalNetwork');
      expect(refObjectName('gateway')).toBeUndefined();
      expect(refObjectName('Id')).toBeUndefined();
    });
  });

  describe('placement', () => {
    it('gives every kind placement: ResourcePlacement!, resolved by the handler', async () => {
      const seen: string[] = [];
      const placed: PluginFieldHandlers = {
        ...handlers,
        get: () => ({ id: 'x', name: 'x', generation: 3, spec: { note: 'n' } }),
        placement: (r) => {
          seen.push((r as unknown as { id: string }).id);
          return { state: 'NONE', hosts: 0, reason: 'its plugin placed it on no host' };
        },
      };
      const schema = extendSchemaWithPlugins(CORE, [kind('Policy', { note: t.string() }), kind('Meter', { rate: t.int() })], placed);
      const sdl = printSchema(schema);
      expect(sdl).toMatch(/type Policy implements Node \{[^}]*placement: ResourcePlacement!\n/);
      expect(sdl).toMatch(/type Meter implements Node \{[^}]*placement: ResourcePlacement!\n/);
      expect(sdl).toMatch(/type ResourcePlacement \{\n(.*\n)* {2}state: PlacementState!\n(.*\n)* {2}hosts: Int!\n(.*\n)* {2}reason: String\n\}/);
      expect(sdl).toMatch(/enum PlacementState \{\n(.*\n)* {2}PENDING\n(.*\n)* {2}PLACED\n(.*\n)* {2}NONE\n\}/);
      const result = await graphql({ schema, source: '{ policy(id: "x") { placement { state hosts reason } } }' });
      expect(result.errors).toBeUndefined();
      expect(result.data).toEqual({ policy: { placement: { state: 'NONE', hosts: 0, reason: 'its plugin placed it on no host' } } });
      expect(seen).toEqual(['x']);
    });

    it('refuses a kind named like the placement types', () => {
      expect(() => extendSchemaWithPlugins(CORE, [kind('ResourcePlacement', {})], handlers)).toThrow(/ResourcePlacement is declared twice/);
      expect(() => extendSchemaWithPlugins(CORE, [kind('PlacementState', {})], handlers)).toThrow(/PlacementState is declared twice/);
    });

    it('is PENDING until the realizer placed this generation, then PLACED or NONE with its reason', () => {
      expect(placementView(2, undefined)).toEqual({ state: 'PENDING', hosts: 0, reason: 'the controller has not placed this change yet' });
      expect(placementView(2, { generation: 1, hosts: 3 })).toEqual({ state: 'PENDING', hosts: 3, reason: 'the controller has not placed this change yet' });
      expect(placementView(2, { generation: 2, hosts: 3 })).toEqual({ state: 'PLACED', hosts: 3, reason: null });
      expect(placementView(2, { generation: 2, hosts: 0, reason: 'its plugin failed to place it: boom' })).toEqual({
        state: 'NONE',
        hosts: 0,
        reason: 'its plugin failed to place it: boom',
      });
      expect(placementView(2, { generation: 2, hosts: 0 })).toEqual({ state: 'NONE', hosts: 0, reason: 'placed on no host' });
    });
  });

  it('refuses names that clash with the core schema', () => {
    expect(() => extendSchemaWithPlugins(CORE, [kind('Label', {})], handlers)).toThrow(/clashes/);
    expect(() => extendSchemaWithPlugins(CORE, [kind('Network', {})], handlers)).toThrow(/already taken/);
  });

  it('pluralizes like English, mostly', () => {
    expect(kindNames('Router')).toEqual({ singular: 'router', plural: 'routers', createMany: 'createRouters' });
    expect(kindNames('QosPolicy').plural).toBe('qosPolicies');
    expect(kindNames('QosPolicy').createMany).toBe('createQosPolicies');
    expect(kindNames('Address').plural).toBe('addresses');
  });
});
