import { Command, InvalidArgumentError, Option } from 'commander';
import { stringify } from 'yaml';
import type { ApiClient } from '../api/client';
import { entryData, entryTable, formatEntryDiffs, parseSince, type Entry } from '../audit/entries';
import { ApiError, CliError } from '../errors';
import { AuditEntriesDocument, type AuditFilter } from '../generated/graphql';
import { normalizeKind } from '../kinds/kind';
import { resolveKind } from '../kinds/registry';
import { formatTable } from '../output/table';
import { connect, print } from './connect';

interface AuditOptions {
  tokenName?: string;
  since?: string;
  limit: number;
  output?: 'json' | 'yaml' | 'wide';
  diff: boolean;
}

/** Kinds in the audit log that `get` does not list. */
const API_TOKEN_WORDS = new Set(['apitoken', 'apitokens', 'token', 'tokens']);
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAX_PAGE = 1000;

function positive(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a whole number of at least 1');
  return n;
}

/** The filter the arguments give: the kind's type name, the object's id (a name looked up as `get` does). */
async function filterOf(client: ApiClient, word: string | undefined, object: string | undefined, options: AuditOptions): Promise<AuditFilter> {
  const filter: AuditFilter = {};
  if (options.tokenName !== undefined) filter.tokenName = options.tokenName;
  if (options.since !== undefined) filter.since = parseSince(options.since);
  if (word === undefined) return filter;
  const tokens = API_TOKEN_WORDS.has(normalizeKind(word));
  const kind = tokens ? undefined : await resolveKind(client, word);
  filter.kind = kind?.typeName ?? 'ApiToken';
  if (object === undefined) return filter;
  if (ID.test(object)) {
    filter.objectId = object;
    return filter;
  }
  const found = kind ? await kind.list(client, { name: object }) : [];
  // A deleted object has no name to look up any more; its entries keep its id.
  if (found.length !== 1) {
    const why = found.length ? `${found.length} ${kind!.listField} are named "${object}"` : `no ${filter.kind} is named "${object}" now`;
    throw new CliError(`${why}: give the object's id instead (netloom audit ${word} -o wide shows it)`);
  }
  filter.objectId = found[0].id;
  return filter;
}

/** Up to `limit` entries, newest first, in pages the API allows. */
async function entries(client: ApiClient, filter: AuditFilter, limit: number): Promise<Entry[]> {
  const found: Entry[] = [];
  let after: string | undefined;
  while (found.length < limit) {
    const { auditEntries: page } = await client.request(AuditEntriesDocument, { filter, first: Math.min(limit - found.length, MAX_PAGE), after });
    found.push(...page.edges.map((e) => e.node));
    if (!page.pageInfo.hasNextPage || !page.pageInfo.endCursor) break;
    after = page.pageInfo.endCursor;
  }
  return found;
}

export function auditCommand(): Command {
  return new Command('audit')
    .description('list what mutations changed, newest first: who (token and role), when, what; --diff shows each change field by field (admins only)')
    .argument('[kind]', 'only this kind (hosts, networks, routers…, api-tokens)')
    .argument('[name]', 'only this object: its name (looked up now) or its id')
    .option('-t, --token-name <name>', 'only changes made with the API token of this name')
    .option('--since <when>', 'only changes since a duration ago (90s, 15m, 1h, 2d) or a time (2026-12-03T10:00:00Z)')
    .option('--limit <n>', 'at most this many entries', positive, 50)
    .addOption(new Option('-o, --output <format>', 'json, yaml (with the objects before and after), or wide').choices(['json', 'yaml', 'wide']))
    .option('--diff', 'show each entry with the fields it changed, before → after', false)
    .action(async (word: string | undefined, object: string | undefined, options: AuditOptions, command: Command) => {
      const client = connect(command);
      let found: Entry[];
      try {
        found = await entries(client, await filterOf(client, word, object, options), options.limit);
      } catch (error) {
        if (error instanceof ApiError && error.code === 'FORBIDDEN') throw new CliError(`the audit log is for admin tokens only: ${error.message}`);
        throw error;
      }
      if (options.output === 'json') return print(JSON.stringify(found.map(entryData), null, 2));
      if (options.output === 'yaml') return print(stringify(found.map(entryData)));
      if (found.length === 0) return print('No audit entries found.');
      if (options.diff) return print(formatEntryDiffs(found));
      const table = entryTable(found, options.output === 'wide');
      print(formatTable(table.headers, table.rows));
    });
}
