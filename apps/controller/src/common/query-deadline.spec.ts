import { execute, GraphQLObjectType, GraphQLSchema, GraphQLString, parse } from 'graphql';
import { Deadline, withDeadline } from './query-deadline';

describe('withDeadline', () => {
  const calls: string[] = [];
  const leaf = (name: string) => ({ type: GraphQLString, resolve: () => (calls.push(name), name) });
  const schema = withDeadline(
    new GraphQLSchema({
      query: new GraphQLObjectType({ name: 'Query', fields: { a: leaf('a'), b: leaf('b') } }),
      mutation: new GraphQLObjectType({ name: 'Mutation', fields: { m: leaf('m') } }),
      subscription: new GraphQLObjectType({ name: 'Subscription', fields: { s: leaf('s') } }),
    }),
    100,
  );
  const run = (query: string, context: Deadline, rootValue?: unknown) => execute({ schema, document: parse(query), contextValue: context, rootValue });

  beforeEach(() => calls.splice(0));

  it('resolves fields before the deadline', async () => {
    const context = { deadline: Date.now() + 10_000 };
    expect(await run('{ a b }', context)).toEqual({ data: { a: 'a', b: 'b' } });
    expect(context).not.toHaveProperty('timedOut', true);
  });

  it('fails every field past the deadline without running it, and says so on the context', async () => {
    const context: Deadline = { deadline: Date.now() - 1 };
    const result = await run('{ a b }', context);
    expect(calls).toEqual([]);
    expect(result.errors?.map((e) => (e.originalError as { code?: string }).code)).toEqual(['QUERY_TIMEOUT', 'QUERY_TIMEOUT']);
    expect(context.timedOut).toBe(true);
  });

  it('never cuts a mutation short', async () => {
    expect(await run('mutation { m }', { deadline: Date.now() - 1 })).toEqual({ data: { m: 'm' } });
  });

  it('gives each subscription event a fresh deadline when its root field resolves', async () => {
    const context: Deadline = { deadline: Date.now() - 1, timedOut: true };
    expect(await run('subscription { s }', context)).toEqual({ data: { s: 's' } });
    expect(context.deadline).toBeGreaterThan(Date.now());
    expect(context.timedOut).toBe(false);
  });
});
