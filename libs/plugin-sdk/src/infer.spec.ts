/* eslint-disable @typescript-eslint/no-unused-vars -- most values here are declared for their types (`typeof`) only. */
import { type AgentHalf, definePlugin, type KindDefinition, type ObservedOf, type Placement, type PluginResource, type SpecOf } from './plugin';
import { type Infer, t } from './fields';

// Type-level tests of the schema → TypeScript inference. jest only transpiles (jest.config.js:
// isolatedModules, no diagnostics), so what fails here is `npm run typecheck` (tsc over every
// spec file, part of `npm test`): `same<A, B>()` does not compile unless A and B are the same
// type, and each `@ts-expect-error` line must be an error (tsc refuses an unused one). The
// `it`s below check at run time that the builders still make the same plain JSON.

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** Compiles only when A and B are identical types. */
const same = <A, B>(..._: Equal<A, B> extends true ? [] : ['the types differ']): void => undefined;

// Scalars, required by default.
const scalars = { s: t.string(), i: t.int(), c: t.counter(), b: t.boolean(), ip: t.ip(), cidr: t.cidr() };
same<Infer<typeof scalars.s>, string>();
same<Infer<typeof scalars.i>, number>();
same<Infer<typeof scalars.c>, number>();
same<Infer<typeof scalars.b>, boolean>();
same<Infer<typeof scalars.ip>, string>();
same<Infer<typeof scalars.cidr>, string>();
const ref = t.ref('Port', { blocksDelete: true });
same<Infer<typeof ref>, string>();

// Optional fields: stored as null when absent (the key is always there).
const maybeInt = t.int({ required: false });
same<Infer<typeof maybeInt>, number | null>();
const explicitlyRequired = t.ip({ required: true, description: 'x' });
same<Infer<typeof explicitlyRequired>, string>();
// Required-ness not known at compile time: typed as optional.
const unknownRequired = (required: boolean) => t.string({ required });
same<Infer<ReturnType<typeof unknownRequired>>, string | null>();

// Enums: the values as literals, with or without `as const`.
const proto = t.enum('Proto', ['TCP', 'UDP']);
same<Infer<typeof proto>, 'TCP' | 'UDP'>();
const protoConst = t.enum('Proto', ['TCP', 'UDP'] as const, { required: false });
same<Infer<typeof protoConst>, 'TCP' | 'UDP' | null>();

// Lists: never null, their elements never null either.
const ints = t.list(t.int({ required: false }));
same<Infer<typeof ints>, number[]>();

// Objects: every key present; optional objects null.
const rule = t.object('Rule', { from: t.int(), to: t.int({ required: false }), protocols: t.list(proto) });
same<Infer<typeof rule>, { from: number; to: number | null; protocols: ('TCP' | 'UDP')[] }>();
const maybeRule = t.object('Rule', { from: t.int() }, { required: false });
same<Infer<typeof maybeRule>, { from: number } | null>();
// @ts-expect-error: an optional field is null when absent, never missing.
const missingKey: Infer<typeof rule> = { from: 1, protocols: [] };

// A record of fields: a spec.
const fields = { name: t.string(), weight: t.int({ required: false }), rules: t.list(rule) };
same<Infer<typeof fields>, { name: string; weight: number | null; rules: { from: number; to: number | null; protocols: ('TCP' | 'UDP')[] }[] }>();

// Kinds declared apart keep their types with `satisfies`, not with a `: KindDefinition` annotation.
const widgetKind = {
  fields: { hostId: t.ref('Host'), mode: t.enum('Mode', ['A', 'B'], { required: false }), ports: t.list(t.int()) },
  observed: { packets: t.counter(), health: t.enum('Health', ['UP', 'DOWN']) },
} satisfies KindDefinition;
type WidgetSpec = SpecOf<typeof widgetKind>;
same<WidgetSpec, { hostId: string; mode: 'A' | 'B' | null; ports: number[] }>();
same<ObservedOf<typeof widgetKind>, { packets: number; health: 'UP' | 'DOWN' }>();
const erased: KindDefinition = widgetKind;
same<SpecOf<typeof erased>, Record<string, unknown>>();
const groupKind = { fields: { cidrs: t.list(t.cidr()) } } satisfies KindDefinition;
same<ObservedOf<typeof groupKind>, never>();

