/**
 * Large specs sent as changes (pure): the controller sends an agent that announced
 * {@link SPEC_PATCH_CAPABILITY} a resource it already holds as what changed of its spec, not the
 * whole of it again. A 500-rule firewall policy with one rule changed is ~80 KB whole and a few
 * hundred bytes as a patch, for the controller to write and each agent to read and log.
 */
import type { DesiredResource } from '@netloom/model';

/** In `hello.capabilities`: the agent takes {@link PatchedResource} in updates. */
export const SPEC_PATCH_CAPABILITY = 'spec-patch';

/**
 * How a spec changed since the one the agent holds (`base`: the hash that came with it): top-level
 * fields set whole or unset, and top-level lists by index: the new list is `length` long, each
 * item the one `items` gives for its index, else the old list's item there. `hash` names the
 * spec it makes (the base of the next patch).
 */
export interface SpecPatch {
  base: string;
  hash: string;
  set: Record<string, unknown>;
  unset: string[];
  lists: Record<string, { length: number; items: Record<string, unknown> }>;
}

/** A resource in an update as its spec's changes. */
export interface PatchedResource {
  kind: string;
  id: string;
  generation: number;
  patch: SpecPatch;
}

/** A resource as an update or a snapshot carries it: whole (with the hash a later patch names as its base, when it may get one), or patched. */
export type SentResource = (DesiredResource & { hash?: string }) | PatchedResource;

export const isPatched = (r: SentResource): r is PatchedResource => 'patch' in r && r.patch !== undefined;

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * JSON of the objects compared, kept by object: list items shared by several hosts' placements
 * are written out once. Specs are never changed once made (the controller hashes a desired
 * resource once, by object, on the same ground).
 */
const texts = new WeakMap<object, string>();
function json(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'undefined';
  let text = texts.get(value);
  if (text === undefined) texts.set(value, (text = JSON.stringify(value)));
  return text;
}
const same = (a: unknown, b: unknown): boolean => a === b || json(a) === json(b);

/** What changed from spec `before` to spec `after` (plain objects; undefined otherwise). */
export function specChanges(before: unknown, after: unknown): Omit<SpecPatch, 'base' | 'hash'> | undefined {
  if (!isPlainObject(before) || !isPlainObject(after)) return undefined;
  const changes: Omit<SpecPatch, 'base' | 'hash'> = { set: {}, unset: Object.keys(before).filter((key) => !Object.hasOwn(after, key)), lists: {} };
  for (const [key, value] of Object.entries(after)) {
    const old = before[key];
    if (old === value) continue;
    if (Array.isArray(old) && Array.isArray(value)) {
      const items: Record<string, unknown> = {};
      let changed = old.length !== value.length;
      value.forEach((item, i) => {
        if (i < old.length && same(old[i], item)) return;
        items[i] = item;
        changed = true;
      });
      if (changed) changes.lists[key] = { length: value.length, items };
    } else if (!Object.hasOwn(before, key) || !same(old, value)) changes.set[key] = value;
  }
  return changes;
}

/** The list lengths a patch may ask for. */
const MAX_LIST = 1_000_000;

/** The spec `patch` makes of `spec`, or why it cannot be applied (then the agent asks for a snapshot). */
export function applySpecPatch(spec: unknown, patch: unknown): Record<string, unknown> | string {
  if (!isPlainObject(spec)) return 'the spec held is not an object';
  const p = patch as Partial<SpecPatch> | null;
  if (!isPlainObject(p) || !isPlainObject(p.set) || !Array.isArray(p.unset) || !isPlainObject(p.lists)) return 'a patch is { base, hash, set, unset, lists }';
  const out: Record<string, unknown> = { ...spec };
  // Own data properties only: `__proto__` as a key would set the object's prototype.
  const put = (key: string, value: unknown): void => void Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  for (const key of p.unset) {
    if (typeof key !== 'string') return 'unset names fields';
    delete out[key];
  }
  for (const [key, value] of Object.entries(p.set)) put(key, value);
  for (const [key, list] of Object.entries(p.lists)) {
    const { length, items } = (list ?? {}) as { length?: unknown; items?: unknown };
    if (!Number.isInteger(length) || (length as number) < 0 || (length as number) > MAX_LIST || !isPlainObject(items)) return `list ${key}: { length, items }`;
    const old: unknown[] = Array.isArray(spec[key]) ? spec[key] : [];
    const next = new Array<unknown>(length as number);
    for (let i = 0; i < next.length; i++) {
      if (Object.hasOwn(items, i)) next[i] = items[i];
      else if (i < old.length) next[i] = old[i];
      else return `list ${key}: item ${i} is neither given nor held`;
    }
    if (Object.keys(items).some((k) => !/^\d+$/.test(k) || Number(k) >= next.length)) return `list ${key}: an item beyond its length`;
    put(key, next);
  }
  return out;
}
