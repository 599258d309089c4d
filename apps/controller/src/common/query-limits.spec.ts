import { GraphQLList, GraphQLObjectType, GraphQLSchema, GraphQLString, parse } from 'graphql';
import { checkQueryLimits, EMBEDDED, queryDepth } from './query-limits';

describe('queryDepth', () => {
  it('counts the deepest field path', () => {
    expect(queryDepth(parse('{ a { b { c } } d }'))).toBe(3);
  });

  it('follows fragments and inline fragments', () => {
    const doc = parse('query Q { a { ...F } } fragment F on T { b { ... on U { c { d } } } }');
    expect(queryDepth(doc)).toBe(4);
  });

  it('does not loop on self-referencing fragments', () => {
    expect(queryDepth(parse('{ a { ...F } } fragment F on T { b { ...F } }'))).toBe(2);
  });

  it('ignores introspection', () => {
    expect(queryDepth(parse('{ __schema { types { fields { type { ofType { ofType { name } } } } } } a }'))).toBe(1);
  });

  it('measures only the named operation', () => {
    const doc = parse('query Deep { a { b { c } } } query Flat { a }');
    expect(queryDepth(doc, 'Flat')).toBe(1);
    expect(queryDepth(doc, 'Deep')).toBe(3);
  });
});

describe('checkQueryLimits: cost', () => {
  const item = (embedded: boolean) =>
    new GraphQLObjectType({
      name: embedded ? 'Part' : 'Row',
      fields: { a: { type: GraphQLString }, b: { type: GraphQLString } },
      ...(embedded ? { extensions: { [EMBEDDED]: true } } : {}),
    });
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({
      name: 'Query',
      fields: { rows: { type: new GraphQLList(item(false)) }, parts: { type: new GraphQLList(item(true)) } },
    }),
  });
  const cost = (query: string, maxCost: number) => () => checkQueryLimits({ maxDepth: 10, maxCost }, schema, parse(query));

  it('multiplies a list of rows by its guessed size', () => {
    // 1 + (1 + 1) × 20 = 41
    expect(cost('{ rows { a b } }', 41)).not.toThrow();
    expect(cost('{ rows { a b } }', 40)).toThrow(/query cost 41 exceeds the limit of 40/);
  });

  it('does not multiply the lists of one stored document', () => {
    expect(cost('{ parts { a b } }', 3)).not.toThrow();
    expect(cost('{ parts { a b } }', 2)).toThrow(/query cost 3/);
  });
});