// definePlugin: `place` gets each kind's spec, a union told apart by `kind`; the agent half gets
// what `place` returns.
const widgets = definePlugin({
  id: 'acme.widgets',
  version: '1.0.0',
  sdk: 1,
  kinds: { Widget: widgetKind, Group: groupKind },
  controller: {
    validate(resource) {
      same<typeof resource, PluginResource<WidgetSpec, 'Widget'> | PluginResource<{ cidrs: string[] }, 'Group'>>();
      // @ts-expect-error: hostId is a Widget's field only, and the kind is not known yet.
      void resource.spec.hostId;
    },
    place(resource) {
      if (resource.kind === 'Group') return [];
      same<typeof resource.spec, WidgetSpec>();
      // @ts-expect-error: no such field.
      void resource.spec.hostname;
      return [{ hostId: resource.spec.hostId, spec: { mode: resource.spec.mode ?? 'A', ports: resource.spec.ports } }];
    },
  },
  agent: {
    reconcile(desired) {
      same<(typeof desired)[number]['spec'], { mode: 'A' | 'B'; ports: number[] }>();
      return Promise.resolve([]);
    },
    observe(desired) {
      // What `observe` returns is the kinds' `observed` values.
      return Promise.resolve(Object.fromEntries(desired.map((r) => [r.id, { packets: r.spec.ports.length, health: 'UP' as const }])));
    },
  },
});

// An agent half declared apart must take what `place` gives: its type fixes the placements' spec.
const otherAgent: AgentHalf<{ legs: string[] }, ObservedOf<typeof widgetKind>> = { reconcile: () => Promise.resolve([]) };
definePlugin({
  id: 'acme.mismatch',
  version: '1.0.0',
  sdk: 1,
  kinds: { Widget: widgetKind },
  controller: {
    place: (resource) => [
      {
        hostId: resource.spec.hostId,
        // @ts-expect-error: the placements give { mode }, the agent half wants { legs }.
        spec: { mode: resource.spec.mode },
      },
    ],
  },
  agent: otherAgent,
});

// …also when `place` is written apart, and the agent half expects more than it gives.
const placeApart = (resource: PluginResource<WidgetSpec>): Placement<{ mode: 'A' | 'B' | null }>[] => [{ hostId: resource.spec.hostId, spec: { mode: resource.spec.mode } }];
const wantsMore: AgentHalf<{ mode: 'A' | 'B' | null; legs: string[] }, ObservedOf<typeof widgetKind>> = { reconcile: () => Promise.resolve([]) };
const wantsLess: AgentHalf<{ mode: string | null }, ObservedOf<typeof widgetKind>> = { reconcile: () => Promise.resolve([]) };
definePlugin({
  id: 'acme.more',
  version: '1.0.0',
  sdk: 1,
  kinds: { Widget: widgetKind },
  // @ts-expect-error: the agent half wants `legs` too, which no placement gives.
  controller: { place: placeApart },
  agent: wantsMore,
});
definePlugin({ id: 'acme.less', version: '1.0.0', sdk: 1, kinds: { Widget: widgetKind }, controller: { place: placeApart }, agent: wantsLess });

definePlugin({
  id: 'acme.observed',
  version: '1.0.0',
  sdk: 1,
  kinds: { Widget: widgetKind },
  agent: {
    reconcile: () => Promise.resolve([]),
    // @ts-expect-error: `health` must be one of the enum's values.
    observe: () => Promise.resolve({ w1: { packets: 1, health: 'SIDEWAYS' } }),
  },
});

describe('schema builders', () => {
  it('make the same plain JSON as before types were inferred from them', () => {
    expect(t.int({ required: false })).toEqual({ type: 'int', required: false, description: undefined });
    expect(t.ref('Port', { blocksDelete: true })).toEqual({ type: 'ref', kind: 'Port', required: true, description: undefined, blocksDelete: true });
    expect(t.enum('Proto', ['TCP', 'UDP'])).toEqual({ type: 'enum', name: 'Proto', values: ['TCP', 'UDP'], required: true, description: undefined });
    expect(t.list(t.cidr(), { description: 'd' })).toEqual({ type: 'list', of: { type: 'cidr', required: true, description: undefined }, required: false, description: 'd' });
    expect(JSON.parse(JSON.stringify(rule))).toEqual({
      type: 'object',
      name: 'Rule',
      fields: {
        from: { type: 'int', required: true },
        to: { type: 'int', required: false },
        protocols: { type: 'list', of: { type: 'enum', name: 'Proto', values: ['TCP', 'UDP'], required: true }, required: false },
      },
      required: true,
    });
    expect(missingKey).toEqual({ from: 1, protocols: [] });
  });

  it('leave definePlugin an identity function', () => {
    expect(widgets.kinds.Widget).toBe(widgetKind);
  });
});
