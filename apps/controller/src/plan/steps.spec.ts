import { buildSchema } from 'graphql';
import { NetloomError } from '@netloom/model';
import { idsIn, parseSteps, resolveRefs, stepLabel, stepOperation } from './steps';

const schema = buildSchema(`
  type Query { ok: Boolean }
  input NetInput { name: String! }
  input SubnetInput { name: String! networkId: ID! }
  input DeleteInput { id: ID! }
  type Network { id: ID! name: String! }
  type Host { id: ID! }
  type CreateHostPayload { host: Host! joinToken: String! }
  type DeletePayload { deletedIds: [ID!]! revision: Int! }
  type ApiToken { id: ID! }
  type Mutation {
    createNetwork(input: NetInput!, wait: Boolean! = false): Network!
    createSubnet(input: SubnetInput!, wait: Boolean! = false): Network!
    createHost(input: NetInput!): CreateHostPayload!
    deleteNetwork(input: DeleteInput!): DeletePayload!
    createApiToken(input: NetInput!): ApiToken!
    resetHostJoinToken(id: ID!): CreateHostPayload!
  }
`);
const step = (mutation: string, args: unknown, name?: string) => ({ mutation, arguments: JSON.stringify(args), ...(name ? { name } : {}) });
const refused = (run: () => unknown): { code: string; message: string; field?: string } => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(NetloomError);
    const e = error as NetloomError;
    return { code: e.code, message: e.message, ...(e.field ? { field: e.field } : {}) };
  }
  throw new Error('not refused');
};

describe('parseSteps', () => {
  it('takes named steps whose arguments refer to earlier ones', () => {
    const steps = parseSteps(
      [step('createNetwork', { input: { name: 'blue' } }, 'net'), step('createSubnet', { input: { name: 's', networkId: { $ref: 'net' } } })],
      schema,
    );
    expect(steps).toEqual([
      { index: 0, name: 'net', mutation: 'createNetwork', args: { input: { name: 'blue' } } },
      { index: 1, mutation: 'createSubnet', args: { input: { name: 's', networkId: { $ref: 'net' } } } },
    ]);
    expect(steps.map(stepLabel)).toEqual(['step 0 (net)', 'step 1']);
  });

  it.each([
    ['no step', [], /at least one step/, 'steps'],
    ['a mutation the schema lacks', [step('createRouter', {})], /not a mutation of an intent object/, 'steps.0.mutation'],
    ['a mutation of no intent object', [step('createApiToken', { input: { name: 'x' } })], /not a mutation of an intent object/, 'steps.0.mutation'],
    ['a mutation that is no create, update or delete', [step('resetHostJoinToken', { id: 'x' })], /not a mutation of an intent object/, 'steps.0.mutation'],
    ['arguments that are no JSON', [{ mutation: 'createNetwork', arguments: '{' }], /not JSON/, 'steps.0.arguments'],
    ['arguments that are no object', [step('createNetwork', [1])], /JSON object/, 'steps.0.arguments'],
    ['wait', [step('createNetwork', { input: { name: 'x' }, wait: true })], /takes no argument "wait"/, 'steps.0.arguments.wait'],
    ['a reference to a later step', [step('createSubnet', { input: { name: 's', networkId: { $ref: 'net' } } }), step('createNetwork', { input: { name: 'b' } }, 'net')], /names no earlier step/, 'steps.0.arguments.input.networkId'],
    ['a reference that is no name', [step('createSubnet', { input: { name: 's', networkId: { $ref: 3 } } })], /names no earlier step/, 'steps.0.arguments.input.networkId'],
    ['two steps of one name', [step('createNetwork', { input: { name: 'a' } }, 'n'), step('createNetwork', { input: { name: 'b' } }, 'n')], /unique/, 'steps.1.name'],
  ])('refuses %s with BAD_USER_INPUT', (_what, inputs, message, field) => {
    expect(refused(() => parseSteps(inputs, schema))).toEqual({ code: 'BAD_USER_INPUT', message: expect.stringMatching(message), field });
  });
});

describe('resolveRefs', () => {
  it('puts the id each referenced step made in place of its reference, anywhere in the arguments', () => {
    const made = new Map([['net', ['id-1']]]);
    expect(resolveRefs({ input: { networkId: { $ref: 'net' }, list: [{ $ref: 'net' }], other: { $ref: 'net', more: 1 } } }, made, 'a')).toEqual({
      input: { networkId: 'id-1', list: ['id-1'], other: { $ref: 'net', more: 1 } },
    });
  });

  it('refuses a reference to a step that made several objects', () => {
    expect(refused(() => resolveRefs({ x: { $ref: 'ports' } }, new Map([['ports', ['a', 'b']]]), 'steps.2.arguments'))).toEqual({
      code: 'BAD_USER_INPUT',
      message: 'steps.2.arguments.x: step "ports" made 2 objects, a $ref needs exactly one',
      field: 'steps.2.arguments.x',
    });
  });
});

describe('stepOperation and idsIn', () => {
  it('asks each kind of answer for the ids it names', () => {
    const op = (mutation: string, args: Record<string, unknown>): string => stepOperation(schema, { index: 0, mutation, args });
    expect(op('createNetwork', { input: {} })).toBe('mutation PlanStep($input: NetInput!) { result: createNetwork(input: $input) { id } }');
    expect(op('deleteNetwork', { input: {} })).toBe('mutation PlanStep($input: DeleteInput!) { result: deleteNetwork(input: $input) { deletedIds } }');
    expect(op('createHost', { input: {} })).toBe('mutation PlanStep($input: NetInput!) { result: createHost(input: $input) { __typename host { id } } }');
    expect(idsIn({ id: 'a' })).toEqual(['a']);
    expect(idsIn({ deletedIds: ['a', 'b'] })).toEqual(['a', 'b']);
    expect(idsIn({ __typename: 'CreateHostPayload', host: { id: 'h' } })).toEqual(['h']);
    expect(idsIn([{ id: 'a' }, { id: 'b' }])).toEqual(['a', 'b']);
  });
});
