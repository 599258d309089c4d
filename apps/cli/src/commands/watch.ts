import { Command } from 'commander';
import { getNamedType, isObjectType, print as printDocument, type GraphQLSchema } from 'graphql';
import type { ApiClient } from '../api/client';
import { apiError, type GraphqlError } from '../api/client';
import { CliError } from '../errors';
import {
  ResourceChangesDocument,
  ResourceStatusChangesDocument,
  type ResourceChangesSubscription,
  type ResourceStatusChangesSubscription,
} from '../generated/graphql';
import { allKinds, fetchSchema, kindOf } from '../kinds/registry';
import { connect, print } from './connect';

type Change = ResourceChangesSubscription['resourceChanges'];
type StatusChange = ResourceStatusChangesSubscription['resourceStatusChanges'];

/** One line per change: time, revision, operation, kind, name (the id when the name is unknown), generation. */
export function changeLine(change: Change, name: string | undefined): string {
  return `${change.createdAt}  rev ${change.revision}  ${change.operation.padEnd(6)}  ${change.kind}  ${name ?? change.id}  generation ${change.generation}`;
}

export function statusLine(status: StatusChange, name: string | undefined, at = new Date().toISOString()): string {
  const host = status.host?.name ?? status.hostId;
  return `${at}  status  ${status.kind}  ${name ?? status.resourceId}  on ${host}: ${status.state}${status.reason ? ` (${status.reason})` : ''}`;
}

/** Names of objects by id, looked up through the query field of their kind that takes an id. */
class Names {
  private readonly known = new Map<string, string>();
  constructor(
    private readonly client: ApiClient,
    private readonly schema: GraphQLSchema,
  ) {}

  async of(kind: string, id: string, gone: boolean): Promise<string | undefined> {
    if (gone || this.known.has(id)) return this.known.get(id);
    const field = Object.values(this.schema.getQueryType()?.getFields() ?? {}).find(
      (f) => getNamedType(f.type).name === kind && isObjectType(getNamedType(f.type)) && f.args.some((a) => a.name === 'id'),
    );
    if (!field) return undefined;
    const found = await this.client.query<{ found: { name?: string } | null }>(`query ($id: ID!) { found: ${field.name}(id: $id) { name } }`, { id }).catch(() => undefined);
    const name = found?.found?.name;
    if (name) this.known.set(id, name);
    return name;
  }
}

export function watchCommand(): Command {
  return new Command('watch')
    .description('print a line per committed change (a graphql-ws subscription) until Ctrl-C')
    .argument('[kind]', 'only this kind')
    .option('--status', 'also print status changes reported by agents', false)
    .action(async (word: string | undefined, options: { status: boolean }, command: Command) => {
      const client = connect(command);
      const schema = await fetchSchema(client);
      let kinds: string[] | undefined;
      if (word !== undefined) {
        kinds = [kindOf(allKinds(schema), word).typeName];
      }
      const names = new Names(client, schema);
      const ws = client.subscriptions(() => process.stderr.write(`Watching ${kinds?.[0] ?? 'every kind'} on ${client.target.url} (Ctrl-C to stop)\n`));
      // Lines are printed in the order changes arrive, whatever their name look-ups take.
      let queue = Promise.resolve();
      const failed = new Promise<never>((_resolve, reject) => {
        const sink = <T>(line: (data: T) => Promise<string>) => ({
          next: (result: { data?: T | null; errors?: readonly GraphqlError[] }) => {
            if (result.errors?.length) return reject(apiError(result.errors));
            const data = result.data;
            if (data) queue = queue.then(async () => print(await line(data)));
          },
          error: (error: unknown) => reject(error instanceof Error ? new CliError(error.message) : new CliError(`subscription failed: ${JSON.stringify(error)}`)),
          complete: () => reject(new CliError('the controller ended the subscription')),
        });
        ws.subscribe<ResourceChangesSubscription>(
          { query: printDocument(ResourceChangesDocument), variables: { kinds } },
          sink<ResourceChangesSubscription>(async ({ resourceChanges: c }) => changeLine(c, await names.of(c.kind, c.id, c.operation === 'DELETE'))),
        );
        if (options.status) {
          ws.subscribe<ResourceStatusChangesSubscription>(
            { query: printDocument(ResourceStatusChangesDocument), variables: { kinds } },
            sink<ResourceStatusChangesSubscription>(async ({ resourceStatusChanges: s }) => statusLine(s, await names.of(s.kind, s.resourceId, false))),
          );
        }
      });
      const stopped = new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
      try {
        await Promise.race([failed, stopped]);
      } finally {
        await ws.dispose();
      }
    });
}
