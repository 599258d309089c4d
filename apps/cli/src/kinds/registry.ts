import { buildClientSchema, getIntrospectionQuery, type GraphQLSchema, type IntrospectionQuery } from 'graphql';
import type { ApiClient } from '../api/client';
import { CliError } from '../errors';
import { coreKinds } from './core';
import { initials, kebab, normalizeKind, type KindHandler } from './kind';
import { PluginKind } from './plugin';

/** Other words for the core kinds, besides their type and list names. */
const ALIASES: Record<string, string> = { net: 'Network', nets: 'Network' };

/** The served schema, read by introspection (plugin kinds are known only there). */
export async function fetchSchema(client: ApiClient): Promise<GraphQLSchema> {
  return buildClientSchema(await client.query<IntrospectionQuery>(getIntrospectionQuery({ descriptions: false })));
}

/** Every kind: the core ones (typed operations) and those the schema offers beside them. */
export function allKinds(schema: GraphQLSchema): KindHandler[] {
  return [...coreKinds, ...PluginKind.fromSchema(schema, new Set(coreKinds.map((k) => k.typeName)))] as KindHandler[];
}

const matches = (kind: KindHandler, word: string): boolean => {
  const w = normalizeKind(word);
  return w === normalizeKind(kind.typeName) || w === normalizeKind(kind.listField) || ALIASES[w] === kind.typeName || w === initials(kind.typeName);
};

/** The kinds as a user would type them, for messages. */
export const kindList = (kinds: KindHandler[]): string => kinds.map((k) => kebab(k.listField)).join(', ');

/** The kind a word names among `kinds`, if any. */
export const findKind = (kinds: KindHandler[], word: string): KindHandler | undefined => kinds.find((k) => matches(k, word));

/** The kind a word names (host, hosts, load-balancers, FirewallPolicy…); unknown: an error listing them. */
export async function resolveKind(client: ApiClient, word: string): Promise<KindHandler> {
  const core = findKind(coreKinds, word);
  if (core) return core;
  return kindOf(allKinds(await fetchSchema(client)), word);
}

/** The kind a word names among `kinds`; unknown: an error listing them. */
export function kindOf(kinds: KindHandler[], word: string): KindHandler {
  const found = findKind(kinds, word);
  if (!found) throw new CliError(`unknown kind "${word}"; the API offers: ${kindList(kinds)}`);
  return found;
}

/** The one object of that kind and name; none: an error naming both. */
export async function findByName(client: ApiClient, kind: KindHandler, name: string): Promise<KindObjectOf<typeof kind>> {
  const found = await kind.list(client, { name });
  if (found.length === 0) throw new CliError(`${kind.typeName} "${name}" not found`);
  if (found.length > 1) throw new CliError(`${found.length} ${kind.listField} are named "${name}"`);
  return found[0];
}

type KindObjectOf<K> = K extends KindHandler<infer T> ? T : never;
