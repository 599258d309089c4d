import { parse } from 'graphql';
import { queryDepth } from './query-limits';

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
