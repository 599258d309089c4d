import { GraphQLInt, GraphQLList, GraphQLObjectType, GraphQLSchema, GraphQLString, parse } from 'graphql';
import { DEFAULT_PAGE, MAX_PAGE } from './pagination';
import { checkQueryLimits, EMBEDDED, ListBound, listBound, queryDepth, unboundedLists } from './query-limits';

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
  const item = (name: string, extensions = {}) =>
    new GraphQLObjectType({ name, fields: { a: { type: GraphQLString }, b: { type: GraphQLString } }, extensions });
  const row = item('Row');
  const list = (type: GraphQLObjectType, bound?: ListBound) => ({ type: new GraphQLList(type), ...(bound ? { extensions: listBound(bound) } : {}) });
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({
      name: 'Query',
      fields: {
        rows: list(row),
        page: { ...list(row), args: { first: { type: GraphQLInt }, last: { type: GraphQLInt } } },
        capped: list(row, { items: 7 }),
        statuses: list(row, { perHost: true }),
        pick: { ...list(row, { argument: 'ids' }), args: { ids: { type: new GraphQLList(GraphQLString) } } },
        stored: list(row, { document: true }),
        parts: list(item('Part', { [EMBEDDED]: true })),
        names: { type: new GraphQLList(GraphQLString) },
      },
    }),
  });
  const cost = (query: string, variables: Record<string, unknown> = {}, hosts = 3) =>
    checkQueryLimits({ maxDepth: 10, maxCost: 1e9 }, { hosts }, schema, parse(query), undefined, variables);

  it('multiplies a page by its size, given or default', () => {
    expect(cost('{ page(first: 5) { a b } }')).toBe(1 + 2 * 5);
    expect(cost('query($n: Int) { page(last: $n) { a } }', { n: 9 })).toBe(1 + 9);
    expect(cost('{ page { a } }')).toBe(1 + DEFAULT_PAGE);
  });

  it('multiplies a bounded list by its bound: a cap, the hosts, the length of an argument', () => {
    expect(cost('{ capped { a b } }')).toBe(1 + 2 * 7);
    expect(cost('{ statuses { a } }', {}, 40)).toBe(1 + 40);
    expect(cost('{ pick(ids: ["x", "y"]) { a b } }')).toBe(1 + 2 * 2);
  });

  it('counts the parts of one stored row once, and scalar lists as one field', () => {
    expect(cost('{ parts { a b } stored { a b } names }')).toBe(3 + 3 + 1);
  });

  it('multiplies a list nothing bounds by a full page, and says which lists those are', () => {
    expect(cost('{ rows { a b } }')).toBe(1 + 2 * MAX_PAGE);
    expect(unboundedLists(schema)).toEqual(['Query.rows']);
  });

  it('reads variables as sent, never coerced: a list by its length, one value as a list of one, a default literal', () => {
    expect(cost('query($ids: [String]) { pick(ids: $ids) { a } }', { ids: ['x', 'y', 'z'] })).toBe(1 + 3);
    expect(cost('query($ids: [String]) { pick(ids: $ids) { a } }', { ids: 'x' })).toBe(1 + 1);
    expect(cost('query($ids: [String] = ["x", "y"]) { pick(ids: $ids) { a } }')).toBe(1 + 2);
    expect(cost('query($n: Int = 4) { page(first: $n) { a } }')).toBe(1 + 4);
  });

  it('counts a variable that would not coerce as absent: execution refuses it (BAD_USER_INPUT) before any resolver runs', () => {
    expect(cost('query($n: Int) { page(first: $n) { a } }', { n: 'many' })).toBe(1 + DEFAULT_PAGE);
    expect(cost('query($n: Int!) { page(first: $n) { a } }')).toBe(1 + DEFAULT_PAGE);
    expect(cost('query($ids: [String]) { pick(ids: $ids) { a } }', { ids: [{ not: 'a string' }, 1] })).toBe(1 + 2);
  });

  it('follows @skip and @include on a boolean, literal or variable', () => {
    expect(cost('{ capped @skip(if: true) { a } page(first: 2) @include(if: false) { a } names }')).toBe(1);
    expect(cost('query($s: Boolean!) { capped @skip(if: $s) { a } names }', { s: false })).toBe(1 + 7 + 1);
  });

  it('spreads fragments, counting a cycle once, and multiplies them like fields', () => {
    expect(cost('{ capped { ...F } } fragment F on Row { a b }')).toBe(1 + 2 * 7);
    expect(cost('{ capped { ... on Row { a } b } }')).toBe(1 + 2 * 7);
  });

  it('never multiplies introspection', () => {
    expect(cost('{ __schema { types { name fields { name } } } __typename }')).toBe(1 + 1 + 1 + 1 + 1 + 1);
  });

  it('refuses a document whose fragments spread into more fields than it walks', () => {
    const levels = Array.from({ length: 16 }, (_, i) => `fragment F${i} on Row { ...F${i + 1} ...F${i + 1} }`).join(' ');
    expect(() => cost(`{ capped { ...F0 } } ${levels} fragment F16 on Row { a }`)).toThrow(/more than 10000 fields/);
  });

  it('refuses over the limit, naming the cost', () => {
    expect(() => checkQueryLimits({ maxDepth: 10, maxCost: 10 }, { hosts: 1 }, schema, parse('{ page(first: 5) { a b } }'))).toThrow(
      /query cost 11 exceeds the limit of 10/,
    );
  });
});
