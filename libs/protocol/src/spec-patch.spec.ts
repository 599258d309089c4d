import fc from 'fast-check';
import { applySpecPatch, specChanges, type SpecPatch } from './spec-patch';

const patchOf = (before: unknown, after: unknown): SpecPatch => ({ base: 'b', hash: 'h', ...specChanges(before, after)! });

const rule = (priority: number, port = 1000 + priority) => ({ priority, direction: 'INGRESS', ports: [[port, port]], remoteCidrs: [`172.16.${priority & 255}.0/24`], action: 'ALLOW' });
const policy = (rules: ReturnType<typeof rule>[], extra: Record<string, unknown> = {}) => ({ priority: 1000, rules, ports: ['p1', 'p2'], groups: { g: ['10.0.0.1'] }, ...extra });

describe('spec patches', () => {
  it('carries one rule changed in 500 as that rule alone', () => {
    const before = policy(Array.from({ length: 500 }, (_, i) => rule(i)));
    const after = policy(before.rules.map((r, i) => (i === 250 ? rule(i, 5000) : { ...r })));
    const patch = patchOf(before, after);
    expect(patch).toEqual({ base: 'b', hash: 'h', set: {}, unset: [], lists: { rules: { length: 500, items: { 250: rule(250, 5000) } } } });
    expect(JSON.stringify(patch).length).toBeLessThan(300);
    expect(applySpecPatch(before, patch)).toEqual(after);
  });

  it('sets, unsets, grows and shrinks lists, and leaves what it holds untouched', () => {
    const before = policy([rule(1), rule(2), rule(3)], { old: true });
    const after = { ...policy([rule(1), rule(9)]), ports: ['p1', 'p2', 'p3'], groups: { g: ['10.0.0.2'] } };
    const copy = structuredClone(before);
    const patched = applySpecPatch(before, patchOf(before, after));
    expect(patched).toEqual(after);
    expect(before).toEqual(copy);
  });

  it('refuses what would leave a list with a hole, an item beyond its length, or a malformed patch', () => {
    const held = policy([rule(1)]);
    const base = { base: 'b', hash: 'h', set: {}, unset: [] };
    expect(applySpecPatch(held, { ...base, lists: { rules: { length: 3, items: { 2: rule(3) } } } })).toBe('list rules: item 1 is neither given nor held');
    expect(applySpecPatch(held, { ...base, lists: { rules: { length: 1, items: { 4: rule(3) } } } })).toBe('list rules: an item beyond its length');
    expect(applySpecPatch(held, { ...base, lists: { rules: { length: -1, items: {} } } })).toBe('list rules: { length, items }');
    expect(applySpecPatch(held, { set: {} })).toBe('a patch is { base, hash, set, unset, lists }');
    expect(applySpecPatch('not an object', { ...base, lists: {} })).toBe('the spec held is not an object');
  });

  it('never sets a prototype: a `__proto__` field is an own field like any other', () => {
    const patched = applySpecPatch({ a: 1 }, JSON.parse('{"base":"b","hash":"h","set":{"__proto__":{"polluted":true}},"unset":[],"lists":{}}')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(patched)).toBe(Object.prototype);
    expect(Object.hasOwn(patched, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('makes the spec it was computed for, from any spec to any other (as JSON carries them)', () => {
    const value = fc.letrec((tie) => ({
      leaf: fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.boolean(), fc.constant(null)),
      list: fc.array(tie('any'), { maxLength: 5 }),
      object: fc.dictionary(fc.constantFrom('a', 'b', 'c', 'rules', 'ports'), tie('any'), { maxKeys: 4 }),
      any: fc.oneof({ depthSize: 'small' }, tie('leaf'), tie('list'), tie('object')),
    }));
    const spec = fc.dictionary(fc.constantFrom('a', 'b', 'c', 'rules', 'ports'), value.any, { maxKeys: 5 });
    fc.assert(
      fc.property(spec, spec, (before, after) => {
        // Across the wire: the patch as JSON, applied to the spec as the agent parsed it.
        const held = JSON.parse(JSON.stringify(before)) as unknown;
        const patched = applySpecPatch(held, JSON.parse(JSON.stringify(patchOf(before, after))));
        expect(patched).toEqual(JSON.parse(JSON.stringify(after)));
      }),
      { numRuns: 500 },
    );
  });
});
